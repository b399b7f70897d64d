"""TODO(engine): filled in by the compare op family."""

FUNCTIONS = {}
TENSOR_METHODS = {}
NUMPY_NAMESPACE = {}
