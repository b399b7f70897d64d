"""Parity of probe's convolutions, unfold/fold and pooling with PyTorch: forward values, dtypes,
shapes, grad_fn names, input/weight/bias gradients (float32 and float64), second-order
gradients, and layers with weights copied across."""

from __future__ import annotations

import numpy as np
import pytest

import probe
from probe.nn.functional_parts import conv as PC
from probe.nn.functional_parts import pooling as PP
from probe.nn.modules import conv as conv_layers
from probe.nn.modules import pooling as pool_layers

torch = pytest.importorskip("torch")

from harness import compare  # noqa: E402

TF = torch.nn.functional

PROBE_F = {name: getattr(PC, name) for name in PC.__all__} | {
    name: getattr(PP, name) for name in PP.__all__}


def _tol(dtype_name):
    return (2e-4, 2e-4) if dtype_name == "float32" else (1e-10, 1e-10)


def _compare(fn, arrays, dtype_name):
    rtol, atol = _tol(dtype_name)
    compare(fn, arrays, dtype_name, rtol=rtol, atol=atol)


def _functional(lib, name):
    return PROBE_F[name] if lib is probe else getattr(TF, name)


def _arrays(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


DTYPES = ["float32", "float64"]

# --------------------------------------------------------------------------------------------
# Convolutions
# --------------------------------------------------------------------------------------------

CONV2D = [
    ((2, 3, 8, 8), (4, 3, 3, 3), True, dict()),
    ((2, 3, 8, 8), (4, 3, 3, 3), False, dict(stride=2, padding=1)),
    ((3, 4, 9, 7), (6, 2, 3, 2), True, dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1),
                                             groups=2)),
    ((2, 4, 7, 7), (4, 1, 3, 3), True, dict(padding="same", groups=4)),
    ((2, 3, 9, 6), (5, 3, 4, 4), True, dict(padding="same", dilation=(1, 2))),
    ((2, 3, 9, 6), (5, 3, 2, 3), False, dict(padding="valid")),
    ((1, 2, 5, 5), (3, 2, 5, 5), True, dict()),
    ((16, 6, 12, 12), (16, 6, 5, 5), True, dict()),
    ((10, 1, 28, 28), (6, 1, 5, 5), True, dict()),
    ((9, 4, 6, 6), (8, 4, 1, 1), True, dict()),
    ((3, 2, 11, 10), (4, 2, 3, 3), True, dict(stride=3, padding=2, dilation=2)),
    ((3, 6, 8, 8), (6, 2, 3, 3), True, dict(groups=3, stride=2)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ws, bias, kw", CONV2D, ids=str)
def test_conv2d(xs, ws, bias, kw, dtype):
    shapes = [xs, ws] + ([(ws[0],)] if bias else [])

    def fn(lib, x, w, b=None):
        return _functional(lib, "conv2d")(x, w, b, **kw)

    _compare(fn, _arrays(*shapes), dtype)


def test_conv2d_unbatched():
    def fn(lib, x, w, b):
        return _functional(lib, "conv2d")(x, w, b, padding=1)

    _compare(fn, _arrays((3, 6, 5), (4, 3, 3, 3), (4,)), "float64")


CONV1D = [
    ((2, 3, 9), (6, 3, 3), dict()),
    ((3, 4, 10), (6, 2, 3), dict(stride=2, padding=1, dilation=2, groups=2)),
    ((2, 3, 9), (4, 3, 4), dict(padding="same")),
    ((2, 3, 9), (4, 3, 4), dict(stride=3)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ws, kw", CONV1D, ids=str)
def test_conv1d(xs, ws, kw, dtype):
    def fn(lib, x, w, b):
        return _functional(lib, "conv1d")(x, w, b, **kw)

    _compare(fn, _arrays(xs, ws, (ws[0],)), dtype)


CONV_T2D = [
    ((2, 4, 5, 5), (4, 3, 3, 3), 1, dict(stride=2, padding=1, output_padding=1)),
    ((2, 4, 5, 5), (4, 3, 3, 2), 2, dict(stride=(2, 3), padding=(1, 0), output_padding=(0, 1),
                                         dilation=(1, 2))),
    ((1, 3, 4, 4), (3, 2, 4, 4), 1, dict(stride=2, padding=1)),
    ((2, 2, 3, 3), (2, 3, 3, 3), 1, dict(dilation=2, output_padding=1)),
    ((2, 4, 3, 3), (4, 1, 2, 2), 4, dict(stride=2)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs, ws, groups, kw", CONV_T2D, ids=str)
def test_conv_transpose2d(xs, ws, groups, kw, dtype):
    def fn(lib, x, w, b):
        return _functional(lib, "conv_transpose2d")(x, w, b, groups=groups, **kw)

    _compare(fn, _arrays(xs, ws, (ws[1] * groups,)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose1d(dtype):
    def fn(lib, x, w, b):
        return _functional(lib, "conv_transpose1d")(x, w, b, stride=2, padding=1,
                                                    output_padding=1, groups=2)

    _compare(fn, _arrays((2, 4, 5), (4, 3, 3), (6,)), dtype)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1, groups=2)], ids=str)
def test_conv2d_double_backward(kw):
    arrays = _arrays((2, 4, 5, 5), (2, 2 if kw else 4, 3, 3), (2,))
    results = []
    for lib in (probe, torch):
        fn = _functional(lib, "conv2d")
        x, w, b = (lib.tensor(a, dtype=lib.float64, requires_grad=True) for a in arrays)
        y = fn(x, w, b, **kw)
        gx, gw = lib.autograd.grad((y * y).sum(), (x, w), create_graph=True)
        ((gx * gx).sum() + (gw * gw * gw).sum()).backward()
        results.append([t.grad.numpy().copy() for t in (x, w, b)])
    for g, w in zip(*results, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9)


UNFOLD = [
    dict(kernel_size=2),
    dict(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1)),
    dict(kernel_size=3, padding=1, stride=2),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", UNFOLD, ids=str)
def test_unfold_fold(kw, dtype):
    def unfold(lib, x):
        return _functional(lib, "unfold")(x, **kw)

    _compare(unfold, _arrays((2, 3, 7, 8)), dtype)
    cols = TF.unfold(torch.zeros(2, 3, 7, 8), **kw)

    def fold(lib, c):
        return _functional(lib, "fold")(c, (7, 8), **kw)

    _compare(fold, _arrays(tuple(cols.shape)), dtype)


# --------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------

MAX_POOL = [
    ((2, 3, 8, 8), dict(kernel_size=2)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((3, 9, 7), dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0), dilation=(2, 1),
                     ceil_mode=True)),
    ((2, 2, 6, 6), dict(kernel_size=2, stride=1)),
    ((2, 2, 10, 10), dict(kernel_size=3, stride=3, ceil_mode=True)),
    ((2, 6, 24, 24), dict(kernel_size=2)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, kw", MAX_POOL, ids=str)
def test_max_pool2d(shape, kw, dtype):
    def fn(lib, x):
        return _functional(lib, "max_pool2d")(x, **kw, return_indices=True)

    _compare(fn, _arrays(shape), dtype)


@pytest.mark.parametrize("kw", [dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                dict(kernel_size=2, dilation=2)], ids=str)
def test_max_pool1d(kw):
    def fn(lib, x):
        return _functional(lib, "max_pool1d")(x, **kw, return_indices=True)

    _compare(fn, _arrays((2, 3, 11)), "float32")


AVG_POOL = [
    ((2, 3, 8, 8), dict(kernel_size=2)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                        count_include_pad=False)),
    ((3, 9, 7), dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 1), divisor_override=5)),
    ((2, 2, 6, 5), dict(kernel_size=2, stride=1, count_include_pad=False, ceil_mode=True)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, kw", AVG_POOL, ids=str)
def test_avg_pool2d(shape, kw, dtype):
    def fn(lib, x):
        return _functional(lib, "avg_pool2d")(x, **kw)

    _compare(fn, _arrays(shape), dtype)


def test_avg_pool1d():
    def fn(lib, x):
        return _functional(lib, "avg_pool1d")(x, 3, 2, 1, True, False)

    _compare(fn, _arrays((2, 3, 10)), "float32")


ADAPTIVE = [((2, 3, 9, 7), (4, 3)), ((2, 3, 8, 6), (4, 3)), ((2, 3, 9, 7), 1),
            ((3, 9, 7), (None, 5)), ((2, 2, 5, 5), (7, 6)), ((1, 2, 10, 3), (4, 2))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, size", ADAPTIVE, ids=str)
def test_adaptive_pools(shape, size, dtype):
    def avg(lib, x):
        return _functional(lib, "adaptive_avg_pool2d")(x, size)

    def mx(lib, x):
        return _functional(lib, "adaptive_max_pool2d")(x, size, return_indices=True)

    _compare(avg, _arrays(shape), dtype)
    _compare(mx, _arrays(shape), dtype)


@pytest.mark.parametrize("size", [4, 3, 9])
def test_adaptive_pools_1d(size):
    def avg(lib, x):
        return _functional(lib, "adaptive_avg_pool1d")(x, size)

    def mx(lib, x):
        return _functional(lib, "adaptive_max_pool1d")(x, size, return_indices=True)

    _compare(avg, _arrays((2, 3, 9)), "float32")
    _compare(mx, _arrays((2, 3, 9)), "float32")


# --------------------------------------------------------------------------------------------
# Layers with copied weights
# --------------------------------------------------------------------------------------------

def _copy_params(src, dst):
    for (name, p), (name2, q) in zip(src.named_parameters(), dst.named_parameters(),
                                     strict=True):
        assert name == name2
        with probe.no_grad():
            q.copy_(probe.tensor(p.detach().numpy()))


def _layer_parity(tlayer, player, x, dtype_name, *, call=None):
    if dtype_name == "float64":
        tlayer, player = tlayer.double(), player.double()
    _copy_params(tlayer, player)
    tx = torch.tensor(x, dtype=getattr(torch, dtype_name), requires_grad=True)
    px = probe.tensor(x, dtype=getattr(probe, dtype_name), requires_grad=True)
    call = call or (lambda layer, inp: layer(inp))
    tout, pout = call(tlayer, tx), call(player, px)
    rtol, atol = _tol(dtype_name)
    np.testing.assert_allclose(pout.detach().numpy(), tout.detach().numpy(), rtol=rtol, atol=atol)
    assert type(pout.grad_fn).__name__ == type(tout.grad_fn).__name__
    g = np.random.default_rng(3).standard_normal(tuple(tout.shape))
    tout.backward(torch.tensor(g, dtype=tout.dtype))
    pout.backward(probe.tensor(g, dtype=pout.dtype))
    np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=atol)
    for (name, p), (_, q) in zip(tlayer.named_parameters(), player.named_parameters(),
                                 strict=True):
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=name)


CONV_LAYERS = [
    ("Conv2d", (3, 8, 5), dict(), (4, 3, 12, 12)),
    ("Conv2d", (4, 6, (3, 2)), dict(stride=2, padding=1, dilation=2, groups=2, bias=False),
     (2, 4, 9, 9)),
    ("Conv2d", (2, 4, 3), dict(padding=1, padding_mode="reflect"), (2, 2, 6, 5)),
    ("Conv2d", (2, 4, 3), dict(padding=(2, 1), padding_mode="replicate"), (2, 2, 6, 5)),
    ("Conv2d", (2, 4, 3), dict(padding=1, padding_mode="circular"), (2, 2, 6, 5)),
    ("Conv2d", (2, 3, 4), dict(padding="same", padding_mode="reflect"), (2, 2, 7, 6)),
    ("Conv1d", (3, 5, 3), dict(stride=2, padding=1), (2, 3, 10)),
    ("ConvTranspose2d", (3, 4, 3), dict(stride=2, output_padding=1), (2, 3, 4, 4)),
    ("ConvTranspose2d", (4, 6, 3), dict(stride=2, padding=1, groups=2, dilation=2),
     (2, 4, 4, 4)),
    ("ConvTranspose1d", (3, 4, 3), dict(stride=3), (2, 3, 5)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, args, kw, shape", CONV_LAYERS, ids=str)
def test_conv_layers(name, args, kw, shape, dtype):
    tlayer = getattr(torch.nn, name)(*args, **kw)
    player = getattr(conv_layers, name)(*args, **kw)
    assert repr(player) == repr(tlayer)
    assert list(player.state_dict()) == list(tlayer.state_dict())
    x = np.random.default_rng(1).standard_normal(shape)
    _layer_parity(tlayer, player, x, dtype)


def test_conv_transpose_output_size_layer():
    tlayer = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    player = conv_layers.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    x = np.random.default_rng(1).standard_normal((1, 2, 4, 4))
    _layer_parity(tlayer, player, x, "float64",
                  call=lambda layer, inp: layer(inp, output_size=[8, 7]))


def test_default_init_statistics():
    # Same distribution as PyTorch's default init: compare the spread over many weights.
    probe.manual_seed(0)
    torch.manual_seed(0)
    p = conv_layers.Conv2d(16, 32, 3).weight.detach().numpy()
    t = torch.nn.Conv2d(16, 32, 3).weight.detach().numpy()
    assert abs(p.std() - t.std()) < 0.05 * t.std()
    assert abs(np.abs(p).max() - np.abs(t).max()) < 0.02 * np.abs(t).max()


POOL_LAYERS = [
    ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True), (2, 3, 9, 9)),
    ("AvgPool2d", (3,), dict(stride=2, padding=1, count_include_pad=False), (2, 3, 9, 9)),
    ("AdaptiveAvgPool2d", ((3, 2),), dict(), (2, 3, 7, 5)),
    ("AdaptiveMaxPool2d", ((3, 2),), dict(), (2, 3, 7, 5)),
    ("MaxPool1d", (2,), dict(), (2, 3, 8)),
    ("AvgPool1d", (3,), dict(stride=1, padding=1), (2, 3, 8)),
]


@pytest.mark.parametrize("name, args, kw, shape", POOL_LAYERS, ids=str)
def test_pool_layers(name, args, kw, shape):
    tlayer = getattr(torch.nn, name)(*args, **kw)
    player = getattr(pool_layers, name)(*args, **kw)
    assert repr(player) == repr(tlayer)
    x = np.random.default_rng(2).standard_normal(shape)
    _layer_parity(tlayer, player, x, "float32")


@pytest.mark.parametrize("dtype", DTYPES)
def test_lenet_block(dtype):
    """conv -> relu -> maxpool twice, then a sum: the LeNet-5 feature extractor."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 1, 28, 28))
    layers = []
    for lib, conv, pool in ((torch, torch.nn.Conv2d, torch.nn.MaxPool2d),
                            (probe, conv_layers.Conv2d, pool_layers.MaxPool2d)):
        c1, c2 = conv(1, 6, 5), conv(6, 16, 5)
        if dtype == "float64":
            c1, c2 = c1.double(), c2.double()
        layers.append((lib, c1, c2, pool(2)))
    _copy_params(layers[0][1], layers[1][1])
    _copy_params(layers[0][2], layers[1][2])
    results = []
    for lib, c1, c2, pool in layers:
        inp = lib.tensor(x, dtype=getattr(lib, dtype))
        h = pool(c1(inp).clamp(min=0))
        h = pool(c2(h).clamp(min=0))
        out = h.reshape(8, -1)
        (out * out).sum().backward()
        results.append([out.detach().numpy()] + [p.grad.numpy() for p in
                                                (c1.weight, c1.bias, c2.weight, c2.bias)])
    rtol, atol = (1e-3, 1e-3) if dtype == "float32" else (1e-9, 1e-9)
    for g, w in zip(*results[::-1], strict=True):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
