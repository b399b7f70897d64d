"""Loss functions of ``probe.nn.functional`` (PyTorch's names, signatures, reductions, errors).

The losses PyTorch computes in one kernel are one fused ``Op`` here (``mse_loss``,
``smooth_l1_loss``, ``huber_loss``, ``binary_cross_entropy(_with_logits)``, ``soft_margin_loss``,
``nll_loss``); ``cross_entropy`` is log-softmax and NLL in one op that computes the log-sum-exp
once and keeps the softmax probabilities for backward. The others are composed from engine ops,
as PyTorch composes them, so their graphs (and grad_fn names) look like PyTorch's.

Backwards are written against ``ctx.xp`` and also run on Tensors under ``create_graph=True``;
there, quantities derived from the input are recomputed from the saved input so that the second
derivative sees them.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ...engine import dtypes as _dt
from ...engine.autograd import Op
from ...engine.backend import xp_of
from ...engine.grad_mode import STATE
from ...engine.ops._common import cast
from ...engine.tensor import Tensor
from .activation import _log1p_unit, _sigmoid_stable

__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cosine_embedding_loss",
    "cross_entropy", "gaussian_nll_loss", "hinge_embedding_loss", "huber_loss", "kl_div",
    "l1_loss", "margin_ranking_loss", "mse_loss", "nll_loss", "poisson_nll_loss",
    "smooth_l1_loss", "soft_margin_loss", "triplet_margin_loss",
]

def _quiet():
    return np.errstate(over="ignore", invalid="ignore", divide="ignore")

_NONE, _MEAN, _SUM = 0, 1, 2
_ENUM = {"none": _NONE, "mean": _MEAN, "sum": _SUM}


# ---------------------------------------------------------------------------------------------
# Reduction arguments (PyTorch's ``_Reduction``)
# ---------------------------------------------------------------------------------------------

def _get_enum(reduction):
    code = _ENUM.get(reduction) if isinstance(reduction, str) else None
    if code is not None:
        return code
    if reduction == "elementwise_mean":
        warnings.warn(
            "reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.",
            stacklevel=3,
        )
        return _MEAN
    raise ValueError(f"{reduction} is not a valid value for reduction")


def legacy_get_string(size_average, reduce, emit_warning=True):
    """The ``reduction`` string that the deprecated ``size_average``/``reduce`` flags mean."""
    if size_average is None:
        size_average = True
    if reduce is None:
        reduce = True
    if size_average and reduce:
        ret = "mean"
    elif reduce:
        ret = "sum"
    else:
        ret = "none"
    if emit_warning:
        warnings.warn(
            f"size_average and reduce args will be deprecated, please use reduction='{ret}' "
            "instead.",
            stacklevel=3,
        )
    return ret


def _reduction(size_average, reduce, reduction):
    if size_average is not None or reduce is not None:
        reduction = legacy_get_string(size_average, reduce)
    return _get_enum(reduction)


def _reduce(loss, code):
    if code == _MEAN:
        return loss.mean()
    if code == _SUM:
        return loss.sum()
    return loss


def _reduce_array(xp, loss, code):
    if code == _MEAN:
        with _quiet():
            return loss.mean() if loss.size else xp.asarray(float("nan"), dtype=loss.dtype)
    if code == _SUM:
        return loss.sum()
    return loss


def _grad_scale(g, code, n):
    """The incoming gradient scaled for the reduction (``mean`` divides by the element count)."""
    if code == _MEAN:
        return g * (1.0 / n) if n else g
    return g


def _size_warning(input, target):
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"Using a target size ({target.size()}) that is different to the input size "
            f"({input.size()}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            stacklevel=3,
        )


def _short(t):
    return _dt.short_name(t._data.dtype)


def _float_only(input, kernel):
    if input._data.dtype.kind not in "fc":
        suffix = "" if kernel == "binary_cross_entropy" else (
            "_cpu" if input._device.type == "cpu" else "_cuda")
        raise NotImplementedError(f"\"{kernel}{suffix}\" not implemented for '{_short(input)}'")


def _same_dtype(a, b):
    """PyTorch's promotion of two tensors (both taken as dimensioned: losses broadcast first)."""
    da, db = a._data.dtype, b._data.dtype
    if da is db or da == db:
        return a, b
    dtype = _dt.promote_types(_dt._BY_NUMPY[da], _dt._BY_NUMPY[db])
    return cast(a, dtype), cast(b, dtype)


def _not_differentiable(fn_name, arg_name, t):
    if t is not None and t._requires_grad and STATE.enabled:
        raise RuntimeError(
            f"The function '{fn_name}' is not differentiable with respect to argument "
            f"'{arg_name}'. This input cannot have requires_grad True."
        )


def _on_cpu(t):
    return t._device.type == "cpu"


# ---------------------------------------------------------------------------------------------
# Pointwise regression losses: one op each, reduction inside
# ---------------------------------------------------------------------------------------------

