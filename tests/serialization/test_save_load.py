"""probe.save / probe.load in probe's own format: round trips, sharing, map_location, atomic
writes (a child process killed mid-save), truncated and corrupted files."""

from __future__ import annotations

import io
import json
import math
import os
import signal
import struct
import subprocess
import sys
import textwrap
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

import probe
import probe.engine.serialization as engine_ser
from probe import nn
from probe.serialization import CheckpointError, load, save

REPO = Path(__file__).resolve().parents[2]


def roundtrip(obj, **load_kwargs):
    buf = io.BytesIO()
    save(obj, buf)
    buf.seek(0)
    return load(buf, **load_kwargs)


def assert_same_tensor(a, b):
    assert type(a) is type(b)
    assert a.dtype == b.dtype
    assert a.shape == b.shape
    assert a.requires_grad == b.requires_grad
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


# ---------------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------------

def make_checkpoint():
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
    optimizer_state = {
        "state": {0: {"step": probe.tensor(3.0), "exp_avg": probe.randn(3, 4)},
                  1: {"step": probe.tensor(3.0), "exp_avg": probe.randn(3)}},
        "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                          "amsgrad": False, "maximize": False, "foreach": None,
                          "params": [0, 1]}],
    }
    return {
        "model": model.state_dict(),
        "optimizer": optimizer_state,
        "epoch": 7,
        "best": float("nan"),
        "limits": [float("inf"), -float("inf"), -0.0, 1e-310, 2**80],
        "name": "run-ü-\u2603",
        "note": None,
        "flags": (True, False),
    }


def check_equal(a, b):
    if isinstance(a, probe.Tensor):
        assert_same_tensor(a, b)
    elif isinstance(a, dict):
        assert type(a) is type(b)
        assert list(a.keys()) == list(b.keys())
        for k in a:
            check_equal(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            check_equal(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b)
    else:
        assert type(a) is type(b) and a == b
        if isinstance(a, float):
            assert math.copysign(1, a) == math.copysign(1, b)


def test_nested_checkpoint_round_trip(tmp_path):
    ckpt = make_checkpoint()
    path = tmp_path / "ckpt.pt"
    save(ckpt, path)
    out = load(path)
    check_equal(ckpt, out)
    assert type(out["model"]) is OrderedDict
    assert list(out["optimizer"]["state"]) == [0, 1]  # int keys stay ints
    assert out["model"]["1.num_batches_tracked"].dtype == probe.int64


def test_state_dict_loads_into_a_fresh_model(tmp_path):
    src = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2))
    save(src.state_dict(), tmp_path / "m.pt")
    dst = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2))
    dst.load_state_dict(load(tmp_path / "m.pt"))
    x = probe.randn(3, 5)
    np.testing.assert_array_equal(src(x).detach().numpy(), dst(x).detach().numpy())


@pytest.mark.parametrize("dtype", [probe.float32, probe.float64, probe.float16, probe.int64,
                                   probe.int32, probe.int16, probe.int8, probe.uint8,
                                   probe.bool, probe.complex64, probe.complex128])
@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (5,), (2, 3, 4)])
def test_dtypes_and_shapes(dtype, shape):
    rng = np.random.default_rng(0)
    data = rng.standard_normal(shape) * 10
    if dtype.is_complex:
        data = data + 1j * rng.standard_normal(shape)
    t = probe.tensor(data).to(dtype) if dtype is not probe.bool else probe.tensor(data > 0)
    out = roundtrip({"t": t})["t"]
    assert_same_tensor(t, out)
    assert out.is_contiguous()


def test_special_float_values_in_tensors_and_scalars():
    t = probe.tensor([math.nan, math.inf, -math.inf, -0.0, 1e-45])
    out = roundtrip([t, math.nan, -math.inf, complex(math.nan, -math.inf)])
    np.testing.assert_array_equal(out[0].numpy(), t.numpy())
    assert np.signbit(out[0].numpy()[3])
    assert math.isnan(out[1]) and out[2] == -math.inf
    assert math.isnan(out[3].real) and out[3].imag == -math.inf


