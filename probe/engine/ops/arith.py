"""Binary arithmetic: add, sub, mul, div, pow, maximum, minimum, remainder, atan2.

Each op's backward uses only ``ctx.xp`` functions and operators, so the same code runs on arrays
(an ordinary backward) and on Tensors (``create_graph=True``). Broadcasting is undone by the
engine, which sums each gradient back to its input's shape.
"""

from __future__ import annotations

from .. import dtypes as _dt
from ._common import Op, Tensor, as_operand, promote_operands
from .inplace import maybe_out as _maybe_out

_FLOAT_KINDS = "fc"


class Add(Op):
    node_name = "AddBackward0"
    scalar_edges = 2

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


class AddScaled(Op):
    node_name = "AddBackward0"
    scalar_edges = 2

    @staticmethod
    def forward(ctx, a, b, alpha):
        ctx.alpha = alpha
        return a + b * alpha

    @staticmethod
    def backward(ctx, g):
        return g, g * ctx.alpha


class Sub(Op):
    node_name = "SubBackward0"
    scalar_edges = 2

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, -g


class SubScaled(Op):
    node_name = "SubBackward0"
    scalar_edges = 2

    @staticmethod
    def forward(ctx, a, b, alpha):
        ctx.alpha = alpha
        return a - b * alpha

    @staticmethod
    def backward(ctx, g):
        return g, g * -ctx.alpha


class RSub(Op):
    """``scalar - tensor`` (PyTorch's ``RsubBackward1``)."""

    node_name = "RsubBackward1"

    @staticmethod
    def forward(ctx, a, scalar):
        return scalar - a

    @staticmethod
    def backward(ctx, g):
        return (-g,)


class Mul(Op):
    node_name = "MulBackward0"
    scalar_edges = 2

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        need = ctx.needs_input_grad
        return (g * b if need[0] else None), (g * a if need[1] else None)


class Div(Op):
    node_name = "DivBackward0"
    scalar_edges = 2

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        need = ctx.needs_input_grad
        ga = g / b if need[0] else None
        gb = -g * a / (b * b) if need[1] else None
        return ga, gb


class Pow(Op):
    """``tensor ** scalar``."""

    node_name = "PowBackward0"

    @staticmethod
    def forward(ctx, a, exponent):
        ctx.save_for_backward(a)
        ctx.exponent = exponent
        return _pow_scalar(ctx.xp, a, exponent)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved
        e = ctx.exponent
        if e == 0:
            return (g * 0,)
        if e == 2:
            return (g * 2 * a,)
        return (g * e * _pow_scalar(ctx.xp, a, e - 1),)


def _pow_scalar(xp, a, e):
    # Small integer powers as products: ``x**3`` on float32 was measured 40x slower in NumPy.
    if e == 1:
        return a * 1
    if e == 2:
        return a * a
    if e == 3:
        return a * a * a
    if e == 0.5:
        return xp.sqrt(a)
    if e == -1:
        return 1 / a
    return a**e


class PowTensor(Op):
    """``tensor ** tensor``."""

    node_name = "PowBackward1"

    @staticmethod
    def forward(ctx, a, b):
        out = a**b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved
        xp = ctx.xp
        need = ctx.needs_input_grad
        ga = g * b * a ** (b - 1) if need[0] else None
        gb = None
        if need[1]:
            # d/db a**b = a**b * log(a); PyTorch defines it as 0 where a == 0 and b >= 0.
            safe_log = xp.log(xp.where(a == 0, 1, a))
            gb = g * out * safe_log
        return ga, gb


class RPow(Op):
    """``scalar ** tensor``."""

    node_name = "PowBackward2"

    @staticmethod
    def forward(ctx, b, base):
        out = base**b
        ctx.save_for_backward(out)
        ctx.log_base = _log_scalar(base)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved
        return (g * out * ctx.log_base,)


def _log_scalar(x):
    import math  # noqa: PLC0415

    if x == 0:
        return 0.0
    return math.log(x) if x > 0 else float("nan")


class Maximum(Op):
    node_name = "MaximumBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.maximum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        xp = ctx.xp
        # Ties split the gradient evenly, as PyTorch does.
        ga = xp.where(a > b, g, xp.where(a == b, g * 0.5, 0.0))
        return ga, g - ga


class Minimum(Op):
    node_name = "MinimumBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.minimum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        xp = ctx.xp
        # Ties split the gradient evenly, as PyTorch does.
        ga = xp.where(a < b, g, xp.where(a == b, g * 0.5, 0.0))
        return ga, g - ga


class Remainder(Op):
    """Python-style modulus (sign of the divisor), ``torch.remainder``."""

    node_name = "RemainderBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.mod(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        need = ctx.needs_input_grad
        gb = -g * ctx.xp.floor(a / b) if len(need) > 1 and need[1] else None
        return g, gb


