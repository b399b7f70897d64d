"""Reductions, scans, softmax and sorting: gradients (gradcheck and gradgradcheck) over every
argument variant, ties, zeros, dtypes, PyTorch's error texts, the named tuples, and the
NumPy-named functions used by differentiable backwards."""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest

import probe
from probe.autograd import gradcheck, gradgradcheck
from probe.engine import tensor_ns


def to_np(t):
    return t.detach().cpu().numpy()


def _x(rng, shape, device, requires_grad=True):
    data = rng.standard_normal(shape)
    return probe.tensor(data, dtype=probe.float64, device=device, requires_grad=requires_grad)


def _t(data, device, requires_grad=True):
    return probe.tensor(data, dtype=probe.float64, device=device, requires_grad=requires_grad)


def _values(out):
    return out.values if isinstance(out, tuple) else out


_needs_exp = pytest.mark.skipif(
    not hasattr(tensor_ns, "exp"),
    reason="create_graph through exp needs probe's unary ops (tensor_ns.exp) to be present",
)


# ------------------------------------------------------------------ gradcheck of every op
GRAD_CASES = {
    "sum": ((3, 4), lambda x: x.sum()),
    "sum_dim": ((3, 4), lambda x: x.sum(1)),
    "sum_neg_dim": ((2, 3, 4), lambda x: x.sum(-2)),
    "sum_tuple": ((2, 3, 4), lambda x: x.sum((0, 2))),
    "sum_tuple_neg_keepdim": ((2, 3, 4), lambda x: x.sum((-1, 0), keepdim=True)),
    "sum_keepdim": ((3, 4), lambda x: x.sum(0, keepdim=True)),
    "sum_list": ((3, 4), lambda x: x.sum([0, 1])),
    "sum_empty_tuple": ((3, 4), lambda x: x.sum(())),
    "sum_dtype": ((3, 4), lambda x: x.sum(1, dtype=probe.float64)),
    "sum_axis_alias": ((3, 4), lambda x: x.sum(axis=1, keepdims=True)),
    "sum_0d": ((), lambda x: x.sum(0)),
    "nansum": ((3, 4), lambda x: x.nansum(1)),
    "mean": ((3, 4), lambda x: x.mean()),
    "mean_dim": ((3, 4), lambda x: x.mean(-1)),
    "mean_tuple_keepdim": ((2, 3, 4), lambda x: x.mean((0, 1), keepdim=True)),
    "prod": ((2, 3), lambda x: x.prod()),
    "prod_dim": ((3, 4), lambda x: x.prod(1)),
    "prod_dim_keepdim": ((3, 4), lambda x: x.prod(0, keepdim=True)),
    "max": ((3, 4), lambda x: x.max()),
    "min": ((3, 4), lambda x: x.min()),
    "max_dim": ((3, 4), lambda x: x.max(1)),
    "max_dim_keepdim": ((3, 4), lambda x: x.max(-1, keepdim=True).values),
    "min_dim": ((2, 3, 4), lambda x: x.min(0).values),
    "max_0d": ((), lambda x: x.max(0).values),
    "amax": ((3, 4), lambda x: x.amax()),
    "amax_dim": ((3, 4), lambda x: x.amax(1)),
    "amax_tuple": ((2, 3, 4), lambda x: x.amax((0, -1), keepdim=True)),
    "amin_tuple": ((2, 3, 4), lambda x: x.amin((1, 2))),
    "aminmax": ((3, 4), lambda x: probe.aminmax(x)),
    "aminmax_dim": ((3, 4), lambda x: probe.aminmax(x, dim=1, keepdim=True)),
    "var": ((3, 4), lambda x: x.var()),
    "var_dim": ((3, 4), lambda x: x.var(1)),
    "var_unbiased_false": ((3, 4), lambda x: x.var(1, False)),
    "var_correction": ((3, 4), lambda x: x.var(0, correction=0, keepdim=True)),
    "var_tuple": ((2, 3, 4), lambda x: x.var((0, 2), correction=2)),
    "std": ((3, 4), lambda x: x.std()),
    "std_dim": ((3, 4), lambda x: x.std(-1, keepdim=True)),
    "std_unbiased_kw": ((3, 4), lambda x: x.std(dim=0, unbiased=False)),
    "var_mean": ((3, 4), lambda x: probe.var_mean(x, 1)),
    "std_mean": ((3, 4), lambda x: probe.std_mean(x, (0, 1), keepdim=True)),
    "norm": ((3, 4), lambda x: x.norm()),
    "norm_dim": ((3, 4), lambda x: x.norm(dim=1)),
    "norm_keepdim": ((3, 4), lambda x: x.norm(dim=0, keepdim=True)),
    "norm_p1": ((3, 4), lambda x: x.norm(p=1)),
    "norm_p3": ((3, 4), lambda x: x.norm(3, dim=1)),
    "norm_p05": ((3, 4), lambda x: x.norm(0.5)),
    "norm_pneg": ((3, 4), lambda x: x.norm(-1.5, dim=0)),
    "norm_inf": ((3, 4), lambda x: x.norm(math.inf)),
    "norm_ninf": ((3, 4), lambda x: x.norm(-math.inf, dim=1)),
    "norm_fro": ((3, 4), lambda x: x.norm("fro", dim=(0, 1))),
    "vector_norm": ((2, 3, 4), lambda x: probe._linalg_vector_norm(x, 2, (0, 2))),
    "logsumexp": ((3, 4), lambda x: x.logsumexp(1)),
    "logsumexp_tuple": ((2, 3, 4), lambda x: probe.logsumexp(x, (0, 2), keepdim=True)),
    "cumsum": ((3, 4), lambda x: x.cumsum(1)),
    "cumsum_0": ((3, 4), lambda x: x.cumsum(0)),
    "cumprod": ((3, 4), lambda x: x.cumprod(-1)),
    "cumprod_dim0": ((3, 4), lambda x: x.cumprod(0)),
    "softmax": ((3, 4), lambda x: x.softmax(1)),
    "softmax_dim0": ((2, 3, 4), lambda x: probe.softmax(x, 0)),
    "log_softmax": ((3, 4), lambda x: x.log_softmax(-1)),
    "log_softmax_dim1": ((2, 3, 4), lambda x: probe.log_softmax(x, 1)),
    "sort": ((3, 4), lambda x: x.sort(1)),
    "sort_desc": ((3, 4), lambda x: x.sort(0, descending=True).values),
    "topk": ((3, 5), lambda x: x.topk(2)),
    "topk_smallest": ((3, 5), lambda x: x.topk(3, dim=0, largest=False).values),
    "median": ((3, 5), lambda x: x.median()),
    "median_dim": ((3, 5), lambda x: x.median(1)),
    "median_keepdim": ((3, 5), lambda x: x.median(0, keepdim=True).values),
    "kthvalue": ((3, 5), lambda x: x.kthvalue(2, 1).values),
    "mode": ((3, 5), lambda x: x.mode(1).values),
    "cummax": ((3, 5), lambda x: x.cummax(1).values),
    "cummin": ((3, 5), lambda x: x.cummin(0).values),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradcheck(name, device, rng):
    shape, fn = GRAD_CASES[name]
    assert gradcheck(fn, (_x(rng, shape, device),))


TIE_CASES = {
    # Two-way ties: central differences see slope 1 on one side and 0 on the other, which is
    # the even split PyTorch uses for max()/amax/median().
    "max_ties": ([[1.0, 3.0], [3.0, 2.0]], lambda x: x.max()),
    "min_ties": ([[1.0, 3.0], [1.0, 2.0]], lambda x: x.min()),
    "amax_ties": ([[1.0, 3.0, 3.0], [2.0, 0.5, 2.0]], lambda x: x.amax(1)),
    "amin_tuple_ties": ([[1.0, 3.0], [2.0, 1.0]], lambda x: x.amin((0, 1))),
    "norm_inf_ties": ([2.0, -2.0, 1.0], lambda x: x.norm(math.inf)),
    "median_ties": ([1.0, 2.0, 2.0, 5.0], lambda x: x.median()),
    "aminmax_ties": ([[1.0, 1.0, 4.0, 4.0]], lambda x: probe.aminmax(x)),
}


@pytest.mark.parametrize("name", sorted(TIE_CASES))
def test_gradcheck_ties(name, device):
    data, fn = TIE_CASES[name]
    assert gradcheck(fn, (_t(data, device),))


def test_gradcheck_with_zeros(device):
    x = _t([[2.0, 0.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]], device)
    assert gradcheck(lambda t: t.prod(), (_t([2.0, 0.0, 3.0], device),))
    assert gradcheck(lambda t: t.prod(1), (x,))
    assert gradcheck(lambda t: t.prod(0, keepdim=True), (x,))
    assert gradcheck(lambda t: t.cumprod(1), (x,))
    assert gradcheck(lambda t: t.cumprod(0), (x,))
    assert gradcheck(lambda t: t.norm(3, dim=1), (_t([[1.0, 0.0, -2.0], [0.5, 1.5, 1.0]],
                                                     device),))


GRADGRAD_CASES = {
    "sum": ((3, 4), lambda x: (x * x).sum()),
    "sum_dim": ((3, 4), lambda x: (x * x).sum((0, 1), keepdim=True)),
    "mean": ((3, 4), lambda x: (x * x).mean(1)),
    "var": ((3, 4), lambda x: x.var(1)),
    "var_full": ((3, 4), lambda x: x.var()),
    "std": ((3, 4), lambda x: x.std(0, keepdim=True)),
    "var_mean": ((3, 4), lambda x: probe.var_mean(x, 1)),
    "std_mean": ((3, 4), lambda x: probe.std_mean(x, 0)),
    "softmax": ((3, 4), lambda x: x.softmax(1)),
    "softmax_dim0": ((3, 4), lambda x: x.softmax(0)),
    "norm": ((3, 4), lambda x: x.norm()),
    "norm_dim": ((3, 4), lambda x: x.norm(dim=1, keepdim=True)),
    "norm_p3": ((3, 4), lambda x: x.norm(3, dim=0)),
    "norm_p1": ((3, 4), lambda x: (x * x).norm(1)),
    "prod": ((2, 3), lambda x: x.prod()),
    "prod_dim": ((3, 4), lambda x: x.prod(1)),
    "max": ((3, 4), lambda x: (x * x).max()),
    "max_dim": ((3, 4), lambda x: (x * x).max(1).values),
    "amax": ((3, 4), lambda x: (x * x).amax(0)),
    "cumsum": ((3, 4), lambda x: (x * x).cumsum(1)),
    "cumprod": ((3, 4), lambda x: x.cumprod(1)),
    "sort": ((3, 4), lambda x: (x * x).sort(1).values),
    "topk": ((3, 4), lambda x: (x * x).topk(2).values),
    "median_dim": ((3, 5), lambda x: (x * x).median(1).values),
    "cummax": ((3, 4), lambda x: (x * x).cummax(1).values),
}


@pytest.mark.parametrize("name", sorted(GRADGRAD_CASES))
def test_gradgradcheck(name, device, rng):
    shape, fn = GRADGRAD_CASES[name]
    assert gradgradcheck(fn, (_x(rng, shape, device),))


@_needs_exp
@pytest.mark.parametrize("name", ["log_softmax", "logsumexp", "logsumexp_tuple"])
def test_gradgradcheck_exp_based(name, device, rng):
    fn = {
        "log_softmax": lambda x: x.log_softmax(1),
        "logsumexp": lambda x: x.logsumexp(1),
        "logsumexp_tuple": lambda x: x.logsumexp((0, 1), keepdim=True),
    }[name]
    assert gradgradcheck(fn, (_x(rng, (3, 4), device),))


def test_gradgradcheck_through_zeros(device):
    # The exact product paths: second derivatives stay right where the input has zeros.
    x = _t([[2.0, 0.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]], device)
    assert gradgradcheck(lambda t: t.prod(1), (x,))
    assert gradgradcheck(lambda t: t.prod(), (_t([2.0, 0.0, 3.0, 1.5], device),))
    assert gradgradcheck(lambda t: t.cumprod(1), (x,))
    assert gradgradcheck(lambda t: t.cumprod(0), (x,))


# ------------------------------------------------------------------ gradient values
def test_max_full_splits_ties_evenly_dim_picks_one(device):
    x = _t([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], device)
    x.max().backward()
    np.testing.assert_allclose(to_np(x.grad), [[0, 0.5, 0.5], [0, 0, 0]])
    x.grad = None
    x.max(1).values.sum().backward()
    np.testing.assert_allclose(to_np(x.grad), [[0, 1, 0], [1, 0, 0]])
    x.grad = None
    x.amax(1).sum().backward()
    np.testing.assert_allclose(to_np(x.grad), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    x.grad = None
    x.median().backward()
    np.testing.assert_allclose(to_np(x.grad), [[0, 0, 0], [1 / 3, 1 / 3, 1 / 3]])


def test_norm_gradient_at_zero_is_zero(device):
    for p in [2, 1, 3, 0.5, -1, math.inf, -math.inf, "fro"]:
        x = probe.zeros(3, dtype=probe.float64, device=device, requires_grad=True)
        x.norm(p=p).backward()
        assert np.all(to_np(x.grad) == 0), p
    x = probe.zeros(2, 3, device=device, requires_grad=True)
    x.norm(dim=1).sum().backward()
    assert np.all(to_np(x.grad) == 0)
    x = probe.zeros(3, device=device, requires_grad=True)
    x.norm(p=0).backward()
    assert x.grad is None  # PyTorch's ord-0 norm has no gradient


def test_partial_zero_norm_gradients(device):
    zz = [0.0, 1.0, -2.0]
    expect = {
        2: [0.0, 0.4472136, -0.8944272], 1: [0, 1, -1], 3: [0, 0.2311204, -0.9244817],
        0.5: [0, 2.4142136, -1.7071068], math.inf: [0, 0, -1], -math.inf: [0, 0, 0],
        -1: [0, 0, 0],
    }
    for p, want in expect.items():
        x = _t(zz, device)
        x.norm(p).backward()
        np.testing.assert_allclose(to_np(x.grad), want, rtol=1e-6, atol=1e-7, err_msg=str(p))


def test_prod_and_cumprod_zero_gradients(device):
    x = _t([2.0, 0.0, 3.0], device)
    x.prod().backward()
    np.testing.assert_allclose(to_np(x.grad), [0, 6, 0])
    x = _t([2.0, 0.0, 0.0], device)
    x.prod().backward()
    np.testing.assert_allclose(to_np(x.grad), [0, 0, 0])
    x = _t([2.0, 0.0, 3.0, 4.0], device)
    x.cumprod(0).sum().backward()
    np.testing.assert_allclose(to_np(x.grad), [1, 32, 0, 0])
    x = _t([2.0, 0.0, 3.0, 0.0], device)
    x.cumprod(0).sum().backward()
    np.testing.assert_allclose(to_np(x.grad), [1, 8, 0, 0])


def test_std_of_constant_has_zero_gradient(device):
    x = _t([1.0, 1.0, 1.0], device)
    x.std().backward()
    np.testing.assert_array_equal(to_np(x.grad), [0, 0, 0])


def test_nansum_gradient_skips_nan(device):
    x = _t([1.0, math.nan, 2.0], device)
    x.nansum().backward()
    np.testing.assert_array_equal(to_np(x.grad), [1, 0, 1])


def test_cummax_gradient_accumulates(device):
    x = _t([1.0, 3.0, 2.0, 3.0, 5.0], device)
    r = x.cummax(0)
    np.testing.assert_array_equal(to_np(r.indices), [0, 1, 1, 3, 4])
    r.values.sum().backward()
    np.testing.assert_array_equal(to_np(x.grad), [1, 2, 0, 1, 1])


def test_softmax_second_derivative_value(device):
    x = _t([0.5, -1.0, 2.0], device)
    y = x.softmax(0)
    (g,) = probe.autograd.grad(y[0], x, create_graph=True)
    assert g.requires_grad
    (h,) = probe.autograd.grad(g.sum(), x)
    # d/dx of sum_j dy0/dx_j is zero (softmax sums to one, so sum_j dy0/dx_j = 0).
    np.testing.assert_allclose(to_np(h), [0, 0, 0], atol=1e-12)


def test_float32_grads_stay_float32(device):
    x = probe.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 0.5]], device=device, requires_grad=True)
    outs = [
        x.sum(), x.sum(1), x.mean(), x.mean(0), x.prod(1), x.max(), x.max(1).values,
        x.amax(0), x.var(1), x.std(), x.norm(), x.norm(3), x.norm(math.inf), x.logsumexp(1),
        x.cumsum(1), x.cumprod(0), x.softmax(1), x.log_softmax(0), x.sort(1).values,
        x.topk(2).values, x.median(), x.median(1).values, x.cummax(1).values,
        probe.var_mean(x, 1)[0], probe.aminmax(x).max,
    ]
    for out in outs:
        assert out.dtype == probe.float32, out.grad_fn
        x.grad = None
        out.sum().backward()
        assert x.grad.dtype == probe.float32, out.grad_fn