def _pointwise_loss(name, elem, grad):
    """An op ``(input, target, reduction, param) -> loss`` for ``elem(xp, input - target, param)``
    whose derivative in the difference is ``grad(xp, d, param)``."""

    class PointwiseLoss(Op):
        node_name = name

        @staticmethod
        def forward(ctx, x, t, code, param):
            ctx.save_for_backward(x, t)
            ctx.code, ctx.param = code, param
            xp = ctx.xp
            d = x - t
            ctx.n = d.size
            return _reduce_array(xp, elem(xp, d, param), code)

        @staticmethod
        def backward(ctx, g):
            x, t = ctx.saved
            need = ctx.needs_input_grad
            gd = grad(ctx.xp, x - t, ctx.param) * _grad_scale(g, ctx.code, ctx.n)
            return (gd if need[0] else None), (-gd if need[1] else None)

    return PointwiseLoss


def _mse_elem(xp, d, param):
    d *= d
    return d


def _mse_grad(xp, d, param):
    return d * 2.0


# With c = min(|d|, k): c * (|d| - c / 2) is d**2 / 2 below k and k * (|d| - k / 2) above, the
# Huber loss, without NumPy's slow ``where``; smooth L1 is Huber / beta.

def _huber_elem(xp, d, delta):
    a = xp.abs(d)
    c = xp.minimum(a, delta)
    a -= 0.5 * c
    a *= c
    return a


def _huber_grad(xp, d, delta):
    return xp.clip(d, -delta, delta)


def _smooth_l1_elem(xp, d, beta):
    loss = _huber_elem(xp, d, beta)
    loss *= 1.0 / beta
    return loss


def _smooth_l1_grad(xp, d, beta):
    return xp.clip(d * (1.0 / beta), -1.0, 1.0)


MseLoss = _pointwise_loss("MseLossBackward0", _mse_elem, _mse_grad)
SmoothL1Loss = _pointwise_loss("SmoothL1LossBackward0", _smooth_l1_elem, _smooth_l1_grad)
HuberLoss = _pointwise_loss("HuberLossBackward0", _huber_elem, _huber_grad)


def _weighted(loss, weight, input, code, sum_weight):
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    loss = loss * weight
    if code == _NONE:
        return loss
    if code == _SUM:
        return loss.sum()
    return loss.sum() / weight.sum() if sum_weight else loss.mean()


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error ``(input - target) ** 2`` (``weight`` scales each element).

    >>> import probe
    >>> probe.nn.functional.mse_loss(probe.tensor([1.0, 2.0]), probe.tensor([0.0, 0.0]))
    tensor(2.5000)
    """
    _size_warning(input, target)
    code = _reduction(size_average, reduce, reduction)
    input, target = _same_dtype(input, target)
    _float_only(input, "mse")
    if weight is not None:
        return _weighted(MseLoss.apply(input, target, _NONE, None), weight, input, code, True)
    return MseLoss.apply(input, target, code, None)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error ``|input - target|``."""
    _size_warning(input, target)
    code = _reduction(size_average, reduce, reduction)
    loss = (input - target).abs()
    if weight is not None:
        return _weighted(loss, weight, input, code, True)
    return _reduce(loss, code)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """Quadratic below ``beta``, linear above (``0.5 * d**2 / beta`` or ``|d| - 0.5 * beta``)."""
    _size_warning(input, target)
    code = _reduction(size_average, reduce, reduction)
    if beta == 0.0:
        return l1_loss(input, target, reduction=("none", "mean", "sum")[code])
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    input, target = _same_dtype(input, target)
    _float_only(input, "smooth_l1")
    return SmoothL1Loss.apply(input, target, code, beta)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """Quadratic below ``delta``, linear above (``0.5 * d**2`` or ``delta * (|d| - 0.5 * delta)``).
    """
    _size_warning(input, target)
    code = _get_enum(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    input, target = _same_dtype(input, target)
    _float_only(input, "huber")
    if weight is not None:
        return _weighted(HuberLoss.apply(input, target, _NONE, delta), weight, input, code, False)
    return HuberLoss.apply(input, target, code, delta)


# ---------------------------------------------------------------------------------------------
# Binary cross-entropy
# ---------------------------------------------------------------------------------------------

class BinaryCrossEntropy(Op):
    node_name = "BinaryCrossEntropyBackward0"

    @staticmethod
    def forward(ctx, x, t, w, code):
        ctx.save_for_backward(x, t, w)
        ctx.code, ctx.n = code, x.size
        xp = ctx.xp
        with _quiet():
            # PyTorch clamps both logs at -100 so that x = 0 or 1 gives a finite loss.
            log_x = xp.maximum(xp.log(x), -100.0)
            log_1mx = xp.maximum(xp.log1p(-x), -100.0)
        loss = (t - 1.0) * log_1mx
        loss -= t * log_x
        if w is not None:
            loss *= w
        return _reduce_array(xp, loss, code)

    @staticmethod
    def backward(ctx, g):
        x, t, w = ctx.saved
        xp = ctx.xp
        need = ctx.needs_input_grad
        g = _grad_scale(g, ctx.code, ctx.n)
        if w is not None:
            g = g * w
        gx = gt = None
        if need[0]:
            v = (1.0 - x) * x
            gx = g * (x - t) / xp.where(v < 1e-12, 1e-12, v)
        if need[1]:
            with _quiet():
                gt = g * (xp.log1p(-x) - xp.log(x))
        return gx, gt, None


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """``-(t * log(x) + (1 - t) * log(1 - x))`` for probabilities ``x`` (logs clamped at -100).

    >>> import probe
    >>> probe.nn.functional.binary_cross_entropy(probe.tensor([0.5]), probe.tensor([1.0]))
    tensor(0.6931)
    """
    code = _reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({target.size()}) that is different to the input size "
            f"({input.size()}) is deprecated. Please ensure they have the same size."
        )
    _float_only(input, "binary_cross_entropy")
    _not_differentiable("binary_cross_entropy", "weight", weight)
    if weight is not None:
        weight = weight.expand(target.shape)
    if _on_cpu(input):
        # A device sync on CUDA; PyTorch checks there with a device assert instead.
        x = input._data
        if not ((x >= 0) & (x <= 1)).all():
            raise RuntimeError("all elements of input should be between 0 and 1")
        y = target._data
        if not ((y >= 0) & (y <= 1)).all():
            raise RuntimeError("all elements of target should be between 0 and 1")
    return BinaryCrossEntropy.apply(input, target, weight, code)


