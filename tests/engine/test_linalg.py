"""Matrix products and probe.linalg: values, grad_fn names, errors, gradcheck/gradgradcheck."""

from __future__ import annotations

import math

import numpy as np
import pytest

import probe
from probe.autograd import gradcheck, gradgradcheck
from probe.engine.ops import linalg as _linalg_ops


def to_numpy(t):
    return t.detach().cpu().numpy()


def _r(rng, *shape, device="cpu", grad=True, dtype=probe.float64):
    return probe.tensor(rng.standard_normal(shape), dtype=dtype, device=device,
                        requires_grad=grad)


MATMUL_CASES = [
    ((3,), (3,), "DotBackward0"),
    ((2, 3), (3, 4), "MmBackward0"),
    ((3,), (3, 4), "SqueezeBackward4"),
    ((2, 3), (3,), "MvBackward0"),
    ((2, 2, 3), (2, 3, 4), "UnsafeViewBackward0"),
    ((2, 2, 3), (3, 4), "UnsafeViewBackward0"),
    ((2, 3), (5, 3, 4), "CloneBackward0"),
    ((2, 2, 3), (3,), "UnsafeViewBackward0"),
    ((3,), (2, 3, 4), "UnsafeViewBackward0"),
    ((2, 1, 2, 3), (1, 5, 3, 4), "UnsafeViewBackward0"),
    ((2, 5, 2, 3), (3, 4), "UnsafeViewBackward0"),
    ((1, 2, 3), (4, 3, 5), "CloneBackward0"),
    ((2, 3, 4, 5), (3, 5, 6), "UnsafeViewBackward0"),
    ((2, 3, 4, 5), (5,), "UnsafeViewBackward0"),
]


@pytest.mark.parametrize("sa,sb,name", MATMUL_CASES)
def test_matmul_values_names_and_grads(device, rng, sa, sb, name):
    a = _r(rng, *sa, device=device)
    b = _r(rng, *sb, device=device)
    out = a @ b
    expected = np.matmul(to_numpy(a), to_numpy(b))
    assert out.shape == expected.shape
    np.testing.assert_allclose(to_numpy(out), expected, rtol=1e-12, atol=1e-12)
    assert out.grad_fn.name() == name
    assert out.dtype == probe.float64
    if device == "cpu":
        assert gradcheck(probe.matmul, (a, b))


@pytest.mark.parametrize("sa,sb", [((2, 3), (3, 4)), ((3,), (3,)), ((2, 2, 3), (3, 4)),
                                   ((2, 2, 3), (2, 3, 4)), ((3,), (2, 3, 2)),
                                   ((2, 3), (3,)), ((2, 1, 2, 3), (3, 3, 2))])
def test_matmul_gradgradcheck(rng, sa, sb):
    a = _r(rng, *sa)
    b = _r(rng, *sb)
    assert gradgradcheck(probe.matmul, (a, b))


def test_matmul_float32_stays_float32(device, rng):
    a = _r(rng, 4, 3, device=device, dtype=probe.float32)
    w = _r(rng, 3, 2, device=device, dtype=probe.float32)
    out = a @ w
    assert out.dtype == probe.float32
    out.backward(probe.ones(4, 2, device=device))
    assert a.grad.dtype == probe.float32 and w.grad.dtype == probe.float32


def test_matmul_only_one_side_requires_grad(rng):
    x = _r(rng, 4, 3, grad=False)
    w = _r(rng, 3, 2)
    (x @ w).backward(probe.ones(4, 2, dtype=probe.float64))
    np.testing.assert_allclose(w.grad.numpy(), x.numpy().T @ np.ones((4, 2)))
    x3 = _r(rng, 2, 4, 3)
    w3 = _r(rng, 3, 2, grad=False)
    (x3 @ w3).backward(probe.ones(2, 4, 2, dtype=probe.float64))
    np.testing.assert_allclose(x3.grad.numpy(), np.ones((2, 4, 2)) @ w3.numpy().T)


