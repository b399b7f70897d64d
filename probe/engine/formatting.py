"""Text formatting of tensor data, matching PyTorch 2.x ``repr(tensor)`` output.

This module is self-contained: it works on plain NumPy arrays and knows nothing about
the probe ``Tensor`` class.  The tensor class builds its ``repr`` with :func:`format_tensor`,
passing the already formatted suffixes (``dtype=...``, ``requires_grad=True``, ...) it wants
shown after the data.

The rules follow PyTorch's printing behaviour:

* floats print in *int mode* (``1.``, ``-2.``) when every finite value is an integer, in
  fixed point with ``precision`` digits otherwise, and in scientific notation when the
  nonzero finite magnitudes span more than a factor 1000, exceed 1e8 or go below 1e-4;
* all elements are right-aligned to a common width (non-finite values are not counted);
* tensors with more than ``threshold`` elements are summarised with ``...``, keeping
  ``edgeitems`` entries at each end of every dimension;
* rows are wrapped at ``linewidth`` and nested brackets are indented under the prefix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

__all__ = [
    "default_dtype_suffix_needed",
    "format_tensor",
    "get_printoptions",
    "printoptions",
    "set_printoptions",
]


@dataclasses.dataclass
class _PrintOptions:
    """Current print options (same fields and defaults as PyTorch)."""

    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


_OPTS = _PrintOptions()

_PROFILES = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}

# dtypes whose name PyTorch leaves out of a non-empty tensor's repr.
_IMPLICIT_DTYPES = frozenset(np.dtype(name) for name in ("float32", "int64", "bool", "complex64"))


def set_printoptions(
    precision: int | None = None,
    threshold: float | None = None,
    edgeitems: int | None = None,
    linewidth: int | None = None,
    profile: str | None = None,
    sci_mode: bool | None = None,
) -> None:
    """Set the print options, like ``torch.set_printoptions``.

    ``profile`` ("default", "short" or "full") first resets precision, threshold, edgeitems
    and linewidth; explicit arguments then override it.  As in PyTorch, ``sci_mode`` is
    always assigned, so omitting it restores automatic choice of scientific notation.
    """
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"unknown print profile {profile!r}")
        for name, value in _PROFILES[profile].items():
            setattr(_OPTS, name, value)
    updates = {
        "precision": precision,
        "threshold": threshold,
        "edgeitems": edgeitems,
        "linewidth": linewidth,
    }
    for name, value in updates.items():
        if value is not None:
            setattr(_OPTS, name, value)
    _OPTS.sci_mode = sci_mode


def get_printoptions() -> dict[str, Any]:
    """Return the current print options as a dict accepted by :func:`set_printoptions`."""
    return dataclasses.asdict(_OPTS)


@contextlib.contextmanager
def printoptions(**kwargs: Any) -> Iterator[None]:
    """Temporarily change the print options inside a ``with`` block."""
    saved = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**saved)


def default_dtype_suffix_needed(numpy_dtype: Any, *, empty: bool = False) -> bool:
    """Whether PyTorch would print a ``dtype=`` suffix for a tensor of this dtype.

    Non-empty tensors omit it for float32, int64, bool (and complex64, the default complex
    dtype).  Empty tensors (``empty=True``) show it for every dtype except float32, since
    there are no elements from which to infer it.
    """
    dtype = np.dtype(numpy_dtype)
    if empty:
        return dtype != np.float32
    return dtype not in _IMPLICIT_DTYPES


def format_tensor(data: Any, *, prefix: str = "tensor(", suffixes: Sequence[str] = ()) -> str:
    """Format array data the way PyTorch prints a tensor.

    ``data`` must be host data (a NumPy array or anything ``np.asarray`` accepts); copy
    device arrays (e.g. CuPy) to the host first.

    ``suffixes`` are already formatted strings (``"dtype=probe.float64"``,
    ``"requires_grad=True"``, ...) appended after the data in the given order.  A
    ``size=(...)`` suffix is added automatically, as PyTorch does, for empty tensors that are
    not 1-D and when ``edgeitems`` is 0; it is placed after any leading ``device=`` suffixes.
    """
    arr = np.asarray(data)
    indent = len(prefix)
    if (arr.size == 0 and arr.ndim != 1) or (arr.size > 0 and not _OPTS.edgeitems):
        suffixes = _insert_size_suffix(list(suffixes), arr.shape)
    body = "[]" if arr.size == 0 else _tensor_str(arr, indent)
    return _add_suffixes(prefix + body, suffixes, indent)


def _insert_size_suffix(suffixes: list[str], shape: tuple[int, ...]) -> list[str]:
    """Insert ``size=shape`` after the leading ``device=`` suffixes (PyTorch's order)."""
    position = 0
    while position < len(suffixes) and suffixes[position].startswith("device="):
        position += 1
    suffixes.insert(position, f"size={tuple(shape)}")
    return suffixes


def _add_suffixes(tensor_str: str, suffixes: Sequence[str], indent: int) -> str:
    """Append ``suffixes`` and the closing parenthesis, wrapping lines at ``linewidth``.

    The starting line length deliberately reproduces PyTorch's computation, which counts
    two characters more than the last line holds.
    """
    parts = [tensor_str]
    line_len = len(tensor_str) - tensor_str.rfind("\n") + 1
    for suffix in suffixes:
        if line_len + len(suffix) + 2 > _OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


class _Formatter:
    """Formats the scalars of one real-valued array to a common width."""

    def __init__(self, values: np.ndarray) -> None:
        self.floating = values.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        if self.floating:
            self._scan_floats(values)
        else:
            for value in values.ravel().tolist():
                self.width = max(self.width, len(str(value)))

    def _scan_floats(self, values: np.ndarray) -> None:
        """Choose int/fixed/scientific mode and the width from the nonzero finite values."""
        finite = values[np.isfinite(values) & (values != 0)].astype(np.float64)
        if finite.size == 0:
            return
        magnitudes = np.abs(finite)
        low, high = float(magnitudes.min()), float(magnitudes.max())
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        if _OPTS.sci_mode is None:
            self.sci_mode = high / low > 1000.0 or high > 1.0e8 or low < 1.0e-4
        else:
            self.sci_mode = _OPTS.sci_mode
        if self.sci_mode:
            spec, extra = f".{_OPTS.precision}e", 0
        elif self.int_mode:
            spec, extra = ".0f", 1  # room for the trailing "."
        else:
            spec, extra = f".{_OPTS.precision}f", 0
        widest = max(len(format(value, spec)) for value in finite.tolist())
        self.width = max(self.width, widest + extra)

    def format(self, value: Any) -> str:
        """Format one Python scalar, right-aligned to the common width."""
        if not self.floating:
            text = str(value)
        elif self.sci_mode:
            text = format(value, f".{_OPTS.precision}e")
        elif self.int_mode:
            text = format(value, ".0f")
            if math.isfinite(value):
                text += "."
        else:
            text = format(value, f".{_OPTS.precision}f")
        return text.rjust(self.width)


@dataclasses.dataclass
class _ElementFormatter:
    """Formats elements of a (possibly complex) array; ``width`` excludes separators."""

    format: Callable[[Any], str]
    width: int


def _element_formatter(shown: np.ndarray) -> _ElementFormatter:
    """Build the element formatter from the values that will be displayed."""
    if not np.iscomplexobj(shown):
        formatter = _Formatter(shown)
        return _ElementFormatter(formatter.format, formatter.width)
    real, imag = _Formatter(shown.real), _Formatter(shown.imag)

    def format_complex(value: complex) -> str:
        imag_str = (imag.format(value.imag) + "j").lstrip()
        sign = "" if imag_str[0] in "+-" else "+"
        return real.format(value.real) + sign + imag_str

    return _ElementFormatter(format_complex, real.width + imag.width + 1)


def _summarized(arr: np.ndarray) -> np.ndarray:
    """Keep only the ``edgeitems`` leading and trailing entries of every long dimension."""
    edge = _OPTS.edgeitems
    for axis, size in enumerate(arr.shape):
        if size > 2 * edge:
            keep = np.r_[0:edge, size - edge : size]
            arr = np.take(arr, keep, axis=axis)
    return arr


def _tensor_str(arr: np.ndarray, indent: int) -> str:
    """Format a non-empty array's data (without prefix and suffixes)."""
    summarize = arr.size > _OPTS.threshold
    formatter = _element_formatter(_summarized(arr) if summarize else arr)
    return _nested_str(arr, indent, summarize, formatter)


def _nested_str(arr: np.ndarray, indent: int, summarize: bool, formatter: _ElementFormatter) -> str:
    """Format an array of any rank, recursing over its first dimension."""
    if arr.ndim == 0:
        return formatter.format(arr.item())
    if arr.ndim == 1:
        return _vector_str(arr, indent, summarize, formatter)
    edge = _OPTS.edgeitems
    rows = [_nested_str(row, indent + 1, summarize, formatter) for row in _edges(arr, summarize)]
    if summarize and len(arr) > 2 * edge:
        rows.insert(edge, "...")
    separator = "," + "\n" * (arr.ndim - 1) + " " * (indent + 1)
    return "[" + separator.join(rows) + "]"


def _edges(arr: np.ndarray, summarize: bool) -> np.ndarray:
    """The rows of ``arr`` to display: all of them, or the edges when summarising."""
    edge = _OPTS.edgeitems
    if summarize and len(arr) > 2 * edge:
        return arr[np.r_[0:edge, len(arr) - edge : len(arr)]]
    return arr


def _vector_str(arr: np.ndarray, indent: int, summarize: bool, formatter: _ElementFormatter) -> str:
    """Format a 1-D array, wrapping elements onto lines of at most ``linewidth``."""
    edge = _OPTS.edgeitems
    if summarize and not edge:
        items = ["..."]
    else:
        items = [formatter.format(value) for value in _edges(arr, summarize).tolist()]
        if summarize and len(arr) > 2 * edge:
            items.insert(edge, " ...")
    per_line = max(1, (_OPTS.linewidth - indent) // (formatter.width + 2))
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
