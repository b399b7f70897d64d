"""InstrumentedModel: retain, edit, gradients, run_with_cache, calls=, atomic registration."""

from __future__ import annotations

import gc
import warnings

import numpy as np
import pytest

import probe
import probe.nn as nn
from probe.nethook import InstrumentedModel, assert_no_hooks, list_hooks


def mlp():
    probe.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


class Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 5 * 5, 2)

    def forward(self, x):
        return self.fc(self.conv(x).relu().flatten(1))


class Looped(nn.Module):
    """Calls ``block`` three times per forward."""

    def __init__(self):
        super().__init__()
        self.block = nn.Linear(3, 3)

    def forward(self, x):
        for _ in range(3):
            x = self.block(x)
        return x


def x_in(n=5, d=4):
    return probe.randn(n, d)


def test_wrapper_is_a_module_with_the_models_parameters():
    net = mlp()
    imodel = InstrumentedModel(net)
    assert isinstance(imodel, nn.Module)
    assert list(imodel.parameters()) == list(net.parameters())
    x = x_in()
    assert probe.equal(imodel(x), net(x))
    assert imodel.layer_names() == ["0", "1", "2"]
    with pytest.raises(TypeError):
        InstrumentedModel(object())


def test_retain_layer_detached_by_default():
    net = mlp()
    with InstrumentedModel(net) as imodel:
        imodel.retain_layer("1")
        x = x_in()
        out = imodel(x)
        h = imodel.retained_layer("1")
        assert h.grad_fn is None and not h.requires_grad
        expected = net[1](net[0](x))
        np.testing.assert_allclose(h.numpy(), expected.detach().numpy())
        assert out.requires_grad  # the forward itself is untouched
    assert_no_hooks(net)


def test_retained_layer_defaults_to_first_and_clear():
    net = mlp()
    with InstrumentedModel(net) as imodel:
        imodel.retain_layers(["2", "0"])
        imodel(x_in())
        assert imodel.retained_layer().shape == (5, 3)  # "2" was retained first
        feats = imodel.retained_features()
        assert list(feats) == ["2", "0"]
        assert feats["0"].shape == (5, 8)
        imodel.retained_layer("0", clear=True)
        assert imodel.retained_layer("0") is None
        cleared = imodel.retained_features(clear=True)
        assert cleared["2"] is not None
        assert imodel.retained_layer("2") is None
        with pytest.raises(KeyError):
            imodel.retained_layer("1")


def test_retained_layer_without_any_raises():
    with InstrumentedModel(mlp()) as imodel, pytest.raises(LookupError):
        imodel.retained_layer()


def test_retain_detach_false_keeps_graph_and_device_option():
    net = mlp()
    with InstrumentedModel(net) as imodel:
        imodel.retain_layer("0", detach=False)
        imodel.retain_layer("1", device="cpu")
        imodel(x_in())
        assert imodel.retained_layer("0").grad_fn is not None
        assert imodel.retained_layer("1").grad_fn is None
        assert imodel.retained_layer("1").device == probe.device("cpu")


def test_retained_value_does_not_keep_graph_alive():
    net = mlp()
    with InstrumentedModel(net) as imodel:
        imodel.retain_layer("1")
        out = imodel(x_in())
        node = out.grad_fn
        import weakref

        ref = weakref.ref(node)
        del out, node
        gc.collect()
        assert ref() is None


def test_retain_grad():
    net = mlp()
    with InstrumentedModel(net) as imodel:
        imodel.retain_layer("1", retain_grad=True)
        x = x_in()
        out = imodel(x)
        assert imodel.retained_grad("1") is None
        out.sum().backward()
        g = imodel.retained_grad("1")
        # d(sum(W2 h + b))/dh = sum of W2's rows
        expected = net[2].weight.detach().sum(0).expand(5, 8)
        np.testing.assert_allclose(g.numpy(), expected.numpy(), rtol=1e-6)
        # the retained value itself is detached (detach=True) but has the same values
        h = imodel.retained_layer("1")
        assert h.grad_fn is None


def test_retained_grad_needs_retain_grad():
    with InstrumentedModel(mlp()) as imodel:
        imodel.retain_layer("1")
        imodel(x_in()).sum().backward()
        with pytest.raises(RuntimeError, match="retain_grad=True"):
            imodel.retained_grad("1")


