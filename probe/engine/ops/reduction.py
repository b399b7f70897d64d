"""TODO(engine): filled in by the reduction op family."""

FUNCTIONS = {}
TENSOR_METHODS = {}
NUMPY_NAMESPACE = {}
