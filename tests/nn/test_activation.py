"""Activation functions and layers: gradients (gradcheck, gradgradcheck), in-place variants,
dtypes, extreme inputs, PyTorch's errors and the layers' reprs and parameters."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import probe
from probe.autograd import gradcheck, gradgradcheck
from probe.nn.functional_parts import activation as F
from probe.nn.modules import activation as nn


def to_np(t):
    return t.detach().cpu().numpy()


def _x(shape, device, seed=0, kinks=(0.0,), requires_grad=True):
    """float64 input whose entries stay clear of the function's kinks (finite differences)."""
    rng = np.random.default_rng(seed)
    data = rng.standard_normal(shape) * 2.5
    for k in kinks:
        close = np.abs(data - k) < 0.05
        data[close] += 0.1
    return probe.tensor(data, dtype=probe.float64, device=device, requires_grad=requires_grad)


# name -> (function, kinks)
FUNCTIONS = {
    "relu": (F.relu, (0.0,)),
    "relu6": (F.relu6, (0.0, 6.0)),
    "leaky_relu": (F.leaky_relu, (0.0,)),
    "leaky_relu_slope": (lambda x: F.leaky_relu(x, 0.3), (0.0,)),
    "elu": (F.elu, (0.0,)),
    "elu_alpha": (lambda x: F.elu(x, alpha=0.5), (0.0,)),
    "selu": (F.selu, (0.0,)),
    "celu": (F.celu, (0.0,)),
    "celu_alpha": (lambda x: F.celu(x, alpha=2.0), (0.0,)),
    "gelu": (F.gelu, ()),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), ()),
    "silu": (F.silu, ()),
    "mish": (F.mish, ()),
    "softplus": (F.softplus, ()),
    "softplus_beta_threshold": (lambda x: F.softplus(x, beta=2.0, threshold=3.0), (1.5,)),
    "softsign": (F.softsign, (0.0,)),
    "hardtanh": (F.hardtanh, (-1.0, 1.0)),
    "hardtanh_bounds": (lambda x: F.hardtanh(x, -2.0, 0.5), (-2.0, 0.5)),
    "hardsigmoid": (F.hardsigmoid, (-3.0, 3.0)),
    "hardswish": (F.hardswish, (-3.0, 3.0)),
    "sigmoid": (F.sigmoid, ()),
    "tanh": (F.tanh, ()),
    "logsigmoid": (F.logsigmoid, ()),
    "threshold": (lambda x: F.threshold(x, 0.5, -2.0), (0.5,)),
    "glu": (F.glu, ()),
    "glu_dim0": (lambda x: F.glu(x, 0), ()),
    "softmax": (lambda x: F.softmax(x, dim=1), ()),
    "log_softmax": (lambda x: F.log_softmax(x, dim=0), ()),
    "softmin": (lambda x: F.softmin(x, dim=-1), ()),
    "softshrink": (F.softshrink, (-0.5, 0.5)),
    "hardshrink": (F.hardshrink, (-0.5, 0.5)),
    "tanhshrink": (F.tanhshrink, ()),
}

SECOND_ORDER = ["gelu", "gelu_tanh", "softplus", "elu", "selu", "celu", "silu", "mish",
                "logsigmoid", "leaky_relu", "glu", "log_softmax", "hardswish"]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_gradcheck(name, device):
    fn, kinks = FUNCTIONS[name]
    x = _x((4, 6), device, kinks=kinks)
    assert gradcheck(fn, (x,))


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_gradgradcheck(name, device):
    fn, kinks = FUNCTIONS[name]
    x = _x((3, 4), device, seed=1, kinks=kinks)
    assert gradgradcheck(fn, (x,))


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_float32_stays_float32(name, device):
    fn, _ = FUNCTIONS[name]
    x = probe.randn(4, 6, device=device, requires_grad=True)
    y = fn(x)
    assert y.dtype == probe.float32
    y.sum().backward()
    assert x.grad.dtype == probe.float32


@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)])
def test_shapes(shape, device):
    x = probe.randn(*shape, device=device, dtype=probe.float64, requires_grad=True)
    for name in ("gelu", "silu", "elu", "softplus", "mish", "leaky_relu", "hardswish"):
        fn, _ = FUNCTIONS[name]
        y = fn(x)
        assert tuple(y.shape) == shape
        assert gradcheck(fn, (x,))


