"""Tensor hooks (register_hook, register_post_accumulate_grad_hook, retain_grad), graph-node
hooks (Node.register_hook / register_prehook) and RemovableHandle."""

from __future__ import annotations

import gc
import weakref

import pytest

import probe
from probe.engine.hooks import RemovableHandle


def values(g):
    return None if g is None else g.tolist()


# ----------------------------------------------------------------------------------------------
# Tensor.register_hook
# ----------------------------------------------------------------------------------------------

class TestTensorHooks:
    def test_hook_sees_gradient(self, device):
        w = probe.ones(2, requires_grad=True, device=device)
        seen = []
        w.register_hook(lambda g: seen.append(g.tolist()))
        (w * 3).sum().backward()
        assert seen == [[3.0, 3.0]]
        assert w.grad.tolist() == [3.0, 3.0]

    def test_replacing_hooks_q_w_example(self):
        # reference/pytorch-semantics.md: q hook sees [1,1], w hook sees [20,20], w.grad [20,20].
        w = probe.ones(2, requires_grad=True)
        q = w * 2
        log = []

        def q_hook(g):
            log.append(("q", g.tolist()))
            return g * 10

        q.register_hook(q_hook)
        w.register_hook(lambda g: log.append(("w", g.tolist())))
        q.sum().backward()
        assert log == [("q", [1.0, 1.0]), ("w", [20.0, 20.0])]
        assert w.grad.tolist() == [20.0, 20.0]

    def test_leaf_hook_runs_before_accumulation(self):
        w = probe.ones(2, requires_grad=True)
        seen = []

        def hook(g):
            seen.append(None if w.grad is None else w.grad.tolist())
            return g + 1

        w.register_hook(hook)
        (w * 3).sum().backward()
        assert seen == [None]
        assert w.grad.tolist() == [4.0, 4.0]
        (w * 3).sum().backward()
        assert seen == [None, [4.0, 4.0]]
        assert w.grad.tolist() == [8.0, 8.0]

    def test_hooks_chain_in_registration_order(self):
        w = probe.ones(2, requires_grad=True)
        order = []

        def first(g):
            order.append(("first", g.tolist()))
            return g * 2

        def second(g):
            order.append(("second", g.tolist()))
            return g + 1

        w.register_hook(first)
        w.register_hook(second)
        w.sum().backward()
        assert order == [("first", [1.0, 1.0]), ("second", [2.0, 2.0])]
        assert w.grad.tolist() == [3.0, 3.0]

    def test_hook_fires_once_with_summed_gradient(self):
        w = probe.ones(2, requires_grad=True)
        h = w * 1
        seen = []
        h.register_hook(lambda g: seen.append(g.tolist()))
        (h * 2 + h * 3).sum().backward()
        assert seen == [[5.0, 5.0]]

    def test_hook_on_non_leaf_replaces_flowing_grad(self):
        x = probe.ones(2, requires_grad=True)
        h = x * 3
        h.register_hook(lambda g: g * 0)
        (h * h).sum().backward()
        assert x.grad.tolist() == [0.0, 0.0]

    def test_hook_not_called_without_gradient(self):
        a = probe.ones(2, requires_grad=True)
        b = probe.ones(2, requires_grad=True)
        called = []
        b.register_hook(lambda g: called.append(1))
        (a * 2).sum().backward()
        assert called == []

    def test_hook_under_autograd_grad(self):
        x = probe.ones(2, requires_grad=True)
        x.register_hook(lambda g: g * 5)
        (g,) = probe.autograd.grad((x * 2).sum(), x)
        assert g.tolist() == [10.0, 10.0]
        assert x.grad is None

    def test_hook_on_tensor_without_grad(self):
        with pytest.raises(RuntimeError, match="cannot register a hook on a tensor that doesn't "
                                               "require gradient"):
            probe.ones(2).register_hook(lambda g: g)

    def test_hook_changing_size_raises(self):
        w = probe.ones(2, requires_grad=True)
        q = w * 2

        def bad(g):
            return probe.ones(3)

        q.register_hook(bad)
        with pytest.raises(RuntimeError, match="hook 'bad' has changed the size of value"):
            (q * 2).sum().backward()

    def test_leaf_hook_changing_size_raises(self):
        w = probe.ones(2, requires_grad=True)

        def bad(g):
            return probe.ones(3)

        w.register_hook(bad)
        with pytest.raises(RuntimeError, match="hook 'bad' has changed the size of value"):
            (w * 2).sum().backward()
        assert w.grad is None

    def test_hook_with_create_graph_gets_graph_tensor(self):
        x = probe.tensor([2.0], requires_grad=True)
        seen = []
        y = x * x
        y.register_hook(lambda g: seen.append(g.requires_grad))
        (g,) = probe.autograd.grad((y * x).sum(), x, create_graph=True)
        assert g.tolist() == [12.0]
        assert seen == [True]


