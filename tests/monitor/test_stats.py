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


ALL_OPTIMIZERS = [
    (optim.SGD, {"lr": 0.01, "momentum": 0.9}),
    (optim.SGD, {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    (optim.SGD, {"lr": 0.01, "maximize": True}),
    (optim.Adam, {"lr": 1e-3}),
    (optim.Adam, {"lr": 1e-3, "weight_decay": 0.1, "amsgrad": True}),
    (optim.AdamW, {"lr": 1e-3, "weight_decay": 0.5}),
    (optim.RMSprop, {"lr": 1e-3, "momentum": 0.5, "centered": True}),
    (optim.RMSprop, {"lr": 1e-3}),
    (optim.Adagrad, {"lr": 0.05, "weight_decay": 0.1}),
]


@pytest.mark.parametrize("opt_cls,kw", ALL_OPTIMIZERS)
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


@pytest.mark.parametrize("opt_cls,kw", [ALL_OPTIMIZERS[0], ALL_OPTIMIZERS[5]])
def test_layer_totals_combine_their_parameters(opt_cls, kw):
    model, opt = _setup(opt_cls, **kw)
    mon = GradientMonitor(model, opt, rules=[])
    for _ in range(2):
        _, grads, before = _step(model, opt, mon)
    layers = mon.last_record["layers"]
    assert list(layers) == ["0", "2"]
    for layer, totals in layers.items():
        names = [f"{layer}.weight", f"{layer}.bias"]
        assert totals["params"] == names
        g = np.concatenate([grads[n].ravel() for n in names]).astype(np.float64)
        w0 = np.concatenate([before[n].ravel() for n in names]).astype(np.float64)
        w1 = np.concatenate([dict(model.named_parameters())[n].detach().numpy().ravel()
                             for n in names]).astype(np.float64)
        assert totals["grad_norm"] == pytest.approx(np.linalg.norm(g), rel=1e-5)
        assert totals["grad_max"] == pytest.approx(np.abs(g).max(), rel=1e-6)
        assert totals["weight_norm"] == pytest.approx(np.linalg.norm(w1), rel=1e-5)
        assert totals["update_ratio"] == pytest.approx(
            np.linalg.norm(w1 - w0) / np.linalg.norm(w0), rel=1e-4)
        assert totals["nonfinite"] == 0


def test_layer_totals_with_a_non_finite_gradient():
    model, opt = _setup(lr=0.0)
    mon = GradientMonitor(model, opt, rules=[])
    opt.zero_grad()
    model(probe.ones(2, 3)).sum().backward()
    model[2].bias.grad[0] = math.inf
    mon.after_backward()
    opt.step()
    layers = mon.last_record["layers"]
    assert layers["2"]["nonfinite"] == 1 and math.isnan(layers["2"]["grad_norm"])
    assert math.isnan(layers["2"]["grad_max"])
    assert layers["0"]["nonfinite"] == 0 and math.isfinite(layers["0"]["grad_norm"])


class _PlainSGD(optim.Optimizer):
    """A user's optimizer: its own ``step`` and no update reports."""

    def __init__(self, params, lr):
        super().__init__(params, {"lr": lr})

    @probe.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"])


class _OwnStepSGD(optim.SGD):
    """Inherits SGD's update reports but overrides ``step`` without them."""

    @probe.no_grad()
    def step(self, closure=None):
        for p in self.param_groups[0]["params"]:
            p.add_(p.grad, alpha=-0.01)


def _measured_vs_true(model, opt, mon):
    _, _, before = _step(model, opt, mon)
    out = []
    for n, p in model.named_parameters():
        w0, w1 = before[n], p.detach().numpy()
        out.append((mon.last_record["params"][n]["update_ratio"],
                    np.linalg.norm(w1 - w0) / np.linalg.norm(w0)))
    return out


def test_optimizer_without_update_reports_falls_back_to_weight_copies():
    model, _ = _setup()
    opt = _PlainSGD(model.parameters(), lr=0.01)
    mon = GradientMonitor(model, opt, rules=[])
    assert not mon._reporting
    for got, want in _measured_vs_true(model, opt, mon):
        assert got == pytest.approx(want, rel=1e-4)


def test_subclass_that_stops_reporting_gets_ratios_from_the_next_step():
    model, _ = _setup()
    opt = _OwnStepSGD(model.parameters(), lr=0.01)
    mon = GradientMonitor(model, opt, rules=[])
    first = _measured_vs_true(model, opt, mon)
    assert all(got is None for got, _ in first)  # unknown, not a false "ratio 0" alarm
    for got, want in _measured_vs_true(model, opt, mon):
        assert got == pytest.approx(want, rel=1e-4)


def test_parameters_outside_the_optimizer_get_no_ratio_and_no_alert():
    model, _ = _setup()
    opt = optim.SGD(model[0].parameters(), lr=0.01)  # the last layer trains elsewhere
    mon = GradientMonitor(model, opt)
    for _ in range(3):
        _step(model, opt, mon)
    params = mon.last_record["params"]
    assert params["0.weight"]["update_ratio"] > 0
    assert params["2.weight"]["update_ratio"] is None
    assert params["2.weight"]["weight_norm"] > 0
    assert not [a for a in mon.last_record["alerts"] if a["layer"] == "2.weight"]
    opt.add_param_group({"params": list(model[2].parameters())})
    _step(model, opt, mon)
    assert mon.last_record["params"]["2.weight"]["update_ratio"] > 0


def test_update_reports_cost_no_weight_copies():
    model, opt = _setup(lr=0.01)
    mon = GradientMonitor(model, opt, rules=[])
    _step(model, opt, mon)
    assert mon._reporting and not mon._snapshots


def test_update_observer_is_attached_only_around_monitored_steps():
    # AdamW assembles the whole change (decay + Adam step) only while someone observes it.
    model, opt = _setup(optim.AdamW, lr=1e-3, weight_decay=0.1)
    mon = GradientMonitor(model, opt, every=2, rules=[])
    observers_during_step = []
    opt.register_step_pre_hook(lambda *a: observers_during_step.append(
        len(opt._update_observers)))  # runs after the monitor's own pre-hook
    assert not opt._update_observers
    for _ in range(4):
        _step(model, opt, mon)
    assert observers_during_step == [0, 1, 0, 1]
    assert not opt._update_observers
    assert mon.last_record["step"] == 4 and all(
        s["update_ratio"] is not None for s in mon.last_record["params"].values())
    mon.remove()
    assert not opt._update_observers


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


def test_weights_edited_between_steps_are_not_counted_as_the_update():
    model, opt = _setup(lr=0.01, momentum=0.9)
    mon = GradientMonitor(model, opt, rules=[])
    _step(model, opt, mon)
    with probe.no_grad():
        model[0].weight.mul_(10.0)  # e.g. a nethook edit or the demo's "vanish" key
    for got, want in _measured_vs_true(model, opt, mon):
        assert got == pytest.approx(want, rel=1e-4)
