"""Indexing: ``t[idx]``, ``t[idx] = v``, ``gather``/``scatter``, ``index_select``/``index_add``,
``masked_fill``/``masked_select``, ``take``, ``nonzero``...

Basic indexing (ints, slices, ``None``, ``...``) returns views through the view ops of
``shape.py`` (``SelectBackward0``, ``SliceBackward0``...); advanced indexing (integer or boolean
tensors, lists, arrays) copies, with NumPy's semantics, which are PyTorch's. Scatter-style
backwards accumulate repeated indices with one ``add.at`` call (``bincount`` for 1-d).
"""

from __future__ import annotations

import re
import warnings

import numpy as np

from ..autograd import Op
from ..backend import CPU as _CPU
from ..backend import to_device_array, xp_of
from ..grad_mode import STATE
from ..tensor import Tensor, _wrap, _wrap_dim
from .inplace import apply_inplace, check_inplace
from .inplace import maybe_out as _maybe_out
from .shape import (
    _COLONS,
    INTERNAL_OVERLAP_MSG,
    Alias,
    IndexUnsqueeze,
    Select,
    Slice,
    _add_at,
    _EmbedIndex,
    _int,
    _run,
    expand,
    has_internal_overlap,
    reshape,
)

ZERO_DIM_INDEX_MSG = (
    "invalid index of a 0-dim tensor. Use `tensor.item()` in Python or `tensor.item<T>()` in C++ "
    "to convert a 0-dim tensor to a number"
)
INDEX_DTYPE_MSG = "tensors used as indices must be long, int, byte or bool tensors"
_LEGACY_SEQUENCE_MSG = (
    "Using a non-tuple sequence for multidimensional indexing is deprecated and will be changed "
    "in pytorch 2.9; use x[tuple(seq)] instead of x[seq]. In pytorch 2.9 this will be "
    "interpreted as tensor index, x[torch.tensor(seq)], which will result either in an error or "
    "a different result"
)
_UINT8_INDEX_MSG = (
    "indexing with dtype torch.uint8 is now deprecated, please use a dtype torch.bool instead."
)
_ndarray = np.ndarray


# ---------------------------------------------------------------------------------------------
# Ops
# ---------------------------------------------------------------------------------------------

class AdvIndex(Op):
    """``a[key]`` with an advanced (copying) NumPy index."""

    node_name = "IndexBackward0"

    @staticmethod
    def forward(ctx, a, key):
        if ctx.recording:  # keep index arrays alive only for a backward
            ctx.in_shape = a.shape
            ctx.key = key
        return a[key]

    @staticmethod
    def backward(ctx, g):
        return (_run(_IndexPutAcc, g, ctx.in_shape, ctx.key),)


class CopyInto(Op):
    """``a`` overwritten by ``v`` (broadcast), out of place: ``t[...] = v``."""

    node_name = "CopyBackwards"

    @staticmethod
    def forward(ctx, a, v):
        out = ctx.xp.empty_like(a)
        out[...] = v
        return out

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        return (ctx.xp.zeros_like(g) if need[0] else None), (g if need[1] else None)


def _has_int_array(key):
    for k in key:
        if k.__class__ is not bool and hasattr(k, "dtype") and k.dtype.kind in "iu":
            return True
    return False


class _IndexPutAcc(Op):
    """Zeros of ``shape`` with ``g`` added at ``key`` (repeated indices accumulate)."""

    node_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx, g, shape, key):
        if ctx.recording:  # keep index arrays alive only for a backward
            ctx.key = key
        xp = ctx.xp
        if len(shape) == 1 and len(key) == 1 and g.dtype.kind == "f":
            idx = key[0]
            if getattr(idx, "ndim", 0) == 1 and idx.dtype.kind == "i":
                try:  # 1-d gathers: bincount is the fastest scatter-add
                    return xp.bincount(idx, weights=g, minlength=shape[0]).astype(g.dtype)
                except ValueError:  # negative indices: fall through to add.at
                    pass
        out = xp.zeros(shape, dtype=g.dtype)
        if _has_int_array(key):
            _add_at(xp, out, key, g)
        else:
            out[key] = g
        return out

    @staticmethod
    def backward(ctx, gg):
        return (_run(AdvIndex, gg, ctx.key),)


class IndexPut(Op):
    """``a`` with ``a[key] = v`` (or ``+= v`` with ``accumulate``), out of place."""

    node_name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx, a, v, key, accumulate):
        if ctx.recording:  # keep index arrays alive only for a backward
            ctx.key = key
            ctx.accumulate = accumulate
        out = a.copy()
        if accumulate:
            _add_at(ctx.xp, out, key, v)
        else:
            out[key] = v
        return out

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        ga = gv = None
        if need[0]:
            ga = g if ctx.accumulate else _run(IndexPut, g, 0, ctx.key, False)
        if len(need) > 1 and need[1]:
            gv = _run(AdvIndex, g, ctx.key)
        return ga, gv


def _along_key(xp, index, dim):
    """The NumPy index that picks ``a[i][j][index[i][j][k]]``-style entries along ``dim``."""
    nd = index.ndim
    key = []
    for i, n in enumerate(index.shape):
        if i == dim:
            key.append(index)
        else:
            shape = [1] * nd
            shape[i] = n
            key.append(xp.arange(n).reshape(shape))
    return tuple(key)


class Gather(Op):
    node_name = "GatherBackward0"

    @staticmethod
    def forward(ctx, a, dim, index):
        key = _along_key(ctx.xp, index, dim)
        if ctx.recording:  # keep index arrays alive only for a backward
            ctx.key = key
            ctx.in_shape = a.shape
        return a[key]

    @staticmethod
    def backward(ctx, g):
        return (_run(_IndexPutAcc, g, ctx.in_shape, ctx.key),)


def _src_region(src, index):
    """The part of ``src`` that ``index`` addresses (scatter uses its leading corner)."""
    if src.shape == index.shape:
        return src
    return src[tuple(slice(0, n) for n in index.shape)]


def _grad_src(g, key, src_shape, index_shape):
    """The gradient of a scatter's ``src``: ``g`` gathered at ``key``, zero outside ``index``."""
    gathered = _run(AdvIndex, g, key)
    if tuple(src_shape) == tuple(index_shape):
        return gathered
    return _run(_EmbedIndex, gathered, src_shape, tuple(slice(0, n) for n in index_shape))


