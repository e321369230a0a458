"""embedding and embedding_backward: native vs the reference, gradients by finite
differences, torch, padding_idx, thread-count independence, bad input."""

import numpy as np
import pytest
from conftest import TAIL_SIZES, assert_close, f32, finite_difference_grad, reduction_tol

import kiln
from kiln import ops, reference

# (num_embeddings, dim, indices shape): odd and vector-width dims, index shapes 0-D to
# 2-D, empty, and large enough to use both threads.
CASES = [(1, 1, ()), (5, 3, (1,)), (7, 16, (9,)), (13, 17, (4, 3)), (100, 33, (0,)),
         (10000, 128, (4096,)), (50, 1, (300, 7)), (3, 40, (2, 0))]


@pytest.mark.parametrize("num_embeddings,dim,index_shape", CASES)
@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_matches_reference(num_embeddings, dim, index_shape, padding_idx, backend, rng):
    indices = rng.integers(0, num_embeddings, index_shape)
    weight = f32(rng.standard_normal((num_embeddings, dim)))
    got = ops.embedding(indices, weight, padding_idx, backend=backend)
    assert got.dtype == np.float32 and got.shape == index_shape + (dim,)
    np.testing.assert_array_equal(got, reference.embedding(indices, weight))

    grad_out = f32(rng.standard_normal(index_shape + (dim,)))
    got = ops.embedding_backward(indices, grad_out, num_embeddings, padding_idx, backend=backend)
    want = reference.embedding_backward(indices, grad_out.astype(np.float64), num_embeddings,
                                        None if padding_idx is None else padding_idx % num_embeddings)
    assert got.dtype == np.float32 and got.shape == (num_embeddings, dim)
    assert_close(got, want, reduction_tol(max(1, indices.size)))
    if padding_idx is not None:
        assert not got[padding_idx].any()


def test_simd_paths_dims_and_threads(threads, rng):
    """Row lengths 1..33; from dim 24 on, the backward pass splits its rows across threads."""
    for dim in TAIL_SIZES[:-1]:
        indices = rng.integers(0, 40000, 2000)
        indices[:50] = 7  # a row that sums many contributions
        weight = f32(rng.standard_normal((40000, dim)))
        np.testing.assert_array_equal(ops.embedding(indices, weight, backend="cpu"), weight[indices])
        grad_out = f32(rng.standard_normal((2000, dim)))
        got = ops.embedding_backward(indices, grad_out, 40000, 3, backend="cpu")
        assert_close(got, reference.embedding_backward(indices, grad_out.astype(np.float64), 40000, 3),
                     reduction_tol(50), f"dim {dim}")


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.uint32, np.int64])
def test_any_integer_dtype(dtype, backend, rng):
    weight = f32(rng.standard_normal((20, 5)))
    indices = np.array([[3, 0], [19, 3]], dtype=dtype)
    np.testing.assert_array_equal(ops.embedding(indices, weight, backend=backend), weight[indices.astype(np.int64)])
    grad = ops.embedding_backward(indices, np.ones((2, 2, 5), np.float32), 20, backend=backend)
    np.testing.assert_array_equal(grad[3], np.full(5, 2.0))


def test_reference_backward_by_finite_differences(rng):
    indices = np.array([[2, 0, 2], [4, 2, 1]])
    weight = rng.standard_normal((6, 3))
    upstream = rng.standard_normal((2, 3, 3))
    numeric = finite_difference_grad(lambda: np.sum(reference.embedding(indices, weight) * upstream), weight)
    assert_close(reference.embedding_backward(indices, upstream, 6), numeric, 1e-7)


@pytest.mark.parametrize("padding_idx", [None, 2, -3])
def test_against_torch(padding_idx, backend, rng):
    torch = pytest.importorskip("torch")
    indices = rng.integers(0, 9, (5, 7))
    weight = f32(rng.standard_normal((9, 6)))
    upstream = f32(rng.standard_normal((5, 7, 6)))
    weight_t = torch.tensor(weight, requires_grad=True)
    out_t = torch.nn.functional.embedding(torch.tensor(indices), weight_t, padding_idx=padding_idx)
    out_t.backward(torch.tensor(upstream))
    np.testing.assert_array_equal(ops.embedding(indices, weight, padding_idx, backend=backend),
                                  out_t.detach().numpy())
    assert_close(ops.embedding_backward(indices, upstream, 9, padding_idx, backend=backend),
                 weight_t.grad.numpy(), reduction_tol(indices.size))


