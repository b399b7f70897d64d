"""``probe.backends``: which accelerator backends exist (only CUDA, through CuPy), and CPU
allocator tuning."""

from types import SimpleNamespace

from ..engine.allocator import tune_allocator


def _false() -> bool:
    return False


mps = SimpleNamespace(is_available=_false, is_built=_false)
cpu = SimpleNamespace(tune_allocator=tune_allocator)
