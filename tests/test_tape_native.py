"""kiln._tape, the one tape walker, and kiln._C's native nodes (python/src/tape, python/src/nodes).

The walker must visit and sum exactly as kiln.autograd's Python walker did (newest node
first, gradients summed in the order their senders ran), so gradients stay bit-identical:
a plain-Python walk over the same nodes is the yardstick. The native nodes must agree with
kiln.reference in float64. Uses numpy, kiln._tape, kiln._C and kiln.reference only.
"""

import gc
import weakref

import numpy as np
import pytest
from conftest import ELEMENTWISE_TOL, assert_close, f32, reduction_tol

import kiln
from kiln import reference

pytestmark = pytest.mark.skipif("cpu" not in kiln.available_backends(), reason="kiln._C is not built")

if "cpu" in kiln.available_backends():
    from kiln import _C, _tape
    from kiln._tape import GradBuffer, Leaf, Output, PythonNode, run_backward

FREED = "backward through a graph a second time"


def ones(*shape):
    return np.ones(shape, np.float32)


def normal(rng, *shape):
    return f32(rng.standard_normal(shape))


def f64(a):
    return None if a is None else np.asarray(a, np.float64)


def target(edge):
    return (edge.node, edge.slot) if isinstance(edge, Output) else (edge, 0)


def python_walk(root, grad):
    """kiln.autograd.run_backward's order and sums, in plain Python, over tape nodes (which
    it calls, leaving the graph intact): {id(leaf): d loss / d leaf}."""
    start, start_slot = target(root)
    nodes, seen, stack = [], {id(start)}, [start]
    while stack:
        node = stack.pop()
        nodes.append(node)
        for edge in node.edges:
            if edge is not None and id(target(edge)[0]) not in seen:
                seen.add(id(target(edge)[0]))
                stack.append(target(edge)[0])
    nodes.sort(key=lambda n: n.seq, reverse=True)
    grads = {id(start): [None] * start.num_outputs}
    grads[id(start)][start_slot] = grad
    leaves = {}
    for node in nodes:
        gs = grads.pop(id(node), None)
        if gs is None or all(g is None for g in gs):
            continue
        if isinstance(node, Leaf):
            leaves[id(node)] = gs[0]
            continue
        for edge, g in zip(node.edges, node(gs)):
            if edge is None or g is None:
                continue
            t, slot = target(edge)
            slots = grads.setdefault(id(t), [None] * t.num_outputs)
            slots[slot] = g if slots[slot] is None else slots[slot] + g
    return leaves


# ---- order and sums -------------------------------------------------------------------------


def logged(log, name, fn):
    def backward(g):
        log.append((name, g))
        return fn(g)
    return backward


def test_diamond_runs_newest_first_and_sums_in_run_order():
    log = []
    x = Leaf()
    a = PythonNode(logged(log, "a", lambda g: (g,)), [x])
    big = np.float32(1e8)
    # a's three consumers send 1, -1e8 and 1e8: newest first, (1e8 + -1e8) + 1 = 1 in float32;
    # oldest first, (1 + -1e8) + 1e8 = 0.
    b = PythonNode(logged(log, "b", lambda g: (g * 1,)), [a])
    c = PythonNode(logged(log, "c", lambda g: (g * -big,)), [a])
    d = PythonNode(logged(log, "d", lambda g: (g * big,)), [a])
    root = PythonNode(logged(log, "root", lambda g: (g, g, g)), [b, c, d])
    assert [n.seq for n in (x, a, b, c, d)] == [0, a.seq, a.seq + 1, a.seq + 2, a.seq + 3]
    run_backward(root, ones(2), False)
    assert [name for name, _ in log] == ["root", "d", "c", "b", "a"]
    np.testing.assert_array_equal(log[-1][1], ones(2))
    np.testing.assert_array_equal(x.grad, ones(2))
    assert all(n.released for n in (root, a, b, c, d)) and not x.released and root.edges == ()


def test_shared_leaf_and_repeated_edge_sum():
    x, y = Leaf(), Leaf()
    a = PythonNode(lambda g: (g * 2, g * 3), [x, y])
    root = PythonNode(lambda g: (g, g * 5, g * 7), [a, x, x])  # x three times
    run_backward(root, ones(3), False)
    np.testing.assert_array_equal(x.grad, np.full(3, 5 + 7 + 2, np.float32))
    np.testing.assert_array_equal(y.grad, np.full(3, 3, np.float32))