def test_sum_with_dtype_keeps_input_grad_dtype(device):
    x = probe.ones(2, 3, device=device, requires_grad=True)
    y = x.sum(dtype=probe.float64)
    assert y.dtype == probe.float64
    assert type(y.grad_fn).__name__ == "SumBackward0"
    y.backward()
    assert x.grad.dtype == probe.float32


# ------------------------------------------------------------------ values and dtypes
INT_DTYPES = [probe.bool, probe.uint8, probe.int8, probe.int16, probe.int32, probe.int64]


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_integer_reductions_to_int64(dtype, device):
    t = probe.ones(2, 3, dtype=dtype, device=device)
    assert t.sum().dtype == probe.int64
    assert t.sum(1).dtype == probe.int64
    assert t.nansum().dtype == probe.int64
    assert t.prod().dtype == probe.int64
    assert t.cumsum(1).dtype == probe.int64
    assert t.cumprod(0).dtype == probe.int64
    assert t.count_nonzero().dtype == probe.int64
    assert t.sum().item() == 6
    assert t.max().dtype == dtype
    want_logical = probe.uint8 if dtype is probe.uint8 else probe.bool
    assert t.all().dtype == want_logical
    assert t.any(1).dtype == want_logical
    assert t.logsumexp(1).dtype == probe.float32
    with pytest.raises(RuntimeError, match="mean\\(\\): could not infer output dtype. Input"):
        t.mean()
    with pytest.raises(RuntimeError, match="std and var only support floating point"):
        t.var()