@pytest.mark.parametrize("fn,msg", [
    (lambda: probe.randn(2, 3) @ probe.randn(4, 5),
     "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"),
    (lambda: probe.randn(3) @ probe.randn(4),
     "inconsistent tensor size, expected tensor [3] and src [4] to have the same number of "
     "elements, but got 3 and 4 elements respectively"),
    (lambda: probe.randn(2, 3) @ probe.randn(3, 4, dtype=probe.float64),
     "expected m1 and m2 to have the same dtype, but got: float != double"),
    (lambda: probe.randn(2, 3) @ probe.randn(4),
     "size mismatch, got input (2), mat (2x3), vec (4)"),
    (lambda: probe.randn(3) @ probe.randn(4, 5),
     "mat1 and mat2 shapes cannot be multiplied (1x3 and 4x5)"),
    (lambda: probe.randn(2, 2, 3) @ probe.randn(4, 5),
     "mat1 and mat2 shapes cannot be multiplied (4x3 and 4x5)"),
    (lambda: probe.randn(2, 2, 3) @ probe.randn(2, 4, 5),
     "Expected size for first two dimensions of batch2 tensor to be: [2, 3] but got: [2, 4]."),
    (lambda: probe.randn(3, 2, 3) @ probe.randn(2, 3, 5),
     "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 0"),
    (lambda: probe.randn(2, 2, 3) @ probe.randn(2, 3, 4, dtype=probe.float64),
     "expected scalar type Float but found Double"),
    (lambda: probe.tensor(1.0) @ probe.randn(3),
     "both arguments to matmul need to be at least 1D, but they are 0D and 1D"),
    (lambda: probe.mm(probe.randn(2, 3, 4), probe.randn(4, 5)), "self must be a matrix"),
    (lambda: probe.bmm(probe.randn(2, 3), probe.randn(3, 4)), "batch1 must be a 3D tensor"),
    (lambda: probe.mv(probe.randn(3), probe.randn(3)),
     "vector + matrix @ vector expected, got 1, 1, 1"),
    (lambda: probe.dot(probe.randn(3, 1), probe.randn(3)),
     "1D tensors expected, but got 2D and 1D tensors"),
    (lambda: probe.dot(probe.randn(3), probe.randn(3, dtype=probe.float64)),
     "dot : expected both vectors to have same dtype, but found Float and Double"),
    (lambda: probe.outer(probe.randn(3, 1), probe.randn(4)),
     "outer: Expected 1-D argument self, but got 2-D"),
    (lambda: probe.einsum("ij,jk->ik", probe.randn(2, 3), probe.randn(4, 5)),
     "einsum(): subscript j has size 4 for operand 1 which does not broadcast with previously "
     "seen size 3"),
    (lambda: probe.einsum("ij,jk", probe.randn(2, 3)),
     "einsum(): fewer operands were provided than specified in the equation"),
    (lambda: probe.einsum("ij->ik", probe.randn(2, 3)),
     "einsum(): output subscript k does not appear in the equation for any input operand"),
    (lambda: probe.einsum("ijk->ij", probe.randn(2, 3)),
     "einsum(): the number of subscripts in the equation (3) does not match the number of "
     "dimensions (2) for operand 0 and no ellipsis was given"),
    (lambda: probe.tensordot(probe.randn(2, 3), probe.randn(4, 5), dims=1),
     "contracted dimensions need to match, but first has size 3 in dim -1 and second has size "
     "4 in dim 0"),
])
def test_product_errors(fn, msg):
    with pytest.raises(RuntimeError) as info:
        fn()
    assert str(info.value) == msg