def test_multi_output_node_gets_every_output_and_none_for_an_unused_one():
    seen = []
    x = Leaf()

    def backward(gs):
        seen.append(list(gs))
        return (None if gs[0] is None else gs[0] + gs[1],)

    m = PythonNode(backward, [x], num_outputs=3)
    assert m.output(0) is m and m.output(1) == Output(m, 1) and m.output(2).slot == 2
    u = PythonNode(lambda g: (g * 2,), [m])
    v = PythonNode(lambda g: (g * 3,), [m.output(1)])
    root = PythonNode(lambda g: (g, g), [u, v])
    run_backward(root, ones(2), True)
    g0, g1, g2 = seen[0]
    np.testing.assert_array_equal(g0, np.full(2, 2, np.float32))
    np.testing.assert_array_equal(g1, np.full(2, 3, np.float32))
    assert g2 is None
    run_backward(Output(m, 2), ones(2), True)  # a root at output 2
    assert seen[1][0] is None and seen[1][1] is None
    np.testing.assert_array_equal(seen[1][2], ones(2))


def test_node_without_gradient_is_skipped_and_none_edges_get_nothing():
    calls = []
    x, y = Leaf(), Leaf()
    a = PythonNode(lambda g: calls.append("a") or (g,), [x])
    b = PythonNode(lambda g: (None, g, g), [a, None, y])  # a gets no gradient; the None edge's is dropped
    run_backward(b, ones(2), False)
    assert calls == [] and x.grad is None and y.grad is not None
    assert not a.released  # never ran: not released


def random_graph(rng, leaves, nodes=40, shape=(3, 4)):
    """PythonNodes over random edges (repeated, None, Outputs of multi-output nodes) whose
    backward multiplies by fixed float32 arrays and sometimes returns None."""
    available = list(leaves)
    node = None
    for _ in range(nodes):
        count = int(rng.integers(1, 4))
        edges = [None if rng.random() < 0.1 else available[int(rng.integers(len(available)))]
                 for _ in range(count)]
        outputs = int(rng.choice([1, 1, 2, 3]))
        factors = [[normal(rng, *shape) for _ in range(count)] for _ in range(outputs)]
        drop = [rng.random() < 0.15 for _ in range(count)]

        def backward(gs, factors=factors, drop=drop, outputs=outputs, count=count):
            gs = [gs] if outputs == 1 else gs
            out = []
            for i in range(count):
                total = None
                for o in range(outputs):
                    if gs[o] is not None:
                        term = gs[o] * factors[o][i]
                        total = term if total is None else total + term
                out.append(None if drop[i] else total)
            return tuple(out)

        node = PythonNode(backward, edges, outputs)
        available += [node.output(k) for k in range(outputs)]
    return node


@pytest.mark.parametrize("seed", range(6))
def test_random_graphs_bit_identical_to_a_python_walk(seed):
    rng = np.random.default_rng(seed)
    leaves = [Leaf() for _ in range(5)]
    root = random_graph(rng, leaves)
    grad = normal(rng, 3, 4)
    want = python_walk(root, grad)
    run_backward(root, grad, False)
    assert want, "the graph reaches no leaf"
    for leaf in leaves:
        if id(leaf) in want:
            np.testing.assert_array_equal(leaf.grad, want[id(leaf)])
        else:
            assert leaf.grad is None


def test_mixed_native_and_python_nodes_share_one_counter(rng):
    x, w = Leaf(), Leaf()
    X, W = normal(rng, 5, 3), normal(rng, 4, 3)
    Y = f32(np.maximum(X @ W.T, 0))
    before = PythonNode(lambda g: (g,), [x])
    lin = _C.linear_node([before, w], X, W, Y, "relu", True, (5, 3))
    after = PythonNode(lambda g: (g * 2,), [lin])
    assert isinstance(lin, _tape.Node) and before.seq < lin.seq < after.seq
    grad = normal(rng, 5, 4)
    want = python_walk(after, grad)
    run_backward(after, grad, False)
    np.testing.assert_array_equal(x.grad, want[id(x)])
    np.testing.assert_array_equal(w.grad, want[id(w)])


# ---- release, retain_graph, errors ----------------------------------------------------------


def test_second_backward_after_release_raises_and_retain_graph_allows_it():
    x = Leaf()
    a = PythonNode(lambda g: (g * 2,), [x])
    run_backward(a, ones(2), True)
    run_backward(a, ones(2), True)
    np.testing.assert_array_equal(x.grad, np.full(2, 4, np.float32))
    run_backward(a, ones(2), False)
    assert a.released and a.edges == ()
    with pytest.raises(RuntimeError, match=FREED):
        run_backward(a, ones(2), False)
    with pytest.raises(RuntimeError, match=FREED):
        a([ones(2)])