class Scatter(Op):
    node_name = "ScatterBackward0"

    @staticmethod
    def forward(ctx, a, src, dim, index):
        key = _along_key(ctx.xp, index, dim)
        if ctx.recording:  # keep index arrays alive only for a backward
            ctx.key = key
            ctx.shapes = (src.shape, index.shape)
        out = a.copy()
        out[key] = _src_region(src, index)
        return out

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        ga = _run(IndexPut, g, 0, ctx.key, False) if need[0] else None
        gs = _grad_src(g, ctx.key, *ctx.shapes) if need[1] else None
        return ga, gs


class ScatterValue(Op):
    node_name = "ScatterBackward1"

    @staticmethod
    def forward(ctx, a, value, dim, index):
        key = _along_key(ctx.xp, index, dim)
        if ctx.recording:  # keep index arrays alive only for a backward
            ctx.key = key
        out = a.copy()
        out[key] = value
        return out

    @staticmethod
    def backward(ctx, g):
        return (_run(IndexPut, g, 0, ctx.key, False),)


class ScatterAdd(Op):
    node_name = "ScatterAddBackward0"

    @staticmethod
    def forward(ctx, a, src, dim, index):
        xp = ctx.xp
        key = _along_key(xp, index, dim)
        if ctx.recording:  # keep index arrays alive only for a backward
            ctx.key = key
            ctx.shapes = (src.shape, index.shape)
        out = a.copy()
        _add_at(xp, out, key, _src_region(src, index))
        return out

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        gs = _grad_src(g, ctx.key, *ctx.shapes) if need[1] else None
        return (g if need[0] else None), gs


class ScatterReduce(Op):
    """The legacy ``scatter(..., reduce="add"|"multiply")`` (no derivative, as in PyTorch)."""

    node_name = "ScatterReduceBackward0"

    @staticmethod
    def forward(ctx, a, src, dim, index, reduce):
        xp = ctx.xp
        key = _along_key(xp, index, dim)
        out = a.copy()
        vals = _src_region(src, index) if hasattr(src, "shape") else src
        if reduce == "add":
            _add_at(xp, out, key, vals)
        else:
            xp.multiply.at(out, key, vals)
        return out

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("the derivative for 'scatter' with a reduce argument is not implemented")


class IndexSelect(Op):
    node_name = "IndexSelectBackward0"

    @staticmethod
    def forward(ctx, a, dim, index):
        if ctx.recording:  # keep index arrays alive only for a backward
            ctx.in_shape = a.shape
            ctx.dim = dim
            ctx.index = index
        if dim == 0:
            return a[index]
        return a[_COLONS[dim] + (index,)]

    @staticmethod
    def backward(ctx, g):
        dim = ctx.dim
        key = (ctx.index,) if dim == 0 else _COLONS[dim] + (ctx.index,)
        return (_run(_IndexPutAcc, g, ctx.in_shape, key),)


class IndexAdd(Op):
    node_name = "IndexAddBackward0"

    @staticmethod
    def forward(ctx, a, src, dim, index, alpha):
        if ctx.recording:  # keep index arrays alive only for a backward
            ctx.dim, ctx.index, ctx.alpha = dim, index, alpha
        out = a.copy()
        _add_at(ctx.xp, out, _COLONS[dim] + (index,), src if alpha == 1 else src * alpha)
        return out

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        gs = None
        if need[1]:
            gs = _run(IndexSelect, g, ctx.dim, ctx.index)
            if ctx.alpha != 1:
                gs = gs * ctx.alpha
        return (g if need[0] else None), gs


class IndexCopy(Op):
    node_name = "IndexCopyBackward0"

    @staticmethod
    def forward(ctx, a, src, dim, index):
        key = _COLONS[dim] + (index,)
        if ctx.recording:  # keep index arrays alive only for a backward
            ctx.key, ctx.dim, ctx.index = key, dim, index
        out = a.copy()
        out[key] = src
        return out

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        ga = _run(IndexPut, g, 0, ctx.key, False) if need[0] else None
        gs = _run(IndexSelect, g, ctx.dim, ctx.index) if need[1] else None
        return ga, gs


class IndexFill(Op):
    node_name = "IndexFillBackward0"

    @staticmethod
    def forward(ctx, a, value, key):
        if ctx.recording:  # keep index arrays alive only for a backward
            ctx.key = key
        out = a.copy()
        out[key] = value
        return out

    @staticmethod
    def backward(ctx, g):
        return (_run(IndexPut, g, 0, ctx.key, False),)


class IndexFillTensor(Op):
    node_name = "IndexFillBackward1"

    @staticmethod
    def forward(ctx, a, value, key):
        if ctx.recording:  # keep index arrays alive only for a backward
            ctx.key = key
        out = a.copy()
        out[key] = value
        return out

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        ga = _run(IndexPut, g, 0, ctx.key, False) if need[0] else None
        gv = ctx.xp.sum(_run(AdvIndex, g, ctx.key)) if need[1] else None
        return ga, gv


class MaskedFill(Op):
    node_name = "MaskedFillBackward0"

    @staticmethod
    def forward(ctx, a, mask, value):
        if ctx.recording:  # keep index arrays alive only for a backward
            ctx.mask = mask
        xp = ctx.xp
        return xp.where(mask, xp.asarray(value, dtype=a.dtype), a)

    @staticmethod
    def backward(ctx, g):
        return (_run(MaskedFill, g, ctx.mask, 0),)


class MaskedFillTensor(Op):
    node_name = "MaskedFillBackward1"

    @staticmethod
    def forward(ctx, a, value, mask):
        if ctx.recording:  # keep index arrays alive only for a backward
            ctx.mask = mask
        return ctx.xp.where(mask, value.astype(a.dtype, copy=False), a)

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        mask = ctx.mask
        ga = _run(MaskedFill, g, mask, 0) if need[0] else None
        gv = ctx.xp.sum(_run(MaskedFill, g, ~mask, 0)) if need[1] else None
        return ga, gv


