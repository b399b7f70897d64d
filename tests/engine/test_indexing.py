"""Indexing: ``t[idx]`` (views and advanced copies), ``t[idx] = v`` with autograd, gather /
scatter / index_* / masked_* / take / nonzero, gradients and PyTorch's error texts."""

from __future__ import annotations

import numpy as np
import pytest

import probe
from probe.autograd import gradcheck, gradgradcheck
from probe.engine import tensor_ns
from probe.engine.ops import indexing


def to_np(t):
    return t.detach().cpu().numpy()


def _x(rng, shape, device, requires_grad=True):
    data = rng.standard_normal(shape)
    return probe.tensor(data, dtype=probe.float64, device=device, requires_grad=requires_grad)


def _i(values, device):
    return probe.tensor(values, dtype=probe.int64, device=device)


def _mask(values, device):
    return probe.tensor(np.asarray(values, dtype=bool), device=device)


# ------------------------------------------------------------------ __getitem__ values
INDEXES = {
    "int": 1,
    "neg_int": -1,
    "slice": slice(1, None),
    "step_slice": slice(None, None, 2),
    "tuple": (0, slice(1, 3)),
    "int_int": (1, 2),
    "none": None,
    "none_mid": (slice(None), None),
    "ellipsis": Ellipsis,
    "ellipsis_int": (Ellipsis, 1),
    "int_ellipsis_none": (0, Ellipsis, None),
    "list": [0, 2],
    "list_dup": [2, 0, 2, 2],
    "nested_tuple_lists": ([0, 1], [1, 3]),
    "np_array": np.array([1, 0]),
    "np_integer": np.int64(2),
    "bool_true": True,
    "bool_false": False,
    "slice_then_list": (slice(1, None), [0, 3]),
    "list_slice_list": ([0, 2], slice(None), [1, 0]),
    "mask_rows": np.array([True, False, True]),
}


@pytest.mark.parametrize("name", sorted(INDEXES))
def test_getitem_matches_numpy(name, device):
    a = np.arange(36.0).reshape(3, 4, 3)
    x = probe.tensor(a, device=device)
    index = INDEXES[name]
    got = x[index]
    want = a[index]
    assert tuple(got.shape) == want.shape
    np.testing.assert_array_equal(to_np(got), want)


def test_getitem_tensor_indices(device):
    a = np.arange(24.0).reshape(2, 3, 4)
    x = probe.tensor(a, device=device)
    idx = _i([2, 0, 2], device)
    np.testing.assert_array_equal(to_np(x[:, idx]), a[:, [2, 0, 2]])
    np.testing.assert_array_equal(to_np(x[_i([1, 0], device)]), a[[1, 0]])
    mask = _mask(a > 10, device)
    np.testing.assert_array_equal(to_np(x[mask]), a[a > 10])
    np.testing.assert_array_equal(to_np(x[0, _mask([True, False, True], device)]), a[0, [0, 2]])
    np.testing.assert_array_equal(to_np(x[_i([[0, 1], [1, 1]], device)]), a[[[0, 1], [1, 1]]])
    assert x[_i(1, device)].shape == (3, 4)  # a 0-d integer tensor indexes like an int
    assert x[probe.tensor([1, 0, 1], dtype=probe.int32, device=device)].shape == (3, 3, 4)


def test_basic_indexing_returns_views(device):
    x = probe.zeros(3, 4, device=device)
    for v in (x[1], x[:, 2], x[1:, ::2], x[None], x[...], x[0, None], x[_i(1, device)]):
        assert v._base is x and v._vc is x._vc
    for c in (x[[0, 1]], x[_mask([True, False, True], device)], x[_i([0], device)]):
        assert c._base is None
    x[1][2] = 7.0
    assert x[1, 2].item() == 7.0
    assert x._version == 1


