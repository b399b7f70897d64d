"""Parity with PyTorch for matrix products and torch.linalg: values, dtypes, grads, grad_fn
names and error messages."""

from __future__ import annotations

import math

import numpy as np
import pytest

import probe

torch = pytest.importorskip("torch")

from harness import compare  # noqa: E402

DTYPES = [(np.float32, 1e-5), (np.float64, 1e-10)]


def _compare(fn, arrays, tol, check_names=True):
    """Values to ``tol``; gradients, which pass through more rounding, to ten times that."""
    compare(fn, arrays, arrays[0].dtype.name, rtol=tol, atol=tol, grad_rtol=tol * 10,
            grad_atol=tol * 10, grad_seed=0, check_names=check_names)


def _linear(L):
    return probe._linear if L is probe else torch.nn.functional.linear


MATMUL_SHAPES = [
    ((3,), (3,)), ((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 2, 3), (2, 3, 4)),
    ((2, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((2, 2, 3), (3,)), ((3,), (2, 3, 4)),
    ((2, 1, 2, 3), (1, 5, 3, 4)), ((2, 5, 2, 3), (3, 4)), ((1, 2, 3), (4, 3, 5)),
    ((2, 3, 4, 5), (3, 5, 6)), ((2, 3, 4, 5), (5,)), ((4, 2, 3), (1, 3, 5)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_matmul_parity(sa, sb, dtype, tol):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(sa).astype(dtype)
    b = rng.standard_normal(sb).astype(dtype)
    _compare(lambda L, x, y: x @ y, [a, b], tol)


@pytest.mark.parametrize("name,shapes", [
    ("mm", [(2, 3), (3, 4)]), ("bmm", [(2, 2, 3), (2, 3, 4)]), ("mv", [(2, 3), (3,)]),
    ("dot", [(3,), (3,)]), ("vdot", [(3,), (3,)]), ("outer", [(3,), (4,)]),
    ("ger", [(3,), (4,)]), ("inner", [(2, 3), (4, 3)]), ("kron", [(2, 3), (3, 2)]),
    ("addmm", [(4,), (3, 2), (2, 4)]), ("addmv", [(3,), (3, 2), (2,)]),
    ("baddbmm", [(2, 3, 4), (2, 3, 2), (2, 2, 4)]), ("addbmm", [(3, 4), (2, 3, 2), (2, 2, 4)]),
])
@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_products_parity(name, shapes, dtype, tol):
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    # kron and inner are composites in PyTorch whose top node differs from ours in name only.
    _compare(lambda L, *xs: getattr(L, name)(*xs), arrays, tol,
             check_names=name not in ("kron", "inner"))


@pytest.mark.parametrize("beta,alpha", [(0.5, 2.0), (0, 1.0), (1, -1.5)])
def test_addmm_scaled_parity(beta, alpha):
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(s) for s in [(3, 4), (3, 2), (2, 4)]]
    _compare(lambda L, i, a, b: L.addmm(i, a, b, beta=beta, alpha=alpha), arrays, 1e-10)


@pytest.mark.parametrize("xshape,bias", [((4, 3), True), ((4, 3), False), ((2, 4, 3), True),
                                         ((2, 4, 3), False), ((3,), True), ((3,), False)])
@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_linear_parity(xshape, bias, dtype, tol):
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(xshape).astype(dtype), rng.standard_normal((5, 3)).astype(dtype)]
    if bias:
        arrays.append(rng.standard_normal(5).astype(dtype))
    _compare(lambda L, *xs: _linear(L)(*xs), arrays, tol)


EINSUM = [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]), ("ii->i", [(3, 3)]), ("ii", [(3, 3)]),
    ("ij->", [(2, 3)]), ("ij->ji", [(2, 3)]), ("i,j->ij", [(2,), (3,)]),
    ("...ij,...jk->...ik", [(5, 2, 3), (3, 4)]), ("...ij,...jk", [(2, 1, 2, 3), (4, 3, 2)]),
    ("b i j, b j k -> b i k", [(2, 2, 3), (2, 3, 4)]), ("ij,jk->ik", [(2, 3), (1, 4)]),
    ("iij->j", [(2, 2, 3)]), ("ij,ij,ij->i", [(2, 3), (2, 3), (2, 3)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]), ("ba", [(2, 3)]),
]