class MaskedSelect(Op):
    node_name = "MaskedSelectBackward0"

    @staticmethod
    def forward(ctx, a, mask):
        xp = ctx.xp
        if a.shape != mask.shape:
            shape = np.broadcast_shapes(a.shape, mask.shape)
            a = xp.broadcast_to(a, shape)
            mask = xp.broadcast_to(mask, shape)
        if ctx.recording:  # keep index arrays alive only for a backward
            ctx.shape = a.shape
            ctx.mask = mask
        return a[mask]

    @staticmethod
    def backward(ctx, g):
        return (_run(_IndexPutAcc, g, ctx.shape, (ctx.mask,)),)


class MaskedScatter(Op):
    node_name = "MaskedScatterBackward0"

    @staticmethod
    def forward(ctx, a, source, mask):
        xp = ctx.xp
        if a.shape != mask.shape:
            shape = np.broadcast_shapes(a.shape, mask.shape)
            a = xp.broadcast_to(a, shape)
            mask = xp.broadcast_to(mask, shape)
        out = a.copy()
        n = int(mask.sum())
        if ctx.recording:  # keep index arrays alive only for a backward
            ctx.mask, ctx.n, ctx.src_shape = mask, n, source.shape
        out[mask] = source.reshape(-1)[:n]
        return out

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        mask = ctx.mask
        ga = _run(MaskedFill, g, mask, 0) if need[0] else None
        gs = None
        if need[1]:
            picked = _run(AdvIndex, g, (mask,))
            size = int(np.prod(ctx.src_shape))
            gs = _run(_EmbedIndex, picked, (size,), (slice(0, ctx.n),)).reshape(ctx.src_shape)
        return ga, gs


class Take(Op):
    node_name = "TakeBackward0"

    @staticmethod
    def forward(ctx, a, index):
        if ctx.recording:  # keep index arrays alive only for a backward
            ctx.in_shape = a.shape
            ctx.index = index
        return a.reshape(-1)[index]

    @staticmethod
    def backward(ctx, g):
        shape = ctx.in_shape
        size = int(np.prod(shape))
        flat = _run(_IndexPutAcc, g, (size,), (ctx.index,))
        return (flat.reshape(shape),)


# ---------------------------------------------------------------------------------------------
# Index parsing
# ---------------------------------------------------------------------------------------------

def _type_name(t):
    return f"probe.{t.dtype._legacy_name}"


def _index_array(self, comp):
    """The device array of an index tensor/list/array (bool or integer)."""
    if isinstance(comp, Tensor):
        arr = comp._data
        if comp._device is not self._device:
            arr = to_device_array(arr, comp._device, self._device)
    else:
        arr = np.asarray(comp)
        if arr.dtype.kind not in "iub":
            if arr.size == 0:
                arr = arr.astype(np.int64)
            elif arr.dtype == object:
                raise IndexError(INDEX_DTYPE_MSG)
        if self._device.type != "cpu":
            arr = to_device_array(arr, _CPU, self._device)
    kind = arr.dtype.kind
    if kind not in "iub":
        raise IndexError(INDEX_DTYPE_MSG)
    if arr.dtype == np.uint8:
        warnings.warn(_UINT8_INDEX_MSG, UserWarning, stacklevel=4)
        arr = arr.astype(bool)
    return arr


def _is_legacy_sequence(index):
    for x in index:
        if x is None or x is Ellipsis or isinstance(x, slice | Tensor | list | tuple):
            return True
    return False


def _parse_index(self, index):
    """NumPy index for ``index``: ``(key, op)``, with ``op`` the view op for a basic index and
    None for an advanced one."""
    if index.__class__ is not tuple:
        if index.__class__ is list and _is_legacy_sequence(index):
            warnings.warn(_LEGACY_SEQUENCE_MSG, UserWarning, stacklevel=3)
            index = tuple(index)
        else:
            index = (index,)
    ndim = self._data.ndim
    key = []
    op = None
    advanced = False
    ellipsis = False
    consumed = 0
    for comp in index:
        c = comp.__class__
        if c is int:
            key.append(comp)
            op = Select
            consumed += 1
        elif c is slice:
            step = comp.step
            if step is not None and _int(step) <= 0:
                raise ValueError("step must be greater than zero")
            if not (comp.start in (None, 0) and comp.stop is None and step in (None, 1)):
                op = Slice
            key.append(comp)
            consumed += 1
        elif comp is None:
            key.append(None)
            op = IndexUnsqueeze
        elif comp is Ellipsis:
            key.append(Ellipsis)
            ellipsis = True
        elif c is bool or c is np.bool_:
            key.append(bool(comp))
            advanced = True
        elif isinstance(comp, Tensor):
            data = comp._data
            if data.ndim == 0 and data.dtype.kind in "iu" and data.dtype != np.uint8:
                key.append(int(comp.item()))
                op = Select
                consumed += 1
            else:
                arr = _index_array(self, comp)
                key.append(arr)
                advanced = True
                consumed += arr.ndim if arr.dtype.kind == "b" else 1
        elif isinstance(comp, np.integer):
            key.append(int(comp))
            op = Select
            consumed += 1
        elif isinstance(comp, list | tuple | _ndarray):
            arr = _index_array(self, comp)
            key.append(arr)
            advanced = True
            consumed += arr.ndim if arr.dtype.kind == "b" else 1
        else:
            raise IndexError(
                "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables "
                f"are valid indices (got {type(comp).__name__})"
            )
    if consumed > ndim:
        if ndim == 0 and op is Select:
            raise IndexError(ZERO_DIM_INDEX_MSG)
        if ndim == 0 and op is Slice or (ndim == 0 and consumed and not advanced):
            raise IndexError("slice() cannot be applied to a 0-dim tensor.")
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    if advanced:
        return tuple(key), None
    if not ellipsis:
        key.append(Ellipsis)  # keeps NumPy from returning a scalar instead of a view
    return tuple(key), (op or Alias)


