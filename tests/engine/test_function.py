"""Custom differentiable functions: probe.autograd.Function."""

from __future__ import annotations

import numpy as np
import pytest

import probe
from probe.autograd import Function, gradcheck, gradgradcheck, once_differentiable


class MyMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * b, g * a


class Square(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


class ExpF(Function):
    @staticmethod
    def forward(ctx, x):
        out = x.exp()
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out


def f64(*shape, seed=0):
    data = np.random.default_rng(seed).standard_normal(shape)
    return probe.tensor(data, dtype=probe.float64, requires_grad=True)


class TestBasics:
    def test_forward_backward(self, device):
        a = probe.tensor([1.0, 2.0], requires_grad=True, device=device)
        b = probe.tensor([3.0, 4.0], requires_grad=True, device=device)
        y = MyMul.apply(a, b)
        assert y.tolist() == [3.0, 8.0]
        y.sum().backward()
        assert a.grad.tolist() == [3.0, 4.0]
        assert b.grad.tolist() == [1.0, 2.0]

    def test_grad_fn_name(self):
        a = probe.ones(2, requires_grad=True)
        y = MyMul.apply(a, a)
        assert type(y.grad_fn).__name__ == "MyMulBackward"
        assert y.grad_fn.name() == "MyMulBackward"
        assert repr(y).endswith("grad_fn=<MyMulBackward>)")

    def test_next_functions_cover_tensor_args(self):
        class Scale(Function):
            @staticmethod
            def forward(ctx, a, b, k):
                return a * b * k

            @staticmethod
            def backward(ctx, g):
                return g, None, None

        a = probe.ones(3, requires_grad=True)
        y = Scale.apply(a, probe.ones(3), 2.0)
        nf = y.grad_fn.next_functions
        assert len(nf) == 2
        assert type(nf[0][0]).__name__ == "AccumulateGrad"
        assert nf[1] == (None, 0)

    def test_next_functions_chain(self):
        a = probe.ones(2, requires_grad=True)
        h = a * 2
        y = Square.apply(h)
        assert y.grad_fn.next_functions[0][0] is h.grad_fn

    def test_no_graph_without_requires_grad(self):
        y = Square.apply(probe.ones(2))
        assert not y.requires_grad and y.grad_fn is None

    def test_no_graph_under_no_grad(self):
        a = probe.ones(2, requires_grad=True)
        with probe.no_grad():
            y = Square.apply(a)
        assert not y.requires_grad and y.grad_fn is None

    def test_forward_runs_without_recording(self):
        seen = []

        class Probe(Function):
            @staticmethod
            def forward(ctx, a):
                b = a * 2
                seen.append((probe.is_grad_enabled(), b.requires_grad))
                return b

            @staticmethod
            def backward(ctx, g):
                return g * 2

        Probe.apply(probe.ones(1, requires_grad=True))
        assert seen == [(False, False)]

    def test_non_tensor_arguments_on_ctx(self):
        class Scale(Function):
            @staticmethod
            def forward(ctx, x, k):
                ctx.k = k
                return x * k

            @staticmethod
            def backward(ctx, g):
                return g * ctx.k, None

        x = probe.ones(2, requires_grad=True)
        Scale.apply(x, 3.0).sum().backward()
        assert x.grad.tolist() == [3.0, 3.0]

    def test_gradcheck_and_gradgradcheck(self):
        a, b = f64(3, seed=1), f64(3, seed=2)
        assert gradcheck(MyMul.apply, (a, b))
        assert gradgradcheck(MyMul.apply, (a, b))
        assert gradgradcheck(ExpF.apply, (f64(3),))

    def test_higher_order_through_custom_function(self):
        a = probe.tensor([3.0], requires_grad=True)
        (g,) = probe.autograd.grad(Square.apply(a).sum(), a, create_graph=True)
        assert g.tolist() == [6.0]
        assert g.requires_grad
        (g2,) = probe.autograd.grad(g.sum(), a)
        assert g2.tolist() == [2.0]

    def test_base_function_not_implemented(self):
        with pytest.raises(NotImplementedError, match="You must implement the forward function"):
            Function.apply(probe.ones(1))

    def test_missing_backward(self):
        class NoBackward(Function):
            @staticmethod
            def forward(ctx, a):
                return a * 2

        y = NoBackward.apply(probe.ones(1, requires_grad=True))
        with pytest.raises(NotImplementedError, match="You must implement either the backward or "
                                                      "vjp method"):
            y.sum().backward()


class TestCtx:
    def test_needs_input_grad(self):
        seen = []

        class N(Function):
            @staticmethod
            def forward(ctx, a, b, c):
                seen.append(ctx.needs_input_grad)
                return a * b * c

            @staticmethod
            def backward(ctx, g):
                return g, None, None

        N.apply(probe.ones(3, requires_grad=True), probe.ones(3), 2.0)
        N.apply(probe.ones(3), probe.ones(3), 2.0)
        assert seen == [(True, False, False), (False, False, False)]

    def test_saved_tensors_identity_and_values(self):
        a = probe.ones(2, requires_grad=True)
        y = Square.apply(a)
        (saved,) = y.grad_fn.saved_tensors
        assert saved is a

    def test_saved_output(self):
        a = probe.ones(2, requires_grad=True)
        y = ExpF.apply(a)
        (saved,) = y.grad_fn.saved_tensors
        assert saved.tolist() == y.tolist()
        y.sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), [np.e, np.e], rtol=1e-6)

    def test_saved_tensors_after_backward(self):
        a = probe.ones(2, requires_grad=True)
        y = Square.apply(a)
        y.sum().backward()
        with pytest.raises(RuntimeError, match="Trying to backward through the graph a second "
                                               "time"):
            y.grad_fn.saved_tensors  # noqa: B018

    def test_saved_tensors_retained(self):
        a = probe.ones(2, requires_grad=True)
        y = Square.apply(a).sum()
        y.backward(retain_graph=True)
        y.backward()
        assert a.grad.tolist() == [4.0, 4.0]

    def test_save_non_tensor_rejected(self):
        class S(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x, 3)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g

        with pytest.raises(TypeError, match="save_for_backward can only save variables, but "
                                            "argument 1 is of type int"):
            S.apply(probe.ones(2, requires_grad=True))

    def test_save_none(self):
        class S(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(None, x)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                none, x = ctx.saved_tensors
                assert none is None
                return g * 2

        a = probe.ones(2, requires_grad=True)
        S.apply(a).sum().backward()
        assert a.grad.tolist() == [2.0, 2.0]

    def test_saved_input_modified_in_place(self):
        a = probe.ones(2, requires_grad=True)
        x = a * 1
        y = Square.apply(x)
        x.add_(1)
        with pytest.raises(RuntimeError) as info:
            y.sum().backward()
        assert ("[probe.FloatTensor [2]], which is output 0 of Add, is at version 1; expected "
                "version 0 instead.") in str(info.value)

    def test_setup_context_style(self):
        class SC(Function):
            @staticmethod
            def forward(x, k):
                return x * k

            @staticmethod
            def setup_context(ctx, inputs, output):
                x, k = inputs
                ctx.k = k
                ctx.save_for_backward(x)

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return g * ctx.k, None

        x = probe.ones(3, requires_grad=True)
        y = SC.apply(x, 3.0)
        assert type(y.grad_fn).__name__ == "SCBackward"
        y.sum().backward()
        assert x.grad.tolist() == [3.0, 3.0, 3.0]


class TestOutputs:
    def test_mark_dirty(self):
        class Inpl(Function):
            @staticmethod
            def forward(ctx, x):
                x.mul_(2)
                ctx.mark_dirty(x)
                return x

            @staticmethod
            def backward(ctx, g):
                return g * 2

        x0 = probe.ones(3, requires_grad=True)
        x = x0.clone()
        assert x._version == 0
        y = Inpl.apply(x)
        assert y is x
        assert x._version == 2
        assert type(y.grad_fn).__name__ == "InplBackward"
        assert x.tolist() == [2.0, 2.0, 2.0]
        y.sum().backward()
        assert x0.grad.tolist() == [2.0, 2.0, 2.0]

    def test_mark_dirty_on_leaf(self):
        class Inpl(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.mark_dirty(x)
                return x

            @staticmethod
            def backward(ctx, g):
                return g

        x = probe.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="^a leaf Variable that requires grad has been used "
                                               "in an in-place operation.$"):
            Inpl.apply(x)

    def test_mark_non_differentiable(self):
        seen = []

        class MaxIdx(Function):
            @staticmethod
            def forward(ctx, x):
                idx = probe.tensor(1)
                ctx.mark_non_differentiable(idx)
                return x * 2, idx

            @staticmethod
            def backward(ctx, g, g_idx):
                seen.append(g_idx.tolist())
                return g * 2

        x = probe.ones(3, requires_grad=True)
        v, i = MaxIdx.apply(x)
        assert v.requires_grad and not i.requires_grad and i.grad_fn is None
        v.sum().backward()
        assert seen == [0]
        assert x.grad.tolist() == [2.0, 2.0, 2.0]

    def test_integer_outputs_not_differentiable(self):
        class WithInt(Function):
            @staticmethod
            def forward(ctx, a):
                return a * 2, probe.tensor([1, 2])

            @staticmethod
            def backward(ctx, g, gi):
                assert gi.tolist() == [0, 0]
                return g * 2

        o, i = WithInt.apply(probe.ones(1, requires_grad=True))
        assert o.requires_grad and not i.requires_grad
        o.sum().backward()

    def test_materialized_zero_grads(self):
        seen = []

        class Two(Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, g1, g2):
                seen.append((g1.tolist(), g2.tolist()))
                return g1 * 2 + g2 * 3

        x = probe.ones(3, requires_grad=True)
        o1, _ = Two.apply(x)
        o1.sum().backward()
        assert seen == [([1.0, 1.0, 1.0], [0.0, 0.0, 0.0])]

    def test_set_materialize_grads_false(self):
        seen = []

        class Two(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(False)
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, g1, g2):
                seen.append((g1 is None, g2 is None))
                return g1 * 2 if g1 is not None else None

        x = probe.ones(3, requires_grad=True)
        o1, _ = Two.apply(x)
        o1.sum().backward()
        assert seen == [(False, True)]
        assert x.grad.tolist() == [2.0, 2.0, 2.0]

    def test_multiple_outputs_share_node(self):
        class Two(Function):
            @staticmethod
            def forward(ctx, x, y):
                return x + y, x * y, 5

            @staticmethod
            def backward(ctx, ga, gb, gc):
                assert gc is None
                return ga + gb, ga

        x = probe.ones(2, requires_grad=True)
        p, q, r = Two.apply(x, probe.ones(2))
        assert p.grad_fn is q.grad_fn
        assert (p.output_nr, q.output_nr, r) == (0, 1, 5)
        (p + q).sum().backward()
        assert x.grad.tolist() == [2.0, 2.0]

    def test_returning_an_input_gives_a_new_tensor(self):
        class Id(Function):
            @staticmethod
            def forward(ctx, x):
                return x

            @staticmethod
            def backward(ctx, g):
                return g * 3

        x = probe.ones(2, requires_grad=True)
        y = Id.apply(x)
        assert y is not x
        assert type(y.grad_fn).__name__ == "IdBackward"
        assert y._base is x
        assert y.data_ptr() == x.data_ptr()
        y.sum().backward()
        assert x.grad.tolist() == [3.0, 3.0]


class TestBackwardValidation:
    def test_wrong_number_of_grads(self):
        class F(Function):
            @staticmethod
            def forward(ctx, a, b):
                return a * b

            @staticmethod
            def backward(ctx, g):
                return g

        a = probe.ones(3, requires_grad=True)
        b = probe.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError) as info:
            F.apply(a, b).sum().backward()
        assert str(info.value) == (
            "function FBackward returned an incorrect number of gradients (expected 2, got 1)")

    def test_too_many_grads(self):
        class G6(Function):
            @staticmethod
            def forward(ctx, a):
                return a * 2

            @staticmethod
            def backward(ctx, g):
                return g, g

        with pytest.raises(RuntimeError, match=r"^function G6Backward returned an incorrect "
                                               r"number of gradients \(expected 1, got 2\)$"):
            G6.apply(probe.ones(3, requires_grad=True)).sum().backward()

    def test_trailing_nones_allowed(self):
        class G5(Function):
            @staticmethod
            def forward(ctx, a):
                return a * 2

            @staticmethod
            def backward(ctx, g):
                return g, None, None

        a = probe.ones(3, requires_grad=True)
        G5.apply(a).sum().backward()
        assert a.grad.tolist() == [1.0, 1.0, 1.0]

    @pytest.mark.parametrize(("bad_shape", "got"), [((4,), "[4]"), ((), "[]"), ((1,), "[1]")])
    def test_wrong_shape(self, bad_shape, got):
        class G(Function):
            @staticmethod
            def forward(ctx, a):
                return a * 2

            @staticmethod
            def backward(ctx, g):
                return probe.ones(bad_shape)

        a = probe.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError) as info:
            G.apply(a).sum().backward()
        assert str(info.value) == (
            f"Function GBackward returned an invalid gradient at index 0 - got {got} but "
            "expected shape compatible with [3]")

    def test_broadcast_compatible_grad_is_reduced(self):
        class G(Function):
            @staticmethod
            def forward(ctx, a):
                return a * 2

            @staticmethod
            def backward(ctx, g):
                return probe.ones(2, 3)

        a = probe.ones(3, requires_grad=True)
        G.apply(a).sum().backward()
        assert a.grad.shape == (3,)
        assert a.grad.tolist() == [2.0, 2.0, 2.0]

    def test_grad_dtype_cast_to_input(self):
        class D(Function):
            @staticmethod
            def forward(ctx, a):
                return a * 2

            @staticmethod
            def backward(ctx, g):
                return g.double()

        a = probe.ones(2, requires_grad=True)
        D.apply(a).sum().backward()
        assert a.grad.dtype == probe.float32

    def test_non_tensor_grad_rejected(self):
        class BadRet(Function):
            @staticmethod
            def forward(ctx, x):
                return x * 1

            @staticmethod
            def backward(ctx, g):
                return 1.0

        with pytest.raises(RuntimeError, match=r"expected Variable or None \(got float\)"):
            BadRet.apply(probe.ones(1, requires_grad=True)).sum().backward()


