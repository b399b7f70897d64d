"""Parity with PyTorch for ``nn.utils``: clip_grad_norm_ (returned norm, its dtype, the clipped
gradients, every norm order, non-finite gradients and the error text), clip_grad_value_,
get_total_norm / clip_grads_with_norm_, and parameters_to_vector / vector_to_parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest

import probe
from probe.nn.parameter import Parameter
from probe.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
    parameters_to_vector,
    vector_to_parameters,
)

torch = pytest.importorskip("torch")
tutils = torch.nn.utils


def _np(t):
    return t.detach().cpu().numpy()


def _params(rng, shapes, dtypes, scale=1.0, special=None):
    """Matching (torch, probe) parameter lists with random gradients."""
    t_params, p_params = [], []
    for shape, dtype in zip(shapes, dtypes, strict=True):
        value = rng.standard_normal(shape).astype(dtype)
        grad = (rng.standard_normal(shape) * scale).astype(dtype)
        if special is not None:
            grad.ravel()[0] = special
        t = torch.nn.Parameter(torch.tensor(value))
        t.grad = torch.tensor(grad)
        p = Parameter(probe.tensor(value))
        p.grad = probe.tensor(grad)
        t_params.append(t)
        p_params.append(p)
    return t_params, p_params


SHAPES = [(4, 3), (3,), (2, 2, 2)]
F32 = [np.float32] * 3
F64 = [np.float64] * 3
MIXED = [np.float32, np.float64, np.float32]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, float("inf"), "inf", 0, -float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
@pytest.mark.parametrize("dtypes", [F32, F64, MIXED], ids=["float32", "float64", "mixed"])
def test_clip_grad_norm_parity(norm_type, max_norm, dtypes):
    rng = np.random.default_rng(0)
    t_params, p_params = _params(rng, SHAPES, dtypes)
    t_total = tutils.clip_grad_norm_(t_params, max_norm, norm_type=norm_type)
    p_total = clip_grad_norm_(p_params, max_norm, norm_type=norm_type)
    assert str(p_total.dtype).split(".")[-1] == str(t_total.dtype).split(".")[-1]
    assert p_total.shape == ()
    np.testing.assert_allclose(_np(p_total), _np(t_total), rtol=1e-5)
    for t, p in zip(t_params, p_params, strict=True):
        assert str(p.grad.dtype).split(".")[-1] == str(t.grad.dtype).split(".")[-1]
        np.testing.assert_allclose(_np(p.grad), _np(t.grad), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("special", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("norm_type", [2.0, float("inf"), 1.0])
def test_clip_grad_norm_nonfinite_parity(special, norm_type):
    rng = np.random.default_rng(1)
    t_params, p_params = _params(rng, SHAPES, F32, special=special)
    with pytest.raises(RuntimeError) as t_err:
        tutils.clip_grad_norm_(t_params, 1.0, norm_type=norm_type, error_if_nonfinite=True)
    with pytest.raises(RuntimeError) as p_err:
        clip_grad_norm_(p_params, 1.0, norm_type=norm_type, error_if_nonfinite=True)
    assert str(p_err.value) == str(t_err.value)
    for t, p in zip(t_params, p_params, strict=True):  # the error leaves grads untouched
        np.testing.assert_array_equal(_np(p.grad), _np(t.grad))
    t_total = tutils.clip_grad_norm_(t_params, 1.0, norm_type=norm_type)
    p_total = clip_grad_norm_(p_params, 1.0, norm_type=norm_type)
    np.testing.assert_allclose(_np(p_total), _np(t_total), rtol=1e-5)
    for t, p in zip(t_params, p_params, strict=True):
        np.testing.assert_allclose(_np(p.grad), _np(t.grad), rtol=1e-5, equal_nan=True)


def test_clip_grad_norm_no_grads_parity():
    t_total = tutils.clip_grad_norm_([torch.nn.Parameter(torch.zeros(2))], 1.0)
    p_total = clip_grad_norm_([Parameter(probe.zeros(2))], 1.0)
    assert float(p_total) == float(t_total) == 0.0
    assert p_total.dtype == probe.float32


@pytest.mark.parametrize("clip_value", [0.1, 0.7, 5])
@pytest.mark.parametrize("dtypes", [F32, F64], ids=["float32", "float64"])
def test_clip_grad_value_parity(clip_value, dtypes):
    rng = np.random.default_rng(2)
    t_params, p_params = _params(rng, SHAPES, dtypes)
    assert tutils.clip_grad_value_(t_params, clip_value) is None
    assert clip_grad_value_(p_params, clip_value) is None
    for t, p in zip(t_params, p_params, strict=True):
        np.testing.assert_array_equal(_np(p.grad), _np(t.grad))


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_get_total_norm_and_clip_with_norm_parity(norm_type):
    rng = np.random.default_rng(3)
    t_params, p_params = _params(rng, SHAPES, F32, scale=3.0)
    t_total = tutils.get_total_norm([t.grad for t in t_params], norm_type)
    p_total = get_total_norm([p.grad for p in p_params], norm_type)
    np.testing.assert_allclose(_np(p_total), _np(t_total), rtol=1e-6)
    tutils.clip_grads_with_norm_(t_params, 2.0, t_total)
    clip_grads_with_norm_(p_params, 2.0, p_total)
    for t, p in zip(t_params, p_params, strict=True):
        np.testing.assert_allclose(_np(p.grad), _np(t.grad), rtol=1e-5)


def test_clip_grad_norm_on_model_parity():
    from probe.nn.modules.linear import Linear

    rng = np.random.default_rng(4)
    t_model = torch.nn.Linear(5, 3)
    p_model = Linear(5, 3)
    p_model.load_state_dict({k: probe.tensor(v.detach().numpy())
                             for k, v in t_model.state_dict().items()})
    x = rng.standard_normal((7, 5)).astype(np.float32)
    (t_model(torch.tensor(x)) ** 2).sum().backward()
    (p_model(probe.tensor(x)) ** 2).sum().backward()
    t_total = tutils.clip_grad_norm_(t_model.parameters(), 0.25)
    p_total = clip_grad_norm_(p_model.parameters(), 0.25)
    assert math.isclose(float(p_total), float(t_total), rel_tol=1e-5)
    for (name, t), p in zip(t_model.named_parameters(), p_model.parameters(), strict=True):
        np.testing.assert_allclose(_np(p.grad), _np(t.grad), rtol=1e-4, atol=1e-6,
                                   err_msg=name)


def test_parameters_vector_roundtrip_parity():
    rng = np.random.default_rng(5)
    t_params, p_params = _params(rng, SHAPES, F32)
    t_vec = tutils.parameters_to_vector(t_params)
    p_vec = parameters_to_vector(p_params)
    np.testing.assert_array_equal(_np(p_vec), _np(t_vec))
    assert p_vec.grad_fn.name() == type(t_vec.grad_fn).__name__
    new = rng.standard_normal(t_vec.shape[0]).astype(np.float32)
    tutils.vector_to_parameters(torch.tensor(new), t_params)
    vector_to_parameters(probe.tensor(new), p_params)
    for t, p in zip(t_params, p_params, strict=True):
        np.testing.assert_array_equal(_np(p), _np(t))
        assert p.shape == tuple(t.shape)


@pytest.mark.parametrize("bad", [[1.0, 2.0], np.ones(3), 3.0])
def test_vector_to_parameters_error_parity(bad):
    with pytest.raises(TypeError) as t_err:
        tutils.vector_to_parameters(bad, [torch.nn.Parameter(torch.zeros(2))])
    with pytest.raises(TypeError) as p_err:
        vector_to_parameters(bad, [Parameter(probe.zeros(2))])
    assert str(p_err.value) == str(t_err.value)