class Fmod(Op):
    """C-style modulus (sign of the dividend), ``torch.fmod``."""

    node_name = "FmodBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.fmod(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        need = ctx.needs_input_grad
        gb = -g * ctx.xp.trunc(a / b) if len(need) > 1 and need[1] else None
        return g, gb


class Atan2(Op):
    node_name = "Atan2Backward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.arctan2(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        denom = a * a + b * b
        return g * b / denom, -g * a / denom


# ---------------------------------------------------------------------------------------------
# Public functions (also bound as Tensor methods and operators)
# ---------------------------------------------------------------------------------------------

def _float_operands(a, b):
    """Promote, then move integer/bool results to the default float dtype (true division)."""
    a, b, dtype = promote_operands(a, b)
    if dtype.category < _dt.FLOATING:
        from ._common import cast  # noqa: PLC0415

        target = _dt.get_default_dtype()
        a = cast(a, target) if isinstance(a, Tensor) else a
        b = cast(b, target) if isinstance(b, Tensor) else b
    return a, b


def _prep(input, other):
    """Operands for a binary op where ``input`` may be a scalar and ``other`` a tensor."""
    # The common cases first: two tensors of one dtype, or a float tensor and a Python number.
    if isinstance(input, Tensor):
        if isinstance(other, Tensor):
            if input._data.dtype is other._data.dtype:
                return input, other
        elif (other.__class__ is float or other.__class__ is int) and \
                input._data.dtype.kind in _FLOAT_KINDS:
            return input, other
    if not isinstance(input, Tensor):
        input = as_operand(input, other)
    other = as_operand(other, input)
    if input.__class__ is Tensor and other.__class__ is Tensor:
        if input._data.dtype is not other._data.dtype:
            input, other, _ = promote_operands(input, other)
    elif input._data.dtype.kind not in _FLOAT_KINDS or not isinstance(other, int | float):
        input, other, _ = promote_operands(input, other)
    return input, other


def add(input, other, *, alpha=1, out=None):
    """``input + alpha * other`` with broadcasting and PyTorch's type promotion."""
    input, other = _prep(input, other)
    if not isinstance(input, Tensor):
        input, other = other, input
    if alpha != 1:
        if isinstance(other, Tensor):
            return _maybe_out(AddScaled.apply(input, other, alpha), out)
        other = other * alpha
    return _maybe_out(Add.apply(input, other), out)


def sub(input, other, *, alpha=1, out=None):
    """``input - alpha * other``."""
    if not isinstance(input, Tensor):
        return _maybe_out(rsub(other, input, alpha=alpha), out)
    input, other = _prep(input, other)
    if input.dtype is _dt.bool:
        raise RuntimeError(
            "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
            "`logical_xor()` operator instead."
        )
    if alpha != 1:
        if isinstance(other, Tensor):
            return _maybe_out(SubScaled.apply(input, other, alpha), out)
        other = other * alpha
    return _maybe_out(Sub.apply(input, other), out)


subtract = sub


def rsub(input, other, *, alpha=1):
    """``other - alpha * input``."""
    if isinstance(other, Tensor):
        return sub(other, input, alpha=alpha)
    input, other = _prep(input, other)
    if alpha != 1:
        return RSub.apply(input * alpha, other)
    return RSub.apply(input, other)


def mul(input, other, *, out=None):
    """Elementwise product with broadcasting."""
    input, other = _prep(input, other)
    if not isinstance(input, Tensor):
        input, other = other, input
    return _maybe_out(Mul.apply(input, other), out)


multiply = mul


def div(input, other, *, rounding_mode=None, out=None):
    """True division (integers give floats); ``rounding_mode`` "trunc" or "floor" rounds."""
    if rounding_mode is not None:
        return _maybe_out(_rounded_div(input, other, rounding_mode), out)
    if not isinstance(input, Tensor):
        input = as_operand(input, other)
    other = as_operand(other, input)
    input, other = _float_operands(input, other)
    if not isinstance(input, Tensor):
        from .unary import reciprocal  # noqa: PLC0415

        return _maybe_out(mul(reciprocal(other), input), out)
    return _maybe_out(Div.apply(input, other), out)


divide = div
true_divide = div


def _rounded_div(input, other, rounding_mode):
    from .unary import floor, trunc  # noqa: PLC0415

    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(
            "div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
            f"'{rounding_mode}'"
        )
    if not isinstance(input, Tensor):
        input = as_operand(input, other)
    input, other = _prep(input, other)
    if not isinstance(input, Tensor):
        input, other = other, input
    if input.dtype.category < _dt.FLOATING and (
        not isinstance(other, Tensor) or other.dtype.category < _dt.FLOATING
    ) and not isinstance(other, float):
        from .compare import _nondiff  # noqa: PLC0415

        xp_op = "floor_divide" if rounding_mode == "floor" else "trunc_divide"
        return _nondiff(xp_op, input, other)
    q = Div.apply(input, other)
    return floor(q) if rounding_mode == "floor" else trunc(q)