class BinaryCrossEntropyWithLogits(Op):
    node_name = "BinaryCrossEntropyWithLogitsBackward0"

    @staticmethod
    def forward(ctx, x, t, w, pw, code):
        ctx.save_for_backward(x, t, w, pw)
        ctx.code = code
        xp = ctx.xp
        # softplus(-x) = log(1 + exp(-x)) = max(-x, 0) + log1p(exp(-|x|)), never overflowing.
        sp = _log1p_unit(xp, xp.exp(-xp.abs(x)))
        sp += xp.maximum(-x, 0)
        if pw is not None:
            sp *= (pw - 1.0) * t + 1.0
        loss = (1.0 - t) * x
        loss += sp
        if w is not None:
            loss *= w
        ctx.n = loss.size
        return _reduce_array(xp, loss, code)

    @staticmethod
    def backward(ctx, g):
        x, t, w, pw = ctx.saved
        xp = ctx.xp
        need = ctx.needs_input_grad
        g = _grad_scale(g, ctx.code, ctx.n)
        if w is not None:
            g = g * w
        sig, e = _sigmoid_stable(xp, x)
        gx = gt = None
        if need[0]:
            if pw is None:
                gx = g * (sig - t)
            else:
                gx = g * (((pw - 1.0) * t + 1.0) * sig - pw * t)
        if need[1]:
            gt = -x
            if pw is not None:
                gt = gt + (pw - 1.0) * (_log1p_unit(xp, e) + xp.clip(-x, 0.0, None))
            gt = g * gt
        return gx, gt, None, None


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """Sigmoid and binary cross-entropy in one stable op; ``pos_weight`` weighs the positive
    term (broadcast along the last dimension).

    >>> import probe
    >>> probe.nn.functional.binary_cross_entropy_with_logits(probe.tensor([0.0]),
    ...                                                      probe.tensor([1.0]))
    tensor(0.6931)
    """
    code = _reduction(size_average, reduce, reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Target size ({target.size()}) must be the same as input size ({input.size()})"
        )
    _float_only(input, "log_sigmoid")
    _not_differentiable("binary_cross_entropy_with_logits", "weight", weight)
    _not_differentiable("binary_cross_entropy_with_logits", "pos_weight", pos_weight)
    input, target = _same_dtype(input, target)
    if pos_weight is not None:
        from ...engine.ops.shape import broadcast_shapes  # noqa: PLC0415

        broadcast_shapes(input.shape, pos_weight.shape)
    return BinaryCrossEntropyWithLogits.apply(input, target, weight, pos_weight, code)


# ---------------------------------------------------------------------------------------------
# NLL and cross-entropy
# ---------------------------------------------------------------------------------------------

