"""The autograd engine: graph recording, backward, autograd.grad, higher-order gradients, grad
modes, version counters, graph lifetime, gradcheck and anomaly detection.

Expected texts are PyTorch's (reference/pytorch-semantics.md); the parity file re-checks the
important ones against torch itself.
"""

from __future__ import annotations

import gc
import threading
import warnings
import weakref

import numpy as np
import pytest

import probe
from probe.autograd import GradcheckError, gradcheck, gradgradcheck

BACKWARD_TWICE = "Trying to backward through the graph a second time"
HINT = (
    "Hint: enable anomaly detection to find the operation that failed to compute its gradient, "
    "with torch.autograd.set_detect_anomaly(True, check_nan=False)."
)


@pytest.fixture(autouse=True)
def _modes_restored():
    """A test that leaks grad mode off would break every later test: fail it, and reset."""
    yield
    leaked = not probe.is_grad_enabled() or probe.autograd.is_anomaly_enabled()
    probe.set_grad_enabled(True)
    probe.engine.grad_mode.STATE.anomaly = False
    assert not leaked, "grad mode or anomaly mode leaked out of the test"


def f64(*shape, requires_grad=True, seed=0):
    data = np.random.default_rng(seed).standard_normal(shape)
    return probe.tensor(data, dtype=probe.float64, requires_grad=requires_grad)


def name(t):
    return type(t.grad_fn).__name__


# ----------------------------------------------------------------------------------------------
# Graph recording
# ----------------------------------------------------------------------------------------------

class TestGraphRecording:
    def test_no_graph_without_requires_grad(self, device):
        a = probe.ones(3, device=device)
        b = a * 2 + a
        assert not b.requires_grad
        assert b.grad_fn is None
        assert b.is_leaf

    def test_graph_when_an_input_requires_grad(self, device):
        w = probe.ones(3, requires_grad=True, device=device)
        c = probe.ones(3, device=device)
        y = c * w
        assert y.requires_grad
        assert not y.is_leaf
        assert name(y) == "MulBackward0"

    def test_leaf_and_constant_edges(self):
        x = probe.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        nf = y.grad_fn.next_functions
        assert len(nf) == 2
        assert type(nf[0][0]).__name__ == "AccumulateGrad"
        assert nf[0][1] == 0
        assert nf[1] == (None, 0)
        assert nf[0][0].variable is x
        # One AccumulateGrad per leaf, the same object every time.
        assert (x + 1).grad_fn.next_functions[0][0] is nf[0][0]

    def test_constant_tensor_edge(self):
        x = probe.ones(2, requires_grad=True)
        c = probe.ones(2)
        nf = (c * x).grad_fn.next_functions
        assert nf[0] == (None, 0)
        assert type(nf[1][0]).__name__ == "AccumulateGrad"

    def test_chain_edges_point_to_previous_node(self):
        x = probe.ones(2, requires_grad=True)
        a = x * 2
        b = a + 1
        c = b - a
        assert name(c) == "SubBackward0"
        nf = c.grad_fn.next_functions
        assert nf[0][0] is b.grad_fn
        assert nf[1][0] is a.grad_fn
        assert b.grad_fn.next_functions[0][0] is a.grad_fn
        assert c.grad_fn.name() == "SubBackward0"

    def test_graph_follows_python_control_flow(self):
        # The graph is recorded op by op as the code runs (define-by-run).
        def f(x, n):
            y = x
            for _ in range(n):
                y = y * 2 if y.sum().item() < 10 else y - 1
            return y

        x = probe.ones(2, requires_grad=True)
        y = f(x, 5)  # 2, 4, 8 (sum 16 >= 10) then -1, -1
        assert y.tolist() == [6.0, 6.0]
        assert name(y) == "SubBackward0"
        y.sum().backward()
        assert x.grad.tolist() == [8.0, 8.0]

    def test_leaf_has_no_grad_fn(self):
        x = probe.ones(2, requires_grad=True)
        assert x.grad_fn is None and x.is_leaf and x.requires_grad

    def test_grad_fn_names(self):
        x = probe.tensor([1.0, 2.0], requires_grad=True)
        assert name(x + 1) == "AddBackward0"
        assert name(x + x) == "AddBackward0"
        assert name(x - x) == "SubBackward0"
        assert name(1 - x) == "RsubBackward1"
        assert name(x * x) == "MulBackward0"
        assert name(x / 2) == "DivBackward0"
        assert name(-x) == "NegBackward0"
        assert name(x ** 2) == "PowBackward0"
        assert name(x ** x) == "PowBackward1"
        assert name(x.sum()) == "SumBackward0"
        assert name(x.exp()) == "ExpBackward0"
        assert name(x.sigmoid()) == "SigmoidBackward0"
        assert name(x.tanh()) == "TanhBackward0"
        assert name(x.view(2, 1)) == "ViewBackward0"
        assert name(x.double()) == "ToCopyBackward0"
        assert name(x.clone()) == "CloneBackward0"

    def test_results_under_no_grad_are_leaves(self):
        x = probe.ones(2, requires_grad=True)
        with probe.no_grad():
            y = x * 2
        assert not y.requires_grad and y.is_leaf and y.grad_fn is None

    def test_repr_shows_grad_fn(self):
        x = probe.tensor([1.0, 2.0], requires_grad=True)
        assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulBackward0>)"
        assert repr(x) == "tensor([1., 2.], requires_grad=True)"


