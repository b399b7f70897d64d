"""Helpers shared by the op families: argument normalisation and dtype promotion."""

from __future__ import annotations

import numpy as np

from .. import dtypes as _dt
from ..autograd import Op
from ..tensor import Tensor, _wrap, _wrap_dim

PY_SCALARS = (bool, int, float, complex)
_from_np = _dt._BY_NUMPY


def as_operand(x, like: Tensor):
    """A Tensor for array-likes (on ``like``'s device); Python scalars stay scalars."""
    if isinstance(x, Tensor):
        return x
    if x.__class__ in PY_SCALARS:
        return x
    if isinstance(x, np.generic):
        return x.item()
    from .creation import as_tensor  # noqa: PLC0415

    return as_tensor(x, device=like._device)


def priority(t: Tensor):
    return (_from_np[t._data.dtype], 2 if t._data.ndim else 1)


def cast(t: Tensor, dtype: _dt.dtype) -> Tensor:
    """``t`` as ``dtype``: differentiable when ``t`` requires grad, free when already there."""
    if _from_np[t._data.dtype] is dtype:
        return t
    from .conversion import to_dtype  # noqa: PLC0415

    return to_dtype(t, dtype)


def promote_operands(a, b):
    """Cast two operands (Tensors or Python scalars, at least one Tensor) to PyTorch's result
    dtype. Returns ``(a, b, dtype)``; Python scalars are left to NumPy, which treats them as weak
    just as PyTorch does, except an integer tensor with a float scalar (PyTorch: default float)."""
    if a.__class__ is Tensor and b.__class__ is Tensor:
        if a._data.dtype is b._data.dtype:
            return a, b, _from_np[a._data.dtype]
    ops = [priority(x) if isinstance(x, Tensor) else x for x in (a, b)]
    dtype = _dt.result_type_of(ops)
    if isinstance(a, Tensor):
        a = cast(a, dtype)
    if isinstance(b, Tensor):
        b = cast(b, dtype)
    return a, b, dtype


def normalize_dims(dim, ndim):
    """A sorted tuple of non-negative dims from an int, a sequence, or None (all dims)."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int | np.integer):
        return (_wrap_dim(int(dim), ndim),)
    dims = tuple(sorted(_wrap_dim(int(d), ndim) for d in dim))
    if len(set(dims)) != len(dims):
        raise RuntimeError(f"dim {dims[0]} appears multiple times in the list of dims")
    return dims


def shape_arg(size):
    """Shapes given as ``f(2, 3)``, ``f((2, 3))``, ``f([2, 3])`` or ``f(probe.Size(...))``."""
    if len(size) == 1 and not isinstance(size[0], int | np.integer):
        size = size[0]
    if isinstance(size, Tensor):
        size = size.tolist()
    return tuple(int(s) for s in size)


__all__ = [
    "Op", "Tensor", "_wrap", "_wrap_dim", "as_operand", "cast", "normalize_dims",
    "priority", "promote_operands", "shape_arg",
]
