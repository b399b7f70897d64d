"""``probe.save`` / ``probe.load``: probe's checkpoint format, safe by construction.

A checkpoint holds tensors and plain data (dicts, OrderedDicts, lists, tuples, strings, numbers,
bytes, None) and nothing else, so loading one never runs code from the file: there is no pickle.
``probe.load`` also reads PyTorch checkpoints (through the allow-listed reader in
``torch_pickle``) and ``.safetensors`` files, recognised by their content, not their name.

The format (version 1), all integers little-endian::

    0   b"PROBE\\x00"   magic
    6   u16            format version (1)
    8   u64            header length H
    16  u32            CRC-32 of the header bytes
    20  u32            reserved, 0
    24  H bytes        ASCII JSON header
        zero bytes up to a multiple of 64: the data section starts there (at D)
    D   storage blocks, each at a multiple of 64 from D, zero bytes between them;
        the section ends at D + header["data_size"], which is the end of the file

The header is ``{"format": "probe", "version": 1, "byteorder": "little", "data_size": N,
"storages": [{"offset", "nbytes", "crc32", "device"}...], "tensors": [{"storage", "dtype",
"shape", "strides" (bytes), "offset" (bytes), "requires_grad", "param", "kind", "name"}...],
"root": tree}``. In the tree JSON null/booleans/integers/finite floats/strings/arrays (lists)
stand for themselves; every JSON object is tagged by its ``"$"`` key: ``dict``/``odict``
(``items``: [key, value] pairs, so keys need not be strings; an ``odict`` may also have
``metadata``: the tree of its ``_metadata`` attribute, a state_dict's per-module versions as in
PyTorch, which older readers ignore), ``tuple``, ``size``, ``set``, ``frozenset`` (``items``),
``float`` (``v``: ``"nan"``/``"inf"``/``"-inf"``), ``complex``, ``bytes``/``bytearray``
(``b64``), ``dtype``/``device`` (``name``) and ``tensor`` (``i``: an index into ``tensors``;
the same tensor object saved twice is one entry, and tensors whose memory overlaps share one
storage block, so views load as views).

Every byte is checked on load: the header by its CRC, each storage block by its CRC, padding
must be zero, and the file must end where the header says, so a truncated or corrupted file
raises :class:`CheckpointError` instead of loading wrong values.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import io
import json
import math
import os
import pickle
import secrets
import stat
import struct
import sys
import zlib
from collections import OrderedDict

import numpy as np

from . import dtypes as _dt
from .backend import CPU, canonical_device, device, to_device_array
from .tensor import Size, Tensor, _wrap

__all__ = ["save", "load", "CheckpointError", "UnsafeCheckpointError"]

MAGIC = b"PROBE\x00"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<6sHQII")
_ALIGN = 64
_MAX_HEADER_BYTES = 1 << 31
_LITTLE = sys.byteorder == "little"


class CheckpointError(RuntimeError):
    """A checkpoint file is truncated, corrupted, malformed or in a format probe cannot read."""


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """A PyTorch checkpoint asks for something other than tensors and plain containers."""


# probe.nn.Parameter lives above the engine; the public ``probe.serialization`` module registers
# it here so that saved parameters load as parameters without the engine importing probe.nn.
_parameter_class: list = [None]


def register_parameter_class(cls) -> None:
    """Make ``probe.load`` restore saved parameters as instances of ``cls``."""
    _parameter_class[0] = cls


def _is_parameter(t) -> bool:
    cls = _parameter_class[0]
    return cls is not None and isinstance(t, cls)


def make_parameter(t: Tensor, requires_grad: bool):
    """``t`` as a Parameter when a parameter class is registered, else as a plain tensor."""
    cls = _parameter_class[0]
    if cls is not None:
        return cls(t, requires_grad)
    if requires_grad and t._data.dtype.kind in "fc":
        t._requires_grad = True
    return t


# ---------------------------------------------------------------------------------------------
# Devices and map_location
# ---------------------------------------------------------------------------------------------

def resolve_location(location: str, map_location, storage_factory):
    """The device a storage saved at ``location`` loads to, following ``torch.load``'s rules for
    ``map_location`` (None, a device or string, a ``{old: new}`` dict or a callable taking
    ``(storage, location)``); ``storage_factory()`` builds the CPU tensor a callable receives."""
    target = location
    if map_location is None:
        pass
    elif isinstance(map_location, str | device):
        target = map_location
    elif isinstance(map_location, dict):
        target = location
        for old, new in map_location.items():
            if str(old) == location:
                target = new
                break
    elif callable(map_location):
        result = map_location(storage_factory(), location)
        if result is not None:
            if isinstance(result, Tensor):
                target = result.device
            elif isinstance(result, str | device):
                target = result
            else:
                raise TypeError(
                    f"map_location callable must return a tensor (the storage, moved), a device "
                    f"or None, got {type(result).__name__}"
                )
    else:
        raise TypeError(
            "map_location should be a str, a probe.device, a dict or a callable, got "
            f"{type(map_location).__name__}"
        )
    if isinstance(target, Tensor):
        target = target.device
    try:
        dev = device(target) if not isinstance(target, device) else target
    except (RuntimeError, TypeError) as exc:
        raise RuntimeError(
            f"cannot map storage location '{location}' to {target!r}: {exc}"
        ) from None
    if dev.type == "cuda":
        from .backend import device_count  # noqa: PLC0415

        if device_count() == 0:
            if map_location is None:
                raise RuntimeError(
                    "Attempting to deserialize object on a CUDA device but "
                    "torch.cuda.is_available() is False. If you are running on a CPU-only "
                    "machine, please use torch.load with map_location=torch.device('cpu') to "
                    "map your storages to the CPU."
                )
        return canonical_device(dev)
    if dev.type != "cpu":
        raise RuntimeError(
            f"checkpoint storage location '{dev}' has no probe backend; pass map_location='cpu'"
        )
    return CPU


def host_to(arr: np.ndarray, dev):
    """``arr`` (a host array) on ``dev``; no copy for the CPU."""
    if dev.type == "cpu":
        return arr
    # np.ascontiguousarray would turn a 0-d array into a 1-d one
    return to_device_array(np.array(arr, order="C", copy=not arr.flags.c_contiguous), CPU, dev)


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------

def _is_path(f) -> bool:
    return isinstance(f, str | bytes | os.PathLike)


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable; not possible (nor needed) on every platform.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path):
    """Open a temporary file beside ``path`` for binary writing; on success it is flushed,
    fsynced and renamed over ``path`` (then the directory is fsynced). On any error, or if the
    process dies, ``path`` keeps its old content."""
    path = os.fsdecode(os.fspath(path))
    if os.path.islink(path):
        path = os.path.realpath(path)  # write through the link, as open(path, "wb") would
    parent = os.path.dirname(path)
    if parent and not os.path.isdir(parent):
        raise RuntimeError(f"Parent directory {parent} does not exist.")
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    directory = parent or "."
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)  # the umask applies, as for a plain open()
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))  # keep an existing file's mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _write_bytes(fh, data) -> None:
    """Write one buffer (a storage block, the header); the single place bytes go out."""
    fh.write(data)


def read_exact_into(fh, buf) -> int:
    """Fill ``buf`` (a writable buffer) from ``fh``; returns how many bytes were read."""
    view = memoryview(buf).cast("B")
    total, n = 0, len(view)
    readinto = getattr(fh, "readinto", None)
    while total < n:
        if readinto is not None:
            got = readinto(view[total:])
        else:
            chunk = fh.read(n - total)
            got = len(chunk)
            view[total:total + got] = chunk
        if not got:
            break
        total += got
    return total


def _remaining_size(fh):
    """Bytes from the current position to the end of ``fh``, or None if it cannot tell."""
    try:
        pos = fh.tell()
        end = fh.seek(0, io.SEEK_END)
        fh.seek(pos)
        return end - pos
    except (OSError, AttributeError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------------

def _path_str(path) -> str:
    return "obj" + "".join(f"[{k!r}]" for k in path)


def _encode_float(x: float):
    if math.isfinite(x):
        return x
    return {"$": "float", "v": "nan" if x != x else ("inf" if x > 0 else "-inf")}


def _byte_extent(a: np.ndarray):
    """[lo, hi) addresses of the bytes ``a`` can touch."""
    lo = hi = a.__array_interface__["data"][0]
    for n, s in zip(a.shape, a.strides):
        if s < 0:
            lo += (n - 1) * s
        else:
            hi += (n - 1) * s
    return lo, hi + a.itemsize


class _RawSpan:
    """Exposes ``n`` bytes at ``address`` (inside ``owner``'s memory) to NumPy."""

    def __init__(self, address, n, owner):
        self.__array_interface__ = {"shape": (n,), "typestr": "|u1", "data": (address, True),
                                    "version": 3}
        self.owner = owner


def _c_strides(shape, itemsize):
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return strides[::-1]


def _root_buffer(a: np.ndarray):
    root = a
    while isinstance(root, np.ndarray) and root.base is not None:
        root = root.base
    return root


class _Encoder:
    """Turns an object tree into the JSON tree and the list of tensors it refers to."""

    def __init__(self):
        self.entries = []     # tensor table rows (storage fields filled in by _plan_storages)
        self.arrays = []      # host array of each row
        self.shareable = []   # whether each row's host array is the tensor's own memory
        self.devices = []
        self.index = {}       # id(tensor or ndarray) -> row
        self.keep = []        # keeps saved objects alive so that ids stay unique
        self.active = set()   # ids of the containers on the current path (cycle check)

    def encode(self, obj, path=()):
        t = type(obj)
        if obj is None or t is bool or t is str or t is int:
            return obj
        if t is float:
            return _encode_float(obj)
        if isinstance(obj, Tensor):
            return self._tensor(obj, path, "tensor")
        if t is list or t is tuple or t is dict or t is OrderedDict:
            return self._container(obj, t, path)
        if isinstance(obj, np.ndarray):
            return self._tensor(obj, path, "ndarray")
        if isinstance(obj, bool | np.bool_):
            return bool(obj)
        if isinstance(obj, int | np.integer):
            return int(obj)
        if isinstance(obj, float | np.floating):
            return _encode_float(float(obj))
        if isinstance(obj, complex | np.complexfloating):
            obj = complex(obj)
            return {"$": "complex", "re": _encode_float(obj.real),
                    "im": _encode_float(obj.imag)}
        if isinstance(obj, str):
            return str(obj)
        if isinstance(obj, bytes | bytearray):
            return {"$": "bytearray" if isinstance(obj, bytearray) else "bytes",
                    "b64": base64.b64encode(bytes(obj)).decode("ascii")}
        if isinstance(obj, Size):
            return {"$": "size", "items": [int(n) for n in obj]}
        if isinstance(obj, _dt.dtype):
            return {"$": "dtype", "name": obj.name}
        if isinstance(obj, device):
            return {"$": "device", "name": str(obj)}
        if isinstance(obj, set | frozenset):
            return self._container(obj, frozenset if isinstance(obj, frozenset) else set, path)
        if isinstance(obj, OrderedDict):
            return self._container(obj, OrderedDict, path)
        if isinstance(obj, dict):
            return self._container(obj, dict, path)
        if isinstance(obj, list | tuple):
            return self._container(obj, list if isinstance(obj, list) else tuple, path)
        hint = ""
        if hasattr(obj, "state_dict") and callable(obj.state_dict):
            hint = " (save its state_dict() instead)"
        raise TypeError(
            f"probe.save cannot store {type(obj).__module__}.{type(obj).__qualname__} at "
            f"{_path_str(path)}{hint}: a checkpoint holds tensors, NumPy arrays, numbers, "
            "strings, bytes, None, dtypes, devices and dicts/lists/tuples/sets of them, and never "
            "pickles arbitrary objects"
        )

    def _container(self, obj, kind, path):
        key = id(obj)
        if key in self.active:
            raise ValueError(f"probe.save cannot store a container that contains itself "
                             f"(at {_path_str(path)})")
        self.active.add(key)
        try:
            if kind is list:
                return [self.encode(v, (*path, i)) for i, v in enumerate(obj)]
            if kind is tuple:
                return {"$": "tuple",
                        "items": [self.encode(v, (*path, i)) for i, v in enumerate(obj)]}
            if kind is set or kind is frozenset:
                return {"$": "set" if kind is set else "frozenset",
                        "items": [self.encode(v, (*path, "<set item>")) for v in obj]}
            items = [[self.encode(k, (*path, "<key>")), self.encode(v, (*path, k))]
                     for k, v in obj.items()]
            if kind is not OrderedDict:
                return {"$": "dict", "items": items}
            node = {"$": "odict", "items": items}
            metadata = getattr(obj, "_metadata", None)  # a state_dict's per-module versions
            if metadata is not None:
                node["metadata"] = self.encode(metadata, (*path, "<_metadata>"))
            return node
        finally:
            self.active.discard(key)

    def _tensor(self, obj, path, kind):
        key = id(obj)
        row = self.index.get(key)
        if row is not None:
            return {"$": "tensor", "i": row}
        if kind == "tensor":
            dev = obj._device
            if dev.type == "cpu":
                arr, own = np.asarray(obj._data), True
            else:
                arr, own = obj._data.get(), False
            requires_grad, param = bool(obj._requires_grad), _is_parameter(obj)
        else:
            dev, arr, own, requires_grad, param = CPU, obj, True, False, False
        if not arr.dtype.isnative:
            arr, own = arr.astype(arr.dtype.newbyteorder("=")), False
        try:
            name = _dt.from_numpy_dtype(arr.dtype).name
        except TypeError:
            raise TypeError(
                f"probe.save cannot store a NumPy array of dtype {arr.dtype} at "
                f"{_path_str(path)}: supported dtypes are bool, uint8, int8, int16, int32, int64, "
                "float16, float32, float64, complex64 and complex128"
            ) from None
        row = len(self.entries)
        self.index[key] = row
        self.keep.append(obj)
        self.entries.append({"dtype": name, "shape": [int(n) for n in arr.shape],
                             "requires_grad": requires_grad, "param": param, "kind": kind,
                             "name": _path_str(path)})
        self.arrays.append(arr)
        self.shareable.append(own and _LITTLE)
        self.devices.append(str(dev))
        return {"$": "tensor", "i": row}


def _plan_storages(enc: _Encoder):
    """Storage blocks for the tensor rows: tensors whose memory overlaps share one block (so
    they load as views of each other); a lone tensor keeps its strides when that costs no extra
    bytes, and is compacted otherwise. Returns [(uint8 array, device string)]."""
    blocks = []
    groups = {}
    for row, arr in enumerate(enc.arrays):
        entry = enc.entries[row]
        if arr.size == 0 or not enc.shareable[row]:
            if not _LITTLE:
                arr = arr.astype(arr.dtype.newbyteorder("<"))
            data = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
            entry.update(storage=len(blocks), offset=0,
                         strides=_c_strides(arr.shape, arr.itemsize))
            blocks.append((data, enc.devices[row]))
            continue
        root = _root_buffer(arr)
        lo, hi = _byte_extent(arr)
        groups.setdefault((id(root), enc.devices[row]), (root, []))[1].append((lo, hi, row))

    def emit(component, root, dev):
        lo = min(c[0] for c in component)
        hi = max(c[1] for c in component)
        if len(component) == 1:
            row = component[0][2]
            arr = enc.arrays[row]
            if arr.flags.c_contiguous or hi - lo > arr.nbytes:
                compact = np.ascontiguousarray(arr)
                enc.entries[row].update(storage=len(blocks), offset=0,
                                        strides=_c_strides(arr.shape, arr.itemsize))
                blocks.append((compact.reshape(-1).view(np.uint8), dev))
                return
        span = np.asarray(_RawSpan(lo, hi - lo, root))
        for _, _, row in component:
            arr = enc.arrays[row]
            enc.entries[row].update(storage=len(blocks),
                                    offset=arr.__array_interface__["data"][0] - lo,
                                    strides=[int(s) for s in arr.strides])
        blocks.append((span, dev))

    for (_, dev), (root, items) in groups.items():
        items.sort()
        component, top = [items[0]], items[0][1]
        for item in items[1:]:
            if item[0] < top:
                component.append(item)
                top = max(top, item[1])
            else:
                emit(component, root, dev)
                component, top = [item], item[1]
        emit(component, root, dev)
    return blocks


def _align(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False) -> None:
    """Save ``obj`` (tensors, state_dicts, nested dicts/lists of tensors, numbers and strings) to
    a path or a binary file object, as ``torch.save``.

    The format stores data only (no pickle), so loading it never runs code. Writing to a path
    is atomic: a temporary file in the same directory is written, fsynced and renamed over the
    target, so a crash mid-save leaves the old file intact.

    >>> import probe, tempfile, os
    >>> from probe.serialization import save, load
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.pt")
    >>> save({"w": probe.ones(2), "step": 3}, path)
    >>> load(path)
    {'w': tensor([1., 1.]), 'step': 3}
    """
    if pickle_module is not None and pickle_module is not pickle:
        raise ValueError("probe.save never pickles objects, so pickle_module is not supported")
    if not _is_path(f) and not callable(getattr(f, "write", None)):
        raise AttributeError(
            f"probe.save expects a path or a binary file object with write(), got "
            f"{type(f).__name__}"
        )
    # Everything that can fail on bad input happens before the file is touched.
    enc = _Encoder()
    root = enc.encode(obj)
    blocks = _plan_storages(enc)
    storages, offset = [], 0
    for data, dev in blocks:
        offset = _align(offset)
        storages.append({"offset": offset, "nbytes": int(data.nbytes),
                         "crc32": zlib.crc32(data), "device": dev})
        offset += data.nbytes
    header = {"format": "probe", "version": FORMAT_VERSION, "byteorder": "little",
              "data_size": offset, "storages": storages, "tensors": enc.entries, "root": root}
    header_bytes = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("ascii")
    prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(header_bytes), zlib.crc32(header_bytes), 0)
    head_end = _PREFIX.size + len(header_bytes)
    head = prefix + header_bytes + bytes(_align(head_end) - head_end)

    def write(fh):
        _write_bytes(fh, head)
        pos = 0
        for (data, _), st in zip(blocks, storages):
            if st["offset"] > pos:
                _write_bytes(fh, bytes(st["offset"] - pos))
            if data.nbytes:
                _write_bytes(fh, memoryview(data))
            pos = st["offset"] + data.nbytes

    if _is_path(f):
        with atomic_write(f) as fh:
            write(fh)
    else:
        try:
            write(f)
        except TypeError as exc:
            raise TypeError(
                f"probe.save needs a file opened in binary mode ('wb'): {exc}"
            ) from None


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

