"""Comparisons (``eq``/``ne``/``lt``/``le``/``gt``/``ge`` and their operators), logical and
bitwise ops (``&``, ``|``, ``^``, ``~``, shifts), NaN/inf tests, ``isclose``/``allclose``/
``equal``, and ``where``.

Comparisons, logical, bitwise and test results are never part of the autograd graph: they are
computed on the arrays and wrapped directly (no node, no saved tensors). Operands are compared in
PyTorch's promoted dtype (a float32 tensor against a 0-d float64 tensor compares in float32;
an integer tensor against a float compares in the default float dtype; Python ints wrap to an
integer tensor's dtype). ``where`` is differentiable (``WhereBackward0``).
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import dtypes as _dt
from ..autograd import Op, _device_mismatch_msg
from ..grad_mode import STATE
from ..tensor import Tensor, _wrap
from ._common import cast, priority
from .inplace import maybe_out as _maybe_out

_FLOAT_KINDS = "fc"
_NUMBERS = (bool, int, float, complex)
_ndarray = np.ndarray


def _finish(r, dev):
    """Wrap a result array (NumPy returns scalars for 0-d inputs)."""
    if r.__class__ is not _ndarray and isinstance(r, np.generic):
        r = np.asarray(r)
    t = _wrap(r, dev)
    if STATE.inference:
        t._is_inference = True
    return t


def _broadcast_error(a_shape, b_shape):
    n = max(len(a_shape), len(b_shape))
    a = (1,) * (n - len(a_shape)) + tuple(a_shape)
    b = (1,) * (n - len(b_shape)) + tuple(b_shape)
    for i in range(n - 1, -1, -1):
        if a[i] != b[i] and a[i] != 1 and b[i] != 1:
            return RuntimeError(
                f"The size of tensor a ({a[i]}) must match the size of tensor b ({b[i]}) at "
                f"non-singleton dimension {i}"
            )
    return RuntimeError(f"shapes {list(a_shape)} and {list(b_shape)} are not broadcastable")


def _binary(ufunc, a, b):
    try:
        return ufunc(a, b)
    except ValueError:
        raise _broadcast_error(np.shape(a), np.shape(b)) from None


def _wrap_int(value, np_dtype):
    """A Python int as C would store it in ``np_dtype`` (PyTorch wraps, NumPy 2 refuses)."""
    info = np.iinfo(np_dtype)
    if info.min <= value <= info.max:
        return value
    return int(np.array(value & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64).astype(np_dtype))


def _operands(input, other):
    """``(a, b, dev)``: ``input``'s array and ``other`` (an array or Python number) ready for a
    NumPy ufunc that gives PyTorch's answer. None when ``other`` is not an operand."""
    a = input._data
    dev = input._device
    if isinstance(other, Tensor):
        b = other._data
        if other._device is not dev:
            if b.ndim != 0 or other._device.type != "cpu":
                raise RuntimeError(_device_mismatch_msg(dev, other._device))
            b = dev.xp.asarray(b)
        if a.dtype is b.dtype or a.dtype == b.dtype:
            return a, b, dev
        target = _dt.result_type_of([priority(input), priority(other)]).np_dtype
        return a.astype(target, copy=False), b.astype(target, copy=False), dev
    cls = other.__class__
    if cls not in _NUMBERS:
        if isinstance(other, np.generic):
            other = other.item()
            cls = other.__class__
        elif isinstance(other, np.ndarray):
            from .creation import as_tensor  # noqa: PLC0415

            return _operands(input, as_tensor(other, device=dev))
        else:
            return None
    kind = a.dtype.kind
    if kind in _FLOAT_KINDS:
        if cls is complex and kind == "f":
            a = a.astype(np.complex128 if a.dtype == np.float64 else np.complex64)
        return a, other, dev
    if cls is float or cls is complex:
        # An integer or bool tensor against a float: both in the default float dtype.
        target = _dt.result_type_of([priority(input), other]).np_dtype
        return a.astype(target), other, dev
    if cls is int and kind in "iu":
        return a, _wrap_int(other, a.dtype), dev
    if cls is int and kind == "b":
        return a.astype(np.int64), other, dev
    return a, other, dev


def _invalid_args(name, input, other):
    return TypeError(
        f"{name}() received an invalid combination of arguments - got "
        f"({type(input).__name__}, {type(other).__name__}), but expected one of:\n"
        " * (Tensor input, Tensor other, *, Tensor out = None)\n"
        " * (Tensor input, Number other, *, Tensor out = None)\n"
    )


# ---------------------------------------------------------------------------------------------
# Comparisons
# ---------------------------------------------------------------------------------------------

