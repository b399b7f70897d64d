"""Special functions NumPy lacks: ``erf``, ``erfc``, ``erfinv``, ``ndtr``, ``lgamma``, ``digamma``
and ``polygamma``, vectorised over NumPy arrays (CuPy arrays go to ``cupyx.scipy.special``).

Each function takes and returns arrays: float16/float32/float64 inputs keep their dtype, other
inputs give float64. float64 results are accurate to a few units in the last place
(``erf``/``erfc``/``erfinv``: about 1e-15 relative, including the tails).

float32 and float16 ``erf`` (and ``ndtr``, the normal CDF that exact GELU needs) use one rational
function of ``x*x`` on ``x`` clipped to ``[-3.92, 3.92]`` (erf is 1 in float32 beyond), a couple
of dozen in-place array passes over cache-sized blocks, with no pieces to gather: ``erf`` works in
float64 there and stays within 1 float32 ulp of the correctly rounded value (worked in float32 it
would be up to 9 ulp); ``ndtr`` works in float32, about twice as fast, with an absolute error below
5 * 2**-24. float32 ``erfc`` needs its tails and takes the pieces below.

The float64 error function uses a few polynomial pieces (Chebyshev interpolants, written in powers
of a local variable) evaluated only on the elements that fall in each piece:

* ``|x| < 1``: ``erf(x) = x * E(x*x)``;
* ``1 <= |x| < 2``: ``erfc(|x|) = exp(-x*x) * erfcx(|x|)``, ``erfcx`` a polynomial in ``|x|``;
* ``|x| >= 2``: ``erfcx(|x|) = t * H(t)`` with ``t = 1/|x|`` (``H`` in ``t``, then in ``t*t``
  for ``|x| >= 8``, where ``H`` tends to ``1/sqrt(pi)``).

float32/float16 ``erfc`` uses lower-degree pieces of the same shape (their error is far below a
float32 ulp). The tables were fitted with mpmath by ``_fit_tables`` and ``_fit_erf_rational``
below (``python -m probe.engine.special`` prints them).

``erfinv`` starts from a polynomial guess in ``w = -log(1 - x*x)`` (``sqrt(-log(1 - |x|))`` in the
tails) and takes one Halley step on ``erf`` (``erfc`` for ``|x| >= 0.5``, where ``1 - |x|`` is
exact). ``lgamma``/``digamma``/``polygamma`` use the reflection formula below 0.5, the recurrence
up to 10 and the asymptotic (Stirling) series there.
"""

from __future__ import annotations

import math

import numpy as np

from .buffers import scratch

__all__ = ["digamma", "erf", "erfc", "erfinv", "lgamma", "ndtr", "polygamma"]

_f64 = np.float64
_i64 = np.int64
# Up to this many elements, erf/erfc loop over the C library's math.erf: the vectorised pieces
# cost some 60 NumPy calls, which dominate below a few hundred elements.
_SMALL = 256

