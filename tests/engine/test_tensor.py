"""Tensor creation, attributes, conversions, NumPy memory sharing, repr, autograd attributes and
random number generation."""

from __future__ import annotations

import numpy as np
import pytest

import probe
from probe.engine.random import Generator

# ----------------------------------------------------------------------------------------------
# Creation
# ----------------------------------------------------------------------------------------------


class TestCreation:
    def test_default_dtypes(self):
        assert probe.tensor([1.0]).dtype == probe.float32
        assert probe.tensor([1]).dtype == probe.int64
        assert probe.tensor([True]).dtype == probe.bool
        assert probe.tensor(2.5).dtype == probe.float32
        assert probe.tensor(np.float32(1)).dtype == probe.float32
        assert probe.tensor(np.array([1], dtype=np.int32)).dtype == probe.int32
        assert probe.tensor(np.array([1.0])).dtype == probe.float64
        assert probe.zeros(2).dtype == probe.float32
        assert probe.randn(2).dtype == probe.float32
        assert probe.arange(3).dtype == probe.int64
        assert probe.arange(3.0).dtype == probe.float32

    def test_tensor_copies(self):
        a = np.arange(3.0)
        t = probe.tensor(a)
        t[0] = 10
        assert a[0] == 0.0

    def test_tensor_from_tensor_warns_and_copies(self):
        src = probe.ones(2)
        with pytest.warns(UserWarning, match="To copy construct from a tensor"):
            t = probe.tensor(src)
        t.add_(1)
        assert src.tolist() == [1.0, 1.0]

    def test_nested_and_scalars(self):
        t = probe.tensor([[1, 2], [3, 4]])
        assert t.shape == (2, 2) and t.tolist() == [[1, 2], [3, 4]]
        assert probe.tensor(3.5).shape == ()
        assert probe.tensor([]).shape == (0,)

    def test_list_of_tensors(self):
        t = probe.tensor([probe.tensor(1.0), probe.tensor(2.0)])
        assert t.tolist() == [1.0, 2.0]

    def test_ragged_list(self):
        with pytest.raises(ValueError, match=r"^expected sequence of length 2 at dim 1 \(got 1\)$"):
            probe.tensor([[1, 2], [3]])

    def test_dtype_and_requires_grad_arguments(self):
        t = probe.tensor([1, 2], dtype=probe.float64, requires_grad=True)
        assert t.dtype == probe.float64 and t.requires_grad and t.is_leaf
        assert probe.tensor([1, 2], dtype="float32").dtype == probe.float32
        assert probe.zeros(2, dtype=probe.int32).dtype == probe.int32

    def test_factories(self):
        assert probe.zeros(2, 3).tolist() == [[0.0] * 3] * 2
        assert probe.ones((2,)).tolist() == [1.0, 1.0]
        assert probe.ones([2, 1]).shape == (2, 1)
        assert probe.zeros(probe.Size([1, 2])).shape == (1, 2)
        assert probe.empty(2, 3).shape == (2, 3)
        assert probe.full((2,), 3).dtype == probe.int64
        assert probe.full((2,), 3.0).dtype == probe.float32
        assert probe.full((2,), True).dtype == probe.bool
        assert probe.full((2, 2), 7.0).tolist() == [[7.0, 7.0], [7.0, 7.0]]
        assert probe.eye(2, 3).tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
        assert probe.eye(2).tolist() == [[1.0, 0.0], [0.0, 1.0]]
        assert probe.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75]
        assert probe.arange(5, 0, -2).tolist() == [5, 3, 1]
        assert probe.linspace(0, 1, 5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
        assert probe.ones(2, requires_grad=True).requires_grad

    def test_like_factories(self):
        i32 = probe.ones(2, dtype=probe.int32)
        assert probe.zeros_like(i32).dtype == probe.int32
        assert probe.ones_like(i32, dtype=probe.float64).dtype == probe.float64
        assert probe.full_like(probe.ones(2, 3), 7).tolist() == [[7.0] * 3] * 2
        assert probe.empty_like(i32).shape == (2,)
        x = probe.ones(2, requires_grad=True)
        assert not probe.zeros_like(x).requires_grad

    def test_new_factories(self):
        base = probe.ones(2, dtype=probe.float64)
        assert base.new_zeros(3).dtype == probe.float64
        assert base.new_ones((2, 2)).shape == (2, 2)
        assert base.new_full((2,), 5).tolist() == [5.0, 5.0]
        assert base.new_tensor([1, 2]).dtype == probe.float64

    def test_int_requires_grad_rejected(self):
        with pytest.raises(RuntimeError, match="Only Tensors of floating point and complex dtype "
                                               "can require gradients"):
            probe.ones(2, dtype=probe.int64, requires_grad=True)

    def test_legacy_constructor(self):
        assert probe.Tensor(2, 3).shape == (2, 3)
        assert probe.Tensor([1, 2]).dtype == probe.float32


# ----------------------------------------------------------------------------------------------
# NumPy interop
# ----------------------------------------------------------------------------------------------

class TestNumpy:
    def test_from_numpy_shares_memory(self):
        a = np.arange(3.0)
        t = probe.from_numpy(a)
        assert t.dtype == probe.float64
        t[0] = 10
        assert a[0] == 10
        a[1] = 20
        assert t.tolist() == [10.0, 20.0, 2.0]

    def test_numpy_shares_memory(self):
        t = probe.zeros(3)
        n = t.numpy()
        n[2] = 30
        assert t.tolist() == [0.0, 0.0, 30.0]
        t.add_(1)
        assert n.tolist() == [1.0, 1.0, 31.0]

    def test_as_tensor_shares_when_possible(self):
        a = np.arange(3.0)
        assert probe.as_tensor(a).data_ptr() == a.__array_interface__["data"][0]
        assert probe.tensor(a).data_ptr() != a.__array_interface__["data"][0]
        converted = probe.as_tensor(a, dtype=probe.float32)
        assert converted.dtype == probe.float32
        converted[0] = 5
        assert a[0] == 0
        t = probe.ones(2)
        assert probe.as_tensor(t) is t

    def test_from_numpy_errors(self):
        with pytest.raises(TypeError, match=r"expected np.ndarray \(got list\)"):
            probe.from_numpy([1, 2])
        with pytest.raises(TypeError, match="can't convert np.ndarray of type"):
            probe.from_numpy(np.array(["a"]))

    def test_numpy_requires_grad_error(self):
        x = probe.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError) as info:
            x.numpy()
        assert str(info.value) == ("Can't call numpy() on Tensor that requires grad. Use "
                                   "tensor.detach().numpy() instead.")
        assert x.detach().numpy().tolist() == [1.0, 1.0]
        assert x.numpy(force=True).tolist() == [1.0, 1.0]

    def test_array_protocol(self):
        t = probe.tensor([1.0, 2.0])
        assert np.asarray(t).tolist() == [1.0, 2.0]
        assert np.asarray(t, dtype=np.float64).dtype == np.float64


