"""Pilot tests of the monitor app on fake sources (no trainer thread)."""

from __future__ import annotations

import asyncio
import math

import pytest

from probe.tui.state import FLAG_TTL

pytest.importorskip("textual")

from tui_records import alert, meta, status, step  # noqa: E402

from probe.tui.app import HelpScreen, MonitorApp, screen_text  # noqa: E402
from probe.tui.sources import FakeController, FakeSource  # noqa: E402
from probe.tui.widgets import AlertsPanel, LayerDetail, LayerTable, StatusBar  # noqa: E402

SIZE = (150, 45)


def run(coro):
    return asyncio.run(coro)


def make(n_steps: int = 20, controller=True):
    ctrl = FakeController() if controller else None
    src = FakeSource([meta(), *(step(i) for i in range(1, n_steps + 1))], controller=ctrl)
    return src, ctrl, MonitorApp(src, refresh_hz=20)


async def settle(pilot, app):
    app.tick()
    await pilot.pause()


def test_table_shows_layers_and_status_bar():
    async def go():
        src, _, app = make()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            table = app.query_one(LayerTable)
            assert table.row_names == ["conv1.weight", "conv1.bias", "fc.weight", "fc.bias"]
            assert "8×1×3×3" in table.row_text("conv1.weight")
            assert "ok" in table.row_text("fc.weight")
            bar = app.query_one(StatusBar).text
            assert "running" in bar and "step 20" in bar and "epoch 0" in bar
            assert "steps/s" in bar

    run(go())


@pytest.mark.parametrize("keys, expected", [
    (["p"], ["pause"]),
    (["p", "n"], ["pause", "step_once"]),
    (["p", "p"], ["pause", "resume"]),
    (["s"], ["stop"]),
])
def test_keys_call_the_controller(keys, expected):
    async def go():
        src, ctrl, app = make()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press(*keys)
            await pilot.pause()
            assert ctrl.calls == expected
            if keys == ["p"]:
                assert "pausing" in app.query_one(StatusBar).text
                src.push(status("paused", 20))
                await settle(pilot, app)
                assert "paused" in app.query_one(StatusBar).text

    run(go())


def test_n_while_running_does_not_step():
    async def go():
        src, ctrl, app = make()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("n")
            await pilot.pause()
            assert ctrl.calls == []

    run(go())


def test_quit_stops_training_and_exits():
    async def go():
        src, ctrl, app = make()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("q")
            await pilot.pause()
        assert ctrl.calls == ["stop"]
        assert app.return_code in (0, None)

    run(go())


def test_read_only_source_ignores_control_keys():
    async def go():
        src, _, app = make(controller=False)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("p", "s")
            await pilot.pause()
            assert "read-only" in app.query_one(StatusBar).text
            await pilot.press("q")

    run(go())


def test_footer_offers_only_the_keys_that_can_act():
    async def go():
        src, ctrl, app = make()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            assert app.check_action("toggle_pause", ()) is True
            assert app.check_action("single_step", ()) is None  # greyed while training runs
            await pilot.press("n")
            assert ctrl.calls == []
            await pilot.press("p")
            assert app.check_action("single_step", ()) is True
            src.push(status("finished", 20, reason="max steps"))
            await settle(pilot, app)
            for action in ("toggle_pause", "single_step", "stop", "extra"):
                assert app.check_action(action, ()) is False, action
            await pilot.press("p", "s")
            assert ctrl.calls == ["pause"]
            text = screen_text(app)
            assert "finished (max steps)" in text
            assert "Pause/resume" not in text and "Quit" in text

    run(go())


def test_read_only_source_hides_training_keys():
    async def go():
        src, _, app = make(controller=False)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            assert app.check_action("toggle_pause", ()) is False
            assert app.check_action("cycle_sort", ()) is True
            assert "Pause/resume" not in screen_text(app)

    run(go())


def test_injected_alerts_flag_layers_and_fill_the_alerts_panel():
    async def go():
        src, _, app = make()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            src.push(step(21, norms={"fc.weight": math.nan, "conv1.weight": 5e3,
                                     "conv1.bias": 1e-9},
                          alerts=[alert("nonfinite", "critical", "fc.weight", 21,
                                        "non-finite gradient in fc.weight", "pause"),
                                  alert("exploding", "critical", "conv1.weight", 21,
                                        "grad norm 5e3 above 1e3"),
                                  alert("vanishing", "warning", "conv1.bias", 21,
                                        "grad norm 1e-9 below 1e-7")]))
            await settle(pilot, app)
            table = app.query_one(LayerTable)
            assert "NONFINITE" in table.row_text("fc.weight")
            assert "nan" in table.row_text("fc.weight")
            assert "EXPLODING" in table.row_text("conv1.weight")
            assert "VANISHING" in table.row_text("conv1.bias")
            assert table.cell_text("fc.bias", "flag") == "ok"
            lines = app.query_one(AlertsPanel).lines
            assert len(lines) == 3
            assert any("nonfinite fc.weight" in l and "(pause)" in l for l in lines)
            assert any("[critical]" in l and "exploding" in l for l in lines)
            assert any("[warning]" in l and "vanishing" in l for l in lines)
            assert "3 alerts" in app.query_one(StatusBar).text
            text = screen_text(app)
            assert "NONFINITE" in text and "EXPLODING" in text and "VANISHING" in text

    run(go())


