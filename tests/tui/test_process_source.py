"""ProcessSource: the demo trainer in a child process, records over a pipe, commands back."""

from __future__ import annotations

import time

import pytest

from probe.tui.sources import ProcessSource

demo = pytest.importorskip("probe.monitor.demo")

TIMEOUT = 60.0


def wait_for(source, pred, records, timeout=TIMEOUT):
    """Poll ``source`` into ``records`` until ``pred(records)`` holds (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records.extend(source.poll())
        if pred(records):
            return True
        time.sleep(0.02)
    return False


def steps(records):
    return [r["step"] for r in records if r.get("type") == "step"]


def states(records):
    return [r["state"] for r in records if r.get("type") == "status"]


@pytest.fixture
def source():
    src = ProcessSource(demo.demo_child, kwargs={"max_steps": 400, "n": 128, "batch_size": 16},
                        label="demo test")
    yield src
    src.close(5.0)
    assert not src.process.is_alive()


def test_records_pause_step_resume_stop(source):
    records: list[dict] = []
    assert wait_for(source, lambda r: len(steps(r)) >= 3, records)
    assert source.meta is not None and source.meta["type"] == "meta"
    assert source.label == "demo test"

    ctl = source.controller
    ctl.pause()
    assert ctl.paused
    assert wait_for(source, lambda r: "paused" in states(r), records)
    time.sleep(0.3)
    records.extend(source.poll())
    at_pause = max(steps(records))
    time.sleep(0.5)
    assert not [s for s in steps(source.poll()) if s > at_pause]  # paused: no new steps

    ctl.step_once()
    assert wait_for(source, lambda r: max(steps(r)) == at_pause + 1, records)
    time.sleep(0.3)
    assert max(steps(records + source.poll())) == at_pause + 1
    assert source.controller.paused

    ctl.toggle_pause()
    assert not ctl.paused
    assert wait_for(source, lambda r: max(steps(r)) >= at_pause + 5, records)

    ctl.scale_lr(0.5)
    ctl.stop()
    assert wait_for(source, lambda r: states(r)[-1:] == ["stopped"], records)
    assert wait_for(source, lambda r: source.finished, records)
    source.process.join(TIMEOUT)
    assert source.process.exitcode == 0


def test_runs_to_max_steps_and_explode(source):
    records: list[dict] = []
    source.controller.explode()
    source.controller.vanish()
    assert wait_for(source, lambda r: states(r)[-1:] == ["finished"], records)
    assert max(steps(records)) == 400
    assert wait_for(source, lambda r: source.finished, records)
    assert source.close(5.0) == 0
    assert source.poll() == []
    assert source.send("stop") is False


def test_close_while_running_never_hangs():
    src = ProcessSource(demo.demo_child, kwargs={"n": 128, "batch_size": 16}, label="demo test")
    records: list[dict] = []
    assert wait_for(src, lambda r: len(steps(r)) >= 1, records)
    t0 = time.monotonic()
    src.close(5.0)
    assert time.monotonic() - t0 < 15.0
    assert not src.process.is_alive()


def test_child_exits_when_the_parent_end_closes():
    src = ProcessSource(demo.demo_child, kwargs={"n": 128, "batch_size": 16}, label="demo test")
    records: list[dict] = []
    assert wait_for(src, lambda r: len(steps(r)) >= 1, records)
    src._commands.close()  # what the parent's death looks like to the child: EOF on commands
    src.process.join(TIMEOUT)
    assert not src.process.is_alive()
    src.close(1.0)