def _translate_index_error(self, key, exc):
    """PyTorch's wording for an indexing error NumPy raised."""
    msg = str(exc)
    shape = self._data.shape
    # Work out which dimension each component indexes, to name it as PyTorch does.
    n_consumed = sum(
        (k.ndim if getattr(k, "dtype", None) is not None and k.dtype.kind == "b" else 1)
        for k in key if k is not None and k is not Ellipsis and k.__class__ is not bool
    )
    dim = 0
    adv_rank = 0
    for k in key:
        if k is Ellipsis:
            dim += len(shape) - n_consumed
            continue
        if k is None or k.__class__ is bool:
            continue
        if k.__class__ is int:
            n = shape[dim]
            if not -n <= k < n:
                return IndexError(f"index {k} is out of bounds for dimension {dim} with size {n}")
            dim += 1
        elif k.__class__ is slice:
            dim += 1
        elif k.dtype.kind == "b":
            mshape = tuple(k.shape)
            part = shape[dim:dim + len(mshape)]
            for j, (ms, ps) in enumerate(zip(mshape, part, strict=False)):
                if ms != ps:
                    return IndexError(
                        f"The shape of the mask {list(mshape)} at index {j} does not match the "
                        f"shape of the indexed tensor {list(shape)} at index {dim + j}"
                    )
            dim += len(mshape)
            adv_rank += len(mshape)
        else:
            n = shape[dim]
            arr = k if k.__class__ is _ndarray else k.get()
            if arr.size:
                bad = arr[(arr >= n) | (arr < -n)]
                if bad.size:
                    return IndexError(
                        f"index {int(bad.reshape(-1)[0])} is out of bounds for dimension "
                        f"{adv_rank} with size {n}"
                    )
            dim += 1
            adv_rank += 1
    if msg.startswith("shape mismatch: indexing arrays could not be broadcast"):
        shapes = [list(k.shape) for k in key if getattr(k, "dtype", None) is not None]
        return IndexError(
            "shape mismatch: indexing tensors could not be broadcast together with shapes "
            + ", ".join(str(s) for s in shapes)
        )
    return IndexError(re.sub(r"\baxis\b", "dimension", msg))


# ---------------------------------------------------------------------------------------------
# __getitem__ / __setitem__
# ---------------------------------------------------------------------------------------------

def getitem(self, index):
    """``self[index]``: a view for ints, slices, ``None`` and ``...``; a copy for integer or
    boolean tensors/lists (NumPy's rules, which are PyTorch's).

    >>> import probe
    >>> x = probe.arange(6).reshape(2, 3)
    >>> x[1, ::2]
    tensor([3, 5])
    >>> x[x > 3]
    tensor([4, 5])
    """
    c = index.__class__
    if c is int:
        shape = self._data.shape
        if not shape:
            raise IndexError(ZERO_DIM_INDEX_MSG)
        n = shape[0]
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of bounds for dimension 0 with size {n}")
        return Select.apply(self, (index, Ellipsis))
    if c is slice:
        step = index.step
        if step is not None and _int(step) <= 0:
            raise ValueError("step must be greater than zero")
        if not self._data.ndim:
            raise IndexError("slice() cannot be applied to a 0-dim tensor.")
        return Slice.apply(self, (index,))
    key, op = _parse_index(self, index)
    try:
        if op is None:
            return AdvIndex.apply(self, key)
        return op.apply(self, key)
    except IndexError as exc:
        raise _translate_index_error(self, key, exc) from None


def _value_tensor(self, value):
    """``value`` as a tensor of ``self``'s dtype and device (differentiable when it can be)."""
    if isinstance(value, Tensor):
        if value._device is not self._device:
            value = value.to(self._device)
        if value._data.dtype != self._data.dtype:
            from .conversion import to_dtype  # noqa: PLC0415

            value = to_dtype(value, self.dtype)
        return value
    if isinstance(value, list | tuple | _ndarray):
        raise TypeError(f"can't assign a {_value_type_name(value)} to a {_type_name(self)}")
    return _wrap(self._device.xp.asarray(value, dtype=self._data.dtype), self._device)


def _value_type_name(value):
    if isinstance(value, _ndarray):
        return "numpy.ndarray"
    return type(value).__name__


def _strip_leading_ones(value, ndim):
    """Drop leading size-1 dimensions of ``value`` beyond ``ndim`` (PyTorch and NumPy allow
    ``t[0] = ones(1, n)``)."""
    shape = value._data.shape
    k = 0
    while len(shape) - k > ndim and shape[k] == 1:
        k += 1
    return reshape(value, shape[k:]) if k else value


def _put_shape_error(self, key, value_shape):
    region = self._data[key].shape
    return RuntimeError(
        f"shape mismatch: value tensor of shape {list(value_shape)} cannot be broadcast to "
        f"indexing result of shape {list(region)}"
    )


def setitem(self, index, value):
    """``self[index] = value``: an in-place write (version bump; autograd records it when
    ``self`` or ``value`` requires grad, as ``CopySlices`` or ``IndexPutBackward0``)."""
    key, op = _parse_index(self, index)
    base = self._base
    if not STATE.enabled or not (
        self._requires_grad or (base is not None and base._requires_grad)
        or (isinstance(value, Tensor) and value._requires_grad)
    ):
        check_inplace(self, False)
        if isinstance(value, Tensor):
            v = value._data
            if value._device is not self._device:
                v = to_device_array(v, value._device, self._device)
        elif isinstance(value, list | tuple | _ndarray):
            raise TypeError(f"can't assign a {_value_type_name(value)} to a {_type_name(self)}")
        else:
            v = value
        try:
            self._data[key] = v
        except IndexError as exc:
            raise _translate_index_error(self, key, exc) from None
        except ValueError:
            if op is None:
                raise _put_shape_error(self, key, np.shape(v)) from None
            target = self._data[key].shape
            expand(_wrap(v if hasattr(v, "shape") else np.asarray(v), self._device), target)
            raise
        self._vc[0] += 1
        return
    if has_internal_overlap(self._data):
        raise RuntimeError(INTERNAL_OVERLAP_MSG)
    value = _value_tensor(self, value)
    if op is Alias:  # ``t[...] = v`` copies into ``t`` itself
        value = _strip_leading_ones(value, self._data.ndim)
        if value._data.shape != self._data.shape:
            value = expand(value, self._data.shape)
        apply_inplace(self, CopyInto.apply, value)
        return
    if op is not None:
        try:
            view = op.apply(self, key)
        except IndexError as exc:
            raise _translate_index_error(self, key, exc) from None
        value = _strip_leading_ones(value, view._data.ndim)
        if value._data.shape != view._data.shape:
            value = expand(value, view._data.shape)
        apply_inplace(view, _take_value, value)
        _refresh_view(self)
        return
    try:
        region_ndim = self._data[key].ndim
    except IndexError as exc:
        raise _translate_index_error(self, key, exc) from None
    value = _strip_leading_ones(value, region_ndim)

    def put(old, v):
        try:
            return IndexPut.apply(old, v, key, False)
        except ValueError:
            raise _put_shape_error(self, key, v._data.shape) from None

    apply_inplace(self, put, value)


