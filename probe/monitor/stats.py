"""``GradientMonitor``: per-parameter gradient, weight and update statistics for each training step.

The monitor attaches to the optimizer's step hooks (``register_step_pre_hook`` /
``register_step_post_hook``): before the step it takes the gradient reductions, after the step it
measures the update that was actually applied (so the update:weight ratio is right for Adam and
friends too). probe's own optimizers show the monitor each update array they add to a parameter
(``Optimizer._register_update_observer``, attached only for monitored steps), so measuring it
costs one pass over that array (AdamW's decoupled decay: one more, a weights-update dot); for
any other optimizer the monitor copies the weights before the step and subtracts them after (two
more passes). Parameters the optimizer does not update get no ratio. Every reduction stays on the
device until one
``to_host`` call per step moves a single stacked array: a CUDA run synchronises once per step,
not once per layer. (A rule with the ``skip_step`` policy must decide before the step, which
costs a second, small transfer; the default rules do not.)

Call ``monitor.after_backward(loss)`` between ``loss.backward()`` and any gradient clipping: the
record then carries the loss and the global norm before and after clipping. Without it the
monitor still works from the optimizer hooks alone (no loss, no pre-clipping norm).

    >>> import probe, probe.nn as nn, probe.optim as optim
    >>> model = nn.Linear(3, 2)
    >>> opt = optim.SGD(model.parameters(), lr=0.1)
    >>> monitor = GradientMonitor(model, opt)
    >>> loss = model(probe.ones(4, 3)).sum()
    >>> loss.backward()
    >>> monitor.after_backward(loss)
    >>> opt.step()
    >>> record = monitor.last_record
    >>> record["step"], sorted(record["params"])
    (1, ['bias', 'weight'])
"""

from __future__ import annotations

import math
import time

import numpy as np

from .records import Alert, LayerStats, StepRecord, module_totals

__all__ = ["GradientMonitor", "TrainingStopped", "to_host"]


class TrainingStopped(RuntimeError):
    """Raised by the monitor when a rule with the ``stop`` policy fires (or by the driver when the
    controller asks to stop). ``alert`` is the alert that stopped training, if any."""

    def __init__(self, message: str, alert: Alert | None = None):
        super().__init__(message)
        self.alert = alert


def to_host(array) -> np.ndarray:
    """The monitor's one device-to-host transfer per step (a no-op for NumPy arrays)."""
    get = getattr(array, "get", None)
    return get() if get is not None else array


def _gather(xp, values) -> np.ndarray:
    """Stack 0-d device scalars into one float64 host array with a single transfer."""
    if xp is np:
        return to_host(np.array(values, dtype=np.float64))
    return to_host(xp.stack([xp.asarray(v, dtype=xp.float64) for v in values]))


def _sq(xp, flat):
    return xp.dot(flat, flat) if flat.size else xp.zeros((), flat.dtype)


# Gradients up to this many elements are reduced together (see _small_reductions).
_BATCH_MAX = 1 << 12
_NUMPY_MAX = np.maximum.reduce  # skips ndarray.max's Python wrapper (per small parameter)
_NUMPY_MIN = np.minimum.reduce


def _sq_fast(array):
    """Squared L2 norm of any-shaped NumPy/CuPy array as a 0-d device value (one BLAS dot)."""
    if not array.size:
        return array.sum()  # 0-d zero of the array's dtype, on its device
    flat = array.reshape(-1)
    return flat.dot(flat)


