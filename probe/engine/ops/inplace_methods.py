"""In-place Tensor methods: ``add_``, ``mul_``, ``addcmul_``, ``clamp_``, ``zero_``, ``fill_``,
``copy_``, the in-place unary functions (``exp_``, ``relu_``...) and the ``+=`` operators.

Two paths. When autograd has to record the op (grad mode on and ``self``, its base or an operand
requires grad), ``inplace.apply_inplace`` runs the out-of-place op and rebases ``self`` onto the
result, so the grad_fn is the out-of-place op's (``(x * 1).add_(1).grad_fn`` is
``AddBackward0``). Otherwise the hot ops (the ones optimizers call every step) write straight
into the buffer with a ufunc ``out=``: after PyTorch's checks (inference tensors, dtype casting,
broadcasting), no temporaries beyond what NumPy needs, and a version bump.

Out-of-place functions that live in other op modules are looked up by name when first used.
"""

from __future__ import annotations

from .. import dtypes as _dt
from ..autograd import Op, _device_mismatch_msg
from ..grad_mode import STATE
from ..tensor import Tensor
from .inplace import _check_broadcast_to, apply_inplace, check_inplace
from .inplace import maybe_out as _maybe_out

_FLOAT_KINDS = "fc"
_CATEGORY = {"b": _dt.BOOL, "u": _dt.INTEGER, "i": _dt.INTEGER, "f": _dt.FLOATING,
             "c": _dt.COMPLEX}
_PY_CATEGORY = {bool: _dt.BOOL, int: _dt.INTEGER, float: _dt.FLOATING, complex: _dt.COMPLEX}

_fn_cache: dict = {}


def _fn(name):
    """The probe function ``name`` from whichever op module defines it (looked up lazily)."""
    fn = _fn_cache.get(name)
    if fn is None:
        from . import OP_MODULES  # noqa: PLC0415

        for module in OP_MODULES:
            if module.__name__.endswith("inplace_methods"):
                continue
            candidate = getattr(module, "FUNCTIONS", {}).get(name)
            if candidate is None:
                candidate = getattr(module, "TENSOR_METHODS", {}).get(name)
            if candidate is not None:
                fn = candidate
        if fn is None:
            raise NotImplementedError(f"probe.{name} is not available")
        _fn_cache[name] = fn
    return fn


def _records(self, others=()):
    """Whether autograd must record an in-place op on ``self`` with ``others``."""
    if not STATE.enabled:
        return False
    if self._requires_grad:
        return True
    base = self._base
    if base is not None and base._requires_grad:
        return True
    for o in others:
        if isinstance(o, Tensor) and o._requires_grad:
            return True
    return False


def _cast_error(result_dtype, self):
    return RuntimeError(
        f"result type {result_dtype._short_name} can't be cast to the desired output type "
        f"{self.dtype._short_name}"
    )


def _device_error(a, b):
    return RuntimeError(_device_mismatch_msg(a, b))


