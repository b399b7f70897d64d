"""Convolution, unfold/fold and pooling: gradients (float64 gradcheck and gradgradcheck), shapes,
dtypes, both column layouts, batch chunking, the scratch-buffer pool, layers (repr, init,
state_dict) and errors in PyTorch's wording."""

from __future__ import annotations

import math

import numpy as np
import pytest

import probe
from probe.autograd import gradcheck, gradgradcheck
from probe.nn.functional_parts import conv as C
from probe.nn.functional_parts import pooling as P
from probe.nn.modules import conv as conv_layers
from probe.nn.modules import fold as fold_layers
from probe.nn.modules import pooling as pool_layers


def _t(rng, shape, device="cpu", dtype=probe.float64, grad=True):
    return probe.tensor(rng.standard_normal(shape), dtype=dtype, device=device,
                        requires_grad=grad)


@pytest.fixture(params=[None, "first", "last"])
def layout(request, monkeypatch):
    """Run with the per-shape layout choice and with each column layout forced."""
    monkeypatch.setattr(C, "_FORCE_LAYOUT", request.param)
    return request.param


# --------------------------------------------------------------------------------------------
# Convolution gradients
# --------------------------------------------------------------------------------------------

CONV2D_CASES = [
    dict(),
    dict(stride=2),
    dict(padding=1),
    dict(padding=(2, 0), stride=(1, 2)),
    dict(dilation=2, padding=2),
    dict(groups=2),
    dict(groups=2, stride=(2, 1), padding=1, dilation=(1, 2)),
    dict(padding="same"),
    dict(padding="same", dilation=(2, 1)),
    dict(padding="valid"),
]