@pytest.mark.parametrize("eq,shapes", EINSUM)
def test_einsum_parity(eq, shapes):
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal(s) for s in shapes]
    _compare(lambda L, *t: L.einsum(eq, *t), arrays, 1e-10, check_names=False)


@pytest.mark.parametrize("dims,sa,sb", [(2, (3, 4, 5), (4, 5, 2)), (1, (3, 4), (4, 2)),
                                        (0, (2,), (3,)), (([1, 0], [0, 1]), (3, 4), (4, 3))])
def test_tensordot_parity(dims, sa, sb):
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(sa), rng.standard_normal(sb)]
    _compare(lambda L, a, b: L.tensordot(a, b, dims=dims), arrays, 1e-10, check_names=False)


def test_cross_parity():
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal((4, 3)), rng.standard_normal((4, 3))]
    _compare(lambda L, a, b: L.linalg.cross(a, b), arrays, 1e-10)
    arrays = [rng.standard_normal((3, 2)), rng.standard_normal((3, 2))]
    _compare(lambda L, a, b: L.cross(a, b, dim=0), arrays, 1e-10)


@pytest.mark.parametrize("ord", [2, 1, math.inf, -math.inf, 3, 0])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, True), ((0, 1), False)])
@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_vector_norm_parity(ord, dim, keepdim, dtype, tol):
    rng = np.random.default_rng(7)
    arrays = [rng.standard_normal((3, 4)).astype(dtype)]
    _compare(lambda L, x: L.linalg.vector_norm(x, ord, dim, keepdim), arrays, tol)


@pytest.mark.parametrize("ord", ["fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf])
def test_matrix_norm_parity(ord):
    rng = np.random.default_rng(8)
    _compare(lambda L, x: L.linalg.matrix_norm(x, ord), [rng.standard_normal((3, 4))], 1e-9,
             check_names=ord == "fro")


@pytest.mark.parametrize("ord", ["fro", "nuc", 2, -1, math.inf])
@pytest.mark.parametrize("dim,keepdim", [((0, 1), False), ((2, 0), True), ((-1, -2), False)])
def test_matrix_norm_dims_parity(ord, dim, keepdim):
    rng = np.random.default_rng(15)
    _compare(lambda L, x: L.linalg.matrix_norm(x, ord, dim, keepdim),
             [rng.standard_normal((3, 4, 2))], 1e-9, check_names=False)


@pytest.mark.parametrize("kwargs", [{}, {"dim": 1}, {"ord": 1}, {"ord": "fro"},
                                    {"dim": (0, 1)}, {"ord": math.inf, "dim": 0}])
def test_norm_parity(kwargs):
    rng = np.random.default_rng(9)
    _compare(lambda L, x: L.linalg.norm(x, **kwargs), [rng.standard_normal((3, 4))], 1e-9,
             check_names=False)


def _well_conditioned(rng, shape):
    return rng.standard_normal(shape) + 3 * np.eye(shape[-1])


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4)])
@pytest.mark.parametrize("fn", ["inv", "det"])
def test_inv_det_parity(shape, fn):
    rng = np.random.default_rng(10)
    _compare(lambda L, x: getattr(L.linalg, fn)(x), [_well_conditioned(rng, shape)], 1e-9)


def test_slogdet_parity():
    rng = np.random.default_rng(11)
    a = rng.standard_normal((2, 3, 3))
    _compare(lambda L, x: L.linalg.slogdet(x).logabsdet, [a], 1e-9)


@pytest.mark.parametrize("ashape,bshape,left", [((3, 3), (3,), True), ((3, 3), (3, 2), True),
                                                ((2, 3, 3), (2, 3), True),
                                                ((3, 3), (2, 3), False)])
def test_solve_parity(ashape, bshape, left):
    rng = np.random.default_rng(12)
    arrays = [_well_conditioned(rng, ashape), rng.standard_normal(bshape)]
    _compare(lambda L, a, b: L.linalg.solve(a, b, left=left), arrays, 1e-9)


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_parity(upper):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((3, 3))
    spd = x @ x.T + 3 * np.eye(3)
    _compare(lambda L, a: L.linalg.cholesky(a, upper=upper), [spd], 1e-9)