class TestOnceDifferentiable:
    def test_backward_runs_without_grad(self):
        seen = []

        class OD(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x ** 2

            @staticmethod
            @once_differentiable
            def backward(ctx, g):
                seen.append(probe.is_grad_enabled())
                (x,) = ctx.saved_tensors
                return 2 * x * g

        x = probe.tensor([3.0], requires_grad=True)
        OD.apply(x).sum().backward()
        assert x.grad.tolist() == [6.0]
        (g,) = probe.autograd.grad(OD.apply(x).sum(), x, create_graph=True)
        assert g.tolist() == [6.0]
        assert seen == [False, False]

    def test_differentiating_twice_raises(self):
        class OD(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x ** 2

            @staticmethod
            @once_differentiable
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 2 * x * g

        x = probe.tensor([3.0], requires_grad=True)
        y = OD.apply(x * 1) * x
        (g,) = probe.autograd.grad(y.sum(), x, create_graph=True)
        assert g.tolist() == [27.0]
        with pytest.raises(RuntimeError, match="trying to differentiate twice a function that "
                                               "was marked with @once_differentiable"):
            g.sum().backward()

    def test_importable_like_torch(self):
        from probe.autograd.function import Function as F2
        from probe.autograd.function import once_differentiable as od2

        assert F2 is Function and od2 is once_differentiable