def _comparison(name, ufunc_name, reflected):
    def fn(input, other, *, out=None):
        if not isinstance(input, Tensor):
            raise _invalid_args(name, input, other)
        ops = _operands(input, other)
        if ops is None:
            raise _invalid_args(name, input, other)
        a, b, dev = ops
        result = _finish(_binary(getattr(dev.xp, ufunc_name), a, b), dev)
        return result if out is None else _maybe_out(result, out)

    def dunder(self, other):
        ops = _operands(self, other)
        if ops is None:
            return NotImplemented
        a, b, dev = ops
        return _finish(_binary(getattr(dev.xp, ufunc_name), a, b), dev)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"``input {reflected} other`` elementwise, as a bool tensor (``other`` a tensor "
                  "or a Number; never recorded by autograd).")
    dunder.__name__ = dunder.__qualname__ = f"__{name}__"
    return fn, dunder


eq, _eq = _comparison("eq", "equal", "==")
ne, _ne = _comparison("ne", "not_equal", "!=")
lt, _lt = _comparison("lt", "less", "<")
le, _le = _comparison("le", "less_equal", "<=")
gt, _gt = _comparison("gt", "greater", ">")
ge, _ge = _comparison("ge", "greater_equal", ">=")
less, less_equal, greater, greater_equal, not_equal = lt, le, gt, ge, ne


# ---------------------------------------------------------------------------------------------
# Logical and bitwise ops
# ---------------------------------------------------------------------------------------------

def _tensor_other(name, other):
    if not isinstance(other, Tensor):
        raise TypeError(
            f"{name}(): argument 'other' (position 2) must be Tensor, not {type(other).__name__}"
        )


def _logical(name, ufunc_name):
    def fn(input, other, *, out=None):
        _tensor_other(name, other)
        if other._device is not input._device and not (
                other._data.ndim == 0 and other._device.type == "cpu"):
            raise RuntimeError(_device_mismatch_msg(input._device, other._device))
        xp = input._device.xp
        result = _finish(_binary(getattr(xp, ufunc_name), input._data, xp.asarray(other._data)),
                         input._device)
        return result if out is None else _maybe_out(result, out)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise ``{ufunc_name}`` of the truth values (nonzero is True), as bool."
    return fn


logical_and = _logical("logical_and", "logical_and")
logical_or = _logical("logical_or", "logical_or")
logical_xor = _logical("logical_xor", "logical_xor")


def logical_not(input, *, out=None):
    """True where ``input`` is zero (False, 0, 0.0), as a bool tensor."""
    result = _finish(input._device.xp.logical_not(input._data), input._device)
    return result if out is None else _maybe_out(result, out)


def _not_implemented(kernel, dtype, dev):
    return NotImplementedError(f'"{kernel}_{dev.type}" not implemented for \'{dtype._short_name}\'')


def _bitwise(name, ufunc_name, kernel):
    def compute(input, other):
        ops = _operands(input, other)
        if ops is None:
            return None
        a, b, dev = ops
        if isinstance(b, float | complex) or a.dtype.kind in _FLOAT_KINDS:
            dtype = _dt.result_type_of(
                [priority(input), priority(other) if isinstance(other, Tensor) else other])
            raise _not_implemented(kernel, dtype, dev)
        return _finish(_binary(getattr(dev.xp, ufunc_name), a, b), dev)

    def fn(input, other, *, out=None):
        if not isinstance(input, Tensor):
            raise _invalid_args(name, input, other)
        result = compute(input, other)
        if result is None:
            raise _invalid_args(name, input, other)
        return result if out is None else _maybe_out(result, out)

    def dunder(self, other):
        result = compute(self, other)
        return NotImplemented if result is None else result

    def reflected(self, other):
        if not isinstance(other, _NUMBERS + (np.generic,)):
            return NotImplemented
        from .creation import full  # noqa: PLC0415

        dtype = _dt.result_type_of([other]) if not isinstance(other, np.generic) else None
        lhs = full((), other, dtype=dtype, device=self._device)
        return compute(lhs, self)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"Elementwise ``{ufunc_name}`` of integer or bool tensors (``other`` a tensor "
                  "or a Number), with PyTorch's type promotion.")
    return fn, dunder, reflected


bitwise_and, _and, _rand = _bitwise("bitwise_and", "bitwise_and", "bitwise_and")
bitwise_or, _or, _ror = _bitwise("bitwise_or", "bitwise_or", "bitwise_or")
bitwise_xor, _xor, _rxor = _bitwise("bitwise_xor", "bitwise_xor", "bitwise_xor")
bitwise_left_shift, _lshift, _rlshift = _bitwise("bitwise_left_shift", "left_shift", "lshift")
bitwise_right_shift, _rshift, _rrshift = _bitwise("bitwise_right_shift", "right_shift", "rshift")


