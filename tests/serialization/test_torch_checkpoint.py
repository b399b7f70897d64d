"""Reading PyTorch checkpoints without torch: files laid out as ``torch.save`` writes them (built
here with the standard pickle and zipfile modules), the legacy format, malicious pickles that
must not run, and truncated or corrupted archives."""

from __future__ import annotations

import io
import os
import pickle
import struct
import subprocess
import sys
import warnings
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import probe
from probe import nn
from probe.serialization import (
    CheckpointError,
    UnsafeCheckpointError,
    load,
    load_torch_checkpoint,
)

# ---------------------------------------------------------------------------------------------
# Writing torch-format files without torch
# ---------------------------------------------------------------------------------------------


class G:
    """Pickles as the global ``module.name`` (a GLOBAL opcode), whatever it is here."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle only accepts callables as reduce functions
        raise AssertionError("never called")


_STORAGE_NAMES = {"float32": "FloatStorage", "float64": "DoubleStorage", "float16": "HalfStorage",
                  "int64": "LongStorage", "int32": "IntStorage", "int16": "ShortStorage",
                  "int8": "CharStorage", "uint8": "ByteStorage", "bool": "BoolStorage",
                  "bfloat16": "BFloat16Storage", "complex64": "ComplexFloatStorage"}


class FakeStorage:
    def __init__(self, key, dtype, data: bytes, numel, location="cpu"):
        self.key, self.dtype, self.data, self.numel, self.location = (key, dtype, data, numel,
                                                                      location)


class FakeTensor:
    """Pickles as ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``."""

    def __init__(self, storage, offset, size, stride, requires_grad=False):
        self.args = (storage, offset, tuple(size), tuple(stride), requires_grad, OrderedDict())

    def __reduce__(self):
        return (G("torch._utils", "_rebuild_tensor_v2"), self.args)


class FakeParameter:
    def __init__(self, tensor, requires_grad=True):
        self.tensor, self.requires_grad = tensor, requires_grad

    def __reduce__(self):
        return (G("torch._utils", "_rebuild_parameter"),
                (self.tensor, self.requires_grad, OrderedDict()))


class TorchLikePickler(pickle._Pickler):
    """The pure-Python pickler, taught to write G as a GLOBAL and storages as persistent ids."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_g(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    dispatch[G] = save_g

    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", G("torch", _STORAGE_NAMES[obj.dtype]), obj.key, obj.location,
                    obj.numel)
        return None


def storages_of(obj, found):
    if isinstance(obj, FakeStorage):
        found[obj.key] = obj
    elif isinstance(obj, FakeTensor):
        storages_of(obj.args[0], found)
    elif isinstance(obj, FakeParameter):
        storages_of(obj.tensor, found)
    elif isinstance(obj, dict):
        for v in obj.values():
            storages_of(v, found)
    elif isinstance(obj, list | tuple):
        for v in obj:
            storages_of(v, found)
    return found


def torch_zip_bytes(obj, prefix="archive", byteorder=b"little", pickled=None):
    """A zip laid out like torch.save's: data.pkl, byteorder, data/<key>, version."""
    if pickled is None:
        buf = io.BytesIO()
        TorchLikePickler(buf, protocol=2).dump(obj)
        pickled = buf.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{prefix}/data.pkl", pickled)
        zf.writestr(f"{prefix}/.format_version", b"1")
        zf.writestr(f"{prefix}/byteorder", byteorder)
        for key, st in storages_of(obj, {}).items():
            zf.writestr(f"{prefix}/data/{key}", st.data)
        zf.writestr(f"{prefix}/version", b"3\n")
    return out.getvalue()


class _Keys:
    def __init__(self):
        self.n = 0

    def __call__(self):
        self.n += 1
        return str(self.n - 1)


