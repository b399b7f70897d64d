"""``probe.cuda``: CUDA device queries. Never raises where CuPy or a GPU is missing;
``is_available()`` is then False.

>>> import probe
>>> dev = probe.cuda.best_device()   # the GPU with the most free memory, else the CPU
"""

from ..engine.backend import (
    best_device,
    current_device,
    device_count,
    get_device_name,
    is_available,
    set_device,
    synchronize,
)
from ..engine.random import cuda_manual_seed as manual_seed
from ..engine.random import cuda_manual_seed_all as manual_seed_all

__all__ = ["best_device", "current_device", "device_count", "get_device_name", "is_available",
           "manual_seed", "manual_seed_all", "set_device", "synchronize"]