def test_python_exception_propagates_and_the_tape_still_works():
    class Boom(Exception):
        pass

    error = Boom("from a backward")
    x = Leaf()

    def fail(g):
        raise error

    bad = PythonNode(fail, [x])
    root = PythonNode(lambda g: (g,), [bad])
    with pytest.raises(Boom) as caught:
        run_backward(root, ones(2), False)
    assert caught.value is error
    assert root.released and not bad.released and x.grad is None
    good = PythonNode(lambda g: (g * 3,), [x])
    run_backward(good, ones(2), False)
    np.testing.assert_array_equal(x.grad, np.full(2, 3, np.float32))


def test_bad_backward_results_and_arguments_are_refused():
    x = Leaf()
    with pytest.raises(ValueError, match="returned 1 gradients for 2 edges"):
        run_backward(PythonNode(lambda g: (g,), [x, x]), ones(1), False)
    with pytest.raises(TypeError, match="sequence"):
        run_backward(PythonNode(lambda g: g, [x]), ones(1), False)  # a bare ndarray
    with pytest.raises(TypeError, match="an edge must be"):
        PythonNode(lambda g: (g,), [ones(2)])
    with pytest.raises(TypeError, match="callable"):
        PythonNode(3, [x])
    m = PythonNode(lambda gs: (None,), [x], num_outputs=2)
    with pytest.raises(IndexError):
        m.output(2)
    with pytest.raises(ValueError):
        Output(m, 0)
    with pytest.raises(ValueError, match="2 outputs got 1 gradients"):
        m([ones(1)])
    with pytest.raises(TypeError):
        run_backward(None, ones(1), False)
    with pytest.raises(TypeError):
        _tape.Node()


def test_a_100000_deep_chain_neither_overflows_nor_leaks():
    depth = 100_000
    x = Leaf()
    node = x
    for _ in range(depth):
        node = PythonNode(lambda g: (g,), [node])
    run_backward(node, ones(2), True)  # retained: freed below, by dropping the last reference
    np.testing.assert_array_equal(x.grad, ones(2))
    del node
    node = x
    for _ in range(depth):
        node = PythonNode(lambda g: (g,), [node])
    run_backward(node, ones(2), False)
    np.testing.assert_array_equal(x.grad, np.full(2, 2, np.float32))
    node = x
    for _ in range(depth):
        node = _tape.ReshapeBackward([node], (2,))
    del node  # never walked


def test_a_reference_cycle_through_a_closure_is_collected():
    class Tensor:
        pass

    def make():
        t = Tensor()
        t._node = PythonNode(lambda g: (t,), [Leaf()])
        return weakref.ref(t)

    alive = make()
    gc.collect()
    assert alive() is None


def test_python_seconds_counts_time_in_python_nodes():
    import time

    before = _tape.python_seconds()
    run_backward(PythonNode(lambda g: (time.sleep(0.01), g)[1:], [Leaf()]), ones(1), False)
    assert _tape.python_seconds() - before >= 0.009


# ---- leaves and the gradient buffer ---------------------------------------------------------


def identity(*edges):
    """A node returning the very array it got, to every edge (as the backward of x + y does)."""
    return PythonNode(lambda g: (g,) * len(edges), list(edges))


def test_leaf_without_buffer_copies_then_accumulates_in_place():
    x = Leaf()
    assert x.seq == 0 and x.num_outputs == 1 and x.edges == () and x.grad is None
    g = ones(2, 3)
    run_backward(identity(x), g, False)
    assert x.grad is not g and not np.shares_memory(x.grad, g)
    first = x.grad
    run_backward(identity(x), g * 2, False)
    assert x.grad is first
    np.testing.assert_array_equal(first, np.full((2, 3), 3, np.float32))
    np.testing.assert_array_equal(g, ones(2, 3))  # what the node returned is untouched
    x.grad = None
    g64 = np.ones(3)
    run_backward(identity(x), g64, False)
    assert x.grad.dtype == np.float64 and x.grad is not g64


