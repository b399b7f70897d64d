"""Comparisons, logical/bitwise ops, NaN/inf tests, closeness and ``where``
(probe.engine.ops.compare): values, PyTorch's promotion and errors, no graph for comparisons,
gradients of ``where``, integer division for ``div(rounding_mode=...)`` and the NumPy-named
functions for differentiable backwards."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import probe
from probe.autograd import gradcheck, gradgradcheck
from probe.engine import tensor_ns


def to_np(t):
    return t.detach().cpu().numpy()


@pytest.fixture
def tensors(device):
    return {
        "f": probe.tensor([1.0, 2.0, math.nan], device=device),
        "i": probe.tensor([1, 2, 3], device=device),
        "b": probe.tensor([True, False, True], device=device),
    }


# ------------------------------------------------------------------ comparisons

COMPARISONS = [
    ("eq", "__eq__", np.equal), ("ne", "__ne__", np.not_equal), ("lt", "__lt__", np.less),
    ("le", "__le__", np.less_equal), ("gt", "__gt__", np.greater),
    ("ge", "__ge__", np.greater_equal),
]


@pytest.mark.parametrize("name,dunder,ref", COMPARISONS)
def test_comparisons(name, dunder, ref, device):
    a = np.array([[1.0, 2.0, math.nan], [0.0, -1.0, 5.0]])
    b = np.array([1.0, 3.0, 2.0])
    ta = probe.tensor(a, device=device, requires_grad=True)
    tb = probe.tensor(b, device=device)
    for result in (getattr(probe, name)(ta, tb), getattr(ta, dunder)(tb), getattr(ta, name)(tb)):
        assert result.dtype == probe.bool
        assert not result.requires_grad and result.grad_fn is None
        np.testing.assert_array_equal(to_np(result), ref(a.astype(np.float32),
                                                         b.astype(np.float32)))
    scalar = getattr(probe, name)(ta, 2)
    np.testing.assert_array_equal(to_np(scalar), ref(a.astype(np.float32), 2))


def test_aliases():
    assert probe.less is probe.lt and probe.greater_equal is probe.ge
    assert probe.not_equal is probe.ne and probe.less_equal is probe.le
    assert probe.greater is probe.gt


def test_reflected_operators(tensors):
    f = tensors["f"]
    assert to_np(2 < f).tolist() == [False, False, False]
    assert to_np(2 == f).tolist() == [False, True, False]
    assert to_np(2 >= f).tolist() == [True, True, False]


def test_comparisons_with_non_operands(tensors):
    f = tensors["f"]
    assert (f == None) is False  # noqa: E711 - PyTorch's behaviour is the point
    assert (f != None) is True  # noqa: E711
    assert (f == "a") is False
    assert (f == [1, 2, 3]) is False
    with pytest.raises(TypeError, match="'<' not supported between instances of 'Tensor' and "
                                        "'NoneType'"):
        f < None  # noqa: B015
    with pytest.raises(TypeError, match="eq\\(\\) received an invalid combination of arguments"):
        probe.eq(f, None)
    with pytest.raises(TypeError, match="lt\\(\\) received an invalid combination of arguments"):
        probe.lt(2, f)


def test_comparison_promotion(device):
    # An integer tensor against a float compares in float.
    i = probe.tensor([1, 2, 3], device=device)
    assert to_np(i == 2.0).tolist() == [False, True, False]
    assert to_np(i < 2.5).tolist() == [True, True, False]
    # float32 against a 0-d float64 tensor compares in float32 (PyTorch), not float64 (NumPy).
    f = probe.tensor([0.1], device=device)
    assert to_np(f == probe.tensor(0.1, dtype=probe.float64, device=device)).tolist() == [True]
    assert to_np(f == probe.tensor([0.1], dtype=probe.float64, device=device)).tolist() == [False]
    # A Python int wraps into the tensor's integer dtype.
    u = probe.tensor([255, 1], dtype=probe.uint8, device=device)
    assert to_np(u == -1).tolist() == [True, False]
    assert to_np(u < 300).tolist() == [False, True]
    b = probe.tensor([True, False], device=device)
    assert to_np(b == 1).tolist() == [True, False]
    assert to_np(i == probe.tensor([1.0, 2.5, 3.0], dtype=probe.float64, device=device)
                 ).tolist() == [True, False, True]


def test_comparison_errors(device):
    with pytest.raises(RuntimeError, match="The size of tensor a \\(2\\) must match the size of "
                                           "tensor b \\(3\\) at non-singleton dimension 0"):
        probe.ones(2, device=device) == probe.ones(3, device=device)  # noqa: B015


def test_zero_dim_results(device):
    a = probe.tensor(1.0, device=device)
    r = a == 1.0
    assert r.shape == () and r.dtype == probe.bool and bool(r)
    assert bool(probe.tensor(3, device=device) > probe.tensor(2, device=device))


def test_out_argument(device):
    out = probe.empty(3, dtype=probe.bool, device=device)
    r = probe.eq(probe.tensor([1.0, 2.0, 3.0], device=device), 1, out=out)
    assert r is out and to_np(out).tolist() == [True, False, False]


def test_contains_uses_eq(tensors):
    assert 2.0 in tensors["f"]
    assert 7 not in tensors["i"]


# ------------------------------------------------------------------ logical and bitwise


def test_logical_ops(tensors):
    f, i, b = tensors["f"], tensors["i"], tensors["b"]
    assert to_np(probe.logical_and(f, i)).tolist() == [True, True, True]
    assert to_np(probe.logical_not(f)).tolist() == [False, False, False]
    zero = probe.tensor(0, device=i.device)
    assert to_np(probe.logical_xor(i, zero)).tolist() == [True, True, True]
    assert to_np(b.logical_or(~b)).tolist() == [True] * 3
    assert probe.logical_and(f, i).dtype == probe.bool
    with pytest.raises(TypeError, match="logical_xor\\(\\): argument 'other' \\(position 2\\) "
                                        "must be Tensor, not int"):
        probe.logical_xor(i, 0)


def test_bitwise_ops_and_promotion(tensors, device):
    i, b = tensors["i"], tensors["b"]
    assert to_np(i & i).tolist() == [1, 2, 3]
    r = i & b
    assert r.dtype == probe.int64 and to_np(r).tolist() == [1, 0, 1]
    assert (b & b).dtype == probe.bool
    assert to_np(b ^ True).tolist() == [False, True, False]
    assert to_np(i | 1).tolist() == [1, 3, 3]
    assert to_np(1 | i).tolist() == [1, 3, 3]
    assert to_np(6 ^ i).tolist() == [7, 4, 5]
    assert to_np(~i).tolist() == [-2, -3, -4]
    assert to_np(~b).tolist() == [False, True, False]
    assert to_np(i << 1).tolist() == [2, 4, 6]
    assert to_np(i >> 1).tolist() == [0, 1, 1]
    i32 = probe.tensor([3], dtype=probe.int32, device=device)
    assert (i32 & i).dtype == probe.int64
    assert (i32 & probe.tensor(1, device=device)).dtype == probe.int32
    assert (b & 1).dtype == probe.int64
    u8 = probe.tensor([3], dtype=probe.uint8, device=device)
    r = u8 & -1
    assert r.dtype == probe.uint8 and to_np(r).tolist() == [3]
    assert to_np(probe.bitwise_xor(i, 1)).tolist() == [0, 3, 2]
    assert to_np(probe.bitwise_not(i)).tolist() == [-2, -3, -4]


def test_bitwise_errors(tensors):
    f, i = tensors["f"], tensors["i"]
    with pytest.raises(NotImplementedError, match="\"bitwise_and_.*\" not implemented for "
                                                  "'Float'"):
        f & f
    with pytest.raises(NotImplementedError, match="\"bitwise_or_.*\" not implemented for "
                                                  "'Float'"):
        f | i
    with pytest.raises(NotImplementedError, match="\"bitwise_and_.*\" not implemented for "
                                                  "'Float'"):
        i & 1.5
    with pytest.raises(NotImplementedError, match="\"bitwise_not_.*\" not implemented for "
                                                  "'Float'"):
        probe.bitwise_not(f)
    with pytest.raises(TypeError, match="~ \\(operator.invert\\) is only implemented on integer "
                                        "and Boolean-type tensors"):
        _ = ~f


# ------------------------------------------------------------------ tests and closeness


def test_nan_inf_tests(device):
    x = probe.tensor([1.0, math.nan, math.inf, -math.inf], device=device)
    assert to_np(probe.isnan(x)).tolist() == [False, True, False, False]
    assert to_np(probe.isinf(x)).tolist() == [False, False, True, True]
    assert to_np(probe.isposinf(x)).tolist() == [False, False, True, False]
    assert to_np(probe.isneginf(x)).tolist() == [False, False, False, True]
    assert to_np(probe.isfinite(x)).tolist() == [True, False, False, False]
    assert to_np(x.isnan()).tolist() == [False, True, False, False]
    i = probe.tensor([1, 2], device=device)
    assert to_np(probe.isnan(i)).tolist() == [False, False]
    assert to_np(probe.isposinf(i)).tolist() == [False, False]
    assert to_np(probe.isfinite(probe.tensor([True], device=device))).tolist() == [True]
    assert to_np(probe.isreal(x)).tolist() == [True] * 4


def test_isclose_allclose_equal(tensors, device):
    f, i = tensors["f"], tensors["i"]
    assert to_np(probe.isclose(f, f)).tolist() == [True, True, False]
    assert to_np(probe.isclose(f, f, equal_nan=True)).tolist() == [True, True, True]
    assert to_np(probe.isclose(i, i + 1, atol=1)).tolist() == [True] * 3
    assert to_np(probe.isclose(probe.tensor([1, 2], device=device),
                               probe.tensor([1, 3], device=device), rtol=0.4)).tolist() == \
        [True, True]
    inf = probe.tensor([math.inf, -math.inf, 1.0], device=device)
    assert to_np(probe.isclose(inf, probe.full((3,), math.inf, device=device))).tolist() == \
        [True, False, False]
    near = probe.tensor([1.0, 2.0], device=device)
    assert to_np(probe.isclose(near, near + 1e-6)).tolist() == [True, True]
    assert to_np(probe.isclose(near, near + 1e-3)).tolist() == [False, False]
    assert probe.allclose(f, f) is False
    assert probe.allclose(f, f, equal_nan=True) is True
    assert probe.allclose(probe.ones(2, device=device), probe.ones(1, device=device)) is True
    assert probe.equal(f, f) is False
    assert probe.equal(i, i.float()) is True
    assert probe.equal(probe.ones(2, device=device), probe.ones(1, device=device)) is False
    assert f.allclose(f, equal_nan=True) and i.equal(i)


def test_isclose_errors(tensors, device):
    f, i = tensors["f"], tensors["i"]
    with pytest.raises(RuntimeError, match="Long did not match Float"):
        probe.isclose(i, f)
    with pytest.raises(RuntimeError, match="Float did not match Double"):
        probe.allclose(f, f.double())
    with pytest.raises(TypeError, match="argument 'other' \\(position 2\\) must be Tensor"):
        probe.isclose(f, 1.0)
    with pytest.raises(RuntimeError, match="rtol must be greater than or equal to zero, but got "
                                           "-1"):
        probe.isclose(f, f, rtol=-1)
    with pytest.raises(RuntimeError, match="atol must be greater than or equal to zero"):
        probe.isclose(f, f, atol=-1)
    with pytest.raises(RuntimeError, match="The size of tensor a \\(2\\) must match the size of "
                                           "tensor b \\(3\\)"):
        probe.allclose(probe.ones(2, device=device), probe.ones(3, device=device))


# ------------------------------------------------------------------ where


def test_where_values_and_dtypes(tensors, device):
    f, i, b = tensors["f"], tensors["i"], tensors["b"]
    assert to_np(probe.where(b, 1.0, 0)).tolist() == [1.0, 0.0, 1.0]
    assert probe.where(b, 1.0, 0).dtype == probe.float32
    assert probe.where(b, 1, 0).dtype == probe.int64
    r = probe.where(b, i, 2.5)
    assert r.dtype == probe.float32 and to_np(r).tolist() == [1.0, 2.5, 3.0]
    assert probe.where(b, f.double(), 2.5).dtype == probe.float64
    assert probe.where(b, f, f.double()).dtype == probe.float64
    assert probe.where(b, f, probe.tensor(1.0, dtype=probe.float64, device=device)).dtype == \
        probe.float32
    assert to_np(f.where(b, 0.0))[:2].tolist() == [1.0, 0.0]
    # broadcasting
    cond = probe.tensor([[True], [False]], device=device)
    r = probe.where(cond, probe.tensor([1.0, 2.0, 3.0], device=device), -1.0)
    assert to_np(r).tolist() == [[1.0, 2.0, 3.0], [-1.0, -1.0, -1.0]]


def test_where_single_argument(device):
    b = probe.tensor([[True, False], [False, True]], device=device)
    rows, cols = probe.where(b)
    assert to_np(rows).tolist() == [0, 1] and to_np(cols).tolist() == [0, 1]
    assert rows.dtype == probe.int64
    (idx,) = probe.where(probe.tensor(True, device=device))
    assert to_np(idx).tolist() == [0]


def test_where_errors(tensors, device):
    f, i, b = tensors["f"], tensors["i"], tensors["b"]
    with pytest.raises(RuntimeError, match="where expected condition to be a boolean tensor, but "
                                           "got a tensor with dtype Long"):
        probe.where(i, f, f)
    with pytest.raises(RuntimeError, match="where expected condition to be a boolean tensor, but "
                                           "got a tensor with dtype Float"):
        probe.where(f, f, f)
    with pytest.raises(RuntimeError, match="The size of tensor a \\(3\\) must match the size of "
                                           "tensor b \\(2\\) at non-singleton dimension 0"):
        probe.where(b, probe.ones(2, device=device), 1.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = probe.where(probe.tensor([1, 0], dtype=probe.uint8, device=device),
                        probe.ones(2, device=device), probe.zeros(2, device=device))
    assert to_np(r).tolist() == [1.0, 0.0]
    assert any("uint8 condition" in str(w.message) for w in caught)


def test_where_gradients(device):
    x = probe.tensor([-1.0, 2.0, 0.5], dtype=probe.float64, device=device, requires_grad=True)
    y = probe.tensor([3.0, 4.0, 5.0], dtype=probe.float64, device=device, requires_grad=True)
    r = probe.where(x > 0, x, y)
    assert type(r.grad_fn).__name__ == "WhereBackward0"
    r.sum().backward()
    assert to_np(x.grad).tolist() == [0.0, 1.0, 1.0]
    assert to_np(y.grad).tolist() == [1.0, 0.0, 0.0]
    assert gradcheck(lambda a, b: probe.where(a > 0, a * a, b), (x, y))
    assert gradgradcheck(lambda a, b: probe.where(a > 0, a * a, b * b), (x, y))
    assert gradcheck(lambda a: probe.where(a > 0, a, 0.0), (x,))
    assert gradcheck(lambda a: probe.where(a > 0, 1.5, a * 3), (x,))
    # broadcasting: the gradient of a row is summed back
    row = probe.tensor([1.0, 2.0, 3.0], dtype=probe.float64, device=device, requires_grad=True)
    cond = probe.tensor([[True, False, True], [False, False, True]], device=device)
    assert gradcheck(lambda r_: probe.where(cond, r_, -r_ * 2), (row,))
    next_fns = probe.where(x > 0, x, 0.0).grad_fn.next_functions
    assert len(next_fns) == 2 and next_fns[1] == (None, 0)


def test_comparisons_are_not_recorded(device):
    x = probe.tensor([1.0, -1.0], device=device, requires_grad=True)
    for r in (x > 0, x == x, probe.isnan(x), probe.isclose(x, x), probe.logical_not(x),
              probe.isfinite(x * 2)):
        assert r.grad_fn is None and not r.requires_grad and r.dtype == probe.bool


# ------------------------------------------------------------------ integer division (arith)


def test_integer_division_modes(device):
    a = probe.tensor([-7, 7, -6, 6, 0], device=device)
    b = probe.tensor([2, -2, 3, -4, 5], device=device)
    trunc = a.div(b, rounding_mode="trunc")
    floor = a.div(b, rounding_mode="floor")
    assert trunc.dtype == probe.int64 and floor.dtype == probe.int64
    assert to_np(trunc).tolist() == [-3, -3, -2, -1, 0]
    assert to_np(floor).tolist() == [-4, -4, -2, -2, 0]
    assert to_np(a // 2).tolist() == [-4, 3, -3, 3, 0]
    assert to_np(probe.div(a, 2, rounding_mode="trunc")).tolist() == [-3, 3, -3, 3, 0]
    big = probe.tensor([2**62 + 1, -(2**62) - 1], device=device)
    assert to_np(big.div(3, rounding_mode="trunc")).tolist() == [(2**62 + 1) // 3,
                                                                 -((2**62 + 1) // 3)]
    assert not trunc.requires_grad


def test_integer_division_by_zero():
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        probe.tensor([5]) // 0
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        probe.tensor([5, 1]).div(probe.tensor([1, 0]), rounding_mode="trunc")


# ------------------------------------------------------------------ tensor_ns


@pytest.mark.parametrize("name", ["where", "greater", "greater_equal", "less", "less_equal",
                                  "equal", "not_equal", "logical_and", "logical_or",
                                  "logical_not", "logical_xor", "isfinite", "isnan", "isinf",
                                  "bitwise_and", "invert", "isclose", "allclose"])
def test_tensor_namespace_has(name):
    assert callable(getattr(tensor_ns, name))


def test_tensor_namespace_functions(device):
    x = probe.tensor([-1.0, 2.0], device=device, requires_grad=True)
    r = tensor_ns.where(x > 0, x, 0.0)
    assert r.requires_grad and to_np(r).tolist() == [0.0, 2.0]
    assert to_np(tensor_ns.greater(0.0, x)).tolist() == [True, False]
    assert to_np(tensor_ns.less(x, 0.0)).tolist() == [True, False]
    assert to_np(tensor_ns.logical_and(x > 0, True)).tolist() == [False, True]
    assert to_np(tensor_ns.isfinite(x)).tolist() == [True, True]
    (idx,) = tensor_ns.where(x > 0)
    assert to_np(idx).tolist() == [1]
