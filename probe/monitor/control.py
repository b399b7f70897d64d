"""Controlling a training run through its run directory: ``commands.jsonl``.

A UI in another process (``probe watch RUN_DIR``, ``probe run SCRIPT.py``) appends one JSON line
per request; the trainer (``probe.monitor.fit`` with a run directory) polls the file from a small
thread and hands each request to its ``TrainingController``, which applies it between steps and
confirms with a status record in ``metrics.jsonl``. So a run started elsewhere can be paused,
stepped one step at a time, stopped cleanly, or have its learning rate scaled, from any terminal.

Each request is a single ``write`` of one short line to a file opened for appending, which POSIX
keeps whole even with several writers; the reader skips lines it cannot decode and requests it
does not know, so the file never runs code and a malformed line changes nothing.

    >>> import tempfile
    >>> from probe.monitor import TrainingController
    >>> run, controller = tempfile.mkdtemp(), TrainingController()
    >>> listener = CommandListener(run, controller)  # fit() makes one for its run directory
    >>> send_command(run, "pause")  # from any process
    >>> listener.poll()
    ['pause']
    >>> controller.paused
    True
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from .runlog import LineTail

__all__ = ["COMMANDS", "COMMAND_NAMES", "CommandListener", "send_command"]

COMMANDS = "commands.jsonl"
# Requests a run accepts, with the types of their arguments (TrainingController's methods).
COMMAND_NAMES = {"pause": (), "resume": (), "toggle_pause": (), "step_once": (), "stop": (),
                 "scale_lr": (float,)}


def send_command(run_dir, name: str, *args) -> None:
    """Append the request ``name(*args)`` to ``run_dir``'s command file.

    Raises ValueError for a request the trainer would not accept, so a typo fails here."""
    kinds = COMMAND_NAMES.get(name)
    if kinds is None:
        raise ValueError(f"unknown command {name!r}; known: {sorted(COMMAND_NAMES)}")
    if len(args) != len(kinds):
        raise ValueError(f"command {name!r} takes {len(kinds)} argument(s), got {len(args)}")
    line = json.dumps({"cmd": name, "args": [kind(a) for kind, a in zip(kinds, args)],
                       "time": time.time()}) + "\n"
    fd = os.open(Path(run_dir) / COMMANDS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


class CommandListener:
    """Applies the requests appended to ``run_dir/commands.jsonl`` to ``controller``.

    ``poll()`` applies what arrived since the last call (requests written before the listener
    was created are skipped: they were meant for an earlier run in the same directory);
    ``start()`` polls from a daemon thread every ``interval`` seconds until ``stop()``. The
    controller's methods are thread-safe, and a pause request takes hold at the next step."""

    def __init__(self, run_dir, controller, interval: float = 0.1):
        self.controller = controller
        self.interval = interval
        self._tail = LineTail(Path(run_dir) / COMMANDS)
        self._tail.read_lines()  # skip what is already there
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.ignored = 0  # lines that were not a known, well-formed request

    def poll(self) -> list[str]:
        """Apply the new requests; returns their names."""
        applied = []
        for line in self._tail.read_lines():
            try:
                request = json.loads(line)
                name, args = request["cmd"], request.get("args", [])
                kinds = COMMAND_NAMES[name]
                if len(args) != len(kinds):
                    raise ValueError(name)
                args = [kind(a) for kind, a in zip(kinds, args)]
            except (ValueError, TypeError, KeyError, AttributeError):
                self.ignored += 1
                continue
            getattr(self.controller, name)(*args)
            applied.append(name)
        return applied

    def start(self) -> CommandListener:
        self._thread = threading.Thread(target=self._run, name="probe-commands", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            self.poll()

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
