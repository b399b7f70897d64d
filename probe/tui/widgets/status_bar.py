"""The status bar: state, step, epoch, steps/s, loss, lr, source."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ...monitor.records import ENDED_STATES
from ..state import RunState, fmt_num

STATE_STYLE = {
    "running": "bold green",
    "paused": "bold yellow",
    "pausing": "yellow",
    "stopped": "bold red",
    "stopping": "red",
    "failed": "bold white on red",
    "finished": "bold blue",
    "waiting": "dim",
}


class StatusBar(Static):
    """One line: ``● running │ step 120 │ epoch 1 │ 35.2 steps/s │ loss 0.41 │ ...``."""

    text = ""

    def show(self, state: RunState, *, shown_state: str, source_label: str,
             read_only: bool) -> None:
        t = Text()
        t.append(f" ● {shown_state} ", style=STATE_STYLE.get(shown_state, "bold"))
        if shown_state in ENDED_STATES and state.reason:
            # Why the run ended ("max steps", "loss is NaN", "process exited"): the first thing
            # someone opening a finished run wants to know.
            reason = state.reason if len(state.reason) <= 40 else state.reason[:39] + "…"
            t.append(f"({reason}) ", style=STATE_STYLE[shown_state])
        sps = state.steps_per_s
        parts = [f"step {state.step}", f"epoch {state.epoch}",
                 f"{sps:.1f} steps/s" if sps is not None else "- steps/s",
                 f"loss {fmt_num(state.loss, 4)}", f"lr {fmt_num(state.lr)}"]
        n_alerts = state.alert_total
        for p in parts:
            t.append("│ ", style="dim")
            t.append(p + " ")
        t.append("│ ", style="dim")
        t.append(f"{n_alerts} alerts ", style="bold red" if n_alerts else "")
        t.append("│ ", style="dim")
        t.append(source_label + (" (read-only)" if read_only else ""), style="dim")
        self.text = t.plain
        self.update(t)
