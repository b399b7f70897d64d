"""Reductions, scans and sorting: ``sum``, ``mean``, ``prod``, ``max``/``min``, ``amax``/``amin``,
``var``/``std``, norms, ``logsumexp``, ``cumsum``/``cumprod``, ``softmax``/``log_softmax``,
``sort``/``topk``/``median``/``mode``/``kthvalue``, ``cummax``/``cummin``, ``all``/``any``,
``argmax``/``argmin``, ``count_nonzero`` and ``unique``.

Backwards go through ``ctx.xp`` only, so they run on arrays and, under ``create_graph=True``, on
Tensors. What a gradient needs that is piecewise constant (tie masks, signs, indices of a max or a
sort) is computed from the raw data and enters the formula as a constant array: its derivative is
zero almost everywhere, so the formula stays exact at every order. Index-based gradients scatter
into zeros with private ``_Scatter``/``_Gather`` ops, which are adjoint to each other.
"""

from __future__ import annotations

import builtins
import collections
import math
import sys
import types
import warnings

import numpy as np

from .. import dtypes as _dt
from ..backend import device_of_array
from ..grad_mode import STATE
from ._common import Op, Tensor, _wrap, _wrap_dim, cast
from .arith import _maybe_out, maximum, minimum

_INT64 = np.dtype(np.int64)
_UINT8 = np.dtype(np.uint8)
_BOOL = np.dtype(np.bool_)
_FLOAT16 = np.dtype(np.float16)
_NAN = math.nan
_INF = math.inf
_bmax = builtins.max

# Integer and bool sums/products accumulate in int64, as PyTorch (NumPy would keep uint64 for
# unsigned inputs); floating inputs keep their dtype.
_INT_ACC = {np.dtype(t): _INT64 for t in (np.bool_, np.uint8, np.int8, np.int16, np.int32,
                                          np.int64)}

_ALL_DIMS = tuple(tuple(range(n)) for n in range(17))


class _Unset:
    """Default of arguments whose explicit ``None`` selects another PyTorch overload (and so
    another grad_fn name): ``x.sum()`` is SumBackward0, ``x.sum(dim=None)`` SumBackward1."""

    def __repr__(self):
        return "<unset>"


_UNSET = _Unset()


# ---------------------------------------------------------------------------------------------
# Named tuples (``probe.return_types``)
# ---------------------------------------------------------------------------------------------

def _return_type(name, fields):
    cls = collections.namedtuple(name, fields, module="probe.return_types")

    def __repr__(self):
        body = ",\n".join(f"{f}={v!r}" for f, v in zip(self._fields, self, strict=True))
        return f"probe.return_types.{name}(\n{body})"

    cls.__repr__ = __repr__
    cls.__doc__ = f"``{name}`` result: a named tuple ({', '.join(fields)})."
    return cls


return_types = sys.modules.get("probe.return_types")
if return_types is None:
    return_types = types.ModuleType(
        "probe.return_types", "Named tuples returned by probe ops (``max(dim)``, ``sort``...)."
    )
    sys.modules["probe.return_types"] = return_types

for _name, _fields in (
    ("max", ("values", "indices")), ("min", ("values", "indices")),
    ("sort", ("values", "indices")), ("topk", ("values", "indices")),
    ("median", ("values", "indices")), ("mode", ("values", "indices")),
    ("kthvalue", ("values", "indices")), ("cummax", ("values", "indices")),
    ("cummin", ("values", "indices")), ("aminmax", ("min", "max")),
):
    setattr(return_types, _name, _return_type(_name, _fields))
del _name, _fields

_RT = return_types


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def _raw(a):
    """The array behind a saved value (a Tensor under create_graph, else already an array)."""
    return a._data if isinstance(a, Tensor) else a


def _plain(arr, dev):
    """A tensor outside autograd (integer and bool results)."""
    if not isinstance(arr, np.ndarray) and isinstance(arr, np.generic):
        arr = np.asarray(arr)
    t = _wrap(arr, dev)
    if STATE.inference:
        t._is_inference = True
    return t


def _dims(dim, ndim):
    """The reduced dims, sorted and non-negative; ``None`` and ``()`` mean all of them."""
    if dim is None:
        return _ALL_DIMS[ndim] if ndim <= 16 else tuple(range(ndim))
    if isinstance(dim, int | np.integer):
        d = _wrap_dim(int(dim), ndim)
        return (d,) if ndim else ()
    return _dim_list(dim, ndim, empty_means_all=True)


def _dim_list(dim, ndim, empty_means_all):
    if isinstance(dim, Tensor):
        dim = dim.tolist()
    seen = []
    for d in dim:
        w = _wrap_dim(int(d), ndim)
        if w in seen:
            raise RuntimeError(f"dim {w} appears multiple times in the list of dims")
        seen.append(w)
    if not seen:
        return tuple(range(ndim)) if empty_means_all else ()
    return tuple(sorted(seen)) if ndim else ()


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _keep(g, shape, axes, keepdim):
    """``g`` reshaped so the reduced dims are size 1 again (broadcastable against the input)."""
    if keepdim or not axes:
        return g
    return g.reshape(_kept_shape(shape, axes))


def _expand(xp, g, shape, axes, keepdim):
    return xp.broadcast_to(_keep(g, shape, axes, keepdim), shape)


def _mean_arr(x, axes, keepdims, np_dtype, n):
    """Mean as sum / n through the array method (``np.mean`` costs several microseconds more);
    float16 accumulates in float32 as NumPy and PyTorch do."""
    if np_dtype is None and x.dtype == _FLOAT16:
        return (x.sum(axis=axes, dtype=np.float32, keepdims=keepdims) / n).astype(_FLOAT16)
    return x.sum(axis=axes, dtype=np_dtype, keepdims=keepdims) / n


def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def _np_dtype(dtype):
    return None if dtype is None else _dt.numpy_dtype(_dt.to_dtype(dtype))


def _short(t):
    return _dt.short_name(t._data.dtype)


def _along(axis, ndim, n, xp, dtype=None):
    """``arange(n)`` shaped to broadcast along ``axis`` of an ``ndim``-d array."""
    r = xp.arange(n) if dtype is None else xp.arange(n, dtype=dtype)
    return r.reshape((1,) * axis + (n,) + (1,) * (ndim - axis - 1))


def _along_key(xp, idx, axis):
    """An advanced-index key that addresses ``idx`` positions along ``axis``."""
    nd = idx.ndim
    return tuple(idx if d == axis else _along(d, nd, idx.shape[d], xp) for d in range(nd))


def _scatter_arrays(xp, g, idx, axis, shape, accumulate):
    if accumulate:
        # A scatter-add that NumPy and CuPy both have: bincount over flat positions.
        strides = []
        step = 1
        for s in reversed(shape):
            strides.append(step)
            step *= s
        strides.reverse()
        key = _along_key(xp, idx, axis)
        flat = None
        for k, st in zip(key, strides, strict=True):
            term = k * st
            flat = term if flat is None else flat + term
        flat = xp.broadcast_to(flat, idx.shape).reshape(-1)
        total = xp.bincount(flat, weights=xp.broadcast_to(g, idx.shape).reshape(-1),
                            minlength=step)
        return total.astype(g.dtype, copy=False).reshape(shape)
    out = xp.zeros(shape, dtype=g.dtype)
    out[_along_key(xp, idx, axis)] = g
    return out


class _Scatter(Op):
    """Place ``g`` at ``idx`` along ``axis`` in zeros of ``shape`` (a gradient helper)."""

    node_name = "ScatterBackward0"

    @staticmethod
    def forward(ctx, g, idx, axis, shape, accumulate):
        if ctx.recording:  # the shared no-grad ctx must not keep the index array alive
            ctx.idx = idx
            ctx.axis = axis
        return _scatter_arrays(ctx.xp, g, idx, axis, shape, accumulate)

    @staticmethod
    def backward(ctx, gg):
        return (_gather(ctx.xp, gg, ctx.idx, ctx.axis),)


class _Gather(Op):
    node_name = "GatherBackward0"

    @staticmethod
    def forward(ctx, a, idx, axis):
        if ctx.recording:
            ctx.idx = idx
            ctx.axis = axis
            ctx.shape = a.shape
        return ctx.xp.take_along_axis(a, idx, axis)

    @staticmethod
    def backward(ctx, g):
        return (_scatter(ctx.xp, g, ctx.idx, ctx.axis, ctx.shape, True),)


def _scatter(xp, g, idx, axis, shape, accumulate=False):
    if isinstance(g, Tensor):
        return _Scatter.apply(g, idx, axis, shape, accumulate)
    return _scatter_arrays(xp, g, idx, axis, shape, accumulate)