def _operand(self, other):
    """``other`` as an array (or Python scalar) ready for a ufunc writing into ``self``; raises
    PyTorch's error when the promoted result can't be stored in ``self``'s dtype."""
    kind = self._data.dtype.kind
    cls = other.__class__
    if cls is float or cls is int:
        if kind in _FLOAT_KINDS or (cls is int and kind in "iu"):
            return other
        cat = _PY_CATEGORY[cls]
        if cat > _CATEGORY[kind]:
            raise _cast_error(_dt.get_default_dtype() if cls is float else _dt.int64, self)
        return other
    if isinstance(other, Tensor):
        data = other._data
        if other._device is not self._device:
            if data.ndim != 0 or other._device.type != "cpu":
                raise _device_error(self._device, other._device)
            return _operand(self, data.item())
        if data.dtype is self._data.dtype:
            return data
        ocat = _CATEGORY[data.dtype.kind]
        scat = _CATEGORY[kind]
        if ocat > scat:
            if data.ndim == 0:
                # A 0-d tensor of a higher category promotes to that category's default dtype.
                raise _cast_error(_dt.result_type_of([(self.dtype, 2), (other.dtype, 1)]), self)
            raise _cast_error(other.dtype, self)
        if ocat == scat and (data.ndim == 0 or scat != _dt.FLOATING):
            # A 0-d operand doesn't promote within its category, and NumPy won't store a wider
            # integer result into a narrower buffer: compute in self's dtype (same values).
            return data.astype(self._data.dtype)
        return data
    if isinstance(other, bool | complex):
        cat = _PY_CATEGORY[other.__class__]
        if cat > _CATEGORY[kind]:
            res = _dt.complex64 if other.__class__ is complex else _dt.bool
            raise _cast_error(res, self)
        return other
    from ._common import as_operand  # noqa: PLC0415

    converted = as_operand(other, self)
    if converted is other:
        raise TypeError(f"unsupported operand type: {type(other).__name__}")
    return _operand(self, converted)


def _ufunc_into(self, ufunc, operand):
    """``ufunc(self, operand, out=self)`` with PyTorch's broadcast error, then a version bump."""
    data = self._data
    try:
        ufunc(data, operand, out=data)
    except ValueError:
        _raise_broadcast(data.shape, getattr(operand, "shape", ()))
        raise
    self._vc[0] += 1
    return self


def _raise_broadcast(dst, src):
    n = max(len(dst), len(src))
    a = (1,) * (n - len(dst)) + tuple(dst)
    b = (1,) * (n - len(src)) + tuple(src)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x != y and x != 1 and y != 1:
            raise RuntimeError(
                f"The size of tensor a ({x}) must match the size of tensor b ({y}) at "
                f"non-singleton dimension {i}"
            )
    _check_broadcast_to(src, dst)


# ---------------------------------------------------------------------------------------------
# Binary arithmetic
# ---------------------------------------------------------------------------------------------

def add_(self, other, *, alpha=1):
    """In-place ``self += alpha * other``; returns ``self``.

    >>> import probe
    >>> probe.zeros(2).add_(probe.ones(2), alpha=3)
    tensor([3., 3.])
    """
    if _records(self, (other,)):
        if alpha == 1:
            return apply_inplace(self, _fn("add"), other)
        return apply_inplace(self, lambda s, o: _fn("add")(s, o, alpha=alpha), other)
    check_inplace(self, False)
    xp = self._device.xp
    if self._data.dtype.kind == "b" and isinstance(other, Tensor) and alpha != 1:
        raise RuntimeError("Boolean alpha only supported for Boolean results.")
    operand = _operand(self, other)
    if alpha != 1:
        _operand(self, alpha)
        operand = operand * alpha
    return _ufunc_into(self, xp.logical_or if self._data.dtype.kind == "b" else xp.add, operand)


def sub_(self, other, *, alpha=1):
    """In-place ``self -= alpha * other``; returns ``self``."""
    self_bool = self._data.dtype.kind == "b"
    other_bool = other.__class__ is bool or (isinstance(other, Tensor)
                                             and other._data.dtype.kind == "b")
    if self_bool or other_bool:
        if self_bool and other_bool:
            raise RuntimeError(
                "Subtraction, the `-` operator, with two bool tensors is not supported. Use the "
                "`^` or `logical_xor()` operator instead."
            )
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
            "trying to invert a mask, use the `~` or `logical_not()` operator instead."
        )
    if _records(self, (other,)):
        if alpha == 1:
            return apply_inplace(self, _fn("sub"), other)
        return apply_inplace(self, lambda s, o: _fn("sub")(s, o, alpha=alpha), other)
    check_inplace(self, False)
    operand = _operand(self, other)
    if alpha != 1:
        _operand(self, alpha)
        operand = operand * alpha
    return _ufunc_into(self, self._device.xp.subtract, operand)