# Polynomial coefficients, lowest power first (see the module docstring for the variables):
# region 0: E(z), z = x*x; region 1: erfcx(a), in a - 1.5; regions 2, 3: H(t), t = 1/a, in
# t - 0.375 and t - 0.1875; region 4: H as a function of q = t*t.
_ERF_F64 = (
    (1.1283791670955126, -0.37612638903183543, 0.11283791670945006, -0.02686617064323777,
     0.0052239776071164225, -0.0008548325975389692, 0.00012055294904839707,
     -1.492473690741966e-05, 1.6447424703317362e-06, -1.6208483801871705e-07,
     1.3720064546777686e-08, -7.795898827002142e-10),
    (0.3215854164543175, -0.16362291773256007, 0.07615103985548055, -0.03293090529956347,
     0.013377340952802835, -0.005145957547915988, 0.0018861348854630824, -0.0006619300686179933,
     0.00022330981211640024, -7.265888759557882e-05, 2.286543658874603e-05,
     -6.975285854904505e-06, 2.061689065129881e-06, -5.946998373950516e-07,
     1.8038197652346406e-07, -4.932844202000261e-08),
    (0.5308603493169751, -0.151585529574156, -0.09203998771197985, 0.1772680341266697,
     -0.11628192651710131, -0.03780807617182233, 0.196242180699848, -0.25568424520532707,
     0.1361435760705446, 0.1702388138484461, -0.5576662354342117, 0.785372544701742,
     -0.41666835242178474, -0.6274724166647987),
    (0.5547541131463941, -0.09589699130081211, -0.20884255680235492, 0.21386570038950492,
     0.08113329168587326, -0.42226336550353194, 0.34417042332863146, 0.4781787008877382,
     -1.5790816409223107, 1.2380162679323683, 2.7273976630380465, -8.846674698542696),
    (0.5641895835477563, -0.2820947917737877, 0.42314218750576743, -1.0578553664188866,
     3.7024598651122824, -16.65474901816285, 90.90875314635498, -546.6782479882856,
     2575.838511477932),
)
_ERF_F32 = (
    (1.1283791658483509, -0.37612626666720334, 0.11283594715160218, -0.026854212010626412,
     0.005189087423433974, -0.000801686428716587, 7.875875062685488e-05),
    (0.3215854164543175, -0.1636229071978774, 0.07615103655090479, -0.03293146614402791,
     0.013377516899777012, -0.005137920440964439, 0.0018836127899543348, -0.0007043126276192796,
     0.0002366185302639427),
    (0.5308603492618238, -0.15158552966466224, -0.09203987449614409, 0.17726821912664553,
     -0.11631861460368742, -0.03786665968597602, 0.20011709199134017, -0.24984477283311962),
    (0.5547541137703583, -0.09589699039704758, -0.20884543494081373, 0.21386153805181055,
     0.08310953457031547, -0.4194305655432945),
    (0.5641895835230324, -0.28209471252620505, 0.4231012593602482, -1.0503789012134923,
     3.131663919385575),
)
_ERFINV = (
    (1.6536545626831027, 0.24015818130870092, -0.006033683153015207, -0.0007406987085144557,
     0.0001867594022172336, -1.388701969759071e-05, -1.37997428444425e-06,
     4.2566279061253253e-07, -2.565287673703275e-08, -4.607646506609786e-09, 6.98368073027241e-10),
    (4.0451006905693205, 1.0295282072566532, -0.00388241519580588, 0.0004492486936023804,
     -2.8669936625073842e-05, -3.968953340479743e-06, 3.2498291914451034e-06,
     -2.2563992045699204e-06, 6.016708256328643e-07),
)

# float32/float16 erf: erf(x) = u * P(z) / Q(z), u = x clipped to [-_ERF_CLIP, _ERF_CLIP],
# z = u*u; one rational for the whole range, so no pieces to gather, just ~23 array passes.
# Fitted by _fit_erf_rational() below (relative minimax, degrees 5 and 5 in z, Q monic): max
# relative error 1.9e-8 on [0, 3.92] against mpmath, a third of a float32 ulp or less. Above
# 3.9192 erf rounds to 1 in float32, and the clipped value gives exactly 1.
_ERF_CLIP = 3.92
_ERF_P = (29622.824619426283, 4998.600252863821, 1384.7802683844593, 98.85452329313372,
          7.4788102788272255, 0.05382000771620053)
_ERF_Q = (26252.545272478736, 13180.72701689398, 2995.631521914438, 392.9749884991612,
          30.518855489602895, 1.0)
_SQRT1_2 = 0.7071067811865476


def _ndtr_rational():
    """``P``, ``Q`` and the clip of ``ndtr(x) = 0.5 + u * P(u*u) / Q(u*u)``: erf's rational at
    ``x / sqrt(2)`` (``z -> z/2``) times ``1/2``, ``Q`` made monic again."""
    p = [c * 0.5 * _SQRT1_2 / 2.0**k for k, c in enumerate(_ERF_P)]
    q = [c / 2.0**k for k, c in enumerate(_ERF_Q)]
    return tuple(c / q[-1] for c in p), tuple(c / q[-1] for c in q), _ERF_CLIP / _SQRT1_2


_NDTR_P, _NDTR_Q, _NDTR_CLIP = _ndtr_rational()
# float32 inputs: erf works in float64 (1 ulp), ndtr in float32 (its 0.5 + ... halves the
# rounding errors of the rational relative to the result).
_NDTR_WORK = np.float32
_SINGLE = (np.dtype(np.float32), np.dtype(np.float16))
# Elements per block of the rational kernel: its work arrays stay in the CPU caches between
# passes (two dozen passes over whole multi-MB arrays run from memory: 2-3x slower on 2.4M
# values); smaller blocks lose more to per-call overhead than they gain.
_CHUNK = 65536

