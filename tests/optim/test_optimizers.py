"""probe.optim optimizers: every option against update formulas written out in NumPy (float64,
so the comparison is exact up to rounding), parameter groups, zero_grad, state_dict round trips
that resume training identically, step hooks, and errors (raised before anything changes)."""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest

import probe
from probe import nn, optim
from probe.optim import optimizer as optimizer_mod

# ---------------------------------------------------------------------------------------------
# Reference updates in NumPy (float64), written from the documented algorithms.
# ---------------------------------------------------------------------------------------------


def ref_sgd(p, grads, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
            maximize=False):
    p = p.copy()
    buf = None
    for g in grads:
        g = -g if maximize else g.copy()
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def ref_adam(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
             maximize=False, decoupled=False):
    p = p.copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    vmax = np.zeros_like(p)
    b1, b2 = betas
    for t, g in enumerate(grads, 1):
        g = -g if maximize else g.copy()
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        if amsgrad:
            vmax = np.maximum(vmax, v)
        vhat = (vmax if amsgrad else v) / (1 - b2**t)
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(vhat) + eps)
    return p


def ref_rmsprop(p, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                centered=False, maximize=False):
    p = p.copy()
    sq = np.zeros_like(p)
    ga = np.zeros_like(p)
    buf = np.zeros_like(p)
    for g in grads:
        g = -g if maximize else g.copy()
        g = g + weight_decay * p
        sq = alpha * sq + (1 - alpha) * g * g
        if centered:
            ga = alpha * ga + (1 - alpha) * g
            avg = np.sqrt(sq - ga * ga) + eps
        else:
            avg = np.sqrt(sq) + eps
        if momentum > 0:
            buf = momentum * buf + g / avg
            p = p - lr * buf
        else:
            p = p - lr * g / avg
    return p


def ref_adagrad(p, grads, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                eps=1e-10, maximize=False):
    p = p.copy()
    s = np.full_like(p, initial_accumulator_value)
    for t, g in enumerate(grads, 1):
        g = -g if maximize else g.copy()
        g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g
        p = p - clr * g / (np.sqrt(s) + eps)
    return p


def run_probe(cls, p0, grads, device="cpu", **kwargs):
    """Step ``cls`` with the given gradient sequence (independent of the parameter value)."""
    p = nn.Parameter(probe.tensor(p0, device=device))
    opt = cls([p], **kwargs)
    for g in grads:
        p.grad = probe.tensor(g, device=device)
        opt.step()
    return p.detach().cpu().numpy()


@pytest.fixture
def case():
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(6)]
    return p0, grads


SGD_OPTIONS = [
    {},
    {"lr": 0.1},
    {"lr": 0.1, "momentum": 0.9},
    {"lr": 0.1, "momentum": 0.9, "dampening": 0.3},
    {"lr": 0.1, "momentum": 0.9, "nesterov": True},
    {"lr": 0.1, "momentum": 0.5, "nesterov": True, "weight_decay": 0.1},
    {"lr": 0.1, "weight_decay": 0.2},
    {"lr": 0.1, "momentum": 0.9, "maximize": True},
    {"lr": 0.1, "weight_decay": 0.2, "maximize": True},
]


@pytest.mark.parametrize("kwargs", SGD_OPTIONS, ids=str)
def test_sgd_matches_formula(case, kwargs, device):
    p0, grads = case
    got = run_probe(optim.SGD, p0, grads, device=device, **kwargs)
    np.testing.assert_allclose(got, ref_sgd(p0, grads, **kwargs), rtol=1e-12, atol=1e-12)


ADAM_OPTIONS = [
    {},
    {"lr": 0.1},
    {"lr": 0.1, "betas": (0.5, 0.9)},
    {"lr": 0.1, "betas": (0.3, 0.8), "eps": 1e-3},
    {"lr": 0.1, "amsgrad": True},
    {"lr": 0.1, "weight_decay": 0.1},
    {"lr": 0.1, "weight_decay": 0.1, "amsgrad": True, "maximize": True},
    {"lr": 0.1, "maximize": True},
]