def mul_(self, other):
    """In-place ``self *= other``; returns ``self``."""
    if _records(self, (other,)):
        return apply_inplace(self, _fn("mul"), other)
    check_inplace(self, False)
    xp = self._device.xp
    operand = _operand(self, other)
    return _ufunc_into(self, xp.logical_and if self._data.dtype.kind == "b" else xp.multiply,
                       operand)


def div_(self, other, *, rounding_mode=None):
    """In-place division (true division unless ``rounding_mode`` is "trunc" or "floor")."""
    if rounding_mode is not None or _records(self, (other,)):
        if rounding_mode is None:
            return apply_inplace(self, _fn("div"), other)
        return apply_inplace(
            self, lambda s, o: _fn("div")(s, o, rounding_mode=rounding_mode), other)
    check_inplace(self, False)
    if self._data.dtype.kind not in _FLOAT_KINDS:
        raise _cast_error(_dt.get_default_dtype(), self)
    return _ufunc_into(self, self._device.xp.divide, _operand(self, other))


def pow_(self, exponent):
    """In-place ``self **= exponent``."""
    return apply_inplace(self, _fn("pow"), exponent)


def _make_general(method, fn_name):
    def inplace_op(self, *args, **kwargs):
        if kwargs:
            return apply_inplace(self, lambda s, *o: _fn(fn_name)(s, *o, **kwargs), *args)
        return apply_inplace(self, _fn(fn_name), *args)

    inplace_op.__name__ = inplace_op.__qualname__ = method
    inplace_op.__doc__ = f"In-place ``{fn_name}``; returns ``self``."
    return inplace_op


# In-place versions of ops written elsewhere, through the general (autograd-aware) path.
_GENERAL = {name + "_": _make_general(name + "_", name) for name in (
    "atan2", "bitwise_and", "bitwise_or", "bitwise_xor", "logical_and", "logical_or",
    "logical_xor", "logical_not", "bitwise_not", "nan_to_num", "hypot", "copysign",
    "float_power", "xlogy", "sinc", "deg2rad", "rad2deg", "erfinv", "logit", "tril", "triu",
    "cumsum", "cumprod", "digamma", "lgamma", "i0", "heaviside", "gcd", "lcm", "sgn",
)}


def floor_divide_(self, other):
    return div_(self, other, rounding_mode="floor")


def remainder_(self, other):
    return apply_inplace(self, _fn("remainder"), other)


def fmod_(self, other):
    return apply_inplace(self, _fn("fmod"), other)


# ---------------------------------------------------------------------------------------------
# Optimizer helpers: addcmul_, addcdiv_, lerp_, clamp_
# ---------------------------------------------------------------------------------------------

class Addcmul(Op):
    node_name = "AddcmulBackward0"

    @staticmethod
    def forward(ctx, a, t1, t2, value):
        if ctx.recording:
            need = ctx.needs_input_grad
            ctx.save_for_backward(t2 if need[1] else None, t1 if need[2] else None)
            ctx.value = value
        prod = t1 * t2
        if value != 1:
            prod *= value
        return a + prod

    @staticmethod
    def backward(ctx, g):
        t2, t1 = ctx.saved
        need = ctx.needs_input_grad
        gv = g if ctx.value == 1 else g * ctx.value
        return (g if need[0] else None, gv * t2 if need[1] else None,
                gv * t1 if need[2] else None)


class Addcdiv(Op):
    node_name = "AddcdivBackward0"

    @staticmethod
    def forward(ctx, a, t1, t2, value):
        if ctx.recording:
            ctx.save_for_backward(t1, t2)
            ctx.value = value
        q = t1 / t2
        if value != 1:
            q *= value
        return a + q

    @staticmethod
    def backward(ctx, g):
        t1, t2 = ctx.saved
        need = ctx.needs_input_grad
        gv = g if ctx.value == 1 else g * ctx.value
        g1 = gv / t2 if need[1] else None
        g2 = -gv * t1 / (t2 * t2) if need[2] else None
        return (g if need[0] else None, g1, g2)