# ----------------------------------------------------------------------------------------------
# Attributes
# ----------------------------------------------------------------------------------------------

class TestAttributes:
    def test_shape_family(self):
        t = probe.ones(2, 3)
        assert t.shape == (2, 3)
        assert isinstance(t.shape, probe.Size)
        assert t.size() == probe.Size([2, 3])
        assert t.size(1) == 3 and t.size(-1) == 3
        assert t.dim() == 2 and t.ndim == 2 and t.ndimension() == 2
        assert t.numel() == 6 and t.nelement() == 6
        assert len(t) == 2
        assert repr(t.shape) == "probe.Size([2, 3])"
        assert t.shape.numel() == 6

    def test_size_dim_out_of_range(self):
        with pytest.raises(IndexError) as info:
            probe.ones(2, 3).size(2)
        assert str(info.value) == (
            "Dimension out of range (expected to be in range of [-2, 1], but got 2)")

    def test_len_of_0d(self):
        with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
            len(probe.tensor(1.0))

    def test_transposes(self):
        t = probe.arange(6.0).reshape(2, 3)
        assert t.T.shape == (3, 2)
        assert t.T.tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
        assert t.mT.shape == (3, 2)
        assert probe.ones(4, 2, 3).mT.shape == (4, 3, 2)
        with pytest.raises(RuntimeError, match="tensor.mT is only supported on matrices or "
                                               "batches of matrices. Got 1-D tensor."):
            probe.ones(3).mT  # noqa: B018

    def test_dtype_device_misc(self):
        t = probe.ones(2, 3)
        assert t.device == probe.device("cpu")
        assert t.device.type == "cpu"
        assert not t.is_cuda and t.is_cpu
        assert t.get_device() == -1
        assert t.is_floating_point()
        assert not probe.ones(2, dtype=probe.int64).is_floating_point()
        assert t.element_size() == 4
        assert t.stride() == (3, 1)
        assert t.t().stride() == (1, 3)
        assert t.is_contiguous()
        assert not t.t().is_contiguous()
        assert t.t().contiguous().is_contiguous()

    def test_contiguous_returns_self_when_contiguous(self):
        t = probe.ones(2, 3)
        assert t.contiguous() is t

    def test_type(self):
        assert probe.ones(2).type() == "probe.FloatTensor"
        assert probe.ones(2, dtype=probe.int64).type() == "probe.LongTensor"
        assert probe.ones(2, dtype=probe.float64).type() == "probe.DoubleTensor"
        assert probe.ones(2).type(probe.float64).dtype == probe.float64
        assert probe.ones(2).type("probe.DoubleTensor").dtype == probe.float64
        assert probe.ones(2).type("torch.IntTensor").dtype == probe.int32

    def test_casts(self):
        t = probe.ones(2)
        assert t.float() is t
        assert t.double().dtype == probe.float64
        assert t.half().dtype == probe.float16
        assert t.long().dtype == probe.int64
        assert t.int().dtype == probe.int32
        assert t.bool().dtype == probe.bool
        assert probe.tensor([1.7, -1.7]).long().tolist() == [1, -1]
        assert t.type_as(probe.ones(1, dtype=probe.int32)).dtype == probe.int32

    def test_cast_is_differentiable(self):
        x = probe.ones(2, requires_grad=True)
        y = x.double()
        assert type(y.grad_fn).__name__ == "ToCopyBackward0"
        (y * 3).sum().backward()
        assert x.grad.dtype == probe.float32
        assert x.grad.tolist() == [3.0, 3.0]