def _check_nll_args(name, input, target, weight):
    """PyTorch's shape/dtype checks for ``nll_loss``/``cross_entropy`` with class indices;
    returns the target to use (a 1-element target of a 1-D input becomes 0-d)."""
    ndim = input.dim()
    if ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {ndim})")
    tshape = tuple(target.shape)
    shape = tuple(input.shape)
    if ndim != 1 and (tshape[:1] or (0,))[0] != shape[0]:
        raise ValueError(
            f"Expected input batch_size ({shape[0]}) to match target batch_size "
            f"({(tshape[:1] or (0,))[0]})."
        )
    if ndim <= 2:
        if len(tshape) > 1:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        if ndim == 1 and len(tshape) == 1:
            if tshape[0] != 1:
                raise ValueError(
                    "For 1D input, 1D target must have size 1, but got target size: "
                    f"{tshape[0]}"
                )
            target = target.reshape(())
    elif ndim == 4:
        if len(tshape) != 3:
            raise RuntimeError(
                "only batches of spatial targets supported (3D tensors) but got targets of "
                f"dimension: {len(tshape)}"
            )
        if tshape[1:] != shape[2:]:
            raise RuntimeError(
                f"size mismatch (got input: {list(shape)} , target: {list(tshape)}"
            )
    elif tshape[1:] != shape[2:]:
        want = [shape[0], *shape[2:]]
        raise RuntimeError(f"Expected target size {want}, got {list(tshape)}")
    tkind = target._data.dtype
    if tkind != np.int64 and tkind != np.uint8:
        raise RuntimeError(
            f"expected target dtype to be Long or Byte, but got {_short(target)}"
        )
    n_classes = shape[1] if ndim > 1 else shape[0]
    if weight is not None:
        if weight.numel() != n_classes:
            raise RuntimeError(
                f"weight tensor should be defined either for all {n_classes} classes or no "
                f"classes but got weight tensor of shape: {list(weight.shape)}"
            )
        if weight._data.dtype != input._data.dtype:
            raise RuntimeError(
                f"expected scalar type {_short(input)} but found {_short(weight)}"
            )
        _not_differentiable(name, "weight", weight)
    return target


def _check_targets(target, n_classes, ignore_index):
    """Raise PyTorch's error for class indices out of range (CPU only: on CUDA it would cost a
    host sync, PyTorch checks there with a device assert). Returns True when every target is a
    valid class and none can equal ``ignore_index`` (the op then skips all masking)."""
    t = target._data
    if not _on_cpu(target) or t.size == 0:
        return False
    lo, hi = t.min(), t.max()
    if lo >= 0 and hi < n_classes:
        return not 0 <= ignore_index < n_classes
    bad = ((t < 0) | (t >= n_classes)) & (t != ignore_index)
    if bad.any():
        raise IndexError(f"Target {int(t[bad].ravel()[0])} is out of bounds.")
    return False


def _class_axis(ndim):
    return 1 if ndim > 1 else 0


def _kept(shape, axis):
    """``shape`` of a per-element quantity with a 1 inserted at the class axis."""
    return shape[:axis] + (1,) + shape[axis:]


def _targets(xp, t, w, ignore_index, dtype, all_valid):
    """Safe class indices (ignored entries point at class 0), the mask of kept entries and the
    per-element weights (0 where ignored); mask and weights are None when every entry counts
    with weight 1."""
    if all_valid:
        return t, None, (None if w is None else w[t])
    mask = t != ignore_index
    safe = xp.where(mask, t, 0)
    if w is None:
        wt = mask.astype(dtype)
    else:
        wt = w[safe]
        wt *= mask
    return safe, mask, wt


def _pick(xp, a, safe, axis):
    """``a[..., safe, ...]`` along the class axis: one entry per element of ``safe``."""
    if a.ndim == 2:
        return a[xp.arange(a.shape[0]), safe]
    if a.ndim == 1:
        return a[safe]
    return xp.take_along_axis(a, xp.expand_dims(safe, axis), axis).reshape(safe.shape)


def _one_hot_sub(xp, grad, safe, axis, coef, shape):
    """``grad - one_hot(safe) * coef`` (``coef`` per element or a scalar; ``grad`` None means
    zeros)."""
    if coef.__class__ is not Tensor and len(shape) == 2:
        if grad is None:
            grad = xp.zeros(shape, dtype=coef.dtype)
        grad[xp.arange(shape[0]), safe] -= coef
        return grad
    n = shape[axis]
    # The one-hot mask is a constant array: it works on arrays and, in a double backward, with
    # Tensors.
    classes = xp_of(safe).arange(n).reshape((1,) * axis + (n,) + (1,) * (len(shape) - axis - 1))
    kshape = _kept(safe.shape, axis)
    hot = classes == safe.reshape(kshape)
    picked = hot * (coef.reshape(kshape) if coef.ndim else coef)
    return -picked if grad is None else grad - picked


def _softmax_of(xp, x, axis):
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def _per_class(w, axis, ndim):
    """Class weights shaped to broadcast along the class axis."""
    return w.reshape((1,) * axis + (w.shape[0],) + (1,) * (ndim - axis - 1))


def _mean(xp, total, denom):
    # 0 / 0 (every target ignored, or no targets) is NaN, as in PyTorch; NumPy would warn.
    if xp is np and not denom:
        return np.asarray(float("nan"), dtype=total.dtype)
    return xp.asarray(total / denom)