# ----------------------------------------------------------------------------------------------
# backward()
# ----------------------------------------------------------------------------------------------

class TestBackward:
    def test_scalar_backward(self, device):
        x = probe.tensor([1.0, 2.0, 3.0], requires_grad=True, device=device)
        (x * x).sum().backward()
        np.testing.assert_allclose(x.grad.cpu().numpy(), [2.0, 4.0, 6.0])

    def test_gradient_argument(self, device):
        x = probe.tensor([1.0, 2.0, 3.0], requires_grad=True, device=device)
        y = x * 3
        y.backward(probe.tensor([1.0, 10.0, 100.0], device=device))
        np.testing.assert_allclose(x.grad.cpu().numpy(), [3.0, 30.0, 300.0])

    def test_gradient_keyword(self):
        x = probe.ones(2, requires_grad=True)
        (x * 3).backward(gradient=probe.tensor([1.0, 2.0]))
        assert x.grad.tolist() == [3.0, 6.0]

    def test_non_scalar_without_gradient(self):
        x = probe.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="^grad can be implicitly created only for scalar "
                                               "outputs$"):
            (x * 2).backward()

    def test_backward_of_tensor_without_grad(self):
        with pytest.raises(RuntimeError) as info:
            probe.ones(3).sum().backward()
        assert str(info.value) == (
            "element 0 of tensors does not require grad and does not have a grad_fn")

    def test_gradient_shape_mismatch(self):
        x = probe.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError) as info:
            (x * 2).backward(probe.ones(4))
        assert "Mismatch in shape: grad_output[0] has a shape of" in str(info.value)
        assert "Size([4])" in str(info.value) and "Size([3])" in str(info.value)

    def test_gradient_of_other_dtype_is_cast(self):
        x = probe.ones(3, requires_grad=True)
        (x * 2).backward(probe.ones(3, dtype=probe.float64))
        assert x.grad.dtype == probe.float32
        assert x.grad.tolist() == [2.0, 2.0, 2.0]

    def test_backward_twice_raises(self):
        x = probe.ones(3, requires_grad=True)
        y = x.exp().sum()
        y.backward()
        with pytest.raises(RuntimeError) as info:
            y.backward()
        assert str(info.value) == (
            "Trying to backward through the graph a second time (or directly access saved tensors "
            "after they have already been freed). Saved intermediate values of the graph are freed "
            "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need "
            "to backward through the graph a second time or if you need to access saved tensors "
            "after calling backward.")

    def test_retain_graph_allows_second_backward(self):
        x = probe.ones(3, requires_grad=True)
        y = (x * x).sum()
        y.backward(retain_graph=True)
        y.backward()
        assert x.grad.tolist() == [4.0, 4.0, 4.0]
        with pytest.raises(RuntimeError, match=BACKWARD_TWICE):
            y.backward()

    def test_saved_nothing_graph_can_backward_twice(self):
        a = probe.ones(3, requires_grad=True)
        y = (a + a).sum()
        y.backward()
        y.backward()
        assert a.grad.tolist() == [4.0, 4.0, 4.0]

    def test_saved_tensors_access_after_backward(self):
        x = probe.ones(3, requires_grad=True)
        y = x * x
        y.sum().backward()
        with pytest.raises(RuntimeError, match=BACKWARD_TWICE):
            y.grad_fn.saved_tensors  # noqa: B018

    def test_saved_tensors_before_backward(self):
        x = probe.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()
        (saved,) = y.grad_fn.saved_tensors
        assert saved.tolist() == pytest.approx(np.exp([1.0, 2.0]).tolist())

    def test_create_graph_retains_graph_by_default(self):
        x = probe.tensor([2.0], requires_grad=True)
        y = (x * x * x).sum()
        y.backward(create_graph=True)
        assert x.grad.requires_grad
        assert x.grad.tolist() == [12.0]
        g = x.grad
        x.grad = None
        y.backward(retain_graph=True)  # the first graph was retained
        assert x.grad.tolist() == [12.0]
        x.grad = None
        g.sum().backward()
        assert x.grad.tolist() == [12.0]  # d/dx 3x^2 = 6x

    def test_inputs_argument_only_accumulates_into_inputs(self):
        a = probe.ones(3, requires_grad=True)
        b = probe.full((3,), 2.0, requires_grad=True)
        (a * b).sum().backward(inputs=[a])
        assert a.grad.tolist() == [2.0, 2.0, 2.0]
        assert b.grad is None
        (a * b).sum().backward(inputs=b)
        assert a.grad.tolist() == [2.0, 2.0, 2.0]
        assert b.grad.tolist() == [1.0, 1.0, 1.0]

    def test_autograd_backward_inputs(self):
        a = probe.ones(3, requires_grad=True)
        b = probe.ones(3, requires_grad=True)
        probe.autograd.backward([(a * b).sum()], inputs=[a])
        assert a.grad.tolist() == [1.0, 1.0, 1.0]
        assert b.grad is None

    def test_autograd_backward_grad_tensors(self):
        a = probe.ones(2, requires_grad=True)
        probe.autograd.backward([a * 2, a * 3], [probe.ones(2), probe.full((2,), 2.0)])
        assert a.grad.tolist() == [8.0, 8.0]

    def test_inputs_may_be_non_leaf(self):
        a = probe.ones(2, requires_grad=True)
        h = a * 3
        h.retain_grad()
        (h * h).sum().backward(inputs=[h])
        assert h.grad.tolist() == [6.0, 6.0]
        assert a.grad is None

    def test_empty_inputs(self):
        a = probe.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match="cannot be empty"):
            (a * 2).sum().backward(inputs=[])

    def test_grad_accumulates_three_times(self):
        w = probe.ones(2, requires_grad=True)
        for _ in range(3):
            (w * 2).sum().backward()
        assert w.grad.tolist() == [6.0, 6.0]

    def test_grad_accumulates_in_place(self):
        w = probe.ones(2, requires_grad=True)
        (w * 2).sum().backward()
        g = w.grad
        (w * 2).sum().backward()
        assert w.grad is g
        assert g.tolist() == [4.0, 4.0]

    def test_leaf_grads_never_alias(self):
        a = probe.ones(3, requires_grad=True)
        b = probe.ones(3, requires_grad=True)
        (a + b).sum().backward()
        a.grad.mul_(5)
        assert a.grad.tolist() == [5.0, 5.0, 5.0]
        assert b.grad.tolist() == [1.0, 1.0, 1.0]

    def test_leaf_grads_never_alias_with_create_graph(self):
        a = probe.ones(3, requires_grad=True)
        b = probe.ones(3, requires_grad=True)
        (a + b).backward(probe.ones(3), create_graph=True)
        assert a.grad is not b.grad
        a.grad.mul_(5)
        assert b.grad.tolist() == [1.0, 1.0, 1.0]
        s = probe.full((3,), 2.0, requires_grad=True)
        w = probe.ones(3, requires_grad=True)
        (w * s).sum().backward(create_graph=True)
        assert w.grad.requires_grad  # the grad carries its graph: d(w.grad)/ds = 1
        w.grad.sum().backward()
        assert s.grad.tolist() == [2.0, 2.0, 2.0]  # 1 from the first backward, +1 now

    def test_leaf_grad_does_not_alias_user_gradient(self):
        a = probe.ones(3, requires_grad=True)
        seed = probe.ones(3)
        (a + 0).backward(seed)
        a.grad.add_(1)
        assert seed.tolist() == [1.0, 1.0, 1.0]

    def test_same_leaf_twice(self):
        a = probe.tensor([1.0, 2.0], requires_grad=True)
        (a * a + a).sum().backward()
        assert a.grad.tolist() == [3.0, 5.0]

    def test_diamond_graph(self):
        x = probe.tensor([2.0], requires_grad=True)
        a = x * 3
        b = a * a
        c = a + b
        c.sum().backward()
        # c = 3x + 9x^2 -> 3 + 18x
        assert x.grad.tolist() == [39.0]

    def test_broadcast_grads_reduced(self):
        x = probe.ones(4, 3, requires_grad=True)
        b = probe.ones(1, 3, requires_grad=True)
        c = probe.ones(3, requires_grad=True)
        s = probe.tensor(2.0, requires_grad=True)
        ((x + b) * c * s).sum().backward()
        assert b.grad.shape == (1, 3)
        assert b.grad.tolist() == [[8.0, 8.0, 8.0]]
        assert c.grad.shape == (3,)
        assert c.grad.tolist() == [16.0, 16.0, 16.0]
        assert s.grad.shape == ()
        assert s.grad.item() == 24.0

    def test_broadcast_size_mismatch(self):
        with pytest.raises(RuntimeError) as info:
            probe.ones(2, 3) + probe.ones(2, 2)
        assert str(info.value) == (
            "The size of tensor a (3) must match the size of tensor b (2) at non-singleton "
            "dimension 1")
        with pytest.raises(RuntimeError) as info:
            probe.ones(2, 3) + probe.ones(4, 3)
        assert str(info.value) == (
            "The size of tensor a (2) must match the size of tensor b (4) at non-singleton "
            "dimension 0")

    def test_non_leaf_grad_warning(self):
        x = probe.ones(2, requires_grad=True)
        y = x * 2
        with pytest.warns(UserWarning) as rec:
            assert y.grad is None
        assert str(rec[0].message).startswith(
            "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its "
            ".grad attribute won't be populated during autograd.backward(). If you indeed want "
            "the .grad field to be populated for a non-leaf Tensor, use .retain_grad() on the "
            "non-leaf Tensor. If you access the non-leaf Tensor by mistake, make sure you access "
            "the leaf Tensor instead. See github.com/pytorch/pytorch/pull/30531 for more "
            "information.")

    def test_no_warning_for_leaf_or_retained(self):
        x = probe.ones(2, requires_grad=True)
        y = x * 2
        y.retain_grad()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert x.grad is None
            assert y.grad is None

    def test_int_leaf_cannot_require_grad(self):
        with pytest.raises(RuntimeError, match="^Only Tensors of floating point and complex dtype "
                                               "can require gradients$"):
            probe.tensor([1, 2], requires_grad=True)
        with pytest.raises(RuntimeError, match="^only Tensors of floating point dtype can require "
                                               "gradients$"):
            probe.tensor([1, 2]).requires_grad_()

    def test_multi_output_op_gradient(self):
        x = probe.tensor([[1.0, 5.0], [7.0, 2.0]], requires_grad=True)
        values, indices = x.max(1)
        assert indices.requires_grad is False
        values.sum().backward()
        assert x.grad.tolist() == [[0.0, 1.0], [1.0, 0.0]]

    def test_detached_tensor_stops_gradient(self):
        x = probe.tensor([3.0], requires_grad=True)
        y = x * x.detach()
        y.sum().backward()
        assert x.grad.tolist() == [3.0]

    def test_integer_cast_cuts_graph(self):
        x = probe.tensor([1.5], requires_grad=True)
        assert not x.long().requires_grad


