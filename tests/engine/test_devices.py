"""Devices: ``probe.device``, the ``probe.cuda`` queries without CuPy or a GPU, moving to CUDA,
``CUDA_VISIBLE_DEVICES`` and the device-mismatch error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import probe

REPO_ROOT = Path(__file__).resolve().parents[2]
HAS_CUDA = probe.cuda.is_available()


def run_python(code: str, env_updates: dict | None = None) -> dict:
    """Run ``code`` in a fresh interpreter (repo root on the path); it prints one JSON line."""
    env = dict(os.environ)
    env.update(env_updates or {})
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# Makes ``import cupy`` fail in the subprocess, whether or not CuPy is installed here.
WITHOUT_CUPY = "import sys\nsys.modules['cupy'] = None\n"


class TestDeviceObject:
    def test_parse_and_repr(self):
        assert repr(probe.device("cpu")) == "device(type='cpu')"
        assert repr(probe.device("cuda")) == "device(type='cuda')"
        assert repr(probe.device("cuda:1")) == "device(type='cuda', index=1)"
        assert repr(probe.device("cuda", 1)) == "device(type='cuda', index=1)"
        assert repr(probe.device(1)) == "device(type='cuda', index=1)"
        assert str(probe.device("cuda:1")) == "cuda:1"
        assert str(probe.device("cpu")) == "cpu"

    def test_attributes(self):
        d = probe.device("cuda:1")
        assert d.type == "cuda" and d.index == 1
        assert probe.device("cpu").index is None
        assert probe.device("cuda").index is None

    def test_equality_and_hash(self):
        assert probe.device("cuda:1") == probe.device("cuda", 1)
        assert probe.device("cpu") == probe.device("cpu")
        assert probe.device("cuda") != probe.device("cuda:0")
        assert probe.device("cuda:0") != probe.device("cuda:1")
        assert probe.device("cpu") != probe.device("cuda")
        assert {probe.device("cpu"): 1}[probe.device("cpu")] == 1
        assert hash(probe.device("cuda:1")) == hash(probe.device("cuda", 1))

    def test_device_of_device(self):
        d = probe.device("cpu")
        assert probe.device(d) == d

    def test_errors(self):
        with pytest.raises(RuntimeError, match="^Invalid device string: 'cuda:x'$"):
            probe.device("cuda:x")
        with pytest.raises(RuntimeError, match="device type at start of device string: foo$"):
            probe.device("foo")
        with pytest.raises(RuntimeError, match="^type \\(string\\) must not include an index "
                                               "because index was passed explicitly: cuda:1$"):
            probe.device("cuda:1", 2)
        with pytest.raises(RuntimeError, match="^Device index must not be negative$"):
            probe.device(-1)
        with pytest.raises(TypeError):
            probe.device(1.5)

    def test_pickle(self):
        import pickle

        assert pickle.loads(pickle.dumps(probe.device("cuda:1"))) == probe.device("cuda:1")

    def test_tensor_device(self):
        t = probe.ones(2, device="cpu")
        assert t.device == probe.device("cpu")
        assert probe.zeros(2, device=probe.device("cpu")).device.type == "cpu"


class TestWithoutCuda:
    def test_mps_is_not_available(self):
        assert probe.backends.mps.is_available() is False

    @pytest.mark.skipif(HAS_CUDA, reason="checks the machine has no usable CUDA")
    def test_queries_without_gpu(self):
        assert probe.cuda.is_available() is False
        assert probe.cuda.device_count() == 0
        assert probe.cuda.best_device() == probe.device("cpu")

    def test_queries_without_cupy(self):
        out = run_python(WITHOUT_CUPY + (
            "import json, probe\n"
            "print(json.dumps({'avail': probe.cuda.is_available(),\n"
            "                  'count': probe.cuda.device_count(),\n"
            "                  'best': str(probe.cuda.best_device()),\n"
            "                  'mps': probe.backends.mps.is_available()}))\n"))
        assert out == {"avail": False, "count": 0, "best": "cpu", "mps": False}

    def test_moving_to_cuda_without_cupy_says_how_to_install(self):
        out = run_python(WITHOUT_CUPY + (
            "import json, probe\n"
            "errors = []\n"
            "t = probe.ones(2)\n"
            "for move in (lambda: t.cuda(), lambda: t.to('cuda'), lambda: t.to('cuda:0'),\n"
            "             lambda: probe.ones(2, device='cuda')):\n"
            "    try:\n"
            "        move()\n"
            "        errors.append(None)\n"
            "    except Exception as exc:\n"
            "        errors.append([type(exc).__name__, str(exc)])\n"
            "print(json.dumps(errors))\n"))
        for kind, message in out:
            assert kind == "RuntimeError"
            assert "probe[cuda12]" in message
            assert "pip install" in message

    @pytest.mark.skipif(HAS_CUDA, reason="checks the error path of a machine without CUDA")
    def test_moving_to_cuda_here_raises(self):
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            probe.ones(2).cuda()

    def test_cuda_visible_devices_empty(self):
        out = run_python(
            "import json, probe\n"
            "print(json.dumps({'count': probe.cuda.device_count(),\n"
            "                  'avail': probe.cuda.is_available(),\n"
            "                  'best': str(probe.cuda.best_device())}))\n",
            {"CUDA_VISIBLE_DEVICES": ""})
        assert out == {"count": 0, "avail": False, "best": "cpu"}

    def test_cuda_visible_devices_minus_one(self):
        out = run_python("import json, probe\nprint(json.dumps(probe.cuda.device_count()))\n",
                         {"CUDA_VISIBLE_DEVICES": "-1"})
        assert out == 0

    def test_import_does_not_need_cupy(self):
        out = run_python(WITHOUT_CUPY + (
            "import json, probe\n"
            "x = probe.ones(2, requires_grad=True)\n"
            "(x * 3).backward(probe.ones(2))\n"
            "print(json.dumps(x.grad.tolist()))\n"))
        assert out == [3.0, 3.0]


@pytest.mark.skipif(not HAS_CUDA, reason="needs CuPy and a CUDA GPU")
@pytest.mark.cuda
class TestWithCuda:
    def test_queries(self):
        assert probe.cuda.device_count() >= 1
        best = probe.cuda.best_device()
        assert best.type == "cuda" and 0 <= best.index < probe.cuda.device_count()
        probe.cuda.synchronize()
        assert isinstance(probe.cuda.get_device_name(), str)

    def test_device_mismatch_error(self):
        a = probe.ones(2)
        b = probe.ones(2, device="cuda")
        with pytest.raises(RuntimeError) as info:
            a + b
        assert str(info.value) == (
            "Expected all tensors to be on the same device, but found at least two devices, "
            "cpu and cuda:0!")
        with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
            b * a

    def test_to_cuda_forms(self):
        t = probe.arange(3.0)
        for moved in (t.cuda(), t.cuda(0), t.to("cuda"), t.to("cuda:0"),
                      t.to(probe.device("cuda", 0)), t.to(device="cuda")):
            assert moved.device == probe.device("cuda", 0)
            assert moved.cpu().tolist() == [0.0, 1.0, 2.0]
        assert t.to("cuda", probe.float64).dtype == probe.float64

    def test_numpy_of_cuda_tensor(self):
        g = probe.ones(2, device="cuda")
        with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"):
            g.numpy()
        assert g.cpu().numpy().tolist() == [1.0, 1.0]

    def test_backward_across_devices(self):
        x = probe.ones(3, requires_grad=True)
        y = (x.cuda() * 2).cpu()
        y.sum().backward()
        assert x.grad.device.type == "cpu"
        assert x.grad.tolist() == [2.0, 2.0, 2.0]

    def test_cuda_visible_devices_restricts(self):
        out = run_python("import json, probe\nprint(json.dumps(probe.cuda.device_count()))\n",
                         {"CUDA_VISIBLE_DEVICES": "0"})
        assert out == 1
