"""Parity with PyTorch for in-place Tensor methods: values, dtypes, version counters, grads
through in-place ops on non-leaves, grad_fn names and error messages."""

from __future__ import annotations

import numpy as np
import pytest

import probe

torch = pytest.importorskip("torch")

X = np.array([[0.5, -1.5, 2.0], [-0.25, 1.25, -3.0]])
W = np.array([[1.5, 2.0, -0.5], [4.0, -1.0, 0.75]])
POS = np.array([[0.5, 1.5, 2.0], [0.25, 1.25, 3.0]])

# (id, call(T, y, w) -> result); ``w`` is a tensor of X's shape (requires grad in the grad test).
CASES = [
    ("add_scalar", lambda T, y, w: y.add_(2.5)),
    ("add_tensor", lambda T, y, w: y.add_(w)),
    ("add_alpha", lambda T, y, w: y.add_(w, alpha=-0.5)),
    ("add_broadcast", lambda T, y, w: y.add_(w[0])),
    ("sub_scalar", lambda T, y, w: y.sub_(1)),
    ("sub_alpha", lambda T, y, w: y.sub_(w, alpha=2)),
    ("mul_scalar", lambda T, y, w: y.mul_(3)),
    ("mul_tensor", lambda T, y, w: y.mul_(w)),
    ("div_scalar", lambda T, y, w: y.div_(4)),
    ("div_tensor", lambda T, y, w: y.div_(w)),
    ("pow_scalar", lambda T, y, w: y.pow_(2)),
    ("addcmul_", lambda T, y, w: y.addcmul_(w, w, value=0.5)),
    ("addcdiv_", lambda T, y, w: y.addcdiv_(w, w * w + 1, value=-2)),
    ("lerp_scalar", lambda T, y, w: y.lerp_(w, 0.3)),
    ("lerp_tensor", lambda T, y, w: y.lerp_(w, w * 0.1)),
    ("clamp_", lambda T, y, w: y.clamp_(-1, 1)),
    ("clamp_min", lambda T, y, w: y.clamp_(min=0)),
    ("clamp_min_", lambda T, y, w: y.clamp_min_(0.1)),
    ("clamp_max_", lambda T, y, w: y.clamp_max_(0.1)),
    ("clip_", lambda T, y, w: y.clip_(-0.5, 0.5)),
    ("zero_", lambda T, y, w: y.zero_()),
    ("fill_", lambda T, y, w: y.fill_(2)),
    ("fill_tensor", lambda T, y, w: y.fill_(w.sum())),
    ("copy_", lambda T, y, w: y.copy_(w)),
    ("copy_broadcast", lambda T, y, w: y.copy_(w[1])),
    ("neg_", lambda T, y, w: y.neg_()),
    ("abs_", lambda T, y, w: y.abs_()),
    ("exp_", lambda T, y, w: y.exp_()),
    ("sin_", lambda T, y, w: y.sin_()),
    ("cos_", lambda T, y, w: y.cos_()),
    ("tanh_", lambda T, y, w: y.tanh_()),
    ("sigmoid_", lambda T, y, w: y.sigmoid_()),
    ("relu_", lambda T, y, w: y.relu_()),
    ("T.relu_", lambda T, y, w: T.relu_(y)),
    ("floor_", lambda T, y, w: y.floor_()),
    ("ceil_", lambda T, y, w: y.ceil_()),
    ("round_", lambda T, y, w: y.round_()),
    ("trunc_", lambda T, y, w: y.trunc_()),
    ("sign_", lambda T, y, w: y.sign_()),
    ("reciprocal_", lambda T, y, w: y.reciprocal_()),
    ("iadd", lambda T, y, w: y.__iadd__(w)),
    ("isub", lambda T, y, w: y.__isub__(1.5)),
    ("imul", lambda T, y, w: y.__imul__(w)),
    ("itruediv", lambda T, y, w: y.__itruediv__(2)),
]

POSITIVE_CASES = [
    ("log_", lambda T, y, w: y.log_()),
    ("sqrt_", lambda T, y, w: y.sqrt_()),
]


def _lib(name):
    return probe if name == "probe" else torch