def fake_tensor(arr, key, requires_grad=False, byteorder="<", dtype=None):
    arr = np.ascontiguousarray(arr)
    dtype = dtype or arr.dtype.name
    data = arr.astype(arr.dtype.newbyteorder(byteorder)).tobytes()
    storage = FakeStorage(key, dtype, data, arr.size)
    stride = [s // arr.itemsize for s in arr.strides] if arr.ndim else []
    return FakeTensor(storage, 0, arr.shape, stride, requires_grad), storage


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------

def test_state_dict_like_checkpoint():
    keys = _Keys()
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((3, 4)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    steps = np.array(5, dtype=np.int64)
    sd = OrderedDict(
        [("fc.weight", fake_tensor(weight, keys())[0]), ("fc.bias", fake_tensor(bias, keys())[0]),
         ("bn.num_batches_tracked", fake_tensor(steps, keys())[0])])
    data = torch_zip_bytes({"state_dict": sd, "epoch": 3, "tags": ["a", "b"], "lr": 0.1,
                            "none": None, "pair": (1, 2)})
    out = load(io.BytesIO(data))
    assert type(out["state_dict"]) is OrderedDict
    assert list(out["state_dict"]) == ["fc.weight", "fc.bias", "bn.num_batches_tracked"]
    np.testing.assert_array_equal(out["state_dict"]["fc.weight"].numpy(), weight)
    np.testing.assert_array_equal(out["state_dict"]["fc.bias"].numpy(), bias)
    assert out["state_dict"]["bn.num_batches_tracked"].dtype == probe.int64
    assert out["state_dict"]["bn.num_batches_tracked"].item() == 5
    assert (out["epoch"], out["tags"], out["lr"], out["none"], out["pair"]) == (
        3, ["a", "b"], 0.1, None, (1, 2))
    # the same bytes through the explicit entry point, from a path
    model = nn.Linear(4, 3)
    model.load_state_dict({k[3:]: v for k, v in out["state_dict"].items() if k.startswith("fc.")})
    np.testing.assert_array_equal(model.weight.detach().numpy(), weight)


def test_views_share_their_storage_and_offsets_and_strides_apply(tmp_path):
    base = np.arange(12, dtype=np.float64)
    storage = FakeStorage("0", "float64", base.tobytes(), 12)
    obj = {"full": FakeTensor(storage, 0, (3, 4), (4, 1)),
           "col": FakeTensor(storage, 1, (3,), (4,)),
           "t": FakeTensor(storage, 0, (4, 3), (1, 4)),
           "tail": FakeTensor(storage, 10, (2,), (1,)),
           "expanded": FakeTensor(storage, 2, (2, 3), (0, 1)),
           "scalar": FakeTensor(storage, 7, (), ())}
    path = tmp_path / "views.pt"
    path.write_bytes(torch_zip_bytes(obj))
    out = load_torch_checkpoint(path)
    full = base.reshape(3, 4)
    np.testing.assert_array_equal(out["full"].numpy(), full)
    np.testing.assert_array_equal(out["col"].numpy(), full[:, 1])
    np.testing.assert_array_equal(out["t"].numpy(), full.T)
    np.testing.assert_array_equal(out["tail"].numpy(), [10.0, 11.0])
    np.testing.assert_array_equal(out["expanded"].numpy(), [[2, 3, 4], [2, 3, 4]])
    assert out["scalar"].shape == () and out["scalar"].item() == 7.0
    out["full"].zero_()
    assert out["col"].sum().item() == 0 and out["t"].sum().item() == 0


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int64", "int32", "int16",
                                   "int8", "uint8", "bool", "complex64"])
def test_storage_types(dtype):
    arr = (np.arange(-3, 3) % 2 == 0) if dtype == "bool" else np.arange(-3, 3).astype(dtype)
    if dtype == "uint8":
        arr = np.arange(250, 256).astype(np.uint8)
    t, _ = fake_tensor(arr, "0")
    out = load(io.BytesIO(torch_zip_bytes({"x": t})))["x"]
    assert out.dtype == getattr(probe, dtype)
    np.testing.assert_array_equal(out.numpy(), arr)


def test_bfloat16_loads_as_float32_with_a_warning():
    values = np.array([1.5, -2.25, 2.0**100, 0.0], dtype=np.float32)
    bits = (values.view(np.uint32) >> 16).astype(np.uint16)  # exact in bfloat16
    storage = FakeStorage("0", "bfloat16", bits.tobytes(), 4)
    data = torch_zip_bytes({"x": FakeTensor(storage, 0, (4,), (1,))})
    with pytest.warns(UserWarning, match="bfloat16 .* loaded as float32"):
        out = load(io.BytesIO(data))["x"]
    assert out.dtype == probe.float32
    np.testing.assert_array_equal(out.numpy(), values)


def test_big_endian_byteorder_record():
    arr = np.arange(6, dtype=np.float32).reshape(2, 3) * 1.5
    t, _ = fake_tensor(arr, "0", byteorder=">")
    out = load(io.BytesIO(torch_zip_bytes({"x": t}, byteorder=b"big")))["x"]
    np.testing.assert_array_equal(out.numpy(), arr)
    assert out.numpy().dtype.isnative