@pytest.mark.parametrize("name", ["softplus", "logsigmoid", "silu", "mish", "elu", "selu",
                                  "gelu", "gelu_tanh", "sigmoid", "glu"])
def test_extreme_inputs_are_finite_and_quiet(name, device):
    fn, _ = FUNCTIONS[name]
    x = probe.tensor([-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4, 50.0], device=device,
                     requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            y = fn(x)
            y.sum().backward()
    assert np.isfinite(to_np(y)).all()
    assert np.isfinite(to_np(x.grad)).all()


def test_known_values():
    x = probe.tensor([-2.0, -0.5, 0.0, 0.5, 3.0])
    np.testing.assert_allclose(to_np(F.gelu(x)), [-0.0455003, -0.1542688, 0.0, 0.3457312,
                                                  2.9959502], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(to_np(F.relu6(probe.tensor([-1.0, 3.0, 7.0]))), [0.0, 3.0, 6.0])
    np.testing.assert_allclose(to_np(F.softplus(probe.tensor([0.0, 30.0]))),
                               [np.log(2.0), 30.0], rtol=1e-6)
    np.testing.assert_allclose(to_np(F.logsigmoid(probe.tensor([-200.0, 0.0]))),
                               [-200.0, -np.log(2.0)], rtol=1e-6)


def test_prelu_gradcheck_input_and_weight(device):
    x = _x((3, 4, 5), device)
    w = probe.tensor([0.1, -0.3, 0.7, 0.25], dtype=probe.float64, device=device,
                     requires_grad=True)
    assert gradcheck(F.prelu, (x, w))
    assert gradgradcheck(F.prelu, (x, w))
    w1 = probe.tensor([0.2], dtype=probe.float64, device=device, requires_grad=True)
    assert gradcheck(F.prelu, (x, w1))
    x1 = _x((6,), device)
    assert gradcheck(F.prelu, (x1, w1))


def test_prelu_layer(device):
    m = nn.PReLU(4, init=0.1, device=device)
    assert repr(m) == "PReLU(num_parameters=4)"
    assert list(m.state_dict()) == ["weight"]
    np.testing.assert_allclose(to_np(m.weight), [0.1] * 4)
    assert m.weight.requires_grad and m.weight.dtype == probe.float32
    m.double()
    x = _x((2, 4, 3), device)
    assert gradcheck(lambda inp, w: F.prelu(inp, w), (x, m.weight))
    y = m(x)
    assert y.grad_fn.name() == "PreluKernelBackward0"
    y.sum().backward()
    assert tuple(m.weight.grad.shape) == (4,)


def test_prelu_errors():
    with pytest.raises(RuntimeError, match="Found parameter numbers = 3 and channel size = 5"):
        F.prelu(probe.randn(2, 5), probe.randn(3))
    with pytest.raises(RuntimeError, match="Expected `weight` to be a scalar or 1D tensor"):
        F.prelu(probe.randn(2, 3), probe.randn(3, 1))


@pytest.mark.parametrize("fn, name", [
    (lambda x: F.leaky_relu(x, 0.2, inplace=True), "LeakyReluBackward1"),
    (lambda x: F.elu(x, inplace=True), "EluBackward1"),
    (lambda x: F.selu(x, inplace=True), "EluBackward1"),
    (lambda x: F.celu(x, inplace=True), "CeluBackward1"),
    (lambda x: F.threshold(x, 0.1, 2.0, inplace=True), "ThresholdBackward1"),
    (lambda x: F.hardtanh(x, inplace=True), "HardtanhBackward0"),
    (lambda x: F.relu6(x, inplace=True), "HardtanhBackward0"),
    (lambda x: F.silu(x, inplace=True), "SiluBackward0"),
    (lambda x: F.mish(x, inplace=True), "MishBackward0"),
    (lambda x: F.hardsigmoid(x, inplace=True), "HardsigmoidBackward0"),
    (lambda x: F.hardswish(x, inplace=True), "HardswishBackward0"),
    (lambda x: F.relu(x, inplace=True), "ReluBackward0"),
])
def test_inplace(fn, name, device):
    base = _x((3, 4), device, kinks=(0.0, 0.1, 1.0, -1.0, 3.0, -3.0, 6.0))
    ref_in = base.detach().clone().requires_grad_(True)
    expected = fn(ref_in * 1)
    expected.sum().backward()
    inp = base * 1  # a non-leaf: in-place is allowed and recorded
    version = inp._version
    out = fn(inp)
    assert out is inp
    assert inp._version > version
    assert out.grad_fn.name() == name
    np.testing.assert_allclose(to_np(out), to_np(expected))
    out.sum().backward()
    np.testing.assert_allclose(to_np(base.grad), to_np(ref_in.grad))
    # Without autograd the input is simply overwritten.
    plain = probe.tensor([-1.0, 2.0], device=device)
    assert fn(plain) is plain
    assert plain._version == 1


def test_inplace_on_leaf_raises():
    x = probe.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        F.leaky_relu(x, inplace=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        F.elu_(x)


def test_errors():
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh."):
        F.gelu(probe.randn(3), approximate="fast")
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(probe.randn(3), 2.0, 1.0)
    with pytest.raises(RuntimeError, match="Halving dimension must be even, but dimension 1 is "
                                           "size 5"):
        F.glu(probe.randn(3, 5))
    with pytest.raises(RuntimeError, match="glu does not support scalars"):
        F.glu(probe.tensor(1.0))
    with pytest.raises(NotImplementedError, match="\"GeluKernelImpl\" not implemented for "
                                                  "'Long'"):
        F.gelu(probe.ones(3, dtype=probe.int64))
    with pytest.raises(NotImplementedError, match="\"elu_cpu\" not implemented for 'Long'"):
        F.elu(probe.ones(3, dtype=probe.int64))
    with pytest.raises(NotImplementedError, match="\"softplus_cpu\" not implemented"):
        F.softplus(probe.ones(3, dtype=probe.int64))
    with pytest.raises(AssertionError, match=r"max_val \(1\) must be greater than min_val"):
        nn.Hardtanh(2, 1)


def test_integer_inputs_where_pytorch_allows_them():
    x = probe.tensor([-3, 0, 2, 9])
    assert F.hardtanh(x).tolist() == [-1, 0, 1, 1]
    assert F.relu6(x).tolist() == [0, 0, 2, 6]
    assert F.threshold(x, 1, 5).tolist() == [5, 5, 2, 9]
    assert F.relu6(x).dtype == probe.int64


def test_softmax_implicit_dim_warns_and_picks_pytorch_dim():
    for shape, dim in [((4,), 0), ((2, 3), 1), ((2, 3, 4), 0), ((2, 3, 4, 5), 1)]:
        x = probe.randn(*shape)
        with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
            y = F.softmax(x)
        np.testing.assert_allclose(to_np(y), to_np(F.softmax(x, dim)), rtol=1e-6)
    with pytest.warns(UserWarning, match="Implicit dimension choice for log_softmax"):
        F.log_softmax(probe.randn(2, 3))
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
        F.softmin(probe.randn(2, 3))


def test_softmax_dtype_argument():
    x = probe.randn(2, 3)
    y = F.softmax(x, dim=1, dtype=probe.float64)
    assert y.dtype == probe.float64
    assert F.log_softmax(x, 1, dtype=probe.float64).dtype == probe.float64
    assert F.softmax(x, 1).grad_fn is None


LAYER_REPRS = [
    (lambda: nn.ReLU(), "ReLU()"),
    (lambda: nn.ReLU(inplace=True), "ReLU(inplace=True)"),
    (lambda: nn.ReLU6(), "ReLU6()"),
    (lambda: nn.ReLU6(True), "ReLU6(inplace=True)"),
    (lambda: nn.LeakyReLU(), "LeakyReLU(negative_slope=0.01)"),
    (lambda: nn.LeakyReLU(0.2, True), "LeakyReLU(negative_slope=0.2, inplace=True)"),
    (lambda: nn.ELU(), "ELU(alpha=1.0)"),
    (lambda: nn.ELU(0.5, True), "ELU(alpha=0.5, inplace=True)"),
    (lambda: nn.SELU(), "SELU()"),
    (lambda: nn.CELU(2.0), "CELU(alpha=2.0)"),
    (lambda: nn.GELU(), "GELU(approximate='none')"),
    (lambda: nn.GELU("tanh"), "GELU(approximate='tanh')"),
    (lambda: nn.SiLU(), "SiLU()"),
    (lambda: nn.Mish(True), "Mish(inplace=True)"),
    (lambda: nn.Softplus(), "Softplus(beta=1.0, threshold=20.0)"),
    (lambda: nn.Softsign(), "Softsign()"),
    (lambda: nn.Hardtanh(), "Hardtanh(min_val=-1.0, max_val=1.0)"),
    (lambda: nn.Hardtanh(-2, 2, True), "Hardtanh(min_val=-2, max_val=2, inplace=True)"),
    (lambda: nn.Hardsigmoid(), "Hardsigmoid()"),
    (lambda: nn.Hardswish(True), "Hardswish()"),
    (lambda: nn.Sigmoid(), "Sigmoid()"),
    (lambda: nn.Tanh(), "Tanh()"),
    (lambda: nn.LogSigmoid(), "LogSigmoid()"),
    (lambda: nn.Softmax(), "Softmax(dim=None)"),
    (lambda: nn.Softmax(dim=1), "Softmax(dim=1)"),
    (lambda: nn.LogSoftmax(1), "LogSoftmax(dim=1)"),
    (lambda: nn.Softmin(0), "Softmin(dim=0)"),
    (lambda: nn.Threshold(0.1, 20), "Threshold(threshold=0.1, value=20)"),
    (lambda: nn.Threshold(0.1, 20, True), "Threshold(threshold=0.1, value=20, inplace=True)"),
    (lambda: nn.GLU(), "GLU(dim=-1)"),
    (lambda: nn.PReLU(), "PReLU(num_parameters=1)"),
    (lambda: nn.Hardshrink(), "Hardshrink(0.5)"),
    (lambda: nn.Softshrink(0.3), "Softshrink(0.3)"),
    (lambda: nn.Tanhshrink(), "Tanhshrink()"),
]


@pytest.mark.parametrize("make, text", LAYER_REPRS, ids=[t for _, t in LAYER_REPRS])
def test_layer_repr(make, text):
    m = make()
    assert repr(m) == text
    if not isinstance(m, nn.PReLU):
        assert list(m.state_dict()) == []


LAYERS = [
    (nn.ReLU, {}), (nn.ReLU6, {}), (nn.LeakyReLU, {"negative_slope": 0.1}), (nn.ELU, {}),
    (nn.SELU, {}), (nn.CELU, {"alpha": 1.5}), (nn.GELU, {}), (nn.GELU, {"approximate": "tanh"}),
    (nn.SiLU, {}), (nn.Mish, {}), (nn.Softplus, {"beta": 2.0}), (nn.Softsign, {}),
    (nn.Hardtanh, {}), (nn.Hardsigmoid, {}), (nn.Hardswish, {}), (nn.Sigmoid, {}), (nn.Tanh, {}),
    (nn.LogSigmoid, {}), (nn.Softmax, {"dim": 1}), (nn.LogSoftmax, {"dim": 1}),
    (nn.Softmin, {"dim": 0}), (nn.Threshold, {"threshold": 0.2, "value": -1.0}),
    (nn.GLU, {"dim": 1}), (nn.PReLU, {}), (nn.Softshrink, {}), (nn.Hardshrink, {}),
    (nn.Tanhshrink, {}),
]


@pytest.mark.parametrize("cls, kwargs", LAYERS,
                         ids=[f"{c.__name__}-{i}" for i, (c, _) in enumerate(LAYERS)])
def test_layer_gradcheck(cls, kwargs, device):
    m = cls(**kwargs).double().to(device)
    x = _x((4, 6), device, kinks=(0.0, 0.2, -0.5, 0.5, 1.0, -1.0, 3.0, -3.0, 6.0))
    params = list(m.parameters())
    assert gradcheck(lambda inp, *ps: m(inp), (x, *params))


def test_layer_inplace_flag_writes_input():
    m = nn.ReLU(inplace=True)
    x = probe.tensor([-1.0, 2.0])
    assert m(x) is x
    assert x.tolist() == [0.0, 2.0]
    m = nn.LeakyReLU(0.5, inplace=True)
    x = probe.tensor([-1.0, 2.0])
    assert m(x) is x
    assert x.tolist() == [-0.5, 2.0]


def test_hardtanh_deprecated_keywords():
    with pytest.warns(FutureWarning, match="min_value"):
        m = nn.Hardtanh(min_value=-2.0)
    assert m.min_val == -2.0


def test_no_grad_keeps_nothing_alive():
    from probe.engine.autograd import _NO_GRAD_CTX

    x = probe.randn(64, 64)
    with probe.no_grad():
        y = F.gelu(x)
    np.testing.assert_allclose(to_np(y), to_np(F.gelu(x.detach())), rtol=1e-6)
    assert not any(isinstance(v, np.ndarray) and v.size >= x.numel()
                   for v in vars(_NO_GRAD_CTX).values())
