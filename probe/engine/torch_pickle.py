"""Reading PyTorch checkpoints (``torch.save`` files) without torch, and without running code.

``torch.save`` writes a zip archive: ``<name>/data.pkl`` is a pickle of the object tree in which
each tensor is a call to ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``
and each storage a persistent id ``("storage", torch.FloatStorage, key, location, numel)``
whose bytes are the record ``<name>/data/<key>``. Older releases (< 1.6) wrote the "legacy"
format: five pickles in a row (magic number, protocol version, system info, the object tree,
the storage keys) followed by the raw storages.

A pickle is a program: loading one with ``pickle.load`` can call any importable function. This
reader runs the pickle on an unpickler whose ``find_class`` hands out only an allow-list of
harmless stand-ins (probe's own tensor rebuilders, ``OrderedDict``, ``set``...), never the named
objects themselves, and whose opcodes that call or mutate objects (REDUCE, NEWOBJ, BUILD,
SETITEMS, ...) accept only those stand-ins and plain containers. Anything else raises
:class:`UnsafeCheckpointError` naming what the file asked for, before it can run.
"""

from __future__ import annotations

import io
import math
import pickle
import struct
import warnings
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from . import dtypes as _dt
from .backend import CPU, device
from .serialization import (
    CheckpointError,
    UnsafeCheckpointError,
    _parameter_class,
    check_bounds,
    detect_format,
    host_to,
    open_for_reading,
    read_exact_into,
    resolve_location,
)
from .tensor import Size, _wrap

__all__ = ["load_torch_checkpoint"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

# Element types: name -> (NumPy type code of the stored element, itemsize).
_ELEMENT = {
    "bool": ("?", 1), "uint8": ("u1", 1), "int8": ("i1", 1), "int16": ("i2", 2),
    "int32": ("i4", 4), "int64": ("i8", 8), "float16": ("f2", 2), "bfloat16": ("u2", 2),
    "float32": ("f4", 4), "float64": ("f8", 8), "complex64": ("c8", 8),
    "complex128": ("c16", 16), "uint16": ("u2", 2), "uint32": ("u4", 4), "uint64": ("u8", 8),
}
# Types probe has no tensor for, loaded as the nearest type that holds every value.
_WIDENED = {"bfloat16": "float32", "uint16": "int32", "uint32": "int64", "uint64": "int64"}

_STORAGE_TYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128", "UntypedStorage": "uint8",
}

_TORCH_DTYPES = {
    "float32": "float32", "float": "float32", "float64": "float64", "double": "float64",
    "float16": "float16", "half": "float16", "bfloat16": "bfloat16", "int64": "int64",
    "long": "int64", "int32": "int32", "int": "int32", "int16": "int16", "short": "int16",
    "int8": "int8", "uint8": "uint8", "bool": "bool", "complex64": "complex64",
    "cfloat": "complex64", "complex128": "complex128", "cdouble": "complex128",
    "uint16": "uint16", "uint32": "uint32", "uint64": "uint64", "float8_e4m3fn": None,
    "float8_e5m2": None, "float8_e4m3fnuz": None, "float8_e5m2fnuz": None, "complex32": None,
    "chalf": None,
}


class _StorageType:
    """Stand-in for ``torch.FloatStorage`` & co.: only its element type matters."""

    __slots__ = ("name", "dtype")

    def __init__(self, name, dtype):
        self.name, self.dtype = name, dtype

    def __repr__(self):
        return f"torch.{self.name}"


class _TorchDtype:
    """Stand-in for a torch dtype probe has no tensor type for (``torch.uint16``...)."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"torch.{self.name}"


class _TypeMarker:
    """Stand-in for ``torch.Tensor`` / ``torch.nn.Parameter`` as arguments of rebuilders."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


_TENSOR_TYPE = _TypeMarker("torch.Tensor")
_PARAMETER_TYPE = _TypeMarker("torch.nn.Parameter")


class _Storage:
    """A storage's bytes (a uint8 array, filled once read) and where it was saved."""

    __slots__ = ("key", "dtype", "numel", "location", "raw", "parent", "elem_offset", "typed")

    def __init__(self, key, dtype, numel, location, raw=None, parent=None, elem_offset=0):
        self.key, self.dtype, self.numel, self.location = key, dtype, numel, location
        self.raw, self.parent, self.elem_offset = raw, parent, elem_offset
        self.typed = {}

    def root(self):
        return self if self.parent is None else self.parent