def floor_divide(input, other, *, out=None):
    return div(input, other, rounding_mode="floor", out=out)


def pow(input, exponent, *, out=None):
    """``input ** exponent``; either may be a scalar."""
    if not isinstance(input, Tensor):
        exponent = as_operand(exponent, None) if not isinstance(exponent, Tensor) else exponent
        base = input
        if isinstance(base, bool | int) and exponent.dtype.category >= _dt.FLOATING:
            base = float(base)
        if exponent.dtype.category < _dt.FLOATING and isinstance(base, float):
            from ._common import cast  # noqa: PLC0415

            exponent = cast(exponent, _dt.get_default_dtype())
        return _maybe_out(RPow.apply(exponent, base), out)
    exponent = as_operand(exponent, input)
    if isinstance(exponent, Tensor):
        input, exponent, _ = promote_operands(input, exponent)
        return _maybe_out(PowTensor.apply(input, exponent), out)
    if input.dtype.category < _dt.FLOATING and isinstance(exponent, float):
        input, exponent, _ = promote_operands(input, exponent)
    if input.dtype.category < _dt.FLOATING and isinstance(exponent, int) and exponent < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return _maybe_out(Pow.apply(input, exponent), out)


def float_power(input, exponent):
    from ._common import cast  # noqa: PLC0415

    if isinstance(input, Tensor):
        input = cast(input, _dt.float64)
    if isinstance(exponent, Tensor):
        exponent = cast(exponent, _dt.float64)
    return pow(input, exponent)


def square(input):
    return pow(input, 2)


def _tensor_pair(input, other):
    if not isinstance(input, Tensor):
        input = as_operand(input, other)
    other = as_operand(other, input)
    if not isinstance(other, Tensor):
        from .creation import full  # noqa: PLC0415

        other = full((), other, dtype=input.dtype if isinstance(other, float) and
                     input.dtype.category >= _dt.FLOATING else None, device=input.device)
    input, other, _ = promote_operands(input, other)
    return input, other


def maximum(input, other, *, out=None):
    return _maybe_out(Maximum.apply(*_tensor_pair(input, other)), out)


def minimum(input, other, *, out=None):
    return _maybe_out(Minimum.apply(*_tensor_pair(input, other)), out)


fmax = maximum
fmin = minimum


def remainder(input, other, *, out=None):
    input, other = _prep(input, other) if isinstance(input, Tensor) else _tensor_pair(input, other)
    return _maybe_out(Remainder.apply(input, other), out)


def fmod(input, other, *, out=None):
    input, other = _prep(input, other)
    return _maybe_out(Fmod.apply(input, other), out)


def atan2(input, other, *, out=None):
    input, other = _tensor_pair(input, other)
    input, other = _float_operands(input, other)
    return _maybe_out(Atan2.apply(input, other), out)


arctan2 = atan2


# Operator support ---------------------------------------------------------------------------

def _radd(self, other):
    return add(self, other)


def _rmul(self, other):
    return mul(self, other)


def _rsub(self, other):
    return rsub(self, other)


def _rtruediv(self, other):
    return div(other, self)


def _rfloordiv(self, other):
    return floor_divide(other, self)


def _rpow(self, other):
    return pow(other, self)


def _rmod(self, other):
    return remainder(other, self)


TENSOR_METHODS = {
    "add": add, "sub": sub, "subtract": sub, "mul": mul, "multiply": mul, "div": div,
    "divide": div, "true_divide": div, "floor_divide": floor_divide, "pow": pow,
    "float_power": float_power, "square": square, "maximum": maximum, "minimum": minimum,
    "fmax": fmax, "fmin": fmin, "remainder": remainder, "fmod": fmod, "atan2": atan2,
    "arctan2": atan2, "rsub": rsub,
    "__add__": add, "__radd__": _radd, "__sub__": sub, "__rsub__": _rsub, "__mul__": mul,
    "__rmul__": _rmul, "__truediv__": div, "__rtruediv__": _rtruediv, "__div__": div,
    "__floordiv__": floor_divide, "__rfloordiv__": _rfloordiv, "__pow__": pow,
    "__rpow__": _rpow, "__mod__": remainder, "__rmod__": _rmod,
}

FUNCTIONS = {
    "add": add, "sub": sub, "subtract": sub, "rsub": rsub, "mul": mul, "multiply": mul,
    "div": div, "divide": div, "true_divide": div, "floor_divide": floor_divide, "pow": pow,
    "float_power": float_power, "square": square, "maximum": maximum, "minimum": minimum,
    "fmax": fmax, "fmin": fmin, "remainder": remainder, "fmod": fmod, "atan2": atan2,
    "arctan2": atan2,
}
