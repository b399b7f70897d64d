"""Parity with PyTorch for Embedding, EmbeddingBag, one_hot and the dropout family.

Embeddings: the torch weight is copied across (load_state_dict, so keys must match) and
outputs, grad_fn names and weight gradients are compared in float32 and float64 for padding,
frequency scaling, max_norm and bag modes. Dropout masks come from different generators, so
dropout is compared on what is deterministic: eval/p=0 identity, p=1, grad_fn names, shapes,
the channel structure of the masks, the 1/(1-p) scale, reprs and error messages.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import probe
from probe.nn.functional_parts import dropout as FD
from probe.nn.functional_parts import sparse as FS
from probe.nn.modules import dropout as pdrop
from probe.nn.modules import sparse as psparse

torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional

DTYPES = [pytest.param((np.float32, 1e-6), id="float32"),
          pytest.param((np.float64, 1e-12), id="float64")]


def _np(t):
    return t.detach().cpu().numpy()


def _pair_layers(p_cls, t_cls, args, kwargs, np_dtype, seed=0):
    t_layer = t_cls(*args, **kwargs).to(torch.float32 if np_dtype == np.float32
                                        else torch.float64)
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        t_layer.weight.copy_(torch.tensor(rng.standard_normal(tuple(t_layer.weight.shape))))
        if getattr(t_layer, "padding_idx", None) is not None:
            t_layer.weight[t_layer.padding_idx].fill_(0)
    p_layer = p_cls(*args, **kwargs).to(probe.float32 if np_dtype == np.float32
                                        else probe.float64)
    state = t_layer.state_dict()
    assert list(p_layer.state_dict()) == list(state)
    p_layer.load_state_dict({k: probe.tensor(v.numpy().copy()) for k, v in state.items()})
    return p_layer, t_layer


def _check(p_layer, t_layer, p_args, t_args, tol, seed=1):
    p_out = p_layer(*p_args)
    t_out = t_layer(*t_args)
    assert tuple(p_out.shape) == tuple(t_out.shape)
    assert str(p_out.dtype).split(".")[-1] == str(t_out.dtype).split(".")[-1]
    np.testing.assert_allclose(_np(p_out), _np(t_out), rtol=tol, atol=tol)
    assert p_out.grad_fn.name() == t_out.grad_fn.name()
    g = np.random.default_rng(seed).standard_normal(tuple(t_out.shape))
    g = g.astype(_np(t_out).dtype)
    p_out.backward(probe.tensor(g))
    t_out.backward(torch.tensor(g))
    np.testing.assert_allclose(_np(p_layer.weight.grad), _np(t_layer.weight.grad),
                               rtol=tol * 10, atol=tol * 10)
    np.testing.assert_allclose(_np(p_layer.weight), _np(t_layer.weight), rtol=tol, atol=tol)
    return p_out, t_out


# ---------------------------------------------------------------------------------------------
# Embedding
# ---------------------------------------------------------------------------------------------

INDEX_CASES = [
    [3, 0, 7, 3],
    [[1, 2, 2], [9, 0, 1]],
    [[[4, 4], [0, 2]], [[1, 1], [1, 1]]],
    [5],
]


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("index", INDEX_CASES)
@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 1}, {"padding_idx": -10},
                                    {"scale_grad_by_freq": True},
                                    {"padding_idx": 2, "scale_grad_by_freq": True}])
def test_embedding(dt, index, kwargs):
    np_dtype, tol = dt
    p_layer, t_layer = _pair_layers(psparse.Embedding, tnn.Embedding, (10, 3), kwargs, np_dtype)
    _check(p_layer, t_layer, (probe.tensor(index),), (torch.tensor(index),), tol)


@pytest.mark.parametrize("index_dtype", [(probe.int32, torch.int32), (probe.int64, torch.int64)])
def test_embedding_index_dtypes(index_dtype):
    p_layer, t_layer = _pair_layers(psparse.Embedding, tnn.Embedding, (6, 2), {}, np.float32)
    index = [[0, 5], [5, 5]]
    _check(p_layer, t_layer, (probe.tensor(index, dtype=index_dtype[0]),),
           (torch.tensor(index, dtype=index_dtype[1]),), 1e-6)


@pytest.mark.parametrize("max_norm, norm_type", [(1.0, 2.0), (0.5, 1.0), (2.0, 3.0)])
def test_embedding_max_norm(max_norm, norm_type):
    kwargs = {"max_norm": max_norm, "norm_type": norm_type}
    p_layer, t_layer = _pair_layers(psparse.Embedding, tnn.Embedding, (8, 4), kwargs, np.float64)
    index = [[0, 3, 3], [7, 1, 0]]
    _check(p_layer, t_layer, (probe.tensor(index),), (torch.tensor(index),), 1e-7)
    assert p_layer.weight._version > 0


@pytest.mark.parametrize("freeze", [True, False])
def test_embedding_from_pretrained(freeze):
    weights = np.random.default_rng(2).standard_normal((5, 3)).astype(np.float32)
    p_emb = psparse.Embedding.from_pretrained(probe.tensor(weights), freeze=freeze,
                                              padding_idx=4)
    t_emb = tnn.Embedding.from_pretrained(torch.tensor(weights), freeze=freeze, padding_idx=4)
    assert repr(p_emb) == repr(t_emb)
    assert p_emb.weight.requires_grad == t_emb.weight.requires_grad
    np.testing.assert_array_equal(_np(p_emb(probe.tensor([4, 1]))),
                                  _np(t_emb(torch.tensor([4, 1]))))


@pytest.mark.parametrize("args, kwargs", [
    ((10, 3), {}), ((10, 3), {"padding_idx": 0}), ((10, 3), {"padding_idx": -1}),
    ((10, 3), {"max_norm": 1.0, "norm_type": 1.0, "scale_grad_by_freq": True,
               "sparse": True}),
])
def test_embedding_repr(args, kwargs):
    assert repr(psparse.Embedding(*args, **kwargs)) == repr(tnn.Embedding(*args, **kwargs))


# ---------------------------------------------------------------------------------------------
# EmbeddingBag
# ---------------------------------------------------------------------------------------------

FLAT = [0, 2, 2, 4, 0, 1, 5, 3]


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("kwargs, offsets", [
    ({}, [0, 3, 3, 5]),
    ({"padding_idx": 2}, [0, 3, 5]),
    ({"include_last_offset": True}, [0, 3, 5, 8]),
    ({"padding_idx": 0, "include_last_offset": True}, [0, 1, 1, 8]),
])
def test_embedding_bag_offsets(dt, mode, kwargs, offsets):
    # scale_grad_by_freq is left out: PyTorch's CPU embedding_bag looks the frequencies up at
    # the wrong positions (a token seen once in [0, 2, 2, 4, 0, 1, 5, 3] gets half its
    # gradient); probe scales as F.embedding does.
    np_dtype, tol = dt
    p_layer, t_layer = _pair_layers(psparse.EmbeddingBag, tnn.EmbeddingBag, (6, 3),
                                    dict(kwargs, mode=mode), np_dtype)
    _check(p_layer, t_layer, (probe.tensor(FLAT), probe.tensor(offsets)),
           (torch.tensor(FLAT), torch.tensor(offsets)), tol)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_2d(mode):
    p_layer, t_layer = _pair_layers(psparse.EmbeddingBag, tnn.EmbeddingBag, (6, 3),
                                    {"mode": mode}, np.float64)
    index = [[0, 5, 5], [1, 2, 3]]
    _check(p_layer, t_layer, (probe.tensor(index),), (torch.tensor(index),), 1e-12)


def test_embedding_bag_per_sample_weights():
    p_layer, t_layer = _pair_layers(psparse.EmbeddingBag, tnn.EmbeddingBag, (6, 3),
                                    {"mode": "sum"}, np.float64)
    psw = np.random.default_rng(3).standard_normal(len(FLAT))
    pp, tp = probe.tensor(psw, requires_grad=True), torch.tensor(psw, requires_grad=True)
    _check(p_layer, t_layer, (probe.tensor(FLAT), probe.tensor([0, 2, 6]), pp),
           (torch.tensor(FLAT), torch.tensor([0, 2, 6]), tp), 1e-12)
    np.testing.assert_allclose(_np(pp.grad), _np(tp.grad), rtol=1e-10)


@pytest.mark.parametrize("kwargs", [{}, {"mode": "sum", "padding_idx": 1, "max_norm": 2.0},
                                    {"norm_type": 1.0, "scale_grad_by_freq": True}])
def test_embedding_bag_repr(kwargs):
    assert repr(psparse.EmbeddingBag(10, 3, **kwargs)) == repr(tnn.EmbeddingBag(10, 3, **kwargs))


# ---------------------------------------------------------------------------------------------
# one_hot
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("values, num_classes", [([0, 2, 1], -1), ([[1, 0], [3, 3]], -1),
                                                 ([1, 2], 6), ([], 3), (4, 5)])
def test_one_hot(values, num_classes):
    p = FS.one_hot(probe.tensor(values, dtype=probe.int64), num_classes)
    t = TF.one_hot(torch.tensor(values, dtype=torch.int64), num_classes)
    assert p.dtype == probe.int64
    np.testing.assert_array_equal(_np(p), t.numpy())
    assert tuple(p.shape) == tuple(t.shape)


# ---------------------------------------------------------------------------------------------
# Error messages
# ---------------------------------------------------------------------------------------------

def _error_text(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - comparing whatever each library raises
        return type(exc).__name__, str(exc).replace("torch.", "probe.")
    return None


ERROR_CASES = [
    lambda lib, F, nn: F.embedding(lib.tensor([1, 5]), lib.ones(4, 3)),
    lambda lib, F, nn: F.embedding(lib.tensor([1, -1]), lib.ones(4, 3)),
    lambda lib, F, nn: F.embedding(lib.tensor([1.0]), lib.ones(4, 3)),
    lambda lib, F, nn: F.embedding(lib.tensor([1]), lib.ones(4, 3), padding_idx=4),
    lambda lib, F, nn: F.embedding(lib.tensor([1]), lib.ones(4, 3), padding_idx=-5),
    lambda lib, F, nn: F.embedding(lib.tensor([1]), lib.ones(4)),
    lambda lib, F, nn: F.one_hot(lib.tensor([1.0])),
    lambda lib, F, nn: F.one_hot(lib.tensor([1, 5]), 3),
    lambda lib, F, nn: F.one_hot(lib.tensor([1, -1]), 3),
    lambda lib, F, nn: F.one_hot(lib.tensor([], dtype=lib.int64)),
    lambda lib, F, nn: F.embedding_bag(lib.tensor([1]), lib.ones(3, 2), lib.tensor([0]),
                                       padding_idx=5),
    lambda lib, F, nn: F.dropout(lib.ones(3), 1.5),
    lambda lib, F, nn: F.dropout2d(lib.ones(2, 3, 4), -0.5),
    lambda lib, F, nn: F.dropout1d(lib.ones(2, 3, 4, 5), 0.5),
    lambda lib, F, nn: nn.Dropout(1.1),
    lambda lib, F, nn: nn.Dropout3d(-1),
    lambda lib, F, nn: nn.Embedding(4, 3, padding_idx=4),
    lambda lib, F, nn: nn.Embedding(4, 3, _weight=lib.ones(3, 3)),
    lambda lib, F, nn: nn.Embedding.from_pretrained(lib.ones(3)),
]


@pytest.mark.parametrize("case", ERROR_CASES, ids=[str(i) for i in range(len(ERROR_CASES))])
def test_error_messages(case):
    class _F:
        embedding = staticmethod(FS.embedding)
        embedding_bag = staticmethod(FS.embedding_bag)
        one_hot = staticmethod(FS.one_hot)
        dropout = staticmethod(FD.dropout)
        dropout1d = staticmethod(FD.dropout1d)
        dropout2d = staticmethod(FD.dropout2d)

    class _NN:
        Dropout = pdrop.Dropout
        Dropout3d = pdrop.Dropout3d
        Embedding = psparse.Embedding

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = _error_text(lambda: case(torch, TF, tnn))
        got = _error_text(lambda: case(probe, _F, _NN))
    assert expected is not None
    assert got == expected


# ---------------------------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------------------------

DROPOUT_FNS = [
    ("dropout", FD.dropout, TF.dropout, (6, 5)),
    ("dropout1d", FD.dropout1d, TF.dropout1d, (4, 3, 5)),
    ("dropout1d_unbatched", FD.dropout1d, TF.dropout1d, (3, 5)),
    ("dropout2d", FD.dropout2d, TF.dropout2d, (2, 3, 4, 4)),
    ("dropout3d", FD.dropout3d, TF.dropout3d, (2, 3, 2, 2, 2)),
    ("dropout3d_unbatched", FD.dropout3d, TF.dropout3d, (3, 2, 2, 2)),
    ("alpha_dropout", FD.alpha_dropout, TF.alpha_dropout, (6, 5)),
    ("feature_alpha_dropout", FD.feature_alpha_dropout, TF.feature_alpha_dropout, (2, 3, 4)),
]


@pytest.mark.parametrize("name, pfn, tfn, shape", DROPOUT_FNS, ids=[c[0] for c in DROPOUT_FNS])
@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_dropout_training_structure(name, pfn, tfn, shape, p):
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32) + 5
    px, tx = probe.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    p_out = pfn(px, p, True)
    t_out = tfn(tx, p, True)
    assert tuple(p_out.shape) == tuple(t_out.shape)
    assert (p_out is px) == (t_out is tx)
    if t_out is not tx:
        assert p_out.grad_fn.name() == t_out.grad_fn.name()
    if "alpha" not in name and 0 < p < 1:
        ratio = (_np(p_out) / x).astype(np.float64)
        kept = ratio[ratio != 0]
        np.testing.assert_allclose(kept, 1 / (1 - p), rtol=1e-5)
        if name != "dropout":  # channel-wise: the ratio is constant over each channel
            lead = 2 if len(shape) == len(tuple(t_out.shape)) and "unbatched" not in name else 1
            per_channel = ratio.reshape(ratio.shape[:lead] + (-1,))
            assert (per_channel.std(axis=-1) < 1e-6).all()
    if p == 1:
        np.testing.assert_array_equal(_np(p_out), _np(t_out))


@pytest.mark.parametrize("name, pfn, tfn, shape", DROPOUT_FNS, ids=[c[0] for c in DROPOUT_FNS])
def test_dropout_eval_is_identity(name, pfn, tfn, shape):
    x = probe.randn(*shape)
    tx = torch.tensor(_np(x))
    p_out, t_out = pfn(x, 0.5, False), tfn(tx, 0.5, False)
    assert (p_out is x) == (t_out is tx)  # unbatched inputs come back as a squeezed view
    np.testing.assert_array_equal(_np(p_out), _np(x))
    np.testing.assert_array_equal(t_out.numpy(), tx.numpy())


@pytest.mark.parametrize("p_cls, t_cls", [
    (pdrop.Dropout, tnn.Dropout), (pdrop.Dropout1d, tnn.Dropout1d),
    (pdrop.Dropout2d, tnn.Dropout2d), (pdrop.Dropout3d, tnn.Dropout3d),
    (pdrop.AlphaDropout, tnn.AlphaDropout), (pdrop.FeatureAlphaDropout, tnn.FeatureAlphaDropout),
])
@pytest.mark.parametrize("args", [(), (0.2,), (0.7, True)])
def test_dropout_module_repr(p_cls, t_cls, args):
    assert repr(p_cls(*args)) == repr(t_cls(*args))
    assert list(p_cls(*args).state_dict()) == list(t_cls(*args).state_dict())


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_statistics_match_torch(p):
    probe.manual_seed(0)
    torch.manual_seed(0)
    p_out = _np(FD.dropout(probe.ones(400, 400), p))
    t_out = TF.dropout(torch.ones(400, 400), p).numpy()
    assert abs((p_out == 0).mean() - (t_out == 0).mean()) < 0.01
    assert abs(p_out.mean() - t_out.mean()) < 0.02
    np.testing.assert_allclose(np.unique(p_out[p_out != 0]), np.unique(t_out[t_out != 0]),
                               rtol=1e-6)


def test_alpha_dropout_statistics_match_torch():
    probe.manual_seed(1)
    torch.manual_seed(1)
    x = np.random.default_rng(5).standard_normal((500, 500)).astype(np.float32)
    p_out = _np(FD.alpha_dropout(probe.tensor(x), 0.3, True))
    t_out = TF.alpha_dropout(torch.tensor(x), 0.3, True).numpy()
    assert abs(p_out.mean() - t_out.mean()) < 0.01
    assert abs(p_out.std() - t_out.std()) < 0.01
    # dropped units take the same constant value in both libraries (the most frequent value)
    p_vals, p_counts = np.unique(p_out, return_counts=True)
    t_vals, t_counts = np.unique(t_out, return_counts=True)
    np.testing.assert_allclose(p_vals[p_counts.argmax()], t_vals[t_counts.argmax()], rtol=1e-5)
    assert abs(p_counts.max() - t_counts.max()) < 0.01 * x.size