def _encode_latin1(text, encoding="latin1"):
    # ``_codecs.encode`` as protocol-2 pickles use it for bytes: nothing but latin-1 text.
    if type(text) is not str or encoding not in ("latin1", "latin-1"):
        raise UnsafeCheckpointError("refusing _codecs.encode with arguments other than "
                                    "(str, 'latin1')")
    return text.encode("latin-1")


def _bytearray(*args):
    if not args:
        return bytearray()
    if len(args) == 1 and isinstance(args[0], bytes | bytearray):
        return bytearray(args[0])
    if len(args) == 2 and type(args[0]) is str and args[1] in ("latin1", "latin-1"):
        return bytearray(args[0].encode("latin-1"))
    raise UnsafeCheckpointError("refusing bytearray() with arguments other than bytes or "
                                "latin-1 text")


def _complex(*args):
    if not all(isinstance(a, int | float) for a in args) or len(args) > 2:
        raise UnsafeCheckpointError("refusing complex() with non-numeric arguments")
    return complex(*args)


def _size(items=()):
    items = tuple(items)
    if not all(type(n) is int for n in items):
        raise CheckpointError("malformed checkpoint: torch.Size of non-integers")
    return Size(items)


def _device(kind, index=None):
    if type(kind) is not str or not (index is None or type(index) is int):
        raise CheckpointError("malformed checkpoint: bad torch.device arguments")
    return device(kind, index)


def _int_tuple(x, what):
    if not isinstance(x, tuple | list) or not all(type(v) is int and v >= 0 for v in x):
        raise CheckpointError(f"malformed checkpoint: tensor {what} must be non-negative "
                              f"integers, got {x!r:.80}")
    return tuple(x)


_SAFE_TYPES = (OrderedDict, set, frozenset, dict, list, tuple)