def test_int_sum_values(device):
    t = probe.tensor([[1, 2], [3, 4]], dtype=probe.int32, device=device)
    s = t.sum(0)
    assert s.dtype == probe.int64
    np.testing.assert_array_equal(to_np(s), [4, 6])
    u = probe.tensor([200, 100], dtype=probe.uint8, device=device)
    assert u.sum().item() == 300


def test_float_dtypes_preserved(device):
    for dtype in (probe.float16, probe.float32, probe.float64):
        x = probe.ones(2, 3, dtype=dtype, device=device)
        for out in (x.sum(), x.mean(1), x.var(), x.norm(), x.softmax(1), x.logsumexp(0),
                    x.prod(), x.cumsum(0), x.amax(), x.median()):
            assert out.dtype == dtype


def test_mean_dtype_argument(device):
    t = probe.tensor([1, 2, 3, 4], device=device)
    m = t.mean(dtype=probe.float32)
    assert m.dtype == probe.float32 and m.item() == 2.5
    with pytest.raises(RuntimeError, match="Optional dtype must be either a floating point or "
                                           "complex dtype. Got: Long"):
        probe.ones(3).mean(dtype=probe.int64)


def test_values_against_numpy(device, rng):
    a = rng.standard_normal((3, 4, 5))
    x = probe.tensor(a, device=device)
    np.testing.assert_allclose(to_np(x.sum((0, 2))), a.sum((0, 2)))
    np.testing.assert_allclose(to_np(x.mean(-1)), a.mean(-1))
    np.testing.assert_allclose(to_np(x.prod(1)), a.prod(1))
    np.testing.assert_allclose(to_np(x.var(1)), a.var(1, ddof=1))
    np.testing.assert_allclose(to_np(x.std(correction=0)), a.std())
    np.testing.assert_allclose(to_np(x.norm(dim=(1, 2))), np.sqrt((a * a).sum((1, 2))))
    np.testing.assert_allclose(to_np(x.norm(3)), (np.abs(a) ** 3).sum() ** (1 / 3))
    np.testing.assert_allclose(to_np(x.norm(0)), np.count_nonzero(a))
    np.testing.assert_allclose(to_np(x.cumsum(2)), a.cumsum(2))
    np.testing.assert_allclose(to_np(x.cumprod(0)), a.cumprod(0))
    np.testing.assert_allclose(to_np(x.amax((0, 1))), a.max((0, 1)))
    np.testing.assert_allclose(to_np(x.logsumexp(1)), np.log(np.exp(a).sum(1)))
    e = np.exp(a - a.max(2, keepdims=True))
    np.testing.assert_allclose(to_np(x.softmax(2)), e / e.sum(2, keepdims=True))
    np.testing.assert_allclose(to_np(x.log_softmax(2)), np.log(e / e.sum(2, keepdims=True)))
    np.testing.assert_array_equal(to_np(x.argmax()), a.argmax())
    np.testing.assert_array_equal(to_np(x.argmin(1)), a.argmin(1))
    np.testing.assert_allclose(to_np(x.sort(1).values), np.sort(a, 1))
    np.testing.assert_allclose(to_np(x.median(2).values), np.sort(a, 2)[:, :, 2])