class TestScalarConversion:
    def test_item(self):
        assert probe.tensor(3.5).item() == 3.5
        assert probe.tensor([2]).item() == 2
        assert isinstance(probe.tensor(3).item(), int)
        assert isinstance(probe.tensor(True).item(), bool)
        assert isinstance(probe.tensor(1.0).item(), float)

    def test_item_errors(self):
        with pytest.raises(RuntimeError, match="^a Tensor with 3 elements cannot be converted to "
                                               "Scalar$"):
            probe.ones(3).item()
        with pytest.raises(RuntimeError, match="^a Tensor with 0 elements cannot be converted to "
                                               "Scalar$"):
            probe.ones(0).item()

    def test_tolist(self):
        assert probe.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
        assert probe.tensor(2.5).tolist() == 2.5
        assert isinstance(probe.tensor([1]).tolist()[0], int)

    def test_bool(self):
        assert bool(probe.tensor([2.0])) is True
        assert bool(probe.tensor(0)) is False
        with pytest.raises(RuntimeError, match="^Boolean value of Tensor with more than one value "
                                               "is ambiguous$"):
            bool(probe.ones(3))
        with pytest.raises(RuntimeError, match="^Boolean value of Tensor with no values is "
                                               "ambiguous$"):
            bool(probe.ones(0))

    def test_int_float(self):
        assert int(probe.tensor(2.7)) == 2
        assert float(probe.tensor(2)) == 2.0
        with pytest.raises(ValueError, match="only one element tensors can be converted to Python "
                                             "scalars"):
            int(probe.ones(2))
        assert [10, 20, 30][probe.tensor(1)] == 20
        with pytest.raises(TypeError):
            [1, 2][probe.tensor(1.0)]

    def test_format(self):
        assert f"{probe.tensor(1.5):.2f}" == "1.50"


