"""Parity with PyTorch for Linear, Bilinear, Flatten/Unflatten and the normalisation layers:
the same layer is built in both libraries, the torch weights are copied across through
load_state_dict (so the state_dict keys must match), and outputs, grad_fn names, input and
parameter gradients and running statistics are compared in float32 and float64, in train and
eval mode where they differ. Reprs and error messages are compared too."""

from __future__ import annotations

import numpy as np
import pytest

import probe
from probe.nn.functional_parts import linear as FL
from probe.nn.functional_parts import normalization as FN
from probe.nn.modules import batchnorm as pbn
from probe.nn.modules import flatten as pflat
from probe.nn.modules import linear as plin
from probe.nn.modules import normalization as pnorm

torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional

DTYPES = [pytest.param((np.float32, 2e-5), id="float32"),
          pytest.param((np.float64, 1e-10), id="float64")]


def _np(t):
    return t.detach().cpu().numpy()


def _probe_dtype(np_dtype):
    return probe.float32 if np_dtype == np.float32 else probe.float64


def _torch_dtype(np_dtype):
    return torch.float32 if np_dtype == np.float32 else torch.float64


def _build(p_cls, t_cls, args, kwargs, np_dtype, seed=0):
    """The torch layer with random parameters/buffers and the probe layer loaded from it."""
    t_layer = t_cls(*args, **kwargs).to(_torch_dtype(np_dtype))
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for p in t_layer.parameters():
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape))))
        for name, b in t_layer.named_buffers():
            if name.endswith("running_var"):
                b.copy_(torch.tensor(rng.random(tuple(b.shape)) + 0.5))
            elif name.endswith("running_mean"):
                b.copy_(torch.tensor(rng.standard_normal(tuple(b.shape))))
    p_layer = p_cls(*args, **kwargs).to(_probe_dtype(np_dtype))
    t_state = t_layer.state_dict()
    assert list(p_layer.state_dict()) == list(t_state)
    p_layer.load_state_dict({k: probe.tensor(v.numpy().copy()) for k, v in t_state.items()})
    return p_layer, t_layer


def _compare(p_layer, t_layer, arrays, tol, training=True, check_name=True, steps=1, seed=1):
    """Run both layers ``steps`` times on the same inputs; compare outputs, grads, buffers."""
    p_layer.train(training)
    t_layer.train(training)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        p_in = [probe.tensor(a, requires_grad=True) for a in arrays]
        t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
        p_out = p_layer(*p_in)
        t_out = t_layer(*t_in)
        assert tuple(p_out.shape) == tuple(t_out.shape)
        assert str(p_out.dtype).split(".")[-1] == str(t_out.dtype).split(".")[-1]
        np.testing.assert_allclose(_np(p_out), _np(t_out), rtol=tol, atol=tol)
        if check_name:
            assert p_out.grad_fn.name() == t_out.grad_fn.name()
        g = rng.standard_normal(tuple(t_out.shape)).astype(arrays[0].dtype)
        p_out.backward(probe.tensor(g))
        t_out.backward(torch.tensor(g))
        for p, t in zip(p_in, t_in, strict=True):
            np.testing.assert_allclose(_np(p.grad), _np(t.grad), rtol=tol * 20, atol=tol * 20)
        p_params = dict(p_layer.named_parameters())
        for name, t_param in t_layer.named_parameters():
            np.testing.assert_allclose(_np(p_params[name].grad), _np(t_param.grad),
                                       rtol=tol * 20, atol=tol * 20)
        p_buffers = dict(p_layer.named_buffers())
        for name, t_buf in t_layer.named_buffers():
            np.testing.assert_allclose(_np(p_buffers[name]), _np(t_buf), rtol=tol * 10,
                                       atol=tol * 10)
            assert str(p_buffers[name].dtype).split(".")[-1] == str(t_buf.dtype).split(".")[-1]
        p_layer.zero_grad()
        t_layer.zero_grad()


def _randn(seed, *shape, dtype=np.float64, scale=1.0, shift=0.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale + shift).astype(dtype)


