"""TODO(engine): filled in by the indexing op family."""

FUNCTIONS = {}
TENSOR_METHODS = {}
NUMPY_NAMESPACE = {}
