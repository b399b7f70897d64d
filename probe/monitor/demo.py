"""The demo training job behind ``probe demo``: a small CNN on ``synthetic_digits`` (16x16), epoch
after epoch until stopped, with hooks that provoke the failures the monitor flags.

    >>> job = DemoJob(n=64, batch_size=32)
    >>> result = job.run(max_steps=3)
    >>> result["steps"], job.buffer.latest()["step"]
    (3, 3)

``explode()`` multiplies the learning rate by 100 (exploding gradients, then NaN, within a few
steps); ``vanish()`` shrinks every weight by a factor (activations and gradients collapse by
decades: the vanishing and update-ratio rules fire at once). Both are thread-safe: they go through
the ``TrainingController`` and take effect between steps.
"""

from __future__ import annotations

import threading
import time

from .control import COMMAND_NAMES
from .driver import RecordBuffer, TrainingController, fit
from .rules import default_rules
from .stats import GradientMonitor

__all__ = ["DemoJob", "demo_child", "make_model"]


def make_model():
    """A small CNN for 1x16x16 digits."""
    from .. import nn  # noqa: PLC0415

    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10),
    )


class DemoJob:
    """Model, data, optimizer, monitor, controller and ring buffer of the demo; ``run()`` trains
    (in the calling thread: start it in a worker thread for the UI).

    ``steps_per_s`` paces training (``None``: as fast as it goes): unpaced, the small CNN runs
    some 400 steps a second and converges before a person has read the screen.
    """

    def __init__(self, n: int = 2000, size: int = 16, batch_size: int = 32, lr: float = 0.05,
                 seed: int = 0, run_dir=None, every: int = 1, sinks=(),
                 steps_per_s: float | None = None):
        if steps_per_s is not None and steps_per_s <= 0:
            raise ValueError(f"steps_per_s must be positive or None, got {steps_per_s}")
        import probe  # noqa: PLC0415
        from probe import nn, optim  # noqa: PLC0415
        from probe.datasets import synthetic_digits  # noqa: PLC0415
        from probe.utils.data import DataLoader, TensorDataset  # noqa: PLC0415

        probe.manual_seed(seed)
        images, labels = synthetic_digits(n, size=size, seed=seed)
        dataset = TensorDataset(probe.from_numpy(images), probe.from_numpy(labels))
        self.loader = DataLoader(dataset, batch_size=batch_size, shuffle=True)
        self.model = make_model() if size == 16 else _model_for(size)
        self.optimizer = optim.SGD(self.model.parameters(), lr=lr, momentum=0.9)
        self.loss_fn = nn.CrossEntropyLoss()
        self.buffer = RecordBuffer()
        self.controller = TrainingController()
        # Dead units too: after the explosion the ReLUs go silent, and the demo shows that.
        self.monitor = GradientMonitor(self.model, self.optimizer, every=every,
                                       controller=self.controller,
                                       rules=default_rules(dead_units=True))
        self.run_dir = run_dir
        self.sinks = [self.buffer, *sinks]
        self._vanish_request = None
        self._lock = threading.Lock()
        self.steps_per_s = steps_per_s

    def explode(self, factor: float = 100.0) -> None:
        """Multiply the learning rate by ``factor`` (100) before the next step."""
        self.controller.scale_lr(factor)

    def vanish(self, factor: float = 1e-2) -> None:
        """Scale every weight matrix/kernel by ``factor`` before the next step: with four layers
        the gradients of the first ones drop by about ``factor**3``."""
        with self._lock:
            self._vanish_request = factor

    def _apply_requests(self, record=None) -> None:
        with self._lock:
            factor, self._vanish_request = self._vanish_request, None
        if factor is not None:
            from probe import no_grad  # noqa: PLC0415

            with no_grad():
                for p in self.model.parameters():
                    if p.dim() >= 2:
                        p.mul_(factor)

    def run(self, epochs=None, max_steps=None, headless: bool = False, print_every: int = 50,
            out=None):
        """Train until stopped (or ``epochs`` / ``max_steps``); returns ``fit``'s result."""
        loader = _Hooked(self.loader, self._apply_requests, self.steps_per_s)
        return fit(self.model, loader, self.optimizer,
                   self.loss_fn, epochs=epochs, monitor=self.monitor, controller=self.controller,
                   run_dir=self.run_dir, headless=headless, print_every=print_every,
                   sinks=self.sinks, max_steps=max_steps, out=out,
                   config={"demo": "synthetic_digits CNN"})


