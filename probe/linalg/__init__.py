"""``probe.linalg``: PyTorch's ``torch.linalg`` namespace.

Differentiable: ``vector_norm``, ``matrix_norm``, ``norm``, ``inv``, ``det``, ``slogdet``,
``solve``, ``cholesky``, ``svd``/``svdvals`` (distinct singular values), ``eigh``/``eigvalsh``
(distinct eigenvalues), ``qr`` (reduced mode, ``m >= n``), ``cross``, ``vecdot``, ``matmul``,
``multi_dot``, ``matrix_power``.

>>> import probe
>>> A = probe.tensor([[4.0, 1.0], [1.0, 3.0]])
>>> probe.linalg.solve(A, probe.tensor([1.0, 2.0]))
tensor([0.0909, 0.6364])
"""

from __future__ import annotations

from ..engine.ops.linalg import (
    LinAlgError,
    cholesky,
    det,
    eigh,
    eigvalsh,
    inv,
    matmul,
    matrix_norm,
    matrix_power,
    multi_dot,
    norm,
    qr,
    slogdet,
    solve,
    svd,
    svdvals,
    vecdot,
    vector_norm,
)
from ..engine.ops.linalg import linalg_cross as cross

__all__ = [
    "LinAlgError", "cholesky", "cross", "det", "eigh", "eigvalsh", "inv", "matmul",
    "matrix_norm", "matrix_power", "multi_dot", "norm", "qr", "slogdet", "solve", "svd",
    "svdvals", "vecdot", "vector_norm",
]
