"""Parity of probe.optim.lr_scheduler with torch.optim.lr_scheduler: for each scheduler and
common options, 60 steps of ``optimizer.step(); scheduler.step()`` give exactly the same
learning rates (and momenta / betas where the scheduler cycles them) as PyTorch, for one and for
two parameter groups; state_dicts hold the same keys and values."""

from __future__ import annotations

import math
import warnings

import pytest

import probe
import probe.optim as poptim

torch = pytest.importorskip("torch")

STEPS = 60
METRICS = [1.0, 0.9, 0.95, 0.95, 0.96, 0.94, 0.97, 0.8, 0.81, 0.82, 0.83, 0.84, 0.85, 0.7]


def _optimizer(lib, kind, two_groups):
    p1 = lib.nn.Parameter(lib.ones(2))
    p2 = lib.nn.Parameter(lib.ones(3))
    optim = poptim if lib is probe else torch.optim
    if two_groups:
        params = [{"params": [p1]}, {"params": [p2], "lr": 0.5}]
    else:
        params = [p1, p2]
    if kind == "adam":
        return optim.Adam(params, lr=0.1)
    return optim.SGD(params, lr=0.1, momentum=0.9)


def _sched_module(lib):
    return probe.optim.lr_scheduler if lib is probe else torch.optim.lr_scheduler


def _warm_then_cos(S, opt):
    warm = S.LinearLR(opt, start_factor=0.1, total_iters=5)
    cos = S.CosineAnnealingLR(opt, T_max=30, eta_min=1e-4)
    return S.SequentialLR(opt, [warm, cos], milestones=[5])


def _three_stage(S, opt):
    a = S.ConstantLR(opt, factor=0.5, total_iters=3)
    b = S.ExponentialLR(opt, gamma=0.9)
    c = S.StepLR(opt, step_size=4, gamma=0.5)
    return S.SequentialLR(opt, [a, b, c], milestones=[10, 25])


def _chained(S, opt):
    return S.ChainedScheduler([S.ConstantLR(opt, factor=0.2, total_iters=4),
                               S.ExponentialLR(opt, gamma=0.95)])


def _chained_with_sequential(S, opt):
    warm = S.LinearLR(opt, start_factor=0.25, total_iters=4)
    step = S.StepLR(opt, step_size=5, gamma=0.5)
    sequential = S.SequentialLR(opt, [warm, step], milestones=[4])
    return S.ChainedScheduler([sequential, S.ExponentialLR(opt, gamma=0.97)])


