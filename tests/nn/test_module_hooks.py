"""Module hook semantics: order, prepend, kwargs, replacement of inputs/outputs/gradients,
always_call, global hooks before local ones, removal while running, backward hooks surviving
in-place ops on outputs."""

from __future__ import annotations

import pytest

import probe
from probe import nn
from probe.nn.modules import module as module_mod


class Scale(nn.Module):
    """y = x * w (elementwise), a module with one parameter."""

    def __init__(self, n=2):
        super().__init__()
        self.w = nn.Parameter(probe.ones(n) * 2)

    def forward(self, x, *, bias=0.0):
        return x * self.w + bias


def test_forward_pre_and_forward_hook_order_and_replacement():
    m = Scale()
    calls = []
    m.register_forward_pre_hook(lambda mod, args: calls.append("pre1"))
    m.register_forward_pre_hook(lambda mod, args: (args[0] * 10,))
    m.register_forward_hook(lambda mod, args, out: calls.append(("fwd", out.tolist())))
    m.register_forward_hook(lambda mod, args, out: out + 1)
    out = m(probe.ones(2))
    assert calls == ["pre1", ("fwd", [20.0, 20.0])]
    assert out.tolist() == [21.0, 21.0]


def test_pre_hook_single_value_is_wrapped_in_tuple():
    m = Scale()
    m.register_forward_pre_hook(lambda mod, args: args[0] + 1)
    assert m(probe.zeros(2)).tolist() == [2.0, 2.0]


def test_prepend_puts_hook_first():
    m = Scale()
    order = []
    m.register_forward_hook(lambda *a: order.append("a"))
    m.register_forward_hook(lambda *a: order.append("b"), prepend=True)
    m.register_forward_pre_hook(lambda *a: order.append("pa"))
    m.register_forward_pre_hook(lambda *a: order.append("pb"), prepend=True)
    m(probe.ones(2))
    assert order == ["pb", "pa", "b", "a"]


def test_hooks_with_kwargs():
    m = Scale()
    seen = {}

    def pre(mod, args, kwargs):
        return args, {**kwargs, "bias": 5.0}

    def post(mod, args, kwargs, out):
        seen["kwargs"] = kwargs
        return out

    m.register_forward_pre_hook(pre, with_kwargs=True)
    m.register_forward_hook(post, with_kwargs=True)
    out = m(probe.ones(2))
    assert out.tolist() == [7.0, 7.0]
    assert seen["kwargs"] == {"bias": 5.0}


def test_bad_kwargs_pre_hook_return_raises():
    m = Scale()
    m.register_forward_pre_hook(lambda mod, a, k: 3, with_kwargs=True)
    with pytest.raises(RuntimeError, match="forward pre-hook must return None or a tuple"):
        m(probe.ones(2))


