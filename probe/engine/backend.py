"""Devices and their array modules: NumPy on the CPU, CuPy on CUDA GPUs.

CuPy is imported the first time a CUDA device is used, never by ``import probe``.
"""

from __future__ import annotations

import os

import numpy as np

_CUDA_INSTALL_HINT = (
    "probe runs CUDA tensors through CuPy. Install the extra that matches your CUDA toolkit: "
    "pip install 'probe[cuda12]' (CUDA 12.x) or pip install 'probe[cuda13]' (CUDA 13.x)."
)


# c10::DeviceType codes, used only for torch-compatible hash values.
_TYPE_CODES = {"cpu": 0, "cuda": 1, "mps": 13, "meta": 14}


class device:
    """Where a tensor lives: ``device("cpu")``, ``device("cuda")``, ``device("cuda:1")``,
    ``device("cuda", 1)``.

    >>> import probe
    >>> probe.device("cuda:1")
    device(type='cuda', index=1)

    As in PyTorch, a device equals only a device; compare ``.type`` to test for a kind:

    >>> probe.device("cpu") == "cpu", probe.device("cpu").type == "cpu"
    (False, True)
    """

    __slots__ = ("type", "index", "_str", "xp")
    _cache: dict = {}

    def __new__(cls, type_or_str, index=None):
        if type_or_str.__class__ is device:
            return type_or_str
        if type_or_str.__class__ is bool:
            # True == 1 in the cache key below, so a bool would otherwise come back as cuda:1.
            raise TypeError("device() expects a string or an int, got bool")
        key = (type_or_str, index)
        cached = cls._cache.get(key)
        if cached is not None:
            return cached
        if isinstance(type_or_str, int) and not isinstance(type_or_str, bool):
            if type_or_str < 0:
                raise RuntimeError("Device index must not be negative")
            kind, idx = "cuda", type_or_str
        elif isinstance(type_or_str, str):
            kind, _, idx_text = type_or_str.partition(":")
            idx = index
            if idx_text:
                if index is not None:
                    raise RuntimeError(
                        f"type (string) must not include an index because index was passed "
                        f"explicitly: {type_or_str}"
                    )
                if not idx_text.isdigit():
                    raise RuntimeError(f"Invalid device string: '{type_or_str}'")
                idx = int(idx_text)
        else:
            raise TypeError(
                f"device() expects a string or an int, got {type(type_or_str).__name__}"
            )
        if kind not in ("cpu", "cuda", "mps", "meta"):
            raise RuntimeError(
                "Expected one of cpu, cuda, mps, meta device type at start of device string: "
                f"{type_or_str}"
            )
        if kind == "cpu" and idx not in (None, 0):
            raise RuntimeError(f"CPU device index must be -1 or zero, got {idx}")
        self = object.__new__(cls)
        self.type = kind
        self.index = None if kind == "cpu" else idx
        self._str = kind if self.index is None else f"{kind}:{self.index}"
        self.xp = np if kind == "cpu" else None  # cupy is bound by canonical_device
        cls._cache[key] = self
        return self

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self._str

    # Like torch.device, a device equals only another device: ``device("cpu") == "cpu"`` is
    # False (compare ``.type`` or a device). Returning NotImplemented lets Python fall back to
    # identity for other types, so ``None``, ints and strings compare unequal without raising.
    def __eq__(self, other):
        if other.__class__ is not device:
            return NotImplemented
        return self is other or (self.type == other.type and self.index == other.index)

    def __ne__(self, other):
        if other.__class__ is not device:
            return NotImplemented
        return self is not other and (self.type != other.type or self.index != other.index)

    def _no_ordering(self, other):
        if other.__class__ is not device:
            return NotImplemented
        raise TypeError("comparison not implemented")

    __lt__ = __le__ = __gt__ = __ge__ = _no_ordering
    del _no_ordering

    def __hash__(self):
        # torch's value: the device type's code in bits 16+, the index as an unsigned byte
        # (no index is -1, so 255), which keeps hash(device) identical across the two libraries.
        return (_TYPE_CODES[self.type] << 16) | (255 if self.index is None else self.index & 255)

    def __reduce__(self):
        return (device, (self._str,))


CPU = device("cpu")