@pytest.mark.parametrize("kw", CONV2D_CASES, ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_gradcheck(kw, bias, layout, device, rng):
    x = _t(rng, (2, 4, 6, 5), device)
    w = _t(rng, (4, 4 // kw.get("groups", 1), 3, 2), device)
    b = _t(rng, (4,), device) if bias else None
    inputs = (x, w, b) if bias else (x, w)

    def fn(x, w, b=None):
        return C.conv2d(x, w, b, **kw)

    assert gradcheck(fn, inputs)


@pytest.mark.parametrize("kw", [dict(), dict(groups=2, stride=2, padding=1),
                                dict(padding="same", dilation=2)], ids=str)
def test_conv2d_gradgradcheck(kw, layout, device, rng):
    x = _t(rng, (2, 4, 5, 4), device)
    w = _t(rng, (2, 4 // kw.get("groups", 1), 2, 3), device)
    b = _t(rng, (2,), device)
    assert gradgradcheck(lambda x, w, b: C.conv2d(x, w, b, **kw), (x, w, b))


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(dilation=2, groups=3),
                                dict(padding="same"), dict(padding=(1,), stride=(3,))], ids=str)
def test_conv1d_gradcheck(kw, device, rng):
    x = _t(rng, (2, 3, 9), device)
    w = _t(rng, (6, 3 // kw.get("groups", 1), 3), device)
    b = _t(rng, (6,), device)
    assert gradcheck(lambda x, w, b: C.conv1d(x, w, b, **kw), (x, w, b))
    assert gradgradcheck(lambda x, w, b: C.conv1d(x, w, b, **kw), (x, w, b))


@pytest.mark.parametrize("kw", [
    dict(),
    dict(stride=2),
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=(2, 3), padding=(1, 0), output_padding=(0, 2), dilation=(1, 2)),
    dict(groups=2, stride=2),
    dict(dilation=2, output_padding=1),
], ids=str)
def test_conv_transpose2d_gradcheck(kw, layout, device, rng):
    x = _t(rng, (2, 4, 3, 3), device)
    w = _t(rng, (4, 3, 3, 2), device)
    b = _t(rng, (3 * kw.get("groups", 1),), device)

    def fn(x, w, b):
        return C.conv_transpose2d(x, w, b, **kw)

    assert gradcheck(fn, (x, w, b))
    assert gradgradcheck(fn, (x, w, b))


def test_conv_transpose1d_gradcheck(device, rng):
    x = _t(rng, (2, 4, 5), device)
    w = _t(rng, (4, 1, 3), device)
    b = _t(rng, (2,), device)

    def fn(x, w, b):
        return C.conv_transpose1d(x, w, b, stride=2, padding=1, output_padding=1, groups=2)

    assert gradcheck(fn, (x, w, b))
    assert gradgradcheck(fn, (x, w, b))


def test_conv_third_order(rng):
    x = _t(rng, (1, 2, 4, 4))
    w = _t(rng, (2, 2, 2, 2))
    y = (C.conv2d(x, w, padding=1) ** 2).sum()
    (gx,) = probe.autograd.grad(y, (x,), create_graph=True)
    (gw,) = probe.autograd.grad((gx * gx).sum(), (w,), create_graph=True)
    (gxx,) = probe.autograd.grad(gw.sum(), (x,))
    assert gxx.shape == x.shape
    assert np.isfinite(gxx.numpy()).all()


def test_conv_unbatched_and_grad_fn(rng):
    w = _t(rng, (4, 3, 3, 3))
    x = _t(rng, (3, 6, 6))
    out = C.conv2d(x, w)
    assert out.shape == (4, 4, 4)
    assert type(out.grad_fn).__name__ == "SqueezeBackward1"
    batched = C.conv2d(x.unsqueeze(0), w)
    assert type(batched.grad_fn).__name__ == "ConvolutionBackward0"
    np.testing.assert_allclose(out.detach().numpy(), batched[0].detach().numpy())
    assert gradcheck(lambda x, w: C.conv2d(x, w, padding=1), (x, w))


def test_conv_float32_stays_float32(device, rng):
    x = _t(rng, (2, 3, 8, 8), device, probe.float32)
    w = _t(rng, (4, 3, 3, 3), device, probe.float32)
    b = _t(rng, (4,), device, probe.float32)
    out = C.conv2d(x, w, b, padding=1)
    assert out.dtype == probe.float32
    out.sum().backward()
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == probe.float32
    assert out.is_contiguous()


def test_conv_matches_direct_sum(rng):
    x = rng.standard_normal((2, 2, 5, 6))
    w = rng.standard_normal((3, 2, 2, 3))
    out = C.conv2d(probe.tensor(x), probe.tensor(w), stride=(2, 1), dilation=(1, 2)).numpy()
    oh, ow = 2, 2
    want = np.zeros((2, 3, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, 2 * i:2 * i + 2, j:j + 5:2]
            want[:, :, i, j] = np.einsum("nckl,ockl->no", patch, w)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


def test_conv_chunked_matches_unchunked(monkeypatch, rng):
    x = _t(rng, (5, 2, 6, 6))
    w = _t(rng, (3, 2, 3, 3))
    b = _t(rng, (3,))
    ref = C.conv2d(x, w, b, padding=1)
    ref.sum().backward()
    grads = [t.grad.numpy().copy() for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    monkeypatch.setattr(C, "_COLS_LIMIT", 40)  # a column buffer per sample or two
    out = C.conv2d(x, w, b, padding=1)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    out.sum().backward()
    for t, g in zip((x, w, b), grads, strict=True):
        np.testing.assert_allclose(t.grad.numpy(), g, rtol=1e-12)
    xs = _t(rng, (5, 3, 3, 3))
    assert gradcheck(lambda x, w: C.conv_transpose2d(x, w, stride=2), (xs, w))


def test_scratch_buffers_not_shared_between_live_graphs(rng):
    # Two graphs alive at once keep their own column buffers (the pool reuses only free ones).
    w = probe.tensor(rng.standard_normal((8, 4, 3, 3)).astype(np.float32), requires_grad=True)
    xs = [probe.tensor(rng.standard_normal((16, 4, 20, 20)).astype(np.float32)) for _ in range(2)]
    outs = [C.conv2d(x, w) for x in xs]
    grads = []
    for out in outs:
        w.grad = None
        out.sum().backward()
        grads.append(w.grad.numpy().copy())
    for x, g in zip(xs, grads, strict=True):
        w.grad = None
        C.conv2d(x, w).sum().backward()
        np.testing.assert_allclose(w.grad.numpy(), g, rtol=1e-5)
    assert not np.allclose(grads[0], grads[1])


def test_conv_input_without_grad_skips_input_gradient(rng):
    x = _t(rng, (2, 3, 6, 6), grad=False)
    w = _t(rng, (4, 3, 3, 3))
    C.conv2d(x, w).sum().backward()
    assert x.grad is None
    assert w.grad.shape == (4, 3, 3, 3)


def test_conv_no_grad_records_nothing(rng):
    x = _t(rng, (2, 3, 6, 6))
    w = _t(rng, (4, 3, 3, 3))
    with probe.no_grad():
        out = C.conv2d(x, w)
    assert out.grad_fn is None and not out.requires_grad


# --------------------------------------------------------------------------------------------
# Convolution errors (PyTorch's wording)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: C.conv2d(probe.zeros(1, 2, 8, 8), probe.zeros(4, 3, 3, 3)),
     "Given groups=1, weight of size [4, 3, 3, 3], expected input[1, 2, 8, 8] to have 3 "
     "channels, but got 2 channels instead"),
    (lambda: C.conv2d(probe.zeros(1, 3, 2, 2), probe.zeros(4, 3, 3, 3)),
     "Calculated padded input size per channel: (2 x 2). Kernel size: (3 x 3). Kernel size "
     "can't be greater than actual input size"),
    (lambda: C.conv2d(probe.zeros(1, 3, 4, 4), probe.zeros(4, 3, 3, 3), dilation=2),
     "Calculated padded input size per channel: (4 x 4). Kernel size: (5 x 5). Kernel size "
     "can't be greater than actual input size"),
    (lambda: C.conv2d(probe.zeros(2, 3), probe.zeros(4, 3, 3, 3)),
     "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [2, 3]"),
    (lambda: C.conv2d(probe.zeros(1, 4, 8, 8), probe.zeros(3, 2, 3, 3), groups=2),
     "Given groups=2, expected weight to be divisible by 2 at dimension 0, but got weight of "
     "size [[3, 2, 3, 3]] instead"),
    (lambda: C.conv2d(probe.zeros(1, 3, 8, 8), probe.zeros(4, 3, 3, 3), probe.zeros(3)),
     "Given weight of size [4, 3, 3, 3], expected bias to be 1-dimensional with 4 elements, "
     "but got bias of size [3] instead"),
    (lambda: C.conv2d(probe.zeros(1, 3, 8, 8), probe.zeros(4, 3, 3, 3), stride=0),
     "non-positive stride is not supported"),
    (lambda: C.conv2d(probe.zeros(1, 3, 8, 8), probe.zeros(4, 3, 3, 3), padding=-1),
     "negative padding is not supported"),
    (lambda: C.conv2d(probe.zeros(1, 3, 8, 8), probe.zeros(4, 3, 3, 3), dilation=0),
     "dilation should be greater than zero, but got [0, 0]"),
    (lambda: C.conv2d(probe.zeros(1, 3, 8, 8), probe.zeros(4, 3, 3, 3), groups=0),
     "non-positive groups is not supported"),
    (lambda: C.conv2d(probe.zeros(1, 3, 8, 8), probe.zeros(4, 3, 3, 3), padding="same",
                      stride=2),
     "padding='same' is not supported for strided convolutions"),
    (lambda: C.conv2d(probe.zeros(1, 3, 8, 8), probe.zeros(4, 3, 3, 3), padding="foo"),
     "Invalid padding string: 'foo'"),
    (lambda: C.conv2d(probe.zeros(1, 3, 8, 8, dtype=probe.float64), probe.zeros(4, 3, 3, 3)),
     "expected scalar type Double but found Float"),
    (lambda: C.conv2d(probe.zeros(1, 3, 8, 8), probe.zeros(4, 3, 3, 3),
                      probe.zeros(4, dtype=probe.float64)),
     "Input type (float) and bias type (double) should be the same"),
    (lambda: C.conv2d(probe.zeros(1, 3, 8, 8), probe.zeros(4, 3, 3)),
     "expected stride to be a single integer value or a list of 1 values to match the "
     "convolution dimensions, but got stride=[1, 1]"),
    (lambda: C.conv1d(probe.zeros(1, 3, 2), probe.zeros(2, 3, 3)),
     "Calculated padded input size per channel: (2). Kernel size: (3). Kernel size can't be "
     "greater than actual input size"),
    (lambda: C.conv_transpose2d(probe.zeros(1, 3, 4, 4), probe.zeros(3, 2, 3, 3), stride=2,
                                output_padding=2),
     "output padding must be smaller than either stride or dilation, but got "
     "output_padding_height: 2 output_padding_width: 2 stride_height: 2 stride_width: 2 "
     "dilation_height: 1 dilation_width: 1"),
    (lambda: C.conv_transpose2d(probe.zeros(1, 2, 4, 4), probe.zeros(3, 2, 3, 3)),
     "Given transposed=1, weight of size [3, 2, 3, 3], expected input[1, 2, 4, 4] to have 3 "
     "channels, but got 2 channels instead"),
])
def test_conv_errors(call, message):
    with pytest.raises(RuntimeError) as info:
        call()
    assert str(info.value) == message


# --------------------------------------------------------------------------------------------
# unfold / fold
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=(2, 3), stride=2),
                                dict(kernel_size=3, padding=1, dilation=(1, 2))], ids=str)