class Zero(Op):
    node_name = "ZeroBackward0"

    @staticmethod
    def forward(ctx, a):
        return ctx.xp.zeros_like(a)

    @staticmethod
    def backward(ctx, g):
        return (g * 0,)


class FillScalar(Op):
    node_name = "FillBackward2"

    @staticmethod
    def forward(ctx, a, value):
        return ctx.xp.full(a.shape, value, dtype=a.dtype)

    @staticmethod
    def backward(ctx, g):
        return (g * 0,)


class FillTensor(Op):
    node_name = "FillBackward3"

    @staticmethod
    def forward(ctx, a, value):
        return ctx.xp.full(a.shape, value, dtype=a.dtype)

    @staticmethod
    def backward(ctx, g):
        return g * 0, ctx.xp.sum(g)


class Copy(Op):
    """``self.copy_(src)``: the new value is ``src`` broadcast to ``self``'s shape."""

    node_name = "CopyBackwards"

    @staticmethod
    def forward(ctx, a, src):
        out = ctx.xp.empty_like(a)
        out[...] = src
        return out

    @staticmethod
    def backward(ctx, g):
        return g * 0, g


def _promote3(a, b, c):
    from ._common import promote_operands  # noqa: PLC0415

    b, c, _ = promote_operands(b, c)
    a, b, _ = promote_operands(a, b)
    a, c, _ = promote_operands(a, c)
    return a, b, c


def addcmul(input, tensor1, tensor2, *, value=1, out=None):
    """``input + value * tensor1 * tensor2``."""
    a, t1, t2 = _promote3(input, tensor1, tensor2)
    return _maybe_out(Addcmul.apply(a, t1, t2, value), out)


def addcdiv(input, tensor1, tensor2, *, value=1, out=None):
    """``input + value * tensor1 / tensor2``."""
    if tensor1._data.dtype.kind in "biu" and tensor2._data.dtype.kind in "biu":
        raise RuntimeError(_ADDCDIV_INT_MSG)
    a, t1, t2 = _promote3(input, tensor1, tensor2)
    return _maybe_out(Addcdiv.apply(a, t1, t2, value), out)


_ADDCDIV_INT_MSG = (
    "Integer division with addcdiv is no longer supported, and in a future  release addcdiv will "
    "perform a true division of tensor1 and tensor2. The historic addcdiv behavior can be "
    "implemented as (input + value * torch.trunc(tensor1 / tensor2)).to(input.dtype) for integer "
    "inputs and as (input + value * tensor1 / tensor2) for float inputs. The future addcdiv "
    "behavior is just the latter implementation: (input + value * tensor1 / tensor2), for all "
    "dtypes."
)


def _lerp_checks(input, end, weight):
    if input._data.dtype.kind not in _FLOAT_KINDS:
        raise NotImplementedError(
            f"\"lerp_kernel_scalar\" not implemented for '{input.dtype._short_name}'"
        )
    if end._data.dtype != input._data.dtype:
        raise RuntimeError(
            f"expected dtype {input.dtype.name.replace('float32', 'float')} for `end` but got "
            f"dtype {end.dtype.name.replace('float64', 'double')}"
        )
    if isinstance(weight, Tensor) and weight._data.dtype != input._data.dtype:
        raise RuntimeError(
            f"expected dtype {input.dtype.name.replace('float32', 'float')} for `weight` but got "
            f"dtype {weight.dtype.name.replace('float64', 'double')}"
        )


