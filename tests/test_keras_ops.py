"""keras.ops beyond arithmetic: creation, indexing, scans, orders and activations, against NumPy
(Keras 3's documented results)."""

import numpy as np
import pytest

from kiln.keras import ops


def test_creation_and_indexing():
    assert ops.arange(0, 5, 1).dtype == np.int32 and ops.arange(4).tolist() == [0, 1, 2, 3]
    assert ops.arange(0.0, 1.0, 0.5).dtype == np.float32
    assert ops.zeros((2, 3)).shape == (2, 3) and ops.ones((2,), "int32").dtype == np.int32
    x = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(ops.take(x, np.array([[0, 2], [1, 1]]), axis=1).numpy(),
                                  np.take(x, [[0, 2], [1, 1]], axis=1))
    np.testing.assert_array_equal(ops.take(x, np.array([5, 0])).numpy(), np.take(x, [5, 0]))
    np.testing.assert_array_equal(ops.tile(x, (2, 1)).numpy(), np.tile(x, (2, 1)))
    np.testing.assert_array_equal(ops.broadcast_to(np.ones(3, np.float32), (2, 3)).numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(ops.triu(x, 1).numpy(), np.triu(x, 1))
    np.testing.assert_array_equal(ops.tril(x).numpy(), np.tril(x))


def test_scans_orders_and_activations():
    x = np.array([[3.0, -1.0, 2.0], [0.5, 4.0, -2.0]], np.float32)
    np.testing.assert_array_equal(ops.cumsum(x, axis=1).numpy(), np.cumsum(x, axis=1))
    np.testing.assert_array_equal(ops.cumsum(x).numpy(), np.cumsum(x))
    np.testing.assert_array_equal(ops.sort(x).numpy(), np.sort(x))
    np.testing.assert_array_equal(ops.argsort(x).numpy(), np.argsort(x, kind="stable"))
    values, indices = ops.top_k(x, 2)
    np.testing.assert_array_equal(values.numpy(), [[3.0, 2.0], [4.0, 0.5]])
    np.testing.assert_array_equal(indices.numpy(), [[0, 2], [1, 0]])
    tanh_gelu = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(ops.gelu(x).numpy(), tanh_gelu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ops.silu(x).numpy(), x / (1 + np.exp(-x)), rtol=1e-6)
    np.testing.assert_allclose(ops.leaky_relu(x).numpy(), np.where(x > 0, x, 0.2 * x), rtol=1e-6)
    np.testing.assert_allclose(ops.softplus(x).numpy(), np.log1p(np.exp(x)), rtol=1e-6)
    np.testing.assert_allclose(ops.elu(x).numpy(), np.where(x > 0, x, np.exp(x) - 1), rtol=1e-6)
    assert ops.swish is ops.silu
    with pytest.raises(ValueError):
        ops.top_k(x, 5)
