"""Scaled-dot-product attention: F.scaled_dot_product_attention and nn.MultiheadAttention against
torch (forward and backward, masks, batch_first) and finite differences, Keras MultiHeadAttention
(shapes, causal mask, functional models, saving), the CPU kernel's memory, errors."""

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import kiln
from kiln import keras, nn, ops
from kiln.keras import layers
from kiln.nn import functional as F
from torch_compare import DEVICES, check_against_torch, check_gradient, torch

TOL = {"rtol": 2e-5, "atol": 2e-5}


def _qkv(rng, lead_q, lead_k, tq, tk, d, dv):
    return (rng.standard_normal((*lead_q, tq, d)).astype(np.float32),
            rng.standard_normal((*lead_k, tk, d)).astype(np.float32),
            rng.standard_normal((*lead_k, tk, dv)).astype(np.float32))


# ---- F.scaled_dot_product_attention ------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("sizes", [((2, 3), (2, 3), 7, 7, 8, 8), ((1, 2), (1, 2), 9, 13, 5, 3),
                                   ((3,), (3,), 11, 6, 4, 6), ((2, 1, 2), (1, 3, 2), 5, 5, 4, 4)],
                         ids=["4d", "Tq<Tk", "3d Tq>Tk", "broadcast"])
def test_fused_sdpa_matches_torch(device, causal, sizes, rng):
    lead_q, lead_k, tq, tk, d, dv = sizes
    arrays = _qkv(rng, lead_q, lead_k, tq, tk, d, dv)
    check_against_torch(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                        lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal),
                        arrays, device, **TOL)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mask_kind", ["bool", "float", "bool broadcast"])
def test_masked_sdpa_matches_torch(device, mask_kind, rng):
    q, k, v = _qkv(rng, (2, 2), (2, 2), 6, 9, 4, 5)
    if mask_kind == "float":
        mask = rng.standard_normal((2, 2, 6, 9)).astype(np.float32)
    else:
        mask = rng.random((6, 9) if mask_kind == "bool broadcast" else (2, 1, 6, 9)) < 0.7
        mask[..., 0] = True  # no query sees nothing (torch's math path would give NaN there)
    tmask = torch.tensor(mask) if torch is not None else None
    check_against_torch(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=kiln.tensor(mask, device=device),
                                                       scale=0.3),
        lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=tmask, scale=0.3),
        [q, k, v], device, **TOL)


@pytest.mark.parametrize("device", DEVICES)
def test_gqa_matches_torch(device, rng):
    q = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    k, v = rng.standard_normal((2, 2, 7, 3)).astype(np.float32), rng.standard_normal((2, 2, 7, 3)).astype(np.float32)
    check_against_torch(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True),
        lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True),
        [q, k, v], device, **TOL)


@pytest.mark.parametrize("device", DEVICES)
def test_fused_causal_equals_the_composed_mask(device, rng):
    arrays = [kiln.tensor(a, device=device) for a in _qkv(rng, (1, 2), (1, 2), 9, 12, 4, 3)]
    fused = F.scaled_dot_product_attention(*arrays, is_causal=True).numpy(force=True)
    mask = kiln.tensor(np.tril(np.ones((9, 12), bool)), device=device)
    composed = F.scaled_dot_product_attention(*arrays, attn_mask=mask).numpy(force=True)
    np.testing.assert_allclose(fused, composed, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_gradients_match_finite_differences(causal, rng):
    arrays = _qkv(rng, (1, 2), (1, 2), 4, 5, 3, 2)
    check_gradient(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=0.8), arrays)
    mask = rng.standard_normal((4, 5))
    check_gradient(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=kiln.from_numpy(mask)), arrays)


def test_sdpa_dropout_drops_weights_and_stays_differentiable(rng):
    q, k, v = (kiln.tensor(a, requires_grad=True) for a in _qkv(rng, (1, 1), (1, 1), 5, 6, 3, 4))
    kiln.manual_seed(0)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    out.sum().backward()
    assert out.shape == (1, 1, 5, 4) and q.grad is not None and np.isfinite(v.grad.numpy()).all()
    everything = F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy()
    np.testing.assert_array_equal(everything, 0.0)


