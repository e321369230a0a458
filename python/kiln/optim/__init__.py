"""Optimizers over flat parameter buffers (as torch.optim), and learning-rate schedules.

When an optimizer is built, the parameters of each group move into one contiguous buffer
(each parameter becomes a view into it) and their gradients are written into a second one
of the same layout; a step is then one pass over the whole group: one ``adam_step`` kernel
for Adam and AdamW, a few backend primitives for the others, on any device.

    optimizer.py     Optimizer (the base: groups, flat buffers, zero_grad, step, state_dict)
    sgd.py           SGD                   adam.py      Adam, AdamW
    rmsprop.py       RMSprop               adagrad.py   Adagrad      adadelta.py  Adadelta
    lr_scheduler.py  StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LambdaLR,
                     OneCycleLR, ReduceLROnPlateau (torch's sequences)
"""

from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer, _hyperparameter  # noqa: F401 (the Keras optimizers check with it)
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "lr_scheduler"]

# examples/battery: LBFGS (pytorch/examples time_sequence_prediction)
from .lbfgs import LBFGS  # noqa: E402

__all__ += ["LBFGS"]