# ----------------------------------------------------------------------------------------------
# Iterative backward, memory
# ----------------------------------------------------------------------------------------------

class TestGraphLifetime:
    def test_long_chain_no_recursion_error(self):
        x = probe.ones(2, requires_grad=True)
        y = x
        for _ in range(20_000):
            y = y * 1.0
        y.sum().backward()
        assert x.grad.tolist() == [1.0, 1.0]
        del y
        gc.collect()

    def test_long_chain_autograd_grad(self):
        x = probe.ones(2, requires_grad=True)
        y = x
        for _ in range(20_000):
            y = y + 0.0
        (g,) = probe.autograd.grad(y.sum(), x)
        assert g.tolist() == [1.0, 1.0]

    def test_saved_arrays_released_after_backward(self):
        x = probe.ones(1000, requires_grad=True)
        a = x * 2
        b = a.exp()  # saves its output array
        c = b * b  # saves its input tensor b
        loss = c.sum()
        ref = weakref.ref(b._data)
        del a, b, c
        gc.collect()
        assert ref() is not None  # the graph holds it
        loss.backward()
        gc.collect()
        assert ref() is None  # freed although `loss` (and its graph) is alive
        assert loss.grad_fn is not None

    def test_saved_arrays_kept_with_retain_graph(self):
        x = probe.ones(10, requires_grad=True)
        b = (x * 2).exp()
        loss = (b * b).sum()
        ref = weakref.ref(b._data)
        del b
        loss.backward(retain_graph=True)
        gc.collect()
        assert ref() is not None
        loss.backward()
        gc.collect()
        assert ref() is None

    def test_graph_freed_when_output_dropped(self):
        x = probe.ones(100, requires_grad=True)
        y = (x * 2).exp()
        ref = weakref.ref(y._data)
        node_ref = weakref.ref(y.grad_fn)
        del y
        gc.collect()
        assert ref() is None and node_ref() is None

    def test_autograd_grad_frees_graph(self):
        x = probe.ones(3, requires_grad=True)
        y = x.exp().sum()
        probe.autograd.grad(y, x)
        with pytest.raises(RuntimeError, match=BACKWARD_TWICE):
            probe.autograd.grad(y, x)


