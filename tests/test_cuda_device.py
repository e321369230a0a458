"""The cuda device's own machinery: memory, copies, views, DLPack, errors (kiln.cuda).

Runs where kiln was built with CUDA (a GPU, or KILN_CUDA=EMULATE); skipped elsewhere. The
primitives and kernels themselves are tested against the reference by test_backend_ops.py.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

import kiln
from kiln import backends

if not kiln.cuda.is_available():
    pytest.skip("no cuda device (kiln built without CUDA, or no GPU)", allow_module_level=True)
cuda_backend = backends.cuda

be = cuda_backend.get_backend()


def test_kiln_cuda_reports_the_device():
    assert kiln.cuda.is_built()
    assert kiln.cuda.device_count() >= 1
    assert isinstance(kiln.cuda.get_device_name(), str)
    kiln.cuda.synchronize()


def test_round_trip_keeps_values_and_dtypes(rng):
    for dtype in (np.float32, np.float64, np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_):
        x = (rng.standard_normal((3, 0, 2)) if dtype == np.float32 else rng.integers(0, 5, (4, 7))).astype(dtype)
        np.testing.assert_array_equal(be.to_numpy(be.from_numpy(x)), x)
    assert be.to_numpy(be.from_numpy(np.float32(2.5))).shape == ()


def test_unsupported_dtype_is_a_type_error():
    with pytest.raises(TypeError, match="cuda device holds"):
        be.from_numpy(np.ones(3, np.complex64))


def test_the_caching_allocator_reuses_and_counts():
    gc.collect()  # arrays of earlier tests in reference cycles go now, not in the middle
    kiln.cuda.empty_cache()
    before = kiln.cuda.memory_allocated()
    a = be.empty((1000,), np.float32)
    assert kiln.cuda.memory_allocated() >= before + 4000
    reserved = kiln.cuda.memory_reserved()
    address = a.address
    del a
    assert kiln.cuda.memory_allocated() == before
    b = be.empty((1000,), np.float32)
    assert b.address == address  # the freed block, from the cache: nothing more from the driver
    assert kiln.cuda.memory_reserved() == reserved
    assert kiln.cuda.max_memory_allocated() >= before + 4000
    del b
    kiln.cuda.empty_cache()
    assert kiln.cuda.memory_reserved() == kiln.cuda.memory_allocated()


def test_out_of_memory_is_a_memory_error_naming_the_size():
    with pytest.raises(MemoryError, match="tried to allocate"):
        be.empty((2**62 // 4,), np.float32)


def test_views_share_memory_and_copies_do_not(rng):
    x = be.from_numpy(rng.standard_normal((4, 6)).astype(np.float32))
    row = be.getitem(x, 1)
    be.fill(row, 7.0)
    col = be.getitem(be.transpose(x, (1, 0)), (slice(None, None, -2), 2))
    assert be.to_numpy(col).shape == (3,)
    host = be.to_numpy(x)
    assert (host[1] == 7.0).all()
    np.testing.assert_array_equal(be.to_numpy(col), host[2, ::-2])
    c = be.copy(x)
    be.fill(c, 0.0)
    assert (be.to_numpy(x)[1] == 7.0).all()


def test_advanced_indexing_matches_numpy(rng):
    host = rng.standard_normal((5, 4, 3)).astype(np.float32)
    x = be.from_numpy(host)
    mask = host[:, 0, 0] > 0
    for index in ((np.array([0, 3, 3]), slice(None), 1), (mask,), (Ellipsis, np.array([2, 0])),
                  (be.from_numpy(np.array([4, 1])), 2)):
        want = host[tuple(be.to_numpy(i) if isinstance(i, cuda_backend.CudaArray) else i for i in index)]
        np.testing.assert_array_equal(be.to_numpy(be.getitem(x, index)), want)
    with pytest.raises(IndexError):
        be.getitem(x, (np.array([5]),))


def test_cuda_array_interface_describes_the_memory(rng):
    x = be.from_numpy(rng.standard_normal((3, 4)).astype(np.float32))
    t = be.transpose(x, (1, 0))
    info = t.__cuda_array_interface__
    assert info["version"] == 3 and info["shape"] == (4, 3) and info["typestr"] == "<f4"
    assert info["data"][0] == x.address and info["strides"] == (4, 16)
    assert x.__cuda_array_interface__["strides"] is None


@pytest.mark.parametrize("max_version", [None, (1, 0)])
def test_dlpack_round_trip_shares_memory(rng, max_version):
    x = be.from_numpy(rng.standard_normal((3, 5)).astype(np.float32))
    view = be.getitem(x, (slice(None), slice(1, 4)))
    capsule = view.__dlpack__(max_version=max_version)
    y = cuda_backend.from_dlpack_capsule(capsule)
    assert y.address == view.address and y.shape == (3, 3) and y.strides == view.strides
    with pytest.raises(ValueError, match="unconsumed"):
        cuda_backend.from_dlpack_capsule(capsule)
    be.fill(y, 1.0)
    assert (be.to_numpy(x)[:, 1:4] == 1.0).all()


def test_dlpack_keeps_the_memory_alive():
    kiln.cuda.empty_cache()
    before = kiln.cuda.memory_allocated()
    x = be.full((256,), 3.0, np.float32)
    y = cuda_backend.from_dlpack_capsule(x.__dlpack__(max_version=(1, 0)))
    del x
    gc.collect()
    assert kiln.cuda.memory_allocated() > before
    assert (be.to_numpy(y) == 3.0).all()
    del y
    gc.collect()
    assert kiln.cuda.memory_allocated() == before


def test_host_tensors_speak_dlpack_through_numpy(rng):
    t = kiln.tensor(rng.standard_normal((2, 3)).astype(np.float32))
    a = np.from_dlpack(t)
    a[0, 0] = 42.0
    assert t[0, 0].item() == 42.0
    back = kiln.from_dlpack(a)
    assert back.device.type == "cpu" and np.shares_memory(back.numpy(), a)


def test_mixed_dtype_arithmetic_follows_numpy(rng):
    i = rng.integers(-5, 5, (4, 3))
    f = rng.standard_normal(3).astype(np.float32)
    for got, want in ((be.add(be.from_numpy(i), be.from_numpy(f)), i + f),
                      (be.divide(be.from_numpy(i), 2), i / 2),
                      (be.multiply(be.from_numpy(f), 2), f * 2),
                      (be.less(be.from_numpy(i), 1.5), i < 1.5),
                      (be.sum(be.from_numpy(i > 0)), (i > 0).sum()),
                      (be.max(be.from_numpy(np.array([1.0, np.nan, 3.0], np.float32))), np.float32(np.nan))):
        got_host = be.to_numpy(got)
        assert got_host.dtype == np.asarray(want).dtype, (got_host.dtype, np.asarray(want).dtype)
        np.testing.assert_allclose(got_host, want, rtol=1e-6)


def test_dropout_draws_on_the_device_reproducibly():
    x = kiln.ones(4000, device="cuda")
    kiln.manual_seed(3)
    a = kiln.nn.functional.dropout(x, 0.25).cpu().numpy()
    b = kiln.nn.functional.dropout(x, 0.25).cpu().numpy()
    kiln.manual_seed(3)
    again = kiln.nn.functional.dropout(x, 0.25).cpu().numpy()
    np.testing.assert_array_equal(a, again)  # the same seed, the same masks
    assert not np.array_equal(a, b)  # the counter moved on
    assert set(np.unique(a)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((a == 0).mean() - 0.25) < 0.03
