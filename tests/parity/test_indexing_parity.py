"""Parity of probe's indexing ops with PyTorch: ``t[idx]``, ``t[idx] = v`` (with autograd),
gather/scatter/index_*/masked_*/take, in float32 and float64: values, dtypes, grad_fn names and
gradients; and the error texts."""

from __future__ import annotations

import numpy as np
import pytest

import probe

torch = pytest.importorskip("torch")

from harness import assert_same_error, compare  # noqa: E402


def _compare(fn, shapes, dtype_name, seed=0):
    rng = np.random.default_rng(seed)
    compare(fn, [rng.standard_normal(s) for s in shapes], dtype_name, grad_seed=11)


def _t(L, values, dtype=None):
    return L.tensor(values, dtype=dtype or L.int64)


def _m(L, values):
    return L.tensor(np.asarray(values, dtype=bool))


GETITEM = {
    "int": 1,
    "neg_int": -2,
    "slice": slice(1, 3),
    "slice_step": slice(None, None, 2),
    "full_slice": slice(None),
    "tuple_int_slice": (0, slice(1, None)),
    "tuple_slice_int": (slice(1, None), 0),
    "int_int": (1, 2),
    "none": None,
    "none_int": (None, 0),
    "int_none": (0, None),
    "ellipsis": Ellipsis,
    "ellipsis_int": (Ellipsis, 1),
    "slice_slice": (slice(None), slice(None)),
    "step_slices": (slice(None, None, 2), slice(1, None, 3)),
    "list": [2, 0],
    "list_dup": [1, 1, 2, 1],
    "list_neg": [-1, 0],
    "two_lists": ([0, 2, 2], [1, 0, 1]),
    "split_adv": ([0, 2], slice(None), [1, 0]),
    "slice_list": (slice(1, None), [3, 0]),
    "int_list": (1, [0, 3]),
    "bool_true": True,
    "np_array": np.array([2, 1]),
    "nested_list_2d": (np.array([[0, 1], [2, 2]]),),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(GETITEM))
def test_getitem_parity(name, dtype):
    index = GETITEM[name]
    _compare(lambda L, x: x[index], [(3, 4, 2)], dtype, seed=len(name))


TENSOR_CASES = {
    "tensor_idx": (lambda L, x: x[_t(L, [2, 0, 2])], [(3, 4)]),
    "tensor_idx_2d": (lambda L, x: x[_t(L, [[0, 1], [1, 1]])], [(3, 4)]),
    "tensor_idx_dim1": (lambda L, x: x[:, _t(L, [3, 3, 0])], [(3, 4)]),
    "tensor_idx_int32": (lambda L, x: x[_t(L, [1, 0], L.int32)], [(3, 4)]),
    "tensor_idx_0d": (lambda L, x: x[_t(L, 1)], [(3, 4)]),
    "mask": (lambda L, x: x[_m(L, [[True, False, True, False]] * 3)], [(3, 4)]),
    "row_mask": (lambda L, x: x[_m(L, [True, False, True])], [(3, 4)]),
    "mask_after_int": (lambda L, x: x[0, _m(L, [False, True, True, False])], [(3, 4)]),
    "two_tensors": (lambda L, x: x[_t(L, [0, 2]), _t(L, [3, 1])], [(3, 4, 2)]),
    "broadcast_tensors": (lambda L, x: x[_t(L, [[0], [2]]), _t(L, [1, 3])], [(3, 4)]),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(TENSOR_CASES))
def test_tensor_index_parity(name, dtype):
    fn, shapes = TENSOR_CASES[name]
    _compare(fn, shapes, dtype, seed=len(name))


def _setitem(index, value_fn):
    def fn(L, x, w):
        y = x * 1
        y[index(L) if callable(index) else index] = value_fn(w)
        return y
    return fn


