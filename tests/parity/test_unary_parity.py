"""Parity with PyTorch for elementwise math (probe.engine.ops.unary): forward values, result
dtypes, gradients and grad_fn names, on float32 and float64, integer inputs, special values and
error types/messages."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from harness import assert_same_error  # noqa: E402

import probe  # noqa: E402


def _rng(seed=0):
    return np.random.default_rng(seed)


DOMAINS = {
    "any": lambda r: r.uniform(-3, 3, (4, 5)),
    "pos": lambda r: r.uniform(0.05, 4, (4, 5)),
    "unit": lambda r: r.uniform(-0.95, 0.95, (4, 5)),
    "open01": lambda r: r.uniform(0.02, 0.98, (4, 5)),
    "gt1": lambda r: r.uniform(1.05, 5, (4, 5)),
    "wide": lambda r: r.uniform(-8, 8, (4, 5)),
    "small": lambda r: r.uniform(-1, 1, (4, 5)),
    "offint": lambda r: r.uniform(0.05, 0.45, (4, 5)) + r.integers(-4, 4, (4, 5)),
}

# name -> (callable taking the module (torch or probe) and a tensor, domain)
UNARY = {
    "exp": (lambda m, x: m.exp(x), "any"),
    "exp2": (lambda m, x: m.exp2(x), "any"),
    "expm1": (lambda m, x: m.expm1(x), "small"),
    "log": (lambda m, x: m.log(x), "pos"),
    "log2": (lambda m, x: m.log2(x), "pos"),
    "log10": (lambda m, x: m.log10(x), "pos"),
    "log1p": (lambda m, x: m.log1p(x), "pos"),
    "sqrt": (lambda m, x: m.sqrt(x), "pos"),
    "rsqrt": (lambda m, x: m.rsqrt(x), "pos"),
    "reciprocal": (lambda m, x: m.reciprocal(x), "pos"),
    "sin": (lambda m, x: m.sin(x), "any"),
    "cos": (lambda m, x: m.cos(x), "any"),
    "tan": (lambda m, x: m.tan(x), "small"),
    "asin": (lambda m, x: m.asin(x), "unit"),
    "acos": (lambda m, x: m.acos(x), "unit"),
    "atan": (lambda m, x: m.atan(x), "any"),
    "arcsin": (lambda m, x: m.arcsin(x), "unit"),
    "arctan": (lambda m, x: m.arctan(x), "any"),
    "sinh": (lambda m, x: m.sinh(x), "any"),
    "cosh": (lambda m, x: m.cosh(x), "any"),
    "tanh": (lambda m, x: m.tanh(x), "any"),
    "asinh": (lambda m, x: m.asinh(x), "any"),
    "acosh": (lambda m, x: m.acosh(x), "gt1"),
    "atanh": (lambda m, x: m.atanh(x), "unit"),
    "sigmoid": (lambda m, x: m.sigmoid(x), "wide"),
    "logit": (lambda m, x: m.logit(x), "open01"),
    "logit_eps": (lambda m, x: m.logit(x, eps=0.1), "open01"),
    "relu": (lambda m, x: m.relu(x), "any"),
    "abs": (lambda m, x: m.abs(x), "any"),
    "absolute": (lambda m, x: m.absolute(x), "any"),
    "neg": (lambda m, x: m.neg(x), "any"),
    "negative": (lambda m, x: m.negative(x), "any"),
    "sign": (lambda m, x: m.sign(x), "any"),
    "sgn": (lambda m, x: m.sgn(x), "any"),
    "floor": (lambda m, x: m.floor(x), "offint"),
    "ceil": (lambda m, x: m.ceil(x), "offint"),
    "round": (lambda m, x: m.round(x), "offint"),
    "round_dec2": (lambda m, x: m.round(x, decimals=2), "any"),
    "round_dec_neg": (lambda m, x: m.round(x * 100, decimals=-1), "any"),
    "trunc": (lambda m, x: m.trunc(x), "offint"),
    "fix": (lambda m, x: m.fix(x), "offint"),
    "frac": (lambda m, x: m.frac(x), "offint"),
    "erf": (lambda m, x: m.erf(x), "wide"),
    "erfc": (lambda m, x: m.erfc(x), "wide"),
    "erfinv": (lambda m, x: m.erfinv(x), "unit"),
    "lgamma": (lambda m, x: m.lgamma(x), "pos"),
    "digamma": (lambda m, x: m.digamma(x), "pos"),
    "polygamma1": (lambda m, x: m.polygamma(1, x), "pos"),
    "polygamma2": (lambda m, x: m.polygamma(2, x), "pos"),
    "deg2rad": (lambda m, x: m.deg2rad(x), "any"),
    "rad2deg": (lambda m, x: m.rad2deg(x), "any"),
    "nan_to_num": (lambda m, x: m.nan_to_num(x), "any"),
    "clamp": (lambda m, x: m.clamp(x, -1, 1), "any"),
    "clamp_min_kw": (lambda m, x: m.clamp(x, min=0.5), "any"),
    "clamp_max_kw": (lambda m, x: m.clamp(x, max=0.5), "any"),
    "clip": (lambda m, x: m.clip(x, -0.5, 2), "any"),
    "clamp_min": (lambda m, x: m.clamp_min(x, 0.2), "any"),
    "clamp_max": (lambda m, x: m.clamp_max(x, 0.2), "any"),
    "method_exp": (lambda m, x: x.exp(), "any"),
    "method_clamp": (lambda m, x: x.clamp(min=-0.5), "any"),
    "operator_neg": (lambda m, x: -x, "any"),
    "operator_abs": (lambda m, x: abs(x), "any"),
    "chain": (lambda m, x: m.sigmoid(m.tanh(x) * 2).log(), "any"),
}

TOL = {np.float32: dict(rtol=3e-6, atol=1e-6), np.float64: dict(rtol=1e-11, atol=1e-12)}
# PyTorch's trigamma (the gradient of digamma) is accurate to about 5e-10 in float64 (probe's to
# about 1e-15, checked against mpmath in tests/engine/test_unary.py).
LOOSE_FLOAT64 = {"digamma": 1e-9, "polygamma1": 1e-9}
DTYPES = {np.float32: (probe.float32, torch.float32), np.float64: (probe.float64, torch.float64)}


def _pair(values, np_dtype, requires_grad=True):
    arr = np.asarray(values).astype(np_dtype)
    p = probe.tensor(arr, requires_grad=requires_grad)
    t = torch.tensor(arr, requires_grad=requires_grad)
    return p, t


def _check_result(pr, tr, np_dtype=np.float64, **tol):
    if tr._is_zerotensor():  # PyTorch's lazily-zero gradients (sgn) don't convert to NumPy
        tr = torch.zeros(tr.shape, dtype=tr.dtype)
    assert str(pr.dtype).split(".")[-1] == str(tr.dtype).split(".")[-1]
    assert tuple(pr.shape) == tuple(tr.shape)
    kw = dict(TOL.get(np_dtype, TOL[np.float64]))
    kw.update(tol)
    np.testing.assert_allclose(pr.detach().numpy().astype(np.float64),
                               tr.detach().numpy().astype(np.float64), equal_nan=True, **kw)


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_forward_backward(name, np_dtype):
    fn, domain = UNARY[name]
    values = DOMAINS[domain](_rng(hash(name) % 1000))
    px, tx = _pair(values, np_dtype)
    py, ty = fn(probe, px), fn(torch, tx)
    loose = LOOSE_FLOAT64.get(name) if np_dtype is np.float64 else None
    _check_result(py, ty, np_dtype, **({"rtol": loose} if loose else {}))
    if ty.grad_fn is not None:
        assert type(py.grad_fn).__name__ == type(ty.grad_fn).__name__
    weights = _rng(1).standard_normal(values.shape).astype(np_dtype)
    py.backward(probe.tensor(weights))
    ty.backward(torch.tensor(weights))
    _check_result(px.grad, tx.grad, np_dtype, **({"rtol": loose} if loose else {}))


FLOAT_FUNCS = ["exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "sin",
               "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh",
               "atanh", "sigmoid", "logit", "erf", "erfc", "erfinv", "reciprocal", "lgamma",
               "digamma", "deg2rad", "rad2deg"]
INT_INPUTS = {
    "int64": ([-2, 0, 1, 3], None),
    "int32": ([-2, 0, 1, 3], "int32"),
    "uint8": ([0, 1, 3, 200], "uint8"),
    "bool": ([True, False, True, True], "bool"),
}


@pytest.mark.parametrize("kind", sorted(INT_INPUTS))
@pytest.mark.parametrize("name", FLOAT_FUNCS)
def test_integer_inputs_give_default_float(name, kind):
    values, dtype = INT_INPUTS[kind]
    p = probe.tensor(values, dtype=getattr(probe, dtype) if dtype else None)
    t = torch.tensor(values, dtype=getattr(torch, dtype) if dtype else None)
    _check_result(getattr(probe, name)(p), getattr(torch, name)(t), np.float32)


INT_OPS = ["relu", "abs", "neg", "sign", "sgn", "floor", "ceil", "round", "trunc", "nan_to_num",
           "square"]


@pytest.mark.parametrize("kind", ["int64", "int32", "uint8"])
@pytest.mark.parametrize("name", INT_OPS)
def test_integer_preserving_ops(name, kind):
    values, dtype = INT_INPUTS[kind]
    p = probe.tensor(values, dtype=getattr(probe, dtype) if dtype else None)
    t = torch.tensor(values, dtype=getattr(torch, dtype) if dtype else None)
    pr, tr = getattr(probe, name)(p), getattr(torch, name)(t)
    assert str(pr.dtype).split(".")[-1] == str(tr.dtype).split(".")[-1]
    assert pr.tolist() == tr.tolist()


SPECIALS = [0.0, -0.0, math.inf, -math.inf, math.nan, 1.0, -1.0, 2.0, -2.5, 1e-30, 1e30, 0.5,
            -0.5, 30.0, -30.0, 1e-300]
SPECIAL_FUNCS = ["erf", "erfc", "erfinv", "lgamma", "digamma", "sign", "sgn", "sigmoid", "relu",
                 "abs", "exp", "log", "sqrt", "rsqrt", "tanh", "frac", "floor", "round", "trunc",
                 "logit", "nan_to_num", "reciprocal", "expm1", "log1p", "atanh", "asinh"]


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", SPECIAL_FUNCS)
def test_special_values(name, np_dtype):
    p, t = _pair(SPECIALS, np_dtype, requires_grad=False)
    pr, tr = getattr(probe, name)(p), getattr(torch, name)(t)
    _check_result(pr, tr, np_dtype)
    # signs of zeros and infinities match too (probe's relu is NumPy's maximum: +0 at -0)
    if name == "relu":
        return
    pa, ta = pr.numpy(), tr.numpy()
    finite_or_inf = ~np.isnan(pa)
    np.testing.assert_array_equal(np.signbit(pa[finite_or_inf]), np.signbit(ta[finite_or_inf]))


def test_erf_family_dense_float64():
    x = np.linspace(-7, 7, 20001)
    p, t = _pair(x, np.float64, requires_grad=False)
    for name in ("erf", "erfc"):
        np.testing.assert_allclose(getattr(probe, name)(p).numpy(), getattr(torch, name)(t).numpy(),
                                   rtol=2e-15, atol=0)
    y = np.linspace(-0.99999, 0.99999, 20001)
    p, t = _pair(y, np.float64, requires_grad=False)
    np.testing.assert_allclose(probe.erfinv(p).numpy(), torch.erfinv(t).numpy(), rtol=1e-14)


def test_erf_float32_large():
    x = (_rng(5).standard_normal(50_000) * 2.5).astype(np.float32)
    np.testing.assert_allclose(probe.erf(probe.tensor(x)).numpy(),
                               torch.erf(torch.tensor(x)).numpy(), rtol=3e-7, atol=1e-7)


# ------------------------------------------------------------------ clamp

CLAMP_CASES = {
    "scalar_both": lambda m, x, lo, hi: m.clamp(x, -0.5, 0.5),
    "scalar_int_bounds": lambda m, x, lo, hi: m.clamp(x, -1, 1),
    "min_gt_max": lambda m, x, lo, hi: m.clamp(x, 1.0, -1.0),
    "tensor_both": lambda m, x, lo, hi: m.clamp(x, lo, hi),
    "tensor_min": lambda m, x, lo, hi: m.clamp(x, min=lo),
    "tensor_max": lambda m, x, lo, hi: m.clamp(x, max=hi),
    "tensor_swapped": lambda m, x, lo, hi: m.clamp(x, hi, lo),
    "clamp_min_tensor": lambda m, x, lo, hi: m.clamp_min(x, lo),
    "clamp_max_tensor": lambda m, x, lo, hi: m.clamp_max(x, hi),
    "zero_dim_and_number": lambda m, x, lo, hi: m.clamp(x, lo[0, 0].detach(), 1.0),
}


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CLAMP_CASES))
def test_clamp(name, np_dtype):
    fn = CLAMP_CASES[name]
    r = _rng(7)
    x = r.uniform(-2, 2, (3, 4))
    lo = r.uniform(-1, 0, (1, 4))
    hi = r.uniform(0, 1, (3, 1))
    px, tx = _pair(x, np_dtype)
    plo, tlo = _pair(lo, np_dtype)
    phi, thi = _pair(hi, np_dtype)
    py, ty = fn(probe, px, plo, phi), fn(torch, tx, tlo, thi)
    _check_result(py, ty, np_dtype)
    assert type(py.grad_fn).__name__ == type(ty.grad_fn).__name__
    assert len(py.grad_fn.next_functions) == len(ty.grad_fn.next_functions)
    w = r.standard_normal(x.shape).astype(np_dtype)
    py.backward(probe.tensor(w))
    ty.backward(torch.tensor(w))
    for pt, tt in ((px, tx), (plo, tlo), (phi, thi)):
        assert (pt.grad is None) == (tt.grad is None)
        if tt.grad is not None:
            _check_result(pt.grad, tt.grad, np_dtype)


CLAMP_DTYPES = [
    ("int_float_min", [-2, 0, 3], None, 0.5, None),
    ("int_int", [-2, 0, 3], None, 0, 1),
    ("int_neg", [-2, 0, 3], None, -1, None),
    ("bool", [True, False], "bool", 0, 1),
    ("int_float_max", [-2, 0, 3], None, None, 2.5),
    ("int32_int", [-5, 5], "int32", 0, 3),
]


@pytest.mark.parametrize("case", CLAMP_DTYPES, ids=[c[0] for c in CLAMP_DTYPES])
def test_clamp_dtypes(case):
    _, values, dtype, lo, hi = case
    p = probe.tensor(values, dtype=getattr(probe, dtype) if dtype else None)
    t = torch.tensor(values, dtype=getattr(torch, dtype) if dtype else None)
    pr, tr = probe.clamp(p, lo, hi), torch.clamp(t, lo, hi)
    assert str(pr.dtype).split(".")[-1] == str(tr.dtype).split(".")[-1]
    assert pr.tolist() == tr.tolist()


def test_clamp_tensor_bound_promotion():
    f32 = np.array([1.0, 2.0], dtype=np.float32)
    for bound in (np.array(1.5), np.array([1.5])):
        pr = probe.clamp(probe.tensor(f32), probe.tensor(bound, dtype=probe.float64))
        tr = torch.clamp(torch.tensor(f32), torch.tensor(bound, dtype=torch.float64))
        _check_result(pr, tr)


# ------------------------------------------------------------------ binary and ternary

BINARY = {
    "logaddexp": (lambda m, a, b: m.logaddexp(a, b), "any", "any"),
    "logaddexp2": (lambda m, a, b: m.logaddexp2(a, b), "any", "any"),
    "hypot": (lambda m, a, b: m.hypot(a, b), "any", "any"),
    "xlogy": (lambda m, a, b: m.xlogy(a, b), "any", "pos"),
    "xlogy_number_other": (lambda m, a, b: m.xlogy(a, 2.5), "any", "pos"),
    "xlogy_number_self": (lambda m, a, b: m.xlogy(1.5, b), "any", "pos"),
    "lerp_scalar": (lambda m, a, b: m.lerp(a, b, 0.3), "any", "any"),
    "lerp_scalar_high": (lambda m, a, b: m.lerp(a, b, 0.7), "any", "any"),
    "lerp_tensor": (lambda m, a, b: m.lerp(a, b, m.sigmoid(a * b)), "any", "any"),
    "lerp_method": (lambda m, a, b: a.lerp(b, 0.5), "any", "any"),
    "broadcast_hypot": (lambda m, a, b: m.hypot(a, b[:1]), "any", "any"),
}


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary(name, np_dtype):
    fn, da, db = BINARY[name]
    r = _rng(11)
    pa, ta = _pair(DOMAINS[da](r), np_dtype)
    pb, tb = _pair(DOMAINS[db](r), np_dtype)
    py, ty = fn(probe, pa, pb), fn(torch, ta, tb)
    _check_result(py, ty, np_dtype)
    assert type(py.grad_fn).__name__ == type(ty.grad_fn).__name__
    w = r.standard_normal(tuple(ty.shape)).astype(np_dtype)
    py.backward(probe.tensor(w))
    ty.backward(torch.tensor(w))
    for pt, tt in ((pa, ta), (pb, tb)):
        assert (pt.grad is None) == (tt.grad is None)
        if tt.grad is not None:
            _check_result(pt.grad, tt.grad, np_dtype)


def test_xlogy_special_values_and_gradients():
    x = [0.0, 0.0, 1.0, 2.0, 0.0, -1.0]
    y = [0.0, -1.0, 2.0, 0.0, math.nan, 3.0]
    px, tx = _pair(x, np.float64)
    py, ty = _pair(y, np.float64)
    pr, tr = probe.xlogy(px, py), torch.xlogy(tx, ty)
    _check_result(pr, tr)
    pr.sum().backward()
    tr.sum().backward()
    _check_result(px.grad, tx.grad)
    _check_result(py.grad, ty.grad)


@pytest.mark.parametrize("case", ["int_int", "int_float", "f32_f64", "f32_int"])
def test_xlogy_dtypes(case):
    i = [1, 2, 3]
    args = {
        "int_int": (lambda m: m.tensor(i), lambda m: m.tensor(i)),
        "int_float": (lambda m: m.tensor(i), lambda m: 2.0),
        "f32_f64": (lambda m: m.tensor([1.0, 2.0]), lambda m: m.tensor([1.0, 2.0],
                                                                      dtype=m.float64)),
        "f32_int": (lambda m: m.tensor([1.0, 2.0]), lambda m: 2),
    }[case]
    pr = probe.xlogy(args[0](probe), args[1](probe))
    tr = torch.xlogy(args[0](torch), args[1](torch))
    _check_result(pr, tr, np.float32)


def test_logaddexp_extremes():
    a = [-math.inf, 1000.0, math.inf, -1000.0]
    pa, ta = _pair(a, np.float64, requires_grad=False)
    _check_result(probe.logaddexp(pa, pa), torch.logaddexp(ta, ta))
    _check_result(probe.logaddexp2(pa, pa.flip(0)), torch.logaddexp2(ta, ta.flip(0)))


# ------------------------------------------------------------------ errors


ERRORS = {
    "neg_bool": lambda m: -m.tensor([True]),
    "abs_bool": lambda m: m.abs(m.tensor([True])),
    "relu_bool": lambda m: m.relu(m.tensor([True])),
    "frac_int": lambda m: m.frac(m.tensor([1])),
    "floor_bool": lambda m: m.floor(m.tensor([True])),
    "round_int_decimals": lambda m: m.round(m.tensor([1]), decimals=1),
    "clamp_none": lambda m: m.clamp(m.tensor([1.0])),
    "logaddexp_number": lambda m: m.logaddexp(m.tensor([1.0]), 2.0),
    "logaddexp_int": lambda m: m.logaddexp(m.tensor([1]), m.tensor([1])),
    "hypot_int": lambda m: m.hypot(m.tensor([1]), m.tensor([1])),
    "lerp_end_dtype": lambda m: m.lerp(m.tensor([1.0]), m.tensor([1.0], dtype=m.float64), 0.5),
    "lerp_weight_dtype": lambda m: m.lerp(m.tensor([1.0]), m.tensor([1.0]),
                                          m.tensor([1.0], dtype=m.float64)),
    "exp_number": lambda m: m.exp(1.0),
    "clamp_grad_zero_dim_and_number": lambda m: m.clamp(
        m.ones(2), m.tensor(0.0, requires_grad=True), 1.0),
    "clamp_vector_and_number": lambda m: m.clamp(m.ones(2), m.zeros(2), 1.0),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_match(name):
    assert_same_error(ERRORS[name], text=str, first_line=True)  # engine texts keep "torch."
