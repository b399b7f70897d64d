"""Parity of probe.optim with torch.optim: the same small MLP (weights copied from torch), the
same batches, 100 optimizer steps (LBFGS: 10 steps), then the parameters are compared — float32
to float32 precision, float64 to 1e-10 (which pins the formulas down exactly, option by option).
state_dict layouts are compared key by key, including the dtype of the ``step`` counters."""

from __future__ import annotations

import numpy as np
import pytest

import probe
import probe.optim as poptim

torch = pytest.importorskip("torch")

from harness import assert_same_error  # noqa: E402

N_IN, N_HIDDEN, N_OUT, BATCH = 8, 16, 4, 32


def _data(dtype, n_batches=4, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((BATCH, N_IN)).astype(dtype),
             rng.standard_normal((BATCH, N_OUT)).astype(dtype)) for _ in range(n_batches)]


def _models(np_dtype, seed=0):
    """The same MLP in both libraries: torch's initial weights copied into probe."""
    torch.manual_seed(seed)
    tdtype = torch.float32 if np_dtype == np.float32 else torch.float64
    pdtype = probe.float32 if np_dtype == np.float32 else probe.float64
    tmodel = torch.nn.Sequential(torch.nn.Linear(N_IN, N_HIDDEN), torch.nn.Tanh(),
                                 torch.nn.Linear(N_HIDDEN, N_OUT)).to(tdtype)
    pmodel = probe.nn.Sequential(probe.nn.Linear(N_IN, N_HIDDEN), probe.nn.Tanh(),
                                 probe.nn.Linear(N_HIDDEN, N_OUT)).to(pdtype)
    pmodel.load_state_dict({k: probe.tensor(v.detach().numpy())
                            for k, v in tmodel.state_dict().items()})
    return tmodel, pmodel


def _params_arg(lib_model, groups):
    """All parameters, or two groups (first layer / last layer) with per-group options."""
    params = list(lib_model.parameters())
    if groups is None:
        return params
    return [{"params": params[:2], **groups[0]}, {"params": params[2:], **groups[1]}]


def _loss(lib, model, x, y, sign):
    out = model(x)
    return sign * ((out - y) ** 2).mean()


def _run(lib, model, opt_cls, kwargs, batches, steps, groups=None, sign=1.0):
    opt = opt_cls(_params_arg(model, groups), **kwargs)
    for i in range(steps):
        x, y = batches[i % len(batches)]
        x, y = lib.tensor(x), lib.tensor(y)
        if isinstance(opt, (torch.optim.LBFGS, poptim.LBFGS)):
            def closure(x=x, y=y):
                opt.zero_grad()
                loss = _loss(lib, model, x, y, sign)
                loss.backward()
                return loss

            opt.step(closure)
        else:
            opt.zero_grad()
            _loss(lib, model, x, y, sign).backward()
            opt.step()
    return [p.detach().numpy().copy() for p in model.parameters()], opt