def test_sdpa_errors(rng):
    q, k, v = (kiln.tensor(a) for a in _qkv(rng, (1, 1), (1, 1), 4, 5, 3, 2))
    with pytest.raises(ValueError, match="embedding size"):
        F.scaled_dot_product_attention(q, kiln.tensor(np.zeros((1, 1, 5, 4), np.float32)), v)
    with pytest.raises(ValueError, match="sequence length"):
        F.scaled_dot_product_attention(q, k, kiln.tensor(np.zeros((1, 1, 4, 2), np.float32)))
    with pytest.raises(ValueError, match="cannot both"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=kiln.tensor(np.ones((4, 5), bool)), is_causal=True)
    with pytest.raises(ValueError, match="k must be"):
        ops.scaled_dot_product_attention(np.zeros((1, 2, 4, 3)), np.zeros((1, 1, 5, 3)), np.zeros((1, 1, 5, 2)))
    with pytest.raises(ValueError, match="4-D"):
        ops.scaled_dot_product_attention(np.zeros((2, 4, 3)), np.zeros((2, 5, 3)), np.zeros((2, 5, 2)))
    with pytest.raises(TypeError, match="causal"):
        ops.scaled_dot_product_attention(np.zeros((1, 1, 4, 3)), np.zeros((1, 1, 5, 3)), np.zeros((1, 1, 5, 2)),
                                         causal=1)
    with pytest.raises(ValueError, match="logsumexp"):
        ops.scaled_dot_product_attention_backward(np.zeros((1, 1, 4, 2)), np.zeros((1, 1, 4, 3)),
                                                  np.zeros((1, 1, 5, 3)), np.zeros((1, 1, 5, 2)),
                                                  np.zeros((1, 1, 4, 2)), np.zeros((1, 1, 5)))


def test_cpu_kernel_is_deterministic_across_thread_counts(rng):
    q, k, v = (a.astype(np.float32) for a in _qkv(rng, (2, 2), (2, 2), 150, 130, 16, 8))
    dout = rng.standard_normal((2, 2, 150, 8)).astype(np.float32)
    results = []
    before = kiln.get_num_threads()
    try:
        for n in (1, 2):
            kiln.set_num_threads(n)
            out, lse = ops.scaled_dot_product_attention(q, k, v, True, 0.25, backend="cpu")
            results.append((out, lse, *ops.scaled_dot_product_attention_backward(dout, q, k, v, out, lse, True, 0.25,
                                                                                 backend="cpu")))
    finally:
        kiln.set_num_threads(before)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_cpu_kernel_memory_does_not_grow_with_t_squared():
    """T = 4096, D = 16: a T x T float32 matrix is 64 MiB; forward and backward must stay far below."""
    from kiln import _C
    floats = _C.attention_workspace_floats(1, 4096, 4096, 16, 16, True)
    assert floats == _C.attention_workspace_floats(1, 64, 64, 16, 16, True) and floats < 4096 * 16
    script = textwrap.dedent("""
        import resource, numpy as np, kiln
        from kiln import ops
        rng = np.random.default_rng(0)
        q, k, v, dout = (rng.standard_normal((1, 1, 4096, 16)).astype(np.float32) for _ in range(4))
        ops.scaled_dot_product_attention(q[:, :, :64], k[:, :, :64], v[:, :, :64], True, 0.25, backend="cpu")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out, lse = ops.scaled_dot_product_attention(q, k, v, True, 0.25, backend="cpu")
        ops.scaled_dot_product_attention_backward(dout, q, k, v, out, lse, True, 0.25, backend="cpu")
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
    """)
    grown_kib = int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                                   timeout=300).stdout.split()[-1])
    assert grown_kib < 16 * 1024, f"peak RSS grew by {grown_kib} KiB (T^2 floats would be 65536 KiB)"


# ---- nn.MultiheadAttention ---------------------------------------------------------------------

def _torch_mha(mha, **kwargs):
    t = torch.nn.MultiheadAttention(mha.embed_dim, mha.num_heads, bias=mha.in_proj_bias is not None,
                                    batch_first=mha.batch_first, **kwargs)
    t.load_state_dict({name: torch.tensor(p.numpy(force=True)) for name, p in mha.state_dict().items()})
    return t


MHA_CASES = {
    "weights": {},
    "batch_first": {"batch_first": True},
    "no weights": {"call": {"need_weights": False}},
    "per head": {"call": {"average_attn_weights": False}},
    "key padding": {"padding": True},
    "bool mask": {"bool_mask": True},
    "causal fused": {"causal": True, "call": {"need_weights": False}},
    "causal weights": {"causal": True},
    "kdim vdim": {"kdim": 5, "vdim": 3},
    "no bias": {"bias": False},
}


