"""Parity of probe's pad, interpolate, pixel shuffle and distances with PyTorch: values, dtypes,
shapes, grad_fn names and gradients in float32 and float64; padding/upsampling layers."""

from __future__ import annotations

import numpy as np
import pytest

import probe
from probe.nn.functional_parts import misc as PM
from probe.nn.modules import distance as distance_layers
from probe.nn.modules import padding as padding_layers
from probe.nn.modules import pixelshuffle as shuffle_layers
from probe.nn.modules import upsampling as upsampling_layers

torch = pytest.importorskip("torch")

from harness import compare  # noqa: E402

TF = torch.nn.functional

DTYPES = ["float32", "float64"]


def _tol(dtype_name):
    return (1e-5, 1e-5) if dtype_name == "float32" else (1e-12, 1e-12)


def _compare(fn, arrays, dtype_name, check_name=True):
    rtol, atol = _tol(dtype_name)
    compare(fn, arrays, dtype_name, rtol=rtol, atol=atol, grad_seed=5, check_names=check_name,
            quiet=True)


def _f(lib, name):
    return getattr(PM, name) if lib is probe else getattr(TF, name)


def _arrays(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


# --------------------------------------------------------------------------------------------
# pad
# --------------------------------------------------------------------------------------------

PAD_CASES = [
    ((2, 3, 5), (2, 1)),
    ((3, 5), (0, 4)),
    ((2, 3, 5, 6), (1, 2, 2, 1)),
    ((2, 3, 5, 6), (-1, 2, 2, -2)),
    ((3, 5, 6), (0, 3, 4, 1)),
    ((1, 2, 3, 4, 5), (1, 1, 2, 0, 1, 2)),
    ((2, 3, 7), (-3, 2)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape, pads", PAD_CASES, ids=str)
def test_pad(shape, pads, mode, dtype):
    def fn(lib, x):
        return _f(lib, "pad")(x, pads, mode=mode)

    _compare(fn, _arrays(shape), dtype)


@pytest.mark.parametrize("pads, value", [((1, 2), 1.5), ((1, 2, 0, 0, 1, 1, 2, 2), -3.0),
                                         ((-2, -1, 3, 0), 0.0)], ids=str)
def test_pad_constant_values(pads, value):
    def fn(lib, x):
        return _f(lib, "pad")(x, pads, value=value)

    _compare(fn, _arrays((2, 3, 4, 5)), "float32")


# --------------------------------------------------------------------------------------------
# interpolate
# --------------------------------------------------------------------------------------------

INTERP_2D = [
    dict(size=(7, 4)),
    dict(size=(10, 13)),
    dict(scale_factor=2),
    dict(scale_factor=3),
    dict(scale_factor=(1.7, 0.6)),
    dict(scale_factor=(1.7, 0.6), recompute_scale_factor=True),
    dict(scale_factor=(1 / 3, 2.5)),
    dict(size=(3, 2)),
]
MODES_2D = [("nearest", {}), ("nearest-exact", {}), ("bilinear", {"align_corners": False}),
            ("bilinear", {"align_corners": True}), ("area", {})]


@pytest.mark.parametrize("mode, extra", MODES_2D, ids=str)
@pytest.mark.parametrize("kw", INTERP_2D, ids=str)
def test_interpolate_2d(mode, extra, kw):
    def fn(lib, x):
        return _f(lib, "interpolate")(x, mode=mode, **extra, **kw)

    _compare(fn, _arrays((2, 3, 5, 6)), "float32")


@pytest.mark.parametrize("mode, extra", MODES_2D, ids=str)
def test_interpolate_2d_float64(mode, extra):
    def fn(lib, x):
        return _f(lib, "interpolate")(x, mode=mode, scale_factor=(1.3, 2.2), **extra)

    _compare(fn, _arrays((2, 2, 7, 5)), "float64")


@pytest.mark.parametrize("mode, extra", [("nearest", {}), ("nearest-exact", {}),
                                         ("linear", {"align_corners": False}),
                                         ("linear", {"align_corners": True}), ("area", {})],
                         ids=str)
@pytest.mark.parametrize("kw", [dict(size=9), dict(scale_factor=0.5), dict(size=3),
                                dict(scale_factor=2.7)], ids=str)
def test_interpolate_1d(mode, extra, kw):
    def fn(lib, x):
        return _f(lib, "interpolate")(x, mode=mode, **extra, **kw)

    _compare(fn, _arrays((2, 3, 7)), "float32")


@pytest.mark.parametrize("in_size, out_size", [(5, 7), (7, 3), (10, 13), (13, 10), (9, 4),
                                               (6, 20), (3, 11)])
def test_nearest_indices_match(in_size, out_size):
    x = np.arange(in_size, dtype=np.float32).reshape(1, 1, in_size)
    for mode in ("nearest", "nearest-exact"):
        got = PM.interpolate(probe.tensor(x), size=out_size, mode=mode).numpy()
        want = TF.interpolate(torch.tensor(x), size=out_size, mode=mode).numpy()
        np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------------------------
# pixel shuffle, distances
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_pixel_shuffle(dtype):
    _compare(lambda lib, x: _f(lib, "pixel_shuffle")(x, 2), _arrays((2, 8, 3, 2)), dtype)
    _compare(lambda lib, x: _f(lib, "pixel_unshuffle")(x, 3), _arrays((2, 1, 6, 9)), dtype)
    _compare(lambda lib, x: _f(lib, "pixel_shuffle")(x, 2), _arrays((2, 3, 4, 2, 2)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes, dim", [(((4, 5), (4, 5)), 1), (((4, 5, 3), (1, 5, 3)), 2),
                                         (((3, 6), (3, 6)), 0), (((2, 3, 4), (3, 4)), -1)],
                         ids=str)
def test_cosine_similarity(shapes, dim, dtype):
    _compare(lambda lib, a, b: _f(lib, "cosine_similarity")(a, b, dim=dim), _arrays(*shapes),
             dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p, keepdim", [(2.0, False), (1.0, True), (3.0, False)], ids=str)
def test_pairwise_distance(p, keepdim, dtype):
    # probe's norm reports LinalgVectorNormBackward0 where PyTorch says NormBackward1.
    _compare(lambda lib, a, b: _f(lib, "pairwise_distance")(a, b, p=p, keepdim=keepdim),
             _arrays((4, 5), (4, 5)), dtype, check_name=False)


# --------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------

LAYERS = [
    ("ZeroPad2d", (1,), (1, 2, 4, 5)),
    ("ConstantPad1d", ((1, 3), 2.5), (2, 3, 5)),
    ("ConstantPad2d", ((1, 2, 0, 3), -1.0), (1, 2, 4, 5)),
    ("ReflectionPad1d", (2,), (2, 3, 5)),
    ("ReflectionPad2d", ((1, 0, 2, 1),), (1, 2, 4, 5)),
    ("ReplicationPad1d", ((0, 3),), (2, 3, 5)),
    ("ReplicationPad2d", (2,), (1, 2, 4, 5)),
    ("ReplicationPad3d", (1,), (1, 2, 3, 4, 5)),
    ("CircularPad2d", (1,), (1, 2, 4, 5)),
]


@pytest.mark.parametrize("name, args, shape", LAYERS, ids=str)
def test_padding_layers(name, args, shape):
    tlayer = getattr(torch.nn, name)(*args)
    player = getattr(padding_layers, name)(*args)
    assert repr(player) == repr(tlayer)
    _compare(lambda lib, x: (player if lib is probe else tlayer)(x), _arrays(shape), "float32")


@pytest.mark.parametrize("name, kwargs", [
    ("Upsample", dict(scale_factor=2)),
    ("Upsample", dict(size=(3, 5), mode="bilinear", align_corners=True)),
    ("Upsample", dict(scale_factor=1.5, mode="bilinear")),
    ("UpsamplingNearest2d", dict(scale_factor=2)),
    ("UpsamplingBilinear2d", dict(size=7)),
], ids=str)
def test_upsampling_layers(name, kwargs):
    tlayer = getattr(torch.nn, name)(**kwargs)
    player = getattr(upsampling_layers, name)(**kwargs)
    assert repr(player) == repr(tlayer)
    _compare(lambda lib, x: (player if lib is probe else tlayer)(x), _arrays((2, 2, 4, 5)),
             "float32")


def test_shuffle_and_distance_layers():
    for tl, pl, shapes in [
        (torch.nn.PixelShuffle(2), shuffle_layers.PixelShuffle(2), [(1, 8, 2, 3)]),
        (torch.nn.PixelUnshuffle(2), shuffle_layers.PixelUnshuffle(2), [(1, 2, 4, 6)]),
        (torch.nn.CosineSimilarity(dim=0), distance_layers.CosineSimilarity(dim=0),
         [(4, 5), (4, 5)]),
    ]:
        assert repr(pl) == repr(tl)
        _compare(lambda lib, *xs, tl=tl, pl=pl: (pl if lib is probe else tl)(*xs),
                 _arrays(*shapes), "float64")
