"""kiln's random state: one NumPy generator behind initialisation, dropout and shuffling,
and a counter for the generators that run on a device.

``kiln.manual_seed(seed)`` makes a run repeatable: same seed, same machine, same results.
Host arrays draw from the NumPy generator. A device backend draws on the device from a
counter-based generator (Philox on cuda) keyed by ``device_seed()`` and a running offset
(``device_draw(n)`` hands out the next n numbers), so its draws need no copy from the host
and are reproducible from the same seed; they are not the host generator's numbers. Initial
weights are drawn on the host on every device, so a seed gives the same model everywhere.
"""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()
_device_seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
_device_offset = 0


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed kiln's generator (as ``torch.manual_seed``), and the devices' counter; returns it."""
    global _generator, _device_seed, _device_offset
    _generator = np.random.default_rng(int(seed))
    _device_seed = int(np.random.SeedSequence(int(seed)).generate_state(1, np.uint64)[0])
    _device_offset = 0
    return _generator


def device_draw(n: int) -> tuple[int, int]:
    """(seed, offset) for the next ``n`` numbers of a device's counter-based generator; the
    offset advances by n rounded up to a whole Philox block of 4."""
    global _device_offset
    offset = _device_offset
    _device_offset += (int(n) + 3) // 4 * 4
    return _device_seed, offset


def generator() -> np.random.Generator:
    """The generator every random kiln operation draws from."""
    return _generator
