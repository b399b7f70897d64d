"""What the UI knows about a run, folded from the records (no Textual: headless uses it too)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from ..monitor.records import module_totals

HISTORY = 300  # points kept per series
# A layer's alert flag stays up for FLAG_TTL steps after its last alert, and for at least
# FLAG_SECONDS of the run's own time (the records' timestamps, so a replay shows what the live
# view showed): a fast run would otherwise clear a flag before anyone could read it.
FLAG_TTL = 1000
FLAG_SECONDS = 10.0

SEVERITY_RANK = {"ok": 0, "info": 1, "warning": 2, "critical": 3}
# Among alerts of one severity, the flag keeps the one closer to the cause: an explosion is often
# followed by dead units whose gradients then vanish, and the explosion is what to show.
RULE_RANK = {"nonfinite": 4, "exploding": 3, "vanishing": 2, "dead_units": 1, "update_ratio": 0}
SPARK = "▁▂▃▄▅▆▇█"


def isfinite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def fmt_num(x, digits: int = 3) -> str:
    """Compact number: ``1.23e-04``, ``0.456``, ``nan``, ``inf``, ``-`` for None."""
    if x is None:
        return "-"
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    ax = abs(x)
    if ax != 0 and (ax < 1e-2 or ax >= 1e4):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}" if ax < 1 else f"{x:.{digits + 1}g}"


def sparkline(values, width: int = 16, log: bool = True) -> str:
    """A one-line text sparkline of the last ``width`` values (log scale by default); non-finite
    values show as ``!``.

    >>> sparkline([1, 10, 100, 1000], width=4)
    '▁▃▆█'
    """
    vals = list(values)[-width:]
    if not vals:
        return ""
    tx = [(math.log10(v) if log and v > 0 else (v if not log else None)) if isfinite(v) else None
          for v in vals]
    finite = [t for t in tx if t is not None]
    if not finite:
        return "".join("!" if not isfinite(v) else "▁" for v in vals)
    lo, hi = min(finite), max(finite)
    span = hi - lo
    out = []
    for v, t in zip(vals, tx):
        if not isfinite(v):
            out.append("!")
        elif t is None:  # zero or negative on a log scale
            out.append(" ")
        elif span <= 0:
            out.append(SPARK[len(SPARK) // 2])
        else:
            out.append(SPARK[min(len(SPARK) - 1, int((t - lo) / span * len(SPARK)))])
    return "".join(out)


ROOT = "(root)"  # the row name of parameters owned by the model itself


def module_key(layer: str | None) -> str:
    """The ``modules`` key of a parameter's owning module (``""``, the model itself: ROOT)."""
    return layer or ROOT


@dataclass
class LayerState:
    """One row of the layer table: a parameter, or a module (``params`` lists its own)."""

    name: str
    shape: tuple = ()
    layer: str = ""
    grad_norm: float | None = None
    grad_max: float | None = None
    weight_norm: float | None = None
    update_ratio: float | None = None
    nonfinite: int = 0
    norms: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    ratios: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    steps: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    flag_rule: str | None = None
    flag_severity: str = "ok"
    flag_step: int = 0
    flag_time: float | None = None
    flag_message: str = ""
    alert_count: int = 0
    params: tuple = ()  # a module's parameters (empty for a parameter's row)

    def take(self, stats: dict, step: int) -> None:
        """The statistics of one step record (a parameter's or a module's), kept as the current
        values and appended to the history."""
        self.grad_norm = stats.get("grad_norm")
        self.grad_max = stats.get("grad_max")
        self.weight_norm = stats.get("weight_norm")
        self.update_ratio = stats.get("update_ratio")
        self.nonfinite = int(stats.get("nonfinite") or 0)
        self.norms.append(self.grad_norm if self.grad_norm is not None else math.nan)
        self.ratios.append(self.update_ratio)
        self.steps.append(step)

    def flag_up(self, current_step: int, current_time: float | None = None) -> bool:
        """Whether the last alert's flag still shows at ``current_step`` (and record time)."""
        if not self.flag_rule:
            return False
        if current_step - self.flag_step <= FLAG_TTL:
            return True
        return (current_time is not None and self.flag_time is not None
                and current_time - self.flag_time <= FLAG_SECONDS)

    def flag(self, current_step: int, current_time: float | None = None) -> tuple[str, str]:
        """(severity, label) shown in the status column."""
        if self.flag_up(current_step, current_time):
            return self.flag_severity, self.flag_rule.upper()
        if self.nonfinite:
            return "critical", "NONFINITE"
        return "ok", "ok"