_ERF_CENTERS = (0.0, 1.5, 0.375, 0.1875, 0.0)
_ERFINV_CENTERS = (3.125, 4.285)
_TWO_OVER_SQRT_PI = 1.1283791670955126
_SQRT_PI_OVER_2 = 0.8862269254527580
_HALF_LOG_2PI = 0.9189385332046728
# Clears the low 27 bits of a float64: the rest squares exactly (see _exp_neg_sq).
_HIGH_BITS = np.int64(-(1 << 27))
_HIGH_BITS_32 = np.int64(-(1 << 41))  # ... and here in float32


def _horner(u, coef):
    """``sum(coef[k] * u**k)``, in place after the first pass."""
    r = u * coef[-1]
    r += coef[-2]
    for c in coef[-3::-1]:
        r *= u
        r += c
    return r


def _exp_neg_sq(a, precise, single):
    """``exp(-a*a)`` for ``a >= 0``.

    The rounding error of ``a*a`` (relative 1e-16, so up to 7e-14 in the result near erfc's
    underflow at 27) is removed where relative accuracy counts (``precise``): ``a = hi + lo``
    with ``hi*hi`` exact, and ``a*a - hi*hi = lo * (a + hi)``. ``single`` (and not ``precise``):
    the result only needs float32 accuracy relative to 1 (erf of a float32 input); float32
    ``exp`` is several times faster than float64's, so ``hi`` keeps 12 bits (its square is exact
    in float32) and both factors use it.
    """
    if not (precise or single):
        z = a * a
        np.negative(z, out=z)
        return np.exp(z, out=z)
    single = single and not precise
    hi = (a.view(_i64) & (_HIGH_BITS_32 if single else _HIGH_BITS)).view(_f64)
    c = a + hi
    c *= hi - a
    e = hi * hi
    np.negative(e, out=e)
    if single:
        e = np.exp(e.astype(np.float32))
        e *= np.exp(c.astype(np.float32))
        return e
    np.exp(e, out=e)
    np.exp(c, out=c)
    e *= c
    return e


