"""Every layer's gradients: against finite differences (float64, NumPy path) and the native
backend against the NumPy path (float32)."""

import numpy as np
import pytest
from gradcheck import finite_difference_check, native_matches_reference

import kiln
from kiln import nn


def tensor(rng, *shape, grad=True, dtype=np.float64):
    return kiln.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=grad)


class Apply(nn.Module):
    """Wrap a function of tensors as a module (for the functional-only operations)."""

    def __init__(self, fn, *params):
        super().__init__()
        self.fn = fn
        for i, p in enumerate(params):
            setattr(self, f"p{i}", nn.Parameter(p))

    def forward(self, *xs):
        return self.fn(*xs, *self.parameters())


LAYERS = {
    "linear": lambda: (nn.Linear(7, 5), [(4, 7)]),
    "linear_3d_input": lambda: (nn.Linear(6, 3), [(2, 4, 6)]),
    "linear_no_bias": lambda: (nn.Linear(5, 4, bias=False), [(3, 5)]),
    "conv2d": lambda: (nn.Conv2d(3, 4, 3, padding=1), [(2, 3, 6, 5)]),
    "conv2d_strided_grouped": lambda: (nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), groups=2),
                                       [(2, 4, 7, 6)]),
    "conv2d_same": lambda: (nn.Conv2d(2, 3, 3, padding="same", dilation=2), [(1, 2, 7, 7)]),
    "maxpool": lambda: (nn.MaxPool2d(2), [(2, 3, 6, 6)]),
    "maxpool_padded_ceil": lambda: (nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), [(1, 2, 7, 6)]),
    "avgpool": lambda: (nn.AvgPool2d(2, stride=1), [(2, 2, 5, 5)]),
    "flatten": lambda: (nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), [(3, 3, 2, 2)]),
    "relu": lambda: (nn.Sequential(nn.Linear(5, 6), nn.ReLU()), [(4, 5)]),
    "sigmoid": lambda: (nn.Sigmoid(), [(4, 5)]),
    "tanh": lambda: (nn.Tanh(), [(3, 6)]),
    "gelu": lambda: (nn.GELU(), [(3, 6)]),
    "softmax": lambda: (nn.Softmax(dim=1), [(3, 6)]),
    "log_softmax": lambda: (nn.LogSoftmax(dim=-1), [(4, 5)]),
    "lstm_cell": lambda: (nn.LSTMCell(4, 5), [(3, 4)]),
    "lstm": lambda: (nn.LSTM(3, 4), [(5, 2, 3)]),
    "lstm_two_layers_batch_first": lambda: (nn.LSTM(3, 4, num_layers=2, batch_first=True), [(2, 5, 3)]),
    "mlp": lambda: (nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)), [(5, 4)]),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_gradients_match_finite_differences(name, rng):
    kiln.manual_seed(0)
    module, shapes = LAYERS[name]()
    inputs = [tensor(rng, *s) for s in shapes]
    finite_difference_check(module, inputs, rng)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_native_matches_reference(name, rng, backend):
    kiln.manual_seed(0)
    module, shapes = LAYERS[name]()
    inputs = [tensor(rng, *s, dtype=np.float32) for s in shapes]
    native_matches_reference(module, inputs, rng, tol=1e-4)


def test_embedding_gradients(rng):
    emb = nn.Embedding(10, 4, padding_idx=0)
    idx = kiln.tensor(np.array([[1, 2, 0], [2, 9, 1]]))
    finite_difference_check(emb, [idx], rng)
    emb.zero_grad()
    out = emb(idx)
    out.sum().backward()
    assert not emb.weight.grad.numpy()[0].any(), "padding_idx row must get no gradient"
    np.testing.assert_allclose(emb.weight.grad.numpy()[2], 2.0)


def test_lstm_with_initial_state_gradients(rng):
    lstm = nn.LSTM(3, 4, num_layers=2)
    x = tensor(rng, 5, 2, 3)
    h0, c0 = tensor(rng, 2, 2, 4), tensor(rng, 2, 2, 4)

    class WithState(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = lstm

        def forward(self, x, h0, c0):
            out, (h, c) = self.lstm(x, (h0, c0))
            return out, h, c

    finite_difference_check(WithState(), [x, h0, c0], rng)


LOSSES = {
    "cross_entropy": (nn.CrossEntropyLoss(), lambda rng: rng.integers(0, 5, 6)),
    "cross_entropy_probs": (nn.CrossEntropyLoss(), lambda rng: rng.dirichlet(np.ones(5), 6)),
    "cross_entropy_sum_smoothed": (nn.CrossEntropyLoss(reduction="sum", label_smoothing=0.1),
                                   lambda rng: rng.integers(0, 5, 6)),
    "nll": (nn.NLLLoss(), lambda rng: rng.integers(0, 5, 6)),
    "mse": (nn.MSELoss(), lambda rng: rng.standard_normal((6, 5))),
    "bce_with_logits": (nn.BCEWithLogitsLoss(), lambda rng: rng.integers(0, 2, (6, 5)).astype(float)),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradients(name, rng):
    criterion, make_target = LOSSES[name]
    target = make_target(rng)
    logits = tensor(rng, 6, 5)
    module = Apply(lambda x: criterion(x, target))
    finite_difference_check(module, [logits], rng)
    native_matches_reference(module, [kiln.tensor(logits.numpy().astype(np.float32), requires_grad=True)], rng,
                             tol=1e-5)


def test_bce_on_probabilities(rng):
    probs = kiln.tensor(rng.uniform(0.05, 0.95, (4, 3)), requires_grad=True)
    target = rng.integers(0, 2, (4, 3)).astype(float)
    finite_difference_check(Apply(lambda p: nn.BCELoss()(p, target)), [probs], rng)


def test_dropout_scales_and_masks_in_training_only():
    kiln.manual_seed(1)
    drop = nn.Dropout(0.25)
    x = kiln.ones(1000, 20, requires_grad=True)
    y = drop(x)
    kept = y.numpy() != 0
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.75, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy() != 0, kept)
    drop.eval()
    assert drop(x) is x
