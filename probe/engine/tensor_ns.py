"""NumPy-named functions over Tensors, used as ``ctx.xp`` when a backward is itself recorded
(``create_graph=True``).

Op backwards are written once against an array namespace: ``numpy`` or ``cupy`` for an ordinary
backward, this module for a differentiable one. Each op module lists its NumPy-compatible
functions in ``NUMPY_NAMESPACE``; they are gathered here.
"""

from __future__ import annotations

from .ops import OP_MODULES


def _collect() -> dict:
    names = {}
    for module in OP_MODULES:
        names.update(getattr(module, "NUMPY_NAMESPACE", {}))
    return names


globals().update(_collect())
