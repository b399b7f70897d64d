"""``probe.backends``: which accelerator backends exist (only CUDA, through CuPy)."""

from types import SimpleNamespace


def _false() -> bool:
    return False


mps = SimpleNamespace(is_available=_false, is_built=_false)