def test_retain_grad_on_frozen_model():
    net = mlp()
    probe.nethook.set_requires_grad(False, net)
    with InstrumentedModel(net) as imodel:
        imodel.retain_layer("0", retain_grad=True)
        imodel(x_in()).sum().backward()
        assert imodel.retained_grad("0").shape == (5, 8)


def test_stop_retaining_removes_hook():
    net = mlp()
    with InstrumentedModel(net) as imodel:
        imodel.retain_layers(["0", "2"])
        assert len(list_hooks(net)) == 2
        imodel.stop_retaining_layers(["0"])
        assert [n for n, _, _ in list_hooks(net)] == ["2"]
        imodel.stop_retaining_layers("2")
        imodel.stop_retaining_layers(["1"])  # never retained: ignored
        assert list_hooks(net) == []
        assert list(imodel.retained_features()) == []


def test_edit_layer_ablation_number():
    net = mlp()
    with InstrumentedModel(net) as imodel:
        imodel.edit_layer("1", ablation=1.0)
        imodel.retain_layer("1")
        out = imodel(x_in())
        assert imodel.retained_layer("1").abs().sum().item() == 0  # retained after the edit
        np.testing.assert_allclose(out.detach().numpy(),
                                   net[2].bias.detach().expand(5, 3).numpy())
        imodel.remove_edits("1")
        imodel(x_in())
        assert imodel.retained_layer("1").abs().sum().item() > 0


def test_edit_layer_replacement_and_partial_ablation():
    net = mlp()
    x = x_in()
    h = net[0](x).detach()
    with InstrumentedModel(net) as imodel:
        imodel.retain_layer("0")
        imodel.edit_layer("0", ablation=0.25, replacement=2.0)
        imodel(x)
        np.testing.assert_allclose(imodel.retained_layer("0").numpy(),
                                   (h * 0.75 + 2.0 * 0.25).numpy(), rtol=1e-6)
        imodel.remove_edits()
        imodel.edit_layer("0", replacement=probe.full((8,), 3.0))
        imodel(x)
        assert probe.equal(imodel.retained_layer("0"), probe.full((5, 8), 3.0))


def test_edit_layer_arguments_merge():
    net = mlp()
    with InstrumentedModel(net) as imodel:
        imodel.retain_layer("0")
        imodel.edit_layer("0", ablation=1.0)
        imodel.edit_layer("0", replacement=5.0)
        imodel(x_in())
        assert probe.equal(imodel.retained_layer("0"), probe.full((5, 8), 5.0))


def test_channel_vector_broadcasts_over_spatial_dims():
    probe.manual_seed(0)
    net = Conv()
    x = probe.randn(2, 1, 5, 5)
    mask = probe.tensor([1.0, 0.0, 1.0, 0.0])
    with InstrumentedModel(net) as imodel:
        imodel.retain_layer("conv")
        imodel.edit_layer("conv", ablation=mask)
        imodel(x)
        h = imodel.retained_layer("conv")
        assert h.shape == (2, 4, 5, 5)
        assert h[:, 0].abs().sum().item() == 0 and h[:, 2].abs().sum().item() == 0
        np.testing.assert_allclose(h[:, 1].numpy(), net.conv(x)[:, 1].detach().numpy(),
                                   rtol=1e-6)
        # a per-channel replacement too
        imodel.remove_edits()
        imodel.edit_layer("conv", ablation=mask, replacement=probe.tensor([7.0, 0, -1.0, 0]))
        imodel(x)
        h = imodel.retained_layer("conv")
        assert probe.equal(h[:, 0], probe.full((2, 5, 5), 7.0))
        assert probe.equal(h[:, 2], probe.full((2, 5, 5), -1.0))


def test_custom_rule_gets_declared_arguments_only():
    net = mlp()
    seen = {}

    def rule(x, imodel, name, scale):
        seen.update(imodel=imodel, name=name)
        return x * scale

    def short_rule(x):
        return x + 1

    x = x_in()
    ref = net[0](x).detach()
    with InstrumentedModel(net) as imodel:
        imodel.retain_layer("0")
        imodel.edit_layer("0", rule, scale=0.0)
        imodel(x_in())
        assert seen == {"imodel": imodel, "name": "0"}
        assert imodel.retained_layer("0").abs().sum().item() == 0
        imodel.edit_layer("0", rule=short_rule)  # scale is kept but not passed: not declared
        imodel(x)
        np.testing.assert_allclose(imodel.retained_layer("0").numpy(), (ref + 1).numpy(),
                                   rtol=1e-6)
        with pytest.raises(TypeError):
            imodel.edit_layer("0", rule=3)