def bitwise_not(input, *, out=None):
    """Bitwise NOT of an integer tensor (logical NOT for bool)."""
    data = input._data
    if data.dtype.kind in _FLOAT_KINDS:
        raise _not_implemented("bitwise_not", input.dtype, input._device)
    result = _finish(input._device.xp.invert(data), input._device)
    return result if out is None else _maybe_out(result, out)


def _invert(self):
    if self._data.dtype.kind in _FLOAT_KINDS:
        raise TypeError(
            "~ (operator.invert) is only implemented on integer and Boolean-type tensors"
        )
    return bitwise_not(self)


# ---------------------------------------------------------------------------------------------
# NaN / inf tests and closeness
# ---------------------------------------------------------------------------------------------

def _test(name, ufunc_name, non_float_value):
    def fn(input):
        data = input._data
        xp = input._device.xp
        if data.dtype.kind in _FLOAT_KINDS:
            return _finish(getattr(xp, ufunc_name)(data), input._device)
        filler = xp.ones if non_float_value else xp.zeros
        return _finish(filler(data.shape, dtype=bool), input._device)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise ``{ufunc_name}``, as a bool tensor."
    return fn


isnan = _test("isnan", "isnan", False)
isinf = _test("isinf", "isinf", False)
isposinf = _test("isposinf", "isposinf", False)
isneginf = _test("isneginf", "isneginf", False)
isfinite = _test("isfinite", "isfinite", True)


