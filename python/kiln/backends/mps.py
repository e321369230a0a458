"""``kiln.backends.mps``, as ``torch.backends.mps``: Apple's Metal device, which kiln has not.

Only the questions a program asks before choosing a device; nothing is registered.
"""


def is_available() -> bool:
    """False: kiln has no Metal backend (use "cpu" or, where built, "cuda")."""
    return False


def is_built() -> bool:
    """False: kiln is never built with Metal."""
    return False
