"""Conv1d, ConvTranspose1d/2d, the 1-D and adaptive poolings (torch idiom) and Conv1D,
Conv2DTranspose, the 1-D and global poolings, UpSampling2D (Keras idiom): forward and backward
against torch (weights loaded from torch's state_dict) on "cpu" and "cuda", gradients against
finite differences in float64, Keras's output sizes and values, saving and loading, errors."""

import numpy as np
import pytest

import kiln
from kiln import keras, nn
from kiln.nn import functional as F
from torch_compare import DEVICES, check_against_torch, check_gradient, torch

TF = torch.nn.functional if torch is not None else None
TOL = dict(rtol=2e-5, atol=2e-5)


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _modules_match(kiln_module, torch_module, x, device, tol=TOL):
    """Forward and the gradients of x and every parameter, with torch's weights loaded into kiln's."""
    state = {k: v.detach().numpy() for k, v in torch_module.state_dict().items()}
    kiln_module.load_state_dict(state)
    kiln_module.to(device)
    xt = kiln.tensor(x, device=device, requires_grad=True)
    y = kiln_module(xt)
    w = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    (y * kiln.tensor(w, device=device)).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    ty = torch_module(tx)
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(y.numpy(force=True), ty.detach().numpy(), **tol)
    np.testing.assert_allclose(xt.grad.numpy(force=True), tx.grad.numpy(), **tol)
    grads = dict(torch_module.named_parameters())
    for name, p in kiln_module.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(force=True), grads[name].grad.numpy(), err_msg=name, **tol)


needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


@pytest.fixture
def on_device(device):
    """Keras weights and inputs on ``device`` for the test (kiln's default device), cpu after."""
    kiln.set_default_device(device)
    yield device
    kiln.set_default_device("cpu")


# ---- torch idiom -------------------------------------------------------------------------------


@needs_torch
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's own note on its copy
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(padding="same", dilation=2),
                                dict(padding="same", groups=2, bias=False), dict(kernel_size=4, padding="same"),
                                dict(padding="valid", stride=3)], ids=str)
def test_conv1d_matches_torch(device, kw, rng):
    kw = {"kernel_size": 3, **kw}
    torch.manual_seed(0)
    _modules_match(nn.Conv1d(4, 6, **kw), torch.nn.Conv1d(4, 6, **kw), f32(rng, 2, 4, 11), device)


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kw", [dict(kernel_size=3), dict(kernel_size=(3, 2), stride=2, padding=1, output_padding=1),
                                dict(kernel_size=3, stride=(2, 3), output_padding=(1, 2), dilation=(1, 2), groups=2),
                                dict(kernel_size=2, stride=2, bias=False)], ids=str)
def test_conv_transpose2d_matches_torch(device, kw, rng):
    torch.manual_seed(0)
    _modules_match(nn.ConvTranspose2d(4, 6, **kw), torch.nn.ConvTranspose2d(4, 6, **kw), f32(rng, 2, 4, 5, 4), device)


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
def test_conv_transpose1d_matches_torch(device, rng):
    torch.manual_seed(0)
    kw = dict(kernel_size=3, stride=2, padding=1, output_padding=1, groups=2)
    _modules_match(nn.ConvTranspose1d(4, 6, **kw), torch.nn.ConvTranspose1d(4, 6, **kw), f32(rng, 2, 4, 7), device)


@needs_torch
def test_init_and_output_size_follow_torch():
    for module, shape in ((nn.Conv1d(4, 6, 3, groups=2), (6, 2, 3)), (nn.ConvTranspose2d(4, 6, (3, 2), groups=2),
                                                                       (4, 3, 3, 2)),
                          (nn.ConvTranspose1d(4, 6, 5), (4, 6, 5))):
        assert module.weight.shape == shape
        fan_in = shape[1] * int(np.prod(shape[2:]))
        bound = 1 / np.sqrt(fan_in)
        assert np.abs(module.weight.numpy()).max() <= bound + 1e-7  # kaiming_uniform(a=sqrt(5)): 1/sqrt(fan_in)
        assert np.abs(module.bias.numpy()).max() <= bound + 1e-7
    m = nn.ConvTranspose2d(2, 3, 3, stride=2)
    x = kiln.ones(1, 2, 4, 4)
    assert m(x).shape == (1, 3, 9, 9) and m(x, output_size=(10, 10)).shape == (1, 3, 10, 10)
    with pytest.raises(ValueError, match="not reachable"):
        m(x, output_size=(12, 12))