def test_thread_count_does_not_change_result(rng):
    # Skewed indices: many repeats of a few rows, so that summation order matters.
    indices = np.minimum(rng.geometric(0.01, 20000) - 1, 999)
    grad_out = f32(rng.standard_normal((20000, 100)))
    before = kiln.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            kiln.set_num_threads(threads)
            results.append(ops.embedding_backward(indices, grad_out, 1000, backend="cpu"))
    finally:
        kiln.set_num_threads(before)
    np.testing.assert_array_equal(results[0], results[1])


# ---- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.array([0.0, 1.0]), np.array([True, False]), np.array(["a", "b"]),
                                 np.array([object(), object()]), None],
                         ids=["float", "bool", "str", "object", "None"])
def test_non_integer_indices_are_type_errors(bad, backend):
    weight = np.ones((4, 3), np.float32)
    with pytest.raises(TypeError, match="indices"):
        ops.embedding(bad, weight, backend=backend)
    with pytest.raises(TypeError, match="indices"):
        ops.embedding_backward(bad, np.ones((2, 3), np.float32), 4, backend=backend)


@pytest.mark.parametrize("bad", [np.arange(6).reshape(2, 3), np.ones((2, 3), np.float16),
                                 np.array([[object()] * 3] * 2), np.array([["a"] * 3] * 2), None],
                         ids=["int", "float16", "object", "str", "None"])
def test_bad_weight_dtype_is_type_error(bad, backend):
    with pytest.raises(TypeError, match="weight"):
        ops.embedding(np.array([0, 1]), bad, backend=backend)
    with pytest.raises(TypeError, match="grad_out"):
        ops.embedding_backward(np.array([0, 1]), bad, 4, backend=backend)


@pytest.mark.parametrize("bad_index", [-1, 4, 10**12])
def test_out_of_range_indices_are_value_errors(bad_index, backend):
    weight = np.ones((4, 3), np.float32)
    indices = np.array([[0, 1], [bad_index, 2]])
    with pytest.raises(ValueError, match=r"indices\[1, 0\]"):
        ops.embedding(indices, weight, backend=backend)
    with pytest.raises(ValueError, match=r"indices\[1, 0\]"):
        ops.embedding_backward(indices, np.ones((2, 2, 3), np.float32), 4, backend=backend)


def test_bad_shapes_and_values_are_value_errors(backend):
    weight = np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match="weight"):
        ops.embedding(np.array([0]), np.ones(4, np.float32), backend=backend)
    for padding_idx in (4, -5):
        with pytest.raises(ValueError, match="padding_idx"):
            ops.embedding(np.array([0]), weight, padding_idx, backend=backend)
        with pytest.raises(ValueError, match="padding_idx"):
            ops.embedding_backward(np.array([0]), np.ones((1, 3), np.float32), 4, padding_idx, backend=backend)
    with pytest.raises(ValueError, match="grad_out"):
        ops.embedding_backward(np.array([0, 1]), np.ones((3, 3), np.float32), 4, backend=backend)
    with pytest.raises(ValueError, match="num_embeddings"):
        ops.embedding_backward(np.array([0]), np.ones((1, 3), np.float32), -1, backend=backend)


def test_native_module_refuses_bad_indices_before_writing():
    from kiln import _C
    weight = np.ones((4, 3), np.float32)
    out = np.full((3, 3), 7.0, np.float32)
    with pytest.raises(ValueError, match=r"indices\[2\] = 4 is out of range"):
        _C.embedding(np.array([0, 1, 4]), weight, out)
    assert (out == 7.0).all()
    grad_weight = np.full((4, 3), 7.0, np.float32)
    with pytest.raises(ValueError, match=r"indices\[0\] = -2"):
        _C.embedding_backward(np.array([-2, 1, 3]), np.ones((3, 3), np.float32), -1, grad_weight)
    with pytest.raises(ValueError, match="padding_idx"):
        _C.embedding_backward(np.array([0]), np.ones((1, 3), np.float32), 4, grad_weight)
    assert (grad_weight == 7.0).all()
    with pytest.raises(TypeError, match="int64"):
        _C.embedding(np.array([0, 1], np.int32), weight, np.empty((2, 3), np.float32))
