"""Matrix products and linear algebra: ``matmul`` and ``@``, ``mm``, ``bmm``, ``mv``, ``dot``,
``addmm`` and friends, ``einsum``, ``tensordot``, ``kron``, ``cross``, the fused ``linear`` used by
``nn.Linear``, and the ops behind ``probe.linalg`` (norms, ``inv``, ``det``, ``solve``,
``cholesky``, ``qr``, ``svd``, ``eigh``).

Matmul is the hot path of dense networks, so every case is one GEMM where it can be: an N-D
input times a matrix is folded to 2-D (one BLAS call forward, two backward) instead of a batched
product whose weight gradient would then have to be summed over the batch. Like PyTorch, products
do not promote dtypes: mixing float32 and float64 is an error.

Backwards use only ``ctx.xp`` functions and operators, so the same code runs on arrays and, under
``create_graph=True``, on Tensors. ``xp.linalg.inv`` etc. resolve to this module's differentiable
ops through the ``linalg`` entry of ``NUMPY_NAMESPACE``.
"""

from __future__ import annotations

import functools
import math
import types
from collections import namedtuple

import numpy as np

from .. import dtypes as _dt
from ..autograd import Op
from ..tensor import Tensor, _wrap, _wrap_dim
from ._common import as_operand, normalize_dims, promote_operands

_from_np = _dt._BY_NUMPY
_LinAlgErrorNP = np.linalg.LinAlgError


class LinAlgError(RuntimeError):
    """Raised for singular or non-positive-definite inputs (``torch.linalg.LinAlgError``)."""


# ---------------------------------------------------------------------------------------------
# Error texts (PyTorch's wording)
# ---------------------------------------------------------------------------------------------

_CPP_NAMES = {
    "float32": "float", "float64": "double", "float16": "c10::Half", "bfloat16": "c10::BFloat16",
    "int64": "long int", "int32": "int", "int16": "short int", "int8": "signed char",
    "uint8": "unsigned char", "bool": "bool", "complex64": "c10::complex<float>",
    "complex128": "c10::complex<double>",
}


def _short(arr):
    return _dt.short_name(arr.dtype)


def _m1m2_dtype_error(a, b):
    return RuntimeError(
        "expected m1 and m2 to have the same dtype, but got: "
        f"{_CPP_NAMES[_from_np[a.dtype].name]} != {_CPP_NAMES[_from_np[b.dtype].name]}"
    )


def _scalar_type_error(a, b):
    return RuntimeError(f"expected scalar type {_short(a)} but found {_short(b)}")


def _mm_shape_error(m1_shape, m2_shape):
    return RuntimeError(
        f"mat1 and mat2 shapes cannot be multiplied ({m1_shape[0]}x{m1_shape[1]} and "
        f"{m2_shape[0]}x{m2_shape[1]})"
    )


def _dot_size_error(n, m):
    return RuntimeError(
        f"inconsistent tensor size, expected tensor [{n}] and src [{m}] to have the same number "
        f"of elements, but got {n} and {m} elements respectively"
    )


def _mv_size_error(rows, mat_shape, vec_len):
    return RuntimeError(
        f"size mismatch, got input ({rows}), mat ({mat_shape[0]}x{mat_shape[1]}), vec ({vec_len})"
    )


def _bool_mm_check(a):
    if a.dtype.kind == "b":
        raise NotImplementedError("\"addmm_impl_cpu_\" not implemented for 'Bool'")


def _tensor_arg(x, fname, argname, pos):
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{fname}(): argument '{argname}' (position {pos}) must be Tensor, not "
            f"{type(x).__name__}"
        )
    return x


def _mT(xp, x):
    """Swap the last two axes (``.T`` for matrices: the cheapest spelling on both backends)."""
    return x.T if x.ndim == 2 else xp.swapaxes(x, -1, -2)


def _save_for_grads(ctx, a, b):
    """Save ``b`` when ``a`` needs a gradient and ``a`` when ``b`` does (PyTorch's choice: an
    in-place change to a weight after forward is only an error if backward really needs it)."""
    if ctx.recording:
        need = ctx.needs_input_grad
        ctx.save_for_backward(a if need[1] else None, b if need[0] else None)


# ---------------------------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------------------------

class Dot(Op):
    node_name = "DotBackward0"

    @staticmethod
    def forward(ctx, a, b):
        _save_for_grads(ctx, a, b)
        return ctx.xp.dot(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        need = ctx.needs_input_grad
        return (g * b if need[0] else None), (g * a if need[1] else None)


class Vdot(Dot):
    node_name = "VdotBackward0"


class Mm(Op):
    node_name = "MmBackward0"

    @staticmethod
    def forward(ctx, a, b):
        _save_for_grads(ctx, a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        need = ctx.needs_input_grad
        return (g @ b.T if need[0] else None), (a.T @ g if need[1] else None)


class Mv(Op):
    node_name = "MvBackward0"

    @staticmethod
    def forward(ctx, m, v):
        _save_for_grads(ctx, m, v)
        return m @ v

    @staticmethod
    def backward(ctx, g):
        m, v = ctx.saved
        need = ctx.needs_input_grad
        gm = g.reshape((-1, 1)) * v.reshape((1, -1)) if need[0] else None
        return gm, (m.T @ g if need[1] else None)


class VecMat(Op):
    """``vector @ matrix`` (PyTorch: unsqueeze, mm, squeeze; the top node is SqueezeBackward4)."""

    node_name = "SqueezeBackward4"

    @staticmethod
    def forward(ctx, v, m):
        _save_for_grads(ctx, v, m)
        return v @ m

    @staticmethod
    def backward(ctx, g):
        v, m = ctx.saved
        need = ctx.needs_input_grad
        gv = m @ g if need[0] else None
        gm = v.reshape((-1, 1)) * g.reshape((1, -1)) if need[1] else None
        return gv, gm


class FoldedMatmul(Op):
    """``(..., M, K) @ (K, N)`` or ``@ (K,)`` as one GEMM on the input folded to 2-D."""

    node_name = "UnsafeViewBackward0"

    @staticmethod
    def forward(ctx, a, b):
        _save_for_grads(ctx, a, b)
        shape = a.shape
        ctx.a_shape = shape
        ctx.b_vec = b.ndim == 1
        out = a.reshape((-1, shape[-1])) @ b
        return out.reshape(shape[:-1] + b.shape[1:])

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        need = ctx.needs_input_grad
        shape = ctx.a_shape
        ga = gb = None
        if not ctx.b_vec:
            g2 = g.reshape((-1, g.shape[-1]))
            if need[0]:
                ga = (g2 @ b.T).reshape(shape)
        else:
            g2 = g.reshape((-1,))
            if need[0]:
                ga = (g2.reshape((-1, 1)) * b.reshape((1, -1))).reshape(shape)
        if need[1]:
            gb = a.reshape((-1, shape[-1])).T @ g2
        return ga, gb


class BatchedMatmul(Op):
    """Batched product with broadcasting; 1-D operands are promoted as in ``matmul``."""

    node_name = "UnsafeViewBackward0"

    @staticmethod
    def forward(ctx, a, b):
        _save_for_grads(ctx, a, b)
        ctx.a_vec = a.ndim == 1
        ctx.b_vec = b.ndim == 1
        return ctx.xp.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        xp = ctx.xp
        need = ctx.needs_input_grad
        if ctx.a_vec:
            g = g.reshape(g.shape[:-1] + (1, g.shape[-1]))
            a = a.reshape((1, -1)) if a is not None else None
        if ctx.b_vec:
            g = g.reshape(g.shape + (1,))
            b = b.reshape((-1, 1)) if b is not None else None
        ga = gb = None
        if need[0]:
            ga = xp.matmul(g, _mT(xp, b))
            if ctx.a_vec:
                ga = ga.reshape(ga.shape[:-2] + (ga.shape[-1],))
        if need[1]:
            gb = xp.matmul(_mT(xp, a), g)
            if ctx.b_vec:
                gb = gb.reshape(gb.shape[:-1])
        return ga, gb


class Bmm(BatchedMatmul):
    node_name = "BmmBackward0"


class MatmulClone(BatchedMatmul):
    """``matrix @ batch``: PyTorch computes it transposed and shows CloneBackward0 on top."""

    node_name = "CloneBackward0"


def _check_batched(a, b):
    """PyTorch's errors for the batched matmul path (shapes already have ndim >= 1)."""
    k1 = a.shape[-1]
    k2 = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if a.dtype != b.dtype:
        raise _scalar_type_error(a, b)
    batch_a = a.shape[:-2]
    batch_b = b.shape[:-2]
    n = max(len(batch_a), len(batch_b))
    pa = (1,) * (n - len(batch_a)) + batch_a
    pb = (1,) * (n - len(batch_b)) + batch_b
    batch = []
    for i, (x, y) in enumerate(zip(pa, pb, strict=False)):
        if x != y and x != 1 and y != 1:
            raise RuntimeError(
                f"The size of tensor a ({x}) must match the size of tensor b ({y}) at "
                f"non-singleton dimension {i}"
            )
        batch.append(max(x, y))
    if k1 != k2:
        nb = math.prod(batch)
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{nb}, {k1}] but "
            f"got: [{nb}, {k2}]."
        )


