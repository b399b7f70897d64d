"""edit_parameters and snapshot_parameters: validation first, exact restore, nesting."""

from __future__ import annotations

import numpy as np
import pytest

import probe
import probe.nn as nn
from probe.nethook import ParameterSnapshot, edit_parameters, snapshot_parameters


def mlp():
    probe.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def raw(t):
    return t.detach().numpy().copy()


def same_bytes(a, b):
    return a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_tensor_number_and_callable_edits_then_exact_restore():
    net = mlp()
    before = {n: raw(p) for n, p in net.named_parameters()}
    w_obj = net[0].weight
    with edit_parameters(net, {"0.weight": probe.zeros(8, 4), "0.bias": 1.5,
                               "2.weight": lambda w: w * 2}) as m:
        assert m is net
        assert net[0].weight is w_obj  # same Parameter object, edited in place
        assert net[0].weight.abs().sum().item() == 0
        assert probe.equal(net[0].bias.detach(), probe.full((8,), 1.5))
        np.testing.assert_allclose(raw(net[2].weight), before["2.weight"] * 2)
        assert net[0].weight.requires_grad
    for n, p in net.named_parameters():
        assert same_bytes(raw(p), before[n]), n


def test_restore_when_body_raises():
    net = mlp()
    before = raw(net[0].weight)
    with pytest.raises(KeyError), edit_parameters(net, {"0.weight": 0.0}):
        assert net[0].weight.abs().sum().item() == 0
        raise KeyError("inside")
    assert same_bytes(raw(net[0].weight), before)


def test_unknown_name_changes_nothing_and_names_close_matches():
    net = mlp()
    before = raw(net[0].bias)
    with pytest.raises(LookupError, match="0.weight"), \
            edit_parameters(net, {"0.bias": 0.0, "0.weigth": 0.0}):
        pass
    assert same_bytes(raw(net[0].bias), before)


def test_bad_shape_changes_nothing():
    net = mlp()
    before = raw(net[0].bias)
    with pytest.raises(ValueError, match="shape"), \
            edit_parameters(net, {"0.bias": 0.0, "0.weight": probe.zeros(4, 8)}):
        pass
    assert same_bytes(raw(net[0].bias), before)
    with pytest.raises(ValueError), edit_parameters(net, {"0.bias": lambda b: b[:2]}):
        pass
    assert same_bytes(raw(net[0].bias), before)


def test_bad_value_type():
    with pytest.raises(TypeError), edit_parameters(mlp(), {"0.bias": object()}):
        pass


def test_zero_dim_tensor_fills_and_dtype_is_cast():
    net = mlp()
    with edit_parameters(net, {"0.bias": probe.tensor(2.0, dtype=probe.float64)}):
        assert net[0].bias.dtype == probe.float32
        assert probe.equal(net[0].bias.detach(), probe.full((8,), 2.0))
    with edit_parameters(net, {"0.bias": np.arange(8, dtype=np.float64)}):
        assert net[0].bias.detach().tolist() == list(range(8))


def test_nested_edits_restore_each_level():
    net = mlp()
    original = raw(net[0].bias)
    with edit_parameters(net, {"0.bias": 1.0}):
        with edit_parameters(net, {"0.bias": lambda b: b + 1, "2.bias": 0.0}):
            assert probe.equal(net[0].bias.detach(), probe.full((8,), 2.0))
        assert probe.equal(net[0].bias.detach(), probe.full((8,), 1.0))
        assert net[2].bias.abs().sum().item() > 0
    assert same_bytes(raw(net[0].bias), original)


def test_edit_visible_to_optimizer_holding_the_parameter():
    net = mlp()
    opt = probe.optim.SGD(net.parameters(), lr=0.1)
    with edit_parameters(net, {"2.bias": 0.0}):
        assert opt.param_groups[0]["params"][3].abs().sum().item() == 0


def test_edit_does_not_record_graph():
    net = mlp()
    with edit_parameters(net, {"0.weight": lambda w: w * 3}):
        assert net[0].weight.grad_fn is None and net[0].weight.is_leaf
        net(probe.randn(2, 4)).sum().backward()
        assert net[0].weight.grad is not None


def test_snapshot_restore_and_diff():
    net = mlp()
    snap = snapshot_parameters(net)
    assert isinstance(snap, ParameterSnapshot)
    assert snap.names == [n for n, _ in net.named_parameters()]
    before = {n: raw(p) for n, p in net.named_parameters()}
    opt = probe.optim.SGD(net.parameters(), lr=0.5)
    net(probe.randn(3, 4)).pow(2).sum().backward()
    opt.step()
    diff = snap.diff(net)
    assert set(diff) == set(before)
    assert all(d > 0 for d in diff.values())
    expected = float(np.abs(raw(net[0].weight) - before["0.weight"]).max())
    assert diff["0.weight"] == pytest.approx(expected)
    assert set(snap.changed()) == set(before)
    snap.restore()
    for n, p in net.named_parameters():
        assert same_bytes(raw(p), before[n])
    assert all(d == 0 for d in snap.diff(net).values())
    assert snap.changed() == []


def test_snapshot_subset_and_other_model():
    net = mlp()
    snap = snapshot_parameters(net, ["0.bias"])
    assert len(snap) == 1 and "0.bias" in snap
    other = mlp()
    with probe.no_grad():
        other[0].bias.add_(3.0)
    assert snap.diff(other)["0.bias"] == pytest.approx(3.0)
    snap.restore(other)
    assert probe.equal(other[0].bias, net[0].bias)
    assert snapshot_parameters(net, "2.weight").names == ["2.weight"]


def test_snapshot_unknown_name():
    with pytest.raises(LookupError, match="did you mean"):
        snapshot_parameters(mlp(), ["0.bais"])


def test_snapshot_is_a_copy():
    net = mlp()
    snap = snapshot_parameters(net, ["0.bias"])
    saved = raw(snap["0.bias"])
    with probe.no_grad():
        net[0].bias.zero_()
    assert same_bytes(raw(snap["0.bias"]), saved)