def _odd_rational(x, p, q, clip, offset, work, out):
    """``out = offset + u * p(u*u) / q(u*u)``, ``u = x`` clipped to ``[-clip, clip]``, ``q``
    monic, for 1-d contiguous ``x`` and ``out``; computed in ``work`` precision, block by block.
    NaN propagates through the clip, ``-0.0`` keeps its sign, ``+-inf`` lands on the clip."""
    n = x.size
    blocks = max(1, round(n / _CHUNK))  # blocks of about _CHUNK (MiniLM's 73728: just one)
    m = -(-n // blocks)
    # Four separate calls: each pooled array is handed out only while nothing else holds it.
    u = scratch(np, (m,), work)
    z = scratch(np, (m,), work)
    r = scratch(np, (m,), work)
    d = scratch(np, (m,), work)
    for start in range(0, n, m):
        stop = min(start + m, n)
        if stop - start != m:
            u, z, r, d = u[:stop - start], z[:stop - start], r[:stop - start], d[:stop - start]
        np.clip(x[start:stop], -clip, clip, out=u)
        np.multiply(u, u, out=z)
        np.multiply(z, p[-1], out=r)
        r += p[-2]
        for c in p[-3::-1]:
            r *= z
            r += c
        np.add(z, q[-2], out=d)
        for c in q[-3::-1]:
            d *= z
            d += c
        r /= d
        if offset:
            r *= u
            np.add(r, offset, out=out[start:stop])
        else:
            np.multiply(r, u, out=out[start:stop])
    return out


def _rational_path(x, p, q, clip, offset, work32):
    """Apply ``_odd_rational`` to a float32 or float16 array: float16 works in float32, float32
    in ``work32``; the result has the input's dtype and shape."""
    shape, dtype = x.shape, x.dtype
    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    work = np.float32 if dtype == np.float16 else work32
    out = np.empty(flat.size, np.float32)
    with np.errstate(all="ignore"):
        _odd_rational(flat, p, q, clip, offset, work, out)
    return out.reshape(shape).astype(dtype, copy=False)


def _erf_central(x, coef, complement):
    """erf (or erfc) for ``|x| < 1``: ``x * E(x*x)``."""
    r = _horner(x * x, coef)
    r *= x
    if complement:
        np.subtract(1.0, r, out=r)
    return r


def _erfc_tail(a, coefs, region, precise, single):
    """erfc(a) for ``a >= 1`` in ``region`` 1..4 (see the module docstring)."""
    if region == 1:
        p = _horner(a - 1.5, coefs[1])
    else:
        t = 1.0 / a
        if region == 4:
            p = _horner(t * t, coefs[4])
            a = np.minimum(a, 30.0)  # erfc underflows long before; keeps inf out of the split
        else:
            p = _horner(t - _ERF_CENTERS[region], coefs[region])
        p *= t
    p *= _exp_neg_sq(a, precise, single)
    return p


def _erf_flat(x, coefs, complement):
    """erf(x) (``complement``: erfc(x)) of a contiguous 1-d float64 array."""
    # The central piece runs on every element (cheaper than gathering the usual majority of
    # |x| < 1); the few tail elements are gathered, computed and scattered over it.
    out = _erf_central(x, coefs[0], complement)
    a = np.abs(x)
    tail = np.flatnonzero(a >= 1.0)  # NaN stays with the central piece, which propagates it
    if tail.size == 0:
        return out
    single = coefs is not _ERF_F64
    xt = x[tail]
    at = a[tail]
    # The pieces above 1 are binades: [1, 2), [2, 4), [4, 8), [8, inf].
    binade = np.minimum((at.view(_i64) >> 52) - 1023, 3)
    ec = np.empty_like(at)
    for region in range(1, 5):
        sel, rest = _split(binade == region - 1)
        if sel is None:
            continue
        ec[sel] = _erfc_tail(at[sel], coefs, region, complement, single)
        if rest is None:
            break
    if complement:
        neg = np.flatnonzero(xt < 0)
        ec[neg] = 2.0 - ec[neg]
    else:
        np.subtract(1.0, ec, out=ec)
        np.copysign(ec, xt, out=ec)
    out[tail] = ec
    return out


def _split(mask):
    """Selectors of the True and the False elements of a 1-d ``mask``: index arrays, a whole
    slice, or None for an empty part. (Index arrays: NumPy's boolean indexing and ``where`` are
    several times slower than ``flatnonzero`` + fancy indexing on mixed masks.)"""
    n_true = int(np.count_nonzero(mask))
    if n_true == mask.size:
        return slice(None), None
    if n_true == 0:
        return None, slice(None)
    return np.flatnonzero(mask), np.flatnonzero(~mask)


def _float_result(x):
    """``(flat contiguous float64 copy-or-view, output dtype, shape)`` for an input array."""
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(_f64)
    flat = np.ascontiguousarray(x, dtype=_f64).reshape(-1)
    return flat, dtype, x.shape


def _finish(result, dtype, shape):
    return result.reshape(shape).astype(dtype, copy=False)


def _cupy_special():
    import cupyx.scipy.special  # noqa: PLC0415 - only for CUDA arrays

    return cupyx.scipy.special


def _is_numpy(x):
    return isinstance(x, np.ndarray | np.generic | float | int)


def erf(x):
    """The error function, elementwise.

    >>> import numpy as np
    >>> erf(np.array([0.0, 0.5, -3.0]))
    array([ 0.        ,  0.52049988, -0.99997791])
    """
    if not _is_numpy(x):
        return _cupy_special().erf(x)
    x = np.asarray(x)
    if x.dtype in _SINGLE and x.size > _SMALL:
        return _rational_path(x, _ERF_P, _ERF_Q, _ERF_CLIP, 0.0, _f64)
    flat, dtype, shape = _float_result(x)
    if flat.size <= _SMALL:
        return _finish(np.array([math.erf(v) for v in flat.tolist()]), dtype, shape)
    with np.errstate(all="ignore"):
        return _finish(_erf_flat(flat, _ERF_F64, False), dtype, shape)


def erfc(x):
    """The complementary error function ``1 - erf(x)``, accurate in the tails (erfc(10) is
    about 2.1e-45, not 0)."""
    if not _is_numpy(x):
        return _cupy_special().erfc(x)
    flat, dtype, shape = _float_result(x)
    if flat.size <= _SMALL:
        return _finish(np.array([math.erfc(v) for v in flat.tolist()]), dtype, shape)
    coefs = _ERF_F64 if dtype == _f64 else _ERF_F32
    with np.errstate(all="ignore"):
        return _finish(_erf_flat(flat, coefs, True), dtype, shape)


def ndtr(x):
    """The standard normal distribution function ``Phi(x) = (1 + erf(x / sqrt(2))) / 2``,
    elementwise (``x * ndtr(x)`` is the exact GELU).

    float64 goes through ``erfc(-x / sqrt(2)) / 2``, accurate in the lower tail too. float32 and
    float16 use erf's rational evaluated in float32, GELU's hot path: an absolute error of a few
    1e-8, as ``(1 + erf(x / sqrt(2))) / 2`` computed in float32 (PyTorch's GELU formula) has.

    >>> import numpy as np
    >>> ndtr(np.array([0.0, 1.0, -2.0]))
    array([0.5       , 0.84134475, 0.02275013])
    """
    if not _is_numpy(x):
        return 0.5 * _cupy_special().erfc(x * -_SQRT1_2)
    x = np.asarray(x)
    if x.dtype in _SINGLE and x.size > _SMALL:
        return _rational_path(x, _NDTR_P, _NDTR_Q, _NDTR_CLIP, 0.5, _NDTR_WORK)
    flat, dtype, shape = _float_result(x)
    if flat.size <= _SMALL:
        values = [0.5 * math.erfc(v * -_SQRT1_2) for v in flat.tolist()]
        return _finish(np.array(values), dtype, shape)
    with np.errstate(all="ignore"):
        out = _erf_flat(flat * -_SQRT1_2, _ERF_F64, True)
    out *= 0.5
    return _finish(out, dtype, shape)


def erfinv(x):
    """The inverse error function on ``[-1, 1]`` (``±inf`` at ``±1``, NaN outside).

    >>> import numpy as np
    >>> erfinv(np.array([0.0, 0.5, -0.999]))
    array([ 0.        ,  0.47693628, -2.32675377])
    """
    if not _is_numpy(x):
        return _cupy_special().erfinv(x)
    flat, dtype, shape = _float_result(x)
    with np.errstate(all="ignore"):
        return _finish(_erfinv_flat(flat), dtype, shape)


def _erfinv_flat(x):
    a = np.abs(x)
    y = np.empty_like(a)
    central, tail = _split(a < 0.999)
    if central is not None:
        ac = a[central]
        w = ac * ac
        np.negative(w, out=w)
        np.log1p(w, out=w)
        np.negative(w, out=w)
        w -= _ERFINV_CENTERS[0]
        p = _horner(w, _ERFINV[0])
        p *= ac
        y[central] = p
    if tail is not None:
        r = np.subtract(1.0, a[tail])
        np.log(r, out=r)
        np.negative(r, out=r)
        np.sqrt(r, out=r)
        r -= _ERFINV_CENTERS[1]
        y[tail] = _horner(r, _ERFINV[1])
    # One Halley step on f(y) = erf(y) - a; above 0.5 as (1 - a) - erfc(y), which keeps the
    # relative accuracy of the tiny differences near 1.
    f = np.empty_like(a)
    low, high = _split(a < 0.5)
    if low is not None:
        f[low] = _erf_flat(y[low], _ERF_F64, False) - a[low]
    if high is not None:
        f[high] = (1.0 - a[high]) - _erf_flat(y[high], _ERF_F64, True)
    d = y * y
    np.exp(d, out=d)
    d *= f
    d *= _SQRT_PI_OVER_2
    den = y * d
    den += 1.0
    d /= den
    y -= d
    y[a == 1.0] = np.inf
    return np.copysign(y, x, out=y)


# ---------------------------------------------------------------------------------------------
# Gamma family
# ---------------------------------------------------------------------------------------------

# Stirling series of lgamma, in v = 1/z**2, times 1/z: B_2k / (2k (2k - 1)).
_LGAMMA_SERIES = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156,
                  -3617 / 122400)