def test_unfold_fold_gradcheck(kw, device, rng):
    x = _t(rng, (2, 2, 5, 6), device)
    assert gradcheck(lambda x: C.unfold(x, **kw), (x,))
    assert gradgradcheck(lambda x: C.unfold(x, **kw), (x,))
    cols = C.unfold(x, **kw).detach().requires_grad_()
    assert gradcheck(lambda c: C.fold(c, (5, 6), **kw), (cols,))
    assert gradgradcheck(lambda c: C.fold(c, (5, 6), **kw), (cols,))


def test_unfold_fold_roundtrip_counts_overlaps(rng):
    x = probe.ones(1, 1, 4, 4)
    counts = C.fold(C.unfold(x, 2), (4, 4), 2).numpy()[0, 0]
    np.testing.assert_array_equal(counts, [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2],
                                           [1, 2, 2, 1]])
    unbatched = C.unfold(probe.ones(2, 5, 5, requires_grad=True), 3)
    assert unbatched.shape == (18, 9)
    assert type(unbatched.grad_fn).__name__ == "Im2ColBackward0"
    assert C.fold(unbatched, (5, 5), 3).shape == (2, 5, 5)


def test_unfold_fold_errors():
    with pytest.raises(RuntimeError, match="calculated shape of the array of sliding blocks as "
                                           r"\(0, 3\), but its components must be at least one"):
        C.unfold(probe.zeros(1, 2, 2, 5), 3)
    with pytest.raises(RuntimeError, match=r"input.size\(1\)=17 and kernel_size=\(3, 3\)"):
        C.fold(probe.zeros(1, 17, 9), (5, 5), 3)
    with pytest.raises(RuntimeError, match=r"sliding blocks 3 \* 3 = 9, but got input.size"):
        C.fold(probe.zeros(1, 18, 8), (5, 5), 3)


