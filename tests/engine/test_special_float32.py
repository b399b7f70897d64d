"""The single-precision paths of ``probe.engine.special``: erf's rational for float32/float16
and ``ndtr`` (the normal CDF exact GELU uses), against the float64 path, over dense grids, the
special values, block boundaries and odd layouts; GELU on tensors big enough to take them."""

from __future__ import annotations

import math

import numpy as np
import pytest

import probe
from probe.autograd import gradcheck, gradgradcheck
from probe.engine import special

F32 = np.float32


def _ulps(got, ref):
    """Distance in float32 units in the last place (same-sign values, as on these grids)."""
    got, ref = np.asarray(got, F32), np.asarray(ref, F32)
    return np.abs(got.view(np.int32).astype(np.int64) - ref.view(np.int32))


def _grid():
    """Dense float32 grid over erf's whole range, both signs, plus tiny and huge magnitudes."""
    rng = np.random.default_rng(5)
    dense = np.linspace(0.0, 6.0, 1_200_001, dtype=F32)
    wide = F32(2.0) ** rng.uniform(-149, 20, 200_000).astype(F32)
    edges = np.array([special._ERF_CLIP, 3.9192, 3.83, 1e-45, 1e-38, 1.0, 2.0, 4.0], F32)
    x = np.concatenate([dense, wide, edges])
    return np.concatenate([x, -x])


def test_erf_float32_within_one_ulp_of_float64_rounded():
    x = _grid()
    ref = special.erf(x.astype(np.float64)).astype(F32)
    got = special.erf(x)
    assert got.dtype == F32
    assert int(_ulps(got, ref).max()) <= 1
    # Exactly +-1 from the clip on (erf rounds to 1 in float32 above 3.9192).
    big = np.abs(x) >= special._ERF_CLIP
    assert np.array_equal(got[big], np.sign(x[big]))


def test_erfc_float32_within_one_ulp_of_float64_rounded():
    x = np.concatenate([np.linspace(-5.0, 10.5, 400_001, dtype=F32),
                        np.array([9.9, 10.0, 10.05], F32)])
    ref = special.erfc(x.astype(np.float64)).astype(F32)
    got = special.erfc(x)
    assert got.dtype == F32
    assert int(_ulps(got, ref).max()) <= 1


@pytest.mark.parametrize("fn", [special.erf, special.erfc, special.ndtr])
def test_float16_is_float64_rounded(fn):
    x = np.linspace(-6.0, 6.0, 20_001).astype(np.float16)
    got = fn(x)
    assert got.dtype == np.float16
    ref = fn(x.astype(np.float64))
    ulps = np.abs(got.view(np.int16).astype(np.int64) - ref.astype(np.float16).view(np.int16))
    if fn is special.ndtr:
        # Worked in float32 with an absolute error of a few 1e-8 (test_ndtr_float32...): more
        # than a float16 ulp among the subnormals of the lower tail only.
        rounding = np.abs(ref.astype(np.float16) - ref)
        assert np.all(np.abs(got - ref) <= rounding + 3e-7)
        assert int(ulps[ref > 1e-3].max()) <= 1
    else:
        assert int(ulps.max()) <= 1


def test_ndtr_float32_absolute_error():
    x = _grid() * F32(math.sqrt(2.0))
    ref = special.ndtr(x.astype(np.float64))
    got = special.ndtr(x)
    assert got.dtype == F32
    # Measured 4.3 * 2**-24: the error of 0.5 + erf(x/sqrt2)/2 in float32 arithmetic.
    assert float(np.abs(got - ref).max()) <= 5 * 2.0**-24
    pos = x >= 0
    assert int(_ulps(got[pos], ref[pos].astype(F32)).max()) <= 5


@pytest.mark.parametrize("repeat", [1, 300], ids=["small", "vectorised"])
def test_float32_special_values(repeat):
    inf, nan = math.inf, math.nan
    clip = special._ERF_CLIP

    def values(v):
        return np.tile(np.array(v, F32), repeat)

    e = special.erf(values([-0.0, 0.0, inf, -inf, nan, clip, -clip, 30.0, -1e30, 1e-45]))
    assert math.copysign(1, e[0]) == -1 and math.copysign(1, e[1]) == 1 and e[0] == 0
    assert e[2:4].tolist() == [1.0, -1.0] and math.isnan(e[4])
    assert e[5:9].tolist() == [1.0, -1.0, 1.0, -1.0]
    assert e[9] == F32(1e-45)  # the smallest subnormal: erf(x) ~ 1.13 x rounds back to it
    # ndtr saturates to exactly 0 and 1 (GELU of -1e4 must be 0, not -1e4 * 3e-8).
    n = special.ndtr(values([-0.0, inf, -inf, nan, -1e4, 1e4, -special._NDTR_CLIP,
                             special._NDTR_CLIP, -6.0, 6.0]))
    assert n[0] == 0.5 and n[1] == 1.0 and n[2] == 0.0 and math.isnan(n[3])
    assert n[4:6].tolist() == [0.0, 1.0]
    if repeat > 1:  # the rational is clipped (the small-array loop is exact: Phi(-6) = 1e-9)
        assert n[6:10].tolist() == [0.0, 1.0, 0.0, 1.0]