# Asymptotic series of digamma, in v = 1/z**2, times v: B_2k / 2k.
_DIGAMMA_SERIES = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12,
                   -3617 / 8160)
# Bernoulli numbers B_2 .. B_18.
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510,
              43867 / 798)
_MAX_STEPS = 100_000
_SHIFT = 10  # the recurrence moves arguments up to at least this before the series


def _sin_pi(x):
    """``|sin(pi * x)|`` without the argument error of ``pi * x`` for large ``x``."""
    r = x - np.round(x)
    r *= math.pi
    np.sin(r, out=r)
    return np.abs(r, out=r)


def _lgamma_positive(z):
    """lgamma for ``z >= 0.5`` (and NaN)."""
    small, _ = _split(z < _SHIFT)
    zz = z.copy()
    log_prod = None
    if small is not None:
        s = z[small]
        prod = s.copy()
        for k in range(1, _SHIFT):
            prod *= s + k
        log_prod = np.log(prod)
        zz[small] += _SHIFT
    w = 1.0 / zz
    series = _horner(w * w, _LGAMMA_SERIES)
    series *= w
    out = np.log(zz)
    out *= zz - 0.5
    out -= zz
    out += _HALF_LOG_2PI
    out += series
    if log_prod is not None:
        out[small] -= log_prod
    return out