@pytest.mark.skipif(torch is None, reason="torch is not installed")
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", list(MHA_CASES))
def test_multihead_attention_matches_torch(device, case, rng):
    spec = MHA_CASES[case]
    E, H, L, S, N = 8, 2, 5, 7, 3
    kdim, vdim = spec.get("kdim", E), spec.get("vdim", E)
    extra = {} if kdim == E and vdim == E else {"kdim": kdim, "vdim": vdim}
    kiln.manual_seed(1)
    mha = nn.MultiheadAttention(E, H, bias=spec.get("bias", True), batch_first=spec.get("batch_first", False),
                                **extra)
    ref = _torch_mha(mha, **extra)
    mha.to(device)
    bf = mha.batch_first
    shape = lambda t, d: (N, t, d) if bf else (t, N, d)  # noqa: E731
    arrays = [rng.standard_normal(shape(L, E)).astype(np.float32), rng.standard_normal(shape(S, kdim)).astype(np.float32),
              rng.standard_normal(shape(S, vdim)).astype(np.float32)]
    call = dict(spec.get("call", {}))
    masks, tmasks = {}, {}
    if spec.get("padding"):
        pad = np.zeros((N, S), bool)
        pad[0, -2:] = pad[2, 0] = True
        masks["key_padding_mask"], tmasks["key_padding_mask"] = pad, pad
    if spec.get("bool_mask"):
        m = rng.random((L, S)) < 0.3
        m[:, 0] = False
        masks["attn_mask"], tmasks["attn_mask"] = m, m
    if spec.get("causal"):
        S = L
        arrays[1], arrays[2] = arrays[1][:L] if not bf else arrays[1][:, :L], arrays[2][:L] if not bf else arrays[2][:, :L]
        m = np.triu(np.ones((L, L), bool), 1)  # torch's MHA: True is masked out
        masks["attn_mask"], tmasks["attn_mask"] = m, m
        call["is_causal"] = True
    w = rng.standard_normal(shape(L, E)).astype(np.float32)

    ts = [kiln.tensor(a, device=device, requires_grad=True) for a in arrays]
    out, weights = mha(*ts, **{k: kiln.tensor(v, device=device) for k, v in masks.items()}, **call)
    (out * kiln.tensor(w, device=device)).sum().backward()
    tts = [torch.tensor(a, requires_grad=True) for a in arrays]
    tout, tweights = ref(*tts, **{k: torch.tensor(v) for k, v in tmasks.items()}, **call)
    (tout * torch.tensor(w)).sum().backward()

    np.testing.assert_allclose(out.numpy(force=True), tout.detach().numpy(), **TOL)
    if tweights is None:
        assert weights is None
    else:
        np.testing.assert_allclose(weights.numpy(force=True), tweights.detach().numpy(), **TOL)
    for t, tt in zip(ts, tts):
        np.testing.assert_allclose(t.grad.numpy(force=True), tt.grad.numpy(), **TOL)
    tparams = dict(ref.named_parameters())
    for name, p in mha.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(force=True), tparams[name].grad.numpy(), err_msg=name, **TOL)