class _Reader:
    """One load: the allow-list (bound to this load), storages, and the tensors to fill in."""

    def __init__(self, map_location, big_endian):
        self.map_location = map_location
        self.big_endian = big_endian
        self.storages = {}
        self.views = {}
        self.pending = []   # (tensor, spec)
        self.specs = {}     # id(tensor) -> spec
        self.devices = {}
        self.warned = set()
        from_type = self.rebuild_from_type_v2  # each attribute access makes a new bound method
        rebuilders = {
            "_rebuild_tensor": self.rebuild_tensor,
            "_rebuild_tensor_v2": self.rebuild_tensor_v2,
            "_rebuild_tensor_v3": self.rebuild_tensor_v3,
            "_rebuild_parameter": self.rebuild_parameter,
            "_rebuild_parameter_with_state": self.rebuild_parameter_with_state,
        }
        allowed = {("torch._utils", k): v for k, v in rebuilders.items()}
        allowed[("torch._tensor", "_rebuild_from_type_v2")] = from_type
        allowed[("torch.tensor", "_rebuild_from_type_v2")] = from_type
        for name, dtype in _STORAGE_TYPES.items():
            marker = _StorageType(name, dtype)
            allowed[("torch", name)] = marker
            allowed[("torch.cuda", name)] = marker
            allowed[("torch.storage", name)] = marker
        for name, canonical in _TORCH_DTYPES.items():
            if canonical is not None and canonical in _dt._BY_NAME and canonical not in _WIDENED:
                allowed[("torch", name)] = _dt._BY_NAME[canonical]
            else:
                allowed[("torch", name)] = _TorchDtype(canonical or name)
        allowed[("torch", "Size")] = _size
        allowed[("torch", "device")] = _device
        allowed[("torch", "Tensor")] = _TENSOR_TYPE
        allowed[("torch._tensor", "Tensor")] = _TENSOR_TYPE
        allowed[("torch.nn.parameter", "Parameter")] = _PARAMETER_TYPE
        allowed[("collections", "OrderedDict")] = OrderedDict
        for module in ("builtins", "__builtin__"):
            allowed[(module, "set")] = set
            allowed[(module, "frozenset")] = frozenset
            allowed[(module, "complex")] = _complex
            allowed[(module, "bytearray")] = _bytearray
        allowed[("_codecs", "encode")] = _encode_latin1
        self.allowed = allowed
        callables = [*rebuilders.values(), from_type, _size, _device, _complex,
                     _bytearray, _encode_latin1, OrderedDict, set, frozenset]
        self.callable_ids = {id(c) for c in callables}
        self._keep = callables  # the ids above stay valid while this reader lives
        self.rebuilder_ids = {id(c) for c in rebuilders.values()}

    # -------------------------------------------------------------- rebuilders (allow-listed)
    def _tensor(self, storage, dtype, offset, size, stride, requires_grad, metadata):
        if not isinstance(storage, _Storage):
            raise CheckpointError("malformed checkpoint: a tensor's storage is not a storage")
        if type(offset) is not int or offset < 0:
            raise CheckpointError("malformed checkpoint: bad tensor storage offset")
        size, stride = _int_tuple(size, "size"), _int_tuple(stride, "stride")
        if len(size) != len(stride):
            raise CheckpointError("malformed checkpoint: tensor size and stride differ in length")
        if dtype not in _ELEMENT:
            raise CheckpointError(f"cannot load a tensor of dtype torch.{dtype}: probe has no "
                                  "such dtype")
        itemsize = _ELEMENT[dtype][1]
        nbytes = storage.numel * _ELEMENT[storage.dtype][1]
        if not check_bounds(size, [s * itemsize for s in stride], offset * itemsize, itemsize,
                            nbytes):
            raise CheckpointError(
                f"malformed checkpoint: a tensor of size {list(size)} and stride {list(stride)} "
                f"at offset {offset} reaches outside its storage of {nbytes} bytes"
            )
        if metadata is not None and not isinstance(metadata, dict):
            raise CheckpointError("malformed checkpoint: bad tensor metadata")
        t = _wrap(_PLACEHOLDER, CPU)
        spec = [storage, dtype, offset, size, stride, requires_grad is True, metadata]
        self.specs[id(t)] = spec
        self.pending.append((t, spec))
        return t

    def rebuild_tensor(self, storage, storage_offset, size, stride):
        dtype = storage.dtype if isinstance(storage, _Storage) else None
        return self._tensor(storage, dtype, storage_offset, size, stride, False, None)

    def rebuild_tensor_v2(self, storage, storage_offset, size, stride, requires_grad=False,
                          backward_hooks=None, metadata=None):
        dtype = storage.dtype if isinstance(storage, _Storage) else None
        return self._tensor(storage, dtype, storage_offset, size, stride, requires_grad,
                            metadata)

    def rebuild_tensor_v3(self, storage, storage_offset, size, stride, requires_grad,
                          backward_hooks, dtype, metadata=None):
        if isinstance(dtype, _dt.dtype):
            name = dtype.name
        elif isinstance(dtype, _TorchDtype):
            name = dtype.name
        else:
            raise CheckpointError("malformed checkpoint: _rebuild_tensor_v3 without a dtype")
        return self._tensor(storage, name, storage_offset, size, stride, requires_grad,
                            metadata)

    def _as_parameter(self, data, requires_grad):
        spec = self.specs.get(id(data))
        if spec is None:
            raise CheckpointError("malformed checkpoint: a parameter's data is not a tensor")
        t = _wrap(_PLACEHOLDER, CPU)
        spec = [*spec[:5], requires_grad is True, spec[6]]
        cls = _parameter_class[0]
        if cls is not None:
            t.__class__ = cls  # a Parameter is a Tensor with another class, nothing more
        self.specs[id(t)] = spec
        self.pending.append((t, spec))
        return t

    def rebuild_parameter(self, data, requires_grad, backward_hooks):
        return self._as_parameter(data, requires_grad)

    def rebuild_parameter_with_state(self, data, requires_grad, backward_hooks, state):
        # The state holds Python attributes set on the parameter; probe keeps only the data.
        return self._as_parameter(data, requires_grad)

    def rebuild_from_type_v2(self, func, new_type, args, state):
        if id(func) not in self.rebuilder_ids or type(args) is not tuple:
            raise UnsafeCheckpointError(
                f"refusing _rebuild_from_type_v2 with {func!r:.60}: only tensor rebuilders "
                "are allowed"
            )
        if new_type is not _TENSOR_TYPE and new_type is not _PARAMETER_TYPE:
            raise UnsafeCheckpointError(
                f"refusing to rebuild a tensor as {new_type!r:.60}: only torch.Tensor and "
                "torch.nn.Parameter are allowed"
            )
        result = func(*args)
        if new_type is _PARAMETER_TYPE and id(result) in self.specs:
            spec = self.specs[id(result)]
            return self._as_parameter(result, spec[5])
        return result

    # -------------------------------------------------------------- storages
    def typed_array(self, storage, dtype):
        """The storage's elements as a 1-D native array of ``dtype`` (widened if needed)."""
        cached = storage.typed.get(dtype)
        if cached is not None:
            return cached
        if storage.parent is not None:
            base = self.typed_array(storage.parent, dtype)
            arr = base[storage.elem_offset:storage.elem_offset + storage.numel]
        else:
            raw = storage.raw
            if raw is None:
                raise CheckpointError(f"checkpoint file is truncated: the data of storage "
                                      f"{storage.key!r} is missing")
            code, itemsize = _ELEMENT[dtype]
            if raw.size % itemsize:
                raise CheckpointError(f"malformed checkpoint: storage {storage.key!r} holds "
                                      f"{raw.size} bytes, not a whole number of {dtype}")
            np_type = np.dtype(code)
            if itemsize > 1:
                np_type = np_type.newbyteorder(">" if self.big_endian else "<")
            arr = raw.view(np_type)
            if not arr.dtype.isnative:
                arr = arr.astype(arr.dtype.newbyteorder("="))
            arr = self._widen(arr, dtype)
        storage.typed[dtype] = arr
        return arr

    def _widen(self, arr, dtype):
        target = _WIDENED.get(dtype)
        if target is None:
            return arr
        if dtype not in self.warned:
            self.warned.add(dtype)
            warnings.warn(
                f"the checkpoint holds {dtype} tensors, which probe cannot store (NumPy has no "
                f"{dtype}); they are loaded as {target}",
                UserWarning, stacklevel=6,
            )
        if dtype == "bfloat16":
            return (arr.astype(np.uint32) << 16).view(np.float32)
        if dtype == "uint64" and arr.size and int(arr.max()) >= 1 << 63:
            raise CheckpointError("cannot load a uint64 tensor with values >= 2**63: probe has "
                                  "no uint64 dtype")
        return arr.astype(target)

    def device_for(self, storage):
        root = storage.root()
        dev = self.devices.get(id(root))
        if dev is None:
            dev = resolve_location(root.location, self.map_location,
                                   lambda: _wrap(self.typed_array(root, root.dtype), CPU))
            self.devices[id(root)] = dev
        return dev

    def finalize(self):
        """Give every rebuilt tensor its data, once all storages have been read."""
        for t, spec in self.pending:
            storage, dtype, offset, size, stride, requires_grad, metadata = spec
            typed = self.typed_array(storage, dtype)
            item = typed.itemsize
            if math.prod(size) == 0:
                arr = np.empty(size, typed.dtype)
            else:
                arr = np.ndarray(size, typed.dtype, buffer=typed, offset=offset * item,
                                 strides=tuple(s * item for s in stride))
            if metadata:
                if metadata.get("conj"):
                    arr = arr.conj()
                if metadata.get("neg"):
                    arr = -arr
            dev = self.device_for(storage)
            t._data = host_to(arr, dev)
            t._device = dev
            if requires_grad and arr.dtype.kind in "fc":
                t._requires_grad = True


