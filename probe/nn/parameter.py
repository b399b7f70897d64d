"""``Parameter``: a leaf tensor that a Module registers as one of its parameters."""

from __future__ import annotations

from ..engine.formatting import format_tensor
from ..engine.tensor import Tensor, _wrap


class Parameter(Tensor):
    """A tensor that is a module parameter: assigning it to a Module attribute registers it.

    >>> import probe
    >>> p = probe.nn.Parameter(probe.zeros(2))
    >>> p.requires_grad
    True
    """

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            from ..engine.ops.creation import empty  # noqa: PLC0415

            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter data must be a Tensor, got {type(data).__name__}")
        t = _wrap(data._data, data._device)
        t.__class__ = cls
        t._vc = data._vc  # shares storage with ``data``, as PyTorch's Parameter does
        if requires_grad:
            t.requires_grad_(True)
        return t

    def __init__(self, data=None, requires_grad=True):
        pass

    def __repr__(self):
        data = self._data if self._device.type == "cpu" else self._data.get()
        suffixes = []
        if self._device.type != "cpu":
            suffixes.append(f"device='{self._device}'")
        from ..engine.formatting import default_dtype_suffix_needed  # noqa: PLC0415

        if default_dtype_suffix_needed(data.dtype, empty=data.size == 0):
            suffixes.append(f"dtype={self.dtype}")
        if self._requires_grad:
            suffixes.append("requires_grad=True")
        return "Parameter containing:\n" + format_tensor(data, suffixes=suffixes)

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        base = Tensor.__reduce_ex__(self, protocol)
        return (_rebuild_parameter, (base, self._requires_grad))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = Parameter(Tensor.__deepcopy__(self, {}), self._requires_grad)
        memo[id(self)] = result
        return result


def _rebuild_parameter(base, requires_grad):
    fn, args = base
    return Parameter(fn(*args), requires_grad)


class Buffer(Tensor):
    """Marks a tensor to register as a buffer when assigned to a Module attribute."""

    def __new__(cls, data=None, *, persistent=True):
        from ..engine.ops.creation import empty  # noqa: PLC0415

        data = empty(0) if data is None else data
        t = _wrap(data._data, data._device)
        t.__class__ = cls
        t._vc = data._vc
        t.persistent = persistent
        return t

    def __init__(self, data=None, *, persistent=True):
        pass
