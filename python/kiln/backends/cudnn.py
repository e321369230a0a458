"""``kiln.backends.cudnn``, as ``torch.backends.cudnn``: the flags programs set, which kiln has no
use for (its cuda kernels are its own, not cuDNN's, and always deterministic where the design
says so). Setting them is harmless; nothing is registered.
"""

enabled = True
benchmark = False       # kiln picks its kernels by shape alone, so there is nothing to benchmark
deterministic = False   # kiln's reductions have a fixed order either way (see docs/DESIGN.md)
allow_tf32 = True


def is_available() -> bool:
    """False: kiln does not use cuDNN."""
    return False


def version():
    """None, as torch gives without cuDNN."""
    return None
