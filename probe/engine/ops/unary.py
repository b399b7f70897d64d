"""Elementwise math: ``exp``/``log`` and friends, trigonometric and hyperbolic functions,
``sigmoid``/``relu``/``logit``, rounding, ``abs``/``sign``, ``clamp``, the error and gamma
functions, and the small binary/ternary ones that belong with them (``logaddexp``, ``hypot``,
``xlogy``, ``lerp``).

Integer and bool inputs to floating functions give the default float dtype, as in PyTorch.
Each backward is written with ``ctx.xp`` functions and operators only (see ``arith``), and ops
whose gradient is a function of their result (``exp``, ``sigmoid``, ``tanh``, ``sqrt``...) save
the output, not the input. NumPy's floating-point warnings are silenced inside the ops (PyTorch
is silent about ``log(0)`` or ``sqrt(-1)``) through NumPy's error-state context variable, which
costs a fraction of a microsecond (``np.errstate`` costs more than the op on small tensors).
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from .. import dtypes as _dt
from .. import special as _special
from ..tensor import Tensor, _wrap
from ._common import Op, as_operand, cast, priority, promote_operands
from .arith import _maybe_out

_FLOAT_KINDS = "fc"
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI_OVER_2 = math.sqrt(math.pi) / 2.0
_DEG2RAD = math.pi / 180.0
_RAD2DEG = 180.0 / math.pi

# ---------------------------------------------------------------------------------------------
# Quiet floating-point errors
# ---------------------------------------------------------------------------------------------

try:  # NumPy >= 2 keeps its error state in a context variable: setting it is cheap.
    from numpy._core._ufunc_config import _extobj_contextvar as _np_errstate_var

    with np.errstate(all="ignore"):
        _IGNORE_ALL = _np_errstate_var.get()
except (ImportError, AttributeError):  # pragma: no cover - older NumPy
    _np_errstate_var = None


class _Quiet:
    __slots__ = ("token",)

    def __enter__(self):
        self.token = _np_errstate_var.set(_IGNORE_ALL)

    def __exit__(self, *exc):
        _np_errstate_var.reset(self.token)


def quiet():
    """A context in which NumPy ignores floating-point errors (overflow, 0/0, log(0)...)."""
    if _np_errstate_var is not None:
        return _Quiet()
    return np.errstate(all="ignore")  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def _type_error(name, value, position=1, arg="input"):
    return TypeError(
        f"{name}(): argument '{arg}' (position {position}) must be Tensor, not "
        f"{type(value).__name__}"
    )


def _floating(input, name):
    """``input`` itself when floating, else converted to the default float dtype."""
    try:
        kind = input._data.dtype.kind
    except AttributeError:
        raise _type_error(name, input) from None
    if kind in _FLOAT_KINDS:
        return input
    return _wrap(input._data.astype(_dt.get_default_dtype().np_dtype), input._device)


def _checked(input, name):
    try:
        input._data  # noqa: B018 - the attribute check is the point
    except AttributeError:
        raise _type_error(name, input) from None
    return input


def _not_implemented(op, input):
    return NotImplementedError(
        f'"{op}_{input._device.type}" not implemented for \'{input.dtype._short_name}\''
    )


def special_fn(xp, name):
    """The special function ``name`` ("erf", "erfc", "erfinv", "lgamma", "digamma",
    "polygamma") for the namespace ``xp`` an op sees: probe.engine.special's array function for
    NumPy/CuPy (NumPy has no ``erf``; ``ctx.xp.erf`` would fail there), the Tensor function
    under ``create_graph``. Other op modules (GELU) use it in forward and backward alike:
    ``special_fn(ctx.xp, "erf")(x)``."""
    if xp is np or xp.__name__ == "cupy":
        return getattr(_special, name)
    return getattr(xp, name)


def _unary_op(node_name, fwd, grad, saves="input", silent=True):
    """A primitive op ``y = fwd(xp, x)`` whose backward is ``grad(xp, g, s)``, with ``s`` the saved
    input (``saves="input"``), the output (``"output"``) or nothing (``None``)."""

    if saves == "input":
        def forward(ctx, x):
            ctx.save_for_backward(x)
            if silent:
                with quiet():
                    return fwd(ctx.xp, x)
            return fwd(ctx.xp, x)
    elif saves == "output":
        def forward(ctx, x):
            if silent:
                with quiet():
                    y = fwd(ctx.xp, x)
            else:
                y = fwd(ctx.xp, x)
            ctx.save_for_backward(y)
            return y
    else:
        def forward(ctx, x):
            if silent:
                with quiet():
                    return fwd(ctx.xp, x)
            return fwd(ctx.xp, x)

    def backward(ctx, g):
        saved = ctx.saved[0] if saves else None
        with quiet():
            return (grad(ctx.xp, g, saved),)

    return type(node_name, (Op,), {"node_name": node_name, "forward": staticmethod(forward),
                                   "backward": staticmethod(backward)})


def _zero_grad(xp, g, _):
    return xp.zeros_like(g)


# ---------------------------------------------------------------------------------------------
# The hot ops, written out
# ---------------------------------------------------------------------------------------------

class Neg(Op):
    node_name = "NegBackward0"

    @staticmethod
    def forward(ctx, x):
        return ctx.xp.negative(x)

    @staticmethod
    def backward(ctx, g):
        return (-g,)


class Exp(Op):
    node_name = "ExpBackward0"

    @staticmethod
    def forward(ctx, x):
        with quiet():
            y = ctx.xp.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return (g * y,)


class Log(Op):
    node_name = "LogBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with quiet():
            return ctx.xp.log(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        with quiet():
            return (g / x,)


class Sqrt(Op):
    node_name = "SqrtBackward0"

    @staticmethod
    def forward(ctx, x):
        with quiet():
            y = ctx.xp.sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        with quiet():
            return (g / (y * 2),)


class Tanh(Op):
    node_name = "TanhBackward0"

    @staticmethod
    def forward(ctx, x):
        y = ctx.xp.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return (g * (1 - y * y),)


class Sigmoid(Op):
    node_name = "SigmoidBackward0"

    @staticmethod
    def forward(ctx, x):
        xp = ctx.xp
        # 1 / (1 + exp(-x)) in one buffer; exp overflowing to inf gives the right limit 0.
        with quiet():
            y = xp.negative(x)
            xp.exp(y, out=y)
            y += 1
            xp.reciprocal(y, out=y)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return (g * y * (1 - y),)


class Relu(Op):
    node_name = "ReluBackward0"

    @staticmethod
    def forward(ctx, x):
        y = ctx.xp.maximum(x, 0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return (g * (y > 0),)


class Abs(Op):
    node_name = "AbsBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return ctx.xp.abs(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return (g * ctx.xp.sign(x),)


class Erf(Op):
    node_name = "ErfBackward0"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return special_fn(ctx.xp, "erf")(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return (g * _TWO_OVER_SQRT_PI * ctx.xp.exp(-(x * x)),)


# ---------------------------------------------------------------------------------------------
# The long tail, from formulas
# ---------------------------------------------------------------------------------------------

def _sign_forward(xp, x):
    if x.dtype.kind == "f":
        # PyTorch's sign is 0 at NaN (NumPy's is NaN).
        s = (x > 0).astype(x.dtype)
        s -= x < 0
        return s
    if x.dtype.kind == "b":
        return x.copy()
    return xp.sign(x)


Exp2 = _unary_op("Exp2Backward0", lambda xp, x: xp.exp2(x),
                 lambda xp, g, y: g * y * _LN2, "output")
Expm1 = _unary_op("Expm1Backward0", lambda xp, x: xp.expm1(x),
                  lambda xp, g, y: g * (y + 1), "output")
Log2 = _unary_op("Log2Backward0", lambda xp, x: xp.log2(x), lambda xp, g, x: g / (x * _LN2))
Log10 = _unary_op("Log10Backward0", lambda xp, x: xp.log10(x),
                  lambda xp, g, x: g / (x * _LN10))
Log1p = _unary_op("Log1PBackward0", lambda xp, x: xp.log1p(x), lambda xp, g, x: g / (x + 1))
Rsqrt = _unary_op("RsqrtBackward0", lambda xp, x: xp.reciprocal(xp.sqrt(x)),
                  lambda xp, g, y: g * y * y * y * -0.5, "output")
Reciprocal = _unary_op("ReciprocalBackward0", lambda xp, x: xp.reciprocal(x),
                       lambda xp, g, y: -g * y * y, "output")
Sin = _unary_op("SinBackward0", lambda xp, x: xp.sin(x), lambda xp, g, x: g * xp.cos(x))
Cos = _unary_op("CosBackward0", lambda xp, x: xp.cos(x), lambda xp, g, x: -g * xp.sin(x))
Tan = _unary_op("TanBackward0", lambda xp, x: xp.tan(x),
                lambda xp, g, y: g * (1 + y * y), "output")
Asin = _unary_op("AsinBackward0", lambda xp, x: xp.arcsin(x),
                 lambda xp, g, x: g / xp.sqrt(1 - x * x))
Acos = _unary_op("AcosBackward0", lambda xp, x: xp.arccos(x),
                 lambda xp, g, x: -g / xp.sqrt(1 - x * x))
Atan = _unary_op("AtanBackward0", lambda xp, x: xp.arctan(x), lambda xp, g, x: g / (1 + x * x))
Sinh = _unary_op("SinhBackward0", lambda xp, x: xp.sinh(x), lambda xp, g, x: g * xp.cosh(x))
Cosh = _unary_op("CoshBackward0", lambda xp, x: xp.cosh(x), lambda xp, g, x: g * xp.sinh(x))
Asinh = _unary_op("AsinhBackward0", lambda xp, x: xp.arcsinh(x),
                  lambda xp, g, x: g / xp.sqrt(x * x + 1))
Acosh = _unary_op("AcoshBackward0", lambda xp, x: xp.arccosh(x),
                  lambda xp, g, x: g / xp.sqrt(x * x - 1))
Atanh = _unary_op("AtanhBackward0", lambda xp, x: xp.arctanh(x),
                  lambda xp, g, x: g / (1 - x * x))
Sign = _unary_op("SignBackward0", _sign_forward, _zero_grad, None, silent=False)
Sgn = _unary_op("SgnBackward0", _sign_forward, _zero_grad, None, silent=False)
Floor = _unary_op("FloorBackward0", lambda xp, x: xp.floor(x), _zero_grad, None, silent=False)
Ceil = _unary_op("CeilBackward0", lambda xp, x: xp.ceil(x), _zero_grad, None, silent=False)
Trunc = _unary_op("TruncBackward0", lambda xp, x: xp.trunc(x), _zero_grad, None, silent=False)
Round = _unary_op("RoundBackward0", lambda xp, x: xp.rint(x), _zero_grad, None, silent=False)
Frac = _unary_op("FracBackward0", lambda xp, x: x - xp.trunc(x), lambda xp, g, _: g, None)
Erfc = _unary_op("ErfcBackward0", lambda xp, x: special_fn(xp, "erfc")(x),
                 lambda xp, g, x: g * -_TWO_OVER_SQRT_PI * xp.exp(-(x * x)))
Erfinv = _unary_op("ErfinvBackward0", lambda xp, x: special_fn(xp, "erfinv")(x),
                   lambda xp, g, y: g * _SQRT_PI_OVER_2 * xp.exp(y * y), "output")
Lgamma = _unary_op("LgammaBackward0", lambda xp, x: special_fn(xp, "lgamma")(x),
                   lambda xp, g, x: g * special_fn(xp, "digamma")(x))
Digamma = _unary_op("DigammaBackward0", lambda xp, x: special_fn(xp, "digamma")(x),
                    lambda xp, g, x: g * special_fn(xp, "polygamma")(1, x))
Deg2Rad = _unary_op("Deg2RadBackward0", lambda xp, x: x * _DEG2RAD,
                    lambda xp, g, _: g * _DEG2RAD, None, silent=False)
Rad2Deg = _unary_op("Rad2DegBackward0", lambda xp, x: x * _RAD2DEG,
                    lambda xp, g, _: g * _RAD2DEG, None, silent=False)


class Polygamma(Op):
    node_name = "PolygammaBackward0"

    @staticmethod
    def forward(ctx, x, n):
        ctx.save_for_backward(x)
        ctx.n = n
        return special_fn(ctx.xp, "polygamma")(n, x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return (g * special_fn(ctx.xp, "polygamma")(ctx.n + 1, x),)


class RoundDecimals(Op):
    node_name = "RoundBackward1"

    @staticmethod
    def forward(ctx, x, decimals):
        xp = ctx.xp
        # PyTorch's formula: nearbyint(x * 10**d) / 10**d, or nearbyint(x / 10**-d) * 10**-d.
        with quiet():
            if decimals > 0:
                scale = 10.0**decimals
                return xp.rint(x * scale) / scale
            scale = 10.0 ** (-decimals)
            return xp.rint(x / scale) * scale

    @staticmethod
    def backward(ctx, g):
        return (ctx.xp.zeros_like(g),)


class Logit(Op):
    node_name = "LogitBackward0"

    @staticmethod
    def forward(ctx, x, eps):
        xp = ctx.xp
        ctx.save_for_backward(x)
        ctx.eps = eps
        with quiet():
            z = x if eps is None else xp.clip(x, eps, 1 - eps)
            return xp.log(z / (1 - z))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        xp = ctx.xp
        eps = ctx.eps
        with quiet():
            grad = g / (x * (1 - x))
            if eps is None:
                return (xp.where((x < 0) | (x > 1), math.nan, grad),)
            return (xp.where((x < eps) | (x > 1 - eps), 0.0, grad),)


class NanToNum(Op):
    node_name = "NanToNumBackward0"

    @staticmethod
    def forward(ctx, x, nan, posinf, neginf):
        ctx.save_for_backward(x)
        return ctx.xp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return (g * ctx.xp.isfinite(x),)


class Conj(Op):
    node_name = "ConjBackward0"

    @staticmethod
    def forward(ctx, x):
        return ctx.xp.conj(x)

    @staticmethod
    def backward(ctx, g):
        return (ctx.xp.conj(g),)


# Clamp ---------------------------------------------------------------------------------------

def _clamp_arrays(xp, x, lo, hi):
    y = x
    if lo is not None:
        y = xp.maximum(x, lo)
    if hi is not None:
        y = xp.minimum(y, hi, out=None if y is x else y)
    return y


class Clamp(Op):
    """``clamp`` with Number bounds (PyTorch's ``ClampBackward1``)."""

    node_name = "ClampBackward1"

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.lo = lo
        ctx.hi = hi
        return _clamp_arrays(ctx.xp, x, lo, hi)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        lo, hi = ctx.lo, ctx.hi
        if lo is None:
            return (g * (x <= hi),)
        if hi is None:
            return (g * (x >= lo),)
        return (g * ((x >= lo) & (x <= hi)),)


class ClampTensor(Op):
    """``clamp`` with tensor bounds, either of which may be None (``ClampBackward0``)."""

    node_name = "ClampBackward0"
    scalar_edges = 3  # a missing bound shows as (None, 0) in next_functions, as in PyTorch

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.has_lo = lo is not None
        ctx.has_hi = hi is not None
        ctx.save_for_backward(*[a for a in (x, lo, hi) if a is not None])
        return _clamp_arrays(ctx.xp, x, lo, hi)

    @staticmethod
    def backward(ctx, g):
        x, lo, hi = _clamp_saved(ctx)
        need = ctx.needs_input_grad
        if lo is None:
            return g * (x <= hi), None, (g * (x > hi) if need[2] else None)
        if hi is None:
            return g * (x >= lo), (g * (x < lo) if need[1] else None), None
        g_lo = g * ((x < lo) & (lo < hi)) if need[1] else None
        g_hi = g * ((x > hi) | (hi < lo)) if need[2] else None
        return g * ((x >= lo) & (x <= hi)), g_lo, g_hi


def _clamp_saved(ctx):
    """(x, lo, hi) from the saved arrays (only the bounds given were saved)."""
    saved = list(ctx.saved)
    x = saved.pop(0)
    lo = saved.pop(0) if ctx.has_lo else None
    hi = saved.pop(0) if ctx.has_hi else None
    return x, lo, hi


class ClampMin(Op):
    node_name = "ClampMinBackward0"

    @staticmethod
    def forward(ctx, x, lo):
        ctx.save_for_backward(x)
        ctx.lo = lo
        return ctx.xp.maximum(x, lo)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return (g * (x >= ctx.lo),)


class ClampMinTensor(Op):
    node_name = "ClampMinBackward1"

    @staticmethod
    def forward(ctx, x, lo):
        ctx.save_for_backward(x, lo)
        return ctx.xp.maximum(x, lo)

    @staticmethod
    def backward(ctx, g):
        x, lo = ctx.saved
        return g * (x >= lo), (g * (x < lo) if ctx.needs_input_grad[1] else None)


class ClampMax(Op):
    node_name = "ClampMaxBackward0"

    @staticmethod
    def forward(ctx, x, hi):
        ctx.save_for_backward(x)
        ctx.hi = hi
        return ctx.xp.minimum(x, hi)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return (g * (x <= ctx.hi),)


class ClampMaxTensor(Op):
    node_name = "ClampMaxBackward1"

    @staticmethod
    def forward(ctx, x, hi):
        ctx.save_for_backward(x, hi)
        return ctx.xp.minimum(x, hi)

    @staticmethod
    def backward(ctx, g):
        x, hi = ctx.saved
        return g * (x <= hi), (g * (x > hi) if ctx.needs_input_grad[1] else None)


# Binary and ternary ops -----------------------------------------------------------------------

class Logaddexp(Op):
    node_name = "LogaddexpBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        with quiet():
            return ctx.xp.logaddexp(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        xp = ctx.xp
        with quiet():
            return g / (xp.exp(b - a) + 1), g / (xp.exp(a - b) + 1)


class Logaddexp2(Op):
    node_name = "Logaddexp2Backward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        with quiet():
            return ctx.xp.logaddexp2(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        xp = ctx.xp
        with quiet():
            return g / (xp.exp2(b - a) + 1), g / (xp.exp2(a - b) + 1)


class Hypot(Op):
    node_name = "HypotBackward0"

    @staticmethod
    def forward(ctx, a, b):
        y = ctx.xp.hypot(a, b)
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved
        with quiet():
            scaled = g / y
            return scaled * a, scaled * b


def _log_number(y):
    if y > 0:
        return math.log(y)
    return -math.inf if y == 0 else math.nan


def _xlogy_forward(xp, x, y):
    with quiet():
        # A Python float stays a Python float (a NumPy float64 scalar would promote float32).
        out = x * (_log_number(y) if isinstance(y, float) else xp.log(y))
        # 0 * log(0) is 0; a NaN y stays NaN even where x is 0.
        if isinstance(x, float):
            if x == 0:
                out = xp.zeros_like(out)
        else:
            out = xp.where(x == 0, 0.0, out)
        if isinstance(y, float):
            return out if y == y else xp.full_like(out, math.nan)
        return xp.where(xp.isnan(y), math.nan, out).astype(out.dtype, copy=False)


class Xlogy(Op):
    node_name = "XlogyBackward0"

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return _xlogy_forward(ctx.xp, x, y)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved
        xp = ctx.xp
        need = ctx.needs_input_grad
        with quiet():
            gx = xp.where((x == 0) & (y <= 0), 0.0, g * xp.log(y)) if need[0] else None
            gy = g * x / y if need[1] else None
        return gx, gy


class XlogyScalarSelf(Op):
    node_name = "XlogyBackward1"

    @staticmethod
    def forward(ctx, y, x):
        ctx.save_for_backward(y)
        ctx.x = x
        return _xlogy_forward(ctx.xp, x, y)

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        with quiet():
            return (g * ctx.x / y,)


class XlogyScalarOther(Op):
    node_name = "XlogyBackward2"

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x)
        ctx.y = y
        return _xlogy_forward(ctx.xp, x, y)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        y = ctx.y
        log_y = _log_number(y)
        return (ctx.xp.where((x == 0) & (y <= 0), 0.0, g * log_y),)


class Lerp(Op):
    """``lerp`` with a Number weight (``LerpBackward0``)."""

    node_name = "LerpBackward0"

    @staticmethod
    def forward(ctx, a, b, w):
        ctx.w = w
        # PyTorch's two-sided formula: exact at both ends.
        if builtins.abs(w) < 0.5:
            return a + w * (b - a)
        return b - (b - a) * (1 - w)

    @staticmethod
    def backward(ctx, g):
        w = ctx.w
        return g * (1 - w), g * w


class LerpTensor(Op):
    node_name = "LerpBackward1"

    @staticmethod
    def forward(ctx, a, b, w):
        ctx.save_for_backward(a, b, w)
        diff = b - a
        return ctx.xp.where(ctx.xp.abs(w) < 0.5, a + w * diff, b - diff * (1 - w))

    @staticmethod
    def backward(ctx, g):
        a, b, w = ctx.saved
        need = ctx.needs_input_grad
        ga = g * (1 - w) if need[0] else None
        gb = g * w if need[1] else None
        gw = g * (b - a) if need[2] else None
        return ga, gb, gw


# ---------------------------------------------------------------------------------------------
# Public functions (also bound as Tensor methods)
# ---------------------------------------------------------------------------------------------

def _float_unary(op, name, doc):
    def fn(input, *, out=None):
        result = op.apply(_floating(input, name))
        return result if out is None else _maybe_out(result, out)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


def exp(input, *, out=None):
    """``e ** input``, elementwise (integers give the default float dtype).

    >>> import probe
    >>> probe.exp(probe.tensor([0.0, 1.0]))
    tensor([1.0000, 2.7183])
    """
    result = Exp.apply(_floating(input, "exp"))
    return result if out is None else _maybe_out(result, out)


def log(input, *, out=None):
    """Natural logarithm, elementwise (``-inf`` at 0, NaN below, without warnings)."""
    result = Log.apply(_floating(input, "log"))
    return result if out is None else _maybe_out(result, out)


def sqrt(input, *, out=None):
    """Square root, elementwise."""
    result = Sqrt.apply(_floating(input, "sqrt"))
    return result if out is None else _maybe_out(result, out)


def tanh(input, *, out=None):
    """Hyperbolic tangent, elementwise."""
    result = Tanh.apply(_floating(input, "tanh"))
    return result if out is None else _maybe_out(result, out)


def sigmoid(input, *, out=None):
    """The logistic function ``1 / (1 + exp(-input))``.

    >>> import probe
    >>> probe.sigmoid(probe.tensor([0.0]))
    tensor([0.5000])
    """
    result = Sigmoid.apply(_floating(input, "sigmoid"))
    return result if out is None else _maybe_out(result, out)


def erf(input, *, out=None):
    """The error function, elementwise (accurate to about 1e-15 in float64).

    >>> import probe
    >>> probe.erf(probe.tensor([0.0, 1.0]))
    tensor([0.0000, 0.8427])
    """
    result = Erf.apply(_floating(input, "erf"))
    return result if out is None else _maybe_out(result, out)


exp2 = _float_unary(Exp2, "exp2", "``2 ** input``, elementwise.")
expm1 = _float_unary(Expm1, "expm1", "``exp(input) - 1``, accurate near 0.")
log2 = _float_unary(Log2, "log2", "Base-2 logarithm, elementwise.")
log10 = _float_unary(Log10, "log10", "Base-10 logarithm, elementwise.")
log1p = _float_unary(Log1p, "log1p", "``log(1 + input)``, accurate near 0.")
rsqrt = _float_unary(Rsqrt, "rsqrt", "``1 / sqrt(input)``, elementwise.")
reciprocal = _float_unary(Reciprocal, "reciprocal", "``1 / input`` (integers give floats).")
sin = _float_unary(Sin, "sin", "Sine, elementwise (radians).")
cos = _float_unary(Cos, "cos", "Cosine, elementwise (radians).")
tan = _float_unary(Tan, "tan", "Tangent, elementwise (radians).")
asin = _float_unary(Asin, "asin", "Inverse sine, elementwise.")
acos = _float_unary(Acos, "acos", "Inverse cosine, elementwise.")
atan = _float_unary(Atan, "atan", "Inverse tangent, elementwise.")
sinh = _float_unary(Sinh, "sinh", "Hyperbolic sine, elementwise.")
cosh = _float_unary(Cosh, "cosh", "Hyperbolic cosine, elementwise.")
asinh = _float_unary(Asinh, "asinh", "Inverse hyperbolic sine, elementwise.")
acosh = _float_unary(Acosh, "acosh", "Inverse hyperbolic cosine, elementwise.")
atanh = _float_unary(Atanh, "atanh", "Inverse hyperbolic tangent, elementwise.")
erfc = _float_unary(Erfc, "erfc", "``1 - erf(input)``, accurate in the tails.")
erfinv = _float_unary(Erfinv, "erfinv", "The inverse error function (``±inf`` at ``±1``).")
lgamma = _float_unary(Lgamma, "lgamma", "``log|Gamma(input)|``, elementwise.")
digamma = _float_unary(Digamma, "digamma", "The logarithmic derivative of the gamma function.")
deg2rad = _float_unary(Deg2Rad, "deg2rad", "Degrees to radians.")
rad2deg = _float_unary(Rad2Deg, "rad2deg", "Radians to degrees.")
arcsin, arccos, arctan = asin, acos, atan
arcsinh, arccosh, arctanh = asinh, acosh, atanh


def polygamma(n, input, *, out=None):
    """The ``n``-th derivative of ``digamma`` (``polygamma(0, x)`` is ``digamma(x)``)."""
    input = _floating(input, "polygamma")
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    result = Polygamma.apply(input, int(n))
    return result if out is None else _maybe_out(result, out)


def _polygamma_method(self, n):
    return polygamma(n, self)


def neg(input, *, out=None):
    """``-input``, elementwise (not for bool tensors: use ``~`` or ``logical_not``)."""
    if _checked(input, "neg")._data.dtype.kind == "b":
        raise RuntimeError(
            "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
            "invert a mask, use the `~` or `logical_not()` operator instead."
        )
    result = Neg.apply(input)
    return result if out is None else _maybe_out(result, out)


negative = neg


def positive(input):
    """``+input``: the tensor itself."""
    if _checked(input, "positive")._data.dtype.kind == "b":
        raise RuntimeError(
            "The `+` operator, on a bool tensor is not supported."
        )
    return input


def abs(input, *, out=None):
    """Absolute value, elementwise (integers stay integers).

    >>> import probe
    >>> probe.abs(probe.tensor([-1, 2]))
    tensor([1, 2])
    """
    if _checked(input, "abs")._data.dtype.kind == "b":
        raise _not_implemented("abs", input)
    result = Abs.apply(input)
    return result if out is None else _maybe_out(result, out)


absolute = abs


def relu(input):
    """``max(input, 0)``, elementwise (integers stay integers).

    >>> import probe
    >>> probe.relu(probe.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """
    if _checked(input, "relu")._data.dtype.kind == "b":
        raise RuntimeError("Boolean inputs not supported for relu")
    return Relu.apply(input)


def sign(input, *, out=None):
    """-1, 0 or 1 by the sign of each element (0 for NaN, as PyTorch); bool stays bool."""
    result = Sign.apply(_checked(input, "sign"))
    return result if out is None else _maybe_out(result, out)


def sgn(input, *, out=None):
    """``sign`` that extends to complex numbers (``x / |x|``)."""
    result = Sgn.apply(_checked(input, "sgn"))
    return result if out is None else _maybe_out(result, out)


def signbit(input, *, out=None):
    """True where the sign bit is set (negative numbers and -0.0)."""
    data = _checked(input, "signbit")._data
    result = _wrap(input._device.xp.signbit(data), input._device)
    return result if out is None else _maybe_out(result, out)


def _rounding(op, name):
    def fn(input, *, out=None):
        kind = _checked(input, name)._data.dtype.kind
        if kind in _FLOAT_KINDS:
            result = op.apply(input)
        elif kind == "b":
            raise _not_implemented(f"{name}_vml", input)
        else:  # integers are already whole: a copy
            result = _wrap(input._data.copy(), input._device)
        return result if out is None else _maybe_out(result, out)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``{name}`` of each element; integer tensors are returned as a copy."
    return fn


floor = _rounding(Floor, "floor")
ceil = _rounding(Ceil, "ceil")
trunc = _rounding(Trunc, "trunc")
fix = trunc
_round0 = _rounding(Round, "round")


def round(input, *, decimals=0, out=None):
    """Round half to even, optionally to ``decimals`` decimal places (negative: tens, ...).

    >>> import probe
    >>> probe.round(probe.tensor([0.5, 1.5, 1.2345]), decimals=0)
    tensor([0., 2., 1.])
    """
    if decimals == 0:
        return _round0(input, out=out)
    if _checked(input, "round")._data.dtype.kind not in _FLOAT_KINDS:
        raise _not_implemented("round", input)
    result = RoundDecimals.apply(input, int(decimals))
    return result if out is None else _maybe_out(result, out)


def frac(input, *, out=None):
    """The fractional part ``input - trunc(input)`` (sign of the input)."""
    if _checked(input, "frac")._data.dtype.kind not in _FLOAT_KINDS:
        raise _not_implemented("frac", input)
    result = Frac.apply(input)
    return result if out is None else _maybe_out(result, out)


def logit(input, eps=None, *, out=None):
    """``log(p / (1 - p))``; with ``eps``, ``p`` is first clamped to ``[eps, 1 - eps]``."""
    input = _floating(input, "logit")
    result = Logit.apply(input, None if eps is None else float(eps))
    return result if out is None else _maybe_out(result, out)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None, *, out=None):
    """NaN -> ``nan``, +inf -> ``posinf`` (default: the dtype's largest value), -inf ->
    ``neginf`` (default: the lowest)."""
    if _checked(input, "nan_to_num")._data.dtype.kind not in _FLOAT_KINDS:
        result = _wrap(input._data.copy(), input._device)
    else:
        result = NanToNum.apply(input, nan, posinf, neginf)
    return result if out is None else _maybe_out(result, out)


def conj(input):
    """The complex conjugate (the tensor itself for real tensors)."""
    if _checked(input, "conj")._data.dtype.kind != "c":
        return input
    return Conj.apply(input)


def conj_physical(input, *, out=None):
    result = conj(input)
    return result if out is None else _maybe_out(result, out)


def _resolve(self):
    return self


def _is_false(self):
    return False


# Clamp ----------------------------------------------------------------------------------------

_CLAMP_NONE_MSG = "torch.clamp: At least one of 'min' or 'max' must not be None"
_FAST_BOUNDS = {int, float, type(None)}


def _bound_dtype(input, bounds):
    """PyTorch's result dtype for clamping ``input`` with Number/Tensor ``bounds``."""
    ops = [priority(input)]
    for b in bounds:
        if b is None:
            continue
        ops.append(priority(b) if isinstance(b, Tensor) else b)
    return _dt.result_type_of(ops)


def _scalar_bound(b):
    if b is None or isinstance(b, Tensor):
        return b
    if isinstance(b, np.generic):
        return b.item()
    if not isinstance(b, int | float | bool):
        raise TypeError(
            f"clamp() received an invalid combination of arguments - got bound of type "
            f"{type(b).__name__}"
        )
    return b


def clamp(input, min=None, max=None, *, out=None):
    """Clamp every element into ``[min, max]``; either bound may be None (not both), a Number
    or a tensor (broadcast). Where ``min > max`` the result is ``max``.

    >>> import probe
    >>> probe.clamp(probe.tensor([-2.0, 0.5, 3.0]), -1, 1)
    tensor([-1.0000,  0.5000,  1.0000])
    """
    if (min.__class__ in _FAST_BOUNDS and max.__class__ in _FAST_BOUNDS
            and _checked(input, "clamp")._data.dtype.kind == "f"):
        # The common case: a float tensor and Number bounds keep the tensor's dtype.
        if min is None and max is None:
            raise RuntimeError(_CLAMP_NONE_MSG)
        result = Clamp.apply(input, min, max)
        return result if out is None else _maybe_out(result, out)
    _checked(input, "clamp")
    min, max = _scalar_bound(min), _scalar_bound(max)
    if min is None and max is None:
        raise RuntimeError(_CLAMP_NONE_MSG)
    min_t, max_t = isinstance(min, Tensor), isinstance(max, Tensor)
    if min_t or max_t:
        numbers = (min is not None and not min_t) or (max is not None and not max_t)
        if numbers and any(isinstance(b, Tensor) and (b._data.ndim or b._requires_grad)
                           for b in (min, max)):
            # PyTorch binds such a mix to neither overload.
            raise TypeError(
                "clamp() received an invalid combination of arguments - got (Tensor, "
                f"{type(min).__name__ if min is not None else 'NoneType'}, "
                f"{type(max).__name__ if max is not None else 'NoneType'}), but expected one "
                "of:\n * (Tensor input, Tensor min = None, Tensor max = None, *, Tensor out = "
                "None)\n * (Tensor input, Number min = None, Number max = None, *, Tensor out = "
                "None)\n"
            )
        if numbers:
            # A 0-d tensor next to a Number binds as a Number (PyTorch's Scalar overload).
            min = min.item() if min_t else min
            max = max.item() if max_t else max
        else:
            return _maybe_out(_clamp_tensor(input, min, max), out)
    dtype = _bound_dtype(input, (min, max))
    if input._data.dtype is not dtype.np_dtype:
        input = cast(input, dtype)
    result = Clamp.apply(input, min, max)
    return result if out is None else _maybe_out(result, out)


clip = clamp


def _clamp_tensor(input, lo, hi):
    lo = as_operand(lo, input) if lo is not None and not isinstance(lo, Tensor) else lo
    hi = as_operand(hi, input) if hi is not None and not isinstance(hi, Tensor) else hi
    if not isinstance(lo, Tensor | None):
        from .creation import full  # noqa: PLC0415

        lo = full((), lo, dtype=_bound_dtype(input, (lo,)), device=input._device)
    if not isinstance(hi, Tensor | None):
        from .creation import full  # noqa: PLC0415

        hi = full((), hi, dtype=_bound_dtype(input, (hi,)), device=input._device)
    dtype = _bound_dtype(input, (lo, hi))
    input = cast(input, dtype)
    lo = None if lo is None else cast(lo, dtype)
    hi = None if hi is None else cast(hi, dtype)
    return ClampTensor.apply(input, lo, hi)


def clamp_min(input, min, *, out=None):
    """``max(input, min)`` elementwise (``min`` a Number or a tensor)."""
    _checked(input, "clamp_min")
    min = _scalar_bound(min)
    if min is None:
        raise RuntimeError(_CLAMP_NONE_MSG)
    if isinstance(min, Tensor):
        dtype = _bound_dtype(input, (min,))
        result = ClampMinTensor.apply(cast(input, dtype), cast(min, dtype))
    else:
        dtype = _bound_dtype(input, (min,))
        result = ClampMin.apply(cast(input, dtype), min)
    return result if out is None else _maybe_out(result, out)


def clamp_max(input, max, *, out=None):
    """``min(input, max)`` elementwise (``max`` a Number or a tensor)."""
    _checked(input, "clamp_max")
    max = _scalar_bound(max)
    if max is None:
        raise RuntimeError(_CLAMP_NONE_MSG)
    if isinstance(max, Tensor):
        dtype = _bound_dtype(input, (max,))
        result = ClampMaxTensor.apply(cast(input, dtype), cast(max, dtype))
    else:
        dtype = _bound_dtype(input, (max,))
        result = ClampMax.apply(cast(input, dtype), max)
    return result if out is None else _maybe_out(result, out)


# Binary and ternary functions -----------------------------------------------------------------

def _float_pair(input, other, name):
    """Two tensors promoted together; PyTorch has these only for floating dtypes."""
    _checked(input, name)
    if not isinstance(other, Tensor):
        raise _type_error(name, other, 2, "other")
    input, other, dtype = promote_operands(input, other)
    if dtype.category < _dt.FLOATING:
        raise _not_implemented(name, input)
    return input, other


def logaddexp(input, other, *, out=None):
    """``log(exp(input) + exp(other))`` without overflow."""
    result = Logaddexp.apply(*_float_pair(input, other, "logaddexp"))
    return result if out is None else _maybe_out(result, out)


def logaddexp2(input, other, *, out=None):
    """``log2(2**input + 2**other)`` without overflow."""
    result = Logaddexp2.apply(*_float_pair(input, other, "logaddexp2"))
    return result if out is None else _maybe_out(result, out)


def hypot(input, other, *, out=None):
    """``sqrt(input**2 + other**2)`` without overflow."""
    result = Hypot.apply(*_float_pair(input, other, "hypot"))
    return result if out is None else _maybe_out(result, out)


def xlogy(input, other, *, out=None):
    """``input * log(other)``, 0 where ``input`` is 0 (unless ``other`` is NaN). Either argument
    may be a Number.

    >>> import probe
    >>> probe.xlogy(probe.tensor([0.0, 2.0]), probe.tensor([0.0, 1.0]))
    tensor([0., 0.])
    """
    if not isinstance(input, Tensor):
        if not isinstance(other, Tensor):
            raise TypeError(
                "xlogy() received an invalid combination of arguments - got "
                f"({type(input).__name__}, {type(other).__name__})"
            )
        input = as_operand(input, other)
    other = as_operand(other, input)
    input, other, dtype = promote_operands(input, other)
    if dtype.category < _dt.FLOATING:
        target = _dt.get_default_dtype()
        input = cast(input, target) if isinstance(input, Tensor) else input
        other = cast(other, target) if isinstance(other, Tensor) else other
    if not isinstance(input, Tensor):
        result = XlogyScalarSelf.apply(other, float(input))
    elif not isinstance(other, Tensor):
        result = XlogyScalarOther.apply(input, float(other))
    else:
        result = Xlogy.apply(input, other)
    return result if out is None else _maybe_out(result, out)


def lerp(input, end, weight, *, out=None):
    """``input + weight * (end - input)`` (``weight`` a Number or a tensor).

    >>> import probe
    >>> probe.lerp(probe.tensor([0.0, 10.0]), probe.tensor([10.0, 20.0]), 0.25)
    tensor([ 2.5000, 12.5000])
    """
    _checked(input, "lerp")
    if not isinstance(end, Tensor):
        raise _type_error("lerp", end, 2, "end")
    if end._data.dtype != input._data.dtype:
        raise RuntimeError(
            f"expected dtype {input.dtype._short_name.lower()} for `end` but got dtype "
            f"{end.dtype._short_name.lower()}"
        )
    tensor_weight = isinstance(weight, Tensor)
    if input._data.dtype.kind not in _FLOAT_KINDS:
        kernel = "lerp_kernel_tensor" if tensor_weight else "lerp_kernel_scalar"
        raise NotImplementedError(f'"{kernel}" not implemented for \'{input.dtype._short_name}\'')
    if tensor_weight:
        if weight._data.dtype != input._data.dtype:
            if weight._data.ndim:
                raise RuntimeError(
                    f"expected dtype {input.dtype._short_name.lower()} for `weight` but got "
                    f"dtype {weight.dtype._short_name.lower()}"
                )
            weight = cast(weight, input.dtype)
        result = LerpTensor.apply(input, end, weight)
    else:
        result = Lerp.apply(input, end, float(weight) if isinstance(weight, np.generic) else weight)
    return result if out is None else _maybe_out(result, out)


# ---------------------------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------------------------

_SAME_NAME = (
    exp, exp2, expm1, log, log2, log10, log1p, sqrt, rsqrt, reciprocal, sin, cos, tan, asin,
    acos, atan, sinh, cosh, tanh, asinh, acosh, atanh, arcsin, arccos, arctan, arcsinh, arccosh,
    arctanh, sigmoid, logit, relu, abs, absolute, neg, negative, positive, sign, sgn, signbit,
    floor, ceil, trunc, fix, round, frac, erf, erfc, erfinv, lgamma, digamma, polygamma,
    deg2rad, rad2deg, nan_to_num, clamp, clip, clamp_min, clamp_max, logaddexp, logaddexp2,
    hypot, xlogy, lerp, conj, conj_physical,
)
_NAMES = ("exp exp2 expm1 log log2 log10 log1p sqrt rsqrt reciprocal sin cos tan asin acos atan "
          "sinh cosh tanh asinh acosh atanh arcsin arccos arctan arcsinh arccosh arctanh sigmoid "
          "logit relu abs absolute neg negative positive sign sgn signbit floor ceil trunc fix "
          "round frac erf erfc erfinv lgamma digamma polygamma deg2rad rad2deg nan_to_num clamp "
          "clip clamp_min clamp_max logaddexp logaddexp2 hypot xlogy lerp conj "
          "conj_physical").split()

FUNCTIONS = dict(zip(_NAMES, _SAME_NAME, strict=True))

TENSOR_METHODS = dict(FUNCTIONS)
TENSOR_METHODS.update({
    "polygamma": _polygamma_method, "resolve_conj": _resolve, "resolve_neg": _resolve,
    "is_conj": _is_false, "is_neg": _is_false,
    "__neg__": neg, "__pos__": positive, "__abs__": abs,
})


def _as_tensor(x):
    if isinstance(x, Tensor):
        return x
    from .creation import as_tensor  # noqa: PLC0415

    return as_tensor(x)


def _ns(fn):
    def ns_fn(x, *args, **kwargs):
        return fn(_as_tensor(x), *args, **kwargs)

    ns_fn.__name__ = fn.__name__
    return ns_fn


def _ns_pair(fn):
    def ns_fn(x1, x2):
        if not isinstance(x1, Tensor):
            x1 = _as_tensor(x1) if not isinstance(x2, Tensor) else as_operand(x1, x2)
        if not isinstance(x2, Tensor):
            x2 = as_operand(x2, x1)
            if not isinstance(x2, Tensor):
                from .creation import full  # noqa: PLC0415

                x2 = full((), x2, dtype=x1.dtype, device=x1._device)
        return fn(x1, x2)

    ns_fn.__name__ = fn.__name__
    return ns_fn


def _np_round(a, decimals=0):
    return round(_as_tensor(a), decimals=decimals)


def _np_clip(a, a_min=None, a_max=None, **kwargs):
    a_min = kwargs.pop("min", a_min)
    a_max = kwargs.pop("max", a_max)
    return clamp(_as_tensor(a), a_min, a_max)


def _np_nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    return nan_to_num(_as_tensor(x), nan, posinf, neginf)


def _np_polygamma(n, x):
    return polygamma(n, _as_tensor(x))


def _np_square(x):
    from .arith import square  # noqa: PLC0415

    return square(_as_tensor(x))


def _np_xlogy(x, y):
    return xlogy(x, y)


NUMPY_NAMESPACE = {name: _ns(fn) for name, fn in {
    "exp": exp, "exp2": exp2, "expm1": expm1, "log": log, "log2": log2, "log10": log10,
    "log1p": log1p, "sqrt": sqrt, "reciprocal": reciprocal, "sin": sin, "cos": cos, "tan": tan,
    "arcsin": asin, "arccos": acos, "arctan": atan, "sinh": sinh, "cosh": cosh, "tanh": tanh,
    "arcsinh": asinh, "arccosh": acosh, "arctanh": atanh, "abs": abs, "absolute": abs,
    "fabs": abs, "sign": sign, "signbit": signbit, "floor": floor, "ceil": ceil, "trunc": trunc,
    "fix": trunc, "rint": round, "negative": neg, "positive": positive,
    "deg2rad": deg2rad, "rad2deg": rad2deg, "radians": deg2rad, "degrees": rad2deg,
    "erf": erf, "erfc": erfc, "erfinv": erfinv, "lgamma": lgamma, "gammaln": lgamma,
    "digamma": digamma, "psi": digamma, "expit": sigmoid, "sigmoid": sigmoid, "logit": logit,
    "conj": conj, "conjugate": conj,
}.items()}
NUMPY_NAMESPACE.update({
    "logaddexp": _ns_pair(logaddexp), "logaddexp2": _ns_pair(logaddexp2),
    "hypot": _ns_pair(hypot), "xlogy": _np_xlogy, "round": _np_round, "around": _np_round,
    "clip": _np_clip, "nan_to_num": _np_nan_to_num, "polygamma": _np_polygamma,
    "square": _np_square,
})
