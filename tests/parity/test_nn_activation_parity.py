"""Parity of probe's activation functions and layers with PyTorch: values, dtypes, grad_fn names
and gradients (input, and PReLU's weight) in float32 and float64, including the kinks where the
subgradient convention matters, in-place variants and extreme inputs."""

from __future__ import annotations

import numpy as np
import pytest

import probe
from probe.nn.functional_parts import activation as probe_F
from probe.nn.modules import activation as probe_nn

torch = pytest.importorskip("torch")
torch_F = torch.nn.functional

from harness import assert_same, compare, run  # noqa: E402

_RNG = np.random.default_rng(2024)
# Random values plus the kinks of every function (0, +-0.5, +-1, +-3, 6) and a few large ones.
_KINKS = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 6.0, 20.0, -20.0, 0.25, 1.5])
BASE = np.concatenate([_RNG.standard_normal(36) * 3, _KINKS]).reshape(6, 8)
EXTREME = np.array([[-1e4, -200.0, -88.0, -30.0, 30.0, 88.0, 200.0, 1e4]])


CASES = {
    "relu": lambda F, x: F.relu(x),
    "relu6": lambda F, x: F.relu6(x),
    "leaky_relu": lambda F, x: F.leaky_relu(x),
    "leaky_relu_0.2": lambda F, x: F.leaky_relu(x, 0.2),
    "elu": lambda F, x: F.elu(x),
    "elu_alpha": lambda F, x: F.elu(x, alpha=0.3),
    "selu": lambda F, x: F.selu(x),
    "celu": lambda F, x: F.celu(x, alpha=1.7),
    "gelu": lambda F, x: F.gelu(x),
    "gelu_tanh": lambda F, x: F.gelu(x, approximate="tanh"),
    "silu": lambda F, x: F.silu(x),
    "mish": lambda F, x: F.mish(x),
    "softplus": lambda F, x: F.softplus(x),
    "softplus_beta": lambda F, x: F.softplus(x, beta=2.0, threshold=6.0),
    "softsign": lambda F, x: F.softsign(x),
    "hardtanh": lambda F, x: F.hardtanh(x),
    "hardtanh_bounds": lambda F, x: F.hardtanh(x, -0.5, 3.0),
    "hardsigmoid": lambda F, x: F.hardsigmoid(x),
    "hardswish": lambda F, x: F.hardswish(x),
    "sigmoid": lambda F, x: F.sigmoid(x),
    "tanh": lambda F, x: F.tanh(x),
    "logsigmoid": lambda F, x: F.logsigmoid(x),
    "threshold": lambda F, x: F.threshold(x, 0.5, -2.0),
    "glu": lambda F, x: F.glu(x),
    "glu_dim0": lambda F, x: F.glu(x, dim=0),
    "softmax": lambda F, x: F.softmax(x, dim=1),
    "softmax_dim0": lambda F, x: F.softmax(x, dim=0),
    "log_softmax": lambda F, x: F.log_softmax(x, dim=-1),
    "softmin": lambda F, x: F.softmin(x, dim=1),
    "softmax_dtype": lambda F, x: F.softmax(x, dim=1, dtype=_lib(F).float64),
    "softshrink": lambda F, x: F.softshrink(x, 0.5),
    "hardshrink": lambda F, x: F.hardshrink(x),
    "tanhshrink": lambda F, x: F.tanhshrink(x),
}

EXTREME_CASES = ["elu", "selu", "celu", "gelu", "gelu_tanh", "silu", "mish", "softplus",
                 "softplus_beta", "logsigmoid", "sigmoid", "tanh", "hardswish", "softsign",
                 "log_softmax", "softmax", "glu"]


def _lib(F):
    return torch if F is torch_F else probe


# PyTorch computes these with float32 constants even in float64 (hardsigmoid's backward uses
# 1.0f / 6.0f; celu's 1 / alpha is rounded to float), so float64 agrees only to ~1e-7.
_FLOAT_CONSTANTS = {"celu": {"rtol": 1e-6, "atol": 1e-9}, "hardsigmoid": {"rtol": 1e-6,
                                                                          "atol": 1e-9}}
_FLOAT_CONSTANTS["CELU"] = _FLOAT_CONSTANTS["celu"]
_FLOAT_CONSTANTS["Hardsigmoid"] = _FLOAT_CONSTANTS["hardsigmoid"]


def _tol(dtype_name):
    return {"rtol": 1e-5, "atol": 1e-6} if dtype_name == "float32" else {"rtol": 1e-10,
                                                                         "atol": 1e-12}


def _compare(fn, data, dtype_name, extra=(), **tol):
    """``fn(F, x, *params)`` gets the functional module of the library; ``extra`` arrays are
    parameters that require grad (PReLU's weight)."""
    compare(lambda lib, *inputs: fn(probe_F if lib is probe else torch_F, *inputs),
            [data, *extra], dtype_name, quiet=True, **(_tol(dtype_name) | tol))


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_functional(name, dtype_name):
    tol = _FLOAT_CONSTANTS.get(name, {}) if dtype_name == "float64" else {}
    _compare(CASES[name], BASE, dtype_name, **tol)