@pytest.mark.parametrize("index, name", [
    (0, "SelectBackward0"),
    (slice(1, 3), "SliceBackward0"),
    (slice(None), "SliceBackward0"),
    ((slice(None), 1), "SelectBackward0"),
    ((1, slice(1, None)), "SliceBackward0"),
    ((0, None), "UnsqueezeBackward0"),
    (None, "UnsqueezeBackward0"),
    (Ellipsis, "AliasBackward0"),
    ((slice(None), slice(None)), "AliasBackward0"),
    ([0, 1], "IndexBackward0"),
    ((slice(None), [0, 1]), "IndexBackward0"),
    (True, "IndexBackward0"),
])
def test_getitem_grad_fn_names(index, name):
    x = probe.randn(3, 4, requires_grad=True)
    assert type(x[index].grad_fn).__name__ == name


# ------------------------------------------------------------------ __getitem__ gradients
GRAD_INDEXES = {
    "int": 1,
    "slice": slice(1, None),
    "step_slice": (slice(None), slice(None, None, 2)),
    "int_slice": (0, slice(1, 3)),
    "none": (None, 1),
    "ellipsis": (Ellipsis, 1),
    "list": [2, 0],
    "list_dup": [1, 1, 0, 1],
    "two_lists": ([0, 2, 2], [1, 1, 1]),
    "lists_split_by_slice": ([0, 2], slice(None), [1, 1]),
    "slice_list": (slice(1, None), [3, 3]),
    "mask": np.array([[True, False, True, False]] * 3),
    "row_mask": np.array([False, True, True]),
    "bool_scalar": True,
}


@pytest.mark.parametrize("name", sorted(GRAD_INDEXES))
def test_getitem_gradcheck(name, device, rng):
    x = _x(rng, (3, 4, 2), device)
    index = GRAD_INDEXES[name]
    if name == "mask":
        index = np.broadcast_to(index[..., None], (3, 4, 2)).copy()
    assert gradcheck(lambda t: t[index], (x,))


def test_getitem_gradcheck_tensor_indices(device, rng):
    x = _x(rng, (4, 3), device)
    idx = _i([[3, 0], [3, 3]], device)
    mask = _mask([[True, False, True]] * 4, device)
    assert gradcheck(lambda t: t[idx], (x,))
    assert gradcheck(lambda t: t[:, _i([2, 2, 0], device)], (x,))
    assert gradcheck(lambda t: t[mask], (x,))
    assert gradcheck(lambda t: t[_i([-1, 0, -1], device)], (x,))


def test_getitem_1d_gather_backward(device):
    # the 1-d fast path (bincount) accumulates repeated and negative indices
    x = probe.zeros(5, dtype=probe.float32, device=device, requires_grad=True)
    out = x[_i([1, 1, 4, -1, 0], device)]
    out.backward(probe.tensor([1.0, 2.0, 3.0, 4.0, 5.0], device=device))
    np.testing.assert_array_equal(to_np(x.grad), [5, 3, 0, 0, 7])
    assert x.grad.dtype is probe.float32


@pytest.mark.parametrize("index", [1, (slice(None), 2), [0, 0, 2], (slice(1, None), [1, 0])])
def test_getitem_gradgradcheck(index, device, rng):
    x = _x(rng, (3, 4), device)
    assert gradgradcheck(lambda t: (t * t)[index], (x,))


# ------------------------------------------------------------------ __getitem__ errors
@pytest.mark.parametrize("index, exc, text", [
    (5, IndexError, "index 5 is out of bounds for dimension 0 with size 3"),
    (-4, IndexError, "index -4 is out of bounds for dimension 0 with size 3"),
    ((0, 7), IndexError, "index 7 is out of bounds for dimension 1 with size 4"),
    ((slice(None), 9), IndexError, "index 9 is out of bounds for dimension 1 with size 4"),
    (slice(None, None, -1), ValueError, "step must be greater than zero"),
    ((slice(None), slice(None, None, 0)), ValueError, "step must be greater than zero"),
    ([0, 5], IndexError, "index 5 is out of bounds for dimension 0 with size 3"),
    ((slice(None), [4]), IndexError, "index 4 is out of bounds for dimension 0 with size 4"),
    ((0, 0, 0), IndexError, "too many indices for tensor of dimension 2"),
    (1.5, IndexError, "only integers, slices (`:`), ellipsis (`...`), None and long or byte "
                      "Variables are valid indices (got float)"),
    (np.array([[True, False, True, False]] * 2), IndexError,
     "The shape of the mask [2, 4] at index 0 does not match the shape of the indexed tensor "
     "[3, 4] at index 0"),
])
def test_getitem_errors(index, exc, text):
    with pytest.raises(exc) as info:
        probe.zeros(3, 4)[index]
    assert text in str(info.value)