def test_custom_rule_values():
    net = mlp()
    x = x_in()
    ref = net[0](x).detach()
    with InstrumentedModel(net) as imodel:
        imodel.retain_layer("0")
        imodel.edit_layer("0", rule=lambda x: x + 1)
        imodel(x)
        np.testing.assert_allclose(imodel.retained_layer("0").numpy(), (ref + 1).numpy(),
                                   rtol=1e-6)


def test_edit_changes_gradients_like_the_forward():
    net = mlp()
    with InstrumentedModel(net) as imodel:
        imodel.edit_layer("1", ablation=1.0)
        imodel(x_in()).sum().backward()
        assert net[0].weight.grad.abs().sum().item() == 0
        assert net[2].bias.grad is not None


def test_one_hook_per_layer_for_retain_and_edit():
    net = mlp()
    with InstrumentedModel(net) as imodel:
        imodel.retain_layer("1")
        imodel.edit_layer("1", ablation=0.5)
        imodel.retain_layer("1", calls="all")
        imodel.edit_layer("1", replacement=1.0)
        assert len(net[1]._forward_hooks) == 1
        imodel.run_with_cache(x_in(), names_filter="1")
        assert len(net[1]._forward_hooks) == 1
        imodel.remove_edits("1")
        assert len(net[1]._forward_hooks) == 1
        imodel.stop_retaining_layers("1")
        assert len(net[1]._forward_hooks) == 0


def test_unknown_name_is_atomic_with_close_matches():
    net = mlp()
    imodel = InstrumentedModel(net)
    with pytest.raises(LookupError, match="'0'"):
        imodel.retain_layers(["1", "2", "00"])
    assert list_hooks(net) == []
    assert imodel.hooked_layers() == []
    with pytest.raises(LookupError):
        imodel.retain_layer("lienar")
    with pytest.raises(LookupError):
        imodel.edit_layer("nope", ablation=1.0)
    assert list_hooks(net) == []
    with pytest.raises(ValueError):
        imodel.retain_layer("1", calls="first")
    assert list_hooks(net) == []
    # an existing configuration survives a failed update
    imodel.retain_layer("1")
    with pytest.raises(LookupError):
        imodel.retain_layers(["1", "3"])
    assert [n for n, _, _ in list_hooks(net)] == ["1"]
    imodel.close()


def test_rule_error_propagates_and_close_removes_hooks():
    net = mlp()

    def bad_rule(x):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"), InstrumentedModel(net) as imodel:
        imodel.edit_layer("0", rule=bad_rule)
        imodel.retain_layer("2")
        imodel(x_in())
    assert_no_hooks(net)


def test_close_removes_everything_and_is_idempotent():
    net = mlp()
    imodel = InstrumentedModel(net)
    imodel.retain_layers(["0", "1", "2"], retain_grad=True)
    imodel.edit_layer("1", ablation=0.3)
    assert len(list_hooks(net)) == 3
    imodel.close()
    imodel.close()
    assert_no_hooks(net)
    x = x_in()
    assert probe.equal(imodel(x), net(x))


def test_calls_last_all_and_index():
    probe.manual_seed(0)
    net = Looped()
    x = probe.randn(2, 3)
    h1 = net.block(x)
    h2 = net.block(h1)
    h3 = net.block(h2)
    with InstrumentedModel(net) as imodel:
        imodel.retain_layer("block")
        imodel(x)
        np.testing.assert_allclose(imodel.retained_layer("block").numpy(), h3.detach().numpy(),
                                   rtol=1e-6)
        imodel.retain_layer("block", calls="all")
        for _ in range(2):  # a second pass starts a new list
            imodel(x)
            values = imodel.retained_layer("block")
            assert isinstance(values, list) and len(values) == 3
        for v, h in zip(values, (h1, h2, h3)):
            np.testing.assert_allclose(v.numpy(), h.detach().numpy(), rtol=1e-6)
        imodel.retain_layer("block", calls=1)
        imodel(x)
        np.testing.assert_allclose(imodel.retained_layer("block").numpy(), h2.detach().numpy(),
                                   rtol=1e-6)
        imodel.retain_layer("block", calls=-3)
        imodel(x)
        np.testing.assert_allclose(imodel.retained_layer("block").numpy(), h1.detach().numpy(),
                                   rtol=1e-6)
        imodel.retain_layer("block", calls=5)  # never reached
        imodel(x)
        assert imodel.retained_layer("block") is None


