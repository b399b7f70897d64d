"""``.safetensors`` reading and writing (probe's own implementation), malformed files, and
cross-reading with the ``safetensors`` package where it is installed."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

import probe
from probe.serialization import (
    CheckpointError,
    load,
    load_safetensors,
    safetensors_metadata,
    save_safetensors,
)


def header_of(path):
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    return n, json.loads(data[8:8 + n]), data[8 + n:]


def raw_file(header: dict, data: bytes, pad=True) -> bytes:
    text = json.dumps(header).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


DTYPES = [probe.float32, probe.float64, probe.float16, probe.int64, probe.int32, probe.int16,
          probe.int8, probe.uint8, probe.bool, probe.complex64]


def sample_tensors():
    rng = np.random.default_rng(0)
    out = {}
    for i, dtype in enumerate(DTYPES):
        shape = [(), (0,), (3,), (2, 3), (2, 1, 4)][i % 5]
        data = rng.standard_normal(shape) * 50
        if dtype.is_complex:
            data = data + 1j
        out[f"t.{dtype.name}"] = (probe.tensor(data > 0) if dtype is probe.bool
                                  else probe.tensor(data).to(dtype))
    out["view"] = probe.arange(12.0).reshape(3, 4).t()  # non-contiguous
    return out


def test_round_trip(tmp_path):
    tensors = sample_tensors()
    path = tmp_path / "m.safetensors"
    save_safetensors(tensors, path, metadata={"format": "pt", "note": "ü"})
    out = load_safetensors(path)
    assert set(out) == set(tensors)
    for name, t in tensors.items():
        assert out[name].dtype == t.dtype and out[name].shape == t.shape
        np.testing.assert_array_equal(out[name].numpy(), t.numpy())
    assert safetensors_metadata(path) == {"format": "pt", "note": "ü"}
    # probe.load recognises the file by its content, whatever its name
    renamed = tmp_path / "weights.bin"
    renamed.write_bytes(path.read_bytes())
    out = load(renamed)
    np.testing.assert_array_equal(out["view"].numpy(), tensors["view"].numpy())


def test_layout(tmp_path):
    path = tmp_path / "m.safetensors"
    save_safetensors({"b": probe.ones(3, dtype=probe.int8), "a": probe.ones(2),
                      "c": probe.ones(1, dtype=probe.float64)}, path)
    n, header, data = header_of(path)
    assert n % 8 == 0
    assert "__metadata__" not in header
    # decreasing element size, then name: every tensor is aligned to its element size
    spans = sorted((v["data_offsets"], k) for k, v in header.items())
    assert [k for _, k in spans] == ["c", "a", "b"]
    assert header["a"] == {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}
    assert len(data) == 8 + 8 + 3
    assert safetensors_metadata(path) is None


def test_device_argument_and_empty_file(tmp_path):
    path = tmp_path / "e.safetensors"
    save_safetensors({}, path)
    assert load_safetensors(path) == {}
    save_safetensors({"x": probe.ones(2)}, path)
    assert load_safetensors(path, device="cpu")["x"].device == probe.device("cpu")


def test_bf16_and_unsigned_types_are_widened(tmp_path):
    values = np.array([1.5, -2.0, 2.0**100], dtype=np.float32)
    bf16 = (values.view(np.uint32) >> 16).astype("<u2")
    u16 = np.array([0, 65535], "<u2")
    u32 = np.array([0, 2**32 - 1], "<u4")
    header = {"bf": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]},
              "u16": {"dtype": "U16", "shape": [2], "data_offsets": [6, 10]},
              "u32": {"dtype": "U32", "shape": [2], "data_offsets": [10, 18]}}
    path = tmp_path / "w.safetensors"
    path.write_bytes(raw_file(header, bf16.tobytes() + u16.tobytes() + u32.tobytes()))
    with pytest.warns(UserWarning, match="loaded as"):
        out = load_safetensors(path)
    assert out["bf"].dtype == probe.float32
    np.testing.assert_array_equal(out["bf"].numpy(), values)
    assert out["u16"].dtype == probe.int32 and out["u16"].tolist() == [0, 65535]
    assert out["u32"].dtype == probe.int64 and out["u32"].tolist() == [0, 2**32 - 1]


@pytest.mark.parametrize("header, data, match", [
    ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 8, "needs 8 bytes"),
    ({"x": {"dtype": "F99", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8, "unknown dtype"),
    ({"x": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8, "shape"),
    ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, b"\0" * 8, "data_offsets"),
    ({"x": {"dtype": "F32", "shape": [2]}}, b"\0" * 8, "exactly dtype, shape and data_offsets"),
    ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "y": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12, "overlap"),
    ({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8, "truncated"),
    ({"__metadata__": {"a": 1}}, b"", "__metadata__ must map strings to strings"),
    ({"x": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}}, b"\x01\x07",
     "boolean values"),
    ({"x": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}, b"\0\0",
     "no dtype for safetensors dtype F8_E4M3"),
])
def test_malformed_files(tmp_path, header, data, match):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(raw_file(header, data))
    with pytest.raises(CheckpointError, match=match):
        load_safetensors(path)


def test_invalid_json_and_huge_header(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", 5) + b"{nope")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_safetensors(path)
    path.write_bytes(struct.pack("<Q", 2**40) + b"{}")
    with pytest.raises(CheckpointError, match="limit|truncated"):
        load_safetensors(path)
    path.write_bytes(struct.pack("<Q", 2) + b"[]")
    with pytest.raises(CheckpointError, match="not a JSON object"):
        load_safetensors(path)


def test_every_truncation_raises_checkpoint_error(tmp_path):
    path = tmp_path / "m.safetensors"
    save_safetensors({"a": probe.arange(5.0), "b": probe.ones(2, 2, dtype=probe.int64)}, path,
                     metadata={"k": "v"})
    data = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    for n in range(len(data)):
        cut.write_bytes(data[:n])
        with pytest.raises(CheckpointError):
            load_safetensors(cut)
        if n > 8:
            with pytest.raises(CheckpointError):
                load(io.BytesIO(data[:n]))


def test_bad_arguments(tmp_path):
    path = tmp_path / "x.safetensors"
    with pytest.raises(TypeError, match="dict of name -> tensor"):
        save_safetensors([probe.ones(1)], path)
    with pytest.raises(TypeError, match="expected a tensor"):
        save_safetensors({"x": [1.0]}, path)
    with pytest.raises(TypeError, match="names must be strings"):
        save_safetensors({1: probe.ones(1)}, path)
    with pytest.raises(TypeError, match="metadata must be a dict mapping str to str"):
        save_safetensors({"x": probe.ones(1)}, path, metadata={"a": 1})
    with pytest.raises(TypeError, match="complex128"):
        save_safetensors({"x": probe.ones(1, dtype=probe.complex128)}, path)
    with pytest.raises(ValueError, match="reserved"):
        save_safetensors({"__metadata__": probe.ones(1)}, path)
    assert not path.exists()


def test_overwrite_is_atomic(tmp_path, monkeypatch):
    import probe.engine.safetensors_io as st_io

    path = tmp_path / "x.safetensors"
    save_safetensors({"x": probe.ones(3)}, path)

    def broken(fh, data):
        raise OSError("disk full")

    monkeypatch.setattr(st_io, "_write_bytes", broken)
    with pytest.raises(OSError, match="disk full"):
        save_safetensors({"x": probe.zeros(3)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(load_safetensors(path)["x"].numpy(), [1.0, 1.0, 1.0])
    assert [p.name for p in tmp_path.iterdir()] == ["x.safetensors"]


# ---------------------------------------------------------------------------------------------
# Cross-reading with the safetensors package
# ---------------------------------------------------------------------------------------------

def test_files_written_by_the_package_load(tmp_path):
    st_numpy = pytest.importorskip("safetensors.numpy")
    rng = np.random.default_rng(1)
    arrays = {"w": rng.standard_normal((3, 4)).astype(np.float32),
              "b": rng.standard_normal(3).astype(np.float64),
              "h": rng.standard_normal(5).astype(np.float16),
              "i": np.arange(7, dtype=np.int64), "i8": np.arange(-3, 3, dtype=np.int8),
              "u": np.arange(4, dtype=np.uint8), "m": np.array([True, False, True]),
              "s": np.array(2.5, dtype=np.float32), "e": np.zeros((0, 3), np.float32)}
    path = tmp_path / "pkg.safetensors"
    st_numpy.save_file(arrays, str(path), metadata={"format": "np"})
    out = load_safetensors(path)
    assert set(out) == set(arrays)
    for name, arr in arrays.items():
        assert out[name].numpy().dtype == arr.dtype
        np.testing.assert_array_equal(out[name].numpy(), arr)
    assert safetensors_metadata(path) == {"format": "np"}


def test_files_written_by_probe_load_in_the_package(tmp_path):
    st_numpy = pytest.importorskip("safetensors.numpy")
    safetensors = pytest.importorskip("safetensors")
    tensors = {k: v for k, v in sample_tensors().items() if not v.dtype.is_complex}
    path = tmp_path / "probe.safetensors"
    save_safetensors(tensors, path, metadata={"who": "probe"})
    out = st_numpy.load_file(str(path))
    assert set(out) == set(tensors)
    for name, t in tensors.items():
        np.testing.assert_array_equal(out[name], t.numpy())
        assert out[name].dtype == t.numpy().dtype
    with safetensors.safe_open(str(path), framework="np") as f:
        assert f.metadata() == {"who": "probe"}


def test_same_bytes_as_the_package(tmp_path):
    st_numpy = pytest.importorskip("safetensors.numpy")
    arrays = {"weight": np.arange(6, dtype=np.float32).reshape(2, 3),
              "bias": np.arange(2, dtype=np.float32), "steps": np.array(3, dtype=np.int64),
              "mask": np.array([True, False])}
    path = tmp_path / "probe.safetensors"
    save_safetensors({k: probe.from_numpy(v) for k, v in arrays.items()}, path)
    theirs = st_numpy.save(arrays)
    n, header, data = header_of(path)
    m = struct.unpack("<Q", theirs[:8])[0]
    assert json.loads(theirs[8:8 + m]) == header
    assert theirs[8 + m:] == data