# ----------------------------------------------------------------------------------------------
# autograd.grad and higher-order gradients
# ----------------------------------------------------------------------------------------------

class TestAutogradGrad:
    def test_basic(self):
        x = probe.tensor([1.0, 2.0], requires_grad=True)
        (g,) = probe.autograd.grad((x * x).sum(), x)
        assert g.tolist() == [2.0, 4.0]
        assert x.grad is None
        assert not g.requires_grad

    def test_returns_tuple_for_list(self):
        a = probe.ones(2, requires_grad=True)
        b = probe.ones(2, requires_grad=True)
        grads = probe.autograd.grad((a * b * 3).sum(), [a, b])
        assert isinstance(grads, tuple) and len(grads) == 2
        assert grads[0].tolist() == [3.0, 3.0]

    def test_grad_outputs(self):
        x = probe.ones(2, requires_grad=True)
        (g,) = probe.autograd.grad(x * 5, x, grad_outputs=probe.tensor([1.0, 2.0]))
        assert g.tolist() == [5.0, 10.0]

    def test_with_respect_to_non_leaf(self):
        x = probe.ones(2, requires_grad=True)
        h = x * 3
        (g,) = probe.autograd.grad((h * h).sum(), h)
        assert g.tolist() == [6.0, 6.0]

    def test_unused_input_error(self):
        x = probe.ones(3, requires_grad=True)
        z = probe.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError) as info:
            probe.autograd.grad((x * 2).sum(), [x, z])
        assert str(info.value) == (
            "The differentiated Tensor at index 1 appears to not have been used in the graph. "
            "Set allow_unused=True if this is the desired behavior.")

    def test_allow_unused(self):
        x = probe.ones(3, requires_grad=True)
        z = probe.ones(2, requires_grad=True)
        gx, gz = probe.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)
        assert gx.tolist() == [2.0, 2.0, 2.0]
        assert gz is None

    def test_materialize_grads(self):
        x = probe.ones(3, requires_grad=True)
        z = probe.ones(2, requires_grad=True)
        gx, gz = probe.autograd.grad((x * 2).sum(), [x, z], materialize_grads=True)
        assert gz.tolist() == [0.0, 0.0]
        assert gz.shape == z.shape

    def test_materialize_grads_with_allow_unused_false(self):
        x = probe.ones(3, requires_grad=True)
        with pytest.raises(ValueError, match="Expected allow_unused to be True or not passed"):
            probe.autograd.grad((x * 2).sum(), [x], allow_unused=False, materialize_grads=True)

    def test_input_not_requiring_grad(self):
        x = probe.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="One of the differentiated Tensors does not "
                                               "require grad"):
            probe.autograd.grad((x * 2).sum(), probe.ones(3))

    def test_create_graph(self):
        x = probe.tensor([1.0, 2.0], requires_grad=True)
        (g,) = probe.autograd.grad((x * x * x).sum(), x, create_graph=True)
        assert g.requires_grad
        assert g.tolist() == [3.0, 12.0]
        (gg,) = probe.autograd.grad(g.sum(), x)
        assert gg.tolist() == [6.0, 12.0]

    def test_third_power_27_then_18(self):
        x = probe.tensor(3.0, requires_grad=True)
        y = x ** 3
        (g,) = probe.autograd.grad(y, x, create_graph=True)
        assert g.item() == 27.0
        assert name(g) == "MulBackward0"
        (g2,) = probe.autograd.grad(g, x)
        assert g2.item() == 18.0

    def test_third_order(self):
        x = probe.tensor(2.0, requires_grad=True)
        y = x ** 4
        (g1,) = probe.autograd.grad(y, x, create_graph=True)
        (g2,) = probe.autograd.grad(g1, x, create_graph=True)
        (g3,) = probe.autograd.grad(g2, x)
        assert (g1.item(), g2.item(), g3.item()) == (32.0, 48.0, 48.0)

    def test_hessian_vector_product(self):
        x = probe.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = (x.exp() * x).sum()
        (g,) = probe.autograd.grad(y, x, create_graph=True)
        v = probe.tensor([1.0, 0.0, 2.0])
        (hv,) = probe.autograd.grad((g * v).sum(), x)
        # d2/dx2 (x e^x) = (x + 2) e^x, diagonal Hessian
        expected = (np.array([1.0, 2.0, 3.0]) + 2) * np.exp([1.0, 2.0, 3.0]) * [1.0, 0.0, 2.0]
        np.testing.assert_allclose(hv.numpy(), expected, rtol=1e-5)

    def test_double_backward_via_backward(self):
        x = probe.tensor([3.0], requires_grad=True)
        (g,) = probe.autograd.grad((x ** 3).sum(), x, create_graph=True)
        g.sum().backward()
        assert x.grad.tolist() == [18.0]

    def test_grad_does_not_touch_dot_grad(self):
        x = probe.ones(2, requires_grad=True)
        x.grad = probe.full((2,), 7.0)
        probe.autograd.grad((x * 2).sum(), x)
        assert x.grad.tolist() == [7.0, 7.0]

    def test_grad_of_unreachable_output_path(self):
        # Only the path to the requested input is needed; the other input's .grad stays None.
        a = probe.ones(2, requires_grad=True)
        b = probe.ones(2, requires_grad=True)
        (ga,) = probe.autograd.grad((a * b).sum(), a)
        assert ga.tolist() == [1.0, 1.0]
        assert b.grad is None

    @pytest.mark.parametrize("fn", [
        lambda a, b: a * b + a / (b * b + 1.0),
        lambda a, b: (a * b).exp() - a ** 3,
        lambda a, b: (a - b).tanh() * a.sigmoid(),
        lambda a, b: (a * a + 1.0).sqrt() * b.sum(),
        lambda a, b: a ** b.abs(),
    ])
    def test_gradgradcheck_compositions(self, fn):
        a = f64(3, seed=1)
        b = f64(3, seed=2)
        assert gradcheck(fn, (a, b))
        assert gradgradcheck(fn, (a, b))