_PLACEHOLDER = np.empty(0, np.float32)


class _SafeUnpickler(pickle._Unpickler):
    """The pure-Python unpickler (its opcode table can be overridden, the C one's cannot) with
    every opcode that looks up or calls objects restricted to the reader's allow-list."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, reader, persistent_load=None, encoding="utf-8"):
        super().__init__(file, encoding=encoding)
        self._reader = reader
        self._persistent = persistent_load

    def find_class(self, module, name):
        obj = self._reader.allowed.get((module, name))
        if obj is None:
            hint = ""
            if module.startswith("torch.nn.modules") or module == "__main__":
                hint = " (the file pickles a whole model: save model.state_dict() instead)"
            raise UnsafeCheckpointError(
                f"refusing to load global '{module}.{name}' from checkpoint: only tensors and "
                f"plain containers are allowed{hint}"
            )
        return obj

    def persistent_load(self, pid):
        if self._persistent is None:
            raise CheckpointError("malformed checkpoint: unexpected persistent id")
        return self._persistent(pid)

    def _check_callable(self, func):
        if id(func) not in self._reader.callable_ids:
            raise UnsafeCheckpointError(
                f"refusing to call {type(func).__name__} {func!r:.60} while loading a "
                "checkpoint: only tensor rebuilders and plain containers are allowed"
            )

    def _instantiate(self, klass, args):  # INST and OBJ
        self._check_callable(klass)
        self.append(klass(*args))

    def load_reduce(self):
        stack = self.stack
        args = stack.pop()
        func = stack[-1]
        self._check_callable(func)
        if type(args) is not tuple:
            raise CheckpointError("malformed checkpoint: REDUCE arguments are not a tuple")
        stack[-1] = func(*args)

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        if cls not in _SAFE_TYPES or type(args) is not tuple:
            raise UnsafeCheckpointError(f"refusing to create {cls!r:.60} while loading a "
                                        "checkpoint")
        self.append(cls.__new__(cls, *args))

    def load_newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        if cls not in _SAFE_TYPES or type(args) is not tuple or kwargs:
            raise UnsafeCheckpointError(f"refusing to create {cls!r:.60} while loading a "
                                        "checkpoint")
        self.append(cls.__new__(cls, *args))

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is not OrderedDict:
            raise UnsafeCheckpointError(
                f"refusing to set the state of a {type(inst).__name__} while loading a "
                "checkpoint: only an OrderedDict's attributes (a state_dict's _metadata) may be set"
            )
        if isinstance(state, tuple) and len(state) == 2:
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            raise CheckpointError("malformed checkpoint: BUILD state is not a dict")
        for key, value in state.items():
            if type(key) is not str or key.startswith("__"):
                raise UnsafeCheckpointError(f"refusing to set attribute {key!r:.60} while "
                                            "loading a checkpoint")
            inst.__dict__[key] = value

    def load_append(self):
        value = self.stack.pop()
        target = self.stack[-1]
        if type(target) is not list:
            raise UnsafeCheckpointError(f"refusing to append to a {type(target).__name__}")
        target.append(value)

    def load_appends(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not list:
            raise UnsafeCheckpointError(f"refusing to append to a {type(target).__name__}")
        target.extend(items)

    def load_setitem(self):
        value = self.stack.pop()
        key = self.stack.pop()
        target = self.stack[-1]
        if type(target) is not dict and type(target) is not OrderedDict:
            raise UnsafeCheckpointError(f"refusing to set items of a {type(target).__name__}")
        target[key] = value

    def load_setitems(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not dict and type(target) is not OrderedDict:
            raise UnsafeCheckpointError(f"refusing to set items of a {type(target).__name__}")
        for i in range(0, len(items) - 1, 2):
            target[items[i]] = items[i + 1]

    def load_additems(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not set:
            raise UnsafeCheckpointError(f"refusing to add items to a {type(target).__name__}")
        target.update(items)

    def load_ext(self):
        raise UnsafeCheckpointError("refusing copyreg extension codes in a checkpoint")

    for _op, _fn in ((pickle.REDUCE, load_reduce), (pickle.NEWOBJ, load_newobj),
                     (pickle.NEWOBJ_EX, load_newobj_ex), (pickle.BUILD, load_build),
                     (pickle.APPEND, load_append), (pickle.APPENDS, load_appends),
                     (pickle.SETITEM, load_setitem), (pickle.SETITEMS, load_setitems),
                     (pickle.ADDITEMS, load_additems), (pickle.EXT1, load_ext),
                     (pickle.EXT2, load_ext), (pickle.EXT4, load_ext)):
        dispatch[_op[0]] = _fn
    del _op, _fn


# ---------------------------------------------------------------------------------------------
# Zip (torch >= 1.6) and legacy formats
# ---------------------------------------------------------------------------------------------

_LOCAL_HEADER = struct.Struct("<4s5HI2I2H")


def _read_record(zf, fh, info, file_size):
    """A zip record's bytes as a writable uint8 array, read straight from the file and checked
    against the record's CRC-32."""
    if info.header_offset + _LOCAL_HEADER.size + info.file_size > file_size:
        raise CheckpointError(f"checkpoint file is truncated: record {info.filename!r} claims "
                              f"{info.file_size} bytes beyond the end of the file")
    if info.flag_bits & 0x1:
        raise CheckpointError(f"record {info.filename!r} of the checkpoint is encrypted")
    if info.compress_type != zipfile.ZIP_STORED:
        data = zf.read(info)  # compressed: let zipfile inflate it (it checks the CRC)
        return np.frombuffer(bytearray(data), np.uint8)
    fh.seek(info.header_offset)
    local = fh.read(_LOCAL_HEADER.size)
    if len(local) < _LOCAL_HEADER.size or local[:4] != b"PK\x03\x04":
        raise CheckpointError(f"corrupted PyTorch checkpoint: bad zip header for record "
                              f"{info.filename!r}")
    name_len, extra_len = _LOCAL_HEADER.unpack(local)[-2:]
    fh.seek(info.header_offset + _LOCAL_HEADER.size + name_len + extra_len)
    raw = np.empty(info.file_size, np.uint8)
    got = read_exact_into(fh, raw)
    if got < info.file_size:
        raise CheckpointError(f"checkpoint file is truncated: expected {info.file_size} bytes "
                              f"of record {info.filename!r}, found {got}")
    # torch can be told not to compute CRCs (it then stores 0); otherwise they must match.
    crc = zlib.crc32(raw)
    if info.CRC != crc and info.CRC != 0:
        raise CheckpointError(f"checkpoint file is corrupted: checksum mismatch in record "
                              f"{info.filename!r} (stored {info.CRC:08x}, computed {crc:08x})")
    return raw


