"""Tensor creation: ``tensor``, ``as_tensor``, ``from_numpy``, ``zeros``/``ones``/``full``/``empty``
(and ``_like``, ``new_*``), ``arange``, ``linspace``, ``logspace``, ``eye``."""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import backend
from .. import dtypes as _dt
from ..grad_mode import STATE
from ..tensor import Tensor, _wrap
from ._common import shape_arg


def _finish(data, dev, requires_grad):
    t = _wrap(data, dev)
    if requires_grad:
        if data.dtype.kind not in "fc":
            raise RuntimeError(
                "Only Tensors of floating point and complex dtype can require gradients"
            )
        t._requires_grad = True
    if STATE.inference:
        t._is_inference = True
    return t


def _np_dtype(dtype, default=None):
    if dtype is None:
        return default
    return _dt.numpy_dtype(_dt.to_dtype(dtype))


def _contains_tensor(data):
    if isinstance(data, Tensor):
        return True
    if isinstance(data, list | tuple):
        return any(_contains_tensor(x) for x in data)
    return False


def _to_host_nested(data):
    if isinstance(data, Tensor):
        return data.detach().cpu()._data
    if isinstance(data, list | tuple):
        return [_to_host_nested(x) for x in data]
    return data


def _ragged_message(data, dim=0):
    """PyTorch's text for the first nested sequence whose length differs from its siblings'."""
    if not isinstance(data, list | tuple) or not data:
        return None
    lengths = [len(x) if isinstance(x, list | tuple) else None for x in data]
    first = lengths[0]
    for got in lengths[1:]:
        if got != first:
            if first is None or got is None:  # numbers mixed with sequences
                return None
            return f"expected sequence of length {first} at dim {dim + 1} (got {got})"
    for x in data:
        msg = _ragged_message(x, dim + 1)
        if msg:
            return msg
    return None


def _infer_array(data, dtype_given=False):
    """A NumPy array from Python data, with PyTorch's default dtypes (float32 for floats).
    With ``dtype_given`` Python floats stay float64 here (the caller casts once, so
    ``tensor([0.1], dtype=float64)`` is exactly 0.1, not 0.1 rounded through float32)."""
    if _contains_tensor(data):
        data = _to_host_nested(data)
    try:
        arr = np.asarray(data)
    except ValueError as exc:
        raise ValueError(_ragged_message(data) or str(exc)) from None
    if arr.dtype == object:
        raise TypeError(
            f"Could not infer dtype of {type(data).__name__}: expected numbers, nested sequences "
            "of numbers, NumPy arrays or tensors"
        )
    if arr.dtype.kind in "US":
        raise TypeError("new(): invalid data type 'str'")
    is_python = not isinstance(data, np.ndarray | np.generic)
    if is_python and not dtype_given:
        if arr.dtype.kind == "f":
            arr = arr.astype(_dt.get_default_dtype().np_dtype)
        elif arr.dtype.kind == "c":
            arr = arr.astype(np.complex64 if _dt.get_default_dtype() is not _dt.float64
                             else np.complex128)
        elif arr.dtype.kind in "iu" and arr.dtype != np.int64:
            arr = arr.astype(np.int64)
    return arr


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor that copies ``data`` (nested lists, numbers, NumPy arrays or tensors).

    >>> import probe
    >>> probe.tensor([[1, 2], [3, 4]]).dtype
    probe.int64
    """
    if isinstance(data, Tensor):
        warnings.warn(
            "To copy construct from a tensor, it is recommended to use "
            "sourceTensor.clone().detach() or sourceTensor.clone().detach().requires_grad_(True), "
            "rather than "
            "torch.tensor(sourceTensor).",
            UserWarning, stacklevel=2,
        )
        src = data.detach()
        dev = backend.canonical_device(device) if device is not None else src._device
        arr = backend.to_device_array(src._data, src._device, dev).copy()
        if dtype is not None:
            arr = arr.astype(_np_dtype(dtype))
        return _finish(arr, dev, requires_grad)
    arr = _infer_array(data, dtype_given=dtype is not None)
    if dtype is not None:
        arr = arr.astype(_np_dtype(dtype), copy=False)
    _dt.from_numpy_dtype(arr.dtype)  # reject dtypes probe has no tensor for
    dev = backend.canonical_device(device)
    if dev.type == "cpu":
        arr = np.array(arr, copy=True, order="C")
    else:
        arr = backend.to_device_array(np.ascontiguousarray(arr), backend.CPU, dev)
    return _finish(arr, dev, requires_grad)


def as_tensor(data, dtype=None, device=None):
    """Share memory with ``data`` when possible (a NumPy array or tensor of the same dtype and
    device); copy otherwise."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype) if (device or dtype) else data
    dev = backend.canonical_device(device)
    if isinstance(data, np.ndarray) and dev.type == "cpu":
        _dt.from_numpy_dtype(data.dtype)
        want = _np_dtype(dtype, data.dtype)
        return _finish(data if data.dtype == want else data.astype(want), dev, False)
    if dev.type == "cuda" and type(data).__module__.startswith("cupy"):
        want = _np_dtype(dtype, data.dtype)
        return _finish(data if data.dtype == want else data.astype(want), dev, False)
    return tensor(data, dtype=dtype, device=device)


