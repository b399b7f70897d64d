"""Shape and view operations: ``view``/``reshape``, ``permute``/``transpose``, ``squeeze``,
``expand``, ``cat``/``stack``, ``split``/``chunk``/``unbind``, ``flip``/``roll``, ``repeat``,
``tril``/``triu``, ``diagonal``, ``unfold``...

Ops that return views in PyTorch return views here too (``is_view = True``): their forward is a
pure function of ``(array, *params)`` that returns a NumPy/CuPy view of the array, so an in-place
write through the view can be replayed on the base for autograd. Backwards that need more than
a reshape run one of this module's ops through ``_run``, which records it when the gradient is
a Tensor (``create_graph=True``) and calls its forward directly on raw arrays otherwise; that
keeps every backward differentiable without a second implementation.
"""

from __future__ import annotations

import math
import operator
import warnings

import numpy as np

from .. import dtypes as _dt
from ..autograd import Op, _NoGradContext
from ..backend import xp_of
from ..tensor import Size, Tensor, _wrap, _wrap_dim
from ._common import cast
from .conversion import Clone
from .inplace import maybe_out as _maybe_out

# ``_COLONS[d]`` is the index prefix that skips ``d`` dimensions.
_COLONS = tuple((slice(None),) * i for i in range(65))
_ndarray = np.ndarray

INTERNAL_OVERLAP_MSG = (
    "unsupported operation: more than one element of the written-to tensor refers to a single "
    "memory location. Please clone() the tensor before performing the operation."
)
VIEW_STRIDE_MSG = (
    "view size is not compatible with input tensor's size and stride (at least one dimension "
    "spans across two contiguous subspaces). Use .reshape(...) instead."
)


def _run(op, *args):
    """Run ``op``: recorded when an argument is a Tensor (a backward under ``create_graph``),
    a plain forward on raw arrays otherwise. Backwards call their helper ops through this."""
    for a in args:
        if isinstance(a, Tensor):
            return op.apply(*args)
    ctx = _NoGradContext()
    ctx.xp = xp_of(args[0])
    return op.forward(ctx, *args)


def _add_at(xp, out, key, values):
    """``out[key] += values`` with repeated indices accumulating (NumPy's and CuPy's ``add.at``;
    measured fastest for scatter-adds in NumPy 2)."""
    xp.add.at(out, key, values)


def has_internal_overlap(array) -> bool:
    """True when two elements of ``array`` share memory through a zero stride (an expanded
    tensor), the case where PyTorch refuses in-place writes."""
    strides = array.strides
    if 0 not in strides:
        return False
    return any(st == 0 and n > 1 for st, n in zip(strides, array.shape, strict=True))


def _int(x):
    return x if x.__class__ is int else operator.index(x)


def _size_arg(size, name="size"):
    """A shape tuple from ``f(2, 3)``, ``f((2, 3))``, ``f([2, 3])`` or ``f(probe.Size(...))``."""
    if len(size) == 1:
        s = size[0]
        c = s.__class__
        if c is int:
            return size
        if c is tuple or c is Size or c is list:
            size = s
        elif isinstance(s, Tensor) and s.ndim == 0:
            return (_int(s),)
        elif not isinstance(s, tuple | list | Size | Tensor | _ndarray):
            return (_int(s),)
        else:
            size = s
    for s in size:  # the common case: all Python ints, no conversion needed
        if s.__class__ is not int:
            break
    else:
        return size if size.__class__ is tuple else tuple(size)
    if isinstance(size, Tensor | _ndarray):
        size = size.tolist()
    try:
        return tuple(s if s.__class__ is int else operator.index(s) for s in size)
    except TypeError:
        bad = next(s for s in size if not isinstance(s, int))
        raise TypeError(
            f"{name}(): argument '{name}' must be tuple of ints, but found element of type "
            f"{type(bad).__name__}"
        ) from None


def _shape_error(shape, numel) -> str:
    """PyTorch's message for a shape that can't hold ``numel`` elements."""
    shape = list(shape)
    inferred = [i for i, s in enumerate(shape) if s == -1]
    if len(inferred) > 1:
        return "only one dimension can be inferred"
    for i, s in enumerate(shape):
        if s < -1:
            return f"invalid shape dimension {s} at index {i} of shape {shape}"
    known = math.prod(s for s in shape if s != -1)
    if inferred and numel == 0 and known == 0:
        return (
            f"cannot reshape tensor of 0 elements into shape {shape} because the unspecified "
            "dimension size -1 can be any value and is ambiguous"
        )
    return f"shape '{shape}' is invalid for input of size {numel}"


def _valid_shape(shape, numel) -> bool:
    inferred = 0
    known = 1
    for s in shape:
        if s == -1:
            inferred += 1
        elif s < 0:
            return False
        else:
            known *= s
    if inferred > 1:
        return False
    if inferred:
        return known != 0 and numel % known == 0
    return known == numel


