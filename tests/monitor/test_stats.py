import math
import subprocess
import sys

import numpy as np
import pytest

import probe
import probe.nn as nn
import probe.optim as optim
from probe.monitor import GradientMonitor, stats


def _setup(opt_cls=optim.SGD, **kw):
    probe.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = opt_cls(model.parameters(), **kw)
    return model, opt


def _step(model, opt, monitor, clip=None):
    opt.zero_grad()
    loss = model(probe.arange(6, dtype=probe.float32).reshape(2, 3)).pow(2).sum()
    loss.backward()
    monitor.after_backward(loss)
    grads = {n: p.grad.numpy().copy() for n, p in model.named_parameters()}
    before = {n: p.detach().numpy().copy() for n, p in model.named_parameters()}
    if clip is not None:
        probe.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    return loss.item(), grads, before


@pytest.mark.parametrize("opt_cls,kw", [(optim.SGD, {"lr": 0.01, "momentum": 0.9}),
                                        (optim.Adam, {"lr": 1e-3})])
def test_values_match_hand_computed(opt_cls, kw):
    model, opt = _setup(opt_cls, **kw)
    mon = GradientMonitor(model, opt, rules=[])
    for _ in range(2):
        loss, grads, before = _step(model, opt, mon)
    rec = mon.last_record
    assert rec["step"] == 2 and rec["loss"] == pytest.approx(loss, rel=1e-5)
    assert rec["lr"] == kw["lr"]
    assert list(rec["params"]) == [n for n, _ in model.named_parameters()]
    total = 0.0
    for n, p in model.named_parameters():
        s, g, w0, w1 = rec["params"][n], grads[n], before[n], p.detach().numpy()
        total += float((g.astype(np.float64) ** 2).sum())
        assert s["grad_norm"] == pytest.approx(np.linalg.norm(g), rel=1e-5)
        assert s["grad_max"] == pytest.approx(np.abs(g).max(), rel=1e-6)
        assert s["weight_norm"] == pytest.approx(np.linalg.norm(w1), rel=1e-5)
        assert s["update_ratio"] == pytest.approx(
            np.linalg.norm(w1 - w0) / np.linalg.norm(w0), rel=1e-4)
        assert s["nonfinite"] == 0 and s["layer"] == n.rpartition(".")[0]
    assert rec["global_grad_norm"] == pytest.approx(math.sqrt(total), rel=1e-5)
    assert rec["global_grad_norm_clipped"] is None


def test_clipping_detected():
    model, opt = _setup(lr=0.01)
    mon = GradientMonitor(model, opt, rules=[])
    _step(model, opt, mon, clip=0.5)
    rec = mon.last_record
    assert rec["global_grad_norm"] > 0.5
    assert rec["global_grad_norm_clipped"] == pytest.approx(0.5, rel=1e-4)


def test_one_transfer_per_step(monkeypatch):
    model, opt = _setup(lr=0.01)
    mon = GradientMonitor(model, opt)
    calls = []
    real = stats.to_host
    monkeypatch.setattr(stats, "to_host", lambda a: calls.append(np.shape(a)) or real(a))
    for _ in range(3):
        _step(model, opt, mon)
    assert len(calls) == 3  # one stacked array per step, not one per layer
    n = len(list(model.parameters()))
    assert calls[0] == (3 * n + 1 + 3 * n,)  # grad (sq, max, min), loss, update stats


def test_every_and_nonfinite_count():
    model, opt = _setup(lr=0.01)
    mon = GradientMonitor(model, opt, every=2, rules=[])
    _step(model, opt, mon)
    assert mon.last_record is None
    _step(model, opt, mon)
    assert mon.last_record["step"] == 2
    opt.zero_grad()
    model(probe.ones(1, 3)).sum().backward()
    model[0].weight.grad[0, 0] = float("nan")
    model[0].weight.grad[1, 1] = float("inf")
    opt.step()
    opt.zero_grad()
    model(probe.ones(1, 3)).sum().backward()
    model[0].weight.grad[0, 0] = float("nan")
    opt.step()
    s = mon.last_record["params"]["0.weight"]
    assert s["nonfinite"] == 1 and math.isnan(s["grad_norm"])


def test_without_optimizer():
    model, _ = _setup(lr=0.1)
    sink = []
    mon = GradientMonitor(model, sinks=[sink.append])
    model(probe.ones(1, 3)).sum().backward()
    mon.after_backward()
    assert sink[0]["step"] == 1 and sink[0]["params"]["0.weight"]["update_ratio"] is None


def test_import_loads_no_textual():
    code = "import sys, probe.monitor, probe.monitor.demo; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