_TAR_MAGIC_OFFSET = 257


def detect_format(head: bytes, size) -> str:
    """``"probe"``, ``"torch_zip"``, ``"torch_legacy"``, ``"safetensors"``, ``"tar"`` or
    ``"unknown"`` from a file's first bytes (at least 8; 262 to recognise tar archives)."""
    if head.startswith(MAGIC):
        return "probe"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "torch_zip"
    # The legacy torch format starts with a protocol-2 pickle of its magic number (a long).
    if head.startswith(b"\x80\x02\x8a\x0a"):
        return "torch_legacy"
    if len(head) >= 9 and head[8:9] == b"{":
        n = int.from_bytes(head[:8], "little")
        if size is None or n <= size - 8:
            return "safetensors"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "torch_legacy"  # a pickle of another protocol: the legacy reader checks it
    if head[_TAR_MAGIC_OFFSET:_TAR_MAGIC_OFFSET + 5] == b"ustar":
        return "tar"
    return "unknown"


@contextlib.contextmanager
def open_for_reading(f):
    """A seekable binary file for ``f`` (a path or a file object) and its display name."""
    if _is_path(f):
        with open(f, "rb") as fh:
            yield fh, os.fsdecode(os.fspath(f)), True
        return
    if not callable(getattr(f, "read", None)):
        raise AttributeError(
            f"probe.load expects a path or a binary file object with read(), got "
            f"{type(f).__name__}"
        )
    seekable = False
    with contextlib.suppress(AttributeError, OSError, ValueError):
        seekable = f.seekable()
    if not seekable:
        data = f.read()
        if not isinstance(data, bytes | bytearray):
            raise TypeError("probe.load needs a file opened in binary mode ('rb')")
        yield io.BytesIO(data), getattr(f, "name", "<stream>"), False
        return
    yield f, getattr(f, "name", "<file object>"), False


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None,
         **pickle_load_args):
    """Load an object saved by ``probe.save``, a PyTorch checkpoint (``torch.save``'s zip format,
    or the legacy format) or a ``.safetensors`` file, as ``torch.load``.

    Loading never runs code from the file: probe's format holds data only, and PyTorch's
    pickles go through an allow-list that rebuilds tensors and plain containers and refuses
    anything else (:class:`UnsafeCheckpointError`). ``weights_only`` is accepted for
    compatibility (loading is always weights-only), and so is ``mmap`` (files are read into
    memory). ``map_location`` is a device, a string, a ``{saved_location: new_location}`` dict
    or a callable ``(storage, location)``, as PyTorch's. A truncated or corrupted file raises
    :class:`CheckpointError`.

    >>> import probe, io
    >>> from probe.serialization import save, load
    >>> buf = io.BytesIO(); save([probe.arange(3)], buf); _ = buf.seek(0)
    >>> load(buf, map_location="cpu")
    [tensor([0, 1, 2])]
    """
    if pickle_module is not None and pickle_module is not pickle:
        raise ValueError("probe.load never unpickles arbitrary objects, so pickle_module is not "
                         "supported")
    with open_for_reading(f) as (fh, name, is_path):
        start = fh.tell()
        size = _remaining_size(fh)
        head = fh.read(_TAR_MAGIC_OFFSET + 5)
        fh.seek(start)
        if not head:
            raise CheckpointError(f"{name} is empty: it is not a checkpoint")
        kind = detect_format(head, size)
        if kind == "probe":
            return _load_probe(fh, size, map_location, check_end=is_path)
        if kind in ("torch_zip", "torch_legacy"):
            from .torch_pickle import _load_torch  # noqa: PLC0415

            return _load_torch(fh, kind, map_location,
                               encoding=pickle_load_args.get("encoding", "utf-8"))
        if kind == "safetensors":
            from .safetensors_io import read_safetensors  # noqa: PLC0415

            tensors, _ = read_safetensors(fh, size, map_location)
            return tensors
        if kind == "tar":
            raise CheckpointError(
                f"{name} is a tar-format PyTorch checkpoint (torch < 0.4), which probe does not "
                "read: re-save it with torch >= 1.6 (torch.save(torch.load(path), path))"
            )
        raise CheckpointError(
            f"{name} is not a checkpoint probe can read: it is neither probe's format, a PyTorch "
            f"checkpoint nor a safetensors file (it starts with {head[:8]!r})"
        )