def _infer_shape(shape, numel):
    """``shape`` with a ``-1`` resolved (PyTorch's errors for impossible shapes)."""
    if -1 not in shape:
        if math.prod(shape) != numel or any(s < 0 for s in shape):
            raise RuntimeError(_shape_error(shape, numel))
        return tuple(shape)
    if not _valid_shape(shape, numel):
        raise RuntimeError(_shape_error(shape, numel))
    known = math.prod(s for s in shape if s != -1)
    return tuple(numel // known if s == -1 else s for s in shape)


def _reshape_nocopy(a, shape):
    """``a`` reshaped without copying; ValueError when the strides don't allow it."""
    try:
        return a.reshape(shape, copy=False)
    except TypeError:  # NumPy < 2.1 and CuPy have no ``copy`` keyword
        out = a.reshape(shape)
        if out.size and not xp_of(a).may_share_memory(out, a):
            raise ValueError("Unable to avoid creating a copy while reshaping.") from None
        return out


# ---------------------------------------------------------------------------------------------
# View ops
# ---------------------------------------------------------------------------------------------

class View(Op):
    node_name = "ViewBackward0"
    is_view = True

    @staticmethod
    def forward(ctx, a, shape):
        ctx.in_shape = a.shape
        if a.flags.c_contiguous:
            return a.reshape(shape)
        return _reshape_nocopy(a, shape)

    @staticmethod
    def backward(ctx, g):
        return (g.reshape(ctx.in_shape),)


class UnsafeView(Op):
    """The reshape of a fresh contiguous copy (``reshape`` of a tensor that can't be viewed)."""

    node_name = "UnsafeViewBackward0"

    @staticmethod
    def forward(ctx, a, shape):
        ctx.in_shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return (g.reshape(ctx.in_shape),)


class Permute(Op):
    node_name = "PermuteBackward0"
    is_view = True

    @staticmethod
    def forward(ctx, a, dims):
        ctx.dims = dims
        return a.transpose(dims)

    @staticmethod
    def backward(ctx, g):
        dims = ctx.dims
        inverse = [0] * len(dims)
        for i, d in enumerate(dims):
            inverse[d] = i
        return (ctx.xp.transpose(g, tuple(inverse)),)


class Transpose(Op):
    node_name = "TransposeBackward0"
    is_view = True

    @staticmethod
    def forward(ctx, a, dim0, dim1):
        ctx.dim0, ctx.dim1 = dim0, dim1
        return a.swapaxes(dim0, dim1)

    @staticmethod
    def backward(ctx, g):
        return (ctx.xp.swapaxes(g, ctx.dim0, ctx.dim1),)


class TransposeT(Op):
    """``Tensor.t()`` of a tensor with at most two dimensions."""

    node_name = "TBackward0"
    is_view = True

    @staticmethod
    def forward(ctx, a):
        return a.T

    @staticmethod
    def backward(ctx, g):
        return (ctx.xp.transpose(g),)


class _IndexView(Op):
    """``a[key]`` for a basic (view-producing) NumPy index ``key``; subclasses give the grad_fn
    name PyTorch shows for the kind of indexing."""

    is_view = True

    @staticmethod
    def forward(ctx, a, key):
        ctx.in_shape = a.shape
        ctx.key = key
        return a[key]

    @staticmethod
    def backward(ctx, g):
        return (_run(_EmbedIndex, g, ctx.in_shape, ctx.key),)


class Select(_IndexView):
    node_name = "SelectBackward0"


class Slice(_IndexView):
    node_name = "SliceBackward0"


class IndexUnsqueeze(_IndexView):
    node_name = "UnsqueezeBackward0"


class Alias(_IndexView):
    node_name = "AliasBackward0"


class _EmbedIndex(Op):
    """Zeros of ``shape`` with ``out[key] = g`` (the backward of basic indexing)."""

    node_name = "SliceBackwardBackward0"

    @staticmethod
    def forward(ctx, g, shape, key):
        ctx.key = key
        out = ctx.xp.zeros(shape, dtype=g.dtype)
        out[key] = g
        return out

    @staticmethod
    def backward(ctx, gg):
        return (_run(Slice, gg, ctx.key),)


class _ReshapeView(Op):
    """Squeeze/unsqueeze: a view through a basic index ``key``, undone by a reshape."""

    is_view = True

    @staticmethod
    def forward(ctx, a, key):
        ctx.in_shape = a.shape
        return a[key]

    @staticmethod
    def backward(ctx, g):
        return (g.reshape(ctx.in_shape),)


class Unsqueeze(_ReshapeView):
    node_name = "UnsqueezeBackward0"


class SqueezeAll(_ReshapeView):
    node_name = "SqueezeBackward0"


class SqueezeDim(_ReshapeView):
    node_name = "SqueezeBackward1"


class SqueezeDims(_ReshapeView):
    node_name = "SqueezeBackward2"


class Expand(Op):
    node_name = "ExpandBackward0"
    is_view = True

    @staticmethod
    def forward(ctx, a, shape):
        ashape = a.shape
        if shape == ashape:
            return a[...]
        lead = len(shape) - len(ashape)
        if shape[lead:] == ashape and (not lead or max(shape[:lead]) == 1):
            return a[(None,) * lead + (Ellipsis,)]
        if a.__class__ is _ndarray and a.flags.c_contiguous and a.size:
            # A strided view over ``a``'s buffer (several times faster than broadcast_to).
            # a zero stride on every size-1 dimension: harmless where it stays 1, broadcasts
            # where it grows
            strides = (0,) * lead + tuple([
                0 if n == 1 else st for n, st in zip(ashape, a.strides)])  # noqa: B905
            out = _ndarray(shape, a.dtype, a, 0, strides)
        else:
            out = ctx.xp.broadcast_to(a, shape)
        if out.__class__ is _ndarray:
            # Read-only: an in-place write into an expanded tensor is an error, as in PyTorch.
            out.setflags(write=False)
        return out

    @staticmethod
    def backward(ctx, g):
        return (g,)  # the engine sums the gradient back to the input's shape


class Split(Op):
    node_name = "SplitBackward0"
    is_view = True

    @staticmethod
    def forward(ctx, a, size, dim):
        ctx.dim = dim
        n = a.shape[dim]
        pre = _COLONS[dim]
        if n == 0:
            return (a[pre + (slice(0, 0),)],)
        return tuple(a[pre + (slice(s, s + size),)] for s in range(0, n, size))

    @staticmethod
    def output_view_step(i, params):
        size, dim = params
        return Slice, (_COLONS[dim] + (slice(i * size, (i + 1) * size),),)

    @staticmethod
    def backward(ctx, *grads):
        return (ctx.xp.concatenate(grads, axis=ctx.dim),)


class SplitWithSizes(Op):
    node_name = "SplitWithSizesBackward0"
    is_view = True

    @staticmethod
    def forward(ctx, a, sizes, dim):
        ctx.dim = dim
        pre = _COLONS[dim]
        out = []
        start = 0
        for s in sizes:
            out.append(a[pre + (slice(start, start + s),)])
            start += s
        return tuple(out)

    @staticmethod
    def output_view_step(i, params):
        sizes, dim = params
        start = sum(sizes[:i])
        return Slice, (_COLONS[dim] + (slice(start, start + sizes[i]),),)

    @staticmethod
    def backward(ctx, *grads):
        return (ctx.xp.concatenate(grads, axis=ctx.dim),)


class Unbind(Op):
    node_name = "UnbindBackward0"
    is_view = True

    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim
        pre = _COLONS[dim]
        return tuple(a[pre + (i, Ellipsis)] for i in range(a.shape[dim]))

    @staticmethod
    def output_view_step(i, params):
        (dim,) = params
        return Select, (_COLONS[dim] + (i, Ellipsis),)

    @staticmethod
    def backward(ctx, *grads):
        return (ctx.xp.stack(grads, axis=ctx.dim),)


def _writable_diagonal(a, offset, dim1, dim2):
    d = a.diagonal(offset, dim1, dim2)
    # NumPy hands out diagonals read-only; PyTorch's diagonal is a writable view.
    if d.__class__ is _ndarray and not d.flags.writeable and a.flags.writeable:
        d.flags.writeable = True
    return d


class Diagonal(Op):
    node_name = "DiagonalBackward0"
    is_view = True

    @staticmethod
    def forward(ctx, a, offset, dim1, dim2):
        ctx.in_shape = a.shape
        ctx.params = (offset, dim1, dim2)
        return _writable_diagonal(a, offset, dim1, dim2)

    @staticmethod
    def backward(ctx, g):
        return (_run(DiagEmbed, g, ctx.in_shape, *ctx.params),)


class DiagonalCopy(Op):
    """``torch.diag`` of a matrix: the diagonal as a new tensor."""

    node_name = "DiagonalBackward0_copy"

    @staticmethod
    def forward(ctx, a, offset, dim1, dim2):
        ctx.in_shape = a.shape
        ctx.params = (offset, dim1, dim2)
        return a.diagonal(offset, dim1, dim2).copy()

    @staticmethod
    def backward(ctx, g):
        return (_run(DiagEmbed, g, ctx.in_shape, *ctx.params),)


class DiagEmbed(Op):
    """Zeros of ``shape`` with the (offset, dim1, dim2) diagonal set to ``a``."""

    node_name = "DiagEmbedBackward0"

    @staticmethod
    def forward(ctx, a, shape, offset, dim1, dim2):
        ctx.params = (offset, dim1, dim2)
        out = ctx.xp.zeros(shape, dtype=a.dtype)
        _writable_diagonal(out, offset, dim1, dim2)[...] = a
        return out

    @staticmethod
    def backward(ctx, g):
        return (_run(Diagonal, g, *ctx.params),)


class AsStrided(Op):
    node_name = "AsStridedBackward0"
    is_view = True

    @staticmethod
    def forward(ctx, a, size, stride, offset):
        ctx.in_shape = a.shape
        ctx.params = (size, stride, offset)
        flat = _reshape_nocopy(a, (-1,))[offset:]
        item = a.itemsize
        return ctx.xp.lib.stride_tricks.as_strided(
            flat, shape=size, strides=tuple(s * item for s in stride))

    @staticmethod
    def backward(ctx, g):
        return (_run(_AsStridedScatter, g, ctx.in_shape, *ctx.params),)


class _AsStridedScatter(Op):
    node_name = "AsStridedScatterBackward0"

    @staticmethod
    def forward(ctx, g, shape, size, stride, offset):
        ctx.params = (size, stride, offset)
        xp = ctx.xp
        n = math.prod(shape)
        positions = xp.arange(n)[offset:]
        item = positions.itemsize
        idx = xp.lib.stride_tricks.as_strided(
            positions, shape=size, strides=tuple(s * item for s in stride))
        out = xp.zeros(n, dtype=g.dtype)
        _add_at(xp, out, idx, g)
        return out.reshape(shape)

    @staticmethod
    def backward(ctx, gg):
        return (_run(AsStrided, gg, *ctx.params),)


class Unfold(Op):
    node_name = "UnfoldBackward0"
    is_view = True

    @staticmethod
    def forward(ctx, a, dim, size, step):
        ctx.in_shape = a.shape
        ctx.params = (dim, size, step)
        count = (a.shape[dim] - size) // step + 1
        shape = a.shape[:dim] + (count,) + a.shape[dim + 1:] + (size,)
        st = a.strides
        strides = st[:dim] + (st[dim] * step,) + st[dim + 1:] + (st[dim],)
        return ctx.xp.lib.stride_tricks.as_strided(a, shape=shape, strides=strides)

    @staticmethod
    def backward(ctx, g):
        return (_run(_UnfoldScatter, g, ctx.in_shape, *ctx.params),)


class _UnfoldScatter(Op):
    node_name = "UnfoldBackwardBackward0"

    @staticmethod
    def forward(ctx, g, shape, dim, size, step):
        ctx.params = (dim, size, step)
        out = ctx.xp.zeros(shape, dtype=g.dtype)
        count = g.shape[dim]
        pre = _COLONS[dim]
        # One strided add per window position (the window is short; no loop over elements).
        for j in range(size):
            out[pre + (slice(j, j + step * (count - 1) + 1, step),)] += g[..., j]
        return out

    @staticmethod
    def backward(ctx, gg):
        return (_run(Unfold, gg, *ctx.params),)


# ---------------------------------------------------------------------------------------------
# Copying ops
# ---------------------------------------------------------------------------------------------

class Cat(Op):
    node_name = "CatBackward0"

    @staticmethod
    def forward(ctx, *args):
        dim = args[-1]
        arrays = args[:-1]
        if ctx.recording:
            ctx.dim = dim
            ctx.sizes = [a.shape[dim] for a in arrays]
        return ctx.xp.concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):
        pre = _COLONS[ctx.dim]
        out = []
        start = 0
        for s in ctx.sizes:
            out.append(g[pre + (slice(start, start + s),)])
            start += s
        return tuple(out)