def test_getitem_more_errors():
    with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte or "
                                         "bool tensors"):
        probe.zeros(3)[probe.tensor([0.0])]
    with pytest.raises(IndexError, match="invalid index of a 0-dim tensor"):
        probe.tensor(1.0)[0]
    with pytest.raises(IndexError, match="index 9 is out of bounds for dimension 1 with size 4"):
        probe.zeros(2, 3, 4)[probe.tensor([0]), :, probe.tensor([9])]
    with pytest.warns(UserWarning, match="indexing with dtype torch.uint8 is now deprecated"):
        out = probe.arange(3)[probe.tensor([1, 0, 1], dtype=probe.uint8)]
    assert out.tolist() == [0, 2]


# ------------------------------------------------------------------ __setitem__
def test_setitem_values(device):
    a = np.zeros((3, 4))
    x = probe.zeros(3, 4, device=device)
    writes = [
        (1, 5.0), ((0, 2), -1.0), ((slice(None), 0), 2.0), ([0, 2], 3.0),
        ((slice(None), [1, 3]), 4.0), (np.array([[False, True, False, False]] * 3), 9.0),
    ]
    for i, (index, value) in enumerate(writes):
        x[index] = value
        a[index] = value
        assert x._version == i + 1
    np.testing.assert_array_equal(to_np(x), a)
    x[0] = probe.tensor([1.0, 2.0, 3.0, 4.0], device=device)
    x[1:] = probe.tensor([7.0, 8.0, 9.0, 10.0], device=device)  # broadcasts
    x[0] = probe.ones(1, 4, device=device)  # leading ones are dropped
    np.testing.assert_array_equal(to_np(x), [[1] * 4, [7, 8, 9, 10], [7, 8, 9, 10]])


def test_setitem_casts_to_dtype(device):
    t = probe.zeros(3, dtype=probe.int64, device=device)
    t[0] = 1.7
    t[1] = probe.tensor(-2.5, device=device)
    assert t.tolist() == [1, -2, 0]
    f = probe.zeros(2, dtype=probe.float64, device=device)
    f[0] = probe.tensor(1.5, dtype=probe.float32, device=device)
    assert f.dtype is probe.float64 and f[0].item() == 1.5


def test_setitem_errors():
    x = probe.zeros(3, 4)
    with pytest.raises(RuntimeError, match="the number of sizes provided"):
        x[0] = probe.ones(2, 4)
    with pytest.raises(RuntimeError, match=r"shape mismatch: value tensor of shape \[3, 4\] "
                                           r"cannot be broadcast to indexing result of shape "
                                           r"\[2, 4\]"):
        x[probe.tensor([0, 1])] = probe.ones(3, 4)
    with pytest.raises(IndexError, match="index 3 is out of bounds for dimension 0 with size 3"):
        x[3] = 1.0
    with pytest.raises(TypeError, match="can't assign a list to a probe.FloatTensor"):
        x[0] = [1.0, 2.0, 3.0, 4.0]
    leaf = probe.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="^a view of a leaf Variable that requires grad is "
                                           "being used in an in-place operation.$"):
        leaf[0] = 1.0
    with pytest.raises(RuntimeError, match="^a leaf Variable that requires grad is being used in "
                                           "an in-place operation.$"):
        leaf[probe.tensor([0])] = 1.0
    assert leaf._version == 0
    with probe.no_grad():
        leaf[0] = 2.0
    assert leaf[0].item() == 2.0 and leaf._version == 1


def test_setitem_autograd_basic_index():
    x = probe.tensor([1.0, 2.0, 3.0], dtype=probe.float64, requires_grad=True)
    w = probe.tensor(10.0, dtype=probe.float64, requires_grad=True)
    y = x * 2
    y[0] = w
    assert type(y.grad_fn).__name__ == "CopySlices"
    assert y.tolist() == [10.0, 4.0, 6.0]
    y.backward(probe.tensor([1.0, 2.0, 3.0], dtype=probe.float64))
    np.testing.assert_array_equal(to_np(x.grad), [0, 4, 6])
    assert w.grad.item() == 1.0


