"""PyTorch's type promotion (which differs from NumPy 2's) and float32 staying float32 through a
whole training step."""

from __future__ import annotations

import numpy as np
import pytest

import probe


def T(dt, shape=(2,)):
    return probe.ones(shape, dtype=dt)


def S(dt):
    return probe.tensor(1, dtype=dt)


f16, f32, f64 = probe.float16, probe.float32, probe.float64
i8, i32, i64, u8, b = probe.int8, probe.int32, probe.int64, probe.uint8, probe.bool

# Each expected dtype was read from torch 2.13 (``tests/parity`` re-checks the same table).
PROMOTION_CASES = {
    "f32+f64": (lambda: T(f32) + T(f64), f64),
    "f32+pyfloat": (lambda: T(f32) + 1.5, f32),
    "i64+pyfloat": (lambda: T(i64) + 1.5, f32),
    "i64/i64": (lambda: T(i64) / T(i64), f32),
    "i32/pyint": (lambda: T(i32) / 2, f32),
    "f32+0d f64": (lambda: T(f32) + S(f64), f32),
    "f32*i64": (lambda: T(f32) * T(i64), f32),
    "i32+i64": (lambda: T(i32) + T(i64), i64),
    "u8+i8": (lambda: T(u8) + T(i8), probe.int16),
    "bool+bool": (lambda: T(b) + T(b), b),
    "bool+pyint": (lambda: T(b) + 1, i64),
    "bool+pyfloat": (lambda: T(b) + 1.0, f32),
    "i32+pyint": (lambda: T(i32) + 1, i32),
    "i32+0d i64": (lambda: T(i32) + S(i64), i32),
    "f16+0d f32": (lambda: T(f16) + S(f32), f16),
    "i64+0d f64": (lambda: T(i64) + S(f64), f64),
    "0d i64+0d f32": (lambda: S(i64) + S(f32), f32),
    "0d f64*0d f32": (lambda: S(f64) * S(f32), f64),
    "f16+f32": (lambda: T(f16) + T(f32), f32),
    "f16+i64": (lambda: T(f16) + T(i64), f16),
    "i8*pyfloat": (lambda: T(i8) * 2.5, f32),
    "u8+pyint": (lambda: T(u8) + 3, u8),
    "f32**pyint": (lambda: T(f32) ** 2, f32),
    "i64**pyfloat": (lambda: T(i64) ** 0.5, f32),
    "pyint-i32": (lambda: 1 - T(i32), i32),
    "pyfloat/i32": (lambda: 1.0 / T(i32), f32),
    "i64//i64": (lambda: T(i64) // T(i64), i64),
    "0d f64-f32": (lambda: S(f64) - T(f32), f32),
    "i32*0d f32": (lambda: T(i32) * S(f32), f32),
    "f32+np.float64": (lambda: T(f32) + np.float64(2.0), f32),
    "f32*np.float64": (lambda: T(f32) * np.float64(2.0), f32),
    "np.float64*f32": (lambda: np.float64(2.0) * T(f32), f32),
    "f32+np.int64": (lambda: T(f32) + np.int64(2), f32),
}


@pytest.mark.parametrize("case", list(PROMOTION_CASES))
def test_promotion(case):
    fn, expected = PROMOTION_CASES[case]
    assert fn().dtype == expected


def test_numpy_would_differ():
    # These are the cases where NumPy 2 (NEP 50) promotes to float64 and PyTorch does not.
    a32 = np.ones(2, dtype=np.float32)
    assert (a32 * np.float64(2.0)).dtype == np.float64
    assert (a32 + np.array(1.0)).dtype == np.float64
    assert (a32 * np.ones(2, dtype=np.int64)).dtype == np.float64
    assert (np.ones(2, dtype=np.int64) / np.ones(2, dtype=np.int64)).dtype == np.float64
    t32 = probe.ones(2)
    assert (t32 * probe.tensor(2.0, dtype=f64)).dtype == f32
    assert (t32 * probe.ones(2, dtype=i64)).dtype == f32
    assert (probe.ones(2, dtype=i64) / probe.ones(2, dtype=i64)).dtype == f32


def test_promotion_values():
    r = probe.tensor([1, 2, 3]) / probe.tensor([2, 2, 2])
    assert r.tolist() == [0.5, 1.0, 1.5]
    assert (probe.tensor([1, 2]) + 0.5).tolist() == [1.5, 2.5]


def test_in_place_keeps_dtype_and_refuses_unsafe_cast():
    t = probe.ones(2)
    t.add_(probe.ones(2, dtype=f64))
    assert t.dtype == f32
    i = probe.ones(2, dtype=i64)
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired "
                                           "output type Long"):
        i.add_(1.5)
    assert i.tolist() == [1, 1]


