"""Copies and conversions: dtype casts, device moves, ``clone``, ``contiguous`` and
``Tensor.to``."""

from __future__ import annotations

from .. import backend
from .. import dtypes as _dt
from ..autograd import Op
from ..tensor import Tensor, _wrap


class ToDtype(Op):
    node_name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx, a, np_dtype):
        return a.astype(np_dtype)

    @staticmethod
    def backward(ctx, g):
        return (g,)  # the engine casts the gradient back to the input's dtype


class ToDevice(Op):
    node_name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx, a, src, dst, np_dtype):
        ctx.src = src
        ctx.dst = dst
        out = backend.to_device_array(a, src, dst)
        return out if np_dtype is None or out.dtype == np_dtype else out.astype(np_dtype)

    @staticmethod
    def backward(ctx, g):
        if isinstance(g, Tensor):
            return (g.to(ctx.src),)
        return (backend.to_device_array(g, ctx.dst, ctx.src),)

    @classmethod
    def apply(cls, a, src, dst, np_dtype):
        # Inputs and output live on different devices, so the output is wrapped here.
        out = super().apply(a, src, dst, np_dtype)
        out._device = dst
        return out


class Clone(Op):
    node_name = "CloneBackward0"

    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, g):
        return (g,)


def to_dtype(t: Tensor, dtype) -> Tensor:
    dtype = _dt.to_dtype(dtype)
    if t._data.dtype == _dt.numpy_dtype(dtype):
        return t
    if t._requires_grad and dtype.category < _dt.FLOATING:
        # Casting to an integer type cuts the graph, as in PyTorch (the result can't need grad).
        return _wrap(t._data.astype(dtype.np_dtype), t._device)
    return ToDtype.apply(t, dtype.np_dtype)


def clone(input, *, memory_format=None):
    """A copy with its own storage; gradients flow back to ``input``."""
    return Clone.apply(input)


def contiguous(self, memory_format=None):
    """``self`` when already C-contiguous, else a contiguous copy."""
    if self._data.flags.c_contiguous:
        return self
    return Clone.apply(self)


def _parse_to_args(self, args, kwargs):
    dev = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got an unexpected keyword argument '{next(iter(kwargs))}'")
    for arg in args:
        if isinstance(arg, Tensor):
            dev, dtype = arg._device, arg.dtype
        elif isinstance(arg, _dt.dtype):
            dtype = arg
        elif isinstance(arg, str | backend.device | int) and not isinstance(arg, bool):
            if isinstance(arg, str) and (arg.startswith(("probe.", "torch.")) or
                                         arg in _dt._BY_NAME):
                dtype = _dt.to_dtype(arg)
            else:
                dev = arg
        elif arg is None:
            continue
        else:
            dtype = _dt.to_dtype(arg)
    return dev, dtype, copy


def to(self, *args, **kwargs):
    """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``; returns ``self`` when
    nothing changes (unless ``copy=True``).

    >>> import probe
    >>> probe.ones(2).to(probe.float64).dtype
    probe.float64
    """
    dev, dtype, copy = _parse_to_args(self, args, dict(kwargs))
    dst = self._device if dev is None else backend.canonical_device(dev)
    dtype = None if dtype is None else _dt.to_dtype(dtype)
    if dst is not self._device:
        np_dtype = None if dtype is None else _dt.numpy_dtype(dtype)
        return ToDevice.apply(self, self._device, dst, np_dtype)
    if dtype is not None and self._data.dtype != _dt.numpy_dtype(dtype):
        return to_dtype(self, dtype)
    return clone(self) if copy else self


def cpu(self, memory_format=None):
    return to(self, backend.CPU)


def cuda(self, device=None, non_blocking=False, memory_format=None):
    if device is None:
        device = "cuda"
    elif isinstance(device, int):
        device = f"cuda:{device}"
    return to(self, device)


def _caster(dtype):
    def cast_method(self, memory_format=None):
        return to_dtype(self, dtype)

    cast_method.__name__ = dtype._short_name.lower()
    cast_method.__doc__ = f"``self.to({dtype})``"
    return cast_method


TENSOR_METHODS = {
    "to": to, "cpu": cpu, "cuda": cuda, "clone": clone, "contiguous": contiguous,
    "float": _caster(_dt.float32), "double": _caster(_dt.float64), "half": _caster(_dt.float16),
    "long": _caster(_dt.int64), "int": _caster(_dt.int32), "short": _caster(_dt.int16),
    "char": _caster(_dt.int8), "byte": _caster(_dt.uint8), "bool": _caster(_dt.bool),
}

FUNCTIONS = {"clone": clone}