def test_setitem_autograd_advanced_index():
    x = probe.tensor([1.0, 2.0, 3.0], dtype=probe.float64, requires_grad=True)
    w = probe.tensor([10.0, 20.0], dtype=probe.float64, requires_grad=True)
    y = x * 2
    y[probe.tensor([2, 0])] = w
    assert type(y.grad_fn).__name__ == "IndexPutBackward0"
    assert y.tolist() == [20.0, 4.0, 10.0]
    y.backward(probe.tensor([1.0, 2.0, 3.0], dtype=probe.float64))
    np.testing.assert_array_equal(to_np(x.grad), [0, 4, 0])
    np.testing.assert_array_equal(to_np(w.grad), [3, 1])


def test_setitem_autograd_mask_broadcast_value():
    x = probe.tensor([[1.0, -2.0], [-3.0, 4.0]], dtype=probe.float64, requires_grad=True)
    w = probe.tensor(5.0, dtype=probe.float64, requires_grad=True)
    y = x * 1
    y[_mask([[False, True], [True, False]], "cpu")] = w
    y.backward(probe.ones(2, 2, dtype=probe.float64))
    np.testing.assert_array_equal(to_np(x.grad), [[1, 0], [0, 1]])
    assert w.grad.item() == 2.0


def test_setitem_into_constant_with_grad_value():
    z = probe.zeros(2, 3, dtype=probe.float64)
    w = probe.tensor([1.0, 2.0, 3.0], dtype=probe.float64, requires_grad=True)
    z[1] = w
    assert z.requires_grad and not z.is_leaf
    z.backward(probe.full((2, 3), 2.0, dtype=probe.float64))
    np.testing.assert_array_equal(to_np(w.grad), [2, 2, 2])


def test_setitem_on_view_of_nonleaf():
    x = probe.arange(6.0, dtype=probe.float64).requires_grad_()
    w = probe.tensor(7.0, dtype=probe.float64, requires_grad=True)
    y = x * 1
    z = y.view(2, 3)
    z[1, probe.tensor([0, 2])] = w
    assert type(y.grad_fn).__name__ == "CopySlices"
    z.backward(probe.ones(2, 3, dtype=probe.float64))
    np.testing.assert_array_equal(to_np(x.grad), [1, 1, 1, 0, 1, 0])
    assert w.grad.item() == 2.0
    # a basic-index write into a view: the viewed tensor's own grad_fn is re-derived
    x.grad = w.grad = None
    y = x * 1
    z = y.view(2, 3)
    z[1] = w
    z.backward(probe.ones(2, 3, dtype=probe.float64))
    np.testing.assert_array_equal(to_np(x.grad), [1, 1, 1, 0, 0, 0])
    assert w.grad.item() == 3.0


def _setitem_fn(index, value_shape):
    def fn(x, w):
        y = x * 1
        y[index] = w if value_shape else w.sum()
        return y
    return fn


@pytest.mark.parametrize("index, value_shape", [
    (1, (4,)), ((slice(None), 2), (3,)), ((slice(1, None), slice(None, None, 2)), (2, 2)),
    ([0, 2], (2, 4)), (([0, 2], [1, 3]), (2,)), ((slice(None), [3, 0]), (1, 2)),
    (np.array([[True, False, True, False]] * 3), (6,)), (0, (1, 4)), (Ellipsis, (4,)),
])
def test_setitem_gradcheck(index, value_shape, rng):
    x = _x(rng, (3, 4), "cpu")
    w = _x(rng, value_shape, "cpu")
    assert gradcheck(_setitem_fn(index, value_shape), (x, w))


def test_setitem_gradcheck_view_of_nonleaf(rng):
    x = _x(rng, (2, 6), "cpu")
    w = _x(rng, (3,), "cpu")

    def fn(x, w):
        y = x * 1
        v = y.view(4, 3)
        v[2] = w
        v[0, [0, 2]] = w[:2] * 2
        return y

    assert gradcheck(fn, (x, w))


