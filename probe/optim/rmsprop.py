"""RMSprop, as ``torch.optim.RMSprop``."""

from __future__ import annotations

from .adam import lerp_into
from .optimizer import Optimizer, _real_view, _scalar, _state_like, _step_tensor
from .sgd import _check_differentiable, _check_lr

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop with PyTorch's update: ``v = alpha * v + (1 - alpha) * g * g``; with
    ``centered`` also ``ga = lerp(ga, g, 1 - alpha)`` and ``v - ga * ga`` in place of ``v``;
    ``avg = sqrt(v) + eps``; then ``b = momentum * b + g / avg`` and ``p -= lr * b`` with
    momentum, or ``p -= lr * g / avg`` without.

    State per parameter: ``step``, ``square_avg``, and ``momentum_buffer`` (momentum > 0) and
    ``grad_avg`` (centered). ``foreach`` and ``capturable`` change nothing.

    >>> import probe
    >>> w = probe.nn.Parameter(probe.tensor([1.0, -2.0]))
    >>> opt = probe.optim.RMSprop([w], lr=0.01)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    Parameter containing:
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    _reports_updates = True

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        _check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        _check_differentiable(differentiable)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("momentum", 0)
            group.setdefault("centered", False)
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("capturable", False)

    def step(self, closure=None):
        """Perform one optimization step; returns ``closure()`` when a closure is given."""
        return self._run_step(closure)

    def _update_group(self, group):
        lr = _scalar(group["lr"])
        alpha = group["alpha"]
        eps = group["eps"]
        weight_decay = group["weight_decay"]
        momentum = group["momentum"]
        centered = group["centered"]
        maximize = group["maximize"]
        state = self.state
        scratch = self._scratch
        for p in group["params"]:
            grad = p._grad
            if grad is None:
                continue
            param_state = state[p]
            if len(param_state) == 0:
                param_state["step"] = _step_tensor()
                param_state["square_avg"] = _state_like(p)
                if momentum > 0:
                    param_state["momentum_buffer"] = _state_like(p)
                if centered:
                    param_state["grad_avg"] = _state_like(p)
            xp = p._device.xp
            x = _real_view(p._data)
            g = _real_view(grad._data)
            param_state["step"]._data += 1
            a = scratch(x, 0)
            b = scratch(x, 1)
            if weight_decay != 0:
                xp.multiply(x, weight_decay, out=a)
                if maximize:
                    xp.subtract(a, g, out=a)
                else:
                    xp.add(g, a, out=a)
                g = a
            elif maximize:
                xp.negative(g, out=a)
                g = a
            sq = _real_view(param_state["square_avg"]._data)
            xp.multiply(sq, alpha, out=sq)
            xp.multiply(g, 1 - alpha, out=b)
            xp.multiply(b, g, out=b)
            xp.add(sq, b, out=sq)
            # ``avg`` goes in a third buffer: ``a`` may still hold the gradient.
            avg = scratch(x, 2)
            if centered:
                ga = _real_view(param_state["grad_avg"]._data)
                lerp_into(xp, ga, g, 1 - alpha, b)
                xp.multiply(ga, ga, out=avg)
                xp.subtract(sq, avg, out=avg)
                xp.sqrt(avg, out=avg)
            else:
                xp.sqrt(sq, out=avg)
            xp.add(avg, eps, out=avg)
            if momentum > 0:
                buf = _real_view(param_state["momentum_buffer"]._data)
                xp.multiply(buf, momentum, out=buf)
                xp.divide(g, avg, out=b)
                xp.add(buf, b, out=buf)
                xp.multiply(buf, -lr, out=b)
            else:
                xp.multiply(g, -lr, out=b)
                xp.divide(b, avg, out=b)
            self._apply_update(p, x, b)