@pytest.mark.parametrize("case_id,fn", CASES + POSITIVE_CASES, ids=[c[0] for c in CASES +
                                                                    POSITIVE_CASES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inplace_no_grad_parity(case_id, fn, dtype):
    base = POS if (case_id, fn) in POSITIVE_CASES else X
    results = {}
    for name in ("probe", "torch"):
        T = _lib(name)
        y = T.tensor(base.astype(dtype))
        w = T.tensor(W.astype(dtype))
        out = fn(T, y, w)
        assert out is y
        results[name] = (y.detach().numpy().copy(), str(y.dtype).split(".")[-1], y._version)
    np.testing.assert_allclose(results["probe"][0], results["torch"][0], rtol=1e-6, atol=1e-7)
    assert results["probe"][1:] == results["torch"][1:]


@pytest.mark.parametrize("case_id,fn", CASES + POSITIVE_CASES, ids=[c[0] for c in CASES +
                                                                    POSITIVE_CASES])
def test_inplace_autograd_parity(case_id, fn):
    base = POS if (case_id, fn) in POSITIVE_CASES else X
    results = {}
    gout = np.arange(6, dtype=np.float64).reshape(2, 3) - 2.5
    for name in ("probe", "torch"):
        T = _lib(name)
        x = T.tensor(base, requires_grad=True)
        w = T.tensor(W, requires_grad=True)
        y = x * 1
        out = fn(T, y, w)
        assert out is y
        y.backward(T.tensor(gout))
        xg = None if x.grad is None else x.grad.numpy().copy()
        wg = None if w.grad is None else w.grad.numpy().copy()
        results[name] = (y.detach().numpy().copy(), y.grad_fn.name(), xg, wg)
    p, t = results["probe"], results["torch"]
    np.testing.assert_allclose(p[0], t[0], rtol=1e-12, atol=1e-12)
    assert p[1] == t[1].replace("torch::autograd::", "")
    for pg, tg in zip(p[2:], t[2:], strict=True):
        assert (pg is None) == (tg is None)
        if tg is not None:
            np.testing.assert_allclose(pg, tg, rtol=1e-10, atol=1e-12)


def test_inplace_on_view_of_non_leaf_parity():
    results = {}
    for name in ("probe", "torch"):
        T = _lib(name)
        x = T.tensor(X, requires_grad=True)
        w = T.tensor(W[0], requires_grad=True)
        y = x * 2
        y[1].mul_(w)
        y.view(6).add_(1)
        y.backward(T.ones(2, 3, dtype=T.float64))
        results[name] = (y.detach().numpy(), x.grad.numpy(), w.grad.numpy())
    for a, b in zip(results["probe"], results["torch"], strict=True):
        np.testing.assert_allclose(a, b)


def test_version_counter_parity():
    versions = {}
    for name in ("probe", "torch"):
        T = _lib(name)
        t = T.zeros(2, 3)
        v = t.view(6)
        seen = [t._version]
        t.add_(1)
        seen.append(t._version)
        v.mul_(2)
        seen.append(t._version)
        t.detach().zero_()
        seen.append(t._version)
        with T.no_grad():
            p = T.ones(2, requires_grad=True)
            p.sub_(0.1)
            seen.append(p._version)
        versions[name] = seen
    assert versions["probe"] == versions["torch"]


ERRORS = [
    "T.zeros(3, dtype=T.long).add_(1.5)", "T.zeros(3, dtype=T.long).mul_(T.tensor(2.))",
    "T.zeros(3, dtype=T.long).div_(2)", "T.zeros(3, dtype=T.bool).add_(1)",
    "T.zeros(3).add_(T.zeros(2, 3))", "T.zeros(3).add_(T.zeros(2))",
    "T.zeros(3, dtype=T.long).sqrt_()", "T.zeros(3, dtype=T.long).exp_()",
    "T.zeros(3, dtype=T.long).sigmoid_()", "T.zeros(3, dtype=T.long).reciprocal_()",
    "T.zeros(3).fill_(T.ones(2))", "T.zeros(3).clamp_()", "T.zeros(3).copy_(T.ones(2))",
    "T.zeros(3).copy_(T.ones(2, 3))", "T.zeros(3, dtype=T.bool).sub_(True)",
    "T.zeros(3, dtype=T.bool).sub_(T.zeros(3, dtype=T.bool))",
    "T.zeros(3, dtype=T.long).addcdiv_(T.ones(3, dtype=T.long), T.ones(3, dtype=T.long))",
    "T.zeros(3, dtype=T.long).lerp_(T.ones(3, dtype=T.long), 0.5)",
    "T.zeros(3).lerp_(T.ones(3).double(), 0.5)",
    "T.ones(3, requires_grad=True).add_(1)", "T.ones(3, requires_grad=True).zero_()",
    "T.ones(3, requires_grad=True).copy_(T.zeros(3))",
    "T.ones(3, requires_grad=True).relu_()", "T.ones(2, 3, requires_grad=True).view(6).mul_(2)",
    "T.ones(2, 3, requires_grad=True)[0].fill_(1)",
]


@pytest.mark.parametrize("expr", ERRORS)
def test_inplace_error_parity(expr):
    def run(T):
        try:
            eval(expr, {"T": T})
        except Exception as e:  # noqa: BLE001 - comparing exception types and texts
            return type(e), str(e).split("\n")[0]
        return None, None

    p_type, p_msg = run(probe)
    t_type, t_msg = run(torch)
    assert t_type is not None
    assert p_type is t_type
    assert p_msg == t_msg


def test_saved_output_modified_error_parity():
    msgs = {}
    for name in ("probe", "torch"):
        T = _lib(name)
        x = T.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = T.sigmoid(x)
        y.add_(1)
        with pytest.raises(RuntimeError) as info:
            y.backward(T.ones(3))
        msg = str(info.value)
        msgs[name] = msg.replace("[torch.", "[probe.") if name == "torch" else msg
    assert msgs["probe"] == msgs["torch"]


def test_optimizer_updates_parity():
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(6).astype(np.float32)
    g0 = rng.standard_normal(6).astype(np.float32)
    out = {}
    for name in ("probe", "torch"):
        T = _lib(name)
        p = T.tensor(p0)
        g = T.tensor(g0)
        m = T.zeros(6)
        v = T.zeros(6)
        for _ in range(4):
            m.mul_(0.9).add_(g, alpha=0.1)
            v.mul_(0.999).addcmul_(g, g, value=0.001)
            p.addcdiv_(m, v.sqrt().add_(1e-8), value=-0.01)
            p.lerp_(g, 0.01)
            p.clamp_(-2, 2)
        out[name] = p.numpy().copy()
    np.testing.assert_allclose(out["probe"], out["torch"], rtol=1e-5, atol=1e-6)
    assert out["probe"].dtype == np.float32
