"""Keras optimizers: configurations that become a ``kiln.optim`` optimizer over the model's
flat parameter buffer when training starts (one fused kernel call per step)."""

from __future__ import annotations

from .. import optim


class Optimizer:
    def __init__(self, learning_rate: float = 0.001, **kwargs):
        self.learning_rate = float(learning_rate)
        self._kiln = None

    def build(self, params) -> None:
        """Create the kiln optimizer over ``params`` (the model's trainable weights)."""
        self._kiln = self._make(list(params))

    def _make(self, params):
        raise NotImplementedError

    def apply(self) -> None:
        for group in self._kiln.param_groups:
            group["lr"] = self.learning_rate
        self._kiln.step()

    def zero_grad(self) -> None:
        self._kiln.zero_grad()

    def get_config(self) -> dict:
        return {"learning_rate": self.learning_rate}


class Adam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, **kwargs):
        super().__init__(learning_rate)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad
        self.weight_decay = weight_decay or 0.0

    def _make(self, params):
        return optim.Adam(params, lr=self.learning_rate, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                          amsgrad=self.amsgrad, weight_decay=self.weight_decay)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad)
        self.weight_decay = weight_decay

    def _make(self, params):
        return optim.AdamW(params, lr=self.learning_rate, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                           amsgrad=self.amsgrad, weight_decay=self.weight_decay)


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate)
        self.momentum, self.nesterov = momentum, nesterov

    def _make(self, params):
        return optim.SGD(params, lr=self.learning_rate, momentum=self.momentum, nesterov=self.nesterov)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def _make(self, params):
        return optim.RMSprop(params, lr=self.learning_rate, alpha=self.rho, eps=self.epsilon,
                             momentum=self.momentum, centered=self.centered)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


_BY_NAME = {"adam": Adam, "adamw": AdamW, "sgd": SGD, "rmsprop": RMSprop}


def get(identifier) -> Optimizer:
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier.lower()]()
        except KeyError:
            raise ValueError(f"unknown optimizer {identifier!r}; known: {', '.join(_BY_NAME)}") from None
    raise TypeError(f"an optimizer must be a name or a keras.optimizers.Optimizer, got {type(identifier).__name__}")


def serialize(opt: Optimizer) -> dict:
    for name, cls in _BY_NAME.items():
        if type(opt) is cls:
            return {"class_name": name, "config": opt.get_config()}
    return {"class_name": "adam", "config": {"learning_rate": opt.learning_rate}}


def deserialize(config: dict) -> Optimizer:
    return _BY_NAME[config["class_name"]](**config.get("config", {}))
