"""The timing loop every benchmark script shares (run the scripts from anywhere: Python puts
their own folder, this one, on the import path)."""

from __future__ import annotations

import statistics
import time


def time_samples(fn, repeat: int, warmup: int = 0) -> list[float]:
    """Seconds taken by each of ``repeat`` calls of ``fn``, after ``warmup`` untimed calls
    (which fill caches and buffer pools)."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def median_time(fn, repeat: int, warmup: int = 0) -> float:
    """The median of :func:`time_samples`, in seconds."""
    return statistics.median(time_samples(fn, repeat, warmup))