class NllLoss(Op):
    node_name = "NllLossBackward0"

    @staticmethod
    def forward(ctx, x, t, w, cfg):
        ignore_index, code, all_valid = cfg
        xp = ctx.xp
        axis = _class_axis(x.ndim)
        safe, _, wt = _targets(xp, t, w, ignore_index, x.dtype, all_valid)
        loss = _pick(xp, x, safe, axis)
        loss = -loss if wt is None else loss * -wt
        if ctx.recording:
            ctx.axis, ctx.code, ctx.safe, ctx.wt, ctx.x_shape = axis, code, safe, wt, x.shape
        if code == _NONE:
            return loss
        total = loss.sum()
        if code == _SUM:
            return total
        ctx.denom = denom = safe.size if wt is None else wt.sum()
        return _mean(xp, total, denom)

    @staticmethod
    def backward(ctx, g):
        if ctx.code == _MEAN:
            g = g / ctx.denom
        coef = g if ctx.wt is None else g * ctx.wt
        return _one_hot_sub(ctx.xp, None, ctx.safe, ctx.axis, coef, ctx.x_shape), None, None, None


class NllLoss2d(NllLoss):
    node_name = "NllLoss2DBackward0"


class CrossEntropy(Op):
    """log_softmax + nll_loss with class indices (and label smoothing) in one op."""

    node_name = "NllLossBackward0"

    @staticmethod
    def forward(ctx, x, t, w, cfg):
        # cfg: (ignore_index, reduction code, label smoothing, all targets valid): one plain
        # argument keeps Op.apply's per-argument bookkeeping short on this hot path.
        ignore_index, code, smoothing, all_valid = cfg
        xp = ctx.xp
        axis = _class_axis(x.ndim)
        n_classes = x.shape[axis]
        # Everything is computed from the shifted logits x - max: exact at the maximum, so
        # losses near 0 keep their precision even for logits of 1e4.
        e = x - x.max(axis=axis, keepdims=True)
        safe, mask, wt = _targets(xp, t, w, ignore_index, x.dtype, all_valid)
        picked = _pick(xp, e, safe, axis)
        if smoothing > 0:
            shifted_sum = (e if w is None else e * _per_class(w, axis, x.ndim)).sum(axis=axis)
        xp.exp(e, out=e)
        s = e.sum(axis=axis, keepdims=True)
        log_s = xp.log(s).reshape(safe.shape)  # s >= 1: the maximum contributes exp(0)
        # Backward needs the softmax e / s: keep e and 1 / s, and fold the division into the
        # one multiply backward does anyway (a pass over the logits saved).
        if ctx.recording:  # (the shared no-grad ctx must not keep arrays alive)
            ctx.save_for_backward(e, x)
            ctx.inv_s = 1.0 / s
            ctx.axis, ctx.code, ctx.safe, ctx.wt, ctx.mask = axis, code, safe, wt, mask
            ctx.smoothing, ctx.w = smoothing, w
        nll = log_s - picked
        if wt is not None:
            nll *= wt
        if smoothing > 0:
            # -sum_c w_c * log p_c = log_s * sum_c w_c - sum_c w_c * (x_c - max): no log-prob
            # array, and a sum of non-negative terms (no cancellation).
            smooth = log_s * (n_classes if w is None else w.sum()) - shifted_sum
            if mask is not None:
                smooth *= mask
            nll *= 1.0 - smoothing
            smooth *= smoothing / n_classes
            nll += smooth
        if code == _NONE:
            return nll
        total = nll.sum()
        if code == _SUM:
            return total
        ctx.denom = denom = safe.size if wt is None else wt.sum()
        return _mean(xp, total, denom)

    @staticmethod
    def backward(ctx, g):
        e, x = ctx.saved
        xp = ctx.xp
        axis, safe, wt, smoothing = ctx.axis, ctx.safe, ctx.wt, ctx.smoothing
        inv_s = ctx.inv_s
        if isinstance(g, Tensor):
            # Differentiable: the double backward needs d softmax / d x.
            e, inv_s = _softmax_of(xp, x, axis), 1.0
        if ctx.code == _MEAN:
            g = g / ctx.denom
        coef = g if wt is None else g * wt
        if smoothing > 0:
            coef = coef * (1.0 - smoothing)
        kshape = _kept(safe.shape, axis)
        if smoothing == 0:
            # d/dx = (p - one_hot(target)) * coef: one multiply, then a subtraction at the
            # targets.
            grad = e * ((coef.reshape(kshape) if coef.ndim else coef) * inv_s)
            return _one_hot_sub(xp, grad, safe, axis, coef, e.shape), None, None, None
        n_classes = e.shape[axis]
        w = ctx.w
        sm = g * (smoothing / n_classes)
        if ctx.mask is not None:
            sm = sm * ctx.mask
        row = coef + sm * (n_classes if w is None else w.sum())
        grad = e * ((row.reshape(kshape) if row.ndim else row) * inv_s)
        grad = _one_hot_sub(xp, grad, safe, axis, coef, e.shape)
        sm = sm.reshape(kshape) if sm.ndim else sm
        grad = grad - (sm if w is None else sm * _per_class(w, axis, len(e.shape)))
        return grad, None, None, None