def test_stable_softmax_and_logsumexp(device):
    x = probe.tensor([1000.0, 1000.0, -1000.0], device=device)
    np.testing.assert_allclose(to_np(x.softmax(0)), [0.5, 0.5, 0.0])
    np.testing.assert_allclose(to_np(x.log_softmax(0)),
                               [-math.log(2), -math.log(2), -2000 - math.log(2)])
    np.testing.assert_allclose(x.logsumexp(0).item(), 1000 + math.log(2), rtol=1e-6)
    ninf = probe.full((2, 3), -math.inf, device=device)
    assert np.all(to_np(ninf.logsumexp(1)) == -math.inf)
    assert np.isinf(probe.tensor([math.inf, 1.0], device=device).logsumexp(0).item())


def test_softmax_dtype_argument(device):
    x = probe.tensor([[1, 2], [3, 4]], device=device)
    y = probe.softmax(x, 1, dtype=probe.float64)
    assert y.dtype == probe.float64
    z = probe.ones(2, 3, device=device, requires_grad=True)
    w = z.log_softmax(1, dtype=probe.float64)
    assert w.dtype == probe.float64
    assert type(w.grad_fn).__name__ == "LogSoftmaxBackward0"
    w.sum().backward()
    assert z.grad.dtype == probe.float32


