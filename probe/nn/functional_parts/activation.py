"""Activation functions of ``probe.nn.functional`` (PyTorch's names, signatures and grad_fn names).

Where PyTorch has a dedicated backward kernel (``GeluBackward0``, ``LeakyReluBackward0``,
``EluBackward0``, ``SoftplusBackward0``...) the function is one fused ``Op`` here: forward and
backward side by side, the backward written against ``ctx.xp`` so that it also runs on Tensors
under ``create_graph=True`` (higher-order gradients). ``relu``, ``sigmoid``, ``tanh`` and the
softmax family reuse the engine's ops.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ...engine import dtypes as _dt
from ...engine import special as _special
from ...engine.autograd import Op
from ...engine.ops.inplace import apply_inplace
from ...engine.tensor import Tensor, _wrap_dim

__all__ = [
    "celu", "celu_", "elu", "elu_", "gelu", "glu", "hardshrink", "hardsigmoid", "hardswish",
    "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_", "log_softmax", "logsigmoid", "mish",
    "prelu", "relu", "relu6", "relu_", "selu", "selu_", "sigmoid", "silu", "softmax", "softmin",
    "softplus", "softshrink", "softsign", "tanh", "tanhshrink", "threshold", "threshold_",
]

_SQRT1_2 = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_K = math.sqrt(2.0 / math.pi)
_GELU_C = 0.044715
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946

# Performance notes for the formulas below. NumPy's ``where`` is ~15x slower than a multiply
# (a branch per element), so gradients are masked by multiplying with a boolean array and
# piecewise forwards use maximum/minimum/clip. ``log1p`` and ``expm1`` are not vectorised in
# NumPy (5-10x slower than log/exp): ``_log1p_unit`` and ``_expm1_neg`` compute them from
# log/tanh, accurate to a few ulp.


def _quiet():
    # exp overflowing to inf where the formula then gives the right limit (sigmoid of -1e4).
    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


def _log1p_unit(xp, u):
    """``log(1 + u)`` for ``u`` in [0, 1], from ``log`` with a first-order correction that
    keeps it exact where ``1 + u`` rounds."""
    w = u + 1.0
    return xp.log(w) - ((w - 1.0) - u) / w


def _expm1_neg(xp, z):
    """``exp(z) - 1`` for ``z <= 0`` as ``2 t / (1 - t)`` with ``t = tanh(z / 2)``: accurate
    near 0 where ``exp(z) - 1`` cancels."""
    t = xp.tanh(z * 0.5)
    return (t + t) / (1.0 - t)


def _softplus(xp, z):
    # log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|)).
    return xp.maximum(z, 0) + _log1p_unit(xp, xp.exp(-xp.abs(z)))


def _sigmoid_stable(xp, z):
    """``(sigmoid(z), exp(-|z|))`` without overflow and without ``where``: sigmoid is
    ``1 / (1 + e)`` for z >= 0 and ``e / (1 + e)`` below."""
    e = xp.exp(-xp.abs(z))
    r = 1.0 / (1.0 + e)
    return r * (e + (z >= 0) * (1.0 - e)), e


def _float_only(input, kernel):
    """PyTorch's error for an activation kernel that has no integer implementation."""
    data = input._data
    if data.dtype.kind not in "fc":
        suffix = "cpu" if input._device.type == "cpu" else "cuda"
        name = kernel if "Kernel" in kernel else f"{kernel}_{suffix}"
        raise NotImplementedError(
            f"\"{name}\" not implemented for '{_dt._BY_NUMPY[data.dtype]._short_name}'"
        )


def _sigmoid(xp, x):
    # 1 / (1 + exp(-x)): exp overflows to inf for very negative x, which gives the right limit 0.
    return 1.0 / (1.0 + xp.exp(-x))


def _erf(x):
    """erf on arrays (NumPy or CuPy) and, in a differentiable backward, on Tensors."""
    if isinstance(x, Tensor):
        return x.erf()
    return _special.erf(x)


def _inplace(input, op, *params):
    return apply_inplace(input, lambda t: op.apply(t, *params))


# ---------------------------------------------------------------------------------------------
# The engine's own ops: relu, sigmoid, tanh, softmax, log_softmax
# ---------------------------------------------------------------------------------------------

