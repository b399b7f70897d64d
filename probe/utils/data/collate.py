"""Collation: turn a list of samples into a batch (``default_collate``), or convert one sample's
NumPy arrays to tensors (``default_convert``), as ``torch.utils.data`` does.

``default_collate`` dispatches on the type of the batch's first element through
``default_collate_fn_map`` (exact type first, then ``isinstance`` in insertion order); extend it
with ``collate(batch, collate_fn_map=...)`` for custom types.
"""

from __future__ import annotations

import builtins
import collections.abc
import copy
import re
from collections.abc import Callable

import numpy as np

from probe.engine import dtypes as _dt
from probe.engine.ops.creation import as_tensor, from_numpy, tensor
from probe.engine.ops.shape import stack
from probe.engine.tensor import Tensor

__all__ = ["collate", "default_collate", "default_collate_fn_map", "default_convert"]

# NumPy dtype codes that cannot become tensors: bytes, strings, objects.
np_str_obj_array_pattern = re.compile(r"[SaUO]")

default_collate_err_msg_format = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def default_convert(data):
    """Convert the NumPy arrays and NumPy scalars in one sample to tensors (recursively through
    mappings, named tuples and sequences; plain tuples become lists). Other values are kept.

    This is the ``collate_fn`` a ``DataLoader`` uses when automatic batching is off
    (``batch_size=None``).

    >>> import numpy as np
    >>> default_convert({"x": np.zeros(2, dtype=np.float32), "name": "a"})
    {'x': tensor([0., 0.]), 'name': 'a'}
    """
    elem_type = type(data)
    if isinstance(data, Tensor):
        return data
    if (elem_type.__module__ == "numpy" and elem_type.__name__ != "str_"
            and elem_type.__name__ != "string_"):
        if (elem_type.__name__ == "ndarray"
                and np_str_obj_array_pattern.search(data.dtype.str) is not None):
            return data
        return as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        try:
            if isinstance(data, collections.abc.MutableMapping):
                clone = copy.copy(data)
                clone.update({key: default_convert(data[key]) for key in data})
                return clone
            return elem_type({key: default_convert(data[key]) for key in data})
        except TypeError:
            return {key: default_convert(data[key]) for key in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # PyTorch turns tuples into lists here
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, str | bytes):
        try:
            if isinstance(data, collections.abc.MutableSequence):
                clone = copy.copy(data)
                for i, d in enumerate(data):
                    clone[i] = default_convert(d)
                return clone
            return elem_type([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def collate(batch, *, collate_fn_map: dict[type | tuple[type, ...], Callable] | None = None):
    """Collate ``batch`` (a list of samples) by the type of its first element.

    ``collate_fn_map`` maps element types to functions ``fn(batch, *, collate_fn_map)``; the exact
    type is looked up first, then each key with ``isinstance`` in insertion order. Mappings, named
    tuples and sequences are collated field by field.
    """
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        fn = collate_fn_map.get(elem_type)
        if fn is not None:
            return fn(batch, collate_fn_map=collate_fn_map)
        for collate_type, fn in collate_fn_map.items():
            if isinstance(elem, collate_type):
                return fn(batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                # A shallow copy keeps the mapping's type and any attributes it carries.
                clone = copy.copy(elem)
                clone.update({
                    key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map)
                    for key in elem
                })
                return clone
            return elem_type({
                key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map)
                for key in elem
            })
        except TypeError:
            return {key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map)
                    for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(collate(samples, collate_fn_map=collate_fn_map)
                           for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        # Tuples, as PyTorch's: a column of strings comes back as a tuple.
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            # PyTorch returns a list for tuples (kept for backward compatibility there).
            return [collate(samples, collate_fn_map=collate_fn_map) for samples in transposed]
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                clone = copy.copy(elem)
                for i, samples in enumerate(transposed):
                    clone[i] = collate(samples, collate_fn_map=collate_fn_map)
                return clone
            return elem_type([collate(samples, collate_fn_map=collate_fn_map)
                              for samples in transposed])
        except TypeError:
            return [collate(samples, collate_fn_map=collate_fn_map) for samples in transposed]
    raise TypeError(default_collate_err_msg_format.format(elem_type))


def collate_tensor_fn(batch, *, collate_fn_map=None):
    """Stack tensors along a new first dimension."""
    return stack(batch, 0)


def collate_numpy_array_fn(batch, *, collate_fn_map=None):
    """NumPy arrays become one tensor of the arrays' dtype (float64 stays float64)."""
    elem = batch[0]
    if np_str_obj_array_pattern.search(elem.dtype.str) is not None:
        raise TypeError(default_collate_err_msg_format.format(elem.dtype))
    tensor_fn = collate_tensor_fn if collate_fn_map is None else collate_fn_map.get(Tensor)
    if tensor_fn is collate_tensor_fn:
        dtype, shape = elem.dtype, elem.shape
        if all(type(b) is np.ndarray and b.dtype == dtype and b.shape == shape for b in batch):
            # Uniform arrays: one np.stack, no per-sample tensors.
            return from_numpy(np.stack(batch))
    return collate([as_tensor(b) for b in batch], collate_fn_map=collate_fn_map)


def _scalar_dtype(value):
    if isinstance(value, np.generic):
        return _dt.from_numpy_dtype(value.dtype)
    if isinstance(value, builtins.bool):
        return _dt.bool
    if isinstance(value, builtins.int):
        return _dt.int64
    if isinstance(value, builtins.float):
        return _dt.get_default_dtype()
    if isinstance(value, builtins.complex):
        return _dt.complex64 if _dt.get_default_dtype() == _dt.float32 else _dt.complex128
    raise TypeError(f"new(): invalid data type '{type(value).__name__}'")


def collate_numpy_scalar_fn(batch, *, collate_fn_map=None):
    """NumPy scalars become a 1-D tensor; mixed types promote as PyTorch's ``as_tensor`` does."""
    first = type(batch[0])
    if all(type(b) is first for b in batch):
        return from_numpy(np.array(batch))
    result = _scalar_dtype(batch[0])
    for b in batch[1:]:
        result = _dt.promote_types(result, _scalar_dtype(b))
    return from_numpy(np.array(batch, dtype=_dt.numpy_dtype(result)))


def collate_float_fn(batch, *, collate_fn_map=None):
    """Python floats become a float64 tensor."""
    return tensor(batch, dtype=_dt.float64)


def collate_int_fn(batch, *, collate_fn_map=None):
    """Python ints (and bools) become a tensor with PyTorch's inferred dtype (int64, bool...)."""
    return tensor(batch)


def collate_str_fn(batch, *, collate_fn_map=None):
    """Strings and bytes stay a list."""
    return batch


default_collate_fn_map: dict[type | tuple[type, ...], Callable] = {
    Tensor: collate_tensor_fn,
    np.ndarray: collate_numpy_array_fn,
    (np.bool_, np.number, np.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def default_collate(batch):
    """Collate a list of samples into a batch, exactly as PyTorch's ``default_collate``.

    * tensors -> stacked along a new first dimension
    * NumPy arrays -> a tensor of the same dtype; NumPy scalars -> a 1-D tensor
    * ``float`` -> float64 tensor; ``int`` -> int64 tensor; ``bool`` -> bool tensor
    * ``str`` / ``bytes`` -> kept as a list
    * mappings, named tuples -> the same type, collated per key / field
    * other sequences -> collated position by position (tuples give a list); every sample must
      have the same length (``RuntimeError`` otherwise)

    >>> import numpy as np
    >>> xs, ys = default_collate([(np.zeros(3, dtype=np.float32), 1),
    ...                           (np.ones(3, dtype=np.float32), 0)])
    >>> xs.shape, xs.dtype, ys
    (probe.Size([2, 3]), probe.float32, tensor([1, 0]))
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)