# ----------------------------------------------------------------------------------------------
# retain_grad
# ----------------------------------------------------------------------------------------------

class TestRetainGrad:
    def test_retain_grad(self):
        w = probe.ones(2, requires_grad=True)
        h = w * 3
        h.retain_grad()
        assert h.retains_grad
        (h * h).sum().backward()
        assert h.grad.tolist() == [6.0, 6.0]
        assert w.grad.tolist() == [18.0, 18.0]

    def test_retained_grad_accumulates(self):
        w = probe.ones(2, requires_grad=True)
        h = w * 3
        h.retain_grad()
        y = (h * h).sum()
        y.backward(retain_graph=True)
        y.backward()
        assert h.grad.tolist() == [12.0, 12.0]

    def test_retain_grad_sees_hook_result(self):
        # Retain-grad runs after the tensor's own hooks, whatever the registration order.
        w = probe.ones(2, requires_grad=True)
        h = w * 3
        h.retain_grad()
        h.register_hook(lambda g: g * 10)
        (h * h).sum().backward()
        assert h.grad.tolist() == [60.0, 60.0]
        assert w.grad.tolist() == [180.0, 180.0]

    def test_retain_grad_on_leaf_is_noop(self):
        w = probe.ones(2, requires_grad=True)
        w.retain_grad()
        assert not w.retains_grad
        (w * 2).sum().backward()
        assert w.grad.tolist() == [2.0, 2.0]

    def test_retain_grad_without_requires_grad(self):
        with pytest.raises(RuntimeError, match="can't retain_grad on Tensor that has "
                                               "requires_grad=False"):
            probe.ones(2).retain_grad()

    def test_retained_grad_is_own_buffer(self):
        w = probe.ones(2, requires_grad=True)
        h = w * 1
        h.retain_grad()
        (h + 0).sum().backward()
        h.grad.mul_(7)
        assert w.grad.tolist() == [1.0, 1.0]


# ----------------------------------------------------------------------------------------------
# register_post_accumulate_grad_hook
# ----------------------------------------------------------------------------------------------

class TestPostAccumulateHook:
    def test_fires_after_grad_update(self):
        w = probe.ones(2, requires_grad=True)
        seen = []
        w.register_post_accumulate_grad_hook(lambda t: seen.append((t is w, t.grad.tolist())))
        (w * 2).sum().backward()
        (w * 2).sum().backward()
        assert seen == [(True, [2.0, 2.0]), (True, [4.0, 4.0])]

    def test_can_update_parameter_in_hook(self):
        # The optimizer-in-backward pattern.
        w = probe.ones(2, requires_grad=True)

        def step(t):
            with probe.no_grad():
                t.sub_(t.grad * 0.5)
            t.grad = None

        w.register_post_accumulate_grad_hook(step)
        (w * 2).sum().backward()
        assert w.tolist() == [0.0, 0.0]
        assert w.grad is None

    def test_non_leaf_rejected(self):
        w = probe.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match="post accumulate grad hooks cannot be registered "
                                               "on non-leaf tensors"):
            (w * 2).register_post_accumulate_grad_hook(lambda t: None)

    def test_not_called_by_autograd_grad(self):
        w = probe.ones(2, requires_grad=True)
        seen = []
        w.register_post_accumulate_grad_hook(lambda t: seen.append(1))
        probe.autograd.grad((w * 2).sum(), w)
        assert seen == []