def addcmul_(self, tensor1, tensor2, *, value=1):
    """In-place ``self += value * tensor1 * tensor2`` (Adam's second moment update)."""
    if _records(self, (tensor1, tensor2)):
        return apply_inplace(self, lambda s, a, b: addcmul(s, a, b, value=value),
                             tensor1, tensor2)
    check_inplace(self, False)
    xp = self._device.xp
    t1 = _operand(self, tensor1)
    t2 = _operand(self, tensor2)
    prod = xp.multiply(t1, t2)
    if value != 1:
        _operand(self, value)
        prod *= value
    return _ufunc_into(self, xp.add, prod)


def addcdiv_(self, tensor1, tensor2, *, value=1):
    """In-place ``self += value * tensor1 / tensor2`` (Adam's parameter update)."""
    if tensor1._data.dtype.kind in "biu" and tensor2._data.dtype.kind in "biu":
        raise RuntimeError(_ADDCDIV_INT_MSG)
    if _records(self, (tensor1, tensor2)):
        return apply_inplace(self, lambda s, a, b: addcdiv(s, a, b, value=value),
                             tensor1, tensor2)
    check_inplace(self, False)
    xp = self._device.xp
    t1 = _operand(self, tensor1)
    t2 = _operand(self, tensor2)
    q = xp.divide(t1, t2)
    if value != 1:
        _operand(self, value)
        q *= value
    return _ufunc_into(self, xp.add, q)


def lerp_(self, end, weight):
    """In-place ``self += weight * (end - self)`` (EMA updates)."""
    _lerp_checks(self, end, weight)
    if _records(self, (end, weight)):
        return apply_inplace(self, _fn("lerp"), end, weight)
    check_inplace(self, False)
    xp = self._device.xp
    e = _operand(self, end)
    w = _operand(self, weight) if isinstance(weight, Tensor) else weight
    diff = xp.subtract(e, self._data)
    diff *= w
    return _ufunc_into(self, xp.add, diff)


def _clamp_bounds(self, min, max):
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    kind = self._data.dtype.kind
    for bound in (min, max):
        if bound is None:
            continue
        if isinstance(bound, Tensor):
            bk = bound._data.dtype.kind
            if _CATEGORY[bk] > _CATEGORY[kind]:
                raise _cast_error(bound.dtype, self)
        elif isinstance(bound, float) and kind not in _FLOAT_KINDS:
            raise RuntimeError(
                "result type Float can't be cast to the desired output type "
                f"{_CPP_NAMES.get(self.dtype.name, self.dtype.name)}"
            )


_CPP_NAMES = {"int64": "long int", "int32": "int", "int16": "short int", "int8": "signed char",
              "uint8": "unsigned char", "bool": "bool"}


def clamp_(self, min=None, max=None):
    """In-place clamp to ``[min, max]`` (either may be None or a tensor)."""
    _clamp_bounds(self, min, max)
    if _records(self, (min, max)):
        return apply_inplace(self, lambda s, lo, hi: _fn("clamp")(s, lo, hi), min, max)
    check_inplace(self, False)
    xp = self._device.xp
    data = self._data
    lo = _operand(self, min) if min is not None else None
    hi = _operand(self, max) if max is not None else None
    try:
        if lo is not None:
            xp.maximum(data, lo, out=data)
        if hi is not None:
            xp.minimum(data, hi, out=data)
    except ValueError:
        _raise_broadcast(data.shape, getattr(lo if lo is not None else hi, "shape", ()))
        raise
    self._vc[0] += 1
    return self


def clamp_min_(self, min):
    """In-place ``max(self, min)``."""
    _clamp_bounds(self, min, None)
    if _records(self, (min,)):
        return apply_inplace(self, _fn("clamp_min"), min)
    check_inplace(self, False)
    return _ufunc_into(self, self._device.xp.maximum, _operand(self, min))


def clamp_max_(self, max):
    """In-place ``min(self, max)``."""
    _clamp_bounds(self, None, max)
    if _records(self, (max,)):
        return apply_inplace(self, _fn("clamp_max"), max)
    check_inplace(self, False)
    return _ufunc_into(self, self._device.xp.minimum, _operand(self, max))