def test_setitem_gradgradcheck(rng):
    x = _x(rng, (3, 4), "cpu")
    w = _x(rng, (2, 4), "cpu")

    def fn(x, w):
        y = x * x
        y[[0, 2]] = w * w
        return y

    assert gradgradcheck(fn, (x, w))


# ------------------------------------------------------------------ gather / scatter / index_*
def test_gather_scatter_values(device):
    a = np.arange(12.0).reshape(3, 4)
    x = probe.tensor(a, device=device)
    idx = np.array([[0, 3], [1, 1], [2, 0]])
    t = _i(idx, device)
    np.testing.assert_array_equal(to_np(x.gather(1, t)), np.take_along_axis(a, idx, 1))
    np.testing.assert_array_equal(to_np(x.gather(0, _i([[2, 0, 1, 1]], device))),
                                  [[8, 1, 6, 7]])
    out = probe.zeros(3, 4, dtype=probe.float64, device=device).scatter(1, t, x)
    want = np.zeros((3, 4))
    np.put_along_axis(want, idx, a[:, :2], 1)
    np.testing.assert_array_equal(to_np(out), want)
    out = probe.zeros(3, 4, dtype=probe.float64, device=device).scatter_add(1, t, x)
    want = np.zeros((3, 4))
    np.add.at(want, (np.arange(3)[:, None], idx), a[:, :2])
    np.testing.assert_array_equal(to_np(out), want)
    out = probe.zeros(3, 4, device=device).scatter(1, t, 2.5)
    assert to_np(out).sum() == 2.5 * 5
    y = probe.zeros(3, 4, device=device)
    y.scatter_(1, t, 1.0)
    assert y._version == 1 and to_np(y).sum() == 5
    y.scatter_add_(0, _i([[0, 0, 0, 0]], device), probe.ones(1, 4, device=device))
    assert to_np(y)[0].tolist() == [2, 1, 1, 2]
    out = probe.ones(3, 4, device=device).scatter(1, t, probe.full((3, 2), 3.0, device=device),
                                                  reduce="multiply")
    assert to_np(out)[1].tolist() == [1, 9, 1, 1]


def test_index_ops_values(device):
    a = np.arange(12.0).reshape(3, 4)
    x = probe.tensor(a, device=device)
    idx = _i([2, 0, 2], device)
    np.testing.assert_array_equal(to_np(x.index_select(0, idx)), a[[2, 0, 2]])
    np.testing.assert_array_equal(to_np(x.index_select(1, idx)), a[:, [2, 0, 2]])
    src = probe.ones(3, 4, dtype=probe.float64, device=device)
    want = a.copy()
    np.add.at(want, [2, 0, 2], 2 * np.ones((3, 4)))
    np.testing.assert_array_equal(to_np(x.index_add(0, idx, src, alpha=2)), want)
    want = a.copy()
    want[:, [1, 3]] = -1
    np.testing.assert_array_equal(to_np(x.index_fill(1, _i([1, 3], device), -1.0)), want)
    want = a.copy()
    want[[0, 2]] = [[0] * 4, [1] * 4]
    copied = x.index_copy(0, _i([0, 2], device), probe.tensor([[0.0] * 4, [1.0] * 4],
                                                               dtype=probe.float64, device=device))
    np.testing.assert_array_equal(to_np(copied), want)
    y = x.clone()
    y.index_add_(1, _i([0], device), probe.ones(3, 1, dtype=probe.float64, device=device))
    y.index_fill_(0, _i([1], device), 0.0)
    assert y._version == 2 and to_np(y)[:, 0].tolist() == [1, 0, 9]


