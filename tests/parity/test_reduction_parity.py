"""Parity of probe's reductions, scans, softmax and sorting ops with PyTorch: values, dtypes,
shapes, grad_fn names, gradients (float32 and float64), named-tuple fields and unpacking, and
integer dtypes."""

from __future__ import annotations

import math

import numpy as np
import pytest

import probe

torch = pytest.importorskip("torch")

from harness import assert_same, assert_same_error, compare, run  # noqa: E402


def _randn(*shape):
    def make(rng):
        return rng.standard_normal(shape)

    return make


def _fixed(data):
    def make(rng):
        return np.asarray(data, dtype=np.float64)

    return make


def _positive(*shape):
    def make(rng):
        return rng.uniform(0.5, 1.5, shape)

    return make


VI = ("values", "indices")

# name -> (fn(L, x), input maker, named-tuple fields)
CASES = {
    "sum": (lambda L, x: x.sum(), _randn(3, 4), None),
    "sum_dim": (lambda L, x: x.sum(1), _randn(3, 4), None),
    "sum_neg_dim_keepdim": (lambda L, x: L.sum(x, -1, keepdim=True), _randn(2, 3, 4), None),
    "sum_tuple": (lambda L, x: x.sum((0, 2)), _randn(2, 3, 4), None),
    "sum_list_neg": (lambda L, x: x.sum([-1, 0]), _randn(2, 3, 4), None),
    "sum_dim_none": (lambda L, x: x.sum(dim=None), _randn(3, 4), None),
    "sum_empty_tuple": (lambda L, x: x.sum(()), _randn(3, 4), None),
    "sum_dtype_f64": (lambda L, x: x.sum(1, dtype=L.float64), _randn(3, 4), None),
    "sum_axis_alias": (lambda L, x: x.sum(axis=0, keepdims=True), _randn(3, 4), None),
    "nansum": (lambda L, x: L.nansum(x, 1), _fixed([[1.0, math.nan], [2.0, 3.0]]), None),
    "mean": (lambda L, x: x.mean(), _randn(3, 4), None),
    "mean_dim": (lambda L, x: x.mean(0), _randn(3, 4), None),
    "mean_tuple_keepdim": (lambda L, x: x.mean((0, 2), keepdim=True), _randn(2, 3, 4), None),
    "mean_dtype": (lambda L, x: x.mean(dtype=L.float64), _randn(3, 4), None),
    "nanmean": (lambda L, x: x.nanmean(1), _fixed([[1.0, math.nan], [2.0, 3.0]]), None),
    "prod": (lambda L, x: x.prod(), _positive(2, 3), None),
    "prod_dim": (lambda L, x: x.prod(1), _randn(3, 4), None),
    "prod_keepdim": (lambda L, x: L.prod(x, 0, keepdim=True), _randn(3, 4), None),
    "prod_zero": (lambda L, x: x.prod(), _fixed([2.0, 0.0, 3.0]), None),
    "prod_zeros_dim": (lambda L, x: x.prod(1),
                       _fixed([[2.0, 0.0, 3.0], [0.0, 0.0, 1.0], [1.0, 2.0, 3.0]]), None),
    "max": (lambda L, x: x.max(), _randn(3, 4), None),
    "max_ties": (lambda L, x: x.max(), _fixed([[1.0, 3.0, 3.0], [2.0, 3.0, 0.0]]), None),
    "min": (lambda L, x: L.min(x), _randn(3, 4), None),
    "max_dim": (lambda L, x: x.max(1), _randn(3, 4), VI),
    "max_dim_keepdim": (lambda L, x: L.max(x, dim=0, keepdim=True), _randn(3, 4), VI),
    "max_dim_ties": (lambda L, x: x.max(1), _fixed([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), VI),
    "min_dim": (lambda L, x: x.min(-1), _randn(2, 3, 4), VI),
    "max_pair": (lambda L, x: L.max(x, x.flip(0)), _randn(3, 4), None),
    "amax": (lambda L, x: x.amax(), _randn(3, 4), None),
    "amax_tuple": (lambda L, x: L.amax(x, (0, 2), keepdim=True), _randn(2, 3, 4), None),
    "amax_ties": (lambda L, x: x.amax(1), _fixed([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), None),
    "amin_dim": (lambda L, x: x.amin(0), _randn(3, 4), None),
    "aminmax": (lambda L, x: L.aminmax(x), _randn(3, 4), ("min", "max")),
    "aminmax_dim": (lambda L, x: L.aminmax(x, dim=1, keepdim=True), _randn(3, 4),
                    ("min", "max")),
    "var": (lambda L, x: x.var(), _randn(3, 4), None),
    "var_dim": (lambda L, x: x.var(1), _randn(3, 4), None),
    "var_unbiased_pos": (lambda L, x: x.var(1, False, True), _randn(3, 4), None),
    "var_unbiased_only": (lambda L, x: x.var(False), _randn(3, 4), None),
    "var_correction": (lambda L, x: L.var(x, (0, 2), correction=2), _randn(2, 3, 4), None),
    "std": (lambda L, x: x.std(), _randn(3, 4), None),
    "std_dim_keepdim": (lambda L, x: x.std(0, keepdim=True), _randn(3, 4), None),
    "std_correction0": (lambda L, x: x.std(dim=1, correction=0), _randn(3, 4), None),
    "std_constant": (lambda L, x: x.std(), _fixed([2.0, 2.0, 2.0]), None),
    "var_mean": (lambda L, x: L.var_mean(x, 1), _randn(3, 4), None),
    "std_mean": (lambda L, x: L.std_mean(x, dim=0, keepdim=True), _randn(3, 4), None),
    "norm": (lambda L, x: x.norm(), _randn(3, 4), None),
    "norm_dim": (lambda L, x: x.norm(dim=1), _randn(3, 4), None),
    "norm_keepdim": (lambda L, x: L.norm(x, 2, (0, 1), keepdim=True), _randn(2, 3, 4), None),
    "norm_p1": (lambda L, x: x.norm(1), _randn(3, 4), None),
    "norm_p3": (lambda L, x: x.norm(3, dim=0), _randn(3, 4), None),
    "norm_p05": (lambda L, x: x.norm(0.5), _randn(3, 4), None),
    "norm_pneg": (lambda L, x: x.norm(-2, dim=1), _randn(3, 4), None),
    "norm_inf": (lambda L, x: x.norm(math.inf), _randn(3, 4), None),
    "norm_ninf": (lambda L, x: x.norm(-math.inf, dim=1), _randn(3, 4), None),
    "norm_zero_ord": (lambda L, x: x.norm(0), _fixed([1.0, 0.0, 2.0]), None),
    "norm_fro_dim": (lambda L, x: x.norm("fro", dim=1), _randn(3, 4), None),
    "norm_dtype": (lambda L, x: x.norm(dtype=L.float64), _randn(3, 4), None),
    "norm_at_zero": (lambda L, x: x.norm(), _fixed([0.0, 0.0, 0.0]), None),
    "norm_partial_zero_p3": (lambda L, x: x.norm(3), _fixed([0.0, 1.0, -2.0]), None),
    "norm_inf_ties": (lambda L, x: x.norm(math.inf), _fixed([2.0, -2.0, 1.0]), None),
    "logsumexp": (lambda L, x: x.logsumexp(1), _randn(3, 4), None),
    "logsumexp_tuple": (lambda L, x: L.logsumexp(x, (0, 2), keepdim=True), _randn(2, 3, 4),
                        None),
    "logsumexp_large": (lambda L, x: x.logsumexp(0), _fixed([80.0, 80.0, -20.0]), None),
    "cumsum": (lambda L, x: x.cumsum(1), _randn(3, 4), None),
    "cumsum_dim0_dtype": (lambda L, x: L.cumsum(x, 0, dtype=L.float64), _randn(3, 4), None),
    "cumprod": (lambda L, x: x.cumprod(1), _randn(3, 4), None),
    "cumprod_zeros": (lambda L, x: x.cumprod(0), _fixed([2.0, 0.0, 3.0, 4.0, 0.0, 2.0]), None),
    "cumprod_zeros_2d": (lambda L, x: x.cumprod(1),
                         _fixed([[2.0, 0.0, 3.0], [1.0, 2.0, 0.0], [0.5, 1.5, 2.0]]), None),
    "cummax": (lambda L, x: x.cummax(1), _randn(3, 5), VI),
    "cummin": (lambda L, x: L.cummin(x, 0), _randn(3, 5), VI),
    "cummax_ties": (lambda L, x: x.cummax(0), _fixed([1.0, 3.0, 2.0, 3.0, 5.0]), VI),
    "softmax": (lambda L, x: x.softmax(1), _randn(3, 4), None),
    "softmax_dim0": (lambda L, x: L.softmax(x, 0), _randn(2, 3, 4), None),
    "softmax_dtype": (lambda L, x: L.softmax(x, -1, dtype=L.float64), _randn(3, 4), None),
    "log_softmax": (lambda L, x: x.log_softmax(-1), _randn(3, 4), None),
    "log_softmax_dim1": (lambda L, x: L.log_softmax(x, 1), _randn(2, 3, 4), None),
    "softmax_large": (lambda L, x: x.softmax(0), _fixed([80.0, 80.0, -20.0]), None),
    "sort": (lambda L, x: x.sort(), _randn(3, 5), VI),
    "sort_dim0_desc": (lambda L, x: L.sort(x, 0, descending=True), _randn(4, 3), VI),
    "sort_stable_ties": (lambda L, x: x.sort(stable=True), _fixed([3.0, 1.0, 3.0, 2.0, 1.0]),
                         VI),
    "sort_desc_ties": (lambda L, x: x.sort(descending=True, stable=True),
                       _fixed([3.0, 1.0, 3.0, 2.0, 1.0]), VI),
    "argsort": (lambda L, x: x.argsort(1, descending=True), _randn(3, 5), None),
    "topk": (lambda L, x: x.topk(2), _randn(3, 5), VI),
    "topk_smallest_dim0": (lambda L, x: L.topk(x, 3, dim=0, largest=False), _randn(5, 3), VI),
    "median": (lambda L, x: x.median(), _randn(3, 5), None),
    "median_even": (lambda L, x: x.median(), _randn(2, 4), None),
    "median_ties": (lambda L, x: x.median(), _fixed([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), None),
    "median_dim": (lambda L, x: x.median(1), _randn(3, 5), VI),
    "median_dim_keepdim": (lambda L, x: L.median(x, 0, keepdim=True), _randn(4, 3), VI),
    "median_dim_ties": (lambda L, x: x.median(0), _fixed([3.0, 1.0, 3.0, 2.0, 3.0, 1.0]), VI),
    "kthvalue": (lambda L, x: x.kthvalue(2, 1), _randn(3, 5), VI),
    "kthvalue_keepdim": (lambda L, x: L.kthvalue(x, 3, 0, True), _randn(4, 3), VI),
    "mode": (lambda L, x: x.mode(),
             _fixed([[1.0, 2.0, 2.0, 3.0], [4.0, 4.0, 5.0, 5.0]]), VI),
    "mode_dim0": (lambda L, x: L.mode(x, 0),
                  _fixed([[1.0, 2.0], [1.0, 3.0], [2.0, 3.0]]), VI),
    "max_0d": (lambda L, x: x.max(0), _fixed(2.5), VI),
    "sum_0d_dim": (lambda L, x: x.sum(-1), _fixed(2.5), None),
    "softmax_0d": (lambda L, x: x.softmax(0), _fixed(2.5), None),
    "sort_0d": (lambda L, x: x.sort(), _fixed(2.5), VI),
}


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_parity(name, dtype_name):
    fn, make, fields = CASES[name]
    arrays = [make(np.random.default_rng(0))]
    tol = 2e-5 if dtype_name == "float32" else 1e-10
    if dtype_name == "float32" and name.startswith(("norm_p05", "norm_pneg", "var", "std")):
        tol = 1e-4
    compare(fn, arrays, dtype_name, rtol=tol, atol=tol, fields=fields, quiet=True)


INT_CASES = {
    "sum_int32": (lambda L, x: x.sum(), "int32"),
    "sum_dim_uint8": (lambda L, x: x.sum(0), "uint8"),
    "sum_bool": (lambda L, x: x.sum(1), "bool"),
    "cumsum_bool": (lambda L, x: x.cumsum(0), "bool"),
    "all_bool": (lambda L, x: x.all(1), "bool"),
    "sum_dtype_float": (lambda L, x: x.sum(dtype=L.float32), "int16"),
    "prod_int16": (lambda L, x: x.prod(1), "int16"),
    "cumsum_int8": (lambda L, x: x.cumsum(1), "int8"),
    "cumprod_int32": (lambda L, x: x.cumprod(0), "int32"),
    "max_int": (lambda L, x: x.max(), "int32"),
    "max_dim_int": (lambda L, x: x.max(1), "int64"),
    "amin_int": (lambda L, x: x.amin(0), "uint8"),
    "argmax_int": (lambda L, x: x.argmax(), "int64"),
    "argmin_dim": (lambda L, x: x.argmin(1, keepdim=True), "int16"),
    "all_uint8": (lambda L, x: x.all(1), "uint8"),
    "any_uint8_full": (lambda L, x: x.any(), "uint8"),
    "all_int": (lambda L, x: L.all(x, 0), "int64"),
    "any_tuple": (lambda L, x: x.any((0, 1)), "int32"),
    "count_nonzero": (lambda L, x: L.count_nonzero(x, 0), "int64"),
    "count_nonzero_full": (lambda L, x: L.count_nonzero(x), "int8"),
    "sort_int": (lambda L, x: x.sort(dim=1, stable=True), "int64"),
    "sort_uint8_desc": (lambda L, x: x.sort(dim=1, descending=True, stable=True), "uint8"),
    "topk_int_distinct": (lambda L, x: L.arange(12).reshape(3, 4).topk(2), "int64"),
    "median_int": (lambda L, x: x.median(), "int32"),
    "median_dim_int": (lambda L, x: x.median(1), "int64"),
    "mode_int": (lambda L, x: x.mode(1), "int64"),
    "logsumexp_int": (lambda L, x: L.logsumexp(x, 1), "int64"),
    "unique": (lambda L, x: L.unique(x), "int64"),
    "unique_all": (lambda L, x: L.unique(x, return_inverse=True, return_counts=True), "int32"),
    "unique_dim": (lambda L, x: L.unique(x, dim=0, return_counts=True), "int64"),
    "unique_consecutive": (lambda L, x: L.unique_consecutive(x, return_counts=True), "int64"),
    "cummax_int": (lambda L, x: x.cummax(1), "int64"),
    "aminmax_int": (lambda L, x: L.aminmax(x), "int16"),
}


@pytest.mark.parametrize("name", sorted(INT_CASES))
def test_integer_parity(name):
    fn, dtype_name = INT_CASES[name]
    # The input's dtype comes from the array: the harness converts only float arrays.
    data = np.array([[3, 1, 4, 1], [5, 0, 2, 6], [3, 1, 4, 1]]).astype(dtype_name)
    got, want = (run(lib, fn, [data], dtype_name) for lib in (probe, torch))
    assert_same(got, want, rtol=1e-6, atol=0)


ERROR_CASES = {
    "dim_out_of_range": lambda L: L.ones(3, 4).sum(2),
    "dim_out_of_range_neg": lambda L: L.ones(3, 4).softmax(-3),
    "dup_dims": lambda L: L.ones(3, 4).sum((0, -2)),
    "mean_int": lambda L: L.arange(4).mean(),
    "mean_bool": lambda L: L.ones(2, dtype=L.bool).mean(),
    "var_int": lambda L: L.arange(4).var(),
    "norm_int": lambda L: L.arange(4).norm(),
    "softmax_int": lambda L: L.arange(4).softmax(0),
    "log_softmax_int_dim0": lambda L: L.arange(4).reshape(2, 2).log_softmax(0),
    "argmax_bool": lambda L: L.ones(2, dtype=L.bool).argmax(),
    "topk_k": lambda L: L.ones(3).topk(4),
    "kthvalue_k": lambda L: L.ones(2, 3).kthvalue(4),
    "max_empty": lambda L: L.zeros(0, 3).max(),
    "max_empty_dim": lambda L: L.zeros(0, 3).max(0),
    "amin_empty": lambda L: L.zeros(0).amin(),
    "argmin_empty": lambda L: L.zeros(0, 2).argmin(),
    "median_empty_dim": lambda L: L.zeros(0, 3).median(0),
    "aminmax_empty": lambda L: L.aminmax(L.zeros(0)),
    "inf_norm_empty": lambda L: L.linalg.vector_norm(L.zeros(0), float("inf"))
    if L is torch else L._linalg_vector_norm(L.zeros(0), float("inf")),
    "norm_bad_order": lambda L: L.ones(2, 2).norm("abc"),
}


@pytest.mark.parametrize("name", sorted(ERROR_CASES))
def test_error_parity(name):
    assert_same_error(ERROR_CASES[name])


def test_return_type_repr_parity():
    data = np.array([[1.0, 5.0], [7.0, 2.0]], dtype=np.float32)
    for call in (lambda L, x: x.max(1), lambda L, x: x.sort(), lambda L, x: L.aminmax(x),
                 lambda L, x: x.topk(1)):
        got = repr(call(probe, probe.tensor(data)))
        want = repr(call(torch, torch.tensor(data)))
        assert got == want.replace("torch.", "probe.")


def test_grad_of_grad_parity():
    data = np.array([[0.3, -1.2, 2.0], [0.5, 0.1, -0.7]])
    results = []
    for lib in (probe, torch):
        x = lib.tensor(data, requires_grad=True)
        y = (x.softmax(1) * lib.tensor(data)).sum() + x.var(0).sum() + x.norm() + \
            x.prod(1).sum() + (x * x).amax(1).sum()
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        (h,) = lib.autograd.grad((g * g).sum(), x)
        results.append((g.detach().numpy().copy(), h.numpy().copy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-8, atol=1e-10)
