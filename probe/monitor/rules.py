"""Health rules: each looks at a step record and reports ``(parameter name or None, message)``.

Every rule has a ``policy`` (what the monitor does when it fires) and a ``severity``:

- ``warn``: the alert goes into the step record (and the headless log / the UI);
- ``pause``: the ``TrainingController`` pauses training before the next step;
- ``skip_step``: the optimizer step is skipped (the monitor drops the gradients before it runs);
- ``stop``: the monitor raises ``TrainingStopped``, which ends training.

Change the defaults by building the list yourself:

    >>> rules = default_rules(nonfinite={"policy": "stop"}, exploding={"max_norm": 100.0})
    >>> [(r.name, r.policy) for r in rules][:2]
    [('nonfinite', 'stop'), ('exploding', 'warn')]

Thresholds work on norms in decades (log10) where they compare with history or with other
layers, so one rule suits layers of very different scales.
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["DeadUnitsRule", "ExplodingRule", "NonFiniteRule", "POLICIES", "Rule",
           "UpdateRatioRule", "VanishingRule", "default_rules"]

POLICIES = ("warn", "pause", "skip_step", "stop")


class Rule:
    """Base class. ``phase`` is ``"grad"`` for rules that need only gradient statistics (these
    can act before the optimizer step, so ``skip_step`` works) or ``"update"`` for rules that
    need the applied update."""

    name = "rule"
    phase = "grad"
    severity = "warning"
    cadence = 1  # monitored steps between verdicts (a windowed rule decides once a window)

    def __init__(self, policy: str = "warn", severity: str | None = None, enabled: bool = True):
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        if policy == "skip_step" and self.phase != "grad":
            raise ValueError(f"rule {self.name!r} looks at the applied update, so it cannot "
                             "skip the step; use 'warn', 'pause' or 'stop'")
        self.policy = policy
        if severity is not None:
            self.severity = severity
        self.enabled = enabled

    def check(self, record, monitor=None) -> list[tuple[str | None, str]]:
        raise NotImplementedError

    def attach(self, monitor) -> None:
        """Called by the monitor when it is created: a rule that watches the model itself (not
        only the records) installs its hooks here."""

    def detach(self) -> None:
        """Called by ``monitor.remove()``: remove what ``attach`` installed."""

    def __repr__(self):
        return f"{type(self).__name__}(policy={self.policy!r})"


class NonFiniteRule(Rule):
    """NaN or Inf in a gradient (or the loss). Names the first parameter in backward order (the
    reverse of ``named_parameters``) that went non-finite: the likely origin."""

    name = "nonfinite"
    severity = "critical"

    def check(self, record, monitor=None):
        bad = [name for name, s in record["params"].items() if s["nonfinite"]]
        loss = record.get("loss")
        if not bad:
            if loss is not None and not math.isfinite(loss):
                return [(None, f"loss is {loss}")]
            return []
        first = bad[-1]
        count = record["params"][first]["nonfinite"]
        others = f"; {len(bad) - 1} more parameter(s) affected" if len(bad) > 1 else ""
        return [(first, f"non-finite gradient: {count} NaN/Inf values in {first} "
                        f"(first in backward order){others}")]


class _History:
    """A rolling window of log10 norms with O(1) mean and standard deviation."""

    __slots__ = ("values", "total", "total_sq")

    def __init__(self, window):
        self.values = deque(maxlen=window)
        self.total = 0.0
        self.total_sq = 0.0

    def push(self, x):
        values = self.values
        if len(values) == values.maxlen:
            old = values[0]
            self.total -= old
            self.total_sq -= old * old
        values.append(x)
        self.total += x
        self.total_sq += x * x

    def stats(self):
        n = len(self.values)
        mean = self.total / n
        return mean, math.sqrt(max(self.total_sq / n - mean * mean, 0.0))


class ExplodingRule(Rule):
    """Global gradient norm above ``max_norm``, a layer above ``max_layer_norm``, or a layer's norm
    jumping above its recent history: ``log10(norm) - mean > max(zscore * std, min_decades)`` over
    the last ``window`` monitored steps (after ``min_history`` of them)."""

    name = "exploding"

    def __init__(self, max_norm: float = 1e3, max_layer_norm: float | None = None,
                 zscore: float = 6.0, min_decades: float = 1.0, window: int = 100,
                 min_history: int = 20, **kwargs):
        super().__init__(**kwargs)
        self.max_norm = max_norm
        self.max_layer_norm = max_layer_norm
        self.zscore = zscore
        self.min_decades = min_decades
        self.window = window
        self.min_history = min_history
        self._history: dict[str, _History] = {}

    def check(self, record, monitor=None):
        found = []
        params = record["params"]
        total = record["global_grad_norm"]
        if self.max_norm is not None and math.isfinite(total) and total > self.max_norm:
            top = max(params, key=lambda n: params[n]["grad_norm"], default=None)
            found.append((None, f"global gradient norm {total:.3g} > {self.max_norm:g}"
                                + (f" (largest: {top})" if top else "")))
        for name, s in params.items():
            norm = s["grad_norm"]
            if not (math.isfinite(norm) and norm > 0):
                continue
            if self.max_layer_norm is not None and norm > self.max_layer_norm:
                found.append((name, f"gradient norm {norm:.3g} > {self.max_layer_norm:g}"))
                continue
            x = math.log10(norm)
            hist = self._history.get(name)
            if hist is None:
                hist = self._history[name] = _History(self.window)
            if len(hist.values) >= self.min_history:
                mean, std = hist.stats()
                if x - mean > max(self.zscore * std, self.min_decades):
                    found.append((name, f"gradient norm {norm:.3g} jumped "
                                        f"{x - mean:.1f} decades above its recent mean"))
            hist.push(x)
        return found


class VanishingRule(Rule):
    """A layer's gradient norm below ``min_norm``, more than ``decades_below_median`` decades below
    the median layer of the step, or more than ``drop_decades`` below its own recent mean."""

    name = "vanishing"

    def __init__(self, min_norm: float = 1e-8, decades_below_median: float = 5.0,
                 drop_decades: float = 3.0, window: int = 100, min_history: int = 20,
                 **kwargs):
        super().__init__(**kwargs)
        self.min_norm = min_norm
        self.decades_below_median = decades_below_median
        self.drop_decades = drop_decades
        self.window = window
        self.min_history = min_history
        self._history: dict[str, _History] = {}

    def check(self, record, monitor=None):
        found = []
        norms = {n: s["grad_norm"] for n, s in record["params"].items()
                 if math.isfinite(s["grad_norm"])}
        if not norms:
            return found
        positive = sorted(v for v in norms.values() if v > 0)
        median = positive[len(positive) // 2] if positive else 0.0
        for name, norm in norms.items():
            if self.min_norm is not None and norm < self.min_norm:
                found.append((name, f"gradient norm {norm:.3g} < {self.min_norm:g}"))
                continue
            x = math.log10(norm)
            if (self.decades_below_median is not None and median > 0
                    and math.log10(median) - x > self.decades_below_median):
                found.append((name, f"gradient norm {norm:.3g} is "
                                    f"{math.log10(median) - x:.1f} decades below the median "
                                    f"layer ({median:.3g})"))
            hist = self._history.get(name)
            if hist is None:
                hist = self._history[name] = _History(self.window)
            if self.drop_decades is not None and len(hist.values) >= self.min_history:
                mean, _ = hist.stats()
                if mean - x > self.drop_decades:
                    found.append((name, f"gradient norm {norm:.3g} dropped {mean - x:.1f} "
                                        "decades below its recent mean"))
            hist.push(x)
        return found


class UpdateRatioRule(Rule):
    """``||applied update|| / ||weight||`` far from the usual ~1e-3: above ``high`` (the step is
    rewriting the weights) or below ``low`` (the layer is not learning). Only parameters with at
    least ``min_ndim`` dimensions (weights, not biases, by default)."""

    name = "update_ratio"
    phase = "update"

    def __init__(self, high: float = 1e-1, low: float = 1e-6, min_ndim: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.high = high
        self.low = low
        self.min_ndim = min_ndim

    def check(self, record, monitor=None):
        found = []
        for name, s in record["params"].items():
            ratio = s["update_ratio"]
            if ratio is None or len(s["shape"]) < self.min_ndim or not math.isfinite(ratio):
                continue
            if self.high is not None and ratio > self.high:
                found.append((name, f"update:weight ratio {ratio:.3g} > {self.high:g}"))
            elif self.low is not None and ratio < self.low:
                found.append((name, f"update:weight ratio {ratio:.3g} < {self.low:g}"))
        return found


class DeadUnitsRule(Rule):
    """Units (features of a linear layer, channels of a convolution) after a ReLU-family layer
    that did not fire for any example over the last ``window`` monitored training steps: more
    than ``max_dead_fraction`` of a layer's units dead is flagged.

    Optional (not in the default set: it watches activations, which costs one reduction over
    each watched output per monitored step). It observes the forward passes through
    ``probe.nethook.TraceDict`` hooks that the monitor attaches when it is created; only
    training-mode forwards with gradients enabled count, so evaluation passes do not hide or
    fake dead units. ``layers``: module names to watch (default: every ``ReLU``/``ReLU6``
    module). ``unit_dim``: the axis of the units in a watched output; by default 1 for 2-D, 4-D
    and 5-D outputs (``N, C, ...``) and the last axis for 3-D outputs (``N, L, features``, as in
    a transformer's feed-forward block; pass ``unit_dim=1`` for ``Conv1d`` outputs).

    An alert names the weight of the layer that feeds the watched module (the closest earlier
    module with a ``weight``), so it lands on that row of the UI's layer table.

        >>> import probe
        >>> net = probe.nn.Sequential(probe.nn.Linear(3, 4), probe.nn.ReLU(), probe.nn.Linear(4, 1))
        >>> rule = DeadUnitsRule(window=1)
        >>> rule.watched(net)
        {'1': '0.weight'}
    """

    name = "dead_units"
    ACTIVATIONS = ("ReLU", "ReLU6")

    def __init__(self, layers=None, max_dead_fraction: float = 0.5, window: int = 20,
                 unit_dim: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= max_dead_fraction <= 1:
            raise ValueError(f"max_dead_fraction must be in [0, 1], got {max_dead_fraction}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.layers = [layers] if isinstance(layers, str) else layers
        self.max_dead_fraction = max_dead_fraction
        self.window = int(window)
        self.cadence = self.window
        self.unit_dim = unit_dim
        self._trace = None
        self._monitor = None
        self._alive: dict[str, object] = {}  # module name -> bool array of units seen firing
        self._feeds: dict[str, str] = {}
        self._steps_seen = 0

    def watched(self, model) -> dict[str, str]:
        """``{module name: name the alerts use}`` of the modules this rule watches in ``model``."""
        feeds, last_weight = {}, None
        wanted = None if self.layers is None else set(self.layers)
        for name, module in model.named_modules():
            if not name:
                continue
            if wanted is None:
                if type(module).__name__ in self.ACTIVATIONS:
                    feeds[name] = last_weight or name
            elif name in wanted:
                feeds[name] = last_weight or name
            weight = module._parameters.get("weight") if hasattr(module, "_parameters") else None
            if weight is not None and weight.requires_grad:
                last_weight = f"{name}.weight"
        return feeds

    def attach(self, monitor) -> None:
        """Start watching ``monitor.model`` (called by ``GradientMonitor``)."""
        from ..nethook import TraceDict  # noqa: PLC0415

        if self.layers is not None:
            from ..nethook.naming import resolve_layers  # noqa: PLC0415

            resolve_layers(monitor.model, self.layers)  # unknown names fail here, with hints
        self.detach()
        self._monitor = monitor
        self._feeds = self.watched(monitor.model)
        if self._feeds:
            self._trace = TraceDict(monitor.model, list(self._feeds), retain_output=False,
                                    edit_output=self._observe)

    def detach(self) -> None:
        """Remove the hooks."""
        if self._trace is not None:
            self._trace.close()
            self._trace = None
        self._alive.clear()
        self._steps_seen = 0

    def _observe(self, output, layer):
        from ..engine.grad_mode import is_grad_enabled  # noqa: PLC0415

        monitor = self._monitor
        if monitor is None or not monitor.next_step_monitored or not is_grad_enabled() or \
                not getattr(output, "ndim", 0) or output.ndim < 2:
            return output
        if not self._trace[layer].module.training:
            return output
        data = output._data
        dim = self._unit_axis(data.ndim)
        axes = tuple(a for a in range(data.ndim) if a != dim)
        # Max over everything but the units: one pass; NaN counts as firing (the nonfinite
        # rule reports it), -inf or 0 everywhere as dead.
        fired = ~(data.max(axis=axes) <= 0)
        seen = self._alive.get(layer)
        if seen is None or seen.shape != fired.shape:
            self._alive[layer] = fired
        else:
            seen |= fired
        return output

    def _unit_axis(self, ndim: int) -> int:
        if self.unit_dim is not None:
            return self.unit_dim % ndim
        return ndim - 1 if ndim == 3 else 1

    def check(self, record, monitor=None):
        if not self._alive:
            return []
        self._steps_seen += 1
        if self._steps_seen < self.window:
            return []
        found = []
        for layer, fired in self._alive.items():
            fired = fired.get() if hasattr(fired, "get") else fired  # CuPy: a small transfer
            total = int(fired.size)
            dead = total - int(fired.sum())
            if total and dead / total > self.max_dead_fraction:
                found.append((self._feeds.get(layer, layer),
                              f"{dead}/{total} units ({100 * dead / total:.0f}%) after layer "
                              f"{layer!r} did not fire in the last {self._steps_seen} steps"))
        self._alive.clear()
        self._steps_seen = 0
        return found


# Rules left out of default_rules() unless asked for by name.
OPTIONAL_RULES = ("dead_units",)


def default_rules(**overrides) -> list[Rule]:
    """The default rule set; ``overrides`` maps a rule name to keyword arguments for it (or to
    ``False`` to leave the rule out). Optional rules (``dead_units``) join when named (``True``
    or keyword arguments).

    >>> [r.name for r in default_rules(dead_units=True, update_ratio=False)]
    ['nonfinite', 'exploding', 'vanishing', 'dead_units']
    """
    classes = {"nonfinite": NonFiniteRule, "exploding": ExplodingRule,
               "vanishing": VanishingRule, "update_ratio": UpdateRatioRule,
               "dead_units": DeadUnitsRule}
    unknown = set(overrides) - set(classes)
    if unknown:
        raise ValueError(f"unknown rule(s): {sorted(unknown)}; known: {sorted(classes)}")
    rules = []
    for name, cls in classes.items():
        kwargs = overrides.get(name, None if name in OPTIONAL_RULES else {})
        if kwargs is None or kwargs is False:
            continue
        rules.append(cls(**({} if kwargs is True else kwargs)))
    return rules
