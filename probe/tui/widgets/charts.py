"""Text charts: a block-character line chart with an optional log scale."""

from __future__ import annotations

import math
import sys

from rich.text import Text
from textual.widget import Widget

from ..state import fmt_num, isfinite

EIGHTHS = " ▁▂▃▄▅▆▇█"
_FLOAT_MAX = sys.float_info.max
AXIS_W = 9


def render_chart(values, width: int, height: int, *, log: bool = False) -> list[Text]:
    """Rows (top first) of a block chart of the last ``width - AXIS_W`` values.

    Non-finite values draw as a red ``!`` column; on a log scale, values <= 0 draw nothing.
    """
    plot_w = max(1, width - AXIS_W)
    height = max(1, height)
    vals = list(values)[-plot_w:]

    def tx(v):
        if not isfinite(v):
            return None
        if log:
            return math.log10(v) if v > 0 else None
        return float(v)

    ys = [tx(v) for v in vals]
    finite = [y for y in ys if y is not None]
    rows = [Text() for _ in range(height)]
    lo, hi = _axis_range(finite, log)
    unit = _decade_label if log else _value_label
    for r in range(height):
        if r == 0:
            label = unit(hi)
        elif r == height - 1:
            label = unit(lo)
        else:
            label = ""
        rows[r].append(f"{label:>{AXIS_W - 1}}│", style="dim")
    levels = height * 8
    # Scaled so that a range like -1e308..1e308 (a blown-up loss) has a finite span.
    scale = max(abs(lo), abs(hi), 1e-300)
    span = hi / scale - lo / scale
    for v, y in zip(vals, ys):
        if y is None:
            bad = not isfinite(v)
            for r in range(height):
                if bad:
                    rows[r].append("!" if r == height - 1 else "┊", style="bold red")
                else:
                    rows[r].append(" ")
            continue
        level = max(1, round((y / scale - lo / scale) / span * levels))
        for r in range(height):
            base = (height - 1 - r) * 8
            fill = min(8, max(0, level - base))
            rows[r].append(EIGHTHS[fill], style="cyan")
    return rows


def render_step_axis(steps, width: int) -> Text:
    """The x axis under a chart of ``render_chart``: the first and last step of the plotted
    (last ``width - AXIS_W``) points, at the plot's left and right edges.

    >>> render_step_axis(range(1, 101), 30).plain
    '        └step 80      step 100'
    """
    plot_w = max(1, width - AXIS_W)
    shown = list(steps)[-plot_w:]
    row = Text(" " * (AXIS_W - 1) + "└", style="dim", no_wrap=True, overflow="crop")
    if not shown:
        return row
    first, last = f"step {shown[0]}", f"step {shown[-1]}"
    gap = plot_w - len(first) - len(last)
    if len(shown) < plot_w:  # a short series ends where its last column is drawn
        gap = len(shown) - len(first) - len(last)
    if gap >= 1:
        row.append(first + " " * gap + last, style="dim")
    else:
        row.append(last if len(last) <= plot_w else "", style="dim")
    return row


def _axis_range(finite, log: bool) -> tuple[float, float]:
    """(low, high) of the y axis: the data's range, widened around a flat series so that it
    draws as a mid-height line (by half a decade on a log scale; otherwise by half the value,
    also where ``+ 0.5`` would not change a huge value), kept within the float range."""
    if not finite:
        return -0.5, 0.5
    lo, hi = min(finite), max(finite)
    magnitude = max(abs(lo), abs(hi))
    if hi / 2 - lo / 2 <= 1e-9 * magnitude or magnitude == 0:
        pad = 0.5 if log or magnitude < 1 else 0.5 * magnitude
        lo, hi = max(lo - pad, -_FLOAT_MAX), min(hi + pad, _FLOAT_MAX)
    return lo, hi


def _value_label(x: float) -> str:
    """An axis label that fits the axis: fewer digits for three-digit exponents."""
    label = fmt_num(x)
    for digits in (1, 0):
        if len(label) <= AXIS_W - 1:
            break
        label = f"{x:.{digits}e}"
    return label


def _decade_label(y: float) -> str:
    """The axis label of ``10 ** y`` (which overflows a float beyond ``y`` ~ 308)."""
    try:
        return _value_label(10 ** y)
    except OverflowError:
        return f"1e+{round(y)}"


class Chart(Widget):
    """A titled chart of one series, redrawn on ``set_series``."""

    DEFAULT_CSS = """
    Chart { height: 8; }
    """

    def __init__(self, title: str, *, log: bool = False, id: str | None = None):
        super().__init__(id=id)
        self.chart_title = title
        self.log_scale = log
        self.values: list = []
        self.steps: list | None = None

    def set_series(self, values, steps=None) -> None:
        """Draw ``values``; with ``steps`` (one per value) and room for it, a step axis too."""
        self.values = list(values)
        self.steps = None if steps is None else list(steps)
        self.refresh()

    def header(self, width: int | None = None) -> Text:
        """Title, last value, non-finite count, then min and max where they fit ``width``
        whole: a number cut short by the edge would read as a different value."""
        vals = self.values
        finite = [v for v in vals if isfinite(v)]
        t = Text(no_wrap=True, overflow="crop")
        t.append(self.chart_title, style="bold")
        if self.log_scale:
            t.append(" (log)", style="dim")
        if vals:
            last = vals[-1]
            t.append("  last ")
            t.append(fmt_num(last), style="bold red" if not isfinite(last) else "bold")
        bad = len(vals) - len(finite)
        if bad:
            t.append(f"  {bad} non-finite", style="bold red")
        if finite:
            for part in (f"  min {fmt_num(min(finite))}", f"  max {fmt_num(max(finite))}"):
                if width is not None and len(t) + len(part) > width:
                    break
                t.append(part, style="dim")
        return t

    def render(self) -> Text:
        w, h = self.size.width or 40, self.size.height or 8
        out = self.header(w)
        if not self.values:
            out.append("\n(waiting for data)", style="dim")
            return out
        out.truncate(w)
        axis = self.steps is not None and len(self.steps) == len(self.values) and h >= 6
        rows = render_chart(self.values, w, max(1, h - 1 - axis), log=self.log_scale)
        if axis:
            rows.append(render_step_axis(self.steps, w))
        for row in rows:
            out.append("\n")
            out.append_text(row)
        return out