# --------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------

MAX_POOL_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0), dilation=(2, 1), ceil_mode=True),
    dict(kernel_size=2, stride=1),
    dict(kernel_size=3, stride=3, ceil_mode=True),
]


@pytest.mark.parametrize("kw", MAX_POOL_CASES, ids=str)
def test_max_pool2d_gradcheck(kw, device, rng):
    x = _t(rng, (2, 2, 7, 6), device)
    assert gradcheck(lambda x: P.max_pool2d(x, **kw), (x,))
    assert gradgradcheck(lambda x: P.max_pool2d(x, **kw), (x,))
    out, idx = P.max_pool2d(x, **kw, return_indices=True)
    assert idx.dtype == probe.int64 and idx.shape == out.shape
    gathered = np.take_along_axis(x.detach().cpu().numpy().reshape(2, 2, -1),
                                  idx.cpu().numpy().reshape(2, 2, -1), axis=2)
    np.testing.assert_array_equal(gathered.reshape(out.shape), out.detach().cpu().numpy())
    assert type(out.grad_fn).__name__ == "MaxPool2DWithIndicesBackward0"


def test_max_pool_ties_go_to_first_and_float32(rng):
    x = probe.zeros(1, 1, 4, 4, requires_grad=True)
    out, idx = P.max_pool2d(x, 2, return_indices=True)
    assert idx.tolist() == [[[[0, 2], [8, 10]]]]
    out.sum().backward()
    assert x.grad.numpy()[0, 0].tolist() == [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0],
                                               [0, 0, 0, 0]]
    y = probe.tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32), requires_grad=True)
    out = P.max_pool2d(y, 2)
    assert out.dtype == probe.float32 and out.is_contiguous()
    out.sum().backward()
    assert y.grad.dtype == probe.float32