# ---------------------------------------------------------------------------------------------
# Linear, Bilinear, Flatten, Unflatten
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,), (2, 1, 3, 4)])
def test_linear(dt, bias, shape):
    np_dtype, tol = dt
    p_layer, t_layer = _build(plin.Linear, tnn.Linear, (4, 3), {"bias": bias}, np_dtype)
    _compare(p_layer, t_layer, [_randn(2, *shape, dtype=np_dtype)], tol)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("batch", [(3,), (2, 3), ()])
@pytest.mark.parametrize("bias", [True, False])
def test_bilinear(dt, batch, bias):
    np_dtype, tol = dt
    p_layer, t_layer = _build(plin.Bilinear, tnn.Bilinear, (2, 3, 4), {"bias": bias}, np_dtype)
    _compare(p_layer, t_layer, [_randn(3, *batch, 2, dtype=np_dtype),
                                _randn(4, *batch, 3, dtype=np_dtype)], tol)


@pytest.mark.parametrize("p_cls, t_cls, args, shape", [
    (pflat.Flatten, tnn.Flatten, (), (2, 3, 4)),
    (pflat.Flatten, tnn.Flatten, (0, 1), (2, 3, 4)),
    (pflat.Unflatten, tnn.Unflatten, (1, (2, 3)), (4, 6)),
    (pflat.Unflatten, tnn.Unflatten, (-1, (3, -1)), (2, 6)),
])
def test_flatten_unflatten(p_cls, t_cls, args, shape):
    p_layer, t_layer = _build(p_cls, t_cls, args, {}, np.float64)
    _compare(p_layer, t_layer, [_randn(5, *shape)], 1e-12)


# ---------------------------------------------------------------------------------------------
# LayerNorm, GroupNorm, RMSNorm, LocalResponseNorm
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("normalized, kwargs, shape", [
    ((4,), {}, (3, 4)),
    ((4,), {}, (2, 3, 4)),
    ((3, 4), {}, (2, 3, 4)),
    ((4,), {"elementwise_affine": False}, (2, 3, 4)),
    ((3, 4), {"bias": False}, (5, 3, 4)),
    ((6,), {"eps": 1e-3}, (2, 6)),
])
def test_layer_norm(dt, normalized, kwargs, shape):
    np_dtype, tol = dt
    p_layer, t_layer = _build(pnorm.LayerNorm, tnn.LayerNorm, (normalized,), kwargs, np_dtype)
    _compare(p_layer, t_layer, [_randn(6, *shape, dtype=np_dtype, scale=3, shift=2)], tol)


def test_layer_norm_large_offset_float32():
    p_layer, t_layer = _build(pnorm.LayerNorm, tnn.LayerNorm, (32,), {}, np.float32)
    _compare(p_layer, t_layer, [_randn(7, 4, 32, dtype=np.float32, shift=1e3)], 2e-3)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("groups, channels, kwargs, shape", [
    (2, 4, {}, (2, 4, 3)),
    (3, 6, {}, (2, 6, 2, 2)),
    (1, 4, {}, (3, 4)),
    (4, 4, {"affine": False}, (2, 4, 5)),
    (2, 4, {"eps": 1e-3}, (2, 4, 2, 1, 2)),
])
def test_group_norm(dt, groups, channels, kwargs, shape):
    np_dtype, tol = dt
    p_layer, t_layer = _build(pnorm.GroupNorm, tnn.GroupNorm, (groups, channels), kwargs,
                              np_dtype)
    _compare(p_layer, t_layer, [_randn(8, *shape, dtype=np_dtype, scale=2, shift=-1)], tol)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("normalized, kwargs", [((4,), {}), ((3, 4), {"eps": 1e-4}),
                                                ((4,), {"elementwise_affine": False})])
def test_rms_norm(dt, normalized, kwargs):
    np_dtype, tol = dt
    p_layer, t_layer = _build(pnorm.RMSNorm, tnn.RMSNorm, (normalized,), kwargs, np_dtype)
    _compare(p_layer, t_layer, [_randn(9, 2, 3, 4, dtype=np_dtype)], tol, check_name=False)


