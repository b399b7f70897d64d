"""probe.nethook naming helpers: lookups with close matches, replace_module, set_requires_grad,
subsequence, and the shared value helpers (map_tensors, recursive_copy,
invoke_with_optional_args)."""

from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np
import pytest

import probe
from probe import nethook
from probe.nethook import (
    get_module,
    get_parameter,
    invoke_with_optional_args,
    map_tensors,
    module_names,
    parameter_names,
    recursive_copy,
    replace_module,
    resolve_layers,
    set_requires_grad,
    subsequence,
)

nn = probe.nn


def mlp():
    probe.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))


def nested():
    probe.manual_seed(0)
    return nn.Sequential(OrderedDict(
        embed=nn.Linear(3, 4),
        block=nn.Sequential(OrderedDict(
            a=nn.Linear(4, 4), act=nn.ReLU(), b=nn.Linear(4, 4),
        )),
        head=nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 1)),
    ))


# ------------------------------------------------------------------ names
def test_module_and_parameter_names():
    net = nested()
    assert module_names(net) == [
        "embed", "block", "block.a", "block.act", "block.b", "head", "head.0", "head.1", "head.2"]
    assert parameter_names(net) == [n for n, _ in net.named_parameters()]
    assert "block.a.weight" in parameter_names(net)


def test_get_module_and_parameter():
    net = nested()
    assert get_module(net, "block.b") is net.block.b
    assert get_module(net, "head.2") is net.head[2]
    assert get_module(net, "") is net
    assert get_module(net, None) is net
    assert get_parameter(net, "head.0.bias") is net.head[0].bias


def test_shared_module_found_under_both_names():
    shared = nn.Linear(2, 2)
    net = nn.Sequential(OrderedDict(first=shared, second=shared))
    assert get_module(net, "second") is shared  # named_modules() would hide this alias


@pytest.mark.parametrize("bad, hint", [("block.c", "block.a"), ("hed", "head"),
                                       ("embed.weights", None)])
def test_unknown_layer_names_close_matches(bad, hint):
    with pytest.raises(LookupError) as info:
        get_module(nested(), bad)
    assert repr(bad) in str(info.value)
    if hint:
        assert repr(hint) in str(info.value)


def test_unknown_parameter_names_close_matches():
    with pytest.raises(LookupError, match="'block.a.weight'"):
        get_parameter(nested(), "block.a.wieght")
    with pytest.raises(LookupError):
        get_parameter(nested(), "block.a")  # a module, not a parameter


def test_resolve_layers_reports_every_bad_name():
    net = nested()
    assert resolve_layers(net, "embed") == [net.embed]
    with pytest.raises(LookupError) as info:
        resolve_layers(net, ["embed", "blok", "head.7"])
    message = str(info.value)
    assert "'blok'" in message and "'head.7'" in message and "'block'" in message


def test_resolve_parameters():
    net = nested()
    assert nethook.resolve_parameters(net, "embed.bias")[0] is net.embed.bias
    with pytest.raises(LookupError, match="embed.bias"):
        nethook.resolve_parameters(net, ["embed.bais"])


# ------------------------------------------------------------------ replace_module
def test_replace_module_top_level_and_nested():
    net = nested()
    old_embed = net.embed
    new = nn.Linear(3, 4)
    assert replace_module(net, "embed", new) is old_embed
    assert net.embed is new
    old = replace_module(net, "block.act", nn.Tanh())
    assert isinstance(old, nn.ReLU) and isinstance(net.block.act, nn.Tanh)


def test_replace_module_sequential_indices():
    net = mlp()
    old = replace_module(net, "1", nn.Identity())
    assert isinstance(old, nn.ReLU) and isinstance(net[1], nn.Identity)
    deep = nested()
    old = replace_module(deep, "head.1", nn.ReLU())
    assert isinstance(old, nn.Tanh) and isinstance(deep.head[1], nn.ReLU)
    out = deep(probe.ones(2, 3))
    assert out.shape == (2, 1)


def test_replace_module_bad_name():
    net = mlp()
    with pytest.raises(LookupError, match="'1'"):
        replace_module(net, "11", nn.ReLU())
    with pytest.raises(ValueError):
        replace_module(net, "", nn.ReLU())


# ------------------------------------------------------------------ set_requires_grad
def test_set_requires_grad_models_and_tensors():
    a, b = mlp(), nn.Linear(2, 2)
    t = probe.zeros(3)
    set_requires_grad(True, t)
    assert t.requires_grad
    set_requires_grad(False, a, b, t)
    assert not any(p.requires_grad for p in [*a.parameters(), *b.parameters()])
    assert not t.requires_grad
    set_requires_grad(True, [a, b.weight])
    assert all(p.requires_grad for p in a.parameters())
    assert b.weight.requires_grad and not b.bias.requires_grad
    with pytest.raises(TypeError):
        set_requires_grad(True, "not a model")


# ------------------------------------------------------------------ subsequence
def _names(seq):
    return module_names(seq)


def test_subsequence_flat_bounds():
    net = mlp()
    assert list(subsequence(net, first_layer="2")._modules) == ["2", "3", "4"]
    assert list(subsequence(net, after_layer="2")._modules) == ["3", "4"]
    assert list(subsequence(net, last_layer="2")._modules) == ["0", "1", "2"]
    assert list(subsequence(net, upto_layer="2")._modules) == ["0", "1"]
    assert list(subsequence(net, first_layer="1", upto_layer="3")._modules) == ["1", "2"]
    assert list(subsequence(net, single_layer="3")._modules) == ["3"]
    assert list(subsequence(net)._modules) == ["0", "1", "2", "3", "4"]
    assert list(subsequence(net, after_layer="2", upto_layer="3")._modules) == []