class Stack(Op):
    node_name = "StackBackward0"

    @staticmethod
    def forward(ctx, *args):
        dim = args[-1]
        arrays = args[:-1]
        ctx.dim = dim
        ctx.n = len(arrays)
        key = _COLONS[dim] + (None, Ellipsis)
        # concatenate of unsqueezed views: about twice as fast as np.stack for small inputs
        return ctx.xp.concatenate([a[key] for a in arrays], axis=dim)

    @staticmethod
    def backward(ctx, g):
        pre = _COLONS[ctx.dim]
        return tuple(g[pre + (i, Ellipsis)] for i in range(ctx.n))


class Flip(Op):
    node_name = "FlipBackward0"

    @staticmethod
    def forward(ctx, a, key):
        ctx.key = key
        return a[key].copy()

    @staticmethod
    def backward(ctx, g):
        return (_run(Flip, g, ctx.key),)


class Roll(Op):
    node_name = "RollBackward0"

    @staticmethod
    def forward(ctx, a, shifts, dims):
        ctx.shifts, ctx.dims = shifts, dims
        return ctx.xp.roll(a, shifts, axis=dims)

    @staticmethod
    def backward(ctx, g):
        return (_run(Roll, g, tuple(-s for s in ctx.shifts), ctx.dims),)


class Rot90(Op):
    node_name = "Rot90Backward0"

    @staticmethod
    def forward(ctx, a, k, dims):
        ctx.k, ctx.dims = k, dims
        return ctx.xp.ascontiguousarray(ctx.xp.rot90(a, k, axes=dims))

    @staticmethod
    def backward(ctx, g):
        return (_run(Rot90, g, -ctx.k, ctx.dims),)


class Repeat(Op):
    node_name = "RepeatBackward0"

    @staticmethod
    def forward(ctx, a, reps):
        ctx.in_shape = a.shape
        ctx.reps = reps
        return ctx.xp.tile(a, reps)

    @staticmethod
    def backward(ctx, g):
        reps = ctx.reps
        shape = (1,) * (len(reps) - len(ctx.in_shape)) + tuple(ctx.in_shape)
        split = []
        for r, s in zip(reps, shape, strict=True):
            split += [r, s]
        summed = ctx.xp.sum(g.reshape(tuple(split)), axis=tuple(range(0, 2 * len(reps), 2)))
        return (summed.reshape(ctx.in_shape),)


class Tril(Op):
    node_name = "TrilBackward0"

    @staticmethod
    def forward(ctx, a, k):
        ctx.k = k
        return ctx.xp.tril(a, k)

    @staticmethod
    def backward(ctx, g):
        return (_run(Tril, g, ctx.k),)


class Triu(Op):
    node_name = "TriuBackward0"

    @staticmethod
    def forward(ctx, a, k):
        ctx.k = k
        return ctx.xp.triu(a, k)

    @staticmethod
    def backward(ctx, g):
        return (_run(Triu, g, ctx.k),)


class Trace(Op):
    node_name = "TraceBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.in_shape = a.shape
        if a.dtype.kind in "biu":
            return ctx.xp.asarray(a.trace(dtype=np.int64))
        return ctx.xp.asarray(a.trace())

    @staticmethod
    def backward(ctx, g):
        return (_run(DiagEmbed, g, ctx.in_shape, 0, 0, 1),)


class Conj(Op):
    node_name = "ConjBackward0"

    @staticmethod
    def forward(ctx, a):
        return ctx.xp.conj(a)

    @staticmethod
    def backward(ctx, g):
        return (_run(Conj, g),)


# ---------------------------------------------------------------------------------------------
# Public functions (also bound as Tensor methods)
# ---------------------------------------------------------------------------------------------

def _view_dtype(self, dtype):
    dtype = _dt.to_dtype(dtype)
    np_dtype = _dt.numpy_dtype(dtype)
    data = self._data
    if np_dtype.itemsize != data.itemsize:
        if data.ndim == 0:
            raise RuntimeError(
                "self.dim() cannot be 0 to view "
                f"{self.dtype} as {dtype} (different element sizes)"
            )
        if data.ndim and data.strides[-1] != data.itemsize:
            raise RuntimeError(
                "self.stride(-1) must be 1 to view "
                f"{self.dtype} as {dtype} (different element sizes)"
            )
    try:
        out = _wrap(data.view(np_dtype), self._device)
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None
    out._vc = self._vc  # shares storage, so shares the version counter
    return out


def view(input, *shape, dtype=None, size=None):
    """A view of ``input`` with another shape (``-1`` is inferred), sharing its memory; or,
    with a dtype, its bytes reinterpreted.

    >>> import probe
    >>> probe.arange(6).view(2, -1)
    tensor([[0, 1, 2],
            [3, 4, 5]])
    """
    if dtype is not None:
        return _view_dtype(input, dtype)
    if size is not None:
        shape = (size,)
    if (len(shape) == 1 and shape[0].__class__ is not int
            and isinstance(shape[0], _dt.dtype | type | np.dtype | str)):
        return _view_dtype(input, shape[0])
    shape = _size_arg(shape, "view")
    if shape and min(shape) < -1:  # NumPy would infer any negative size
        raise RuntimeError(_shape_error(shape, input._data.size))
    try:
        return View.apply(input, shape)
    except ValueError:
        if not _valid_shape(shape, input._data.size):
            raise RuntimeError(_shape_error(shape, input._data.size)) from None
        raise RuntimeError(VIEW_STRIDE_MSG) from None