@pytest.mark.parametrize("kwargs", ADAM_OPTIONS, ids=str)
def test_adam_matches_formula(case, kwargs, device):
    p0, grads = case
    got = run_probe(optim.Adam, p0, grads, device=device, **kwargs)
    np.testing.assert_allclose(got, ref_adam(p0, grads, **kwargs), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs", [{}, {"lr": 0.1, "weight_decay": 0.5},
                                    {"lr": 0.1, "amsgrad": True, "maximize": True}], ids=str)
def test_adamw_matches_formula(case, kwargs, device):
    p0, grads = case
    got = run_probe(optim.AdamW, p0, grads, device=device, **kwargs)
    kwargs = {"weight_decay": 1e-2, **kwargs}
    want = ref_adam(p0, grads, decoupled=True, **kwargs)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_adam_decoupled_weight_decay_is_adamw(case):
    p0, grads = case
    a = run_probe(optim.Adam, p0, grads, lr=0.1, weight_decay=0.3, decoupled_weight_decay=True)
    b = run_probe(optim.AdamW, p0, grads, lr=0.1, weight_decay=0.3)
    np.testing.assert_array_equal(a, b)


RMSPROP_OPTIONS = [
    {},
    {"lr": 0.01, "alpha": 0.9},
    {"lr": 0.01, "centered": True},
    {"lr": 0.01, "momentum": 0.9},
    {"lr": 0.01, "centered": True, "momentum": 0.9, "weight_decay": 0.1},
    {"lr": 0.01, "maximize": True, "eps": 1e-3},
]


@pytest.mark.parametrize("kwargs", RMSPROP_OPTIONS, ids=str)
def test_rmsprop_matches_formula(case, kwargs, device):
    p0, grads = case
    got = run_probe(optim.RMSprop, p0, grads, device=device, **kwargs)
    np.testing.assert_allclose(got, ref_rmsprop(p0, grads, **kwargs), rtol=1e-12, atol=1e-12)


ADAGRAD_OPTIONS = [
    {},
    {"lr": 0.5, "lr_decay": 0.1},
    {"lr": 0.5, "weight_decay": 0.1},
    {"lr": 0.5, "initial_accumulator_value": 0.5},
    {"lr": 0.5, "eps": 1e-2, "maximize": True},
]


@pytest.mark.parametrize("kwargs", ADAGRAD_OPTIONS, ids=str)
def test_adagrad_matches_formula(case, kwargs, device):
    p0, grads = case
    got = run_probe(optim.Adagrad, p0, grads, device=device, **kwargs)
    np.testing.assert_allclose(got, ref_adagrad(p0, grads, **kwargs), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop,
                                 optim.Adagrad])
def test_float32_stays_float32_and_updates_in_place(cls, device):
    p = nn.Parameter(probe.ones(2, 3, device=device))
    data = p._data
    version = p._version
    opt = cls([p], lr=0.1)
    for _ in range(3):
        p.grad = probe.full((2, 3), 0.5, device=device)
        opt.step()
    assert p.dtype == probe.float32 and p._data is data
    assert p._version > version
    for value in opt.state[p].values():
        if isinstance(value, probe.Tensor) and value.ndim:
            assert value.dtype == probe.float32 and value.device == p.device
    assert not np.allclose(p.detach().cpu().numpy(), 1.0)


def test_large_parameters_use_temporary_buffers(case, monkeypatch):
    p0, grads = case
    cached = run_probe(optim.RMSprop, p0, grads, lr=0.01, centered=True, momentum=0.5)
    monkeypatch.setattr(optimizer_mod, "_SCRATCH_CACHE_BYTES", 16)
    uncached = run_probe(optim.RMSprop, p0, grads, lr=0.01, centered=True, momentum=0.5)
    np.testing.assert_array_equal(cached, uncached)


def test_scratch_buffers_are_not_state():
    p = nn.Parameter(probe.ones(3))
    opt = optim.Adam([p])
    p.grad = probe.ones(3)
    opt.step()
    assert opt._scratch_buffers
    assert set(opt.__getstate__()) == {"defaults", "state", "param_groups"}


def test_adam_state_layout():
    p = nn.Parameter(probe.ones(3))
    opt = optim.Adam([p], amsgrad=True)
    p.grad = probe.ones(3)
    opt.step()
    opt.step()
    state = opt.state[p]
    assert sorted(state) == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]
    assert state["step"].dtype == probe.float32 and state["step"].ndim == 0
    assert state["step"].item() == 2.0 and state["step"].device.type == "cpu"


