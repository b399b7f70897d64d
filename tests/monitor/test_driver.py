import io
import threading
import time

import pytest

import probe
import probe.nn as nn
import probe.optim as optim
from probe.monitor import (
    GradientMonitor,
    NonFiniteRule,
    RecordBuffer,
    RunReader,
    TrainingController,
    TrainingStopped,
    fit,
)
from probe.utils.data import DataLoader, TensorDataset


def _job(n=64):
    probe.manual_seed(0)
    data = TensorDataset(probe.randn(n, 4), probe.randint(0, 2, (n,)))
    model = nn.Linear(4, 2)
    return model, DataLoader(data, batch_size=8), optim.SGD(model.parameters(), lr=0.1)


def _wait(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.005)
    return False


def test_headless_output_and_run_dir(tmp_path):
    model, loader, opt = _job()
    out = io.StringIO()
    result = fit(model, loader, opt, nn.CrossEntropyLoss(), epochs=2, run_dir=tmp_path,
                 print_every=4, out=out)
    assert result["state"] == "finished" and result["steps"] == 16
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("step 4 epoch 0 loss ") and "steps/s" in lines[0]
    assert lines[-1] == "training finished after 16 steps"
    records = RunReader(tmp_path).records()
    assert [r["state"] for r in records if r["type"] == "status"] == ["running", "finished"]
    assert sum(r["type"] == "step" for r in records) == 16
    assert (tmp_path / "meta.json").exists()


def test_headless_prints_alerts():
    model, loader, opt = _job(16)
    out = io.StringIO()
    mon = GradientMonitor(model, opt, rules=[NonFiniteRule()])
    fit(model, loader, opt, lambda y, t: nn.functional.cross_entropy(y, t) * float("nan"),
        epochs=1, monitor=mon, out=out)
    assert "ALERT step 1 [critical] nonfinite" in out.getvalue()


def test_pause_step_once_resume_stop_from_another_thread():
    model, loader, opt = _job()
    ctl = TrainingController()
    buf = RecordBuffer()
    ctl.pause()
    result = {}
    t = threading.Thread(target=lambda: result.update(
        fit(model, loader, opt, nn.CrossEntropyLoss(), epochs=None, controller=ctl,
            sinks=[buf], headless=False)))
    t.start()
    try:
        assert _wait(lambda: any(r.get("state") == "paused" for r in buf.snapshot()))
        assert buf.latest() is None  # paused before the first step
        ctl.step_once()
        assert _wait(lambda: buf.latest() is not None and buf.latest()["step"] == 1)
        time.sleep(0.1)
        assert buf.latest()["step"] == 1 and ctl.state == "paused"
        ctl.scale_lr(0.5)
        ctl.resume()
        assert _wait(lambda: buf.latest()["step"] > 5)
        assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
        ctl.pause()
        ctl.stop()
    finally:
        ctl.stop()
        t.join(timeout=5)
    assert not t.is_alive()
    assert result["state"] == "stopped" and ctl.state == "stopped"
    assert buf.snapshot()[-1]["type"] == "status" and buf.snapshot()[-1]["state"] == "stopped"


def test_rule_stop_propagates_and_is_logged(tmp_path):
    model, loader, opt = _job(16)
    mon = GradientMonitor(model, opt, rules=[NonFiniteRule(policy="stop")])
    with pytest.raises(TrainingStopped):
        fit(model, loader, opt, lambda y, t: (y * float("nan")).sum(), monitor=mon,
            run_dir=tmp_path, headless=False)
    last = RunReader(tmp_path).records()[-1]
    assert last["type"] == "status" and last["state"] == "stopped"


def test_demo_hooks_flag_alerts():
    from probe.monitor.demo import DemoJob

    job = DemoJob(n=256, batch_size=32)
    job.run(max_steps=25)
    job.explode()
    job.run(max_steps=5)
    rules = {a["rule"] for r in job.buffer.snapshot() if r["type"] == "step"
             for a in r["alerts"] if r["step"] > 25}
    assert "exploding" in rules or "nonfinite" in rules


def test_demo_pacing_holds_batches_back_to_the_rate(monkeypatch):
    from probe.monitor import demo

    clock = {"now": 100.0}
    sleeps = []

    def sleep(seconds):
        sleeps.append(round(seconds, 6))
        clock["now"] += seconds

    monkeypatch.setattr(demo.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(demo.time, "sleep", sleep)
    hooked = demo._Hooked(range(5), hook=lambda: None, steps_per_s=10)
    seen = []
    for batch in hooked:
        seen.append((batch, round(clock["now"], 6)))
        if batch == 2:
            clock["now"] += 1.0  # a pause: no burst of catch-up steps afterwards
    assert seen == [(0, 100.0), (1, 100.1), (2, 100.2), (3, 101.2), (4, 101.3)]
    assert sleeps == [0.1, 0.1, 0.1]
    assert list(demo._Hooked(range(3), hook=lambda: None)) == [0, 1, 2]  # unpaced
    with pytest.raises(ValueError, match="steps_per_s"):
        demo.DemoJob(n=32, steps_per_s=0)
