"""TODO(engine): filled in by the unary op family."""

FUNCTIONS = {}
TENSOR_METHODS = {}
NUMPY_NAMESPACE = {}
