"""Linear, Bilinear, Identity, Flatten/Unflatten and the normalisation layers and functionals:
reprs, state_dict keys, default initialisation, shapes, grad_fn names, errors with PyTorch's
wording, train/eval behaviour of BatchNorm and gradchecks (float64) over inputs and parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest

import probe
from probe.autograd import gradcheck, gradgradcheck
from probe.nn.functional_parts import linear as FL
from probe.nn.functional_parts import normalization as FN
from probe.nn.modules.batchnorm import BatchNorm1d, BatchNorm2d, BatchNorm3d
from probe.nn.modules.flatten import Flatten, Unflatten
from probe.nn.modules.linear import Bilinear, Identity, Linear
from probe.nn.modules.normalization import GroupNorm, LayerNorm, LocalResponseNorm, RMSNorm


def _np(t):
    return t.detach().cpu().numpy()


def _randn(rng, *shape, device="cpu", requires_grad=True, dtype=np.float64):
    return probe.tensor(rng.standard_normal(shape).astype(dtype), device=device,
                        requires_grad=requires_grad)


def _check_layer(layer, *inputs, second_order=False):
    """gradcheck (and optionally gradgradcheck) of a float64 layer over inputs and params."""
    layer.double()
    params = tuple(p for p in layer.parameters() if p.requires_grad)
    n = len(inputs)

    def fn(*args):
        return layer(*args[:n])

    assert gradcheck(fn, (*inputs, *params))
    if second_order:
        assert gradgradcheck(fn, (*inputs, *params))


# ---------------------------------------------------------------------------------------------
# Linear family
# ---------------------------------------------------------------------------------------------

def test_linear_repr_keys_and_init():
    layer = Linear(8, 3)
    assert repr(layer) == "Linear(in_features=8, out_features=3, bias=True)"
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert layer.weight.shape == (3, 8) and layer.bias.shape == (3,)
    bound = 1 / math.sqrt(8)
    assert float(layer.weight.abs().max()) <= bound + 1e-7
    assert float(layer.bias.abs().max()) <= bound + 1e-7
    nob = Linear(8, 3, bias=False)
    assert repr(nob) == "Linear(in_features=8, out_features=3, bias=False)"
    assert nob.bias is None and list(nob.state_dict()) == ["weight"]


def test_linear_default_init_is_uniform_over_the_kaiming_bound():
    probe.manual_seed(0)
    w = Linear(400, 300).weight
    data = _np(w)
    bound = 1 / math.sqrt(400)  # kaiming_uniform_(a=sqrt(5)) gives 1/sqrt(fan_in)
    assert data.max() <= bound and data.min() >= -bound
    assert abs(data.std() - bound / math.sqrt(3)) < 0.05 * bound


def test_linear_factory_kwargs(device):
    layer = Linear(4, 2, device=device, dtype=probe.float64)
    assert layer.weight.dtype == probe.float64 and layer.bias.dtype == probe.float64
    assert layer.weight.device.type == device


@pytest.mark.parametrize("shape, grad_fn", [
    ((5, 4), "AddmmBackward0"), ((2, 3, 4), "ViewBackward0"), ((4,), "ViewBackward0"),
])
def test_linear_shapes_and_grad_fn(device, shape, grad_fn):
    layer = Linear(4, 3, device=device)
    y = layer(probe.randn(*shape, device=device))
    assert y.shape == shape[:-1] + (3,)
    assert y.dtype == probe.float32
    assert type(y.grad_fn).__name__ == grad_fn


def test_linear_without_bias_grad_fn():
    layer = Linear(4, 3, bias=False)
    assert type(layer(probe.randn(2, 4)).grad_fn).__name__ == "MmBackward0"


def test_linear_shape_error():
    with pytest.raises(RuntimeError,
                       match=r"mat1 and mat2 shapes cannot be multiplied \(2x5 and 3x4\)"):
        Linear(3, 4)(probe.randn(2, 5))


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (4,)])
def test_linear_gradcheck(device, shape):
    rng = np.random.default_rng(0)
    _check_layer(Linear(4, 3, device=device), _randn(rng, *shape, device=device),
                 second_order=True)


def test_linear_gradcheck_no_bias(device):
    rng = np.random.default_rng(1)
    _check_layer(Linear(4, 2, bias=False, device=device), _randn(rng, 3, 4, device=device))


def test_linear_non_contiguous_input_matches_contiguous():
    layer = Linear(4, 3)
    x = probe.randn(4, 5, 2).permute(2, 1, 0)
    np.testing.assert_allclose(_np(layer(x)), _np(layer(x.contiguous())), rtol=1e-6)


def test_identity():
    x = probe.randn(3)
    layer = Identity(3, foo="bar")
    assert layer(x) is x
    assert repr(layer) == "Identity()"


def test_bilinear_repr_init_and_shapes():
    layer = Bilinear(2, 3, 4)
    assert repr(layer) == "Bilinear(in1_features=2, in2_features=3, out_features=4, bias=True)"
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert layer.weight.shape == (4, 2, 3)
    assert float(layer.weight.abs().max()) <= 1 / math.sqrt(2)
    y = layer(probe.randn(5, 2), probe.randn(5, 3))
    assert y.shape == (5, 4) and type(y.grad_fn).__name__ == "AddBackward0"
    assert layer(probe.randn(6, 5, 2), probe.randn(6, 5, 3)).shape == (6, 5, 4)


@pytest.mark.parametrize("batch", [(4,), (2, 3), ()])
def test_bilinear_gradcheck(device, batch):
    rng = np.random.default_rng(2)
    _check_layer(Bilinear(2, 3, 2, device=device), _randn(rng, *batch, 2, device=device),
                 _randn(rng, *batch, 3, device=device), second_order=True)


def test_bilinear_errors():
    w = probe.randn(5, 3, 4)
    with pytest.raises(RuntimeError, match="input2 size does not match weight size: got 3 but "
                                           "expected 4"):
        FL.bilinear(probe.randn(2, 3), probe.randn(2, 3), w)
    with pytest.raises(RuntimeError, match="input batch dimensions do not match at dim 0|"
                                           "input batch dimensions do not match: got 2 and 3"):
        FL.bilinear(probe.randn(2, 3), probe.randn(3, 4), w)
    with pytest.raises(RuntimeError, match="bias size does not match weight size: got 4 but "
                                           "expected 5"):
        FL.bilinear(probe.randn(2, 3), probe.randn(2, 4), w, probe.randn(4))


def test_flatten_unflatten():
    x = probe.randn(2, 3, 4, 5)
    assert Flatten()(x).shape == (2, 60)
    assert Flatten(0, 2)(x).shape == (24, 5)
    assert repr(Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    un = Unflatten(1, (2, 3))
    assert repr(un) == "Unflatten(dim=1, unflattened_size=(2, 3))"
    assert un(probe.randn(4, 6)).shape == (4, 2, 3)
    assert repr(Unflatten(1, [2, 3])) == "Unflatten(dim=1, unflattened_size=[2, 3])"
    with pytest.raises(TypeError, match="unflattened_size must be tuple of ints, but found "
                                        "element of type float at pos 1"):
        Unflatten(1, (2, 3.0))
    with pytest.raises(TypeError, match="unflattened_size must be a tuple of ints, but found "
                                        "type int"):
        Unflatten(1, 5)
    rng = np.random.default_rng(3)
    xin = _randn(rng, 2, 6)
    assert gradcheck(lambda t: Unflatten(1, (3, 2))(Flatten(0)(t).reshape(2, 6)), (xin,))


# ---------------------------------------------------------------------------------------------
# LayerNorm
# ---------------------------------------------------------------------------------------------

def test_layer_norm_repr_and_init():
    ln = LayerNorm(4)
    assert repr(ln) == "LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)"
    assert list(ln.state_dict()) == ["weight", "bias"]
    assert _np(ln.weight).tolist() == [1, 1, 1, 1] and _np(ln.bias).tolist() == [0, 0, 0, 0]
    nob = LayerNorm([3, 4], bias=False)
    assert repr(nob) == "LayerNorm((3, 4), eps=1e-05, elementwise_affine=True, bias=False)"
    assert list(nob.state_dict()) == ["weight"]
    plain = LayerNorm(4, elementwise_affine=False)
    assert list(plain.state_dict()) == [] and plain.weight is None


def test_layer_norm_values_and_dtype(device):
    x = probe.tensor([[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]], device=device)
    y = LayerNorm(3, device=device)(x)
    assert y.dtype == probe.float32
    expected = np.array([[-1.2247, 0.0, 1.2247], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(_np(y), expected, atol=1e-4)
    assert type(y.grad_fn).__name__ == "NativeLayerNormBackward0"


def test_layer_norm_is_stable_for_large_offsets():
    rng = np.random.default_rng(4)
    base = rng.standard_normal((4, 64))
    x = probe.tensor((base + 1e4).astype(np.float32))
    y = _np(FN.layer_norm(x, (64,)))
    xs = (base + 1e4).astype(np.float32).astype(np.float64)
    ref = (xs - xs.mean(-1, keepdims=True)) / np.sqrt(xs.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y, ref, atol=2e-3)
    assert np.isfinite(y).all()


@pytest.mark.parametrize("normalized, affine, bias", [
    ((4,), True, True), ((3, 4), True, True), ((4,), False, True), ((3, 4), True, False),
])
def test_layer_norm_gradcheck(device, normalized, affine, bias):
    rng = np.random.default_rng(5)
    ln = LayerNorm(normalized, elementwise_affine=affine, bias=bias, device=device)
    ln.double()
    with probe.no_grad():
        for p in ln.parameters():
            p.copy_(probe.tensor(rng.standard_normal(tuple(p.shape)), device=device))
    _check_layer(ln, _randn(rng, 2, 3, 4, device=device), second_order=True)


def test_layer_norm_output_can_be_modified_in_place():
    x = probe.randn(3, 4, requires_grad=True)
    y = FN.layer_norm(x, (4,))
    y.mul_(2)
    y.sum().backward()
    assert x.grad.shape == (3, 4)


def test_layer_norm_errors():
    with pytest.raises(RuntimeError, match=r"Given normalized_shape=\[4\], expected input with "
                                           r"shape \[\*, 4\], but got input of size\[2, 3\]"):
        FN.layer_norm(probe.randn(2, 3), (4,))
    with pytest.raises(RuntimeError, match=r"Expected weight to be of same shape as "
                                           r"normalized_shape, but got weight of shape \[4\] "
                                           r"and normalized_shape = \[3\]"):
        FN.layer_norm(probe.randn(2, 3), (3,), probe.ones(4))
    with pytest.raises(RuntimeError, match="mixed dtype"):
        FN.layer_norm(probe.randn(2, 3), (3,), probe.ones(3, dtype=probe.float64))
    with pytest.raises(NotImplementedError, match="LayerNormKernelImpl"):
        FN.layer_norm(probe.ones(2, 3, dtype=probe.int64), (3,))


def test_layer_norm_float16_input():
    x = probe.randn(2, 8).half()
    y = FN.layer_norm(x, (8,), probe.ones(8), probe.zeros(8))
    assert y.dtype == probe.float16
    ref = FN.layer_norm(x.float(), (8,))
    np.testing.assert_allclose(_np(y).astype(np.float32), _np(ref), atol=1e-2)


# ---------------------------------------------------------------------------------------------
# GroupNorm, RMSNorm, LocalResponseNorm, normalize, instance_norm
# ---------------------------------------------------------------------------------------------

def test_group_norm_repr_init_errors():
    gn = GroupNorm(2, 4)
    assert repr(gn) == "GroupNorm(2, 4, eps=1e-05, affine=True, bias=True)"
    assert list(gn.state_dict()) == ["weight", "bias"]
    with pytest.raises(ValueError, match=r"num_channels \(5\) must be divisible by num_groups "
                                         r"\(2\)"):
        GroupNorm(2, 5)
    with pytest.raises(RuntimeError, match="Expected number of channels in input to be "
                                           "divisible by num_groups"):
        FN.group_norm(probe.randn(2, 5, 3), 2)
    with pytest.raises(RuntimeError, match="Expected at least 2 dimensions for input tensor but "
                                           "received 1"):
        FN.group_norm(probe.randn(4), 2)
    with pytest.raises(RuntimeError, match=r"Expected weight to be a vector of size equal to the "
                                           r"number of channels in input, but got weight of "
                                           r"shape \[3\] and input of shape \[2, 4, 3\]"):
        FN.group_norm(probe.randn(2, 4, 3), 2, probe.ones(3))


@pytest.mark.parametrize("shape, groups", [((2, 4, 3), 2), ((2, 6, 2, 2), 3), ((3, 4), 1),
                                           ((2, 4, 5), 4)])
def test_group_norm_gradcheck(device, shape, groups):
    rng = np.random.default_rng(6)
    gn = GroupNorm(groups, shape[1], device=device).double()
    with probe.no_grad():
        gn.weight.copy_(probe.tensor(rng.standard_normal(shape[1]), device=device))
        gn.bias.copy_(probe.tensor(rng.standard_normal(shape[1]), device=device))
    _check_layer(gn, _randn(rng, *shape, device=device), second_order=True)
    y = gn(_randn(rng, *shape, device=device))
    assert type(y.grad_fn).__name__ == "NativeGroupNormBackward0"


def test_group_norm_values():
    x = probe.tensor(np.arange(16, dtype=np.float32).reshape(2, 4, 2))
    y = _np(FN.group_norm(x, 2))
    xs = np.arange(16, dtype=np.float64).reshape(2, 2, 4)
    ref = (xs - xs.mean(-1, keepdims=True)) / np.sqrt(xs.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y, ref.reshape(2, 4, 2), atol=1e-5)


def test_rms_norm_and_local_response_norm():
    rms = RMSNorm(4)
    assert repr(rms) == "RMSNorm((4,), eps=None, elementwise_affine=True)"
    assert list(rms.state_dict()) == ["weight"]
    x = probe.tensor([[1.0, 2.0, 3.0, 4.0]])
    expected = np.array([1, 2, 3, 4]) / np.sqrt(np.mean(np.array([1, 4, 9, 16])))
    np.testing.assert_allclose(_np(rms(x))[0], expected, rtol=1e-5)
    lrn = LocalResponseNorm(2)
    assert repr(lrn) == "LocalResponseNorm(2, alpha=0.0001, beta=0.75, k=1.0)"
    assert lrn(probe.randn(2, 4, 3)).shape == (2, 4, 3)
    with pytest.raises(ValueError, match="Expected 3D or higher dimensionality"):
        FN.local_response_norm(probe.randn(2), 2)


@pytest.mark.parametrize("name, fn, shape", [
    ("rms_norm", lambda x, w: FN.rms_norm(x, (3,), w), (2, 3)),
    ("lrn3d", lambda x, w: FN.local_response_norm(x, 3, alpha=0.5) * w.sum(), (2, 4, 3)),
    ("lrn4d", lambda x, w: FN.local_response_norm(x, 2, alpha=0.3, k=2.0) * w.sum(), (2, 3, 2, 2)),
    ("normalize", lambda x, w: FN.normalize(x, dim=1) * w.sum(), (3, 4)),
    ("normalize_p1", lambda x, w: FN.normalize(x, p=1, dim=0) * w.sum(), (3, 4)),
    ("instance_norm", lambda x, w: FN.instance_norm(x, weight=w, bias=w), (2, 3, 4)),
])
def test_other_norms_gradcheck(device, name, fn, shape):
    rng = np.random.default_rng(7)
    x = _randn(rng, *shape, device=device)
    w = _randn(rng, 3, device=device)
    assert gradcheck(fn, (x, w))
    assert gradgradcheck(fn, (x, w))


def test_instance_norm_running_stats_and_eval():
    rng = np.random.default_rng(8)
    data = rng.standard_normal((4, 3, 5))
    rm, rv = probe.zeros(3, dtype=probe.float64), probe.ones(3, dtype=probe.float64)
    FN.instance_norm(probe.tensor(data), rm, rv, momentum=0.5)
    np.testing.assert_allclose(_np(rm), 0.5 * data.mean(-1).mean(0))
    np.testing.assert_allclose(_np(rv), 0.5 + 0.5 * data.var(-1, ddof=1).mean(0))
    out = FN.instance_norm(probe.tensor(data), rm, rv, use_input_stats=False)
    ref = (data - _np(rm)[:, None]) / np.sqrt(_np(rv)[:, None] + 1e-5)
    np.testing.assert_allclose(_np(out), ref)
    with pytest.raises(ValueError, match="Expected more than 1 spatial element when training"):
        FN.instance_norm(probe.randn(2, 3))


def test_normalize_values():
    y = FN.normalize(probe.tensor([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(_np(y), [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# BatchNorm
# ---------------------------------------------------------------------------------------------

def test_batch_norm_repr_keys_buffers():
    bn = BatchNorm2d(2)
    assert repr(bn) == ("BatchNorm2d(2, eps=1e-05, momentum=0.1, affine=True, bias=True, "
                        "track_running_stats=True)")
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert bn.num_batches_tracked.dtype == probe.int64 and int(bn.num_batches_tracked) == 0
    assert _np(bn.running_mean).tolist() == [0, 0] and _np(bn.running_var).tolist() == [1, 1]
    bare = BatchNorm1d(3, momentum=None, affine=False, track_running_stats=False)
    assert repr(bare) == ("BatchNorm1d(3, eps=1e-05, momentum=None, affine=False, bias=False, "
                          "track_running_stats=False)")
    assert list(bare.state_dict()) == []
    assert bare.running_mean is None and bare.weight is None


def test_batch_norm_double_converts_buffers_but_not_counter():
    bn = BatchNorm2d(2).double()
    assert bn.running_mean.dtype == probe.float64
    assert bn.num_batches_tracked.dtype == probe.int64


def _reference_bn(x, mean_axes):
    mean = x.mean(axis=mean_axes)
    var_b = x.var(axis=mean_axes)
    var_u = x.var(axis=mean_axes, ddof=1)
    return mean, var_b, var_u


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_batch_norm_running_stats_over_steps(device, momentum):
    rng = np.random.default_rng(9)
    bn = BatchNorm2d(3, momentum=momentum, device=device).double()
    rm, rv = np.zeros(3), np.ones(3)
    for step in range(1, 5):
        data = rng.standard_normal((4, 3, 2, 5)) * step + step
        out = bn(probe.tensor(data, device=device))
        mean, var_b, var_u = _reference_bn(data, (0, 2, 3))
        factor = 1.0 / step if momentum is None else momentum
        rm = (1 - factor) * rm + factor * mean
        rv = (1 - factor) * rv + factor * var_u
        np.testing.assert_allclose(_np(bn.running_mean), rm, rtol=1e-10)
        np.testing.assert_allclose(_np(bn.running_var), rv, rtol=1e-10)
        assert int(bn.num_batches_tracked) == step
        ref = (data - mean[None, :, None, None]) / np.sqrt(var_b[None, :, None, None] + 1e-5)
        np.testing.assert_allclose(_np(out), ref, rtol=1e-9, atol=1e-9)


def test_batch_norm_eval_uses_running_stats(device):
    rng = np.random.default_rng(10)
    bn = BatchNorm1d(3, device=device).double()
    bn(probe.tensor(rng.standard_normal((8, 3)) * 2 + 1, device=device))
    bn.eval()
    before = int(bn.num_batches_tracked)
    rm, rv = _np(bn.running_mean).copy(), _np(bn.running_var).copy()
    data = rng.standard_normal((5, 3))
    out = bn(probe.tensor(data, device=device))
    np.testing.assert_allclose(_np(out), (data - rm) / np.sqrt(rv + 1e-5), rtol=1e-10)
    assert int(bn.num_batches_tracked) == before
    np.testing.assert_allclose(_np(bn.running_mean), rm)
    # eval with a single sample works (no batch statistics needed)
    assert bn(probe.tensor(data[:1], device=device)).shape == (1, 3)


def test_batch_norm_train_vs_eval_differ():
    bn = BatchNorm1d(2)
    x = probe.randn(6, 2) * 3 + 5
    train_out = bn(x)
    bn.eval()
    eval_out = bn(x)
    assert not np.allclose(_np(train_out), _np(eval_out))


def test_batch_norm_without_tracking_uses_batch_stats_in_eval():
    bn = BatchNorm1d(2, track_running_stats=False).double()
    bn.eval()
    data = np.array([[1.0, 2.0], [3.0, 6.0]])
    out = _np(bn(probe.tensor(data)))
    np.testing.assert_allclose(out, [[-1, -1], [1, 1]], atol=1e-5)


def test_batch_norm_running_stats_not_in_graph():
    bn = BatchNorm1d(2)
    version = bn.running_mean._version
    y = bn(probe.randn(4, 2, requires_grad=True))
    assert not bn.running_mean.requires_grad and bn.running_mean.grad_fn is None
    assert bn.running_mean._version == version
    assert type(y.grad_fn).__name__ == "NativeBatchNormBackward0"
    y.sum().backward()


def test_batch_norm_input_checks():
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        BatchNorm2d(3)(probe.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
        BatchNorm1d(3)(probe.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"expected 5D input \(got 4D input\)"):
        BatchNorm3d(3)(probe.randn(2, 3, 4, 4))
    with pytest.raises(RuntimeError, match="running_mean should contain 4 elements not 3"):
        BatchNorm1d(3)(probe.randn(2, 4))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when "
                                         r"training, got input size probe.Size\(\[1, 3\]\)"):
        BatchNorm1d(3)(probe.randn(1, 3))
    with pytest.raises(RuntimeError, match="running_mean must be defined in evaluation mode"):
        FN.batch_norm(probe.randn(4, 3), None, None, training=False)
    with pytest.raises(NotImplementedError, match="batch_norm"):
        FN.batch_norm(probe.ones(2, 3, dtype=probe.int64), None, None, training=True)


@pytest.mark.parametrize("cls, shape", [(BatchNorm1d, (4, 3)), (BatchNorm1d, (3, 3, 2)),
                                        (BatchNorm2d, (2, 3, 2, 2)),
                                        (BatchNorm3d, (2, 3, 2, 1, 2))])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(device, cls, shape, training):
    rng = np.random.default_rng(11)
    bn = cls(3, device=device).double()
    with probe.no_grad():
        bn.weight.copy_(probe.tensor(rng.standard_normal(3), device=device))
        bn.bias.copy_(probe.tensor(rng.standard_normal(3), device=device))
        bn.running_mean.copy_(probe.tensor(rng.standard_normal(3), device=device))
        bn.running_var.copy_(probe.tensor(rng.random(3) + 0.5, device=device))
    bn.train(training)
    _check_layer(bn, _randn(rng, *shape, device=device), second_order=True)


def test_batch_norm_affine_false_gradcheck():
    rng = np.random.default_rng(12)
    _check_layer(BatchNorm2d(2, affine=False), _randn(rng, 3, 2, 2, 2), second_order=True)


def test_batch_norm_float32_end_to_end(device):
    bn = BatchNorm2d(4, device=device)
    x = probe.randn(2, 4, 3, 3, device=device, requires_grad=True)
    y = bn(x)
    y.sum().backward()
    assert y.dtype == probe.float32 and x.grad.dtype == probe.float32
    assert bn.weight.grad.dtype == probe.float32
    assert bn.running_mean.dtype == probe.float32 and bn.running_var.dtype == probe.float32


def test_batch_norm_load_state_dict_roundtrip():
    a = BatchNorm2d(3)
    a(probe.randn(4, 3, 2, 2))
    b = BatchNorm2d(3)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(_np(b.running_mean), _np(a.running_mean))
    assert int(b.num_batches_tracked) == 1