def matmul(input, other, *, out=None):
    """Matrix product with PyTorch's rules for 1-D, 2-D and batched (broadcast) operands.

    >>> import probe
    >>> (probe.ones(2, 3) @ probe.ones(3, 4)).shape
    probe.Size([2, 4])
    """
    try:
        a = input._data
        b = other._data
    except AttributeError:
        _tensor_arg(input, "matmul", "input", 0)
        _tensor_arg(other, "matmul", "other", 1)
        raise
    na = a.ndim
    nb = b.ndim
    if na == 2:
        if nb == 2:
            if a.dtype != b.dtype:
                raise _m1m2_dtype_error(a, b)
            if a.shape[1] != b.shape[0]:
                raise _mm_shape_error(a.shape, b.shape)
            result = Mm.apply(input, other)
        elif nb == 1:
            result = _mv(input, other)
        elif nb == 0:
            raise _matmul_0d(na, nb)
        else:
            _check_batched(a, b)
            result = MatmulClone.apply(input, other)
    elif na == 1:
        if nb == 1:
            result = _dot(input, other, "dot")
        elif nb == 2:
            if a.dtype != b.dtype:
                raise _m1m2_dtype_error(a, b)
            if a.shape[0] != b.shape[0]:
                raise _mm_shape_error((1, a.shape[0]), b.shape)
            result = VecMat.apply(input, other)
        elif nb == 0:
            raise _matmul_0d(na, nb)
        else:
            _check_batched(a, b)
            result = BatchedMatmul.apply(input, other)
    elif na == 0 or nb == 0:
        raise _matmul_0d(na, nb)
    elif nb <= 2:
        # Fold the batch into the rows: one GEMM, and the weight gradient needs no batch sum.
        k = a.shape[-1]
        rows = a.size // k if k else math.prod(a.shape[:-1])
        if nb == 2:
            if a.dtype != b.dtype:
                raise _m1m2_dtype_error(a, b)
            if k != b.shape[0]:
                raise _mm_shape_error((rows, k), b.shape)
        else:
            if a.dtype != b.dtype:
                raise RuntimeError(
                    "addmv input tensors must have the same dtype, but got "
                    f"{_short(b)}, {_short(a)}, and {_short(b)}"
                )
            if k != b.shape[0]:
                raise _mv_size_error(rows, (rows, k), b.shape[0])
        result = FoldedMatmul.apply(input, other)
    else:
        _check_batched(a, b)
        # PyTorch squeezes a lone 3-D operand with batch 1 and folds; its top node then is
        # the clone of the transposed product when that operand is on the left.
        op = MatmulClone if na == nb == 3 and a.shape[0] == 1 and b.shape[0] != 1 else \
            BatchedMatmul
        result = op.apply(input, other)
    return result if out is None else _maybe_out(result, out)


def _matmul_0d(na, nb):
    return RuntimeError(
        f"both arguments to matmul need to be at least 1D, but they are {na}D and {nb}D"
    )


def _rmatmul(self, other):
    if not isinstance(other, Tensor):
        other = as_operand(other, self)
        if not isinstance(other, Tensor):
            return NotImplemented
    return matmul(other, self)


def _matmul_operator(self, other):
    if not isinstance(other, Tensor):
        if isinstance(other, int | float | bool | complex):
            raise _matmul_0d(self._data.ndim, 0)
        other = as_operand(other, self)
    return matmul(self, other)


def mm(input, mat2, *, out=None):
    """Product of two matrices (2-D only)."""
    _tensor_arg(mat2, "mm", "mat2", 1)
    a = input._data
    b = mat2._data
    if a.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if b.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    if a.dtype != b.dtype:
        raise _m1m2_dtype_error(a, b)
    if a.shape[1] != b.shape[0]:
        raise _mm_shape_error(a.shape, b.shape)
    _bool_mm_check(a)
    return _maybe_out(Mm.apply(input, mat2), out)


def bmm(input, mat2, *, out=None):
    """Batched product of two 3-D tensors with the same batch size (no broadcasting)."""
    _tensor_arg(mat2, "bmm", "mat2", 1)
    a = input._data
    b = mat2._data
    if a.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if b.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    if a.dtype != b.dtype:
        raise _scalar_type_error(a, b)
    if b.shape[0] != a.shape[0] or b.shape[1] != a.shape[2]:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{a.shape[0]}, "
            f"{a.shape[2]}] but got: [{b.shape[0]}, {b.shape[1]}]."
        )
    return _maybe_out(Bmm.apply(input, mat2), out)


def _mv(input, vec):
    a = input._data
    v = vec._data
    if a.dtype != v.dtype:
        raise RuntimeError(
            "addmv input tensors must have the same dtype, but got "
            f"{_short(v)}, {_short(a)}, and {_short(v)}"
        )
    if a.shape[1] != v.shape[0]:
        raise _mv_size_error(a.shape[0], a.shape, v.shape[0])
    return Mv.apply(input, vec)


def mv(input, vec, *, out=None):
    """Matrix times vector."""
    _tensor_arg(vec, "mv", "vec", 1)
    if input._data.ndim != 2 or vec._data.ndim != 1:
        raise RuntimeError(
            f"vector + matrix @ vector expected, got 1, {input._data.ndim}, {vec._data.ndim}"
        )
    return _maybe_out(_mv(input, vec), out)


def _dot(input, other, name):
    a = input._data
    b = other._data
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a.shape[0] != b.shape[0]:
        raise _dot_size_error(a.shape[0], b.shape[0])
    if a.dtype != b.dtype:
        raise RuntimeError(
            f"dot : expected both vectors to have same dtype, but found {_short(a)} and "
            f"{_short(b)}"
        )
    return (Dot if name == "dot" else Vdot).apply(input, other)


def dot(input, tensor, *, out=None):
    """Inner product of two 1-D tensors."""
    _tensor_arg(tensor, "dot", "tensor", 1)
    return _maybe_out(_dot(input, tensor, "dot"), out)


def vdot(input, other, *, out=None):
    """Inner product of two 1-D tensors, conjugating the first (real tensors: ``dot``)."""
    _tensor_arg(other, "vdot", "other", 1)
    if input.is_complex():
        from .unary import conj  # noqa: PLC0415

        return _maybe_out(_dot(conj(input), other, "dot"), out)
    return _maybe_out(_dot(input, other, "vdot"), out)


class Outer(Op):
    """Outer product of two vectors (PyTorch broadcasts a multiply: MulBackward0)."""

    node_name = "MulBackward0"

    @staticmethod
    def forward(ctx, a, b):
        _save_for_grads(ctx, a, b)
        return a.reshape((-1, 1)) * b.reshape((1, -1))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        need = ctx.needs_input_grad
        return (g @ b if need[0] else None), (a @ g if need[1] else None)


def outer(input, vec2, *, out=None):
    """Outer product ``input[i] * vec2[j]`` of two 1-D tensors (dtypes promote)."""
    _tensor_arg(vec2, "outer", "vec2", 1)
    if input._data.ndim != 1:
        raise RuntimeError(f"outer: Expected 1-D argument self, but got {input._data.ndim}-D")
    if vec2._data.ndim != 1:
        raise RuntimeError(f"outer: Expected 1-D argument vec2, but got {vec2._data.ndim}-D")
    a, b, _ = promote_operands(input, vec2)
    return _maybe_out(Outer.apply(a, b), out)


def ger(input, vec2, *, out=None):
    """Alias of ``outer``."""
    return outer(input, vec2, out=out)


# --- addmm family ---------------------------------------------------------------------------

def _scaled_add(xp, prod, inp, beta, alpha):
    if alpha != 1:
        prod *= alpha
    if beta != 0:
        if beta == 1:
            prod += inp
        else:
            prod += beta * inp
    return prod


class Addmm(Op):
    node_name = "AddmmBackward0"

    @staticmethod
    def forward(ctx, inp, m1, m2, beta, alpha):
        if ctx.recording:
            need = ctx.needs_input_grad
            ctx.save_for_backward(m1 if need[2] else None, m2 if need[1] else None)
        ctx.beta = beta
        ctx.alpha = alpha
        return _scaled_add(ctx.xp, m1 @ m2, inp, beta, alpha)

    @staticmethod
    def backward(ctx, g):
        m1, m2 = ctx.saved
        need = ctx.needs_input_grad
        alpha = ctx.alpha
        gi = (g if ctx.beta == 1 else g * ctx.beta) if need[0] else None
        gs = g if alpha == 1 else g * alpha
        g1 = gs @ m2.T if need[1] else None
        g2 = m1.T @ gs if need[2] else None
        return gi, g1, g2


def _expand_error(inp_shape, target):
    # PyTorch reports the first mismatching dimension, counted on the target shape.
    n = len(target)
    padded = (None,) * (n - len(inp_shape)) + tuple(inp_shape)
    for i in range(n - 1, -1, -1):
        s = padded[i]
        if s is not None and s != 1 and s != target[i]:
            return RuntimeError(
                f"The expanded size of the tensor ({target[i]}) must match the existing size ({s})"
                f" at non-singleton dimension {i}.  Target sizes: {list(target)}.  Tensor sizes: "
                f"{list(inp_shape)}"
            )
    return RuntimeError(
        f"expand: the requested shape has too few dimensions; target {list(target)}, "
        f"tensor {list(inp_shape)}"
    )


def _check_expandable(inp_shape, target):
    if len(inp_shape) > len(target):
        raise _expand_error(inp_shape, target)
    for s, t in zip(inp_shape[::-1], target[::-1], strict=False):
        if s != 1 and s != t:
            raise _expand_error(inp_shape, target)