def _gather(xp, a, idx, axis):
    if isinstance(a, Tensor):
        return _Gather.apply(a, idx, axis)
    return xp.take_along_axis(a, idx, axis)


def _rev_cumsum(xp, g, axis):
    return xp.flip(xp.cumsum(xp.flip(g, axis), axis=axis), axis)


def _tie_weights(x, out_kept, axes):
    """1/count on the elements equal to the (kept-dims) result, 0 elsewhere; NaN results count
    the NaN elements as ties, as PyTorch does."""
    mask = x == out_kept
    if x.dtype.kind in "fc":
        nan_out = out_kept != out_kept
        if nan_out.any():
            mask |= (x != x) & nan_out
    w = mask.astype(x.dtype)
    w /= w.sum(axis=axes, keepdims=True)
    return w


def _even_backward(ctx, g, x, out):
    """The gradient of a value-selecting full/dims reduction: split evenly among ties."""
    shape, axes, keepdim = ctx.shape, ctx.axes, ctx.keepdim
    w = _tie_weights(_raw(x), _keep(_raw(out), shape, axes, keepdim), axes)
    return _keep(g, shape, axes, keepdim) * w


def _index_backward(ctx, g):
    """The gradient of a (values, indices) reduction along ``ctx.axis``: scatter into zeros."""
    (idx,) = ctx.saved
    axis = ctx.axis
    if axis is None:  # a 0-d input: the value is the input
        return g
    idx = _raw(idx)
    if not ctx.keepdim:
        kept = _kept_shape(ctx.shape, (axis,))
        g = g.reshape(kept)
        idx = idx.reshape(kept)
    return _scatter(ctx.xp, g, idx, axis, ctx.shape)


def _stable_argsort(xp, x, axis, descending):
    """Stable argsort; descending keeps equal elements in their original order and puts NaN
    first, as PyTorch does (no negation, so unsigned and bool inputs work)."""
    if not descending:
        return xp.argsort(x, axis=axis, kind="stable")
    n = x.shape[axis]
    r = xp.argsort(xp.flip(x, axis), axis=axis, kind="stable")
    return (n - 1) - xp.flip(r, axis)


def _check_reduce_nonempty(name, t, axes, explicit):
    data = t._data
    if data.size:
        return
    if not explicit:
        raise RuntimeError(
            f"{name}(): Expected reduction dim to be specified for input.numel() == 0. Specify "
            "the reduction dim with the 'dim' argument."
        )
    for a in axes:
        if data.shape[a] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {a} to have non-zero size.")


def _check_dim_nonempty(name, t, axis):
    if t._data.ndim and t._data.shape[axis] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {axis} to have non-zero size.")


def _out_tuple(result, out):
    if out is None:
        return result
    for dst, src in zip(out, result, strict=True):
        _maybe_out(src, dst)
    return type(result)(*out)


def _int_dim(name, dim):
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
        raise TypeError(
            f"{name}(): argument 'dim' (position 1) must be int, not {type(dim).__name__}"
        )
    return int(dim)


# ---------------------------------------------------------------------------------------------
# sum, nansum, mean, prod
# ---------------------------------------------------------------------------------------------

class Sum(Op):
    node_name = "SumBackward0"

    @staticmethod
    def forward(ctx, x, np_dtype):
        ctx.shape = x.shape
        return x.sum(dtype=np_dtype)

    @staticmethod
    def backward(ctx, g):
        return (ctx.xp.broadcast_to(g, ctx.shape),)


