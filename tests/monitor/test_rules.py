import pytest

import probe
import probe.nn as nn
import probe.optim as optim
from probe.monitor import GradientMonitor, TrainingController, TrainingStopped
from probe.monitor.rules import (
    DeadUnitsRule,
    ExplodingRule,
    NonFiniteRule,
    Rule,
    UpdateRatioRule,
    VanishingRule,
    default_rules,
)


def _model():
    probe.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def _step(model, opt, set_grads=None):
    opt.zero_grad()
    model(probe.ones(2, 3)).sum().backward()
    if set_grads:
        set_grads(model)
    opt.step()


def _alerts(mon, rule):
    return [a for a in mon.last_record["alerts"] if a["rule"] == rule]


def test_nonfinite_names_first_layer_in_backward_order():
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    mon = GradientMonitor(model, opt, rules=[NonFiniteRule()])

    def inject(m):
        m[0].weight.grad[0, 0] = float("nan")
        m[2].weight.grad[0, 0] = float("inf")
    _step(model, opt, inject)
    (alert,) = _alerts(mon, "nonfinite")
    assert alert["layer"] == "2.weight" and alert["severity"] == "critical"


def test_exploding_threshold_and_spike():
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.0)
    mon = GradientMonitor(model, opt, rules=[ExplodingRule(max_norm=1e3, min_history=5)])
    for _ in range(6):
        _step(model, opt)
    assert not mon.last_record["alerts"]
    _step(model, opt, lambda m: m[2].weight.grad.mul_(1e2))
    assert [a["layer"] for a in _alerts(mon, "exploding")] == ["2.weight"]
    _step(model, opt, lambda m: m[0].weight.grad.fill_(1e5))
    assert any(a["layer"] is None for a in _alerts(mon, "exploding"))


def test_vanishing_rules():
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.0)
    mon = GradientMonitor(model, opt, rules=[VanishingRule()])
    _step(model, opt, lambda m: m[0].weight.grad.mul_(1e-12))
    assert [a["layer"] for a in _alerts(mon, "vanishing")] == ["0.weight"]


def test_update_ratio_rule():
    model = _model()
    opt = optim.SGD(model.parameters(), lr=100.0)
    mon = GradientMonitor(model, opt, rules=[UpdateRatioRule()])
    _step(model, opt)
    assert {a["layer"] for a in _alerts(mon, "update_ratio")} <= {"0.weight", "2.weight"}
    assert _alerts(mon, "update_ratio")


def _nan(m):
    m[0].weight.grad[0, 0] = float("nan")


def test_policy_pause_sets_controller_state():
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    ctl = TrainingController()
    GradientMonitor(model, opt, rules=[NonFiniteRule(policy="pause")], controller=ctl)
    _step(model, opt, _nan)
    assert ctl.state == "paused" and ctl.paused


def test_policy_skip_step_leaves_params_unchanged():
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    mon = GradientMonitor(model, opt, rules=[NonFiniteRule(policy="skip_step")])
    before = [p.detach().clone() for p in model.parameters()]
    _step(model, opt, _nan)
    assert all(bool((a == b).all()) for a, b in zip(before, model.parameters()))
    assert _alerts(mon, "nonfinite")[0]["policy"] == "skip_step"
    _step(model, opt)  # a healthy step is taken
    assert not all(bool((a == b).all()) for a, b in zip(before, model.parameters()))


def test_policy_stop_raises():
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    GradientMonitor(model, opt, rules=[NonFiniteRule(policy="stop")])
    with pytest.raises(TrainingStopped, match="nonfinite"):
        _step(model, opt, _nan)


def test_defaults_and_validation():
    rules = default_rules(vanishing=False, exploding={"max_norm": 5.0, "policy": "pause"})
    assert [r.name for r in rules] == ["nonfinite", "exploding", "update_ratio"]
    assert rules[1].max_norm == 5.0 and rules[1].policy == "pause"
    with pytest.raises(ValueError):
        UpdateRatioRule(policy="skip_step")
    with pytest.raises(ValueError):
        NonFiniteRule(policy="explode")


# ---- dead units ---------------------------------------------------------------------------------
def _dying_model(bias=-100.0):
    """Linear -> ReLU -> Linear whose first layer's huge negative bias silences every unit."""
    probe.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    with probe.no_grad():
        model[0].bias[:6] = bias  # 6 of 8 units dead, 2 alive
    return model


def _train(model, mon, opt, steps, x=None):
    for _ in range(steps):
        opt.zero_grad()
        loss = model(probe.randn(16, 3) if x is None else x).pow(2).sum()
        loss.backward()
        mon.after_backward(loss)
        opt.step()


