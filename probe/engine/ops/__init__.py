"""The op families. Each module holds primitive ops (forward and backward side by side) and
exports ``FUNCTIONS`` (probe.* functions), ``TENSOR_METHODS`` (Tensor methods and operators) and
``NUMPY_NAMESPACE`` (NumPy-named functions over Tensors, for differentiable backwards)."""

from . import (
    arith,
    compare,
    conversion,
    creation,
    indexing,
    inplace_methods,
    linalg,
    reduction,
    shape,
    unary,
)

OP_MODULES = (arith, compare, conversion, creation, indexing, inplace_methods, linalg,
              reduction, shape, unary)