def _check_storage_id(pid, length):
    if type(pid) is not tuple or len(pid) != length or pid[0] != "storage":
        if type(pid) is tuple and pid and pid[0] == "module":
            raise UnsafeCheckpointError("refusing to load a pickled nn.Module class from the "
                                        "checkpoint: only tensors and plain containers are allowed")
        raise CheckpointError(f"malformed checkpoint: unexpected persistent id {pid!r:.80}")
    _, stype, key, location, numel = pid[:5]
    if not isinstance(stype, _StorageType):
        raise CheckpointError(f"malformed checkpoint: unknown storage type {stype!r:.60}")
    if type(key) is not str or type(location) is not str or type(numel) is not int or numel < 0:
        raise CheckpointError(f"malformed checkpoint: bad storage record {pid!r:.80}")
    return stype.dtype, key, location, numel


def _load_zip(fh, map_location, encoding):
    try:
        zf = zipfile.ZipFile(fh)
    except zipfile.BadZipFile as exc:
        raise CheckpointError(f"corrupted or truncated PyTorch checkpoint (bad zip archive: "
                              f"{exc})") from None
    infos = {info.filename: info for info in zf.infolist()}
    file_size = fh.seek(0, io.SEEK_END)
    candidates = [n for n in infos if n.endswith("/data.pkl") and n.count("/") == 1]
    if not candidates and "data.pkl" in infos:
        candidates = ["data.pkl"]
    if len(candidates) != 1:
        raise CheckpointError(
            "this zip archive is not a PyTorch checkpoint: expected one '<name>/data.pkl' "
            f"record, found {len(candidates)}"
        )
    prefix = candidates[0][:-len("data.pkl")]
    if prefix + "constants.pkl" in infos or any(n.startswith(prefix + "code/") for n in infos):
        raise CheckpointError(
            "this is a TorchScript archive (torch.jit.save), which holds code; probe reads "
            "torch.save checkpoints: save model.state_dict() with torch.save instead"
        )
    byteorder = b"little"
    if prefix + "byteorder" in infos:
        byteorder = _read_record(zf, fh, infos[prefix + "byteorder"], file_size).tobytes()
        if byteorder not in (b"little", b"big"):
            raise CheckpointError(f"malformed checkpoint: unknown byte order {byteorder!r:.20}")
    reader = _Reader(map_location, byteorder == b"big")

    def persistent_load(pid):
        dtype, key, location, numel = _check_storage_id(pid, 5)
        storage = reader.storages.get(key)
        if storage is None:
            info = infos.get(f"{prefix}data/{key}")
            if info is None:
                raise CheckpointError(f"checkpoint is missing the data of storage {key!r}")
            nbytes = numel * _ELEMENT[dtype][1]
            if info.file_size < nbytes:
                raise CheckpointError(f"malformed checkpoint: storage {key!r} needs {nbytes} "
                                      f"bytes, its record holds {info.file_size}")
            raw = _read_record(zf, fh, info, file_size)[:nbytes]
            storage = reader.storages[key] = _Storage(key, dtype, numel, location, raw)
        elif storage.dtype != dtype:
            storage = _Storage(key, dtype, numel, location, storage.raw)
        return storage

    pickled = _read_record(zf, fh, infos[candidates[0]], file_size).tobytes()
    result = _SafeUnpickler(io.BytesIO(pickled), reader, persistent_load, encoding).load()
    return reader, result