def _truncated(what: str, expected: int, found: int) -> CheckpointError:
    return CheckpointError(
        f"checkpoint file is truncated: expected {expected} bytes of {what}, found {found}"
    )


def _malformed(msg: str) -> CheckpointError:
    return CheckpointError(f"malformed checkpoint header: {msg}")


def _is_int(x) -> bool:
    return type(x) is int


def _nonneg_ints(x, what):
    if type(x) is not list or not all(_is_int(v) and v >= 0 for v in x):
        raise _malformed(f"{what} must be a list of non-negative integers, got {x!r:.80}")
    return x


_LOADABLE_DTYPES = {d.name: d for d in _dt.ALL_DTYPES if d.np_dtype is not None}


def _reject_constant(name):
    raise ValueError(f"non-finite number {name} in the header")


def _load_probe(fh, size, map_location, check_end):
    prefix = fh.read(_PREFIX.size)
    if len(prefix) < _PREFIX.size:
        raise _truncated("file header", _PREFIX.size, len(prefix))
    _magic, version, hlen, hcrc, reserved = _PREFIX.unpack(prefix)
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"unsupported probe checkpoint version {version} (this probe reads version "
            f"{FORMAT_VERSION}); the file is corrupted or was written by a newer probe"
        )
    if reserved != 0:
        raise CheckpointError("checkpoint file is corrupted: reserved header field is not zero")
    available = None if size is None else size - _PREFIX.size
    if hlen > _MAX_HEADER_BYTES:
        raise CheckpointError(f"checkpoint file is corrupted: header length {hlen} is "
                              f"implausible (limit {_MAX_HEADER_BYTES})")
    if available is not None and hlen > available:
        raise _truncated("header", hlen, max(available, 0))
    header_bytes = fh.read(hlen)
    if len(header_bytes) < hlen:
        raise _truncated("header", hlen, len(header_bytes))
    crc = zlib.crc32(header_bytes)
    if crc != hcrc:
        raise CheckpointError(
            f"checkpoint file is corrupted: header checksum mismatch (stored {hcrc:08x}, "
            f"computed {crc:08x})"
        )
    try:
        header = json.loads(header_bytes, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise _malformed(f"invalid JSON ({exc})") from None
    storages, entries, data_size = _validate_header(header)
    head_end = _PREFIX.size + hlen
    pad = fh.read(_align(head_end) - head_end)
    if len(pad) < _align(head_end) - head_end:
        raise _truncated("header padding", _align(head_end) - head_end, len(pad))
    if pad.count(0) != len(pad):
        raise CheckpointError("checkpoint file is corrupted: non-zero bytes in header padding")
    if size is not None and size - _align(head_end) < data_size:
        raise _truncated("tensor data", data_size, max(size - _align(head_end), 0))

    buffers, pos = [], 0
    for i, st in enumerate(storages):
        gap = st["offset"] - pos
        if gap:
            filler = fh.read(gap)
            if len(filler) < gap:
                raise _truncated("tensor data", data_size, pos + len(filler))
            if filler.count(0) != gap:
                raise CheckpointError("checkpoint file is corrupted: non-zero bytes between "
                                      "tensor data blocks")
        try:
            buf = np.empty(st["nbytes"], np.uint8)
        except (MemoryError, ValueError):
            raise CheckpointError(f"cannot allocate {st['nbytes']} bytes for storage {i}") from None
        got = read_exact_into(fh, buf)
        if got < st["nbytes"]:
            raise _truncated("tensor data", data_size, st["offset"] + got)
        crc = zlib.crc32(buf)
        if crc != st["crc32"]:
            users = [e["name"] for e in entries if e["storage"] == i][:3]
            raise CheckpointError(
                f"checkpoint file is corrupted: checksum mismatch in the data of "
                f"{', '.join(map(str, users)) or f'storage {i}'} (stored {st['crc32']:08x}, "
                f"computed {crc:08x})"
            )
        buffers.append(buf)
        pos = st["offset"] + st["nbytes"]
    if pos != data_size:
        tail = fh.read(data_size - pos)
        if len(tail) < data_size - pos:
            raise _truncated("tensor data", data_size, pos + len(tail))
        if tail.count(0) != len(tail):
            raise CheckpointError("checkpoint file is corrupted: non-zero bytes after the data")
    if check_end:
        extra = fh.read(1)
        if extra:
            raise CheckpointError("checkpoint file is corrupted: unexpected bytes after the end "
                                  "of the tensor data")

    devices = {}

    def device_of(i):
        dev = devices.get(i)
        if dev is None:
            dev = devices[i] = resolve_location(
                storages[i]["device"], map_location, lambda: _wrap(buffers[i], CPU))
        return dev

    values = []
    for entry in entries:
        try:
            values.append(_build_tensor(entry, buffers[entry["storage"]], device_of))
        except (ValueError, MemoryError) as exc:
            raise _malformed(f"cannot build {entry.get('name')!r:.60}: {exc}") from None
    try:
        return _decode(header["root"], values)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError,
            OverflowError, RuntimeError) as exc:
        raise _malformed(f"bad object tree ({type(exc).__name__}: {exc})") from None


