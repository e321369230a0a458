"""Module, Parameter and the containers, in the PyTorch idiom.

Parameters and sub-modules assigned as attributes are registered in assignment
order, so ``named_parameters()`` and ``state_dict()`` give PyTorch's names
(``0.weight``, ``lstm.weight_ih_l0``, ...) and a PyTorch model's weights, exported as
NumPy arrays, load unchanged.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Iterator

import numpy as np

from .. import backends
from ..autograd import Leaf, no_grad
from ..factories import default_device_type
from ..tensor import Tensor, device


class Parameter(Tensor):
    """A Tensor that a Module registers as a learnable parameter (requires grad)."""

    def __init__(self, data=None, requires_grad: bool = True):
        array = data._array if isinstance(data, Tensor) else np.asarray(data, dtype=np.float32)
        on_host = type(array) is np.ndarray
        super().__init__(array if on_host else None, dtype=array.dtype)  # a copy, as before
        if not on_host:
            self._array = backends.select(None, array).copy(array)
        elif default_device_type() != "cpu":  # set_default_device("cuda")
            self._array = backends.for_device(default_device_type()).from_numpy(self._array)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and model: subclass it and define ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration -------------------------------------------------------------------------

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 f"before assigning {name!r}")
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, value) -> None:
        tensor = value if isinstance(value, Tensor) or value is None else Tensor(value)
        self._buffers[name] = tensor
        object.__setattr__(self, name, tensor)

    def add_module(self, name: str, module: "Module | None") -> None:
        self._modules[name] = module
        object.__setattr__(self, name, module)

    # ---- traversal ----------------------------------------------------------------------------

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self) -> Iterator["Module"]:
        for _, child in self.named_children():
            yield child

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{module_name}.{name}" if module_name else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        for module_name, module in self.named_modules(prefix):
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{module_name}.{name}" if module_name else name), b

    # ---- state --------------------------------------------------------------------------------

    def state_dict(self) -> "OrderedDict[str, Tensor]":
        """Every parameter and buffer by its dotted name, sharing memory with the model."""
        state = OrderedDict((name, p.detach()) for name, p in self.named_parameters())
        state.update((name, b.detach()) for name, b in self.named_buffers())
        return state

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy arrays (NumPy arrays or Tensors, by PyTorch's names) into this model, in place.

        Shapes must match exactly; with ``strict``, names too. A float parameter or buffer
        takes float arrays only (an integer or bool array is refused, never cast). Nothing is
        changed unless everything checks out.
        """
        own = OrderedDict(self.named_parameters())
        own.update(self.named_buffers())
        incoming = {k: (v._array if isinstance(v, Tensor) else np.asarray(v)) for k, v in state_dict.items()}
        missing = [k for k in own if k not in incoming]
        unexpected = [k for k in incoming if k not in own]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {', '.join(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {', '.join(unexpected)}")
        for name, value in incoming.items():
            if name not in own:
                continue
            target = np.dtype(own[name].dtype)
            if value.shape != own[name].shape:
                problems.append(f"{name}: shape {value.shape} in the state dict, {own[name].shape} in the model")
            elif value.dtype.kind not in "fiub" or (target.kind == "f" and value.dtype.kind != "f"):
                problems.append(f"{name}: dtype {value.dtype} in the state dict, {target} in the model")
        if problems:
            raise ValueError(f"load_state_dict for {type(self).__name__}: " + "; ".join(problems))
        with no_grad():
            for name, value in incoming.items():
                if name in own:
                    own[name].copy_(value)
        return missing, unexpected

    # ---- modes and conversion -----------------------------------------------------------------

    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def to(self, *args, **kwargs) -> "Module":
        """``.to(device)``, ``.to(dtype)`` or both: each parameter and buffer gets new storage
        (on the device, of the dtype), in place, so the module keeps its tensors."""
        dtype, target = kwargs.get("dtype"), kwargs.get("device")
        for a in args:
            if isinstance(a, (str, device)) or isinstance(getattr(a, "type", None), str):
                target = a
            elif a is not None:
                dtype = a
        for t in list(self.parameters()) + [b for _, b in self.named_buffers()]:
            moved = t.detach()
            if target is not None:
                moved = moved.to(target)
            if dtype is not None and t.dtype.kind == "f":
                moved = moved.to(dtype)
            if moved._array is not t._array:
                t._array = moved._array
                if t.requires_grad:  # a fresh gradient slot: the old one may belong to an optimizer
                    t._node = Leaf()
        return self

    def float(self) -> "Module":
        return self.to(np.float32)

    def double(self) -> "Module":
        return self.to(np.float64)

    def cpu(self) -> "Module":
        return self.to("cpu")

    def apply(self, fn) -> "Module":
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- calling ------------------------------------------------------------------------------

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        children = list(self.named_children())
        if not children:
            return lines[0] + ")"
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied in order; indexable, and named 0, 1, ... as in torch."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self._modules)), module)
        return self

    def __getitem__(self, index):
        mods = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*mods[index])
        return mods[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ModuleList(Module):
    """A list of modules, registered (their parameters are the owner's)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> "ModuleList":
        self.add_module(str(len(self._modules)), module)
        return self

    def __getitem__(self, index):
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class Identity(Module):
    def forward(self, x):
        return x