def test_masked_ops_values(device):
    a = np.arange(6.0).reshape(2, 3)
    x = probe.tensor(a, device=device)
    m = _mask([[True, False, True], [False, False, True]], device)
    np.testing.assert_array_equal(to_np(x.masked_fill(m, -1.0)), np.where(to_np(m), -1, a))
    np.testing.assert_array_equal(to_np(x.masked_fill(m, probe.tensor(7.0, device=device))),
                                  np.where(to_np(m), 7, a))
    row = _mask([True, False, False], device)
    np.testing.assert_array_equal(to_np(x.masked_fill(row, 0.0)), [[0, 1, 2], [0, 4, 5]])
    np.testing.assert_array_equal(to_np(x.masked_select(m)), [0, 2, 5])
    np.testing.assert_array_equal(to_np(x.masked_select(row)), [0, 3])
    out = x.masked_scatter(m, probe.tensor([10.0, 20.0, 30.0, 40.0], dtype=probe.float64,
                                           device=device))
    np.testing.assert_array_equal(to_np(out), [[10, 1, 20], [3, 4, 30]])
    i = probe.tensor([[1, 2], [3, 4]], device=device)
    assert i.masked_fill(_mask([[True, False], [False, True]], device), 9.7).tolist() == \
        [[9, 2], [3, 9]]
    y = x.clone()
    y.masked_fill_(m, 0.0)
    assert y._version == 1 and to_np(y).sum() == 1 + 3 + 4


def test_take_nonzero_values(device):
    a = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, 3.0]])
    x = probe.tensor(a, device=device)
    np.testing.assert_array_equal(to_np(x.take(_i([[0, 5], [-1, 1]], device))),
                                  [[0, 3], [3, 1.5]])
    nz = x.nonzero()
    assert nz.dtype is probe.int64
    np.testing.assert_array_equal(to_np(nz), np.argwhere(a))
    rows, cols = x.nonzero(as_tuple=True)
    np.testing.assert_array_equal(to_np(rows), [0, 1, 1])
    np.testing.assert_array_equal(to_np(cols), [1, 0, 2])
    np.testing.assert_array_equal(to_np(probe.argwhere(x)), np.argwhere(a))
    np.testing.assert_array_equal(
        to_np(probe.take_along_dim(x, _i([[2], [0]], device), 1)), [[0], [2]])
    np.testing.assert_array_equal(to_np(probe.take_along_dim(x, _i([0, 4], device))), [0, 0])
    assert probe.take_along_dim(x, _i([[1, 0, 1]], device), 0).shape == (1, 3)


def test_index_put_and_put(device):
    x = probe.zeros(3, device=device)
    out = x.index_put((_i([0, 0, 2], device),), probe.tensor([1.0, 2.0, 3.0], device=device),
                      accumulate=True)
    assert out.tolist() == [3, 0, 3]
    x.index_put_((_i([1], device),), probe.tensor(5.0, device=device))
    assert x.tolist() == [0, 5, 0]
    y = probe.zeros(2, 2, device=device)
    y.put_(_i([3, 0], device), probe.tensor([1.0, 2.0], device=device))
    assert y.tolist() == [[2, 0], [0, 1]]


GATHER_CASES = {
    "gather": lambda x, i: x.gather(1, i["g"]),
    "gather_dim0": lambda x, i: x.gather(0, i["g0"]),
    "scatter_src": lambda x, i: x.scatter(1, i["s"], x * 2),
    "scatter_value": lambda x, i: x.scatter(1, i["s"], 1.5),
    "scatter_add": lambda x, i: x.scatter_add(1, i["g"], x[:, :2] + x[:, 2:]),
    "index_select": lambda x, i: x.index_select(0, i["v"]),
    "index_select_dim1": lambda x, i: x.index_select(1, i["v"]),
    "index_add": lambda x, i: x.index_add(0, i["v"], x[:3] * 2, alpha=3),
    "index_copy": lambda x, i: x.index_copy(1, i["u"], x[:, :2] * 2),
    "index_fill": lambda x, i: x.index_fill(1, i["u"], 2.0),
    "index_fill_tensor": lambda x, i: x.index_fill(0, i["u"], x[0, 0] * 1),
    "masked_fill": lambda x, i: x.masked_fill(i["m"], 0.5),
    "masked_fill_tensor": lambda x, i: x.masked_fill(i["m"], x[1, 1] * 2),
    "masked_fill_row": lambda x, i: x.masked_fill(i["row"], 0.5),
    "masked_select": lambda x, i: x.masked_select(i["m"]),
    "masked_select_bcast": lambda x, i: x[0].masked_select(i["m"]),
    "masked_scatter": lambda x, i: x.masked_scatter(i["m"], x * 3),
    "take": lambda x, i: x.take(i["t"]),
    "take_along_dim": lambda x, i: probe.take_along_dim(x, i["g"], 1),
    "take_along_dim_bcast": lambda x, i: probe.take_along_dim(x, i["b"], 1),
    "take_along_dim_flat": lambda x, i: probe.take_along_dim(x, i["tf"]),
    "index_put_acc": lambda x, i: x.index_put((i["v"],), x[:3] * 2, accumulate=True),
    "put": lambda x, i: x.put(i["p"], x[0] * 5),
    "put_acc": lambda x, i: x.put(i["t"], x[0] * 5, accumulate=True),
}