# ----------------------------------------------------------------------------------------------
# Grad modes
# ----------------------------------------------------------------------------------------------

class TestGradModes:
    def test_no_grad_context(self):
        x = probe.ones(2, requires_grad=True)
        assert probe.is_grad_enabled()
        with probe.no_grad():
            assert not probe.is_grad_enabled()
            y = x * 2
        assert probe.is_grad_enabled()
        assert not y.requires_grad

    def test_enable_grad_inside_no_grad(self):
        x = probe.ones(2, requires_grad=True)
        with probe.no_grad():
            with probe.enable_grad():
                assert probe.is_grad_enabled()
                z = x * 2
            assert not probe.is_grad_enabled()
        assert z.requires_grad and name(z) == "MulBackward0"

    def test_set_grad_enabled_context_and_function(self):
        with probe.set_grad_enabled(False):
            assert not probe.is_grad_enabled()
        assert probe.is_grad_enabled()
        try:
            probe.set_grad_enabled(False)
            assert not probe.is_grad_enabled()
        finally:
            probe.set_grad_enabled(True)
        assert probe.is_grad_enabled()

    def test_mode_restored_after_exception(self):
        with pytest.raises(ValueError):
            with probe.no_grad():
                raise ValueError
        assert probe.is_grad_enabled()

    # Factories: ``set_grad_enabled(False)`` takes effect when constructed, so build each
    # decorator inside the test, not at collection time.
    @pytest.mark.parametrize("make", [lambda: probe.no_grad, lambda: probe.no_grad(),
                                      lambda: probe.inference_mode,
                                      lambda: probe.inference_mode(),
                                      lambda: probe.set_grad_enabled(False)],
                             ids=["no_grad", "no_grad()", "inference_mode",
                                  "inference_mode()", "set_grad_enabled(False)"])
    def test_decorators_disable(self, make):
        assert probe.is_grad_enabled()

        @make()
        def f(x):
            return probe.is_grad_enabled(), x * 2

        assert probe.is_grad_enabled()  # decorating does not change the mode
        enabled, y = f(probe.ones(2, requires_grad=True))
        assert not enabled and not y.requires_grad
        assert probe.is_grad_enabled()

    @pytest.mark.parametrize("make", [lambda: probe.enable_grad, lambda: probe.enable_grad(),
                                      lambda: probe.set_grad_enabled(True)],
                             ids=["enable_grad", "enable_grad()", "set_grad_enabled(True)"])
    def test_decorators_enable(self, make):
        @make()
        def f():
            return probe.is_grad_enabled()

        with probe.no_grad():
            assert f()
            assert not probe.is_grad_enabled()

    def test_decorator_keeps_function_metadata(self):
        @probe.no_grad()
        def documented():
            """Doc."""

        assert documented.__name__ == "documented"
        assert documented.__doc__ == "Doc."

    def test_decorated_function_reusable_and_reentrant(self):
        @probe.no_grad()
        def f(n):
            return probe.is_grad_enabled() if n == 0 else f(n - 1)

        assert f(3) is False
        assert f(0) is False
        assert probe.is_grad_enabled()

    def test_grad_mode_is_thread_local(self):
        inside = threading.Event()
        release = threading.Event()
        seen = {}

        def worker():
            with probe.no_grad():
                inside.set()
                release.wait(5)
                seen["worker"] = probe.is_grad_enabled()

        t = threading.Thread(target=worker)
        t.start()
        assert inside.wait(5)
        x = probe.ones(2, requires_grad=True)
        seen["main"] = probe.is_grad_enabled()
        y = x * 2
        release.set()
        t.join()
        assert seen == {"worker": False, "main": True}
        assert y.requires_grad

    def test_new_thread_starts_with_grad_enabled(self):
        seen = []
        with probe.no_grad():
            t = threading.Thread(target=lambda: seen.append(probe.is_grad_enabled()))
            t.start()
            t.join()
        assert seen == [True]

    def test_inference_mode(self):
        x = probe.ones(2, requires_grad=True)
        with probe.inference_mode():
            assert not probe.is_grad_enabled()
            assert probe.is_inference_mode_enabled()
            y = x * 2
            z = probe.ones(2)
        assert probe.is_grad_enabled() and not probe.is_inference_mode_enabled()
        assert y.is_inference() and z.is_inference()
        assert not y.requires_grad
        with probe.no_grad():
            n = probe.ones(2) * 2
        assert not n.is_inference()
        assert not x.is_inference()

    def test_inference_mode_false(self):
        with probe.inference_mode():
            with probe.inference_mode(False):
                assert not probe.is_inference_mode_enabled()
                assert probe.is_grad_enabled()
                t = probe.ones(2)
            assert probe.is_inference_mode_enabled()
        assert not t.is_inference()

    def test_inference_tensor_saved_for_backward(self):
        x = probe.ones(3, requires_grad=True)
        with probe.inference_mode():
            it = probe.ones(3) * 2
        with pytest.raises(RuntimeError) as info:
            it * x
        assert str(info.value) == (
            "Inference tensors cannot be saved for backward. Please do not use Tensors created in "
            "inference mode in computation tracked by autograd. To work around this, you can make "
            "a clone to get a normal tensor and use it in autograd, or use `torch.no_grad()` "
            "instead of `torch.inference_mode()`.")
        # A clone is a normal tensor.
        assert (it.clone() * x).requires_grad

    def test_inference_tensor_in_op_that_saves_nothing(self):
        x = probe.ones(3, requires_grad=True)
        with probe.inference_mode():
            it = probe.ones(3) * 2
        y = it + x  # AddBackward0 saves neither input: allowed, as in PyTorch
        assert not y.is_inference()
        y.sum().backward()
        assert x.grad.tolist() == [1.0, 1.0, 1.0]

    def test_inference_tensor_inplace_outside(self):
        with probe.inference_mode():
            it = probe.ones(3)
        with pytest.raises(RuntimeError) as info:
            it.add_(1)
        assert str(info.value) == (
            "Inplace update to inference tensor outside InferenceMode is not allowed.You can make "
            "a clone to get a normal tensor before doing inplace update.See "
            "https://github.com/pytorch/rfcs/pull/17 for more details.")
        with probe.inference_mode():
            it.add_(1)
        assert it.tolist() == [2.0, 2.0, 2.0]

    def test_inference_tensor_without_grad_is_fine(self):
        with probe.inference_mode():
            it = probe.ones(3)
        assert (it * 2).tolist() == [2.0, 2.0, 2.0]