def _lgamma_flat(x):
    reflect, _ = _split(x < 0.5)
    z = x if reflect is None else np.where(x < 0.5, 1.0 - x, x)
    out = _lgamma_positive(z)
    if reflect is not None:
        xr = x[reflect]
        # lgamma(x) = log(pi / |sin(pi x)|) - lgamma(1 - x)
        out[reflect] = np.log(math.pi / _sin_pi(xr)) - out[reflect]
    out[np.isinf(x)] = np.inf
    # Exact zeros at 1 and 2 (the shifted sum only gets within a few ulps of them).
    out[(x == 1.0) | (x == 2.0)] = 0.0
    return out


def lgamma(x):
    """``log|Gamma(x)|``, elementwise (``inf`` at the poles 0, -1, -2...).

    >>> import numpy as np
    >>> lgamma(np.array([0.5, 1.0, 10.0]))
    array([ 0.57236494,  0.        , 12.80182748])
    """
    if not _is_numpy(x):
        return _cupy_special().gammaln(x)
    flat, dtype, shape = _float_result(x)
    with np.errstate(all="ignore"):
        return _finish(_lgamma_flat(flat), dtype, shape)


def _digamma_positive(z):
    small, _ = _split(z < _SHIFT)
    zz = z.copy()
    acc = None
    if small is not None:
        s = z[small]
        acc = 1.0 / s
        for k in range(1, _SHIFT):
            acc += 1.0 / (s + k)
        zz[small] += _SHIFT
    w = 1.0 / zz
    v = w * w
    series = _horner(v, _DIGAMMA_SERIES)
    series *= v
    out = np.log(zz)
    w *= 0.5
    out -= w
    out -= series
    if acc is not None:
        out[small] -= acc
    return out


def _digamma_flat(x):
    reflect, _ = _split(x < 0.5)
    z = x if reflect is None else np.where(x < 0.5, 1.0 - x, x)
    out = _digamma_positive(z)
    if reflect is not None:
        xr = x[reflect]
        r = xr - np.round(xr)
        r *= math.pi
        # digamma(x) = digamma(1 - x) - pi / tan(pi x), and tan(pi x) = tan(pi r).
        out[reflect] -= math.pi / np.tan(r)
    # The poles: -inf at +0, +inf at -0 (PyTorch's choice), NaN at -1, -2...
    out[(x < 0) & (x == np.round(x))] = np.nan
    zero = x == 0
    if zero.any():
        out[zero] = np.copysign(np.inf, -x[zero])
    return out


def digamma(x):
    """The logarithmic derivative of the gamma function, elementwise.

    >>> import numpy as np
    >>> digamma(np.array([1.0, 0.5]))
    array([-0.57721566, -1.96351003])
    """
    if not _is_numpy(x):
        return _cupy_special().digamma(x)
    flat, dtype, shape = _float_result(x)
    with np.errstate(all="ignore"):
        return _finish(_digamma_flat(flat), dtype, shape)


def _polygamma_series(n, z):
    """polygamma(n, z) for n >= 1 and z >= 0.5: the recurrence up to ``10 + 2n``, then
    ``(-1)**(n+1) * [(n-1)!/z**n + n!/(2 z**(n+1)) + sum B_2k (2k+n-1)!/(2k)! / z**(2k+n)]``."""
    threshold = _SHIFT + 2 * n
    fact_n = float(math.factorial(n))
    small, _ = _split(z < threshold)
    zz = z.copy()
    acc = None
    if small is not None:
        s = z[small]
        acc = np.zeros_like(s)
        for k in range(threshold):
            acc += np.power(s + k, -(n + 1.0))
        zz[small] += threshold
    w = 1.0 / zz
    series = [b * math.factorial(2 * k + n - 1) / math.factorial(2 * k)
              for k, b in enumerate(_BERNOULLI, start=1)]
    out = _horner(w * w, [0.0, *series])
    out += (fact_n * 0.5) * w
    out += float(math.factorial(n - 1))
    out *= w**n
    if acc is not None:
        acc *= fact_n
        out[small] += acc
    out[np.isposinf(z)] = 0.0
    return out if n % 2 else np.negative(out, out=out)