class SumDim(Op):
    node_name = "SumBackward1"

    @staticmethod
    def forward(ctx, x, axes, keepdim, np_dtype):
        ctx.shape = x.shape
        ctx.axes = axes
        ctx.keepdim = keepdim
        return x.sum(axis=axes, dtype=np_dtype, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        return (_expand(ctx.xp, g, ctx.shape, ctx.axes, ctx.keepdim),)


class Nansum(Op):
    node_name = "NansumBackward0"

    @staticmethod
    def forward(ctx, x, axes, keepdim, np_dtype):
        ctx.shape = x.shape
        ctx.axes = axes
        ctx.keepdim = keepdim
        ctx.save_for_backward(x)
        if x.dtype.kind not in "fc":
            return ctx.xp.sum(x, axis=axes, dtype=np_dtype, keepdims=keepdim)
        return ctx.xp.nansum(x, axis=axes, dtype=np_dtype, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        x = _raw(x)
        not_nan = (x == x).astype(x.dtype)
        return (_keep(g, ctx.shape, ctx.axes, ctx.keepdim) * not_nan,)


class Mean(Op):
    node_name = "MeanBackward0"

    @staticmethod
    def forward(ctx, x, np_dtype):
        ctx.shape = x.shape
        if x.size == 0:
            return ctx.xp.full((), _NAN, dtype=np_dtype or x.dtype)
        return _mean_arr(x, None, False, np_dtype, x.size)

    @staticmethod
    def backward(ctx, g):
        n = math.prod(ctx.shape)
        return (ctx.xp.broadcast_to(g * (1.0 / n if n else _NAN), ctx.shape),)


class MeanDim(Op):
    node_name = "MeanBackward1"

    @staticmethod
    def forward(ctx, x, axes, keepdim, np_dtype):
        ctx.shape = x.shape
        ctx.axes = axes
        ctx.keepdim = keepdim
        n = _count(x.shape, axes)
        if n == 0:
            return x.sum(axis=axes, dtype=np_dtype, keepdims=keepdim) * _NAN
        return _mean_arr(x, axes, keepdim, np_dtype, n)

    @staticmethod
    def backward(ctx, g):
        n = _count(ctx.shape, ctx.axes)
        g = g * (1.0 / n if n else _NAN)
        return (_expand(ctx.xp, g, ctx.shape, ctx.axes, ctx.keepdim),)


def _prod_backward(ctx, g):
    x, out = ctx.saved
    xp = ctx.xp
    shape, axis, keepdim = ctx.shape, ctx.axis, ctx.keepdim
    axes = _ALL_DIMS[len(shape)] if axis is None else (axis,)
    if axis is not None and not shape:
        axes = ()
    gk = _keep(g, shape, axes, keepdim)
    xr = _raw(x)
    zero = xr == 0
    if not zero.any():
        return (gk * _keep(out, shape, axes, keepdim) / x,)
    if isinstance(g, Tensor):
        return (gk * _prod_others_exact(ctx, x, axis),)
    # First order with zeros: only a slice's single zero gets a gradient (the product of the
    # others); slices with two or more zeros have none.
    cnt = zero.sum(axis=axes, keepdims=True)
    xnz = xp.where(zero, 1, xr)
    pnz = xp.prod(xnz, axis=axes, keepdims=True)
    return (gk * xp.where(zero, (cnt == 1) * pnz, (cnt == 0) * pnz / xnz),)


def _exclusion_eye(ctx, n, axis, ndim, dtype):
    """Constants for the exact (differentiable) product paths, laid out for an extra axis
    inserted at ``axis``: the identity and the upper triangle ``i >= j``."""
    axp = ctx._device.xp
    shape = (1,) * axis + (n, n) + (1,) * (ndim - axis - 1)
    eye = axp.eye(n, dtype=dtype).reshape(shape)
    upper = axp.triu(axp.ones((n, n), dtype=dtype)).reshape(shape)
    return eye, upper


def _prod_others_exact(ctx, x, axis):
    """``prod_{k != j} x_k`` along ``axis`` (all elements when None), as a differentiable
    expression that stays exact with zeros: rows of a matrix where entry j is replaced by 1.
    O(n^2) memory per slice, used only for higher-order gradients through zeros."""
    xp = ctx.xp
    shape = x.shape
    if axis is None:
        flat = x.reshape(-1)
        return _prod_others_exact(ctx, flat, 0).reshape(shape)
    n = shape[axis]
    eye, _ = _exclusion_eye(ctx, n, axis, len(shape), _raw(x).dtype)
    rows = x.reshape(shape[:axis] + (1,) + shape[axis:]) * (1 - eye) + eye
    return xp.prod(rows, axis=axis + 1)


class Prod(Op):
    node_name = "ProdBackward0"

    @staticmethod
    def forward(ctx, x, np_dtype):
        ctx.shape = x.shape
        ctx.axis = None
        ctx.keepdim = False
        out = ctx.xp.asarray(x.prod(dtype=np_dtype))
        ctx.save_for_backward(x, out)
        return out

    backward = staticmethod(_prod_backward)


class ProdDim(Op):
    node_name = "ProdBackward1"

    @staticmethod
    def forward(ctx, x, axis, keepdim, np_dtype):
        ctx.shape = x.shape
        ctx.axis = axis
        ctx.keepdim = keepdim
        out = ctx.xp.asarray(x.prod(axis=axis if x.ndim else None, dtype=np_dtype,
                                    keepdims=keepdim and x.ndim > 0))
        ctx.save_for_backward(x, out)
        return out

    backward = staticmethod(_prod_backward)


def _sum_args(input, dtype):
    """The NumPy accumulator dtype for sum-like ops, and the input (cut from the graph when an
    explicit integer dtype makes the result non-differentiable)."""
    if dtype is None:
        return input, _INT_ACC.get(input._data.dtype)
    np_dtype = _np_dtype(dtype)
    if np_dtype.kind not in "fc" and input._requires_grad:
        input = input.detach()
    return input, np_dtype


def sum(input, dim=_UNSET, keepdim=False, *, dtype=None, out=None, axis=None, keepdims=None):
    """Sum of all elements, or over ``dim`` (an int or a tuple); integer and bool inputs sum to
    int64.

    >>> import probe
    >>> probe.tensor([[1, 2], [3, 4]]).sum(0)
    tensor([4, 6])
    """
    if axis is not None:
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    input, np_dtype = _sum_args(input, dtype)
    if dim is _UNSET:
        if not keepdim:
            return _maybe_out(Sum.apply(input, np_dtype), out)
        dim = None
    axes = _dims(dim, input._data.ndim)
    return _maybe_out(SumDim.apply(input, axes, bool(keepdim), np_dtype), out)


def nansum(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """Sum treating NaN as zero."""
    input, np_dtype = _sum_args(input, dtype)
    axes = _dims(dim, input._data.ndim)
    return _maybe_out(Nansum.apply(input, axes, bool(keepdim), np_dtype), out)


def _mean_dtype(name, input, dtype):
    if dtype is None:
        if input._data.dtype.kind not in "fc":
            raise RuntimeError(
                f"{name}(): could not infer output dtype. Input dtype must be either a floating "
                f"point or complex dtype. Got: {_short(input)}"
            )
        return None
    d = _dt.to_dtype(dtype)
    if d.category < _dt.FLOATING:
        raise RuntimeError(
            f"{name}(): could not infer output dtype. Optional dtype must be either a floating "
            f"point or complex dtype. Got: {d._short_name}"
        )
    return _dt.numpy_dtype(d)


def mean(input, dim=_UNSET, keepdim=False, *, dtype=None, out=None, axis=None, keepdims=None):
    """Arithmetic mean of all elements or over ``dim``; floating inputs only (or ``dtype=``).

    >>> import probe
    >>> probe.tensor([[1.0, 2.0], [3.0, 4.0]]).mean(1)
    tensor([1.5000, 3.5000])
    """
    if axis is not None:
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    np_dtype = _mean_dtype("mean", input, dtype)
    if dim is _UNSET:
        if not keepdim:
            return _maybe_out(Mean.apply(input, np_dtype), out)
        dim = None
    axes = _dims(dim, input._data.ndim)
    return _maybe_out(MeanDim.apply(input, axes, bool(keepdim), np_dtype), out)


def nanmean(input, dim=None, keepdim=False, *, dtype=None, out=None):
    """Mean over the non-NaN elements."""
    if input._data.dtype.kind not in "fc":
        raise RuntimeError(
            "nanmean(): expected input to have floating point or complex dtype but got "
            f"{_short(input)}"
        )
    if dtype is not None:
        input = cast(input, _dt.to_dtype(dtype))
    data = input._data
    axes = _dims(dim, data.ndim)
    count = (data == data).sum(axis=axes, keepdims=bool(keepdim)).astype(data.dtype)
    total = Nansum.apply(input, axes, bool(keepdim), None)
    return _maybe_out(total / _plain(count, input._device), out)


def prod(input, dim=None, keepdim=False, *, dtype=None, out=None, axis=None, keepdims=None):
    """Product of all elements, or along one ``dim``.

    >>> import probe
    >>> probe.tensor([[1.0, 2.0], [3.0, 4.0]]).prod(1)
    tensor([ 2., 12.])
    """
    if axis is not None:
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    input, np_dtype = _sum_args(input, dtype)
    if dim is None:
        return _maybe_out(Prod.apply(input, np_dtype), out)
    d = _wrap_dim(_int_dim("prod", dim), input._data.ndim)
    return _maybe_out(ProdDim.apply(input, d, bool(keepdim), np_dtype), out)


# ---------------------------------------------------------------------------------------------
# cumsum, cumprod, cummax, cummin
# ---------------------------------------------------------------------------------------------

class Cumsum(Op):
    node_name = "CumsumBackward0"

    @staticmethod
    def forward(ctx, x, axis, np_dtype):
        ctx.axis = axis
        if axis is None:  # 0-d
            return x.astype(np_dtype or x.dtype, copy=True)
        return x.cumsum(axis=axis, dtype=np_dtype)

    @staticmethod
    def backward(ctx, g):
        if ctx.axis is None:
            return (g,)
        return (_rev_cumsum(ctx.xp, g, ctx.axis),)


class Cumprod(Op):
    node_name = "CumprodBackward0"

    @staticmethod
    def forward(ctx, x, axis, np_dtype):
        ctx.axis = axis
        if axis is None:
            out = x.astype(np_dtype or x.dtype, copy=True)
        else:
            out = x.cumprod(axis=axis, dtype=np_dtype)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        axis = ctx.axis
        if axis is None:
            return (g,)
        x, out = ctx.saved
        xp = ctx.xp
        xr = _raw(x)
        zero = xr == 0
        if not zero.any():
            return (_rev_cumsum(xp, g * out, axis) / x,)
        if isinstance(g, Tensor):
            return (_cumprod_grad_exact(ctx, x, g, axis),)
        return (_cumprod_grad_zeros(xp, xr, _raw(out), g, zero, axis),)


def _cumprod_grad_zeros(xp, x, out, g, zero, axis):
    """First-order cumprod gradient with zeros, O(n): positions before a slice's first zero
    use the usual formula, the first zero gets prefix * sum_i g_i prod_(zero<k<=i) x_k, the
    rest get nothing."""
    n = x.shape[axis]
    pos = _along(axis, x.ndim, n, xp)
    has = zero.any(axis=axis, keepdims=True)
    z = xp.where(has, xp.argmax(zero, axis=axis, keepdims=True), n)
    before = pos < z
    x_safe = xp.where(zero, 1, x)
    part1 = xp.where(before, _rev_cumsum(xp, g * out, axis) / x_safe, 0)
    tail = xp.cumprod(xp.where(pos <= z, 1, x), axis=axis)
    s = xp.sum(xp.where(pos >= z, g * tail, 0), axis=axis, keepdims=True)
    prefix = xp.prod(xp.where(before, x, 1), axis=axis, keepdims=True)
    return part1 + xp.where(pos == z, prefix * s, 0)


def _cumprod_grad_exact(ctx, x, g, axis):
    """sum_{i>=j} g_i prod_{k<=i, k!=j} x_k as a differentiable expression (zeros allowed)."""
    xp = ctx.xp
    shape = x.shape
    n = shape[axis]
    eye, upper = _exclusion_eye(ctx, n, axis, len(shape), _raw(x).dtype)
    inserted = shape[:axis] + (1,) + shape[axis:]
    rows = x.reshape(inserted) * (1 - eye) + eye
    partial = xp.cumprod(rows, axis=axis + 1)
    return xp.sum(partial * g.reshape(inserted) * upper, axis=axis + 1)


def _scan_axis(input, dim):
    nd = input._data.ndim
    d = _wrap_dim(dim, nd)
    return d if nd else None


def cumsum(input, dim, *, dtype=None, out=None, axis=None):
    """Cumulative sum along ``dim``; integer and bool inputs accumulate in int64.

    >>> import probe
    >>> probe.tensor([1, 2, 3]).cumsum(0)
    tensor([1, 3, 6])
    """
    if axis is not None:
        dim = axis
    input, np_dtype = _sum_args(input, dtype)
    return _maybe_out(Cumsum.apply(input, _scan_axis(input, dim), np_dtype), out)


def cumprod(input, dim, *, dtype=None, out=None, axis=None):
    """Cumulative product along ``dim`` (gradients are exact with zeros in the input)."""
    if axis is not None:
        dim = axis
    input, np_dtype = _sum_args(input, dtype)
    return _maybe_out(Cumprod.apply(input, _scan_axis(input, dim), np_dtype), out)


class Cummax(Op):
    node_name = "CummaxBackward0"
    differentiable_outputs = (0,)
    _ufunc = "maximum"

    @classmethod
    def _scan(cls, ctx, x, axis):
        ctx.axis = axis
        ctx.shape = x.shape
        ctx.keepdim = True
        xp = ctx.xp
        if axis is None:
            idx = xp.zeros((), dtype=_INT64)
            ctx.save_for_backward(idx)
            return x.copy(), idx
        vals = getattr(xp, cls._ufunc).accumulate(x, axis=axis)
        # The latest position holding the running extreme (NaN counts as an extreme).
        mark = x == vals
        if x.dtype.kind in "fc":
            mark |= x != x
        pos = _along(axis, x.ndim, x.shape[axis], xp, _INT64)
        idx = xp.maximum.accumulate(xp.where(mark, pos, 0), axis=axis)
        ctx.save_for_backward(idx)
        return vals, idx

    @classmethod
    def forward(cls, ctx, x, axis):
        return cls._scan(ctx, x, axis)

    @staticmethod
    def backward(ctx, g, _g_indices=None):
        (idx,) = ctx.saved
        if ctx.axis is None:
            return (g,)
        return (_scatter(ctx.xp, g, _raw(idx), ctx.axis, ctx.shape, accumulate=True),)


class Cummin(Cummax):
    node_name = "CumminBackward0"
    _ufunc = "minimum"


def cummax(input, dim, *, out=None):
    """Running maximum along ``dim`` and the index where it was (last) attained."""
    return _out_tuple(_RT.cummax(*Cummax.apply(input, _scan_axis(input, dim))), out)


def cummin(input, dim, *, out=None):
    """Running minimum along ``dim`` and the index where it was (last) attained."""
    return _out_tuple(_RT.cummin(*Cummin.apply(input, _scan_axis(input, dim))), out)


# ---------------------------------------------------------------------------------------------
# max, min, amax, amin, aminmax, argmax, argmin
# ---------------------------------------------------------------------------------------------

class MaxAll(Op):
    node_name = "MaxBackward1"
    _fn = "max"

    @classmethod
    def forward(cls, ctx, x):
        ctx.shape = x.shape
        ctx.axes = _ALL_DIMS[x.ndim] if x.ndim <= 16 else tuple(range(x.ndim))
        ctx.keepdim = False
        out = ctx.xp.asarray(getattr(x, cls._fn)())
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved
        return (_even_backward(ctx, g, x, out),)


class MinAll(MaxAll):
    node_name = "MinBackward1"
    _fn = "min"


class Amax(Op):
    node_name = "AmaxBackward0"
    _fn = "max"

    @classmethod
    def forward(cls, ctx, x, axes, keepdim):
        ctx.shape = x.shape
        ctx.axes = axes
        ctx.keepdim = keepdim
        out = ctx.xp.asarray(getattr(x, cls._fn)(axis=axes, keepdims=keepdim))
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved
        return (_even_backward(ctx, g, x, out),)


class Amin(Amax):
    node_name = "AminBackward0"
    _fn = "min"


class Aminmax(Op):
    node_name = "AminmaxBackward0"

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.shape = x.shape
        ctx.axes = axes
        ctx.keepdim = keepdim
        xp = ctx.xp
        lo = xp.asarray(x.min(axis=axes, keepdims=keepdim))
        hi = xp.asarray(x.max(axis=axes, keepdims=keepdim))
        ctx.save_for_backward(x, lo, hi)
        return lo, hi

    @staticmethod
    def backward(ctx, g_min, g_max):
        x, lo, hi = ctx.saved
        return (_even_backward(ctx, g_min, x, lo) + _even_backward(ctx, g_max, x, hi),)


class MaxDim(Op):
    node_name = "MaxBackward0"
    differentiable_outputs = (0,)
    _arg = "argmax"
    _fn = "max"

    @classmethod
    def forward(cls, ctx, x, axis, keepdim):
        ctx.shape = x.shape
        ctx.keepdim = keepdim
        xp = ctx.xp
        if x.ndim == 0:
            ctx.axis = None
            idx = xp.zeros((), dtype=_INT64)
            ctx.save_for_backward(idx)
            return x.copy(), idx
        ctx.axis = axis
        # The reduction gives the same value as gathering at the arg index (NaN included:
        # both pick the first NaN) and is much cheaper than take_along_axis.
        idx = getattr(x, cls._arg)(axis=axis, keepdims=keepdim).astype(_INT64, copy=False)
        vals = getattr(x, cls._fn)(axis=axis, keepdims=keepdim)
        ctx.save_for_backward(idx)
        return vals, idx

    @staticmethod
    def backward(ctx, g, _g_indices=None):
        return (_index_backward(ctx, g),)


class MinDim(MaxDim):
    node_name = "MinBackward0"
    _arg = "argmin"
    _fn = "min"


def _extreme(name, input, dim, keepdim, out, other, pairwise, full_op, dim_op, rt):
    if other is not None:
        return pairwise(input, other, out=out)
    if dim is None:
        if keepdim:
            raise TypeError(f"{name}() received an invalid combination of arguments - got "
                            "(keepdim=bool), but expected (int dim, bool keepdim = False)")
        _check_reduce_nonempty(name, input, (), False)
        return _maybe_out(full_op.apply(input), out)
    if isinstance(dim, Tensor):
        return pairwise(input, dim, out=out)
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
        raise TypeError(
            f"{name}() received an invalid combination of arguments - got "
            f"({type(dim).__name__}), but expected one of: (), (Tensor other), "
            "(int dim, bool keepdim = False)"
        )
    axis = _wrap_dim(int(dim), input._data.ndim)
    _check_dim_nonempty(name, input, axis)
    return _out_tuple(rt(*dim_op.apply(input, axis, bool(keepdim))), out)


def max(input, dim=None, keepdim=False, *, out=None, other=None, axis=None):
    """The maximum: of all elements (a tensor), along ``dim`` (``(values, indices)``), or
    elementwise against another tensor (``max(a, b)`` is ``maximum``).

    >>> import probe
    >>> probe.tensor([[1.0, 5.0], [7.0, 2.0]]).max(1)
    probe.return_types.max(
    values=tensor([5., 7.]),
    indices=tensor([1, 0]))
    """
    if axis is not None:
        dim = axis
    return _extreme("max", input, dim, keepdim, out, other, maximum, MaxAll, MaxDim, _RT.max)


def min(input, dim=None, keepdim=False, *, out=None, other=None, axis=None):
    """The minimum: of all elements, along ``dim`` (``(values, indices)``), or elementwise
    against another tensor (``minimum``)."""
    if axis is not None:
        dim = axis
    return _extreme("min", input, dim, keepdim, out, other, minimum, MinAll, MinDim, _RT.min)


def _amax_like(name, op, input, dim, keepdim, out):
    explicit = dim is not None and not (not isinstance(dim, int | np.integer) and len(dim) == 0)
    axes = _dims(dim, input._data.ndim)
    _check_reduce_nonempty(name, input, axes, explicit)
    return _maybe_out(op.apply(input, axes, bool(keepdim)), out)


def amax(input, dim=(), keepdim=False, *, out=None, axis=None, keepdims=None):
    """Maximum over ``dim`` (an int or a tuple; all dims by default); gradients are split
    evenly among ties."""
    if axis is not None:
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    return _amax_like("amax", Amax, input, dim, keepdim, out)


def amin(input, dim=(), keepdim=False, *, out=None, axis=None, keepdims=None):
    """Minimum over ``dim`` (an int or a tuple; all dims by default)."""
    if axis is not None:
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    return _amax_like("amin", Amin, input, dim, keepdim, out)


def aminmax(input, *, dim=None, keepdim=False, out=None):
    """``(min, max)`` of all elements or along ``dim``, as ``return_types.aminmax``."""
    data = input._data
    axes = _dims(dim, data.ndim)
    if data.size == 0 and (dim is None or any(data.shape[a] == 0 for a in axes)):
        raise RuntimeError(
            "aminmax(): cannot compute aminmax over an empty dimension as the operation has no "
            "identity."
        )
    return _out_tuple(_RT.aminmax(*Aminmax.apply(input, axes, bool(keepdim))), out)


def _arg_extreme(name, input, dim, keepdim, out):
    data = input._data
    if data.dtype == _BOOL:
        raise RuntimeError(f"{name}(): does not support bool input")
    xp = input._device.xp
    fn = getattr(xp, name)
    if dim is None:
        if data.size == 0:
            raise IndexError(
                f"{name}(): Expected reduction dim to be specified for input.numel() == 0."
            )
        r = xp.asarray(fn(data), dtype=_INT64)
        if keepdim:
            r = r.reshape((1,) * data.ndim)
    else:
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
            raise TypeError(f"{name}(): argument 'dim' (position 1) must be int, not "
                            f"{type(dim).__name__}")
        axis = _wrap_dim(int(dim), data.ndim)
        if data.ndim == 0:
            r = xp.zeros((), dtype=_INT64)
        else:
            _check_dim_nonempty(name, input, axis)
            r = fn(data, axis=axis, keepdims=bool(keepdim)).astype(_INT64, copy=False)
    return _maybe_out(_plain(r, input._device), out)


def argmax(input, dim=None, keepdim=False, *, out=None, axis=None):
    """Index of the maximum (first one among ties) of the flattened input, or along ``dim``."""
    return _arg_extreme("argmax", input, dim if axis is None else axis, keepdim, out)


def argmin(input, dim=None, keepdim=False, *, out=None, axis=None):
    """Index of the minimum (first one among ties) of the flattened input, or along ``dim``."""
    return _arg_extreme("argmin", input, dim if axis is None else axis, keepdim, out)


# ---------------------------------------------------------------------------------------------
# var, std, var_mean, std_mean
# ---------------------------------------------------------------------------------------------

def _var_forward(xp, x, axes, keepdim, correction):
    """(variance, mean with kept dims); quiet about empty slices and dof <= 0 as PyTorch is."""
    n = _count(x.shape, axes)
    denom = _bmax(0, n - correction)
    if n == 0:
        nan = xp.sum(x, axis=axes, keepdims=True) * _NAN
        return (nan if keepdim else nan.reshape(_squeezed(x.shape, axes))), nan
    m = _mean_arr(x, axes, True, None, n)
    d = x - m
    d *= d
    s = d.sum(axis=axes, keepdims=keepdim)
    if denom > 0:
        return s / denom, m
    with np.errstate(divide="ignore", invalid="ignore"):
        return s / s.dtype.type(0), m


def _squeezed(shape, axes):
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _var_grad(ctx, g, x):
    xp = ctx.xp
    denom = ctx.denom
    d = x - xp.mean(x, axis=ctx.axes, keepdims=True)
    scale = 2.0 / denom if denom > 0 else _INF
    with np.errstate(invalid="ignore"):
        return _keep(g, ctx.shape, ctx.axes, ctx.keepdim) * scale * d


def _std_grad(ctx, g, x, out):
    xp = ctx.xp
    d = x - xp.mean(x, axis=ctx.axes, keepdims=True)
    o = _keep(out, ctx.shape, ctx.axes, ctx.keepdim)
    zero = _raw(o) == 0
    if zero.any():
        # A zero std has all deviations zero: PyTorch's gradient is 0 there, not NaN.
        o = o + zero.astype(_raw(o).dtype)
    denom = ctx.denom
    with np.errstate(divide="ignore", invalid="ignore"):
        gk = _keep(g, ctx.shape, ctx.axes, ctx.keepdim)
        return gk / (o * float(denom)) * d if denom > 0 else gk * _INF * d


class Var(Op):
    node_name = "VarBackward0"

    @staticmethod
    def forward(ctx, x, axes, keepdim, correction):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        ctx.denom = _bmax(0, _count(x.shape, axes) - correction)
        ctx.save_for_backward(x)
        return _var_forward(ctx.xp, x, axes, keepdim, correction)[0]

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return (_var_grad(ctx, g, x),)


class Std(Op):
    node_name = "StdBackward0"

    @staticmethod
    def forward(ctx, x, axes, keepdim, correction):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        ctx.denom = _bmax(0, _count(x.shape, axes) - correction)
        out = ctx.xp.sqrt(_var_forward(ctx.xp, x, axes, keepdim, correction)[0])
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved
        return (_std_grad(ctx, g, x, out),)


def _mean_part(ctx, g_mean):
    n = _count(ctx.shape, ctx.axes)
    return _expand(ctx.xp, g_mean * (1.0 / n if n else _NAN), ctx.shape, ctx.axes, ctx.keepdim)


class VarMean(Op):
    node_name = "VarMeanBackward0"

    @staticmethod
    def forward(ctx, x, axes, keepdim, correction):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        ctx.denom = _bmax(0, _count(x.shape, axes) - correction)
        ctx.save_for_backward(x)
        v, m = _var_forward(ctx.xp, x, axes, keepdim, correction)
        return v, (m if keepdim else m.reshape(_squeezed(x.shape, axes)))

    @staticmethod
    def backward(ctx, g_var, g_mean):
        (x,) = ctx.saved
        return (_var_grad(ctx, g_var, x) + _mean_part(ctx, g_mean),)


class StdMean(Op):
    node_name = "StdMeanBackward0"

    @staticmethod
    def forward(ctx, x, axes, keepdim, correction):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        ctx.denom = _bmax(0, _count(x.shape, axes) - correction)
        v, m = _var_forward(ctx.xp, x, axes, keepdim, correction)
        out = ctx.xp.sqrt(v)
        ctx.save_for_backward(x, out)
        return out, (m if keepdim else m.reshape(_squeezed(x.shape, axes)))

    @staticmethod
    def backward(ctx, g_std, g_mean):
        x, out = ctx.saved
        return (_std_grad(ctx, g_std, x, out) + _mean_part(ctx, g_mean),)


def _var_args(name, op, input, dim, unbiased, keepdim, correction, axis, keepdims):
    if axis is not None:
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    if isinstance(dim, bool):  # var(input, unbiased)
        if unbiased is not None:
            raise TypeError(f"{name}() received an invalid combination of arguments")
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise TypeError(
            f"{name}() received an invalid combination of arguments - got (correction=, "
            "unbiased=): pass either `unbiased` (legacy) or `correction`, not both"
        )
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    if input._data.dtype.kind not in "fc":
        raise RuntimeError("std and var only support floating point and complex dtypes")
    axes = _dims(dim, input._data.ndim)
    if _count(input._data.shape, axes) - correction <= 0:
        warnings.warn(
            f"{name}(): degrees of freedom is <= 0. Correction should be strictly less than the "
            "reduction factor (input numel divided by output numel).",
            UserWarning, stacklevel=3,
        )
    return op.apply(input, axes, bool(keepdim), correction)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None,
        axis=None, keepdims=None):
    """Variance over ``dim`` (all elements by default) with Bessel's ``correction`` (1 by
    default; the legacy ``unbiased=False`` means ``correction=0``).

    >>> import probe
    >>> probe.tensor([1.0, 2.0, 3.0, 4.0]).var()
    tensor(1.6667)
    """
    result = _var_args("var", Var, input, dim, unbiased, keepdim, correction, axis, keepdims)
    return _maybe_out(result, out)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None,
        axis=None, keepdims=None):
    """Standard deviation over ``dim``; same arguments as ``var``."""
    result = _var_args("std", Std, input, dim, unbiased, keepdim, correction, axis, keepdims)
    return _maybe_out(result, out)


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None):
    """``(var, mean)`` in one pass; same arguments as ``var``."""
    return _out_tuple(
        _var_args("var_mean", VarMean, input, dim, unbiased, keepdim, correction, None, None), out
    )


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None):
    """``(std, mean)`` in one pass; same arguments as ``var``."""
    return _out_tuple(
        _var_args("std_mean", StdMean, input, dim, unbiased, keepdim, correction, None, None), out
    )