def addmm(input, mat1, mat2, *, beta=1, alpha=1, out=None):
    """``beta * input + alpha * (mat1 @ mat2)``."""
    m1 = mat1._data
    m2 = mat2._data
    if m1.ndim != 2:
        raise RuntimeError(f"mat1 must be a matrix, got {m1.ndim}-D tensor")
    if m2.ndim != 2:
        raise RuntimeError(f"mat2 must be a matrix, got {m2.ndim}-D tensor")
    if m1.dtype != m2.dtype:
        raise RuntimeError(
            f"mat1 and mat2 must have the same dtype, but got {_short(m1)} and {_short(m2)}"
        )
    if input._data.dtype != m1.dtype:
        raise RuntimeError(
            f"self and mat2 must have the same dtype, but got {_short(input._data)} and "
            f"{_short(m2)}"
        )
    if m1.shape[1] != m2.shape[0]:
        raise _mm_shape_error(m1.shape, m2.shape)
    _check_expandable(input._data.shape, (m1.shape[0], m2.shape[1]))
    return _maybe_out(Addmm.apply(input, mat1, mat2, beta, alpha), out)


class Addmv(Op):
    node_name = "AddmvBackward0"

    @staticmethod
    def forward(ctx, inp, mat, vec, beta, alpha):
        if ctx.recording:
            need = ctx.needs_input_grad
            ctx.save_for_backward(mat if need[2] else None, vec if need[1] else None)
        ctx.beta = beta
        ctx.alpha = alpha
        return _scaled_add(ctx.xp, mat @ vec, inp, beta, alpha)

    @staticmethod
    def backward(ctx, g):
        mat, vec = ctx.saved
        need = ctx.needs_input_grad
        gi = (g if ctx.beta == 1 else g * ctx.beta) if need[0] else None
        gs = g if ctx.alpha == 1 else g * ctx.alpha
        gm = gs.reshape((-1, 1)) * vec.reshape((1, -1)) if need[1] else None
        gv = mat.T @ gs if need[2] else None
        return gi, gm, gv


def addmv(input, mat, vec, *, beta=1, alpha=1, out=None):
    """``beta * input + alpha * (mat @ vec)``."""
    m = mat._data
    v = vec._data
    if m.ndim != 2 or v.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input._data.ndim}, "
                           f"{m.ndim}, {v.ndim}")
    if not (input._data.dtype == m.dtype == v.dtype):
        raise RuntimeError(
            "addmv input tensors must have the same dtype, but got "
            f"{_short(input._data)}, {_short(m)}, and {_short(v)}"
        )
    if m.shape[1] != v.shape[0]:
        raise _mv_size_error(m.shape[0], m.shape, v.shape[0])
    _check_expandable(input._data.shape, (m.shape[0],))
    return _maybe_out(Addmv.apply(input, mat, vec, beta, alpha), out)


class Baddbmm(Op):
    node_name = "BaddbmmBackward0"

    @staticmethod
    def forward(ctx, inp, b1, b2, beta, alpha):
        if ctx.recording:
            need = ctx.needs_input_grad
            ctx.save_for_backward(b1 if need[2] else None, b2 if need[1] else None)
        ctx.beta = beta
        ctx.alpha = alpha
        return _scaled_add(ctx.xp, ctx.xp.matmul(b1, b2), inp, beta, alpha)

    @staticmethod
    def backward(ctx, g):
        b1, b2 = ctx.saved
        xp = ctx.xp
        need = ctx.needs_input_grad
        gi = (g if ctx.beta == 1 else g * ctx.beta) if need[0] else None
        gs = g if ctx.alpha == 1 else g * ctx.alpha
        g1 = xp.matmul(gs, xp.swapaxes(b2, -1, -2)) if need[1] else None
        g2 = xp.matmul(xp.swapaxes(b1, -1, -2), gs) if need[2] else None
        return gi, g1, g2


class Addbmm(Baddbmm):
    node_name = "AddbmmBackward0"

    @staticmethod
    def forward(ctx, inp, b1, b2, beta, alpha):
        if ctx.recording:
            need = ctx.needs_input_grad
            ctx.save_for_backward(b1 if need[2] else None, b2 if need[1] else None)
        ctx.beta = beta
        ctx.alpha = alpha
        nb, n, m = b1.shape
        # sum_b b1[b] @ b2[b] is one GEMM over the (batch, inner) pairs.
        left = ctx.xp.moveaxis(b1, 0, 1).reshape((n, nb * m))
        prod = left @ b2.reshape((nb * m, b2.shape[2]))
        return _scaled_add(ctx.xp, prod, inp, beta, alpha)


def _check_bmm_inputs(name, inp, b1, b2, reduce_batch):
    x1 = b1._data
    x2 = b2._data
    if x1.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if x2.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    if not (inp._data.dtype == x1.dtype == x2.dtype):
        raise RuntimeError(
            f"Input dtypes must be the same, got: input {_CPP_NAMES[inp.dtype.name]}, batch1: "
            f"{_CPP_NAMES[b1.dtype.name]}, batch2: {_CPP_NAMES[b2.dtype.name]}"
        )
    if x2.shape[0] != x1.shape[0] or x2.shape[1] != x1.shape[2]:
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{x1.shape[0]}, "
            f"{x1.shape[2]}] but got: [{x2.shape[0]}, {x2.shape[1]}]."
        )
    target = (x1.shape[1], x2.shape[2]) if reduce_batch else (x1.shape[0], x1.shape[1],
                                                                x2.shape[2])
    _check_expandable(inp._data.shape, target)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    """``beta * input + alpha * bmm(batch1, batch2)``."""
    _check_bmm_inputs("baddbmm", input, batch1, batch2, False)
    return _maybe_out(Baddbmm.apply(input, batch1, batch2, beta, alpha), out)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    """``beta * input + alpha * sum_b batch1[b] @ batch2[b]``."""
    _check_bmm_inputs("addbmm", input, batch1, batch2, True)
    return _maybe_out(Addbmm.apply(input, batch1, batch2, beta, alpha), out)


# --- linear ---------------------------------------------------------------------------------

def _linear_forward(ctx, x, w, b, need_x, need_w):
    shape = x.shape
    x2 = x if x.ndim == 2 else x.reshape((-1, shape[-1]))
    out = x2 @ w.T
    if b is not None:
        out += b
    if ctx.recording:
        ctx.save_for_backward(x if need_w else None, w if need_x else None)
        ctx.x_shape = shape
    return out if x.ndim == 2 else out.reshape(shape[:-1] + (w.shape[0],))


def _linear_backward(ctx, g, need_x, need_w, need_b):
    x, w = ctx.saved
    shape = ctx.x_shape
    g2 = g if g.ndim == 2 else g.reshape((-1, g.shape[-1]))
    gx = gw = gb = None
    if need_x:
        gx = g2 @ w
        if len(shape) != 2:
            gx = gx.reshape(shape)
    if need_w:
        gw = g2.T @ (x if len(shape) == 2 else x.reshape((-1, shape[-1])))
    if need_b:
        gb = ctx.xp.sum(g2, axis=0)
    return gx, gw, gb


class Linear(Op):
    """``input @ weight.T + bias`` as one GEMM on the input folded to 2-D, plus the bias add.
    Arguments in PyTorch's ``next_functions`` order for ``addmm``: bias, input, weight."""

    node_name = "AddmmBackward0"

    @staticmethod
    def forward(ctx, b, x, w):
        need = ctx.needs_input_grad if ctx.recording else (False, False, False)
        return _linear_forward(ctx, x, w, b, need[1], need[2])

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        gx, gw, gb = _linear_backward(ctx, g, need[1], need[2], need[0])
        return gb, gx, gw


class LinearNoBias(Op):
    node_name = "MmBackward0"

    @staticmethod
    def forward(ctx, x, w):
        need = ctx.needs_input_grad if ctx.recording else (False, False)
        return _linear_forward(ctx, x, w, None, need[0], need[1])

    @staticmethod
    def backward(ctx, g):
        need = ctx.needs_input_grad
        gx, gw, _ = _linear_backward(ctx, g, need[0], need[1], False)
        return gx, gw


class _LinearView(Linear):
    node_name = "ViewBackward0"


class _LinearSqueeze(LinearNoBias):
    node_name = "SqueezeBackward4"


