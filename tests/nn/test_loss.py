"""Loss functions and modules: gradients (gradcheck over inputs and differentiable targets,
gradgradcheck), reductions, ignore_index, label smoothing, K-dim inputs, probability targets,
numerical stability, PyTorch's errors and warnings, and the modules' buffers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import probe
from probe.autograd import gradcheck, gradgradcheck
from probe.nn.functional_parts import loss as F
from probe.nn.modules import loss as nn


def to_np(t):
    return t.detach().cpu().numpy()


def _t(data, device, requires_grad=True):
    return probe.tensor(np.asarray(data, dtype=np.float64), dtype=probe.float64, device=device,
                        requires_grad=requires_grad)


def _long(data, device):
    return probe.tensor(np.asarray(data, dtype=np.int64), device=device)


RNG = np.random.default_rng(42)
X = RNG.standard_normal((5, 4))
Y = RNG.standard_normal((5, 4))
PROB = RNG.random((5, 4)) + 0.1
PROB /= PROB.sum(1, keepdims=True)
SIG = 1 / (1 + np.exp(-X))
T01 = RNG.random((5, 4))
W4 = RNG.random(4) + 0.5
IDX = np.array([0, 3, 1, -100, 2])
X4 = RNG.standard_normal((2, 3, 4, 2))
I4 = RNG.integers(0, 3, (2, 4, 2))
I4[0, 1, 1] = -100
X3 = RNG.standard_normal((2, 3, 4))
I3 = RNG.integers(0, 3, (2, 4))
SIGN = np.sign(RNG.standard_normal((5, 4)))
LABELS = np.array([1.0, -1.0, 1.0, -1.0, 1.0])

REDUCTIONS = ["none", "mean", "sum"]


def _case(name, fn, inputs, consts=()):
    return pytest.param(fn, inputs, consts, id=name)


# Each case: fn(*differentiable, *constants); differentiable arrays become float64 tensors with
# requires_grad, constants are made by the callables in ``consts``.
GRAD_CASES = []
for r in REDUCTIONS:
    GRAD_CASES += [
        _case(f"mse-{r}", lambda a, b, r=r: F.mse_loss(a, b, reduction=r), (X, Y)),
        _case(f"l1-{r}", lambda a, b, r=r: F.l1_loss(a, b, reduction=r), (X, Y + 0.01)),
        _case(f"smooth_l1-{r}", lambda a, b, r=r: F.smooth_l1_loss(a, b, reduction=r, beta=0.7),
              (X, Y)),
        _case(f"huber-{r}", lambda a, b, r=r: F.huber_loss(a, b, reduction=r, delta=0.6),
              (X, Y)),
        _case(f"bce-{r}", lambda a, b, r=r: F.binary_cross_entropy(a, b, reduction=r),
              (SIG, T01)),
        _case(f"bce_weight-{r}",
              lambda a, b, w, r=r: F.binary_cross_entropy(a, b, weight=w, reduction=r),
              (SIG, T01), (lambda d: _t(W4, d, False),)),
        _case(f"bce_logits-{r}",
              lambda a, b, r=r: F.binary_cross_entropy_with_logits(a, b, reduction=r), (X, T01)),
        _case(f"bce_logits_pos_weight-{r}",
              lambda a, b, w, pw, r=r: F.binary_cross_entropy_with_logits(
                  a, b, weight=w, pos_weight=pw, reduction=r),
              (X, T01), (lambda d: _t(W4, d, False), lambda d: _t(W4[::-1] * 2, d, False))),
        _case(f"cross_entropy-{r}",
              lambda a, t, r=r: F.cross_entropy(a, t, reduction=r), (X,),
              (lambda d: _long(IDX, d),)),
        _case(f"cross_entropy_weight-{r}",
              lambda a, t, w, r=r: F.cross_entropy(a, t, weight=w, reduction=r), (X,),
              (lambda d: _long(IDX, d), lambda d: _t(W4, d, False))),
        _case(f"cross_entropy_smoothing-{r}",
              lambda a, t, r=r: F.cross_entropy(a, t, reduction=r, label_smoothing=0.25), (X,),
              (lambda d: _long(IDX, d),)),
        _case(f"cross_entropy_smoothing_weight-{r}",
              lambda a, t, w, r=r: F.cross_entropy(a, t, weight=w, reduction=r,
                                                   label_smoothing=0.3), (X,),
              (lambda d: _long(IDX, d), lambda d: _t(W4, d, False))),
        _case(f"cross_entropy_probs-{r}",
              lambda a, p, r=r: F.cross_entropy(a, p, reduction=r), (X, PROB)),
        _case(f"cross_entropy_probs_weight_smoothing-{r}",
              lambda a, p, w, r=r: F.cross_entropy(a, p, weight=w, reduction=r,
                                                   label_smoothing=0.2),
              (X, PROB), (lambda d: _t(W4, d, False),)),
        _case(f"cross_entropy_4d-{r}",
              lambda a, t, r=r: F.cross_entropy(a, t, reduction=r), (X4,),
              (lambda d: _long(I4, d),)),
        _case(f"cross_entropy_3d_smoothing-{r}",
              lambda a, t, r=r: F.cross_entropy(a, t, reduction=r, label_smoothing=0.1), (X3,),
              (lambda d: _long(I3, d),)),
        _case(f"cross_entropy_unbatched-{r}",
              lambda a, t, r=r: F.cross_entropy(a, t, reduction=r), (X[0],),
              (lambda d: _long(2, d),)),
        _case(f"nll-{r}", lambda a, t, r=r: F.nll_loss(a, t, reduction=r), (X,),
              (lambda d: _long(IDX, d),)),
        _case(f"nll_weight_4d-{r}",
              lambda a, t, w, r=r: F.nll_loss(a, t, weight=w, reduction=r), (X4,),
              (lambda d: _long(I4, d), lambda d: _t(W4[:3], d, False))),
        _case(f"kl_div-{r}", lambda a, b, r=r: F.kl_div(a, b, reduction=r), (X, PROB)),
        _case(f"kl_div_log_target-{r}",
              lambda a, b, r=r: F.kl_div(a, b, reduction=r, log_target=True), (X, Y)),
        _case(f"soft_margin-{r}",
              lambda a, s, r=r: F.soft_margin_loss(a, s, reduction=r), (X,),
              (lambda d: _t(SIGN, d, False),)),
        _case(f"cosine_embedding-{r}",
              lambda a, b, y, r=r: F.cosine_embedding_loss(a, b, y, margin=0.2, reduction=r),
              (X, Y), (lambda d: _t(LABELS, d, False),)),
        _case(f"margin_ranking-{r}",
              lambda a, b, y, r=r: F.margin_ranking_loss(a, b, y, margin=0.1, reduction=r),
              (X[:, 0], Y[:, 0]), (lambda d: _t(LABELS, d, False),)),
        _case(f"hinge_embedding-{r}",
              lambda a, s, r=r: F.hinge_embedding_loss(a, s, reduction=r), (X,),
              (lambda d: _t(SIGN, d, False),)),
        _case(f"poisson_nll-{r}",
              lambda a, b, r=r: F.poisson_nll_loss(a, b, reduction=r), (X, T01 * 3)),
        _case(f"gaussian_nll-{r}",
              lambda a, b, v, r=r: F.gaussian_nll_loss(a, b, v, reduction=r),
              (X, Y, T01 + 0.2)),
        _case(f"triplet_margin-{r}",
              lambda a, p, n, r=r: F.triplet_margin_loss(a, p, n, margin=2.0, reduction=r),
              (X, Y, T01)),
    ]
GRAD_CASES += [
    _case("batchmean", lambda a, b: F.kl_div(a, b, reduction="batchmean"), (X, PROB)),
    _case("poisson_full_linear", lambda a, b: F.poisson_nll_loss(a, b, log_input=False,
                                                                 full=True),
          (np.abs(X) + 0.1, T01 * 3)),
    _case("gaussian_full_homoscedastic", lambda a, b, v: F.gaussian_nll_loss(a, b, v, full=True),
          (X, Y, T01[:, 0] + 0.2)),
    _case("triplet_swap_p1", lambda a, p, n: F.triplet_margin_loss(a, p, n, p=1, swap=True),
          (X, Y, T01)),
    _case("mse_broadcast", lambda a, b: F.mse_loss(a, b), (X, Y[0])),
    _case("mse_weight", lambda a, b, w: F.mse_loss(a, b, weight=w), (X, Y),
          (lambda d: _t(T01, d, False),)),
    _case("l1_weight_sum", lambda a, b, w: F.l1_loss(a, b, weight=w, reduction="sum"),
          (X, Y), (lambda d: _t(T01, d, False),)),
    _case("huber_weight", lambda a, b, w: F.huber_loss(a, b, weight=w), (X, Y),
          (lambda d: _t(T01, d, False),)),
    _case("cross_entropy_ignore_index_in_range",
          lambda a, t: F.cross_entropy(a, t, ignore_index=3, label_smoothing=0.1), (X,),
          (lambda d: _long([0, 3, 1, 3, 2], d),)),
]


def _inputs(arrays, consts, device):
    diff = tuple(_t(a, device) for a in arrays)
    return diff + tuple(c(device) for c in consts)


@pytest.mark.parametrize("fn, arrays, consts", GRAD_CASES)
def test_gradcheck(fn, arrays, consts, device):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert gradcheck(fn, _inputs(arrays, consts, device))


SECOND_ORDER = [c for c in GRAD_CASES if c.id.split("-")[0] in {
    "mse", "cross_entropy", "cross_entropy_weight", "cross_entropy_smoothing_weight",
    "cross_entropy_probs", "cross_entropy_4d", "nll", "bce_logits_pos_weight", "bce",
    "smooth_l1", "huber", "soft_margin", "kl_div"}]


@pytest.mark.parametrize("fn, arrays, consts", SECOND_ORDER)
def test_gradgradcheck(fn, arrays, consts, device):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert gradgradcheck(fn, _inputs(arrays, consts, device))


# ------------------------------------------------------------------ values and reductions
def test_cross_entropy_values_by_hand():
    logits = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]])
    target = np.array([1, 2])
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    want = -logp[[0, 1], target]
    got = F.cross_entropy(probe.tensor(logits), probe.tensor(target), reduction="none")
    np.testing.assert_allclose(to_np(got), want, rtol=1e-12)
    w = np.array([0.5, 2.0, 1.0])
    got = F.cross_entropy(probe.tensor(logits), probe.tensor(target), weight=probe.tensor(w))
    np.testing.assert_allclose(got.item(), (want * w[target]).sum() / w[target].sum(),
                               rtol=1e-12)


def test_extreme_logits_are_finite(device):
    logits = probe.tensor([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4], [3.0, 2.0, 1.0]], device=device,
                          requires_grad=True)
    target = probe.tensor([2, 0, 1], device=device)
    for kwargs in ({}, {"label_smoothing": 0.1}, {"reduction": "none"}):
        loss = F.cross_entropy(logits, target, **kwargs)
        assert np.isfinite(to_np(loss)).all()
        (grad,) = probe.autograd.grad(loss.sum(), logits)
        assert np.isfinite(to_np(grad)).all()
    loss = F.cross_entropy(logits, target, reduction="none")
    np.testing.assert_allclose(to_np(loss)[:2], [2e4, 2e4 + np.log(2.0)], rtol=1e-6)
    probs = probe.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5]], device=device)
    assert np.isfinite(to_np(F.cross_entropy(logits, probs, reduction="none"))).all()
    x = probe.tensor([-1e4, 1e4, 0.0], device=device, requires_grad=True)
    bce = F.binary_cross_entropy_with_logits(x, probe.tensor([1.0, 0.0, 1.0], device=device),
                                             reduction="none")
    np.testing.assert_allclose(to_np(bce), [1e4, 1e4, np.log(2.0)], rtol=1e-6)


def test_float32_stays_float32(device):
    x = probe.randn(5, 4, device=device, requires_grad=True)
    t = probe.tensor(IDX, device=device)
    for loss in (F.cross_entropy(x, t), F.cross_entropy(x, t, label_smoothing=0.1),
                 F.cross_entropy(x, probe.tensor(PROB, dtype=probe.float32, device=device)),
                 F.nll_loss(x, t), F.mse_loss(x, x * 2), F.smooth_l1_loss(x, x * 0),
                 F.huber_loss(x, x * 0),
                 F.binary_cross_entropy(x.sigmoid(), probe.rand(5, 4, device=device)),
                 F.binary_cross_entropy_with_logits(x, probe.rand(5, 4, device=device)),
                 F.soft_margin_loss(x, probe.ones(5, 4, device=device))):
        assert loss.dtype == probe.float32
        (g,) = probe.autograd.grad(loss, x)
        assert g.dtype == probe.float32


def test_ignore_index_masks_rows():
    x = probe.tensor(X, requires_grad=True)
    loss = F.cross_entropy(x, probe.tensor(IDX), reduction="none")
    assert loss[3].item() == 0.0
    F.cross_entropy(x, probe.tensor(IDX)).backward()
    assert np.all(to_np(x.grad)[3] == 0)
    keep = IDX != -100
    ref = F.cross_entropy(probe.tensor(X[keep]), probe.tensor(IDX[keep]))
    np.testing.assert_allclose(F.cross_entropy(probe.tensor(X), probe.tensor(IDX)).item(),
                               ref.item(), rtol=1e-12)


def test_all_ignored_mean_is_nan():
    t = probe.tensor([-100, -100])
    assert np.isnan(F.cross_entropy(probe.randn(2, 3), t).item())
    assert np.isnan(F.nll_loss(probe.randn(2, 3), t).item())
    assert F.cross_entropy(probe.randn(2, 3), t, reduction="sum").item() == 0.0


def test_grad_fn_names():
    x = probe.tensor(X, requires_grad=True)
    t = probe.tensor(IDX)
    assert F.cross_entropy(x, t).grad_fn.name() == "NllLossBackward0"
    assert F.cross_entropy(x, t, label_smoothing=0.1).grad_fn.name() == "AddBackward0"
    assert F.cross_entropy(x, probe.tensor(PROB)).grad_fn.name() == "DivBackward1"
    x4 = probe.tensor(X4, requires_grad=True)
    assert F.cross_entropy(x4, probe.tensor(I4)).grad_fn.name() == "NllLoss2DBackward0"
    assert F.mse_loss(x, x * 2).grad_fn.name() == "MseLossBackward0"
    assert F.binary_cross_entropy_with_logits(x, x.detach()).grad_fn.name() == \
        "BinaryCrossEntropyWithLogitsBackward0"


def test_modifying_logits_after_loss_is_detected():
    logits = probe.tensor(X, requires_grad=True) * 1
    loss = F.cross_entropy(logits, probe.tensor(IDX))
    logits.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


# ------------------------------------------------------------------ errors and warnings
def test_cross_entropy_errors():
    x = probe.randn(3, 4)
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target "
                                         r"batch_size \(2\)\."):
        F.cross_entropy(x, probe.tensor([0, 1]))
    with pytest.raises(IndexError, match="Target 5 is out of bounds."):
        F.cross_entropy(x, probe.tensor([0, 1, 5]))
    with pytest.raises(IndexError, match="Target -1 is out of bounds."):
        F.nll_loss(x, probe.tensor([0, -1, 1]))
    with pytest.raises(RuntimeError, match="expected target dtype to be Long or Byte, but got "
                                           "Int"):
        F.cross_entropy(x, probe.tensor([0, 1, 2], dtype=probe.int32))
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0. Got: "
                                           "1.5"):
        F.cross_entropy(x, probe.tensor([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="foo is not a valid value for reduction"):
        F.cross_entropy(x, probe.tensor([0, 1, 2]), reduction="foo")
    with pytest.raises(RuntimeError, match="weight tensor should be defined either for all 4 "
                                           r"classes or no classes but got weight tensor of "
                                           r"shape: \[3\]"):
        F.cross_entropy(x, probe.tensor([0, 1, 2]), weight=probe.ones(3))
    with pytest.raises(RuntimeError, match="0D or 1D target tensor expected"):
        F.nll_loss(x, probe.zeros(3, 2, dtype=probe.int64))
    with pytest.raises(RuntimeError, match=r"Expected target size \[2, 4\], got \[2, 5\]"):
        F.cross_entropy(probe.randn(2, 3, 4), probe.zeros(2, 5, dtype=probe.int64))
    with pytest.raises(RuntimeError, match="only batches of spatial targets supported"):
        F.cross_entropy(probe.randn(2, 3, 4, 5), probe.zeros(2, 4, dtype=probe.int64))
    with pytest.raises(ValueError, match=r"Expected 1 or more dimensions \(got 0\)"):
        F.nll_loss(probe.tensor(1.0), probe.tensor(0))
    with pytest.raises(RuntimeError, match="Expected floating point type for target with class "
                                           "probabilities, got Long"):
        F.cross_entropy(x, probe.ones(3, 4, dtype=probe.int64))
    with pytest.raises(RuntimeError, match="ignore_index is not supported for floating point"):
        F.cross_entropy(x, probe.rand(3, 4), ignore_index=1)
    with pytest.raises(RuntimeError, match="'nll_loss_forward' is not differentiable with "
                                           "respect to argument 'weight'"):
        F.cross_entropy(x, probe.tensor([0, 1, 2]), weight=probe.ones(4, requires_grad=True))
    with pytest.raises(NotImplementedError, match="log_softmax_lastdim_kernel_impl"):
        F.cross_entropy(probe.ones(3, 4, dtype=probe.int64), probe.tensor([0, 1, 2]))


def test_target_bounds_ignore_index_outside_range_is_fine():
    x = probe.randn(3, 4)
    loss = F.cross_entropy(x, probe.tensor([0, 1, 7]), ignore_index=7)
    assert np.isfinite(loss.item())


def test_regression_loss_errors_and_warnings():
    x = probe.randn(3, 4)
    with pytest.warns(UserWarning, match=r"Using a target size \(probe.Size\(\[4\]\)\) that is "
                                         r"different to the input size"):
        F.mse_loss(x, probe.randn(4))
    with pytest.warns(UserWarning, match="Using a target size"):
        F.l1_loss(x, probe.randn(1, 4))
    with pytest.raises(RuntimeError, match="must match the size of tensor b"), \
            pytest.warns(UserWarning):
        F.mse_loss(x, probe.randn(5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.mse_loss(x, probe.randn(3, 4))  # same sizes: no warning
    with pytest.raises(RuntimeError, match="smooth_l1_loss does not support negative values"):
        F.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(RuntimeError, match="huber_loss does not support non-positive values"):
        F.huber_loss(x, x, delta=0.0)
    with pytest.raises(ValueError, match="Weights and input must have the same size."):
        F.mse_loss(x, x, weight=probe.ones(4))
    with pytest.raises(NotImplementedError, match="\"mse_cpu\" not implemented for 'Long'"):
        F.mse_loss(probe.ones(3, dtype=probe.int64), probe.ones(3, dtype=probe.int64))


def test_bce_errors():
    p = probe.rand(3, 4)
    with pytest.raises(ValueError, match="that is different to the input size"):
        F.binary_cross_entropy(p, probe.rand(4))
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(p + 1, probe.rand(3, 4))
    with pytest.raises(RuntimeError, match="all elements of target should be between 0 and 1"):
        F.binary_cross_entropy(p, probe.rand(3, 4) + 1)
    with pytest.raises(ValueError, match=r"Target size \(probe.Size\(\[4\]\)\) must be the same "
                                         "as input size"):
        F.binary_cross_entropy_with_logits(p, probe.rand(4))
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument "
                                           "'pos_weight'"):
        F.binary_cross_entropy_with_logits(p, p, pos_weight=probe.ones(4, requires_grad=True))
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument "
                                           "'target'"):
        F.soft_margin_loss(p, probe.ones(3, 4, requires_grad=True))


def test_bce_clamps_log_at_minus_100():
    x = probe.tensor([0.0, 1.0], requires_grad=True)
    loss = F.binary_cross_entropy(x, probe.tensor([1.0, 0.0]), reduction="none")
    np.testing.assert_allclose(to_np(loss), [100.0, 100.0])
    loss.sum().backward()
    assert np.isfinite(to_np(x.grad)).all()


def test_other_loss_errors():
    with pytest.raises(RuntimeError, match="0D target tensor expects 1D input tensors"):
        F.cosine_embedding_loss(probe.rand(3, 4), probe.rand(3, 4), probe.tensor(1))
    with pytest.raises(RuntimeError, match="margin_ranking_loss : All input tensors should have "
                                           "same dimension"):
        F.margin_ranking_loss(probe.rand(3), probe.rand(3), probe.ones(3, 1))
    with pytest.raises(ValueError, match="margin must be greater than 0, got 0"):
        F.triplet_margin_loss(probe.rand(3, 4), probe.rand(3, 4), probe.rand(3, 4), margin=0)
    with pytest.raises(ValueError, match="var has negative entry/entries"):
        F.gaussian_nll_loss(probe.rand(3), probe.rand(3), -probe.rand(3))
    with pytest.raises(ValueError, match="var is of incorrect size"):
        F.gaussian_nll_loss(probe.rand(3, 4), probe.rand(3, 4), probe.rand(2, 2))
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        F.kl_div(probe.rand(3), probe.rand(3))


def test_legacy_size_average_and_reduce():
    x, y = probe.randn(3, 4), probe.randn(3, 4)
    with pytest.warns(UserWarning, match="please use reduction='sum' instead"):
        loss = F.mse_loss(x, y, size_average=False)
    np.testing.assert_allclose(loss.item(), F.mse_loss(x, y, reduction="sum").item(), rtol=1e-6)
    with pytest.warns(UserWarning, match="please use reduction='none' instead"):
        assert tuple(F.l1_loss(x, y, reduce=False).shape) == (3, 4)
    with pytest.warns(UserWarning, match="please use reduction='sum' instead"):
        m = nn.CrossEntropyLoss(size_average=False)
    assert m.reduction == "sum"


def test_mean_of_empty_is_nan():
    assert np.isnan(F.mse_loss(probe.ones(0), probe.ones(0)).item())
    assert np.isnan(F.cross_entropy(probe.randn(0, 3), probe.zeros(0, dtype=probe.int64)).item())
    assert F.cross_entropy(probe.randn(0, 3), probe.zeros(0, dtype=probe.int64),
                           reduction="sum").item() == 0.0


# ------------------------------------------------------------------ modules
MODULE_CASES = [
    (lambda: nn.MSELoss(), "MSELoss()", [], ["reduction"]),
    (lambda: nn.L1Loss(reduction="sum"), "L1Loss()", [], ["reduction"]),
    (lambda: nn.SmoothL1Loss(beta=0.5), "SmoothL1Loss()", [], ["beta"]),
    (lambda: nn.HuberLoss(delta=2.0), "HuberLoss()", [], ["delta"]),
    (lambda: nn.CrossEntropyLoss(), "CrossEntropyLoss()", [],
     ["ignore_index", "label_smoothing"]),
    (lambda: nn.CrossEntropyLoss(weight=probe.ones(3)), "CrossEntropyLoss()", ["weight"], []),
    (lambda: nn.NLLLoss(), "NLLLoss()", [], ["ignore_index"]),
    (lambda: nn.BCELoss(weight=probe.ones(2)), "BCELoss()", ["weight"], []),
    (lambda: nn.BCEWithLogitsLoss(pos_weight=probe.ones(3)), "BCEWithLogitsLoss()",
     ["pos_weight"], []),
    (lambda: nn.KLDivLoss(log_target=True), "KLDivLoss()", [], ["log_target"]),
    (lambda: nn.CosineEmbeddingLoss(margin=0.5), "CosineEmbeddingLoss()", [], ["margin"]),
    (lambda: nn.MarginRankingLoss(), "MarginRankingLoss()", [], ["margin"]),
    (lambda: nn.HingeEmbeddingLoss(), "HingeEmbeddingLoss()", [], ["margin"]),
    (lambda: nn.SoftMarginLoss(), "SoftMarginLoss()", [], []),
    (lambda: nn.PoissonNLLLoss(), "PoissonNLLLoss()", [], ["log_input", "full", "eps"]),
    (lambda: nn.GaussianNLLLoss(), "GaussianNLLLoss()", [], ["full", "eps"]),
    (lambda: nn.TripletMarginLoss(), "TripletMarginLoss()", [], ["margin", "p", "eps", "swap"]),
]


@pytest.mark.parametrize("make, text, keys, attrs", MODULE_CASES,
                         ids=[c[1] + str(i) for i, c in enumerate(MODULE_CASES)])
def test_module_repr_state_and_attributes(make, text, keys, attrs):
    m = make()
    assert repr(m) == text
    assert list(m.state_dict()) == keys
    for a in attrs + ["reduction"]:
        assert hasattr(m, a)


def test_weight_buffers_registered_even_when_none():
    m = nn.CrossEntropyLoss()
    assert "weight" in m._buffers and m.weight is None
    m = nn.BCEWithLogitsLoss()
    assert list(m._buffers) == ["weight", "pos_weight"]
    m = nn.CrossEntropyLoss(weight=probe.ones(3)).double()
    assert m.weight.dtype == probe.float64


def test_modules_call_functional():
    x = probe.tensor(X, requires_grad=True)
    t = probe.tensor(IDX)
    w = probe.tensor(W4)
    m = nn.CrossEntropyLoss(weight=w, label_smoothing=0.1, reduction="sum")
    np.testing.assert_allclose(
        m(x, t).item(),
        F.cross_entropy(x, t, weight=w, label_smoothing=0.1, reduction="sum").item())
    assert gradcheck(lambda a: nn.MSELoss()(a, probe.tensor(Y)), (x,))
    assert gradcheck(lambda a: nn.BCEWithLogitsLoss(pos_weight=probe.tensor(W4))(
        a, probe.tensor(T01)), (x,))
    assert gradcheck(lambda a: nn.NLLLoss(ignore_index=1)(a, probe.tensor([0, 3, 1, 1, 2])), (x,))
    assert gradcheck(lambda a, b: nn.CosineEmbeddingLoss()(a, b, probe.tensor(LABELS)),
                     (x, probe.tensor(Y, requires_grad=True)))
    with pytest.raises(ValueError, match="TripletMarginLoss: expected margin to be greater"):
        nn.TripletMarginLoss(margin=0)


def test_no_grad_matches_and_keeps_nothing_alive():
    from probe.engine.autograd import _NO_GRAD_CTX

    x = probe.tensor(X, requires_grad=True)
    t = probe.tensor(IDX)
    want = F.cross_entropy(x, t, label_smoothing=0.1).item()
    with probe.no_grad():
        loss = F.cross_entropy(x, t, label_smoothing=0.1)
        assert loss.grad_fn is None and not loss.requires_grad
        assert loss.item() == want
        F.nll_loss(x, t)
    assert not any(isinstance(v, np.ndarray) and v.size >= x.numel()
                   for v in vars(_NO_GRAD_CTX).values())
