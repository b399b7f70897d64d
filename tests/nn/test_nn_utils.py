"""``probe.nn.utils``: clip_grad_norm_ / clip_grad_value_ / get_total_norm /
clip_grads_with_norm_ (results, in-place updates, dtypes, devices, errors and warnings) and
parameters_to_vector / vector_to_parameters."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import probe
from probe.nn.modules.linear import Linear
from probe.nn.parameter import Parameter
from probe.nn.utils import (
    clip_grad_norm,
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
    parameters_to_vector,
    vector_to_parameters,
)


def _np(t):
    return t.detach().cpu().numpy()


def _param(values, grad, device="cpu", dtype=probe.float32):
    p = Parameter(probe.tensor(values, dtype=dtype, device=device))
    p.grad = probe.tensor(grad, dtype=dtype, device=device)
    return p


def test_clip_grad_norm_scales_in_place(device):
    a = _param([0.0, 0.0], [3.0, 0.0], device)
    b = _param([0.0], [4.0], device)
    grad_a = a.grad
    version = grad_a._version
    total = clip_grad_norm_([a, b], max_norm=1.0)
    assert total.shape == () and total.dtype == probe.float32
    assert total.device.type == device
    assert math.isclose(float(total), 5.0, rel_tol=1e-6)
    np.testing.assert_allclose(_np(a.grad), [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(_np(b.grad), [0.8], rtol=1e-5)
    assert a.grad is grad_a and grad_a._version > version  # in place, as PyTorch


def test_clip_grad_norm_below_max_is_unchanged_and_returns_norm():
    a = _param([0.0, 0.0], [0.3, 0.4])
    total = clip_grad_norm_(a, max_norm=10.0)  # a single tensor is accepted
    assert math.isclose(float(total), 0.5, rel_tol=1e-6)
    np.testing.assert_allclose(_np(a.grad), [0.3, 0.4], rtol=1e-6)


def test_clip_grad_norm_skips_params_without_grad():
    a = _param([0.0], [2.0])
    b = Parameter(probe.zeros(3))
    total = clip_grad_norm_([a, b], 1.0)
    assert math.isclose(float(total), 2.0, rel_tol=1e-6) and b.grad is None
    assert math.isclose(float(a.grad[0]), 1.0, rel_tol=1e-5)


@pytest.mark.parametrize("norm_type, expected", [
    (2.0, math.sqrt(1 + 4 + 9 + 16)), (1, 10.0), (float("inf"), 4.0), ("inf", 4.0),
    (3.0, (1 + 8 + 27 + 64) ** (1 / 3)), (0, 2.0), (-float("inf"), 1.0),
])
def test_get_total_norm_orders(norm_type, expected):
    # the norm_type-norm of the per-tensor norm_type-norms
    tensors = [probe.tensor([1.0, -2.0]), probe.tensor([-3.0, 4.0])]
    total = get_total_norm(tensors, norm_type)
    assert math.isclose(float(total), expected, rel_tol=1e-6)


def test_get_total_norm_empty_and_mixed_dtypes():
    empty = get_total_norm([])
    assert float(empty) == 0.0 and empty.dtype == probe.float32
    mixed = get_total_norm([probe.ones(3), probe.ones(2, dtype=probe.float64)])
    assert mixed.dtype == probe.float64
    assert math.isclose(float(mixed), math.sqrt(5), rel_tol=1e-6)


def test_clip_grad_norm_float64_stays_float64():
    a = _param([0.0, 0.0], [3.0, 4.0], dtype=probe.float64)
    total = clip_grad_norm_([a], 1.0)
    assert total.dtype == probe.float64 and a.grad.dtype == probe.float64
    np.testing.assert_allclose(_np(a.grad), [0.6, 0.8], rtol=1e-6)


def test_clip_grad_norm_mixed_dtypes_keep_grad_dtypes():
    a = _param([0.0], [3.0])
    b = _param([0.0], [4.0], dtype=probe.float64)
    total = clip_grad_norm_([a, b], 1.0)
    assert total.dtype == probe.float64
    assert a.grad.dtype == probe.float32 and b.grad.dtype == probe.float64
    np.testing.assert_allclose(_np(a.grad), [0.6], rtol=1e-5)


def test_clip_grad_norm_nonfinite():
    a = _param([0.0, 0.0, 0.0], [1.0, float("nan"), 2.0])
    with pytest.raises(RuntimeError) as info:
        clip_grad_norm_([a], 1.0, error_if_nonfinite=True)
    assert str(info.value) == (
        "The total norm of order 2.0 for gradients from `parameters` is non-finite, so it cannot "
        "be clipped. To disable this error and scale the gradients by the non-finite norm "
        "anyway, set `error_if_nonfinite=False`")
    assert np.isnan(_np(a.grad)[1]) and _np(a.grad)[0] == 1.0  # untouched by the error
    total = clip_grad_norm_([a], 1.0)
    assert math.isnan(float(total)) and np.isnan(_np(a.grad)).all()
    b = _param([0.0], [float("inf")])
    with pytest.raises(RuntimeError, match="The total norm of order inf for gradients"):
        clip_grad_norm_([b], 1.0, norm_type="inf", error_if_nonfinite=True)


def test_clip_grad_norm_empty_generator_warns():
    with pytest.warns(UserWarning, match="`parameters` is an empty generator, no gradient "
                                         "clipping will occur."):
        total = clip_grad_norm_((p for p in []), 1.0)
    assert float(total) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clip_grad_norm_([], 1.0)  # an empty list does not warn


def test_clip_grad_norm_deprecated_alias():
    a = _param([0.0], [4.0])
    with pytest.warns(FutureWarning, match="clip_grad_norm` is now deprecated in favor of"):
        total = clip_grad_norm([a], 2.0)
    assert math.isclose(float(total), 4.0) and math.isclose(float(a.grad[0]), 2.0, rel_tol=1e-5)


def test_clip_grads_with_norm_():
    a = _param([0.0, 0.0], [3.0, 4.0])
    total = get_total_norm([a.grad])
    clip_grads_with_norm_([a], 2.5, total)
    np.testing.assert_allclose(_np(a.grad), [1.5, 2.0], rtol=1e-5)
    clip_grads_with_norm_([Parameter(probe.zeros(1))], 1.0, total)  # no grads: nothing to do


def test_clip_grad_norm_foreach_flag_accepted():
    a = _param([0.0], [4.0])
    assert math.isclose(float(clip_grad_norm_([a], 1.0, foreach=True)), 4.0)
    assert math.isclose(float(clip_grad_norm_([a], 1.0, foreach=False)), 1.0, rel_tol=1e-5)


def test_clip_grad_norm_model(device):
    layer = Linear(4, 3, device=device)
    layer(probe.randn(5, 4, device=device)).pow(2).sum().backward()
    grads = np.concatenate([_np(p.grad).ravel() for p in layer.parameters()])
    total = clip_grad_norm_(layer.parameters(), 0.1)
    assert math.isclose(float(total), float(np.linalg.norm(grads)), rel_tol=1e-5)
    after = np.concatenate([_np(p.grad).ravel() for p in layer.parameters()])
    assert math.isclose(float(np.linalg.norm(after)), 0.1, rel_tol=1e-4)


def test_clip_grad_norm_runs_without_grad_recording():
    a = _param([0.0], [4.0])
    a.grad.requires_grad_(True)
    total = clip_grad_norm_([a], 1.0)
    assert total.grad_fn is None and not total.requires_grad


def test_clip_grad_value_(device):
    a = _param([0.0, 0.0, 0.0], [-3.0, 0.5, 4.0], device)
    b = Parameter(probe.zeros(2, device=device))
    assert clip_grad_value_([a, b], 1.0) is None
    np.testing.assert_allclose(_np(a.grad), [-1.0, 0.5, 1.0])
    assert b.grad is None
    clip_grad_value_(a, 0.25)
    np.testing.assert_allclose(_np(a.grad), [-0.25, 0.25, 0.25])


def test_parameters_to_vector_and_back(device):
    layer = Linear(3, 2, device=device)
    vec = parameters_to_vector(layer.parameters())
    assert vec.shape == (8,) and vec.requires_grad and vec.grad_fn.name() == "CatBackward0"
    np.testing.assert_array_equal(_np(vec[:6]), _np(layer.weight).ravel())
    vec.sum().backward()
    np.testing.assert_array_equal(_np(layer.weight.grad), np.ones((2, 3)))

    new = probe.arange(8.0, device=device)
    vector_to_parameters(new, layer.parameters())
    np.testing.assert_array_equal(_np(layer.weight), [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(_np(layer.bias), [6, 7])
    assert isinstance(layer.weight, Parameter) and layer.weight.requires_grad


def test_vector_to_parameters_errors():
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: list"):
        vector_to_parameters([1.0, 2.0], [Parameter(probe.zeros(2))])
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: numpy.ndarray"):
        vector_to_parameters(np.ones(2), [Parameter(probe.zeros(2))])


@pytest.mark.cuda
def test_parameters_on_two_devices_error():
    if not probe.cuda.is_available():
        pytest.skip("CUDA not available (no CuPy or GPU)")
    params = [Parameter(probe.zeros(2)), Parameter(probe.zeros(2, device="cuda"))]
    with pytest.raises(TypeError, match="Found two parameters on different devices, this is "
                                        "currently not supported."):
        parameters_to_vector(params)


def test_nn_utils_exports_rnn():
    import probe.nn.utils as utils

    assert "rnn" in utils.__all__ and utils.rnn.__name__ == "probe.nn.utils.rnn"
    assert utils.__doc__