@pytest.mark.parametrize("name", EXTREME_CASES)
def test_extreme_inputs(name):
    data = EXTREME if not name.startswith("glu") else np.concatenate([EXTREME, EXTREME[:, ::-1]],
                                                                     axis=1)
    _compare(CASES[name], data, "float32", atol=1e-5)


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("shape, wshape", [((6, 8), (8,)), ((2, 3, 4), (3,)), ((2, 3, 4), (1,)),
                                           ((5,), (1,)), ((), (1,)), ((2, 4, 3, 3), (4,))])
def test_prelu(shape, wshape, dtype_name):
    data = _RNG.standard_normal(shape)
    if data.size:
        data.reshape(-1)[0] = 0.0  # the kink
    weight = _RNG.standard_normal(wshape)
    _compare(lambda F, x, w: F.prelu(x, w), data, dtype_name, extra=(weight,))


@pytest.mark.parametrize("name, kwargs", [
    ("leaky_relu", {"negative_slope": 0.2}), ("elu", {}), ("selu", {}), ("celu", {}),
    ("threshold", {"threshold": 0.5, "value": 1.0}), ("hardtanh", {}), ("relu6", {}),
    ("silu", {}), ("mish", {}), ("hardsigmoid", {}), ("hardswish", {}), ("relu", {}),
])
@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_inplace(name, kwargs, dtype_name):
    def fn(F, x):
        y = x * 1.5  # a non-leaf: in-place is allowed and recorded
        return getattr(F, name)(y, inplace=True, **kwargs)

    tol = _FLOAT_CONSTANTS.get(name, {}) if dtype_name == "float64" else {}
    _compare(fn, BASE, dtype_name, **tol)


LAYERS = [
    ("ReLU", {}), ("ReLU6", {}), ("LeakyReLU", {"negative_slope": 0.05}), ("ELU", {"alpha": 2.0}),
    ("SELU", {}), ("CELU", {"alpha": 0.5}), ("GELU", {}), ("GELU", {"approximate": "tanh"}),
    ("SiLU", {}), ("Mish", {}), ("Softplus", {"beta": 0.5, "threshold": 5.0}), ("Softsign", {}),
    ("Hardtanh", {"min_val": -2.0, "max_val": 2.0}), ("Hardsigmoid", {}), ("Hardswish", {}),
    ("Sigmoid", {}), ("Tanh", {}), ("LogSigmoid", {}), ("Softmax", {"dim": 1}),
    ("LogSoftmax", {"dim": 1}), ("Softmin", {"dim": 0}),
    ("Threshold", {"threshold": 0.1, "value": 20.0}), ("GLU", {"dim": 1}), ("PReLU", {}),
    ("PReLU", {"num_parameters": 8, "init": 0.1}), ("Hardshrink", {"lambd": 1.0}),
    ("Softshrink", {}), ("Tanhshrink", {}),
]


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("cls_name, kwargs", LAYERS,
                         ids=[f"{c}-{i}" for i, (c, _) in enumerate(LAYERS)])
def test_layers(cls_name, kwargs, dtype_name):
    tm = getattr(torch.nn, cls_name)(**kwargs)
    pm = getattr(probe_nn, cls_name)(**kwargs)
    assert repr(pm) == repr(tm)
    assert list(pm.state_dict()) == list(tm.state_dict())
    for name, p in tm.named_parameters():
        np.testing.assert_array_equal(getattr(pm, name).detach().numpy(), p.detach().numpy())
    if dtype_name == "float64":
        tm.double()
        pm.double()
    results = [run(lib, lambda L, x, m=m: m(x), [BASE], dtype_name, out_grad="ones",
                   params=list(m.parameters())) for lib, m in ((probe, pm), (torch, tm))]
    tol = _tol(dtype_name)
    if cls_name in _FLOAT_CONSTANTS and dtype_name == "float64":
        tol = _FLOAT_CONSTANTS[cls_name]
    assert_same(*results, **tol)


def test_gelu_float32_matches_torch_on_large_tensor():
    rng = np.random.default_rng(3)
    data = (rng.standard_normal((64, 100)) * 2.5).astype(np.float32)
    grad = rng.standard_normal(data.shape).astype(np.float32)
    x = probe.tensor(data, requires_grad=True)
    y = probe.nn.functional.gelu(x)
    y.backward(probe.tensor(grad))
    tx = torch.tensor(data, requires_grad=True)
    ty = torch.nn.functional.gelu(tx)
    ty.backward(torch.tensor(grad))
    # probe's float32 Phi is off by at most 5 * 2**-24 absolute (PyTorch's 0.5 * (1 + erf) by
    # about 2**-24), so the outputs may differ by |x| * 6 * 2**-24 plus the final rounding: in
    # the far negative tail that is a large relative difference on a tiny output.
    out, want = y.detach().numpy().astype(np.float64), ty.detach().numpy().astype(np.float64)
    bound = np.abs(data) * 6 * 2.0**-24 + np.abs(want) * 2.0**-23
    assert np.all(np.abs(out - want) <= bound)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