def test_empty_and_scalar_inputs(device):
    e = probe.zeros(0, 3, device=device)
    assert e.sum().item() == 0
    assert math.isnan(e.mean().item())
    assert np.all(np.isnan(to_np(e.mean(0))))
    np.testing.assert_array_equal(to_np(e.prod(0)), [1, 1, 1])
    assert tuple(e.max(1).values.shape) == (0,)
    assert tuple(e.sort(0).values.shape) == (0, 3)
    assert tuple(e.softmax(0).shape) == (0, 3)
    np.testing.assert_array_equal(to_np(e.logsumexp(0)), [-math.inf] * 3)
    s = probe.tensor(3.0, device=device)
    assert s.sum(0).item() == 3.0
    assert s.sum(-1, keepdim=True).shape == ()
    assert s.max(0).values.item() == 3.0 and s.max(0).indices.item() == 0
    assert s.softmax(0).item() == 1.0
    assert s.cumsum(0).item() == 3.0
    assert s.sort().values.item() == 3.0
    assert s.topk(1).values.item() == 3.0
    assert s.argmax(0).item() == 0
    assert s.median(0).values.item() == 3.0
    assert s.logsumexp(0).item() == 3.0
    assert s.norm(dim=0).item() == 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert math.isnan(s.var().item())


def test_degrees_of_freedom_warning(device):
    with pytest.warns(UserWarning, match="var\\(\\): degrees of freedom is <= 0"):
        v = probe.ones(1, device=device).var()
    assert math.isnan(v.item())
    with pytest.warns(UserWarning, match="std_mean\\(\\): degrees of freedom is <= 0"):
        probe.std_mean(probe.ones(1, device=device))


def test_nan_handling(device):
    x = probe.tensor([1.0, math.nan, 2.0], device=device)
    assert math.isnan(x.max().item())
    r = x.max(0)
    assert math.isnan(r.values.item()) and r.indices.item() == 1
    assert math.isnan(x.amax(0).item())
    np.testing.assert_array_equal(to_np(x.sort().indices), [0, 2, 1])
    np.testing.assert_array_equal(to_np(x.sort(descending=True).indices), [1, 2, 0])
    assert math.isnan(x.median().item())
    assert x.median(0).indices.item() == 1
    assert x.nansum().item() == 3.0
    assert x.nanmean().item() == 1.5
    y = _t([1.0, math.nan, math.nan], device)
    y.max().backward()
    np.testing.assert_allclose(to_np(y.grad), [0, 0.5, 0.5])


