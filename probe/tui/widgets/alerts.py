"""The alerts panel: newest alerts first, coloured by severity."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..state import format_alert

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


class AlertsPanel(Static):
    """Shows the most recent alerts (``max_lines``), newest on top."""

    def __init__(self, max_lines: int = 50, **kw):
        super().__init__("", **kw)
        self.max_lines = max_lines
        self.lines: list[str] = []
        self._count = -1

    def show(self, alerts, total: int) -> None:
        if total == self._count:
            return
        self._count = total
        recent = list(alerts)[-self.max_lines:][::-1]
        self.lines = [format_alert(a) for a in recent]
        t = Text()
        if not recent:
            t.append("no alerts", style="dim")
        for i, (a, line) in enumerate(zip(recent, self.lines)):
            if i:
                t.append("\n")
            t.append(line, style=SEVERITY_STYLE.get(a.get("severity"), ""))
        self.update(t)