def _polygamma_flat(n, x):
    reflect, _ = _split(x < 0.5)
    if reflect is None:
        return _polygamma_series(n, x)
    if n > 2:
        # No reflection formula here: shift the arguments below 0.5 up by whole steps (at most
        # _MAX_STEPS; arguments further down give NaN).
        xr = x[reflect]
        finite = xr[np.isfinite(xr)]
        steps = min(int(math.ceil(0.5 - finite.min())), _MAX_STEPS) if finite.size else 0
        acc = np.zeros_like(xr)
        shifted = xr.copy()
        for _ in range(steps):
            below = shifted < 0.5
            acc += np.where(below, np.power(shifted, -(n + 1.0)), 0.0)
            shifted += below
        acc *= float(math.factorial(n)) * (1.0 if n % 2 else -1.0)
        acc[shifted < 0.5] = np.nan
        out = _polygamma_series(n, np.where(x < 0.5, 1.0, x))
        out[reflect] = _polygamma_series(n, shifted) + acc
    else:
        out = _polygamma_series(n, np.where(x < 0.5, 1.0 - x, x))
        xr = x[reflect]
        r = xr - np.round(xr)
        r *= math.pi
        sin = np.sin(r)
        if n == 1:  # polygamma(1, x) = pi**2 / sin(pi x)**2 - polygamma(1, 1 - x)
            out[reflect] = (math.pi**2) / (sin * sin) - out[reflect]
        else:  # polygamma(2, x) = polygamma(2, 1 - x) - 2 pi**3 cos(pi x) / sin(pi x)**3
            out[reflect] -= (2 * math.pi**3) * np.cos(r) / (sin * sin * sin)
    poles = (x <= 0) & (x == np.round(x))
    out[poles] = np.inf if n % 2 else -np.inf
    out[np.isneginf(x)] = np.nan
    return out


def polygamma(n, x):
    """The ``n``-th derivative of digamma (``polygamma(0, x)`` is ``digamma(x)``).

    >>> import numpy as np
    >>> polygamma(1, np.array([1.0]))  # pi**2 / 6
    array([1.64493407])
    """
    n = int(n)
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    if n == 0:
        return digamma(x)
    if not _is_numpy(x):
        return _cupy_special().polygamma(n, x)
    flat, dtype, shape = _float_result(x)
    with np.errstate(all="ignore"):
        return _finish(_polygamma_flat(n, flat), dtype, shape)


# ---------------------------------------------------------------------------------------------
# How the tables were made (needs mpmath; not used at run time)
# ---------------------------------------------------------------------------------------------

def _cheb_poly(mp, f, lo, hi, deg, center):
    """Coefficients (lowest first) of the Chebyshev interpolant of ``f`` on ``[lo, hi]`` in
    powers of ``v - center``."""
    lo, hi, center = mp.mpf(lo), mp.mpf(hi), mp.mpf(center)
    n = deg + 1
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    nodes = [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / n) for k in range(n)]
    vals = [f(mid + half * s) for s in nodes]
    cheb = [2 * mp.fsum(vals[k] * mp.cos(mp.pi * j * (k + mp.mpf(1) / 2) / n) for k in range(n))
            / n for j in range(n)]
    cheb[0] /= 2
    # T_j(s) as polynomials in u = v - center, with s = alpha * u + beta.
    alpha, beta = 1 / half, (center - mid) / half
    t_prev, t_cur = [mp.mpf(1)], [beta, alpha]
    out = [cheb[0]] + [mp.mpf(0)] * deg
    for j in range(1, n):
        for i, c in enumerate(t_cur):
            out[i] += cheb[j] * c
        nxt = [mp.mpf(0)] * (len(t_cur) + 1)
        for i, c in enumerate(t_cur):
            nxt[i] += 2 * beta * c
            nxt[i + 1] += 2 * alpha * c
        for i, c in enumerate(t_prev):
            nxt[i] -= c
        t_prev, t_cur = t_cur, nxt
    return tuple(float(c) for c in out)


