"""Padding, interpolation, pixel shuffle and distances: gradients (gradcheck and
gradgradcheck in float64), values, layers and errors in PyTorch's wording."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import probe
from probe.autograd import gradcheck, gradgradcheck
from probe.nn.functional_parts import misc as M
from probe.nn.modules import distance as distance_layers
from probe.nn.modules import padding as padding_layers
from probe.nn.modules import pixelshuffle as shuffle_layers
from probe.nn.modules import upsampling as upsampling_layers


def _t(rng, shape, device="cpu", dtype=probe.float64, grad=True):
    return probe.tensor(rng.standard_normal(shape), dtype=dtype, device=device,
                        requires_grad=grad)


# --------------------------------------------------------------------------------------------
# pad
# --------------------------------------------------------------------------------------------

PAD_CASES = [
    ((2, 3, 5), (2, 1)),
    ((2, 3, 5, 6), (1, 2, 2, 1)),
    ((2, 3, 5, 6), (-1, 2, 2, -2)),
    ((3, 5, 6), (0, 3, 1, 0)),
    ((1, 2, 3, 4, 5), (1, 1, 2, 0, 1, 2)),
]


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape, pads", PAD_CASES, ids=str)
def test_pad_gradcheck(mode, shape, pads, device, rng):
    x = _t(rng, shape, device)
    assert gradcheck(lambda x: M.pad(x, pads, mode=mode), (x,))
    assert gradgradcheck(lambda x: M.pad(x, pads, mode=mode), (x,))


def test_pad_values():
    x = probe.tensor([[[0.0, 1.0, 2.0, 3.0, 4.0]]])
    assert M.pad(x, (2, 1), mode="reflect").tolist() == [[[2, 1, 0, 1, 2, 3, 4, 3]]]
    assert M.pad(x, (2, 1), mode="replicate").tolist() == [[[0, 0, 0, 1, 2, 3, 4, 4]]]
    assert M.pad(x, (2, 1), mode="circular").tolist() == [[[3, 4, 0, 1, 2, 3, 4, 0]]]
    assert M.pad(x, (2, 1), value=9).tolist() == [[[9, 9, 0, 1, 2, 3, 4, 9]]]
    # Negative pads crop; circular wraps around what is left, as PyTorch does.
    assert M.pad(x, (-2, 3), mode="circular").tolist() == [[[2, 3, 4, 2, 3, 4]]]
    assert M.pad(x, (3, -2), mode="circular").tolist() == [[[0, 1, 2, 0, 1, 2]]]
    assert M.pad(x, (-2, 3), mode="reflect").tolist() == [[[2, 3, 4, 3, 2, 1]]]
    assert M.pad(x, (-3, -2)).shape == (1, 1, 0)
    ints = probe.ones(2, 3, dtype=probe.int64)
    assert M.pad(ints, (1, 1), value=2.7).tolist() == [[2, 1, 1, 1, 2], [2, 1, 1, 1, 2]]


def test_pad_grad_fn_names(rng):
    x = _t(rng, (1, 2, 4, 4))
    names = {
        ("constant", (1, 1)): "ConstantPadNdBackward0",
        ("reflect", (1, 1, 1, 1)): "ReflectionPad2DBackward0",
        ("replicate", (1, 1, 1, 1)): "ReplicationPad2DBackward0",
        ("circular", (1, 1, 1, 1)): "CopySlices",
    }
    for (mode, pads), name in names.items():
        assert type(M.pad(x, pads, mode=mode).grad_fn).__name__ == name
    assert type(M.pad(x[0], (1, 1), mode="reflect").grad_fn).__name__ == \
        "ReflectionPad1DBackward0"


def test_pad_float32_stays_float32(rng):
    x = _t(rng, (2, 3, 4, 4), dtype=probe.float32)
    for mode in ("constant", "reflect", "replicate", "circular"):
        out = M.pad(x, (1, 2, 2, 1), mode=mode)
        assert out.dtype == probe.float32
        out.sum().backward()
        assert x.grad.dtype == probe.float32
        x.grad = None


@pytest.mark.parametrize("call, exc, message", [
    (lambda x: M.pad(x, (1, 2, 3)), RuntimeError, "Padding length must be divisible by 2"),
    (lambda x: M.pad(x, (1,) * 10), RuntimeError,
     "Padding length should be less than or equal to two times the input dimension but got "
     "padding length 10 and input of dimension 4"),
    (lambda x: M.pad(x, (1, 1), mode="foo"), NotImplementedError,
     "Unrecognised padding mode foo"),
    (lambda x: M.pad(x, (1, 1, 1, 1), mode="reflect", value=3), RuntimeError,
     'Padding mode "reflect" doesn\'t take in value argument'),
    (lambda x: M.pad(x, (1, 5, 1, 1), mode="reflect"), RuntimeError,
     "Argument #4: Padding size should be less than the corresponding input dimension, but "
     "got: padding (1, 5) at dimension 3 of input [1, 2, 4, 5]"),
    (lambda x: M.pad(x, (1, 1, 4, 1), mode="reflect"), RuntimeError,
     "Argument #6: Padding size should be less than the corresponding input dimension, but "
     "got: padding (4, 1) at dimension 2 of input [1, 2, 4, 5]"),
    (lambda x: M.pad(x, (6, 1, 1, 1), mode="circular"), RuntimeError,
     "Padding value causes wrapping around more than once."),
    (lambda x: M.pad(x[0], (-2, -4), mode="replicate"), RuntimeError,
     "input (W: 5) is too small. Calculated output W: -1"),
])
def test_pad_errors(call, exc, message):
    x = probe.zeros(1, 2, 4, 5)
    with pytest.raises(exc) as info:
        call(x)
    assert str(info.value) == message


def test_pad_non_constant_dims_error():
    with pytest.raises(NotImplementedError) as info:
        M.pad(probe.zeros(1, 2, 4, 4), (1, 2), mode="reflect")
    assert str(info.value).startswith("Padding size 2 is not supported for 4D input tensor.\n"
                                      "Supported combinations for non-constant padding:")


# --------------------------------------------------------------------------------------------
# interpolate
# --------------------------------------------------------------------------------------------

INTERP_2D = [
    dict(size=(7, 4)),
    dict(scale_factor=2),
    dict(scale_factor=(1.7, 0.6)),
    dict(scale_factor=(1.7, 0.6), recompute_scale_factor=True),
]


@pytest.mark.parametrize("mode, extra", [("nearest", {}), ("nearest-exact", {}),
                                         ("bilinear", {"align_corners": False}),
                                         ("bilinear", {"align_corners": True}), ("area", {})],
                         ids=str)
@pytest.mark.parametrize("kw", INTERP_2D, ids=str)
def test_interpolate_2d_gradcheck(mode, extra, kw, device, rng):
    x = _t(rng, (2, 2, 5, 6), device)

    def fn(x):
        return M.interpolate(x, mode=mode, **extra, **kw)

    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


@pytest.mark.parametrize("mode, extra", [("nearest", {}), ("linear", {"align_corners": False}),
                                         ("linear", {"align_corners": True}), ("area", {})],
                         ids=str)
@pytest.mark.parametrize("kw", [dict(size=9), dict(scale_factor=0.5), dict(size=3)], ids=str)
def test_interpolate_1d_gradcheck(mode, extra, kw, device, rng):
    x = _t(rng, (2, 3, 5), device)
    assert gradcheck(lambda x: M.interpolate(x, mode=mode, **extra, **kw), (x,))


def test_interpolate_values():
    x = probe.tensor([[[1.0, 2.0, 3.0]]])
    assert M.interpolate(x, scale_factor=2).tolist() == [[[1, 1, 2, 2, 3, 3]]]
    lin = M.interpolate(x, size=5, mode="linear", align_corners=True)
    np.testing.assert_allclose(lin.numpy(), [[[1, 1.5, 2, 2.5, 3]]])
    lin = M.interpolate(x, size=6, mode="linear")
    np.testing.assert_allclose(lin.numpy(), [[[1, 1.25, 1.75, 2.25, 2.75, 3]]])
    img = probe.arange(4.0).reshape(1, 1, 2, 2)
    up = M.interpolate(img, scale_factor=2, mode="bilinear", align_corners=True)
    np.testing.assert_allclose(up.numpy()[0, 0, 0], [0, 1 / 3, 2 / 3, 1], rtol=1e-6)
    y = probe.arange(4.0).reshape(1, 1, 2, 2).requires_grad_()
    assert type(M.interpolate(y, scale_factor=2).grad_fn).__name__ == \
        "UpsampleNearest2DBackward0"
    assert type(M.interpolate(y, scale_factor=2, mode="bilinear").grad_fn).__name__ == \
        "UpsampleBilinear2DBackward0"


def test_interpolate_float32_and_integer_nearest(rng):
    x = _t(rng, (2, 3, 4, 4), dtype=probe.float32)
    for mode in ("nearest", "bilinear"):
        out = M.interpolate(x, scale_factor=1.5, mode=mode)
        assert out.dtype == probe.float32 and out.shape == (2, 3, 6, 6)
        out.sum().backward()
        assert x.grad.dtype == probe.float32
        x.grad = None
    ints = probe.arange(4).reshape(1, 1, 4)
    assert M.interpolate(ints, size=2).tolist() == [[[0, 2]]]


@pytest.mark.parametrize("call, exc, message", [
    (lambda x: M.interpolate(x, scale_factor=2, align_corners=True), ValueError,
     "align_corners option can only be set with the interpolating modes: linear | bilinear | "
     "bicubic | trilinear"),
    (lambda x: M.interpolate(x, size=3, scale_factor=2), ValueError,
     "only one of size or scale_factor should be defined"),
    (lambda x: M.interpolate(x), ValueError, "either size or scale_factor should be defined"),
    (lambda x: M.interpolate(x, size=2, mode="linear"), NotImplementedError,
     "Got 4D input, but linear mode needs 3D input"),
    (lambda x: M.interpolate(x[0], size=2, mode="bilinear"), NotImplementedError,
     "Got 3D input, but bilinear mode needs 4D input"),
    (lambda x: M.interpolate(x, size=0), RuntimeError,
     "Input and output sizes should be greater than 0, but got input (H: 4, W: 4) output "
     "(H: 0, W: 0)"),
    (lambda x: M.interpolate(x, size=(2, 3, 4)), ValueError,
     "Input and output must have the same number of spatial dimensions, but got input with "
     "spatial dimensions of [4, 4] and output size of (2, 3, 4). Please provide input tensor "
     "in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) format."),
])
def test_interpolate_errors(call, exc, message):
    x = probe.zeros(1, 2, 4, 4)
    with pytest.raises(exc) as info:
        call(x)
    assert str(info.value) == message


def test_upsample_aliases_warn():
    x = probe.ones(1, 1, 2, 2)
    with pytest.warns(UserWarning, match="nn.functional.upsample` is deprecated"):
        assert M.upsample(x, scale_factor=2).shape == (1, 1, 4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert M.upsample_bilinear(x, size=3).shape == (1, 1, 3, 3)
        assert M.upsample_nearest(x, size=3).shape == (1, 1, 3, 3)


# --------------------------------------------------------------------------------------------
# pixel shuffle and distances
# --------------------------------------------------------------------------------------------

def test_pixel_shuffle_roundtrip_and_gradcheck(device, rng):
    x = _t(rng, (2, 8, 3, 2), device)
    y = M.pixel_shuffle(x, 2)
    assert y.shape == (2, 2, 6, 4)
    np.testing.assert_array_equal(M.pixel_unshuffle(y, 2).detach().cpu().numpy(),
                                  x.detach().cpu().numpy())
    assert gradcheck(lambda x: M.pixel_shuffle(x, 2), (x,))
    assert gradgradcheck(lambda x: M.pixel_unshuffle(x, 1), (x,))
    with pytest.raises(RuntimeError, match="input.size\\(-3\\)=6 is not divisible by 4"):
        M.pixel_shuffle(probe.zeros(1, 6, 2, 2), 2)
    with pytest.raises(RuntimeError, match="input.size\\(-2\\)=5 is not divisible by 2"):
        M.pixel_unshuffle(probe.zeros(1, 2, 5, 4), 2)


def test_cosine_similarity(device, rng):
    a, b = _t(rng, (4, 5), device), _t(rng, (4, 5), device)
    assert gradcheck(lambda a, b: M.cosine_similarity(a, b), (a, b))
    assert gradgradcheck(lambda a, b: M.cosine_similarity(a, b, dim=0), (a, b))
    c = _t(rng, (1, 5), device)
    out = M.cosine_similarity(a, c)
    assert out.shape == (4,)
    an, cn = a.detach().cpu().numpy(), c.detach().cpu().numpy()
    want = (an * cn).sum(1) / np.linalg.norm(an, axis=1) / np.linalg.norm(cn, axis=1)
    np.testing.assert_allclose(out.detach().cpu().numpy(), want, rtol=1e-12)
    zero = M.cosine_similarity(probe.zeros(2, 3), probe.ones(2, 3))
    assert zero.tolist() == [0.0, 0.0]
    assert type(out.grad_fn).__name__ == "SumBackward1"


def test_pairwise_distance(device, rng):
    a, b = _t(rng, (4, 5), device), _t(rng, (4, 5), device)
    for p in (1.0, 2.0, 3.0):
        assert gradcheck(lambda a, b, p=p: M.pairwise_distance(a, b, p=p), (a, b))
    out = M.pairwise_distance(a, b, keepdim=True)
    assert out.shape == (4, 1)
    diff = a.detach().cpu().numpy() - b.detach().cpu().numpy() + 1e-6
    np.testing.assert_allclose(out.detach().cpu().numpy()[:, 0], np.linalg.norm(diff, axis=1))


# --------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------

def test_padding_layers(rng):
    x = _t(rng, (1, 2, 4, 5))
    cases = [
        (padding_layers.ZeroPad2d(1), "ZeroPad2d((1, 1, 1, 1))", (6, 7)),
        (padding_layers.ConstantPad2d((1, 2, 3, 0), 3.5),
         "ConstantPad2d(padding=(1, 2, 3, 0), value=3.5)", (7, 8)),
        (padding_layers.ReflectionPad2d((1, 0, 2, 1)), "ReflectionPad2d((1, 0, 2, 1))", (7, 6)),
        (padding_layers.ReplicationPad2d(2), "ReplicationPad2d((2, 2, 2, 2))", (8, 9)),
        (padding_layers.CircularPad2d(1), "CircularPad2d((1, 1, 1, 1))", (6, 7)),
    ]
    for layer, text, hw in cases:
        assert repr(layer) == text
        assert layer(x).shape == (1, 2, *hw)
    y = _t(rng, (2, 3, 5))
    assert repr(padding_layers.ZeroPad1d((1, 2))) == "ZeroPad1d((1, 2))"
    assert repr(padding_layers.ConstantPad1d(2, 3.5)) == "ConstantPad1d(padding=(2, 2), value=3.5)"
    assert padding_layers.ReflectionPad1d(2)(y).shape == (2, 3, 9)
    assert padding_layers.ReplicationPad1d((0, 3))(y).shape == (2, 3, 8)
    assert padding_layers.ConstantPad3d(1, 0.0)(x).shape == (1, 4, 6, 7)
    assert padding_layers.ReplicationPad3d(1)(x).shape == (1, 4, 6, 7)
    assert padding_layers.ZeroPad2d(1).value == 0.0


def test_upsample_layers(rng):
    x = _t(rng, (1, 2, 3, 4))
    up = upsampling_layers.Upsample(scale_factor=2)
    assert repr(up) == "Upsample(scale_factor=2.0, mode='nearest')"
    assert up(x).shape == (1, 2, 6, 8)
    up = upsampling_layers.Upsample(size=(3, 5), mode="bilinear", align_corners=True)
    assert repr(up) == "Upsample(size=(3, 5), mode='bilinear')"
    assert up(x).shape == (1, 2, 3, 5)
    assert repr(upsampling_layers.UpsamplingNearest2d(scale_factor=2)) == \
        "UpsamplingNearest2d(scale_factor=2.0, mode='nearest')"
    bil = upsampling_layers.UpsamplingBilinear2d(size=3)
    assert bil.align_corners is True and bil(x).shape == (1, 2, 3, 3)


def test_shuffle_and_distance_layers(rng):
    assert repr(shuffle_layers.PixelShuffle(2)) == "PixelShuffle(upscale_factor=2)"
    assert repr(shuffle_layers.PixelUnshuffle(3)) == "PixelUnshuffle(downscale_factor=3)"
    assert shuffle_layers.PixelShuffle(2)(_t(rng, (1, 8, 2, 2))).shape == (1, 2, 4, 4)
    assert repr(distance_layers.CosineSimilarity()) == "CosineSimilarity()"
    assert repr(distance_layers.PairwiseDistance()) == "PairwiseDistance()"
    a, b = _t(rng, (3, 4)), _t(rng, (3, 4))
    assert distance_layers.CosineSimilarity(dim=0)(a, b).shape == (4,)
    assert distance_layers.PairwiseDistance(p=1.0, keepdim=True)(a, b).shape == (3, 1)
