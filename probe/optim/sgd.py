"""Stochastic gradient descent, optionally with (Nesterov) momentum, as ``torch.optim.SGD``."""

from __future__ import annotations

from ..engine.tensor import Tensor, _wrap
from .optimizer import Optimizer, _scalar

__all__ = ["SGD"]


def _check_lr(lr):
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if lr < 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")


def _check_differentiable(differentiable):
    if differentiable:
        raise NotImplementedError(
            "differentiable=True is not supported: probe's optimizers update parameters in "
            "place outside autograd"
        )


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and
    (coupled) weight decay, with PyTorch's update:

    ``g = grad + weight_decay * p``; with momentum ``b = momentum * b + (1 - dampening) * g``
    (``b = g`` on the first step) and ``g = g + momentum * b`` (Nesterov) or ``g = b``;
    then ``p -= lr * g`` (``+=`` with ``maximize=True``, which negates the gradient).

    ``foreach`` and ``fused`` are accepted for compatibility and change nothing: there is one
    implementation.

    >>> import probe
    >>> w = probe.nn.Parameter(probe.tensor([1.0, 2.0]))
    >>> opt = probe.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    Parameter containing:
    tensor([0.8000, 1.6000], requires_grad=True)
    """

    _tensor_step = False

    _reports_updates = True

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None):
        _check_lr(lr)
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        _check_differentiable(differentiable)
        if fused and foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("differentiable", False)
            group.setdefault("fused", False)

    def step(self, closure=None):
        """Perform one optimization step; returns ``closure()`` when a closure is given."""
        return self._run_step(closure)

    def _update_group(self, group):
        lr = _scalar(group["lr"])
        weight_decay = group["weight_decay"]
        momentum = group["momentum"]
        dampening = group["dampening"]
        nesterov = group["nesterov"]
        maximize = group["maximize"]
        state = self.state
        scratch = self._scratch
        for p in group["params"]:
            grad = p._grad
            if grad is None:
                continue
            x = p._data
            g = grad._data
            xp = p._device.xp
            a = None
            if weight_decay != 0:
                a = scratch(x, 0)
                xp.multiply(x, weight_decay, out=a)
                if maximize:  # (-g) + wd * p
                    xp.subtract(a, g, out=a)
                else:
                    xp.add(g, a, out=a)
                g = a
            elif maximize:
                a = scratch(x, 0)
                xp.negative(g, out=a)
                g = a
            if momentum != 0:
                param_state = state[p]
                buf_t = param_state.get("momentum_buffer")
                if buf_t is None:
                    buf = g.copy()
                    param_state["momentum_buffer"] = _wrap(buf, p._device)
                else:
                    buf = buf_t._data
                    xp.multiply(buf, momentum, out=buf)
                    if dampening == 0:
                        xp.add(buf, g, out=buf)
                    else:
                        b = scratch(x, 1)
                        xp.multiply(g, 1 - dampening, out=b)
                        xp.add(buf, b, out=buf)
                    buf_t._vc[0] += 1
                if nesterov:
                    b = scratch(x, 1)
                    xp.multiply(buf, momentum, out=b)
                    if a is None:
                        a = scratch(x, 0)
                    xp.add(g, b, out=a)
                    g = a
                else:
                    g = buf
            if a is None:
                a = scratch(x, 0)
            xp.multiply(g, -lr, out=a)
            self._apply_update(p, x, a)
