"""The layer detail screen: a parameter's gradient-norm and update-ratio history."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from ..state import RunState, fmt_num
from .charts import Chart


class LayerDetail(ModalScreen):
    """Opened with Enter on a table row; follows the run live; Escape closes."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, name: str, state: RunState, rows: str = "params"):
        super().__init__()
        self.layer_name = name
        self.state = state
        self.rows = rows  # "params" or "modules": where ``name`` is looked up
        self._version = -1

    def compose(self) -> ComposeResult:
        with Vertical(id="detail-box"):
            yield Static(id="detail-info")
            yield Chart(f"{self.layer_name} grad norm", log=True, id="detail-norm")
            yield Chart(f"{self.layer_name} update ratio", log=True, id="detail-ratio")
            yield Static("Esc: back", classes="hint")

    def on_mount(self) -> None:
        self.refresh_detail()
        self.set_interval(0.25, self.refresh_detail)

    def refresh_detail(self) -> None:
        if self.state.version == self._version:
            return
        self._version = self.state.version
        lay = self.state.rows(self.rows).get(self.layer_name)
        info = Text()
        info.append(self.layer_name, style="bold")
        if lay is None:
            info.append("  (no data)")
        else:
            sev, label = lay.flag(self.state.step, self.state.time)
            if lay.params:
                info.append(f"  layer of {', '.join(lay.params)}\n")
            else:
                shape = "×".join(map(str, lay.shape)) or "-"
                info.append(f"  shape {shape}  module {lay.layer or '-'}\n")
            info.append(f"grad norm {fmt_num(lay.grad_norm)}  max |grad| {fmt_num(lay.grad_max)}  "
                        f"weight norm {fmt_num(lay.weight_norm)}  update ratio "
                        f"{fmt_num(lay.update_ratio)}  non-finite {lay.nonfinite}\n")
            info.append(f"status {label}", style="bold red" if sev == "critical" else "bold")
            info.append(f"  alerts {lay.alert_count}")
            if lay.flag_message:
                info.append(f"  last: {lay.flag_message}")
            self.query_one("#detail-norm", Chart).set_series(lay.norms, lay.steps)
            known = [(s, r) for s, r in zip(lay.steps, lay.ratios) if r is not None]
            self.query_one("#detail-ratio", Chart).set_series([r for _, r in known],
                                                              [s for s, _ in known])
        self.info_text = info.plain
        self.query_one("#detail-info", Static).update(info)

    def action_close(self) -> None:
        self.dismiss()