@pytest.mark.parametrize("size, shape", [(2, (2, 5, 3)), (3, (2, 4, 3, 3)), (5, (1, 6, 2, 2, 2))])
def test_local_response_norm(size, shape):
    p_layer, t_layer = _build(pnorm.LocalResponseNorm, tnn.LocalResponseNorm, (size,),
                              {"alpha": 0.1, "k": 2.0}, np.float64)
    _compare(p_layer, t_layer, [_randn(10, *shape)], 1e-10)


# ---------------------------------------------------------------------------------------------
# BatchNorm
# ---------------------------------------------------------------------------------------------

BN_CASES = [
    (pbn.BatchNorm1d, tnn.BatchNorm1d, (6, 3)),
    (pbn.BatchNorm1d, tnn.BatchNorm1d, (4, 3, 5)),
    (pbn.BatchNorm2d, tnn.BatchNorm2d, (4, 3, 2, 5)),
    (pbn.BatchNorm3d, tnn.BatchNorm3d, (2, 3, 2, 3, 2)),
]


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("p_cls, t_cls, shape", BN_CASES)
def test_batch_norm(dt, training, p_cls, t_cls, shape):
    np_dtype, tol = dt
    p_layer, t_layer = _build(p_cls, t_cls, (3,), {}, np_dtype)
    _compare(p_layer, t_layer, [_randn(11, *shape, dtype=np_dtype, scale=2, shift=1)], tol,
             training=training)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("kwargs", [{"momentum": 0.1}, {"momentum": None}, {"momentum": 0.7},
                                    {"affine": False}, {"track_running_stats": False},
                                    {"bias": False}, {"eps": 1e-2}])
def test_batch_norm_running_stats_several_steps(dt, kwargs):
    np_dtype, tol = dt
    p_layer, t_layer = _build(pbn.BatchNorm2d, tnn.BatchNorm2d, (3,), kwargs, np_dtype)
    _compare(p_layer, t_layer, [_randn(12, 4, 3, 2, 2, dtype=np_dtype, scale=3, shift=2)], tol,
             steps=4)
    # then evaluation with the accumulated statistics
    _compare(p_layer, t_layer, [_randn(13, 2, 3, 2, 2, dtype=np_dtype)], tol, training=False)


def test_batch_norm_num_batches_tracked_matches():
    p_layer, t_layer = _build(pbn.BatchNorm1d, tnn.BatchNorm1d, (2,), {"momentum": None},
                              np.float32)
    for seed in range(3):
        x = _randn(seed, 5, 2, dtype=np.float32)
        p_layer(probe.tensor(x))
        t_layer(torch.tensor(x))
    assert int(p_layer.num_batches_tracked) == int(t_layer.num_batches_tracked) == 3
    assert p_layer.num_batches_tracked.dtype == probe.int64