def test_promote_types():
    assert probe.promote_types(u8, i8) == probe.int16
    assert probe.promote_types(f16, i64) == f16
    assert probe.promote_types(b, i8) == i8
    assert probe.promote_types(f32, f64) == f64
    assert probe.promote_types(i32, f32) == f32


@pytest.fixture
def default_float64():
    probe.set_default_dtype(probe.float64)
    yield
    probe.set_default_dtype(probe.float32)


def test_default_dtype(default_float64):
    assert probe.get_default_dtype() == f64
    assert probe.tensor([1.0]).dtype == f64
    assert probe.zeros(2).dtype == f64
    assert (T(i64) + 1.5).dtype == f64
    assert (T(i64) / T(i64)).dtype == f64
    assert (T(f32) + 1.5).dtype == f32


def test_set_default_dtype_rejects_int():
    with pytest.raises(TypeError):
        probe.set_default_dtype(probe.int64)
    assert probe.get_default_dtype() == f32


def test_grad_dtype_follows_input():
    x = probe.ones(3, requires_grad=True)
    w = probe.ones(3, dtype=f64, requires_grad=True)
    (x * w).sum().backward()
    assert x.grad.dtype == f32
    assert w.grad.dtype == f64


def test_float32_training_step():
    """A linear layer (matmul + bias), tanh, mean-squared error, backward and a hand-written SGD
    update: every intermediate and every gradient stays float32."""
    rng = np.random.default_rng(0)
    x = probe.tensor(rng.standard_normal((8, 5)), dtype=f32)
    target = probe.tensor(rng.standard_normal((8, 3)), dtype=f32)
    w = probe.tensor(rng.standard_normal((5, 3)) * 0.1, dtype=f32, requires_grad=True)
    bias = probe.zeros(3, requires_grad=True)
    lr = 0.1  # a Python float: weak, must not promote

    losses = []
    for _ in range(3):
        z = x.matmul(w)
        assert z.dtype == f32
        h = z + bias
        assert h.dtype == f32
        y = probe.tanh(h)
        assert y.dtype == f32
        diff = y - target
        assert diff.dtype == f32
        sq = diff ** 2
        assert sq.dtype == f32
        loss = sq.mean()
        assert loss.dtype == f32 and loss.shape == ()
        loss.backward()
        assert w.grad.dtype == f32 and w.grad.shape == (5, 3)
        assert bias.grad.dtype == f32 and bias.grad.shape == (3,)
        with probe.no_grad():
            w -= lr * w.grad
            bias.sub_(bias.grad * lr)
            scale = probe.tensor(0.5, dtype=f64)  # a 0-d float64 must not promote either
            w.mul_(1.0 + 0.0 * scale)
        assert w.dtype == f32 and bias.dtype == f32
        assert w.is_leaf and w.requires_grad
        w.grad = None
        bias.grad = None
        losses.append(loss.item())
    assert losses[-1] < losses[0]

    # The same step by hand in float64 NumPy agrees (to float32 precision) on the gradient.
    wn = w.detach().numpy().astype(np.float64)
    bn = bias.detach().numpy().astype(np.float64)
    xn, tn = x.numpy().astype(np.float64), target.numpy().astype(np.float64)
    yn = np.tanh(xn @ wn + bn)
    grad_h = 2 * (yn - tn) / yn.size * (1 - yn ** 2)
    loss = probe.tanh(x.matmul(w) + bias).sub(target).pow(2).mean()
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), xn.T @ grad_h, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bias.grad.numpy(), grad_h.sum(0), rtol=1e-4, atol=1e-6)
    assert w.grad.dtype == f32