def _validate_header(header):
    if type(header) is not dict:
        raise _malformed("the header is not a JSON object")
    for key in ("storages", "tensors", "data_size", "root"):
        if key not in header:
            raise _malformed(f"missing field '{key}'")
    if header.get("format") != "probe" or header.get("byteorder") != "little":
        raise _malformed("unknown format or byte order")
    data_size = header["data_size"]
    if not _is_int(data_size) or data_size < 0:
        raise _malformed("data_size must be a non-negative integer")
    storages, entries = header["storages"], header["tensors"]
    if type(storages) is not list or type(entries) is not list:
        raise _malformed("storages and tensors must be lists")
    pos = 0
    for i, st in enumerate(storages):
        if (type(st) is not dict or not all(_is_int(st.get(k)) for k in ("offset", "nbytes",
                                                                         "crc32"))
                or type(st.get("device")) is not str):
            raise _malformed(f"storage {i} is not a valid record")
        if st["offset"] < pos or st["nbytes"] < 0 or st["offset"] + st["nbytes"] > data_size:
            raise _malformed(f"storage {i} lies outside the data section or overlaps another")
        pos = st["offset"] + st["nbytes"]
    for i, e in enumerate(entries):
        if type(e) is not dict:
            raise _malformed(f"tensor {i} is not a valid record")
        if not _is_int(e.get("storage")) or not 0 <= e["storage"] < len(storages):
            raise _malformed(f"tensor {i} refers to a missing storage")
        if e.get("dtype") not in _LOADABLE_DTYPES:
            raise _malformed(f"tensor {i} has unknown dtype {e.get('dtype')!r:.40}")
        shape = _nonneg_ints(e.get("shape"), f"tensor {i} shape")
        strides = e.get("strides")
        if (type(strides) is not list or len(strides) != len(shape)
                or not all(_is_int(s) for s in strides)):
            raise _malformed(f"tensor {i} strides must be {len(shape)} integers")
        offset = e.get("offset")
        if not _is_int(offset) or offset < 0:
            raise _malformed(f"tensor {i} offset must be a non-negative integer")
        if e.get("kind") not in ("tensor", "ndarray"):
            raise _malformed(f"tensor {i} has unknown kind {e.get('kind')!r:.40}")
        if type(e.get("requires_grad")) is not bool or type(e.get("param")) is not bool:
            raise _malformed(f"tensor {i} flags must be booleans")
        itemsize = _LOADABLE_DTYPES[e["dtype"]].itemsize
        if not check_bounds(shape, strides, offset, itemsize, storages[e["storage"]]["nbytes"]):
            raise _malformed(f"tensor {i} ({e.get('name')!r:.60}) reaches outside its storage")
    return storages, entries, data_size


