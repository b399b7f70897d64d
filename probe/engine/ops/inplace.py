"""In-place operations (``add_``, ``mul_``, ``copy_``, ``t[i] = v``...) and their autograd.

Outside autograd an in-place op writes into the tensor's buffer and bumps its version counter.
Under autograd the op is computed out of place on the tensor's old value, the result is written
into the buffer, and the tensor takes the new ``grad_fn`` (PyTorch's rebase). When the tensor is a
view of another tensor, the base's history is rewritten with a ``CopySlices`` node, so gradients
flow to both the base's earlier history and the written value.
"""

from __future__ import annotations

from .. import dtypes as _dt
from ..autograd import _NO_GRAD_CTX, Op
from ..backend import xp_of
from ..grad_mode import STATE
from ..tensor import Tensor, _wrap

LEAF_INPLACE_MSG = "a leaf Variable that requires grad is being used in an in-place operation."
VIEW_OF_LEAF_INPLACE_MSG = (
    "a view of a leaf Variable that requires grad is being used in an in-place operation."
)
INFERENCE_INPLACE_MSG = (
    "Inplace update to inference tensor outside InferenceMode is not allowed.You can make a clone "
    "to get a normal tensor before doing inplace update.See "
    "https://github.com/pytorch/rfcs/pull/17 for more details."
)


def check_inplace(self: Tensor, recording: bool) -> None:
    """Raise PyTorch's errors for in-place writes that autograd can't allow (changes nothing)."""
    if self._is_inference and not STATE.inference:
        raise RuntimeError(INFERENCE_INPLACE_MSG)
    if 0 in self._data.strides:  # an expanded tensor: writes would alias (PyTorch refuses)
        from .shape import INTERNAL_OVERLAP_MSG, has_internal_overlap  # noqa: PLC0415

        if has_internal_overlap(self._data):
            raise RuntimeError(INTERNAL_OVERLAP_MSG)
    if not recording:
        return
    if self._multi_view and self._grad_fn is not None:
        raise RuntimeError(_multi_view_msg(self))
    if self._grad_fn is None and self._requires_grad:
        if self._base is not None:
            raise RuntimeError(VIEW_OF_LEAF_INPLACE_MSG)
        raise RuntimeError(LEAF_INPLACE_MSG)
    base = self._base
    if base is not None and base._grad_fn is None and base._requires_grad:
        raise RuntimeError(VIEW_OF_LEAF_INPLACE_MSG)


def _multi_view_msg(self: Tensor) -> str:
    op = type(self._grad_fn).__name__
    op = op[: op.rfind("Backward")] if "Backward" in op else op
    return (
        f"Output {self._output_nr} of {op} is a view and is being modified inplace. This view is "
        "the output of a function that returns multiple views. Such functions do not allow the "
        "output views to be modified inplace. You should replace the inplace operation by an "
        "out-of-place one."
    )


def _needs_autograd(self, others) -> bool:
    if not STATE.enabled:
        return False
    if self._requires_grad or (self._base is not None and self._base._requires_grad):
        return True
    return any(isinstance(o, Tensor) and o._requires_grad for o in others)


def apply_inplace(self: Tensor, compute, *others):
    """Run ``compute(self_like, *others) -> Tensor`` and store the result in ``self``'s buffer.

    ``compute`` is the out-of-place op (``add``, ``mul``...). Returns ``self``.
    """
    recording = _needs_autograd(self, others)
    check_inplace(self, recording)
    if not recording:
        with _no_grad():
            result = compute(self.detach(), *others)
        write_data(self, result)
        return self
    old = _snapshot(self)
    result = compute(old, *others)
    _rebase(self, result)
    return self


def write_data(self: Tensor, result: Tensor) -> None:
    """Copy ``result`` into ``self``'s buffer (casting to its dtype) and bump the version."""
    data = result._data
    if data.dtype != self._data.dtype:
        _check_cast(result.dtype, self.dtype)
    if data.shape != self._data.shape:
        _check_broadcast_to(data.shape, self._data.shape)
    if result._device is not self._device:
        from ..backend import to_device_array  # noqa: PLC0415

        data = to_device_array(data, result._device, self._device)
    self._data[...] = data
    self._vc[0] += 1


def _check_cast(src: _dt.dtype, dst: _dt.dtype):
    if src.category > dst.category:
        raise RuntimeError(
            f"result type {src._short_name} can't be cast to the desired output type "
            f"{dst._short_name}"
        )


def _check_broadcast_to(src_shape, dst_shape):
    ok = len(src_shape) <= len(dst_shape) and all(
        s in (1, d) for s, d in zip(src_shape[::-1], dst_shape[::-1])
    )
    if not ok:
        raise RuntimeError(
            f"output with shape {list(dst_shape)} doesn't match the broadcast shape "
            f"{list(_broadcast_shapes(src_shape, dst_shape))}"
        )


def _broadcast_shapes(a, b):
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + tuple(a)
    b = (1,) * (n - len(b)) + tuple(b)
    return tuple(max(x, y) for x, y in zip(a, b))


def _snapshot(self: Tensor) -> Tensor:
    """A tensor holding a copy of ``self``'s current value with ``self``'s autograd history."""
    old = _wrap(self._data.copy(), self._device)
    old._requires_grad = self._requires_grad
    old._grad_fn = self._grad_fn
    old._output_nr = self._output_nr
    if self._grad_fn is None and self._requires_grad:
        # Only reachable for a view of a non-leaf base; handled through the base below.
        old._requires_grad = False
    return old


