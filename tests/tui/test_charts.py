"""The block charts on extreme series: a blown-up run must never crash the UI."""

from __future__ import annotations

import asyncio
import math

import pytest

pytest.importorskip("textual")

from tui_records import meta, step  # noqa: E402

from probe.tui.app import MonitorApp, screen_text  # noqa: E402
from probe.tui.sources import FakeSource  # noqa: E402
from probe.tui.widgets.charts import AXIS_W, render_chart  # noqa: E402

BIG = 1.7976931348623157e308

EXTREME_SERIES = [
    [1e30] * 5,  # a flat huge loss: + 0.5 does not widen its range
    [BIG] * 3,
    [-BIG, BIG],  # the span overflows a float
    [0.0] * 4,
    [1e-300, 2e-300],
    [5e-324] * 2,
    [1.0, math.nan, BIG, -BIG, math.inf, -math.inf],
    [math.nan, math.inf],
    [],
]


@pytest.mark.parametrize("values", EXTREME_SERIES)
@pytest.mark.parametrize("log", [False, True])
def test_render_chart_handles_extreme_series(values, log):
    rows = render_chart(values, 30, 4, log=log)
    assert len(rows) == 4
    for row in rows:
        axis, bar, plot = row.plain.partition("│")
        assert bar and len(axis) == AXIS_W - 1  # labels fit the axis
        assert len(plot) == len(values)


def test_flat_series_draws_at_mid_height():
    rows = [r.plain.partition("│")[2] for r in render_chart([1e30] * 3, 12, 4)]
    assert rows[0] == "   " and rows[-1] == "███"
    labels = [r.plain.partition("│")[0].strip() for r in render_chart([1e30] * 3, 12, 4)]
    assert labels[0] == "1.50e+30" and labels[-1] == "5.00e+29"


def test_huge_labels_keep_their_exponent():
    labels = [r.plain.partition("│")[0].strip() for r in render_chart([-BIG, BIG], 12, 3)]
    assert labels[0] == "1.8e+308" and labels[-1] == "-2e+308"


def test_app_survives_a_blown_up_run():
    async def go():
        src = FakeSource([meta(), *(step(i) for i in range(1, 20))])
        app = MonitorApp(src, refresh_hz=20)
        async with app.run_test(size=(150, 45)) as pilot:
            app.tick()
            await pilot.pause()
            src.push(*(step(i, loss=1e30, norms={"fc.weight": 1e150}) for i in range(20, 80)))
            src.push(step(80, loss=-BIG, norms={"fc.weight": math.inf}))
            app.tick()
            await pilot.pause()
            text = screen_text(app)
            assert "step 80" in text and "inf" in text

    asyncio.run(go())


def test_step_axis_marks_the_plotted_window():
    from probe.tui.widgets.charts import AXIS_W, render_step_axis

    width = AXIS_W + 40
    full = render_step_axis(range(100, 200), width).plain
    assert full.startswith(" " * (AXIS_W - 1) + "└step 160") and full.endswith("step 199")
    assert len(full) == width
    short = render_step_axis([5, 6, 7], width).plain  # too short for both labels
    assert short == " " * (AXIS_W - 1) + "└step 7"
    assert render_step_axis([], width).plain == " " * (AXIS_W - 1) + "└"