# (name, kwargs, sign of the loss, per-group options or None). ``maximize`` runs on the negated
# loss so that training still converges (a diverging run amplifies rounding differences).
CASES = [
    ("SGD", {"lr": 0.1}, 1.0, None),
    ("SGD", {}, 1.0, None),
    ("SGD", {"lr": 0.05, "momentum": 0.9}, 1.0, None),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.2}, 1.0, None),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}, 1.0, None),
    ("SGD", {"lr": 0.05, "weight_decay": 0.05}, 1.0, None),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "maximize": True}, -1.0, None),
    ("SGD", {"lr": 0.05, "momentum": 0.5}, 1.0, ({"lr": 0.1}, {"momentum": 0.9,
                                                              "nesterov": True})),
    ("Adam", {}, 1.0, None),
    ("Adam", {"lr": 1e-2}, 1.0, None),
    ("Adam", {"lr": 1e-2, "amsgrad": True}, 1.0, None),
    ("Adam", {"lr": 1e-2, "weight_decay": 0.1}, 1.0, None),
    ("Adam", {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-6}, 1.0, None),
    ("Adam", {"lr": 1e-2, "amsgrad": True, "weight_decay": 0.05, "maximize": True}, -1.0,
     None),
    ("Adam", {"lr": 1e-2, "decoupled_weight_decay": True, "weight_decay": 0.1}, 1.0, None),
    ("Adam", {"lr": 1e-2}, 1.0, ({"lr": 3e-3}, {"betas": (0.5, 0.9), "amsgrad": True})),
    ("AdamW", {}, 1.0, None),
    ("AdamW", {"lr": 1e-2}, 1.0, None),
    ("AdamW", {"lr": 1e-2, "weight_decay": 0.3, "amsgrad": True}, 1.0, None),
    ("AdamW", {"lr": 1e-2, "maximize": True}, -1.0, None),
    ("RMSprop", {"lr": 1e-3}, 1.0, None),
    ("RMSprop", {"lr": 1e-3, "alpha": 0.9, "eps": 1e-6}, 1.0, None),
    ("RMSprop", {"lr": 1e-3, "centered": True}, 1.0, None),
    ("RMSprop", {"lr": 1e-3, "momentum": 0.9}, 1.0, None),
    ("RMSprop", {"lr": 1e-3, "centered": True, "momentum": 0.9, "weight_decay": 1e-2}, 1.0,
     None),
    ("RMSprop", {"lr": 1e-3, "maximize": True}, -1.0, None),
    ("Adagrad", {}, 1.0, None),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}, 1.0, None),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.01, "initial_accumulator_value": 0.1}, 1.0,
     None),
    ("Adagrad", {"lr": 0.1, "eps": 1e-6, "maximize": True}, -1.0, None),
]


def _case_id(case):
    name, kwargs, _, groups = case
    text = ",".join(f"{k}={v}" for k, v in kwargs.items())
    return f"{name}({text}){'-groups' if groups else ''}"


DTYPES = [pytest.param((np.float32, 1e-5, 1e-6), id="float32"),
          pytest.param((np.float64, 1e-10, 1e-12), id="float64")]