class _CrossEntropyProbs(Op):
    """log_softmax and the cross-entropy against class probabilities in one op."""

    @staticmethod
    def forward(ctx, x, t, w, code, smoothing):
        xp = ctx.xp
        axis = _class_axis(x.ndim)
        n_classes = x.shape[axis]
        m = x.max(axis=axis, keepdims=True)
        logp = x - m
        e = xp.exp(logp)
        s = e.sum(axis=axis, keepdims=True)
        with _quiet():
            log_s = xp.log(s)
        e /= s
        logp -= log_s  # (x - max) - log(sum): exact at the maximum, as PyTorch's log_softmax
        ctx.save_for_backward(e, x, t)
        ctx.axis, ctx.code, ctx.smoothing, ctx.shift = axis, code, smoothing, (m, log_s)
        tw = _smoothed(t, smoothing, n_classes)
        wb = None
        if w is not None:
            wb = w.reshape((1,) * axis + (n_classes,) + (1,) * (x.ndim - axis - 1))
            tw = tw * wb
        ctx.wb = wb
        logp *= tw
        loss = -logp.sum(axis=axis)
        if code == _NONE:
            return loss
        total = loss.sum()
        if code == _SUM:
            return total
        ctx.denom = x.size // n_classes
        if not ctx.denom:
            return xp.asarray(float("nan"), dtype=x.dtype)
        return xp.asarray(total / ctx.denom)

    @staticmethod
    def backward(ctx, g):
        p, x, t = ctx.saved
        xp = ctx.xp
        axis, smoothing, wb = ctx.axis, ctx.smoothing, ctx.wb
        need = ctx.needs_input_grad
        n_classes = p.shape[axis]
        create_graph = isinstance(g, Tensor)
        if create_graph:
            p = _softmax_of(xp, x, axis)
        if ctx.code == _MEAN:
            g = g / ctx.denom if ctx.denom else g
        if ctx.code == _NONE:
            g = g.reshape(_kept(tuple(g.shape), axis))
        gx = gt = None
        if need[0]:
            tw = _smoothed(t, smoothing, n_classes)
            if wb is not None:
                tw = tw * wb
            gx = g * (p * xp.sum(tw, axis=axis, keepdims=True) - tw)
        if need[1]:
            if create_graph:
                m = xp.max(x, axis=axis, keepdims=True)
                logp = x - (xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m)
            else:
                m, log_s = ctx.shift
                logp = (x - m) - log_s
            gt = -g * logp
            if wb is not None:
                gt = gt * wb
            if smoothing > 0:
                gt = gt * (1.0 - smoothing)
        return gx, gt, None


def _smoothed(t, smoothing, n_classes):
    if smoothing > 0:
        return t * (1.0 - smoothing) + smoothing / n_classes
    return t


class CrossEntropyProbsMean(_CrossEntropyProbs):
    node_name = "DivBackward1"


class CrossEntropyProbsSum(_CrossEntropyProbs):
    node_name = "NegBackward0"


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log-likelihood of class indices ``target`` under log-probabilities ``input``
    (shape ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``)."""
    code = _reduction(size_average, reduce, reduction)
    target = _check_nll_args("nll_loss_forward", input, target, weight)
    all_valid = _check_targets(target, input.shape[_class_axis(input.dim())], ignore_index)
    op = NllLoss2d if input.dim() > 2 else NllLoss
    return op.apply(input, target, weight, (ignore_index, code, all_valid))


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross-entropy between logits ``input`` and class indices or class probabilities
    ``target``: log-softmax over dim 1 (dim 0 for an unbatched ``(C,)`` input) and NLL in one
    stable op.

    >>> import probe
    >>> logits = probe.tensor([[2.0, 0.0, 0.0], [0.0, 1e4, 0.0]], requires_grad=True)
    >>> loss = probe.nn.functional.cross_entropy(logits, probe.tensor([0, 1]))
    >>> loss.grad_fn.name(), round(loss.item(), 4)
    ('NllLossBackward0', 0.1198)
    """
    code = _reduction(size_average, reduce, reduction)
    ndim = input.dim()
    if input._data.dtype.kind not in "fc":
        last = ndim <= 2
        kernel = "log_softmax_lastdim_kernel_impl" if last else "log_softmax_kernel_impl"
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_short(input)}'")
    if tuple(input.shape) == tuple(target.shape):
        if target._data.dtype.kind not in "fc":
            raise RuntimeError(
                "Expected floating point type for target with class probabilities, got "
                f"{_short(target)}"
            )
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        if not 0.0 <= label_smoothing <= 1.0:
            raise RuntimeError(
                f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing:g}"
            )
        n_classes = input.shape[_class_axis(ndim)]
        if weight is not None:
            if weight.dim() != 1 or weight.numel() != n_classes:
                raise RuntimeError(
                    f"cross_entropy: weight tensor should be defined either for all "
                    f"{n_classes} classes or no classes but got weight tensor of shape: "
                    f"{list(weight.shape)}"
                )
        input, target = _same_dtype(input, target)
        op = CrossEntropyProbsMean if code == _MEAN else CrossEntropyProbsSum
        return op.apply(input, target, weight, code, float(label_smoothing))
    if label_smoothing > 1.0:
        raise RuntimeError(
            f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing:g}"
        )
    target = _check_nll_args("nll_loss_forward", input, target, weight)
    all_valid = _check_targets(target, input.shape[_class_axis(ndim)], ignore_index)
    smoothing = float(label_smoothing) if label_smoothing > 0 else 0.0
    if smoothing > 0:
        op = CrossEntropySmoothed
    else:
        op = CrossEntropy2d if ndim > 2 else CrossEntropy
    return op.apply(input, target, weight, (ignore_index, code, smoothing, all_valid))


