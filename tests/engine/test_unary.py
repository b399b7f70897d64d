"""Elementwise math (probe.engine.ops.unary) and the special functions behind it
(probe.engine.special): values, dtypes, gradients (gradcheck and gradgradcheck), PyTorch's
errors, silence about floating-point errors, and the NumPy-named functions for differentiable
backwards."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import probe
from probe.autograd import gradcheck, gradgradcheck
from probe.engine import special, tensor_ns


def to_np(t):
    return t.detach().cpu().numpy()


def _t(values, device, requires_grad=True, dtype=probe.float64):
    return probe.tensor(np.asarray(values, dtype=np.float64), dtype=dtype, device=device,
                        requires_grad=requires_grad)


def _uniform(lo, hi, shape=(3, 2), seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, shape)


GENERAL = _uniform(-2.0, 2.0)
POSITIVE = _uniform(0.2, 2.0)
UNIT = _uniform(-0.8, 0.8)
ABOVE_ONE = _uniform(1.2, 3.0)
OPEN_UNIT = _uniform(0.1, 0.9)
NEGATIVE_FRACTIONS = _uniform(-0.9, -0.1)
# Away from integers (floor/ceil/round kinks): k + 0.1 .. k + 0.4
OFF_INTEGERS = _uniform(0.1, 0.4) + np.arange(-3, 3).reshape(3, 2)

# name -> (function, input values); every differentiable op, with argument variants
GRAD_CASES = {
    "exp": (probe.exp, GENERAL),
    "exp2": (probe.exp2, GENERAL),
    "expm1": (probe.expm1, GENERAL),
    "log": (probe.log, POSITIVE),
    "log2": (probe.log2, POSITIVE),
    "log10": (probe.log10, POSITIVE),
    "log1p": (probe.log1p, POSITIVE),
    "sqrt": (probe.sqrt, POSITIVE),
    "rsqrt": (probe.rsqrt, POSITIVE),
    "reciprocal": (probe.reciprocal, POSITIVE),
    "sin": (probe.sin, GENERAL),
    "cos": (probe.cos, GENERAL),
    "tan": (probe.tan, UNIT),
    "asin": (probe.asin, UNIT),
    "arcsin": (probe.arcsin, UNIT),
    "acos": (probe.acos, UNIT),
    "atan": (probe.atan, GENERAL),
    "sinh": (probe.sinh, GENERAL),
    "cosh": (probe.cosh, GENERAL),
    "tanh": (probe.tanh, GENERAL),
    "asinh": (probe.asinh, GENERAL),
    "acosh": (probe.acosh, ABOVE_ONE),
    "atanh": (probe.atanh, UNIT),
    "sigmoid": (probe.sigmoid, GENERAL),
    "logit": (probe.logit, OPEN_UNIT),
    "logit_eps": (lambda t: probe.logit(t, eps=0.05), OPEN_UNIT),
    "relu": (probe.relu, GENERAL),
    "abs": (probe.abs, GENERAL),
    "neg": (probe.neg, GENERAL),
    "neg_operator": (lambda t: -t, GENERAL),
    "frac": (probe.frac, OFF_INTEGERS),
    "floor": (probe.floor, OFF_INTEGERS),
    "ceil": (probe.ceil, OFF_INTEGERS),
    "trunc": (probe.trunc, OFF_INTEGERS),
    "round": (probe.round, OFF_INTEGERS),
    "round_decimals": (lambda t: probe.round(t, decimals=1), OFF_INTEGERS + 0.01),
    "sign": (probe.sign, GENERAL),
    "sgn": (probe.sgn, GENERAL),
    "erf": (probe.erf, GENERAL),
    "erf_tails": (probe.erf, GENERAL * 3),
    "erfc": (probe.erfc, GENERAL),
    "erfinv": (probe.erfinv, UNIT),
    "lgamma": (probe.lgamma, POSITIVE),
    "lgamma_negative": (probe.lgamma, NEGATIVE_FRACTIONS),
    "digamma": (probe.digamma, POSITIVE),
    "digamma_negative": (probe.digamma, NEGATIVE_FRACTIONS),
    "polygamma1": (lambda t: probe.polygamma(1, t), POSITIVE),
    "polygamma3": (lambda t: probe.polygamma(3, t), POSITIVE),
    "deg2rad": (probe.deg2rad, GENERAL),
    "rad2deg": (probe.rad2deg, GENERAL),
    "nan_to_num": (probe.nan_to_num, GENERAL),
    "clamp": (lambda t: probe.clamp(t, -1, 1), GENERAL),
    "clamp_min_only": (lambda t: probe.clamp(t, min=0.3), GENERAL),
    "clamp_max_only": (lambda t: probe.clamp(t, max=0.3), GENERAL),
    "clip": (lambda t: probe.clip(t, -0.5, 0.5), GENERAL),
    "clamp_method": (lambda t: t.clamp(-1.5, 0.7), GENERAL),
    "clamp_min": (lambda t: probe.clamp_min(t, 0.3), GENERAL),
    "clamp_max": (lambda t: probe.clamp_max(t, 0.3), GENERAL),
    "logaddexp": (lambda t: probe.logaddexp(t, t * 0.5 + 1), GENERAL),
    "logaddexp2": (lambda t: probe.logaddexp2(t, t * 0.5 + 1), GENERAL),
    "hypot": (lambda t: probe.hypot(t, t + 3), GENERAL),
    "xlogy": (lambda t: probe.xlogy(t, t * t), POSITIVE),
    "xlogy_number_self": (lambda t: probe.xlogy(2.0, t), POSITIVE),
    "xlogy_number_other": (lambda t: probe.xlogy(t, 3.0), GENERAL),
    "lerp": (lambda t: probe.lerp(t, t * t, 0.3), GENERAL),
    "lerp_high_weight": (lambda t: probe.lerp(t, t * t, 0.8), GENERAL),
    "lerp_tensor_weight": (lambda t: probe.lerp(t, t * t, probe.sigmoid(t)), GENERAL),
}

GRADGRAD = ["exp", "tanh", "sigmoid", "sin", "log", "sqrt", "clamp", "abs", "erf", "erfinv",
            "rsqrt", "reciprocal", "tan", "asin", "atanh", "logit", "lgamma", "digamma",
            "logaddexp", "hypot", "xlogy", "lerp_tensor_weight", "relu", "expm1", "cosh"]


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradcheck(name, device):
    fn, values = GRAD_CASES[name]
    assert gradcheck(fn, (_t(values, device),))


@pytest.mark.parametrize("name", GRADGRAD)
def test_gradgradcheck(name, device):
    fn, values = GRAD_CASES[name]
    assert gradgradcheck(fn, (_t(values, device),))


def test_gradcheck_clamp_tensor_bounds(device):
    x = _t(GENERAL, device)
    lo = _t([-1.0, -0.5], device)
    hi = _t([[1.0, 0.5], [0.2, 0.9], [1.5, 1.9]], device)
    assert gradcheck(lambda a, b, c: probe.clamp(a, b, c), (x, lo, hi))
    assert gradcheck(lambda a, b: probe.clamp(a, min=b), (x, lo))
    assert gradcheck(lambda a, c: probe.clamp(a, max=c), (x, hi))
    assert gradcheck(lambda a, b: probe.clamp_min(a, b), (x, lo))
    assert gradcheck(lambda a, c: probe.clamp_max(a, c), (x, hi))
    assert gradgradcheck(lambda a, b, c: probe.clamp(a, b, c), (x, lo, hi))


def test_gradcheck_binary_both_inputs(device):
    a = _t(GENERAL, device)
    b = _t(_uniform(-1.0, 1.0, seed=1), device)
    p = _t(POSITIVE, device)
    w = _t(OPEN_UNIT, device)
    assert gradcheck(probe.logaddexp, (a, b))
    assert gradcheck(probe.logaddexp2, (a, b))
    assert gradcheck(probe.hypot, (a, b))
    assert gradcheck(probe.xlogy, (a, p))
    assert gradcheck(probe.lerp, (a, b, w))
    assert gradgradcheck(probe.lerp, (a, b, w))
    # broadcasting: the engine reduces each gradient to its input's shape
    row = _t([0.3, -0.2], device)
    assert gradcheck(probe.hypot, (a, row))
    assert gradcheck(lambda x, r: probe.lerp(x, r.expand(3, 2), 0.25), (a, row))


def test_clamp_gradient_at_bounds_and_nan(device):
    x = _t([-1.0, 0.0, 0.5, 1.0, 2.0, math.nan], device)
    probe.clamp(x, 0.0, 1.0).sum().backward()
    assert to_np(x.grad).tolist() == [0.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    # min > max: everything is max, and no gradient reaches the input
    x.grad = None
    y = probe.clamp(x, 1.0, 0.0)
    y.sum().backward()
    assert to_np(y)[:5].tolist() == [0.0] * 5
    assert to_np(x.grad).tolist() == [0.0] * 6


def test_clamp_tensor_bound_gradients(device):
    x = _t([-1.0, 0.0, 0.5, 1.0, 2.0], device)
    lo = _t([0.0] * 5, device)
    hi = _t([1.0] * 5, device)
    probe.clamp(x, lo, hi).sum().backward()
    assert to_np(x.grad).tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert to_np(lo.grad).tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert to_np(hi.grad).tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]


def test_grad_fn_names(device):
    x = _t(POSITIVE, device) * 0.4
    names = {
        probe.relu(x): "ReluBackward0", probe.sigmoid(x): "SigmoidBackward0",
        probe.abs(x): "AbsBackward0", -x: "NegBackward0", probe.clamp(x, -1, 1): "ClampBackward1",
        probe.clamp(x, min=0.1): "ClampBackward1",
        probe.clamp(x, probe.tensor(0.0, dtype=probe.float64, device=device), 1.0):
            "ClampBackward1",
        probe.clamp(x, max=probe.tensor(1.0, dtype=probe.float64, device=device)):
            "ClampBackward0",
        probe.clamp_min(x, 0.1): "ClampMinBackward0",
        probe.clamp_max(x, probe.tensor(0.1, dtype=probe.float64, device=device)):
            "ClampMaxBackward1",
        probe.round(x): "RoundBackward0", probe.round(x, decimals=2): "RoundBackward1",
        probe.log1p(x): "Log1PBackward0", probe.fix(x): "TruncBackward0",
        probe.erfinv(x): "ErfinvBackward0", probe.polygamma(2, x): "PolygammaBackward0",
        probe.xlogy(x, 2.0): "XlogyBackward2", probe.xlogy(2.0, x): "XlogyBackward1",
        probe.lerp(x, x, 0.5): "LerpBackward0", probe.lerp(x, x, x): "LerpBackward1",
        probe.deg2rad(x): "Deg2RadBackward0", probe.nan_to_num(x): "NanToNumBackward0",
        probe.logaddexp(x, x): "LogaddexpBackward0", probe.hypot(x, x): "HypotBackward0",
    }
    for result, name in names.items():
        assert type(result.grad_fn).__name__ == name


# ------------------------------------------------------------------ dtypes


FLOAT_FUNCS = ["exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt",
               "reciprocal", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
               "asinh", "acosh", "atanh", "sigmoid", "logit", "erf", "erfc", "erfinv", "lgamma",
               "digamma", "deg2rad", "rad2deg"]


@pytest.mark.parametrize("name", FLOAT_FUNCS)
def test_integer_and_bool_inputs_give_default_float(name, device):
    fn = getattr(probe, name)
    assert fn(probe.tensor([1, 2, 3], device=device)).dtype == probe.float32
    assert fn(probe.tensor([True, False], device=device)).dtype == probe.float32
    assert fn(probe.tensor([1, 2], dtype=probe.int32, device=device)).dtype == probe.float32


@pytest.mark.parametrize("name", FLOAT_FUNCS)
@pytest.mark.parametrize("dtype", [probe.float32, probe.float64])
def test_float_dtype_kept(name, dtype, device):
    x = probe.tensor([0.25, 0.5], dtype=dtype, device=device, requires_grad=True)
    y = getattr(probe, name)(x + 0.5 if name == "acosh" else x)
    assert y.dtype == dtype
    y.sum().backward()
    assert x.grad.dtype == dtype


def test_default_dtype_float64_for_integer_inputs(device):
    old = probe.get_default_dtype()
    probe.set_default_dtype(probe.float64)
    try:
        assert probe.exp(probe.tensor([1], device=device)).dtype == probe.float64
    finally:
        probe.set_default_dtype(old)


def test_float16_inputs(device):
    x = probe.tensor([0.5, -1.0], dtype=probe.float16, device=device)
    for fn in (probe.exp, probe.sigmoid, probe.erf, probe.tanh, probe.sqrt, probe.lgamma):
        assert fn(x).dtype == probe.float16


def test_integer_preserving_ops(device):
    i = probe.tensor([-2, 0, 3], device=device)
    assert probe.relu(i).tolist() == [0, 0, 3] and probe.relu(i).dtype == probe.int64
    assert probe.abs(i).tolist() == [2, 0, 3]
    assert probe.neg(i).tolist() == [2, 0, -3]
    assert probe.sign(i).tolist() == [-1, 0, 1] and probe.sign(i).dtype == probe.int64
    for fn in (probe.floor, probe.ceil, probe.round, probe.trunc):
        r = fn(i)
        assert r.dtype == probe.int64 and r.tolist() == [-2, 0, 3]
    b = probe.tensor([True, False], device=device)
    assert probe.sign(b).dtype == probe.bool
    assert probe.nan_to_num(i).tolist() == [-2, 0, 3]
    i32 = probe.tensor([-5, 5], dtype=probe.int32, device=device)
    assert probe.relu(i32).dtype == probe.int32
    assert probe.clamp(i32, 0, 3).dtype == probe.int32


def test_clamp_dtypes(device):
    i = probe.tensor([-2, 0, 3], device=device)
    assert probe.clamp(i, 0.5).dtype == probe.float32
    assert probe.clamp(i, 0, 1).dtype == probe.int64
    assert probe.clamp(i, None, 2.5).tolist() == [-2.0, 0.0, 2.5]
    b = probe.tensor([True, False], device=device)
    assert probe.clamp(b, 0, 1).dtype == probe.int64
    f = probe.tensor([1.0, 2.0], device=device)
    assert probe.clamp(f, probe.tensor(1.5, dtype=probe.float64, device=device)).dtype == \
        probe.float32
    assert probe.clamp(f, probe.tensor([1.5], dtype=probe.float64, device=device)).dtype == \
        probe.float64


def test_xlogy_dtypes_and_values(device):
    i = probe.tensor([-2, 0, 3], device=device)
    assert probe.xlogy(i, i).dtype == probe.float32
    assert probe.xlogy(i, 2.0).dtype == probe.float32
    x = probe.tensor([0.0, 0.0, 1.0, 2.0, 0.0], device=device)
    y = probe.tensor([0.0, -1.0, 2.0, 0.0, math.nan], device=device)
    out = to_np(probe.xlogy(x, y))
    assert out[0] == 0 and out[1] == 0 and math.isclose(out[2], math.log(2), rel_tol=1e-6)
    assert out[3] == -math.inf and math.isnan(out[4])


# ------------------------------------------------------------------ values


def test_values_against_numpy(device):
    x = np.array([0.1, 0.5, 0.9])
    t = probe.tensor(x, dtype=probe.float64, device=device)
    for name, ref in [("exp", np.exp), ("log", np.log), ("sqrt", np.sqrt), ("sin", np.sin),
                      ("tanh", np.tanh), ("asin", np.arcsin), ("log1p", np.log1p),
                      ("expm1", np.expm1), ("exp2", np.exp2), ("log2", np.log2)]:
        np.testing.assert_allclose(to_np(getattr(probe, name)(t)), ref(x), rtol=1e-14)
    np.testing.assert_allclose(to_np(probe.sigmoid(t)), 1 / (1 + np.exp(-x)), rtol=1e-14)
    np.testing.assert_allclose(to_np(probe.rsqrt(t)), 1 / np.sqrt(x), rtol=1e-14)
    np.testing.assert_allclose(to_np(probe.logit(t)), np.log(x / (1 - x)), rtol=1e-12)


def test_sign_round_frac_specials(device):
    x = probe.tensor([-0.0, math.nan, -2.5, 0.5, 1.5, 2.5, -1.75], device=device)
    assert to_np(probe.sign(x)).tolist()[:2] == [0.0, 0.0]  # NaN gives 0, as PyTorch
    assert to_np(probe.round(x)).tolist()[2:] == [-2.0, 0.0, 2.0, 2.0, -2.0]  # half to even
    assert to_np(probe.frac(x)).tolist()[-1] == -0.75
    r = probe.round(probe.tensor([1.2345, 1234.5], device=device), decimals=2)
    np.testing.assert_allclose(to_np(r), [1.23, 1234.5], rtol=1e-6)
    r = probe.round(probe.tensor([1234.5, 2.5], device=device), decimals=-1)
    assert to_np(r).tolist() == [1230.0, 0.0]


def test_sigmoid_extremes_and_logit_eps(device):
    s = to_np(probe.sigmoid(probe.tensor([-1000.0, 0.0, 1000.0], device=device)))
    assert s.tolist() == [0.0, 0.5, 1.0]
    lo = to_np(probe.logit(probe.tensor([0.0, 0.05, 0.5, 1.0, 2.0], device=device), eps=0.1))
    np.testing.assert_allclose(lo, [-2.1972246, -2.1972246, 0.0, 2.1972246, 2.1972246],
                               rtol=1e-6)
    x = _t([0.0, 0.05, 0.1, 0.5, 0.9, 1.0], device)
    probe.logit(x, eps=0.1).sum().backward()
    np.testing.assert_allclose(to_np(x.grad), [0, 0, 1 / 0.09, 4, 1 / 0.09, 0], rtol=1e-12)


def test_nan_to_num(device):
    x = probe.tensor([math.nan, math.inf, -math.inf, 1.0], device=device)
    out = to_np(probe.nan_to_num(x))
    assert out.tolist() == [0.0, float(np.finfo(np.float32).max),
                            float(np.finfo(np.float32).min), 1.0]
    out = to_np(probe.nan_to_num(x, nan=2.0, posinf=3.0, neginf=-3.0))
    assert out.tolist() == [2.0, 3.0, -3.0, 1.0]
    g = _t([math.nan, math.inf, -math.inf, 1.0], device)
    probe.nan_to_num(g).sum().backward()
    assert to_np(g.grad).tolist() == [0.0, 0.0, 0.0, 1.0]


def test_lerp_values_and_exact_ends(device):
    a = probe.tensor([1.0, 2.0], device=device)
    b = probe.tensor([3.0, 5.0], device=device)
    assert to_np(probe.lerp(a, b, 0.0)).tolist() == [1.0, 2.0]
    assert to_np(probe.lerp(a, b, 1.0)).tolist() == [3.0, 5.0]
    w = probe.tensor([0.25, 0.75], device=device)
    assert to_np(probe.lerp(a, b, w)).tolist() == [1.5, 4.25]
    assert to_np(a.lerp(b, 0.5)).tolist() == [2.0, 3.5]


def test_logaddexp_extremes(device):
    a = probe.tensor([-math.inf, 1000.0, math.inf], dtype=probe.float64, device=device)
    out = to_np(probe.logaddexp(a, a))
    assert out[0] == -math.inf and out[2] == math.inf
    assert math.isclose(out[1], 1000 + math.log(2), rel_tol=1e-15)


def test_out_argument(device):
    x = probe.tensor([0.0, 1.0], device=device)
    out = probe.empty(2, device=device)
    r = probe.exp(x, out=out)
    assert r is out and to_np(out).tolist() == [1.0, pytest.approx(math.e)]
    probe.clamp(x, 0.5, out=out)
    assert to_np(out).tolist() == [0.5, 1.0]


def test_methods_and_operators(device):
    x = probe.tensor([-1.5, 0.25], device=device)
    assert to_np(x.abs()).tolist() == [1.5, 0.25]
    assert to_np(abs(x)).tolist() == [1.5, 0.25]
    assert to_np(-x).tolist() == [1.5, -0.25]
    assert (+x) is x
    assert to_np(x.clamp(min=0)).tolist() == [0.0, 0.25]
    assert to_np(x.clip(-1, 0)).tolist() == [-1.0, 0.0]
    assert to_np(x.relu()).tolist() == [0.0, 0.25]
    assert to_np(x.floor()).tolist() == [-2.0, 0.0]
    np.testing.assert_allclose(to_np(x.round(decimals=1)), [-1.5, 0.2], rtol=1e-6)
    assert x.polygamma(1).shape == x.shape
    assert x.arctan().dtype == probe.float32
    assert x.conj() is x and x.resolve_conj() is x and not x.is_conj()


def test_no_graph_without_grad(device):
    x = probe.tensor([1.0, 2.0], device=device)
    assert probe.exp(x).grad_fn is None
    w = probe.tensor([1.0, 2.0], device=device, requires_grad=True)
    with probe.no_grad():
        y = probe.sigmoid(w)
    assert y.grad_fn is None and not y.requires_grad


def test_sigmoid_tanh_exp_save_their_output(device):
    # The saved tensor is the output: changing it in place is caught at backward time.
    x = probe.tensor([0.5, 1.0], device=device, requires_grad=True)
    for fn, name in ((probe.sigmoid, "Sigmoid"), (probe.tanh, "Tanh"), (probe.exp, "Exp"),
                     (probe.sqrt, "Sqrt")):
        y = fn(x)
        y.data.mul_(1)  # not tracked: no error
        y2 = fn(x)
        y2.add_(1)
        with pytest.raises(RuntimeError, match=f"output 0 of {name}"):
            y2.sum().backward()


# ------------------------------------------------------------------ errors


def test_errors(device):
    b = probe.tensor([True, False], device=device)
    i = probe.tensor([1, 2], device=device)
    f = probe.tensor([1.0, 2.0], device=device)
    with pytest.raises(RuntimeError, match="Negation, the `-` operator, on a bool tensor"):
        _ = -b
    with pytest.raises(NotImplementedError, match="\"abs_.*\" not implemented for 'Bool'"):
        probe.abs(b)
    with pytest.raises(RuntimeError, match="Boolean inputs not supported for relu"):
        probe.relu(b)
    with pytest.raises(NotImplementedError, match="\"frac_.*\" not implemented for 'Long'"):
        probe.frac(i)
    with pytest.raises(NotImplementedError, match="\"floor_vml_.*\" not implemented for 'Bool'"):
        probe.floor(b)
    with pytest.raises(NotImplementedError, match="\"round_.*\" not implemented for 'Long'"):
        probe.round(i, decimals=1)
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max' must not be None"):
        probe.clamp(f)
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max' must not be None"):
        f.clip(None, None)
    with pytest.raises(TypeError, match=r"exp\(\): argument 'input' \(position 1\) must be "
                                        "Tensor, not float"):
        probe.exp(1.0)
    with pytest.raises(TypeError, match="argument 'other' .* must be Tensor, not float"):
        probe.logaddexp(f, 2.0)
    with pytest.raises(NotImplementedError, match="\"hypot_.*\" not implemented for 'Long'"):
        probe.hypot(i, i)
    with pytest.raises(RuntimeError, match="expected dtype float for `end` but got dtype double"):
        probe.lerp(f, f.double(), 0.5)
    with pytest.raises(RuntimeError,
                       match="expected dtype float for `weight` but got dtype double"):
        probe.lerp(f, f, f.double())
    with pytest.raises(RuntimeError, match="does not support negative n"):
        probe.polygamma(-1, f)


def test_no_numpy_warnings(device):
    x = probe.tensor([0.0, -1.0, 1000.0, -1000.0, 2.0], device=device, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn in (probe.log, probe.sqrt, probe.rsqrt, probe.reciprocal, probe.exp,
                   probe.sigmoid, probe.log1p, probe.acosh, probe.atanh, probe.asin,
                   probe.lgamma, probe.digamma, probe.erfinv, probe.logit, probe.cosh):
            x.grad = None
            fn(x).sum().backward()
        x.grad = None
        probe.xlogy(x, x).sum().backward()
        x.grad = None
        probe.hypot(x * 0, x * 0).sum().backward()


# ------------------------------------------------------------------ special functions


def _erf_grid():
    return np.concatenate([np.linspace(-6.5, 6.5, 26001), [1e-300, -1e-310, 1e-8, 1.0, 2.0, 4.0,
                                                          8.0, -0.9999999999]])


def _max_rel_error(got, ref):
    ref = np.asarray(ref)
    with np.errstate(all="ignore"):
        err = np.abs(got - ref) / np.abs(ref)
    err[got == ref] = 0.0
    return float(np.max(err))


def test_special_erf_matches_math_erf():
    x = _erf_grid()
    assert _max_rel_error(special.erf(x), [math.erf(v) for v in x]) < 2e-15


def test_special_erfc_matches_math_erfc_into_the_tail():
    x = np.concatenate([np.linspace(-6, 26.5, 32501), [1.0, 2.0, 4.0, 8.0, 25.0, 26.0]])
    assert _max_rel_error(special.erfc(x), [math.erfc(v) for v in x]) < 3e-15


def test_special_erfinv_inverts_erf():
    y = np.concatenate([np.linspace(-0.999999, 0.999999, 20001), np.logspace(-300, -1, 60)])
    x = special.erfinv(y)
    assert _max_rel_error(special.erf(x), y) < 3e-15
    tail = 1 - np.logspace(-15, -2, 200)
    assert _max_rel_error(special.erfc(special.erfinv(tail)), 1 - tail) < 1e-12


def test_special_erfinv_high_precision():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    y = np.concatenate([np.linspace(-0.9999, 0.9999, 801), 1 - np.logspace(-16, -1, 40)])
    ref = [float(mpmath.erfinv(mpmath.mpf(float(v)))) for v in y]
    assert _max_rel_error(special.erfinv(y), ref) < 2e-15


@pytest.mark.parametrize("repeat", [1, 100], ids=["small", "vectorised"])
def test_special_values(repeat):
    inf, nan = math.inf, math.nan

    def values(v):
        return np.tile(np.array(v), repeat)

    e = special.erf(values([-0.0, inf, -inf, nan, 30.0]))
    assert math.copysign(1, e[0]) == -1 and e[1:3].tolist() == [1.0, -1.0]
    assert math.isnan(e[3]) and e[4] == 1.0
    c = special.erfc(values([-inf, inf, nan, -30.0, 40.0]))
    assert c[0] == 2.0 and c[1] == 0.0 and math.isnan(c[2]) and c[3] == 2.0 and c[4] == 0.0
    i = special.erfinv(values([1.0, -1.0, 1.5, -0.0, nan]))
    assert i[0] == inf and i[1] == -inf and math.isnan(i[2]) and math.copysign(1, i[3]) == -1
    assert math.isnan(i[4])


def test_special_preserves_dtype_and_shape():
    x32 = np.array([[0.5, -2.0], [3.0, 0.1]], dtype=np.float32)
    for fn in (special.erf, special.erfc, special.erfinv, special.lgamma, special.digamma):
        out = fn(x32)
        assert out.dtype == np.float32 and out.shape == (2, 2)
    assert special.erf(np.float64(0.5)).shape == ()
    assert special.erf(np.zeros((0, 3))).shape == (0, 3)
    assert special.erf(np.arange(6.0).reshape(2, 3).T).shape == (3, 2)
    assert special.erf(np.array([1, 2])).dtype == np.float64


def test_special_float32_is_correctly_rounded_mostly():
    x = (np.random.default_rng(3).standard_normal(20000) * 3).astype(np.float32)
    ref = special.erf(x.astype(np.float64)).astype(np.float32)
    ulps = np.abs(special.erf(x).view(np.int32).astype(np.int64) - ref.view(np.int32))
    assert ulps.max() <= 1


def test_special_gamma_family_high_precision():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30
    x = np.concatenate([np.linspace(0.05, 40, 400), np.linspace(-7.95, -0.05, 80) + 1e-3])
    for fn, ref in ((special.digamma, mpmath.digamma),
                    (lambda v: special.polygamma(1, v), lambda v: mpmath.polygamma(1, v)),
                    (lambda v: special.polygamma(2, v), lambda v: mpmath.polygamma(2, v)),
                    (lambda v: special.polygamma(4, v), lambda v: mpmath.polygamma(4, v))):
        expected = np.array([float(ref(mpmath.mpf(float(v)))) for v in x])
        np.testing.assert_allclose(fn(x), expected, rtol=1e-12, atol=1e-13)


def test_special_gamma_family():
    x = np.concatenate([np.linspace(0.01, 30, 3000), np.linspace(-9.99, -0.01, 999) + 1e-3])
    lg = special.lgamma(x)
    ref = np.array([math.lgamma(v) for v in x])
    np.testing.assert_allclose(lg, ref, rtol=1e-12, atol=1e-13)
    assert special.lgamma(np.array([1.0, 2.0])).tolist() == [0.0, 0.0]
    lg_specials = special.lgamma(np.array([0.0, -1.0, math.inf, -math.inf, 1e-300]))
    assert lg_specials[:4].tolist() == [math.inf] * 4
    assert math.isclose(lg_specials[4], 690.7755278982137, rel_tol=1e-15)
    # digamma as the derivative of lgamma (away from the poles), and known values
    x = x[np.abs(x - np.round(x)) > 0.05]
    h = 1e-5
    num = (special.lgamma(x + h) - special.lgamma(x - h)) / (2 * h)
    np.testing.assert_allclose(special.digamma(x), num, rtol=1e-6, atol=1e-6)
    euler = 0.5772156649015329
    assert math.isclose(special.digamma(np.array([1.0]))[0], -euler, rel_tol=1e-15)
    d = special.digamma(np.array([0.0, -0.0, -1.0, math.inf]))
    assert d[0] == -math.inf and d[1] == math.inf and math.isnan(d[2]) and d[3] == math.inf
    assert math.isclose(special.polygamma(1, np.array([1.0]))[0], math.pi**2 / 6, rel_tol=1e-15)
    assert math.isclose(special.polygamma(2, np.array([1.0]))[0], -2 * 1.2020569031595942,
                        rel_tol=1e-14)
    num = (special.polygamma(2, x + h) - special.polygamma(2, x - h)) / (2 * h)
    np.testing.assert_allclose(special.polygamma(3, x), num, rtol=1e-5, atol=1e-5)


def test_erf_of_large_float32_tensor(device):
    x = np.random.default_rng(0).standard_normal(100_000).astype(np.float32) * 2
    t = probe.tensor(x, device=device)
    out = to_np(probe.erf(t))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, special.erf(x.astype(np.float64)), rtol=2e-7, atol=1e-30)


# ------------------------------------------------------------------ tensor_ns (create_graph)

NUMPY_NAMES = ["exp", "log", "log1p", "sqrt", "sin", "cos", "tan", "tanh", "sinh", "cosh", "abs",
               "absolute", "sign", "floor", "ceil", "trunc", "negative", "reciprocal", "square",
               "arctan", "arcsin", "arccos", "erf", "erfc", "erfinv", "lgamma", "digamma",
               "polygamma", "clip", "logaddexp", "hypot", "nan_to_num", "round", "expm1", "exp2",
               "log2", "log10", "deg2rad", "rad2deg"]


@pytest.mark.parametrize("name", NUMPY_NAMES)
def test_tensor_namespace_has(name):
    assert callable(getattr(tensor_ns, name))


def test_tensor_namespace_functions(device):
    x = _t([0.5, 2.0], device)
    np.testing.assert_allclose(to_np(tensor_ns.exp(x)), np.exp([0.5, 2.0]))
    np.testing.assert_allclose(to_np(tensor_ns.clip(x, 1.0, None)), [1.0, 2.0])
    np.testing.assert_allclose(to_np(tensor_ns.square(x)), [0.25, 4.0])
    np.testing.assert_allclose(to_np(tensor_ns.polygamma(1, x)),
                               special.polygamma(1, np.array([0.5, 2.0])))
    assert tensor_ns.erf(x).requires_grad
    np.testing.assert_allclose(to_np(tensor_ns.hypot(x, 0.0)), [0.5, 2.0])
    np.testing.assert_allclose(to_np(tensor_ns.round(x * 1.26, decimals=1)), [0.6, 2.5])


def test_higher_order_gradients(device):
    x = _t([0.3, 0.7], device)
    (g,) = probe.autograd.grad(probe.erf(x).sum(), x, create_graph=True)
    (gg,) = probe.autograd.grad(g.sum(), x)
    xs = np.array([0.3, 0.7])
    np.testing.assert_allclose(to_np(gg), -2 * xs * 2 / math.sqrt(math.pi) * np.exp(-xs * xs))
    (g,) = probe.autograd.grad(probe.sigmoid(x).sum(), x, create_graph=True)
    (gg,) = probe.autograd.grad(g.sum(), x)
    s = 1 / (1 + np.exp(-xs))
    np.testing.assert_allclose(to_np(gg), s * (1 - s) * (1 - 2 * s))


def test_special_fn_picks_by_namespace():
    from probe.engine.ops.unary import special_fn

    assert special_fn(np, "erf") is special.erf
    assert special_fn(np, "polygamma") is special.polygamma
    assert special_fn(tensor_ns, "erf") is tensor_ns.erf
