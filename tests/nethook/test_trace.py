"""probe.nethook.Trace / TraceDict / StopForward: capture, edit, gradients, stopping, repeated
calls, and hook hygiene on every exit path."""

from __future__ import annotations

import numpy as np
import pytest

import probe
from probe.nethook import StopForward, Trace, TraceDict, assert_no_hooks, list_hooks
from probe.nethook.hygiene import is_nethook_hook

nn = probe.nn
F = probe.nn.functional


def mlp():
    probe.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))


class Cache:
    """An arbitrary object inside a layer's output (like a KV cache)."""


class Block(nn.Module):
    """Returns a tuple holding a tensor, None, an int and a cache object."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)
        self.cache = Cache()

    def forward(self, x):
        return (self.proj(x), None, 3, self.cache)


class Shared(nn.Module):
    """Uses ``shared`` twice per forward and returns a dict."""

    def __init__(self):
        super().__init__()
        probe.manual_seed(1)
        self.shared = nn.Linear(4, 4)
        self.block = Block()
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        h = self.shared(x)
        h = self.shared(F.relu(h))
        h, _, _, _ = self.block(h)
        return {"out": self.head(h), "hidden": [h, None], "steps": 2}


class Scaler(nn.Module):
    def forward(self, x, scale=1.0, mask=None):
        y = x * scale
        return y if mask is None else y * mask


class KwModel(nn.Module):
    """Calls a submodule with keyword arguments."""

    def __init__(self):
        super().__init__()
        probe.manual_seed(2)
        self.lin = nn.Linear(4, 4)
        self.scaler = Scaler()
        self.head = nn.Linear(4, 1)

    def forward(self, x, mask=None):
        return self.head(self.scaler(self.lin(x), scale=2.0, mask=mask))


class Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom")


class Counter(nn.Module):
    """Counts how often it runs (to see where a forward pass stopped)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def forward(self, x):
        self.count += 1
        return x


def no_hooks_anywhere(model):
    assert_no_hooks(model)
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks


def npy(t):
    return t.detach().numpy()


# ------------------------------------------------------------------ capture
def test_trace_retains_output_of_layer():
    net = mlp()
    x = probe.randn(3, 4)
    with Trace(net, "2") as tr:
        y = net(x)
    expected = net[2](net[1](net[0](x)))
    np.testing.assert_allclose(npy(tr.output), npy(expected), rtol=1e-6)
    assert tr.input is None and tr.inputs is None and tr.kwargs is None
    np.testing.assert_allclose(npy(y), npy(net(x)), rtol=1e-6)
    no_hooks_anywhere(net)


def test_trace_without_layer_traces_the_module_itself():
    net = mlp()
    x = probe.randn(2, 4)
    with Trace(net) as tr:
        y = net(x)
    assert tr.output is y


def test_retain_output_false_and_retain_input():
    net = mlp()
    x = probe.randn(2, 4)
    with Trace(net, "1", retain_output=False, retain_input=True) as tr:
        net(x)
    assert tr.output is None
    np.testing.assert_allclose(npy(tr.input), npy(net[0](x)), rtol=1e-6)
    assert isinstance(tr.inputs, tuple) and len(tr.inputs) == 1 and tr.inputs[0] is tr.input
    assert tr.kwargs == {}


def test_input_with_several_positional_args_is_the_tuple():
    class Add(nn.Module):
        def forward(self, a, b):
            return a + b

    add = Add()
    a, b = probe.ones(2), probe.zeros(2)
    with Trace(add, retain_input=True) as tr:
        add(a, b)
    assert isinstance(tr.input, tuple) and tr.input[0] is a and tr.input[1] is b
    assert tr.inputs == tr.input


def test_inputs_captured_before_forward_mutates_them():
    class Mutate(nn.Module):
        def forward(self, x):
            return x.add_(1)

    m = Mutate()
    x = probe.zeros(3)
    with Trace(m, retain_input=True, clone=True) as tr:
        m(x)
    assert tr.input.tolist() == [0.0, 0.0, 0.0]
    assert x.tolist() == [1.0, 1.0, 1.0]


