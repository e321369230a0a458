"""nn.LSTMCell packs its weights once per version of them: every kind of in-place write
(optimizer steps, copy_, in-place arithmetic, setitem, load_state_dict, views, .data)
makes the next step pack anew, so its outputs equal a fresh, uncached computation."""

import numpy as np
import pytest

import kiln
from kiln import nn, ops, versions
from kiln.nn.functional import recurrent

B, I, H = 3, 6, 37  # H not a multiple of 16: the packed layout's last group is partial


@pytest.fixture
def packs(monkeypatch):
    """Counts the packings F.lstm_cell asks for."""
    count = [0]
    pack = ops.lstm_pack_weights

    def counted(*args, **kwargs):
        count[0] += 1
        return pack(*args, **kwargs)
    monkeypatch.setattr(recurrent.ops, "lstm_pack_weights", counted)
    return count


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    return tuple(kiln.from_numpy(rng.standard_normal(shape).astype(np.float32)) for shape in ((B, I), (B, H), (B, H)))


def fresh(cell, x, h, c):
    """The cell's step on copies of its weights, packed on this call."""
    weights = [p.numpy().copy() for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)]
    return ops.lstm_cell(x.numpy(), h.numpy(), c.numpy(), *weights, backend="cpu")


def check_step(cell, x, h, c):
    with kiln.no_grad():
        got = cell(x, (h, c))
    for g, w in zip(got, fresh(cell, x, h, c)):
        np.testing.assert_array_equal(g.numpy(), w)


def train_step(cell, optimizer, x, h, c):
    optimizer.zero_grad()
    h_new, c_new = cell(x, (h, c))
    ((h_new * h_new).sum() + c_new.sum()).backward()
    optimizer.step()


def test_cache_is_used_until_a_write(packs):
    cell, (x, h, c) = nn.LSTMCell(I, H), inputs()
    check_step(cell, x, h, c)
    check_step(cell, x, h, c)
    assert packs[0] == 1
    with kiln.no_grad():
        cell.weight_hh.mul_(0.5)
    check_step(cell, x, h, c)
    check_step(cell, x, h, c)
    assert packs[0] == 2


@pytest.mark.parametrize("make", [lambda p: kiln.optim.SGD(p, lr=0.5, momentum=0.9),
                                  lambda p: kiln.optim.Adam(p, lr=0.1)], ids=["sgd", "adam"])
def test_optimizer_steps_invalidate(make, packs):
    cell, (x, h, c) = nn.LSTMCell(I, H), inputs()
    check_step(cell, x, h, c)  # packed before the optimizer moves the weights into its flat buffer
    optimizer = make(cell.parameters())
    for _ in range(3):
        before = [p.numpy().copy() for p in (cell.weight_ih, cell.weight_hh)]
        train_step(cell, optimizer, x, h, c)
        assert not np.array_equal(before[0], cell.weight_ih.numpy())
        assert not np.array_equal(before[1], cell.weight_hh.numpy())
        check_step(cell, x, h, c)
    assert packs[0] >= 4


def _copy(w, rng):
    w.copy_(kiln.from_numpy(rng.standard_normal(w.shape).astype(np.float32)))


def _data_copy(w, rng):
    w.data.copy_(kiln.from_numpy(rng.standard_normal(w.shape).astype(np.float32)))


def _data_assign(w, rng):
    w.data = kiln.from_numpy(rng.standard_normal(w.shape).astype(np.float32))


def _setitem(w, rng):
    w[1:3] = kiln.from_numpy(rng.standard_normal((2, w.shape[1])).astype(np.float32))


def _view(w, rng):
    w[: w.shape[0] // 2].fill_(0.25)  # a write through a view of the storage


def _iadd(w, rng):
    w += 0.125


WRITES = {
    "copy_": _copy, "data.copy_": _data_copy, ".data =": _data_assign, "setitem": _setitem, "view.fill_": _view,
    "+=": _iadd, "add_": lambda w, rng: w.add_(w, alpha=0.5), "mul_": lambda w, rng: w.mul_(-1.5),
    "sub_": lambda w, rng: w.sub_(0.25), "div_": lambda w, rng: w.div_(3.0), "clamp_": lambda w, rng: w.clamp_(-0.05, 0.05),
    "fill_": lambda w, rng: w.fill_(0.01), "zero_": lambda w, rng: w.zero_(),
    "uniform_": lambda w, rng: nn.init.uniform_(w, -1, 1), "normal_": lambda w, rng: w.normal_(),
}


@pytest.mark.parametrize("which", ["weight_ih", "weight_hh"])
@pytest.mark.parametrize("write", list(WRITES))
def test_in_place_writes_invalidate(write, which):
    cell, (x, h, c) = nn.LSTMCell(I, H), inputs()
    check_step(cell, x, h, c)
    w = getattr(cell, which)
    version = w._version
    with kiln.no_grad():
        WRITES[write](w, np.random.default_rng(1))
    assert w._version > version
    check_step(cell, x, h, c)


def test_load_state_dict_invalidates():
    cell, other, (x, h, c) = nn.LSTMCell(I, H), nn.LSTMCell(I, H), inputs()
    check_step(cell, x, h, c)
    cell.load_state_dict(other.state_dict())
    check_step(cell, x, h, c)
    np.testing.assert_array_equal(cell(x, (h, c))[0].detach().numpy(), other(x, (h, c))[0].detach().numpy())


def test_optimizer_over_a_shared_flat_buffer_and_a_second_cell():
    """Two cells in one optimizer group share its flat buffer: a step invalidates both."""
    a, b, (x, h, c) = nn.LSTMCell(I, H), nn.LSTMCell(I, H), inputs()
    optimizer = kiln.optim.SGD([*a.parameters(), *b.parameters()], lr=0.3)
    for cell in (a, b):
        check_step(cell, x, h, c)
    optimizer.zero_grad()
    (a(x, (h, c))[0].sum() + b(x, (h, c))[1].sum()).backward()
    optimizer.step()
    for cell in (a, b):
        check_step(cell, x, h, c)


def test_training_steps_match_the_reference():
    """A few SGD steps of a cell unrolled over time: each step's outputs and gradients as an
    uncached float64 reference computation of the same weights gives them."""
    cell = nn.LSTMCell(I, H)
    optimizer = kiln.optim.SGD(cell.parameters(), lr=0.2)
    rng = np.random.default_rng(3)
    xs = [kiln.from_numpy(rng.standard_normal((B, I)).astype(np.float32)) for _ in range(4)]
    for _ in range(3):
        weights = [p.numpy().astype(np.float64) for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)]
        h = c = np.zeros((B, H))
        for x in xs:
            h, c, _ = kiln.reference.lstm_cell(x.numpy().astype(np.float64), h, c, *weights)
        optimizer.zero_grad()
        state = None
        for x in xs:
            state = cell(x, state)
        np.testing.assert_allclose(state[0].detach().numpy(), h, rtol=1e-5, atol=1e-5)
        state[0].sum().backward()
        optimizer.step()


def test_versions_follow_the_storage():
    w = kiln.zeros(4, 5)
    start = w._version
    view, alias = w[1:3], w.detach()
    view.fill_(1.0)
    assert w._version == alias._version == start + 1
    alias.copy_(kiln.ones(4, 5))
    assert w._version == start + 2
    assert kiln.zeros(4, 5)._version == 0
    assert versions.version(np.zeros(3)) == 0
