"""The run directory: ``meta.json`` (written atomically) and ``metrics.jsonl`` (one record a line,
append-only, flushed line by line).

Non-finite floats are written as the JSON strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``
(so every line is strict JSON) and decoded back to floats on read, in the numeric fields of the
records (``loss``, ``lr``, ``time``, the global norms and each parameter's and layer's
``grad_norm``, ``grad_max``, ``weight_norm``, ``update_ratio``). A reader skips a torn
(unterminated) last line: the writer may be in the middle of it.

    >>> import tempfile, math
    >>> run = tempfile.mkdtemp()
    >>> with RunWriter(run, meta={"run_id": "demo"}) as w:
    ...     w.write({"type": "step", "step": 1, "loss": math.nan})
    >>> [(r["type"], r.get("state")) for r in replay(run)]  # closing marks the run finished
    [('meta', None), ('step', None), ('status', 'finished')]
"""

from __future__ import annotations

import atexit
import json
import math
import os
import socket
import sys
import threading
import time
import uuid
import weakref
from pathlib import Path

from .records import ENDED_STATES

__all__ = ["RUN_DIR_ENV", "LineTail", "RunReader", "RunWriter", "decode_line", "encode_record",
           "replay"]

META = "meta.json"
RUN_DIR_ENV = "PROBE_RUN_DIR"  # set by `probe run` for the script it starts
METRICS = "metrics.jsonl"

_ENCODE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_TOP_FLOATS = ("loss", "lr", "time", "global_grad_norm", "global_grad_norm_clipped", "started")
_PARAM_FLOATS = ("grad_norm", "grad_max", "weight_norm", "update_ratio")


def _sanitize(obj):
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {k: _sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_sanitize(v) for v in obj]
    return obj


def encode_record(record: dict) -> str:
    """One strict-JSON line (no newline) for ``record``, non-finite floats as strings."""
    try:
        return json.dumps(record, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a NaN/Inf somewhere: the rare path
        return json.dumps(_sanitize(record), allow_nan=False, separators=(",", ":"))


def _decode_floats(record: dict) -> dict:
    for key in _TOP_FLOATS:
        value = record.get(key)
        if isinstance(value, str) and value in _ENCODE:
            record[key] = _ENCODE[value]
    for group in ("params", "layers"):
        entries = record.get(group)
        if isinstance(entries, dict):
            for stats in entries.values():
                if isinstance(stats, dict):
                    for key in _PARAM_FLOATS:
                        value = stats.get(key)
                        if isinstance(value, str) and value in _ENCODE:
                            stats[key] = _ENCODE[value]
    return record


def decode_line(line: str) -> dict:
    """The record of one ``metrics.jsonl`` line (raises ``ValueError`` on bad JSON)."""
    record = json.loads(line)
    if "NaN" in line or "Infinity" in line:
        _decode_floats(record)
    return record


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:  # make the rename itself durable where the platform allows
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_OPEN_WRITERS: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_open_writers() -> None:
    # A script's own loop rarely closes its writer: closing here marks the run as ended, so that
    # `probe watch` stops following it. The interpreter leaves an unhandled exception in
    # sys.last_value: Ctrl-C (or `probe run`'s stop) ends the run as stopped, others as failed.
    error = getattr(sys, "last_value", None)
    if error is None:
        state, reason = "finished", "process exited"
    elif isinstance(error, KeyboardInterrupt):
        state, reason = "stopped", "interrupted (KeyboardInterrupt)"
    else:
        state, reason = "failed", f"{type(error).__name__}: {error}"
    for writer in list(_OPEN_WRITERS):
        writer.close(state=state, reason=reason)


class RunWriter:
    """Write a run directory. A sink: ``write(record)`` appends a line (``meta`` records go to
    ``meta.json``); thread-safe. ``meta`` (a dict) is completed with ``type``, ``run_id`` and
    ``started`` and written at once.

    ``close()`` (also at interpreter exit) ends the log with a ``finished`` status record unless
    the trainer already wrote how the run ended, so that readers know no more is coming."""

    def __init__(self, run_dir, meta: dict | None = None):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file = open(self.run_dir / METRICS, "a", encoding="utf-8")
        self._step = 0
        self._ended = False
        _OPEN_WRITERS.add(self)
        if meta is not None:
            self.write_meta(meta)

    @classmethod
    def from_env(cls, default=None, meta: dict | None = None) -> RunWriter:
        """A writer on ``$PROBE_RUN_DIR`` (the run directory ``probe run SCRIPT.py`` watches),
        else on ``default``; a custom training loop uses this where ``fit`` would do it itself.

            >>> import os, tempfile
            >>> os.environ["PROBE_RUN_DIR"] = tempfile.mkdtemp()
            >>> w = RunWriter.from_env("runs/local")
            >>> str(w.run_dir) == os.environ.pop("PROBE_RUN_DIR")
            True
            >>> w.close()
        """
        run_dir = os.environ.get(RUN_DIR_ENV) or default
        if run_dir is None:
            raise ValueError(f"no run directory: ${RUN_DIR_ENV} is not set and no default "
                             "was given")
        return cls(run_dir, meta=meta)

    def write_meta(self, meta: dict) -> None:
        # pid and host let a reader on the same machine tell a run whose process died without
        # a word (SIGKILL, the OOM killer) from one that is merely slow.
        meta = {"type": "meta", "run_id": uuid.uuid4().hex[:12], "started": time.time(),
                "model": "", "params": {}, "config": {}, "pid": os.getpid(),
                "host": socket.gethostname(), **meta}
        text = json.dumps(_sanitize(meta), allow_nan=False, indent=1, default=str)
        _write_atomic(self.run_dir / META, text + "\n")

    def write(self, record: dict) -> None:
        if record.get("type") == "meta":
            self.write_meta(record)
            return
        line = encode_record(record) + "\n"
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line)
            self._file.flush()
            kind = record.get("type")
            if kind == "step":
                self._step = record.get("step", self._step)
            elif kind == "status":
                self._ended = record.get("state") in ENDED_STATES

    __call__ = write

    def close(self, state: str = "finished", reason: str | None = "writer closed") -> None:
        """Close the log, first writing a ``state`` status record if the run has not ended."""
        if not self._ended and not self._file.closed:
            self.write({"type": "status", "state": state, "step": self._step,
                        "time": time.time(), "reason": reason})
        with self._lock:
            if not self._file.closed:
                self._file.close()
        _OPEN_WRITERS.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.close(state="failed", reason=f"{exc_type.__name__}: {exc}")