def _take_value(old, value):
    return value


def _refresh_view(self):
    """After a write through a view of ``self``, re-derive ``self``'s grad_fn from its base when
    ``self`` is itself a view (its old history no longer describes its values)."""
    base = self._base
    if base is None or self._view_replay is None or not base._requires_grad:
        return
    from .inplace import ReplayView  # noqa: PLC0415

    fresh = ReplayView.apply(base, self._view_replay)
    self._grad_fn = fresh._grad_fn
    self._output_nr = 0
    self._requires_grad = True


# ---------------------------------------------------------------------------------------------
# gather / scatter / index_* / masked_* / take / nonzero
# ---------------------------------------------------------------------------------------------

def _index_arg(self, index, name, kinds="i"):
    """The raw device array of an index tensor; PyTorch's dtype error otherwise."""
    if not isinstance(index, Tensor):
        raise TypeError(
            f"{name}(): argument 'index' must be Tensor, not {type(index).__name__}"
        )
    arr = index._data
    if index._device is not self._device:
        arr = to_device_array(arr, index._device, self._device)
    return arr


def _check_gather_index(self, dim, arr, name):
    if arr.dtype.kind != "i" or arr.dtype.itemsize < 4:
        if name == "gather":
            raise RuntimeError("gather(): Expected dtype int32/int64 for index")
        raise RuntimeError(f"{name}(): Expected dtype int64 for index")
    if arr.ndim != self._data.ndim and not (arr.ndim <= 1 and self._data.ndim <= 1):
        if name == "gather":
            raise RuntimeError(
                "Index tensor must have the same number of dimensions as input tensor"
            )
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")


def _negative_index(self, arr):
    """The smallest index when one is negative, else None. Checked on the CPU only: on a GPU the
    check would cost a device synchronisation per op (PyTorch asserts on the device instead)."""
    if arr.size and self._device.type == "cpu":
        lo = arr.min()
        if lo < 0:
            return int(lo)
    return None


def _bad_index(arr, size, allow_negative=False):
    """An index outside ``[0, size)`` (or ``[-size, size)``), for an error message."""
    host = arr if arr.__class__ is _ndarray else arr.get()
    low = -size if allow_negative else 0
    bad = host[(host >= size) | (host < low)]
    return int(bad.reshape(-1)[0]) if bad.size else None


def _bounds_error(arr, size, dim):
    bad = _bad_index(arr, size)
    return RuntimeError(f"index {bad} is out of bounds for dimension {dim} with size {size}")


def _norm_scalar_shapes(self, dim, arr):
    """Gather/scatter on 0-d/1-d mixtures: treat 0-d as 1-d of one element."""
    return (_wrap_dim(dim, max(self._data.ndim, 1)),
            arr.reshape(1) if arr.ndim == 0 else arr)


def gather(input, dim, index, *, sparse_grad=False, out=None):
    """``out[i][j] = input[i][index[i][j]]`` along ``dim`` (for dim=1 in 2-d).

    >>> import probe
    >>> probe.tensor([[1, 2], [3, 4]]).gather(1, probe.tensor([[1], [0]]))
    tensor([[2],
            [3]])
    """
    arr = _index_arg(input, index, "gather")
    _check_gather_index(input, dim, arr, "gather")
    d, arr = _norm_scalar_shapes(input, dim, arr)
    shape = input._data.shape or (1,)
    for i, n in enumerate(arr.shape):
        if i != d and n > shape[i]:
            raise RuntimeError(
                f"Size does not match at dimension {i} expected index {list(arr.shape)} to be no "
                f"larger than self {list(input._data.shape)} apart from dimension {d}"
            )
    if _negative_index(input, arr) is not None:
        raise _bounds_error(arr, shape[d], d)
    src = input if input._data.ndim else reshape(input, (1,))
    try:
        result = Gather.apply(src, d, arr)
    except IndexError:
        raise _bounds_error(arr, shape[d], d) from None
    if index._data.ndim == 0:
        result = reshape(result, ())
    return _maybe_out(result, out)


def _scatter_checks(self, dim, arr, src_shape, name):
    _check_gather_index(self, dim, arr, name)
    d, arr = _norm_scalar_shapes(self, dim, arr)
    shape = self._data.shape or (1,)
    for i, n in enumerate(arr.shape):
        if (i != d and n > shape[i]) or (src_shape is not None and n > src_shape[i]):
            msg = (f"Expected index {list(arr.shape)} to be no larger than self "
                   f"{list(self._data.shape)} apart from dimension {d}")
            if src_shape is not None:
                msg += f" and to be no larger size than src {list(src_shape)}"
            raise RuntimeError(msg)
    if _negative_index(self, arr) is not None:
        raise _bounds_error(arr, shape[d], d)
    return d, arr


def scatter(input, dim, index, src=None, value=None, *, reduce=None, out=None):
    """``input`` with ``src`` (or a scalar ``value``) written at ``index`` along ``dim``."""
    if src is None and value is None:
        raise TypeError("scatter() missing required argument 'src' or 'value'")
    if src is None:
        src = value
    arr = _index_arg(input, index, "scatter")
    src_is_tensor = isinstance(src, Tensor)
    if src_is_tensor and src._data.ndim == 0 and input._data.ndim != 0:
        src_is_tensor = False
        src = src.item()
    src_shape = (src._data.shape or (1,)) if src_is_tensor else None
    d, arr = _scatter_checks(input, dim, arr, src_shape, "scatter")
    base = input if input._data.ndim else reshape(input, (1,))
    if src_is_tensor:
        if src._data.dtype != input._data.dtype:
            raise RuntimeError(
                "scatter(): Expected self.dtype to be equal to src.dtype"
            )
        src_t = src if src._data.ndim else reshape(src, (1,))
    if reduce is not None and reduce not in ("add", "multiply"):
        raise RuntimeError("reduce argument must be either add or multiply.")
    try:
        if reduce is not None:
            result = ScatterReduce.apply(base, src_t if src_is_tensor else src, d, arr, reduce)
        elif src_is_tensor:
            result = Scatter.apply(base, src_t, d, arr)
        else:
            result = ScatterValue.apply(base, src, d, arr)
    except IndexError:
        raise _bounds_error(arr, base._data.shape[d], d) from None
    if input._data.ndim == 0:
        result = reshape(result, ())
    return _maybe_out(result, out)