def test_mm_bmm_mv_dot_vdot(rng):
    a, b = _r(rng, 2, 3), _r(rng, 3, 4)
    assert probe.mm(a, b).grad_fn.name() == "MmBackward0"
    assert gradcheck(probe.mm, (a, b))
    assert gradgradcheck(probe.mm, (a, b))
    x, y = _r(rng, 2, 2, 3), _r(rng, 2, 3, 4)
    assert probe.bmm(x, y).grad_fn.name() == "BmmBackward0"
    assert gradcheck(probe.bmm, (x, y))
    assert gradgradcheck(probe.bmm, (x, y))
    m, v = _r(rng, 2, 3), _r(rng, 3)
    assert gradcheck(probe.mv, (m, v))
    u, w = _r(rng, 4), _r(rng, 4)
    assert probe.dot(u, w).grad_fn.name() == "DotBackward0"
    assert probe.vdot(u, w).grad_fn.name() == "VdotBackward0"
    assert gradcheck(probe.dot, (u, w)) and gradcheck(probe.vdot, (u, w))
    assert abs(probe.dot(u, w).item() - float(u.detach().numpy() @ w.detach().numpy())) < 1e-12


def test_outer_inner_ger(rng):
    a, b = _r(rng, 3), _r(rng, 4)
    out = probe.outer(a, b)
    assert out.grad_fn.name() == "MulBackward0"
    np.testing.assert_allclose(out.detach().numpy(), np.outer(a.detach().numpy(),
                                                              b.detach().numpy()))
    assert gradcheck(probe.outer, (a, b))
    assert gradgradcheck(probe.outer, (a, b))
    assert probe.ger(a, b).shape == (3, 4)
    assert probe.outer(a.float(), b).dtype == probe.float64  # outer promotes, unlike mm
    x, y = _r(rng, 2, 3), _r(rng, 4, 3)
    np.testing.assert_allclose(probe.inner(x, y).detach().numpy(),
                               np.inner(x.detach().numpy(), y.detach().numpy()))
    assert gradcheck(probe.inner, (x, y))


@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 1.5)])
def test_addmm_family(rng, beta, alpha):
    inp, m1, m2 = _r(rng, 4), _r(rng, 3, 2), _r(rng, 2, 4)
    out = probe.addmm(inp, m1, m2, beta=beta, alpha=alpha)
    assert out.grad_fn.name() == "AddmmBackward0"
    ref = beta * inp.detach().numpy() + alpha * m1.detach().numpy() @ m2.detach().numpy()
    np.testing.assert_allclose(out.detach().numpy(), ref)
    assert gradcheck(lambda i, a, b: probe.addmm(i, a, b, beta=beta, alpha=alpha), (inp, m1, m2))
    vin, mat, vec = _r(rng, 3), _r(rng, 3, 2), _r(rng, 2)
    assert probe.addmv(vin, mat, vec).grad_fn.name() == "AddmvBackward0"
    assert gradcheck(lambda i, m, v: probe.addmv(i, m, v, beta=beta, alpha=alpha),
                     (vin, mat, vec))
    b1, b2 = _r(rng, 2, 3, 2), _r(rng, 2, 2, 4)
    bin_ = _r(rng, 2, 3, 4)
    assert probe.baddbmm(bin_, b1, b2).grad_fn.name() == "BaddbmmBackward0"
    assert gradcheck(lambda i, x, y: probe.baddbmm(i, x, y, beta=beta, alpha=alpha),
                     (bin_, b1, b2))
    ain = _r(rng, 3, 4)
    out = probe.addbmm(ain, b1, b2, beta=beta, alpha=alpha)
    assert out.grad_fn.name() == "AddbmmBackward0"
    ref = beta * ain.detach().numpy() + alpha * (b1.detach().numpy() @ b2.detach().numpy()).sum(0)
    np.testing.assert_allclose(out.detach().numpy(), ref)
    assert gradcheck(lambda i, x, y: probe.addbmm(i, x, y, beta=beta, alpha=alpha),
                     (ain, b1, b2))