asarray = as_tensor


def from_numpy(ndarray):
    """A CPU tensor sharing memory with ``ndarray`` (writes are visible both ways)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    _dt.from_numpy_dtype(ndarray.dtype)
    return _finish(ndarray, backend.CPU, False)


def _factory(name, fill):
    def factory(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False,
                pin_memory=False, memory_format=None):
        shape = shape_arg(size)
        dev = backend.canonical_device(device)
        xp = dev.xp
        np_dtype = _np_dtype(dtype, _dt.get_default_dtype().np_dtype)
        if fill == 0:
            data = xp.zeros(shape, dtype=np_dtype)
        elif fill == 1:
            data = xp.ones(shape, dtype=np_dtype)
        else:
            data = xp.empty(shape, dtype=np_dtype)
        result = _finish(data, dev, requires_grad)
        if out is not None:
            from .inplace import copy_into_out  # noqa: PLC0415

            return copy_into_out(out, result)
        return result

    factory.__name__ = name
    factory.__doc__ = f"A tensor of the given size filled with {name} (float32 by default)."
    return factory


zeros = _factory("zeros", 0)
ones = _factory("ones", 1)
empty = _factory("empty", None)


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None,
         requires_grad=False, pin_memory=False):
    """A tensor of ``size`` filled with ``fill_value``; the dtype follows the value's type."""
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    if dtype is None:
        dtype = _dt.result_type_of([fill_value])
    shape = shape_arg((size,)) if not isinstance(size, int) else (size,)
    dev = backend.canonical_device(device)
    data = dev.xp.full(shape, fill_value, dtype=_np_dtype(dtype))
    result = _finish(data, dev, requires_grad)
    if out is not None:
        from .inplace import copy_into_out  # noqa: PLC0415

        return copy_into_out(out, result)
    return result


def _like(name, fn):
    def like(input, *, dtype=None, layout=None, device=None, requires_grad=False,
             memory_format=None):
        return fn(input._data.shape, dtype=dtype or input.dtype, device=device or input._device,
                  requires_grad=requires_grad)

    like.__name__ = name
    return like


zeros_like = _like("zeros_like", zeros)
ones_like = _like("ones_like", ones)
empty_like = _like("empty_like", empty)


def full_like(input, fill_value, *, dtype=None, layout=None, device=None, requires_grad=False,
              memory_format=None):
    return full(input._data.shape, fill_value, dtype=dtype or input.dtype,
                device=device or input._device, requires_grad=requires_grad)


def _new(name, fn):
    def new(self, *size, dtype=None, device=None, requires_grad=False, layout=None,
            pin_memory=False):
        return fn(*size, dtype=dtype or self.dtype, device=device or self._device,
                  requires_grad=requires_grad)

    new.__name__ = name
    return new


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False,
             layout=None, pin_memory=False):
    return full(size, fill_value, dtype=dtype or self.dtype, device=device or self._device,
                requires_grad=requires_grad)