def test_parameters_and_requires_grad():
    keys = _Keys()
    t1, _ = fake_tensor(np.ones(3, np.float32), keys())
    t2, _ = fake_tensor(np.zeros(2, np.float32), keys(), requires_grad=True)
    t3, _ = fake_tensor(np.ones(2, np.float32), keys())
    out = load(io.BytesIO(torch_zip_bytes({"p": FakeParameter(t1), "t": t2,
                                           "frozen": FakeParameter(t3, False)})))
    assert isinstance(out["p"], nn.Parameter) and out["p"].requires_grad
    assert type(out["t"]) is probe.Tensor and out["t"].requires_grad and out["t"].is_leaf
    assert isinstance(out["frozen"], nn.Parameter) and not out["frozen"].requires_grad


def test_other_archive_prefix_and_file_object():
    t, _ = fake_tensor(np.arange(3, dtype=np.int64), "0")
    data = torch_zip_bytes([t], prefix="my_model")
    out = load(io.BytesIO(data))
    np.testing.assert_array_equal(out[0].numpy(), [0, 1, 2])


def test_cuda_location_needs_map_location():
    arr = np.arange(3, dtype=np.float32)
    storage = FakeStorage("0", "float32", arr.tobytes(), 3, location="cuda:0")
    data = torch_zip_bytes({"x": FakeTensor(storage, 0, (3,), (1,))})
    out = load(io.BytesIO(data), map_location="cpu")
    np.testing.assert_array_equal(out["x"].numpy(), arr)
    out = load(io.BytesIO(data), map_location=lambda storage, loc: storage)
    assert out["x"].device == probe.device("cpu")
    out = load(io.BytesIO(data), map_location={"cuda:0": "cpu"})
    assert out["x"].device == probe.device("cpu")
    if not probe.cuda.is_available():
        with pytest.raises(RuntimeError, match="torch.cuda.is_available\\(\\) is False"):
            load(io.BytesIO(data))