class GradientMonitor:
    """Record per-parameter gradient statistics each ``every`` steps and check health rules.

    ``rules``: a list of ``probe.monitor.rules.Rule`` (``None``: ``default_rules()``; ``[]``: none).
    ``sinks``: objects with ``write(record)`` (a ``RunWriter``, a ``RecordBuffer``) or callables
    receiving each ``StepRecord``. ``controller``: the ``TrainingController`` the ``pause`` policy
    pauses. ``alert_cooldown``: an alert of the same rule and parameter is not repeated within
    this many steps (its policy still applies for ``skip_step``); while the condition holds at
    every monitored step the gap doubles, up to 64 times ``alert_cooldown``, and the next alert
    counts the checks it stood for in ``repeats``. A step where it no longer holds resets the gap.
    """

    def __init__(self, model, optimizer=None, every: int = 1, rules=None, sinks=(),
                 controller=None, alert_cooldown: int = 20):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        from .rules import default_rules  # noqa: PLC0415  (rules imports this module)

        self.model = model
        self.optimizer = optimizer
        self.every = int(every)
        self.rules = default_rules() if rules is None else list(rules)
        self.sinks = list(sinks)
        self.controller = controller
        self.alert_cooldown = int(alert_cooldown)
        self.names: list[str] = []
        self.params = []
        for name, p in model.named_parameters():
            if p.requires_grad:
                self.names.append(name)
                self.params.append(p)
        self._index = {id(p): i for i, p in enumerate(self.params)}
        self.layers = [name.rpartition(".")[0] for name in self.names]
        self.shapes = [list(p.shape) for p in self.params]
        self.step = 0  # optimizer steps seen (monitored or not)
        self.epoch = 0
        self.last_record: StepRecord | None = None
        # (rule, layer) -> [last alerted step, last step it held, current gap, hits not alerted]
        self._alert_memory: dict[tuple[str, str | None], list[int]] = {}
        self._snapshots: dict[int, object] = {}  # reused weight-copy buffers, by param index
        self._batch_layout = None  # (sizes, offsets, float64 work arrays) of small grads
        # Per param: (data array, version, squared norm on the device) after the last monitored
        # step; the next step reuses the norm as "before" when the weights did not change.
        self._after_sq: dict[int, tuple] = {}
        self._handles = []
        # The update observer is registered only around monitored steps: with an observer
        # present an optimizer may do extra work (AdamW assembles the whole change), which the
        # steps in between should not pay for.
        self._observer_handle = None
        # Parameters whose update the optimizer reported (index -> squared norm on the device)
        # during the step being monitored (the only step the observer is registered for).
        self._reported: dict[int, object] = {}
        self._snapshot_only: set[int] = set()  # reporting optimizer, but this one went unreported
        self._optimized_key = None
        self._optimized: set[int] = set()
        self._reset_pending()
        self._reporting = False
        if optimizer is not None:
            self._handles.append(optimizer.register_step_pre_hook(self._pre_step_hook))
            self._handles.append(optimizer.register_step_post_hook(self._post_step_hook))
            register = getattr(optimizer, "_register_update_observer", None)
            if register is not None and getattr(optimizer, "_reports_updates", False):
                self._reporting = True
        for rule in self.rules:  # rules that watch the model itself (DeadUnitsRule) hook in now
            rule.attach(self)

    # ------------------------------------------------------------------ public API
    def add_sink(self, sink) -> None:
        self.sinks.append(sink)

    def remove(self) -> None:
        """Detach from the optimizer and the model (rules' hooks included)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._stop_observing()
        for rule in self.rules:
            rule.detach()

    @property
    def next_step_monitored(self) -> bool:
        """Whether the coming optimizer step is one that ``every`` records."""
        return (self.step + 1) % self.every == 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def after_backward(self, loss=None) -> None:
        """Take the gradient statistics of this step (before any clipping). Call it after
        ``loss.backward()``; without an optimizer it also finishes the step's record."""
        self._pending_loss = loss
        if self.optimizer is None:
            self.step += 1
            if self.step % self.every:
                self._reset_pending()
                return
            self._take_grads()
            self._finish(updated=False)
            return
        if not self.next_step_monitored:
            return
        self._take_grads()

    def clip_grad_norm_(self, max_norm: float, norm_type: float = 2.0):
        """``probe.nn.utils.clip_grad_norm_`` on the monitored parameters; the record gets the
        norm before and after clipping."""
        from ..nn.utils import clip_grad_norm_  # noqa: PLC0415

        if self._grads is None and self.next_step_monitored:
            self._take_grads()
        return clip_grad_norm_(self.params, max_norm, norm_type)

    # ------------------------------------------------------------------ step phases
    def _reset_pending(self):
        self._grads = None  # grad arrays of the step (None: not taken)
        self._grad_values = None  # device scalars: per param (sq norm, max, -min)
        self._versions = None
        self._pending_loss = None
        self._clipped_values = None
        self._before = None  # per param: (snapshot buffer, sq norm before) or None
        self._host_grad = None  # host copy when the grad phase was transferred early
        self._alerts: list[Alert] = []
        self._skipped = False
        self._stop_alert = None
        self._stop_observing()
        self._reported = {}

    def _take_grads(self):
        """Per parameter with a gradient: squared norm, max and min, as device scalars."""
        grads, versions = [], []
        slots: list = []  # per parameter: its (sq, max, min) or an index into the small batch
        small: list = []
        for p in self.params:
            g = p._grad
            if g is None:
                grads.append(None)
                versions.append(None)
                continue
            data = g._data
            grads.append(data)
            versions.append(g._vc[0])
            flat = data.reshape(-1)
            if type(flat) is np.ndarray and 0 < flat.size <= _BATCH_MAX and \
                    flat.dtype.kind == "f":
                slots.append(len(small))
                small.append(flat)
            elif not flat.size:
                zero = g._device.xp.zeros((), data.dtype)
                slots.append((zero, zero, zero))
            elif type(flat) is np.ndarray:
                # ndarray.dot skips np.dot's dispatch; NaN propagates through max and min.
                slots.append((flat.dot(flat), _NUMPY_MAX(flat), _NUMPY_MIN(flat)))
            else:
                slots.append((flat.dot(flat), flat.max(), flat.min()))
        values = []
        if small:
            sq, hi, lo = self._small_reductions(small)
            for slot in slots:
                values += (sq[slot], hi[slot], lo[slot]) if type(slot) is int else slot
        else:
            for slot in slots:
                values += slot
        self._grads, self._grad_values, self._versions = grads, values, versions

    def _small_reductions(self, flats):
        """Squared norms, maxima and minima of many small NumPy arrays in a handful of calls: up
        to a few thousand elements, three reductions per parameter cost mostly call overhead (a
        BERT-sized model has ~150 such parameters). Summed in float64, in order."""
        sizes = tuple([f.size for f in flats])
        layout = self._batch_layout
        if layout is None or layout[0] != sizes:  # the set of gradients rarely changes
            total = sum(sizes)
            offsets = np.cumsum((0,) + sizes[:-1])
            data = np.empty(total, np.float64)
            layout = self._batch_layout = (sizes, offsets, data, np.empty_like(data))
        _, offsets, data, squares = layout
        np.concatenate(flats, out=data)
        np.multiply(data, data, out=squares)
        return (np.add.reduceat(squares, offsets), np.maximum.reduceat(data, offsets),
                np.minimum.reduceat(data, offsets))

    def _observe_update(self, p, update, decay=0.0, weights=None):
        """The optimizer's update observer: the squared norm of the change it is about to
        apply, ``update - decay * weights`` (AdamW's decoupled decay)."""
        i = self._index.get(id(p))
        if i is None:
            return
        sq = _sq_fast(update)
        if decay and weights is not None and weights.size:
            # ||u - d w||^2 = ||u||^2 - 2 d (w . u) + d^2 ||w||^2, in float64: one dot more
            # instead of building the change in an array as large as the parameter. ||w||^2 is
            # the "before" norm the monitor already has (unless w is a complex parameter's
            # real view).
            before = self._before[i] if self._before is not None else None
            wsq = before[1] if before is not None and weights is p._data else _sq_fast(weights)
            cross = weights.reshape(-1).dot(update.reshape(-1))
            sq = (sq.astype("float64") - 2.0 * decay * cross.astype("float64")
                  + decay * decay * wsq.astype("float64"))
            sq = p._device.xp.maximum(sq, 0.0)  # rounding must not make it negative
        self._reported[i] = sq

    def _stop_observing(self) -> None:
        if self._observer_handle is not None:
            self._observer_handle.remove()
            self._observer_handle = None

    def _optimized_indices(self) -> set[int]:
        """Indices of the monitored parameters that the optimizer updates (cached until its
        parameter groups change)."""
        groups = self.optimizer.param_groups
        key = tuple((id(g["params"]), len(g["params"])) for g in groups)
        if key != self._optimized_key:
            ids = {id(p) for g in groups for p in g["params"]}
            self._optimized = {i for i, p in enumerate(self.params) if id(p) in ids}
            self._optimized_key = key
        return self._optimized

    def _pre_step_hook(self, optimizer, args, kwargs):
        if not self.next_step_monitored:
            return None
        if self._grads is None:
            self._take_grads()
        else:
            self._check_clipping()
        if any(r.policy == "skip_step" and r.phase == "grad" for r in self.rules):
            # The decision must come before the step: transfer the gradient phase now.
            self._host_grad = self._transfer_grad_phase()
            record = self._build_record(self._host_grad, None)
            self._run_rules(record, "grad")
            if self._skipped:
                for p in self.params:
                    p.grad = None  # optimizers skip parameters without a gradient
                return None
        self._prepare_update()
        return None

    def _post_step_hook(self, optimizer, args, kwargs):
        self.step += 1
        if self.step % self.every:
            return
        if self._grads is None:  # step() called without the pre-hook having run (re-entrancy)
            self._reset_pending()
            return
        self._finish(updated=not self._skipped)

    def _check_clipping(self):
        """The user clipped in place between ``after_backward`` and ``step`` when a gradient's
        version counter moved: measure the clipped global norm too (still on the device)."""
        changed = False
        for p, v in zip(self.params, self._versions):
            g = p._grad
            if v is not None and g is not None and g._vc[0] != v:
                changed = True
                break
        if changed:
            self._clipped_values = [_sq(p._grad._device.xp, p._grad._data.reshape(-1))
                                    for p in self.params if p._grad is not None]

    def _prepare_update(self):
        """Before the step: the squared weight norms (reused from the last monitored step when
        the weights have not changed since) and, where the optimizer does not report its
        updates, a copy of the weights."""
        before = []
        snaps = self._snapshots
        optimized = self._optimized_indices()
        reporting = self._reporting
        for i, p in enumerate(self.params):
            if p._grad is None or i not in optimized:
                before.append(None)
                continue
            w = p._data
            cached = self._after_sq.get(i)
            wsq = cached[2] if cached is not None and cached[0] is w and \
                cached[1] == p._vc[0] else None
            if reporting and i not in self._snapshot_only:
                before.append((None, _sq_fast(w) if wsq is None else wsq))
                continue
            xp = p._device.xp
            buf = snaps.get(i)
            if buf is None or buf.shape != w.shape or buf.dtype != w.dtype or \
                    type(buf) is not type(w):
                buf = snaps[i] = xp.empty_like(w)
            xp.copyto(buf, w)
            before.append((buf, _sq_fast(buf) if wsq is None else wsq))
        self._before = before
        self._reported = {}
        if reporting and self._observer_handle is None:
            self._observer_handle = self.optimizer._register_update_observer(
                self._observe_update)

    def _device_values(self):
        """The step's 0-d device scalars in a fixed order, plus that order's layout."""
        values = list(self._grad_values)
        layout = {"grad": (0, len(values))}
        if self._pending_loss is not None:
            layout["loss"] = len(values)
            values.append(self._pending_loss._data.reshape(()))
        if self._clipped_values is not None:
            layout["clipped"] = (len(values), len(self._clipped_values))
            values += self._clipped_values
        return values, layout

    def _transfer_grad_phase(self):
        values, layout = self._device_values()
        xp = self._xp()
        return _gather(xp, values) if values else np.zeros(0), layout

    def _xp(self):
        return self.params[0]._device.xp if self.params else np

    def _finish(self, updated: bool):
        xp = self._xp()
        if self._host_grad is None:
            values, layout = self._device_values()
        else:
            values, layout = [], None
        update_at = len(values)
        with np.errstate(all="ignore"):  # NaN/Inf weights are reported, not warned about
            self._update_values(values, updated)
        host = _gather(xp, values) if values else np.zeros(0)
        if self._host_grad is not None:
            grad_host, layout = self._host_grad
            update_host = host
        else:
            grad_host, update_host = host, host[update_at:]
        record = self._build_record((grad_host, layout), (update_host, updated))
        if self._host_grad is None:
            self._run_rules(record, "grad")
        self._run_rules(record, "update")
        record["alerts"] = self._alerts
        self.last_record = record
        stop_alert = self._stop_alert
        pause_alert = next((a for a in self._alerts if a["policy"] == "pause"), None)
        self._reset_pending()
        for sink in self.sinks:
            write = getattr(sink, "write", None)
            (write or sink)(record)
        if pause_alert is not None and self.controller is not None:
            self.controller.pause(reason=pause_alert["message"])
        if stop_alert is not None:
            raise TrainingStopped(f"training stopped by rule {stop_alert['rule']!r}: "
                                  f"{stop_alert['message']}", stop_alert)

    def _update_values(self, values, updated):
        """Append per parameter with a gradient: (update sq norm, weight sq norm before, after)
        after a step, or the weight sq norm alone without one. Sets ``_ratio_known``."""
        self._stop_observing()
        known = self._ratio_known = []
        if updated and self._before is not None:
            after_sq = self._after_sq
            reported = self._reported
            for i, (p, before) in enumerate(zip(self.params, self._before)):
                if self._grads[i] is None:
                    continue
                w = p._data
                wsq = _sq_fast(w)
                after_sq[i] = (w, p._vc[0], wsq)
                if before is None:  # the optimizer does not update this parameter
                    known.append(False)
                    values += (wsq, wsq, wsq)
                    continue
                buf, wsq_before = before
                if buf is not None:
                    p._device.xp.subtract(w, buf, out=buf)
                    usq = _sq_fast(buf)
                else:
                    usq = reported.get(i)
                    if usq is None:  # an optimizer subclass that skips _apply_update
                        self._snapshot_only.add(i)
                        known.append(False)
                        values += (wsq, wsq_before, wsq)
                        continue
                known.append(True)
                values += (usq, wsq_before, wsq)
        elif not updated:
            for p, g in zip(self.params, self._grads):
                if g is not None:
                    values.append(_sq(p._device.xp, p._data.reshape(-1)))

    def _build_record(self, grad_part, update_part) -> StepRecord:
        host, layout = grad_part
        host = host.tolist()  # Python floats: math on NumPy scalars is several times slower
        start = layout["grad"][0]
        params: dict[str, LayerStats] = {}
        total_sq = 0.0
        j = start
        grads = self._grads
        for i, name in enumerate(self.names):
            g = grads[i]
            if g is None:
                continue
            gsq, gmax, gmin = host[j], host[j + 1], host[j + 2]
            j += 3
            total_sq += gsq
            nonfinite = 0
            if not (math.isfinite(gsq) and math.isfinite(gmax) and math.isfinite(gmin)):
                xp = self.params[i]._device.xp
                nonfinite = int(xp.count_nonzero(~xp.isfinite(g)))  # rare: costs a transfer
            params[name] = {
                "layer": self.layers[i],
                "shape": self.shapes[i],
                "grad_norm": math.nan if nonfinite else math.sqrt(gsq),
                "grad_max": math.nan if nonfinite else max(abs(gmax), abs(gmin)),
                "weight_norm": math.nan,
                "update_ratio": None,
                "nonfinite": nonfinite,
            }
        loss = float(host[layout["loss"]]) if "loss" in layout else None
        clipped = None
        if "clipped" in layout:
            at, n = layout["clipped"]
            clipped = math.sqrt(sum(host[at:at + n]))
        ratio_parts = {}  # name -> (update sq norm, weight sq norm before)
        if update_part is not None:
            uhost, updated = update_part
            uhost = uhost.tolist()
            k = 0
            known = iter(self._ratio_known)
            for i, name in enumerate(self.names):
                if grads[i] is None:
                    continue
                stats = params[name]
                if updated:
                    usq, wsq_before, wsq = uhost[k], uhost[k + 1], uhost[k + 2]
                    k += 3
                    if next(known) and wsq_before > 0:
                        stats["update_ratio"] = math.sqrt(usq) / math.sqrt(wsq_before)
                        ratio_parts[name] = (usq, wsq_before)
                else:
                    wsq = uhost[k]
                    k += 1
                stats["weight_norm"] = math.sqrt(wsq)
        lr = None
        if self.optimizer is not None and self.optimizer.param_groups:
            lr = float(self.optimizer.param_groups[0]["lr"])
        return {
            "type": "step",
            "step": self.step + (0 if update_part is not None else 1),
            "epoch": self.epoch,
            "time": time.time(),
            "loss": loss,
            "lr": lr,
            "global_grad_norm": math.sqrt(total_sq),
            "global_grad_norm_clipped": clipped,
            "params": params,
            "layers": module_totals(params, ratio_parts),
            "alerts": self._alerts,
        }

    def _alert_due(self, key, step, cadence: int = 1) -> int | None:
        """Rate-limit one (rule, layer) pair: ``None`` to hold the alert back, else the number of
        checks it held back since the last one. A condition that persists alerts at doubling
        gaps (a run stuck in it does not flood the log), and at once again after it cleared.
        ``cadence``: the rule's verdicts come every ``cadence`` monitored steps."""
        memory = self._alert_memory.get(key)
        if memory is None or step - memory[1] > self.every * cadence:  # new, or it had cleared
            self._alert_memory[key] = [step, step, self.alert_cooldown, 0]
            return 0
        last_alert, _, gap, held = memory
        memory[1] = step
        if step - last_alert < gap:
            memory[3] = held + 1
            return None
        memory[0], memory[2], memory[3] = step, min(2 * gap, 64 * self.alert_cooldown), 0
        return held

    def _run_rules(self, record, phase):
        step = record["step"]
        for rule in self.rules:
            if rule.phase != phase or not rule.enabled:
                continue
            for layer, message in rule.check(record, self):
                if rule.policy == "skip_step":
                    self._skipped = True
                held = self._alert_due((rule.name, layer), step, rule.cadence)
                if held is None:
                    continue
                alert: Alert = {"rule": rule.name, "severity": rule.severity, "layer": layer,
                                "message": message, "step": step, "policy": rule.policy}
                if held:
                    alert["repeats"] = held
                self._alerts.append(alert)
                if rule.policy == "stop" and self._stop_alert is None:
                    self._stop_alert = alert