def scatter_(self, dim, index, src=None, value=None, *, reduce=None):
    """In-place ``scatter``."""
    if src is None:
        src = value
    others = (src,) if isinstance(src, Tensor) else ()
    return apply_inplace(
        self, lambda old, *o: scatter(old, dim, index, src, reduce=reduce), *others
    )


def scatter_add(input, dim, index, src):
    """``input`` with ``src`` added at ``index`` along ``dim`` (repeats accumulate)."""
    if not isinstance(src, Tensor):
        raise TypeError(
            f"scatter_add(): argument 'src' (position 3) must be Tensor, not {type(src).__name__}"
        )
    arr = _index_arg(input, index, "scatter_add")
    d, arr = _scatter_checks(input, dim, arr, src._data.shape or (1,), "scatter_add")
    if src._data.dtype != input._data.dtype:
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    base = input if input._data.ndim else reshape(input, (1,))
    src_t = src if src._data.ndim else reshape(src, (1,))
    try:
        result = ScatterAdd.apply(base, src_t, d, arr)
    except IndexError:
        raise _bounds_error(arr, base._data.shape[d], d) from None
    return reshape(result, ()) if input._data.ndim == 0 else result


def scatter_add_(self, dim, index, src):
    """In-place ``scatter_add``."""
    return apply_inplace(self, lambda old, s: scatter_add(old, dim, index, s), src)


def _vector_index(self, index, name):
    arr = _index_arg(self, index, name)
    if arr.ndim > 1:
        raise IndexError(f"{name}(): Index is supposed to be a vector")
    if arr.dtype.kind != "i" or arr.dtype.itemsize < 4:
        if name == "index_select":
            raise RuntimeError("index_select(): Expected dtype int32 or int64 for index")
        raise RuntimeError(f"{name}(): Expected dtype int64 for index")
    return arr.reshape(1) if arr.ndim == 0 else arr


def index_select(input, dim, index, *, out=None):
    """The entries ``index`` along ``dim`` (a copy).

    >>> import probe
    >>> probe.arange(6).reshape(3, 2).index_select(0, probe.tensor([2, 0]))
    tensor([[4, 5],
            [0, 1]])
    """
    arr = _vector_index(input, index, "index_select")
    d = _wrap_dim(dim, max(input._data.ndim, 1))
    src = input if input._data.ndim else reshape(input, (1,))
    if _negative_index(input, arr) is not None:
        raise IndexError("index out of range in self")
    try:
        result = IndexSelect.apply(src, d, arr)
    except IndexError:
        raise IndexError("index out of range in self") from None
    if input._data.ndim == 0:
        result = reshape(result, ())
    return _maybe_out(result, out)


def _index_op_checks(self, dim, index, source, name):
    arr = _vector_index(self, index, name)
    d = _wrap_dim(dim, max(self._data.ndim, 1))
    n_src = source._data.shape[d] if source._data.ndim else 1
    if arr.shape[0] != n_src:
        raise RuntimeError(
            f"{name}_(): Number of indices ({arr.shape[0]}) should be equal to source.size(dim): "
            f"({n_src}), for dim: {d}"
        )
    if source._data.dtype != self._data.dtype:
        raise RuntimeError(
            f"{name}_(): self ({self.dtype._short_name}) and source "
            f"({source.dtype._short_name}) must have the same scalar type"
        )
    if _negative_index(self, arr) is not None:
        raise _index_op_error(self, d, arr, name)
    return d, arr


def _index_op_error(self, d, arr, name):
    size = self._data.shape[d] if self._data.ndim else 1
    bad = _bad_index(arr, size)
    if name == "index_copy":
        return IndexError(
            f"index_copy_(): index {bad} is out of bounds for dimension {d} with size {size}")
    return RuntimeError(f"index {bad} is out of bounds for dimension {d} with size {size}")


def index_add(input, dim, index, source, *, alpha=1, out=None):
    """``input`` with ``alpha * source`` added at ``index`` along ``dim`` (repeats accumulate)."""
    d, arr = _index_op_checks(input, dim, index, source, "index_add")
    try:
        result = IndexAdd.apply(input, source, d, arr, alpha)
    except IndexError:
        raise _index_op_error(input, d, arr, "index_add") from None
    return _maybe_out(result, out)


def index_add_(self, dim, index, source, *, alpha=1):
    """In-place ``index_add``."""
    return apply_inplace(self, lambda old, s: index_add(old, dim, index, s, alpha=alpha), source)


def index_copy(input, dim, index, source, *, out=None):
    """``input`` with the slices ``index`` along ``dim`` replaced by ``source``."""
    d, arr = _index_op_checks(input, dim, index, source, "index_copy")
    try:
        result = IndexCopy.apply(input, source, d, arr)
    except IndexError:
        raise _index_op_error(input, d, arr, "index_copy") from None
    return _maybe_out(result, out)


def index_copy_(self, dim, index, source):
    """In-place ``index_copy``."""
    return apply_inplace(self, lambda old, s: index_copy(old, dim, index, s), source)


def index_fill(input, dim, index, value):
    """``input`` with the slices ``index`` along ``dim`` set to ``value``."""
    arr = _vector_index(input, index, "index_fill")
    d = _wrap_dim(dim, max(input._data.ndim, 1))
    key = _COLONS[d] + (arr,)
    src = input if input._data.ndim else reshape(input, (1,))
    if isinstance(value, Tensor) and value._data.ndim != 0:
        raise RuntimeError(
            "index_fill_ only supports a 0-dimensional value tensor, but got tensor with "
            f"{value._data.ndim} dimension(s)."
        )
    try:
        if isinstance(value, Tensor):
            result = IndexFillTensor.apply(src, _cast_value(input, value), key)
        else:
            result = IndexFill.apply(src, value, key)
    except IndexError:
        size = src._data.shape[d]
        raise IndexError(f"index {_bad_index(arr, size, True)} is out of bounds for dimension "
                         f"{d} with size {size}") from None
    return reshape(result, ()) if input._data.ndim == 0 else result