class _LinearUnsafeView(LinearNoBias):
    node_name = "UnsafeViewBackward0"


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` (``torch.nn.functional.linear``): one GEMM for any batch shape.

    >>> import probe
    >>> probe._linear(probe.ones(4, 3), probe.ones(2, 3), probe.zeros(2)).shape
    probe.Size([4, 2])
    """
    x = input._data
    w = weight._data
    if w.ndim != 2:
        if bias is not None or w.ndim != 1:
            raise RuntimeError(f"mat2 must be a matrix, got {w.ndim}-D tensor")
        return matmul(input, weight)
    if x.ndim == 0:
        raise _matmul_0d(0, 2)
    k = x.shape[-1]
    if x.dtype != w.dtype:
        raise _m1m2_dtype_error(x, w)
    if k != w.shape[1]:
        rows = x.size // k if k else math.prod(x.shape[:-1])
        raise _mm_shape_error((rows, k), (w.shape[1], w.shape[0]))
    if bias is None:
        op = LinearNoBias if x.ndim == 2 else _LinearSqueeze if x.ndim == 1 else \
            _LinearUnsafeView
        return op.apply(input, weight)
    bd = bias._data
    if bd.dtype != x.dtype:
        raise RuntimeError(
            f"self and mat2 must have the same dtype, but got {_short(bd)} and {_short(w)}"
        )
    if bd.shape != (w.shape[0],):
        rows = x.size // k if k else math.prod(x.shape[:-1])
        _check_expandable(bd.shape, (rows, w.shape[0]))
    return (Linear if x.ndim == 2 else _LinearView).apply(bias, input, weight)


# ---------------------------------------------------------------------------------------------
# einsum, tensordot, inner, kron, cross
# ---------------------------------------------------------------------------------------------

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class _EinsumSpec:
    """A parsed equation: explicit subscripts per operand (ellipses expanded, size-1 broadcast
    dims renamed to private letters so NumPy needs no broadcasting), the output subscripts, and
    the equation computing each operand's gradient."""

    __slots__ = ("inputs", "output", "equation", "grads", "path")

    def __init__(self, inputs, output):
        self.inputs = inputs
        self.output = output
        self.equation = ",".join(inputs) + "->" + output
        self.grads = None
        self.path = None


def _einsum_error(msg):
    return RuntimeError("einsum(): " + msg)


@functools.lru_cache(maxsize=1024)
def _parse_einsum(equation, shapes):
    eq = equation.replace(" ", "")
    if "->" in eq:
        lhs, rhs = eq.split("->", 1)
    else:
        lhs, rhs = eq, None
    terms = lhs.split(",")
    if len(terms) > len(shapes):
        raise _einsum_error("fewer operands were provided than specified in the equation")
    if len(terms) < len(shapes):
        raise _einsum_error("more operands were provided than specified in the equation")
    for i, ch in enumerate(eq):
        if ch not in _LETTERS and ch not in ".,->":
            raise _einsum_error(
                f"invalid subscript given at index {i} in the equation string, subscripts must "
                "be in [a-zA-Z]"
            )
    used = set(ch for ch in eq if ch in _LETTERS)
    fresh = [c for c in _LETTERS if c not in used]

    ell_dims = []
    for i, (term, shape) in enumerate(zip(terms, shapes, strict=False)):
        letters = term.replace("...", "")
        if "." in letters:
            raise _einsum_error("found '.' for operand {i} that is not part of any ellipsis")
        if "..." in term:
            if len(letters) > len(shape):
                raise _einsum_error(
                    f"the number of subscripts in the equation ({len(letters)}) is more than the "
                    f"number of dimensions ({len(shape)}) for operand {i}"
                )
            ell_dims.append(len(shape) - len(letters))
        else:
            if len(letters) != len(shape):
                raise _einsum_error(
                    f"the number of subscripts in the equation ({len(letters)}) does not match "
                    f"the number of dimensions ({len(shape)}) for operand {i} and no ellipsis "
                    "was given"
                )
            ell_dims.append(0)
    n_ell = max(ell_dims) if ell_dims else 0
    if n_ell > len(fresh):
        raise _einsum_error("too many subscripts in the equation")
    ell_letters = "".join(fresh[:n_ell])
    fresh = fresh[n_ell:]
    inputs = []
    for term, e in zip(terms, ell_dims, strict=False):
        inputs.append(term.replace("...", ell_letters[n_ell - e:]) if "..." in term else term)

    sizes = {}
    for i, (subs, shape) in enumerate(zip(inputs, shapes, strict=False)):
        seen = {}
        for ch, s in zip(subs, shape, strict=False):
            if ch in seen and seen[ch] != s:
                raise _einsum_error(
                    f"subscript {ch} is repeated for operand {i} but the sizes don't match, "
                    f"{s} != {seen[ch]}"
                )
            seen[ch] = s
            prev = sizes.get(ch)
            if prev is None or prev == 1:
                sizes[ch] = s
            elif s != 1 and s != prev:
                raise _einsum_error(
                    f"subscript {ch} has size {s} for operand {i} which does not broadcast with "
                    f"previously seen size {prev}"
                )
    if rhs is None:
        counts = {}
        for subs in inputs:
            for ch in subs:
                counts[ch] = counts.get(ch, 0) + 1
        output = ell_letters + "".join(
            sorted(ch for ch, c in counts.items() if c == 1 and ch not in ell_letters)
        )
    else:
        output = rhs.replace("...", ell_letters)
        if "." in output:
            raise _einsum_error("found '.' for output but an ellipsis (...) was already found")
        all_in = set("".join(inputs))
        for ch in output:
            if ch not in all_in:
                raise _einsum_error(
                    f"output subscript {ch} does not appear in the equation for any input operand"
                )
        if len(set(output)) != len(output):
            dup = next(ch for ch in output if output.count(ch) > 1)
            raise _einsum_error(f"output subscript {dup} appears more than once in the output")

    # Broadcast size-1 dims: a private letter per occurrence (summing a size-1 axis is free).
    renamed = []
    for subs, shape in zip(inputs, shapes, strict=False):
        new = []
        for ch, s in zip(subs, shape, strict=False):
            if s == 1 and sizes[ch] != 1 and subs.count(ch) == 1:
                if not fresh:
                    raise _einsum_error("too many subscripts in the equation")
                new.append(fresh.pop(0))
            else:
                new.append(ch)
        renamed.append("".join(new))
    spec = _EinsumSpec(renamed, output)
    spec.grads = [_einsum_grad_spec(renamed, output, i, shapes[i], list(fresh))
                  for i in range(len(renamed))]
    return spec


def _einsum_grad_spec(inputs, output, i, shape, fresh):
    """The equation giving operand ``i``'s gradient from the output gradient and the others.

    A letter repeated in operand ``i`` (a diagonal) gets a private twin tied to it by an identity
    matrix; a letter that only operand ``i`` has (summed away) is broadcast back by a ones vector.
    """
    target = inputs[i]
    first = {}
    new_target = []
    consts = []  # ("eye", n, subs) or ("ones", n, letter)
    const_subs = []
    for ch, s in zip(target, shape, strict=False):
        if ch in first:
            twin = fresh.pop(0)
            new_target.append(twin)
            consts.append(("eye", s))
            const_subs.append(ch + twin)
        else:
            first[ch] = s
            new_target.append(ch)
    others = [j for j in range(len(inputs)) if j != i]
    present = set(output).union(*(inputs[j] for j in others)).union(*const_subs)
    for ch, s in first.items():
        if ch not in present:
            consts.append(("ones", s))
            const_subs.append(ch)
    subs = [output] + [inputs[j] for j in others] + const_subs
    return ",".join(subs) + "->" + "".join(new_target), others, tuple(consts)


def _np_einsum(spec, arrays):
    if len(arrays) == 1:
        return np.einsum(spec.equation, arrays[0])
    if spec.path is None:
        spec.path = np.einsum_path(spec.equation, *arrays, optimize="greedy")[0]
    return np.einsum(spec.equation, *arrays, optimize=spec.path)


class Einsum(Op):
    # PyTorch's einsum is a composite of views and bmm; its top node for contractions is a view.
    node_name = "ViewBackward0"

    @staticmethod
    def forward(ctx, spec, *arrays):
        xp = ctx.xp
        if ctx.recording:
            ctx.save_for_backward(*arrays)
            ctx.spec = spec
            ctx.np_dtype = arrays[0].dtype
        if xp is np:
            out = _np_einsum(spec, arrays)
        else:
            out = xp.einsum(spec.equation, *arrays)
        return out

    @staticmethod
    def backward(ctx, g):
        arrays = ctx.saved
        spec = ctx.spec
        xp = ctx.xp
        dev_xp = ctx._device.xp
        grads = [None]
        need = ctx.needs_input_grad
        for i, (eq, others, consts) in enumerate(spec.grads):
            if not need[i + 1]:
                grads.append(None)
                continue
            ops = [g] + [arrays[j] for j in others]
            for kind, n in consts:
                ops.append(dev_xp.eye(n, dtype=ctx.np_dtype) if kind == "eye"
                           else dev_xp.ones(n, dtype=ctx.np_dtype))
            grads.append(xp.einsum(eq, *ops))
        return tuple(grads)


def einsum(equation, *operands):
    """Einstein summation: ``einsum("ij,jk->ik", a, b)``; operands as arguments or one list.
    Supports ``...``, repeated subscripts (diagonals), implicit output and size-1 broadcasting.

    >>> import probe
    >>> probe.einsum("ij,jk->ik", probe.ones(2, 3), probe.ones(3, 4)).shape
    probe.Size([2, 4])
    """
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError(f"einsum(): argument 'equation' must be str, not "
                        f"{type(equation).__name__}")
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    for i, t in enumerate(operands):
        if not isinstance(t, Tensor):
            raise TypeError(f"einsum(): argument 'operands' must be tuple of Tensors, but found "
                            f"element of type {type(t).__name__} at pos {i}")
    d0 = operands[0]._data.dtype
    for t in operands[1:]:
        if t._data.dtype != d0:
            raise _scalar_type_error(operands[0]._data, t._data)
    spec = _parse_einsum(equation, tuple(t._data.shape for t in operands))
    return Einsum.apply(spec, *operands)


def tensordot(a, b, dims=2, out=None):
    """Contract ``dims`` trailing dims of ``a`` with leading dims of ``b`` (or explicit lists)."""
    _tensor_arg(a, "tensordot", "a", 0)
    _tensor_arg(b, "tensordot", "b", 1)
    na = a._data.ndim
    nb = b._data.ndim
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        if dims > min(na, nb):
            raise RuntimeError(
                f"tensordot expects dims < ndim_a or ndim_b, but got dims={dims}"
            )
        dims_a = list(range(-dims, 0))
        dims_b = list(range(dims))
    else:
        dims_a, dims_b = dims
        dims_a = [dims_a] if isinstance(dims_a, int) else list(dims_a)
        dims_b = [dims_b] if isinstance(dims_b, int) else list(dims_b)
        if len(dims_a) != len(dims_b):
            raise RuntimeError("both dimension lists should have same length")
    if a._data.dtype != b._data.dtype:
        raise RuntimeError("both inputs should have same dtype")
    sa = list(_LETTERS[:na])
    sb = list(_LETTERS[na:na + nb])
    for da, db in zip(dims_a, dims_b, strict=False):
        ia = _wrap_dim(da, na)
        ib = _wrap_dim(db, nb)
        if a._data.shape[ia] != b._data.shape[ib]:
            raise RuntimeError(
                f"contracted dimensions need to match, but first has size {a._data.shape[ia]} in "
                f"dim {da} and second has size {b._data.shape[ib]} in dim {db}"
            )
        sb[ib] = sa[ia]
    contracted = set(sa[_wrap_dim(d, na)] for d in dims_a)
    output = "".join(c for c in sa if c not in contracted) + "".join(
        c for c in sb if c not in contracted)
    eq = "".join(sa) + "," + "".join(sb) + "->" + output
    return _maybe_out(einsum(eq, a, b), out)


def inner(input, other, *, out=None):
    """Sum of products over the last dimension of both tensors."""
    _tensor_arg(other, "inner", "other", 1)
    a = input._data
    b = other._data
    if a.ndim == 0 or b.ndim == 0:
        from .arith import mul  # noqa: PLC0415

        return _maybe_out(mul(input, other), out)
    if a.shape[-1] != b.shape[-1]:
        raise RuntimeError(
            "inner() the last dimension must match on both input tensors but got shapes "
            f"{list(a.shape)} and {list(b.shape)}"
        )
    return _maybe_out(tensordot(input, other, ([-1], [-1])), out)


class Kron(Op):
    node_name = "UnsafeViewBackward0"

    @staticmethod
    def forward(ctx, a, b):
        n = max(a.ndim, b.ndim)
        a_shape = (1,) * (n - a.ndim) + a.shape
        b_shape = (1,) * (n - b.ndim) + b.shape
        if ctx.recording:
            _save_for_grads(ctx, a, b)
            ctx.shapes = (a_shape, b_shape, a.shape, b.shape)
        a_ = a.reshape(a_shape)
        b_ = b.reshape(b_shape)
        # Interleave: out[i0, j0, i1, j1, ...] = a[i0, i1, ...] * b[j0, j1, ...].
        inter_a = sum(((s, 1) for s in a_shape), ())
        inter_b = sum(((1, s) for s in b_shape), ())
        out = a_.reshape(inter_a) * b_.reshape(inter_b)
        return out.reshape(tuple(x * y for x, y in zip(a_shape, b_shape, strict=False)))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        xp = ctx.xp
        a_shape, b_shape, a_orig, b_orig = ctx.shapes
        n = len(a_shape)
        g_ = g.reshape(sum(((x, y) for x, y in zip(a_shape, b_shape, strict=False)), ()))
        la = _LETTERS[:n]
        lb = _LETTERS[n:2 * n]
        gsub = "".join(x + y for x, y in zip(la, lb, strict=False))
        need = ctx.needs_input_grad
        ga = gb = None
        if need[0]:
            ga = xp.einsum(f"{gsub},{lb}->{la}", g_, b.reshape(b_shape)).reshape(a_orig)
        if need[1]:
            gb = xp.einsum(f"{gsub},{la}->{lb}", g_, a.reshape(a_shape)).reshape(b_orig)
        return ga, gb


def kron(input, other, *, out=None):
    """Kronecker product."""
    _tensor_arg(other, "kron", "other", 1)
    a, b, _ = promote_operands(input, other)
    return _maybe_out(Kron.apply(a, b), out)


class Cross(Op):
    node_name = "LinalgCrossBackward0"

    @staticmethod
    def forward(ctx, a, b, dim):
        _save_for_grads(ctx, a, b)
        ctx.dim = dim
        return ctx.xp.cross(a, b, axis=dim)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        xp = ctx.xp
        need = ctx.needs_input_grad
        ga = xp.cross(b, g, axis=ctx.dim) if need[0] else None
        gb = xp.cross(g, a, axis=ctx.dim) if need[1] else None
        return ga, gb


def _cross(input, other, dim, name):
    a = input._data
    b = other._data
    if a.dtype != b.dtype:
        raise _scalar_type_error(a, b)
    if a.ndim != b.ndim:
        raise RuntimeError(f"{name}: inputs must have the same number of dimensions.")
    d = _wrap_dim(dim, a.ndim)
    if a.shape[d] != 3 or b.shape[d] != 3:
        raise RuntimeError(
            f"{name}: inputs dimension {dim} must have length 3. Got {a.shape[d]} and "
            f"{b.shape[d]}"
        )
    return Cross.apply(input, other, d - a.ndim)


def linalg_cross(input, other, *, dim=-1, out=None):
    """Cross product of 3-vectors along ``dim`` (broadcasting the other dims)."""
    return _maybe_out(_cross(input, other, dim, "linalg.cross"), out)


def cross(input, other, dim=None, *, out=None):
    """``torch.cross``: like ``linalg.cross`` but ``dim=None`` picks the first size-3 dim."""
    if dim is None:
        import warnings  # noqa: PLC0415

        warnings.warn(
            "Using torch.cross without specifying the dim arg is deprecated.\nPlease either pass "
            "the dim explicitly or simply use torch.linalg.cross.\nThe default value of dim will "
            "change to agree with that of linalg.cross in a future release.",
            UserWarning, stacklevel=2,
        )
        shape = np.broadcast_shapes(input._data.shape, other._data.shape)
        dim = next((i for i, s in enumerate(shape) if s == 3), -1)
    return _maybe_out(_cross(input, other, dim, "linalg.cross"), out)


# ---------------------------------------------------------------------------------------------
# probe.linalg: norms
# ---------------------------------------------------------------------------------------------

def _float_check(t, name):
    if t._data.dtype.kind not in "fc":
        raise RuntimeError(
            f"{name}: Expected a floating point or complex tensor as input. Got "
            f"{t.dtype._short_name}"
        )


class VectorNorm(Op):
    node_name = "LinalgVectorNormBackward0"

    @staticmethod
    def forward(ctx, x, ord, dims, keepdim):
        xp = ctx.xp
        axis = dims  # None: all dims
        if ord == 2:
            if axis is None:
                flat = x.reshape(-1)
                out = xp.sqrt(xp.asarray(xp.dot(flat, flat)))
                if keepdim:
                    out = out.reshape((1,) * x.ndim)
            else:
                out = xp.sqrt(xp.sum(x * x, axis=axis, keepdims=keepdim))
        elif ord == 1:
            out = xp.sum(xp.abs(x), axis=axis, keepdims=keepdim)
        elif ord == math.inf:
            out = xp.max(xp.abs(x), axis=axis, keepdims=keepdim)
        elif ord == -math.inf:
            out = xp.min(xp.abs(x), axis=axis, keepdims=keepdim)
        elif ord == 0:
            out = xp.sum(x != 0, axis=axis, keepdims=keepdim).astype(x.dtype)
        else:
            out = xp.sum(xp.abs(x) ** ord, axis=axis, keepdims=keepdim) ** (1.0 / ord)
        out = xp.asarray(out, dtype=x.dtype)
        if ctx.recording:
            ctx.save_for_backward(x, out)
            ctx.ord = ord
            ctx.kshape = tuple(1 if axis is None or i in axis else s
                               for i, s in enumerate(x.shape))
        return out

    @staticmethod
    def backward(ctx, g):
        x, n = ctx.saved
        xp = ctx.xp
        ord = ctx.ord
        kshape = ctx.kshape
        n = n.reshape(kshape)
        g = g.reshape(kshape)
        if ord == 2:
            # d|x| = x / |x|, defined as 0 where the norm is 0 (then x is 0 there too).
            return (x * (g / (n + (n == 0))),)
        if ord == 1:
            return (xp.sign(x) * g,)
        if ord == 0:
            return (None,)  # PyTorch leaves the gradient undefined (piecewise constant)
        if ord in (math.inf, -math.inf):
            # Ties share the gradient evenly, as in PyTorch's amax/amin backward.
            w = xp.sign(x) * (xp.abs(x) == n)
            count = xp.sum(xp.abs(w), axis=_kaxes(kshape, x.shape), keepdims=True)
            return (w * (g / (count + (count == 0))),)
        ax = xp.abs(x)
        scale = g / (n ** (ord - 1) + (n == 0))
        return (xp.sign(x) * ax ** (ord - 1) * scale,)


def _kaxes(kshape, shape):
    pairs = enumerate(zip(kshape, shape, strict=True))
    return tuple(i for i, (k, s) in pairs if k == 1 and s != 1) or None


def _as_dtype_arg(t, dtype):
    if dtype is None:
        return t
    from ._common import cast  # noqa: PLC0415

    return cast(t, _dt.to_dtype(dtype))


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):
    """The vector ``ord``-norm of ``x`` over ``dim`` (all elements by default).

    >>> import probe
    >>> probe.linalg.vector_norm(probe.tensor([3.0, 4.0]))
    tensor(5.)
    """
    shared = _reduction_vector_norm()
    if shared is not None:
        return shared(x, ord, dim, keepdim, dtype=dtype, out=out)
    return _vector_norm(x, ord, dim, keepdim, dtype=dtype, out=out)


_SHARED = {}


def _reduction_vector_norm():
    """The reduction module's ``vector_norm`` (the one behind ``Tensor.norm``) when it has one,
    so both entry points share one implementation."""
    if "vector_norm" not in _SHARED:
        from . import reduction  # noqa: PLC0415

        _SHARED["vector_norm"] = getattr(reduction, "FUNCTIONS", {}).get("_linalg_vector_norm")
    return _SHARED["vector_norm"]


def _vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):
    if not isinstance(ord, int | float) or isinstance(ord, bool):
        raise TypeError(f"linalg_vector_norm(): argument 'ord' must be Number, not "
                        f"{type(ord).__name__}")
    x = _as_dtype_arg(x, dtype)
    _float_check(x, "linalg.vector_norm")
    data = x._data
    dims = None if dim is None or (not isinstance(dim, int) and len(dim) == 0) else \
        normalize_dims(dim, data.ndim)
    if dims is not None and len(dims) == data.ndim:
        dims = None
    if data.ndim == 0:
        dims = None
    if ord in (math.inf, -math.inf) or ord < 0:
        reduced = data.size if dims is None else math.prod(data.shape[d] for d in dims)
        if reduced == 0:
            name = "inf" if ord == math.inf else "-inf" if ord == -math.inf else str(ord)
            raise RuntimeError(
                f"linalg.vector_norm cannot compute the {name} norm on an empty tensor because "
                "the operation does not have an identity"
            )
    return _maybe_out(VectorNorm.apply(x, float(ord) if ord not in (0, 1, 2) else ord, dims,
                                       bool(keepdim)), out)


def _probe_fn(name):
    from . import OP_MODULES  # noqa: PLC0415

    for module in reversed(OP_MODULES):
        fn = module.FUNCTIONS.get(name)
        if fn is not None:
            return fn
    raise NotImplementedError(f"probe.{name} is not available yet")


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None, out=None):
    """Matrix norm: ``'fro'``, ``'nuc'``, ``inf``, ``-inf``, ``1``, ``-1``, ``2``, ``-2``."""
    A = _as_dtype_arg(A, dtype)
    _float_check(A, "linalg.matrix_norm")
    nd = A._data.ndim
    if nd < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 "
                           "dimensions.")
    if isinstance(dim, int) or len(dim) != 2:
        n = 1 if isinstance(dim, int) else len(dim)
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {n}")
    d0 = _wrap_dim(dim[0], nd)
    d1 = _wrap_dim(dim[1], nd)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, "
                           f"{dim[1]})")
    if ord == "fro":
        return _maybe_out(vector_norm(A, 2, (d0, d1), keepdim), out)
    if ord not in ("nuc", 2, -2, 1, -1, math.inf, -math.inf):
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    if ord in ("nuc", 2, -2):
        moved = A if (d0, d1) == (nd - 2, nd - 1) else _probe_fn("movedim")(A, (d0, d1),
                                                                            (-2, -1))
        s = svdvals(moved)
        if ord == "nuc":
            result = _probe_fn("sum")(s, -1)
        else:
            result = _probe_fn("amax" if ord == 2 else "amin")(s, -1)
        if keepdim:
            unsq = _probe_fn("unsqueeze")
            for d in sorted((d0, d1)):
                result = unsq(result, d)
        return _maybe_out(result, out)
    # 1 / inf: the max (min) absolute column (row) sum.
    sum_dim, red_dim = (d0, d1) if ord in (1, -1) else (d1, d0)
    sums = vector_norm(A, 1, sum_dim, keepdim=keepdim)
    if not keepdim and red_dim > sum_dim:
        red_dim -= 1
    result = _probe_fn("amax" if ord > 0 else "amin")(sums, red_dim, keepdim=keepdim)
    return _maybe_out(result, out)


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None, out=None):
    """``torch.linalg.norm``: a vector norm or a matrix norm depending on ``ord`` and ``dim``."""
    if dim is not None and not isinstance(dim, int):
        dim = tuple(dim)
    if isinstance(ord, str):
        if dim is None:
            dim = (-2, -1)
        return matrix_norm(A, ord, dim, keepdim, dtype=dtype, out=out)
    if ord is None:
        if dim is not None and not isinstance(dim, int) and len(dim) == 2:
            return matrix_norm(A, "fro", dim, keepdim, dtype=dtype, out=out)
        return vector_norm(A, 2, dim, keepdim, dtype=dtype, out=out)
    if dim is None:
        nd = A._data.ndim
        if nd == 1:
            return vector_norm(A, ord, None, keepdim, dtype=dtype, out=out)
        if nd == 2:
            return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype, out=out)
        raise RuntimeError(
            "linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. Got "
            f"{nd}D."
        )
    if isinstance(dim, int) or len(dim) == 1:
        return vector_norm(A, ord, dim, keepdim, dtype=dtype, out=out)
    return matrix_norm(A, ord, dim, keepdim, dtype=dtype, out=out)


# ---------------------------------------------------------------------------------------------
# probe.linalg: inverses, determinants, solves and decompositions
# ---------------------------------------------------------------------------------------------

def _square_check(t, name):
    _float_check(t, name)
    shape = t._data.shape
    if len(shape) < 2:
        raise RuntimeError(f"{name}: The input tensor A must have at least 2 dimensions.")
    if shape[-1] != shape[-2]:
        raise RuntimeError(
            f"{name}: A must be batches of square matrices, but they are {shape[-2]} by "
            f"{shape[-1]} matrices"
        )


def _batch_prefix(batch_index, ndim):
    return f"(Batch element {batch_index}): " if ndim > 2 else ""


def _first_zero_pivot(a):
    """LAPACK getrf's info for a (host) matrix: the 1-based column of the first zero pivot."""
    u = np.array(a, dtype=np.float64)
    n = u.shape[0]
    for k in range(n):
        p = k + int(np.argmax(np.abs(u[k:, k])))
        if u[p, k] == 0:
            return k + 1
        if p != k:
            u[[k, p]] = u[[p, k]]
        u[k + 1:, k:] -= np.outer(u[k + 1:, k] / u[k, k], u[k, k:])
    return n


def _host(a):
    return a if isinstance(a, np.ndarray) else a.get()


def _singular_error(a, name):
    """PyTorch's message for a singular matrix in ``inv`` (first failing batch element)."""
    h = _host(a)
    flat = h.reshape((-1,) + h.shape[-2:])
    for i, m in enumerate(flat):
        try:
            np.linalg.inv(m)
        except _LinAlgErrorNP:
            info = _first_zero_pivot(m)
            return LinAlgError(
                f"{name}: {_batch_prefix(i, h.ndim)}The diagonal element {info} is zero, the "
                "inversion could not be completed because the input matrix is singular."
            )
    return LinAlgError(f"{name}: The input matrix is singular.")


class Inv(Op):
    node_name = "LinalgInvExBackward0"

    @staticmethod
    def forward(ctx, a):
        try:
            out = ctx.xp.linalg.inv(a)
        except _LinAlgErrorNP:
            raise _singular_error(a, "linalg.inv") from None
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (inv,) = ctx.saved
        xp = ctx.xp
        it = _mT(xp, inv)
        return (-(it @ g @ it) if inv.ndim == 2 else -xp.matmul(xp.matmul(it, g), it),)


def inv(A, *, out=None):
    """Inverse of a square matrix (or a batch of them).

    >>> import probe
    >>> probe.linalg.inv(probe.tensor([[2.0, 0.0], [0.0, 4.0]]))
    tensor([[0.5000, 0.0000],
            [0.0000, 0.2500]])
    """
    _square_check(A, "linalg.inv")
    return _maybe_out(Inv.apply(A), out)


def inverse(input, *, out=None):
    """``torch.inverse``: alias of ``linalg.inv``."""
    return inv(input, out=out)


class Det(Op):
    node_name = "LinalgDetBackward0"

    @staticmethod
    def forward(ctx, a):
        out = ctx.xp.asarray(ctx.xp.linalg.det(a), dtype=a.dtype)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, det = ctx.saved
        xp = ctx.xp
        scale = (g * det).reshape(det.shape + (1, 1))
        if isinstance(a, Tensor):
            return (scale * _mT(xp, xp.linalg.inv(a)),)
        try:
            if bool(xp.all(det != 0)):
                return (scale * _mT(xp, xp.linalg.inv(a)),)
        except _LinAlgErrorNP:
            pass
        # Singular input: the cofactor matrix from the SVD, adj(A)^T = det(U Vh) U adj(S) Vh.
        u, s, vh = xp.linalg.svd(a)
        n = s.shape[-1]
        ones = xp.ones(s.shape[:-1] + (1,), dtype=s.dtype)
        before = xp.cumprod(xp.concatenate([ones, s[..., :-1]], axis=-1), axis=-1)
        after = xp.flip(xp.cumprod(xp.concatenate([ones, xp.flip(s, -1)[..., :-1]], axis=-1),
                                   axis=-1), -1)
        adj_s = before * after
        sign = xp.linalg.det(u) * xp.linalg.det(vh)
        cof = xp.matmul(u * adj_s.reshape(s.shape[:-1] + (1, n)), vh)
        return (g.reshape(det.shape + (1, 1)) * sign.reshape(det.shape + (1, 1)) * cof,)


def det(A, *, out=None):
    """Determinant of a square matrix (or a batch of them)."""
    _square_check(A, "linalg.det")
    return _maybe_out(Det.apply(A), out)


class Slogdet(Op):
    node_name = "LinalgSlogdetBackward0"
    differentiable_outputs = (1,)

    @staticmethod
    def forward(ctx, a):
        xp = ctx.xp
        sign, logabs = xp.linalg.slogdet(a)
        sign = xp.asarray(sign, dtype=a.dtype)
        logabs = xp.asarray(logabs, dtype=a.dtype)
        ctx.save_for_backward(a)
        return sign, logabs

    @staticmethod
    def backward(ctx, g_sign, g_logabs):
        (a,) = ctx.saved
        xp = ctx.xp
        return (g_logabs.reshape(g_logabs.shape + (1, 1)) * _mT(xp, xp.linalg.inv(a)),)


SlogdetResult = namedtuple("slogdet", ["sign", "logabsdet"])


def slogdet(A, *, out=None):
    """``(sign, log|det|)`` of a square matrix; differentiable through ``logabsdet``."""
    _square_check(A, "linalg.slogdet")
    sign, logabs = Slogdet.apply(A)
    return SlogdetResult(sign, logabs)


def logdet(input):
    """``log(det(input))`` (nan for a negative determinant)."""
    sign, logabs = slogdet(input)
    from .arith import add  # noqa: PLC0415

    bad = sign._data < 0
    if bool(bad.any()) if bad.ndim else bool(bad):
        nan = _wrap(input._device.xp.where(bad, np.nan, 0).astype(logabs._data.dtype),
                    input._device)
        return add(logabs, nan)
    return logabs


class Solve(Op):
    node_name = "LinalgSolveExBackward0"

    @staticmethod
    def forward(ctx, a, b, vector, left):
        xp = ctx.xp
        b_ = b.reshape(b.shape + (1,)) if vector else b
        try:
            if left:
                x = xp.linalg.solve(a, b_)
            else:
                x = _mT(xp, xp.linalg.solve(_mT(xp, a), _mT(xp, b_)))
        except _LinAlgErrorNP:
            raise LinAlgError(
                "torch.linalg.solve: The solver failed because the input matrix is singular."
            ) from None
        if vector:
            x = x.reshape(x.shape[:-1])
        ctx.save_for_backward(a, x)
        ctx.vector = vector
        ctx.left = left
        return x

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved
        xp = ctx.xp
        need = ctx.needs_input_grad
        if ctx.vector:
            g = g.reshape(g.shape + (1,))
            x = x.reshape(x.shape + (1,))
        if ctx.left:
            gb = xp.linalg.solve(_mT(xp, a), g)
            ga = -xp.matmul(gb, _mT(xp, x)) if need[0] else None
        else:
            gb = _mT(xp, xp.linalg.solve(a, _mT(xp, g)))
            ga = -xp.matmul(_mT(xp, x), gb) if need[0] else None
        if ctx.vector:
            gb = gb.reshape(gb.shape[:-1])
        return ga, (gb if need[1] else None)


def solve(A, B, *, left=True, out=None):
    """Solve ``A X = B`` (``X A = B`` with ``left=False``); ``B`` may be a vector or a batch."""
    _square_check(A, "linalg.solve")
    a = A._data
    b = B._data
    if a.dtype != b.dtype:
        raise RuntimeError(
            "linalg.solve: Expected A and B to have the same dtype, but found A of type "
            f"{_short(a)} and B of type {_short(b)} instead"
        )
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])
    n = a.shape[-1]
    rows = b.shape[-1] if vector else (b.shape[-2] if left else b.shape[-1])
    if rows != n:
        bs = (b.shape[-1], 1) if vector else b.shape[-2:]
        raise RuntimeError(
            "linalg.solve: Incompatible shapes of A and B for the equation "
            f"{'AX = B' if left else 'XA = B'} ({n}x{n} and {bs[0]}x{bs[1]})"
        )
    return _maybe_out(Solve.apply(A, B, vector, left), out)


def _tril_mask(xp, n, dtype, k=0):
    return xp.tri(n, n, k, dtype=dtype)


def _not_pd_error(a):
    h = _host(a)
    flat = h.reshape((-1,) + h.shape[-2:])
    for i, m in enumerate(flat):
        try:
            np.linalg.cholesky(m)
            continue
        except _LinAlgErrorNP:
            pass
        order = m.shape[0]
        for k in range(1, m.shape[0] + 1):
            try:
                np.linalg.cholesky(m[:k, :k])
            except _LinAlgErrorNP:
                order = k
                break
        return LinAlgError(
            f"linalg.cholesky: {_batch_prefix(i, h.ndim)}The factorization could not be completed "
            f"because the input is not positive-definite (the leading minor of order {order} is "
            "not positive-definite)."
        )
    return LinAlgError("linalg.cholesky: The input is not positive-definite.")


class Cholesky(Op):
    node_name = "LinalgCholeskyExBackward0"

    @staticmethod
    def forward(ctx, a, upper):
        xp = ctx.xp
        try:
            low = xp.linalg.cholesky(a)
        except _LinAlgErrorNP:
            raise _not_pd_error(a) from None
        if xp is not np and not bool(xp.isfinite(low).all()):
            raise _not_pd_error(a)
        out = _mT(xp, low) if upper else low
        ctx.save_for_backward(out)
        ctx.upper = upper
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved
        xp = ctx.xp
        low = _mT(xp, out) if ctx.upper else out
        gl = _mT(xp, g) if ctx.upper else g
        n = low.shape[-1]
        dev_xp = ctx._device.xp
        dtype = out._data.dtype if isinstance(out, Tensor) else out.dtype
        lower = _tril_mask(dev_xp, n, dtype)
        strict = _tril_mask(dev_xp, n, dtype, -1)
        # Murray (2016): gA = L^-T Phi(L^T gL) L^-1, Phi = lower triangle, diagonal halved;
        # written on the symmetric part since only the lower triangle of A is read.
        phi = xp.matmul(_mT(xp, low), gl) * lower
        phi = (phi + _mT(xp, phi * strict)) * 0.5
        linv = xp.linalg.inv(low)
        return (xp.matmul(xp.matmul(_mT(xp, linv), phi), linv),)


def cholesky(A, *, upper=False, out=None):
    """Cholesky factor of a symmetric positive-definite matrix (lower unless ``upper``)."""
    _square_check(A, "linalg.cholesky")
    return _maybe_out(Cholesky.apply(A, bool(upper)), out)


def _cholesky_legacy(input, upper=False, *, out=None):
    return cholesky(input, upper=upper, out=out)


QRResult = namedtuple("linalg_qr", ["Q", "R"])


class QR(Op):
    node_name = "LinalgQrBackward0"

    @staticmethod
    def forward(ctx, a, mode):
        xp = ctx.xp
        if mode == "r":
            r = xp.linalg.qr(a, mode="r")
            return xp.zeros((0,), dtype=a.dtype), r
        q, r = xp.linalg.qr(a, mode=mode)
        ctx.save_for_backward(q, r)
        ctx.mode = mode
        return q, r

    @staticmethod
    def backward(ctx, gq, gr):
        q, r = ctx.saved
        xp = ctx.xp
        m, n = q.shape[-2], r.shape[-1]
        if m < n or (ctx.mode == "complete" and m > n):
            raise NotImplementedError(
                "The derivative of linalg.qr is only implemented for reduced mode with "
                "m >= n (and square matrices in complete mode)"
            )
        k = r.shape[-2]
        dev_xp = ctx._device.xp
        dtype = q._data.dtype if isinstance(q, Tensor) else q.dtype
        lower = _tril_mask(dev_xp, k, dtype)
        strict = _tril_mask(dev_xp, k, dtype, -1)
        # gA = (gQ + Q copyltu(M)) R^-T with M = R gR^T - gQ^T Q.
        mm = xp.matmul(r, _mT(xp, gr)) - xp.matmul(_mT(xp, gq), q)
        sym = mm * lower + _mT(xp, mm * strict)
        rhs = gq + xp.matmul(q, sym)
        return (_mT(xp, xp.linalg.solve(r, _mT(xp, rhs))),)


def qr(A, mode="reduced", *, out=None):
    """QR decomposition ``A = Q R``; ``mode`` is ``'reduced'``, ``'complete'`` or ``'r'``.
    Differentiable for ``m >= n`` in reduced mode."""
    _float_check(A, "linalg.qr")
    if A._data.ndim < 2:
        raise RuntimeError("linalg.qr: The input tensor A must have at least 2 dimensions.")
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(
            f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), "
            "'r', or 'complete'"
        )
    q, r = QR.apply(A, mode)
    return QRResult(q, r)


SVDResult = namedtuple("linalg_svd", ["U", "S", "Vh"])


class SVD(Op):
    node_name = "LinalgSvdBackward0"

    @staticmethod
    def forward(ctx, a, full_matrices):
        u, s, vh = ctx.xp.linalg.svd(a, full_matrices=full_matrices)
        ctx.save_for_backward(u, s, vh)
        ctx.full = full_matrices
        return u, s, vh

    @staticmethod
    def backward(ctx, gu, gs, gvh):
        u, s, vh = ctx.saved
        xp = ctx.xp
        m, n = u.shape[-2], vh.shape[-1]
        k = s.shape[-1]
        if ctx.full and m != n:
            # Only the first k singular vectors are determined by A.
            u, gu = u[..., :k], gu[..., :k]
            vh, gvh = vh[..., :k, :], gvh[..., :k, :]
        dev_xp = ctx._device.xp
        dtype = s._data.dtype if isinstance(s, Tensor) else s.dtype
        eye = dev_xp.eye(k, dtype=dtype)
        v = _mT(xp, vh)
        gv = _mT(xp, gvh)
        uhgu = xp.matmul(_mT(xp, u), gu)
        uhgu = uhgu - _mT(xp, uhgu)
        vhgv = xp.matmul(vh, gv)
        vhgv = vhgv - _mT(xp, vhgv)
        s_row = s.reshape(s.shape[:-1] + (1, k))
        s_col = s.reshape(s.shape + (1,))
        s2 = s * s
        e = s2.reshape(s.shape[:-1] + (1, k)) - s2.reshape(s.shape + (1,)) + eye
        ga = (uhgu * s_row + s_col * vhgv) / e * (1 - eye) + gs.reshape(s.shape + (1,)) * eye
        if m > n:
            ga = xp.matmul(u, ga)
            gus = gu / s_row
            ga = ga + gus - xp.matmul(u, xp.matmul(_mT(xp, u), gus))
            ga = xp.matmul(ga, vh)
        elif m < n:
            ga = xp.matmul(ga, vh)
            sgv = gvh / s_col
            ga = ga + sgv - xp.matmul(xp.matmul(sgv, v), vh)
            ga = xp.matmul(u, ga)
        else:
            ga = xp.matmul(u, xp.matmul(ga, vh))
        return (ga,)


def svd(A, full_matrices=True, *, driver=None, out=None):
    """Singular value decomposition ``A = U diag(S) Vh`` (singular values descending)."""
    _float_check(A, "linalg.svd")
    if A._data.ndim < 2:
        raise RuntimeError("linalg.svd: The input tensor A must have at least 2 dimensions.")
    u, s, vh = SVD.apply(A, bool(full_matrices))
    return SVDResult(u, s, vh)


def svdvals(A, *, driver=None, out=None):
    """Singular values of ``A`` (descending)."""
    _float_check(A, "linalg.svdvals")
    if A._data.ndim < 2:
        raise RuntimeError("linalg.svdvals: The input tensor A must have at least 2 dimensions.")
    from ..grad_mode import STATE  # noqa: PLC0415

    if A._requires_grad and STATE.enabled:
        return _maybe_out(SVD.apply(A, False)[1], out)
    xp = A._device.xp
    return _maybe_out(_wrap(xp.linalg.svd(A._data, compute_uv=False), A._device), out)


EighResult = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])


class Eigh(Op):
    node_name = "LinalgEighBackward0"

    @staticmethod
    def forward(ctx, a, uplo):
        w, v = ctx.xp.linalg.eigh(a, UPLO=uplo)
        ctx.save_for_backward(w, v)
        return w, v

    @staticmethod
    def backward(ctx, gw, gv):
        w, v = ctx.saved
        xp = ctx.xp
        n = w.shape[-1]
        dev_xp = ctx._device.xp
        dtype = w._data.dtype if isinstance(w, Tensor) else w.dtype
        eye = dev_xp.eye(n, dtype=dtype)
        # gA = V (diag(gw) + skew(V^T gV) / E) V^T with E_ij = w_j - w_i (skew part: A is
        # symmetric, so only symmetric perturbations are meaningful).
        vhgv = xp.matmul(_mT(xp, v), gv)
        vhgv = (vhgv - _mT(xp, vhgv)) * 0.5
        e = w.reshape(w.shape[:-1] + (1, n)) - w.reshape(w.shape + (1,)) + eye
        inner_ = vhgv / e * (1 - eye) + gw.reshape(w.shape + (1,)) * eye
        return (xp.matmul(v, xp.matmul(inner_, _mT(xp, v))),)


def eigh(A, UPLO="L", *, out=None):
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix."""
    _square_check(A, "linalg.eigh")
    w, v = Eigh.apply(A, UPLO)
    return EighResult(w, v)


def eigvalsh(A, UPLO="L", *, out=None):
    """Eigenvalues (ascending) of a symmetric matrix."""
    _square_check(A, "linalg.eigvalsh")
    return _maybe_out(Eigh.apply(A, UPLO)[0], out)


def matrix_power(A, n, *, out=None):
    """``A`` multiplied by itself ``n`` times (``n < 0``: powers of the inverse)."""
    if A._data.ndim < 2 or A._data.shape[-1] != A._data.shape[-2]:
        raise RuntimeError(
            "linalg.matrix_power: A must be batches of square matrices, but they are "
            f"{A._data.shape[-2] if A._data.ndim >= 2 else 1} by {A._data.shape[-1]} matrices"
        )
    if n == 0:
        eye = A._device.xp.broadcast_to(A._device.xp.eye(A._data.shape[-1], dtype=A._data.dtype),
                                        A._data.shape).copy()
        return _maybe_out(_wrap(eye, A._device), out)
    base = inv(A) if n < 0 else A
    n = abs(n)
    result = None
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    return _maybe_out(result, out)


def multi_dot(tensors, *, out=None):
    """Product of a chain of matrices (first/last may be vectors), left to right."""
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    result = tensors[0]
    for t in tensors[1:]:
        result = matmul(result, t)
    return _maybe_out(result, out)


def vecdot(x, y, *, dim=-1, out=None):
    """Dot product of vectors along ``dim`` (broadcasting the rest)."""
    nd = max(x._data.ndim, y._data.ndim)
    d = _wrap_dim(dim, nd)
    letters = _LETTERS[:nd]
    lx = letters[nd - x._data.ndim:]
    ly = letters[nd - y._data.ndim:]
    out_l = letters.replace(letters[d], "")
    if x._data.dtype != y._data.dtype:
        raise RuntimeError("linalg.vecdot: Expected x and y to have the same dtype, but found x "
                           f"of type {_short(x._data)} and y of type {_short(y._data)} instead")
    return _maybe_out(einsum(f"{lx},{ly}->{out_l}", x, y), out)


# ---------------------------------------------------------------------------------------------
# NumPy-named functions over Tensors (ctx.xp under create_graph)
# ---------------------------------------------------------------------------------------------

def _ns_pair(a, b):
    if not isinstance(a, Tensor):
        a = as_operand(a, b)
    if not isinstance(b, Tensor):
        b = as_operand(b, a)
    if a._data.dtype != b._data.dtype:
        a, b, _ = promote_operands(a, b)
    return a, b


def _ns_matmul(a, b):
    return matmul(*_ns_pair(a, b))


def _ns_dot(a, b):
    a, b = _ns_pair(a, b)
    if a._data.ndim == 0 or b._data.ndim == 0:
        return a * b
    return matmul(a, b)


def _ns_einsum(subscripts, *operands, optimize=False, **kwargs):
    like = next(o for o in operands if isinstance(o, Tensor))
    ops = [o if isinstance(o, Tensor) else as_operand(o, like) for o in operands]
    dtype = ops[0]._data.dtype
    if any(o._data.dtype != dtype for o in ops):
        from ._common import cast  # noqa: PLC0415

        target = _dt.result_type_of([(o.dtype, 2) for o in ops])
        ops = [cast(o, target) for o in ops]
    return einsum(subscripts, *ops)


def _ns_outer(a, b):
    a, b = _ns_pair(a, b)
    return outer(a.reshape(-1), b.reshape(-1))


def _ns_tensordot(a, b, axes=2):
    a, b = _ns_pair(a, b)
    return tensordot(a, b, axes)


def _ns_cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    a, b = _ns_pair(a, b)
    return _cross(a, b, -1 if axis is None else axis, "linalg.cross")


def _ns_kron(a, b):
    return kron(*_ns_pair(a, b))


def _ns_inner(a, b):
    return inner(*_ns_pair(a, b))


def _ns_vdot(a, b):
    a, b = _ns_pair(a, b)
    return _dot(a.reshape(-1), b.reshape(-1), "vdot")


def _ns_solve(a, b):
    a, b = _ns_pair(a, b)
    # NumPy 2 treats only a 1-D ``b`` as a vector.
    vector = b._data.ndim == 1
    return Solve.apply(a, b, vector, True)


_NS_LINALG = types.SimpleNamespace(
    inv=lambda a: Inv.apply(a),
    det=lambda a: Det.apply(a),
    solve=_ns_solve,
    cholesky=lambda a, upper=False: Cholesky.apply(a, upper),
    svd=lambda a, full_matrices=True, compute_uv=True: (
        SVD.apply(a, full_matrices) if compute_uv else SVD.apply(a, False)[1]),
    eigh=lambda a, UPLO="L": Eigh.apply(a, UPLO),
    qr=lambda a, mode="reduced": QR.apply(a, mode),
    slogdet=lambda a: Slogdet.apply(a),
    norm=lambda x, ord=None, axis=None, keepdims=False: norm(x, ord, axis, keepdims),
    LinAlgError=_LinAlgErrorNP,
)


def _maybe_out(result, out):
    if out is None:
        return result
    from .inplace import copy_into_out  # noqa: PLC0415

    return copy_into_out(out, result)


FUNCTIONS = {
    "matmul": matmul, "mm": mm, "bmm": bmm, "mv": mv, "dot": dot, "vdot": vdot,
    "inner": inner, "outer": outer, "ger": ger, "addmm": addmm, "addmv": addmv,
    "addbmm": addbmm, "baddbmm": baddbmm, "einsum": einsum, "tensordot": tensordot,
    "kron": kron, "cross": cross, "_linear": linear, "inverse": inverse, "det": det,
    "slogdet": slogdet, "logdet": logdet, "cholesky": _cholesky_legacy,
    "chain_matmul": lambda *matrices, out=None: multi_dot(matrices, out=out),
    "matrix_power": matrix_power,
}

TENSOR_METHODS = {
    "matmul": matmul, "__matmul__": _matmul_operator, "__rmatmul__": _rmatmul, "mm": mm,
    "bmm": bmm, "mv": mv, "dot": dot, "vdot": vdot, "inner": inner, "outer": outer,
    "ger": ger, "addmm": addmm, "addmv": addmv, "addbmm": addbmm, "baddbmm": baddbmm,
    "kron": kron, "cross": cross, "inverse": inverse, "det": det, "slogdet": slogdet,
    "logdet": logdet, "cholesky": _cholesky_legacy, "matrix_power": matrix_power,
}

NUMPY_NAMESPACE = {
    "matmul": _ns_matmul, "dot": _ns_dot, "vdot": _ns_vdot, "einsum": _ns_einsum,
    "outer": _ns_outer, "inner": _ns_inner, "tensordot": _ns_tensordot, "cross": _ns_cross,
    "kron": _ns_kron, "linalg": _NS_LINALG,
}
