"""The small pieces the battery's programs needed: Tensor.narrow (and main's new_* / type_as
as the programs call them), torch.save of device tensors, the Keras confusion-count metrics
and layers.ReLU."""

import numpy as np
import pytest

import kiln
from kiln import keras, nn


def test_narrow_is_a_slice_with_its_gradient():
    x = kiln.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    y = x.narrow(1, 1, 2)
    np.testing.assert_array_equal(y.numpy(), np.arange(12.0).reshape(3, 4)[:, 1:3])
    np.testing.assert_array_equal(kiln.narrow(x, 0, -2, 2).numpy(), np.arange(12.0).reshape(3, 4)[1:])
    y.sum().backward()
    expected = np.zeros((3, 4))
    expected[:, 1:3] = 1
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    with pytest.raises(IndexError, match="narrow: start 3 and length 2"):
        x.narrow(1, 3, 2)


def test_new_factories_keep_dtype_and_device():
    w = kiln.zeros(2, dtype=np.float64)
    assert w.new_zeros(2, 3).shape == (2, 3) and w.new_zeros((2, 3)).dtype == np.float64
    np.testing.assert_array_equal(w.new_ones(4).numpy(), np.ones(4))
    assert w.new_full((2,), 7, dtype=np.int64).dtype == np.int64
    np.testing.assert_array_equal(w.new_tensor([1, 2]).numpy(), [1.0, 2.0])
    assert w.new_tensor([1, 2]).dtype == np.float64
    assert kiln.tensor([1, 2]).type_as(w).dtype == np.float64


@pytest.mark.skipif(not kiln.cuda.is_available(), reason="no cuda device (real or emulated)")
def test_save_a_state_dict_on_the_cuda_device(tmp_path):
    model = nn.Linear(3, 2).to("cuda")
    path = str(tmp_path / "m.pth")
    kiln.save(model.state_dict(), path)
    again = nn.Linear(3, 2)
    again.load_state_dict(kiln.load(path, weights_only=True))
    np.testing.assert_array_equal(again.weight.detach().numpy(), model.weight.detach().numpy(force=True))


def test_confusion_count_metrics():
    y_true = np.array([1, 0, 1, 1, 0, 0], np.float32)
    y_pred = np.array([0.9, 0.8, 0.3, 0.6, 0.1, 0.4], np.float32)
    counts = {keras.metrics.TruePositives: 2, keras.metrics.FalsePositives: 1,
              keras.metrics.TrueNegatives: 2, keras.metrics.FalseNegatives: 1}
    for cls, expected in counts.items():
        metric = cls()
        metric.update_state(y_true, y_pred)
        assert metric.result() == expected, cls
        metric.update_state(y_true, y_pred, sample_weight=np.full(6, 2.0))
        assert metric.result() == 3 * expected, cls
        metric.reset_state()
        assert metric.result() == 0
    assert keras.metrics.TruePositives().name.startswith("true_positives")
    assert keras.metrics.TruePositives(thresholds=[0.5, 0.85])(y_true, y_pred) == [2.0, 1.0]
    assert keras.metrics.FalseNegatives(name="fn").get_config()["name"] == "fn"


def test_relu_layer_matches_keras_formula_and_gradient():
    x = np.array([[-2.0, -0.5, 0.3, 1.0, 7.0]])
    layer = keras.layers.ReLU(max_value=2.0, negative_slope=0.1, threshold=0.5)
    expected = np.where(x >= 2.0, 2.0, np.where(x >= 0.5, x, 0.1 * (x - 0.5)))
    np.testing.assert_allclose(layer(x.astype(np.float32)).numpy(), expected, rtol=1e-6)
    t = kiln.tensor(x, requires_grad=True)
    layer(t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), np.where(x >= 2.0, 0.0, np.where(x >= 0.5, 1.0, 0.1)))
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(keras.layers.ReLU()(x32).numpy(), np.maximum(x32, 0))
    assert keras.layers.ReLU.from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="ReLU: negative_slope"):
        keras.layers.ReLU(negative_slope=-1.0)


