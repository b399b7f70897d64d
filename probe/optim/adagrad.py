"""Adagrad, as ``torch.optim.Adagrad``."""

from __future__ import annotations

from .optimizer import Optimizer, _real_view, _scalar, _state_like, _step_tensor
from .sgd import _check_differentiable, _check_lr

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad with PyTorch's update: ``s += g * g``,
    ``p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)``.

    The state (``step`` and ``sum``, filled with ``initial_accumulator_value``) is created for
    every parameter when the optimizer is built, as in PyTorch. ``foreach`` and ``fused`` change
    nothing.

    >>> import probe
    >>> w = probe.nn.Parameter(probe.tensor([1.0, -2.0]))
    >>> opt = probe.optim.Adagrad([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    Parameter containing:
    tensor([ 0.9000, -1.9000], requires_grad=True)
    """

    _reports_updates = True

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check_lr(lr)
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(
                f"Invalid initial_accumulator_value value: {initial_accumulator_value}"
            )
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        _check_differentiable(differentiable)
        if fused and foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(self.state[p], p)

    def _init_state(self, param_state, p):
        # PyTorch fills with the optimizer-wide default, also for groups added later.
        value = self.defaults["initial_accumulator_value"]
        param_state["step"] = _step_tensor()
        param_state["sum"] = _state_like(p, value)
        if p._data.dtype.kind == "c":
            _real_view(param_state["sum"]._data)[...] = value

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            group.setdefault("maximize", False)
            group.setdefault("differentiable", False)
            group.setdefault("fused", None)

    def share_memory(self) -> None:
        """PyTorch moves the sums to shared memory; probe's arrays are process-local: no-op."""

    def step(self, closure=None):
        """Perform one optimization step; returns ``closure()`` when a closure is given."""
        return self._run_step(closure)

    def _update_group(self, group):
        lr = _scalar(group["lr"])
        weight_decay = group["weight_decay"]
        lr_decay = group["lr_decay"]
        eps = group["eps"]
        maximize = group["maximize"]
        state = self.state
        scratch = self._scratch
        for p in group["params"]:
            grad = p._grad
            if grad is None:
                continue
            param_state = state[p]
            if len(param_state) == 0:
                self._init_state(param_state, p)
            xp = p._device.xp
            x = _real_view(p._data)
            g = _real_view(grad._data)
            step_t = param_state["step"]
            step_t._data += 1
            step = float(step_t._data)
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
            clr = lr / (1 + (step - 1) * lr_decay)
            s = _real_view(param_state["sum"]._data)
            xp.multiply(g, g, out=b)
            xp.add(s, b, out=s)
            xp.sqrt(s, out=b)
            xp.add(b, eps, out=b)
            xp.multiply(g, -clr, out=a)  # in place when ``g`` is already ``a``
            xp.divide(a, b, out=a)
            self._apply_update(p, x, a)