def test_edits_apply_to_every_call():
    net = Looped()
    with InstrumentedModel(net) as imodel:
        imodel.retain_layer("block", calls="all")
        calls = []
        imodel.edit_layer("block", rule=lambda x: calls.append(1) or x * 0)
        out = imodel(probe.randn(2, 3))
        assert len(calls) == 3
        assert out.abs().sum().item() == 0
        assert all(v.abs().sum().item() == 0 for v in imodel.retained_layer("block"))


def test_retain_grad_with_calls_all():
    net = Looped()
    with InstrumentedModel(net) as imodel:
        imodel.retain_layer("block", calls="all", retain_grad=True)
        imodel(probe.randn(2, 3)).sum().backward()
        grads = imodel.retained_grad("block")
        assert len(grads) == 3 and all(g.shape == (2, 3) for g in grads)
        # the last call's output feeds the sum directly
        assert probe.equal(grads[-1], probe.ones(2, 3))


def test_run_with_cache_filters():
    net = mlp()
    imodel = InstrumentedModel(net)
    x = x_in()
    out, cache = imodel.run_with_cache(x)
    assert list(cache) == ["0", "1", "2"]
    assert probe.equal(cache["2"], out.detach())
    assert all(v.grad_fn is None for v in cache.values())
    assert out.grad_fn is not None
    _, cache = imodel.run_with_cache(x, names_filter="1")
    assert list(cache) == ["1"]
    _, cache = imodel.run_with_cache(x, names_filter=["2", "0"])
    assert list(cache) == ["2", "0"]
    _, cache = imodel.run_with_cache(x, names_filter=lambda n: n != "1", device="cpu")
    assert list(cache) == ["0", "2"]
    assert list_hooks(net) == []
    with pytest.raises(LookupError):
        imodel.run_with_cache(x, names_filter=["0", "x"])
    assert list_hooks(net) == []


def test_run_with_cache_sees_edits_and_keeps_retention():
    net = mlp()
    with InstrumentedModel(net) as imodel:
        imodel.retain_layer("1")
        imodel.edit_layer("1", ablation=1.0)
        _, cache = imodel.run_with_cache(x_in(), names_filter="1")
        assert cache["1"].abs().sum().item() == 0
        assert imodel.retained_layer("1") is not None
        assert [n for n, _, _ in list_hooks(net)] == ["1"]


def test_run_with_cache_removes_hooks_when_forward_raises():
    net = mlp()
    imodel = InstrumentedModel(net)
    with pytest.raises(RuntimeError):
        imodel.run_with_cache(probe.randn(2, 5))  # wrong width
    assert list_hooks(net) == []


def test_tuple_outputs_are_retained_recursively():
    class Pair(nn.Module):
        def forward(self, x):
            return x * 2, {"n": 3, "t": x + 1}

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.pair = Pair()

        def forward(self, x):
            a, b = self.pair(x)
            return a + b["t"]

    net = Holder()
    x = probe.ones(2, requires_grad=True)
    with InstrumentedModel(net) as imodel:
        imodel.retain_layer("pair")
        imodel(x)
        a, b = imodel.retained_layer("pair")
        assert a.grad_fn is None and b["n"] == 3 and b["t"].grad_fn is None


def test_garbage_collected_wrapper_warns_and_removes_hooks():
    net = mlp()
    imodel = InstrumentedModel(net)
    imodel.retain_layer("1")
    with pytest.warns(probe.nethook.HookLeakWarning, match="garbage-collected"):
        del imodel
        gc.collect()
    assert_no_hooks(net)


def test_closed_wrapper_does_not_warn_on_collection():
    net = mlp()
    imodel = InstrumentedModel(net)
    imodel.retain_layer("1")
    imodel.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        del imodel
        gc.collect()