class RunState:
    """Everything drawn on screen, updated by :meth:`apply` with one record at a time."""

    def __init__(self, max_alerts: int = 1000):
        self.meta: dict | None = None
        self.step = 0
        self.epoch = 0
        self.state = "waiting"
        self.reason: str | None = None
        self.loss: float | None = None
        self.lr: float | None = None
        self.global_norm: float | None = None
        self.global_norm_clipped: float | None = None
        self.losses: deque = deque(maxlen=HISTORY)
        self.loss_steps: deque = deque(maxlen=HISTORY)  # the step of each entry of losses
        self.global_norms: deque = deque(maxlen=HISTORY)
        self.norm_steps: deque = deque(maxlen=HISTORY)
        self.layers: dict[str, LayerState] = {}  # per parameter
        self.modules: dict[str, LayerState] = {}  # per module owning parameters (module_key)
        self.alerts: deque = deque(maxlen=max_alerts)
        self.alert_total = 0
        self.time: float | None = None  # the latest step record's timestamp
        self._times: deque = deque(maxlen=30)  # (time, step) for steps/s
        self.version = 0  # bumped on every change, so widgets redraw only when needed

    # ---- folding records -------------------------------------------------------------------------
    def apply(self, rec: dict) -> None:
        kind = rec.get("type")
        if kind == "step":
            self._apply_step(rec)
        elif kind == "status":
            self.state = rec.get("state", self.state)
            self.reason = rec.get("reason")
            self.step = max(self.step, int(rec.get("step") or 0))
        elif kind == "meta":
            self.meta = rec
            for name, shape in (rec.get("params") or {}).items():
                self.layers.setdefault(name, LayerState(name, tuple(shape)))
        else:
            return
        self.version += 1

    def _apply_step(self, rec: dict) -> None:
        self.step = int(rec.get("step", self.step + 1))
        self.epoch = int(rec.get("epoch", self.epoch))
        if self.state in ("waiting",):
            self.state = "running"
        self.loss = rec.get("loss")
        self.lr = rec.get("lr")
        self.global_norm = rec.get("global_grad_norm")
        self.global_norm_clipped = rec.get("global_grad_norm_clipped")
        if self.loss is not None:
            self.losses.append(self.loss)
            self.loss_steps.append(self.step)
        if self.global_norm is not None:
            self.global_norms.append(self.global_norm)
            self.norm_steps.append(self.step)
        t = rec.get("time")
        if isinstance(t, (int, float)):
            self.time = t
            self._times.append((t, self.step))
        for name, st in (rec.get("params") or {}).items():
            lay = self.layers.get(name)
            if lay is None:
                lay = self.layers[name] = LayerState(name)
            lay.shape = tuple(st.get("shape") or lay.shape)
            lay.layer = st.get("layer", lay.layer)
            lay.take(st, self.step)
        layers = rec.get("layers")
        if layers is None and rec.get("params"):  # a log written before records had them
            layers = module_totals(rec["params"])
        for layer, st in (layers or {}).items():
            key = module_key(layer)
            mod = self.modules.get(key)
            if mod is None:
                mod = self.modules[key] = LayerState(key, layer=layer)
            mod.params = tuple(st.get("params") or mod.params)
            mod.take(st, self.step)
        for alert in rec.get("alerts") or ():
            self.add_alert(alert)

    def add_alert(self, alert: dict) -> None:
        self.alerts.append(alert)
        self.alert_total += 1
        name = alert.get("layer")
        if not name:
            return
        lay = self.layers.get(name)
        rows = []
        if lay is None:  # a parameter no step record has shown: its module is unknown
            lay = self.layers[name] = LayerState(name)
        else:  # its module's row carries the flag too (the table's layer view)
            key = module_key(lay.layer)
            mod = self.modules.get(key)
            if mod is None:
                mod = self.modules[key] = LayerState(key, layer=lay.layer)
            rows.append(mod)
        for row in (lay, *rows):
            self._raise_flag(row, alert)

    def _raise_flag(self, row: LayerState, alert: dict) -> None:
        step = int(alert.get("step", self.step))
        sev = alert.get("severity", "warning")
        row.alert_count += 1
        # A fresh alert replaces the flag unless a worse one (severity, then rule) is still up.
        still_up = row.flag_up(step, self.time)
        rank = (SEVERITY_RANK.get(sev, 2), RULE_RANK.get(alert.get("rule"), 1))
        current = (SEVERITY_RANK.get(row.flag_severity, 0), RULE_RANK.get(row.flag_rule, 1))
        if not still_up or rank >= current:
            row.flag_rule = alert.get("rule", "alert")
            row.flag_severity = sev
            row.flag_step = step
            row.flag_time = self.time
            message = alert.get("message", "")
            row.flag_message = message if row.name == alert.get("layer") \
                else f"{alert.get('layer')}: {message}"

    # ---- derived ---------------------------------------------------------------------------------
    @property
    def steps_per_s(self) -> float | None:
        if len(self._times) < 2:
            return None
        (t0, s0), (t1, s1) = self._times[0], self._times[-1]
        if t1 <= t0:
            return None
        return (s1 - s0) / (t1 - t0)

    def rows(self, kind: str = "params") -> dict[str, LayerState]:
        """The layer table's rows: per parameter, or (``kind="modules"``) per module."""
        return self.modules if kind == "modules" else self.layers

    def flagged(self, rows: str = "params") -> list[LayerState]:
        """The parameters (``rows="modules"``: the modules) whose flag is up."""
        return [lay for lay in self.rows(rows).values()
                if lay.flag(self.step, self.time)[0] != "ok"]


def format_alert(alert: dict) -> str:
    """One line for an alert: ``[critical] step 12 nonfinite conv1.weight: message``."""
    where = f" {alert['layer']}" if alert.get("layer") else ""
    policy = alert.get("policy")
    tail = f" ({policy})" if policy and policy != "warn" else ""
    if alert.get("repeats"):
        tail += f" (+{alert['repeats']} since last shown)"
    return (f"[{alert.get('severity', '?')}] step {alert.get('step', '?')} "
            f"{alert.get('rule', '?')}{where}: {alert.get('message', '')}{tail}")


def format_progress(state: RunState) -> str:
    """The headless progress line."""
    sps = state.steps_per_s
    parts = [f"step {state.step}", f"epoch {state.epoch}", f"loss {fmt_num(state.loss, 4)}",
             f"grad_norm {fmt_num(state.global_norm)}"]
    if state.lr is not None:
        parts.append(f"lr {fmt_num(state.lr)}")
    if sps is not None:
        parts.append(f"{sps:.1f} steps/s")
    flagged = state.flagged()
    if flagged:
        parts.append(f"{len(flagged)} flagged")
    return " | ".join(parts)
