"""Sources (ring, run directory, fake), the run state and the headless printer: no Textual."""

from __future__ import annotations

import io
import json
import math
import threading

from tui_records import alert, meta, status, step

from probe.tui.headless import run_headless
from probe.tui.sources import (
    FakeController,
    FakeSource,
    RingSource,
    RunDirSource,
    call_controller,
)
from probe.tui.state import FLAG_SECONDS, FLAG_TTL, RunState, fmt_num, format_alert, sparkline


def encode(rec) -> str:
    """The run log's encoding: non-finite floats as strings."""

    def enc(x):
        if isinstance(x, float) and not math.isfinite(x):
            return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
        if isinstance(x, dict):
            return {k: enc(v) for k, v in x.items()}
        if isinstance(x, list):
            return [enc(v) for v in x]
        return x

    return json.dumps(enc(rec), allow_nan=False)


def write_run(run_dir, records, torn: str = ""):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "meta.json").write_text(json.dumps(meta()))
    with open(run_dir / "metrics.jsonl", "w") as fh:
        for r in records:
            fh.write(encode(r) + "\n")
        fh.write(torn)


def test_run_dir_source_reads_meta_then_follows(tmp_path):
    write_run(tmp_path, [step(1), step(2)], torn='{"type": "st')
    src = RunDirSource(tmp_path)
    recs = src.poll()
    assert [r["type"] for r in recs] == ["meta", "step", "step"]
    assert src.meta["run_id"] == "test-run" and src.controller is None
    assert src.poll() == []
    with open(tmp_path / "metrics.jsonl", "a") as fh:
        fh.write('ep", "step": 3, "epoch": 0, "params": {}, "alerts": []}\n')
    assert [r["step"] for r in src.poll()] == [3]


def test_ring_source_is_thread_safe_and_bounded():
    ring = RingSource(maxlen=50_000)
    threads = [threading.Thread(target=lambda k=k: [ring({"type": "step", "step": k * 1000 + i})
                                                     for i in range(1000)]) for k in range(4)]
    seen = []
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        seen += ring.poll()
    seen += ring.poll()
    assert len(seen) == 4000 and len({r["step"] for r in seen}) == 4000
    small = RingSource(maxlen=3)
    for i in range(5):
        small.append({"type": "step", "step": i})
    assert [r["step"] for r in small.poll()] == [2, 3, 4] and small.dropped == 2


def test_call_controller_picks_the_first_method():
    ctrl = FakeController()
    assert call_controller(ctrl, "single_step", "step_once")
    assert not call_controller(ctrl, "explode")
    assert not call_controller(None, "stop")
    assert ctrl.calls == ["step_once"]


def test_run_state_folds_records_and_flags():
    st = RunState()
    for r in [meta(), *(step(i) for i in range(1, 11)),
              step(11, norms={"fc.weight": math.nan},
                   alerts=[alert("nonfinite", "critical", "fc.weight", 11),
                           alert("exploding", "critical", None, 11)]),
              status("paused", 11)]:
        st.apply(r)
    assert st.step == 11 and st.state == "paused" and st.alert_total == 2
    assert st.layers["fc.weight"].flag(st.step) == ("critical", "NONFINITE")
    assert [lay.name for lay in st.flagged()] == ["fc.weight"]
    assert math.isclose(st.steps_per_s, 10.0)
    assert len(st.layers["conv1.weight"].norms) == 11


def test_flags_last_both_flag_ttl_steps_and_flag_seconds_of_run_time():
    st = RunState()
    st.apply(step(1, alerts=[alert("exploding", "critical", "fc.bias", 1)]))
    fast = step(FLAG_TTL + 50)  # far past FLAG_TTL steps, but 0.1 s of run time later
    fast["time"] = 1000.1 + FLAG_SECONDS / 2
    st.apply(fast)
    assert st.layers["fc.bias"].flag(st.step, st.time) == ("critical", "EXPLODING")
    late = step(FLAG_TTL + 60)
    late["time"] = 1000.1 + FLAG_SECONDS + 1
    st.apply(late)
    assert st.layers["fc.bias"].flag(st.step, st.time) == ("ok", "ok")
    slow = RunState()  # a slow run: FLAG_TTL steps hold the flag whatever the time
    slow.apply(step(1, alerts=[alert("vanishing", "warning", "fc.bias", 1)]))
    later = step(FLAG_TTL)
    later["time"] = 1000.1 + 100 * FLAG_SECONDS
    slow.apply(later)
    assert slow.layers["fc.bias"].flag(slow.step, slow.time) == ("warning", "VANISHING")


def test_formatting_helpers():
    assert fmt_num(None) == "-" and fmt_num(math.nan) == "nan" and fmt_num(math.inf) == "inf"
    assert fmt_num(1.5e-5) == "1.50e-05"
    assert sparkline([1, 10, 100, 1000], 4) == "▁▃▆█"
    assert sparkline([1, math.nan, 1], 3)[1] == "!"


def test_headless_prints_progress_and_alerts():
    recs = [meta(), *(step(i) for i in range(1, 21)),
            step(21, alerts=[alert("exploding", "critical", "fc.weight", 21, "norm 1e4")]),
            status("finished", 21)]
    out = io.StringIO()
    st = run_headless(FakeSource(recs), every=10, out=out, poll_interval=0.01)
    text = out.getvalue()
    assert st.step == 21
    assert "step 10 | epoch 0" in text and "step 20 | epoch 0" in text
    assert "ALERT [critical] step 21 exploding fc.weight: norm 1e4" in text
    assert "status: finished at step 21" in text
    assert text.rstrip().endswith("done: 21 steps, 1 alerts")