def legacy_bytes(obj, keys_order=None):
    """The pre-1.6 format: magic, protocol, sys info, the object, the keys, raw storages."""
    class LegacyPickler(TorchLikePickler):
        def persistent_id(self, obj):
            if isinstance(obj, FakeStorage):
                return ("storage", G("torch", _STORAGE_NAMES[obj.dtype]), obj.key, obj.location,
                        obj.numel, None)
            return None

    out = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001,
                   {"protocol_version": 1001, "little_endian": True,
                    "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(header, out, protocol=2)
    LegacyPickler(out, protocol=2).dump(obj)
    storages = storages_of(obj, {})
    keys = sorted(storages)
    pickle.dump(keys, out, protocol=2)
    for key in keys:
        out.write(struct.pack("<q", storages[key].numel))
        out.write(storages[key].data)
    return out.getvalue()


def test_legacy_format():
    keys = _Keys()
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    t, storage = fake_tensor(w, keys())
    obj = {"w": t, "col": FakeTensor(storage, 1, (2,), (3,)),
           "i": fake_tensor(np.array([7, 8], np.int64), keys())[0], "epoch": 4}
    out = load(io.BytesIO(legacy_bytes(obj)))
    np.testing.assert_array_equal(out["w"].numpy(), w)
    np.testing.assert_array_equal(out["col"].numpy(), w[:, 1])
    np.testing.assert_array_equal(out["i"].numpy(), [7, 8])
    assert out["epoch"] == 4
    out["w"].zero_()
    assert out["col"].sum().item() == 0


def test_legacy_truncations_raise_checkpoint_error():
    t, _ = fake_tensor(np.arange(4, dtype=np.float32), "0")
    data = legacy_bytes({"w": t})
    for n in range(len(data)):
        with pytest.raises(CheckpointError):
            load(io.BytesIO(data[:n]))


def test_tar_and_torchscript_archives_are_explained():
    tar = bytearray(1024)
    tar[257:262] = b"ustar"
    with pytest.raises(CheckpointError, match="re-save it with torch >= 1.6"):
        load(io.BytesIO(bytes(tar)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("model/data.pkl", pickle.dumps({}, protocol=2))
        zf.writestr("model/code/__torch__.py", "def forward(self): ...")
        zf.writestr("model/constants.pkl", pickle.dumps((), protocol=2))
    with pytest.raises(CheckpointError, match="TorchScript"):
        load(io.BytesIO(out.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load(io.BytesIO(out.getvalue()))


# ---------------------------------------------------------------------------------------------
# Malicious pickles
# ---------------------------------------------------------------------------------------------

class SystemPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class EvalPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({str(self.marker)!r}, 'w').close()",))


class SubprocessPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (subprocess.call, (["touch", str(self.marker)],))


class ExecPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


def getattr_chain_payload(marker):
    # builtins.getattr(builtins.__import__('os'), 'system')('touch marker'), by hand
    return (b"\x80\x02cbuiltins\ngetattr\ncbuiltins\n__import__\nX\x02\x00\x00\x00os\x85R"
            b"X\x06\x00\x00\x00system\x86RX" + struct.pack("<I", len(f"touch '{marker}'"))
            + f"touch '{marker}'".encode() + b"\x85R.")


def inst_payload(marker):
    cmd = f"touch '{marker}'".encode()
    return b"(X" + struct.pack("<I", len(cmd)) + cmd + b"ios\nsystem\n."


def stack_global_payload(marker):
    # protocol 4: STACK_GLOBAL on ('os', 'system')
    cmd = f"touch '{marker}'".encode()
    return (b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c" + bytes([len(cmd)]) + cmd + b"\x85R.")


def reduce_via_allowed_type_payload(marker):
    # an OrderedDict whose state tries to set __class__ / __reduce__ through BUILD
    return (b"\x80\x02ccollections\nOrderedDict\n)R}X\t\x00\x00\x00__class__ccollections\n"
            b"OrderedDict\nsb.")


PAYLOADS = {
    "os.system": lambda m: pickle.dumps({"weights": [1, 2], "x": SystemPayload(m)}, protocol=2),
    "builtins.eval": lambda m: pickle.dumps(EvalPayload(m), protocol=2),
    "builtins.exec": lambda m: pickle.dumps(ExecPayload(m), protocol=4),
    "subprocess.call": lambda m: pickle.dumps(SubprocessPayload(m), protocol=2),
    "getattr chain": getattr_chain_payload,
    "INST opcode": inst_payload,
    "STACK_GLOBAL": stack_global_payload,
}


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_payload_is_live_under_plain_pickle(tmp_path, name):
    """The payloads really run code under pickle.loads (so the refusals below mean something)."""
    marker = tmp_path / "pwned"
    data = PAYLOADS[name](marker)
    # run it in a child so nothing of it touches this process
    code = f"import pickle, sys; pickle.loads(bytes.fromhex({data.hex()!r}))"
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert marker.exists()


@pytest.mark.parametrize("name", list(PAYLOADS))
@pytest.mark.parametrize("container", ["zip", "legacy"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, name, container):
    marker = tmp_path / "pwned"
    payload = PAYLOADS[name](marker)
    if container == "zip":
        data = torch_zip_bytes(None, pickled=payload)
    else:
        out = io.BytesIO()
        for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(header, out, protocol=2)
        data = out.getvalue() + payload + pickle.dumps([], protocol=2)
    path = tmp_path / "evil.pt"
    path.write_bytes(data)
    with pytest.raises(UnsafeCheckpointError, match="refusing to load global") as info:
        load(path)
    assert not marker.exists()
    assert "only tensors and plain containers are allowed" in str(info.value)
    assert isinstance(info.value, pickle.UnpicklingError)  # what torch raises, too
    with pytest.raises(UnsafeCheckpointError):
        load_torch_checkpoint(path)
    assert not marker.exists()


def test_refusal_names_the_global(tmp_path):
    payload = pickle.dumps(SystemPayload(tmp_path / "m"), protocol=2)
    with pytest.raises(UnsafeCheckpointError,
                       match=r"refusing to load global '(os|posix|nt)\.system' from checkpoint"):
        load(io.BytesIO(torch_zip_bytes(None, pickled=payload)))


def test_build_cannot_set_dunder_attributes():
    data = torch_zip_bytes(None, pickled=reduce_via_allowed_type_payload(None))
    with pytest.raises(UnsafeCheckpointError, match="__class__"):
        load(io.BytesIO(data))


def test_whole_model_pickles_are_refused_with_a_hint():
    payload = b"\x80\x02ctorch.nn.modules.linear\nLinear\n)\x81}b."  # torch.save(model)
    with pytest.raises(UnsafeCheckpointError, match=r"model.state_dict\(\) instead"):
        load(io.BytesIO(torch_zip_bytes(None, pickled=payload)))


def test_allowed_callables_cannot_be_abused():
    # _codecs.encode with another codec, bytearray with a huge size, a rebuild on a non-storage
    cases = [
        b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x06\x00\x00\x00base64\x86R.",
        b"\x80\x02c__builtin__\nbytearray\nJ\x00\x00\x00\x7f\x85R.",
        b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(K\x00K\x00K\x01\x85K\x01\x85\x89)tR.",
        b"\x80\x02ctorch\nFloatStorage\n)R.",  # calling a storage type
    ]
    for payload, match in zip(cases, ["_codecs.encode", "bytearray", "not a storage",
                                      "refusing to call"]):
        with pytest.raises(CheckpointError, match=match):
            load(io.BytesIO(torch_zip_bytes(None, pickled=payload)))


def test_out_of_bounds_views_are_refused():
    storage = FakeStorage("0", "float32", np.zeros(4, np.float32).tobytes(), 4)
    for offset, size, stride in [(0, (5,), (1,)), (3, (2,), (1,)), (0, (3,), (2,)),
                                 (0, (2**40, 2**40), (0, 0))]:
        data = torch_zip_bytes({"x": FakeTensor(storage, offset, size, stride)})
        with pytest.raises(CheckpointError, match="outside its storage"):
            load(io.BytesIO(data))
    storage = FakeStorage("0", "float32", np.zeros(4, np.float32).tobytes(), 8)  # claims more
    with pytest.raises(CheckpointError, match="needs 32 bytes"):
        load(io.BytesIO(torch_zip_bytes({"x": FakeTensor(storage, 0, (8,), (1,))})))


# ---------------------------------------------------------------------------------------------
# Truncated and corrupted archives
# ---------------------------------------------------------------------------------------------

def small_torch_zip():
    keys = _Keys()
    return torch_zip_bytes({"w": fake_tensor(np.arange(6, dtype=np.float32), keys())[0],
                            "b": fake_tensor(np.array([1, 2], np.int64), keys())[0], "n": 3})


def test_every_truncation_raises_checkpoint_error():
    data = small_torch_zip()
    for n in range(len(data)):
        with pytest.raises(CheckpointError):
            load(io.BytesIO(data[:n]))


def test_bit_flips_raise_checkpoint_error_or_load_correctly():
    """Every stored record has a CRC: a flip either breaks the archive (CheckpointError) or
    lands in bytes that do not matter (timestamps, the zip comment...), never anything else."""
    data = small_torch_zip()
    expected = load(io.BytesIO(data))
    failures = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(len(data)):
            flipped = bytearray(data)
            flipped[i] ^= 0x04
            try:
                out = load(io.BytesIO(bytes(flipped)))
            except CheckpointError:
                failures += 1
                continue
            np.testing.assert_array_equal(out["w"].numpy(), expected["w"].numpy())
            np.testing.assert_array_equal(out["b"].numpy(), expected["b"].numpy())
            assert out["n"] == 3
    assert failures > len(data) // 2


def test_corrupted_storage_record_is_detected():
    data = bytearray(small_torch_zip())
    payload = np.arange(6, dtype=np.float32).tobytes()
    at = bytes(data).index(payload)
    data[at + 5] ^= 0x01
    with pytest.raises(CheckpointError, match="checksum mismatch in record"):
        load(io.BytesIO(bytes(data)))


def test_missing_storage_record():
    t, _ = fake_tensor(np.ones(2, np.float32), "0")
    buf = io.BytesIO()
    TorchLikePickler(buf, protocol=2).dump({"x": t})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
    with pytest.raises(CheckpointError, match="missing the data of storage '0'"):
        load(io.BytesIO(out.getvalue()))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_pickle_files_are_not_unpickled(protocol):
    data = pickle.dumps({"weights": [1.0, 2.0]}, protocol=protocol)
    with pytest.raises(CheckpointError, match="pickle file but not a PyTorch checkpoint"):
        load(io.BytesIO(data))


def test_load_torch_checkpoint_rejects_other_formats():
    buf = io.BytesIO()
    probe.serialization.save({"a": 1}, buf)
    buf.seek(0)
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_torch_checkpoint(buf)
