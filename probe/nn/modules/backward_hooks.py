"""Module full backward hooks on probe's own graph.

A hooked module's tensor inputs and outputs pass through identity nodes: the output node sees
the gradients with respect to the outputs (``grad_output``: backward pre-hooks run there), the
input node sees the gradients with respect to the inputs (``grad_input``: full backward hooks run
there). The identity outputs share storage *and version counter* with the tensors they stand for,
and are not views, so an in-place op on a hooked module's output is recorded like any other and
the hooks still fire (PyTorch raises there).
"""

from __future__ import annotations

import warnings

from ...engine.autograd import Op
from ...engine.tensor import Tensor, _wrap

NO_INPUT_GRAD_WARNING = (
    "Full backward hook is firing when gradients are computed with respect to module outputs "
    "since no inputs require gradients. See "
    "https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html"
    "#torch.nn.Module.register_full_backward_hook for more details."
)


class BackwardHookFunction(Op):
    node_name = "BackwardHookFunctionBackward"
    materialize_grads = False  # hooks see None for outputs that got no gradient, as in PyTorch

    @staticmethod
    def forward(ctx, state, is_output, *arrays):
        ctx.state = state
        ctx.is_output = is_output
        return tuple(arrays)

    @staticmethod
    def backward(ctx, *grads):
        if ctx.is_output:
            grads = ctx.state.on_grad_outputs(grads)
        else:
            grads = ctx.state.on_grad_inputs(grads)
        return (None, None, *grads)


class BackwardHookState:
    """One module call's backward-hook bookkeeping."""

    def __init__(self, module, hooks, pre_hooks):
        self.module = module
        self.hooks = hooks
        self.pre_hooks = pre_hooks
        self.grad_outputs = None
        self.n_inputs = 0
        self.input_node = False
        self.device = None

    def _pass_through(self, tensors, is_output):
        outs = BackwardHookFunction.apply(self, is_output, *tensors)
        for src, out in zip(tensors, outs):
            out._vc = src._vc
            if src._base is not None:
                out._base = src._base
        return outs

    def setup_input_hook(self, args):
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.n_inputs = len(positions)
        if not any(args[i]._requires_grad for i in positions):
            return args
        self.input_node = True
        self.device = args[positions[0]]._device
        new = self._pass_through([args[i] for i in positions], False)
        args = list(args)
        for i, t in zip(positions, new):
            args[i] = t
        return tuple(args)

    def setup_output_hook(self, result):
        if isinstance(result, Tensor):
            if not result._requires_grad:
                return result
            self.device = result._device
            return self._pass_through([result], True)[0]
        if isinstance(result, tuple | list):
            positions = [i for i, r in enumerate(result)
                         if isinstance(r, Tensor) and r._requires_grad]
            if not positions:
                return result
            self.device = result[positions[0]]._device
            new = self._pass_through([result[i] for i in positions], True)
            items = list(result)
            for i, t in zip(positions, new):
                items[i] = t
            return type(result)(items) if isinstance(result, list) else tuple(items)
        return result

    # --- backward side -------------------------------------------------------------------------
    def _to_tensors(self, grads):
        return tuple(None if g is None else g if isinstance(g, Tensor) else _wrap(g, self.device)
                     for g in grads)

    @staticmethod
    def _from_tensors(values, like):
        tensor_mode = any(isinstance(g, Tensor) for g in like)
        out = []
        for v in values:
            if v is None or tensor_mode or not isinstance(v, Tensor):
                out.append(v)
            else:
                out.append(v._data)
        return tuple(out)

    def on_grad_outputs(self, grads):
        grad_output = self._to_tensors(grads)
        for hook in self.pre_hooks:
            result = hook(self.module, grad_output)
            if result is not None:
                grad_output = tuple(result) if isinstance(result, tuple | list) else (result,)
                if len(grad_output) != len(grads):
                    raise RuntimeError(
                        f"Backward pre hook returned an invalid number of grad_output, got "
                        f"{len(grad_output)}, but expected {len(grads)}"
                    )
        self.grad_outputs = grad_output
        if not self.input_node and self.hooks:
            warnings.warn(NO_INPUT_GRAD_WARNING, UserWarning, stacklevel=2)
            grad_input = (None,) * max(self.n_inputs, 1)
            for hook in self.hooks:
                hook(self.module, grad_input, grad_output)
        return self._from_tensors(grad_output, grads)

    def on_grad_inputs(self, grads):
        grad_input = self._to_tensors(grads)
        grad_output = self.grad_outputs if self.grad_outputs is not None else ()
        for hook in self.hooks:
            result = hook(self.module, grad_input, grad_output)
            if result is not None:
                result = tuple(result) if isinstance(result, tuple | list) else (result,)
                if len(result) != len(grad_input):
                    raise RuntimeError(
                        f"Backward hook returned an invalid number of grad_input, got "
                        f"{len(result)}, but expected {len(grad_input)}"
                    )
                grad_input = result
        return self._from_tensors(grad_input, grads)