@pytest.mark.parametrize("dtype_tol", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_100_steps_match_torch(case, dtype_tol):
    np_dtype, rtol, atol = dtype_tol
    name, kwargs, sign, groups = case
    batches = _data(np_dtype)
    tmodel, pmodel = _models(np_dtype)
    want, topt = _run(torch, tmodel, getattr(torch.optim, name), kwargs, batches, 100, groups,
                      sign)
    got, popt = _run(probe, pmodel, getattr(poptim, name), kwargs, batches, 100, groups, sign)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    _assert_same_state_dict(popt.state_dict(), topt.state_dict(), rtol * 10, atol * 10)


def _assert_same_state_dict(psd, tsd, rtol, atol):
    assert list(psd) == list(tsd) == ["state", "param_groups"]
    assert len(psd["param_groups"]) == len(tsd["param_groups"])
    for pg, tg in zip(psd["param_groups"], tsd["param_groups"]):
        assert list(pg) == list(tg)
        for key in tg:
            assert pg[key] == tg[key], key
    assert list(psd["state"]) == list(tsd["state"])
    for index, tstate in tsd["state"].items():
        pstate = psd["state"][index]
        assert list(pstate) == list(tstate)
        for key, tvalue in tstate.items():
            pvalue = pstate[key]
            if isinstance(tvalue, torch.Tensor):
                assert isinstance(pvalue, probe.Tensor), key
                assert str(pvalue.dtype).split(".")[-1] == str(tvalue.dtype).split(".")[-1], key
                assert tuple(pvalue.shape) == tuple(tvalue.shape), key
                np.testing.assert_allclose(pvalue.numpy(), tvalue.numpy(), rtol=rtol,
                                           atol=atol, err_msg=key)
            else:
                assert pvalue == tvalue, key


# ---------------------------------------------------------------------------------------------
# LBFGS: 10 steps of up to 20 iterations each.
# ---------------------------------------------------------------------------------------------

LBFGS_CASES = [
    {},
    {"line_search_fn": "strong_wolfe"},
    {"lr": 0.5, "history_size": 5, "max_iter": 10},
    {"history_size": 3, "line_search_fn": "strong_wolfe", "max_eval": 15},
]


def _least_squares(np_dtype, seed=3):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((40, 6)).astype(np_dtype)
    b = rng.standard_normal(40).astype(np_dtype)
    x0 = rng.standard_normal(6).astype(np_dtype)
    return a, b, x0


def _run_lbfgs_least_squares(lib, opt_cls, kwargs, np_dtype):
    a_np, b_np, x0 = _least_squares(np_dtype)
    a, b = lib.tensor(a_np), lib.tensor(b_np)
    w = lib.nn.Parameter(lib.tensor(x0[:4]))
    c = lib.nn.Parameter(lib.tensor(x0[4:]))
    opt = opt_cls([w, c], **kwargs)

    def closure():
        opt.zero_grad()
        x = lib.cat([w, c])
        r = a @ x - b
        loss = (r * r).mean() + 0.1 * (x * x).sum()
        loss.backward()
        return loss

    losses = [opt.step(closure).item() for _ in range(10)]
    return [w.detach().numpy().copy(), c.detach().numpy().copy()], losses, opt


@pytest.mark.parametrize("kwargs", LBFGS_CASES, ids=str)
@pytest.mark.parametrize("dtype_tol", [pytest.param((np.float32, 1e-5, 1e-6), id="float32"),
                                       pytest.param((np.float64, 1e-10, 1e-12), id="float64")])
def test_lbfgs_least_squares_matches_torch(kwargs, dtype_tol):
    np_dtype, rtol, atol = dtype_tol
    want, tlosses, topt = _run_lbfgs_least_squares(torch, torch.optim.LBFGS, kwargs, np_dtype)
    got, plosses, popt = _run_lbfgs_least_squares(probe, poptim.LBFGS, kwargs, np_dtype)
    # In float32 the loss near the minimum is flat to rounding: a step of d moves it by about
    # d**2, so once the line search works at float32 noise, two libraries that sum in another
    # order stop at points up to ~sqrt(eps) * |x| apart with the same loss. The losses are
    # compared at full precision; the float32 parameters only to that resolution.
    param_atol = 1e-4 if np_dtype == np.float32 else atol
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=param_atol)
    np.testing.assert_allclose(plosses, tlosses, rtol=rtol)
    pstate = popt.state_dict()["state"][0]
    tstate = topt.state_dict()["state"][0]
    assert sorted(pstate) == sorted(tstate)
    if np_dtype == np.float64:
        # In float32 the stopping tests (|loss change| < 1e-9) near the minimum depend on the
        # last bit of the loss, so iteration counts may differ by one while the point agrees.
        assert pstate["n_iter"] == tstate["n_iter"]
        assert pstate["func_evals"] == tstate["func_evals"]


# On the non-convex MLP, rounding differences grow from step to step (about 100x per step with
# a 3-pair history), so the MLP runs use the two default configurations, in float64.
@pytest.mark.parametrize("kwargs", LBFGS_CASES[:2], ids=str)
def test_lbfgs_mlp_float64_matches_torch(kwargs):
    batches = _data(np.float64, n_batches=1)  # full batch: LBFGS's setting
    tmodel, pmodel = _models(np.float64)
    want, topt = _run(torch, tmodel, torch.optim.LBFGS, kwargs, batches, 10)
    got, popt = _run(probe, pmodel, poptim.LBFGS, kwargs, batches, 10)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-7, atol=1e-9)
    assert popt.state_dict()["state"][0]["n_iter"] == topt.state_dict()["state"][0]["n_iter"]


# ---------------------------------------------------------------------------------------------
# State dicts and defaults
# ---------------------------------------------------------------------------------------------

FRESH = [
    ("SGD", {}), ("SGD", {"momentum": 0.9}), ("Adam", {}), ("Adam", {"amsgrad": True}),
    ("AdamW", {}), ("RMSprop", {}), ("RMSprop", {"momentum": 0.5, "centered": True}),
    ("Adagrad", {}), ("LBFGS", {}),
]


