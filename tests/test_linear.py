"""linear_backward: the fused backward of a fully connected layer, native vs reference."""

import numpy as np
import pytest
from conftest import assert_close, f32, finite_difference_grad, reduction_tol

from kiln import ops, reference

ACTIVATIONS = [None, "relu", "sigmoid", "tanh"]


def layer(m, inputs, outputs, out_by_in, activation, rng):
    x = f32(rng.standard_normal((m, inputs)))
    w = f32(rng.standard_normal((outputs, inputs) if out_by_in else (inputs, outputs)))
    bias = f32(rng.standard_normal(outputs))
    y = reference.matmul(x, w, transpose_b=out_by_in, bias=bias, activation=activation)
    return x, w, bias, f32(y), f32(rng.standard_normal((m, outputs)))


@pytest.mark.parametrize("m,inputs,outputs", [(1, 1, 1), (32, 64, 128), (7, 33, 10), (300, 17, 65), (0, 5, 3)])
@pytest.mark.parametrize("out_by_in", [True, False])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_matches_reference(m, inputs, outputs, out_by_in, activation, backend, rng):
    x, w, _, y, g = layer(m, inputs, outputs, out_by_in, activation, rng)
    got = ops.linear_backward(x, w, y, g, weight_is_out_by_in=out_by_in, activation=activation, backend=backend)
    want = reference.linear_backward(*(a.astype(np.float64) for a in (x, w, y, g)),
                                     weight_is_out_by_in=out_by_in, activation=activation)
    for name, a, b, k in zip(("dx", "dw", "db"), got, want, (outputs, m, m)):
        assert a.dtype == np.float32 and a.shape == b.shape
        assert_close(a, b, reduction_tol(k), name)


@pytest.mark.parametrize("which", [(True, False, False), (False, True, True), (False, False, False)])
def test_only_the_requested_gradients(which, backend, rng):
    x, w, _, y, g = layer(9, 5, 4, True, "relu", rng)
    got = ops.linear_backward(x, w, y, g, activation="relu", input_grad=which[0], weight_grad=which[1],
                              bias_grad=which[2], backend=backend)
    assert [a is not None for a in got] == list(which)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("out_by_in", [True, False])
def test_reference_against_finite_differences(activation, out_by_in, rng):
    x = rng.standard_normal((4, 3))
    w = rng.standard_normal((5, 3) if out_by_in else (3, 5))
    bias = rng.standard_normal(5)
    up = rng.standard_normal((4, 5))

    def loss():
        return float((reference.matmul(x, w, transpose_b=out_by_in, bias=bias, activation=activation) * up).sum())

    y = reference.matmul(x, w, transpose_b=out_by_in, bias=bias, activation=activation)
    dx, dw, db = reference.linear_backward(x, w, y, up, weight_is_out_by_in=out_by_in, activation=activation)
    for got, wrt in ((dx, x), (dw, w), (db, bias)):
        assert_close(got, finite_difference_grad(loss, wrt), 1e-6)


def test_bad_inputs_are_refused(backend, rng):
    x, w, _, y, g = layer(6, 5, 4, True, None, rng)
    with pytest.raises(ValueError, match="features"):
        ops.linear_backward(x[:, :4], w, y, g, backend=backend)
    with pytest.raises(ValueError, match="grad_y"):
        ops.linear_backward(x, w, y, g[:5], backend=backend)
    with pytest.raises(ValueError, match="activation"):
        ops.linear_backward(x, w, y, g, activation="gelu", backend=backend)
    with pytest.raises(TypeError):
        ops.linear_backward(x.astype(np.int32), w, y, g, backend=backend)
    with pytest.raises(ValueError, match="2-D"):
        ops.linear_backward(x[None], w, y, g, backend=backend)


def test_native_binding_checks_outputs(backend, rng):
    from kiln import _C
    x, w, _, y, g = layer(6, 5, 4, True, None, rng)
    dw = np.empty((4, 5), np.float32)
    with pytest.raises(ValueError, match="dx"):
        _C.linear_backward(x, w, y, g, np.empty((6, 4), np.float32), dw, None, True, None)
    readonly = np.empty((4, 5), np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="dw"):
        _C.linear_backward(x, w, y, g, None, readonly, None, True, None)
    with pytest.raises(ValueError, match="shares memory"):
        _C.linear_backward(x, w, y, g, None, None, g[0], True, None)