class Halving:
    """A callable object (its state goes into LambdaLR's state_dict)."""

    def __init__(self):
        self.every = 7

    def __call__(self, epoch):
        return 0.5 ** (epoch // self.every)


# (id, optimizer kind, builder(S, opt)); ReduceLROnPlateau steps on METRICS.
CASES = [
    ("StepLR", "sgd", lambda S, o: S.StepLR(o, step_size=10)),
    ("StepLR-gamma", "sgd", lambda S, o: S.StepLR(o, step_size=3, gamma=0.7)),
    ("MultiStepLR", "sgd", lambda S, o: S.MultiStepLR(o, milestones=[5, 20, 40], gamma=0.5)),
    ("MultiStepLR-repeated", "sgd", lambda S, o: S.MultiStepLR(o, milestones=[5, 5, 30])),
    ("ExponentialLR", "sgd", lambda S, o: S.ExponentialLR(o, gamma=0.93)),
    ("CosineAnnealingLR", "sgd", lambda S, o: S.CosineAnnealingLR(o, T_max=20)),
    ("CosineAnnealingLR-eta_min", "sgd",
     lambda S, o: S.CosineAnnealingLR(o, T_max=7, eta_min=0.01)),
    ("CosineAnnealingLR-long", "adam", lambda S, o: S.CosineAnnealingLR(o, T_max=100)),
    ("LambdaLR", "sgd", lambda S, o: S.LambdaLR(o, lambda e: 1.0 / (1 + e))),
    ("LambdaLR-object", "sgd", lambda S, o: S.LambdaLR(o, Halving())),
    ("MultiplicativeLR", "sgd", lambda S, o: S.MultiplicativeLR(o, lambda e: 0.97)),
    ("LinearLR", "sgd", lambda S, o: S.LinearLR(o)),
    ("LinearLR-decay", "sgd",
     lambda S, o: S.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=40)),
    ("ConstantLR", "sgd", lambda S, o: S.ConstantLR(o)),
    ("ConstantLR-factor", "sgd", lambda S, o: S.ConstantLR(o, factor=0.25, total_iters=12)),
    ("PolynomialLR", "sgd", lambda S, o: S.PolynomialLR(o, total_iters=30, power=2.0)),
    ("OneCycleLR-cos", "sgd", lambda S, o: S.OneCycleLR(o, max_lr=1.0, total_steps=STEPS)),
    ("OneCycleLR-linear", "sgd",
     lambda S, o: S.OneCycleLR(o, max_lr=0.8, total_steps=STEPS, anneal_strategy="linear",
                               pct_start=0.25)),
    ("OneCycleLR-three_phase", "sgd",
     lambda S, o: S.OneCycleLR(o, max_lr=[1.0, 2.0] if len(o.param_groups) == 2 else 1.0,
                               epochs=6, steps_per_epoch=10, three_phase=True)),
    ("OneCycleLR-adam-betas", "adam",
     lambda S, o: S.OneCycleLR(o, max_lr=0.01, total_steps=STEPS, div_factor=10.0,
                               final_div_factor=100.0)),
    ("OneCycleLR-no-momentum", "adam",
     lambda S, o: S.OneCycleLR(o, max_lr=0.01, total_steps=STEPS, cycle_momentum=False)),
    ("ReduceLROnPlateau", "sgd", lambda S, o: S.ReduceLROnPlateau(o, patience=1)),
    ("ReduceLROnPlateau-max-abs", "sgd",
     lambda S, o: S.ReduceLROnPlateau(o, mode="max", factor=0.5, patience=0,
                                      threshold=0.01, threshold_mode="abs")),
    ("ReduceLROnPlateau-cooldown-minlr", "sgd",
     lambda S, o: S.ReduceLROnPlateau(o, factor=0.3, patience=0, cooldown=2, min_lr=0.02)),
    ("ReduceLROnPlateau-eps", "sgd",
     lambda S, o: S.ReduceLROnPlateau(o, factor=0.5, patience=0, eps=0.03)),
    ("SequentialLR-warmup-cosine", "sgd", _warm_then_cos),
    ("SequentialLR-three", "sgd", _three_stage),
    ("ChainedScheduler", "sgd", _chained),
    ("ChainedScheduler-of-sequential", "sgd", _chained_with_sequential),
    ("CosineAnnealingWarmRestarts", "sgd",
     lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=10)),
    ("CosineAnnealingWarmRestarts-mult", "sgd",
     lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.001)),
    ("CyclicLR-triangular", "sgd",
     lambda S, o: S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=7)),
    ("CyclicLR-triangular2", "sgd",
     lambda S, o: S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5, step_size_down=3,
                             mode="triangular2")),
    ("CyclicLR-exp_range-adam", "adam",
     lambda S, o: S.CyclicLR(o, base_lr=0.001, max_lr=0.01, step_size_up=6, mode="exp_range",
                             gamma=0.97)),
]