def test_qr_svd_eigh_parity():
    rng = np.random.default_rng(14)
    a = rng.standard_normal((4, 3))
    _compare(lambda L, x: tuple(L.linalg.qr(x)), [a], 1e-9)
    _compare(lambda L, x: L.linalg.svdvals(x), [a], 1e-9)
    _compare(lambda L, x: (lambda u, s, vh: (s, u @ vh))(*L.linalg.svd(x, full_matrices=False)),
             [a], 1e-9, check_names=False)
    s = rng.standard_normal((3, 3))
    sym = s + s.T
    _compare(lambda L, x: (lambda w, v: (w, v * v))(*L.linalg.eigh(x)), [sym], 1e-9)


ERRORS = [
    "x(2,3) @ x(4,5)", "x(3) @ x(4)", "x(2,3) @ x(4)", "x(3) @ x(4,5)", "x(2,2,3) @ x(4,5)",
    "x(2,2,3) @ x(2,4,5)", "x(3,2,3) @ x(2,3,5)", "x(2,3) @ x(3,4).double()",
    "x(3) @ x(3).double()", "x(2,3) @ x(3).double()", "x(2,2,3) @ x(2,3,4).double()",
    "x(2,2,3) @ x(3,4).double()", "T.tensor(1.) @ x(3)", "x(2,3) @ x(5,4,4)",
    "T.mm(x(2,3,4), x(4,5))", "T.mm(x(2,3), x(3,4).double())", "T.bmm(x(2,3), x(3,4))",
    "T.bmm(x(2,2,3), x(3,3,4))", "T.bmm(x(2,2,3), x(2,3,4).double())", "T.mv(x(2,3), x(4))",
    "T.mv(x(3), x(3))", "T.dot(x(3), x(4))", "T.dot(x(3,1), x(3))",
    "T.dot(x(3), x(3).double())", "T.outer(x(3,1), x(4))", "T.inner(x(2,3), x(4))",
    "T.addmm(x(5), x(4,3), x(3,4))", "T.addmm(x(4,5).double(), x(4,3), x(3,5))",
    "LIN(x(2,5), x(4,3))", "LIN(x(2,3), x(4,3).double())", "LIN(x(2,3), x(4,3), x(5))",
    "LIN(x(2,3), x(4,3), x(4).double())", "LIN(x(3), x(4,5))",
    "T.einsum('ij,jk->ik', x(2,3), x(4,5))", "T.einsum('ij,jk', x(2,3))",
    "T.einsum('ij->ik', x(2,3))", "T.einsum('ijk->ij', x(2,3))",
    "T.einsum('ii->i', x(2,3))", "T.einsum('ij,jk->ii', x(2,3), x(3,4))",
    "T.einsum('ij,jk->ik', x(2,3), x(3,4).double())",
    "T.tensordot(x(2,3), x(4,5), dims=1)", "T.linalg.cross(x(2), x(2))",
    "T.linalg.inv(T.ones(3,3))", "T.linalg.inv(T.zeros(3,3))", "T.linalg.inv(x(2,3))",
    "T.linalg.inv(T.ones(3,3,dtype=T.long))", "T.linalg.det(x(3))",
    "T.linalg.solve(T.ones(3,3), x(3))", "T.linalg.solve(x(3,3), x(4))",
    "T.linalg.solve(x(3,3), x(3).double())", "T.linalg.cholesky(-T.eye(3))",
    "T.linalg.cholesky(T.tensor([[1.,2],[2,1]]))", "T.linalg.vector_norm(T.ones(3,dtype=T.long))",
    "T.linalg.matrix_norm(x(3))", "T.linalg.matrix_norm(x(3,3), ord=3)",
    "T.linalg.norm(x(2,3,4), ord=2)", "T.linalg.vector_norm(T.zeros(0), float('inf'))",
    "T.linalg.vector_norm(x(2,3), dim=2)",
]


@pytest.mark.parametrize("expr", ERRORS)
def test_error_parity(expr):
    def run(T):
        rng = np.random.default_rng(0)

        def x(*shape):
            return T.tensor(rng.standard_normal(shape).astype(np.float32))

        try:
            eval(expr, {"T": T, "x": x, "LIN": _linear(T)})
        except Exception as e:  # noqa: BLE001 - comparing exception types and texts
            return type(e), str(e).split("\n")[0]
        return None, None

    p_type, p_msg = run(probe)
    t_type, t_msg = run(torch)
    assert t_type is not None and p_type is not None
    assert issubclass(p_type, t_type.__mro__[1] if t_type.__name__ == "_LinAlgError"
                      else t_type)
    assert p_msg == t_msg
