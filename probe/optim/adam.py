"""Adam (and, through ``decoupled_weight_decay``, AdamW), as ``torch.optim.Adam``."""

from __future__ import annotations

import numpy as np

from ..engine.tensor import Tensor
from .optimizer import Optimizer, _real_view, _scalar, _state_like, _step_tensor
from .sgd import _check_differentiable, _check_lr

__all__ = ["Adam"]


def _check_adam_args(lr, betas, eps, weight_decay):
    _check_lr(lr)
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")
    floats = isinstance(betas[0], float) and isinstance(betas[1], float)
    tensors = isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor)
    if not (floats or tensors):
        raise ValueError("betas must be either both floats or both Tensors")
    for i in (0, 1):
        if isinstance(betas[i], Tensor) and betas[i].numel() != 1:
            raise ValueError(f"Tensor betas[{i}] must be 1-element")
    return tuple(_scalar(b) for b in betas)


def lerp_into(xp, start, end, weight, tmp):
    """``start += weight * (end - start)`` in place, in the form PyTorch's ``lerp_`` uses
    (from ``end`` when ``|weight| >= 0.5``) so that the rounding matches."""
    xp.subtract(end, start, out=tmp)
    w32 = np.float32(weight) if start.dtype == np.float32 else weight
    if abs(w32) < 0.5:
        xp.multiply(tmp, weight, out=tmp)
        xp.add(start, tmp, out=start)
    else:
        xp.multiply(tmp, (1 - w32), out=tmp)
        xp.subtract(end, tmp, out=start)


class Adam(Optimizer):
    """Adam with PyTorch's update (``amsgrad``, ``maximize``, coupled ``weight_decay``, or
    decoupled with ``decoupled_weight_decay=True``, which is AdamW):

    ``m = lerp(m, g, 1 - beta1)``, ``v = beta2 * v + (1 - beta2) * g * g``,
    ``p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)``.

    State per parameter: ``step`` (a float32 0-d CPU tensor), ``exp_avg``, ``exp_avg_sq`` and,
    with ``amsgrad``, ``max_exp_avg_sq``. ``foreach``, ``fused`` and ``capturable`` are accepted
    for compatibility and change nothing.

    >>> import probe
    >>> w = probe.nn.Parameter(probe.tensor([1.0, -2.0]))
    >>> opt = probe.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    Parameter containing:
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    _reports_updates = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        betas = _check_adam_args(lr, betas, eps, weight_decay)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        _check_differentiable(differentiable)
        if fused and foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)
            group.setdefault("decoupled_weight_decay", False)
            group.setdefault("fused", None)

    def step(self, closure=None):
        """Perform one optimization step; returns ``closure()`` when a closure is given."""
        return self._run_step(closure)

    def _update_group(self, group):
        lr = _scalar(group["lr"])
        beta1, beta2 = group["betas"]
        beta1 = _scalar(beta1)
        beta2 = _scalar(beta2)
        eps = group["eps"]
        weight_decay = group["weight_decay"]
        decoupled = group["decoupled_weight_decay"]
        amsgrad = group["amsgrad"]
        maximize = group["maximize"]
        state = self.state
        scratch = self._scratch
        for p in group["params"]:
            grad = p._grad
            if grad is None:
                continue
            param_state = state[p]
            if len(param_state) == 0:
                _init_adam_state(param_state, p, amsgrad)
            xp = p._device.xp
            x = p._data
            g = grad._data
            if x.dtype.kind == "c":
                x, g = _real_view(x), _real_view(g)
            step_t = param_state["step"]
            step_t._data += 1
            step = float(step_t._data)
            a = scratch(x, 0)
            b = scratch(x, 1)
            decay = 0.0
            if weight_decay != 0:
                if decoupled:
                    # Applied with the update at the end (same arithmetic on x, same order), so
                    # update observers see the weights before the step.
                    decay = lr * weight_decay
                    if maximize:
                        xp.negative(g, out=a)
                        g = a
                else:
                    xp.multiply(x, weight_decay, out=a)
                    if maximize:
                        xp.subtract(a, g, out=a)
                    else:
                        xp.add(g, a, out=a)
                    g = a
            elif maximize:
                xp.negative(g, out=a)
                g = a
            m = _real_view(param_state["exp_avg"]._data)
            v = _real_view(param_state["exp_avg_sq"]._data)
            lerp_into(xp, m, g, 1 - beta1, b)
            xp.multiply(v, beta2, out=v)
            xp.multiply(g, 1 - beta2, out=b)
            xp.multiply(b, g, out=b)
            xp.add(v, b, out=v)

            bias_correction1 = 1 - beta1**step
            bias_correction2 = 1 - beta2**step
            step_size = lr / bias_correction1
            bias_correction2_sqrt = bias_correction2**0.5
            if amsgrad:
                vmax = _real_view(param_state["max_exp_avg_sq"]._data)
                xp.maximum(vmax, v, out=vmax)
                v = vmax
            xp.sqrt(v, out=b)
            xp.divide(b, bias_correction2_sqrt, out=b)
            xp.add(b, eps, out=b)
            xp.multiply(m, -step_size, out=a)
            xp.divide(a, b, out=a)
            self._apply_update(p, x, a, decay)


def _init_adam_state(param_state, p, amsgrad):
    param_state["step"] = _step_tensor()
    param_state["exp_avg"] = _state_like(p)
    param_state["exp_avg_sq"] = _state_like(p)
    if amsgrad:
        param_state["max_exp_avg_sq"] = _state_like(p)
