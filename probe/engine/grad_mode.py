"""Grad modes: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``.

The state is thread-local, as in PyTorch: a training thread that disables grad does not change
the mode of the UI thread beside it.
"""

from __future__ import annotations

import functools
import threading


class _GradState(threading.local):
    enabled = True
    inference = False
    anomaly = False
    anomaly_check_nan = True


STATE = _GradState()


class _Modes:
    """Process-wide flag the hot path reads instead of the thread-local state: it turns True the
    first time inference mode or anomaly detection is used, and then ops consult ``STATE``."""

    special = False


MODES = _Modes()


def is_grad_enabled() -> bool:
    """True when operations are recorded for autograd in this thread."""
    return STATE.enabled


def is_inference_mode_enabled() -> bool:
    return STATE.inference


class _DecoratorContextManager:
    """A context manager that also works as a decorator (``@no_grad()`` and ``@no_grad``)."""

    def __new__(cls, *args, **kwargs):
        # ``@no_grad`` without parentheses passes the function as the only argument.
        if cls is not set_grad_enabled and len(args) == 1 and callable(args[0]) and not kwargs:
            return cls()(args[0])
        return super().__new__(cls)

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self.clone():
                return func(*args, **kwargs)

        return wrapper

    def clone(self):
        return self.__class__()


class no_grad(_DecoratorContextManager):
    """Disable gradient recording: results have ``requires_grad=False`` and no ``grad_fn``.

    >>> import probe
    >>> w = probe.ones(2, requires_grad=True)
    >>> with probe.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """

    def __enter__(self):
        self._prev = STATE.enabled
        STATE.enabled = False

    def __exit__(self, *exc):
        STATE.enabled = self._prev
        return False


class enable_grad(_DecoratorContextManager):
    """Enable gradient recording, also inside ``no_grad``."""

    def __enter__(self):
        self._prev = STATE.enabled
        STATE.enabled = True

    def __exit__(self, *exc):
        STATE.enabled = self._prev
        return False


class set_grad_enabled(_DecoratorContextManager):
    """Set grad mode on (``True``) or off; takes effect at once, so it works as a plain call too.

    >>> import probe
    >>> with probe.set_grad_enabled(False):
    ...     pass
    """

    def __init__(self, mode: bool):
        self._prev = STATE.enabled
        self.mode = bool(mode)
        STATE.enabled = self.mode

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        STATE.enabled = self._prev
        return False

    def __call__(self, func):
        # Used as a decorator, the mode applies per call: undo the change __init__ made.
        STATE.enabled = self._prev
        return super().__call__(func)

    def clone(self):
        return _SetGradScope(self.mode)


class _SetGradScope:
    """What ``@set_grad_enabled(mode)`` enters for each call of the decorated function."""

    def __init__(self, mode):
        self.mode = mode

    def __enter__(self):
        self._prev = STATE.enabled
        STATE.enabled = self.mode

    def __exit__(self, *exc):
        STATE.enabled = self._prev
        return False


class inference_mode(_DecoratorContextManager):
    """Like ``no_grad``, and the tensors created inside are inference tensors
    (``is_inference()``), which autograd refuses to save later.

    >>> import probe
    >>> with probe.inference_mode():
    ...     y = probe.ones(2) * 2
    >>> y.is_inference()
    True
    """

    def __init__(self, mode: bool = True):
        self.mode = bool(mode)

    def __enter__(self):
        self._prev = (STATE.enabled, STATE.inference)
        MODES.special = True
        if self.mode:
            STATE.enabled = False
            STATE.inference = True
        else:
            # PyTorch's InferenceMode(false) also turns grad mode on.
            STATE.enabled = True
            STATE.inference = False

    def __exit__(self, *exc):
        STATE.enabled, STATE.inference = self._prev
        return False

    def clone(self):
        return self.__class__(self.mode)