def flat_buffer(shapes, dtype=np.float32):
    flat = np.zeros(sum(int(np.prod(s)) for s in shapes), dtype)
    views, offset = [], 0
    for s in shapes:
        n = int(np.prod(s))
        views.append(flat[offset:offset + n].reshape(s))
        offset += n
    return flat, views


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradients_go_into_the_buffer_views(dtype):
    a, b = Leaf(), Leaf()
    flat, views = flat_buffer([(2, 3), (4,)], dtype)
    buf = GradBuffer([a, b], views)
    ga, gb = np.arange(6, dtype=dtype).reshape(2, 3), np.arange(4, dtype=dtype)
    both = PythonNode(lambda g: (ga, gb), [a, b])
    run_backward(both, ones(1), True)
    assert a.grad is views[0] and b.grad is views[1]
    np.testing.assert_array_equal(flat, np.concatenate([ga.ravel(), gb]))
    run_backward(both, ones(1), True)  # accumulates in place
    assert a.grad is views[0]
    np.testing.assert_array_equal(flat, 2 * np.concatenate([ga.ravel(), gb]))
    assert buf.collect() is None
    buf.clear()
    assert a.grad is None and b.grad is None and buf.collect() == []
    buf.zero()
    assert a.grad is views[0] and not flat.any()


def test_collect_copies_a_hand_set_gradient_and_names_the_leaves_that_have_one():
    a, b, c = Leaf(), Leaf(), Leaf()
    flat, views = flat_buffer([(2,), (3,), (1,)])
    buf = GradBuffer([a, b, c], views)
    a.grad = np.array([5, 6], np.float32)
    c.grad = np.array([7.0])  # float64, copied into the float32 view
    assert buf.collect() == [0, 2]
    assert a.grad is views[0] and c.grad is views[2]
    np.testing.assert_array_equal(flat, [5, 6, 0, 0, 0, 7])
    b.grad = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="shape"):
        buf.collect()
    b.grad = np.ones(3, np.float32)
    assert buf.collect() is None
    d = Leaf()
    other = GradBuffer([d], [np.zeros(2, np.float32)])
    with pytest.raises(ValueError, match=r"shape \(3,\) for a buffer view of shape \(2,\)"):
        run_backward(identity(d), ones(3), False)
    with pytest.raises(ValueError, match="shape"):
        run_backward(identity(a), ones(3), False)  # accumulating (3,) into a (2,) gradient
    assert other.collect() == []


def test_a_second_buffer_takes_a_leaf_over():
    a, b = Leaf(), Leaf()
    flat1, views1 = flat_buffer([(2,), (2,)])
    first = GradBuffer([a, b], views1)
    run_backward(identity(a, b), ones(2), False)
    flat2, views2 = flat_buffer([(2,)])
    second = GradBuffer([a], views2)  # a's gradient moves to the new view
    assert a.grad is views2[0]
    np.testing.assert_array_equal(flat2, ones(2))
    run_backward(identity(a, b), ones(2), False)
    np.testing.assert_array_equal(flat2, np.full(2, 2, np.float32))
    np.testing.assert_array_equal(flat1, [1, 1, 2, 2])  # a's old slice no longer written
    assert first.collect() == [1] and second.collect() is None
    first.zero()
    assert a.grad is views2[0] and flat2.all()
    second.release()
    a.grad = None
    run_backward(identity(a), ones(2), False)
    assert not np.shares_memory(a.grad, flat2) and not np.shares_memory(a.grad, flat1)


def test_grad_buffer_refuses_bad_arguments():
    a = Leaf()
    with pytest.raises(TypeError):
        GradBuffer([PythonNode(lambda g: (), [])], [np.zeros(1, np.float32)])
    with pytest.raises(ValueError):
        GradBuffer([a], [])
    with pytest.raises(ValueError):
        GradBuffer([a, a], [np.zeros(1, np.float32), np.zeros(1, np.float32)])
    with pytest.raises(ValueError):
        GradBuffer([a], [np.zeros((2, 2), np.float32).T])
    readonly = np.zeros(2, np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ValueError):
        GradBuffer([a], [readonly])


# ---- view nodes and array hooks ----------------------------------------------------------