@pytest.mark.parametrize("device", DEVICES)
def test_pool1d_and_adaptive_pools_match_torch(device, rng):
    seq, img = f32(rng, 2, 3, 13), f32(rng, 2, 3, 7, 5)
    cases = [
        (lambda t: nn.MaxPool1d(3, 2, 1)(t), lambda t: torch.nn.MaxPool1d(3, 2, 1)(t), seq),
        (lambda t: nn.AvgPool1d(4, 3, 2, ceil_mode=True)(t), lambda t: torch.nn.AvgPool1d(4, 3, 2, ceil_mode=True)(t),
         seq),
        (lambda t: nn.AdaptiveAvgPool1d(4)(t), lambda t: torch.nn.AdaptiveAvgPool1d(4)(t), seq),
        (lambda t: nn.AdaptiveMaxPool1d(5)(t), lambda t: torch.nn.AdaptiveMaxPool1d(5)(t), seq),
        (lambda t: nn.AdaptiveMaxPool2d((3, 2))(t), lambda t: torch.nn.AdaptiveMaxPool2d((3, 2))(t), img),
        (lambda t: nn.AdaptiveMaxPool2d(1)(t), lambda t: torch.nn.AdaptiveMaxPool2d(1)(t), img),
        (lambda t: nn.AdaptiveMaxPool2d((None, 9))(t), lambda t: torch.nn.AdaptiveMaxPool2d((None, 9))(t), img),
        (lambda t: nn.AdaptiveAvgPool2d((4, 3))(t), lambda t: torch.nn.AdaptiveAvgPool2d((4, 3))(t), img),
        (lambda t: F.adaptive_avg_pool2d(t, 1), lambda t: TF.adaptive_avg_pool2d(t, 1), img),
        (lambda t: F.adaptive_max_pool2d(t, (2, 2)), lambda t: TF.adaptive_max_pool2d(t, (2, 2)), img[0]),
    ]
    for kiln_fn, torch_fn, x in cases:
        check_against_torch(kiln_fn, torch_fn if torch else None, [x], device, **TOL)
    y, indices = F.adaptive_max_pool2d(kiln.tensor(img, device=device), (3, 2), return_indices=True)
    if torch is not None:
        _, ti = TF.adaptive_max_pool2d(torch.tensor(img), (3, 2), return_indices=True)
        np.testing.assert_array_equal(indices.numpy(force=True), ti.numpy())
        nan = img.copy()
        nan[0, 0, 1, 1] = nan[0, 0, 2, 3] = np.nan
        got = F.adaptive_max_pool2d(kiln.tensor(nan, device=device), 2, return_indices=True)
        want = TF.adaptive_max_pool2d(torch.tensor(nan), 2, return_indices=True)
        np.testing.assert_array_equal(got[1].numpy(force=True), want[1].numpy())


def test_gradients_match_finite_differences(rng):
    x, w, b = rng.standard_normal((1, 2, 4, 3)), rng.standard_normal((2, 3, 3, 2)), rng.standard_normal(3)
    check_gradient(lambda a, c, d: F.conv_transpose2d(a, c, d, stride=2, padding=1, output_padding=1), [x, w, b])
    s, k = rng.standard_normal((1, 2, 7)), rng.standard_normal((3, 2, 3))
    check_gradient(lambda a, c: F.conv1d(a, c, padding="same", dilation=2), [s, k])
    check_gradient(lambda a: F.adaptive_avg_pool2d(a, (3, 2)), [rng.standard_normal((1, 2, 5, 4))])
    check_gradient(lambda a: F.adaptive_max_pool2d(a, (2, 3)), [rng.standard_normal((1, 2, 5, 4))])
    check_gradient(lambda a: F.interpolate(a, size=(5, 7), mode="bilinear"), [rng.standard_normal((1, 1, 3, 4))])


