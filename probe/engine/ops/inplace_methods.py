"""TODO(engine): filled in by the inplace_methods op family."""

FUNCTIONS = {}
TENSOR_METHODS = {}
NUMPY_NAMESPACE = {}
