"""Padding layers: ``ZeroPad1d/2d/3d``, ``ConstantPad1d/2d/3d``, ``ReflectionPad1d/2d/3d``,
``ReplicationPad1d/2d/3d`` and ``CircularPad1d/2d/3d``; ``padding`` is an int or a tuple in
PyTorch's order (last dimension first)."""

from __future__ import annotations

from ..functional_parts.misc import pad as _pad
from .module import Module

__all__ = [
    "CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d",
    "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
    "ReplicationPad2d", "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d",
]


def _expand(padding, n):
    if isinstance(padding, int):
        return (padding,) * (2 * n)
    return tuple(padding)


class _ConstantPadNd(Module):
    _n = 1

    def __init__(self, padding, value: float):
        super().__init__()
        self.padding = _expand(padding, self._n)
        self.value = value

    def forward(self, input):
        return _pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dimension with ``value``."""

    _n = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dimensions with ``value``."""

    _n = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dimensions with ``value``."""

    _n = 3


class ZeroPad1d(ConstantPad1d):
    """Pad the last dimension with zeros."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pad the last two dimensions with zeros.

    >>> import probe
    >>> probe.nn.modules.padding.ZeroPad2d(1)
    ZeroPad2d((1, 1, 1, 1))
    """

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """Pad the last three dimensions with zeros."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ModePadNd(Module):
    _n = 1
    _mode = "reflect"

    def __init__(self, padding):
        super().__init__()
        self.padding = _expand(padding, self._n)

    def forward(self, input):
        return _pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_ModePadNd):
    """Pad the last dimension with its reflection (the edge not repeated)."""

    _n, _mode = 1, "reflect"


class ReflectionPad2d(_ModePadNd):
    """Pad the last two dimensions with their reflection."""

    _n, _mode = 2, "reflect"


class ReflectionPad3d(_ModePadNd):
    """Pad the last three dimensions with their reflection."""

    _n, _mode = 3, "reflect"


class ReplicationPad1d(_ModePadNd):
    """Pad the last dimension by repeating its edge values."""

    _n, _mode = 1, "replicate"


class ReplicationPad2d(_ModePadNd):
    """Pad the last two dimensions by repeating their edge values."""

    _n, _mode = 2, "replicate"


class ReplicationPad3d(_ModePadNd):
    """Pad the last three dimensions by repeating their edge values."""

    _n, _mode = 3, "replicate"


class CircularPad1d(_ModePadNd):
    """Pad the last dimension by wrapping around."""

    _n, _mode = 1, "circular"


class CircularPad2d(_ModePadNd):
    """Pad the last two dimensions by wrapping around."""

    _n, _mode = 2, "circular"


class CircularPad3d(_ModePadNd):
    """Pad the last three dimensions by wrapping around."""

    _n, _mode = 3, "circular"