def test_addmm_beta_zero_ignores_nan_input():
    inp = probe.tensor([float("nan")] * 2)
    out = probe.addmm(inp, probe.ones(2, 3), probe.ones(3, 2), beta=0)
    assert np.isfinite(out.numpy()).all()


@pytest.mark.parametrize("xshape,bias,name", [
    ((4, 3), True, "AddmmBackward0"), ((4, 3), False, "MmBackward0"),
    ((2, 4, 3), True, "ViewBackward0"), ((2, 4, 3), False, "UnsafeViewBackward0"),
    ((3,), True, "ViewBackward0"), ((3,), False, "SqueezeBackward4"),
])
def test_linear(device, rng, xshape, bias, name):
    x = _r(rng, *xshape, device=device)
    w = _r(rng, 5, 3, device=device)
    b = _r(rng, 5, device=device) if bias else None
    out = probe._linear(x, w, b)
    ref = to_numpy(x) @ to_numpy(w).T + (to_numpy(b) if bias else 0)
    np.testing.assert_allclose(to_numpy(out), ref, rtol=1e-12)
    assert out.grad_fn.name() == name
    if device == "cpu":
        args = (x, w, b) if bias else (x, w)
        assert gradcheck(lambda *t: probe._linear(*t), args)
        assert gradgradcheck(lambda *t: probe._linear(*t), args)


def test_linear_errors_and_float32():
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(2x5 and "
                                           r"3x4\)"):
        probe._linear(probe.randn(2, 5), probe.randn(4, 3))
    x = probe.randn(8, 3, requires_grad=True)
    w = probe.randn(4, 3, requires_grad=True)
    b = probe.randn(4, requires_grad=True)
    out = probe._linear(x, w, b)
    assert out.dtype == probe.float32
    out.backward(probe.ones(8, 4))
    assert {x.grad.dtype, w.grad.dtype, b.grad.dtype} == {probe.float32}
    np.testing.assert_allclose(b.grad.numpy(), np.full(4, 8.0))


EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->ji", [(2, 3)]),
    ("i,j->ij", [(2), (3)]),
    ("i,i->", [(3,), (3,)]),
    ("...ij,...jk->...ik", [(5, 2, 3), (3, 4)]),
    ("...ij,...jk", [(2, 1, 2, 3), (4, 3, 2)]),
    ("b i j, b j k -> b i k", [(2, 2, 3), (2, 3, 4)]),
    ("ij,jk->ik", [(2, 3), (1, 4)]),
    ("iij->j", [(2, 2, 3)]),
    ("ij,ij,ij->i", [(2, 3), (2, 3), (2, 3)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
    ("i...->...", [(2, 3, 4)]),
]


@pytest.mark.parametrize("eq,shapes", EINSUM_CASES)
def test_einsum(rng, eq, shapes):
    ops = [_r(rng, *((s,) if isinstance(s, int) else s)) for s in shapes]
    out = probe.einsum(eq, *ops)
    ref = np.einsum(eq.replace(" ", ""), *[o.detach().numpy() for o in ops])
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda *t: probe.einsum(eq, *t), tuple(ops))


@pytest.mark.parametrize("eq,shapes", [EINSUM_CASES[0], EINSUM_CASES[3], EINSUM_CASES[9],
                                       EINSUM_CASES[13]])
def test_einsum_gradgradcheck(rng, eq, shapes):
    ops = [_r(rng, *s) for s in shapes]
    assert gradgradcheck(lambda *t: probe.einsum(eq, *t), tuple(ops))


def test_einsum_list_operands_and_same_tensor_twice(rng):
    a, b = _r(rng, 2, 3), _r(rng, 3, 4)
    np.testing.assert_allclose(probe.einsum("ij,jk->ik", [a, b]).detach().numpy(),
                               (a @ b).detach().numpy())
    x = _r(rng, 4)
    probe.einsum("i,i->", x, x).backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy())