def index_fill_(self, dim, index, value):
    """In-place ``index_fill``."""
    others = (value,) if isinstance(value, Tensor) else ()
    return apply_inplace(self, lambda old, *o: index_fill(old, dim, index, value), *others)


def _cast_value(self, value):
    if value._data.dtype == self._data.dtype:
        return value
    from .conversion import to_dtype  # noqa: PLC0415

    return to_dtype(value, self.dtype)


def _mask_arg(self, mask, name):
    if not isinstance(mask, Tensor):
        raise TypeError(f"{name}(): argument 'mask' must be Tensor, not {type(mask).__name__}")
    arr = mask._data
    if arr.dtype.kind != "b":
        if arr.dtype == np.uint8:
            warnings.warn(f"{name} received a mask with dtype torch.uint8, this behavior is now "
                          "deprecated,please use a mask with dtype torch.bool instead.",
                          UserWarning, stacklevel=3)
            arr = arr.astype(bool)
        else:
            raise RuntimeError(
                f"{name}_ only supports boolean masks, but got mask with dtype "
                f"{mask.dtype._short_name.lower()}"
            )
    if mask._device is not self._device:
        arr = to_device_array(arr, mask._device, self._device)
    return arr


def _check_mask_broadcast(self, arr):
    shape = self._data.shape
    if arr.shape == shape:
        return
    try:
        np.broadcast_shapes(shape, arr.shape)
    except ValueError:
        from .shape import _broadcast_pair_error  # noqa: PLC0415

        raise RuntimeError(_broadcast_pair_error(arr.shape, shape)) from None


def masked_fill(input, mask, value):
    """``input`` with ``value`` where ``mask`` is True (the mask broadcasts).

    >>> import probe
    >>> x = probe.tensor([1.0, -2.0, 3.0])
    >>> x.masked_fill(x < 0, 0.0)
    tensor([1., 0., 3.])
    """
    arr = _mask_arg(input, mask, "masked_fill")
    _check_mask_broadcast(input, arr)
    if isinstance(value, Tensor):
        if value._data.ndim != 0:
            raise RuntimeError(
                "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                f"{value._data.ndim} dimension(s)."
            )
        return MaskedFillTensor.apply(input, _cast_value(input, value.to(input._device)), arr)
    return MaskedFill.apply(input, arr, value)


def masked_fill_(self, mask, value):
    """In-place ``masked_fill``."""
    others = (value,) if isinstance(value, Tensor) else ()
    if not STATE.enabled or not (
        self._requires_grad or (self._base is not None and self._base._requires_grad)
        or (others and value._requires_grad)
    ):
        arr = _mask_arg(self, mask, "masked_fill")
        check_inplace(self, False)
        if isinstance(value, Tensor):
            value = value.item()
        xp = self._device.xp
        try:
            xp.copyto(self._data, xp.asarray(value, dtype=self._data.dtype), where=arr)
        except ValueError:
            from .inplace import _check_broadcast_to  # noqa: PLC0415

            _check_broadcast_to(arr.shape, self._data.shape)
            raise
        self._vc[0] += 1
        return self
    return apply_inplace(self, lambda old, *o: masked_fill(old, mask, value), *others)


def masked_select(input, mask, *, out=None):
    """The entries of ``input`` where ``mask`` is True, as a 1-d tensor."""
    arr = _mask_arg(input, mask, "masked_select")
    _check_mask_broadcast(input, arr)
    return _maybe_out(MaskedSelect.apply(input, arr), out)


def masked_scatter(input, mask, source):
    """``input`` with the entries where ``mask`` is True taken, in order, from ``source``."""
    arr = _mask_arg(input, mask, "masked_scatter")
    _check_mask_broadcast(input, arr)
    if source._data.dtype != input._data.dtype:
        raise RuntimeError(
            "masked_scatter_: expected self and source to have same dtypes but got "
            f"{input.dtype._short_name} and {source.dtype._short_name}"
        )
    count = int(input._device.xp.broadcast_to(arr, np.broadcast_shapes(
        arr.shape, input._data.shape)).sum())
    if count > source._data.size:
        raise RuntimeError(
            "masked_scatter: expected source to have at least as many elements as ones in mask"
        )
    return MaskedScatter.apply(input, source, arr)


def masked_scatter_(self, mask, source):
    """In-place ``masked_scatter``."""
    return apply_inplace(self, lambda old, s: masked_scatter(old, mask, s), source)


def take(input, index):
    """Entries of the flattened ``input`` at ``index`` (the result has ``index``'s shape)."""
    arr = _index_arg(input, index, "take")
    if arr.dtype.kind != "i":
        raise RuntimeError("take(): Expected a long tensor for index, but got "
                           f"{index.dtype._short_name}")
    try:
        return Take.apply(input, arr)
    except IndexError:
        n = input._data.size
        raise IndexError(f"out of range: tried to access index {_bad_index(arr, n, True)} on a "
                         f"tensor of {n} elements.") from None


def take_along_dim(input, indices, dim=None, *, out=None):
    """``gather`` with broadcasting of ``input`` and ``indices`` (flattened when no dim)."""
    if dim is None:
        return _maybe_out(gather(reshape(input, (-1,)), 0, reshape(indices, (-1,))), out)
    if input._data.ndim != indices._data.ndim:
        raise RuntimeError(
            "torch.take_along_dim(): input and indices should have the same number of "
            f"dimensions, but got {input._data.ndim} dimensions for input, and "
            f"{indices._data.ndim} dimensions for indices"
        )
    d = _wrap_dim(dim, input._data.ndim)
    a_shape = list(input._data.shape)
    i_shape = list(indices._data.shape)
    a_shape[d] = i_shape[d] = 1
    from .shape import broadcast_shapes  # noqa: PLC0415

    common = list(broadcast_shapes(a_shape, i_shape))
    a_target = tuple(common[:d] + [input._data.shape[d]] + common[d + 1:])
    i_target = tuple(common[:d] + [indices._data.shape[d]] + common[d + 1:])
    if input._data.shape != a_target:
        input = expand(input, a_target)
    if indices._data.shape != i_target:
        indices = expand(indices, i_target)
    return _maybe_out(gather(input, d, indices), out)