def relu(input, inplace=False):
    """``max(input, 0)`` elementwise (``inplace=True`` writes into ``input``).

    >>> import probe
    >>> probe.nn.functional.relu(probe.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """
    return input.relu_() if inplace else input.relu()


def relu_(input):
    """In-place ``relu``."""
    return input.relu_()


def sigmoid(input):
    """The logistic function ``1 / (1 + exp(-input))``."""
    return input.sigmoid()


def tanh(input):
    """The hyperbolic tangent."""
    return input.tanh()


def _get_softmax_dim(name, ndim, stacklevel):
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. "
        "Change the call to include dim=X as an argument.",
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``exp(x) / sum(exp(x))`` along ``dim`` (computed stably).

    >>> import probe
    >>> probe.nn.functional.softmax(probe.tensor([0.0, 0.0]), dim=0)
    tensor([0.5000, 0.5000])
    """
    if dim is None:
        dim = _get_softmax_dim("softmax", input.dim(), _stacklevel)
    return input.softmax(dim, dtype=dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """``log(softmax(x))`` along ``dim``, computed in one stable op."""
    if dim is None:
        dim = _get_softmax_dim("log_softmax", input.dim(), _stacklevel)
    return input.log_softmax(dim, dtype=dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """``softmax(-input)`` along ``dim``."""
    if dim is None:
        dim = _get_softmax_dim("softmin", input.dim(), _stacklevel)
    return (-input).softmax(dim, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Fused activation ops
# ---------------------------------------------------------------------------------------------

class Hardtanh(Op):
    node_name = "HardtanhBackward0"

    @staticmethod
    def forward(ctx, x, min_val, max_val):
        ctx.save_for_backward(x)
        ctx.bounds = (min_val, max_val)
        if x.dtype.kind not in "fc":
            min_val, max_val = int(min_val), int(max_val)
        return ctx.xp.clip(x, min_val, max_val)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        lo, hi = ctx.bounds
        # PyTorch passes no gradient at the bounds themselves.
        return (g * ((x > lo) & (x < hi)),)


class LeakyRelu(Op):
    node_name = "LeakyReluBackward0"

    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        ctx.slope = slope
        # max(x, slope * x) is x above 0 and slope * x below when slope <= 1 (min otherwise).
        if slope <= 1:
            return ctx.xp.maximum(x, x * slope)
        return ctx.xp.minimum(x, x * slope)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        gs = g * ctx.slope
        return (gs + (x > 0) * (g - gs),)


class LeakyReluInplace(LeakyRelu):
    node_name = "LeakyReluBackward1"


class Elu(Op):
    """``scale * x`` for x > 0, ``scale * alpha * (exp(x * input_scale) - 1)`` otherwise (elu,
    selu and celu are this op with different constants, as in PyTorch)."""

    node_name = "EluBackward0"

    @staticmethod
    def forward(ctx, x, alpha, scale, input_scale):
        ctx.save_for_backward(x)
        ctx.params = (alpha, scale, input_scale)
        xp = ctx.xp
        # The negative part is 0 for x > 0, so the two pieces simply add.
        neg = _expm1_neg(xp, xp.minimum(x, 0) * input_scale)
        neg *= alpha * scale
        pos = xp.maximum(x, 0)
        if scale != 1:
            pos *= scale
        pos += neg
        return pos

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        alpha, scale, input_scale = ctx.params
        xp = ctx.xp
        pos = x > 0
        # exp of the clamped input: no overflow (and no 0 * inf in a double backward).
        d = xp.exp(xp.clip(x, None, 0.0) * input_scale) * (alpha * scale * input_scale)
        return (g * (d + pos * (scale - d)),)


class EluInplace(Elu):
    node_name = "EluBackward1"


class Celu(Elu):
    node_name = "CeluBackward0"


class CeluInplace(Elu):
    node_name = "CeluBackward1"


class Gelu(Op):
    node_name = "GeluBackward0"

    @staticmethod
    def forward(ctx, x, approximate):
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        xp = ctx.xp
        if approximate == "tanh":
            inner = x * x
            inner *= _GELU_C
            inner += 1.0
            inner *= x
            inner *= _GELU_K
            t = xp.tanh(inner, out=inner) if inner.ndim else xp.tanh(inner)
            t += 1.0
            t *= x
            t *= 0.5
            return t
        # Phi(x) is the costly part on the CPU (float32: one rational, some 25 array passes):
        # keep it for the first-order backward (a differentiable backward recomputes it from x).
        cdf = _special.ndtr(x)
        if ctx.recording:  # (the shared no-grad ctx must not keep arrays alive)
            ctx.cdf = cdf
            return x * cdf
        cdf *= x  # no graph: Phi's array becomes the output
        return cdf

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        xp = ctx.xp
        if ctx.approximate == "tanh":
            x2 = x * x
            t = xp.tanh(x * (1.0 + _GELU_C * x2) * _GELU_K)
            d = 0.5 * (1.0 + t) + (0.5 * _GELU_K) * x * (1.0 - t * t) * (1.0 + 3 * _GELU_C * x2)
            return (g * d,)
        if isinstance(g, Tensor):
            cdf = 0.5 * (1.0 + _erf(x * _SQRT1_2))
            pdf = xp.exp(x * x * -0.5) * _INV_SQRT_2PI
            return (g * (cdf + x * pdf),)
        # g * (Phi(x) + x * phi(x)) in place in one work array: exp is most of the cost.
        d = xp.multiply(x, x, out=xp.empty_like(x))
        d *= -0.5
        xp.exp(d, out=d)
        d *= x
        d *= _INV_SQRT_2PI
        d += ctx.cdf
        d *= g
        return (d,)


class Silu(Op):
    node_name = "SiluBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with _quiet():
            return x * _sigmoid(ctx.xp, x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        with _quiet():
            s = _sigmoid(ctx.xp, x)
        return (g * s * (1.0 + x * (1.0 - s)),)


class Mish(Op):
    node_name = "MishBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        xp = ctx.xp
        return x * xp.tanh(_softplus(xp, x))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        xp = ctx.xp
        s, e = _sigmoid_stable(xp, x)
        t = xp.tanh(xp.clip(x, 0.0, None) + _log1p_unit(xp, e))
        return (g * (t + x * s * (1.0 - t * t)),)


class Softplus(Op):
    node_name = "SoftplusBackward0"

    @staticmethod
    def forward(ctx, x, beta, threshold):
        ctx.save_for_backward(x)
        ctx.params = (beta, threshold)
        xp = ctx.xp
        z = x * beta
        soft = _softplus(xp, z)
        if beta != 1:
            soft /= beta
        # Linear above the threshold, exactly x as in PyTorch (soft is finite there).
        soft += (z > threshold) * (x - soft)
        return soft

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        beta, threshold = ctx.params
        xp = ctx.xp
        z = x * beta
        s, _ = _sigmoid_stable(xp, z)
        return (g * (s + (z > threshold) * (1.0 - s)),)


class LogSigmoid(Op):
    node_name = "LogSigmoidBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        xp = ctx.xp
        return xp.minimum(x, 0) - _log1p_unit(xp, xp.exp(-xp.abs(x)))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        xp = ctx.xp
        # d/dx log(sigmoid(x)) = sigmoid(-x) = 1 - sigmoid(x), computed without cancellation.
        e = xp.exp(-xp.abs(x))
        r = 1.0 / (1.0 + e)
        return (g * (r * (e + (x < 0) * (1.0 - e))),)


class Hardsigmoid(Op):
    node_name = "HardsigmoidBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        y = x * (1.0 / 6.0)
        y += 0.5
        return ctx.xp.clip(y, 0.0, 1.0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return ((g * (1.0 / 6.0)) * ((x > -3.0) & (x < 3.0)),)


class Hardswish(Op):
    node_name = "HardswishBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        y = x + 3.0
        y = ctx.xp.clip(y, 0.0, 6.0)
        y *= x
        y *= 1.0 / 6.0
        return y

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        # x / 3 + 1/2 inside, 1 above, 0 below; PyTorch's convention at the kinks: 0 at -3,
        # 1 at +3.
        d = (x < 3.0) * (x * (1.0 / 3.0) - 0.5) + 1.0
        return (g * (d * (x > -3.0)),)


class Threshold(Op):
    node_name = "ThresholdBackward0"

    @staticmethod
    def forward(ctx, x, threshold, value):
        ctx.save_for_backward(x)
        ctx.threshold = threshold
        xp = ctx.xp
        return xp.where(x > threshold, x, xp.asarray(value, dtype=x.dtype))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return (g * (x > ctx.threshold),)


class ThresholdInplace(Threshold):
    node_name = "ThresholdBackward1"


def _half_slices(ndim, axis, h):
    lead = (slice(None),) * axis
    return lead + (slice(0, h),), lead + (slice(h, None),)


class Glu(Op):
    node_name = "GluBackward0"

    @staticmethod
    def forward(ctx, x, axis):
        ctx.save_for_backward(x)
        ctx.axis = axis
        first, second = _half_slices(x.ndim, axis, x.shape[axis] // 2)
        with _quiet():
            return x[first] * _sigmoid(ctx.xp, x[second])

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        xp = ctx.xp
        first, second = _half_slices(x.ndim, ctx.axis, x.shape[ctx.axis] // 2)
        a = x[first]
        with _quiet():
            s = _sigmoid(xp, x[second])
        ga = g * s
        return (xp.concatenate([ga, ga * a * (1.0 - s)], axis=ctx.axis),)


class Prelu(Op):
    node_name = "PreluKernelBackward0"

    @staticmethod
    def forward(ctx, x, w, shape):
        ctx.save_for_backward(x, w)
        ctx.shape = shape
        xp = ctx.xp
        return xp.maximum(x, 0) + xp.minimum(x, 0) * w.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved
        xp = ctx.xp
        need = ctx.needs_input_grad
        shape = ctx.shape
        gx = None
        if need[0]:
            wb = w.reshape(shape)
            gx = g * (wb + (x > 0) * (1.0 - wb))
        gw = None
        if need[1]:
            gw = xp.where(x > 0, 0.0, g * x)
            axes = tuple(i for i in range(gw.ndim) if i >= len(shape) or shape[i] == 1)
            if axes:
                gw = xp.sum(gw, axis=axes)
            gw = gw.reshape(w.shape)
        return gx, gw


class Softshrink(Op):
    node_name = "SoftshrinkBackward0"

    @staticmethod
    def forward(ctx, x, lambd):
        ctx.save_for_backward(x)
        ctx.lambd = lambd
        xp = ctx.xp
        return xp.where(x > lambd, x - lambd, xp.where(x < -lambd, x + lambd, x * 0))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return (g * ((x > ctx.lambd) | (x < -ctx.lambd)),)


class Hardshrink(Op):
    node_name = "HardshrinkBackward0"

    @staticmethod
    def forward(ctx, x, lambd):
        ctx.save_for_backward(x)
        ctx.lambd = lambd
        return ctx.xp.where((x > lambd) | (x < -lambd), x, x * 0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return (g * ((x > ctx.lambd) | (x < -ctx.lambd)),)


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------

def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """Clamp to ``[min_val, max_val]`` (no gradient at or beyond the bounds)."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    if inplace:
        return _inplace(input, Hardtanh, min_val, max_val)
    return Hardtanh.apply(input, min_val, max_val)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    """In-place ``hardtanh``."""
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input, inplace=False):
    """``min(max(input, 0), 6)`` (PyTorch's ``hardtanh(input, 0, 6)``)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """``input`` where positive, ``negative_slope * input`` elsewhere.

    >>> import probe
    >>> probe.nn.functional.leaky_relu(probe.tensor([-1.0, 2.0]), 0.1)
    tensor([-0.1000,  2.0000])
    """
    _float_only(input, "leaky_relu")
    if inplace:
        return _inplace(input, LeakyReluInplace, negative_slope)
    return LeakyRelu.apply(input, negative_slope)


def leaky_relu_(input, negative_slope=0.01):
    """In-place ``leaky_relu``."""
    return leaky_relu(input, negative_slope, inplace=True)


def elu(input, alpha=1.0, inplace=False):
    """``input`` where positive, ``alpha * (exp(input) - 1)`` elsewhere."""
    _float_only(input, "elu")
    if inplace:
        return _inplace(input, EluInplace, alpha, 1.0, 1.0)
    return Elu.apply(input, alpha, 1.0, 1.0)


def elu_(input, alpha=1.0):
    """In-place ``elu``."""
    return elu(input, alpha, inplace=True)


def selu(input, inplace=False):
    """Scaled ELU with the self-normalising constants (Klambauer et al.)."""
    _float_only(input, "elu")
    if inplace:
        return _inplace(input, EluInplace, _SELU_ALPHA, _SELU_SCALE, 1.0)
    return Elu.apply(input, _SELU_ALPHA, _SELU_SCALE, 1.0)


def selu_(input):
    """In-place ``selu``."""
    return selu(input, inplace=True)


def celu(input, alpha=1.0, inplace=False):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError")
    _float_only(input, "elu")
    if inplace:
        return _inplace(input, CeluInplace, alpha, 1.0, 1.0 / alpha)
    return Celu.apply(input, alpha, 1.0, 1.0 / alpha)


def celu_(input, alpha=1.0):
    """In-place ``celu``."""
    return celu(input, alpha, inplace=True)


def gelu(input, approximate="none"):
    """Gaussian error linear unit ``x * Phi(x)``; ``approximate='tanh'`` uses the tanh formula.

    >>> import probe
    >>> probe.nn.functional.gelu(probe.tensor([0.0, 1.0]))
    tensor([0.0000, 0.8413])
    """
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    _float_only(input, "GeluKernelImpl")
    return Gelu.apply(input, approximate)


def silu(input, inplace=False):
    """``x * sigmoid(x)`` (also called swish)."""
    _float_only(input, "silu")
    if inplace:
        return _inplace(input, Silu)
    return Silu.apply(input)


def mish(input, inplace=False):
    """``x * tanh(softplus(x))``."""
    _float_only(input, "mish")
    if inplace:
        return _inplace(input, Mish)
    return Mish.apply(input)


def softplus(input, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold``."""
    _float_only(input, "softplus")
    return Softplus.apply(input, beta, threshold)