@pytest.mark.parametrize("name,kwargs", FRESH, ids=[f"{n}{k}" for n, k in FRESH])
def test_defaults_and_state_dict_structure(name, kwargs):
    tmodel, pmodel = _models(np.float32)
    topt = getattr(torch.optim, name)(tmodel.parameters(), **kwargs)
    popt = getattr(poptim, name)(pmodel.parameters(), **kwargs)
    assert popt.defaults == topt.defaults
    # Before any step (Adagrad already has state), then after one step.
    _assert_same_state_dict(popt.state_dict(), topt.state_dict(), 1e-6, 1e-7)
    assert repr(popt) == repr(topt)
    if name == "LBFGS":
        return
    x, y = _data(np.float32)[0]
    for lib, model, opt in ((torch, tmodel, topt), (probe, pmodel, popt)):
        opt.zero_grad()
        _loss(lib, model, lib.tensor(x), lib.tensor(y), 1.0).backward()
        opt.step()
    _assert_same_state_dict(popt.state_dict(), topt.state_dict(), 1e-5, 1e-6)


def test_torch_state_dict_loads_into_probe_and_resumes():
    """A torch optimizer's state (converted to probe tensors) resumes training in probe exactly
    where torch continues it."""
    batches = _data(np.float32)
    tmodel, pmodel = _models(np.float32)
    topt = torch.optim.Adam(tmodel.parameters(), lr=1e-2, amsgrad=True)
    for x, y in batches[:2]:
        topt.zero_grad()
        _loss(torch, tmodel, torch.tensor(x), torch.tensor(y), 1.0).backward()
        topt.step()
    pmodel.load_state_dict({k: probe.tensor(v.detach().numpy())
                            for k, v in tmodel.state_dict().items()})
    tsd = topt.state_dict()
    psd = {"state": {i: {k: probe.tensor(v.numpy()) for k, v in s.items()}
                     for i, s in tsd["state"].items()},
           "param_groups": tsd["param_groups"]}
    popt = poptim.Adam(pmodel.parameters())
    popt.load_state_dict(psd)
    assert popt.param_groups[0]["lr"] == 1e-2 and popt.param_groups[0]["amsgrad"]
    for x, y in batches[2:]:
        for lib, model, opt in ((torch, tmodel, topt), (probe, pmodel, popt)):
            opt.zero_grad()
            _loss(lib, model, lib.tensor(x), lib.tensor(y), 1.0).backward()
            opt.step()
    for p, t in zip(pmodel.parameters(), tmodel.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), t.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)


def test_error_messages_match_torch():
    tp = torch.nn.Parameter(torch.ones(2))
    pp = probe.nn.Parameter(probe.ones(2))
    calls = [
        lambda lib, p: lib.optim.SGD([], lr=0.1),
        lambda lib, p: lib.optim.SGD([p * 2], lr=0.1),
        lambda lib, p: lib.optim.SGD([p], lr=-0.5),
        lambda lib, p: lib.optim.SGD([p], momentum=-1),
        lambda lib, p: lib.optim.SGD([p], weight_decay=-1),
        lambda lib, p: lib.optim.SGD([p], momentum=0.5, nesterov=True, dampening=0.5),
        lambda lib, p: lib.optim.Adam([p], betas=(0.9, 1.5)),
        lambda lib, p: lib.optim.Adam([p], betas=(-0.1, 0.5)),
        lambda lib, p: lib.optim.Adam([p], eps=-1),
        lambda lib, p: lib.optim.AdamW([p], weight_decay=-0.1),
        lambda lib, p: lib.optim.RMSprop([p], alpha=-0.1),
        lambda lib, p: lib.optim.RMSprop([p], momentum=-0.1),
        lambda lib, p: lib.optim.Adagrad([p], lr_decay=-1),
        lambda lib, p: lib.optim.Adagrad([p], initial_accumulator_value=-1),
        lambda lib, p: lib.optim.SGD([p, p], lr=0.1).add_param_group({"params": [p]}),
        lambda lib, p: lib.optim.SGD([p], lr=0.1).add_param_group([p]),
        lambda lib, p: lib.optim.SGD([1.0], lr=0.1),
        lambda lib, p: lib.optim.LBFGS([{"params": [p]}, {"params": []}]),
    ]
    for call in calls:
        assert_same_error(lambda lib, call=call: call(lib, tp if lib is torch else pp),
                          quiet=True)