_MAX_NUMEL = 1 << 50


def check_bounds(shape, strides, offset, itemsize, nbytes) -> bool:
    """Whether a view (byte ``strides`` and ``offset``) stays inside ``nbytes`` bytes."""
    numel = math.prod(shape)
    if numel == 0:
        return numel <= _MAX_NUMEL and offset <= nbytes
    if numel > _MAX_NUMEL:
        return False
    lo = hi = offset
    for n, s in zip(shape, strides):
        if s < 0:
            lo += (n - 1) * s
        else:
            hi += (n - 1) * s
    return lo >= 0 and hi + itemsize <= nbytes


def _build_tensor(entry, buf, device_of):
    d = _LOADABLE_DTYPES[entry["dtype"]]
    np_dtype = d.np_dtype.newbyteorder("<") if d.itemsize > 1 else d.np_dtype
    shape = tuple(entry["shape"])
    if math.prod(shape) == 0:
        arr = np.empty(shape, np_dtype)
    else:
        arr = np.ndarray(shape, np_dtype, buffer=buf, offset=entry["offset"],
                         strides=tuple(entry["strides"]))
    if not _LITTLE:
        arr = arr.astype(np_dtype.newbyteorder("="))
    if d is _dt.bool and arr.size and arr.view(np.uint8).max() > 1:
        raise CheckpointError(f"checkpoint file is corrupted: invalid boolean values in "
                              f"{entry.get('name')}")
    if entry["kind"] == "ndarray":
        return arr
    dev = device_of(entry["storage"])
    t = _wrap(host_to(arr, dev), dev)
    if entry["param"]:
        return make_parameter(t, entry["requires_grad"])
    if entry["requires_grad"] and arr.dtype.kind in "fc":
        t._requires_grad = True
    return t