def test_complex_parameters_follow_real_view():
    rng = np.random.default_rng(1)
    p0 = (rng.standard_normal(4) + 1j * rng.standard_normal(4)).astype(np.complex128)
    grads = [(rng.standard_normal(4) + 1j * rng.standard_normal(4)) for _ in range(3)]
    got = run_probe(optim.Adam, p0, grads, lr=0.1)
    real = run_probe(optim.Adam, p0.view(np.float64), [g.view(np.float64) for g in grads],
                     lr=0.1)
    np.testing.assert_allclose(got.view(np.float64), real, rtol=1e-12)


def test_params_without_grad_are_skipped():
    a = nn.Parameter(probe.ones(2))
    b = nn.Parameter(probe.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = probe.ones(2)
    opt.step()
    assert b not in opt.state and b.tolist() == [1.0, 1.0]
    assert a.tolist() != [1.0, 1.0]


def test_step_returns_closure_loss_and_runs_closure_with_grad():
    w = nn.Parameter(probe.tensor([2.0]))
    opt = optim.SGD([w], lr=0.1)
    seen = []

    def closure():
        seen.append(probe.is_grad_enabled())
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with probe.no_grad():
        loss = opt.step(closure)
    assert seen == [True] and loss.item() == 4.0
    assert w.item() == pytest.approx(2.0 - 0.1 * 4.0)
    assert opt.step() is None


def test_step_runs_without_recording_the_graph():
    w = nn.Parameter(probe.tensor([2.0]))
    modes = []
    opt = optim.SGD([w], lr=0.1)
    opt.register_step_pre_hook(lambda *a: modes.append(probe.is_grad_enabled()))
    w.grad = probe.ones(1)
    opt.step()
    assert modes == [True]  # hooks run outside the step's no-grad region, as in PyTorch
    assert w.grad_fn is None and w.requires_grad and probe.is_grad_enabled()


def test_tensor_lr():
    p0 = np.ones(3)
    g = [np.full(3, 2.0)]
    a = run_probe(optim.SGD, p0, g, lr=probe.tensor(0.25))
    np.testing.assert_allclose(a, [0.5, 0.5, 0.5])


# ---------------------------------------------------------------------------------------------
# Parameter groups
# ---------------------------------------------------------------------------------------------


def test_param_groups_override_defaults():
    a, b = nn.Parameter(probe.ones(2)), nn.Parameter(probe.ones(2))
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[0]["momentum"] == 0 and opt.param_groups[1]["momentum"] == 0.9
    assert opt.param_groups[1]["params"] == [b] or opt.param_groups[1]["params"][0] is b
    a.grad = probe.ones(2)
    b.grad = probe.ones(2)
    opt.step()
    assert a.tolist() == pytest.approx([0.9, 0.9]) and b.tolist() == pytest.approx([0.5, 0.5])
    assert "momentum_buffer" in opt.state[b] and a not in opt.state


def test_add_param_group_and_named_params():
    a, b = nn.Parameter(probe.ones(2)), nn.Parameter(probe.ones(2))
    opt = optim.Adam([a], lr=0.1)
    opt.add_param_group({"params": [b], "betas": (0.5, 0.6)})
    assert opt.param_groups[1]["betas"] == (0.5, 0.6) and opt.param_groups[1]["lr"] == 0.1
    model = nn.Linear(2, 2)
    named = optim.SGD(model.named_parameters(), lr=0.1)
    assert named.param_groups[0]["param_names"] == ["weight", "bias"]
    assert named.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]


def test_add_param_group_errors_leave_the_optimizer_unchanged():
    a, b = nn.Parameter(probe.ones(2)), nn.Parameter(probe.ones(2))
    opt = optim.SGD([a], lr=0.1)
    group = {"params": [b, a]}
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter "
                                         "group"):
        opt.add_param_group(group)
    assert len(opt.param_groups) == 1 and group == {"params": [b, a]}
    with pytest.raises(TypeError, match="param_group must be a dict, but got <class 'list'>"):
        opt.add_param_group([b])
    with pytest.raises(TypeError, match="ordering of tensors in sets will change"):
        opt.add_param_group({"params": {b}})
    with pytest.raises(ValueError, match="cannot add param group with names to the optimizer"):
        opt.add_param_group({"params": [("b", b)]})
    assert len(opt.param_groups) == 1