def reshape(input, *shape, **kwargs):
    """``input`` with another shape: a view when the memory layout allows it, else a copy.

    >>> import probe
    >>> probe.arange(6).reshape(3, 2).shape
    probe.Size([3, 2])
    """
    if kwargs:
        shape = (kwargs.pop("shape"),)
        if kwargs:
            raise TypeError(f"reshape() got an unexpected keyword argument '{next(iter(kwargs))}'")
    shape = _size_arg(shape, "reshape")
    data = input._data
    if shape and min(shape) < -1:  # NumPy would infer any negative size
        raise RuntimeError(_shape_error(shape, data.size))
    try:
        return View.apply(input, shape)
    except ValueError:
        if not _valid_shape(shape, data.size):
            raise RuntimeError(_shape_error(shape, data.size)) from None
    return UnsafeView.apply(Clone.apply(input), shape)


def view_as(input, other):
    """A view of ``input`` with ``other``'s shape."""
    return view(input, other._data.shape)


def reshape_as(input, other):
    """``input`` reshaped to ``other``'s shape (a view when possible)."""
    return reshape(input, other._data.shape)


def flatten(input, start_dim=0, end_dim=-1):
    """Merge dimensions ``start_dim..end_dim`` into one (a view when possible)."""
    shape = input._data.shape
    ndim = len(shape)
    if ndim == 0:
        return reshape(input, (1,))
    start = _wrap_dim(start_dim, ndim)
    end = _wrap_dim(end_dim, ndim)
    if start > end:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if start == end:
        return input
    new = shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:]
    return reshape(input, new)


def ravel(input):
    """``input`` flattened to one dimension (a view when possible)."""
    return reshape(input, (-1,))


def unflatten(input, dim, sizes):
    """Split dimension ``dim`` into ``sizes`` (one may be -1)."""
    shape = input._data.shape
    d = _wrap_dim(dim, len(shape))
    sizes = _size_arg((sizes,), "unflatten")
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    n = shape[d]
    if not _valid_shape(sizes, n):
        if sizes.count(-1) > 1:
            raise RuntimeError("only one dimension can be inferred")
        raise RuntimeError(
            f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {dim} "
            f"({n}) in the input tensor"
        )
    return reshape(input, shape[:d] + tuple(sizes) + shape[d + 1:])


def _dims_arg(dims):
    if len(dims) == 1 and not isinstance(dims[0], int | np.integer):
        dims = dims[0]
    return tuple(_int(d) for d in dims)


def permute(input, *dims):
    """Reorder dimensions: ``x.permute(2, 0, 1)``; a view."""
    if len(dims) == 1 and dims[0].__class__ is not int:
        dims = tuple(dims[0])
    ndim = input._data.ndim
    if len(dims) == ndim and ndim and dims[0].__class__ is int:
        lo = min(dims)
        if lo < 0:
            dims = tuple([d + ndim if d < 0 else d for d in dims])
            lo = min(dims)
        if lo >= 0 and max(dims) < ndim and len(set(dims)) == ndim:
            return Permute.apply(input, dims)
    dims = tuple(_int(d) for d in dims)
    if len(dims) != ndim:
        raise RuntimeError(
            "permute(sparse_coo): number of dimensions in the tensor input does not match the "
            "length of the desired ordering of dimensions i.e. input.dim() = "
            f"{ndim} is not equal to len(dims) = {len(dims)}"
        )
    dims = tuple(_wrap_dim(d, ndim) for d in dims)
    if len(set(dims)) != ndim:
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return Permute.apply(input, dims)


def transpose(input, dim0, dim1):
    """Swap two dimensions; a view."""
    ndim = input._data.ndim
    return Transpose.apply(input, _wrap_dim(dim0, ndim), _wrap_dim(dim1, ndim))


swapaxes = swapdims = transpose


def t(input):
    """Transpose a tensor of at most two dimensions (0-d and 1-d tensors are returned as is)."""
    if input._data.ndim > 2:
        raise RuntimeError(
            f"t() expects a tensor with <= 2 dimensions, but self is {input._data.ndim}D"
        )
    return TransposeT.apply(input)


def _T(self):
    ndim = self._data.ndim
    if ndim != 2:
        if ndim == 0:
            warnings.warn("Tensor.T is deprecated on 0-D tensors. This function is the identity "
                          "in these cases.", UserWarning, stacklevel=2)
        else:
            warnings.warn(
                "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is "
                "deprecated and it will throw an error in a future release. Consider `x.mT` to "
                "transpose batches of matrices or `x.permute(*torch.arange(x.ndim - 1, -1, -1))` "
                "to reverse the dimensions of a tensor.", UserWarning, stacklevel=2,
            )
    return Permute.apply(self, tuple(range(ndim - 1, -1, -1)))


def _mT(self):
    ndim = self._data.ndim
    if ndim < 2:
        raise RuntimeError(
            "tensor.mT is only supported on matrices or batches of matrices. Got "
            f"{ndim}-D tensor."
        )
    return Transpose.apply(self, ndim - 2, ndim - 1)


def _conj_if_complex(t):
    return Conj.apply(t) if t._data.dtype.kind == "c" else t


def _H(self):
    ndim = self._data.ndim
    if ndim not in (0, 2):
        raise RuntimeError(
            f"tensor.H is only supported on matrices (2-D tensors). Got {ndim}-D tensor."
        )
    if ndim == 0:
        return _conj_if_complex(self)
    return _conj_if_complex(Transpose.apply(self, 0, 1))


def _mH(self):
    ndim = self._data.ndim
    if ndim < 2:
        raise RuntimeError(
            "tensor.mH is only supported on matrices or batches of matrices. Got "
            f"{ndim}-D tensor."
        )
    return _conj_if_complex(Transpose.apply(self, ndim - 2, ndim - 1))


def adjoint(input):
    """The conjugate transpose of the last two dimensions (a view for real tensors)."""
    ndim = input._data.ndim
    if ndim < 2:
        raise RuntimeError(
            "adjoint() is only supported on matrices or batches of matrices. Got "
            f"{ndim}-D tensor."
        )
    return _conj_if_complex(Transpose.apply(input, ndim - 2, ndim - 1))


def squeeze(input, dim=None):
    """Remove dimensions of size 1 (all of them, or those among ``dim``); a view."""
    shape = input._data.shape
    ndim = len(shape)
    if dim is None:
        key = tuple(0 if s == 1 else slice(None) for s in shape) + (Ellipsis,)
        return SqueezeAll.apply(input, key)
    if isinstance(dim, tuple | list):
        dims = {_wrap_dim(_int(d), ndim) for d in dim}
        key = tuple(0 if (i in dims and s == 1) else slice(None)
                    for i, s in enumerate(shape)) + (Ellipsis,)
        return SqueezeDims.apply(input, key)
    d = _wrap_dim(dim, ndim)
    if ndim and shape[d] == 1:
        key = _COLONS[d] + (0, Ellipsis)
    else:
        key = (Ellipsis,)
    return SqueezeDim.apply(input, key)


def unsqueeze(input, dim):
    """Insert a dimension of size 1 at ``dim``; a view."""
    d = _wrap_dim(dim, input._data.ndim + 1)
    return Unsqueeze.apply(input, _COLONS[d] + (None, Ellipsis))


def _tensor_type_name(t):
    return f"probe.{t.dtype._legacy_name}"


def expand(input, *sizes):
    """A view of ``input`` broadcast to ``sizes`` (-1 keeps a size); no memory is copied.

    >>> import probe
    >>> probe.tensor([1, 2]).expand(2, -1)
    tensor([[1, 2],
            [1, 2]])
    """
    sizes = _size_arg(sizes, "expand")
    shape = input._data.shape
    lead = len(sizes) - len(shape)
    if lead >= 0 and -1 not in sizes:
        for s, cur in zip(sizes[lead:], shape):  # noqa: B905 - equal lengths
            if cur != s and cur != 1:
                break
        else:
            if not sizes or min(sizes) >= 0:
                return Expand.apply(input, sizes)
    if lead < 0:
        raise RuntimeError(
            f"expand({_tensor_type_name(input)}{{{list(shape)}}}, size={list(sizes)}): the "
            f"number of sizes provided ({len(sizes)}) must be greater or equal to the number of "
            f"dimensions in the tensor ({len(shape)})"
        )
    out = list(sizes)
    for i in range(len(sizes) - 1, -1, -1):  # PyTorch reports the last bad dimension first
        s = sizes[i]
        if i < lead:
            if s < 0:
                raise RuntimeError(
                    f"The expanded size of the tensor ({s}) isn't allowed in a leading, "
                    f"non-existing dimension {i}"
                )
            continue
        cur = shape[i - lead]
        if s == -1:
            out[i] = cur
        elif cur != 1 and s != cur:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({cur}) at "
                f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                f"{list(shape)}"
            )
    return Expand.apply(input, tuple(out))