def isreal(input):
    """True where the imaginary part is 0 (everywhere for real tensors)."""
    xp = input._device.xp
    return _finish(xp.isreal(input._data), input._device)


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``|input - other| <= atol + rtol * |other|`` elementwise (infinities equal only to
    themselves; NaNs equal when ``equal_nan``).

    >>> import probe
    >>> probe.isclose(probe.tensor([1.0, 2.0]), probe.tensor([1.0 + 1e-6, 2.1]))
    tensor([ True, False])
    """
    _tensor_other("isclose", other)
    if input._data.dtype != other._data.dtype:
        raise RuntimeError(f"{input.dtype._short_name} did not match {other.dtype._short_name}")
    if rtol < 0:
        raise RuntimeError(f"rtol must be greater than or equal to zero, but got {rtol}")
    if atol < 0:
        raise RuntimeError(f"atol must be greater than or equal to zero, but got {atol}")
    a, b, dev = _operands(input, other)
    xp = dev.xp
    close = _binary(xp.equal, a, b)
    kind = a.dtype.kind
    if kind == "b":
        return _finish(close, dev)
    if equal_nan and kind in _FLOAT_KINDS:
        close |= xp.isnan(a) & xp.isnan(b)
    if rtol or atol:
        if kind not in _FLOAT_KINDS:
            target = _dt.get_default_dtype().np_dtype
            a, b = a.astype(target), b.astype(target)
        with np.errstate(all="ignore"):
            diff = xp.abs(a - b)
            allowed = xp.abs(b) * rtol
            allowed += atol
            close |= xp.isfinite(diff) & (diff <= allowed)
    return _finish(close, dev)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    """True when ``isclose`` holds everywhere (shapes must broadcast)."""
    return bool(isclose(input, other, rtol, atol, equal_nan)._data.all())


def equal(input, other) -> bool:
    """True when both tensors have the same shape and the same values (dtypes may differ)."""
    _tensor_other("equal", other)
    if input._data.shape != other._data.shape:
        return False
    a, b, dev = _operands(input, other)
    return bool(dev.xp.array_equal(a, b))


# ---------------------------------------------------------------------------------------------
# where
# ---------------------------------------------------------------------------------------------

class Where(Op):
    node_name = "WhereBackward0"
    scalar_edges = 3  # a Number input/other shows as (None, 0) in next_functions, as in PyTorch

    @staticmethod
    def forward(ctx, cond, x, y):
        ctx.save_for_backward(cond)
        return ctx.xp.where(cond, x, y)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved
        xp = ctx.xp
        need = ctx.needs_input_grad
        gx = xp.where(cond, g, 0.0) if need[1] else None
        gy = xp.where(cond, 0.0, g) if need[2] else None
        return None, gx, gy


def _nonzero_tuple(cond):
    data = cond._data
    xp = cond._device.xp
    if data.ndim == 0:
        data = data.reshape(1)
    return tuple(_finish(ix.astype(np.int64, copy=False), cond._device)
                 for ix in xp.nonzero(data))


def where(condition, input=None, other=None, *, out=None):
    """``input`` where ``condition`` is True, else ``other`` (either may be a Number); with only
    ``condition``, the indices of its True elements as a tuple (``nonzero(as_tuple=True)``).

    >>> import probe
    >>> x = probe.tensor([-1.0, 2.0])
    >>> probe.where(x > 0, x, 0.0)
    tensor([0., 2.])
    """
    if not isinstance(condition, Tensor):
        raise TypeError(
            f"where(): argument 'condition' (position 1) must be Tensor, not "
            f"{type(condition).__name__}"
        )
    if input is None and other is None:
        return _nonzero_tuple(condition)
    if input is None or other is None:
        raise TypeError("where() takes 1 or 3 arguments: where(condition) or "
                        "where(condition, input, other)")
    kind = condition._data.dtype.kind
    if kind != "b":
        if condition._data.dtype != np.uint8:
            raise RuntimeError(
                "where expected condition to be a boolean tensor, but got a tensor with dtype "
                f"{condition.dtype._short_name}"
            )
        warnings.warn(
            "where received a uint8 condition tensor. This behavior is deprecated and will be "
            "removed in a future version of PyTorch. Use a boolean condition instead.",
            UserWarning, stacklevel=2,
        )
        condition = _finish(condition._data.astype(bool), condition._device)
    input = _where_operand(input, condition)
    other = _where_operand(other, condition)
    ops = [priority(v) if isinstance(v, Tensor) else v for v in (input, other)]
    dtype = _dt.result_type_of(ops)
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        xp = condition._device.xp
        np_dtype = _dt.numpy_dtype(dtype)
        data = xp.where(condition._data, xp.asarray(input, dtype=np_dtype),
                        xp.asarray(other, dtype=np_dtype))
        return _maybe_out(_finish(data, condition._device), out)
    if isinstance(input, Tensor):
        input = cast(input, dtype)
    if isinstance(other, Tensor):
        other = cast(other, dtype)
    try:
        result = Where.apply(condition, input, other)
    except ValueError:
        shapes = [np.shape(v._data) if isinstance(v, Tensor) else () for v in (input, other)]
        cond_shape = condition._data.shape
        a, b = (cond_shape, shapes[0]) if _mismatch(cond_shape, shapes[0]) else (
            (cond_shape, shapes[1]) if _mismatch(cond_shape, shapes[1]) else shapes)
        raise _broadcast_error(a, b) from None
    return _maybe_out(result, out)


def _mismatch(a, b):
    return any(x != y and x != 1 and y != 1 for x, y in zip(a[::-1], b[::-1], strict=False))


def _where_operand(value, condition):
    if isinstance(value, Tensor):
        if value._device is not condition._device and not (
                value._data.ndim == 0 and value._device.type == "cpu"):
            raise RuntimeError(_device_mismatch_msg(condition._device, value._device))
        if value._device is not condition._device:
            return value.to(condition._device)
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        from .creation import as_tensor  # noqa: PLC0415

        return as_tensor(value, device=condition._device)
    if not isinstance(value, _NUMBERS):
        raise TypeError(
            f"where(): argument 'input' must be Tensor or Number, not {type(value).__name__}"
        )
    return value


def _where_method(self, condition, other):
    return where(condition, self, other)


# ---------------------------------------------------------------------------------------------
# Integer division for arith (``div(rounding_mode=...)`` of integer tensors)
# ---------------------------------------------------------------------------------------------

def _nondiff(name, input, other):
    """``name`` ("floor_divide" or "trunc_divide") of integer operands, outside autograd."""
    a = input._data
    dev = input._device
    xp = dev.xp
    b = other._data if isinstance(other, Tensor) else other
    if dev.type == "cpu":
        zero = (b == 0) if not isinstance(b, _ndarray) else bool((b == 0).any())
        if zero:
            raise RuntimeError("ZeroDivisionError")
    if name == "floor_divide":
        q = _binary(xp.floor_divide, a, b)
    elif name == "trunc_divide":
        q = _binary(xp.floor_divide, a, b)
        # Floor and truncation differ by one where the division is inexact and the signs differ.
        inexact = (q * b) != a
        q = q + (inexact & ((a < 0) != (xp.asarray(b) < 0)))
        q = q.astype(np.result_type(q.dtype, a.dtype), copy=False)
    else:
        q = _binary(getattr(xp, name), a, b)
    return _finish(q, dev)


# ---------------------------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------------------------

FUNCTIONS = {
    "eq": eq, "ne": ne, "lt": lt, "le": le, "gt": gt, "ge": ge, "less": less,
    "less_equal": less_equal, "greater": greater, "greater_equal": greater_equal,
    "not_equal": not_equal, "logical_and": logical_and, "logical_or": logical_or,
    "logical_xor": logical_xor, "logical_not": logical_not, "bitwise_and": bitwise_and,
    "bitwise_or": bitwise_or, "bitwise_xor": bitwise_xor, "bitwise_not": bitwise_not,
    "bitwise_left_shift": bitwise_left_shift, "bitwise_right_shift": bitwise_right_shift,
    "isnan": isnan, "isinf": isinf, "isposinf": isposinf, "isneginf": isneginf,
    "isfinite": isfinite, "isreal": isreal, "isclose": isclose, "allclose": allclose,
    "equal": equal, "where": where,
}

TENSOR_METHODS = dict(FUNCTIONS)
TENSOR_METHODS.update({
    "where": _where_method,
    "__eq__": _eq, "__ne__": _ne, "__lt__": _lt, "__le__": _le, "__gt__": _gt, "__ge__": _ge,
    "__and__": _and, "__or__": _or, "__xor__": _xor, "__rand__": _rand, "__ror__": _ror,
    "__rxor__": _rxor, "__lshift__": _lshift, "__rshift__": _rshift, "__rlshift__": _rlshift,
    "__rrshift__": _rrshift, "__invert__": _invert,
})


def _ns_tensor(x, like=None):
    if isinstance(x, Tensor):
        return x
    from .creation import as_tensor, full  # noqa: PLC0415

    if like is not None and isinstance(x, _NUMBERS):
        return full((), x, dtype=_dt.result_type_of([x]), device=like._device)
    return as_tensor(x, device=None if like is None else like._device)


def _ns_compare(fn, swapped):
    def ns_fn(x1, x2):
        if not isinstance(x1, Tensor):
            if isinstance(x2, Tensor):
                return swapped(x2, x1)
            x1 = _ns_tensor(x1)
        return fn(x1, x2)

    ns_fn.__name__ = fn.__name__
    return ns_fn


def _ns_pair(fn):
    def ns_fn(x1, x2):
        if not isinstance(x1, Tensor):
            x1 = _ns_tensor(x1, x2 if isinstance(x2, Tensor) else None)
        if not isinstance(x2, Tensor):
            x2 = _ns_tensor(x2, x1)
        return fn(x1, x2)

    ns_fn.__name__ = fn.__name__
    return ns_fn


def _ns_where(condition, x=None, y=None):
    if not isinstance(condition, Tensor):
        like = x if isinstance(x, Tensor) else y if isinstance(y, Tensor) else None
        condition = _ns_tensor(condition, like)
    if x is None and y is None:
        return where(condition)
    return where(condition, x, y)


def _ns_unary(fn):
    def ns_fn(x):
        return fn(_ns_tensor(x))

    ns_fn.__name__ = fn.__name__
    return ns_fn


NUMPY_NAMESPACE = {
    "where": _ns_where,
    "equal": _ns_compare(eq, eq), "not_equal": _ns_compare(ne, ne),
    "less": _ns_compare(lt, gt), "less_equal": _ns_compare(le, ge),
    "greater": _ns_compare(gt, lt), "greater_equal": _ns_compare(ge, le),
    "logical_and": _ns_pair(logical_and), "logical_or": _ns_pair(logical_or),
    "logical_xor": _ns_pair(logical_xor), "logical_not": _ns_unary(logical_not),
    "bitwise_and": _ns_pair(bitwise_and), "bitwise_or": _ns_pair(bitwise_or),
    "bitwise_xor": _ns_pair(bitwise_xor), "invert": _ns_unary(bitwise_not),
    "bitwise_not": _ns_unary(bitwise_not), "left_shift": _ns_pair(bitwise_left_shift),
    "right_shift": _ns_pair(bitwise_right_shift),
    "isnan": _ns_unary(isnan), "isinf": _ns_unary(isinf), "isfinite": _ns_unary(isfinite),
    "isposinf": _ns_unary(isposinf), "isneginf": _ns_unary(isneginf),
    "isreal": _ns_unary(isreal),
    "isclose": lambda a, b, rtol=1e-05, atol=1e-08, equal_nan=False: isclose(
        _ns_tensor(a), _ns_tensor(b), rtol, atol, equal_nan),
    "allclose": lambda a, b, rtol=1e-05, atol=1e-08, equal_nan=False: allclose(
        _ns_tensor(a), _ns_tensor(b), rtol, atol, equal_nan),
    "array_equal": lambda a1, a2, equal_nan=False: equal(_ns_tensor(a1), _ns_tensor(a2)),
}
