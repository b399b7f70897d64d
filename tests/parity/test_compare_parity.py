"""Parity with PyTorch for comparisons, logical/bitwise ops, NaN/inf tests, closeness and
``where`` (probe.engine.ops.compare): values and dtypes over dtype/scalar combinations, ``where``
gradients and grad_fn, and error types/messages."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from harness import assert_same_error  # noqa: E402

import probe  # noqa: E402

VALUES = {
    "float32": ([[1.0, 2.5, math.nan], [-0.0, math.inf, -3.0]], "float32"),
    "float64": ([[1.0, 2.0, 0.1], [0.0, -math.inf, 3.0]], "float64"),
    "float16": ([[1.0, 2.5, 0.1], [0.0, 4.0, -3.0]], "float16"),
    "int64": ([[1, 2, 3], [0, -4, 5]], "int64"),
    "int32": ([[1, 2, 7], [0, -4, 5]], "int32"),
    "uint8": ([[1, 2, 255], [0, 4, 5]], "uint8"),
    "bool": ([[True, False, True], [False, True, True]], "bool"),
}
ZERO_DIM = {
    "0d_float64": (2.0, "float64"),
    "0d_int64": (2, "int64"),
    "0d_bool": (True, "bool"),
}


def _make(module, spec):
    values, dtype = spec
    return module.tensor(values, dtype=getattr(module, dtype))


def _same(pr, tr):
    if isinstance(tr, torch.Tensor):
        assert str(pr.dtype).split(".")[-1] == str(tr.dtype).split(".")[-1]
        assert tuple(pr.shape) == tuple(tr.shape)
        np.testing.assert_array_equal(pr.numpy(), tr.numpy())
    else:
        assert pr == tr and type(pr) is type(tr)


OPERANDS = sorted(VALUES) + sorted(ZERO_DIM) + ["py_int", "py_float", "py_bool", "py_neg_int",
                                                "py_big_int"]
PY = {"py_int": 2, "py_float": 2.5, "py_bool": True, "py_neg_int": -1, "py_big_int": 300}


def _operand(module, name):
    if name in PY:
        return PY[name]
    if name in ZERO_DIM:
        return _make(module, ZERO_DIM[name])
    return _make(module, VALUES[name])


COMPARE_OPS = ["eq", "ne", "lt", "le", "gt", "ge"]


@pytest.mark.parametrize("other", OPERANDS)
@pytest.mark.parametrize("lhs", sorted(VALUES))
@pytest.mark.parametrize("op", COMPARE_OPS)
def test_comparisons(op, lhs, other):
    pr = getattr(probe, op)(_make(probe, VALUES[lhs]), _operand(probe, other))
    tr = getattr(torch, op)(_make(torch, VALUES[lhs]), _operand(torch, other))
    _same(pr, tr)


@pytest.mark.parametrize("op", ["__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"])
def test_operators_and_reflected(op):
    p, t = _make(probe, VALUES["float32"]), _make(torch, VALUES["float32"])
    _same(getattr(p, op)(p), getattr(t, op)(t))
    import operator

    fn = getattr(operator, op.strip("_"))
    _same(fn(2, p), fn(2, t))
    _same(fn(p, 2.5), fn(t, 2.5))


def test_none_and_other_objects():
    p, t = _make(probe, VALUES["float32"]), _make(torch, VALUES["float32"])
    for other in (None, "a", [1, 2, 3], object()):
        assert (p == other) is (t == other)
        assert (p != other) is (t != other)


BITWISE_OPS = ["bitwise_and", "bitwise_or", "bitwise_xor"]
BITWISE_OPERANDS = ["int64", "int32", "uint8", "bool", "0d_int64", "0d_bool", "py_int",
                    "py_bool", "py_neg_int"]


@pytest.mark.parametrize("other", BITWISE_OPERANDS)
@pytest.mark.parametrize("lhs", ["int64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("op", BITWISE_OPS)
def test_bitwise(op, lhs, other):
    pr = getattr(probe, op)(_make(probe, VALUES[lhs]), _operand(probe, other))
    tr = getattr(torch, op)(_make(torch, VALUES[lhs]), _operand(torch, other))
    _same(pr, tr)


@pytest.mark.parametrize("lhs", ["int64", "int32", "uint8", "bool"])
def test_bitwise_operators(lhs):
    p, t = _make(probe, VALUES[lhs]), _make(torch, VALUES[lhs])
    _same(p & p, t & t)
    _same(p | 1, t | 1)
    _same(1 | p, 1 | t)
    _same(p ^ True, t ^ True)
    _same(True ^ p, True ^ t)
    _same(~p, ~t)
    _same(probe.bitwise_not(p), torch.bitwise_not(t))


@pytest.mark.parametrize("lhs", ["int64", "int32"])
def test_shifts(lhs):
    p, t = _make(probe, VALUES[lhs]).abs(), _make(torch, VALUES[lhs]).abs()
    _same(p << 2, t << 2)
    _same(p >> 1, t >> 1)
    _same(probe.bitwise_left_shift(p, p), torch.bitwise_left_shift(t, t))


LOGICAL = ["logical_and", "logical_or", "logical_xor"]


@pytest.mark.parametrize("other", ["float32", "int64", "bool", "0d_float64"])
@pytest.mark.parametrize("lhs", ["float32", "int64", "bool"])
@pytest.mark.parametrize("op", LOGICAL)
def test_logical(op, lhs, other):
    pr = getattr(probe, op)(_make(probe, VALUES[lhs]), _operand(probe, other))
    tr = getattr(torch, op)(_make(torch, VALUES[lhs]), _operand(torch, other))
    _same(pr, tr)


@pytest.mark.parametrize("name", sorted(VALUES))
@pytest.mark.parametrize("op", ["isnan", "isinf", "isposinf", "isneginf", "isfinite",
                                "logical_not", "isreal"])
def test_tests(op, name):
    _same(getattr(probe, op)(_make(probe, VALUES[name])),
          getattr(torch, op)(_make(torch, VALUES[name])))


CLOSE_CASES = {
    "default": ([1.0, 2.0, math.nan, math.inf], [1.0 + 1e-6, 2.1, math.nan, math.inf], {}),
    "equal_nan": ([1.0, math.nan], [1.0, math.nan], {"equal_nan": True}),
    "rtol": ([1.0, 100.0], [1.05, 104.0], {"rtol": 0.05}),
    "atol": ([0.0, 1.0], [0.01, 1.02], {"atol": 0.015}),
    "zero_tols": ([1.0, 2.0], [1.0, 2.0000001], {"rtol": 0.0, "atol": 0.0}),
    "infs": ([math.inf, -math.inf, 1.0], [math.inf, math.inf, math.inf], {}),
    "ints": ([1, 2, 10], [1, 3, 12], {"rtol": 0.2}),
    "bools": ([True, False], [True, True], {}),
    "broadcast": ([[1.0, 2.0], [3.0, 4.0]], [1.0, 4.0], {}),
}


@pytest.mark.parametrize("name", sorted(CLOSE_CASES))
def test_isclose_allclose(name):
    a, b, kw = CLOSE_CASES[name]
    pa, pb = probe.tensor(a), probe.tensor(b)
    ta, tb = torch.tensor(a), torch.tensor(b)
    _same(probe.isclose(pa, pb, **kw), torch.isclose(ta, tb, **kw))
    _same(probe.allclose(pa, pb, **kw), torch.allclose(ta, tb, **kw))


@pytest.mark.parametrize("case", ["same", "nan", "dtypes", "shapes", "broadcastable", "ints"])
def test_equal(case):
    a, b = {
        "same": ([1.0, 2.0], [1.0, 2.0]),
        "nan": ([1.0, math.nan], [1.0, math.nan]),
        "dtypes": ([1, 2], [1.0, 2.0]),
        "shapes": ([1.0, 2.0], [1.0, 2.0, 3.0]),
        "broadcastable": ([1.0, 1.0], [1.0]),
        "ints": ([1, 2], [1, 3]),
    }[case]
    assert probe.equal(probe.tensor(a), probe.tensor(b)) is torch.equal(torch.tensor(a),
                                                                        torch.tensor(b))


# ------------------------------------------------------------------ where

WHERE_CASES = {
    "tensors": (lambda m, c, x, y: m.where(c, x, y)),
    "number_other": (lambda m, c, x, y: m.where(c, x, 0.0)),
    "number_input": (lambda m, c, x, y: m.where(c, 1.5, y)),
    "int_number": (lambda m, c, x, y: m.where(c, x, 2)),
    "broadcast_row": (lambda m, c, x, y: m.where(c, x[:1], y)),
    "broadcast_cond": (lambda m, c, x, y: m.where(c[:, :1], x, y)),
    "method": (lambda m, c, x, y: x.where(c, y)),
    "expression": (lambda m, c, x, y: m.where(x > y, x * y, y - x)),
    "zero_dim_other": (lambda m, c, x, y: m.where(c, x, y[0, 0])),
}


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", sorted(WHERE_CASES))
def test_where(name, np_dtype):
    fn = WHERE_CASES[name]
    r = np.random.default_rng(3)
    c = r.random((3, 4)) > 0.5
    x = r.standard_normal((3, 4)).astype(np_dtype)
    y = r.standard_normal((3, 4)).astype(np_dtype)
    pc, tc = probe.tensor(c), torch.tensor(c)
    px, tx = probe.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    py, ty = probe.tensor(y, requires_grad=True), torch.tensor(y, requires_grad=True)
    pr, tr = fn(probe, pc, px, py), fn(torch, tc, tx, ty)
    _same(pr.detach(), tr.detach())
    assert type(pr.grad_fn).__name__ == type(tr.grad_fn).__name__
    assert len(pr.grad_fn.next_functions) == len(tr.grad_fn.next_functions)
    w = r.standard_normal(tuple(tr.shape)).astype(np_dtype)
    pr.backward(probe.tensor(w))
    tr.backward(torch.tensor(w))
    for p_, t_ in ((px, tx), (py, ty)):
        assert (p_.grad is None) == (t_.grad is None)
        if t_.grad is not None:
            np.testing.assert_allclose(p_.grad.numpy(), t_.grad.numpy(), rtol=1e-6)


WHERE_DTYPES = {
    "floats": (lambda m, b: m.where(b, 1.0, 0)),
    "ints": (lambda m, b: m.where(b, 1, 0)),
    "int_tensor_float": (lambda m, b: m.where(b, m.tensor([1, 2, 3]), 2.5)),
    "f64_number": (lambda m, b: m.where(b, m.tensor([1.0, 2.0, 3.0], dtype=m.float64), 2.5)),
    "f32_f64": (lambda m, b: m.where(b, m.ones(3), m.zeros(3, dtype=m.float64))),
    "f32_0d_f64": (lambda m, b: m.where(b, m.ones(3), m.tensor(1.0, dtype=m.float64))),
    "bool_int": (lambda m, b: m.where(b, b, 2)),
    "int32_int": (lambda m, b: m.where(b, m.tensor([1, 2, 3], dtype=m.int32), 7)),
}


@pytest.mark.parametrize("name", sorted(WHERE_DTYPES))
def test_where_dtypes(name):
    cond = [True, False, True]
    _same(WHERE_DTYPES[name](probe, probe.tensor(cond)),
          WHERE_DTYPES[name](torch, torch.tensor(cond)))


def test_where_single_argument():
    c = [[True, False, True], [False, False, True]]
    pr, tr = probe.where(probe.tensor(c)), torch.where(torch.tensor(c))
    assert len(pr) == len(tr)
    for a, b in zip(pr, tr, strict=True):
        _same(a, b)


# ------------------------------------------------------------------ division helpers (arith)

@pytest.mark.parametrize("mode", ["trunc", "floor"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "int8", "uint8"])
def test_integer_rounded_division(mode, dtype):
    a = [-7, 7, -6, 6, 0, 100] if dtype != "uint8" else [7, 8, 6, 6, 0, 100]
    b = [2, -2, 3, -4, 5, 7] if dtype != "uint8" else [2, 3, 3, 4, 5, 7]
    pa = probe.tensor(a, dtype=getattr(probe, dtype))
    pb = probe.tensor(b, dtype=getattr(probe, dtype))
    ta = torch.tensor(a, dtype=getattr(torch, dtype))
    tb = torch.tensor(b, dtype=getattr(torch, dtype))
    _same(pa.div(pb, rounding_mode=mode), ta.div(tb, rounding_mode=mode))
    _same(pa.div(3, rounding_mode=mode), ta.div(3, rounding_mode=mode))


# ------------------------------------------------------------------ errors


ERRORS = {
    "lt_none": lambda m: m.ones(2) < None,
    "eq_function_none": lambda m: m.eq(m.ones(2), None),
    "lt_number_first": lambda m: m.lt(2, m.ones(2)),
    "broadcast": lambda m: m.ones(2) == m.ones(3),
    "and_float": lambda m: m.ones(2) & m.ones(2),
    "or_float_int": lambda m: m.ones(2) | m.tensor([1, 2]),
    "and_int_float_number": lambda m: m.tensor([1, 2]) & 1.5,
    "not_float": lambda m: m.bitwise_not(m.ones(2)),
    "invert_float": lambda m: ~m.ones(2),
    "logical_number": lambda m: m.logical_xor(m.ones(2), 0),
    "isclose_dtypes": lambda m: m.isclose(m.tensor([1]), m.ones(1)),
    "allclose_dtypes": lambda m: m.allclose(m.ones(1), m.ones(1, dtype=m.float64)),
    "isclose_number": lambda m: m.isclose(m.ones(1), 1.0),
    "isclose_rtol": lambda m: m.isclose(m.ones(1), m.ones(1), rtol=-1),
    "isclose_atol": lambda m: m.isclose(m.ones(1), m.ones(1), atol=-1),
    "allclose_shapes": lambda m: m.allclose(m.ones(2), m.ones(3)),
    "where_int_cond": lambda m: m.where(m.tensor([1, 0]), m.ones(2), m.zeros(2)),
    "where_float_cond": lambda m: m.where(m.ones(2), m.ones(2), m.zeros(2)),
    "where_broadcast": lambda m: m.where(m.tensor([True, False, True]), m.ones(2), 1.0),
    "floor_divide_zero": lambda m: m.tensor([5]) // 0,
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_match(name):
    assert_same_error(ERRORS[name], text=str, first_line=True)  # engine texts keep "torch."