def test_relu_layer_in_a_saved_model(tmp_path):
    inputs = keras.Input(shape=(4,))
    outputs = keras.layers.Dense(1)(keras.layers.ReLU(max_value=1.0)(keras.layers.Dense(8)(inputs)))
    model = keras.Model(inputs, outputs)
    x = np.random.RandomState(0).randn(5, 4).astype(np.float32)
    path = str(tmp_path / "m.keras")
    model.save(path)
    np.testing.assert_allclose(keras.models.load_model(path).predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


def test_augmented_assignment_inside_the_graph_records_the_op():
    w = nn.Parameter(kiln.tensor([1.0, 2.0]))
    batch_loss = 0
    for x in ([1.0, 1.0], [2.0, 3.0]):
        batch_loss += (w * kiln.tensor(x)).sum()  # the second += is on a non-leaf
    batch_loss *= 2.0
    batch_loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [6.0, 8.0])
    total = kiln.zeros(())
    total += (w * w).sum()  # a plain tensor takes a term that requires grad
    w.grad = None
    total.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0])
    with pytest.raises(RuntimeError, match="in-place change of a tensor that requires grad"):
        w += 1.0
    with kiln.no_grad():
        same = w
        w += 1.0
    assert w is same and w.detach().numpy().tolist() == [2.0, 3.0]


def test_dropout2d_on_a_2d_input_warns_and_drops_elements():
    x = kiln.ones(64, 64)
    with pytest.warns(UserWarning, match="2-D input to dropout2d"):
        out = nn.functional.dropout2d(x, 0.5, training=True).numpy()
    assert set(np.unique(out)) <= {0.0, 2.0}
    rows_mixed = [(0 < row.mean() < 2) for row in out]
    assert np.mean(rows_mixed) > 0.9  # elementwise, as torch's (N, C) feature noise: not whole rows
    with pytest.raises(ValueError, match="dropout2d: expected a 4-D"):
        nn.functional.dropout2d(kiln.ones(4), 0.5)


def _lbfgs_problem(lib, nn_module, **options):
    """A float64 objective made of elementwise ops only (exact on both libraries), two
    parameters, 3 LBFGS steps: the parameters and the losses."""
    rng = np.random.RandomState(0)
    a = nn_module.Parameter(lib.tensor(rng.randn(6)))
    b = nn_module.Parameter(lib.tensor(rng.randn(3)))
    target, scale = lib.tensor(rng.randn(6)), lib.tensor(rng.uniform(0.5, 3.0, 6))
    optimizer = lib.optim.LBFGS([a, b], **options)
    losses = []

    def closure():
        optimizer.zero_grad()
        loss = (scale * (a - target) ** 2).sum() + 0.1 * (a ** 4).sum() + ((b - 1.0) ** 2 * (b + 2.0) ** 2).sum()
        loss.backward()
        return loss
    for _ in range(3):
        losses.append(optimizer.step(closure).item())
    return [a.detach().numpy(), b.detach().numpy()], losses


@pytest.mark.parametrize("options", [dict(lr=0.8), dict(lr=1.0, max_iter=5, history_size=3)])
def test_lbfgs_matches_torch(options):
    torch = pytest.importorskip("torch")
    ours, our_losses = _lbfgs_problem(kiln, nn, **options)
    theirs, their_losses = _lbfgs_problem(torch, torch.nn, **options)
    np.testing.assert_allclose(our_losses, their_losses, rtol=1e-9)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)
    assert our_losses[-1] < our_losses[0]


def test_lbfgs_refuses_what_it_does_not_do():
    p = nn.Parameter(kiln.zeros(2))
    with pytest.raises(NotImplementedError, match="line_search_fn='strong_wolfe'"):
        kiln.optim.LBFGS([p], line_search_fn="strong_wolfe")
    with pytest.raises(ValueError, match="needs a closure"):
        kiln.optim.LBFGS([p]).step(None)