def expand_as(input, other):
    """``input`` expanded to ``other``'s shape (a view)."""
    return expand(input, other._data.shape)


def broadcast_to(input, size):
    """``input`` broadcast to ``size`` (a view, as ``expand``)."""
    return expand(input, size)


def broadcast_shapes(*shapes):
    """The shape that all ``shapes`` broadcast to (PyTorch's rules)."""
    norm = [(s,) if isinstance(s, int) else tuple(s) for s in shapes]
    ndim = max((len(s) for s in norm), default=0)
    result = [1] * ndim
    for idx, s in enumerate(norm):
        for i in range(1, len(s) + 1):
            n = s[-i]
            if n == 1:
                continue
            if result[-i] == 1:
                result[-i] = n
            elif result[-i] != n:
                raise RuntimeError(
                    f"Attempting to broadcast a dimension of length {n} at {-i}! Mismatching "
                    f"argument at index {idx} had {tuple(s)}; but expected shape should be "
                    f"broadcastable to {result}"
                )
    return Size(result)


def _broadcast_pair_error(a, b):
    n = max(len(a), len(b))
    pa = (1,) * (n - len(a)) + tuple(a)
    pb = (1,) * (n - len(b)) + tuple(b)
    for i in range(n - 1, -1, -1):
        if pa[i] != pb[i] and pa[i] != 1 and pb[i] != 1:
            return (f"The size of tensor a ({pa[i]}) must match the size of tensor b ({pb[i]}) at "
                    f"non-singleton dimension {i}")
    return None


def broadcast_tensors(*tensors):
    """Expand all tensors to their common broadcast shape (views)."""
    if len(tensors) == 1 and isinstance(tensors[0], list | tuple):
        tensors = tuple(tensors[0])
    shape = ()
    for t_ in tensors:
        s = t_._data.shape
        try:
            shape = np.broadcast_shapes(shape, s)
        except ValueError:
            raise RuntimeError(_broadcast_pair_error(shape, s)) from None
    return tuple(Expand.apply(t_, shape) for t_ in tensors)


def _promote_list(tensors):
    """Cast a list of tensors to their common dtype (all count as dimensioned tensors)."""
    first = tensors[0]._data.dtype
    for x in tensors:
        if x._data.dtype is not first and x._data.dtype != first:
            break
    else:
        return tensors
    dtype = _dt.result_type_of([(x.dtype, 2) for x in tensors])
    return [cast(x, dtype) for x in tensors]


def _tensor_list(tensors, name):
    if isinstance(tensors, Tensor):
        raise TypeError(
            f"{name}(): argument 'tensors' (position 1) must be tuple of Tensors, not Tensor"
        )
    tensors = list(tensors)
    for i, x in enumerate(tensors):
        if not isinstance(x, Tensor):
            raise TypeError(
                f"expected Tensor as element {i} in argument 0, but got {type(x).__name__}"
            )
    return tensors


def _cat_error(tensors, dim):
    ref = None
    for i, x in enumerate(tensors):
        s = x._data.shape
        if ref is None:
            ref = s
            continue
        if len(s) != len(ref):
            return f"Tensors must have same number of dimensions: got {len(ref)} and {len(s)}"
        for d in range(len(s)):
            if d != dim and s[d] != ref[d]:
                return (f"Sizes of tensors must match except in dimension {dim}. Expected size "
                        f"{ref[d]} but got size {s[d]} for tensor number {i} in the list.")
    return None


def cat(tensors, dim=0, *, axis=None, out=None):
    """Concatenate tensors along an existing dimension (dtypes are promoted).

    >>> import probe
    >>> probe.cat([probe.zeros(1, 2), probe.ones(2, 2)]).shape
    probe.Size([3, 2])
    """
    if axis is not None:
        dim = axis
    if tensors.__class__ is not list and tensors.__class__ is not tuple:
        tensors = _tensor_list(tensors, "cat")
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    first = None
    special = False  # mixed dtypes, legacy empty tensors, 0-d tensors or non-tensors
    for x in tensors:
        if x.__class__ is not Tensor and not isinstance(x, Tensor):
            special = True
            break
        data = x._data
        if data.ndim <= 1 and (data.ndim == 0 or data.shape[0] == 0):
            special = True
            break
        if first is None:
            first = data.dtype
        elif data.dtype != first:
            special = True
            break
    if special:
        tensors = _tensor_list(tensors, "cat")
        for i, x in enumerate(tensors):
            if x._data.ndim == 0:
                raise RuntimeError(
                    f"zero-dimensional tensor (at position {i}) cannot be concatenated"
                )
        # Legacy behaviour kept by PyTorch: 1-d empty tensors are skipped.
        kept = [x for x in tensors if not (x._data.ndim == 1 and x._data.shape[0] == 0)]
        if not kept:
            return _maybe_out(Clone.apply(_promote_list(tensors)[0]), out)
        if len(kept) == len(tensors):
            kept = _promote_list(tensors)
        else:
            kept = _promote_with(kept, tensors)
    else:
        kept = tensors
    d = _wrap_dim(dim, kept[0]._data.ndim)
    try:
        result = Cat.apply(*kept, d)
    except ValueError:
        msg = _cat_error(kept, d)
        if msg is None:
            raise
        raise RuntimeError(msg) from None
    return result if out is None else _maybe_out(result, out)


def _promote_with(kept, all_tensors):
    dtype = _dt.result_type_of([(x.dtype, 2) for x in all_tensors])
    return [cast(x, dtype) for x in kept]


concat = concatenate = cat


def stack(tensors, dim=0, *, out=None):
    """Stack equally shaped tensors along a new dimension ``dim``."""
    if tensors.__class__ is not list and tensors.__class__ is not tuple:
        tensors = _tensor_list(tensors, "stack")
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    ref = None
    mixed = False
    for i, x in enumerate(tensors):
        if x.__class__ is not Tensor and not isinstance(x, Tensor):
            _tensor_list(tensors, "stack")
        data = x._data
        if ref is None:
            ref, dtype = data.shape, data.dtype
        elif data.shape != ref:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(ref)} at entry 0 and "
                f"{list(data.shape)} at entry {i}"
            )
        elif data.dtype != dtype:
            mixed = True
    d = _wrap_dim(dim, len(ref) + 1)
    if mixed:
        tensors = _promote_list(tensors)
    result = Stack.apply(*tensors, d)
    return result if out is None else _maybe_out(result, out)


def atleast_1d(*tensors):
    """Each tensor with at least one dimension (0-d become shape ``(1,)``)."""
    if len(tensors) == 1 and isinstance(tensors[0], list | tuple):
        return tuple(atleast_1d(x) for x in tensors[0])
    if len(tensors) > 1:
        return tuple(atleast_1d(x) for x in tensors)
    x = tensors[0]
    return reshape(x, (1,)) if x._data.ndim == 0 else x


def atleast_2d(*tensors):
    """Each tensor with at least two dimensions (1-d become rows)."""
    if len(tensors) == 1 and isinstance(tensors[0], list | tuple):
        return tuple(atleast_2d(x) for x in tensors[0])
    if len(tensors) > 1:
        return tuple(atleast_2d(x) for x in tensors)
    x = tensors[0]
    if x._data.ndim == 0:
        return reshape(x, (1, 1))
    if x._data.ndim == 1:
        return unsqueeze(x, 0)
    return x