SETITEM = {
    "int": (_setitem(1, lambda w: w[0]), [(3, 4), (2, 4)]),
    "slice": (_setitem(slice(1, None), lambda w: w), [(3, 4), (2, 4)]),
    "slice_bcast": (_setitem((slice(None), 2), lambda w: w[0, 0]), [(3, 4), (2, 4)]),
    "step": (_setitem((slice(None), slice(None, None, 2)), lambda w: w[:, :2].t()[:, :1].t()),
             [(3, 4), (2, 4)]),
    "list": (_setitem([0, 2], lambda w: w), [(3, 4), (2, 4)]),
    "list_bcast": (_setitem([2, 1], lambda w: w[0]), [(3, 4), (2, 4)]),
    "two_lists": (_setitem(([0, 2], [1, 3]), lambda w: w[0, :2]), [(3, 4), (2, 4)]),
    "tensor": (_setitem(lambda L: _t(L, [2]), lambda w: w[:1]), [(3, 4), (2, 4)]),
    "mask": (_setitem(lambda L: _m(L, [[True, False, False, True]] * 3), lambda w: w[0, 0]),
             [(3, 4), (2, 4)]),
    "mask_values": (_setitem(lambda L: _m(L, [[True, False, False, True]] * 3),
                             lambda w: w.reshape(-1)[:6]), [(3, 4), (2, 4)]),
    "ellipsis": (_setitem(Ellipsis, lambda w: w[1]), [(3, 4), (2, 4)]),
    "full_slices": (_setitem((slice(None), slice(None)), lambda w: w[1]), [(3, 4), (2, 4)]),
    "none": (_setitem(None, lambda w: w), [(2, 4), (2, 4)]),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(SETITEM))
def test_setitem_parity(name, dtype):
    fn, shapes = SETITEM[name]
    _compare(fn, shapes, dtype, seed=len(name))


def _view_write(L, x, w):
    y = x * 2
    v = y.view(4, 3)
    v[1] = w[0]
    v[2, _t(L, [0, 2])] = w[1, :2]
    return y, v


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_setitem_through_views_parity(dtype):
    _compare(_view_write, [(2, 6), (2, 3)], dtype)


FAMILY = {
    "gather": (lambda L, x: x.gather(1, _t(L, [[0, 3], [1, 1], [2, 0]])), [(3, 4)]),
    "gather_dim0": (lambda L, x: L.gather(x, 0, _t(L, [[2, 0, 1, 1]])), [(3, 4)]),
    "scatter_src": (lambda L, x, s: x.scatter(1, _t(L, [[0, 3], [1, 2], [2, 0]]), s),
                    [(3, 4), (3, 2)]),
    "scatter_src_rows": (lambda L, x, s: x.scatter(0, _t(L, [[2, 0, 1, 1]]), s),
                         [(3, 4), (1, 4)]),
    "scatter_value": (lambda L, x: x.scatter(1, _t(L, [[0], [3], [1]]), 2.5), [(3, 4)]),
    "scatter_add": (lambda L, x, s: x.scatter_add(1, _t(L, [[0, 0], [1, 2], [3, 3]]), s),
                    [(3, 4), (3, 2)]),
    "index_select": (lambda L, x: x.index_select(0, _t(L, [2, 0, 2])), [(3, 4)]),
    "index_select_dim1": (lambda L, x: L.index_select(x, 1, _t(L, [3, 1])), [(3, 4)]),
    "index_add": (lambda L, x, s: x.index_add(0, _t(L, [2, 0, 2]), s), [(3, 4), (3, 4)]),
    "index_add_alpha": (lambda L, x, s: x.index_add(1, _t(L, [1, 1]), s, alpha=2.0),
                        [(3, 4), (3, 2)]),
    "index_copy": (lambda L, x, s: x.index_copy(0, _t(L, [2, 0]), s), [(3, 4), (2, 4)]),
    "index_fill": (lambda L, x: x.index_fill(1, _t(L, [0, 2]), -1.0), [(3, 4)]),
    "index_fill_tensor": (lambda L, x, v: x.index_fill(0, _t(L, [1]), v[0]), [(3, 4), (1,)]),
    "masked_fill": (lambda L, x: x.masked_fill(_m(L, [[True, False, True, False]] * 3), 0.5),
                    [(3, 4)]),
    "masked_fill_bcast": (lambda L, x: x.masked_fill(_m(L, [False, True, True, False]), 0.5),
                          [(3, 4)]),
    "masked_fill_tensor": (lambda L, x, v: x.masked_fill(_m(L, [[True, False, True, False]] * 3),
                                                         v[0]), [(3, 4), (1,)]),
    "masked_select": (lambda L, x: x.masked_select(_m(L, [[True, False, True, False]] * 3)),
                      [(3, 4)]),
    "masked_select_bcast": (lambda L, x: L.masked_select(x, _m(L, [[True], [False], [True]])),
                            [(3, 4)]),
    "masked_scatter": (lambda L, x, s: x.masked_scatter(_m(L, [[True, False, True, False]] * 3),
                                                        s), [(3, 4), (2, 4)]),
    "take": (lambda L, x: x.take(_t(L, [[0, 11], [5, 5]])), [(3, 4)]),
    "take_along_dim": (lambda L, x: L.take_along_dim(x, _t(L, [[0], [3], [1]]), 1), [(3, 4)]),
    "take_along_dim_bcast": (lambda L, x: L.take_along_dim(x, _t(L, [[0, 2]]), 1), [(3, 4)]),
    "take_along_dim_flat": (lambda L, x: L.take_along_dim(x, _t(L, [0, 7])), [(3, 4)]),
    "index_put_acc": (lambda L, x, s: x.index_put((_t(L, [0, 0, 2]),), s, accumulate=True),
                      [(3, 4), (3, 4)]),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(FAMILY))
