"""Hook hygiene: list_hooks, assert_no_hooks, and the leak warnings of InstrumentedModel."""

from __future__ import annotations

import gc
import warnings

import pytest

import probe
import probe.nn as nn
from probe.nethook import (
    HookLeakWarning,
    InstrumentedModel,
    Trace,
    assert_no_hooks,
    list_hooks,
)


def mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def test_list_hooks_reports_every_kind():
    net = mlp()

    def fwd(m, a, o):
        return None

    def pre(m, a):
        return None

    def bwd(m, gi, go):
        return None

    def bwd_pre(m, go):
        return None

    def sd(module, destination, prefix, local_metadata):
        return None

    def load_pre(module, state_dict):
        return None

    handles = [
        net[0].register_forward_hook(fwd),
        net[0].register_forward_pre_hook(pre),
        net[2].register_full_backward_hook(bwd),
        net[2].register_full_backward_pre_hook(bwd_pre),
        net.register_state_dict_post_hook(sd),
        net[1].register_load_state_dict_pre_hook(load_pre),
    ]
    found = list_hooks(net)
    assert sorted((n, k) for n, k, _ in found) == sorted([
        ("0", "forward"), ("0", "forward_pre"), ("2", "backward"), ("2", "backward_pre"),
        ("", "state_dict"), ("1", "load_state_dict_pre"),
    ])
    assert {h for _, _, h in found} == {fwd, pre, bwd, bwd_pre, sd, load_pre}
    assert [n for n, _, _ in list_hooks(net, kinds="forward")] == ["0"]
    assert len(list_hooks(net, kinds=["backward", "backward_pre"])) == 2
    with pytest.raises(ValueError):
        list_hooks(net, kinds="sideways")
    with pytest.raises(AssertionError, match="6 hook"):
        assert_no_hooks(net)
    with pytest.raises(AssertionError, match="fwd"):
        assert_no_hooks(net, kinds="forward")
    for h in handles:
        h.remove()
    assert list_hooks(net) == []
    assert_no_hooks(net)


def test_shared_module_listed_once():
    shared = nn.Linear(2, 2)
    net = nn.Sequential(shared, nn.ReLU(), shared)
    handle = shared.register_forward_hook(lambda m, a, o: None)
    assert len(list_hooks(net)) == 1
    handle.remove()


def test_trace_and_instrumented_hooks_are_listed_and_removed():
    net = mlp()
    with Trace(net, "1"):
        assert [(n, k) for n, k, _ in list_hooks(net)] == [("1", "forward")]
    assert_no_hooks(net)
    with InstrumentedModel(net) as imodel:
        imodel.retain_layers(["0", "2"])
        assert [(n, k) for n, k, _ in list_hooks(net)] == [("0", "forward"), ("2", "forward")]
    assert_no_hooks(net)


def test_hooks_removed_after_exception_in_forward():
    net = mlp()
    with pytest.raises(RuntimeError), InstrumentedModel(net) as imodel:
        imodel.retain_layers(["0", "1", "2"])
        imodel(probe.randn(2, 5))  # wrong width: the forward raises
    assert_no_hooks(net)
    with pytest.raises(RuntimeError), Trace(net, "0"):
        net(probe.randn(2, 5))
    assert_no_hooks(net)


def test_hooks_not_left_after_failed_registration():
    net = mlp()
    imodel = InstrumentedModel(net)
    with pytest.raises(LookupError):
        imodel.retain_layers(["0", "1", "bogus"])
    with pytest.raises(LookupError):
        imodel.edit_layer("bogus", ablation=1.0)
    assert_no_hooks(net)
    imodel.close()


def test_warning_when_collected_unclosed():
    net = mlp()
    imodel = InstrumentedModel(net)
    imodel.edit_layer("0", ablation=0.5)
    with pytest.warns(HookLeakWarning, match=r"\['0'\]"):
        del imodel
        gc.collect()
    assert_no_hooks(net)


def test_no_warning_when_collected_without_hooks():
    net = mlp()
    imodel = InstrumentedModel(net)
    imodel.retain_layer("0")
    imodel.stop_retaining_layers("0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del imodel
        gc.collect()


def test_warning_when_closed_with_nethook_hooks_still_attached():
    net = mlp()
    imodel = InstrumentedModel(net)
    imodel.retain_layer("2")
    trace = Trace(net, "1")  # opened and never closed
    with pytest.warns(HookLeakWarning, match="still attached"):
        imodel.close()
    trace.close()
    assert_no_hooks(net)


def test_close_does_not_warn_about_user_hooks():
    net = mlp()
    handle = net[0].register_forward_hook(lambda m, a, o: None)
    imodel = InstrumentedModel(net)
    imodel.retain_layer("0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        imodel.close()
    assert len(list_hooks(net)) == 1  # the user's hook is not ours to remove
    handle.remove()