def atleast_3d(*tensors):
    """Each tensor with at least three dimensions."""
    if len(tensors) == 1 and isinstance(tensors[0], list | tuple):
        return tuple(atleast_3d(x) for x in tensors[0])
    if len(tensors) > 1:
        return tuple(atleast_3d(x) for x in tensors)
    x = tensors[0]
    nd = x._data.ndim
    if nd == 0:
        return reshape(x, (1, 1, 1))
    if nd == 1:
        return unsqueeze(unsqueeze(x, 0), -1)
    if nd == 2:
        return unsqueeze(x, -1)
    return x


def hstack(tensors, *, out=None):
    """Concatenate along dim 1 (dim 0 for 1-d tensors)."""
    tensors = [atleast_1d(x) for x in _tensor_list(tensors, "hstack")]
    if tensors and tensors[0]._data.ndim == 1:
        return cat(tensors, 0, out=out)
    return cat(tensors, 1, out=out)


def vstack(tensors, *, out=None):
    """Stack rows: 1-d tensors become rows, then concatenate along dim 0."""
    return cat([atleast_2d(x) for x in _tensor_list(tensors, "vstack")], 0, out=out)


row_stack = vstack


def dstack(tensors, *, out=None):
    """Concatenate along the third dimension (after making tensors at least 3-d)."""
    return cat([atleast_3d(x) for x in _tensor_list(tensors, "dstack")], 2, out=out)


def column_stack(tensors, *, out=None):
    """1-d (and 0-d) tensors become columns; then concatenate along dim 1."""
    cols = []
    for x in _tensor_list(tensors, "column_stack"):
        if x._data.ndim <= 1:
            x = reshape(x, (x._data.size, 1))
        cols.append(x)
    return cat(cols, 1, out=out)


def split(tensor, split_size_or_sections, dim=0):
    """Split into pieces of ``split_size`` (the last may be smaller) or of the given sizes; the
    pieces are views."""
    shape = tensor._data.shape
    d = _wrap_dim(dim, len(shape))
    n = shape[d]
    if isinstance(split_size_or_sections, int | np.integer) or (
            isinstance(split_size_or_sections, Tensor) and split_size_or_sections.ndim == 0):
        size = _int(split_size_or_sections)
        if size < 0:
            raise RuntimeError(
                f"split expects split_size be non-negative, but got split_size={size}"
            )
        if size == 0 and n != 0:
            raise RuntimeError(
                "split_size can only be 0 if dimension size is 0, but got dimension size of "
                f"{n}"
            )
        if size == 0:
            size = 1
        return Split.apply(tensor, size, d)
    sizes = tuple(_int(s) for s in split_size_or_sections)
    if sum(sizes) != n or any(s < 0 for s in sizes):
        raise RuntimeError(
            f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
            f"dimension {d}), but got split_sizes={list(sizes)}"
        )
    return SplitWithSizes.apply(tensor, sizes, d)


def split_with_sizes(input, split_sizes, dim=0):
    """Split into pieces of the given sizes (views)."""
    return split(input, list(split_sizes), dim)


def chunk(input, chunks, dim=0):
    """Split into ``chunks`` nearly equal pieces (fewer when the size doesn't allow)."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    shape = input._data.shape
    d = _wrap_dim(dim, len(shape))
    n = shape[d]
    size = (n + chunks - 1) // chunks
    if size == 0 and n == 0:
        return SplitWithSizes.apply(input, (0,) * chunks, d)
    return Split.apply(input, size, d)


def tensor_split(input, indices_or_sections, dim=0):
    """Split at ``indices`` or into ``sections`` pieces whose sizes differ by at most one."""
    shape = input._data.shape
    d = _wrap_dim(dim, len(shape))
    n = shape[d]
    ios = indices_or_sections
    if isinstance(ios, Tensor):
        ios = ios.item() if ios.ndim == 0 else ios.tolist()
    if isinstance(ios, int | np.integer):
        sections = int(ios)
        if sections <= 0:
            raise RuntimeError(
                f"number of sections must be larger than 0, got {sections}"
            )
        base, extra = divmod(n, sections)
        bounds = [0]
        for i in range(sections):
            bounds.append(bounds[-1] + base + (1 if i < extra else 0))
    else:
        bounds = [0] + [min(max(int(i), 0), n) for i in ios] + [n]
    pieces = []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        stop = max(start, stop)
        pieces.append(Slice.apply(input, _COLONS[d] + (slice(start, stop),)))
    return tuple(pieces)


def hsplit(input, indices_or_sections):
    """``tensor_split`` along dim 1 (dim 0 for 1-d tensors)."""
    return tensor_split(input, indices_or_sections, 1 if input._data.ndim > 1 else 0)


def vsplit(input, indices_or_sections):
    """``tensor_split`` along dim 0."""
    return tensor_split(input, indices_or_sections, 0)


def dsplit(input, indices_or_sections):
    """``tensor_split`` along dim 2."""
    return tensor_split(input, indices_or_sections, 2)


def unbind(input, dim=0):
    """The slices along ``dim`` as a tuple of views."""
    ndim = input._data.ndim
    if ndim == 0:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    return Unbind.apply(input, _wrap_dim(dim, ndim))


def narrow(input, dim, start, length):
    """The view ``input[..., start:start + length, ...]`` along ``dim``."""
    shape = input._data.shape
    d = _wrap_dim(dim, len(shape))
    n = shape[d]
    start = _int(start)
    length = _int(length)
    if not -n <= start <= n:
        raise IndexError(
            f"start out of range (expected to be in range of [{-n}, {n}], but got {start})"
        )
    if start < 0:
        start += n
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    if start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return Slice.apply(input, _COLONS[d] + (slice(start, start + length),))


def select(input, dim, index):
    """``input`` indexed with ``index`` along ``dim`` (that dimension is removed); a view."""
    shape = input._data.shape
    if not shape:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = _wrap_dim(dim, len(shape))
    i = _int(index)
    n = shape[d]
    if not -n <= i < n:
        raise IndexError(
            f"select(): index {i} out of range for tensor of size {list(shape)} at dimension {d}"
        )
    return Select.apply(input, _COLONS[d] + (i, Ellipsis))


def movedim(input, source, destination):
    """Move dimension(s) ``source`` to position(s) ``destination`` (a permuted view)."""
    ndim = input._data.ndim
    src = tuple(source) if isinstance(source, tuple | list) else (source,)
    dst = tuple(destination) if isinstance(destination, tuple | list) else (destination,)
    if len(src) != len(dst):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({list(src)} dims) should "
            f"contain the same number of dims as destination ({list(dst)} dims)"
        )
    src = tuple(_wrap_dim(s, ndim) for s in src)
    dst = tuple(_wrap_dim(s, ndim) for s in dst)
    if len(set(src)) != len(src):
        raise RuntimeError(f"movedim: repeated dim in `source` ({list(source)})")
    if len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim: repeated dim in `destination` ({list(destination)})")
    order = [None] * ndim
    for s, dd in zip(src, dst, strict=True):
        order[dd] = s
    rest = iter(i for i in range(ndim) if i not in src)
    order = tuple(o if o is not None else next(rest) for o in order)
    return Permute.apply(input, order)


moveaxis = movedim


def flip(input, *dims, **kwargs):
    """Reverse the order of elements along ``dims`` (a copy, as in PyTorch)."""
    ndim = input._data.ndim
    dims = _dims_arg(dims) if dims else _dims_arg((kwargs.pop("dims"),))
    ds = {_wrap_dim(d, ndim) for d in dims}
    key = tuple(slice(None, None, -1) if i in ds else slice(None) for i in range(ndim))
    return Flip.apply(input, key)


def fliplr(input):
    """Reverse the columns (dim 1) of a tensor with at least two dimensions."""
    if input._data.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, (1,))


def flipud(input):
    """Reverse the rows (dim 0)."""
    if input._data.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, (0,))


def roll(input, shifts, dims=None):
    """Rotate elements along ``dims`` by ``shifts`` (of the flattened tensor when no dims)."""
    shifts = (shifts,) if isinstance(shifts, int) else tuple(_int(s) for s in shifts)
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(
                f"shifts and dimensions must align. shifts: {len(shifts)}, dims:0"
            )
        return Roll.apply(input, shifts, None)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(
            f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}"
        )
    ndim = input._data.ndim
    return Roll.apply(input, shifts, tuple(_wrap_dim(d, ndim) for d in dims))


def rot90(input, k=1, dims=(0, 1)):
    """Rotate by 90 degrees ``k`` times in the plane of ``dims``."""
    dims = tuple(dims)
    ndim = input._data.ndim
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {ndim}")
    d0, d1 = (_wrap_dim(d, ndim) for d in dims)
    if d0 == d1:
        raise RuntimeError(
            f"expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}"
        )
    return Rot90.apply(input, k % 4, (d0, d1))


def repeat(input, *sizes):
    """Tile ``input``: ``x.repeat(2, 1)`` repeats it twice along dim 0 (NumPy's ``tile``)."""
    reps = _size_arg(sizes, "repeat")
    if len(reps) < input._data.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions "
            "of tensor"
        )
    if any(r < 0 for r in reps):
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(reps)}")
    return Repeat.apply(input, reps)