# ---------------------------------------------------------------------------------------------
# zero_, fill_, copy_
# ---------------------------------------------------------------------------------------------

def zero_(self):
    """Fill with zeros in place; returns ``self``."""
    if _records(self):
        return apply_inplace(self, Zero.apply)
    check_inplace(self, False)
    self._data.fill(0)
    self._vc[0] += 1
    return self


def fill_(self, value):
    """Fill with ``value`` (a number or a 0-d tensor) in place; returns ``self``."""
    if isinstance(value, Tensor):
        if value._data.ndim != 0:
            raise RuntimeError(
                "fill_ only supports 0-dimension value tensor but got tensor with "
                f"{value._data.ndim} dimensions."
            )
        if _records(self, (value,)):
            if value._device is not self._device:
                value = value.to(self._device)
            return apply_inplace(self, lambda s, v: FillTensor.apply(s, v), value)
        check_inplace(self, False)
        data = value._data
        if value._device is not self._device:
            data = data.item()
        self._data[...] = data
        self._vc[0] += 1
        return self
    if _records(self):
        return apply_inplace(self, lambda s: FillScalar.apply(s, value))
    check_inplace(self, False)
    self._data.fill(value)
    self._vc[0] += 1
    return self


def copy_(self, src, non_blocking=False):
    """Copy ``src`` into ``self`` (broadcasting ``src``, casting its dtype, across devices)."""
    if not isinstance(src, Tensor):
        raise TypeError(
            f"copy_(): argument 'other' (position 1) must be Tensor, not {type(src).__name__}"
        )
    data = src._data
    shape = self._data.shape
    if data.shape != shape:
        _raise_broadcast(shape, data.shape)
    recording = _records(self, (src,))
    if recording and self._data.dtype.kind in _FLOAT_KINDS:
        if src._device is not self._device:
            src = src.to(self._device)
        if src._data.dtype != self._data.dtype:
            src = src.to(self.dtype)
        return apply_inplace(self, Copy.apply, src)
    check_inplace(self, False)
    if src._device is not self._device:
        from ..backend import to_device_array  # noqa: PLC0415

        data = to_device_array(data, src._device, self._device)
    self._data[...] = data
    self._vc[0] += 1
    return self


# ---------------------------------------------------------------------------------------------
# In-place unary functions
# ---------------------------------------------------------------------------------------------

# name -> (out-of-place probe function, ufunc name for the fast path, integers allowed)
_UNARY = {
    "neg_": ("neg", "negative", True), "abs_": ("abs", "absolute", True),
    "exp_": ("exp", "exp", False), "log_": ("log", "log", False),
    "sqrt_": ("sqrt", "sqrt", False), "sin_": ("sin", "sin", False),
    "cos_": ("cos", "cos", False), "tanh_": ("tanh", "tanh", False),
    "floor_": ("floor", "floor", True), "ceil_": ("ceil", "ceil", True),
    "trunc_": ("trunc", "trunc", True), "sign_": ("sign", "sign", True),
    "reciprocal_": ("reciprocal", "reciprocal", False),
    "sigmoid_": ("sigmoid", None, False), "relu_": ("relu", None, True),
    "exp2_": ("exp2", "exp2", False), "expm1_": ("expm1", "expm1", False),
    "log2_": ("log2", "log2", False), "log10_": ("log10", "log10", False),
    "log1p_": ("log1p", "log1p", False), "rsqrt_": ("rsqrt", None, False),
    "tan_": ("tan", "tan", False), "asin_": ("asin", "arcsin", False),
    "acos_": ("acos", "arccos", False), "atan_": ("atan", "arctan", False),
    "sinh_": ("sinh", "sinh", False), "cosh_": ("cosh", "cosh", False),
    "square_": ("square", "square", True), "frac_": ("frac", None, False),
    "erf_": ("erf", None, False), "silu_": ("silu", None, False),
}