def test_dead_units_flags_the_layer_feeding_the_relu_after_its_window():
    model = _dying_model()
    opt = optim.SGD(model.parameters(), lr=1e-3)
    rule = DeadUnitsRule(window=5)
    mon = GradientMonitor(model, opt, rules=[rule])
    _train(model, mon, opt, 4)
    assert not _alerts(mon, "dead_units")  # the window is not full yet
    _train(model, mon, opt, 1)
    (alert,) = _alerts(mon, "dead_units")
    assert alert["layer"] == "0.weight"
    assert "6/8 units (75%)" in alert["message"] and "'1'" in alert["message"]


def test_dead_units_quiet_for_a_healthy_layer_and_ignores_eval_passes():
    model = _dying_model(bias=0.0)
    opt = optim.SGD(model.parameters(), lr=1e-3)
    mon = GradientMonitor(model, opt, rules=[DeadUnitsRule(window=3)])
    for _ in range(6):
        _train(model, mon, opt, 1)
        model.eval()
        with probe.no_grad():
            model(probe.full((4, 3), -50.0))  # would look dead: not a training pass
        model.train()
        assert not _alerts(mon, "dead_units")


def test_dead_units_on_conv_channels_and_explicit_layers():
    probe.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    with probe.no_grad():
        model[0].bias[:] = -1e3  # every channel dead
    opt = optim.SGD(model.parameters(), lr=1e-3)
    mon = GradientMonitor(model, opt, rules=[DeadUnitsRule(layers=["1"], window=2)])
    for _ in range(2):
        opt.zero_grad()
        model(probe.randn(2, 1, 6, 6)).sum().backward()
        opt.step()
    (alert,) = _alerts(mon, "dead_units")
    assert alert["layer"] == "0.weight" and "4/4 units" in alert["message"]
    with pytest.raises(LookupError, match="did you mean"):
        GradientMonitor(model, opt, rules=[DeadUnitsRule(layers=["11"])])


def test_dead_units_hooks_go_with_the_monitor():
    model = _dying_model()
    opt = optim.SGD(model.parameters(), lr=1e-3)
    mon = GradientMonitor(model, opt, rules=[DeadUnitsRule(window=1)])
    assert model[1]._forward_hooks
    mon.remove()
    assert not model[1]._forward_hooks


def test_dead_units_is_optional():
    names = [r.name for r in default_rules()]
    assert "dead_units" not in names
    rules = default_rules(dead_units={"window": 3})
    assert rules[-1].name == "dead_units" and rules[-1].window == 3
    with pytest.raises(ValueError, match="max_dead_fraction"):
        default_rules(dead_units={"max_dead_fraction": 2})


class _SwitchRule(Rule):
    """Fires on fc layer '0.weight' whenever ``on`` is set."""

    name = "switch"

    def __init__(self):
        super().__init__()
        self.on = True

    def check(self, record, monitor=None):
        return [("0.weight", "switched on")] if self.on else []


def test_persistent_condition_alerts_at_doubling_gaps_and_counts_what_it_held_back():
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.0)
    rule = _SwitchRule()
    mon = GradientMonitor(model, opt, rules=[rule], alert_cooldown=5)
    seen = []
    for _ in range(80):
        _step(model, opt)
        seen += [(a["step"], a.get("repeats")) for a in _alerts(mon, "switch")]
    # gaps 5, 10, 20, 40; each alert counts the checks held back since the previous one
    assert seen == [(1, None), (6, 4), (16, 9), (36, 19), (76, 39)]
    rule.on = False
    _step(model, opt)  # step 81: the condition cleared, so the next hit alerts at once
    rule.on = True
    _step(model, opt)
    assert [(a["step"], a.get("repeats")) for a in _alerts(mon, "switch")] == [(82, None)]
    _step(model, opt)
    assert _alerts(mon, "switch") == []  # and the gap starts again from alert_cooldown



def test_dead_units_alerts_back_off_over_whole_windows():
    model = _dying_model()
    opt = optim.SGD(model.parameters(), lr=0.0)
    mon = GradientMonitor(model, opt, rules=[DeadUnitsRule(window=2)], alert_cooldown=2)
    steps = []
    for _ in range(30):
        _train(model, mon, opt, 1)
        steps += [a["step"] for a in _alerts(mon, "dead_units")]
    # verdicts every 2 steps; the units stay dead, so the gaps double: 2, 4, 8, 16
    assert steps == [2, 4, 8, 16]