def tile(input, *dims, **kwargs):
    """Like ``repeat``, with fewer ``dims`` than dimensions meaning leading ones."""
    reps = _size_arg(dims if dims else (kwargs.pop("dims"),), "tile")
    pad = input._data.ndim - len(reps)
    if pad > 0:
        reps = (1,) * pad + reps
    return repeat(input, reps)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Repeat each element ``repeats`` times (``repeats`` an int or a tensor of counts)."""
    if repeats is None:
        # ``repeat_interleave(counts)``: the indices repeated by their counts.
        counts = input
        xp = counts._device.xp
        data = xp.repeat(xp.arange(counts._data.shape[0]), _host_counts(counts))
        return _wrap(data.astype(np.int64), counts._device)
    if isinstance(repeats, Tensor) and repeats._data.ndim == 0:
        repeats = repeats.item()
    if dim is None:
        input = reshape(input, (-1,))
        dim = 0
    ndim = input._data.ndim
    d = _wrap_dim(dim, ndim)
    if isinstance(repeats, Tensor):
        from .indexing import index_select  # noqa: PLC0415

        xp = input._device.xp
        idx = xp.repeat(xp.arange(input._data.shape[d]), _host_counts(repeats))
        return index_select(input, d, _wrap(idx.astype(np.int64), input._device))
    repeats = _int(repeats)
    if repeats < 0:
        raise RuntimeError("repeats can not be negative")
    shape = input._data.shape
    x = unsqueeze(input, d + 1)
    x = expand(x, shape[:d + 1] + (repeats,) + shape[d + 1:])
    x = Clone.apply(x)
    return reshape(x, shape[:d] + (shape[d] * repeats,) + shape[d + 1:])


def _host_counts(counts):
    data = counts._data
    if counts._device.type != "cpu":
        return data.get().tolist()
    if data.size and data.min() < 0:
        raise RuntimeError("repeats can not be negative")
    return data


def tril(input, diagonal=0, *, out=None):
    """The lower triangle of the last two dimensions (the rest set to zero)."""
    if input._data.ndim < 2:
        raise RuntimeError("tril: input tensor must have at least 2 dimensions")
    return _maybe_out(Tril.apply(input, _int(diagonal)), out)


def triu(input, diagonal=0, *, out=None):
    """The upper triangle of the last two dimensions (the rest set to zero)."""
    if input._data.ndim < 2:
        raise RuntimeError("triu: input tensor must have at least 2 dimensions")
    return _maybe_out(Triu.apply(input, _int(diagonal)), out)


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The diagonal of the (dim1, dim2) planes as the last dimension; a view."""
    ndim = input._data.ndim
    d1 = _wrap_dim(dim1, ndim)
    d2 = _wrap_dim(dim2, ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return Diagonal.apply(input, _int(offset), d1, d2)


def diag(input, diagonal=0):
    """A 1-d tensor's values on a diagonal of a square matrix, or a matrix's diagonal (copy)."""
    ndim = input._data.ndim
    if ndim == 1:
        n = input._data.shape[0] + abs(diagonal)
        return DiagEmbed.apply(input, (n, n), _int(diagonal), 0, 1)
    if ndim == 2:
        return DiagonalCopy.apply(input, _int(diagonal), 0, 1)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {ndim}D")


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """Place the last dimension of ``input`` on diagonals of new (dim1, dim2) planes."""
    shape = input._data.shape
    ndim = len(shape) + 1
    d1 = _wrap_dim(dim1, ndim)
    d2 = _wrap_dim(dim2, ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    n = shape[-1] + abs(offset) if shape else 1 + abs(offset)
    rest = iter(shape[:-1])
    out_shape = tuple(n if i in (d1, d2) else next(rest) for i in range(ndim))
    return DiagEmbed.apply(input, out_shape, _int(offset), d1, d2)


def trace(input):
    """The sum of the main diagonal of a matrix."""
    if input._data.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input._data.ndim}")
    if input._data.dtype.kind == "b":
        raise NotImplementedError("\"trace\" not implemented for 'Bool'")
    return Trace.apply(input)


def as_strided(input, size, stride, storage_offset=0):
    """A view with explicit ``size`` and ``stride`` (in elements) over ``input``'s memory
    (``input`` must be contiguous; offsets count from its first element)."""
    size = tuple(_int(s) for s in size)
    stride = tuple(_int(s) for s in stride)
    if len(size) != len(stride):
        raise RuntimeError(
            f"mismatch in length of strides and shape: {len(stride)} vs {len(size)}"
        )
    data = input._data
    if not data.flags.c_contiguous:
        raise RuntimeError("as_strided: probe supports only contiguous inputs")
    needed = storage_offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) + 1
    if all(n > 0 for n in size) and needed > data.size:
        raise RuntimeError(
            f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset "
            f"{storage_offset}, and itemsize {data.itemsize} requiring a storage size of "
            f"{needed * data.itemsize} are out of bounds for storage of size "
            f"{data.size * data.itemsize}"
        )
    return AsStrided.apply(input, size, stride, _int(storage_offset))


def unfold(input, dimension, size, step):
    """All slices of length ``size`` along ``dimension``, ``step`` apart, as a new last
    dimension; a view."""
    shape = input._data.shape
    if not shape:
        if size > 1:
            raise RuntimeError(f"maximum size for tensor at dimension 0 is 1 but size is {size}")
        return AsStrided.apply(input, (1,), (1,), 0)
    d = _wrap_dim(dimension, len(shape))
    if size > shape[d]:
        raise RuntimeError(
            f"maximum size for tensor at dimension {d} is {shape[d]} but size is {size}"
        )
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    return Unfold.apply(input, d, _int(size), _int(step))


# ---------------------------------------------------------------------------------------------
# NumPy-named functions over Tensors (``ctx.xp`` for differentiable backwards)
# ---------------------------------------------------------------------------------------------

def _t(x, like=None):
    """A Tensor for a NumPy-namespace argument (Tensors pass through; arrays are wrapped)."""
    if isinstance(x, Tensor):
        return x
    from .creation import as_tensor  # noqa: PLC0415

    if isinstance(x, np.ndarray | np.generic):
        return as_tensor(np.asarray(x))
    if like is not None:
        return as_tensor(x, device=like._device)
    return as_tensor(np.asarray(x))


def _np_reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if shape is None:
        shape = newshape
    return reshape(_t(a), shape)


def _np_transpose(a, axes=None):
    a = _t(a)
    if axes is None:
        axes = tuple(range(a.ndim - 1, -1, -1))
    return permute(a, tuple(axes))