def _trace(lib, kind, build, two_groups, plateau):
    opt = _optimizer(lib, kind, two_groups)
    S = _sched_module(lib)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = build(S, opt)
    record = [_snapshot(opt, sched)]
    for i in range(STEPS):
        opt.step()
        if plateau:
            sched.step(METRICS[i % len(METRICS)] * (0.99 ** (i // len(METRICS))))
        else:
            sched.step()
        record.append(_snapshot(opt, sched))
    return record, sched


def _snapshot(opt, sched):
    groups = [(g["lr"], g.get("momentum"), tuple(g.get("betas", ()))) for g in opt.param_groups]
    return groups, list(sched.get_last_lr())


@pytest.mark.parametrize("two_groups", [False, True], ids=["one-group", "two-groups"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_lr_sequence_matches_torch(case, two_groups):
    name, kind, build = case
    plateau = name.startswith("ReduceLROnPlateau")
    want, tsched = _trace(torch, kind, build, two_groups, plateau)
    got, psched = _trace(probe, kind, build, two_groups, plateau)
    assert got == want  # exactly: same formulas in the same order
    _assert_same_state(psched.state_dict(), tsched.state_dict())


def _assert_same_state(pstate, tstate):
    assert sorted(pstate) == sorted(tstate)
    for key, tvalue in tstate.items():
        pvalue = pstate[key]
        if key == "_schedulers":
            for p, t in zip(pvalue, tvalue):
                _assert_same_state(p, t)
        elif key in ("_scale_fn_ref", "lr_lambdas", "_scale_fn_custom"):
            continue
        elif isinstance(tvalue, float) and math.isnan(tvalue):
            assert math.isnan(pvalue)
        else:
            assert pvalue == tvalue, key


@pytest.mark.parametrize("name,builder", [
    ("StepLR", lambda S, o: S.StepLR(o, step_size=4, gamma=0.5)),
    ("MultiStepLR", lambda S, o: S.MultiStepLR(o, milestones=[3, 9])),
    ("ExponentialLR", lambda S, o: S.ExponentialLR(o, gamma=0.9)),
    ("CosineAnnealingLR", lambda S, o: S.CosineAnnealingLR(o, T_max=10)),
    ("LinearLR", lambda S, o: S.LinearLR(o, total_iters=8)),
    ("ConstantLR", lambda S, o: S.ConstantLR(o, total_iters=6)),
    ("PolynomialLR", lambda S, o: S.PolynomialLR(o, total_iters=12)),
    ("CosineAnnealingWarmRestarts", lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=3,
                                                                              T_mult=2)),
])
def test_explicit_epochs_use_the_closed_form_like_torch(name, builder):
    epochs = [0, 1, 2, 5, 3, 11, 7.5 if name == "CosineAnnealingWarmRestarts" else 7, 20]
    traces = []
    for lib in (torch, probe):
        opt = _optimizer(lib, "sgd", False)
        sched = builder(_sched_module(lib), opt)
        trace = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for epoch in epochs:
                opt.step()
                sched.step(epoch)
                trace.append(sched.get_last_lr())
        traces.append(trace)
    assert traces[0] == traces[1]


def test_resuming_from_state_dict_continues_like_torch():
    def run(lib):
        S = _sched_module(lib)
        opt = _optimizer(lib, "sgd", True)
        sched = _warm_then_cos(S, opt)
        for _ in range(12):
            opt.step()
            sched.step()
        state = sched.state_dict()
        opt_state = opt.state_dict()
        opt2 = _optimizer(lib, "sgd", True)
        sched2 = _warm_then_cos(S, opt2)
        opt2.load_state_dict(opt_state)
        sched2.load_state_dict(state)
        out = []
        for _ in range(20):
            opt2.step()
            sched2.step()
            out.append(sched2.get_last_lr())
        return out

    assert run(probe) == run(torch)


def test_errors_match_torch():
    calls = [
        lambda S, o: S.ConstantLR(o, factor=2.0),
        lambda S, o: S.LinearLR(o, start_factor=0),
        lambda S, o: S.LinearLR(o, end_factor=1.5),
        lambda S, o: S.ReduceLROnPlateau(o, factor=1.0),
        lambda S, o: S.ReduceLROnPlateau(o, mode="avg"),
        lambda S, o: S.ReduceLROnPlateau(o, threshold_mode="x"),
        lambda S, o: S.ReduceLROnPlateau(o, min_lr=[0.1, 0.2, 0.3]),
        lambda S, o: S.OneCycleLR(o, max_lr=1.0),
        lambda S, o: S.OneCycleLR(o, max_lr=1.0, total_steps=0),
        lambda S, o: S.OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=1),
        lambda S, o: S.OneCycleLR(o, max_lr=1.0, total_steps=10, anneal_strategy="exp"),
        lambda S, o: S.OneCycleLR(o, max_lr=[1.0, 2.0, 3.0], total_steps=10),
        lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=0),
        lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0),
        lambda S, o: S.SequentialLR(o, [S.StepLR(o, 2)], milestones=[3]),
        lambda S, o: S.SequentialLR(o, [], milestones=[]),
        lambda S, o: S.SequentialLR(o, [S.ReduceLROnPlateau(o)], milestones=[]),
        lambda S, o: S.ChainedScheduler([]),
        lambda S, o: S.LambdaLR(o, [lambda e: 1.0] * 3),
        lambda S, o: S.StepLR(o, step_size=2, last_epoch=3),
        lambda S, o: S.StepLR(object(), step_size=2),
        lambda S, o: S.CyclicLR(o, 0.1, 1.0, mode="sine"),
    ]
    for call in calls:
        errors = []
        for lib in (torch, probe):
            opt = _optimizer(lib, "sgd", False)
            with pytest.raises(Exception) as info:
                call(_sched_module(lib), opt)
            errors.append((type(info.value).__name__, str(info.value)))
        assert errors[0] == errors[1]


def test_step_order_warning_like_torch():
    for lib in (torch, probe):
        opt = _optimizer(lib, "sgd", False)
        sched = _sched_module(lib).StepLR(opt, step_size=2)
        with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before "
                                             "`optimizer.step\\(\\)`"):
            sched.step()
        opt2 = _optimizer(lib, "sgd", False)
        sched2 = _sched_module(lib).StepLR(opt2, step_size=2)
        opt2.step()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sched2.step()
            sched2.get_last_lr()
        with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
            sched2.get_lr()