@pytest.mark.parametrize("training", [True, False])
def test_functional_batch_norm_without_params(training):
    x = _randn(14, 4, 3, 2)
    rm, rv = np.zeros(3), np.ones(3) * 2
    p_rm, p_rv = probe.tensor(rm.copy()), probe.tensor(rv.copy())
    t_rm, t_rv = torch.tensor(rm.copy()), torch.tensor(rv.copy())
    px, tx = probe.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    p_out = FN.batch_norm(px, p_rm, p_rv, training=training, momentum=0.3)
    t_out = TF.batch_norm(tx, t_rm, t_rv, training=training, momentum=0.3)
    np.testing.assert_allclose(_np(p_out), _np(t_out), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_np(p_rm), _np(t_rm), rtol=1e-12)
    np.testing.assert_allclose(_np(p_rv), _np(t_rv), rtol=1e-12)
    (p_out * p_out).sum().backward()
    (t_out * t_out).sum().backward()
    np.testing.assert_allclose(_np(px.grad), _np(tx.grad), rtol=1e-9, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# Functionals without layers here: normalize, instance_norm
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("kwargs, shape", [({}, (3, 4)), ({"p": 1, "dim": 0}, (3, 4)),
                                           ({"dim": -1}, (2, 3, 4)),
                                           ({"p": 3.0, "dim": 1}, (2, 3, 4))])
def test_normalize(dt, kwargs, shape):
    np_dtype, tol = dt
    x = _randn(15, *shape, dtype=np_dtype)
    px, tx = probe.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    p_out, t_out = FN.normalize(px, **kwargs), TF.normalize(tx, **kwargs)
    np.testing.assert_allclose(_np(p_out), _np(t_out), rtol=tol, atol=tol)
    g = _randn(16, *shape, dtype=np_dtype)
    p_out.backward(probe.tensor(g))
    t_out.backward(torch.tensor(g))
    np.testing.assert_allclose(_np(px.grad), _np(tx.grad), rtol=tol * 20, atol=tol * 20)


@pytest.mark.parametrize("use_input_stats", [True, False])
def test_instance_norm(use_input_stats):
    x = _randn(17, 2, 3, 4)
    rng = np.random.default_rng(18)
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    pt = [probe.tensor(a.copy(), requires_grad=True) for a in (x, w, b)]
    tt = [torch.tensor(a.copy(), requires_grad=True) for a in (x, w, b)]
    p_rm, p_rv = probe.tensor(rm.copy()), probe.tensor(rv.copy())
    t_rm, t_rv = torch.tensor(rm.copy()), torch.tensor(rv.copy())
    p_out = FN.instance_norm(pt[0], p_rm, p_rv, pt[1], pt[2], use_input_stats, 0.2)
    t_out = TF.instance_norm(tt[0], t_rm, t_rv, tt[1], tt[2], use_input_stats, 0.2)
    np.testing.assert_allclose(_np(p_out), _np(t_out), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_np(p_rm), _np(t_rm), rtol=1e-10)
    np.testing.assert_allclose(_np(p_rv), _np(t_rv), rtol=1e-10)
    (p_out ** 3).sum().backward()
    (t_out ** 3).sum().backward()
    for p, t in zip(pt, tt, strict=True):
        np.testing.assert_allclose(_np(p.grad), _np(t.grad), rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# Reprs and error messages
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("p_cls, t_cls, args, kwargs", [
    (plin.Linear, tnn.Linear, (8, 3), {}),
    (plin.Linear, tnn.Linear, (8, 3), {"bias": False}),
    (plin.Bilinear, tnn.Bilinear, (2, 3, 4), {}),
    (plin.Identity, tnn.Identity, (), {}),
    (pflat.Flatten, tnn.Flatten, (), {}),
    (pflat.Unflatten, tnn.Unflatten, (1, (2, 3)), {}),
    (pflat.Unflatten, tnn.Unflatten, (1, [2, 3]), {}),
    (pnorm.LayerNorm, tnn.LayerNorm, (4,), {}),
    (pnorm.LayerNorm, tnn.LayerNorm, ([3, 4],), {"bias": False, "eps": 1e-6}),
    (pnorm.GroupNorm, tnn.GroupNorm, (2, 4), {"affine": False}),
    (pnorm.RMSNorm, tnn.RMSNorm, (4,), {"eps": 1e-6}),
    (pnorm.LocalResponseNorm, tnn.LocalResponseNorm, (2,), {}),
    (pbn.BatchNorm2d, tnn.BatchNorm2d, (2,), {}),
    (pbn.BatchNorm1d, tnn.BatchNorm1d, (3,),
     {"momentum": None, "affine": False, "track_running_stats": False}),
    (pbn.BatchNorm3d, tnn.BatchNorm3d, (5,), {"eps": 1e-3, "bias": False}),
])
def test_repr(p_cls, t_cls, args, kwargs):
    assert repr(p_cls(*args, **kwargs)) == repr(t_cls(*args, **kwargs))


def _error_text(fn, lib):
    try:
        fn(lib)
    except Exception as exc:  # noqa: BLE001 - comparing whatever each library raises
        return type(exc).__name__, str(exc)
    return None


def _zeros(lib, *shape, dtype=None):
    return lib.zeros(*shape) if dtype is None else lib.zeros(*shape, dtype=dtype)


@pytest.mark.parametrize("case", [
    lambda lib, F: F.layer_norm(lib.ones(2, 3), (4,)),
    lambda lib, F: F.layer_norm(lib.ones(2, 3), (3,), lib.ones(4)),
    lambda lib, F: F.layer_norm(lib.ones(2, 3), (3,), None, lib.ones(4)),
    lambda lib, F: F.layer_norm(lib.ones(2, 3), (3,), lib.ones(3, dtype=lib.float64)),
    lambda lib, F: F.layer_norm(lib.ones(2, 3, dtype=lib.float64), (3,), lib.ones(3)),
    lambda lib, F: F.batch_norm(lib.ones(4, 3), None, None, training=False),
    lambda lib, F: F.batch_norm(lib.ones(4, 3), lib.zeros(4), lib.ones(4)),
    lambda lib, F: F.batch_norm(lib.ones(4, 3), lib.zeros(3), lib.ones(3), lib.ones(4)),
    lambda lib, F: F.group_norm(lib.ones(2, 5, 3), 2),
    lambda lib, F: F.group_norm(lib.ones(2, 4, 3), 2, lib.ones(3)),
    lambda lib, F: F.group_norm(lib.ones(4), 2),
    lambda lib, F: F.bilinear(lib.ones(2, 3), lib.ones(2, 4), lib.ones(5, 3, 3)),
    lambda lib, F: F.bilinear(lib.ones(2, 3), lib.ones(2, 4), lib.ones(5, 3, 4), lib.ones(4)),
    lambda lib, F: F.linear(lib.ones(2, 5), lib.ones(4, 3)),
    lambda lib, F: F.local_response_norm(lib.ones(2), 2),
], ids=lambda c: "")
def test_error_messages(case):
    class _F:  # probe's functionals under torch's names
        layer_norm = staticmethod(FN.layer_norm)
        batch_norm = staticmethod(FN.batch_norm)
        group_norm = staticmethod(FN.group_norm)
        local_response_norm = staticmethod(FN.local_response_norm)
        bilinear = staticmethod(FL.bilinear)
        linear = staticmethod(FL.linear)

    expected = _error_text(lambda lib: case(lib, TF), torch)
    got = _error_text(lambda lib: case(lib, _F), probe)
    assert expected is not None
    assert got == expected


@pytest.mark.parametrize("case", [
    lambda lib, nn: nn.GroupNorm(2, 5),
    lambda lib, nn: nn.BatchNorm2d(3)(lib.ones(2, 3, 4)),
    lambda lib, nn: nn.BatchNorm1d(3)(lib.ones(2, 4)),
    lambda lib, nn: nn.BatchNorm1d(3)(lib.ones(2, 3, 4, 4)),
    lambda lib, nn: nn.Linear(3, 4)(lib.ones(2, 5)),
    lambda lib, nn: nn.Unflatten(1, (2, 3.0)),
    lambda lib, nn: nn.Unflatten(1, 5),
    lambda lib, nn: nn.Unflatten(1, (2, 4))(lib.ones(3, 6)),
], ids=lambda c: "")
def test_module_error_messages(case):
    class _NN:
        GroupNorm = pnorm.GroupNorm
        BatchNorm1d = pbn.BatchNorm1d
        BatchNorm2d = pbn.BatchNorm2d
        Linear = plin.Linear
        Unflatten = pflat.Unflatten

    expected = _error_text(lambda lib: case(lib, tnn), torch)
    got = _error_text(lambda lib: case(lib, _NN), probe)
    assert expected is not None
    assert got == expected


def test_batch_size_one_error_wording():
    with pytest.raises(ValueError) as p_err:
        pbn.BatchNorm1d(3)(probe.ones(1, 3))
    with pytest.raises(ValueError) as t_err:
        tnn.BatchNorm1d(3)(torch.ones(1, 3))
    assert str(p_err.value).replace("probe.", "torch.") == str(t_err.value)