def _make_unary(method, fn_name, ufunc_name, ints_ok):
    def inplace_unary(self):
        if _records(self):
            return apply_inplace(self, _fn(fn_name))
        kind = self._data.dtype.kind
        if ufunc_name is None or kind not in _FLOAT_KINDS:
            if kind in "iub" and not ints_ok:
                raise _cast_error(_dt.get_default_dtype(), self)
            return apply_inplace(self, _fn(fn_name))
        check_inplace(self, False)
        data = self._data
        xp = self._device.xp
        # PyTorch is silent about nan/inf results (log of 0, sqrt of negatives).
        with _errstate(xp):
            getattr(xp, ufunc_name)(data, out=data)
        self._vc[0] += 1
        return self

    inplace_unary.__name__ = inplace_unary.__qualname__ = method
    inplace_unary.__doc__ = f"In-place ``{fn_name}``; returns ``self``."
    return inplace_unary


_UNARY_METHODS = {name: _make_unary(name, *spec) for name, spec in _UNARY.items()}


def relu_(self):
    """In-place ReLU (``probe.relu_``); returns ``self``."""
    if _records(self):
        return apply_inplace(self, _fn("relu"))
    check_inplace(self, False)
    data = self._data
    if data.dtype.kind == "b":
        return apply_inplace(self, _fn("relu"))
    self._device.xp.maximum(data, 0, out=data)
    self._vc[0] += 1
    return self


def round_(self, *, decimals=0):
    """In-place rounding (half to even), optionally to ``decimals`` places."""
    if decimals != 0:
        return apply_inplace(self, lambda s: _fn("round")(s, decimals=decimals))
    if _records(self) or self._data.dtype.kind not in _FLOAT_KINDS:
        return apply_inplace(self, _fn("round"))
    check_inplace(self, False)
    data = self._data
    self._device.xp.rint(data, out=data)
    self._vc[0] += 1
    return self


def sigmoid_(self):
    """In-place logistic sigmoid; returns ``self``."""
    if _records(self) or self._data.dtype.kind not in _FLOAT_KINDS:
        if self._data.dtype.kind not in _FLOAT_KINDS:
            raise _cast_error(_dt.get_default_dtype(), self)
        return apply_inplace(self, _fn("sigmoid"))
    check_inplace(self, False)
    xp = self._device.xp
    data = self._data
    # 1 / (1 + exp(-x)) computed in the buffer: overflow to inf gives the right limit 0.
    with _errstate(xp):
        xp.negative(data, out=data)
        xp.exp(data, out=data)
        data += 1
        xp.reciprocal(data, out=data)
    self._vc[0] += 1
    return self


class _errstate:
    def __init__(self, xp):
        self.xp = xp

    def __enter__(self):
        if hasattr(self.xp, "errstate"):
            self.ctx = self.xp.errstate(all="ignore")
            self.ctx.__enter__()
        else:
            self.ctx = None

    def __exit__(self, *exc):
        if self.ctx is not None:
            self.ctx.__exit__(*exc)


# ---------------------------------------------------------------------------------------------
# In-place shape methods (metadata changes)
# ---------------------------------------------------------------------------------------------

def _shape_inplace(self, result):
    check_inplace(self, _records(self))
    self._data = result._data
    if result._grad_fn is not None:
        self._grad_fn = result._grad_fn
        self._output_nr = result._output_nr
        self._requires_grad = True
    self._vc[0] += 1
    return self


def t_(self):
    """Transpose a matrix in place (its shape and strides change)."""
    return _shape_inplace(self, _fn("t")(self))


def transpose_(self, dim0, dim1):
    """Swap two dimensions in place."""
    return _shape_inplace(self, _fn("transpose")(self, dim0, dim1))