def test_gather_family_parity(name, dtype):
    fn, shapes = FAMILY[name]
    _compare(fn, shapes, dtype, seed=len(name))


def _inplace_chain(L, x, s):
    y = x * 1
    y.scatter_(1, _t(L, [[2], [0], [1]]), s)
    y.masked_fill_(_m(L, [True, False, False, True]), 0.0)
    y.index_add_(0, _t(L, [1, 1]), s[:2].expand(2, 4) * 1)
    y.scatter_add_(1, _t(L, [[0], [0], [3]]), s * 2)
    y.index_fill_(1, _t(L, [3]), 1.0)
    return y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inplace_family_parity(dtype):
    _compare(_inplace_chain, [(3, 4), (3, 1)], dtype)


def test_nonzero_parity():
    a = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -3.0]])
    for as_tuple in (False, True):
        got = probe.tensor(a).nonzero(as_tuple=as_tuple)
        want = torch.tensor(a).nonzero(as_tuple=as_tuple)
        got = got if isinstance(got, tuple) else (got,)
        want = want if isinstance(want, tuple) else (want,)
        for g, w in zip(got, want, strict=True):
            assert str(g.dtype) == str(w.dtype).replace("torch", "probe")
            np.testing.assert_array_equal(g.numpy(), w.numpy())
    np.testing.assert_array_equal(probe.argwhere(probe.tensor(a)).numpy(),
                                  torch.argwhere(torch.tensor(a)).numpy())


def test_int_tensor_indexing_parity():
    a = np.arange(12).reshape(3, 4)
    for lib_dtype in ("int64", "int32", "bool"):
        arr = a.astype(bool) if lib_dtype == "bool" else a.astype(lib_dtype)
        for fn in (lambda L, x: x[1:, ::2], lambda L, x: x[[2, 0]],
                   lambda L, x: x.gather(1, _t(L, [[1], [0], [3]])),
                   lambda L, x: x.masked_fill(_m(L, [True, False, True, False]), 1),
                   lambda L, x: x.index_select(1, _t(L, [3, 0]))):
            got = fn(probe, probe.tensor(arr))
            want = fn(torch, torch.tensor(arr))
            assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
            np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_setitem_versions_and_casting_parity():
    for lib in (probe, torch):
        t = lib.zeros(3, dtype=lib.int64)
        t[0] = 1.7
        t[1] = lib.tensor(-2.5)
        t[lib.tensor([2])] = 9
        assert t.tolist() == [1, -2, 9] and t._version == 3