def _load_legacy(fh, map_location, encoding):
    meta = _Reader(None, False)

    def load_plain():
        return _SafeUnpickler(fh, meta, None, encoding).load()

    if load_plain() != _LEGACY_MAGIC:
        raise CheckpointError(
            "this is a pickle file but not a PyTorch checkpoint (no legacy magic number); "
            "probe never unpickles arbitrary objects"
        )
    version = load_plain()
    if version != _LEGACY_PROTOCOL:
        raise CheckpointError(f"unsupported legacy PyTorch checkpoint protocol {version!r:.20}")
    sys_info = load_plain()
    little = sys_info.get("little_endian", True) if isinstance(sys_info, dict) else True
    reader = _Reader(map_location, not little)

    def persistent_load(pid):
        dtype, key, location, numel = _check_storage_id(pid, 6)
        storage = reader.storages.get(key)
        if storage is None:
            storage = reader.storages[key] = _Storage(key, dtype, numel, location)
        view = pid[5]
        if view is None:
            return storage
        if (type(view) is not tuple or len(view) != 3 or type(view[0]) is not str
                or not all(type(v) is int and v >= 0 for v in view[1:])
                or view[1] + view[2] > storage.numel):
            raise CheckpointError(f"malformed checkpoint: bad storage view {view!r:.80}")
        if view[0] not in reader.views:
            reader.views[view[0]] = _Storage(view[0], dtype, view[2], location,
                                             parent=storage, elem_offset=view[1])
        return reader.views[view[0]]

    result = _SafeUnpickler(fh, reader, persistent_load, encoding).load()
    keys = load_plain()
    if type(keys) is not list:
        raise CheckpointError("malformed legacy checkpoint: the storage key list is missing")
    order = "little" if little else "big"
    for key in keys:
        storage = reader.storages.get(key)
        if storage is None or storage.raw is not None:
            raise CheckpointError(f"malformed legacy checkpoint: unexpected storage {key!r:.40}")
        head = fh.read(8)
        if len(head) < 8:
            raise CheckpointError("checkpoint file is truncated: a storage's data is missing")
        numel = int.from_bytes(head, order, signed=True)
        nbytes = numel * _ELEMENT[storage.dtype][1]
        if numel < storage.numel:
            raise CheckpointError(f"malformed legacy checkpoint: storage {key!r} holds {numel} "
                                  f"elements, {storage.numel} are used")
        raw = np.empty(nbytes, np.uint8)
        got = read_exact_into(fh, raw)
        if got < nbytes:
            raise CheckpointError(f"checkpoint file is truncated: expected {nbytes} bytes of "
                                  f"tensor data, found {got}")
        storage.raw = raw[:storage.numel * _ELEMENT[storage.dtype][1]]
    return reader, result