def test_reshape_and_permute_backward(rng):
    x, y = Leaf(), Leaf()
    g = normal(rng, 4, 3, 2)
    perm = _tape.PermuteBackward([x], (1, 2, 0))  # forward axes (2, 0, 1)
    (dx,) = perm([g])
    np.testing.assert_array_equal(dx, g.transpose(1, 2, 0))
    assert np.shares_memory(dx, g) and not dx.flags.c_contiguous
    (dy,) = _tape.ReshapeBackward([y], (6, 4))([g])
    np.testing.assert_array_equal(dy, g.reshape(6, 4))
    # A transposed gradient into a native node, which takes it as a contiguous copy.
    X, W = normal(rng, 6, 4), normal(rng, 5, 4)
    Y = f32(f64(X) @ f64(W).T)
    xl, wl = Leaf(), Leaf()
    lin = _C.linear_node([xl, wl], X, W, Y, None, True, (6, 4))
    g_t = normal(rng, 5, 6)
    run_backward(_tape.PermuteBackward([lin], (1, 0)), g_t, False)
    want = _C.linear_node(leaves(2), X, W, Y, None, True, (6, 4))([np.ascontiguousarray(g_t.T)])
    np.testing.assert_array_equal(xl.grad, want[0])
    np.testing.assert_array_equal(wl.grad, want[1])
    with pytest.raises(ValueError):
        _tape.PermuteBackward([x], (0, 0))
    with pytest.raises(ValueError):
        _tape.ReshapeBackward([x, y], (1,))


class Toy:
    """An array of another backend: wraps an ndarray, and is not one."""

    def __init__(self, a):
        self.a = np.array(a, np.float32)


@pytest.fixture
def toy_hooks():
    calls = []

    def log(name, fn):
        return lambda *args: (calls.append(name), fn(*args))[1]

    def iadd(dst, src):
        if isinstance(dst, np.ndarray):
            dst += src.a
        else:
            dst.a += src.a

    def copy_into(dst, src):
        dst[...] = src.a

    _tape.set_array_hooks(
        add=log("add", lambda a, b: Toy(a.a + b.a)), iadd=log("iadd", iadd), copy=log("copy", lambda a: Toy(a.a)),
        copy_into=log("copy_into", copy_into), reshape=log("reshape", lambda a, s: Toy(a.a.reshape(s))),
        transpose=log("transpose", lambda a, axes: Toy(a.a.transpose(axes))))
    yield calls
    kiln.autograd.install_array_hooks()  # kiln's own again: later tests train on device arrays


def test_hooks_handle_gradients_of_other_array_types(toy_hooks):
    x, v = Leaf(), Leaf()
    reshape = _tape.ReshapeBackward([x], (2, 3))
    permute = _tape.PermuteBackward([reshape], (1, 0))
    root = PythonNode(lambda g: (g, g, g), [permute, permute, v])
    buffer = GradBuffer([v], [np.zeros((3, 2), np.float32)])
    g = Toy(np.arange(6).reshape(3, 2))
    run_backward(root, g, True)
    # root, permute, reshape, then the leaves in the order they were found: v, x.
    assert toy_hooks == ["add", "transpose", "reshape", "copy_into", "copy"]
    assert isinstance(x.grad, Toy) and x.grad.a.shape == (2, 3)
    np.testing.assert_array_equal(x.grad.a, 2 * g.a.T.reshape(2, 3))
    np.testing.assert_array_equal(v.grad, g.a)
    run_backward(root, g, False)
    assert toy_hooks[5:] == ["add", "transpose", "reshape", "iadd", "iadd"]
    np.testing.assert_array_equal(x.grad.a, 4 * g.a.T.reshape(2, 3))
    np.testing.assert_array_equal(v.grad, 2 * g.a)
    assert buffer.collect() is None


def test_without_hooks_another_array_type_is_a_type_error():
    x = Leaf()
    _tape.set_array_hooks(None, None, None, None, None, None)
    try:
        with pytest.raises(TypeError, match="set_array_hooks"):
            run_backward(identity(x, x), Toy([1.0]), False)
    finally:
        kiln.autograd.install_array_hooks()


# ---- native nodes vs the float64 reference --------------------------------------------------


