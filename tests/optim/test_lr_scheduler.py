"""probe.optim.lr_scheduler without PyTorch: learning-rate sequences against closed forms
written out here, state_dict round trips, parameter groups, tensor learning rates, momentum
cycling and the warnings and errors."""

from __future__ import annotations

import math
import pickle
import warnings

import pytest

import probe
from probe import nn, optim
from probe.optim import lr_scheduler as S


def make_opt(lr=1.0, groups=1, cls=optim.SGD, **kwargs):
    params = [nn.Parameter(probe.ones(2)) for _ in range(groups)]
    if groups == 1:
        return cls(params, lr=lr, **kwargs)
    return cls([{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(params)], **kwargs)


def trace(opt, sched, steps, metrics=None):
    out = []
    for i in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
        out.append(sched.get_last_lr()[0])
    return out


def test_initial_lr_and_base_lrs():
    opt = make_opt(0.3, groups=2)
    sched = S.StepLR(opt, step_size=2)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.3, 0.6]
    assert sched.base_lrs == [0.3, 0.6] and sched.last_epoch == 0
    assert sched.get_last_lr() == [0.3, 0.6]


def test_step_and_multistep():
    opt = make_opt()
    assert trace(opt, S.StepLR(opt, step_size=3, gamma=0.5), 7) == pytest.approx(
        [0.5 ** ((e + 1) // 3) for e in range(7)])
    opt = make_opt()
    got = trace(opt, S.MultiStepLR(opt, milestones=[2, 5], gamma=0.1), 6)
    assert got == pytest.approx([1.0, 0.1, 0.1, 0.1, 0.01, 0.01])


def test_exponential_and_polynomial():
    opt = make_opt()
    assert trace(opt, S.ExponentialLR(opt, gamma=0.9), 5) == pytest.approx(
        [0.9 ** (e + 1) for e in range(5)])
    opt = make_opt()
    got = trace(opt, S.PolynomialLR(opt, total_iters=4, power=2.0), 6)
    assert got == pytest.approx([(1 - min(e + 1, 4) / 4) ** 2 for e in range(6)], abs=1e-12)


def test_cosine_annealing_follows_closed_form():
    opt = make_opt()
    t_max, eta_min = 10, 0.1
    got = trace(opt, S.CosineAnnealingLR(opt, T_max=t_max, eta_min=eta_min), 25)
    want = [eta_min + (1 - eta_min) * (1 + math.cos(math.pi * (e + 1) / t_max)) / 2
            for e in range(25)]
    assert got == pytest.approx(want, abs=1e-12)


def test_linear_and_constant():
    opt = make_opt()
    got = trace(opt, S.LinearLR(opt, start_factor=0.5, end_factor=1.0, total_iters=4), 6)
    assert got == pytest.approx([0.625, 0.75, 0.875, 1.0, 1.0, 1.0])
    opt = make_opt()
    sched = S.ConstantLR(opt, factor=0.5, total_iters=3)
    assert sched.get_last_lr() == [0.5]
    assert trace(opt, sched, 4) == pytest.approx([0.5, 0.5, 1.0, 1.0])


def test_lambda_and_multiplicative_per_group():
    opt = make_opt(1.0, groups=2)
    sched = S.LambdaLR(opt, [lambda e: 0.5 ** e, lambda e: 1.0 / (e + 1)])
    opt.step()
    sched.step()
    sched.step()
    assert sched.get_last_lr() == pytest.approx([0.25, 2.0 / 3])
    opt = make_opt(1.0)
    sched = S.MultiplicativeLR(opt, lambda e: 0.9)
    assert trace(opt, sched, 3) == pytest.approx([0.9, 0.81, 0.729])
    with pytest.raises(TypeError, match="lr_lambda should be a function, but got int"):
        S.MultiplicativeLR(make_opt(), 3)


def test_one_cycle_cycles_lr_and_momentum():
    opt = make_opt(0.1, momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=0.3)
    group = opt.param_groups[0]
    assert group["lr"] == pytest.approx(1.0 / 25) and group["momentum"] == 0.95
    lrs, moms = [group["lr"]], [group["momentum"]]
    for _ in range(9):
        opt.step()
        sched.step()
        lrs.append(group["lr"])
        moms.append(group["momentum"])
    assert max(lrs) == pytest.approx(1.0) and lrs.index(max(lrs)) == 2
    assert min(moms) == pytest.approx(0.85) and moms.index(min(moms)) == 2
    assert lrs[-1] == pytest.approx(1.0 / 25 / 1e4)
    opt.step()
    sched.step()
    with pytest.raises(ValueError, match="Tried to step 11 times. The specified number of total "
                                         "steps is 10"):
        sched.step()


def test_one_cycle_cycles_adam_beta1():
    opt = make_opt(0.1, cls=optim.Adam)
    S.OneCycleLR(opt, max_lr=0.01, total_steps=20)
    assert opt.param_groups[0]["betas"] == (0.95, 0.999)
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        S.OneCycleLR(make_opt(cls=optim.Adagrad), max_lr=0.1, total_steps=5)


def test_reduce_on_plateau():
    opt = make_opt(1.0)
    sched = S.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1, min_lr=0.2)
    metrics = [1.0] * 8 + [0.5] * 4
    got = trace(opt, sched, len(metrics), metrics)
    # Two bad epochs (> patience) halve the lr, the next epoch is cooldown; never below min_lr.
    assert got == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.25, 0.2, 0.2]
    assert sched.best == 0.5
    opt = make_opt(1.0)
    sched = S.ReduceLROnPlateau(opt, mode="max", patience=0, factor=0.1)
    sched.step(probe.tensor(1.0))
    sched.step(probe.tensor(0.5))
    assert sched.get_last_lr() == pytest.approx([0.1])


def test_sequential_and_chained():
    opt = make_opt(1.0)
    warm = S.LinearLR(opt, start_factor=0.5, total_iters=2)
    decay = S.ExponentialLR(opt, gamma=0.5)
    sched = S.SequentialLR(opt, [warm, decay], milestones=[2])
    assert opt.param_groups[0]["lr"] == 0.5
    assert trace(opt, sched, 4) == pytest.approx([0.75, 1.0, 0.5, 0.25])
    opt = make_opt(1.0)
    chained = S.ChainedScheduler([S.ConstantLR(opt, factor=0.5, total_iters=2),
                                  S.ExponentialLR(opt, gamma=0.9)])
    assert trace(opt, chained, 3) == pytest.approx([0.45, 0.81, 0.729])


def test_warm_restarts_and_cyclic():
    opt = make_opt(1.0)
    got = trace(opt, S.CosineAnnealingWarmRestarts(opt, T_0=3), 6)
    want = [(1 + math.cos(math.pi * (e % 3) / 3)) / 2 for e in range(1, 7)]
    assert got == pytest.approx(want)
    opt = make_opt(1.0, momentum=0.9)
    sched = S.CyclicLR(opt, base_lr=0.1, max_lr=1.0, step_size_up=2)
    assert trace(opt, sched, 4) == pytest.approx([0.55, 1.0, 0.55, 0.1])
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.9)