def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False, layout=None,
               pin_memory=False):
    return tensor(data, dtype=dtype or self.dtype, device=device or self._device,
                  requires_grad=requires_grad)


def arange(start=0, end=None, step=1, *, out=None, dtype=None, layout=None, device=None,
           requires_grad=False):
    """Values from ``start`` to ``end`` (exclusive) by ``step``; int64 unless a bound is a float.

    >>> import probe
    >>> probe.arange(3)
    tensor([0, 1, 2])
    """
    if end is None:
        start, end = 0, start
    values = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    start, end, step = values
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) / step < 0:
        raise RuntimeError(
            "upper bound and larger bound inconsistent with step sign"
        )
    if dtype is None:
        dtype = _dt.result_type_of(values)
        if dtype.category == _dt.BOOL:
            dtype = _dt.int64
    np_dtype = _np_dtype(dtype)
    n = max(0, math.ceil((end - start) / step))
    dev = backend.canonical_device(device)
    if np_dtype.kind in "iu" and all(isinstance(v, int) for v in values):
        data = dev.xp.arange(start, end, step, dtype=np_dtype)
    else:
        data = (dev.xp.arange(n, dtype=np.float64) * step + start).astype(np_dtype)
    return _finish(data, dev, requires_grad)


def linspace(start, end, steps, *, out=None, dtype=None, layout=None, device=None,
             requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    dev = backend.canonical_device(device)
    np_dtype = _np_dtype(dtype, _dt.get_default_dtype().np_dtype)
    start = start.item() if isinstance(start, Tensor) else start
    end = end.item() if isinstance(end, Tensor) else end
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    data = dev.xp.linspace(start, end, int(steps), dtype=np.float64).astype(np_dtype)
    return _finish(data, dev, requires_grad)


def logspace(start, end, steps, base=10.0, *, out=None, dtype=None, layout=None, device=None,
             requires_grad=False):
    dev = backend.canonical_device(device)
    np_dtype = _np_dtype(dtype, _dt.get_default_dtype().np_dtype)
    data = dev.xp.logspace(start, end, int(steps), base=base, dtype=np.float64).astype(np_dtype)
    return _finish(data, dev, requires_grad)


def eye(n, m=None, *, out=None, dtype=None, layout=None, device=None, requires_grad=False):
    """The ``n x m`` identity matrix."""
    dev = backend.canonical_device(device)
    np_dtype = _np_dtype(dtype, _dt.get_default_dtype().np_dtype)
    return _finish(dev.xp.eye(n, n if m is None else m, dtype=np_dtype), dev, requires_grad)


def _legacy_tensor_new(cls, *args, **kwargs):
    """``probe.Tensor(2, 3)`` (uninitialised float32) or ``probe.Tensor(data)`` (float32 copy)."""
    device = kwargs.pop("device", None)
    if kwargs:
        raise TypeError(f"Tensor() got an unexpected keyword argument '{next(iter(kwargs))}'")
    if not args:
        t = empty(0, device=device)
    elif all(isinstance(a, int) for a in args):
        t = empty(*args, device=device)
    elif len(args) == 1:
        t = tensor(args[0], dtype=_dt.float32, device=device)
    else:
        raise TypeError("Tensor() takes sizes as ints or a single data argument")
    if cls is not Tensor:
        t.__class__ = cls
    return t


TENSOR_METHODS = {
    "new_zeros": _new("new_zeros", zeros),
    "new_ones": _new("new_ones", ones),
    "new_empty": _new("new_empty", empty),
    "new_full": new_full,
    "new_tensor": new_tensor,
}

FUNCTIONS = {
    "tensor": tensor, "as_tensor": as_tensor, "asarray": asarray, "from_numpy": from_numpy,
    "zeros": zeros, "ones": ones, "empty": empty, "full": full, "zeros_like": zeros_like,
    "ones_like": ones_like, "empty_like": empty_like, "full_like": full_like, "arange": arange,
    "linspace": linspace, "logspace": logspace, "eye": eye,
}


NUMPY_NAMESPACE = {}
