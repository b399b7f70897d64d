"""Reading and writing ``.safetensors`` files, without the ``safetensors`` package.

The format: an 8-byte little-endian header length N, N bytes of JSON mapping each tensor name
to ``{"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}`` (offsets into the data
section that follows the header; an optional ``"__metadata__"`` maps strings to strings), then
the data section: each tensor's bytes, C-contiguous and little-endian.
"""

from __future__ import annotations

import json
import math
import os
import warnings

import numpy as np

from . import dtypes as _dt
from .backend import CPU
from .serialization import (
    CheckpointError,
    _write_bytes,
    atomic_write,
    detect_format,
    host_to,
    open_for_reading,
    read_exact_into,
    resolve_location,
)
from .tensor import Tensor, _wrap

__all__ = ["load_safetensors", "save_safetensors", "safetensors_metadata"]

# safetensors dtype code -> (stored NumPy type, probe dtype it loads as)
_CODES = {
    "BOOL": ("|b1", "bool"), "U8": ("|u1", "uint8"), "I8": ("|i1", "int8"),
    "I16": ("<i2", "int16"), "I32": ("<i4", "int32"), "I64": ("<i8", "int64"),
    "F16": ("<f2", "float16"), "F32": ("<f4", "float32"), "F64": ("<f8", "float64"),
    "C64": ("<c8", "complex64"), "BF16": ("<u2", "float32"), "U16": ("<u2", "int32"),
    "U32": ("<u4", "int64"), "U64": ("<u8", "int64"),
}
_ITEMSIZE = {"F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "F4": 1, "F6_E2M3": 1, "F6_E3M2": 1,
             **{code: np.dtype(t).itemsize for code, (t, _) in _CODES.items()}}
_CODE_OF = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "int32": "I32",
            "int64": "I64", "float16": "F16", "float32": "F32", "float64": "F64",
            "complex64": "C64"}
_MAX_HEADER = 100 * 1024 * 1024  # the safetensors package's own limit


def _error(msg):
    return CheckpointError(f"invalid safetensors file: {msg}")


def _read_header(fh, size):
    head = fh.read(8)
    if len(head) < 8:
        raise CheckpointError(f"safetensors file is truncated: expected an 8-byte header "
                              f"length, found {len(head)} bytes")
    n = int.from_bytes(head, "little")
    if n > _MAX_HEADER:
        raise _error(f"header length {n} exceeds the {_MAX_HEADER}-byte limit")
    if size is not None and n > size - 8:
        raise CheckpointError(f"safetensors file is truncated: expected a {n}-byte header, "
                              f"found {max(size - 8, 0)} bytes")
    raw = fh.read(n)
    if len(raw) < n:
        raise CheckpointError(f"safetensors file is truncated: expected a {n}-byte header, "
                              f"found {len(raw)} bytes")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _error(f"the header is not valid JSON ({exc})") from None
    if type(header) is not dict:
        raise _error("the header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if metadata is not None and (type(metadata) is not dict or not all(
            type(k) is str and type(v) is str for k, v in metadata.items())):
        raise _error("__metadata__ must map strings to strings")
    entries = []
    for name, info in header.items():
        if type(info) is not dict or set(info) != {"dtype", "shape", "data_offsets"}:
            raise _error(f"tensor {name!r} must have exactly dtype, shape and data_offsets")
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if code not in _ITEMSIZE:
            raise _error(f"tensor {name!r} has unknown dtype {code!r:.20}")
        if type(shape) is not list or not all(type(d) is int and d >= 0 for d in shape):
            raise _error(f"tensor {name!r} shape must be a list of non-negative integers")
        if (type(offsets) is not list or len(offsets) != 2
                or not all(type(o) is int and o >= 0 for o in offsets) or offsets[0] > offsets[1]):
            raise _error(f"tensor {name!r} data_offsets must be [begin, end] with "
                         "0 <= begin <= end")
        nbytes = math.prod(shape) * _ITEMSIZE[code]
        if offsets[1] - offsets[0] != nbytes:
            raise _error(f"tensor {name!r} of shape {shape} and dtype {code} needs {nbytes} "
                         f"bytes, data_offsets span {offsets[1] - offsets[0]}")
        entries.append((offsets[0], offsets[1], name, code, tuple(shape)))
    entries.sort()
    for prev, cur in zip(entries, entries[1:]):
        if cur[0] < prev[1]:
            raise _error(f"tensors {prev[2]!r} and {cur[2]!r} overlap in the data section")
    return 8 + n, entries, metadata


