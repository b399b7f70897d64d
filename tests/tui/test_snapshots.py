"""Golden snapshots of the monitor's screens, compared as plain text line by line.

Each test feeds a FakeSource fixed records, draws the app headless at SIZE and compares
``screen_text(app)`` with tests/tui/snapshots/<name>.txt. After a deliberate UI change, rewrite
the files and review them with ``git diff``::

    python -m pytest tests/tui/test_snapshots.py --snapshot-update
    PROBE_SNAPSHOT_UPDATE=1 python -m pytest      # the same from a run of the whole suite

Trailing spaces and trailing blank lines are dropped before comparing (editors strip them), so
the golden files hold the screen as a person reads it. Nothing on these screens depends on the
wall clock: steps/s comes from the records' own timestamps.
"""

from __future__ import annotations

import asyncio
import difflib
import math
from pathlib import Path

import pytest

pytest.importorskip("textual")

from tui_records import alert, healthy_norms, healthy_run, meta, status, step  # noqa: E402

from probe.tui.app import HelpScreen, MonitorApp, screen_text  # noqa: E402
from probe.tui.sources import FakeController, FakeSource  # noqa: E402
from probe.tui.widgets import LayerDetail  # noqa: E402

# Wide enough for every column of the layer table next to the charts.
SIZE = (150, 45)
SNAPSHOTS = Path(__file__).with_name("snapshots")
UPDATE_HINT = ("to accept the new screen: python -m pytest tests/tui/test_snapshots.py "
               "--snapshot-update  (or PROBE_SNAPSHOT_UPDATE=1), then review git diff")


def screen_lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def assert_snapshot(name: str, text: str, update: bool) -> None:
    """Compare ``text`` with snapshots/<name>.txt; write the file when updating or missing."""
    path = SNAPSHOTS / f"{name}.txt"
    actual = screen_lines(text)
    if update or not path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text("\n".join(actual) + "\n", encoding="utf-8")
        if not update:
            pytest.fail(f"snapshot created, re-run: {path}")
        return
    expected = screen_lines(path.read_text(encoding="utf-8"))
    if actual != expected:
        diff = "\n".join(difflib.unified_diff(expected, actual, fromfile=f"{path} (golden)",
                                              tofile="screen now", lineterm=""))
        pytest.fail(f"screen differs from snapshot {name!r}\n{diff}\n{UPDATE_HINT}",
                    pytrace=False)


def snap(records, *, controller: bool = True, keys=(), check=None) -> str:
    """Run the app on ``records``, press ``keys``, and return the settled screen's text."""

    async def go():
        ctrl = FakeController() if controller else None
        app = MonitorApp(FakeSource(records, controller=ctrl), refresh_hz=20)
        async with app.run_test(size=SIZE) as pilot:
            app.tick()
            await pilot.pause()
            if keys:
                await pilot.press(*keys)
            # One more poll and two frames: a pushed screen mounts, then draws its charts at
            # their final size.
            app.tick()
            await pilot.pause()
            await pilot.pause()
            if check is not None:
                check(app)
            return screen_text(app)

    return asyncio.run(go())


def alert_run() -> list[dict]:
    norms = healthy_norms(31)
    norms.update({"fc.weight": 5e3, "conv1.weight": 1e-9, "fc.bias": math.nan})
    return [meta(), *healthy_run(30),
            step(31, norms=norms, alerts=[
                alert("exploding", "critical", "fc.weight", 31, "grad norm 5.00e+03 above 1e3"),
                alert("vanishing", "warning", "conv1.weight", 31, "grad norm 1.00e-09 below 1e-7"),
                alert("nonfinite", "critical", "fc.bias", 31, "non-finite gradient in fc.bias",
                      policy="pause")])]


def nonfinite_run() -> list[dict]:
    # A nan loss and an inf norm mid-run, then healthy steps: the charts show red ! columns
    # between finite data, and the headers count the non-finite points.
    norms = healthy_norms(21)
    norms["fc.weight"] = math.inf
    return [meta(), *healthy_run(20), step(21, loss=math.nan, norms=norms),
            step(22, loss=math.nan, norms=healthy_norms(22)), *healthy_run(30, start=23)]


def test_main_screen_running(snapshot_update):
    text = snap([meta(), *healthy_run(60)])
    assert_snapshot("main_running", text, snapshot_update)


def test_alerts_flag_layers_and_fill_the_panel(snapshot_update):
    text = snap(alert_run())
    assert_snapshot("alerts", text, snapshot_update)


def test_nonfinite_values_in_charts(snapshot_update):
    text = snap(nonfinite_run())
    assert_snapshot("nonfinite_charts", text, snapshot_update)


def test_help_screen(snapshot_update):
    def check(app):
        assert isinstance(app.screen, HelpScreen)

    text = snap([meta(), *healthy_run(60)], keys=["question_mark"], check=check)
    assert_snapshot("help", text, snapshot_update)


def test_layer_detail_screen(snapshot_update):
    def check(app):
        assert isinstance(app.screen, LayerDetail) and app.screen.layer_name == "fc.weight"

    text = snap(alert_run(), keys=["down", "down", "enter"], check=check)
    assert_snapshot("layer_detail", text, snapshot_update)


def test_paused(snapshot_update):
    text = snap([meta(), *healthy_run(40), status("paused", 40, "pause requested")])
    assert_snapshot("paused", text, snapshot_update)


def test_finished_run_read_only(snapshot_update):
    text = snap([meta(), *healthy_run(60), status("finished", 60, "max steps")],
                controller=False)
    assert_snapshot("finished_read_only", text, snapshot_update)


def test_layer_view_combines_parameters_and_carries_their_flags(snapshot_update):
    def check(app):
        table = app.w_table
        assert table.rows_kind == "modules" and table.row_names == ["conv1", "fc"]
        assert table.cell_text("fc", "flag") == "NONFINITE"  # the worse of its two flags
        assert table.cell_text("conv1", "flag") == "VANISHING"

    text = snap(alert_run(), keys=["l"], check=check)
    assert_snapshot("layers_view", text, snapshot_update)


def test_layer_view_detail_screen(snapshot_update):
    def check(app):
        assert isinstance(app.screen, LayerDetail) and app.screen.layer_name == "fc"
        assert "layer of fc.weight, fc.bias" in app.screen.info_text

    text = snap(alert_run(), keys=["l", "down", "enter"], check=check)
    assert_snapshot("layers_detail", text, snapshot_update)
