"""In-process training with the monitor: fit in a worker thread, the app polling its ring."""

from __future__ import annotations

import asyncio
import time

import pytest

import probe
import probe.nn as nn
import probe.optim as optim
from probe.tui import InProcessTraining, fit_with_ui
from probe.utils.data import DataLoader, TensorDataset

pytest.importorskip("textual")

from probe.tui.app import MonitorApp  # noqa: E402

SIZE = (150, 45)


def _problem(n=64):
    probe.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    data = TensorDataset(probe.randn(n, 4), probe.randint(0, 2, (n,)))
    return model, DataLoader(data, batch_size=8), optim.SGD(model.parameters(), lr=0.1)


async def _until(pilot, app, predicate, limit=20.0):
    """Let the app poll until ``predicate()`` holds (the trainer runs in its own thread)."""
    deadline = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < deadline, "the trainer did not get there"
        app.tick()
        await pilot.pause(0.02)


def test_app_pauses_steps_and_stops_a_trainer_thread():
    model, loader, opt = _problem()
    job = InProcessTraining(model, loader, opt, nn.CrossEntropyLoss(), epochs=None)
    job.controller.pause()  # the trainer waits at its first step boundary
    job.start()
    app = MonitorApp(job.source, refresh_hz=20)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await _until(pilot, app, lambda: app.state.state == "paused")
            assert app.state.step == 0
            await pilot.press("n")
            await _until(pilot, app, lambda: app.state.step == 1)
            await pilot.press("n")
            await _until(pilot, app, lambda: app.state.step == 2)
            assert app.state.state == "paused" and job.running
            assert set(app.state.layers) == {"0.weight", "0.bias", "2.weight", "2.bias"}
            # the monitor's per-module totals, update ratio included, feed the layer view
            assert list(app.state.modules) == ["0", "2"]
            assert all(m.update_ratio is not None for m in app.state.modules.values())
            await pilot.press("l")
            await pilot.pause()
            assert app.w_table.row_names == ["0", "2"]
            await pilot.press("s")
            await _until(pilot, app, lambda: app.state.state == "stopped")
            await pilot.press("q")

    try:
        asyncio.run(go())
    finally:
        assert job.stop_and_join()
    assert job.error is None
    assert job.result["state"] == "stopped" and job.result["steps"] == 2


def test_fit_with_ui_returns_the_result_after_quit(monkeypatch):
    seen = {}

    def run_until_two_steps(app):  # stands in for a person who quits after a moment
        deadline = time.monotonic() + 20
        while app.source.thread.is_alive() and time.monotonic() < deadline:
            for record in app.source.poll():
                app.state.apply(record)
            if app.state.step >= 2:
                break
            time.sleep(0.01)
        seen["title"] = app.title

    monkeypatch.setattr(MonitorApp, "run", run_until_two_steps)
    model, loader, opt = _problem()
    result = fit_with_ui(model, loader, opt, nn.CrossEntropyLoss(), epochs=None)
    assert result["state"] == "stopped" and result["steps"] >= 2
    assert seen["title"] == "probe monitor (in-process)"


def test_fit_with_ui_raises_the_trainers_error(monkeypatch):
    def wait_for_trainer(app):
        app.source.thread.join(20)

    monkeypatch.setattr(MonitorApp, "run", wait_for_trainer)
    model, loader, opt = _problem()

    def broken_loss(output, target):
        raise ValueError("loss exploded on purpose")

    with pytest.raises(ValueError, match="on purpose"):
        fit_with_ui(model, loader, opt, broken_loss, epochs=1)


def test_in_process_training_refuses_headless():
    model, loader, opt = _problem()
    with pytest.raises(ValueError, match="headless"):
        InProcessTraining(model, loader, opt, nn.CrossEntropyLoss(), headless=True)