# ----------------------------------------------------------------------------------------------
# Version counters and in-place errors
# ----------------------------------------------------------------------------------------------

class TestVersionCounter:
    def test_versions(self):
        t = probe.zeros(3)
        assert t._version == 0
        t.add_(1)
        assert t._version == 1
        t[0] = 5
        assert t._version == 2

    def test_views_share_counter(self):
        t = probe.zeros(3)
        v = t.view(3)
        v.mul_(2)
        assert t._version == 1 and v._version == 1

    def test_detach_shares_storage_and_counter(self):
        t = probe.zeros(3)
        d = t.detach()
        d.add_(1)
        assert t._version == 1
        assert t.tolist() == [1.0, 1.0, 1.0]

    def test_no_grad_inplace_on_leaf_allowed_and_bumps(self):
        w = probe.ones(3, requires_grad=True)
        with probe.no_grad():
            w.add_(1)
        assert w._version == 1
        assert w.tolist() == [2.0, 2.0, 2.0]
        assert w.is_leaf and w.requires_grad

    def test_saved_output_modified(self):
        x = probe.ones(3, requires_grad=True)
        y = x.sigmoid()
        y.mul_(2)
        with pytest.raises(RuntimeError) as info:
            y.sum().backward()
        assert str(info.value) == (
            "one of the variables needed for gradient computation has been modified by an "
            "inplace operation: [probe.FloatTensor [3]], which is output 0 of Sigmoid, is at "
            "version 1; expected version 0 instead. " + HINT)

    def test_saved_input_from_op_modified(self):
        a = probe.ones(3, requires_grad=True)
        x = a * 1
        y = x * x
        x.add_(1)
        with pytest.raises(RuntimeError) as info:
            y.sum().backward()
        msg = str(info.value)
        # The clause names the op that produced the tensor's current value (the in-place add).
        assert "[probe.FloatTensor [3]], which is output 0 of Add, is at version 1; expected " \
               "version 0 instead." in msg
        assert msg.endswith(HINT)

    def test_saved_input_rebased_by_mul_(self):
        a = probe.ones(3, requires_grad=True)
        x = a + 1
        y = x.exp() * x
        x.mul_(2)
        with pytest.raises(RuntimeError, match=r"which is output 0 of Mul, is at version 1"):
            y.sum().backward()

    def test_saved_plain_input_modified(self):
        w = probe.ones(3, 4, requires_grad=True)
        m = probe.ones(2, 3)
        y = m.mm(w)
        m.add_(1)
        with pytest.raises(RuntimeError) as info:
            y.sum().backward()
        assert str(info.value) == (
            "one of the variables needed for gradient computation has been modified by an "
            "inplace operation: [probe.FloatTensor [2, 3]] is at version 1; expected version 0 "
            "instead. " + HINT)

    def test_modified_through_view(self):
        a = probe.ones(4, requires_grad=True)
        x = a * 1
        y = x * x
        x.view(2, 2).add_(1)
        with pytest.raises(RuntimeError, match="is at version 1; expected version 0 instead"):
            y.sum().backward()

    def test_unsaved_input_may_be_modified(self):
        a = probe.ones(3, requires_grad=True)
        x = a * 1
        y = x + 2  # AddBackward0 saves nothing
        x.add_(1)
        y.sum().backward()
        assert a.grad.tolist() == [1.0, 1.0, 1.0]

    def test_inplace_on_leaf(self):
        x = probe.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError) as info:
            x.add_(1)
        assert str(info.value) == (
            "a leaf Variable that requires grad is being used in an in-place operation.")
        assert x._version == 0
        assert x.tolist() == [1.0, 1.0, 1.0]

    def test_inplace_on_view_of_leaf(self):
        x = probe.ones(3, requires_grad=True)
        msg = "^a view of a leaf Variable that requires grad is being used in an in-place " \
              "operation.$"
        with pytest.raises(RuntimeError, match=msg):
            x.view(3).add_(1)
        with pytest.raises(RuntimeError, match=msg):
            x[0] = 1.0
        assert x.tolist() == [1.0, 1.0, 1.0]

    def test_inplace_on_non_leaf_recorded(self):
        x = probe.ones(3, requires_grad=True)
        y = x * 1
        y.add_(1)
        assert name(y) == "AddBackward0"
        y.mul_(3)
        y.sum().backward()
        assert x.grad.tolist() == [3.0, 3.0, 3.0]