def test_keyword_inputs_captured():
    model = KwModel()
    x = probe.randn(2, 4, requires_grad=True)
    mask = probe.ones(2, 4)
    with Trace(model, "scaler", retain_input=True, detach=True) as tr:
        model(x, mask=mask)
    assert set(tr.kwargs) == {"scale", "mask"}
    assert tr.kwargs["scale"] == 2.0
    assert tr.kwargs["mask"].tolist() == mask.tolist()
    assert tr.input.grad_fn is None  # detach applies to inputs too
    np.testing.assert_allclose(npy(tr.output), npy(model.lin(x) * 2.0), rtol=1e-6)
    no_hooks_anywhere(model)


def test_edit_output_receives_keyword_inputs_when_declared():
    model = KwModel()
    seen = {}

    def edit(output, kwargs):
        seen.update(kwargs)
        return output

    with Trace(model, "scaler", edit_output=edit):
        model(probe.randn(1, 4))
    assert seen == {"scale": 2.0, "mask": None}


# ------------------------------------------------------------------ clone / detach / graph
def test_nested_outputs_clone_and_detach_pass_non_tensors_through():
    model = Shared()
    x = probe.randn(2, 4)
    with TraceDict(model, ["block", ""], clone=True, detach=True) as td:
        out = model(x)
    hidden, none, three, cache = td["block"].output
    assert none is None and three == 3 and cache is model.block.cache
    assert hidden.grad_fn is None and hidden is not out["hidden"][0]
    np.testing.assert_allclose(npy(hidden), npy(out["hidden"][0]))
    whole = td[""].output
    assert whole["steps"] == 2 and whole["hidden"][1] is None
    assert whole["out"].grad_fn is None
    hidden.mul_(0)  # a clone: the model's own tensor is untouched
    assert np.abs(npy(out["hidden"][0])).sum() > 0


def test_detach_true_drops_the_graph_detach_false_keeps_it():
    net = mlp()
    x = probe.randn(2, 4, requires_grad=True)
    with Trace(net, "2", detach=True) as tr:
        net(x)
    assert tr.output.grad_fn is None and not tr.output.requires_grad
    with Trace(net, "2") as tr:  # baukit's default: the retained output is the graph node
        y = net(x)
    assert tr.output.grad_fn is not None
    assert y.grad_fn is not None


def test_clone_without_detach_keeps_values_separate():
    net = mlp()
    with Trace(net, "0", clone=True) as tr:
        net(probe.randn(2, 4))
    before = npy(tr.output).copy()
    with Trace(net, "0") as other:
        net(probe.randn(2, 4))
    assert other.output is not tr.output
    np.testing.assert_array_equal(npy(tr.output), before)


# ------------------------------------------------------------------ edit_output
@pytest.mark.parametrize("form", ["output", "output_layer", "positional", "inputs", "kwargs_only"])
def test_edit_output_signatures(form):
    net = mlp()
    x = probe.randn(2, 4)
    calls = []

    def record(*values):
        calls.append(values)

    edits = {
        "output": lambda output: (record(), output * 0)[1],
        "output_layer": lambda output, layer: (record(layer), output * 0)[1],
        "positional": lambda o, name: (record(name), o * 0)[1],
        "inputs": lambda output, inputs: (record(inputs[0].shape), output * 0)[1],
        "kwargs_only": lambda **kw: (record(sorted(kw)), kw["output"] * 0)[1],
    }
    with Trace(net, "3", edit_output=edits[form]) as tr:
        y = net(x)
    assert float(tr.output.abs().sum()) == 0.0  # edit first, then retain
    np.testing.assert_allclose(npy(y), npy(net[4](probe.zeros(2, 8))), rtol=1e-6)
    assert len(calls) == 1
    if form in ("output_layer", "positional"):
        assert calls[0] == ("3",)
    if form == "inputs":
        assert calls[0] == ((2, 8),)
    if form == "kwargs_only":
        assert calls[0] == (["inputs", "kwargs", "layer", "output"],)
    no_hooks_anywhere(net)