def nonzero(input, *, as_tuple=False, out=None):
    """Indices of the non-zero entries: an ``(n, ndim)`` int64 tensor, or one 1-d tensor per
    dimension with ``as_tuple=True``."""
    data = input._data
    xp = input._device.xp
    dev = input._device
    if as_tuple:
        if data.ndim == 0:
            data = data.reshape(1)
        return tuple(_wrap(i.astype(np.int64, copy=False), dev) for i in xp.nonzero(data))
    result = _wrap(xp.argwhere(data).astype(np.int64, copy=False), dev)
    return _maybe_out(result, out)


def argwhere(input):
    """``nonzero(input)``: an ``(n, ndim)`` tensor of the indices of non-zero entries."""
    return nonzero(input)


def index_put(input, indices, values, accumulate=False):
    """``input`` with ``input[indices] = values`` (``+=`` with ``accumulate``), out of place."""
    key, op = _parse_index(input, tuple(indices))
    if op is not None:
        key = tuple(k for k in key if k is not Ellipsis)
    values = _strip_leading_ones(_value_tensor(input, values), input._data[key].ndim)
    if values._data.dtype != input._data.dtype:
        raise RuntimeError(
            "Index put requires the source and destination dtypes match, got "
            f"{input.dtype._short_name} for the destination and {values.dtype._short_name} "
            "for the source."
        )
    try:
        return IndexPut.apply(input, values, key, bool(accumulate))
    except ValueError:
        raise _put_shape_error(input, key, values._data.shape) from None


def index_put_(self, indices, values, accumulate=False):
    """In-place ``index_put``."""
    return apply_inplace(
        self, lambda old, v: index_put(old, indices, v, accumulate), _value_tensor(self, values))


def put(input, index, source, accumulate=False):
    """``input`` with the flattened entries at ``index`` set to (or, with ``accumulate``,
    increased by) ``source``."""
    arr = _index_arg(input, index, "put")
    n = input._data.size
    if source._data.size != arr.size:
        raise RuntimeError(
            "put_(): Expected source and index to have the same number of elements, but got "
            f"source.numel() = {source._data.size}, index.numel() = {arr.size}"
        )
    flat = reshape(input, (-1,))
    src = reshape(_cast_value(input, source), (-1,))
    try:
        result = IndexPut.apply(flat, src, (arr.reshape(-1),), bool(accumulate))
    except IndexError:
        raise IndexError(f"out of range: tried to access index {_bad_index(arr, n, True)} on a "
                         f"tensor of {n} elements.") from None
    return reshape(result, input._data.shape)


def put_(self, index, source, accumulate=False):
    """In-place ``put``."""
    return apply_inplace(self, lambda old, s: put(old, index, s, accumulate), source)


# ---------------------------------------------------------------------------------------------
# Functional helpers for backwards (work on raw arrays and, recorded, on Tensors)
# ---------------------------------------------------------------------------------------------

def _raw(index):
    return index._data if isinstance(index, Tensor) else index


def index_add_zeros(g, shape, dim, index):
    """Zeros of ``shape`` with the slices of ``g`` added at ``index`` along ``dim`` (repeats
    accumulate): the backward of ``index_select`` and embeddings, differentiable under
    ``create_graph``."""
    index = _raw(index)
    key = (index,) if dim == 0 else _COLONS[dim] + (index,)
    return _run(_IndexPutAcc, g, tuple(shape), key)


def scatter_add_zeros(g, shape, dim, index):
    """Zeros of ``shape`` with ``g`` scatter-added at ``index`` along ``dim`` (the backward of
    ``gather``/``take_along_dim``)."""
    index = _raw(index)
    return _run(_IndexPutAcc, g, tuple(shape), _along_key(xp_of(index), index, dim))


def _np_take_along_axis(arr, indices, axis=-1):
    a = arr if isinstance(arr, Tensor) else _wrap(np.asarray(arr), _CPU)
    idx = _raw(indices)
    if axis is None:
        a = reshape(a, (-1,))
        idx = idx.reshape(-1)
        axis = 0
    d = _wrap_dim(axis, a.ndim)
    return Gather.apply(a, d, idx)


def _np_take(a, indices, axis=None, out=None, mode="raise"):
    a = a if isinstance(a, Tensor) else _wrap(np.asarray(a), _CPU)
    idx = _raw(indices)
    if axis is None:
        return Take.apply(a, idx)
    d = _wrap_dim(axis, a.ndim)
    key = _COLONS[d] + (idx,)
    return AdvIndex.apply(a, key)


def _np_index_add(g, shape, dim, index):
    return index_add_zeros(g, shape, dim, index)


def _np_scatter_add(g, shape, dim, index):
    return scatter_add_zeros(g, shape, dim, index)

# ---------------------------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------------------------

_SHARED = {
    "gather": gather, "scatter": scatter, "scatter_add": scatter_add,
    "index_select": index_select, "index_add": index_add, "index_copy": index_copy,
    "index_fill": index_fill, "masked_fill": masked_fill, "masked_select": masked_select,
    "masked_scatter": masked_scatter, "take": take, "take_along_dim": take_along_dim,
    "nonzero": nonzero, "argwhere": argwhere, "index_put": index_put, "put": put,
    "index_put_": index_put_,
}

TENSOR_METHODS = {
    **_SHARED, "__getitem__": getitem, "__setitem__": setitem, "scatter_": scatter_,
    "scatter_add_": scatter_add_, "index_add_": index_add_, "index_copy_": index_copy_,
    "index_fill_": index_fill_, "masked_fill_": masked_fill_, "masked_scatter_": masked_scatter_,
    "put_": put_,
}

FUNCTIONS = dict(_SHARED)

NUMPY_NAMESPACE = {
    "take_along_axis": _np_take_along_axis, "take": _np_take, "_index_add": _np_index_add,
    "_scatter_add": _np_scatter_add,
}