def test_errors_name_the_argument():
    x = kiln.ones(1, 4, 5, 5)
    with pytest.raises(ValueError, match="output_padding .* must be smaller than stride"):
        F.conv_transpose2d(x, kiln.ones(4, 2, 3, 3), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="weight .* has 3 input channels, x .* has 4"):
        F.conv_transpose2d(x, kiln.ones(3, 2, 3, 3))
    with pytest.raises(ValueError, match="output size .* must be positive"):
        F.conv_transpose2d(kiln.ones(1, 4, 1, 1), kiln.ones(4, 2, 1, 1), padding=1)
    with pytest.raises(ValueError, match=r"conv1d: expected a 3-D input \(N, C, L\)"):
        F.conv1d(x, kiln.ones(2, 4, 3))
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        F.conv1d(kiln.ones(1, 4, 9), kiln.ones(2, 4, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match="output_size must be positive"):
        F.adaptive_max_pool2d(x, (0, 2))
    with pytest.raises(ValueError, match="groups=3 must divide"):
        nn.ConvTranspose2d(4, 6, 3, groups=3)
    with pytest.raises(ValueError, match="indices must lie in"):
        kiln.ops.adaptive_max_pool2d_backward(np.ones((1, 1, 2, 2), np.float32), np.full((1, 1, 2, 2), 99),
                                              (1, 1, 3, 3))


# ---- Keras idiom ---------------------------------------------------------------------------------


def _keras_conv_transpose_reference(x, kernel, bias, strides, padding, output_padding, dilation):
    """Keras's (TensorFlow's and JAX's) conv_transpose by its definition: the input dilated by the
    stride, padded (left_pad, right_pad) as keras/src/backend/common/backend_utils.py says, then
    correlated with the spatially flipped kernel. x (N, H, W, C), kernel (kh, kw, K, C)."""
    n, h, w, c = x.shape
    kh, kw, k, _ = kernel.shape
    pads = []
    for size, kernel_size, s, d, op in zip((h, w), (kh, kw), strides, dilation, output_padding):
        k_eff = (kernel_size - 1) * d + 1
        if padding == "valid":
            op = max(k_eff, s) - k_eff if op is None else op
            pads.append((k_eff - 1, k_eff - 1 + op))
        else:
            pad_len = s + k_eff - 2 if op is None else k_eff + k_eff % 2 - 2 + op
            left = min(pad_len // 2 + pad_len % 2, k_eff - 1)
            pads.append((left, pad_len - left))
    dilated = np.zeros((n, c, (h - 1) * strides[0] + 1, (w - 1) * strides[1] + 1))
    dilated[:, :, ::strides[0], ::strides[1]] = x.transpose(0, 3, 1, 2)
    padded = torch.nn.functional.pad(torch.tensor(dilated), (pads[1][0], pads[1][1], pads[0][0], pads[0][1]))
    flipped = torch.tensor(np.ascontiguousarray(kernel[::-1, ::-1].transpose(2, 3, 0, 1), dtype=np.float64))
    y = torch.nn.functional.conv2d(padded, flipped, torch.tensor(bias, dtype=torch.float64), dilation=dilation)
    return y.numpy().transpose(0, 2, 3, 1)


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kw", [dict(kernel_size=3, strides=2, padding="same"), dict(kernel_size=4, strides=2,
                                                                                    padding="same"),
                                dict(kernel_size=3, strides=1, padding="valid"), dict(kernel_size=2, strides=3),
                                dict(kernel_size=(3, 2), strides=(2, 3), padding="same", output_padding=(1, 0)),
                                dict(kernel_size=3, strides=2, padding="valid", output_padding=1),
                                dict(kernel_size=2, strides=1, padding="same", dilation_rate=2)], ids=str)
def test_conv2d_transpose_follows_keras(on_device, kw, rng):
    device = on_device
    layer = keras.layers.Conv2DTranspose(5, **kw)
    x = f32(rng, 2, 4, 5, 3)
    layer(kiln.tensor(x, device=device))  # builds
    kernel, _ = layer.get_weights()
    assert kernel.shape == layer.kernel_size + (5, 3)
    bias = rng.standard_normal(5).astype(np.float32)
    layer.set_weights([kernel, bias])
    y = layer(kiln.tensor(x, device=device)).numpy(force=True)
    want = _keras_conv_transpose_reference(x, kernel, bias, layer.strides, layer.padding,
                                           layer.output_padding or (None, None), layer.dilation_rate)
    assert y.shape == want.shape and layer.compute_output_shape((None, 4, 5, 3))[1:] == want.shape[1:]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
def test_conv1d_layer_follows_keras(on_device, padding, rng):
    device = on_device
    layer = keras.layers.Conv1D(4, 3, padding=padding, dilation_rate=2, activation="relu")
    x = f32(rng, 2, 9, 3)
    y = layer(kiln.tensor(x, device=device)).numpy(force=True)
    kernel, bias = layer.get_weights()
    assert kernel.shape == (3, 3, 4)
    left = {"valid": 0, "same": 2, "causal": 4}[padding]
    right = {"valid": 0, "same": 2, "causal": 0}[padding]
    xt = TF.pad(torch.tensor(x.transpose(0, 2, 1)), (left, right))
    want = TF.relu(TF.conv1d(xt, torch.tensor(kernel.transpose(2, 1, 0)), torch.tensor(bias), dilation=2))
    want = want.numpy().transpose(0, 2, 1)
    assert y.shape == want.shape == (2,) + layer.compute_output_shape((None, 9, 3))[1:]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    if padding == "causal":  # output t sees inputs up to t only
        changed = x.copy()
        changed[:, 6:] += 1.0
        y2 = layer(kiln.tensor(changed, device=device)).numpy(force=True)
        np.testing.assert_array_equal(y2[:, :6], y[:, :6])