def test_edit_output_on_tuple_output():
    model = Shared()

    def edit(output):
        h, *rest = output
        return (h * 0, *rest)

    with Trace(model, "block", edit_output=edit) as tr:
        out = model(probe.randn(2, 4))
    assert float(out["hidden"][0].abs().sum()) == 0.0
    assert tr.output[3] is model.block.cache


# ------------------------------------------------------------------ retain_grad
def test_retain_grad_gives_output_grad():
    net = mlp()
    x = probe.randn(3, 4, requires_grad=True)
    with Trace(net, "2", retain_grad=True) as tr:
        y = net(x)
    y.sum().backward()
    assert tr.output.grad is not None
    # d(sum y)/d(layer-2 output) = relu'(h2) @ W4^T, summed over the 2 outputs
    h2 = npy(tr.output)
    w4 = npy(net[4].weight)
    expected = (h2 > 0) * w4.sum(axis=0)
    np.testing.assert_allclose(npy(tr.output.grad), expected, rtol=1e-5, atol=1e-6)


def test_retain_grad_survives_inplace_op_after_the_layer():
    class InplaceAfter(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, x):
            h = self.lin(x)
            h.mul_(2)
            return h.sum()

    model = InplaceAfter()
    x = probe.randn(2, 3, requires_grad=True)
    with Trace(model, "lin", retain_grad=True) as tr:
        loss = model(x)
    before = npy(tr.output).copy()
    loss.backward()
    np.testing.assert_array_equal(npy(tr.output), before)  # retained value is pre-mul_
    np.testing.assert_allclose(npy(tr.output.grad), np.full((2, 3), 2.0))


def test_retain_grad_on_frozen_model_traces_activation_gradients():
    net = mlp()
    net.requires_grad_(False)
    x = probe.randn(2, 4)
    with Trace(net, "1", retain_grad=True) as tr:
        y = net(x)
    y.sum().backward()
    assert tr.output.grad is not None and tr.output.grad.shape == (2, 8)
    assert net[0].weight.grad is None


def test_retain_grad_with_calls_all():
    model = Shared()
    x = probe.randn(2, 4, requires_grad=True)
    with Trace(model, "shared", retain_grad=True, calls="all") as tr:
        out = model(x)
    out["out"].sum().backward()
    assert len(tr.output) == 2 and all(o.grad is not None for o in tr.output)


def test_retain_grad_under_no_grad_is_harmless():
    net = mlp()
    with probe.no_grad(), Trace(net, "0", retain_grad=True) as tr:
        net(probe.randn(2, 4))
    assert not tr.output.requires_grad


# ------------------------------------------------------------------ stop
def test_stop_raises_after_layer_and_context_swallows_it():
    counter = Counter()
    net = nn.Sequential(nn.Linear(4, 4), counter, nn.Linear(4, 2))
    result = "untouched"
    with Trace(net, "0", stop=True) as tr:
        result = net(probe.randn(2, 4))
    assert result == "untouched"
    assert counter.count == 0 and tr.output.shape == (2, 4)
    no_hooks_anywhere(net)


def test_stop_when_layer_never_runs_is_harmless():
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    unused = nn.Linear(4, 4)
    holder = nn.Sequential(net, unused)  # "1" never runs when we call net
    with Trace(holder, "1", stop=True) as tr:
        y = net(probe.randn(2, 4))
    assert y.shape == (2, 4) and tr.output is None
    no_hooks_anywhere(holder)


def test_stop_outside_a_with_block_propagates():
    net = mlp()
    tr = Trace(net, "0", stop=True)
    with pytest.raises(StopForward):
        net(probe.randn(1, 4))
    tr.close()
    no_hooks_anywhere(net)