def test_duplicate_parameter_warns():
    a = nn.Parameter(probe.ones(2))
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([a, a], lr=0.1)


def test_construction_errors():
    p = nn.Parameter(probe.ones(2))
    with pytest.raises(ValueError, match="^optimizer got an empty parameter list$"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="^can't optimize a non-leaf Tensor$"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts, but got "
                                        "probe.FloatTensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="but one of the params is int"):
        optim.SGD([1], lr=0.1)
    with pytest.raises(ValueError, match=r"^Invalid learning rate: -1$"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match=r"^Invalid momentum value: -0.5$"):
        optim.SGD([p], momentum=-0.5)
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero "
                                         "dampening"):
        optim.SGD([p], nesterov=True)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        optim.SGD([p], momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"^Invalid beta parameter at index 0: 1.0$"):
        optim.Adam([p], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match=r"^Invalid beta parameter at index 1: -0.1$"):
        optim.AdamW([p], betas=(0.9, -0.1))
    with pytest.raises(ValueError, match=r"^Invalid epsilon value: -1e-08$"):
        optim.Adam([p], eps=-1e-8)
    with pytest.raises(ValueError, match=r"^Invalid weight_decay value: -1$"):
        optim.Adam([p], weight_decay=-1)
    with pytest.raises(ValueError, match="betas must be either both floats or both Tensors"):
        optim.Adam([p], betas=(0.9, probe.tensor(0.99)))
    with pytest.raises(ValueError, match=r"^Invalid alpha value: -1$"):
        optim.RMSprop([p], alpha=-1)
    with pytest.raises(ValueError, match=r"^Invalid lr_decay value: -1$"):
        optim.Adagrad([p], lr_decay=-1)
    with pytest.raises(ValueError, match="Invalid initial_accumulator_value value: -1"):
        optim.Adagrad([p], initial_accumulator_value=-1)
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        optim.SGD([p], lr=probe.ones(2))
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        optim.LBFGS([{"params": [p]}, {"params": [nn.Parameter(probe.ones(1))]}])
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        optim.LBFGS([p], line_search_fn="armijo")
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        optim.Adam([p], differentiable=True)


def test_required_default():
    class Custom(optim.Optimizer):
        def __init__(self, params, lr=optimizer_mod.required):
            super().__init__(params, {"lr": lr})

    p = nn.Parameter(probe.ones(1))
    with pytest.raises(ValueError, match="didn't specify a value of required optimization "
                                         "parameter lr"):
        Custom([p])
    assert Custom([{"params": [p], "lr": 0.1}]).param_groups[0]["lr"] == 0.1
    assert repr(optimizer_mod.required) == "<required parameter>"


def test_repr_matches_pytorch_layout():
    p = nn.Parameter(probe.ones(1))
    text = repr(optim.SGD([p], lr=0.1))
    assert text == (
        "SGD (\nParameter Group 0\n    dampening: 0\n    differentiable: False\n"
        "    foreach: None\n    fused: None\n    lr: 0.1\n    maximize: False\n"
        "    momentum: 0\n    nesterov: False\n    weight_decay: 0\n)"
    )


# ---------------------------------------------------------------------------------------------
# zero_grad
# ---------------------------------------------------------------------------------------------


def test_zero_grad_to_none_and_to_zeros():
    a = nn.Parameter(probe.ones(2))
    opt = optim.SGD([a], lr=0.1)
    (a * 3).sum().backward()
    opt.zero_grad()
    assert a.grad is None
    (a * 3).sum().backward()
    grad = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is grad and a.grad.tolist() == [0.0, 0.0]
    (a * 3).sum().backward()
    assert a.grad.tolist() == [3.0, 3.0]


# ---------------------------------------------------------------------------------------------
# state_dict
# ---------------------------------------------------------------------------------------------


def _mlp(seed=0):
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    with probe.no_grad():
        for p in model.parameters():
            p.copy_(probe.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.3))
    return model