def test_max_pool_integer_input():
    x = probe.arange(16).reshape(1, 1, 4, 4)
    assert P.max_pool2d(x, 2, padding=1).tolist() == [[[[0, 2, 3], [8, 10, 11],
                                                         [12, 14, 15]]]]


@pytest.mark.parametrize("kw", [dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
                                dict(kernel_size=2)], ids=str)
def test_max_pool1d(kw, device, rng):
    x = _t(rng, (2, 3, 9), device)
    assert gradcheck(lambda x: P.max_pool1d(x, **kw), (x,))
    out, idx = P.max_pool1d(x, **kw, return_indices=True)
    assert type(out.grad_fn).__name__ == "SqueezeBackward1"
    assert idx.shape == out.shape


AVG_POOL_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 1), divisor_override=5),
    dict(kernel_size=2, stride=1, count_include_pad=False),
]


@pytest.mark.parametrize("kw", AVG_POOL_CASES, ids=str)
def test_avg_pool2d_gradcheck(kw, device, rng):
    x = _t(rng, (2, 2, 7, 6), device)
    assert gradcheck(lambda x: P.avg_pool2d(x, **kw), (x,))
    assert gradgradcheck(lambda x: P.avg_pool2d(x, **kw), (x,))


def test_avg_pool_values_and_integers():
    x = probe.arange(16.0).reshape(1, 1, 4, 4)
    assert P.avg_pool2d(x, 2).tolist() == [[[[2.5, 4.5], [10.5, 12.5]]]]
    # count_include_pad=False divides the corner window by its 4 real elements, not 9.
    out = P.avg_pool2d(x, 3, stride=3, padding=1, count_include_pad=False)
    assert out[0, 0, 0, 0].item() == pytest.approx((0 + 1 + 4 + 5) / 4)
    ints = probe.tensor([[[[-7]]]])
    assert P.avg_pool2d(ints, 1, divisor_override=2).tolist() == [[[[-3]]]]


def test_avg_pool1d(device, rng):
    x = _t(rng, (2, 3, 9), device)
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    assert gradcheck(lambda x: P.avg_pool1d(x, **kw), (x,))
    assert type(P.avg_pool1d(x, **kw).grad_fn).__name__ == "SqueezeBackward1"


@pytest.mark.parametrize("size", [(3, 2), (4, 3), 1, (None, 2), (7, 6), (2, 5)], ids=str)
def test_adaptive_pools_gradcheck(size, device, rng):
    x = _t(rng, (2, 2, 7, 6), device)
    assert gradcheck(lambda x: P.adaptive_avg_pool2d(x, size), (x,))
    assert gradgradcheck(lambda x: P.adaptive_avg_pool2d(x, size), (x,))
    assert gradcheck(lambda x: P.adaptive_max_pool2d(x, size), (x,))
    assert gradgradcheck(lambda x: P.adaptive_max_pool2d(x, size), (x,))


def test_adaptive_windows_and_indices():
    x = probe.arange(10.0).reshape(1, 1, 1, 10)
    # PyTorch's windows for 10 -> 4: [0, 3), [2, 5), [5, 8), [7, 10).
    assert P.adaptive_avg_pool2d(x, (1, 4)).tolist() == [[[[1.0, 3.0, 6.0, 8.0]]]]
    out, idx = P.adaptive_max_pool2d(x, (1, 4), return_indices=True)
    assert out.tolist() == [[[[2.0, 4.0, 7.0, 9.0]]]]
    assert idx.tolist() == [[[[2, 4, 7, 9]]]]
    one = P.adaptive_avg_pool2d(probe.ones(2, 3, 5, 4, requires_grad=True), 1)
    assert one.shape == (2, 3, 1, 1)
    assert type(one.grad_fn).__name__ == "MeanBackward1"


