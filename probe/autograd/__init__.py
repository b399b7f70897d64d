"""``probe.autograd``: ``grad``, ``backward``, custom ``Function``, ``gradcheck`` and anomaly
detection.

>>> import probe
>>> x = probe.tensor(3.0, requires_grad=True)
>>> (g,) = probe.autograd.grad(x ** 3, x, create_graph=True)
>>> g
tensor(27., grad_fn=<MulBackward0>)
"""

from __future__ import annotations

from ..engine.anomaly import (
    detect_anomaly,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_detect_anomaly,
)
from ..engine.autograd import Node
from ..engine.function import Function, FunctionCtx, once_differentiable
from ..engine.grad_mode import enable_grad, inference_mode, no_grad, set_grad_enabled
from ..engine.gradcheck import GradcheckError, gradcheck, gradgradcheck
from ..engine.tensor import Tensor
from . import graph  # noqa: F401


def _as_list(x):
    if x is None:
        return None
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate gradients of ``tensors`` into the leaves' ``.grad``."""
    from ..engine.autograd import run_backward

    tensors = _as_list(tensors)
    grad_tensors = _as_list(grad_tensors)
    inputs = _as_list(inputs)
    if inputs is not None and not inputs:
        raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    run_backward(tensors, grad_tensors, retain_graph, create_graph, inputs=inputs, accumulate=True)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """The gradients of ``outputs`` with respect to ``inputs`` (``.grad`` is left alone)."""
    from ..engine.autograd import run_backward
    from ..engine.ops.creation import zeros_like

    if is_grads_batched:
        raise NotImplementedError("is_grads_batched=True is not supported by probe")
    outputs = _as_list(outputs)
    inputs = _as_list(inputs)
    grad_outputs = _as_list(grad_outputs)
    if materialize_grads and allow_unused is False:
        raise ValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True, "
            "but got: allow_unused=False."
        )
    if allow_unused is None:
        allow_unused = materialize_grads
    result = run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs=inputs,
                          accumulate=False, allow_unused=allow_unused)
    if materialize_grads:
        result = [zeros_like(i) if g is None else g for g, i in zip(result, inputs, strict=False)]
    return tuple(result)


__all__ = [
    "Function", "FunctionCtx", "GradcheckError", "Node", "backward", "detect_anomaly",
    "enable_grad", "grad", "gradcheck", "gradgradcheck", "inference_mode",
    "is_anomaly_check_nan_enabled", "is_anomaly_enabled", "no_grad", "once_differentiable",
    "set_detect_anomaly", "set_grad_enabled",
]