# ---------------------------------------------------------------------------------------------
# Norms
# ---------------------------------------------------------------------------------------------

class VectorNorm(Op):
    node_name = "LinalgVectorNormBackward0"

    @staticmethod
    def forward(ctx, x, ord, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim, ctx.ord = x.shape, axes, keepdim, ord
        xp = ctx.xp
        if ord == 2:
            if not keepdim and len(axes) == x.ndim and x.ndim:
                flat = x.reshape(-1)
                out = xp.sqrt(xp.asarray(xp.dot(flat, flat)))
            else:
                out = xp.sqrt((x * x).sum(axis=axes, keepdims=keepdim))
        elif ord == 1:
            out = xp.sum(xp.abs(x), axis=axes, keepdims=keepdim)
        elif ord == _INF:
            out = xp.max(xp.abs(x), axis=axes, keepdims=keepdim)
        elif ord == -_INF:
            out = xp.min(xp.abs(x), axis=axes, keepdims=keepdim)
        elif ord == 0:
            out = xp.sum(x != 0, axis=axes, keepdims=keepdim).astype(x.dtype)
        else:
            with np.errstate(divide="ignore", over="ignore"):
                out = xp.sum(xp.abs(x) ** ord, axis=axes, keepdims=keepdim) ** (1.0 / ord)
        out = xp.asarray(out)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved
        p = ctx.ord
        if p == 0:
            return (None,)
        shape, axes, keepdim = ctx.shape, ctx.axes, ctx.keepdim
        xr = _raw(x)
        gk = _keep(g, shape, axes, keepdim)
        ok = _keep(out, shape, axes, keepdim)
        okr = _raw(ok)
        if p == 2:
            # The subgradient at a zero norm is 0 (x is all zeros there): divide by 1 instead.
            zero = okr == 0
            if zero.any():
                ok = ok + zero.astype(okr.dtype)
            return (gk / ok * x,)
        sign = ctx._device.xp.sign(xr)
        if p == 1:
            return (gk * sign,)
        if p == _INF or p == -_INF:
            w = _tie_weights(ctx._device.xp.abs(xr), okr, axes)
            return (gk * (sign * w),)
        # d/dx (sum |x|^p)^(1/p) = x |x|^(p-2) norm^(1-p); zero entries get 0.
        zx = (xr == 0).astype(xr.dtype)
        absx = x * sign + zx
        if p > 1:
            zero = okr == 0
            if zero.any():
                ok = ok + zero.astype(okr.dtype)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return (gk * ok ** (1.0 - p) * (x * absx ** (p - 2.0)),)


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):
    """The vector ``ord``-norm (2, 1, inf, -inf, 0 or any p) over ``dim`` (all elements by
    default), as ``torch.linalg.vector_norm``; the gradient at a zero norm is 0.

    >>> import probe
    >>> probe.tensor([3.0, 4.0]).norm()
    tensor(5.)
    """
    if isinstance(ord, bool) or not isinstance(ord, int | float):
        raise TypeError(
            f"linalg_vector_norm(): argument 'ord' must be Number, not {type(ord).__name__}"
        )
    if dtype is not None:
        d = _dt.to_dtype(dtype)
        if d.category < _dt.FLOATING:
            raise RuntimeError(
                "linalg.vector_norm: dtype should be floating point or complex, but got "
                f"{d._short_name}"
            )
        if x._data.dtype.kind in "fc":
            x = cast(x, d)
    if x._data.dtype.kind not in "fc":
        raise RuntimeError(
            "linalg.vector_norm: Expected a floating point or complex tensor as input. Got "
            f"{_short(x)}"
        )
    data = x._data
    axes = _dims(dim, data.ndim)
    if data.size == 0 and (ord < 0 or ord == _INF):
        name = "inf" if ord == _INF else "-inf" if ord == -_INF else str(ord)
        if dim is None:
            raise RuntimeError(
                f"linalg.vector_norm cannot compute the {name} norm on an empty tensor because "
                "the operation does not have an identity"
            )
        for a in axes:
            if data.shape[a] == 0:
                raise RuntimeError(
                    f"linalg.vector_norm cannot compute the {name} norm on the dimension {a}"
                    "because this dimension is empty and the operation does not have an identity"
                )
    p = ord if ord in (0, 1, 2) else float(ord)
    return _maybe_out(VectorNorm.apply(x, p, axes, bool(keepdim)), out)