class CrossEntropySmoothed(CrossEntropy):
    # PyTorch adds the smoothing term to the NLL term: the top node is an addition.
    node_name = "AddBackward0"


class CrossEntropy2d(CrossEntropy):
    # PyTorch's NLL over (N, C, d1, ...) inputs is its 2-D (spatial) kernel.
    node_name = "NllLoss2DBackward0"


# ---------------------------------------------------------------------------------------------
# KL divergence, soft margin, Poisson and Gaussian NLL
# ---------------------------------------------------------------------------------------------

class KlDiv(Op):
    """Pointwise ``target * (log(target) - input)`` (``exp(target) * (target - input)`` for
    log-space targets)."""

    node_name = "SubBackward0"

    @staticmethod
    def forward(ctx, x, t, log_target):
        ctx.save_for_backward(x, t)
        ctx.log_target = log_target
        xp = ctx.xp
        if log_target:
            return xp.exp(t) * (t - x)
        with _quiet():
            xlogy = xp.where(t == 0, 0.0, t * xp.log(t))
        return xlogy - t * x

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved
        xp = ctx.xp
        need = ctx.needs_input_grad
        gx = gt = None
        if ctx.log_target:
            et = xp.exp(t)
            if need[0]:
                gx = -g * et
            if need[1]:
                gt = g * et * (t - x + 1.0)
        else:
            if need[0]:
                gx = -g * t
            if need[1]:
                with _quiet():
                    gt = g * (xp.log(t) + 1.0 - x)
        return gx, gt