def test_stop_with_call_index_waits_for_that_call():
    model = Shared()
    with Trace(model, "shared", stop=True, calls=1) as tr, \
            Trace(model, "block", stop=False) as after:
        model(probe.randn(2, 4))
    assert tr.call_count == 2 and tr.output is not None
    assert after.output is None  # stopped before "block"


# ------------------------------------------------------------------ repeated calls
def test_calls_last_all_and_index():
    model = Shared()
    x = probe.randn(2, 4)
    h1 = model.shared(x)
    h2 = model.shared(F.relu(h1))
    with TraceDict(model, ["shared"], calls="all", retain_input=True) as td_all:
        model(x)
    with Trace(model, "shared") as last, Trace(model, "shared", calls=0) as first:
        model(x)
    outs = td_all["shared"].output
    assert len(outs) == 2 and len(td_all["shared"].input) == 2
    np.testing.assert_allclose(npy(outs[0]), npy(h1), rtol=1e-6)
    np.testing.assert_allclose(npy(outs[1]), npy(h2), rtol=1e-6)
    np.testing.assert_allclose(npy(td_all["shared"].input[1]), npy(F.relu(h1)), rtol=1e-6)
    np.testing.assert_allclose(npy(last.output), npy(h2), rtol=1e-6)
    np.testing.assert_allclose(npy(first.output), npy(h1), rtol=1e-6)
    assert last.call_count == 2


def test_edits_apply_to_every_call():
    model = Shared()
    seen = []

    def edit(output):
        seen.append(1)
        return output * 0

    with Trace(model, "shared", edit_output=edit, calls=0) as tr:
        out = model(probe.randn(2, 4))
    assert len(seen) == 2
    assert float(tr.output.abs().sum()) == 0.0
    # The second call's input was relu(0 + bias) and its output was zeroed too.
    assert float(out["hidden"][0].abs().sum()) == pytest.approx(
        float(model.block.proj(probe.zeros(2, 4)).abs().sum()), rel=1e-5)


@pytest.mark.parametrize("bad", ["first", -1, 1.5, True, None])
def test_bad_calls_rejected_without_hooks(bad):
    net = mlp()
    with pytest.raises(ValueError, match="calls"):
        Trace(net, "0", calls=bad)
    no_hooks_anywhere(net)


# ------------------------------------------------------------------ TraceDict
def test_tracedict_order_and_outputs():
    net = mlp()
    x = probe.randn(2, 4)
    with TraceDict(net, ["3", "0", "1"]) as td:
        net(x)
    assert list(td) == ["3", "0", "1"]
    assert all(isinstance(t, Trace) for t in td.values())
    np.testing.assert_allclose(npy(td["1"].output), npy(F.relu(net[0](x))), rtol=1e-6)
    no_hooks_anywhere(net)


def test_tracedict_per_layer_options():
    net = mlp()
    x = probe.randn(2, 4, requires_grad=True)
    with TraceDict(net, ["0", "2"], detach={"0": True}, retain_input={"2": True},
                   edit_output={"2": lambda output: output * 0}) as td:
        net(x)
    assert td["0"].output.grad_fn is None and td["0"].input is None
    assert td["2"].output.grad_fn is not None and td["2"].input is not None
    assert float(td["2"].output.abs().sum()) == 0.0


def test_tracedict_edit_output_gets_layer_name():
    net = mlp()
    names = []

    def edit(output, layer):
        names.append(layer)
        return output

    with TraceDict(net, ["2", "0"], edit_output=edit):
        net(probe.randn(1, 4))
    assert names == ["0", "2"]  # execution order


def test_tracedict_stop_after_every_listed_layer_ran():
    counter = Counter()
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), counter, nn.Linear(4, 1))
    # Listed out of execution order: baukit would stop after "0" and miss "2".
    with TraceDict(net, ["2", "0"], stop=True) as td:
        net(probe.randn(2, 4))
    assert td["2"].output is not None and td["0"].output is not None
    assert counter.count == 0
    no_hooks_anywhere(net)