def test_sort_is_stable_both_ways(device):
    x = probe.tensor([3.0, 1.0, 3.0, 2.0, 3.0, 1.0], device=device)
    np.testing.assert_array_equal(to_np(x.sort().indices), [1, 5, 3, 0, 2, 4])
    np.testing.assert_array_equal(to_np(x.sort(descending=True).indices), [0, 2, 4, 3, 1, 5])
    np.testing.assert_array_equal(to_np(x.argsort(descending=True)), [0, 2, 4, 3, 1, 5])
    u = probe.tensor([1, 3, 2, 3], dtype=probe.uint8, device=device)
    r = u.sort(descending=True)
    np.testing.assert_array_equal(to_np(r.values), [3, 3, 2, 1])
    np.testing.assert_array_equal(to_np(r.indices), [1, 3, 2, 0])
    big = probe.tensor([2**62, -(2**63), 5], device=device)
    np.testing.assert_array_equal(to_np(big.sort(descending=True).indices), [0, 2, 1])


def test_median_mode_kthvalue_values(device):
    assert probe.tensor([1.0, 2.0, 3.0, 4.0], device=device).median().item() == 2.0
    x = probe.tensor([3.0, 1.0, 3.0, 2.0, 3.0, 1.0], device=device)
    r = x.median(0)
    assert (r.values.item(), r.indices.item()) == (2.0, 3)
    m = x.mode()
    assert (m.values.item(), m.indices.item()) == (3.0, 4)
    m = probe.tensor([1.0, 2.0, 2.0, 1.0], device=device).mode()
    assert (m.values.item(), m.indices.item()) == (1.0, 3)
    k = x.kthvalue(3)
    assert k.values.item() == 2.0 and k.indices.item() == 3
    mk = probe.tensor([[1.0, 3.0, 2.0], [4.0, 5.0, 6.0]], device=device).median(1, keepdim=True)
    assert tuple(mk.values.shape) == (2, 1)
    np.testing.assert_array_equal(to_np(mk.indices), [[2], [1]])


def test_all_any_count_nonzero(device):
    x = probe.tensor([[1.0, 0.0], [2.0, 3.0]], device=device)
    assert x.all().item() is False
    assert x.any().item() is True
    np.testing.assert_array_equal(to_np(x.all(1)), [False, True])
    assert tuple(x.any(1, keepdim=True).shape) == (2, 1)
    assert x.all((0, 1)).item() is False
    assert tuple(x.all(()).shape) == (2, 2)  # an empty dim list reduces nothing here
    u = probe.tensor([[1, 0], [2, 3]], dtype=probe.uint8, device=device)
    assert u.all(1).dtype == probe.uint8
    np.testing.assert_array_equal(to_np(u.all(1)), [0, 1])
    assert probe.count_nonzero(x).item() == 3
    np.testing.assert_array_equal(to_np(probe.count_nonzero(x, 0)), [2, 1])
    assert probe.count_nonzero(x, (0, 1)).item() == 3
    assert x.count_nonzero(1).dtype == probe.int64
    assert probe.zeros(0, device=device).all().item() is True


def test_argmax_variants(device):
    x = probe.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], device=device)
    assert x.argmax().item() == 1
    np.testing.assert_array_equal(to_np(x.argmax(1)), [1, 0])
    assert tuple(x.argmax(keepdim=True).shape) == (1, 1)
    assert tuple(x.argmin(0, keepdim=True).shape) == (1, 3)
    assert x.argmax().dtype == probe.int64