def _load_torch(fh, kind, map_location, encoding="utf-8"):
    try:
        if kind == "torch_zip":
            reader, result = _load_zip(fh, map_location, encoding)
        else:
            reader, result = _load_legacy(fh, map_location, encoding)
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - parsing runs no user code: any failure is the file's
        raise CheckpointError(f"corrupted or malformed PyTorch checkpoint "
                              f"({type(exc).__name__}: {exc})") from None
    reader.finalize()
    return result


def load_torch_checkpoint(f, map_location=None):
    """Read a checkpoint written by ``torch.save`` (zip format, or the legacy format of
    torch < 1.6) from a path or binary file object, without torch and without running code
    from it: only tensors and plain containers (dict, OrderedDict, list, tuple, set, str,
    numbers, bytes, torch.Size, dtypes, devices) are rebuilt, anything else raises
    :class:`UnsafeCheckpointError`. Tensors come back as probe tensors (bfloat16 ones as
    float32, with a warning), parameters as ``probe.nn.Parameter``.

    >>> import probe
    >>> state = probe.serialization.load_torch_checkpoint("model.pt")  # doctest: +SKIP
    """
    with open_for_reading(f) as (fh, name, _):
        start = fh.tell()
        head = fh.read(16)
        fh.seek(start)
        kind = detect_format(head, None)
        if kind not in ("torch_zip", "torch_legacy"):
            raise CheckpointError(f"{name} is not a PyTorch checkpoint (it starts with "
                                  f"{head[:8]!r})")
        return _load_torch(fh, kind, map_location)