class _Hooked:
    """A loader wrapper that applies pending demo requests between batches (trainer thread) and
    holds batches back to keep at most ``steps_per_s``."""

    def __init__(self, loader, hook, steps_per_s=None):
        self.loader = loader
        self.hook = hook
        self.interval = 0.0 if steps_per_s is None else 1.0 / steps_per_s
        self._next = 0.0

    def __iter__(self):
        for batch in self.loader:
            if self.interval:
                now = time.monotonic()
                if now < self._next:
                    time.sleep(self._next - now)
                # From the later of the two: time spent paused is not made up with a burst.
                self._next = max(now, self._next) + self.interval
            self.hook()
            yield batch

    def __len__(self):
        return len(self.loader)


def _model_for(size):
    from .. import nn  # noqa: PLC0415

    side = size // 4
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * side * side, 64), nn.ReLU(), nn.Linear(64, 10),
    )


def demo_child(records, commands, max_steps=None, quiet: bool = False, batch_interval=0.05,
               maxlen: int = 20000, **job_kwargs) -> None:
    """Entry point of the demo trainer in a child process (see ``probe.tui.sources.ProcessSource``).

    Records go to the parent over ``records`` (a ``multiprocessing`` connection) in batches (lists)
    sent by a sender thread, so a slow reader never blocks a training step (the oldest unsent
    records are dropped past ``maxlen``). Commands ``(name, *args)`` arrive over ``commands``:
    ``pause``, ``resume``, ``toggle_pause``, ``step_once``, ``stop``, ``scale_lr(factor)``,
    ``explode`` and ``vanish``; they take effect between steps. The child stops training when
    the parent goes away (EOF on ``commands`` or a changed parent pid). ``quiet`` sends the child's
    stdout/stderr to ``/dev/null`` (they would scribble over the parent's UI).
    """
    import collections  # noqa: PLC0415
    import os  # noqa: PLC0415

    if quiet:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)
    ppid = os.getppid()
    cond = threading.Condition()
    pending: collections.deque = collections.deque()
    done = threading.Event()

    def sink(record):
        with cond:
            if len(pending) >= maxlen:
                pending.popleft()
            pending.append(record)

    job = DemoJob(sinks=[sink], **job_kwargs)

    def send_loop():
        while True:
            finishing = done.is_set()
            with cond:
                if not pending and not finishing:
                    cond.wait(batch_interval)
                batch = list(pending)
                pending.clear()
            if batch:
                try:
                    records.send(batch)
                except (OSError, ValueError):  # the parent is gone
                    job.controller.stop("monitor disconnected")
                    return
            if finishing:
                return
            if not batch:
                done.wait(batch_interval)

    def command_loop():
        ctl = job.controller
        while not done.is_set():
            try:
                if not commands.poll(0.25):
                    if os.getppid() != ppid:
                        ctl.stop("parent exited")
                        return
                    continue
                cmd = commands.recv()
            except (EOFError, OSError):
                ctl.stop("parent exited")
                return
            name, args = (cmd[0], tuple(cmd[1:])) if isinstance(cmd, (tuple, list)) else (cmd, ())
            if name in COMMAND_NAMES:
                getattr(ctl, name)(*args)
            elif name in ("explode", "vanish"):
                getattr(job, name)(*args)

    sender = threading.Thread(target=send_loop, name="probe-demo-sender", daemon=True)
    listener = threading.Thread(target=command_loop, name="probe-demo-commands", daemon=True)
    sender.start()
    listener.start()
    try:
        job.run(max_steps=max_steps)
    except Exception:  # noqa: BLE001 - fit already sent a "failed" status record
        pass
    finally:
        done.set()
        with cond:
            cond.notify_all()
        sender.join(5.0)
        try:
            records.close()
        except OSError:
            pass
