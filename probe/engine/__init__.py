"""The engine: tensors, autograd, ops and devices on NumPy (CPU) and CuPy (CUDA)."""

from . import tensor_methods as _tensor_methods  # noqa: F401  (binds the op methods)
from .tensor import Size, Tensor, is_tensor

__all__ = ["Size", "Tensor", "is_tensor"]