class KlDivLogTarget(KlDiv):
    node_name = "MulBackward0"


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Kullback-Leibler divergence ``target * (log(target) - input)`` with ``input`` in log
    space; ``reduction='batchmean'`` divides the sum by the batch size (the mathematical KL)."""
    if size_average is not None or reduce is not None:
        code = _get_enum(legacy_get_string(size_average, reduce))
    else:
        if reduction == "mean":
            warnings.warn(
                "reduction: 'mean' divides the total loss by both the batch size and the support "
                "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
                "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
                "major release.",
                stacklevel=2,
            )
        code = _SUM if reduction == "batchmean" else _get_enum(reduction)
    input, target = _same_dtype(input, target)
    loss = (KlDivLogTarget if log_target else KlDiv).apply(input, target, bool(log_target))
    loss = _reduce(loss, code)
    if reduction == "batchmean" and input.dim() != 0:
        loss = loss / input.shape[0]
    return loss


class SoftMarginLoss(Op):
    node_name = "SoftMarginLossBackward0"

    @staticmethod
    def forward(ctx, x, t, code):
        ctx.save_for_backward(x, t)
        ctx.code = code
        xp = ctx.xp
        z = -t * x
        loss = _log1p_unit(xp, xp.exp(-xp.abs(z)))
        loss += xp.maximum(z, 0)
        ctx.n = loss.size
        return _reduce_array(xp, loss, code)

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved
        xp = ctx.xp
        need = ctx.needs_input_grad
        g = _grad_scale(g, ctx.code, ctx.n)
        z = -t * x
        s, _ = _sigmoid_stable(xp, z)
        gx = -g * t * s if need[0] else None
        gt = -g * x * s if need[1] else None
        return gx, gt


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """Two-class logistic loss ``log(1 + exp(-target * input))``."""
    code = _reduction(size_average, reduce, reduction)
    _not_differentiable("soft_margin_loss", "target", target)
    input, target = _same_dtype(input, target)
    return SoftMarginLoss.apply(input, target, code)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    """Negative log-likelihood of a Poisson ``target`` with rate ``exp(input)`` (``log_input``)
    or ``input``; ``full`` adds the Stirling term."""
    if size_average is not None or reduce is not None:
        reduction = legacy_get_string(size_average, reduce)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not a valid value for reduction")
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        # 0 * log(0) is NaN where the mask then drops it, as in PyTorch: keep NumPy quiet.
        with _quiet():
            stirling = target * target.log() - target + 0.5 * (target * (2 * math.pi)).log()
        loss = loss + stirling.masked_fill(target <= 1, 0)
    return _reduce(loss, _ENUM[reduction])


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Negative log-likelihood of ``target`` under ``N(input, var)``: ``0.5 * (log(var) +
    (input - target)**2 / var)`` (``var`` clamped at ``eps``)."""
    if isinstance(var, float | int) and not isinstance(var, bool):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        from ...engine.ops.creation import ones_like  # noqa: PLC0415

        var = ones_like(input) * float(var)
    elif bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (input.dim() == var.dim() and sum(
                y for x, y in zip(input.shape, var.shape, strict=True) if x != y) == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    # PyTorch clamps a copy of var without recording the clamp: the gradient still reaches var.
    var = var.clone()
    from ...engine.grad_mode import no_grad  # noqa: PLC0415

    with no_grad():
        var.clamp_(min=eps)
    diff = input - target
    loss = 0.5 * (var.log() + diff * diff / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, _ENUM[reduction])


# ---------------------------------------------------------------------------------------------
# Margin and embedding losses (composed from engine ops, as PyTorch composes them)
# ---------------------------------------------------------------------------------------------

def _where(cond, a, b):
    from ...engine.ops import compare  # noqa: PLC0415

    return compare.FUNCTIONS["where"](cond, a, b)


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                          reduction="mean"):
    """``1 - cos(x1, x2)`` for ``target == 1``, ``max(0, cos(x1, x2) - margin)`` for -1."""
    code = _reduction(size_average, reduce, reduction)
    tdim = target.dim()
    if tdim not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if tdim == 1:
        if input1.dim() != 2 or input2.dim() != 2:
            raise RuntimeError(
                "1D target tensor expects 2D input tensors, but found inputs with sizes "
                f"{list(input1.shape)} and {list(input2.shape)}."
            )
    elif input1.dim() != 1 or input2.dim() != 1:
        raise RuntimeError(
            "0D target tensor expects 1D input tensors, but found inputs with sizes "
            f"{list(input1.shape)} and {list(input2.shape)}."
        )
    dim = 1 if tdim == 1 else 0
    eps = 1e-12
    prod = (input1 * input2).sum(dim)
    mag1 = (input1 * input1).sum(dim) + eps
    mag2 = (input2 * input2).sum(dim) + eps
    cos = prod / (mag1 * mag2).sqrt()
    zeros = cos * 0
    pos = 1 - cos
    neg = (cos - margin).clamp_min(0)
    out = _where(target == 1, pos, zeros) + _where(target == -1, neg, zeros)
    return _reduce(out, code)


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                        reduction="mean"):
    """``max(0, -target * (input1 - input2) + margin)``."""
    code = _reduction(size_average, reduce, reduction)
    if input1.dim() != input2.dim() or input1.dim() != target.dim():
        raise RuntimeError(
            "margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {input1.size()}, input2: {input2.size()}, target: {target.size()} "
        )
    out = (-target * (input1 - input2) + margin).clamp_min(0)
    return _reduce(out, code)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    """``input`` where ``target == 1``, ``max(0, margin - input)`` where ``target == -1``."""
    code = _reduction(size_average, reduce, reduction)
    zeros = input * 0
    margin_clamp = (margin - input).clamp_min(0)
    out = _where(target != 1, margin_clamp, zeros) + _where(target != -1, input, zeros)
    return _reduce(out, code)


def _pairwise_distance(x1, x2, p, eps):
    from ...engine.ops.reduction import vector_norm  # noqa: PLC0415

    return vector_norm(x1 - x2 + eps, p, dim=-1)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    """``max(d(a, p) - d(a, n) + margin, 0)`` with the p-norm distance ``d``."""
    code = _reduction(size_average, reduce, reduction)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    a, po, ne = anchor.dim(), positive.dim(), negative.dim()
    if not (a == po == ne):
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number of "
            f"dimensions, but got: anchor {a}D, positive {po}D, and negative {ne}D inputs"
        )
    dist_pos = _pairwise_distance(anchor, positive, p, eps)
    dist_neg = _pairwise_distance(anchor, negative, p, eps)
    if swap:
        from ...engine.ops.arith import minimum  # noqa: PLC0415

        dist_neg = minimum(dist_neg, _pairwise_distance(positive, negative, p, eps))
    out = (dist_pos - dist_neg + margin).clamp_min(0)
    return _reduce(out, code)
