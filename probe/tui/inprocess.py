"""Training in this process with the monitor open: ``probe.monitor.fit`` in a worker thread, the
UI in the calling thread.

The trainer never waits on the UI: its records go into a :class:`~probe.tui.sources.RingSource`
that the UI drains at a fixed rate (the oldest are dropped if the UI falls behind), and pause,
single-step, stop and learning-rate requests reach it through a ``TrainingController`` that
``fit`` consults between steps. This module imports no Textual until ``fit_with_ui`` opens the app.
"""

from __future__ import annotations

import threading

from ..monitor import FitResult, TrainingController, fit
from .sources import RingSource

__all__ = ["InProcessTraining", "fit_with_ui"]

JOIN_TIMEOUT = 10.0  # seconds to wait for the trainer after a stop request (it is a daemon)


class InProcessTraining:
    """``fit(model, loader, optimizer, loss_fn, **fit_kwargs)`` in a worker thread, feeding
    ``self.source`` (a ``RingSource`` whose controller is ``self.controller``).

    ``start()`` starts the thread; ``stop_and_join()`` asks training to stop and waits for it.
    Afterwards ``result`` holds ``fit``'s ``FitResult`` or ``error`` the exception it raised
    (``TrainingStopped`` from a rule with the ``stop`` policy included).

        >>> import probe, probe.nn as nn, probe.optim as optim
        >>> from probe.utils.data import DataLoader, TensorDataset
        >>> model = nn.Linear(4, 2)
        >>> data = DataLoader(TensorDataset(probe.randn(8, 4), probe.randint(0, 2, (8,))),
        ...                   batch_size=4)
        >>> job = InProcessTraining(model, data, optim.SGD(model.parameters(), lr=0.1),
        ...                         nn.CrossEntropyLoss(), epochs=1).start()
        >>> job.stop_and_join() and job.error is None
        True
        >>> [r["type"] for r in job.source.poll()][:2]
        ['meta', 'status']
    """

    def __init__(self, model, loader, optimizer, loss_fn, *, controller=None, sinks=(),
                 label: str = "in-process", maxlen: int = 20000, **fit_kwargs):
        if fit_kwargs.get("headless"):
            raise ValueError("InProcessTraining feeds the UI; for plain progress lines call "
                             "probe.monitor.fit(..., headless=True) directly")
        fit_kwargs.pop("headless", None)
        self.controller = controller or TrainingController()
        self.source = RingSource(maxlen, controller=self.controller, label=label)
        self.result: FitResult | None = None
        self.error: BaseException | None = None
        self._call = (model, loader, optimizer, loss_fn)
        self._fit_kwargs = dict(fit_kwargs, sinks=[self.source, *sinks], headless=False,
                                controller=self.controller)
        self.thread = threading.Thread(target=self._train, name="probe-trainer", daemon=True)
        self.source.thread = self.thread

    def _train(self) -> None:
        try:
            self.result = fit(*self._call, **self._fit_kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self.error = exc

    def start(self) -> InProcessTraining:
        self.thread.start()
        return self

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def stop_and_join(self, timeout: float = JOIN_TIMEOUT,
                      reason: str = "monitor closed") -> bool:
        """Ask training to stop (if it still runs) and wait up to ``timeout`` seconds; True when
        the trainer has ended."""
        if self.thread.is_alive():
            self.controller.stop(reason)
        if self.thread.ident is not None:
            self.thread.join(timeout)
        return not self.thread.is_alive()


def fit_with_ui(model, loader, optimizer, loss_fn, *, refresh_hz: float = 2.0,
                title: str | None = None, extra_keys=None, **fit_kwargs) -> FitResult:
    """Train with ``probe.monitor.fit`` in a worker thread while the monitor UI runs in this
    thread; returns ``fit``'s result once the user quits (``q`` stops training first; the UI
    stays open after training ends, to look around). The trainer's exception, if it raised one,
    is raised here. ``fit_kwargs`` go to ``fit`` (``epochs``, ``monitor``, ``run_dir``...).

    Example (opens the UI in the terminal)::

        from probe.tui import fit_with_ui
        fit_with_ui(model, loader, optimizer, nn.CrossEntropyLoss(), epochs=5, run_dir="runs/a")
    """
    from .app import MonitorApp  # noqa: PLC0415 - Textual only once the UI opens

    job = InProcessTraining(model, loader, optimizer, loss_fn, **fit_kwargs)
    app = MonitorApp(job.source, refresh_hz=refresh_hz, extra_keys=extra_keys,
                     title=title or "probe monitor (in-process)")
    job.start()
    try:
        app.run()
    finally:
        job.stop_and_join()
    if job.error is not None:
        raise job.error
    return job.result