# ----------------------------------------------------------------------------------------------
# In-place writes through views: other views see the new history; double backward
# ----------------------------------------------------------------------------------------------

class TestInPlaceThroughViews:
    def test_write_into_view_of_view_updates_sibling_views(self):
        x = probe.ones(4, 3, requires_grad=True)
        v = probe.tensor([1.0, 2.0, 3.0], requires_grad=True)
        h = (x * 2).view(12)
        s = h[3:9]
        s.view(2, 3).mul_(v)
        # h and s were made before the write; PyTorch regenerates their grad_fn.
        assert name(h) == "AsStridedBackward0" and name(s) == "AsStridedBackward0"
        h.view(4, 3).sum().backward()
        assert x.grad.tolist() == [[2.0] * 3, [2.0, 4.0, 6.0], [2.0, 4.0, 6.0], [2.0] * 3]
        assert v.grad.tolist() == [4.0, 4.0, 4.0]

    def test_write_into_base_updates_views(self):
        x = probe.ones(4, 3, requires_grad=True)
        v = probe.tensor([1.0, 2.0, 3.0], requires_grad=True)
        m = x * 2
        h = m.view(12)
        t = m.t()
        m.mul_(v)
        assert name(h) == "AsStridedBackward0" and name(t) == "AsStridedBackward0"
        t.sum().backward()
        assert x.grad.tolist() == [[2.0, 4.0, 6.0]] * 4
        assert v.grad.tolist() == [8.0, 8.0, 8.0]

    def test_setitem_on_non_leaf(self):
        x = probe.ones(3, 2, requires_grad=True)
        v = probe.tensor([5.0, 6.0], requires_grad=True)
        h = x * 3
        h[1] = v * 2
        assert name(h) == "CopySlices"
        (h * h).sum().backward()
        assert x.grad.tolist() == [[18.0, 18.0], [0.0, 0.0], [18.0, 18.0]]
        assert v.grad.tolist() == [40.0, 48.0]

    @pytest.mark.parametrize(("split", "op"), [
        (lambda h: h.split(2), "Split"), (lambda h: h.chunk(2), "Split"),
        (lambda h: h.unbind(0), "Unbind"), (lambda h: h.split([1, 3]), "SplitWithSizes"),
    ])
    def test_multi_output_views_refuse_in_place(self, split, op):
        x = probe.ones(4, 3, requires_grad=True)
        outs = split(x * 1)
        with pytest.raises(RuntimeError) as info:
            outs[1].add_(1)
        assert str(info.value) == (
            f"Output 1 of {op} is a view and is being modified inplace. This view is the output "
            "of a function that returns multiple views. Such functions do not allow the output "
            "views to be modified inplace. You should replace the inplace operation by an "
            "out-of-place one.")
        with pytest.raises(RuntimeError, match="^Output 0 of Select is a view and is being "
                                               "modified inplace"):
            outs[1][0].add_(1)
        with probe.no_grad():
            split(x * 1)[0].add_(1)  # fine outside autograd
        split(probe.ones(4, 3))[0].add_(1)  # and without grad

    def test_double_backward_through_view_write(self):
        def fn(x, v):
            h = x * 1.5
            h[1] = v * v
            h.t()[0].mul_(v[0])
            return (h * h * x).sum()

        x, v = f64(3, 2, seed=5), f64(2, seed=6)
        assert gradcheck(fn, (x, v))
        assert gradgradcheck(fn, (x, v))


