"""Gradient clipping: ``clip_grad_norm_``, ``clip_grad_value_``, ``get_total_norm`` and
``clip_grads_with_norm_`` (PyTorch's names, arguments, results and error text).

Everything runs under ``no_grad``. The per-gradient 2- and inf-norms are computed straight on the
arrays (one BLAS dot or one max each); gradients are scaled or clamped in place with the
ordinary in-place ops, so their version counters move as in PyTorch.
"""

from __future__ import annotations

import math
import types
import warnings

import numpy as np

from ...engine.grad_mode import no_grad
from ...engine.ops.creation import tensor as _tensor
from ...engine.ops.reduction import vector_norm as _vector_norm
from ...engine.ops.shape import stack as _stack
from ...engine.tensor import Tensor, _wrap

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_",
           "get_total_norm"]

_INF = math.inf


def _as_list(tensors):
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _norm(t: Tensor, norm_type: float) -> Tensor:
    """The ``norm_type``-norm of all of ``t``'s elements as a 0-d tensor of its dtype."""
    data = t._data
    if data.size and data.dtype.kind == "f" and (norm_type == 2.0 or norm_type == _INF):
        xp = t._device.xp
        flat = data.reshape(-1)
        if norm_type == 2.0:
            value = xp.sqrt(xp.dot(flat, flat))
        else:
            value = xp.max(xp.abs(flat))
        return _wrap(xp.asarray(value, dtype=data.dtype), t._device)
    return _vector_norm(t, norm_type)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The ``norm_type``-norm of the norms of ``tensors`` (the norm of all their elements taken
    together), as a 0-d tensor on the first tensor's device; ``tensor(0.)`` for none.

    >>> import probe
    >>> probe.nn.utils.get_total_norm([probe.tensor([3.0]), probe.tensor([4.0])])
    tensor(5.)
    """
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return _tensor(0.0)
    with no_grad():
        first = tensors[0]._device
        norms = []
        for t in tensors:
            n = _norm(t, norm_type)
            norms.append(n if n._device is first else n.to(first))
        total = norms[0] if len(norms) == 1 and norm_type != 0.0 else None
        if total is None:
            total = _norm(_stack(norms), norm_type)
        if error_if_nonfinite and not bool(first.xp.isfinite(total._data)):
            raise RuntimeError(
                f"The total norm of order {norm_type} for gradients from `parameters` is "
                "non-finite, so it cannot be clipped. To disable this error and scale the "
                "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
            )
    return total


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the gradients of ``parameters`` in place by ``min(1, max_norm / (total_norm +
    1e-6))``, ``total_norm`` being a norm computed beforehand (e.g. by ``get_total_norm``)."""
    parameters = _as_list(parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    max_norm = float(max_norm)
    if not grads:
        return
    # A non-finite total norm makes 0 * inf = NaN gradients, as in PyTorch, without NumPy's
    # warning about it.
    with no_grad(), np.errstate(invalid="ignore"):
        coef = (max_norm / (total_norm + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef if g._device is coef._device else coef.to(g._device))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                    foreach=None):
    """Scale the gradients of ``parameters`` in place so that their total ``norm_type``-norm
    is at most ``max_norm``; returns the total norm before clipping (a 0-d tensor).

    >>> import probe
    >>> w = probe.nn.Parameter(probe.zeros(2))
    >>> w.grad = probe.tensor([3.0, 4.0])
    >>> probe.nn.utils.clip_grad_norm_([w], max_norm=1.0)
    tensor(5.)
    >>> w.grad
    tensor([0.6000, 0.8000])
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.",
                          stacklevel=2)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                   foreach=None):
    """Deprecated alias of ``clip_grad_norm_`` (PyTorch's FutureWarning)."""
    warnings.warn(
        "`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
        "`torch.nn.utils.clip_grad_norm_`.",
        FutureWarning,
        stacklevel=2,
    )
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp the gradients of ``parameters`` in place to ``[-clip_value, clip_value]``."""
    parameters = _as_list(parameters)
    clip_value = float(clip_value)
    with no_grad():
        for p in parameters:
            g = p.grad
            if g is not None:
                g.clamp_(min=-clip_value, max=clip_value)
