"""InstanceNorm1d/2d/3d: construction (parameters, buffers, repr, factory kwargs), forward values
against a NumPy reference for batched and unbatched inputs, running statistics in training and
their use in evaluation, input checks and the num_features warning, state_dict round trips and
gradchecks (float64) through the modules on every device."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import probe
from probe.autograd import gradcheck, gradgradcheck
from probe.nn.modules.instancenorm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d

# (class, batched input shape) for each dimensionality; the unbatched shape drops the first dim.
LAYERS = [(InstanceNorm1d, (2, 3, 5)), (InstanceNorm2d, (2, 3, 2, 3)),
          (InstanceNorm3d, (2, 3, 2, 1, 3))]


def _np(t):
    return t.detach().cpu().numpy()


def _reference(x, eps=1e-5):
    """Per-(sample, channel) normalisation over the spatial dims, biased variance."""
    axes = tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def _expand(v, ndim):
    """A per-channel vector shaped to broadcast against an (N, C, ...) array."""
    return np.asarray(v).reshape((1, -1) + (1,) * (ndim - 2))


# ---------------------------------------------------------------------------------------------
# Construction
# ---------------------------------------------------------------------------------------------

def test_defaults_have_no_parameters_or_buffers():
    m = InstanceNorm2d(3)
    assert repr(m) == ("InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=False, bias=False, "
                       "track_running_stats=False)")
    assert m.weight is None and m.bias is None
    assert m.running_mean is None and m.running_var is None and m.num_batches_tracked is None
    assert list(m.parameters()) == [] and list(m.state_dict()) == []


def test_affine_and_tracking_create_parameters_and_buffers():
    m = InstanceNorm1d(4, eps=1e-3, momentum=None, affine=True, track_running_stats=True)
    assert repr(m) == ("InstanceNorm1d(4, eps=0.001, momentum=None, affine=True, bias=True, "
                       "track_running_stats=True)")
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert list(m.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                    "num_batches_tracked"]
    assert _np(m.weight).tolist() == [1] * 4 and _np(m.bias).tolist() == [0] * 4
    assert _np(m.running_mean).tolist() == [0] * 4 and _np(m.running_var).tolist() == [1] * 4
    assert m.num_batches_tracked.dtype == probe.int64 and int(m.num_batches_tracked) == 0
    assert not m.running_mean.requires_grad


def test_bias_false_keeps_only_weight():
    m = InstanceNorm3d(2, affine=True, bias=False)
    assert m.bias is None and list(m.state_dict()) == ["weight"]
    assert repr(m).endswith("affine=True, bias=False, track_running_stats=False)")


def test_exported_from_probe_nn():
    assert probe.nn.InstanceNorm1d is InstanceNorm1d
    assert probe.nn.InstanceNorm2d is InstanceNorm2d
    assert probe.nn.InstanceNorm3d is InstanceNorm3d


def test_factory_kwargs(device):
    m = InstanceNorm2d(3, affine=True, track_running_stats=True, device=device,
                       dtype=probe.float64)
    for t in (m.weight, m.bias, m.running_mean, m.running_var):
        assert t.dtype == probe.float64 and t.device.type == device
    # the counter keeps its integer dtype whatever dtype was asked for
    assert m.num_batches_tracked.dtype == probe.int64
    assert m.num_batches_tracked.device.type == device


def test_double_converts_buffers_but_not_counter():
    m = InstanceNorm1d(2, track_running_stats=True).double()
    assert m.running_var.dtype == probe.float64 and m.num_batches_tracked.dtype == probe.int64


def test_reset_parameters_and_running_stats():
    m = InstanceNorm1d(2, affine=True, track_running_stats=True)
    m(probe.randn(3, 2, 4) * 5 + 2)
    with probe.no_grad():
        m.weight.fill_(3.0)
        m.bias.fill_(-1.0)
    m.reset_running_stats()
    assert _np(m.running_mean).tolist() == [0, 0] and _np(m.running_var).tolist() == [1, 1]
    assert _np(m.weight).tolist() == [3, 3]  # parameters untouched
    m.reset_parameters()
    assert _np(m.weight).tolist() == [1, 1] and _np(m.bias).tolist() == [0, 0]


# ---------------------------------------------------------------------------------------------
# Forward
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls, shape", LAYERS)
@pytest.mark.parametrize("training", [True, False])
def test_forward_uses_input_statistics_without_tracking(device, rng, cls, shape, training):
    data = rng.standard_normal(shape) * 3 + 1
    m = cls(3, device=device).double().train(training)
    out = m(probe.tensor(data, device=device))
    assert out.shape == shape and out.device.type == device
    np.testing.assert_allclose(_np(out), _reference(data), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cls, shape", LAYERS)
def test_unbatched_input_is_a_batch_of_one(device, rng, cls, shape):
    data = rng.standard_normal(shape[1:]) * 2 - 1
    m = cls(3, affine=True, device=device).double()
    with probe.no_grad():
        m.weight.copy_(probe.tensor([0.5, 2.0, -1.0], device=device))
        m.bias.copy_(probe.tensor([1.0, 0.0, 3.0], device=device))
    out = m(probe.tensor(data, device=device, requires_grad=True))
    assert out.shape == shape[1:]
    assert type(out.grad_fn).__name__ == "SqueezeBackward1"
    ref = _reference(data[None])[0] * _expand([0.5, 2.0, -1.0], len(shape))[0] \
        + _expand([1.0, 0.0, 3.0], len(shape))[0]
    np.testing.assert_allclose(_np(out), ref, rtol=1e-10, atol=1e-10)


def test_batched_grad_fn_chain():
    m = InstanceNorm2d(2, affine=True)
    out = m(probe.randn(2, 2, 3, 3, requires_grad=True))
    assert type(out.grad_fn).__name__ == "ViewBackward0"
    (inner, _), = out.grad_fn.next_functions
    assert type(inner).__name__ == "NativeBatchNormBackward0"
    out.sum().backward()
    assert m.weight.grad is not None and m.bias.grad is not None


@pytest.mark.parametrize("momentum", [0.1, 0.5])
def test_running_stats_over_steps(device, momentum):
    rng = np.random.default_rng(5)
    m = InstanceNorm2d(3, momentum=momentum, track_running_stats=True, device=device).double()
    rm, rv = np.zeros(3), np.ones(3)
    for step in range(1, 5):
        data = rng.standard_normal((4, 3, 2, 5)) * step + step
        out = m(probe.tensor(data, device=device))
        # the batch average of each instance's mean and unbiased variance
        mean = data.mean(axis=(2, 3)).mean(axis=0)
        var_u = data.var(axis=(2, 3), ddof=1).mean(axis=0)
        rm = (1 - momentum) * rm + momentum * mean
        rv = (1 - momentum) * rv + momentum * var_u
        np.testing.assert_allclose(_np(m.running_mean), rm, rtol=1e-10)
        np.testing.assert_allclose(_np(m.running_var), rv, rtol=1e-10)
        # training normalises with the input's own statistics
        np.testing.assert_allclose(_np(out), _reference(data), rtol=1e-9, atol=1e-9)
    # PyTorch never counts batches for instance norm
    assert int(m.num_batches_tracked) == 0


def test_momentum_none_leaves_running_stats_unchanged(device):
    # PyTorch's InstanceNorm turns momentum=None into 0.0 (no cumulative average)
    m = InstanceNorm1d(2, momentum=None, track_running_stats=True, device=device)
    for _ in range(3):
        m(probe.randn(3, 2, 4, device=device) * 4 + 2)
    assert _np(m.running_mean).tolist() == [0, 0] and _np(m.running_var).tolist() == [1, 1]
    assert int(m.num_batches_tracked) == 0


def test_eval_with_tracking_uses_running_stats(device, rng):
    m = InstanceNorm1d(3, affine=True, track_running_stats=True, device=device).double()
    m(probe.tensor(rng.standard_normal((5, 3, 6)) * 2 + 1, device=device))
    m.eval()
    rm, rv = _np(m.running_mean).copy(), _np(m.running_var).copy()
    data = rng.standard_normal((2, 3, 4))
    out = m(probe.tensor(data, device=device))
    np.testing.assert_allclose(_np(out), (data - _expand(rm, 3)) / np.sqrt(_expand(rv, 3) + 1e-5),
                               rtol=1e-10)
    np.testing.assert_allclose(_np(m.running_mean), rm)
    # running statistics need no spatial extent; training statistics do
    assert m(probe.tensor(data[:, :, :1], device=device)).shape == (2, 3, 1)
    assert m(probe.tensor(data[0], device=device)).shape == (3, 4)


def test_running_stats_not_in_graph():
    m = InstanceNorm1d(2, affine=True, track_running_stats=True)
    out = m(probe.randn(3, 2, 4, requires_grad=True))
    assert not m.running_mean.requires_grad and m.running_mean.grad_fn is None
    out.sum().backward()


# ---------------------------------------------------------------------------------------------
# Input checks and the num_features warning
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls, bad, text", [
    (InstanceNorm1d, (2, 3, 4, 4), "expected 2D or 3D input (got 4D input)"),
    (InstanceNorm1d, (3,), "expected 2D or 3D input (got 1D input)"),
    (InstanceNorm2d, (3, 4), "expected 3D or 4D input (got 2D input)"),
    (InstanceNorm3d, (2, 3, 4, 4, 4, 4), "expected 4D or 5D input (got 6D input)"),
])
def test_wrong_dims(cls, bad, text):
    with pytest.raises(ValueError) as info:
        cls(3)(probe.randn(*bad))
    assert str(info.value) == text


def test_affine_channel_mismatch_raises():
    with pytest.raises(ValueError) as info:
        InstanceNorm2d(3, affine=True)(probe.randn(2, 4, 3, 3))
    assert str(info.value) == ("expected input's size at dim=1 to match num_features (3), "
                               "but got: 4.")
    with pytest.raises(ValueError, match=r"size at dim=0 to match num_features \(3\)"):
        InstanceNorm2d(3, affine=True)(probe.randn(4, 3, 3))


@pytest.mark.parametrize("shape, dim", [((2, 4, 3), 1), ((4, 3), 0)])
def test_channel_mismatch_without_affine_warns_at_the_caller(shape, dim):
    data = np.random.default_rng(0).standard_normal(shape)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = InstanceNorm1d(3)(probe.tensor(data))
    assert len(caught) == 1
    assert caught[0].category is UserWarning
    assert str(caught[0].message) == (
        f"input's size at dim={dim} does not match num_features. You can silence this warning "
        "by not passing in num_features, which is not used because affine=False")
    assert caught[0].filename == __file__
    # num_features is not used: the input is normalised all the same
    ref = _reference(data if len(shape) == 3 else data[None])
    np.testing.assert_allclose(_np(out), ref.reshape(shape), rtol=1e-6, atol=1e-6)


def test_channel_mismatch_with_tracking_fails_on_running_stats():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="running_mean should contain 8 elements not 6"):
            InstanceNorm1d(3, track_running_stats=True)(probe.randn(2, 4, 5))


def test_single_spatial_element_in_training():
    with pytest.raises(ValueError) as info:
        InstanceNorm1d(3)(probe.randn(2, 3, 1))
    assert str(info.value) == ("Expected more than 1 spatial element when training, got input "
                               "size probe.Size([2, 3, 1])")
    # evaluation without running statistics still needs input statistics
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        InstanceNorm1d(3).eval()(probe.randn(2, 3, 1))


# ---------------------------------------------------------------------------------------------
# state_dict
# ---------------------------------------------------------------------------------------------

def test_state_dict_round_trip():
    src = InstanceNorm2d(3, affine=True, track_running_stats=True)
    with probe.no_grad():
        src.weight.copy_(probe.tensor([1.0, 2.0, 3.0]))
    src(probe.randn(2, 3, 4, 4) * 3 + 1)
    dst = InstanceNorm2d(3, affine=True, track_running_stats=True)
    result = dst.load_state_dict(src.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (k, a), (_, b) in zip(src.state_dict().items(), dst.state_dict().items(), strict=True):
        np.testing.assert_array_equal(_np(a), _np(b), err_msg=k)


def test_running_stats_into_a_module_that_does_not_track():
    tracked = InstanceNorm1d(2, track_running_stats=True)
    plain = InstanceNorm1d(2)
    with pytest.raises(RuntimeError) as info:
        plain.load_state_dict(tracked.state_dict())
    assert str(info.value) == (
        "Error(s) in loading state_dict for InstanceNorm1d:\n\tUnexpected key(s) in state_dict: "
        '"running_mean", "running_var", "num_batches_tracked". ')
    result = plain.load_state_dict(tracked.state_dict(), strict=False)
    assert result.unexpected_keys == ["running_mean", "running_var", "num_batches_tracked"]
    assert plain.running_mean is None


def test_missing_running_stats_change_nothing():
    m = InstanceNorm1d(2, affine=True, track_running_stats=True)
    # A plain dict has no version: num_batches_tracked is filled in, as PyTorch does.
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "running_mean", '
                                           '"running_var". $'):
        m.load_state_dict({"weight": probe.full((2,), 5.0), "bias": probe.zeros(2)})
    assert _np(m.weight).tolist() == [1, 1]  # nothing half-loaded


# ---------------------------------------------------------------------------------------------
# gradcheck (float64) through the modules
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls, shape", LAYERS)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("track, training", [(False, True), (True, True), (True, False)])
def test_gradcheck(device, cls, shape, batched, track, training):
    rng = np.random.default_rng(11)
    m = cls(3, affine=True, track_running_stats=track, device=device).double()
    with probe.no_grad():
        m.weight.copy_(probe.tensor(rng.standard_normal(3), device=device))
        m.bias.copy_(probe.tensor(rng.standard_normal(3), device=device))
        if track:
            m.running_mean.copy_(probe.tensor(rng.standard_normal(3), device=device))
            m.running_var.copy_(probe.tensor(rng.random(3) + 0.5, device=device))
    m.train(training)
    x = probe.tensor(rng.standard_normal(shape if batched else shape[1:]), device=device,
                     requires_grad=True)

    def fn(x, weight, bias):
        return m(x)

    assert gradcheck(fn, (x, m.weight, m.bias))
    if batched:
        assert gradgradcheck(fn, (x, m.weight, m.bias))
