"""Data types and PyTorch's type-promotion rules.

PyTorch and NumPy 2 disagree on promotion (NumPy promotes ``float32 * float64 0-d array`` to
float64, PyTorch keeps float32), so probe implements PyTorch's rules itself and only asks NumPy
to promote *within* one category (bool < integer < floating < complex), where the two agree.
"""

from __future__ import annotations

import builtins

import numpy as np

BOOL, INTEGER, FLOATING, COMPLEX = 0, 1, 2, 3


class dtype:
    """A tensor element type, e.g. ``probe.float32``.

    >>> import probe
    >>> probe.zeros(2, dtype=probe.float64).dtype
    probe.float64
    """

    __slots__ = ("name", "np_dtype", "category", "itemsize", "_legacy_name", "_short_name")

    def __init__(self, name, np_dtype, category, legacy_name, short_name):
        self.name = name
        self.np_dtype = None if np_dtype is None else np.dtype(np_dtype)
        self.category = category
        self.itemsize = 2 if np_dtype is None else self.np_dtype.itemsize
        self._legacy_name = legacy_name
        self._short_name = short_name

    @property
    def is_floating_point(self) -> bool:
        return self.category == FLOATING

    @property
    def is_complex(self) -> bool:
        return self.category == COMPLEX

    @property
    def is_signed(self) -> bool:
        return self.name not in ("bool", "uint8")

    def to_real(self):
        return {"complex64": float32, "complex128": float64}.get(self.name, self)

    def __repr__(self):
        return f"probe.{self.name}"

    def __reduce__(self):
        return (_dtype_by_name, (self.name,))


def _dtype_by_name(name):
    return globals()[name]


bool = dtype("bool", np.bool_, BOOL, "BoolTensor", "Bool")  # noqa: A001
uint8 = dtype("uint8", np.uint8, INTEGER, "ByteTensor", "Byte")
int8 = dtype("int8", np.int8, INTEGER, "CharTensor", "Char")
int16 = dtype("int16", np.int16, INTEGER, "ShortTensor", "Short")
int32 = dtype("int32", np.int32, INTEGER, "IntTensor", "Int")
int64 = dtype("int64", np.int64, INTEGER, "LongTensor", "Long")
float16 = dtype("float16", np.float16, FLOATING, "HalfTensor", "Half")
bfloat16 = dtype("bfloat16", None, FLOATING, "BFloat16Tensor", "BFloat16")
float32 = dtype("float32", np.float32, FLOATING, "FloatTensor", "Float")
float64 = dtype("float64", np.float64, FLOATING, "DoubleTensor", "Double")
complex64 = dtype("complex64", np.complex64, COMPLEX, "ComplexFloatTensor", "ComplexFloat")
complex128 = dtype("complex128", np.complex128, COMPLEX, "ComplexDoubleTensor", "ComplexDouble")

# PyTorch's aliases.
half = float16
float = float32  # noqa: A001
double = float64
short = int16
int = int32  # noqa: A001
long = int64
cfloat = complex64
cdouble = complex128

ALL_DTYPES = (bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64,
              complex64, complex128)
_BY_NUMPY = {d.np_dtype: d for d in ALL_DTYPES if d.np_dtype is not None}
_BY_NAME = {d.name: d for d in ALL_DTYPES}
_BY_NAME.update(half=float16, float=float32, double=float64, short=int16, int=int32,
                long=int64, cfloat=complex64, cdouble=complex128)
_BY_LEGACY = {d._legacy_name: d for d in ALL_DTYPES}

_default_float = [float32]


def get_default_dtype() -> dtype:
    """The dtype of floating tensors created from Python floats (float32 unless changed)."""
    return _default_float[0]


def set_default_dtype(d) -> None:
    """Set the default floating dtype (float32 or float64), as ``torch.set_default_dtype``."""
    d = to_dtype(d)
    if d not in (float16, float32, float64):
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default_float[0] = d


