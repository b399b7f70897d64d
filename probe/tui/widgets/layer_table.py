"""The layer table: one row per parameter, sortable and filterable."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import DataTable

from ..state import SEVERITY_RANK, LayerState, RunState, fmt_num, isfinite, sparkline

# The flag comes right after the name: on a narrow terminal the table scrolls sideways, and the
# columns cut off first must be the ones a glance can spare (history, shape).
COLUMNS = (("name", "Name"), ("flag", "Status"), ("norm", "Grad norm"), ("ratio", "Update ratio"),
           ("hist", "History"), ("shape", "Shape"))
# Fixed widths for the cells that change every step (None: sized from the rows).
WIDTHS = {"norm": 9, "hist": 20, "ratio": 12, "flag": 12}
SORTS = ("model order", "name", "grad norm", "update ratio", "status")
FLAG_STYLE = {"ok": "green", "info": "cyan", "warning": "bold yellow", "critical": "bold red"}
SPARK_W = 20
# Longer names are shortened in the middle, which keeps the module path's start and the
# parameter's end ("encoder.layer.0.…query.weight"); the detail view shows the full name.
NAME_W = 36


def short_name(name: str, width: int = NAME_W) -> str:
    """``name`` cut to ``width`` characters with an ellipsis in the middle.

    >>> short_name("encoder.layer.10.attention.self.query.weight", 24)
    'encoder.lay…query.weight'
    """
    if len(name) <= width:
        return name
    tail = width // 2
    return name[:width - 1 - tail] + "…" + name[-tail:]


def _num_key(x) -> float:
    """Sort key putting non-finite values first when sorted descending."""
    if x is None:
        return -math.inf
    return math.inf if not isfinite(x) else float(x)


class LayerTable(DataTable):
    """Parameters (or, after ``toggle_rows``, the modules that own them) with a coloured status
    flag, grad norm, update ratio, a history sparkline and the shape."""

    def __init__(self, **kw):
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)
        self._order: list[str] = []
        self.sort_index = 0
        self.filter_text = ""
        self.rows_kind = "params"  # or "modules"

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        for key, label in COLUMNS:
            if key == "shape" and self.rows_kind == "modules":
                label = "Parameters"
            self.add_column(label, key=key, width=WIDTHS.get(key))

    def toggle_rows(self) -> str:
        """Switch between one row per parameter and one per module; returns the new kind."""
        self.rows_kind = "modules" if self.rows_kind == "params" else "params"
        self.clear(columns=True)
        self._order = []
        self._add_columns()
        return self.rows_kind

    def rows_of(self, state: RunState) -> dict[str, LayerState]:
        return state.rows(self.rows_kind)

    @property
    def sort_name(self) -> str:
        return SORTS[self.sort_index]

    def cycle_sort(self) -> str:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        return self.sort_name

    @property
    def row_names(self) -> list[str]:
        """The rows' names (parameters or modules) in display order."""
        return list(self._order)

    @property
    def current_name(self) -> str | None:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        return self._order[self.cursor_row]

    def _ordered(self, state: RunState) -> list[LayerState]:
        layers = list(self.rows_of(state).values())
        if self.filter_text:
            needle = self.filter_text.lower()
            layers = [lay for lay in layers if needle in lay.name.lower()]
        s = self.sort_name
        if s == "name":
            layers.sort(key=lambda lay: lay.name)
        elif s == "grad norm":
            layers.sort(key=lambda lay: _num_key(lay.grad_norm), reverse=True)
        elif s == "update ratio":
            layers.sort(key=lambda lay: _num_key(lay.update_ratio), reverse=True)
        elif s == "status":
            layers.sort(key=lambda lay: SEVERITY_RANK[lay.flag(state.step, state.time)[0]],
                        reverse=True)
        return layers

    @staticmethod
    def _cells(lay: LayerState, state: RunState) -> list:
        sev, label = lay.flag(state.step, state.time)
        bad_norm = lay.grad_norm is not None and not isfinite(lay.grad_norm)
        norm = Text(fmt_num(lay.grad_norm), style="bold red" if bad_norm else "",
                    justify="right")
        hist = Text(sparkline(lay.norms, SPARK_W), style=FLAG_STYLE[sev] if sev != "ok" else "cyan")
        if lay.params:  # a module: its parameters' own names
            shape = ", ".join(p[len(lay.layer) + 1:] if lay.layer else p for p in lay.params)
        else:
            shape = "×".join(str(d) for d in lay.shape) if lay.shape else "-"
        cells = {"name": short_name(lay.name), "flag": Text(label, style=FLAG_STYLE[sev]),
                 "norm": norm, "ratio": Text(fmt_num(lay.update_ratio), justify="right"),
                 "hist": hist, "shape": shape}
        return [cells[key] for key, _ in COLUMNS]

    def show(self, state: RunState) -> None:
        layers = self._ordered(state)
        names = [lay.name for lay in layers]
        if names != self._order:
            keep = self.current_name
            self.clear(columns=False)
            for lay in layers:
                self.add_row(*self._cells(lay, state), key=lay.name)
            self._order = names
            if keep in names:
                self.move_cursor(row=names.index(keep), animate=False)
            return
        for lay in layers:
            for (col, _), cell in zip(COLUMNS, self._cells(lay, state)):
                if col in ("name", "shape"):
                    continue
                self.update_cell(lay.name, col, cell)

    def row_text(self, name: str) -> str:
        """The plain text of a row (for tests and the detail view)."""
        cells = self.get_row(name)
        return "  ".join(c.plain if isinstance(c, Text) else str(c) for c in cells)

    def cell_text(self, name: str, column: str) -> str:
        """The plain text of one cell: ``column`` is a key of ``COLUMNS`` ("flag", "norm"...)."""
        cell = self.get_cell(name, column)
        return cell.plain if isinstance(cell, Text) else str(cell)
