"""Where the UI gets its records from: an in-process ring, a run directory, or a fake for tests.

A source is polled by the UI (or the headless printer) at a fixed rate. ``poll()`` never blocks:
it returns the records (``probe.monitor.records`` dicts) that arrived since the last call.
``controller`` is the object that pauses/steps/stops training, or ``None`` for a read-only source
(a finished run, or a run another process drives without a control channel). ``meta`` is the
run's ``MetaRecord`` once known.

This module does not import Textual: the headless mode uses it too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from ..monitor.control import COMMANDS, send_command
from ..monitor.records import ENDED_STATES
from ..monitor.runlog import RunReader


class Source:
    """Base class of record sources."""

    controller: Any = None
    meta: dict | None = None
    label: str = "source"

    def poll(self) -> list[dict]:
        """The records that arrived since the last call (never blocks)."""
        raise NotImplementedError

    @property
    def finished(self) -> bool:
        """True when no more records can arrive (the producer is gone)."""
        return False

    def close(self) -> None:
        """Release what the source holds (files, processes)."""


class RingSource(Source):
    """Records appended by an in-process trainer (from any thread) and drained by the UI.

    ``append`` (also callable as ``ring(record)``) is safe from any thread and never waits on the
    reader; when the reader falls behind, the oldest records are dropped (``dropped`` counts them).
    """

    def __init__(self, maxlen: int = 20000, *, controller=None, meta: dict | None = None,
                 label: str = "in-process", thread: threading.Thread | None = None):
        self._buf: deque = deque()
        self._maxlen = maxlen
        self._lock = threading.Lock()
        self.controller = controller
        self.meta = meta
        self.label = label
        self.thread = thread
        self.dropped = 0

    def append(self, record: dict) -> None:
        with self._lock:
            if len(self._buf) >= self._maxlen:
                self._buf.popleft()
                self.dropped += 1
            self._buf.append(record)

    __call__ = append

    def extend(self, records) -> None:
        for r in records:
            self.append(r)

    def poll(self) -> list[dict]:
        with self._lock:
            out = list(self._buf)
            self._buf.clear()
        for r in out:
            if r.get("type") == "meta":
                self.meta = r
        return out

    @property
    def finished(self) -> bool:
        return self.thread is not None and not self.thread.is_alive()


class _RequestController:
    """Training control by messages to a trainer elsewhere, which applies them between steps
    and confirms with status records. Subclasses say how a message travels (``send``);
    ``paused`` is what was last requested until a status record corrects it."""

    can_step = True
    paused = False

    def send(self, name: str, *args) -> bool:
        raise NotImplementedError

    def pause(self) -> None:
        self.paused = True
        self.send("pause")

    def resume(self) -> None:
        self.paused = False
        self.send("resume")

    def toggle_pause(self) -> None:
        if self.paused:
            self.resume()
        else:
            self.pause()

    def step_once(self) -> None:
        self.send("step_once")

    def stop(self) -> None:
        self.send("stop")

    def scale_lr(self, factor: float) -> None:
        self.send("scale_lr", float(factor))


class RunDirController(_RequestController):
    """Controls a run written by another process through its run directory (``fit`` with a run
    directory announces this in its meta record): requests go to ``commands.jsonl``, the
    trainer applies them between steps and confirms with status records, which the source feeds
    back into ``paused``. Never blocks.

    ``process``: the ``ProcessController`` of a script this UI started (``probe run``); it is
    kept to end the script on ``close()``, and then quitting the UI stops training. Without it
    (``probe watch``) quitting only detaches: someone else's training goes on."""

    def __init__(self, run_dir, process: ProcessController | None = None):
        self.run_dir = Path(run_dir)
        self.process = process
        self.paused = bool(process is not None and process.paused)
        self.stop_on_quit = process is not None

    def send(self, name: str, *args) -> bool:
        try:
            send_command(self.run_dir, name, *args)
        except OSError:  # the run directory went away: nothing left to control
            return False
        return True

    def close(self, timeout: float = 5.0) -> int | None:
        """End a script this UI started: a stop request first (the run ends cleanly, with its
        final status), then the process controller's signals if it has not exited."""
        if self.process is None:
            return None
        proc = self.process.process
        if proc.poll() is None:
            self.process.resume()  # a signal-paused script could not read the request
            self.stop()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        return self.process.close(timeout)