def test_tracedict_stop_with_a_layer_that_never_runs():
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    holder = nn.Sequential(net, nn.Linear(4, 4))
    with TraceDict(holder, ["0.0", "1"], stop=True) as td:
        y = net(probe.randn(2, 4))
    assert y.shape == (2, 4) and td["0.0"].output is not None and td["1"].output is None


def test_tracedict_per_layer_stop_dict():
    counter = Counter()
    net = nn.Sequential(nn.Linear(4, 4), counter, nn.Linear(4, 4))
    with TraceDict(net, ["0", "2"], stop={"0": True}) as td:
        net(probe.randn(2, 4))
    assert counter.count == 0 and td["2"].output is None


def test_tracedict_option_dict_with_unknown_layer():
    net = mlp()
    with pytest.raises(LookupError, match="'2'"):
        TraceDict(net, ["0", "2"], detach={"22": True})
    no_hooks_anywhere(net)


def test_tracedict_single_name_and_duplicates():
    net = mlp()
    with TraceDict(net, "0") as td:
        net(probe.ones(1, 4))
    assert list(td) == ["0"]
    with TraceDict(net, ["0", "0"]) as td:
        net(probe.ones(1, 4))
    assert list(td) == ["0"]


# ------------------------------------------------------------------ hook hygiene
def test_hooks_present_while_open_and_recognised():
    net = mlp()
    with TraceDict(net, ["0", "2"], retain_input=True):
        hooks = list_hooks(net)
        assert {(name, kind) for name, kind, _ in hooks} == {
            ("0", "forward"), ("0", "forward_pre"), ("2", "forward"), ("2", "forward_pre")}
        assert all(is_nethook_hook(hook) for _, _, hook in hooks)
    no_hooks_anywhere(net)


def test_bad_name_registers_nothing():
    net = mlp()
    with pytest.raises(LookupError, match="'1'"):
        Trace(net, "11")
    with pytest.raises(LookupError) as info:
        TraceDict(net, ["0", "2", "9", "4"], retain_input=True)
    assert "'9'" in str(info.value)
    no_hooks_anywhere(net)


def test_failed_registration_midway_rolls_back():
    net = mlp()
    with pytest.raises(ValueError, match="calls"):
        TraceDict(net, ["0", "2", "4"], retain_input=True, calls={"4": "bogus"})
    no_hooks_anywhere(net)


def test_hooks_removed_when_body_raises():
    net = mlp()
    with pytest.raises(KeyError), TraceDict(net, ["0", "2"], retain_input=True):
        net(probe.randn(1, 4))
        raise KeyError("body")
    no_hooks_anywhere(net)


def test_hooks_removed_when_forward_raises():
    model = nn.Sequential(nn.Linear(4, 4), Boom())
    with pytest.raises(RuntimeError, match="boom"), Trace(model, "0", retain_input=True) as tr:
        model(probe.randn(1, 4))
    assert tr.output is not None
    no_hooks_anywhere(model)


def test_hooks_removed_when_edit_raises():
    net = mlp()

    def bad_edit(output):
        raise ArithmeticError("edit")

    with pytest.raises(ArithmeticError), TraceDict(net, ["0", "2"], edit_output=bad_edit):
        net(probe.randn(1, 4))
    no_hooks_anywhere(net)


def test_hooks_removed_after_stop_and_close_is_idempotent():
    net = mlp()
    td = TraceDict(net, ["0", "2"], stop=True)
    with td:
        net(probe.randn(1, 4))
    td.close()
    td.close()
    no_hooks_anywhere(net)


def test_nested_traces_on_same_layer():
    net = mlp()
    with Trace(net, "2", edit_output=lambda output: output + 1) as outer, \
            Trace(net, "2", detach=True) as inner:
        net(probe.randn(1, 4))
    np.testing.assert_allclose(npy(outer.output), npy(inner.output))
    no_hooks_anywhere(net)
