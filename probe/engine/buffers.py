"""A pool of reusable work arrays for the big temporaries of fused ops (conv columns, RNN
gate buffers).

glibc hands freed blocks of a few megabytes back to the OS and page-faults them in again on the
next allocation; for LeNet's column buffers that cost more than the GEMMs, and about 30% of an
LSTM training step. A pooled array is handed out again only when nothing but the pool refers to
it: a graph that saved it, or a tensor or view holding it, keeps it out of circulation. NumPy only
(CuPy has its own memory pool).
"""

from __future__ import annotations

import math
import sys
import threading

import numpy as np

_POOL: dict = {}
_LOCK = threading.Lock()
_MIN_BYTES = 1 << 16  # smaller arrays come from malloc's own free lists
_MAX_BYTES = 1 << 26
_CAP_BYTES = 1 << 28  # all pooled arrays together
_PER_KEY = 8
_pooled_bytes = [0]
_refcount = sys.getrefcount


def _idle_refs():
    # The reference count an idle pooled array shows inside the loops below (the bucket list,
    # the loop variable, getrefcount's argument); interpreters differ, so measure it.
    for arr in [np.empty(1)]:
        return _refcount(arr)
    return None


_IDLE = _idle_refs()


def _evict_idle():
    """Drop every idle pooled array (shapes change, e.g. with the sequence length)."""
    for key, bucket in list(_POOL.items()):
        kept = []
        for arr in bucket:
            if _refcount(arr) == _IDLE:
                _pooled_bytes[0] -= arr.nbytes
            else:
                kept.append(arr)
        if kept:
            _POOL[key] = kept
        else:
            del _POOL[key]


def scratch(xp, shape, dtype):
    """An uninitialised array of ``shape``, recycled from earlier calls where possible.

    >>> import numpy as np
    >>> scratch(np, (256, 256), np.float32).shape
    (256, 256)
    """
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if xp is not np or nbytes < _MIN_BYTES or nbytes > _MAX_BYTES:
        return xp.empty(shape, dtype)
    key = (tuple(shape), dtype.char)
    with _LOCK:
        bucket = _POOL.get(key)
        if bucket is not None:
            for arr in bucket:
                if _refcount(arr) == _IDLE:
                    return arr
        arr = np.empty(shape, dtype)
        if _pooled_bytes[0] + nbytes > _CAP_BYTES:
            _evict_idle()
            bucket = _POOL.get(key)
        if _pooled_bytes[0] + nbytes <= _CAP_BYTES and (bucket is None or len(bucket) < _PER_KEY):
            _POOL.setdefault(key, []).append(arr)
            _pooled_bytes[0] += nbytes
        return arr