def read_safetensors(fh, size, map_location=None):
    """(``{name: tensor}`` in file order, metadata or None) from a binary file at its header."""
    start = fh.tell()
    data_start, entries, metadata = _read_header(fh, size)
    data_len = None if size is None else size - (data_start)
    end = entries[-1][1] if entries else 0
    if data_len is not None and end > data_len:
        raise CheckpointError(f"safetensors file is truncated: expected {end} bytes of tensor "
                              f"data, found {data_len}")
    dev = resolve_location("cpu", map_location, lambda: _wrap(np.empty(0, np.uint8), CPU))
    warned = set()
    out = {}
    for begin, stop, name, code, shape in entries:
        if code not in _CODES:
            raise CheckpointError(f"cannot load tensor {name!r}: probe has no dtype for "
                                  f"safetensors dtype {code}")
        stored, target = _CODES[code]
        fh.seek(start + data_start + begin)
        buf = np.empty(stop - begin, np.uint8)
        got = read_exact_into(fh, buf)
        if got < stop - begin:
            raise CheckpointError(f"safetensors file is truncated: expected {end} bytes of "
                                  f"tensor data, found {begin + got}")
        arr = buf.view(stored).reshape(shape)
        if code == "BOOL" and buf.size and buf.max() > 1:
            raise _error(f"tensor {name!r} holds boolean values other than 0 and 1")
        arr = _to_probe_type(arr, code, target, name, warned)
        out[name] = _wrap(host_to(arr, dev), dev)
    return out, metadata


def _to_probe_type(arr, code, target, name, warned):
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if code in ("BF16", "U16", "U32", "U64"):
        if code not in warned:
            warned.add(code)
            warnings.warn(f"safetensors file holds {code} tensors, which probe cannot store; "
                          f"they are loaded as {target}", UserWarning, stacklevel=4)
        if code == "BF16":
            return (arr.astype(np.uint32) << 16).view(np.float32)
        if code == "U64" and arr.size and int(arr.max()) >= 1 << 63:
            raise CheckpointError(f"cannot load tensor {name!r}: U64 values >= 2**63 do not "
                                  "fit probe's int64")
        return arr.astype(target)
    return arr


def load_safetensors(path, device="cpu"):
    """Read a ``.safetensors`` file into ``{name: tensor}`` on ``device``.

    BF16 tensors load as float32 and U16/U32/U64 as the next wider signed type (with a
    warning), since probe's NumPy storage has no such dtypes.

    >>> import probe, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> probe.serialization.save_safetensors({"w": probe.ones(2)}, path)
    >>> probe.serialization.load_safetensors(path)
    {'w': tensor([1., 1.])}
    """
    with open_for_reading(path) as (fh, _name, _):
        size = _remaining(fh)
        tensors, _ = read_safetensors(fh, size, device)
    return tensors


def safetensors_metadata(path):
    """The ``__metadata__`` dict of a ``.safetensors`` file (None if it has none)."""
    with open_for_reading(path) as (fh, _name, _):
        _, _, metadata = _read_header(fh, _remaining(fh))
    return metadata


def _remaining(fh):
    pos = fh.tell()
    end = fh.seek(0, os.SEEK_END)
    fh.seek(pos)
    return end - pos


def save_safetensors(tensors, path, metadata=None) -> None:
    """Write ``{name: tensor}`` to ``path`` as a ``.safetensors`` file (atomically: a crash
    leaves any old file intact). ``metadata`` is an optional ``{str: str}`` dict.

    Tensors are stored C-contiguous and little-endian, ordered by decreasing element size and
    then by name, so every tensor's data is aligned to its element size.
    """
    if not isinstance(tensors, dict):
        raise TypeError(f"save_safetensors expects a dict of name -> tensor, got "
                        f"{type(tensors).__name__}")
    if metadata is not None and (not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise TypeError("safetensors metadata must be a dict mapping str to str")
    items = []
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"safetensors tensor names must be strings, got {name!r}")
        if name == "__metadata__":
            raise ValueError("'__metadata__' is reserved and cannot name a tensor")
        if isinstance(value, Tensor):
            arr = value._data if value._device.type == "cpu" else value._data.get()
        elif isinstance(value, np.ndarray):
            arr = value
        else:
            raise TypeError(f"save_safetensors: {name!r} is a {type(value).__name__}, "
                            "expected a tensor")
        try:
            kind = _dt.from_numpy_dtype(arr.dtype.newbyteorder("=")).name
        except TypeError:
            kind = str(arr.dtype)
        if kind not in _CODE_OF:
            raise TypeError(f"save_safetensors: {name!r} has dtype {kind}, which safetensors "
                            f"files cannot hold (supported: {', '.join(_CODE_OF)})")
        code = _CODE_OF[kind]
        # little-endian and C-contiguous (np.ascontiguousarray would make 0-d arrays 1-d)
        arr = np.asarray(arr, dtype=np.dtype(_CODES[code][0]), order="C")
        items.append((-arr.itemsize, name, code, arr))
    items.sort(key=lambda item: (item[0], item[1]))
    header, offset = {}, 0
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    for _, name, code, arr in items:
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the data section starts 8-byte aligned
    with atomic_write(path) as fh:
        _write_bytes(fh, len(text).to_bytes(8, "little") + text)
        for _, _, _, arr in items:
            if arr.nbytes:
                _write_bytes(fh, memoryview(arr.reshape(-1).view(np.uint8)))


def is_safetensors(head: bytes, size=None) -> bool:
    """Whether a file's first bytes look like a safetensors file."""
    return detect_format(head, size) == "safetensors"