def softsign(input):
    """``x / (1 + |x|)``."""
    return input / (input.abs() + 1)


def hardsigmoid(input, inplace=False):
    """Piecewise-linear sigmoid: ``clamp(x / 6 + 1/2, 0, 1)``."""
    _float_only(input, "hardsigmoid")
    if inplace:
        return _inplace(input, Hardsigmoid)
    return Hardsigmoid.apply(input)


def hardswish(input, inplace=False):
    """``x * hardsigmoid(x)`` (MobileNetV3)."""
    _float_only(input, "hardswish")
    if inplace:
        return _inplace(input, Hardswish)
    return Hardswish.apply(input)


def logsigmoid(input):
    """``log(sigmoid(x))``, computed without overflow."""
    _float_only(input, "log_sigmoid")
    return LogSigmoid.apply(input)


def threshold(input, threshold, value, inplace=False):
    """``input`` where ``input > threshold``, ``value`` elsewhere."""
    if inplace:
        return _inplace(input, ThresholdInplace, threshold, value)
    return Threshold.apply(input, threshold, value)


def threshold_(input, threshold, value):
    """In-place ``threshold``."""
    return _inplace(input, ThresholdInplace, threshold, value)


def glu(input, dim=-1):
    """Gated linear unit: ``a * sigmoid(b)`` for the two halves ``a, b`` of ``input`` along
    ``dim``."""
    ndim = input.dim()
    if ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    axis = _wrap_dim(dim, ndim)
    size = input.shape[axis]
    if size % 2:
        raise RuntimeError(
            f"Halving dimension must be even, but dimension {axis} is size {size}"
        )
    _float_only(input, "glu")
    return Glu.apply(input, axis)


def prelu(input, weight):
    """``input`` where positive, ``weight * input`` elsewhere; ``weight`` has one entry or one per
    channel (dim 1 of ``input``)."""
    if weight.dim() > 1:
        raise RuntimeError(
            f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.dim()}"
        )
    ndim = input.dim()
    n = weight.numel()
    if n != 1:
        channels = input.shape[1] if ndim >= 2 else 1
        if n != channels:
            raise RuntimeError(
                "Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                f"{n} and channel size = {channels}."
            )
        shape = (1, n) + (1,) * (ndim - 2)
    else:
        shape = (1,) * ndim
    return Prelu.apply(input, weight, shape)


def softshrink(input, lambd=0.5):
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, 0 between."""
    if lambd < 0:
        raise RuntimeError(
            f"lambda must be greater or equal to 0, but found to be {lambd}."
        )
    return Softshrink.apply(input, lambd)


def hardshrink(input, lambd=0.5):
    """``x`` where ``|x| > lambd``, 0 elsewhere."""
    return Hardshrink.apply(input, lambd)


def tanhshrink(input):
    """``x - tanh(x)``."""
    return input - input.tanh()