@pytest.mark.parametrize("device", DEVICES)
def test_keras_poolings_and_upsampling(on_device, rng):
    device = on_device
    seq, img = f32(rng, 2, 7, 3), f32(rng, 2, 5, 4, 3)
    t_seq, t_img = kiln.tensor(seq, device=device), kiln.tensor(img, device=device)
    L = keras.layers
    out = lambda layer, t: layer(t).numpy(force=True)  # noqa: E731
    np.testing.assert_allclose(out(L.GlobalAveragePooling1D(), t_seq), seq.mean(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out(L.GlobalMaxPooling1D(keepdims=True), t_seq), seq.max(1, keepdims=True))
    np.testing.assert_allclose(out(L.GlobalAveragePooling2D(), t_img), img.mean((1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out(L.GlobalMaxPooling2D(), t_img), img.max((1, 2)))
    first = img.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out(L.GlobalMaxPooling2D("channels_first", keepdims=True),
                                   kiln.tensor(first, device=device)), first.max((2, 3), keepdims=True))
    np.testing.assert_allclose(out(L.MaxPooling1D(2), t_seq), seq[:, :6].reshape(2, 3, 2, 3).max(2))
    np.testing.assert_allclose(out(L.AveragePooling1D(3, 2), t_seq),
                               np.stack([seq[:, i:i + 3].mean(1) for i in (0, 2, 4)], 1), rtol=1e-5, atol=1e-6)
    same = out(L.AveragePooling1D(2, padding="same"), t_seq)  # the last window holds one real step
    assert same.shape == (2, 4, 3)
    np.testing.assert_allclose(same[:, 3], seq[:, 6], rtol=1e-6)
    up = out(L.UpSampling2D((2, 3)), t_img)
    np.testing.assert_array_equal(up, img.repeat(2, 1).repeat(3, 2))
    bilinear = out(L.UpSampling2D(2, interpolation="bilinear"), t_img)
    assert bilinear.shape == (2, 10, 8, 3)
    if torch is not None:
        want = TF.interpolate(torch.tensor(first), scale_factor=2, mode="bilinear", align_corners=False)
        np.testing.assert_allclose(bilinear, want.numpy().transpose(0, 2, 3, 1), rtol=1e-5, atol=1e-6)
    for layer, shape in ((L.GlobalAveragePooling1D(), (None, 3)), (L.GlobalMaxPooling2D(keepdims=True),
                                                                    (None, 1, 1, 3)),
                         (L.UpSampling2D(), (None, 10, 8, 3))):
        assert tuple(layer.compute_output_shape((None, 5, 4, 3) if "2D" in type(layer).__name__
                                                else (None, 7, 3))) == shape
    with pytest.raises(ValueError, match="interpolation must be"):
        L.UpSampling2D(interpolation="bicubic")
    with pytest.raises(ValueError, match="padding must be one of"):
        L.Conv1D(2, 3, padding="full")
    with pytest.raises(ValueError, match="greater than output_padding"):
        L.Conv2DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="expected a 3-D input"):
        L.GlobalAveragePooling1D()(t_img)


def test_keras_model_with_the_new_layers_trains_saves_and_loads(tmp_path, rng):
    L = keras.layers
    model = keras.Sequential([
        L.Input((12, 3)), L.Conv1D(8, 3, padding="causal", activation="relu"), L.MaxPooling1D(2),
        L.Conv1D(8, 3, padding="same"), L.GlobalAveragePooling1D(), L.Dense(2)])
    x, y = f32(rng, 16, 12, 3), rng.integers(0, 2, 16)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    path = tmp_path / "seq.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)

    image = keras.Sequential([
        L.Input((4, 4, 2)), L.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu"),
        L.UpSampling2D(2, interpolation="bilinear"), L.GlobalMaxPooling2D(keepdims=True)])
    images = f32(rng, 3, 4, 4, 2)
    assert image.predict(images, verbose=0).shape == (3, 1, 1, 3)
    image.save(tmp_path / "img.keras")
    back = keras.models.load_model(tmp_path / "img.keras")
    np.testing.assert_allclose(back.predict(images, verbose=0), image.predict(images, verbose=0), rtol=1e-6)
    assert back.layers[0].get_config()["padding"] == "same"