def _rebase(self: Tensor, result: Tensor) -> None:
    """Make ``self`` hold ``result``'s value and history (the autograd side of an in-place op)."""
    if result._data.dtype != self._data.dtype:
        _check_cast(result.dtype, self.dtype)
        from .conversion import to_dtype  # noqa: PLC0415

        result = to_dtype(result, self.dtype)
    if result._data.shape != self._data.shape:
        _check_broadcast_to(result._data.shape, self._data.shape)
        from .shape import expand  # noqa: PLC0415

        result = expand(result, self._data.shape)
    base = self._base
    if base is None or self._view_replay is None:
        self._data[...] = result._data
        self._vc[0] += 1
        self._grad_fn = result._grad_fn
        self._output_nr = result._output_nr
        self._requires_grad = result._requires_grad
        if base is None:
            _refresh_views(self, self)
        return
    # ``self`` is a view: rewrite the base's history with CopySlices, then re-derive the view.
    base_old = _snapshot(base)
    new_base = CopySlices.apply(base_old, result, self._view_replay)
    base._data[...] = new_base._data
    self._vc[0] += 1
    base._grad_fn = new_base._grad_fn
    base._output_nr = 0
    base._requires_grad = True
    view = ReplayView.apply(base, self._view_replay)
    self._grad_fn = view._grad_fn
    self._output_nr = 0
    self._requires_grad = True
    _refresh_views(base, self)


def _refresh_views(root: Tensor, written: Tensor) -> None:
    """Re-derive the grad_fn of ``root``'s other live views from its rewritten history (PyTorch
    regenerates them as ``AsStridedBackward0``), so later uses of those views see the write."""
    views = root.__dict__.get("_views")
    if not views:
        return
    for ref in list(views):
        view = ref()
        if view is None or view is written or view._view_replay is None or view._base is not root:
            continue
        fresh = ReplayView.apply(root, view._view_replay)
        view._grad_fn = fresh._grad_fn
        view._output_nr = 0
        view._requires_grad = True


def replay(array, view_replay):
    """Re-create a view from its base array: ``view_replay`` is a chain of (op, params)."""
    ctx = _NO_GRAD_CTX
    ctx.xp = xp_of(array)
    for op, params in view_replay:
        array = op.forward(ctx, array, *params)
    return array


def replay_tensor(t, view_replay):
    """``replay`` on a Tensor through the view ops themselves, so the result is differentiable."""
    for op, params in view_replay:
        t = op.apply(t, *params)
    return t


class CopySlices(Op):
    """The base with the region a view covers replaced by ``src`` (PyTorch's ``CopySlices``)."""

    node_name = "CopySlices"

    @staticmethod
    def forward(ctx, base, src, view_replay):
        ctx.view_replay = view_replay
        out = base.copy(order="K")
        replay(out, view_replay)[...] = src
        return out

    @staticmethod
    def backward(ctx, g):
        if isinstance(g, Tensor):  # create_graph: the same formula from differentiable ops
            data = g._data
            mask = xp_of(data).ones(data.shape, dtype=data.dtype)
            replay(mask, ctx.view_replay)[...] = 0
            return g * _wrap(mask, g._device), replay_tensor(g, ctx.view_replay)
        grad_base = g.copy(order="K")
        replay(grad_base, ctx.view_replay)[...] = 0
        grad_src = replay(g, ctx.view_replay).copy()
        return grad_base, grad_src


class ReplayView(Op):
    """A view re-derived from its base after the base's history was rewritten."""

    node_name = "AsStridedBackward0"
    is_view = True

    @staticmethod
    def forward(ctx, base, view_replay):
        ctx.view_replay = view_replay
        ctx.base_shape = base.shape
        ctx.base_dtype = base.dtype
        return replay(base, view_replay)

    @staticmethod
    def backward(ctx, g):
        if isinstance(g, Tensor):  # create_graph: scatter g into zeros, differentiably
            zeros = g._device.xp.zeros(ctx.base_shape, dtype=g._data.dtype)
            return (CopySlices.apply(_wrap(zeros, g._device), g, ctx.view_replay),)
        xp = ctx.xp
        grad_base = xp.zeros(ctx.base_shape, dtype=g.dtype)
        region = replay(grad_base, ctx.view_replay)
        region += g
        return (grad_base,)


class _no_grad:
    def __enter__(self):
        self.prev = STATE.enabled
        STATE.enabled = False

    def __exit__(self, *exc):
        STATE.enabled = self.prev


def maybe_out(result: Tensor, out) -> Tensor:
    """Support an op's ``out=`` keyword: ``result`` itself, or copied into ``out``."""
    if out is None:
        return result
    return copy_into_out(out, result)


def copy_into_out(out: Tensor, result: Tensor) -> Tensor:
    """Write ``result`` into the ``out=`` tensor, resizing it when its size differs (as PyTorch)."""
    if not isinstance(out, Tensor):
        raise TypeError(f"out must be a Tensor, not {type(out).__name__}")
    if STATE.enabled and (result._requires_grad or out._requires_grad):
        raise RuntimeError(
            "functions with out=... arguments don't support automatic differentiation, but one of "
            "the arguments requires grad."
        )
    if out._data.shape != result._data.shape:
        out._data = out._device.xp.empty(result._data.shape, dtype=out._data.dtype)
    write_data(out, result)
    return out