def norm(input, p="fro", dim=None, keepdim=False, out=None, dtype=None):
    """``torch.norm``: a vector norm (``p`` a number, or ``'fro'`` over at most two dims) or the
    nuclear norm (``'nuc'``) of a matrix."""
    if isinstance(dim, int | np.integer):
        dim = (int(dim),)
    if isinstance(p, str):
        nd = input._data.ndim
        if p == "fro":
            if dim is not None and len(dim) > 2:
                dims = " ".join(str(_wrap_dim(int(d), nd)) for d in dim)
                raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {dims}")
            return vector_norm(input, 2, dim, keepdim, dtype=dtype, out=out)
        if p == "nuc":
            from . import linalg as _linalg  # noqa: PLC0415

            mdim = tuple(range(nd)) if dim is None else dim
            return _linalg.matrix_norm(input, "nuc", mdim, keepdim, dtype=dtype, out=out)
        raise RuntimeError(f"linalg.matrix_norm: Order {p} not supported.")
    if p is None:
        p = 2
    return vector_norm(input, p, dim, keepdim, dtype=dtype, out=out)


# ---------------------------------------------------------------------------------------------
# logsumexp, softmax, log_softmax
# ---------------------------------------------------------------------------------------------

class LogSumExp(Op):
    node_name = "LogsumexpBackward0"

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        xp = ctx.xp
        if x.size == 0:
            with np.errstate(divide="ignore"):
                out = xp.log(xp.sum(xp.exp(x), axis=axes, keepdims=keepdim))
        else:
            m = x.max(axis=axes, keepdims=True)
            finite = xp.isfinite(m)
            if not finite.all():
                m = xp.where(finite, m, 0)
            e = x - m
            e = xp.exp(e, out=e) if e.ndim else xp.exp(e)
            with np.errstate(divide="ignore"):
                out = xp.log(e.sum(axis=axes, keepdims=keepdim))
            out += m if keepdim else m.reshape(out.shape)
        out = xp.asarray(out)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved
        shape, axes, keepdim = ctx.shape, ctx.axes, ctx.keepdim
        return (_keep(g, shape, axes, keepdim) * ctx.xp.exp(x - _keep(out, shape, axes, keepdim)),)