def test_adaptive_1d(device, rng):
    x = _t(rng, (2, 3, 9), device)
    assert gradcheck(lambda x: P.adaptive_avg_pool1d(x, 4), (x,))
    assert gradcheck(lambda x: P.adaptive_max_pool1d(x, 4), (x,))
    out, idx = P.adaptive_max_pool1d(x, 4, return_indices=True)
    assert out.shape == idx.shape == (2, 3, 4)


@pytest.mark.parametrize("call, exc, message", [
    (lambda: P.max_pool2d(probe.zeros(1, 2, 8, 8), 3, padding=2), RuntimeError,
     "pad should be at most half of effective kernel size, but got pad=2, kernel_size=3 and "
     "dilation=1"),
    (lambda: P.max_pool2d(probe.zeros(1, 2, 2, 2), 3), RuntimeError,
     "Given input size: (2x2x2). Calculated output size: (2x0x0). Output size is too small"),
    (lambda: P.avg_pool2d(probe.zeros(1, 2, 2, 2), 3), RuntimeError,
     "Given input size: (2x2x2). Calculated output size: (2x0x0). Output size is too small"),
    (lambda: P.max_pool2d(probe.zeros(2, 2), 1), RuntimeError,
     "non-empty 3D or 4D (batch mode) tensor expected for input"),
    (lambda: P.max_pool2d(probe.zeros(1, 2, 4, 4), 2, stride=0), RuntimeError,
     "stride should not be zero"),
    (lambda: P.max_pool2d(probe.zeros(1, 2, 4, 4), (2, 2, 2)), RuntimeError,
     "max_pool2d: kernel_size must either be a single int, or a tuple of two ints"),
    (lambda: P.max_pool2d(probe.zeros(1, 2, 4, 4), 2, padding=-1), RuntimeError,
     "pad must be non-negative, but got pad: -1"),
    (lambda: P.max_pool2d(probe.zeros(1, 2, 4, 4), 2, dilation=0), RuntimeError,
     "dilation should be greater than zero, but got dilationH: 0 dilationW: 0"),
    (lambda: P.avg_pool2d(probe.zeros(1, 2, 4, 4), 2, divisor_override=0), RuntimeError,
     "divisor must be not zero"),
    (lambda: P.max_pool1d(probe.zeros(2, 3, 4, 5), 2), RuntimeError,
     "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size for "
     "input, but got:[2, 3, 4, 5]"),
    (lambda: P.max_pool1d(probe.zeros(2, 8), 3, padding=2), RuntimeError,
     "max_pool1d() padding should be at most half of kernel size, but got padding=2 and "
     "kernel_size=3"),
    (lambda: P.avg_pool1d(probe.zeros(2, 3, 4, 5), 2), RuntimeError,
     "Expected 2 to 3 dimensions, but got 4-dimensional tensor for argument #1 'self' (while "
     "checking arguments for avg_pool1d)"),
    (lambda: P.adaptive_avg_pool2d(probe.zeros(1, 2, 4, 4), (3, 4, 5)), RuntimeError,
     "adaptive_avg_pool2d: output_size must be 2"),
    (lambda: P.adaptive_max_pool2d(probe.zeros(4, 4), 2), ValueError,
     "Input dimension should be at least 3"),
    (lambda: P.adaptive_avg_pool1d(probe.zeros(1, 2, 4, 4), 2), RuntimeError,
     "Expected 2 to 3 dimensions, but got 4-dimensional tensor for argument #1 'self' (while "
     "checking arguments for adaptive_avg_pool1d)"),
])
def test_pool_errors(call, exc, message):
    with pytest.raises(exc) as info:
        call()
    assert str(info.value) == message


# --------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------