class TestRepr:
    def test_reprs(self):
        assert repr(probe.tensor([[1.0, 2.5], [3.0, 4.0]], requires_grad=True)) == (
            "tensor([[1.0000, 2.5000],\n        [3.0000, 4.0000]], requires_grad=True)")
        assert repr(probe.tensor([1, 2], dtype=probe.int32)) == "tensor([1, 2], dtype=probe.int32)"
        assert repr(probe.tensor([1.0, 2.0], dtype=probe.float64)) == (
            "tensor([1., 2.], dtype=probe.float64)")
        assert repr(probe.zeros(0)) == "tensor([])"
        assert repr(probe.tensor(3.0)) == "tensor(3.)"
        assert repr(probe.tensor([1, 2])) == "tensor([1, 2])"
        x = probe.tensor([1.0, 2.0], requires_grad=True)
        assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulBackward0>)"
        assert str(x) == repr(x)


# ----------------------------------------------------------------------------------------------
# to / cpu / cuda
# ----------------------------------------------------------------------------------------------

class TestTo:
    def test_argument_forms(self):
        t = probe.ones(2, 3)
        assert t.to("cpu") is t
        assert t.to(probe.float32) is t
        assert t.to(probe.device("cpu")) is t
        assert t.cpu() is t
        assert t.to("cpu", probe.float64).dtype == probe.float64
        assert t.to(probe.device("cpu"), probe.int8).dtype == probe.int8
        assert t.to(device="cpu", dtype=probe.int32).dtype == probe.int32
        assert t.to(dtype=probe.float64).dtype == probe.float64
        assert t.to(probe.ones(1, dtype=probe.float16)).dtype == probe.float16
        assert t.to(probe.float64, non_blocking=True).dtype == probe.float64

    def test_copy(self):
        t = probe.ones(2)
        c = t.to(probe.float32, copy=True)
        assert c is not t
        c.add_(1)
        assert t.tolist() == [1.0, 1.0]

    def test_unexpected_keyword(self):
        with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
            probe.ones(2).to(colour="red")

    def test_to_keeps_autograd(self):
        x = probe.ones(2, requires_grad=True)
        y = x.to(probe.float64)
        assert y.requires_grad and not y.is_leaf

    @pytest.mark.skipif(probe.cuda.is_available(), reason="checks the no-GPU error path")
    def test_cuda_forms_raise_without_gpu(self):
        t = probe.ones(2)
        for move in (lambda: t.cuda(), lambda: t.cuda(0), lambda: t.to("cuda"),
                     lambda: t.to("cuda:0"), lambda: t.to(probe.device("cuda", 0)),
                     lambda: t.to(device="cuda")):
            with pytest.raises(RuntimeError, match="CUDA"):
                move()

    def test_cuda_round_trip(self, device):
        if device == "cpu":
            pytest.skip("round trip needs a CUDA device")
        t = probe.arange(4.0, requires_grad=True)
        g = t.cuda()
        assert g.is_cuda and g.device.type == "cuda" and g.get_device() == 0
        assert g.to("cuda") is g
        back = (g * 2).cpu()
        assert back.tolist() == [0.0, 2.0, 4.0, 6.0]
        back.sum().backward()
        assert t.grad.tolist() == [2.0, 2.0, 2.0, 2.0]
        assert t.grad.device.type == "cpu"