def canonical_device(dev) -> device:
    """A concrete device for tensor storage: ``"cuda"`` becomes the current CUDA device."""
    if dev is None:
        return CPU
    dev = device(dev)
    if dev.type == "cpu":
        return CPU
    if dev.type == "cuda":
        if dev.index is None:
            dev = device("cuda", current_device())
            dev.xp = _require_cuda(dev.index)
            return dev
        dev.xp = _require_cuda(dev.index)
        return dev
    raise RuntimeError(f"probe has no backend for device type '{dev.type}'")


# ---------------------------------------------------------------------------------------------
# Array modules
# ---------------------------------------------------------------------------------------------

_cupy = None
_cupy_error: Exception | None = None


def _import_cupy():
    global _cupy, _cupy_error
    if _cupy is None and _cupy_error is None:
        try:
            import cupy  # noqa: PLC0415 - imported lazily by design

            _cupy = cupy
        except Exception as exc:  # ImportError, or a broken CUDA install
            _cupy_error = exc
    return _cupy


def xp_for(dev: device):
    """The array module (numpy or cupy) for a concrete device."""
    if dev.type == "cpu":
        return np
    return _require_cuda(dev.index)


def xp_of(array):
    """The array module an array belongs to, without importing cupy for NumPy arrays."""
    if isinstance(array, np.ndarray | np.generic):
        return np
    cupy = _import_cupy()
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy
    return np


def device_of_array(array) -> device:
    if isinstance(array, np.ndarray | np.generic):
        return CPU
    return device("cuda", array.device.id)


def _require_cuda(index):
    cupy = _import_cupy()
    if cupy is None:
        raise RuntimeError(f"CUDA is not available: CuPy could not be imported ({_cupy_error}). "
                           + _CUDA_INSTALL_HINT)
    count = device_count()
    if count == 0:
        raise RuntimeError("CUDA is not available: no CUDA GPU is visible to this process "
                           "(check the driver and CUDA_VISIBLE_DEVICES).")
    if index is not None and not 0 <= index < count:
        raise RuntimeError(
            f"CUDA error: invalid device ordinal (cuda:{index} requested, {count} visible)"
        )
    return cupy


def to_device_array(array, src: device, dst: device):
    """Copy ``array`` from ``src`` to ``dst`` (returns it unchanged when they are the same)."""
    if src is dst:
        return array
    if dst.type == "cpu":
        return array.get()
    cupy = _require_cuda(dst.index)
    with cupy.cuda.Device(dst.index):
        return cupy.asarray(array)


# ---------------------------------------------------------------------------------------------
# probe.cuda queries
# ---------------------------------------------------------------------------------------------

_current_cuda = [0]


def device_count() -> int:
    """How many CUDA GPUs are visible (0 without CuPy or a driver; honours CUDA_VISIBLE_DEVICES)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return 0
    cupy = _import_cupy()
    if cupy is None:
        return 0
    try:
        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:
        return 0


def is_available() -> bool:
    """True when CuPy is installed and at least one CUDA GPU is visible; never raises."""
    return device_count() > 0


def current_device() -> int:
    _require_cuda(None)
    return _current_cuda[0]


def set_device(dev) -> None:
    dev = device(dev) if not isinstance(dev, int) else device("cuda", dev)
    cupy = _require_cuda(dev.index)
    _current_cuda[0] = dev.index or 0
    cupy.cuda.Device(_current_cuda[0]).use()


def synchronize(dev=None) -> None:
    """Wait for all queued work on a CUDA device (the current one by default)."""
    cupy = _require_cuda(None)
    index = _current_cuda[0] if dev is None else device(dev).index or 0
    with cupy.cuda.Device(index):
        cupy.cuda.Device(index).synchronize()


def best_device() -> device:
    """The visible GPU with the most free memory, or the CPU when there is none.

    >>> import probe
    >>> model_device = probe.cuda.best_device()   # device(type='cpu') on a machine without GPUs
    """
    count = device_count()
    if count == 0:
        return CPU
    cupy = _cupy
    free = []
    for i in range(count):
        with cupy.cuda.Device(i):
            free.append(cupy.cuda.runtime.memGetInfo()[0])
    return device("cuda", max(range(count), key=free.__getitem__))


def get_device_name(dev=None) -> str:
    cupy = _require_cuda(None)
    index = _current_cuda[0] if dev is None else device(dev).index or 0
    props = cupy.cuda.runtime.getDeviceProperties(index)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else name
