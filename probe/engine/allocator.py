"""Opt-in tuning of glibc's allocator for NumPy workloads.

By default glibc returns freed blocks of a few megabytes to the operating system and faults them
in again on the next allocation; a training step that allocates and frees the same temporaries
every iteration pays that each time (measured up to 7x on a 100-op chain and ~2x on a LeNet
step on these machines). Raising the mmap and trim thresholds keeps those blocks in the heap.
It changes the whole process's allocator, so probe never does it on its own.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3


def tune_allocator(mmap_threshold: int = 1 << 30, trim_threshold: int = 1 << 30,
                   top_pad: int = 64 << 20) -> bool:
    """Keep freed memory in the heap instead of returning it to the OS (glibc only).

    Returns True when the settings were applied, False on platforms without glibc's ``mallopt``.

    >>> import probe
    >>> probe.backends.cpu.tune_allocator()  # doctest: +SKIP
    True
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
    ok &= mallopt(_M_TRIM_THRESHOLD, trim_threshold)
    ok &= mallopt(_M_TOP_PAD, top_pad)
    return bool(ok)