def leaves(n):
    return [Leaf() for _ in range(n)]


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("layout", ["out_by_in", "in_by_out"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_node(activation, layout, bias, rng):
    input_shape, out = (3, 2, 7), 5
    x = normal(rng, *input_shape)
    out_by_in = layout == "out_by_in"
    w = normal(rng, out, 7) if out_by_in else normal(rng, 7, out)
    b = normal(rng, out)
    x2 = x.reshape(6, 7)
    z = f64(x2) @ (f64(w).T if out_by_in else f64(w)) + (f64(b) if bias else 0)
    y = f32(reference.activate(z, activation)).reshape(3, 2, out)
    edges = leaves(3 if bias else 2)
    node = _C.linear_node(edges, x, w, y, activation, out_by_in, input_shape)
    g = normal(rng, 3, 2, out)
    got = node([g])
    want = reference.linear_backward(f64(x2), f64(w), f64(y.reshape(6, out)), f64(g.reshape(6, out)),
                                     weight_is_out_by_in=out_by_in, activation=activation)
    assert len(got) == len(edges) and got[0].shape == input_shape and got[1].shape == w.shape
    assert_close(got[0], want[0].reshape(input_shape), reduction_tol(out), "dx")
    assert_close(got[1], want[1], reduction_tol(6), "dw")
    if bias:
        assert_close(got[2], want[2], reduction_tol(6), "db")
    # None edges: those gradients are skipped.
    node = _C.linear_node([None, edges[1]] + ([None] if bias else []), x, w, y, activation, out_by_in, input_shape)
    skipped = node([g])
    assert skipped[0] is None and (not bias or skipped[2] is None)
    np.testing.assert_array_equal(skipped[1], got[1])


def test_linear_node_copies_strided_inputs_and_declines_other_dtypes(rng):
    x = normal(rng, 7, 6).T  # (6, 7), transposed
    w = normal(rng, 4, 7)
    y = f32(f64(x) @ f64(w).T)
    g = normal(rng, 6, 4)
    (dx, dw) = _C.linear_node(leaves(2), x, w, y, None, True, (6, 7))([g])
    assert_close(dx, f64(g) @ f64(w), reduction_tol(4), "dx")
    assert_close(dw, f64(g).T @ f64(x), reduction_tol(6), "dw")
    assert _C.linear_node(leaves(2), f64(x), w, y, None, True, (6, 7)) is None
    with pytest.raises(ValueError):
        _C.linear_node(leaves(2), x, w, y, None, True, (7, 6))
    with pytest.raises(ValueError):
        _C.linear_node(leaves(4), x, w, y, None, True, (6, 7))
    with pytest.raises(ValueError):
        _C.linear_node(leaves(2), x, w, y, "gelu", True, (6, 7))


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_activation_node(activation, rng):
    x = normal(rng, 3, 5, 7)
    y = f32(reference.activate(f64(x), activation))
    saved = x if activation == "relu" else y
    g = normal(rng, 3, 5, 7)
    (dx,) = _C.activation_node(leaves(1), activation, saved)([g])
    want = getattr(reference, f"{activation}_backward")(f64(g), f64(saved))
    assert_close(dx, want, ELEMENTWISE_TOL, activation)
    assert _C.activation_node([None], activation, saved)([g]) == (None,)
    assert _C.activation_node(leaves(1), activation, f64(saved)) is None


def test_scaled_grad_node(rng):
    grad = normal(rng, 4, 3)
    node = _C.scaled_grad_node(leaves(1), grad, 1.0)
    assert node([np.float32(1.0)])[0] is grad  # a loss at the root: no copy
    (scaled,) = _C.scaled_grad_node(leaves(1), grad, 0.25)([np.array(3.0, np.float32)])
    np.testing.assert_array_equal(scaled, grad * 0.75)  # as NumPy's float32 arithmetic
    assert _C.scaled_grad_node(leaves(1), f64(grad), 1.0) is None


@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_node(bias, rng):
    x, w = normal(rng, 2, 4, 7, 9), normal(rng, 6, 2, 3, 2)
    kw = dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    y = reference.conv2d(f64(x), f64(w), None, **kw)
    g = normal(rng, *y.shape)
    edges = leaves(3 if bias else 2)
    got = _C.conv2d_node(edges, x, w, kw["stride"], kw["padding"], kw["dilation"], kw["groups"])([g])
    want = reference.conv2d_backward(f64(x), f64(w), f64(g), **kw)
    terms = g.shape[0] * g.shape[2] * g.shape[3]
    assert got[0].shape == x.shape and got[1].shape == w.shape
    assert_close(got[0], want[0], reduction_tol(3 * 3 * 2), "dx")
    assert_close(got[1], want[1], reduction_tol(terms), "dw")
    if bias:
        assert_close(got[2], want[2], reduction_tol(terms), "db")
    skipped = _C.conv2d_node([edges[0], None] + ([None] if bias else []), x, w, (2, 1), (1, 0), (1, 2), 2)([g])
    assert skipped[1] is None and (not bias or skipped[2] is None)
    assert _C.conv2d_node(edges, f64(x), w, (1, 1), (0, 0), (1, 1), 1) is None
    with pytest.raises(ValueError):
        _C.conv2d_node(edges, x, w, (1, 1), (0, 0), (1, 1), 1)  # groups do not match


def test_max_pool2d_node(rng):
    x = normal(rng, 2, 3, 7, 9)
    y, indices = reference.max_pool2d(x, 3, 2, 1, 1, True, return_indices=True)
    g = normal(rng, *y.shape)
    (dx,) = _C.max_pool2d_node(leaves(1), indices, x.shape)([g])
    assert_close(dx, reference.max_pool2d_backward(f64(g), indices, x.shape), reduction_tol(4), "dx")
    assert _C.max_pool2d_node(leaves(1), indices.astype(np.int32), x.shape) is None
    with pytest.raises(ValueError):
        _C.max_pool2d_node(leaves(1), indices, (2, 4, 7, 9))


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("divisor", [0, 5])
def test_avg_pool2d_node(count_include_pad, divisor, rng):
    shape, kernel, stride, padding = (2, 3, 7, 8), (3, 2), (2, 2), (1, 1)
    y = reference.avg_pool2d(np.zeros(shape), kernel, stride, padding, True, count_include_pad, divisor or None)
    g = normal(rng, *y.shape)
    (dx,) = _C.avg_pool2d_node(leaves(1), shape, kernel, stride, padding, True, count_include_pad, divisor)([g])
    want = reference.avg_pool2d_backward(f64(g), shape, kernel, stride, padding, True, count_include_pad,
                                         divisor or None)
    assert_close(dx, want, reduction_tol(6), "dx")
    with pytest.raises(ValueError):
        _C.avg_pool2d_node(leaves(1), shape, (3, 3), (1, 1), (2, 2), False, True, 0)  # padding > kernel/2


@pytest.mark.parametrize("padding_idx", [-1, 2])
def test_embedding_node(padding_idx, rng):
    indices = rng.integers(0, 11, (3, 5))
    g = normal(rng, 3, 5, 4)
    (dw,) = _C.embedding_node(leaves(1), indices, 11, padding_idx)([g])
    want = reference.embedding_backward(indices, f64(g), 11, None if padding_idx < 0 else padding_idx)
    assert dw.shape == (11, 4)
    assert_close(dw, want, reduction_tol(15), "dw")
    assert _C.embedding_node(leaves(1), indices.astype(np.int32), 11, -1) is None
    with pytest.raises(ValueError):
        _C.embedding_node(leaves(1), indices, 11, 11)


def lstm_weights(rng, inputs, hidden):
    scale = 1 / np.sqrt(hidden)
    draw = lambda *shape: f32(rng.uniform(-scale, scale, shape))  # noqa: E731
    return draw(4 * hidden, inputs), draw(4 * hidden, hidden), draw(4 * hidden), draw(4 * hidden)


@pytest.mark.parametrize("initial_state", [True, False])
@pytest.mark.parametrize("absent", [None, 0, 1, 2])
def test_lstm_sequence_node(initial_state, absent, rng):
    T, B, I, H = 4, 3, 5, 6
    x = normal(rng, T, B, I)
    w_ih, w_hh, b_ih, b_hh = lstm_weights(rng, I, H)
    h0, c0 = (normal(rng, B, H), normal(rng, B, H)) if initial_state else (None, None)
    y, _, _, gates, cells = (f32(a) for a in reference.lstm_sequence(*map(f64, (x, w_ih, w_hh, b_ih, b_hh, h0, c0))))
    edges = leaves(5) + (leaves(2) if initial_state else [None, None])
    node = _C.lstm_sequence_node(edges, x, w_ih, w_hh, h0, c0, y, gates, cells)
    assert node.num_outputs == 3
    upstream = [normal(rng, T, B, H), normal(rng, B, H), normal(rng, B, H)]
    if absent is not None:
        upstream[absent] = None
    got = node(upstream)
    want = reference.lstm_sequence_backward(*map(f64, (*upstream, x, w_ih, w_hh, h0, c0, y, gates, cells)))
    dx, dh0, dc0, dw_ih, dw_hh, db = want
    tol_state, tol_weight = reduction_tol(T * 4 * H), reduction_tol(T * B)
    for name, g, w, tol in (("dx", got[0], dx, tol_state), ("dw_ih", got[1], dw_ih, tol_weight),
                            ("dw_hh", got[2], dw_hh, tol_weight), ("db_ih", got[3], db, tol_weight)):
        assert_close(g, w, tol, name)
    assert got[4] is got[3]  # one bias gradient, for both biases
    if initial_state:
        assert_close(got[5], dh0, tol_state, "dh0")
        assert_close(got[6], dc0, tol_state, "dc0")
    else:
        assert got[5] is None and got[6] is None
    skipped = _C.lstm_sequence_node([edges[0]] + [None] * 6, x, w_ih, w_hh, h0, c0, y, gates, cells)(upstream)
    assert all(g is None for g in skipped[1:])
    np.testing.assert_array_equal(skipped[0], got[0])


def test_lstm_sequence_node_in_a_walk_sums_both_bias_gradients_into_one_leaf(rng):
    T, B, I, H = 3, 2, 4, 5
    x = normal(rng, T, B, I)
    w_ih, w_hh, b_ih, b_hh = lstm_weights(rng, I, H)
    y, _, _, gates, cells = (f32(a) for a in reference.lstm_sequence(*map(f64, (x, w_ih, w_hh, b_ih, b_hh))))
    bias = Leaf()
    node = _C.lstm_sequence_node([None, None, None, bias, bias, None, None], x, w_ih, w_hh, None, None, y,
                                 gates, cells)
    grad = normal(rng, T, B, H)
    run_backward(node, grad, False)
    want = reference.lstm_sequence_backward(f64(grad), None, None, *map(f64, (x, w_ih, w_hh)), None, None,
                                            *map(f64, (y, gates, cells)))[5]
    assert_close(bias.grad, 2 * want, reduction_tol(T * B), "db")
    assert _C.lstm_sequence_node(leaves(7), f64(x), w_ih, w_hh, None, None, y, gates, cells) is None


@pytest.mark.parametrize("absent", [None, 0, 1])
def test_lstm_cell_node(absent, rng):
    B, I, H = 3, 5, 4
    x, h, c = normal(rng, B, I), normal(rng, B, H), normal(rng, B, H)
    w_ih, w_hh, b_ih, b_hh = lstm_weights(rng, I, H)
    _, c_new, gates = (f32(a) for a in reference.lstm_cell(*map(f64, (x, h, c, w_ih, w_hh, b_ih, b_hh))))
    node = _C.lstm_cell_node(leaves(7), x, h, c, w_ih, w_hh, gates, c_new)
    upstream = [normal(rng, B, H), normal(rng, B, H)]
    if absent is not None:
        upstream[absent] = None
    got = node(upstream)
    grad_h = np.zeros((B, H)) if upstream[0] is None else f64(upstream[0])
    want = reference.lstm_cell_backward(grad_h, f64(upstream[1]), *map(f64, (x, h, c, w_ih, w_hh, gates, c_new)))
    names = ("dx", "dh", "dc", "dw_ih", "dw_hh", "db")
    tols = (reduction_tol(4 * H), reduction_tol(4 * H), ELEMENTWISE_TOL, reduction_tol(B), reduction_tol(B),
            reduction_tol(B))
    for name, g, w, tol in zip(names, got[:6], want, tols):
        assert g.shape == w.shape
        assert_close(g, w, tol, name)
    assert got[6] is got[5]
    skipped = _C.lstm_cell_node([None] * 6 + [Leaf()], x, h, c, w_ih, w_hh, gates, c_new)(upstream)
    assert all(g is None for g in skipped[:5]) and skipped[6] is not None


def test_numpy_scalars_count_as_0d_arrays_and_mismatched_shapes_are_refused():
    x = Leaf()
    half = PythonNode(lambda g: (g * np.float32(0.5), g * np.float32(0.25)), [x, x])  # 0-d * scalar: scalars
    run_backward(half, np.ones((), np.float32), False)
    assert isinstance(x.grad, np.ndarray) and x.grad.shape == () and x.grad == 0.75
    with pytest.raises(ValueError, match=r"shapes \(2,\) and \(3,\)"):
        run_backward(PythonNode(lambda g: (ones(2), ones(3)), [x, x]), ones(1), False)


def test_a_kernel_error_inside_a_walk_is_a_value_error():
    w = Leaf()
    node = _C.embedding_node([w], np.array([0, 11]), 11, -1)  # 11 is out of range: the kernel says so
    with pytest.raises(ValueError, match="embedding"):
        run_backward(node, ones(2, 3), False)
    assert w.grad is None and not node.released


def test_a_native_node_refuses_a_gradient_of_the_wrong_size(rng):
    x, w = normal(rng, 5, 3), normal(rng, 4, 3)
    node = _C.linear_node(leaves(2), x, w, f32(x @ w.T), None, True, (5, 3))
    with pytest.raises(ValueError, match="LinearNode: a gradient of 3 elements"):
        node([ones(3)])
    with pytest.raises(ValueError, match="LinearNode"):
        run_backward(node, ones(3), False)
    with pytest.raises(TypeError, match="numeric array"):
        node([Toy([1.0])])