def logsumexp(input, dim, keepdim=False, *, out=None):
    """``log(sum(exp(input)))`` over ``dim``, computed stably (shifted by the maximum).

    >>> import probe
    >>> probe.tensor([0.0, 0.0]).logsumexp(0)
    tensor(0.6931)
    """
    if dim is None:
        raise TypeError("logsumexp(): argument 'dim' must be tuple of ints, not NoneType")
    if input._data.dtype.kind not in "fc":
        input = cast(input, _dt.get_default_dtype())
    axes = _dims(dim, input._data.ndim)
    return _maybe_out(LogSumExp.apply(input, axes, bool(keepdim)), out)


class Softmax(Op):
    node_name = "SoftmaxBackward0"

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        xp = ctx.xp
        if x.size == 0:
            y = x.copy()
        elif x.ndim == 0:
            y = xp.asarray(xp.exp(x - x))  # 1, or NaN for inf/NaN as the general formula
        else:
            y = x - x.max(axis=axis, keepdims=True)
            xp.exp(y, out=y)
            y /= y.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        gy = g * y
        return (gy - y * ctx.xp.sum(gy, axis=ctx.axis, keepdims=True),)


class LogSoftmax(Op):
    node_name = "LogSoftmaxBackward0"

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        xp = ctx.xp
        if x.size == 0:
            y = x.copy()
        elif x.ndim == 0:
            y = xp.asarray(x - x)
        else:
            y = x - x.max(axis=axis, keepdims=True)
            e = xp.exp(y)
            y -= xp.log(e.sum(axis=axis, keepdims=True))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        xp = ctx.xp
        return (g - xp.exp(y) * xp.sum(g, axis=ctx.axis, keepdims=True),)


def _softmax_args(name, input, dim, dtype):
    if dtype is not None:
        input = cast(input, _dt.to_dtype(dtype))
    data = input._data
    if data.dtype.kind not in "fc":
        nd = data.ndim
        last = nd == 0 or _wrap_dim(dim, nd) == nd - 1
        kernel = f"{name}_lastdim_kernel_impl" if last else f"{name}_kernel_impl"
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_short(input)}'")
    axis = _wrap_dim(dim, data.ndim)
    return input, (axis if data.ndim else None)


def softmax(input, dim, dtype=None):
    """``exp(x) / sum(exp(x))`` along ``dim``, computed stably; ``dtype`` casts the input first.

    >>> import probe
    >>> probe.tensor([1.0, 1.0]).softmax(0)
    tensor([0.5000, 0.5000])
    """
    input, axis = _softmax_args("softmax", input, dim, dtype)
    return Softmax.apply(input, axis)


def log_softmax(input, dim, dtype=None):
    """``log(softmax(x))`` along ``dim``, computed stably in one op."""
    input, axis = _softmax_args("log_softmax", input, dim, dtype)
    return LogSoftmax.apply(input, axis)


# ---------------------------------------------------------------------------------------------
# sort, argsort, topk, median, kthvalue, mode
# ---------------------------------------------------------------------------------------------

class Sort(Op):
    node_name = "SortBackward0"
    differentiable_outputs = (0,)

    @staticmethod
    def forward(ctx, x, axis, descending):
        ctx.shape = x.shape
        ctx.keepdim = True
        xp = ctx.xp
        if x.ndim == 0:
            ctx.axis = None
            idx = xp.zeros((), dtype=_INT64)
        else:
            ctx.axis = axis
            idx = _stable_argsort(xp, x, axis, descending).astype(_INT64, copy=False)
        ctx.save_for_backward(idx)
        vals = x.copy() if x.ndim == 0 else xp.take_along_axis(x, idx, axis)
        return vals, idx

    @staticmethod
    def backward(ctx, g, _g_indices=None):
        return (_index_backward(ctx, g),)