def test_headless_without_follow_stops_when_drained(tmp_path):
    write_run(tmp_path, [step(i) for i in range(1, 6)])
    out = io.StringIO()
    st = run_headless(RunDirSource(tmp_path), every=2, out=out, follow=False)
    assert st.step == 5 and "step 4 |" in out.getvalue()


def test_alert_with_repeats_formats_the_count():
    text = format_alert({"rule": "exploding", "severity": "critical", "layer": "fc.weight",
                         "message": "grad norm 5e3 above 1e3", "step": 40, "policy": "warn",
                         "repeats": 19})
    assert text == ("[critical] step 40 exploding fc.weight: grad norm 5e3 above 1e3 "
                    "(+19 since last shown)")


def test_run_state_keeps_module_rows_from_the_records_layers():
    st = RunState()
    rec = step(1)
    rec["layers"] = {"conv1": {"params": ["conv1.weight", "conv1.bias"], "grad_norm": 0.3,
                               "grad_max": 0.1, "weight_norm": 1.4, "update_ratio": 2e-3,
                               "nonfinite": 0},
                     "": {"params": ["scale"], "grad_norm": 0.5, "grad_max": 0.5,
                          "weight_norm": 1.0, "update_ratio": None, "nonfinite": 0}}
    st.apply(rec)
    assert list(st.modules) == ["conv1", "(root)"]
    conv = st.modules["conv1"]
    assert (conv.grad_norm, conv.update_ratio, conv.params) == (
        0.3, 2e-3, ("conv1.weight", "conv1.bias"))
    st.apply(step(2, alerts=[alert("exploding", "critical", "conv1.bias", 2, "spike")]))
    assert conv.flag(st.step, st.time) == ("critical", "EXPLODING")
    assert conv.flag_message == "conv1.bias: spike"
    assert [m.name for m in st.flagged("modules")] == ["conv1"]
    # step 2 had no "layers": they were rebuilt from its params (no update ratio then)
    assert conv.update_ratio is None and len(conv.norms) == 2


def test_run_dir_source_controls_a_run_whose_meta_offers_a_command_file(tmp_path):
    from probe.monitor.control import COMMANDS, CommandListener
    from probe.monitor.driver import TrainingController
    from probe.tui.sources import ProcessController, RunDirController

    trainer = TrainingController()
    listener = CommandListener(tmp_path, trainer)
    write_run(tmp_path, [step(1)])
    meta_text = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps(dict(meta_text, control=COMMANDS)))
    src = RunDirSource(tmp_path)
    src.poll()
    ctrl = src.controller
    assert isinstance(ctrl, RunDirController) and not ctrl.stop_on_quit  # a watcher
    call_controller(ctrl, "pause")
    call_controller(ctrl, "step_once")
    assert listener.poll() == ["pause", "step_once"] and trainer.paused
    with open(tmp_path / "metrics.jsonl", "a") as fh:  # the trainer confirms, then resumes
        fh.write(encode(status("paused", 1)) + "\n" + encode(status("running", 1)) + "\n")
    src.poll()
    assert ctrl.paused is False

    class FakeProcess:
        def poll(self):
            return 0

    started = RunDirSource(tmp_path, controller=ProcessController(FakeProcess()))
    started.poll()
    assert isinstance(started.controller, RunDirController) and started.controller.stop_on_quit
    assert started.controller.close() == 0  # the script has exited: nothing to stop


def test_quitting_a_watcher_leaves_the_run_alone():
    import asyncio

    from probe.tui.app import MonitorApp

    class Watcher(FakeController):
        stop_on_quit = False

    ctrl = Watcher()
    app = MonitorApp(FakeSource([meta(), step(1)], controller=ctrl), refresh_hz=20)

    async def go():
        async with app.run_test(size=(150, 45)) as pilot:
            app.tick()
            await pilot.pause()
            await pilot.press("q")

    asyncio.run(go())
    assert ctrl.calls == []


def test_run_dir_source_notices_a_writer_killed_without_closing_the_run(tmp_path):
    import signal
    import socket
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_run(tmp_path, [step(1), step(2)])
        meta_text = json.loads((tmp_path / "meta.json").read_text())
        (tmp_path / "meta.json").write_text(json.dumps(
            dict(meta_text, pid=proc.pid, host=socket.gethostname())))
        src = RunDirSource(tmp_path)
        assert [r["type"] for r in src.poll()] == ["meta", "step", "step"]
        src._next_liveness_check = 0.0
        assert src.poll() == []  # alive: nothing to say
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    src._next_liveness_check = 0.0
    (end,) = src.poll()
    assert end["type"] == "status" and end["state"] == "failed" and end["step"] == 2
    assert end["reason"] == f"writer process {proc.pid} is gone"
    src._next_liveness_check = 0.0
    assert src.poll() == []  # said once

    other = tmp_path / "elsewhere"  # a run written on another machine is never judged
    write_run(other, [step(1)])
    meta_text = json.loads((other / "meta.json").read_text())
    (other / "meta.json").write_text(json.dumps(dict(meta_text, pid=proc.pid, host="x-y-z")))
    far = RunDirSource(other)
    far.poll()
    far._next_liveness_check = 0.0
    assert far.poll() == []


def test_run_writer_meta_names_its_process(tmp_path):
    import os
    import socket

    from probe.monitor import RunWriter

    with RunWriter(tmp_path, meta={"run_id": "r"}):
        pass
    meta_text = json.loads((tmp_path / "meta.json").read_text())
    assert meta_text["pid"] == os.getpid() and meta_text["host"] == socket.gethostname()