def test_a_later_milder_alert_does_not_hide_an_explosion():
    async def go():
        src, _, app = make()
        async with app.run_test(size=SIZE) as pilot:
            src.push(step(21, alerts=[alert("exploding", "warning", "fc.bias", 21)]))
            src.push(step(22, alerts=[alert("vanishing", "warning", "fc.bias", 22),
                                      alert("update_ratio", "warning", "fc.bias", 22)]))
            await settle(pilot, app)
            assert "EXPLODING" in app.query_one(LayerTable).row_text("fc.bias")

    run(go())


def test_flags_expire_after_quiet_steps():
    async def go():
        src, _, app = make()
        async with app.run_test(size=SIZE) as pilot:
            src.push(step(21, alerts=[alert("exploding", "critical", "fc.bias", 21)]))
            await settle(pilot, app)
            assert "EXPLODING" in app.query_one(LayerTable).row_text("fc.bias")
            quiet_until = 22 + FLAG_TTL + 10
            src.push(*(step(i) for i in range(22, quiet_until)))
            await settle(pilot, app)
            assert app.query_one(LayerTable).cell_text("fc.bias", "flag") == "ok"

    run(go())


def test_sort_cycles_and_orders_rows():
    async def go():
        src, _, app = make(n_steps=0)
        src.push(step(1, norms={"conv1.weight": 0.5, "conv1.bias": 3.0, "fc.weight": 0.01,
                                "fc.bias": math.nan}))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            table = app.query_one(LayerTable)
            assert table.sort_name == "model order"
            await pilot.press("o")
            await pilot.pause()
            assert table.sort_name == "name"
            assert table.row_names == sorted(table.row_names)
            await pilot.press("o")
            await pilot.pause()
            assert table.sort_name == "grad norm"
            assert table.row_names == ["fc.bias", "conv1.bias", "conv1.weight", "fc.weight"]
            assert "sort: grad norm" in screen_text(app)

    run(go())


def test_filter_with_slash():
    async def go():
        src, _, app = make()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("slash")
            await pilot.press(*"conv")
            await pilot.pause()
            table = app.query_one(LayerTable)
            assert table.row_names == ["conv1.weight", "conv1.bias"]
            await pilot.press("enter")
            await pilot.pause()
            assert table.has_focus
            assert table.row_names == ["conv1.weight", "conv1.bias"]
            # the filter stays while new records arrive
            src.push(step(21))
            await settle(pilot, app)
            assert table.row_names == ["conv1.weight", "conv1.bias"]
            await pilot.press("slash", "escape")
            await pilot.pause()
            assert len(table.row_names) == 4

    run(go())


def test_help_screen_opens_and_closes():
    async def go():
        src, ctrl, app = make()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            text = screen_text(app)
            assert "pause / resume" in text and "single step" in text
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, HelpScreen)
            assert ctrl.calls == []

    run(go())


def test_enter_opens_layer_history():
    async def go():
        src, _, app = make()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("down", "down", "enter")
            await pilot.pause()
            assert isinstance(app.screen, LayerDetail)
            assert app.screen.layer_name == "fc.weight"
            assert "fc.weight" in app.screen.info_text
            text = screen_text(app)
            assert "fc.weight grad norm" in text
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, LayerDetail)

    run(go())


def test_extra_keys_run_their_callbacks():
    async def go():
        calls = []
        src = FakeSource([meta(), step(1)], controller=FakeController())
        app = MonitorApp(src, extra_keys={
            "e": ("explode", lambda: calls.append("e"), "explode: learning rate x100"),
            "v": ("vanish", lambda: calls.append("v"))})
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("e", "v", "e")
            await pilot.pause()
            assert calls == ["e", "v", "e"]
            footer = screen_text(app).splitlines()[-1]
            assert "e explode" in footer and "learning rate" not in footer
            await pilot.press("question_mark")
            await pilot.pause()
            text = screen_text(app)
            assert "explode: learning rate x100" in text and "vanish" in text

    run(go())


def test_finished_status_shows():
    async def go():
        src, _, app = make()
        src.push(status("finished", 20, "max steps"))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            assert "finished" in app.query_one(StatusBar).text

    run(go())


def test_signal_driven_pause_shows_paused_without_a_status_record():
    class SignalController(FakeController):
        can_step = False
        acts_immediately = True

    async def go():
        ctrl = SignalController()
        src = FakeSource([meta(), *(step(i) for i in range(1, 6))], controller=ctrl)
        app = MonitorApp(src, refresh_hz=20)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("p")
            await settle(pilot, app)
            assert "● paused" in app.query_one(StatusBar).text
            await pilot.press("p")
            await settle(pilot, app)
            assert "● running" in app.query_one(StatusBar).text
            assert ctrl.calls == ["pause", "resume"]

    run(go())