def _batches(n=12, seed=1):
    rng = np.random.default_rng(seed)
    return [(probe.tensor(rng.standard_normal((6, 5)).astype(np.float32)),
             probe.tensor(rng.standard_normal((6, 3)).astype(np.float32))) for _ in range(n)]


def _train(model, opt, batches):
    for x, y in batches:
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()


MAKERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda ps: optim.Adam(ps, lr=1e-2, amsgrad=True),
    "adamw": lambda ps: optim.AdamW(ps, lr=1e-2),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=1e-3, centered=True, momentum=0.5),
    "adagrad": lambda ps: optim.Adagrad(ps, lr=0.1, lr_decay=0.01),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
@pytest.mark.parametrize("through_pickle", [False, True])
def test_state_dict_round_trip_resumes_identically(name, through_pickle):
    make = MAKERS[name]
    batches = _batches()
    model = _mlp()
    opt = make(model.parameters())
    _train(model, opt, batches[:5])

    saved_model = copy.deepcopy(model.state_dict())
    saved_opt = opt.state_dict()
    if through_pickle:
        saved_opt = pickle.loads(pickle.dumps(saved_opt))
    fresh = _mlp(seed=7)
    fresh.load_state_dict(saved_model)
    fresh_opt = make(fresh.parameters())
    fresh_opt.load_state_dict(saved_opt)

    _train(model, opt, batches[5:])
    _train(fresh, fresh_opt, batches[5:])
    for a, b in zip(model.parameters(), fresh.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_state_dict_layout_and_indices_across_groups():
    a, b, c = (nn.Parameter(probe.ones(2)) for _ in range(3))
    opt = optim.Adam([{"params": [a, b]}, {"params": [c], "lr": 0.5}])
    for p in (a, c):
        p.grad = probe.ones(2)
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sorted(sd["state"]) == [0, 2]
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.5
    assert sd["state"][0]["exp_avg"] is opt.state[a]["exp_avg"]  # references, as in PyTorch
    assert sd["state"][0]["step"].dtype == probe.float32
    assert "params" in opt.param_groups[0]  # packing did not touch the live groups


def test_load_state_dict_validates_before_changing_anything():
    a, b = nn.Parameter(probe.ones(2)), nn.Parameter(probe.ones(3))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad, b.grad = probe.ones(2), probe.ones(3)
    opt.step()
    before = opt.state_dict()
    lr_before = opt.param_groups[0]["lr"]

    other = optim.Adam([{"params": [a]}, {"params": [b]}], lr=0.9)
    with pytest.raises(ValueError, match="^loaded state dict has a different number of "
                                         "parameter groups$"):
        opt.load_state_dict(other.state_dict())
    small = optim.Adam([a], lr=0.9)
    with pytest.raises(ValueError, match="loaded state dict contains a parameter group that "
                                         "doesn't match the size of optimizer's group"):
        opt.load_state_dict(small.state_dict())
    swapped = optim.Adam([b, a], lr=0.9)
    b.grad, a.grad = probe.ones(3), probe.ones(2)
    swapped.step()
    with pytest.raises(ValueError, match=r"'exp_avg' of shape \[3\] for parameter 0, but that "
                                         r"parameter has shape \[2\]"):
        opt.load_state_dict(swapped.state_dict())
    with pytest.raises(KeyError, match="param_groups"):
        opt.load_state_dict({"state": {}})
    assert opt.param_groups[0]["lr"] == lr_before
    assert opt.state_dict()["state"][0]["exp_avg"] is before["state"][0]["exp_avg"]


def test_load_state_dict_casts_to_param_dtype_and_copies():
    a = nn.Parameter(probe.ones(2, dtype=probe.float64))
    opt32 = optim.Adam([nn.Parameter(probe.ones(2))], lr=0.1)
    opt32.param_groups[0]["params"][0].grad = probe.ones(2)
    opt32.step()
    sd = opt32.state_dict()
    opt64 = optim.Adam([a], lr=0.3)
    opt64.load_state_dict(sd)
    state = opt64.state[a]
    assert state["exp_avg"].dtype == probe.float64
    assert state["step"].dtype == probe.float32
    assert state["exp_avg"] is not sd["state"][0]["exp_avg"]
    assert opt64.param_groups[0]["lr"] == 0.1 and opt64.param_groups[0]["params"] == [a]


def test_load_state_dict_converts_a_numeric_step():
    a = nn.Parameter(probe.ones(2))
    opt = optim.Adam([a])
    sd = {"state": {0: {"step": 3, "exp_avg": probe.zeros(2), "exp_avg_sq": probe.zeros(2)}},
          "param_groups": opt.state_dict()["param_groups"]}
    opt.load_state_dict(sd)
    assert isinstance(opt.state[a]["step"], probe.Tensor) and opt.state[a]["step"].item() == 3


def test_load_state_dict_hooks():
    a = nn.Parameter(probe.ones(2))
    opt = optim.SGD([a], lr=0.1)
    calls = []
    opt.register_state_dict_pre_hook(lambda o: calls.append("sd_pre"))
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
    opt.register_load_state_dict_pre_hook(lambda o, sd: calls.append("load_pre"))
    opt.register_load_state_dict_post_hook(lambda o: calls.append("load_post"))
    opt.register_load_state_dict_post_hook(lambda o: calls.append("first"), prepend=True)
    sd = opt.state_dict()
    assert sd["extra"] == 1
    opt.load_state_dict(sd)
    assert calls == ["sd_pre", "load_pre", "first", "load_post"]


def test_optimizer_pickles_and_deepcopies():
    model = _mlp()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    _train(model, opt, _batches(2))
    clone = copy.deepcopy(opt)
    assert clone.state_dict()["param_groups"] == opt.state_dict()["param_groups"]
    restored = pickle.loads(pickle.dumps(opt))
    assert len(restored.state) == len(opt.state)


# ---------------------------------------------------------------------------------------------
# Hooks
# ---------------------------------------------------------------------------------------------


def test_step_hooks_order_arguments_and_removal():
    w = nn.Parameter(probe.ones(1))
    opt = optim.SGD([w], lr=0.1)
    calls = []
    h_pre = opt.register_step_pre_hook(lambda o, args, kwargs: calls.append(("pre", args,
                                                                             kwargs)))
    h_post = opt.register_step_post_hook(lambda o, args, kwargs: calls.append(("post", o)))
    g_pre = optimizer_mod.register_optimizer_step_pre_hook(lambda o, a, k: calls.append("gpre"))
    g_post = optimizer_mod.register_optimizer_step_post_hook(
        lambda o, a, k: calls.append("gpost"))
    try:
        w.grad = probe.ones(1)
        opt.step()
    finally:
        g_pre.remove()
        g_post.remove()
    assert calls[0] == "gpre"
    assert calls[1][0] == "pre" and calls[1][1] == (opt,) and calls[1][2] == {}
    assert calls[2] == ("post", opt) and calls[3] == "gpost"
    h_pre.remove()
    h_post.remove()
    h_pre.remove()  # idempotent
    calls.clear()
    opt.step()
    assert calls == []


def test_step_pre_hook_can_replace_arguments():
    w = nn.Parameter(probe.tensor([1.0]))
    opt = optim.SGD([w], lr=0.1)
    closure_calls = []

    def closure():
        closure_calls.append(1)
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    opt.register_step_pre_hook(lambda o, args, kwargs: (args, {"closure": closure}))
    loss = opt.step()
    assert closure_calls == [1] and loss.item() == 1.0

    bad = optim.SGD([nn.Parameter(probe.ones(1))], lr=0.1)
    bad.register_step_pre_hook(lambda o, args, kwargs: 5)
    with pytest.raises(RuntimeError, match="must return None or a tuple of \\(new_args, "
                                           "new_kwargs\\), but got 5"):
        bad.step()


def test_hook_handle_is_context_manager():
    w = nn.Parameter(probe.ones(1))
    opt = optim.Adam([w])
    seen = []
    with opt.register_step_post_hook(lambda *a: seen.append(1)):
        opt.step()
    opt.step()
    assert seen == [1]


def test_subclass_step_gets_hooks():
    class Halve(optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {})

        def step(self, closure=None):
            for p in self.param_groups[0]["params"]:
                p.data.mul_(0.5)

    w = nn.Parameter(probe.ones(1))
    opt = Halve([w])
    seen = []
    opt.register_step_post_hook(lambda *a: seen.append(w.item()))
    opt.step()
    assert seen == [0.5]


def test_subclass_calling_super_step_runs_hooks_once():
    class Clipped(optim.SGD):
        def step(self, closure=None):
            for p in self.param_groups[0]["params"]:
                p.grad.clamp_(-1, 1)
            return super().step(closure)

    w = nn.Parameter(probe.zeros(1))
    opt = Clipped([w], lr=0.5)
    calls = []
    opt.register_step_pre_hook(lambda *a: calls.append("pre"))
    opt.register_step_post_hook(lambda *a: calls.append("post"))
    w.grad = probe.tensor([4.0])
    opt.step()
    assert calls == ["pre", "post"] and w.item() == -0.5


# ---------------------------------------------------------------------------------------------
# LBFGS
# ---------------------------------------------------------------------------------------------


def _quadratic(seed=0, n=6):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n, n))
    a = q @ q.T + n * np.eye(n)
    b = rng.standard_normal(n)
    return a, b


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_minimises_a_quadratic(line_search_fn, device):
    a_np, b_np = _quadratic()
    a = probe.tensor(a_np, device=device)
    b = probe.tensor(b_np, device=device)
    x = nn.Parameter(probe.zeros(6, dtype=probe.float64, device=device))
    opt = optim.LBFGS([x], lr=1 if line_search_fn else 0.5, max_iter=50, tolerance_grad=1e-12,
                      tolerance_change=1e-15, line_search_fn=line_search_fn)

    def closure():
        opt.zero_grad()
        loss = 0.5 * (x * (a @ x)).sum() - (b * x).sum()
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    np.testing.assert_allclose(x.detach().cpu().numpy(), np.linalg.solve(a_np, b_np),
                               rtol=1e-6, atol=1e-8)
    state = opt.state[x]
    assert state["n_iter"] > 1 and state["func_evals"] >= state["n_iter"]
    assert {"d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad",
            "prev_loss"} <= set(state)


