"""kiln's random state: one NumPy generator behind initialisation, dropout and shuffling.

``kiln.manual_seed(seed)`` makes a run repeatable: same seed, same machine, same results.
"""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed kiln's generator (as ``torch.manual_seed``); returns it."""
    global _generator
    _generator = np.random.default_rng(int(seed))
    return _generator


def generator() -> np.random.Generator:
    """The generator every random kiln operation draws from."""
    return _generator