def test_plain_values_and_containers():
    obj = {
        "bytes": b"\x00\xffabc", "bytearray": bytearray(b"xy"), "set": {1, 2, "a"},
        "frozenset": frozenset({3}), "size": probe.Size([2, 3]), "dtype": probe.float16,
        "device": probe.device("cpu"), "complex": 1 - 2j, "tuple": (1, (2, [3, {"x": None}])),
        ("tuple", "key"): 1, 3.5: "float key", None: "none key", True: "bool key",
        "numpy_scalars": [np.float32(1.5), np.int64(-3), np.bool_(True), np.complex64(1j)],
        "ndarray": np.arange(6, dtype=np.int16).reshape(2, 3),
    }
    out = roundtrip(obj)
    for key in ("bytes", "bytearray", "set", "frozenset", "complex", "tuple", ("tuple", "key"),
                3.5, None, True):
        assert out[key] == obj[key] and type(out[key]) is type(obj[key])
    assert type(out["size"]) is probe.Size and out["size"] == (2, 3)
    assert out["dtype"] is probe.float16
    assert out["device"] == probe.device("cpu")
    assert out["numpy_scalars"] == [1.5, -3, True, 1j]
    assert [type(v) for v in out["numpy_scalars"]] == [float, int, bool, complex]
    assert isinstance(out["ndarray"], np.ndarray) and out["ndarray"].dtype == np.int16
    np.testing.assert_array_equal(out["ndarray"], obj["ndarray"])


def test_single_tensor_and_parameter():
    t = probe.randn(3, 2)
    assert_same_tensor(t, roundtrip(t))
    p = nn.Parameter(probe.randn(4))
    out = roundtrip(p)
    assert isinstance(out, nn.Parameter) and out.requires_grad
    np.testing.assert_array_equal(out.detach().numpy(), p.detach().numpy())
    frozen = nn.Parameter(probe.randn(2), requires_grad=False)
    out = roundtrip({"p": frozen})["p"]
    assert isinstance(out, nn.Parameter) and not out.requires_grad


def test_requires_grad_kept_for_plain_tensors_and_grad_fn_dropped():
    leaf = probe.randn(3, requires_grad=True)
    nonleaf = leaf * 2
    out = roundtrip({"leaf": leaf, "nonleaf": nonleaf})
    assert out["leaf"].requires_grad and out["leaf"].is_leaf
    assert out["nonleaf"].requires_grad and out["nonleaf"].is_leaf
    assert type(out["leaf"]) is probe.Tensor


def test_loaded_tensors_are_writable_and_independent_of_the_source():
    t = probe.zeros(3)
    out = roundtrip(t)
    out.add_(1)
    assert t.sum().item() == 0 and out.sum().item() == 3


def test_non_contiguous_tensors():
    base = probe.arange(24.0).reshape(4, 6)
    views = {"t": base.t(), "step": base[:, ::2], "col": base[:, 1],
             "exp": probe.ones(3, 1).expand(3, 5),
             "permuted": probe.arange(24).reshape(2, 3, 4).permute(2, 0, 1),
             "flipped": probe.flip(probe.arange(5.0), [0])}
    out = roundtrip(views)
    for key, value in views.items():
        np.testing.assert_array_equal(out[key].numpy(), value.numpy())
        assert out[key].shape == value.shape


def test_lone_slice_of_a_large_tensor_is_stored_compactly():
    big = probe.zeros(100_000)
    buf = io.BytesIO()
    save({"slice": big[:10:2]}, buf)
    assert len(buf.getvalue()) < 4096


def test_same_object_twice_loads_as_one_object():
    t = probe.randn(4)
    out = roundtrip({"a": t, "b": [t, {"c": t}]})
    assert out["a"] is out["b"][0] is out["b"][1]["c"]


def test_views_of_one_tensor_share_storage_after_loading():
    base = probe.arange(12.0).reshape(3, 4)
    out = roundtrip({"base": base, "row": base[1], "col": base[:, 2], "t": base.t(),
                     "detached": base.detach()})
    out["base"].mul_(10)
    np.testing.assert_array_equal(out["row"].numpy(), [40.0, 50, 60, 70])
    np.testing.assert_array_equal(out["col"].numpy(), [20.0, 60, 100])
    np.testing.assert_array_equal(out["t"].numpy(), out["base"].numpy().T)
    np.testing.assert_array_equal(out["detached"].numpy(), out["base"].numpy())
    assert out["detached"] is not out["base"]


def test_disjoint_slices_of_one_tensor_do_not_drag_the_whole_tensor():
    big = probe.zeros(1_000_000)
    buf = io.BytesIO()
    save([big[:4], big[-4:]], buf)
    assert len(buf.getvalue()) < 4096
    buf.seek(0)
    a, b = load(buf)
    assert a.shape == (4,) and b.shape == (4,)