def _np_swapaxes(a, axis1, axis2):
    return transpose(_t(a), axis1, axis2)


def _np_moveaxis(a, source, destination):
    return movedim(_t(a), source, destination)


def _np_expand_dims(a, axis):
    a = _t(a)
    if isinstance(axis, int):
        return unsqueeze(a, axis)
    ndim = a.ndim + len(axis)
    for ax in sorted(_wrap_dim(x, ndim) for x in axis):
        a = unsqueeze(a, ax)
    return a


def _np_squeeze(a, axis=None):
    return squeeze(_t(a), axis)


def _np_broadcast_to(array, shape, subok=False):
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return expand(_t(array), shape)


def _np_concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    ts = [_t(a) for a in arrays]
    if axis is None:
        ts = [reshape(x, (-1,)) for x in ts]
        axis = 0
    result = cat(ts, axis)
    return result if dtype is None else _np_astype(result, dtype)


def _np_stack(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    result = stack([_t(a) for a in arrays], axis)
    return result if dtype is None else _np_astype(result, dtype)


def _np_split(ary, indices_or_sections, axis=0):
    a = _t(ary)
    if isinstance(indices_or_sections, int):
        n = a.shape[axis]
        if n % indices_or_sections:
            raise ValueError("array split does not result in an equal division")
    return list(tensor_split(a, indices_or_sections, axis))


def _np_flip(m, axis=None):
    m = _t(m)
    if axis is None:
        axis = tuple(range(m.ndim))
    return flip(m, axis)


def _np_roll(a, shift, axis=None):
    return roll(_t(a), shift, axis)


def _np_tile(A, reps):
    return tile(_t(A), reps)


def _np_repeat(a, repeats, axis=None):
    return repeat_interleave(_t(a), repeats, axis)


def _np_tril(m, k=0):
    return tril(_t(m), k)


def _np_triu(m, k=0):
    return triu(_t(m), k)


def _np_diagonal(a, offset=0, axis1=0, axis2=1):
    return diagonal(_t(a), offset, axis1, axis2)


def _np_trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    a = _t(a)
    if a.ndim == 2 and offset == 0 and {_wrap_dim(axis1, 2), _wrap_dim(axis2, 2)} == {0, 1}:
        result = trace(a)
    else:
        result = diagonal(a, offset, axis1, axis2).sum(-1)
    return result if dtype is None else _np_astype(result, dtype)


def _np_rot90(m, k=1, axes=(0, 1)):
    return rot90(_t(m), k, axes)


def _np_astype(x, dtype, /, *, copy=True, device=None):
    from .conversion import to_dtype  # noqa: PLC0415

    x = _t(x)
    result = to_dtype(x, _dt.to_dtype(dtype))
    if copy and result is x:
        return Clone.apply(x)
    return result


def _np_copy(a, order="K", subok=False):
    return Clone.apply(_t(a))


def _np_dtype(dtype, default):
    if dtype is None:
        return default
    return _dt.to_dtype(dtype)


def _creation(fill):
    def create(shape, dtype=None, order="C", *, device=None, like=None):
        from . import creation  # noqa: PLC0415

        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if device is None and isinstance(like, Tensor):
            device = like._device
        dtype = _np_dtype(dtype, _dt.float64)
        if fill == 0:
            return creation.zeros(shape, dtype=dtype, device=device)
        if fill == 1:
            return creation.ones(shape, dtype=dtype, device=device)
        return creation.empty(shape, dtype=dtype, device=device)

    return create


def _np_full(shape, fill_value, dtype=None, order="C", *, device=None, like=None):
    from . import creation  # noqa: PLC0415

    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    if dtype is None:
        dtype = _dt.from_numpy_dtype(np.asarray(fill_value).dtype)
    return creation.full(shape, fill_value, dtype=_dt.to_dtype(dtype), device=device)


def _like_creation(fill):
    def create(a, dtype=None, order="K", subok=True, shape=None, *, device=None):
        from . import creation  # noqa: PLC0415

        a = _t(a)
        shape = a.shape if shape is None else ((shape,) if isinstance(shape, int) else shape)
        dtype = _np_dtype(dtype, a.dtype)
        dev = device if device is not None else a._device
        if fill == 0:
            return creation.zeros(shape, dtype=dtype, device=dev)
        if fill == 1:
            return creation.ones(shape, dtype=dtype, device=dev)
        return creation.empty(shape, dtype=dtype, device=dev)

    return create


def _np_full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    from . import creation  # noqa: PLC0415

    a = _t(a)
    shape = a.shape if shape is None else shape
    return creation.full(shape, fill_value, dtype=_np_dtype(dtype, a.dtype),
                         device=device if device is not None else a._device)


def _np_eye(N, M=None, k=0, dtype=float, order="C", *, device=None, like=None):
    from .. import backend  # noqa: PLC0415

    dev = backend.canonical_device(device)
    np_dtype = _dt.numpy_dtype(_np_dtype(dtype, _dt.float64))
    return _wrap(dev.xp.eye(N, N if M is None else M, k, dtype=np_dtype), dev)


# ---------------------------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------------------------

TENSOR_PROPERTIES = {"T": _T, "mT": _mT, "H": _H, "mH": _mH}

_SHARED = {
    "view_as": view_as, "reshape": reshape, "reshape_as": reshape_as,
    "flatten": flatten, "ravel": ravel, "unflatten": unflatten, "transpose": transpose,
    "swapaxes": swapaxes, "swapdims": swapdims, "t": t, "adjoint": adjoint, "squeeze": squeeze,
    "unsqueeze": unsqueeze, "expand_as": expand_as, "broadcast_to": broadcast_to,
    "split": split, "split_with_sizes": split_with_sizes, "chunk": chunk,
    "tensor_split": tensor_split, "hsplit": hsplit, "vsplit": vsplit, "dsplit": dsplit,
    "unbind": unbind, "narrow": narrow, "select": select, "movedim": movedim,
    "moveaxis": moveaxis, "flip": flip, "fliplr": fliplr, "flipud": flipud, "roll": roll,
    "rot90": rot90, "tile": tile, "repeat_interleave": repeat_interleave, "tril": tril,
    "triu": triu, "diagonal": diagonal, "diag": diag, "diag_embed": diag_embed, "trace": trace,
    "as_strided": as_strided,
}

TENSOR_METHODS = {
    **_SHARED, "view": view, "permute": permute, "expand": expand, "repeat": repeat,
    "unfold": unfold,
}

FUNCTIONS = {
    **_SHARED, "permute": permute, "cat": cat, "concat": concat, "concatenate": concatenate,
    "stack": stack, "hstack": hstack, "vstack": vstack, "row_stack": row_stack,
    "dstack": dstack, "column_stack": column_stack, "atleast_1d": atleast_1d,
    "atleast_2d": atleast_2d, "atleast_3d": atleast_3d, "broadcast_tensors": broadcast_tensors,
    "broadcast_shapes": broadcast_shapes,
}

NUMPY_NAMESPACE = {
    "reshape": _np_reshape, "transpose": _np_transpose, "swapaxes": _np_swapaxes,
    "moveaxis": _np_moveaxis, "expand_dims": _np_expand_dims, "squeeze": _np_squeeze,
    "broadcast_to": _np_broadcast_to, "concatenate": _np_concatenate, "stack": _np_stack,
    "split": _np_split, "flip": _np_flip, "roll": _np_roll, "tile": _np_tile,
    "repeat": _np_repeat, "tril": _np_tril, "triu": _np_triu, "diagonal": _np_diagonal,
    "trace": _np_trace, "rot90": _np_rot90, "astype": _np_astype, "copy": _np_copy,
    "zeros": _creation(0), "ones": _creation(1), "empty": _creation(None), "full": _np_full,
    "zeros_like": _like_creation(0), "ones_like": _like_creation(1),
    "empty_like": _like_creation(None), "full_like": _np_full_like, "eye": _np_eye,
}