def test_subsequence_runs_the_same_computation():
    net = mlp()
    x = probe.randn(5, 4)
    head, tail = subsequence(net, upto_layer="2"), subsequence(net, first_layer="2")
    np.testing.assert_allclose(tail(head(x)).detach().numpy(), net(x).detach().numpy(),
                               rtol=1e-6)


def test_subsequence_nested_names():
    net = nested()
    sub = subsequence(net, first_layer="block.act", last_layer="head.1")
    assert _names(sub) == ["block", "block.act", "block.b", "head", "head.0", "head.1"]
    sub = subsequence(net, after_layer="block.a", upto_layer="head.0")
    assert _names(sub) == ["block", "block.act", "block.b"]  # empty "head" is dropped
    sub = subsequence(net, single_layer="block.b")
    assert _names(sub) == ["block", "block.b"]
    sub = subsequence(net, after_layer="block")
    assert _names(sub) == ["head", "head.0", "head.1", "head.2"]


def test_subsequence_copies_unless_share_weights():
    net = nested()
    copied = subsequence(net, last_layer="block")
    assert copied.embed is not net.embed
    assert np.array_equal(copied.embed.weight.detach().numpy(), net.embed.weight.detach().numpy())
    shared = subsequence(net, last_layer="block.act", share_weights=True)
    assert shared.embed is net.embed and shared.block.a is net.block.a
    assert shared.block is not net.block  # a trimmed container is new, its layers shared


def test_subsequence_keeps_training_mode():
    net = mlp().eval()
    assert not subsequence(net, first_layer="1").training


def test_subsequence_errors():
    net = nested()
    with pytest.raises(LookupError, match="'block.b'"):
        subsequence(net, first_layer="block.c")
    with pytest.raises(ValueError):  # baukit raised ValueError: still caught that way
        subsequence(net, last_layer="nope")
    with pytest.raises(ValueError):
        subsequence(net, first_layer="embed", after_layer="embed")
    with pytest.raises(ValueError):
        subsequence(net, last_layer="embed", upto_layer="embed")
    with pytest.raises(ValueError):
        subsequence(net, single_layer="embed", first_layer="embed")
    with pytest.raises(ValueError, match="not a Sequential"):
        subsequence(net, first_layer="embed.weight")


# ------------------------------------------------------------------ value helpers
class Cache:
    """Stands for an arbitrary object in a layer's output (a KV cache)."""


Pair = namedtuple("Pair", ["left", "right"])


def test_map_tensors_rebuilds_containers_and_passes_others_through():
    cache = Cache()
    value = {"a": (probe.ones(2), None, 3, cache), "b": [probe.zeros(1), "s"],
             "c": Pair(probe.ones(1), 1.5), "d": OrderedDict(x=probe.ones(1))}
    out = map_tensors(lambda t: t + 1, value)
    assert out["a"][1] is None and out["a"][2] == 3 and out["a"][3] is cache
    assert out["b"][1] == "s" and isinstance(out["b"], list)
    assert isinstance(out["c"], Pair) and out["c"].right == 1.5
    assert isinstance(out["d"], OrderedDict)
    assert out["a"][0].tolist() == [2.0, 2.0] and out["c"].left.tolist() == [2.0]


def test_recursive_copy_clone_detach():
    x = probe.ones(3, requires_grad=True)
    y = x * 2
    value = (y, None, 7, [y, {"k": y}], Cache())
    same = recursive_copy(value)
    assert same is value
    detached = recursive_copy(value, detach=True)
    assert detached[0].grad_fn is None and detached[3][1]["k"].grad_fn is None
    assert detached[1] is None and detached[2] == 7 and detached[4] is value[4]
    cloned = recursive_copy(value, clone=True, detach=True)
    cloned[0].add_(1)
    assert y.tolist() == [2.0, 2.0, 2.0]
    kept = recursive_copy(y, clone=True)
    assert kept is not y and kept.grad_fn is not None


def test_recursive_copy_retain_grad():
    x = probe.ones(3, requires_grad=True)
    y = x * 2
    kept = recursive_copy((y, 1), retain_grad=True, detach=True)
    assert kept[0] is y
    (y * 3).sum().backward()
    assert y.grad.tolist() == [3.0, 3.0, 3.0]


def test_invoke_with_optional_args():
    call = invoke_with_optional_args
    assert call(lambda output: output, output=1, layer="L", inputs=()) == 1
    assert call(lambda layer: layer, output=1, layer="L") == "L"
    assert call(lambda x: x, output=1, layer="L") == 1  # unmatched names filled in order
    assert call(lambda x, y: (x, y), output=1, layer="L") == (1, "L")
    assert call(lambda layer, x: (layer, x), output=1, layer="L") == ("L", 1)
    assert call(lambda output, scale=2: output * scale, output=3, layer="L") == 6
    assert call(lambda output, **kw: sorted(kw), output=1, layer="L", inputs=()) == [
        "inputs", "layer"]
    assert call(lambda *, output: output, output=5) == 5
    assert call(lambda: 9, output=1) == 9
    with pytest.raises(TypeError, match="cannot be passed"):
        call(lambda a, b, c: None, output=1, layer="L")
    with pytest.raises(TypeError, match="cannot be passed"):
        call(lambda *, missing: None, output=1)