def test_multihead_attention_parameters_and_init():
    kiln.manual_seed(0)
    mha = nn.MultiheadAttention(12, 3)
    names = dict(mha.named_parameters())
    assert set(names) == {"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}
    assert names["in_proj_weight"].shape == (36, 12)
    bound = math.sqrt(6 / (36 + 12))  # xavier_uniform_ on (3E, E)
    assert np.abs(names["in_proj_weight"].numpy()).max() <= bound
    np.testing.assert_array_equal(names["in_proj_bias"].numpy(), 0)
    np.testing.assert_array_equal(names["out_proj.bias"].numpy(), 0)
    split = nn.MultiheadAttention(12, 3, kdim=4, vdim=5)
    assert {n: tuple(p.shape) for n, p in split.named_parameters() if "proj_weight" in n} == {
        "q_proj_weight": (12, 12), "k_proj_weight": (12, 4), "v_proj_weight": (12, 5)}


def test_multihead_attention_unbatched_and_errors(rng):
    mha = nn.MultiheadAttention(4, 2)
    x = kiln.tensor(rng.standard_normal((5, 4)).astype(np.float32))
    out, weights = mha(x, x, x)
    assert out.shape == (5, 4) and weights.shape == (5, 5)
    batched, _ = mha(x.reshape(5, 1, 4), x.reshape(5, 1, 4), x.reshape(5, 1, 4))
    np.testing.assert_allclose(out.numpy(), batched.numpy()[:, 0], rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(5, 2)
    with pytest.raises(NotImplementedError, match="add_bias_kv"):
        nn.MultiheadAttention(4, 2, add_bias_kv=True)
    with pytest.raises(RuntimeError, match="is_causal"):
        mha(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match="embed_dim"):
        mha(kiln.zeros(5, 3), x, x)


# ---- keras.layers.MultiHeadAttention ---------------------------------------------------------

def _keras_reference(layer, query, value, causal=False):
    """Keras 3's computation from the layer's weights, in NumPy float64."""
    wq, bq, wk, bk, wv, bv, wo, bo = (np.asarray(w, np.float64) for w in layer.get_weights())
    q = np.einsum("abc,cde->abde", query, wq) + bq
    k = np.einsum("abc,cde->abde", value, wk) + bk
    v = np.einsum("abc,cde->abde", value, wv) + bv
    scores = np.einsum("aecd,abcd->acbe", k, q / math.sqrt(layer.key_dim))
    if causal:
        scores = scores + (1 - np.tril(np.ones(scores.shape[-2:]))) * -1e9
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    scores /= scores.sum(-1, keepdims=True)
    out = np.einsum("acbe,aecd->abcd", scores, v)
    return np.einsum("abcd,cde->abe", out, wo) + bo, scores


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("causal", [False, True])
def test_keras_mha_matches_keras_semantics(device, causal, rng):
    query = rng.standard_normal((2, 6, 7)).astype(np.float32)
    value = rng.standard_normal((2, 8 if not causal else 6, 9)).astype(np.float32)
    before = kiln.get_default_device()
    kiln.set_default_device(device)  # the weights are made there, and the inputs go there
    try:
        layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4, output_shape=5)
        out, scores = layer(query, value, return_attention_scores=True, use_causal_mask=causal)
        fused = layer(query, value, use_causal_mask=causal)  # no scores asked for: the fused kernel
    finally:
        kiln.set_default_device(before)
    assert [w.shape for w in layer.get_weights()] == [(7, 2, 3), (2, 3), (9, 2, 3), (2, 3), (9, 2, 4), (2, 4),
                                                     (2, 4, 5), (5,)]
    assert [n for n, _ in layer._named_weights()][::2] == [f"{layer.name}/{w}/kernel" for w in
                                                          ("query", "key", "value", "attention_output")]
    want_out, want_scores = _keras_reference(layer, query, value, causal)
    np.testing.assert_allclose(out.numpy(force=True), want_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scores.numpy(force=True), want_scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fused.numpy(force=True), want_out, rtol=1e-5, atol=1e-5)


def test_keras_mha_masks(rng):
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=4)
    query, value = rng.standard_normal((2, 5, 6)).astype(np.float32), rng.standard_normal((2, 7, 6)).astype(np.float32)
    value_mask = np.ones((2, 7), bool)
    value_mask[0, 4:] = False
    _, scores = layer(query, value, value_mask=value_mask, return_attention_scores=True)
    s = scores.numpy()
    assert np.abs(s[0, :, :, 4:]).max() < 1e-6 and np.allclose(s.sum(-1), 1, atol=1e-5)
    attention_mask = np.broadcast_to(value_mask[:, None, :], (2, 5, 7))
    _, again = layer(query, value, attention_mask=attention_mask, return_attention_scores=True)
    np.testing.assert_allclose(again.numpy(), s, rtol=1e-6, atol=1e-7)


def test_keras_mha_in_a_functional_model_trains_and_saves(tmp_path, rng):
    q_in, v_in = keras.Input(shape=(6, 8)), keras.Input(shape=(5, 8))
    attended = layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(q_in, v_in, use_causal_mask=True)
    out = layers.Dense(1)(layers.Flatten()(attended))
    model = keras.Model([q_in, v_in], out)
    assert attended.shape == (None, 6, 8)
    x = [rng.standard_normal((16, 6, 8)).astype(np.float32), rng.standard_normal((16, 5, 8)).astype(np.float32)]
    y = rng.standard_normal((16, 1)).astype(np.float32)
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = tmp_path / "mha.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    assert restored.get_config()["layers"][2]["call_kwargs"] == {"use_causal_mask": True}
    config = next(layer for layer in model.layers if layer.name == "mha").get_config()
    assert config["num_heads"] == 2 and config["key_dim"] == 4 and config["value_dim"] == 4
    clone = layers.MultiHeadAttention.from_config(config)
    assert clone.num_heads == 2 and clone.key_dim == 4


def test_keras_mha_self_attention_in_sequential_style_call(rng):
    x = rng.standard_normal((3, 4, 6)).astype(np.float32)
    layer = layers.MultiHeadAttention(num_heads=3, key_dim=2)
    out = layer(x, x, use_causal_mask=True)
    assert out.shape == (3, 4, 6)
    first = layer(x[:, :1], x[:, :1]).numpy()
    np.testing.assert_allclose(out.numpy()[:, :1], first, rtol=1e-5, atol=1e-6)  # causal: row 0 sees key 0 only
    with pytest.raises(ValueError, match="query, value"):
        layer(x)
    q_in = keras.Input(shape=(4, 6))
    with pytest.raises(NotImplementedError, match="attention_mask"):
        layer(q_in, q_in, attention_mask=keras.Input(shape=(4, 4)))
