"""model.summary(): the Keras table of layers, output shapes and parameter counts."""

from __future__ import annotations


def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(_shape_text(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def summary_lines(model, line_length: int, class_name, output_shape) -> list[str]:
    """The table's lines; ``class_name(layer)`` and ``output_shape(layer)`` come from model.py
    (they know nested models), so this module needs nothing of it."""
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built yet: give the first layer an input_shape, "
                         "start with keras.Input(shape=...), call build(), or fit/call it once")
    layers = model.layers
    # a nested model is one row, "name (Functional)" or "name (Sequential)", as in Keras
    names = [f"{layer.name} ({class_name(layer)})" for layer in layers]
    shapes = [_shape_text(output_shape(layer)) for layer in layers]
    first = max([len(n) + 2 for n in names] + [28])
    second = max([len(s) + 2 for s in shapes] + [26])
    line_length = max(line_length, first + second + 12)

    def row(a, b, c):
        return f" {a:<{first - 1}}{b:<{second}}{c}"

    lines = [f'Model: "{model.name}"', "_" * line_length, row("Layer (type)", "Output Shape", "Param #"),
             "=" * line_length]
    for i, layer in enumerate(layers):
        lines.append(row(names[i], shapes[i], f"{layer.count_params():,}"))
        lines.append("" if i < len(layers) - 1 else "=" * line_length)
    total = model.count_params()
    trainable = int(sum(w.numel() for w in model.trainable_weights))
    lines += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}", "_" * line_length]
    return lines
