"""Dropout layers and functionals (statistics, scaling, eval identity, reproducibility with
probe.manual_seed, errors) and Embedding / EmbeddingBag / one_hot (padding_idx, from_pretrained,
max_norm, scale_grad_by_freq, gradchecks)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import probe
from probe.autograd import gradcheck, gradgradcheck
from probe.nn.functional_parts import dropout as FD
from probe.nn.functional_parts import sparse as FS
from probe.nn.modules.dropout import (
    AlphaDropout,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    FeatureAlphaDropout,
)
from probe.nn.modules.sparse import Embedding, EmbeddingBag


def _np(t):
    return t.detach().cpu().numpy()


# ---------------------------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics_and_scaling(device, p):
    probe.manual_seed(0)
    x = probe.ones(200, 500, device=device)
    y = _np(FD.dropout(x, p))
    zero_fraction = (y == 0).mean()
    assert abs(zero_fraction - p) < 0.01
    kept = y[y != 0]
    np.testing.assert_allclose(kept, 1.0 / (1.0 - p), rtol=1e-6)
    assert abs(y.mean() - 1.0) < 0.03
    assert y.dtype == np.float32


def test_dropout_grad_is_mask_times_scale(device):
    probe.manual_seed(1)
    x = probe.randn(50, 40, device=device, requires_grad=True)
    y = FD.dropout(x, 0.3)
    assert type(y.grad_fn).__name__ == "MulBackward0"
    y.sum().backward()
    mask = _np(y) / _np(x)
    np.testing.assert_allclose(_np(x.grad), mask, rtol=1e-5)


def test_dropout_eval_and_p0_return_input():
    x = probe.randn(3, 4, requires_grad=True)
    assert FD.dropout(x, 0.5, training=False) is x
    assert FD.dropout(x, 0.0) is x
    layer = Dropout(0.5)
    layer.eval()
    assert layer(x) is x


def test_dropout_p1_gives_zeros_and_zero_grad():
    x = probe.randn(3, 4, requires_grad=True)
    y = FD.dropout(x, 1.0)
    assert float(y.abs().sum()) == 0
    y.sum().backward()
    assert float(x.grad.abs().sum()) == 0


@pytest.mark.parametrize("fn", [FD.dropout, FD.dropout1d, FD.dropout2d, FD.dropout3d,
                                FD.alpha_dropout, FD.feature_alpha_dropout])
@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_probability_errors(fn, p):
    with pytest.raises(ValueError, match=f"dropout probability has to be between 0 and 1, but "
                                         f"got {p}"):
        fn(probe.randn(2, 3, 4, 4), p)


@pytest.mark.parametrize("cls", [Dropout, Dropout1d, Dropout2d, Dropout3d, AlphaDropout,
                                 FeatureAlphaDropout])
def test_dropout_modules_repr_and_errors(cls):
    assert repr(cls()) == f"{cls.__name__}(p=0.5, inplace=False)"
    assert repr(cls(0.2, True)) == f"{cls.__name__}(p=0.2, inplace=True)"
    assert list(cls().state_dict()) == []
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but "
                                         "got 1.5"):
        cls(1.5)


def test_dropout_reproducible_with_manual_seed(device):
    probe.manual_seed(123)
    a = _np(FD.dropout(probe.ones(100, device=device), 0.5))
    probe.manual_seed(123)
    b = _np(FD.dropout(probe.ones(100, device=device), 0.5))
    c = _np(FD.dropout(probe.ones(100, device=device), 0.5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


def test_dropout_module_train_eval():
    layer = Dropout(0.5)
    x = probe.ones(1000)
    assert (_np(layer(x)) == 0).any()
    layer.eval()
    np.testing.assert_array_equal(_np(layer(x)), np.ones(1000))


def test_dropout_inplace():
    probe.manual_seed(2)
    x = probe.ones(100)
    version = x._version
    y = FD.dropout(x, 0.5, inplace=True)
    assert y is x and x._version > version
    assert set(np.unique(_np(x)).tolist()) <= {0.0, 2.0}
    leaf = probe.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        FD.dropout(leaf, 0.5, inplace=True)


def test_dropout_gradcheck_with_fixed_mask():
    x = probe.tensor(np.random.default_rng(0).standard_normal((4, 5)), requires_grad=True)

    def fn(t):
        probe.manual_seed(7)  # the same mask on every call
        return FD.dropout(t, 0.4)

    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


def test_dropout2d_zeroes_whole_channels(device):
    probe.manual_seed(3)
    y = _np(FD.dropout2d(probe.ones(8, 64, 3, 3, device=device), 0.5))
    per_channel = y.reshape(8, 64, 9)
    assert (per_channel.std(axis=2) == 0).all()
    assert set(np.unique(per_channel).tolist()) == {0.0, 2.0}


def test_dropout1d_unbatched_and_errors():
    probe.manual_seed(4)
    x = probe.ones(16, 5, requires_grad=True)
    y = FD.dropout1d(x, 0.5)
    assert y.shape == (16, 5) and (_np(y).std(axis=1) == 0).all()
    assert type(y.grad_fn).__name__ == "SqueezeBackward1"
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input, but received a "
                                           "4D input"):
        FD.dropout1d(probe.ones(2, 3, 4, 5), 0.5)
    with pytest.raises(RuntimeError, match="Feature dropout requires at least 2 dimensions"), \
            pytest.warns(UserWarning, match="Received a 1-D input to dropout2d"):
        FD.dropout2d(probe.ones(3), 0.5)


def test_dropout3d_unbatched_and_warnings():
    probe.manual_seed(5)
    y = FD.dropout3d(probe.ones(8, 2, 2, 2), 0.5)
    assert (_np(y).reshape(8, 8).std(axis=1) == 0).all()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        FD.dropout2d(probe.ones(3, 4), 0.5)
        FD.dropout3d(probe.ones(2, 3), 0.5)
        FD.dropout2d(probe.ones(2, 3, 4), 0.5)
    texts = [str(w.message) for w in caught]
    assert any("dropout2d: Received a 2-D input to dropout2d" in t for t in texts)
    assert any("dropout3d: Received a 2-D input to dropout3d" in t for t in texts)
    assert any("Received a 3D input to dropout2d" in t for t in texts)


def test_alpha_dropout_keeps_mean_and_variance():
    probe.manual_seed(6)
    x = probe.randn(1000, 500)
    y = _np(FD.alpha_dropout(x, 0.2, training=True))
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1) < 0.01
    assert FD.alpha_dropout(x, 0.2) is x  # training defaults to False
    out = FD.alpha_dropout(probe.randn(4, 5, requires_grad=True), 0.3, True)
    assert type(out.grad_fn).__name__ == "AddBackward0"
    z = _np(FD.feature_alpha_dropout(probe.randn(50, 40, 30), 0.2, True))
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05


# ---------------------------------------------------------------------------------------------
# Embedding
# ---------------------------------------------------------------------------------------------

def test_embedding_repr_init_and_keys():
    emb = Embedding(10, 3, padding_idx=0)
    assert repr(emb) == "Embedding(10, 3, padding_idx=0)"
    assert list(emb.state_dict()) == ["weight"]
    assert _np(emb.weight[0]).tolist() == [0, 0, 0]
    assert repr(Embedding(10, 3, max_norm=1.0, norm_type=1.0, scale_grad_by_freq=True,
                          sparse=True)) == ("Embedding(10, 3, max_norm=1.0, norm_type=1.0, "
                                            "scale_grad_by_freq=True, sparse=True)")
    assert Embedding(10, 3, padding_idx=-1).padding_idx == 9
    probe.manual_seed(0)
    w = _np(Embedding(1000, 50).weight)
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02


def test_embedding_forward_and_grad_fn(device):
    emb = Embedding(5, 2, device=device)
    idx = probe.tensor([[0, 4], [4, 1]], device=device)
    y = emb(idx)
    assert y.shape == (2, 2, 2)
    np.testing.assert_array_equal(_np(y), _np(emb.weight)[[[0, 4], [4, 1]]])
    assert type(y.grad_fn).__name__ == "EmbeddingBackward0"
    assert len(y.grad_fn.next_functions) == 1
    assert FS.embedding(probe.tensor([1, 2], dtype=probe.int32, device=device),
                        emb.weight).shape == (2, 2)


def test_embedding_backward_accumulates_repeats(device):
    emb = Embedding(4, 3, device=device)
    emb(probe.tensor([1, 1, 3, 1], device=device)).sum().backward()
    np.testing.assert_array_equal(_np(emb.weight.grad), [[0] * 3, [3] * 3, [0] * 3, [1] * 3])


def test_embedding_padding_idx_gets_no_grad(device):
    emb = Embedding(5, 3, padding_idx=2, device=device)
    out = emb(probe.tensor([[2, 0, 2], [1, 2, 4]], device=device))
    (out * 3).sum().backward()
    grad = _np(emb.weight.grad)
    np.testing.assert_array_equal(grad[2], [0, 0, 0])
    np.testing.assert_array_equal(grad[0], [3, 3, 3])
    np.testing.assert_array_equal(grad[3], [0, 0, 0])
    assert _np(out[0, 0]).tolist() == [0, 0, 0]


def test_embedding_scale_grad_by_freq():
    w = probe.randn(5, 2, requires_grad=True)
    FS.embedding(probe.tensor([0, 0, 0, 3, 1, 1]), w, scale_grad_by_freq=True).sum().backward()
    np.testing.assert_allclose(_np(w.grad), [[1, 1], [1, 1], [0, 0], [1, 1], [0, 0]])


@pytest.mark.parametrize("kwargs", [{}, {"sparse": True}])
def test_embedding_gradcheck(device, kwargs):
    rng = np.random.default_rng(0)
    w = probe.tensor(rng.standard_normal((6, 3)), device=device, requires_grad=True)
    idx = probe.tensor([[0, 5, 5], [2, 0, 1]], device=device)

    def fn(weight):
        return FS.embedding(idx, weight, **kwargs)

    assert gradcheck(fn, (w,))
    assert gradgradcheck(lambda weight: fn(weight) * fn(weight), (w,))


def test_embedding_gradcheck_with_padding_rows_unused():
    rng = np.random.default_rng(1)
    emb = Embedding(6, 3, padding_idx=4).double()
    with probe.no_grad():
        emb.weight.copy_(probe.tensor(rng.standard_normal((6, 3))))
    idx = probe.tensor([0, 1, 3, 3])
    assert gradcheck(lambda w: emb(idx), (emb.weight,))


@pytest.mark.parametrize("width", [3, 80])  # 80: the sort-based NumPy scatter path
@pytest.mark.parametrize("padding_idx", [None, 0])
def test_embedding_gradgradcheck(width, padding_idx):
    w = probe.tensor(np.random.default_rng(4).standard_normal((6, width)), requires_grad=True)
    idx = probe.tensor([[0, 5, 5], [2, 0, 1]])
    assert gradgradcheck(lambda t: FS.embedding(idx, t, padding_idx=padding_idx) ** 2, (w,))


@pytest.mark.parametrize("repeats", ["none", "few", "many"])
def test_embedding_wide_rows_backward_matches_add_at(repeats):
    rng = np.random.default_rng(5)
    num, width = 50, 96
    idx = {"none": rng.permutation(num)[:40], "few": np.r_[np.arange(30), [3, 3, 7]],
           "many": rng.integers(0, 5, 60)}[repeats]
    g = rng.standard_normal((len(idx), width))
    w = probe.zeros(num, width, dtype=probe.float64, requires_grad=True)
    FS.embedding(probe.tensor(idx), w).backward(probe.tensor(g))
    expected = np.zeros((num, width))
    np.add.at(expected, idx, g)
    np.testing.assert_allclose(_np(w.grad), expected, rtol=1e-12, atol=1e-12)


def test_embedding_max_norm_renormalises_used_rows():
    w = probe.tensor([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]], requires_grad=True)
    version = w._version
    out = FS.embedding(probe.tensor([0, 1]), w, max_norm=1.0)
    data = _np(w)
    np.testing.assert_allclose(np.linalg.norm(data[0]), 1.0, rtol=1e-5)
    np.testing.assert_allclose(data[1], [0.3, 0.4], rtol=1e-6)
    np.testing.assert_allclose(data[2], [6.0, 8.0])  # unused: unchanged
    assert w._version > version
    np.testing.assert_allclose(_np(out), data[[0, 1]])


def test_embedding_from_pretrained():
    weights = probe.tensor([[1.0, 2.3, 3.0], [4.0, 5.1, 6.3]])
    emb = Embedding.from_pretrained(weights)
    assert not emb.weight.requires_grad
    np.testing.assert_allclose(_np(emb(probe.tensor([1]))), [[4.0, 5.1, 6.3]], rtol=1e-6)
    trainable = Embedding.from_pretrained(weights, freeze=False, padding_idx=0)
    assert trainable.weight.requires_grad and trainable.padding_idx == 0
    assert repr(trainable) == "Embedding(2, 3, padding_idx=0)"
    with pytest.raises(AssertionError, match="Embeddings parameter is expected to be "
                                             "2-dimensional"):
        Embedding.from_pretrained(probe.ones(3))


def test_embedding_errors():
    w = probe.randn(4, 3)
    with pytest.raises(IndexError, match="index out of range in self"):
        FS.embedding(probe.tensor([1, 5]), w)
    with pytest.raises(IndexError, match="index out of range in self"):
        FS.embedding(probe.tensor([-1]), w)
    with pytest.raises(RuntimeError, match="Expected tensor for argument #1 'indices' to have "
                                           "one of the following scalar types: Long, Int"):
        FS.embedding(probe.tensor([1.0]), w)
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        FS.embedding(probe.tensor([1]), w, padding_idx=4)
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        Embedding(4, 3, padding_idx=-5)
    with pytest.raises(AssertionError, match="Shape of weight does not match"):
        Embedding(4, 3, _weight=probe.randn(3, 3))
    with pytest.raises(RuntimeError, match="'weight' must be 2-D"):
        FS.embedding(probe.tensor([1]), probe.randn(4))


def test_embedding_float32_grad_dtype():
    emb = Embedding(10, 4)
    emb(probe.tensor([1, 2, 2])).sum().backward()
    assert emb.weight.grad.dtype == probe.float32


# ---------------------------------------------------------------------------------------------
# EmbeddingBag and one_hot
# ---------------------------------------------------------------------------------------------

def test_embedding_bag_repr_and_modes():
    assert repr(EmbeddingBag(10, 3)) == "EmbeddingBag(10, 3, mode='mean')"
    assert repr(EmbeddingBag(10, 3, mode="sum", padding_idx=1, max_norm=2.0)) == (
        "EmbeddingBag(10, 3, max_norm=2.0, mode='sum', padding_idx=1)")
    w = probe.tensor(np.arange(12.0).reshape(4, 3))
    idx = probe.tensor([0, 1, 2, 3])
    off = probe.tensor([0, 2, 2])
    np.testing.assert_allclose(_np(FS.embedding_bag(idx, w, off, mode="sum")),
                               [[3, 5, 7], [0, 0, 0], [15, 17, 19]])
    np.testing.assert_allclose(_np(FS.embedding_bag(idx, w, off, mode="mean")),
                               [[1.5, 2.5, 3.5], [0, 0, 0], [7.5, 8.5, 9.5]])
    np.testing.assert_allclose(_np(FS.embedding_bag(idx, w, off, mode="max")),
                               [[3, 4, 5], [0, 0, 0], [9, 10, 11]])
    np.testing.assert_allclose(_np(FS.embedding_bag(probe.tensor([[0, 1], [2, 3]]), w)),
                               [[1.5, 2.5, 3.5], [7.5, 8.5, 9.5]])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_gradcheck(mode):
    rng = np.random.default_rng(2)
    w = probe.tensor(rng.standard_normal((6, 3)), requires_grad=True)
    idx = probe.tensor([0, 2, 2, 4, 0, 1, 5, 3])
    off = probe.tensor([0, 3, 3, 5])
    y = FS.embedding_bag(idx, w, off, mode=mode)
    assert type(y.grad_fn).__name__ == "EmbeddingBagBackward0"
    assert gradcheck(lambda t: FS.embedding_bag(idx, t, off, mode=mode), (w,))
    assert gradgradcheck(lambda t: FS.embedding_bag(idx, t, off, mode=mode) ** 2, (w,))


def test_embedding_bag_per_sample_weights_gradcheck():
    rng = np.random.default_rng(3)
    w = probe.tensor(rng.standard_normal((6, 3)), requires_grad=True)
    psw = probe.tensor(rng.standard_normal(8), requires_grad=True)
    idx = probe.tensor([0, 2, 2, 4, 0, 1, 5, 3])
    off = probe.tensor([0, 3, 5])

    def fn(weight, per_sample):
        return FS.embedding_bag(idx, weight, off, mode="sum", per_sample_weights=per_sample)

    assert gradcheck(fn, (w, psw))
    assert gradgradcheck(fn, (w, psw))
    with pytest.raises(NotImplementedError, match="per_sample_weights is only supported for "
                                                  "mode='sum'"):
        FS.embedding_bag(idx, w, off, mode="mean", per_sample_weights=psw)


def test_embedding_bag_module_from_pretrained():
    bag = EmbeddingBag.from_pretrained(probe.ones(4, 2), mode="sum")
    assert not bag.weight.requires_grad
    np.testing.assert_allclose(_np(bag(probe.tensor([[0, 1, 2]]))), [[3, 3]])


def test_one_hot():
    out = FS.one_hot(probe.tensor([[1, 0], [2, 2]]))
    assert out.dtype == probe.int64 and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(_np(out)[0], [[0, 1, 0], [1, 0, 0]])
    assert FS.one_hot(probe.tensor([1, 2]), 5).shape == (2, 5)
    assert FS.one_hot(probe.tensor([], dtype=probe.int64), 3).shape == (0, 3)
    with pytest.raises(RuntimeError, match="one_hot is only applicable to index tensor"):
        FS.one_hot(probe.tensor([1.0]))
    with pytest.raises(RuntimeError, match="Class values must be smaller than num_classes."):
        FS.one_hot(probe.tensor([1, 5]), 3)
    with pytest.raises(RuntimeError, match="Class values must be non-negative."):
        FS.one_hot(probe.tensor([1, -1]), 3)
    with pytest.raises(RuntimeError, match="Can not infer total number of classes from empty "
                                           "tensor."):
        FS.one_hot(probe.tensor([], dtype=probe.int64))
