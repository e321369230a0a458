"""model.summary(): the Keras table of layers, output shapes and parameter counts."""

from __future__ import annotations


def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(_shape_text(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def summary_lines(model, line_length: int = 65) -> list[str]:
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built yet: give the first layer an input_shape, "
                         "start with keras.Input(shape=...), call build(), or fit/call it once")
    columns = (int(line_length * 0.45), int(line_length * 0.33), line_length - int(line_length * 0.78))
    def row(a, b, c):  # noqa: E306
        return f" {a:<{columns[0] - 1}}{b:<{columns[1]}}{c:<{columns[2]}}"
    lines = [f'Model: "{model.name}"', "_" * line_length, row("Layer (type)", "Output Shape", "Param #"),
             "=" * line_length]
    layers = model.layers
    for i, layer in enumerate(layers):
        shape = getattr(layer, "_output_shape", None)
        lines.append(row(f"{layer.name} ({type(layer).__name__})", _shape_text(shape), f"{layer.count_params():,}"))
        lines.append("" if i < len(layers) - 1 else "=" * line_length)
    total = model.count_params()
    trainable = int(sum(w.numel() for w in model.trainable_weights))
    lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}", "_" * line_length]
    return lines
