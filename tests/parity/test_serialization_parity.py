"""Checkpoints written by PyTorch load in probe: values, dtypes, sharing, and a model whose
state_dict was saved by torch gives the same outputs in probe."""

from __future__ import annotations

import io
import math
import os
import warnings
from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import probe  # noqa: E402
from probe import nn  # noqa: E402
from probe.serialization import (  # noqa: E402
    CheckpointError,
    UnsafeCheckpointError,
    load,
    load_safetensors,
    save_safetensors,
)


def torch_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.Conv2d(4, 2, 3, stride=2), torch.nn.Flatten(), torch.nn.Linear(2 * 3 * 3, 5),
    )


def probe_model():
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 2, 3, stride=2), nn.Flatten(), nn.Linear(2 * 3 * 3, 5),
    )


def trained_torch_model():
    model = torch_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(6, 3, 7, 7)
    for _ in range(3):  # moves the BatchNorm running statistics away from their defaults
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
    return model.eval()


@pytest.mark.parametrize("fmt", ["zip", "zip protocol 4", "legacy", "file object"])
def test_torch_state_dict_loads_into_the_probe_model(tmp_path, fmt):
    model = trained_torch_model()
    path = tmp_path / "model.pt"
    if fmt.startswith("zip"):
        torch.save(model.state_dict(), path, pickle_protocol=4 if "4" in fmt else 2)
        state = load(path)
    elif fmt == "legacy":
        torch.save(model.state_dict(), path, _use_new_zipfile_serialization=False)
        state = load(path)
    else:
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        buf.seek(0)
        state = load(buf, map_location="cpu")
    assert type(state) is OrderedDict
    assert list(state) == list(model.state_dict())
    assert state["1.num_batches_tracked"].dtype == probe.int64
    assert state["1.num_batches_tracked"].item() == 3
    ours = probe_model()
    ours.load_state_dict(state)
    ours.eval()
    x = np.random.default_rng(0).standard_normal((4, 3, 7, 7)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    with probe.no_grad():
        got = ours(probe.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_mixed_checkpoint_values_dtypes_and_sharing(tmp_path):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    ckpt = {
        "model": torch.nn.Linear(3, 2).state_dict(),
        "param": torch.nn.Parameter(torch.randn(3)),
        "frozen": torch.nn.Parameter(torch.randn(2), requires_grad=False),
        "base": base, "row": base[1], "col": base[:, 2], "t": base.t(), "step": base[::2, 1::3],
        "half": torch.randn(3, 2).half(), "bf16": torch.randn(5).bfloat16(),
        "long": torch.arange(-5, 5), "int": torch.arange(3, dtype=torch.int32),
        "short": torch.arange(3, dtype=torch.int16), "byte": torch.arange(250, 256).byte(),
        "char": torch.arange(-3, 3, dtype=torch.int8), "bool": torch.tensor([True, False]),
        "double": torch.randn(2, 2, dtype=torch.float64),
        "cplx": torch.randn(3, dtype=torch.cfloat), "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 4), "expanded": torch.ones(3, 1).expand(3, 4),
        "grad": torch.ones(2, requires_grad=True),
        "meta": {"epoch": 5, "lr": [0.1, 0.01], "name": "resnet", "none": None,
                 "nan": math.nan, "inf": -math.inf, "tuple": (1, "a"), "size": base.shape,
                 "set": {1, 2}, "bytes": b"\x00\x01", "dtype": torch.float16,
                 "device": torch.device("cpu")},
    }
    path = tmp_path / "mixed.pt"
    torch.save(ckpt, path)
    with pytest.warns(UserWarning, match="bfloat16"):
        out = load(path)
    for key, value in ckpt.items():
        if not isinstance(value, torch.Tensor):
            continue
        got = out[key]
        expected = value.detach()
        if expected.dtype == torch.bfloat16:
            assert got.dtype == probe.float32
            expected = expected.float()
        else:
            assert str(got.dtype).split(".")[1] == str(expected.dtype).split(".")[1], key
        assert tuple(got.shape) == tuple(expected.shape), key
        np.testing.assert_array_equal(got.detach().numpy(), expected.numpy(), err_msg=key)
        assert got.requires_grad == value.requires_grad, key
    assert isinstance(out["param"], nn.Parameter) and out["param"].requires_grad
    assert isinstance(out["frozen"], nn.Parameter) and not out["frozen"].requires_grad
    assert type(out["grad"]) is probe.Tensor and out["grad"].requires_grad
    assert type(out["model"]) is OrderedDict and list(out["model"]) == ["weight", "bias"]
    meta = out["meta"]
    assert (meta["epoch"], meta["lr"], meta["name"], meta["none"]) == (5, [0.1, 0.01], "resnet",
                                                                      None)
    assert math.isnan(meta["nan"]) and meta["inf"] == -math.inf
    assert meta["tuple"] == (1, "a") and meta["set"] == {1, 2} and meta["bytes"] == b"\x00\x01"
    assert type(meta["size"]) is probe.Size and meta["size"] == (4, 6)
    assert meta["dtype"] is probe.float16 and meta["device"] == probe.device("cpu")
    # views of one storage still share it, as they do in torch
    out["base"].zero_()
    for key in ("row", "col", "t", "step"):
        assert out[key].abs().sum().item() == 0, key


def test_tensor_with_python_attributes_and_torch_uint16(tmp_path):
    t = torch.arange(4.0)
    t.note = "hello"  # saved through _rebuild_from_type_v2
    u = torch.tensor([1, 60000], dtype=torch.uint16)  # saved through _rebuild_tensor_v3
    path = tmp_path / "x.pt"
    torch.save({"t": t, "u": u}, path)
    with pytest.warns(UserWarning, match="uint16"):
        out = load(path)
    np.testing.assert_array_equal(out["t"].numpy(), [0.0, 1, 2, 3])
    assert out["u"].dtype == probe.int32 and out["u"].tolist() == [1, 60000]


def test_whole_module_and_malicious_objects_are_refused(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(UnsafeCheckpointError, match=r"state_dict\(\) instead"):
        load(path)

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch '{marker}'",))

    torch.save({"weights": torch.ones(2), "evil": Payload()}, path)
    with pytest.raises(UnsafeCheckpointError, match="system"):
        load(path)
    assert not marker.exists()
    # torch's own weights-only loader refuses it too
    with pytest.raises(Exception, match="system"):
        torch.load(path, weights_only=True)
    assert not marker.exists()


def test_truncated_torch_checkpoint(tmp_path):
    buf = io.BytesIO()
    torch.save({"w": torch.randn(4, 4), "b": torch.arange(3)}, buf)
    data = buf.getvalue()
    for n in range(0, len(data), 7):
        with pytest.raises(CheckpointError):
            load(io.BytesIO(data[:n]))


def test_probe_checkpoint_loads_probe_state_dict_like_torch(tmp_path):
    """probe.save of a probe model's state_dict, then load_state_dict, matches torch doing the
    same with the same weights."""
    model = trained_torch_model()
    ours = probe_model()
    ours.load_state_dict(load(_saved(model.state_dict())))
    path = tmp_path / "probe.pt"
    probe.serialization.save(ours.state_dict(), path)
    again = probe_model()
    again.load_state_dict(load(path))
    again.eval()
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 7)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    with probe.no_grad():
        np.testing.assert_allclose(again(probe.from_numpy(x)).numpy(), expected,
                                   rtol=1e-5, atol=1e-5)


def _saved(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return buf


def test_safetensors_cross_read_with_torch(tmp_path):
    st_torch = pytest.importorskip("safetensors.torch")
    model = trained_torch_model()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    state["bf16"] = torch.tensor([1.5, -2.0, 0.25], dtype=torch.bfloat16)
    path = tmp_path / "torch.safetensors"
    st_torch.save_file(state, str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = load_safetensors(path)
    for key, value in state.items():
        np.testing.assert_array_equal(ours[key].numpy(), value.float().numpy()
                                      if value.dtype == torch.bfloat16 else value.numpy())
    del ours["bf16"]
    out_path = tmp_path / "probe.safetensors"
    save_safetensors(ours, out_path)
    back = st_torch.load_file(str(out_path))
    for key, value in back.items():
        assert value.dtype == state[key].dtype
        torch.testing.assert_close(value, state[key], rtol=0, atol=0)