ERRORS = [
    lambda L: L.zeros(3)[5],
    lambda L: L.zeros(3, 4)[0, 7],
    lambda L: L.zeros(3, 4)[:, 9],
    lambda L: L.zeros(3)[::-1],
    lambda L: L.zeros(3)[_t(L, [0, 5])],
    lambda L: L.zeros(3, 4)[:, _t(L, [4])],
    lambda L: L.zeros(3, 4)[0, 0, 0],
    lambda L: L.zeros(3)[L.tensor([0.0])],
    lambda L: L.tensor(1.0)[0],
    lambda L: L.zeros(3, 4)[_m(L, [[True, False, True, False]] * 2)],
    lambda L: L.zeros(3, 4)[1.5],
    lambda L: L.zeros(3, 4).__setitem__(_t(L, [0, 1]), L.ones(3, 4)),
    lambda L: L.zeros(3, 4).__setitem__(0, L.ones(2, 4)),
    lambda L: L.zeros(3, requires_grad=True).__setitem__(0, 1.0),
    lambda L: L.zeros(3, requires_grad=True).__setitem__(_t(L, [0]), 1.0),
    lambda L: L.ones(4).expand(3, 4).__setitem__((slice(None), 0), 2.0),
    lambda L: L.zeros(3, 4).gather(1, _t(L, [[5]])),
    lambda L: L.zeros(3, 4).gather(1, _t(L, [0])),
    lambda L: L.zeros(3, 4).gather(1, L.zeros(4, 1, dtype=L.int64)),
    lambda L: L.zeros(3, 4).scatter(1, _t(L, [[4]]), 1.0),
    lambda L: L.zeros(3, 4).index_select(0, _t(L, [[0]])),
    lambda L: L.zeros(3, 4).index_select(0, _t(L, [7])),
    lambda L: L.zeros(3, 4).index_select(0, L.tensor([1.0])),
    lambda L: L.zeros(3, 4).index_add(0, _t(L, [0]), L.ones(2, 4)),
    lambda L: L.zeros(3, 4).masked_fill(L.ones(3, 4), 1.0),
    lambda L: L.zeros(3, 4).masked_fill(L.ones(3, 4, dtype=L.bool), L.ones(2)),
    lambda L: L.zeros(3, 4).take(_t(L, [12])),
    lambda L: L.zeros(3, 4).take(_t(L, [-13])),
    lambda L: L.zeros(3, 4).gather(1, _t(L, [[-1]])),
    lambda L: L.zeros(3, 4).scatter(1, _t(L, [[-1]]), 1.0),
    lambda L: L.zeros(3, 4).scatter_add(0, _t(L, [[3]]), L.zeros(3, 4)),
    lambda L: L.zeros(3, 4).index_select(0, _t(L, [-1])),
    lambda L: L.zeros(3, 4).index_add(0, _t(L, [-1]), L.ones(1, 4)),
    lambda L: L.zeros(3, 4).index_add(0, _t(L, [3]), L.ones(1, 4)),
    lambda L: L.zeros(3, 4).index_copy(0, _t(L, [-1]), L.ones(1, 4)),
    lambda L: L.zeros(3, 4).index_copy(0, _t(L, [3]), L.ones(1, 4)),
    lambda L: L.zeros(3, 4).index_fill(0, _t(L, [3]), 1.0),
    lambda L: L.zeros(3, 4).put(_t(L, [12]), L.ones(1)),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_error_parity(i):
    assert_same_error(ERRORS[i])