class SortStable(Sort):
    """``sort(..., stable=...)``: PyTorch's other overload, hence another grad_fn name."""

    node_name = "SortBackward1"


class Topk(Op):
    node_name = "TopkBackward0"
    differentiable_outputs = (0,)

    @staticmethod
    def forward(ctx, x, axis, k, largest):
        ctx.shape = x.shape
        ctx.keepdim = True
        xp = ctx.xp
        if x.ndim == 0:
            ctx.axis = None
            idx = xp.zeros((), dtype=_INT64)
            ctx.save_for_backward(idx)
            return x.copy(), idx
        ctx.axis = axis
        order = _stable_argsort(xp, x, axis, largest)
        idx = xp.ascontiguousarray(order[(slice(None),) * axis + (slice(0, k),)])
        idx = idx.astype(_INT64, copy=False)
        ctx.save_for_backward(idx)
        return xp.take_along_axis(x, idx, axis), idx

    @staticmethod
    def backward(ctx, g, _g_indices=None):
        return (_index_backward(ctx, g),)


def sort(input, dim=-1, descending=False, *, stable=_UNSET, out=None):
    """Sorted values along ``dim`` and their original indices (always a stable sort; NaN sorts
    as the largest value).

    >>> import probe
    >>> probe.tensor([3.0, 1.0, 2.0]).sort()
    probe.return_types.sort(
    values=tensor([1., 2., 3.]),
    indices=tensor([1, 2, 0]))
    """
    axis = _wrap_dim(dim, input._data.ndim)
    op = Sort if stable is _UNSET else SortStable
    return _out_tuple(_RT.sort(*op.apply(input, axis, bool(descending))), out)


def argsort(input, dim=-1, descending=False, *, stable=False):
    """The indices that sort ``input`` along ``dim``."""
    data = input._data
    axis = _wrap_dim(dim, data.ndim)
    xp = input._device.xp
    if data.ndim == 0:
        return _plain(xp.zeros((), dtype=_INT64), input._device)
    idx = _stable_argsort(xp, data, axis, bool(descending)).astype(_INT64, copy=False)
    return _plain(idx, input._device)


def msort(input, *, out=None):
    """``sort(input, dim=0).values``."""
    return _maybe_out(sort(input, 0).values, out)


def topk(input, k, dim=-1, largest=True, sorted=True, *, out=None):
    """The ``k`` largest (or smallest) elements along ``dim`` and their indices, sorted.

    >>> import probe
    >>> probe.tensor([1.0, 5.0, 3.0]).topk(2).values
    tensor([5., 3.])
    """
    data = input._data
    axis = _wrap_dim(dim, data.ndim)
    n = data.shape[axis] if data.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError("selected index k out of range")
    if data.dtype == _BOOL:
        raise RuntimeError("topk does not support bool dtypes on CPU")
    return _out_tuple(_RT.topk(*Topk.apply(input, axis, int(k), bool(largest))), out)


class MedianAll(Op):
    node_name = "MedianBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        ctx.axes = _ALL_DIMS[x.ndim] if x.ndim <= 16 else tuple(range(x.ndim))
        ctx.keepdim = False
        xp = ctx.xp
        flat = x.reshape(-1)
        n = flat.size
        if n == 0:
            out = xp.full((), _NAN if x.dtype.kind in "fc" else 0, dtype=x.dtype)
        elif x.dtype.kind in "fc" and xp.isnan(flat).any():
            out = xp.full((), _NAN, dtype=x.dtype)
        else:
            k = (n - 1) // 2
            out = xp.asarray(xp.partition(flat, k)[k])
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved
        return (_even_backward(ctx, g, x, out),)


class _SelectDim(Op):
    """Base of the ops returning (values, indices) picked from a stable sort along ``axis``."""

    differentiable_outputs = (0,)

    @classmethod
    def forward(cls, ctx, x, axis, keepdim, *params):
        ctx.shape = x.shape
        ctx.keepdim = keepdim
        xp = ctx.xp
        if x.ndim == 0:
            ctx.axis = None
            idx = xp.zeros((), dtype=_INT64)
            ctx.save_for_backward(idx)
            return x.copy(), idx
        ctx.axis = axis
        idx = cls._pick(xp, x, axis, *params).astype(_INT64, copy=False)
        vals = xp.take_along_axis(x, idx, axis)
        if not keepdim:
            vals = vals.squeeze(axis)
            idx = idx.squeeze(axis)
        ctx.save_for_backward(idx)
        return vals, idx

    @staticmethod
    def backward(ctx, g, _g_indices=None):
        return (_index_backward(ctx, g),)