class RunDirSource(Source):
    """Follows a run directory (``meta.json`` + ``metrics.jsonl``) written by another process, live
    or finished. When the run's meta announces a command file (``fit`` with a run directory), the
    source's controller becomes a :class:`RunDirController` (wrapping a ``ProcessController``
    given for ``probe run``), so the UI can pause, single-step and stop it."""

    def __init__(self, run_dir: str | os.PathLike, *, controller=None,
                 process: subprocess.Popen | None = None):
        self.run_dir = Path(run_dir)
        self.label = str(self.run_dir)
        self.controller = controller
        self.process = process
        self.meta = None
        self._reader = RunReader(self.run_dir)
        self._meta_sent = False
        self._ended = False
        self._last_step = 0
        self._next_liveness_check = 0.0

    def poll(self) -> list[dict]:
        out = []
        if not self._meta_sent:
            meta = self._reader.meta()
            if meta is not None:
                self._take_meta(meta)
                out.append(meta)
        self._take_records(out)
        if not out and not self._ended and self._writer_gone():
            self._take_records(out)  # what it wrote between our read and its exit
            if not self._ended:
                # Killed without a chance to write its end (SIGKILL, out of memory): say so,
                # instead of following a log that will never grow.
                self._ended = True
                pid = self.meta.get("pid")
                out.append({"type": "status", "state": "failed", "step": self._last_step,
                            "time": time.time(), "reason": f"writer process {pid} is gone"})
        return out

    def _take_records(self, out: list) -> None:
        for rec in self._reader.read_new():
            kind = rec.get("type")
            if kind == "meta":
                self._take_meta(rec)
            elif kind == "step":
                self._last_step = rec.get("step", self._last_step)
            elif kind == "status":
                self._ended = rec.get("state") in ENDED_STATES
                if isinstance(self.controller, RunDirController):
                    self.controller.paused = rec.get("state") == "paused"
            out.append(rec)

    def _writer_gone(self, every: float = 2.0) -> bool:
        """Whether the process that writes this run (meta's pid, on this host) has exited;
        checked at most every ``every`` seconds."""
        now = time.monotonic()
        if (every and now < self._next_liveness_check) or not self.meta:
            return False
        self._next_liveness_check = now + every
        pid, host = self.meta.get("pid"), self.meta.get("host")
        if not isinstance(pid, int) or host != socket.gethostname():
            return False
        if self.process is not None and self.process.pid == pid:
            return self.process.poll() is not None  # our child: poll() also reaps it
        if os.name != "posix":  # on Windows os.kill(pid, 0) would terminate the process
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:  # alive but not ours (EPERM), or no such check on this platform
            return False
        return False

    def _take_meta(self, meta: dict) -> None:
        self.meta = meta
        self._meta_sent = True
        if meta.get("control") == COMMANDS and not isinstance(self.controller, RunDirController) \
                and (self.controller is None or isinstance(self.controller, ProcessController)):
            self.controller = RunDirController(self.run_dir, process=self.controller)

    @property
    def finished(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def close(self) -> None:
        if self.controller is not None and hasattr(self.controller, "close"):
            self.controller.close()


class ProcessController:
    """Pauses, resumes and stops a training script running in a child process, with signals.

    Pause is SIGSTOP (the process halts wherever it is), resume SIGCONT, stop SIGINT (the script's
    ``KeyboardInterrupt`` ends training), then SIGTERM and SIGKILL if it does not exit. Single
    steps are not possible through signals.
    """

    can_step = False
    acts_immediately = True  # no status record confirms a pause: the process is frozen

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self.paused = False

    def _signal(self, sig) -> None:
        if self.process.poll() is None:
            try:
                self.process.send_signal(sig)
            except ProcessLookupError:
                pass

    def pause(self) -> None:
        if hasattr(signal, "SIGSTOP"):
            self._signal(signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        if hasattr(signal, "SIGCONT"):
            self._signal(signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        self.resume()
        self._signal(signal.SIGINT)

    def close(self, timeout: float = 5.0) -> int | None:
        """Stop the process and wait for it, escalating to SIGTERM and SIGKILL."""
        if self.process.poll() is None:
            self.stop()
            for escalate in (None, self.process.terminate, self.process.kill):
                if escalate is not None:
                    escalate()
                try:
                    return self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    continue
        return self.process.poll()


class ChildController(_RequestController):
    """The controller of a :class:`ProcessSource`: sends ``(name, *args)`` commands to the child
    process, which applies them to its ``TrainingController`` between steps. Never blocks."""

    def __init__(self, source: ProcessSource):
        self._source = source

    def send(self, name: str, *args) -> bool:
        return self._source.send(name, *args)

    def explode(self) -> None:
        self.send("explode")

    def vanish(self) -> None:
        self.send("vanish")

    def close(self, timeout: float = 5.0) -> int | None:
        return self._source.close(timeout)


class ProcessSource(Source):
    """Records from a trainer running in a child process (``multiprocessing``), so that the UI
    and the trainer do not share a GIL.

    ``target(records, commands, *args, **kwargs)`` runs in the child (for instance
    ``probe.monitor.demo.demo_child``): it sends lists of records over ``records`` and obeys the
    ``(name, *args)`` commands that ``controller`` sends over ``commands``. ``poll()`` never
    blocks. ``close()`` stops the child: a stop command, then a bounded wait, then SIGTERM, then
    SIGKILL. Start it before any threads exist when ``start_method`` is ``"fork"`` (the default
    is ``"spawn"``, which is always safe).
    """

    def __init__(self, target, *, args=(), kwargs=None, label: str = "child process",
                 start_method: str = "spawn", max_batches: int = 1000):
        import multiprocessing  # noqa: PLC0415

        ctx = multiprocessing.get_context(start_method)
        self.label = label
        self.meta = None
        self.max_batches = max_batches
        self.controller = ChildController(self)
        self._eof = False
        self._closed = False
        rec_r, rec_w = ctx.Pipe(duplex=False)
        cmd_r, cmd_w = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=target, args=(rec_w, cmd_r, *args),
                                   kwargs=dict(kwargs or {}), name=f"probe-{label}", daemon=True)
        self.process.start()
        # The child holds its own copies: closing ours lets each side see EOF when the other dies.
        rec_w.close()
        cmd_r.close()
        self._records = rec_r
        self._commands = cmd_w

    def send(self, name: str, *args) -> bool:
        """Send a command to the child; False when it is gone."""
        if self._closed:
            return False
        try:
            self._commands.send((name, *args))
            return True
        except (OSError, ValueError):
            return False

    def _drain(self, limit: int | None = None) -> list[dict]:
        out: list[dict] = []
        n = 0
        while not self._eof and (limit is None or n < limit):
            try:
                if not self._records.poll(0):
                    break
                batch = self._records.recv()
            except (EOFError, OSError, ValueError):
                self._eof = True
                break
            n += 1
            out.extend(batch if isinstance(batch, list) else [batch])
        return out

    def poll(self) -> list[dict]:
        if self._closed:
            return []
        out = self._drain(self.max_batches)
        for r in out:
            kind = r.get("type")
            if kind == "meta":
                self.meta = r
            elif kind == "status":
                self.controller.paused = r.get("state") == "paused"
        return out

    @property
    def finished(self) -> bool:
        return self._eof or self._closed or (not self.process.is_alive()
                                             and not self._records.poll(0))

    def close(self, timeout: float = 5.0) -> int | None:
        """Stop the child and wait for it (bounded), escalating to SIGTERM and SIGKILL; returns its
        exit code. Records still in flight are discarded."""
        import time  # noqa: PLC0415

        if self.process.is_alive():
            self.send("stop")
            deadline = time.monotonic() + timeout
            while self.process.is_alive() and time.monotonic() < deadline:
                self._drain(100)  # keep the pipe flowing so the child's sender never blocks
                self.process.join(0.05)
            for escalate in (self.process.terminate, self.process.kill):
                if not self.process.is_alive():
                    break
                escalate()
                self.process.join(min(timeout, 2.0))
        self._closed = True
        for conn in (self._commands, self._records):
            try:
                conn.close()
            except OSError:
                pass
        return self.process.exitcode


class FakeController:
    """Records the calls made to it; for tests and for driving a FakeSource by hand."""

    can_step = True

    def __init__(self):
        self.calls: list[str] = []
        self.paused = False
        self.stopped = False

    def pause(self):
        self.calls.append("pause")
        self.paused = True

    def resume(self):
        self.calls.append("resume")
        self.paused = False

    def step_once(self):
        self.calls.append("step_once")

    def stop(self):
        self.calls.append("stop")
        self.stopped = True


class FakeSource(Source):
    """A source fed by hand: ``push(*records)`` queues records for the next ``poll()``."""

    def __init__(self, records=(), *, controller=None, meta: dict | None = None,
                 label: str = "fake"):
        self._queue: deque = deque(records)
        self.controller = controller
        self.meta = meta
        self.label = label
        self.closed = False

    def push(self, *records: dict) -> None:
        self._queue.extend(records)

    def poll(self) -> list[dict]:
        out = list(self._queue)
        self._queue.clear()
        for r in out:
            if r.get("type") == "meta":
                self.meta = r
        return out

    def close(self) -> None:
        self.closed = True


def call_controller(controller, *names: str) -> bool:
    """Call the first of ``names`` that ``controller`` has; False when it has none (or is None)."""
    if controller is None:
        return False
    for name in names:
        fn = getattr(controller, name, None)
        if callable(fn):
            fn()
            return True
    return False


__all__ = ["ChildController", "FakeController", "FakeSource", "ProcessController",
           "ProcessSource", "RingSource", "RunDirSource", "Source", "call_controller"]