def from_numpy_dtype(np_dtype) -> dtype:
    """The probe dtype of a NumPy dtype; raises TypeError for types probe has no tensor for."""
    try:
        return _BY_NUMPY[np_dtype]
    except KeyError:
        pass
    try:
        return _BY_NUMPY[np.dtype(np_dtype)]
    except (KeyError, TypeError):
        raise TypeError(
            f"can't convert np.ndarray of type {np.dtype(np_dtype)}. The only supported types "
            "are: float64, float32, float16, complex64, complex128, int64, int32, int16, int8, "
            "uint8, and bool."
        ) from None


def to_dtype(d) -> dtype:
    """Accept a probe dtype, a NumPy dtype or type, or a name such as ``"float32"``."""
    if d.__class__ is dtype:
        return d
    if isinstance(d, str):
        name = d[6:] if d.startswith("probe.") else d[6:] if d.startswith("torch.") else d
        if name in _BY_NAME:
            return _BY_NAME[name]
        if name in _BY_LEGACY:
            return _BY_LEGACY[name]
        raise TypeError(f"invalid dtype name {d!r}")
    if d is builtins.float:
        return float64
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool
    if d is builtins.complex:
        return complex128
    getter = getattr(d, "dtype", None)
    if isinstance(getter, dtype):  # a tensor passed where a dtype is expected (``type_as``)
        return getter
    return from_numpy_dtype(d)


def short_name(np_dtype) -> str:
    """PyTorch's short type name of a NumPy dtype ("Float", "Long"...), as error messages use."""
    return _BY_NUMPY[np.dtype(np_dtype)]._short_name


def numpy_dtype(d: dtype):
    """The NumPy dtype that stores ``d``; bfloat16 has none in NumPy."""
    if d.np_dtype is None:
        raise TypeError(
            f"{d} is not supported by the NumPy/CuPy backends; use probe.float16 or probe.float32"
        )
    return d.np_dtype


# ---------------------------------------------------------------------------------------------
# Promotion
# ---------------------------------------------------------------------------------------------

_PY_SCALAR_CATEGORY = {builtins.bool: BOOL, builtins.int: INTEGER, builtins.float: FLOATING,
                       builtins.complex: COMPLEX}


def promote_types(a: dtype, b: dtype) -> dtype:
    """The smallest dtype both ``a`` and ``b`` convert to (``torch.promote_types``)."""
    if a is b:
        return a
    if a.category != b.category:
        hi, lo = (a, b) if a.category > b.category else (b, a)
        if hi is float16 and lo.category == INTEGER:
            return float16
        if hi.category == COMPLEX and lo is float64:
            return complex128
        return hi
    if a is bfloat16 or b is bfloat16:
        other = b if a is bfloat16 else a
        return float32 if other is float16 else other
    return _BY_NUMPY[np.promote_types(a.np_dtype, b.np_dtype)]


def _default_for_category(category: int) -> dtype:
    if category == FLOATING:
        return _default_float[0]
    if category == COMPLEX:
        return complex128 if _default_float[0] is float64 else complex64
    return int64 if category == INTEGER else bool


def result_type_of(operands) -> dtype:
    """PyTorch's result dtype for ``operands``: (dtype, priority) pairs or Python scalars.

    Priority 2 is a tensor with dimensions, 1 a zero-dimensional tensor, 0 a Python scalar.
    The highest category present wins; within it, operands of the highest priority decide.
    A category present only in Python scalars gives that category's default dtype.
    """
    best_cat, best_prio, result = -1, -1, None
    for op in operands:
        if op.__class__ is tuple:
            d, prio = op
            cat = d.category
        else:
            d, prio = None, 0
            cat = _PY_SCALAR_CATEGORY.get(type(op), FLOATING)
        if cat > best_cat or (cat == best_cat and prio > best_prio):
            best_cat, best_prio, result = cat, prio, d
        elif cat == best_cat and prio == best_prio and d is not None:
            result = promote_types(result, d)
    if result is None:
        return _default_for_category(best_cat)
    return result