class MedianDim(_SelectDim):
    node_name = "MedianBackward1"

    @staticmethod
    def _pick(xp, x, axis):
        n = x.shape[axis]
        order = xp.argsort(x, axis=axis, kind="stable")
        kept = _kept_shape(x.shape, (axis,))
        pos = xp.full(kept, (n - 1) // 2, dtype=_INT64)
        if x.dtype.kind in "fc":
            # A slice with NaN has median NaN at its first NaN (sorted last, in order).
            nans = xp.isnan(x).sum(axis=axis, keepdims=True)
            pos = xp.where(nans > 0, n - nans, pos)
        return xp.take_along_axis(order, pos, axis)


class Kthvalue(_SelectDim):
    node_name = "KthvalueBackward0"

    @staticmethod
    def _pick(xp, x, axis, k):
        order = xp.argsort(x, axis=axis, kind="stable")
        return order[(slice(None),) * axis + (slice(k - 1, k),)]


class Mode(_SelectDim):
    node_name = "ModeBackward0"

    @staticmethod
    def _pick(xp, x, axis):
        # The most frequent value (the smallest among equally frequent ones) and the index of
        # its last occurrence, from run lengths in each sorted slice.
        moved = xp.moveaxis(x, axis, -1)
        lead = moved.shape[:-1]
        n = moved.shape[-1]
        a = moved.reshape(-1, n)
        order = xp.argsort(a, axis=1, kind="stable")
        s = xp.take_along_axis(a, order, 1)
        new_run = xp.ones(s.shape, dtype=bool)
        new_run[:, 1:] = s[:, 1:] != s[:, :-1]
        pos = xp.arange(n, dtype=_INT64)
        start = xp.maximum.accumulate(xp.where(new_run, pos, 0), axis=1)
        best = xp.argmax(pos - start, axis=1)
        idx = xp.take_along_axis(order, best[:, None], 1).reshape(lead + (1,))
        return xp.moveaxis(idx, -1, axis)


def median(input, dim=None, keepdim=False, *, out=None):
    """The median (the lower of the two middle values): of all elements, or along ``dim`` as
    ``(values, indices)``; NaN propagates.

    >>> import probe
    >>> probe.tensor([1.0, 4.0, 2.0, 3.0]).median()
    tensor(2.)
    """
    if dim is None:
        return _maybe_out(MedianAll.apply(input), out)
    axis = _wrap_dim(_int_dim("median", dim), input._data.ndim)
    _check_dim_nonempty("median", input, axis)
    return _out_tuple(_RT.median(*MedianDim.apply(input, axis, bool(keepdim))), out)


def kthvalue(input, k, dim=-1, keepdim=False, *, out=None):
    """The ``k``-th smallest element along ``dim`` and its index."""
    data = input._data
    axis = _wrap_dim(_int_dim("kthvalue", dim), data.ndim)
    _check_dim_nonempty("kthvalue", input, axis)
    n = data.shape[axis] if data.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {axis}")
    return _out_tuple(_RT.kthvalue(*Kthvalue.apply(input, axis, bool(keepdim), int(k))), out)


def mode(input, dim=-1, keepdim=False, *, out=None):
    """The most frequent value along ``dim`` (the smallest among ties) and the index of its last
    occurrence."""
    axis = _wrap_dim(_int_dim("mode", dim), input._data.ndim)
    _check_dim_nonempty("mode", input, axis)
    return _out_tuple(_RT.mode(*Mode.apply(input, axis, bool(keepdim))), out)


# ---------------------------------------------------------------------------------------------
# all, any, count_nonzero, unique
# ---------------------------------------------------------------------------------------------

def _logical_reduce(fn_name, input, dim, keepdim, out):
    data = input._data
    xp = input._device.xp
    fn = getattr(xp, fn_name)
    if dim is None:
        r = fn(data, keepdims=bool(keepdim))
    else:
        if isinstance(dim, int | np.integer):
            d = _wrap_dim(int(dim), data.ndim)
            axes = (d,) if data.ndim else ()
        else:
            axes = _dim_list(dim, data.ndim, empty_means_all=False)
        r = fn(data, axis=axes, keepdims=bool(keepdim))
    r = xp.asarray(r)
    if data.dtype == _UINT8:  # PyTorch keeps uint8 for all/any on uint8 input
        r = r.astype(_UINT8)
    return _maybe_out(_plain(r, input._device), out)


def all(input, dim=None, keepdim=False, *, out=None):
    """True where every element (over ``dim``, or all) is non-zero."""
    return _logical_reduce("all", input, dim, keepdim, out)


def any(input, dim=None, keepdim=False, *, out=None):
    """True where some element (over ``dim``, or all) is non-zero."""
    return _logical_reduce("any", input, dim, keepdim, out)


def count_nonzero(input, dim=None):
    """The number of non-zero elements (over ``dim``, an int or a tuple), as int64."""
    data = input._data
    xp = input._device.xp
    axes = _dims(dim, data.ndim)
    if len(axes) == data.ndim:
        r = xp.asarray(xp.count_nonzero(data), dtype=_INT64)
    else:
        r = xp.asarray(xp.count_nonzero(data, axis=axes), dtype=_INT64)
    return _plain(r, input._device)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct values (sorted), optionally with the inverse indices and the counts; with
    ``dim``, the distinct slices along that dim. Not differentiable.

    >>> import probe
    >>> probe.unique(probe.tensor([3, 1, 3]), return_counts=True)
    (tensor([1, 3]), tensor([1, 2]))
    """
    data = input._data
    xp = input._device.xp
    dev = input._device
    if dim is None:
        res = xp.unique(data.reshape(-1), return_inverse=True, return_counts=True)
        values, inverse, counts = res
        inverse = inverse.reshape(data.shape)
    else:
        axis = _wrap_dim(int(dim), data.ndim)
        values, inverse, counts = xp.unique(data, return_inverse=True, return_counts=True,
                                            axis=axis)
        inverse = inverse.reshape(-1)
    out = [_plain(values, dev)]
    if return_inverse:
        out.append(_plain(inverse.astype(_INT64, copy=False), dev))
    if return_counts:
        out.append(_plain(counts.astype(_INT64, copy=False), dev))
    return out[0] if len(out) == 1 else tuple(out)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """Collapse runs of equal consecutive values (or slices along ``dim``). Not
    differentiable."""
    data = input._data
    xp = input._device.xp
    dev = input._device
    if dim is None:
        flat = data.reshape(-1)
        n = flat.size
        new = xp.ones(n, dtype=bool)
        if n:
            new[1:] = flat[1:] != flat[:-1]
        values = flat[new]
        inv_shape = data.shape
    else:
        axis = _wrap_dim(int(dim), data.ndim)
        moved = xp.moveaxis(data, axis, 0)
        n = moved.shape[0]
        rows = moved.reshape(n, -1)
        new = xp.ones(n, dtype=bool)
        if n:
            new[1:] = (rows[1:] != rows[:-1]).any(axis=1)
        values = xp.take(data, xp.nonzero(new)[0], axis=axis)
        inv_shape = (n,)
    out = [_plain(values, dev)]
    if return_inverse:
        out.append(_plain((xp.cumsum(new) - 1).astype(_INT64).reshape(inv_shape), dev))
    if return_counts:
        starts = xp.nonzero(new)[0]
        ends = xp.concatenate([starts[1:], xp.asarray([n], dtype=starts.dtype)])
        out.append(_plain((ends - starts).astype(_INT64), dev))
    return out[0] if len(out) == 1 else tuple(out)


# ---------------------------------------------------------------------------------------------
# NumPy-named functions over Tensors (``ctx.xp`` under create_graph)
# ---------------------------------------------------------------------------------------------

def _as_t(a):
    if isinstance(a, Tensor):
        return a
    from .creation import as_tensor  # noqa: PLC0415

    if isinstance(a, np.ndarray | np.generic) or hasattr(a, "__cuda_array_interface__"):
        return as_tensor(a, device=device_of_array(a))
    return as_tensor(a)


def _ns_axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _ns_dtype(t, dtype):
    return t if dtype is None else cast(t, _dt.to_dtype(dtype))


def _ns_sum(a, axis=None, dtype=None, out=None, keepdims=False):
    a = _as_t(a)
    if axis == ():
        return _ns_dtype(a, dtype)
    return sum(a, dim=_ns_axis(axis), keepdim=keepdims, dtype=dtype)


def _ns_nansum(a, axis=None, dtype=None, out=None, keepdims=False):
    a = _as_t(a)
    if axis == ():
        return _ns_dtype(a, dtype)
    return nansum(a, dim=_ns_axis(axis), keepdim=keepdims, dtype=dtype)


def _ns_mean(a, axis=None, dtype=None, out=None, keepdims=False):
    a = _as_t(a)
    if axis == ():
        return _ns_dtype(a, dtype)
    if dtype is None and a._data.dtype.kind not in "fc":
        dtype = _dt.get_default_dtype()
    return mean(a, dim=_ns_axis(axis), keepdim=keepdims, dtype=dtype)


def _ns_prod(a, axis=None, dtype=None, out=None, keepdims=False):
    a = _as_t(a)
    if axis is None:
        r = prod(a, dtype=dtype)
        return r.reshape((1,) * a.ndim) if keepdims else r
    axes = _dims(axis, a.ndim)
    r = _ns_dtype(a, dtype)
    for d in reversed(axes):
        r = prod(r, d, keepdim=keepdims)
    return r


def _ns_amax(a, axis=None, out=None, keepdims=False):
    return amax(_as_t(a), () if axis is None else _ns_axis(axis), keepdims)


def _ns_amin(a, axis=None, out=None, keepdims=False):
    return amin(_as_t(a), () if axis is None else _ns_axis(axis), keepdims)


def _ns_cum(fn):
    def cum(a, axis=None, dtype=None, out=None):
        a = _as_t(a)
        if axis is None:
            a = a.reshape(-1)
            axis = 0
        return fn(a, axis, dtype=dtype)

    return cum


def _ns_var(fn):
    def var_like(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        a = _ns_dtype(_as_t(a), dtype)
        return fn(a, dim=_ns_axis(axis), correction=ddof, keepdim=keepdims)

    return var_like


def _ns_sort(a, axis=-1, kind=None, order=None):
    a = _as_t(a)
    if axis is None:
        a, axis = a.reshape(-1), 0
    return sort(a, axis).values


def _ns_arg(fn):
    def arg(a, axis=None, out=None, keepdims=False):
        return fn(_as_t(a), axis, keepdims)

    return arg


def _ns_logical(fn):
    def logical(a, axis=None, out=None, keepdims=False):
        return fn(_as_t(a), _ns_axis(axis), keepdims)

    return logical


def _ns_count_nonzero(a, axis=None, keepdims=False):
    r = count_nonzero(_as_t(a), _ns_axis(axis))
    if keepdims:
        r = r.reshape(_kept_shape(a.shape, _dims(_ns_axis(axis), a.ndim)))
    return r


# ---------------------------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------------------------

_COMMON = {
    "sum": sum, "nansum": nansum, "mean": mean, "nanmean": nanmean, "prod": prod,
    "cumsum": cumsum, "cumprod": cumprod, "cummax": cummax, "cummin": cummin,
    "max": max, "min": min, "amax": amax, "amin": amin, "aminmax": aminmax,
    "argmax": argmax, "argmin": argmin, "var": var, "std": std, "norm": norm,
    "logsumexp": logsumexp, "softmax": softmax, "log_softmax": log_softmax,
    "sort": sort, "argsort": argsort, "msort": msort, "topk": topk, "median": median,
    "kthvalue": kthvalue, "mode": mode, "all": all, "any": any,
    "count_nonzero": count_nonzero, "unique": unique, "unique_consecutive": unique_consecutive,
}

FUNCTIONS = {
    **_COMMON,
    "var_mean": var_mean, "std_mean": std_mean,
    "_linalg_vector_norm": vector_norm,
    "return_types": return_types,
}

TENSOR_METHODS = dict(_COMMON)

NUMPY_NAMESPACE = {
    "sum": _ns_sum, "nansum": _ns_nansum, "mean": _ns_mean, "prod": _ns_prod,
    "max": _ns_amax, "amax": _ns_amax, "min": _ns_amin, "amin": _ns_amin,
    "cumsum": _ns_cum(cumsum), "cumprod": _ns_cum(cumprod),
    "var": _ns_var(var), "std": _ns_var(std), "sort": _ns_sort,
    "argmax": _ns_arg(argmax), "argmin": _ns_arg(argmin),
    "all": _ns_logical(all), "any": _ns_logical(any), "count_nonzero": _ns_count_nonzero,
}