# ----------------------------------------------------------------------------------------------
# Node hooks
# ----------------------------------------------------------------------------------------------

class TestNodeHooks:
    def test_prehook_replaces_grad_outputs(self):
        w = probe.ones(2, requires_grad=True)
        q = w * 2
        seen = []

        def pre(grad_outputs):
            seen.append([values(g) for g in grad_outputs])
            return (grad_outputs[0] * 100,)

        q.grad_fn.register_prehook(pre)
        (q * 1).sum().backward()
        assert seen == [[[1.0, 1.0]]]
        assert w.grad.tolist() == [200.0, 200.0]

    def test_post_hook_replaces_grad_inputs(self):
        w = probe.ones(2, requires_grad=True)
        q = w * 2
        seen = []

        def post(grad_inputs, grad_outputs):
            seen.append(([values(g) for g in grad_inputs], [values(g) for g in grad_outputs]))
            return (grad_inputs[0] * 7, None)

        q.grad_fn.register_hook(post)
        (q * 1).sum().backward()
        assert seen == [([[2.0, 2.0], None], [[1.0, 1.0]])]
        assert w.grad.tolist() == [14.0, 14.0]

    def test_post_hook_wrong_count(self):
        w = probe.ones(2, requires_grad=True)
        q = w * 2

        def post(grad_inputs, grad_outputs):
            return (grad_inputs[0],)

        q.grad_fn.register_hook(post)
        with pytest.raises(RuntimeError, match=r"hook 'post' has returned an incorrect number of "
                                               r"values \(got 1, but expected 2\)"):
            (q * 1).sum().backward()

    def test_order_tensor_hook_retain_prehook_posthook(self):
        w = probe.tensor([1.0, 2.0], requires_grad=True)
        q = w * 2
        r = q * 3
        log = []
        q.register_hook(lambda g: log.append(("q_hook", g.tolist())))
        q.retain_grad()
        q.grad_fn.register_prehook(lambda go: log.append(("pre", values(go[0]))))
        q.grad_fn.register_hook(lambda gi, go: log.append(("post", values(gi[0]))))
        q.register_hook(lambda g: log.append(("q_hook2", g.tolist())) or g * 2)
        w.register_hook(lambda g: log.append(("w_hook", g.tolist())))
        w.register_post_accumulate_grad_hook(lambda t: log.append(("w_post", t.grad.tolist())))
        r.sum().backward()
        assert log == [
            ("q_hook", [3.0, 3.0]),
            ("q_hook2", [3.0, 3.0]),
            ("pre", [6.0, 6.0]),
            ("post", [12.0, 12.0]),
            ("w_hook", [12.0, 12.0]),
            ("w_post", [12.0, 12.0]),
        ]
        assert q.grad.tolist() == [6.0, 6.0]

    def test_accumulate_grad_node_hooks(self):
        w = probe.ones(2, requires_grad=True)
        y = w * 3
        acc = y.grad_fn.next_functions[0][0]
        assert type(acc).__name__ == "AccumulateGrad"
        assert acc.variable is w
        log = []
        acc.register_prehook(lambda go: log.append(("acc_pre", values(go[0]))))
        acc.register_hook(lambda gi, go: log.append(("acc_post", gi, values(go[0]))))
        w.register_hook(lambda g: log.append(("w_hook", g.tolist())) or g + 1)
        w.register_post_accumulate_grad_hook(lambda t: log.append(("w_post", t.grad.tolist())))
        y.sum().backward()
        assert log == [
            ("w_hook", [3.0, 3.0]),
            ("acc_pre", [4.0, 4.0]),
            ("w_post", [4.0, 4.0]),
            ("acc_post", (), [4.0, 4.0]),
        ]
        assert w.grad.tolist() == [4.0, 4.0]

    def test_node_name_and_metadata(self):
        w = probe.ones(2, requires_grad=True)
        node = (w * 2).grad_fn
        assert node.name() == "MulBackward0"
        node.metadata["tag"] = 1
        assert node.metadata == {"tag": 1}

    def test_node_is_graph_node(self):
        w = probe.ones(2, requires_grad=True)
        assert isinstance((w * 2).grad_fn, probe.autograd.graph.Node)