def test_file_objects_and_path_types(tmp_path):
    t = probe.randn(5)
    for target in (str(tmp_path / "s.pt"), tmp_path / "p.pt", os.fsencode(tmp_path / "b.pt")):
        save(t, target)
        assert_same_tensor(t, load(target))
    with open(tmp_path / "f.pt", "wb") as fh:
        fh.write(b"header-the-user-wrote")
        save({"t": t}, fh)
    with open(tmp_path / "f.pt", "rb") as fh:
        assert fh.read(21) == b"header-the-user-wrote"
        assert_same_tensor(t, load(fh)["t"])


def test_non_seekable_stream():
    class Stream(io.RawIOBase):
        def __init__(self, data):
            self._inner = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            return self._inner.readinto(b)

    buf = io.BytesIO()
    save({"x": probe.arange(4)}, buf)
    out = load(Stream(buf.getvalue()))
    np.testing.assert_array_equal(out["x"].numpy(), [0, 1, 2, 3])


def test_map_location_variants():
    obj = {"w": probe.randn(3)}
    for loc in (None, "cpu", probe.device("cpu"), {"cpu": "cpu"}, {"cuda:0": "cpu"},
                lambda storage, location: storage, lambda storage, location: None):
        out = roundtrip(obj, map_location=loc)
        assert out["w"].device == probe.device("cpu")
        np.testing.assert_array_equal(out["w"].numpy(), obj["w"].numpy())
    seen = []

    def record(storage, location):
        seen.append((type(storage), location))
        return storage

    roundtrip(obj, map_location=record)
    assert seen == [(probe.Tensor, "cpu")]
    with pytest.raises(TypeError, match="map_location"):
        roundtrip(obj, map_location=3)