_SPECIAL_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _decode_float(node):
    if type(node) is float or type(node) is int:
        return float(node)
    if type(node) is dict and node.get("$") == "float":
        return _SPECIAL_FLOATS[node["v"]]
    raise _malformed(f"expected a float, got {node!r:.60}")


def _decode(node, tensors):
    t = type(node)
    if node is None or t is bool or t is int or t is float or t is str:
        return node
    if t is list:
        return [_decode(v, tensors) for v in node]
    if t is not dict:
        raise _malformed(f"unexpected value {node!r:.60}")
    tag = node.get("$")
    if tag == "tensor":
        i = node["i"]
        if not _is_int(i) or not 0 <= i < len(tensors):
            raise _malformed(f"tensor reference {i!r:.20} out of range")
        return tensors[i]
    if tag == "dict" or tag == "odict":
        out = OrderedDict() if tag == "odict" else {}
        for key, value in node["items"]:
            out[_decode(key, tensors)] = _decode(value, tensors)
        if tag == "odict" and "metadata" in node:
            metadata = _decode(node["metadata"], tensors)
            if not isinstance(metadata, dict):
                raise _malformed("an OrderedDict's metadata must be a dict")
            out._metadata = metadata
        return out
    if tag == "tuple":
        return tuple(_decode(v, tensors) for v in node["items"])
    if tag == "set":
        return {_decode(v, tensors) for v in node["items"]}
    if tag == "frozenset":
        return frozenset(_decode(v, tensors) for v in node["items"])
    if tag == "float":
        return _decode_float(node)
    if tag == "complex":
        return complex(_decode_float(node["re"]), _decode_float(node["im"]))
    if tag == "size":
        return Size(_nonneg_ints(node["items"], "a Size"))
    if tag == "bytes" or tag == "bytearray":
        data = base64.b64decode(node["b64"].encode("ascii"), validate=True)
        return bytearray(data) if tag == "bytearray" else data
    if tag == "dtype":
        name = node["name"]
        if type(name) is not str or name not in _dt._BY_NAME:
            raise _malformed(f"unknown dtype {name!r:.40}")
        return _dt._BY_NAME[name]
    if tag == "device":
        if type(node["name"]) is not str:
            raise _malformed("device name must be a string")
        return device(node["name"])
    raise _malformed(f"unknown tag {tag!r:.40}")