@pytest.mark.parametrize("dims", [2, 1, 0, ([1, 0], [0, 1]), ([-1], [1])])
def test_tensordot(rng, dims):
    a = _r(rng, 3, 4, 5) if dims != ([1, 0], [0, 1]) else _r(rng, 3, 4)
    b = _r(rng, 4, 5, 2) if dims in (2, 1, 0) else _r(rng, 4, 3)
    if dims == 1:
        b = _r(rng, 5, 2)
    if dims == ([-1], [1]):
        a, b = _r(rng, 3, 4), _r(rng, 2, 4)
    out = probe.tensordot(a, b, dims=dims)
    ref = np.tensordot(a.detach().numpy(), b.detach().numpy(), axes=dims)
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-12)
    assert gradcheck(lambda x, y: probe.tensordot(x, y, dims=dims), (a, b))


@pytest.mark.parametrize("sa,sb", [((2, 3), (3, 2)), ((2,), (3,)), ((2, 2), (3,)),
                                   ((2, 1, 2), (2, 3))])
def test_kron(rng, sa, sb):
    a, b = _r(rng, *sa), _r(rng, *sb)
    out = probe.kron(a, b)
    np.testing.assert_allclose(out.detach().numpy(), np.kron(a.detach().numpy(),
                                                             b.detach().numpy()))
    assert gradcheck(probe.kron, (a, b))


def test_cross(rng):
    a, b = _r(rng, 4, 3), _r(rng, 4, 3)
    out = probe.linalg.cross(a, b)
    assert out.grad_fn.name() == "LinalgCrossBackward0"
    np.testing.assert_allclose(out.detach().numpy(), np.cross(a.detach().numpy(),
                                                              b.detach().numpy()))
    assert gradcheck(probe.linalg.cross, (a, b))
    c, d = _r(rng, 3, 2), _r(rng, 3, 2)
    assert gradcheck(lambda x, y: probe.cross(x, y, dim=0), (c, d))
    with pytest.raises(RuntimeError, match="must have length 3"):
        probe.linalg.cross(probe.randn(2), probe.randn(2))


# --- probe.linalg -------------------------------------------------------------------------

@pytest.mark.parametrize("impl", ["public", "fallback"])
@pytest.mark.parametrize("ord", [2, 1, math.inf, -math.inf, 3, 0.5, 0])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), ((0, 2), True), (-1, True)])
def test_vector_norm(rng, ord, dim, keepdim, impl):
    # probe.linalg.vector_norm shares the reduction module's op; linalg keeps its own fallback.
    fn = probe.linalg.vector_norm if impl == "public" else _linalg_ops._vector_norm
    x = _r(rng, 2, 3, 4)
    out = fn(x, ord, dim, keepdim)
    xn = x.detach().numpy()
    axes = None if dim is None else dim
    a = np.abs(xn)
    if ord == math.inf:
        ref = a.max(axis=axes, keepdims=keepdim)
    elif ord == -math.inf:
        ref = a.min(axis=axes, keepdims=keepdim)
    elif ord == 0:
        ref = (xn != 0).sum(axis=axes, keepdims=keepdim).astype(float)
    else:
        ref = (a**ord).sum(axis=axes, keepdims=keepdim) ** (1 / ord)
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-10)
    assert out.grad_fn.name() == "LinalgVectorNormBackward0"
    assert gradcheck(lambda t: fn(t, ord, dim, keepdim), (x,))


def test_vector_norm_zero_and_dtype(rng):
    z = probe.zeros(3, dtype=probe.float64, requires_grad=True)
    probe.linalg.vector_norm(z).backward()
    assert (z.grad.numpy() == 0).all()
    assert probe.linalg.vector_norm(probe.ones(3)).dtype == probe.float32
    assert probe.linalg.vector_norm(probe.ones(3), dtype=probe.float64).dtype == probe.float64
    with pytest.raises(RuntimeError, match="Expected a floating point or complex tensor as input. "
                                           "Got Long"):
        probe.linalg.vector_norm(probe.tensor([1, 2]))
    x = _r(rng, 3, 4)
    assert gradgradcheck(lambda t: probe.linalg.vector_norm(t, 2, 1), (x,))