def test_state_dict_round_trip_continues_identically():
    def build(opt):
        return S.SequentialLR(opt, [S.LinearLR(opt, start_factor=0.1, total_iters=3),
                                    S.CosineAnnealingLR(opt, T_max=8)], milestones=[3])

    opt = make_opt(1.0, groups=2)
    sched = build(opt)
    for _ in range(5):
        opt.step()
        sched.step()
    saved_sched = pickle.loads(pickle.dumps(sched.state_dict()))
    saved_opt = opt.state_dict()
    opt2 = make_opt(1.0, groups=2)
    sched2 = build(opt2)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    assert trace(opt, sched, 10) == trace(opt2, sched2, 10)


def test_lambda_state_dict_keeps_callable_objects_only():
    class Decay:
        def __init__(self):
            self.rate = 0.5

        def __call__(self, epoch):
            return self.rate ** epoch

    opt = make_opt(1.0, groups=2)
    fn = Decay()
    sched = S.LambdaLR(opt, [fn, lambda e: 1.0])
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"rate": 0.5}, None]
    fn.rate = 0.1
    sched.load_state_dict(state)
    assert fn.rate == 0.5


def test_tensor_lr_is_filled_in_place():
    lr = probe.tensor(1.0)
    opt = optim.SGD([nn.Parameter(probe.ones(2))], lr=lr)
    sched = S.StepLR(opt, step_size=1, gamma=0.5)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] is lr and lr.item() == 0.5
    assert isinstance(sched.get_last_lr()[0], probe.Tensor)


def test_warnings():
    opt = make_opt()
    sched = S.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="Detected call of `lr_scheduler.step\\(\\)` before"):
        sched.step()
    opt = make_opt()
    sched = S.StepLR(opt, step_size=2)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        sched.get_lr()
    with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)`"):
        sched.step(5)


def test_errors():
    opt = make_opt()
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        S.StepLR([], step_size=1)
    with pytest.raises(KeyError, match="'initial_lr' is not specified in param_groups\\[0\\]"):
        S.StepLR(opt, step_size=1, last_epoch=4)
    with pytest.raises(ValueError, match="Expected positive integer total_steps, but got -1"):
        S.OneCycleLR(opt, max_lr=1.0, total_steps=-1)
    with pytest.raises(ValueError, match="You must define either total_steps OR"):
        S.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="expects number of schedulers provided to be one more"):
        S.SequentialLR(opt, [S.StepLR(opt, 1)], milestones=[2])
    other = make_opt()
    with pytest.raises(ValueError, match="expects all schedulers to belong to the same optimizer"):
        S.SequentialLR(opt, [S.StepLR(opt, 1), S.StepLR(other, 1)], milestones=[2])
    with pytest.raises(ValueError, match="Factor should be < 1.0."):
        S.ReduceLROnPlateau(opt, factor=2)
    with pytest.raises(ValueError, match="Expected non-negative epoch, but got -1"):
        S.CosineAnnealingWarmRestarts(opt, T_0=2).step(-1)
    # A failed OneCycleLR construction leaves the groups untouched.
    before = dict(opt.param_groups[0])
    with pytest.raises(ValueError):
        S.OneCycleLR(make_opt(cls=optim.Adagrad), max_lr=1.0, total_steps=3)
    assert opt.param_groups[0] == before