def test_conv2d_layer_repr_params_and_init():
    probe.manual_seed(0)
    conv = conv_layers.Conv2d(3, 8, 5)
    assert repr(conv) == "Conv2d(3, 8, kernel_size=(5, 5), stride=(1, 1))"
    assert [name for name, _ in conv.named_parameters()] == ["weight", "bias"]
    assert list(conv.state_dict()) == ["weight", "bias"]
    assert conv.weight.shape == (8, 3, 5, 5) and conv.weight.dtype == probe.float32
    bound = 1 / math.sqrt(75)  # kaiming_uniform(a=sqrt(5)) gives sqrt(6/((1+5)*fan_in))
    w = conv.weight.detach().numpy()
    assert np.abs(w).max() <= bound + 1e-7 and np.abs(w).max() > 0.8 * bound
    assert np.abs(conv.bias.detach().numpy()).max() <= bound + 1e-7
    assert conv(probe.zeros(2, 3, 9, 9)).shape == (2, 8, 5, 5)


def test_conv_layer_options_repr():
    conv = conv_layers.Conv2d(4, 6, (3, 2), stride=2, padding=1, dilation=2, groups=2,
                              bias=False, padding_mode="reflect")
    assert repr(conv) == ("Conv2d(4, 6, kernel_size=(3, 2), stride=(2, 2), padding=(1, 1), "
                          "dilation=(2, 2), groups=2, bias=False, padding_mode=reflect)")
    assert conv.bias is None and conv.weight.shape == (6, 2, 3, 2)
    assert repr(conv_layers.Conv2d(1, 2, 3, padding="same")) == (
        "Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1), padding=same)")
    assert repr(conv_layers.Conv1d(2, 4, 3)) == "Conv1d(2, 4, kernel_size=(3,), stride=(1,))"
    assert repr(conv_layers.ConvTranspose2d(3, 4, 3, stride=2, output_padding=1)) == (
        "ConvTranspose2d(3, 4, kernel_size=(3, 3), stride=(2, 2), output_padding=(1, 1))")
    t = conv_layers.ConvTranspose2d(4, 6, 3, groups=2)
    assert t.weight.shape == (4, 3, 3, 3) and t.bias.shape == (6,)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv_layer_padding_modes_gradcheck(mode, rng):
    conv = conv_layers.Conv2d(2, 3, 3, padding=1, padding_mode=mode).double()
    x = _t(rng, (1, 2, 5, 4))
    out = conv(x)
    assert out.shape == (1, 3, 5, 4)
    assert gradcheck(lambda x, w, b: conv._conv_forward(x, w, b), (x, conv.weight, conv.bias))


def test_conv_layer_same_even_kernel(rng):
    conv = conv_layers.Conv2d(2, 3, (4, 2), padding="same", dilation=(1, 2),
                              padding_mode="replicate").double()
    assert conv._reversed_padding_repeated_twice == [1, 1, 1, 2]
    x = _t(rng, (2, 2, 6, 5))
    assert conv(x).shape == (2, 3, 6, 5)
    zeros = conv_layers.Conv2d(2, 3, 4, padding="same").double()
    assert zeros(x).shape == (2, 3, 6, 5)


def test_conv_transpose_output_size(rng):
    up = conv_layers.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
    x = _t(rng, (1, 2, 4, 4))
    assert up(x).shape == (1, 3, 7, 7)
    assert up(x, output_size=[8, 8]).shape == (1, 3, 8, 8)
    assert up(x, output_size=(1, 3, 8, 7)).shape == (1, 3, 8, 7)
    with pytest.raises(ValueError, match="requested an output size of"):
        up(x, output_size=(10, 10))
    up1 = conv_layers.ConvTranspose1d(2, 3, 3, stride=2).double()
    assert up1(_t(rng, (1, 2, 4))).shape == (1, 3, 9)


@pytest.mark.parametrize("kwargs, message", [
    (dict(groups=0), "groups must be a positive integer"),
    (dict(groups=3), "in_channels must be divisible by groups"),
    (dict(padding="foo"), "Invalid padding string 'foo', should be one of {'same', 'valid'}"),
    (dict(padding="same", stride=2), "padding='same' is not supported for strided "
                                     "convolutions"),
    (dict(padding_mode="bad"), "padding_mode must be one of {'zeros', 'reflect', 'replicate', "
                               "'circular'}, but got padding_mode='bad'"),
])
def test_conv_layer_errors(kwargs, message):
    with pytest.raises(ValueError) as info:
        conv_layers.Conv2d(4, 6, 3, **kwargs)
    assert str(info.value) == message
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for '
                                         "ConvTranspose2d"):
        conv_layers.ConvTranspose2d(4, 6, 3, padding_mode="reflect")