class LineTail:
    """The complete lines appended to a file since the last ``read_lines()`` (from its start
    the first time), never blocking: a last line without its newline is held back until the
    writer finishes it, and a missing file reads as empty."""

    def __init__(self, path):
        self.path = Path(path)
        self._offset = 0  # bytes consumed
        self._pending = b""  # a line seen begun but not ended

    def read_lines(self, max_bytes: int | None = None) -> list[bytes]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read(-1 if max_bytes is None else max_bytes)
        except FileNotFoundError:
            return []
        if not chunk:
            return []
        self._offset += len(chunk)
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        return lines


class RunReader:
    """Read a run directory, finished or still being written.

    ``records()`` reads the whole log; ``read_new()`` returns what was appended since its last
    call without blocking (what a UI polls); ``follow()`` yields records as they come. A torn
    last line is held back until its newline arrives; complete lines that are not JSON are
    counted in ``skipped``.
    """

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self.skipped = 0
        self._tail = LineTail(self.run_dir / METRICS)

    def meta(self) -> dict | None:
        """The ``meta.json`` record, or None while it does not exist (or is unreadable)."""
        try:
            text = (self.run_dir / META).read_text(encoding="utf-8")
            meta = json.loads(text)
        except (FileNotFoundError, ValueError):
            return None
        if not isinstance(meta, dict):
            return None
        meta.setdefault("type", "meta")
        return _decode_floats(meta)

    def _parse_lines(self, lines) -> list[dict]:
        out = []
        for line in lines:
            if not line.strip():
                continue
            try:
                record = decode_line(line.decode("utf-8"))
            except ValueError:  # bad JSON or bad UTF-8 (UnicodeDecodeError is a ValueError)
                self.skipped += 1
                continue
            if isinstance(record, dict):
                out.append(record)
            else:
                self.skipped += 1
        return out

    def records(self) -> list[dict]:
        """Every complete record in ``metrics.jsonl`` (a torn last line is left out)."""
        try:
            data = (self.run_dir / METRICS).read_bytes()
        except FileNotFoundError:
            return []
        return self._parse_lines(data.split(b"\n")[:-1])  # the last piece: b"" or a torn line

    def read_new(self, max_bytes: int | None = 8 << 20) -> list[dict]:
        """The complete records appended since the last call (from the start the first time),
        reading at most ``max_bytes`` (None: all); never blocks. A missing file reads as empty."""
        return self._parse_lines(self._tail.read_lines(max_bytes))

    def follow(self, poll: float = 0.1, stop_event: threading.Event | None = None,
               timeout: float | None = None, stop_at_end: bool = True):
        """Yield records as the file grows (from where ``read_new`` left off), polling every
        ``poll`` seconds. Ends when ``stop_event`` is set, after ``timeout`` seconds without a
        new record, or (with ``stop_at_end``) after a status record of an ended run."""
        stop_event = stop_event or threading.Event()
        last_new = time.monotonic()
        while not stop_event.is_set():
            records = self.read_new()
            for record in records:
                yield record
                if stop_at_end and record.get("type") == "status" and \
                        record.get("state") in ENDED_STATES:
                    return
            if records:
                last_new = time.monotonic()
                continue
            if timeout is not None and time.monotonic() - last_new > timeout:
                return
            stop_event.wait(poll)


def replay(run_dir):
    """All records of a run: its meta record first (when ``meta.json`` exists), then every
    record of ``metrics.jsonl`` in order."""
    reader = RunReader(run_dir)
    meta = reader.meta()
    if meta is not None:
        yield meta
    yield from reader.records()
