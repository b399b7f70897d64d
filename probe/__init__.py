"""probe: model introspection on a PyTorch-like engine over NumPy and CuPy.

``import probe as torch`` runs ordinary PyTorch code for everything probe covers.

>>> import probe
>>> x = probe.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([2., 4., 6.])
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import autograd, cuda
from .engine import random as _random
from .engine.backend import device
from .engine.dtypes import (
    bfloat16,
    bool,
    cdouble,
    cfloat,
    complex64,
    complex128,
    double,
    dtype,
    float,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    promote_types,
    set_default_dtype,
    short,
    uint8,
)
from .engine.formatting import set_printoptions
from .engine.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .engine.ops import OP_MODULES as _OP_MODULES
from .engine.random import (
    Generator,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)
from .engine.tensor import Size, Tensor, is_tensor

# The op families' public functions: probe.add, probe.sum, probe.matmul, ...
for _module in (*_OP_MODULES, _random):
    globals().update(_module.FUNCTIONS)
del _module


def is_floating_point(input) -> bool:
    return input.is_floating_point()


def numel(input) -> int:
    return input.numel()


# Subpackages that build on the names above (serialization after nn, so that saved Parameters
# load back as Parameters).
from . import backends, linalg, nn, optim, serialization, utils  # noqa: E402
from .serialization import load, save  # noqa: E402