# ----------------------------------------------------------------------------------------------
# RemovableHandle
# ----------------------------------------------------------------------------------------------

class TestRemovableHandle:
    def test_remove(self):
        w = probe.ones(2, requires_grad=True)
        h = w.register_hook(lambda g: g * 10)
        assert isinstance(h, RemovableHandle)
        h.remove()
        (w * 1).sum().backward()
        assert w.grad.tolist() == [1.0, 1.0]

    def test_remove_is_idempotent(self):
        w = probe.ones(2, requires_grad=True)
        h1 = w.register_hook(lambda g: g * 10)
        h2 = w.register_hook(lambda g: g * 3)
        h1.remove()
        h1.remove()
        (w * 1).sum().backward()
        assert w.grad.tolist() == [3.0, 3.0]
        h2.remove()

    def test_context_manager(self):
        w = probe.ones(2, requires_grad=True)
        with w.register_hook(lambda g: g * 2) as handle:
            assert isinstance(handle, RemovableHandle)
            (w * 3).sum().backward()
        assert w.grad.tolist() == [6.0, 6.0]
        (w * 3).sum().backward()
        assert w.grad.tolist() == [9.0, 9.0]

    def test_node_hook_handles(self):
        w = probe.ones(2, requires_grad=True)
        q = w * 2
        h1 = q.grad_fn.register_prehook(lambda go: (go[0] * 100,))
        h2 = q.grad_fn.register_hook(lambda gi, go: (gi[0] * 100, None))
        h1.remove()
        h2.remove()
        (q * 1).sum().backward()
        assert w.grad.tolist() == [2.0, 2.0]

    def test_post_accumulate_handle(self):
        w = probe.ones(2, requires_grad=True)
        seen = []
        h = w.register_post_accumulate_grad_hook(lambda t: seen.append(1))
        h.remove()
        (w * 2).sum().backward()
        assert seen == []

    def test_handle_does_not_keep_tensor_alive(self):
        t = probe.ones(2, requires_grad=True)
        ref = weakref.ref(t)
        h = t.register_hook(lambda g: g)
        del t
        gc.collect()
        assert ref() is None
        h.remove()  # harmless after the tensor is gone

    def test_handle_does_not_keep_node_alive(self):
        w = probe.ones(2, requires_grad=True)
        y = w * 2
        node_ref = weakref.ref(y.grad_fn)
        h = y.grad_fn.register_hook(lambda gi, go: None)
        del y
        gc.collect()
        assert node_ref() is None
        h.remove()

    def test_hook_removing_itself_while_running(self):
        w = probe.ones(2, requires_grad=True)
        log = []
        handles = {}

        def once(g):
            log.append("once")
            handles["once"].remove()

        def always(g):
            log.append("always")

        handles["once"] = w.register_hook(once)
        handles["always"] = w.register_hook(always)
        (w * 2).sum().backward()
        (w * 2).sum().backward()
        assert log == ["once", "always", "always"]

    def test_hook_removing_another_while_running(self):
        w = probe.ones(2, requires_grad=True)
        log = []
        handles = {}

        def first(g):
            log.append("first")
            handles["second"].remove()

        handles["first"] = w.register_hook(first)
        handles["second"] = w.register_hook(lambda g: log.append("second"))
        (w * 2).sum().backward()
        (w * 2).sum().backward()
        # The running backward had already collected its hooks (PyTorch's behaviour).
        assert log == ["first", "second", "first"]

    def test_node_hook_removing_itself(self):
        w = probe.ones(2, requires_grad=True)
        y = w * 2
        calls = []
        handles = []

        def pre(go):
            calls.append(1)
            handles[0].remove()

        handles.append(y.grad_fn.register_prehook(pre))
        y.sum().backward(retain_graph=True)
        y.sum().backward()
        assert calls == [1]

    def test_handle_ids_unique(self):
        w = probe.ones(2, requires_grad=True)
        a = w.register_hook(lambda g: g)
        b = w.register_hook(lambda g: g)
        assert a.id != b.id