def _gather_indices(device):
    return {
        "g": _i([[0, 3], [1, 1], [2, 0], [3, 3]], device),
        "g0": _i([[3, 0, 1, 1], [0, 0, 2, 3]], device),
        "s": _i([[0, 3], [1, 2], [2, 0], [3, 1]], device),
        "v": _i([2, 0, 2], device),
        "u": _i([1, 3], device),
        "m": _mask(np.arange(16).reshape(4, 4) % 3 == 0, device),
        "row": _mask([True, False, False, True], device),
        "t": _i([0, 5, 5, -1], device),
        "p": _i([0, 5, 9, -1], device),
        "tf": _i([0, 5, 5, 15], device),
        "b": _i([[1], [0], [3], [2]], device),
    }


@pytest.mark.parametrize("name", sorted(GATHER_CASES))
def test_gather_family_gradcheck(name, device, rng):
    x = _x(rng, (4, 4), device)
    fn = GATHER_CASES[name]
    idx = _gather_indices(device)
    assert gradcheck(lambda t: fn(t, idx), (x,))


@pytest.mark.parametrize("name", ["gather", "scatter_add", "index_select", "masked_fill",
                                  "masked_select", "take"])
def test_gather_family_gradgradcheck(name, device, rng):
    x = _x(rng, (4, 4), device)
    fn = GATHER_CASES[name]
    idx = _gather_indices(device)
    assert gradgradcheck(lambda t: fn(t * t, idx), (x,))


def test_inplace_index_ops_autograd(rng):
    x = _x(rng, (3, 4), "cpu")
    s = _x(rng, (3, 1), "cpu")
    idx = _i([[2], [0], [1]], "cpu")

    def fn(x, s):
        y = x * 1
        y.scatter_(1, idx, s)
        y.masked_fill_(_mask([True, False, False, True], "cpu"), 0.0)
        y.index_add_(0, _i([1, 1], "cpu"), s[:2].expand(2, 4) * 1)
        y.scatter_add_(1, idx, s * 2)
        y.index_fill_(1, _i([3], "cpu"), 1.0)
        return y

    assert gradcheck(fn, (x, s))
    y = x * 1
    y.scatter_(1, idx, s)
    assert type(y.grad_fn).__name__ == "ScatterBackward0"
    y.masked_fill_(_mask([True, False, False, True], "cpu"), 0.0)
    assert type(y.grad_fn).__name__ == "MaskedFillBackward0"


@pytest.mark.parametrize("fn, name", [
    (lambda x, i: x.gather(1, i), "GatherBackward0"),
    (lambda x, i: x.scatter(1, i, 1.0), "ScatterBackward1"),
    (lambda x, i: x.scatter(1, i, x), "ScatterBackward0"),
    (lambda x, i: x.scatter_add(1, i, x), "ScatterAddBackward0"),
    (lambda x, i: x.index_select(0, i[:, 0]), "IndexSelectBackward0"),
    (lambda x, i: x.index_add(0, i[:2, 0], x[:2]), "IndexAddBackward0"),
    (lambda x, i: x.index_copy(0, i[:2, 0], x[:2]), "IndexCopyBackward0"),
    (lambda x, i: x.index_fill(0, i[:2, 0], 1.0), "IndexFillBackward0"),
    (lambda x, i: x.masked_fill(probe.ones(3, 3, dtype=probe.bool), 1.0), "MaskedFillBackward0"),
    (lambda x, i: x.masked_fill(probe.ones(3, 3, dtype=probe.bool), probe.tensor(1.0)),
     "MaskedFillBackward1"),
    (lambda x, i: x.masked_select(probe.ones(3, 3, dtype=probe.bool)), "MaskedSelectBackward0"),
    (lambda x, i: x.take(i[:, 0]), "TakeBackward0"),
    (lambda x, i: probe.take_along_dim(x, i, 1), "GatherBackward0"),
])
def test_gather_family_grad_fn_names(fn, name):
    x = probe.randn(3, 3, requires_grad=True)
    idx = probe.tensor([[0], [2], [1]])
    assert type(fn(x, idx).grad_fn).__name__ == name


