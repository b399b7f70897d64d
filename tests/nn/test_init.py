"""nn.init: the formulas, bounds and statistics of PyTorch's initialisers."""

from __future__ import annotations

import math

import numpy as np
import pytest

import probe
from probe.nn import init


def _np(t):
    return t.detach().numpy()


@pytest.mark.parametrize("name, param, expected", [
    ("linear", None, 1.0), ("conv2d", None, 1.0), ("sigmoid", None, 1.0),
    ("tanh", None, 5.0 / 3), ("relu", None, math.sqrt(2.0)),
    ("leaky_relu", None, math.sqrt(2.0 / (1 + 0.01**2))),
    ("leaky_relu", 0.2, math.sqrt(2.0 / 1.04)), ("selu", None, 0.75),
])
def test_calculate_gain(name, param, expected):
    assert init.calculate_gain(name, param) == pytest.approx(expected)


def test_calculate_gain_rejects_unknown():
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swishy")


def test_fans_of_linear_and_conv_weights():
    assert init._calculate_fan_in_and_fan_out(probe.empty(8, 3)) == (3, 8)
    assert init._calculate_fan_in_and_fan_out(probe.empty(4, 2, 3, 3)) == (18, 36)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(probe.empty(5))


def test_uniform_bounds_of_kaiming_and_xavier():
    probe.manual_seed(0)
    w = init.kaiming_uniform_(probe.empty(200, 50), a=math.sqrt(5))
    bound = math.sqrt(3.0) * math.sqrt(2.0 / 6.0) / math.sqrt(50)  # = 1/sqrt(fan_in)
    assert np.abs(_np(w)).max() <= bound + 1e-7
    assert np.abs(_np(w)).max() > 0.9 * bound
    x = init.xavier_uniform_(probe.empty(300, 100), gain=2.0)
    xb = 2.0 * math.sqrt(6.0 / 400)
    assert np.abs(_np(x)).max() <= xb + 1e-7


def test_normal_initialisers_have_the_right_std():
    probe.manual_seed(1)
    w = init.kaiming_normal_(probe.empty(400, 250), mode="fan_out", nonlinearity="relu")
    assert _np(w).std() == pytest.approx(math.sqrt(2.0) / math.sqrt(400), rel=0.03)
    x = init.xavier_normal_(probe.empty(500, 300))
    assert _np(x).std() == pytest.approx(math.sqrt(2.0 / 800), rel=0.03)
    n = init.normal_(probe.empty(100000), mean=3.0, std=0.5)
    assert _np(n).mean() == pytest.approx(3.0, abs=0.01)


def test_trunc_normal_stays_in_bounds():
    probe.manual_seed(2)
    w = init.trunc_normal_(probe.empty(20000), mean=0.0, std=1.0, a=-0.5, b=1.0)
    values = _np(w)
    assert values.min() >= -0.5 and values.max() <= 1.0
    assert values.std() > 0.3  # not collapsed onto the bounds


def test_orthogonal_rows_or_columns_are_orthonormal():
    probe.manual_seed(3)
    tall = _np(init.orthogonal_(probe.empty(6, 3))).astype(np.float64)
    np.testing.assert_allclose(tall.T @ tall, np.eye(3), atol=1e-5)
    wide = _np(init.orthogonal_(probe.empty(3, 6), gain=2.0)).astype(np.float64)
    np.testing.assert_allclose(wide @ wide.T, 4 * np.eye(3), atol=1e-5)


def test_constant_zeros_ones_eye_dirac_and_no_graph():
    w = probe.empty(3, 3, requires_grad=True)
    init.constant_(w, 0.5)
    assert w.tolist() == [[0.5] * 3] * 3 and w.grad_fn is None and w.requires_grad
    init.zeros_(w)
    assert not w.detach().numpy().any()
    init.ones_(w)
    assert w.detach().numpy().all()
    init.eye_(w)
    np.testing.assert_array_equal(_np(w), np.eye(3))
    conv = init.dirac_(probe.empty(2, 2, 3, 3))
    data = _np(conv)
    assert data[0, 0, 1, 1] == 1 and data[1, 1, 1, 1] == 1 and data.sum() == 2


def test_init_bumps_the_version_counter():
    w = probe.empty(4, 4)
    before = w._version
    init.xavier_uniform_(w)
    assert w._version > before