def squeeze_(self, dim=None):
    """Remove size-1 dimensions in place."""
    result = _fn("squeeze")(self) if dim is None else _fn("squeeze")(self, dim)
    return _shape_inplace(self, result)


def unsqueeze_(self, dim):
    """Insert a size-1 dimension in place."""
    return _shape_inplace(self, _fn("unsqueeze")(self, dim))


# ---------------------------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------------------------

def _iadd(self, other):
    return add_(self, other)


def _isub(self, other):
    return sub_(self, other)


def _imul(self, other):
    return mul_(self, other)


def _itruediv(self, other):
    return div_(self, other)


def _ifloordiv(self, other):
    return div_(self, other, rounding_mode="floor")


def _ipow(self, other):
    return pow_(self, other)


def _imod(self, other):
    return remainder_(self, other)


TENSOR_METHODS = {
    **_UNARY_METHODS,
    "add_": add_, "sub_": sub_, "subtract_": sub_, "mul_": mul_, "multiply_": mul_,
    "div_": div_, "divide_": div_, "true_divide_": div_, "floor_divide_": floor_divide_,
    "pow_": pow_, "remainder_": remainder_, "fmod_": fmod_,
    "negative_": _UNARY_METHODS["neg_"], "absolute_": _UNARY_METHODS["abs_"],
    "fix_": _UNARY_METHODS["trunc_"],
    "relu_": relu_, "round_": round_, "sigmoid_": sigmoid_,
    "clamp_": clamp_, "clip_": clamp_, "clamp_min_": clamp_min_, "clamp_max_": clamp_max_,
    "lerp_": lerp_, "addcmul_": addcmul_, "addcdiv_": addcdiv_,
    "addcmul": addcmul, "addcdiv": addcdiv,
    "zero_": zero_, "fill_": fill_, "copy_": copy_,
    "t_": t_, "transpose_": transpose_, "squeeze_": squeeze_, "unsqueeze_": unsqueeze_,
    "__iadd__": _iadd, "__isub__": _isub, "__imul__": _imul, "__itruediv__": _itruediv,
    "__idiv__": _itruediv, "__ifloordiv__": _ifloordiv, "__ipow__": _ipow, "__imod__": _imod,
}
_IOPS = {"__iand__": "bitwise_and_", "__ior__": "bitwise_or_", "__ixor__": "bitwise_xor_"}


def _defined_before():
    """Methods of the op modules bound before this one (which this module must not shadow)."""
    from . import arith, compare, conversion, creation, indexing  # noqa: PLC0415

    names = set()
    for module in (arith, compare, conversion, creation, indexing):
        names.update(getattr(module, "TENSOR_METHODS", {}))
    return names


_EARLIER = _defined_before()
for _name, _target in _IOPS.items():
    if _name not in _EARLIER:
        TENSOR_METHODS[_name] = _GENERAL[_target]
for _name, _method in _GENERAL.items():
    if _name not in _EARLIER:
        TENSOR_METHODS.setdefault(_name, _method)
del _name, _method, _target

_UNARY_FUNCS = {name: TENSOR_METHODS[name] for name in (
    "relu_", "sigmoid_", "tanh_", "exp_", "log_", "sqrt_", "sin_", "cos_", "abs_", "neg_",
    "floor_", "ceil_", "round_", "trunc_", "reciprocal_", "sign_", "rsqrt_", "exp2_",
    "expm1_", "log2_", "log10_", "log1p_", "tan_", "sinh_", "cosh_", "asin_", "acos_", "atan_",
    "square_", "erf_", "frac_", "fix_", "negative_", "absolute_",
)}

FUNCTIONS = {
    **_UNARY_FUNCS,
    "clamp_": clamp_, "clip_": clamp_, "clamp_min_": clamp_min_, "clamp_max_": clamp_max_,
    "zero_": zero_, "fill_": fill_, "addcmul": addcmul, "addcdiv": addcdiv,
}

NUMPY_NAMESPACE = {}
