"""The Textual training monitor: layer table, loss and gradient-norm charts, alerts, status bar.

The app never waits on training: it polls its :class:`~probe.tui.sources.Source` at a fixed rate
and sends pause/step/stop requests to the source's controller, which the trainer honours between
steps.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Static

from ..monitor.records import ENDED_STATES
from .sources import Source, call_controller
from .state import RunState
from .widgets import AlertsPanel, Chart, LayerDetail, LayerTable, StatusBar

HELP_TEXT = """\
[b]probe monitor[/b]

[b]p[/b]        pause / resume training
[b]n[/b]        run a single step (while paused)
[b]s[/b]        stop training (the UI stays open)
[b]q[/b]        quit (stops training first; probe watch only detaches)
[b]o[/b]        cycle the layer table's sort column
[b]l[/b]        one row per layer (module) / per parameter
[b]/[/b]        filter layers by name (Esc clears)
[b]Enter[/b]    show the selected layer's history
[b]?[/b]        this help
{extra}
Status flags: [green]ok[/green], [yellow]warning[/yellow] (vanishing, update ratio...),
[b red]critical[/b red] (non-finite, exploding). Charts marked (log) use a log scale;
non-finite values draw as a red [b red]![/b red].

Esc / ? closes this screen."""


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, extra: str = ""):
        super().__init__()
        self.extra = extra

    def compose(self) -> ComposeResult:
        yield Static(HELP_TEXT.format(extra=self.extra), id="help-box")

    def action_close(self) -> None:
        self.dismiss()


class MonitorApp(App):
    """The training monitor.

    ``extra_keys`` maps a key to ``(label, callback)`` or ``(label, callback, help)`` for
    source-specific actions (the demo's
    explode/vanish keys). ``on_exit`` runs after the app stops (to join the trainer thread).
    """

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "probe monitor"
    BINDINGS = [
        Binding("p", "toggle_pause", "Pause/resume"),
        Binding("n", "single_step", "Step"),
        Binding("s", "stop", "Stop"),
        Binding("q", "quit_app", "Quit"),
        Binding("o", "cycle_sort", "Sort"),
        Binding("l", "toggle_rows", "Layers/params"),
        Binding("slash", "open_filter", "Filter"),
        Binding("question_mark", "help", "Help"),
        Binding("escape", "close_filter", "Clear filter", show=False),
    ]

    # Redrawing is pure Python and shares the GIL with an in-process trainer: at 4 Hz the demo's
    # trainer ran 2-3x slower than at 2 Hz (measured on 2 cores).
    def __init__(self, source: Source, *, refresh_hz: float = 2.0,
                 extra_keys: dict[str, tuple] | None = None,
                 title: str | None = None):
        super().__init__()
        self.source = source
        self.state = RunState()
        self.refresh_hz = refresh_hz
        # key -> (footer label, callback, help line): the footer has room for a word or two
        self.extra_keys: dict[str, tuple[str, Callable[[], object], str]] = {
            key: (entry[0], entry[1], entry[2] if len(entry) > 2 else entry[0])
            for key, entry in (extra_keys or {}).items()}
        self.requested: str | None = None  # "pausing"/"stopping" until a status record confirms
        self._drawn_version = -1
        self._footer_key = None
        self.w_status: StatusBar | None = None
        if title:
            self.title = title
        for key, (label, _, _) in self.extra_keys.items():
            self.bind(key, f"extra('{key}')", description=label)

    # ---- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield Input(placeholder="filter layers by name (Enter keeps, Esc clears)",
                            id="filter")
                yield LayerTable(id="layers")
            with Vertical(id="right"):
                yield Chart("loss", id="loss-chart")
                yield Chart("global grad norm", log=True, id="norm-chart")
                with VerticalScroll(id="alerts-box"):
                    yield AlertsPanel(id="alerts")
        yield Footer()

    def on_mount(self) -> None:
        # Kept as references: App.query_one searches the active screen, which is a modal while the
        # help or a layer's history is open.
        self.w_status = self.query_one(StatusBar)
        self.w_table = self.query_one(LayerTable)
        self.w_loss = self.query_one("#loss-chart", Chart)
        self.w_norm = self.query_one("#norm-chart", Chart)
        self.w_alerts = self.query_one(AlertsPanel)
        self.w_filter = self.query_one("#filter", Input)
        self.w_filter.display = False
        self.w_alerts_box = self.query_one("#alerts-box")
        self.w_alerts_box.border_title = "Alerts"
        self.w_table.focus()
        self.tick()
        self.set_interval(1.0 / self.refresh_hz, self.tick)

    # ---- polling and drawing ---------------------------------------------------------------------
    @property
    def controller(self):
        return self.source.controller

    def shown_state(self) -> str:
        st = self.state.state
        if self.requested == "stopping" and st not in ENDED_STATES:
            return "stopping"
        if getattr(self.controller, "acts_immediately", False) and st == "running":
            # A signal-driven pause takes hold at once and the frozen process writes no status
            # record to confirm it: the controller's own state is the truth.
            return "paused" if self.controller.paused else st
        if self.requested == "pausing" and st == "running":
            return "pausing"
        if self.requested == "resuming" and st == "paused":
            return "running"
        return st

    def tick(self) -> None:
        """Poll the source and redraw what changed."""
        try:
            records = self.source.poll()
        except Exception as exc:  # a broken source must not kill the UI
            self.notify(f"source error: {exc}", severity="error")
            records = []
        for rec in records:
            self.state.apply(rec)
            if rec.get("type") == "status":
                self.requested = None
            elif rec.get("type") == "step" and self.requested == "resuming":
                self.requested = None
        self.redraw()

    def redraw(self, force: bool = False) -> None:
        st = self.state
        if self.w_status is None:
            return
        shown = self.shown_state()
        footer_key = (shown, self._is_paused() if self.controller else None)
        if footer_key != self._footer_key:  # the keys on offer follow the training state
            self._footer_key = footer_key
            self.refresh_bindings()
        self.w_status.show(st, shown_state=shown,
                                       source_label=getattr(self.source, "label", "source"),
                                       read_only=self.controller is None)
        if st.version == self._drawn_version and not force:
            return
        self._drawn_version = st.version
        table = self.w_table
        table.show(st)
        self.w_loss.set_series(st.losses, st.loss_steps)
        self.w_norm.set_series(st.global_norms, st.norm_steps)
        self.w_alerts.show(st.alerts, st.alert_total)
        self.w_alerts_box.border_title = f"Alerts ({st.alert_total})"
        kind = "Layers" if table.rows_kind == "modules" else "Parameters"
        table.border_title = (f"{kind} ({len(table.row_names)}/{len(table.rows_of(st))})  "
                              f"sort: {table.sort_name}"
                              + (f"  filter: {table.filter_text!r}" if table.filter_text else ""))

    # ---- actions ---------------------------------------------------------------------------------
    TRAINING_ACTIONS = ("toggle_pause", "single_step", "stop", "extra")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide the training keys in the footer where they can do nothing (a read-only source,
        a run that has ended) and grey out ``n`` while training runs."""
        if action not in self.TRAINING_ACTIONS:
            return True
        if self.controller is None or self.state.state in ENDED_STATES:
            return False
        if action == "single_step" and not self._is_paused():
            return None
        return True

    def _need_controller(self) -> bool:
        if self.controller is None:
            self.notify("read-only source: training is not controlled from here",
                        severity="warning")
            return False
        return True

    def _is_paused(self) -> bool:
        if self.requested in ("pausing", "resuming"):
            return self.requested == "pausing"
        paused = getattr(self.controller, "paused", None)
        if isinstance(paused, bool):
            return paused
        return self.state.state == "paused"

    def action_toggle_pause(self) -> None:
        if not self._need_controller():
            return
        if self._is_paused():
            call_controller(self.controller, "resume")
            self.requested = "resuming"
        else:
            call_controller(self.controller, "pause")
            self.requested = "pausing"
        self.redraw()

    def action_single_step(self) -> None:
        if not self._need_controller():
            return
        if getattr(self.controller, "can_step", True) is False:
            self.notify("single steps are not supported by this source", severity="warning")
            return
        if not self._is_paused():
            self.notify("pause first (p), then n runs one step")
            return
        call_controller(self.controller, "step_once", "step", "single_step")

    def action_stop(self) -> None:
        if not self._need_controller():
            return
        call_controller(self.controller, "stop")
        self.requested = "stopping"
        self.redraw()

    def action_quit_app(self) -> None:
        # A watcher of someone else's run (stop_on_quit False) only detaches.
        if self.controller is not None and self.state.state not in ENDED_STATES and \
                getattr(self.controller, "stop_on_quit", True):
            call_controller(self.controller, "stop")
        self.exit()

    def action_toggle_rows(self) -> None:
        kind = self.w_table.toggle_rows()
        self.redraw(force=True)
        self.notify("one row per layer" if kind == "modules" else "one row per parameter",
                    timeout=1.5)

    def action_cycle_sort(self) -> None:
        name = self.w_table.cycle_sort()
        self.redraw(force=True)
        self.notify(f"sorted by {name}", timeout=1.5)

    def action_open_filter(self) -> None:
        box = self.w_filter
        box.display = True
        box.focus()

    def action_close_filter(self) -> None:
        box = self.w_filter
        if box.display:
            box.value = ""
            box.display = False
            self.w_table.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.w_table.filter_text = event.value.strip()
            self.redraw(force=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            if not event.value.strip():
                event.input.display = False
            self.w_table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        name = event.row_key.value
        if name is not None:
            self.push_screen(LayerDetail(name, self.state, rows=self.w_table.rows_kind))

    def action_help(self) -> None:
        extra = "".join(f"[b]{key}[/b]        {text}\n"
                        for key, (_, _, text) in self.extra_keys.items())
        self.push_screen(HelpScreen(extra))

    def action_extra(self, key: str) -> None:
        _, fn, desc = self.extra_keys[key]
        fn()
        self.notify(desc, timeout=2)


def screen_text(app: App) -> str:
    """The current screen as plain text (what a terminal shows), for tests and debugging."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      record=True, legacy_windows=False, safe_box=False)
    # The same compositor pass Textual's own export_screenshot makes, exported as text.
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


def run_app(source: Source, **kw) -> MonitorApp:
    """Run the monitor on ``source`` until the user quits; returns the app."""
    app = MonitorApp(source, **kw)
    app.run()
    return app
