"""Anomaly detection: record where each op was created and name the op whose backward produced
NaN or Inf (``detect_anomaly``, ``set_detect_anomaly``)."""

from __future__ import annotations

import warnings

from .grad_mode import MODES, STATE

ANOMALY_ENABLED_WARNING = (
    "Anomaly Detection has been enabled. This mode will increase the runtime and should only be "
    "enabled for debugging."
)


def is_anomaly_enabled() -> bool:
    return STATE.anomaly


def is_anomaly_check_nan_enabled() -> bool:
    return STATE.anomaly_check_nan


class detect_anomaly:
    """Context manager (and decorator): a backward node that outputs NaN/Inf raises
    ``RuntimeError: Function 'SqrtBackward0' returned nan values in its 0th output.`` and a
    warning shows the traceback of the forward call that created it.

    >>> import probe
    >>> with probe.autograd.detect_anomaly():  # doctest: +SKIP
    ...     probe.sqrt(probe.zeros(1, requires_grad=True)).sum().backward()
    """

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan

    def __enter__(self):
        warnings.warn(ANOMALY_ENABLED_WARNING, UserWarning, stacklevel=2)
        self._prev = (STATE.anomaly, STATE.anomaly_check_nan)
        MODES.special = True
        STATE.anomaly = True
        STATE.anomaly_check_nan = self.check_nan
        return self

    def __exit__(self, *exc):
        STATE.anomaly, STATE.anomaly_check_nan = self._prev
        return False

    def __call__(self, func):
        import functools

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self.__class__(self.check_nan):
                return func(*args, **kwargs)

        return wrapper


class set_detect_anomaly:
    """Turn anomaly detection on or off; takes effect at once and restores on ``__exit__``."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self._prev = (STATE.anomaly, STATE.anomaly_check_nan)
        if mode and not STATE.anomaly:
            warnings.warn(ANOMALY_ENABLED_WARNING, UserWarning, stacklevel=2)
        MODES.special = MODES.special or bool(mode)
        STATE.anomaly = bool(mode)
        STATE.anomaly_check_nan = check_nan

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        STATE.anomaly, STATE.anomaly_check_nan = self._prev
        return False