@pytest.mark.parametrize("fn, exc, text", [
    (lambda m: m.gather(1, probe.tensor([[5]])), RuntimeError,
     "index 5 is out of bounds for dimension 1 with size 4"),
    (lambda m: m.gather(1, probe.tensor([[0.0]])), RuntimeError,
     "gather(): Expected dtype int32/int64 for index"),
    (lambda m: m.gather(1, probe.tensor([0])), RuntimeError,
     "Index tensor must have the same number of dimensions as input tensor"),
    (lambda m: m.gather(1, probe.zeros(4, 1, dtype=probe.int64)), RuntimeError,
     "Size does not match at dimension 0 expected index [4, 1] to be no larger than self [3, 4] "
     "apart from dimension 1"),
    (lambda m: m.scatter(1, probe.tensor([[4]]), 1.0), RuntimeError,
     "index 4 is out of bounds for dimension 1 with size 4"),
    (lambda m: m.scatter_add(1, probe.tensor([[0]]), 1.0), TypeError,
     "scatter_add(): argument 'src' (position 3) must be Tensor, not float"),
    (lambda m: m.index_select(0, probe.tensor([[0]])), IndexError,
     "index_select(): Index is supposed to be a vector"),
    (lambda m: m.index_select(0, probe.tensor([7])), IndexError, "index out of range in self"),
    (lambda m: m.index_select(0, probe.tensor([1.0])), RuntimeError,
     "index_select(): Expected dtype int32 or int64 for index"),
    (lambda m: m.index_add(0, probe.tensor([0]), probe.ones(2, 4)), RuntimeError,
     "index_add_(): Number of indices (1) should be equal to source.size(dim): (2), for dim: 0"),
    (lambda m: m.masked_fill(probe.ones(3, 4), 1.0), RuntimeError,
     "masked_fill_ only supports boolean masks, but got mask with dtype float"),
    (lambda m: m.masked_fill(probe.ones(3, 4, dtype=probe.bool), probe.ones(2)), RuntimeError,
     "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with 1 "
     "dimension(s)."),
    (lambda m: m.take(probe.tensor([12])), IndexError,
     "out of range: tried to access index 12 on a tensor of 12 elements."),
    (lambda m: m.masked_fill(probe.ones(2, dtype=probe.bool), 1.0), RuntimeError,
     "The size of tensor a (2) must match the size of tensor b (4) at non-singleton dimension 1"),
])
def test_gather_family_errors(fn, exc, text):
    with pytest.raises(exc) as info:
        fn(probe.randn(3, 4))
    assert text in str(info.value)


def test_functional_helpers_for_backwards():
    g = np.ones((2, 3))
    out = indexing.index_add_zeros(g, (4, 3), 0, np.array([1, 1]))
    np.testing.assert_array_equal(out, [[0] * 3, [2] * 3, [0] * 3, [0] * 3])
    out = indexing.scatter_add_zeros(np.ones((2, 1)), (2, 3), 1, np.array([[2], [2]]))
    np.testing.assert_array_equal(out, [[0, 0, 1], [0, 0, 1]])
    gt = probe.ones(2, 3, requires_grad=True)
    res = indexing.index_add_zeros(gt, (4, 3), 0, np.array([1, 1]))
    assert isinstance(res, probe.Tensor) and res.requires_grad
    a = probe.tensor([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(
        to_np(tensor_ns.take_along_axis(a, np.array([[1], [0]]), 1)), [[2], [3]])
    np.testing.assert_array_equal(to_np(tensor_ns.take(a, np.array([3, 0]))), [4, 1])
    np.testing.assert_array_equal(to_np(tensor_ns.take(a, np.array([1]), axis=1)), [[2], [4]])
    assert tensor_ns._index_add is not None and tensor_ns._scatter_add is not None