def test_unique_variants(device):
    t = probe.tensor([3, 1, 3, 2], device=device)
    np.testing.assert_array_equal(to_np(probe.unique(t)), [1, 2, 3])
    vals, inv, cnt = probe.unique(t, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(to_np(inv), [2, 0, 2, 1])
    np.testing.assert_array_equal(to_np(cnt), [1, 1, 2])
    assert inv.dtype == probe.int64 and cnt.dtype == probe.int64
    _, inv2 = probe.tensor([[3, 1], [3, 2]], device=device).unique(return_inverse=True)
    assert tuple(inv2.shape) == (2, 2)
    rows = probe.tensor([[3, 1], [1, 2], [3, 1]], device=device)
    v, i, c = probe.unique(rows, dim=0, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(to_np(v), [[1, 2], [3, 1]])
    np.testing.assert_array_equal(to_np(i), [1, 0, 1])
    np.testing.assert_array_equal(to_np(c), [1, 2])
    assert tuple(probe.unique(probe.tensor(3, device=device)).shape) == (1,)
    x = probe.tensor([2.0, 1.0, 2.0], device=device, requires_grad=True)
    assert not probe.unique(x).requires_grad
    v, i, c = probe.unique_consecutive(probe.tensor([1, 1, 2, 2, 3, 1, 1, 2], device=device),
                                       return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(to_np(v), [1, 2, 3, 1, 2])
    np.testing.assert_array_equal(to_np(i), [0, 0, 1, 1, 2, 3, 3, 4])
    np.testing.assert_array_equal(to_np(c), [2, 2, 1, 2, 1])


def test_max_with_tensor_is_maximum(device):
    a = probe.tensor([1.0, 5.0], device=device, requires_grad=True)
    b = probe.tensor([3.0, 2.0], device=device)
    m = probe.max(a, b)
    assert type(m.grad_fn).__name__ == "MaximumBackward0"
    np.testing.assert_array_equal(to_np(m), [3, 5])
    np.testing.assert_array_equal(to_np(a.min(b)), [1, 2])
    np.testing.assert_array_equal(to_np(probe.max(a, other=b)), [3, 5])


def test_out_argument(device):
    x = probe.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    o = probe.empty(2, device=device)
    r = probe.sum(x, 1, out=o)
    assert r is o
    np.testing.assert_array_equal(to_np(o), [3, 7])
    v, i = probe.empty(2, device=device), probe.empty(2, dtype=probe.int64, device=device)
    res = probe.max(x, 1, out=(v, i))
    assert res.values is v and res.indices is i
    np.testing.assert_array_equal(to_np(i), [1, 1])


def test_no_grad_and_grad_fn_names(device):
    x = probe.ones(2, 3, device=device, requires_grad=True)
    with probe.no_grad():
        assert x.sum().grad_fn is None
        assert not x.max(1).values.requires_grad
    names = {
        "SumBackward0": x.sum(), "SumBackward1": x.sum(1), "MeanBackward0": x.mean(),
        "MeanBackward1": x.mean(dim=None, keepdim=True), "ProdBackward0": x.prod(),
        "ProdBackward1": x.prod(1), "MaxBackward1": x.max(), "MaxBackward0": x.max(0)[0],
        "MinBackward1": x.min(), "MinBackward0": x.min(0)[0], "AmaxBackward0": x.amax(),
        "AminBackward0": x.amin(1), "VarBackward0": x.var(), "StdBackward0": x.std(1),
        "LinalgVectorNormBackward0": x.norm(), "LogsumexpBackward0": x.logsumexp(1),
        "CumsumBackward0": x.cumsum(0), "CumprodBackward0": x.cumprod(1),
        "SoftmaxBackward0": x.softmax(1), "LogSoftmaxBackward0": x.log_softmax(0),
        "SortBackward0": x.sort()[0], "SortBackward1": x.sort(stable=True)[0],
        "TopkBackward0": x.topk(1)[0],
        "MedianBackward0": x.median(), "MedianBackward1": x.median(0)[0],
        "NansumBackward0": x.nansum(), "CummaxBackward0": x.cummax(0)[0],
        "AminmaxBackward0": probe.aminmax(x)[0], "VarMeanBackward0": probe.var_mean(x)[1],
        "StdMeanBackward0": probe.std_mean(x)[0], "KthvalueBackward0": x.kthvalue(1)[0],
        "ModeBackward0": x.mode()[0],
    }
    for name, out in names.items():
        assert type(out.grad_fn).__name__ == name
    assert type(x.sum(dim=None).grad_fn).__name__ == "SumBackward1"
    assert type(x.mean(None).grad_fn).__name__ == "MeanBackward1"


# ------------------------------------------------------------------ named tuples
def test_return_types(device):
    x = probe.tensor([[1.0, 5.0], [7.0, 2.0]], device=device)
    r = x.max(1)
    assert isinstance(r, tuple) and len(r) == 2
    values, indices = r
    assert r[0] is r.values and r[1] is r.indices and values is r.values
    assert type(r) is probe.return_types.max
    assert type(r).__name__ == "max"
    if device == "cpu":
        assert repr(r) == (
            "probe.return_types.max(\nvalues=tensor([5., 7.]),\nindices=tensor([1, 0]))"
        )
        assert str(r) == repr(r)
        back = pickle.loads(pickle.dumps(r))
        assert type(back) is probe.return_types.max
        np.testing.assert_array_equal(back.values.numpy(), [5, 7])
    a = probe.aminmax(x)
    assert a.min.item() == 1.0 and a.max.item() == 7.0
    for name in ("min", "sort", "topk", "median", "mode", "kthvalue", "cummax", "cummin"):
        assert hasattr(probe.return_types, name)


# ------------------------------------------------------------------ errors
def test_dim_out_of_range(device):
    x = probe.ones(3, 4, device=device)
    msg = "Dimension out of range \\(expected to be in range of \\[-2, 1\\], but got 2\\)"
    for fn in (lambda: x.sum(2), lambda: x.mean(2), lambda: x.max(2), lambda: x.amax(2),
               lambda: x.var(2), lambda: x.softmax(2), lambda: x.cumsum(2), lambda: x.sort(2),
               lambda: x.argmax(2), lambda: x.logsumexp(2), lambda: x.norm(dim=2),
               lambda: x.topk(1, 2), lambda: x.median(2), lambda: x.all(2)):
        with pytest.raises(IndexError, match=msg):
            fn()
    with pytest.raises(IndexError, match="but got -3"):
        x.sum(-3)
    with pytest.raises(IndexError, match="range of \\[-1, 0\\], but got 1"):
        probe.tensor(3.0).sum(1)
    with pytest.raises(RuntimeError, match="dim 1 appears multiple times in the list of dims"):
        x.sum((1, -1))


def test_error_messages(device):
    x = probe.ones(3, 4, device=device)
    xi = probe.ones(3, 4, dtype=probe.int64, device=device)
    e = probe.zeros(0, 3, device=device)
    with pytest.raises(RuntimeError, match="Got: Long"):
        xi.mean()
    with pytest.raises(NotImplementedError,
                       match="\"softmax_lastdim_kernel_impl\" not implemented for 'Long'"):
        xi.softmax(1)
    with pytest.raises(NotImplementedError,
                       match="\"log_softmax_kernel_impl\" not implemented for 'Long'"):
        xi.log_softmax(0)
    with pytest.raises(RuntimeError, match="linalg.vector_norm: Expected a floating point or "
                                           "complex tensor as input. Got Long"):
        xi.norm()
    with pytest.raises(RuntimeError, match="argmax\\(\\): does not support bool input"):
        probe.ones(3, dtype=probe.bool, device=device).argmax()
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        x.topk(5)
    with pytest.raises(RuntimeError, match="kthvalue\\(\\): selected number k out of range for "
                                           "dimension 1"):
        x.kthvalue(5)
    with pytest.raises(RuntimeError, match="max\\(\\): Expected reduction dim to be specified "
                                           "for input.numel\\(\\) == 0"):
        e.max()
    with pytest.raises(IndexError, match="max\\(\\): Expected reduction dim 0 to have non-zero"):
        e.max(0)
    with pytest.raises(RuntimeError, match="amax\\(\\): Expected reduction dim to be specified"):
        e.amax()
    with pytest.raises(IndexError, match="argmax\\(\\): Expected reduction dim to be specified"):
        e.argmax()
    with pytest.raises(RuntimeError, match="aminmax\\(\\): cannot compute aminmax over an empty"):
        probe.aminmax(e)
    with pytest.raises(RuntimeError, match="cannot compute the inf norm on an empty tensor"):
        e.norm(math.inf)
    with pytest.raises(RuntimeError, match="linalg.matrix_norm: Order abc not supported."):
        x.norm("abc")
    with pytest.raises(RuntimeError, match="dim must be a 2-tuple. Got 0 1 2"):
        probe.ones(2, 2, 2).norm("fro", dim=(0, 1, 2))
    with pytest.raises(TypeError):
        x.max((0, 1))
    with pytest.raises(TypeError):
        x.prod((0, 1))
    with pytest.raises(TypeError):
        probe.logsumexp(x, None)
    with pytest.raises(TypeError):
        x.var(unbiased=True, correction=1)


def test_cumsum_requires_dim():
    with pytest.raises(TypeError):
        probe.ones(3).cumsum()
    with pytest.raises(TypeError):
        probe.softmax(probe.ones(3))


# ------------------------------------------------------------------ NumPy-named functions
def test_numpy_namespace_functions(device, rng):
    a = rng.standard_normal((3, 4))
    x = probe.tensor(a, device=device)
    np.testing.assert_allclose(to_np(tensor_ns.sum(x, axis=(0,), keepdims=True)),
                               a.sum(0, keepdims=True))
    np.testing.assert_allclose(to_np(tensor_ns.sum(x, axis=())), a)
    np.testing.assert_allclose(to_np(tensor_ns.mean(x, axis=1)), a.mean(1))
    np.testing.assert_allclose(to_np(tensor_ns.max(x, axis=0)), a.max(0))
    np.testing.assert_allclose(to_np(tensor_ns.amin(x)), a.min())
    np.testing.assert_allclose(to_np(tensor_ns.prod(x, axis=(0, 1))), a.prod())
    np.testing.assert_allclose(to_np(tensor_ns.cumsum(x)), a.cumsum())
    np.testing.assert_allclose(to_np(tensor_ns.cumprod(x, axis=1)), a.cumprod(1))
    np.testing.assert_allclose(to_np(tensor_ns.var(x, axis=1, ddof=1)), a.var(1, ddof=1))
    np.testing.assert_allclose(to_np(tensor_ns.std(x)), a.std())
    np.testing.assert_allclose(to_np(tensor_ns.sort(x, axis=0)), np.sort(a, 0))
    np.testing.assert_array_equal(to_np(tensor_ns.argmax(x, axis=1)), a.argmax(1))
    assert tensor_ns.sum(np.ones(3)).item() == 3.0  # raw arrays are accepted


def test_version_counter_on_saved_output(device):
    x = probe.ones(3, device=device, requires_grad=True)
    y = (x * 1).softmax(0)
    y._bump_version()  # as an in-place op on y would
    with pytest.raises(RuntimeError, match="output 0 of Softmax"):
        y.sum().backward()