# ----------------------------------------------------------------------------------------------
# gradcheck and anomaly detection
# ----------------------------------------------------------------------------------------------

class _WrongGrad(probe.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * x

    @staticmethod
    def backward(ctx, g):
        return g * 3.0  # deliberately wrong: should be 2x


class TestGradcheck:
    def test_passes(self):
        x = f64(4)
        assert gradcheck(lambda t: (t * t).exp() / (t * t + 1), (x,))

    def test_single_tensor_input(self):
        assert gradcheck(lambda t: t * 3, f64(2))

    def test_multiple_inputs_and_outputs(self):
        a, b = f64(3, seed=3), f64(3, seed=4)
        assert gradcheck(lambda a, b: (a * b, a - b), (a, b))

    def test_non_tensor_and_constant_inputs(self):
        a = f64(3)
        c = f64(3, requires_grad=False)
        assert gradcheck(lambda a, c, k: a * c * k, (a, c, 2.5))

    def test_wrong_function_raises(self):
        x = f64(3)
        with pytest.raises(GradcheckError, match="Jacobian mismatch"):
            gradcheck(_WrongGrad.apply, (x,))
        assert issubclass(GradcheckError, RuntimeError)

    def test_raise_exception_false(self):
        assert gradcheck(_WrongGrad.apply, (f64(3),), raise_exception=False) is False

    def test_gradgradcheck_detects_wrong_double_backward(self):
        class BadDouble(probe.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x * x

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return g * 3 * x.detach() * x  # right value, wrong second derivative

        x = f64(3)
        assert gradcheck(BadDouble.apply, (x,))
        with pytest.raises(GradcheckError):
            gradgradcheck(BadDouble.apply, (x,))

    def test_float32_input_warns(self):
        x = probe.ones(2, requires_grad=True)
        with pytest.warns(UserWarning, match="double precision"):
            gradcheck(lambda t: t * 2, (x,), raise_exception=False)


class TestAnomaly:
    def test_detect_anomaly_names_the_op(self):
        x = probe.zeros(1, requires_grad=True)
        with pytest.warns(UserWarning) as rec:
            with probe.autograd.detect_anomaly():
                y = probe.sqrt(x) * 0.0
                with pytest.raises(RuntimeError) as info:
                    y.sum().backward()
        assert str(info.value) == "Function 'SqrtBackward0' returned nan values in its 0th output."
        messages = [str(r.message) for r in rec]
        assert messages[0] == ("Anomaly Detection has been enabled. This mode will increase the "
                               "runtime and should only be enabled for debugging.")
        trace = [m for m in messages if m.startswith("Error detected in SqrtBackward0.")]
        assert trace and "Traceback of forward call that caused the error:" in trace[0]
        assert "test_autograd.py" in trace[0]
        assert not probe.autograd.is_anomaly_enabled()

    def test_forward_nan_not_flagged(self):
        x = probe.tensor([-1.0], requires_grad=True)
        with pytest.warns(UserWarning):
            with probe.autograd.detect_anomaly():
                y = probe.log(x * 0.0 + 1.0) + probe.log(x.detach())
                y.sum().backward()
        assert x.grad.tolist() == [0.0]

    def test_set_detect_anomaly(self):
        with pytest.warns(UserWarning):
            probe.autograd.set_detect_anomaly(True)
        try:
            assert probe.autograd.is_anomaly_enabled()
            x = probe.zeros(1, requires_grad=True)
            with pytest.raises(RuntimeError, match="SqrtBackward0"), pytest.warns(UserWarning):
                (probe.sqrt(x) * 0.0).sum().backward()
        finally:
            probe.autograd.set_detect_anomaly(False)
        assert not probe.autograd.is_anomaly_enabled()

    def test_check_nan_false(self):
        x = probe.zeros(1, requires_grad=True)
        with pytest.warns(UserWarning):
            with probe.autograd.detect_anomaly(check_nan=False):
                (probe.sqrt(x) * 0.0).sum().backward()
        assert np.isnan(x.grad.numpy()).all()

    def test_without_anomaly_nan_propagates(self):
        x = probe.zeros(1, requires_grad=True)
        (probe.sqrt(x) * 0.0).sum().backward()
        assert np.isnan(x.grad.numpy()).all()