def test_lbfgs_needs_a_closure_and_returns_first_loss():
    x = nn.Parameter(probe.tensor([3.0]))
    opt = optim.LBFGS([x])
    with pytest.raises(TypeError, match="closure"):
        opt.step()
    with pytest.raises(RuntimeError, match="needs a closure"):
        opt.step(None)
    losses = []

    def closure():
        opt.zero_grad()
        loss = ((x - 1) ** 2).sum()
        loss.backward()
        losses.append(loss.item())
        return loss

    out = opt.step(closure)
    assert out.item() == losses[0] == 4.0
    assert x.item() == pytest.approx(1.0, abs=1e-5)


def test_lbfgs_state_dict_round_trip():
    a_np, b_np = _quadratic(n=4)
    a, b = probe.tensor(a_np), probe.tensor(b_np)

    def make():
        x = nn.Parameter(probe.zeros(4, dtype=probe.float64))
        opt = optim.LBFGS([x], lr=0.3, max_iter=3, history_size=3)

        def closure():
            opt.zero_grad()
            loss = 0.5 * (x * (a @ x)).sum() - (b * x).sum()
            loss.backward()
            return loss

        return x, opt, closure

    x1, o1, c1 = make()
    for _ in range(2):
        o1.step(c1)
    x2, o2, c2 = make()
    with probe.no_grad():
        x2.copy_(x1)
    o2.load_state_dict(pickle.loads(pickle.dumps(o1.state_dict())))
    for _ in range(2):
        o1.step(c1)
        o2.step(c2)
    np.testing.assert_array_equal(x1.detach().numpy(), x2.detach().numpy())


@pytest.mark.parametrize("opt_cls", [probe.optim.SGD, probe.optim.Adam, probe.optim.AdamW,
                                     probe.optim.RMSprop, probe.optim.Adagrad])
def test_non_finite_gradients_propagate_without_numpy_warnings(opt_cls):
    import warnings

    p = probe.nn.Parameter(probe.ones(3))
    opt = opt_cls([p], lr=0.1)
    p.grad = probe.tensor([math.inf, math.nan, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as PyTorch: no warning, the weights just go non-finite
        opt.step()
    values = p.detach().numpy()
    assert not np.isfinite(values[:2]).any() and np.isfinite(values[2])