def test_ndtr_float64_matches_erfc_in_both_tails():
    x = np.concatenate([np.linspace(-38.0, 9.0, 4701), [0.0, -0.0]])
    ref = np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in x])
    # (x / sqrt(2) rounds: relative 2e-13 at Phi(-38) = 3e-316; subnormals below that.)
    np.testing.assert_allclose(special.ndtr(x), ref, rtol=5e-13, atol=1e-320)
    assert special.ndtr(np.array([1, -1])).dtype == np.float64  # integers give float64


@pytest.mark.parametrize("n", [257, special._CHUNK, special._CHUNK + 1, 3 * special._CHUNK - 5])
def test_block_boundaries(n):
    x = np.random.default_rng(n).standard_normal(n).astype(F32) * 3
    ref = special.erf(x.astype(np.float64)).astype(F32)
    assert int(_ulps(special.erf(x), ref).max()) <= 1
    np.testing.assert_allclose(special.ndtr(x), special.ndtr(x.astype(np.float64)),
                               rtol=0, atol=5 * 2.0**-24)


def test_layouts_and_shapes():
    base = np.random.default_rng(0).standard_normal((40, 30)).astype(F32)
    for x in (base, base.T, base[::2, 1::3], base.reshape(2, 20, 30)[:, ::-1]):
        for fn in (special.erf, special.ndtr):
            got = fn(x)
            assert got.shape == x.shape and got.dtype == F32
            ref = fn(np.ascontiguousarray(x))
            np.testing.assert_array_equal(got, ref)
    assert special.ndtr(F32(0.5)).shape == ()
    assert special.ndtr(np.zeros((0, 3), F32)).shape == (0, 3)
    # The small-array loop and the rational agree within the rational's error.
    x = base.reshape(-1)
    small = np.concatenate([special.erf(x[i:i + 200]) for i in range(0, x.size, 200)])
    assert int(_ulps(small, special.erf(x)).max()) <= 1


def test_inputs_are_not_modified():
    x = np.random.default_rng(1).standard_normal(5000).astype(F32) * 5
    keep = x.copy()
    special.erf(x)
    special.ndtr(x)
    np.testing.assert_array_equal(x, keep)


# ------------------------------------------------------------------ GELU on the fast path

def _gelu_reference(x):
    """x * Phi(x) and its derivative Phi(x) + x * phi(x) in float64."""
    x = x.astype(np.float64)
    cdf = special.ndtr(x)
    return x * cdf, cdf + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def test_gelu_float32_large_tensor_forward_and_backward():
    rng = np.random.default_rng(2)
    data = np.concatenate([rng.standard_normal(20_000) * 3, [-1e4, -30.0, -6.0, -5.5, 0.0, -0.0,
                                                             5.5, 30.0, 1e4]]).astype(F32)
    grad = rng.standard_normal(data.shape).astype(F32)
    x = probe.tensor(data, requires_grad=True)
    y = probe.nn.functional.gelu(x)
    y.backward(probe.tensor(grad))
    value, slope = _gelu_reference(data)
    assert y.dtype == probe.float32 and x.grad.dtype == probe.float32
    np.testing.assert_allclose(y.detach().numpy(), value, rtol=1e-6, atol=2e-7 * 6)
    np.testing.assert_allclose(x.grad.numpy(), grad * slope, rtol=1e-5, atol=1e-6)
    out = y.detach().numpy()
    assert out[-9] == 0.0 and out[-1] == 1e4 and out[-2] == 30.0
    with probe.no_grad():
        np.testing.assert_array_equal(probe.nn.functional.gelu(x).numpy(), out)


def test_gelu_float64_gradcheck_and_second_order():
    x = probe.tensor(np.random.default_rng(4).standard_normal(300) * 2, dtype=probe.float64,
                     requires_grad=True)
    assert gradcheck(probe.nn.functional.gelu, (x,))
    assert gradgradcheck(probe.nn.functional.gelu, (x,))