def test_always_call_runs_on_exception():
    class Boom(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    m = Boom()
    calls = []
    m.register_forward_hook(lambda mod, args, out: calls.append(("always", out)), always_call=True)
    m.register_forward_hook(lambda mod, args, out: calls.append("normal"))
    with pytest.raises(ValueError, match="boom"):
        m(probe.ones(1))
    assert calls == [("always", None)]


def test_global_hooks_run_before_local_ones_and_are_removable():
    m = Scale()
    order = []
    m.register_forward_hook(lambda *a: order.append("local"))
    m.register_forward_pre_hook(lambda *a: order.append("local_pre"))
    h1 = module_mod.register_module_forward_hook(lambda *a: order.append("global"))
    h2 = module_mod.register_module_forward_pre_hook(lambda *a: order.append("global_pre"))
    try:
        m(probe.ones(2))
    finally:
        h1.remove()
        h2.remove()
    assert order == ["global_pre", "local_pre", "global", "local"]
    order.clear()
    m(probe.ones(2))
    assert order == ["local_pre", "local"]


def test_hook_removing_itself_while_running():
    m = Scale()
    calls = []
    handles = {}

    def once(mod, args, out):
        calls.append("once")
        handles["once"].remove()

    handles["once"] = m.register_forward_hook(once)
    m.register_forward_hook(lambda *a: calls.append("stays"))
    m(probe.ones(2))
    m(probe.ones(2))
    assert calls == ["once", "stays", "stays"]


def test_handle_remove_is_idempotent_and_context_manager():
    m = Scale()
    calls = []
    with m.register_forward_hook(lambda *a: calls.append(1)) as handle:
        m(probe.ones(2))
    handle.remove()
    handle.remove()
    m(probe.ones(2))
    assert calls == [1]
    assert len(m._forward_hooks) == 0


def test_full_backward_hooks_order_and_values():
    m = Scale()
    order = []

    def pre(mod, grad_output):
        order.append(("bwd_pre", grad_output[0].tolist()))

    def post(mod, grad_input, grad_output):
        order.append(("bwd", grad_input[0].tolist(), grad_output[0].tolist()))

    m.register_forward_pre_hook(lambda *a: order.append("fwd_pre"))
    m.register_forward_hook(lambda *a: order.append("fwd"))
    m.register_full_backward_pre_hook(pre)
    m.register_full_backward_hook(post)
    x = probe.ones(2, requires_grad=True)
    (m(x) * 3).sum().backward()
    assert order == ["fwd_pre", "fwd", ("bwd_pre", [3.0, 3.0]), ("bwd", [6.0, 6.0], [3.0, 3.0])]
    assert x.grad.tolist() == [6.0, 6.0]
    assert m.w.grad.tolist() == [3.0, 3.0]


def test_backward_hook_replaces_grad_input_and_pre_hook_replaces_grad_output():
    m = Scale()
    m.register_full_backward_pre_hook(lambda mod, go: (go[0] * 10,))
    m.register_full_backward_hook(lambda mod, gi, go: (gi[0] + 1,))
    x = probe.ones(2, requires_grad=True)
    m(x).sum().backward()
    # grad_output 1 -> 10; grad_input = 10 * w = 20 -> replaced by 21
    assert x.grad.tolist() == [21.0, 21.0]
    assert m.w.grad.tolist() == [10.0, 10.0]


def test_backward_hook_fires_with_none_grad_input_when_inputs_need_no_grad():
    m = Scale()
    seen = []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append((gi, go[0].tolist())))
    with pytest.warns(UserWarning, match="Full backward hook is firing"):
        m(probe.ones(2)).sum().backward()
    assert seen == [((None,), [1.0, 1.0])]


def test_inplace_on_output_of_module_with_backward_hook_keeps_working():
    m = Scale()
    seen = []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append(go[0].tolist()))
    x = probe.ones(2, requires_grad=True)
    y = m(x)
    y.add_(1)  # PyTorch raises here; probe records it like any in-place op
    (y * 2).sum().backward()
    assert seen == [[2.0, 2.0]]
    assert x.grad.tolist() == [4.0, 4.0]


def test_global_backward_hooks_run_before_local():
    m = Scale()
    order = []
    m.register_full_backward_hook(lambda *a: order.append("local"))
    h = module_mod.register_module_full_backward_hook(lambda *a: order.append("global"))
    try:
        m(probe.ones(2, requires_grad=True)).sum().backward()
    finally:
        h.remove()
    assert order == ["global", "local"]


def test_no_hooks_fast_path_and_hook_dicts_named_like_pytorch():
    m = Scale()
    for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
        assert getattr(m, name) == {}
    h = m.register_forward_hook(lambda *a: None)
    assert list(m._forward_hooks) == [h.id]


def test_backward_hook_prepend_and_removal_while_running():
    m = Scale()
    order = []
    handles = {}

    def once(mod, gi, go):
        order.append("once")
        handles["once"].remove()

    m.register_full_backward_hook(lambda *a: order.append("b"))
    handles["once"] = m.register_full_backward_hook(once, prepend=True)
    m.register_full_backward_pre_hook(lambda *a: order.append("pre_b"))
    m.register_full_backward_pre_hook(lambda *a: order.append("pre_a"), prepend=True)
    x = probe.ones(2, requires_grad=True)
    m(x).sum().backward()
    m(x).sum().backward()
    assert order == ["pre_a", "pre_b", "once", "b", "pre_a", "pre_b", "b"]


def test_hooks_on_real_layers_capture_activations_and_grads():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    acts, grads = {}, {}
    for name, layer in model.named_children():
        layer.register_forward_hook(lambda mod, a, out, name=name: acts.__setitem__(name, out))
        layer.register_full_backward_hook(
            lambda mod, gi, go, name=name: grads.__setitem__(name, go[0]))
    out = model(probe.randn(5, 3, requires_grad=True))
    out.sum().backward()
    assert [tuple(acts[k].shape) for k in "012"] == [(5, 4), (5, 4), (5, 2)]
    assert [tuple(grads[k].shape) for k in "012"] == [(5, 4), (5, 4), (5, 2)]
    assert grads["2"].tolist() == [[1.0, 1.0]] * 5