# ----------------------------------------------------------------------------------------------
# clone / detach / data / requires_grad_
# ----------------------------------------------------------------------------------------------

class TestCopiesAndDetach:
    def test_clone(self):
        x = probe.ones(3, requires_grad=True)
        c = x.clone()
        assert c.requires_grad and type(c.grad_fn).__name__ == "CloneBackward0"
        assert c.data_ptr() != x.data_ptr()
        (c * 2).sum().backward()
        assert x.grad.tolist() == [2.0, 2.0, 2.0]

    def test_clone_of_plain_tensor(self):
        t = probe.ones(2)
        c = t.clone()
        c.add_(1)
        assert t.tolist() == [1.0, 1.0] and not c.requires_grad

    def test_detach(self):
        x = probe.ones(3, requires_grad=True)
        d = x.detach()
        assert not d.requires_grad and d.is_leaf and d.grad_fn is None
        assert d.data_ptr() == x.data_ptr()
        assert d._version == x._version

    def test_detach_in_place(self):
        x = probe.ones(3, requires_grad=True)
        y = x * 2
        assert y.detach_() is y
        assert not y.requires_grad and y.grad_fn is None and y.is_leaf

    def test_data(self):
        x = probe.ones(3, requires_grad=True)
        d = x.data
        assert not d.requires_grad
        assert d.data_ptr() == x.data_ptr()
        d.add_(1)  # allowed: .data is outside autograd
        assert x.tolist() == [2.0, 2.0, 2.0]
        assert x._version == 0  # and not version-tracked
        x.data = probe.zeros(3)
        assert x.tolist() == [0.0, 0.0, 0.0]
        assert x.requires_grad and x.is_leaf

    def test_data_setter_type_error(self):
        with pytest.raises(TypeError):
            probe.ones(2).data = [1, 2]

    def test_requires_grad_(self):
        t = probe.zeros(2)
        assert t.requires_grad_() is t
        assert t.requires_grad
        t.requires_grad_(False)
        assert not t.requires_grad
        t.requires_grad = True
        assert t.requires_grad

    def test_requires_grad_errors(self):
        x = probe.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError) as info:
            (x * 2).requires_grad_(False)
        assert str(info.value) == (
            "you can only change requires_grad flags of leaf variables. If you want to use a "
            "computed variable in a subgraph that doesn't require differentiation use "
            "var_no_grad = var.detach().")
        (x * 2).requires_grad_(True)  # a no-op on a non-leaf that already requires grad
        with pytest.raises(RuntimeError, match="^only Tensors of floating point dtype can require "
                                               "gradients$"):
            probe.tensor([1, 2]).requires_grad_()

    def test_grad_setter(self):
        x = probe.ones(3, requires_grad=True)
        x.grad = probe.full((3,), 2.0)
        assert x.grad.tolist() == [2.0, 2.0, 2.0]
        with pytest.raises(RuntimeError) as info:
            x.grad = probe.ones(4)
        assert str(info.value) == (
            "attempting to assign a gradient of size '[4]' to a tensor of size '[3]'. Please "
            "ensure that the gradient and the tensor are the same size")
        with pytest.raises(TypeError, match="assigned grad expected to be a Tensor or None but "
                                            "got grad of type list"):
            x.grad = [1, 2, 3]
        x.grad = None
        assert x.grad is None
        del x.grad
        assert x.grad is None

    def test_is_tensor(self):
        assert probe.is_tensor(probe.ones(1))
        assert not probe.is_tensor(np.ones(1))


# ----------------------------------------------------------------------------------------------
# Random numbers
# ----------------------------------------------------------------------------------------------