def _fit_tables():
    """Recompute ``_ERF_F64``, ``_ERF_F32`` and ``_ERFINV`` with mpmath (50 digits)."""
    import mpmath as mp  # noqa: PLC0415 - a development tool, not a dependency

    mp.mp.dps = 50

    def erfcx(a):
        return mp.exp(a * a) * mp.erfc(a)

    def e_of_z(z):
        return 2 / mp.sqrt(mp.pi) if z == 0 else mp.erf(mp.sqrt(z)) / mp.sqrt(z)

    def h_of_t(t):
        return erfcx(1 / t) / t

    def h_of_q(q):
        return 1 / mp.sqrt(mp.pi) if q == 0 else h_of_t(mp.sqrt(q))

    def erfinv_over_x(w):
        if w == 0:
            return mp.sqrt(mp.pi) / 2
        x = mp.sqrt(-mp.expm1(-w))
        return mp.erfinv(x) / x

    def erfinv_tail(r):
        return mp.erfinv(1 - mp.exp(-r * r))

    regions = [  # (function, lo, hi, center, degree for float64, degree for float32)
        (e_of_z, 0, 1, 0, 11, 6),
        (erfcx, 1, 2, 1.5, 15, 8),
        (h_of_t, 0.25, 0.5, 0.375, 13, 7),
        (h_of_t, 0.125, 0.25, 0.1875, 11, 5),
        (h_of_q, 0, 1 / 64, 0, 8, 4),
    ]
    f64 = tuple(_cheb_poly(mp, f, lo, hi, d64, c) for f, lo, hi, c, d64, _ in regions)
    f32 = tuple(_cheb_poly(mp, f, lo, hi, d32, c) for f, lo, hi, c, _, d32 in regions)
    inv = (_cheb_poly(mp, erfinv_over_x, 0, 6.25, 10, 3.125),
           _cheb_poly(mp, erfinv_tail, 2.49, 6.08, 8, 4.285))
    return {"_ERF_F64": f64, "_ERF_F32": f32, "_ERFINV": inv}


def _fit_erf_rational(p_deg=5, q_deg=5, clip=3.92, points=2000, rounds=200):
    """Recompute ``_ERF_P`` and ``_ERF_Q``: the rational ``P(z) / Q(z)``, ``z = x*x``, closest to
    ``erf(x) / x`` on ``[0, clip]`` in the relative minimax sense. Lawson's iteration on the
    linearised problem: each round solves the weighted least squares ``P - f*Q ~ 0`` (weights
    ``1 / (f * Q_previous)``, ``Q(0) = 1``) with numpy's ``lstsq`` in the variable ``z / clip**2``,
    then multiplies each point's weight by its error, which drives the fit to equal ripples.
    Returns ``(P, monic Q, max relative error)``, lowest power first."""
    import mpmath as mp  # noqa: PLC0415 - a development tool, not a dependency

    mp.mp.dps = 30
    k = np.arange(points)
    x = np.concatenate([[0.0], clip * (0.5 - 0.5 * np.cos(np.pi * (k + 0.5) / points)), [clip]])
    f = np.array([float(mp.erf(v) / v) if v else _TWO_OVER_SQRT_PI
                  for v in (mp.mpf(float(v)) for v in x)])
    s = x * x / (clip * clip)
    pow_p = np.vander(s, p_deg + 1, increasing=True)
    pow_q = np.vander(s, q_deg + 1, increasing=True)[:, 1:]
    design = np.hstack([pow_p, -f[:, None] * pow_q])
    weight = np.full_like(s, 1.0 / s.size)
    q_prev = np.ones_like(s)
    best = (np.inf, None, None)
    for _ in range(rounds):
        row = np.sqrt(weight) / (f * q_prev)
        sol = np.linalg.lstsq(design * row[:, None], f * row, rcond=None)[0]
        p, q = sol[:p_deg + 1], np.concatenate([[1.0], sol[p_deg + 1:]])
        q_prev = np.polynomial.polynomial.polyval(s, q)
        err = np.polynomial.polynomial.polyval(s, p) / q_prev / f - 1.0
        worst = float(np.abs(err).max())
        if worst < best[0]:
            best = (worst, p, q)
        weight = weight * np.abs(err)
        weight /= weight.sum()
    worst, p, q = best
    # Back to powers of z, Q made monic (saves a multiply when evaluating).
    p = p / (clip * clip) ** np.arange(p_deg + 1)
    q = q / (clip * clip) ** np.arange(q_deg + 1)
    return tuple((p / q[-1]).tolist()), tuple((q / q[-1]).tolist()), worst


if __name__ == "__main__":
    import pprint

    pprint.pprint(_fit_tables(), width=100)
    pprint.pprint(dict(zip(("_ERF_P", "_ERF_Q", "max relative error"), _fit_erf_rational(),
                           strict=True)), width=100)
