"""``probe.autograd.function``: where PyTorch code imports ``Function`` and
``once_differentiable`` from (``from torch.autograd.function import once_differentiable``)."""

from ..engine.function import Function, FunctionCtx, once_differentiable

__all__ = ["Function", "FunctionCtx", "once_differentiable"]