def rewrite_header(data: bytes, edit) -> bytes:
    """``data`` with its JSON header changed by ``edit(header)`` and the checksum redone."""
    magic, version, hlen, _, reserved = struct.unpack_from("<6sHQII", data)
    header = json.loads(data[24:24 + hlen])
    edit(header)
    new = json.dumps(header, separators=(",", ":")).encode("ascii")
    data_start = -(-(24 + hlen) // 64) * 64
    head = struct.pack("<6sHQII", magic, version, len(new), zlib.crc32(new), reserved) + new
    head += bytes(-len(head) % 64)
    return head + data[data_start:]


def test_tensors_saved_on_cuda_need_a_gpu_or_map_location():
    buf = io.BytesIO()
    save({"w": probe.ones(2)}, buf)

    def to_cuda(header):
        for st in header["storages"]:
            st["device"] = "cuda:0"

    data = rewrite_header(buf.getvalue(), to_cuda)
    out = load(io.BytesIO(data), map_location="cpu")
    np.testing.assert_array_equal(out["w"].numpy(), [1.0, 1.0])
    out = load(io.BytesIO(data), map_location={"cuda:0": "cpu"})
    assert out["w"].device == probe.device("cpu")
    if not probe.cuda.is_available():
        with pytest.raises(RuntimeError, match="map_location=torch.device\\('cpu'\\)"):
            load(io.BytesIO(data))


@pytest.mark.cuda
@pytest.mark.skipif(not probe.cuda.is_available(), reason="CUDA not available (no CuPy or GPU)")
def test_cuda_round_trip():
    t = probe.randn(3, 4, device="cuda")
    out = roundtrip({"t": t, "v": t[1]})
    assert out["t"].device.type == "cuda"
    np.testing.assert_array_equal(out["t"].cpu().numpy(), t.cpu().numpy())
    cpu = roundtrip({"t": t}, map_location="cpu")["t"]
    assert cpu.device == probe.device("cpu")


# ---------------------------------------------------------------------------------------------
# Bad input is refused before anything is written
# ---------------------------------------------------------------------------------------------

class Custom:
    pass


@pytest.mark.parametrize("bad, match", [
    ({"ok": 1, "bad": Custom()}, r"Custom at obj\['bad'\].*never pickles"),
    ([probe.ones(1), lambda: 0], "function"),
    ({"model": nn.Linear(2, 2)}, r"state_dict\(\) instead"),
    ({"arr": np.array(["a", "b"])}, "dtype <U1"),
])
def test_unsupported_objects_raise_before_writing(tmp_path, bad, match):
    path = tmp_path / "ckpt.pt"
    save({"old": 1}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match=match):
        save(bad, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.pt"]


def test_self_referencing_container_raises():
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="contains itself"):
        save(loop, io.BytesIO())


def test_bad_targets(tmp_path):
    with pytest.raises(RuntimeError, match="Parent directory .* does not exist"):
        save(1, tmp_path / "missing" / "x.pt")
    with pytest.raises(IsADirectoryError):
        save(1, tmp_path)
    with pytest.raises(TypeError, match="binary mode"):
        save(1, io.StringIO())
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope.pt")
    with pytest.raises(ValueError, match="pickle_module"):
        save(1, io.BytesIO(), pickle_module=json)


def test_save_keeps_file_mode_and_writes_through_symlinks(tmp_path):
    path = tmp_path / "ckpt.pt"
    save(1, path)
    os.chmod(path, 0o640)
    save(2, path)
    assert (os.stat(path).st_mode & 0o777) == 0o640
    link = tmp_path / "link.pt"
    link.symlink_to(path)
    save(3, link)
    assert link.is_symlink() and load(path) == 3


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save({"version": 1}, path)
    calls = []

    def failing_write(fh, data):
        calls.append(len(data))
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        fh.write(data)

    monkeypatch.setattr(engine_ser, "_write_bytes", failing_write)
    with pytest.raises(OSError, match="No space left"):
        save({"version": 2, "w": probe.ones(1000)}, path)
    monkeypatch.undo()
    assert load(path) == {"version": 1}
    assert os.listdir(tmp_path) == ["ckpt.pt"]


# ---------------------------------------------------------------------------------------------
# Crash safety: a child process killed in the middle of saving
# ---------------------------------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {repo!r})
    import probe
    import probe.engine.serialization as engine_ser
    from probe.serialization import save

    stage = sys.argv[2]
    real_write, real_replace = engine_ser._write_bytes, os.replace
    count = [0]

    def pause(message):
        print(message, flush=True)
        time.sleep(120)  # the parent kills this process here

    def write(fh, data):
        real_write(fh, data)
        count[0] += 1
        if stage == "mid-write" and count[0] == 2:
            fh.flush()
            pause("paused")

    def replace(src, dst):
        if stage == "before-rename":
            pause("paused")
        real_replace(src, dst)

    engine_ser._write_bytes = write
    os.replace = replace
    big = {{"version": 2, "weights": [probe.ones(1_000_000) for _ in range(4)]}}
    save(big, sys.argv[1])
    print("finished", flush=True)
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
@pytest.mark.parametrize("stage", ["mid-write", "before-rename"])
def test_killed_mid_save_leaves_old_checkpoint_intact(tmp_path, stage):
    path = tmp_path / "ckpt.pt"
    old = {"version": 1, "weights": probe.arange(10.0)}
    save(old, path)
    before = path.read_bytes()
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(repo=str(REPO)))
    child = subprocess.Popen([sys.executable, str(script), str(path), stage],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()  # blocks until the child is inside save()
        if line.strip() != "paused":
            child.kill()
            pytest.fail(f"the child did not pause in save(): {line!r} {child.communicate()}")
        # The partial new checkpoint exists beside the old one...
        partial = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert len(partial) == 1 and partial[0].stat().st_size > 0
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    # ...but the checkpoint itself is the old one, byte for byte, and still loads.
    assert path.read_bytes() == before
    out = load(path)
    assert out["version"] == 1
    np.testing.assert_array_equal(out["weights"].numpy(), old["weights"].numpy())
    # A later save replaces it normally.
    save({"version": 3}, path)
    assert load(path) == {"version": 3}


def test_child_save_without_kill_completes(tmp_path):
    path = tmp_path / "ckpt.pt"
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(repo=str(REPO)))
    result = subprocess.run([sys.executable, str(script), str(path), "none"],
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "finished", result.stderr
    out = load(path)
    assert out["version"] == 2 and len(out["weights"]) == 4
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# ---------------------------------------------------------------------------------------------
# Truncated and corrupted files
# ---------------------------------------------------------------------------------------------

def small_checkpoint_bytes():
    buf = io.BytesIO()
    base = probe.arange(6.0).reshape(2, 3)
    save({"w": base, "v": base[:, 1], "n": probe.tensor([1, 2], dtype=probe.int16),
          "b": probe.tensor([True, False]), "meta": {"step": 3, "s": "x"}}, buf)
    return buf.getvalue()


def test_every_truncation_raises_checkpoint_error(tmp_path):
    data = small_checkpoint_bytes()
    for n in range(len(data)):
        with pytest.raises(CheckpointError):
            load(io.BytesIO(data[:n]))
    path = tmp_path / "cut.pt"
    for n in (0, 10, 24, 100, len(data) - 1):
        path.write_bytes(data[:n])
        with pytest.raises(CheckpointError):
            load(path)


def test_truncated_data_message():
    data = small_checkpoint_bytes()
    with pytest.raises(CheckpointError,
                       match=r"checkpoint file is truncated: expected \d+ bytes of tensor data, "
                             r"found \d+"):
        load(io.BytesIO(data[:-5]))


def test_every_bit_flip_raises_checkpoint_error():
    data = small_checkpoint_bytes()
    for i in range(len(data)):
        for bit in (0x01, 0x80):
            flipped = bytearray(data)
            flipped[i] ^= bit
            with pytest.raises(CheckpointError):
                load(io.BytesIO(bytes(flipped)))


def test_corrupted_data_names_the_tensor():
    data = bytearray(small_checkpoint_bytes())
    data[-1] ^= 0x10  # the last data block (the bool tensor)
    with pytest.raises(CheckpointError, match="checksum mismatch in the data of"):
        load(io.BytesIO(bytes(data)))


def test_trailing_garbage_in_a_file_is_reported(tmp_path):
    path = tmp_path / "x.pt"
    path.write_bytes(small_checkpoint_bytes() + b"junk")
    with pytest.raises(CheckpointError, match="after the end"):
        load(path)


@pytest.mark.parametrize("edit, match", [
    (lambda h: h["tensors"][0].update(shape=[1000, 1000]), "reaches outside its storage"),
    (lambda h: h["tensors"][0].update(strides=[-8, 8]), "reaches outside its storage"),
    (lambda h: h["tensors"][0].update(dtype="object"), "unknown dtype"),
    (lambda h: h["tensors"][0].update(storage=99), "missing storage"),
    (lambda h: h["storages"][0].update(nbytes=10**15), "outside the data section"),
    (lambda h: h.update(root={"$": "tensor", "i": 42}), "out of range"),
    (lambda h: h.update(root={"$": "pickle", "data": "..."}), "unknown tag"),
    (lambda h: h.update(root={"$": "dict", "items": [[[1], 2]]}), "unhashable"),
    (lambda h: h.update(root={"$": "dtype", "name": "os.system"}), "unknown dtype"),
    (lambda h: h.pop("root"), "missing field 'root'"),
    (lambda h: h.update(format="other"), "unknown format"),
])
def test_malformed_header_with_valid_checksum(edit, match):
    data = rewrite_header(small_checkpoint_bytes(), edit)
    with pytest.raises(CheckpointError, match=match):
        load(io.BytesIO(data))


def test_unknown_version_and_formats():
    data = bytearray(small_checkpoint_bytes())
    data[6] = 9
    with pytest.raises(CheckpointError, match="unsupported probe checkpoint version 9"):
        load(io.BytesIO(bytes(data)))
    with pytest.raises(CheckpointError, match="not a checkpoint probe can read"):
        load(io.BytesIO(b"hello world, this is not a checkpoint"))
    with pytest.raises(CheckpointError, match="empty"):
        load(io.BytesIO(b""))


def test_format_layout_is_documented():
    data = small_checkpoint_bytes()
    magic, version, hlen, crc, reserved = struct.unpack_from("<6sHQII", data)
    assert magic == b"PROBE\x00" and version == 1 and reserved == 0
    header = json.loads(data[24:24 + hlen])
    assert zlib.crc32(data[24:24 + hlen]) == crc
    data_start = -(-(24 + hlen) // 64) * 64
    assert len(data) == data_start + header["data_size"]
    for st in header["storages"]:
        assert st["offset"] % 64 == 0
        block = data[data_start + st["offset"]:data_start + st["offset"] + st["nbytes"]]
        assert zlib.crc32(block) == st["crc32"]
    # w and its column view share one storage
    w, v = (header["tensors"][i] for i in (0, 1))
    assert w["storage"] == v["storage"] and v["offset"] == 4 and v["strides"] == [12]