class TestRandom:
    def test_manual_seed_reproducible(self):
        probe.manual_seed(5)
        a = probe.rand(4).tolist()
        b = probe.randn(2, 3).tolist()
        probe.manual_seed(5)
        assert probe.rand(4).tolist() == a
        assert probe.randn(2, 3).tolist() == b
        assert probe.initial_seed() == 5

    def test_manual_seed_returns_generator(self):
        assert isinstance(probe.manual_seed(1), Generator)
        assert probe.manual_seed(1) is probe.default_generator

    def test_generator_streams(self):
        g1 = probe.Generator().manual_seed(3)
        g2 = probe.Generator().manual_seed(3)
        assert probe.randn(5, generator=g1).tolist() == probe.randn(5, generator=g2).tolist()
        assert probe.Generator().manual_seed(3).initial_seed() == 3
        assert g1.device == probe.device("cpu")
        # An explicit generator does not advance the global one.
        probe.manual_seed(0)
        expected = probe.rand(3).tolist()
        probe.manual_seed(0)
        probe.rand(3, generator=probe.Generator().manual_seed(9))
        assert probe.rand(3).tolist() == expected

    def test_generator_state_round_trip(self):
        g = probe.Generator().manual_seed(11)
        probe.randn(3, generator=g)
        state = g.get_state()
        assert state.dtype == probe.uint8 and state.dim() == 1
        a = probe.randn(4, generator=g).tolist()
        g.set_state(state)
        assert probe.randn(4, generator=g).tolist() == a
        # The state is a snapshot: drawing again does not change it.
        other = probe.Generator().set_state(state)
        assert probe.randn(4, generator=other).tolist() == a

    def test_global_rng_state(self):
        state = probe.get_rng_state()
        a = probe.randn(3).tolist()
        probe.set_rng_state(state)
        assert probe.randn(3).tolist() == a

    def test_invalid_state(self):
        with pytest.raises(RuntimeError):
            probe.Generator().set_state(probe.zeros(3, dtype=probe.uint8))

    def test_distributions(self):
        probe.manual_seed(0)
        u = probe.rand(1000)
        assert 0.0 <= u.min().item() and u.max().item() < 1.0
        n = probe.randn(10_000)
        assert abs(n.mean().item()) < 0.05 and abs(n.std().item() - 1.0) < 0.05
        r = probe.randint(0, 10, (500,))
        assert r.dtype == probe.int64
        assert set(r.tolist()) <= set(range(10))
        assert probe.randint(10, (3,)).dtype == probe.int64
        assert probe.randint(3, 5, (2, 2), dtype=probe.int32).dtype == probe.int32
        assert sorted(probe.randperm(5).tolist()) == [0, 1, 2, 3, 4]
        assert probe.randperm(4).dtype == probe.int64
        assert probe.randn(2, 3, dtype=probe.float64).dtype == probe.float64
        assert probe.randn((2, 3)).shape == (2, 3)
        assert probe.randn(2, requires_grad=True).requires_grad

    def test_randint_bounds_error(self):
        with pytest.raises(RuntimeError, match="random_ expects 'from' to be less than 'to', but "
                                               "got from=5 >= to=5"):
            probe.randint(5, 5, (2,))

    def test_integer_dtype_rejected(self):
        with pytest.raises(RuntimeError):
            probe.randn(2, dtype=probe.int64)

    def test_in_place_samplers(self):
        probe.manual_seed(0)
        t = probe.empty(1000)
        v = t._version
        t.uniform_(2, 3)
        assert t._version == v + 1
        assert 2.0 <= t.min().item() and t.max().item() < 3.0
        t.normal_(5.0, 0.1)
        assert abs(t.mean().item() - 5.0) < 0.05
        x = probe.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used "
                                               "in an in-place operation."):
            x.normal_()
        with probe.no_grad():
            x.normal_()  # initialisation under no_grad is the usual pattern

    def test_normal_function(self):
        assert probe.normal(0.0, 1.0, size=(2, 3)).shape == (2, 3)
        assert probe.normal(probe.zeros(3), probe.ones(3)).shape == (3,)

    def test_like_samplers(self):
        base = probe.ones(2, 3, dtype=probe.float64)
        assert probe.rand_like(base).dtype == probe.float64
        assert probe.randn_like(base).shape == (2, 3)