def test_conv_layer_dtype_device_and_double():
    conv = conv_layers.Conv2d(2, 3, 3, dtype=probe.float64, device="cpu")
    assert conv.weight.dtype == probe.float64
    conv = conv_layers.Conv2d(2, 3, 3).double()
    assert conv.bias.dtype == probe.float64


def test_pool_layers_repr_and_forward(rng):
    x = _t(rng, (2, 3, 8, 8))
    cases = [
        (pool_layers.MaxPool2d(2),
         "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)", (4, 4)),
        (pool_layers.MaxPool2d((2, 3), stride=1, padding=1, dilation=2, ceil_mode=True),
         "MaxPool2d(kernel_size=(2, 3), stride=1, padding=1, dilation=2, ceil_mode=True)",
         (8, 6)),
        (pool_layers.AvgPool2d(2), "AvgPool2d(kernel_size=2, stride=2, padding=0)", (4, 4)),
        (pool_layers.AvgPool2d(3, 1, 1, True, False, 2),
         "AvgPool2d(kernel_size=3, stride=1, padding=1)", (8, 8)),
        (pool_layers.AdaptiveAvgPool2d((2, None)), "AdaptiveAvgPool2d(output_size=(2, None))",
         (2, 8)),
        (pool_layers.AdaptiveMaxPool2d(3), "AdaptiveMaxPool2d(output_size=3)", (3, 3)),
    ]
    for layer, text, hw in cases:
        assert repr(layer) == text
        assert layer(x).shape == (2, 3, *hw)
    y = _t(rng, (2, 3, 9))
    assert repr(pool_layers.MaxPool1d(3)) == (
        "MaxPool1d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=False)")
    assert repr(pool_layers.AvgPool1d(2)) == (
        "AvgPool1d(kernel_size=(2,), stride=(2,), padding=(0,))")
    assert pool_layers.AvgPool1d(3, 1, 1)(y).shape == (2, 3, 9)
    assert pool_layers.MaxPool1d(3)(y).shape == (2, 3, 3)
    assert pool_layers.AdaptiveAvgPool1d(4)(y).shape == (2, 3, 4)
    out, idx = pool_layers.AdaptiveMaxPool1d(4, return_indices=True)(y)
    assert idx.shape == (2, 3, 4)
    out, idx = pool_layers.MaxPool2d(2, return_indices=True)(x)
    assert idx.dtype == probe.int64


def test_fold_layers(rng):
    unfold = fold_layers.Unfold(2, padding=1)
    fold = fold_layers.Fold((4, 5), 2, padding=1)
    assert repr(unfold) == "Unfold(kernel_size=2, dilation=1, padding=1, stride=1)"
    assert repr(fold) == "Fold(output_size=(4, 5), kernel_size=2, dilation=1, padding=1, stride=1)"
    x = _t(rng, (2, 3, 4, 5))
    cols = unfold(x)
    assert cols.shape == (2, 12, 30)
    assert fold(cols).shape == (2, 3, 4, 5)
    assert type(cols.grad_fn).__name__ == "Im2ColBackward0"
    assert type(fold(cols).grad_fn).__name__ == "Col2ImBackward0"


def test_lenet_training_step_float32():
    probe.manual_seed(0)
    conv1, conv2 = conv_layers.Conv2d(1, 6, 5), conv_layers.Conv2d(6, 16, 5)
    pool = pool_layers.MaxPool2d(2)
    x = probe.randn(8, 1, 28, 28)
    h = pool(conv1(x).clamp(min=0))
    h = pool(conv2(h).clamp(min=0))
    assert h.shape == (8, 16, 4, 4) and h.dtype == probe.float32
    h.view(8, -1).sum().backward()  # a view: the pooled output is contiguous
    for p in (conv1.weight, conv1.bias, conv2.weight, conv2.bias):
        assert p.grad.dtype == probe.float32 and np.isfinite(p.grad.numpy()).all()