def test_matrix_norm_and_norm(rng):
    a = _r(rng, 3, 4)
    an = a.detach().numpy()
    fro = probe.linalg.matrix_norm(a)
    assert fro.grad_fn.name() == "LinalgVectorNormBackward0"
    np.testing.assert_allclose(fro.item(), np.linalg.norm(an))
    assert gradcheck(probe.linalg.matrix_norm, (a,))
    np.testing.assert_allclose(probe.linalg.norm(a).item(), np.linalg.norm(an))
    np.testing.assert_allclose(probe.linalg.norm(a, dim=1).detach().numpy(),
                               np.linalg.norm(an, axis=1))
    b = _r(rng, 2, 3, 3)
    np.testing.assert_allclose(probe.linalg.matrix_norm(b, keepdim=True).detach().numpy(),
                               np.linalg.norm(b.detach().numpy(), axis=(1, 2), keepdims=True))
    with pytest.raises(RuntimeError, match="If dim is not specified but ord is, the input must be "
                                           "1D or 2D. Got 3D."):
        probe.linalg.norm(b, ord=2)
    with pytest.raises(RuntimeError, match="Order 3 not supported"):
        probe.linalg.matrix_norm(a, 3)


@pytest.mark.parametrize("ord", ["nuc", 2, -2, 1, -1, math.inf, -math.inf])
def test_matrix_norm_orders(rng, ord):
    a = _r(rng, 3, 4)
    out = probe.linalg.matrix_norm(a, ord)
    np.testing.assert_allclose(out.item(), np.linalg.norm(a.detach().numpy(), ord), rtol=1e-10)
    assert gradcheck(lambda t: probe.linalg.matrix_norm(t, ord), (a,))


def test_inv_det_slogdet(rng):
    a = probe.tensor(rng.standard_normal((3, 3)) + 3 * np.eye(3), requires_grad=True)
    inv = probe.linalg.inv(a)
    assert inv.grad_fn.name() == "LinalgInvExBackward0"
    np.testing.assert_allclose(inv.detach().numpy(), np.linalg.inv(a.detach().numpy()))
    assert gradcheck(probe.linalg.inv, (a,))
    assert gradgradcheck(probe.linalg.inv, (a,))
    assert probe.inverse(a).shape == (3, 3)
    d = probe.linalg.det(a)
    assert d.grad_fn.name() == "LinalgDetBackward0"
    np.testing.assert_allclose(d.item(), np.linalg.det(a.detach().numpy()))
    assert gradcheck(probe.linalg.det, (a,))
    assert gradgradcheck(probe.linalg.det, (a,))
    batch = probe.tensor(rng.standard_normal((2, 3, 3)), requires_grad=True)
    assert gradcheck(probe.linalg.det, (batch,))
    assert gradcheck(probe.linalg.inv, (batch,))
    assert gradcheck(lambda t: probe.linalg.slogdet(t).logabsdet, (batch,))
    sign, logabs = probe.linalg.slogdet(batch)
    ref_sign, ref_log = np.linalg.slogdet(batch.detach().numpy())
    np.testing.assert_allclose(sign.numpy(), ref_sign)
    np.testing.assert_allclose(logabs.detach().numpy(), ref_log)


