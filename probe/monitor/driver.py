"""The training driver: ``fit`` runs epochs over a DataLoader with a ``GradientMonitor``, obeys a
``TrainingController`` between steps and can print a plain progress line (headless).

The controller is the only object another thread (the UI) touches: its methods just set flags
under a lock, and the trainer picks them up between steps. The trainer never waits on the UI;
a paused trainer blocks on a condition with a timeout (no busy wait) until resumed, stepped or
stopped. ``RecordBuffer`` is the in-memory sink the UI reads from.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections import deque

from .records import StatusRecord
from .runlog import RUN_DIR_ENV
from .stats import GradientMonitor, TrainingStopped

__all__ = ["FitResult", "RecordBuffer", "TrainingController", "TrainingStopped", "fit"]


class RecordBuffer:
    """A thread-safe ring buffer of the latest ``maxlen`` records, a sink for the monitor and the
    controller. Readers poll with a cursor:

        >>> buf = RecordBuffer(maxlen=3)
        >>> for i in range(5):
        ...     buf.write({"type": "step", "step": i + 1})
        >>> records, cursor = buf.read_since(0)
        >>> [r["step"] for r in records], cursor
        ([3, 4, 5], 5)
        >>> buf.read_since(cursor)
        ([], 5)
    """

    def __init__(self, maxlen: int = 10_000):
        self._records = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._count = 0  # records ever written; the cursor of the newest
        self.meta: dict | None = None

    def write(self, record: dict) -> None:
        if record.get("type") == "meta":
            self.meta = record
            return
        with self._lock:
            self._records.append(record)
            self._count += 1

    __call__ = write

    def read_since(self, cursor: int) -> tuple[list[dict], int]:
        """Records written after ``cursor`` (those still held) and the new cursor."""
        with self._lock:
            count = self._count
            new = min(count - cursor, len(self._records))
            if new <= 0:
                return [], count
            return list(self._records)[-new:], count

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self._records)

    def latest(self, type: str = "step") -> dict | None:
        with self._lock:
            for record in reversed(self._records):
                if record.get("type") == type:
                    return record
        return None

    def __len__(self):
        return len(self._records)

    @property
    def total(self) -> int:
        return self._count


class TrainingController:
    """Pause, single-step, stop and learning-rate requests from any thread.

    ``state`` is ``"running"``, ``"paused"``, ``"stopped"``, ``"finished"`` or ``"failed"``.
    Requests take effect between steps. ``sinks`` receive a ``StatusRecord`` (written from the
    trainer's thread) each time the trainer changes state.
    """

    def __init__(self, sinks=()):
        self._cond = threading.Condition()
        self._paused = False
        self._stop = False
        self._steps = 0  # single steps granted while paused
        self._lr_factor = 1.0
        self._state = "running"
        self._reason: str | None = None
        self.sinks = list(sinks)
        self.step = 0  # the trainer's step count, for status records
        self.stop_reason: str | None = None

    # --- called from the UI (any thread) ------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stop_requested(self) -> bool:
        return self._stop

    def pause(self, reason: str | None = None) -> None:
        with self._cond:
            if self._state in ("running", "paused"):
                self._paused = True
                self._steps = 0
                self._reason = reason
                self._state = "paused"
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            if self._state == "paused":
                self._state = "running"
            self._cond.notify_all()

    def toggle_pause(self) -> None:
        if self._paused:
            self.resume()
        else:
            self.pause()

    def step_once(self) -> None:
        """While paused: let exactly one more step run, then stay paused."""
        with self._cond:
            if self._paused:
                self._steps += 1
            self._cond.notify_all()

    def stop(self, reason: str | None = "stopped by user") -> None:
        with self._cond:
            self._stop = True
            self.stop_reason = self.stop_reason or reason
            self._cond.notify_all()

    def scale_lr(self, factor: float) -> None:
        """Multiply every parameter group's learning rate by ``factor`` before the next step."""
        with self._cond:
            self._lr_factor *= float(factor)
            self._cond.notify_all()

    # --- called from the trainer's thread ----------------------------------------------
    def _emit(self, state: str, reason: str | None = None) -> None:
        record: StatusRecord = {"type": "status", "state": state, "step": self.step,
                                "time": time.time(), "reason": reason}
        for sink in self.sinks:
            (getattr(sink, "write", None) or sink)(record)

    def apply_lr(self, optimizer) -> None:
        """Apply pending ``scale_lr`` requests to ``optimizer``."""
        with self._cond:
            factor, self._lr_factor = self._lr_factor, 1.0
        if factor != 1.0 and optimizer is not None:
            for group in optimizer.param_groups:
                group["lr"] = group["lr"] * factor

    def checkpoint(self, optimizer=None, poll: float = 0.25) -> bool:
        """Between steps: apply requests, block while paused; ``False`` when training must stop.
        Each wait has a timeout (``poll``), so a stop request is seen promptly."""
        self.apply_lr(optimizer)
        announced = False
        with self._cond:
            while self._paused and not self._stop:
                if self._steps > 0:
                    self._steps -= 1
                    break
                if not announced:
                    reason = self._reason
                    self._cond.release()
                    try:
                        self._emit("paused", reason)
                    finally:
                        self._cond.acquire()
                    announced = True
                    continue
                self._cond.wait(poll)
            stop = self._stop
        if announced and not stop:
            self._emit("running")
        self.apply_lr(optimizer)
        return not stop

    def finish(self, state: str, reason: str | None = None) -> None:
        with self._cond:
            self._state = state
            self._paused = False
            self._cond.notify_all()
        self._emit(state, reason)

    def start(self) -> None:
        with self._cond:
            if self._state not in ("running", "paused"):
                self._state = "running"
        self._emit(self._state, self._reason if self._state == "paused" else None)


class _MaxSteps(Exception):
    pass


class FitResult(dict):
    """``fit``'s summary: ``state``, ``steps``, ``epochs`` (completed), ``last_loss``."""


def _print_alerts(record, out):
    for a in record["alerts"]:
        layer = f" {a['layer']}" if a["layer"] else ""
        print(f"ALERT step {a['step']} [{a['severity']}] {a['rule']}{layer}: {a['message']} "
              f"(policy {a['policy']})", file=out, flush=True)


def _fmt(x):
    return "-" if x is None else f"{x:.4g}"


def fit(model, loader, optimizer, loss_fn, epochs: int | None = 1, monitor=None,
        controller: TrainingController | None = None, run_dir=None, headless: bool = True,
        print_every: int = 50, sinks=(), max_steps: int | None = None, callbacks=(),
        config: dict | None = None, out=None) -> FitResult:
    """Train ``model`` for ``epochs`` passes over ``loader`` (``None``: until stopped).

    Each batch is ``(inputs, targets)``; the step is ``loss_fn(model(inputs), targets)``,
    backward, ``monitor.after_backward(loss)``, ``optimizer.step()``. Between steps the
    ``controller`` is honoured (pause / single step / stop / lr scaling). ``run_dir`` writes a
    run directory; it defaults to ``$PROBE_RUN_DIR``, which ``probe run SCRIPT.py`` sets so that
    the UI follows the script's training. ``headless`` prints ``step ... loss ...`` every
    ``print_every`` steps and each alert to ``out`` (stdout). ``callbacks``: callables
    ``cb(record)`` after each monitored step. A rule with the ``stop`` policy raises
    ``TrainingStopped`` after the final status is written. With a run directory, requests
    that another process appends to its ``commands.jsonl`` (``probe.monitor.control``: what
    ``probe watch`` and ``probe run`` send) reach ``controller`` too.

        >>> import probe, probe.nn as nn, probe.optim as optim
        >>> from probe.utils.data import DataLoader, TensorDataset
        >>> data = TensorDataset(probe.randn(16, 4), probe.randint(0, 2, (16,)))
        >>> model = nn.Linear(4, 2)
        >>> result = fit(model, DataLoader(data, batch_size=8), optim.SGD(model.parameters(),
        ...              lr=0.1), nn.CrossEntropyLoss(), epochs=2, headless=False)
        >>> result["state"], result["steps"]
        ('finished', 4)
    """
    out = sys.stdout if out is None else out
    controller = controller or TrainingController()
    sinks = list(sinks)
    writer = listener = None
    if run_dir is None:
        run_dir = os.environ.get(RUN_DIR_ENV) or None
    if run_dir is not None:
        from .control import COMMANDS, CommandListener  # noqa: PLC0415
        from .runlog import RunWriter  # noqa: PLC0415

        writer = RunWriter(run_dir)
        sinks.append(writer)
        # A UI in another process controls the run through the run directory.
        listener = CommandListener(run_dir, controller)
    if monitor is None and (sinks or headless or callbacks):
        monitor = GradientMonitor(model, optimizer, controller=controller)
    if monitor is not None:
        if monitor.controller is None:
            monitor.controller = controller
        for s in sinks:
            if s not in monitor.sinks:
                monitor.add_sink(s)
    for s in sinks:
        if s not in controller.sinks:
            controller.sinks.append(s)
    meta = {"type": "meta", "model": "\n".join(repr(model).splitlines()[:40]),
            "params": {n: list(p.shape) for n, p in model.named_parameters()},
            "config": {"optimizer": type(optimizer).__name__,
                       "lr": optimizer.param_groups[0]["lr"] if optimizer.param_groups else None,
                       "epochs": epochs, "every": monitor.every if monitor else None,
                       "rules": [repr(r) for r in monitor.rules] if monitor else [],
                       **(config or {})}}
    if listener is not None:
        meta["control"] = COMMANDS  # tells a UI that requests written there are honoured
    for s in sinks:
        (getattr(s, "write", None) or s)(meta)

    result = FitResult(state="running", steps=0, epochs=0, last_loss=None)
    step = 0
    last_print_time, last_print_step = time.perf_counter(), 0
    controller.start()
    if listener is not None:
        listener.start()
    state, reason, error = "finished", None, None
    try:
        epoch = 0
        while epochs is None or epoch < epochs:
            if monitor is not None:
                monitor.set_epoch(epoch)
            for batch in loader:
                if not controller.checkpoint(optimizer):
                    raise TrainingStopped(controller.stop_reason or "stopped")
                if max_steps is not None and step >= max_steps:
                    raise _MaxSteps
                inputs, targets = batch[0], batch[1]
                optimizer.zero_grad()
                loss = loss_fn(model(inputs), targets)
                loss.backward()
                if monitor is not None:
                    before = monitor.last_record
                    monitor.after_backward(loss)
                optimizer.step()
                step += 1
                controller.step = step
                record = monitor.last_record if monitor is not None else None
                if record is not None and record is not before:
                    if headless and record["alerts"]:
                        _print_alerts(record, out)
                    for cb in callbacks:
                        cb(record)
                if headless and print_every and step % print_every == 0:
                    now = time.perf_counter()
                    rate = (step - last_print_step) / max(now - last_print_time, 1e-9)
                    last_print_time, last_print_step = now, step
                    fresh = record is not None and record["step"] == step
                    loss_value = record["loss"] if fresh else float(loss.item())
                    result["last_loss"] = loss_value
                    gnorm = _fmt(record["global_grad_norm"]) if fresh else "-"
                    lr = optimizer.param_groups[0]["lr"]
                    print(f"step {step} epoch {epoch} loss {_fmt(loss_value)} grad_norm {gnorm} "
                          f"lr {_fmt(float(lr))} steps/s {rate:.1f}", file=out, flush=True)
            epoch += 1
            result["epochs"] = epoch
    except _MaxSteps:
        state = "finished"
    except TrainingStopped as exc:
        state, reason, error = "stopped", str(exc), exc
    except BaseException as exc:  # keep the run log honest, then re-raise
        state, reason, error = "failed", f"{type(exc).__name__}: {exc}", exc
    finally:
        result["steps"] = step
        result["state"] = state
        if result["last_loss"] is None and monitor is not None and monitor.last_record:
            loss_value = monitor.last_record["loss"]
            result["last_loss"] = None if loss_value is None or math.isnan(loss_value) \
                else loss_value
        if listener is not None:
            listener.stop()
        controller.finish(state, reason)
        if headless:
            print(f"training {state} after {step} steps" + (f": {reason}" if reason else ""),
                  file=out, flush=True)
        if writer is not None:
            writer.close()
    # A user's stop request ends training cleanly; a rule's stop policy and errors propagate.
    if error is not None and not (isinstance(error, TrainingStopped) and error.alert is None):
        raise error
    return result