def test_det_gradient_of_singular_matrix():
    a = probe.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]], dtype=probe.float64,
                     requires_grad=True)
    probe.linalg.det(a).backward()
    an = a.detach().numpy()
    # The gradient of det is the cofactor matrix.
    cof = np.array([[np.linalg.det(np.delete(np.delete(an, i, 0), j, 1)) * (-1) ** (i + j)
                     for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(a.grad.numpy(), cof, atol=1e-10)


def test_linalg_errors():
    with pytest.raises(probe.linalg.LinAlgError) as info:
        probe.linalg.inv(probe.ones(3, 3))
    assert str(info.value) == ("linalg.inv: The diagonal element 2 is zero, the inversion could "
                               "not be completed because the input matrix is singular.")
    with pytest.raises(RuntimeError) as info:
        probe.linalg.inv(probe.stack([probe.eye(3), probe.ones(3, 3)]))
    assert "(Batch element 1): The diagonal element 2 is zero" in str(info.value)
    with pytest.raises(RuntimeError, match="A must be batches of square matrices, but they are 2 "
                                           "by 3 matrices"):
        probe.linalg.det(probe.randn(2, 3))
    with pytest.raises(RuntimeError, match="The leading minor of order 2|leading minor of order "
                                           "2 is not positive-definite"):
        probe.linalg.cholesky(probe.tensor([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(RuntimeError, match="The solver failed because the input matrix is "
                                           "singular"):
        probe.linalg.solve(probe.ones(3, 3), probe.ones(3))
    with pytest.raises(RuntimeError, match=r"Incompatible shapes of A and B for the equation "
                                           r"AX = B \(3x3 and 4x1\)"):
        probe.linalg.solve(probe.randn(3, 3), probe.randn(4))


@pytest.mark.parametrize("ashape,bshape,left", [
    ((3, 3), (3,), True), ((3, 3), (3, 2), True), ((2, 3, 3), (2, 3), True),
    ((2, 3, 3), (3, 2), True), ((3, 3), (2, 3), False), ((2, 3, 3), (3,), True),
])
def test_solve(rng, ashape, bshape, left):
    a = probe.tensor(rng.standard_normal(ashape) + 3 * np.eye(ashape[-1]), requires_grad=True)
    b = _r(rng, *bshape)
    x = probe.linalg.solve(a, b, left=left)
    assert x.grad_fn.name() == "LinalgSolveExBackward0"
    an, bn = a.detach().numpy(), b.detach().numpy()
    xn = x.detach().numpy()
    if left:
        recon = np.einsum("...ij,...j->...i", an, xn) if xn.ndim == an.ndim - 1 and \
            bn.shape[-1] == an.shape[-1] and (bn.ndim == 1 or bn.shape == an.shape[:-1]) \
            else an @ xn
    else:
        recon = xn @ an
    np.testing.assert_allclose(np.broadcast_to(recon, np.broadcast_shapes(recon.shape, bn.shape)),
                               np.broadcast_to(bn, np.broadcast_shapes(recon.shape, bn.shape)),
                               atol=1e-10)
    assert gradcheck(lambda p, q: probe.linalg.solve(p, q, left=left), (a, b))
    assert gradgradcheck(lambda p, q: probe.linalg.solve(p, q, left=left), (a, b))


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky(rng, upper):
    x = _r(rng, 3, 3)

    def f(t):
        spd = t @ t.transpose(-1, -2) + probe.eye(3, dtype=probe.float64) * 3
        return probe.linalg.cholesky(spd, upper=upper)

    out = f(x)
    assert out.grad_fn.name() == "LinalgCholeskyExBackward0"
    spd = x.detach().numpy() @ x.detach().numpy().T + 3 * np.eye(3)
    ref = np.linalg.cholesky(spd)
    np.testing.assert_allclose(out.detach().numpy(), ref.T if upper else ref, atol=1e-12)
    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4, 3)])
def test_qr(rng, shape):
    a = _r(rng, *shape)
    q, r = probe.linalg.qr(a)
    assert q.grad_fn.name() == "LinalgQrBackward0"
    np.testing.assert_allclose((q @ r).detach().numpy(), a.detach().numpy(), atol=1e-12)
    assert gradcheck(lambda t: tuple(probe.linalg.qr(t)), (a,))
    assert probe.linalg.qr(a, mode="r").Q.shape == (0,)


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4), (2, 3, 3)])
def test_svd(rng, shape):
    a = _r(rng, *shape)
    u, s, vh = probe.linalg.svd(a, full_matrices=False)
    assert s.grad_fn.name() == "LinalgSvdBackward0"
    recon = (u * s.unsqueeze(-2)) @ vh
    np.testing.assert_allclose(recon.detach().numpy(), a.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(s.detach().numpy(), np.linalg.svd(a.detach().numpy(),
                                                                 compute_uv=False))

    def f(t):
        u, s, vh = probe.linalg.svd(t, full_matrices=False)
        return s, u @ vh  # sign-invariant functions of the singular vectors

    assert gradcheck(f, (a,))
    assert gradcheck(probe.linalg.svdvals, (a,))
    full = probe.linalg.svd(a)
    assert full.U.shape[-1] == shape[-2] and full.Vh.shape[-2] == shape[-1]


def test_eigh(rng):
    x = _r(rng, 3, 3)

    def f(t):
        w, v = probe.linalg.eigh(t + t.transpose(-1, -2))
        return w, v * v  # squares are invariant to the eigenvectors' signs

    w, v = probe.linalg.eigh(x + x.transpose(-1, -2))
    assert w.grad_fn.name() == "LinalgEighBackward0"
    sym = x.detach().numpy() + x.detach().numpy().T
    np.testing.assert_allclose(w.detach().numpy(), np.linalg.eigvalsh(sym), atol=1e-12)
    assert gradcheck(f, (x,))
    assert gradcheck(lambda t: probe.linalg.eigvalsh(t + t.transpose(-1, -2)), (x,))


def test_matrix_power_multi_dot_vecdot(rng):
    a = _r(rng, 3, 3)
    np.testing.assert_allclose(probe.linalg.matrix_power(a, 3).detach().numpy(),
                               np.linalg.matrix_power(a.detach().numpy(), 3))
    assert gradcheck(lambda t: probe.linalg.matrix_power(t, 2), (a,))
    b, c = _r(rng, 3, 4), _r(rng, 4)
    np.testing.assert_allclose(probe.linalg.multi_dot([a, b, c]).detach().numpy(),
                               a.detach().numpy() @ b.detach().numpy() @ c.detach().numpy())
    x, y = _r(rng, 2, 3), _r(rng, 3)
    np.testing.assert_allclose(probe.linalg.vecdot(x, y).detach().numpy(),
                               x.detach().numpy() @ y.detach().numpy())
    assert gradcheck(probe.linalg.vecdot, (x, y))


def test_saved_operand_modified_inplace_raises():
    x = probe.randn(2, 3, requires_grad=True)
    w = probe.randn(3, 4, requires_grad=True)
    y = x @ w
    with probe.no_grad():
        w.add_(1)
    with pytest.raises(RuntimeError) as info:
        y.sum().backward()
    assert str(info.value).startswith(
        "one of the variables needed for gradient computation has been modified by an inplace "
        "operation: [probe.FloatTensor [3, 4]] is at version 1; expected version 0 instead.")


def test_weight_modified_when_only_weight_needs_grad_is_fine():
    # Like PyTorch, mm saves x only when w needs a gradient, and w only when x does.
    x = probe.randn(2, 3)
    w = probe.randn(3, 4, requires_grad=True)
    y = x @ w
    with probe.no_grad():
        w.add_(1)
    y.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), x.numpy().T @ np.ones((2, 4)), rtol=1e-6)


def test_rmatmul_with_numpy_and_linalg_namespace():
    t = probe.ones(3, 2)
    assert probe.matmul(probe.ones(2, 3), t).shape == (2, 2)
    assert callable(probe.linalg.norm) and callable(probe.linalg.eigh)
    assert probe.det(probe.eye(2)).item() == 1.0
