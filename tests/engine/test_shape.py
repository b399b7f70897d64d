"""Shape and view ops: values, views and their version counters, gradients (gradcheck and
gradgradcheck), PyTorch's error texts, and the NumPy-named functions used by differentiable
backwards."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import probe
from probe.autograd import gradcheck, gradgradcheck
from probe.engine import tensor_ns


def to_np(t):
    return t.detach().cpu().numpy()


def _x(rng, shape, device, requires_grad=True):
    data = rng.standard_normal(shape)
    return probe.tensor(data, dtype=probe.float64, device=device, requires_grad=requires_grad)


# ------------------------------------------------------------------ gradcheck of every op
GRAD_CASES = {
    "view": ((2, 3, 4), lambda x: x.view(6, 4)),
    "view_infer": ((2, 3, 4), lambda x: x.view(-1, 2)),
    "view_size": ((2, 3, 4), lambda x: x.view(probe.Size([4, 6]))),
    "reshape": ((2, 3, 4), lambda x: x.reshape(4, -1)),
    "reshape_copy": ((3, 4), lambda x: x.t().reshape(-1)),
    "reshape_fn": ((3, 4), lambda x: probe.reshape(x, (2, 6))),
    "view_as": ((3, 4), lambda x: x.view_as(probe.zeros(12))),
    "reshape_as": ((3, 4), lambda x: x.t().reshape_as(probe.zeros(2, 6))),
    "flatten": ((2, 3, 4), lambda x: x.flatten()),
    "flatten_range": ((2, 3, 4, 2), lambda x: x.flatten(1, 2)),
    "flatten_noncontig": ((2, 3, 4), lambda x: x.transpose(0, 2).flatten(0, 1)),
    "unflatten": ((2, 12), lambda x: x.unflatten(1, (3, -1))),
    "permute": ((2, 3, 4), lambda x: x.permute(2, 0, 1)),
    "permute_tuple": ((2, 3, 4), lambda x: x.permute((1, 2, 0))),
    "transpose": ((2, 3, 4), lambda x: x.transpose(0, 2)),
    "swapaxes": ((2, 3, 4), lambda x: x.swapaxes(-1, 1)),
    "swapdims": ((2, 3, 4), lambda x: probe.swapdims(x, 0, 1)),
    "t": ((3, 4), lambda x: x.t()),
    "t_1d": ((4,), lambda x: x.t()),
    "T": ((3, 4), lambda x: x.T),
    "mT": ((2, 3, 4), lambda x: x.mT),
    "H": ((3, 4), lambda x: x.H),
    "mH": ((2, 3, 4), lambda x: x.mH),
    "adjoint": ((2, 3, 4), lambda x: x.adjoint()),
    "squeeze": ((1, 3, 1, 4), lambda x: x.squeeze()),
    "squeeze_dim": ((1, 3, 1, 4), lambda x: x.squeeze(2)),
    "squeeze_dims": ((1, 3, 1, 4), lambda x: x.squeeze((0, 2))),
    "squeeze_noop": ((2, 3), lambda x: x.squeeze(0)),
    "unsqueeze": ((3, 4), lambda x: x.unsqueeze(1)),
    "unsqueeze_neg": ((3, 4), lambda x: x.unsqueeze(-1)),
    "expand": ((3, 1), lambda x: x.expand(2, 3, 4)),
    "expand_keep": ((3, 1), lambda x: x.expand(-1, 5)),
    "expand_as": ((1, 4), lambda x: x.expand_as(probe.zeros(3, 4))),
    "broadcast_to": ((4,), lambda x: probe.broadcast_to(x, (2, 3, 4))),
    "cat": ((2, 3), lambda x: probe.cat([x, x * 2, x[:1]], 0)),
    "cat_dim1": ((2, 3), lambda x: probe.cat([x, x[:, :1]], dim=1)),
    "cat_neg": ((2, 3), lambda x: probe.concat((x, x), -1)),
    "stack": ((2, 3), lambda x: probe.stack([x, x * 3])),
    "stack_dim": ((2, 3), lambda x: probe.stack([x, x], dim=2)),
    "hstack": ((2, 3), lambda x: probe.hstack([x, x])),
    "vstack": ((3,), lambda x: probe.vstack([x, x])),
    "dstack": ((2, 3), lambda x: probe.dstack([x, x])),
    "column_stack": ((3,), lambda x: probe.column_stack([x, x * 2])),
    "split": ((5, 2), lambda x: x.split(2)),
    "split_sizes": ((5, 2), lambda x: x.split([1, 4])),
    "split_dim": ((2, 5), lambda x: probe.split(x, 3, dim=1)),
    "chunk": ((5, 2), lambda x: x.chunk(3)),
    "tensor_split": ((7,), lambda x: x.tensor_split(3)),
    "tensor_split_idx": ((7, 2), lambda x: x.tensor_split([1, 5], dim=0)),
    "unbind": ((3, 2), lambda x: x.unbind()),
    "unbind_dim": ((3, 2), lambda x: x.unbind(1)),
    "narrow": ((4, 5), lambda x: x.narrow(1, 1, 3)),
    "select": ((4, 5), lambda x: x.select(1, -1)),
    "movedim": ((2, 3, 4), lambda x: x.movedim(0, -1)),
    "moveaxis_multi": ((2, 3, 4), lambda x: probe.moveaxis(x, (0, 1), (2, 0))),
    "flip": ((3, 4), lambda x: x.flip(0)),
    "flip_dims": ((2, 3, 4), lambda x: x.flip((0, 2))),
    "fliplr": ((3, 4), lambda x: x.fliplr()),
    "flipud": ((3, 4), lambda x: x.flipud()),
    "roll": ((3, 4), lambda x: x.roll(2)),
    "roll_dims": ((3, 4), lambda x: x.roll((1, -1), (0, 1))),
    "rot90": ((3, 4), lambda x: x.rot90()),
    "rot90_k": ((2, 3, 4), lambda x: x.rot90(3, (1, 2))),
    "repeat": ((2, 3), lambda x: x.repeat(2, 1, 3)),
    "tile": ((2, 3), lambda x: x.tile((2,))),
    "repeat_interleave": ((2, 3), lambda x: x.repeat_interleave(2)),
    "repeat_interleave_dim": ((2, 3), lambda x: x.repeat_interleave(3, dim=1)),
    "repeat_interleave_t": ((3, 2), lambda x: x.repeat_interleave(probe.tensor([1, 0, 2]), 0)),
    "tril": ((4, 4), lambda x: x.tril()),
    "tril_k": ((2, 3, 4), lambda x: x.tril(-1)),
    "triu": ((4, 3), lambda x: x.triu(1)),
    "diagonal": ((3, 4), lambda x: x.diagonal()),
    "diagonal_off": ((2, 3, 4), lambda x: x.diagonal(1, 1, 2)),
    "diagonal_neg": ((4, 3), lambda x: probe.diagonal(x, -1)),
    "diag_1d": ((3,), lambda x: x.diag(1)),
    "diag_2d": ((3, 4), lambda x: x.diag()),
    "diag_embed": ((2, 3), lambda x: x.diag_embed()),
    "diag_embed_off": ((2, 3), lambda x: probe.diag_embed(x, -1, 0, 2)),
    "trace": ((3, 4), lambda x: x.trace()),
    "as_strided": ((3, 4), lambda x: x.as_strided((2, 2), (1, 2), 1)),
    "as_strided_overlap": ((6,), lambda x: x.as_strided((3, 3), (1, 1))),
    "unfold": ((7,), lambda x: x.unfold(0, 3, 2)),
    "unfold_2d": ((3, 6), lambda x: x.unfold(1, 2, 1)),
    "contiguous_after_t": ((3, 4), lambda x: x.t().contiguous()),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradcheck(name, device, rng):
    shape, fn = GRAD_CASES[name]
    x = _x(rng, shape, device)
    if name == "repeat_interleave_t" and device != "cpu":
        pytest.skip("index tensor built on the CPU")
    assert gradcheck(fn, (x,))


def test_gradcheck_two_inputs(device, rng):
    a = _x(rng, (2, 3), device)
    b = _x(rng, (1, 3), device)
    assert gradcheck(lambda a, b: probe.cat([a, b, a]), (a, b))
    assert gradcheck(lambda a, b: probe.stack([a[0], b[0]], 1), (a, b))
    assert gradcheck(lambda a, b: probe.broadcast_tensors(a, b), (a, b))


GRADGRAD_CASES = {
    "reshape": ((2, 3, 4), lambda x: (x * x).reshape(4, 6)),
    "reshape_copy": ((3, 4), lambda x: (x * x).t().reshape(-1)),
    "view": ((2, 6), lambda x: (x * x).view(3, 4)),
    "permute": ((2, 3, 4), lambda x: (x * x).permute(1, 2, 0)),
    "transpose": ((2, 3), lambda x: (x * x).t()),
    "cat": ((2, 3), lambda x: probe.cat([x * x, x], 1)),
    "stack": ((2, 3), lambda x: probe.stack([x * x, x])),
    "expand": ((3, 1), lambda x: (x * x).expand(2, 3, 4)),
    "split": ((4, 3), lambda x: (x * x).split([1, 3])),
    "unbind": ((2, 3), lambda x: (x * x).unbind(1)),
    "flip": ((2, 3), lambda x: (x * x).flip(1)),
    "diagonal": ((3, 3), lambda x: (x * x).diagonal()),
    "squeeze_unsqueeze": ((3, 1), lambda x: (x * x).squeeze(1).unsqueeze(0)),
    "tril": ((3, 3), lambda x: (x * x).tril()),
    "unfold": ((6,), lambda x: (x * x).unfold(0, 2, 2)),
}


@pytest.mark.parametrize("name", sorted(GRADGRAD_CASES))
def test_gradgradcheck(name, device, rng):
    shape, fn = GRADGRAD_CASES[name]
    assert gradgradcheck(fn, (_x(rng, shape, device),))


# ------------------------------------------------------------------ values and grad_fn names
def test_values_match_numpy(device):
    a = np.arange(24.0).reshape(2, 3, 4)
    x = probe.tensor(a, device=device)
    np.testing.assert_array_equal(to_np(x.view(6, 4)), a.reshape(6, 4))
    np.testing.assert_array_equal(to_np(x.permute(2, 0, 1)), a.transpose(2, 0, 1))
    np.testing.assert_array_equal(to_np(x.transpose(0, 2).reshape(-1)),
                                  a.transpose(2, 1, 0).reshape(-1))
    np.testing.assert_array_equal(to_np(x.flip(1)), a[:, ::-1])
    np.testing.assert_array_equal(to_np(x.roll(1, 2)), np.roll(a, 1, 2))
    np.testing.assert_array_equal(to_np(x.roll(5)), np.roll(a, 5))
    np.testing.assert_array_equal(to_np(x.repeat(1, 2, 1)), np.tile(a, (1, 2, 1)))
    np.testing.assert_array_equal(to_np(x.repeat_interleave(2, 1)), np.repeat(a, 2, 1))
    np.testing.assert_array_equal(to_np(x.tril(1)), np.tril(a, 1))
    np.testing.assert_array_equal(to_np(x.diagonal(0, 1, 2)), a.diagonal(0, 1, 2))
    np.testing.assert_array_equal(to_np(x.rot90(1, (1, 2))), np.rot90(a, 1, (1, 2)))
    np.testing.assert_array_equal(to_np(x.unfold(2, 2, 2)),
                                  a.reshape(2, 3, 2, 2))
    assert x[0].trace().item() == np.trace(a[0])
    np.testing.assert_array_equal(to_np(probe.cat([x, x], 1)), np.concatenate([a, a], 1))
    np.testing.assert_array_equal(to_np(probe.stack([x, x], -1)), np.stack([a, a], -1))
    pieces = x.split([1, 2], 1)
    assert [tuple(p.shape) for p in pieces] == [(2, 1, 4), (2, 2, 4)]


@pytest.mark.parametrize("fn, name", [
    (lambda x: x.view(12), "ViewBackward0"),
    (lambda x: x.reshape(2, 6), "ViewBackward0"),
    (lambda x: x.t().reshape(-1), "UnsafeViewBackward0"),
    (lambda x: x.flatten(), "ViewBackward0"),
    (lambda x: x.permute(1, 0), "PermuteBackward0"),
    (lambda x: x.T, "PermuteBackward0"),
    (lambda x: x.t(), "TBackward0"),
    (lambda x: x.transpose(0, 1), "TransposeBackward0"),
    (lambda x: x.mT, "TransposeBackward0"),
    (lambda x: x.unsqueeze(0), "UnsqueezeBackward0"),
    (lambda x: x.squeeze(), "SqueezeBackward0"),
    (lambda x: x.squeeze(0), "SqueezeBackward1"),
    (lambda x: x.squeeze((0,)), "SqueezeBackward2"),
    (lambda x: x.expand(2, 3, 4), "ExpandBackward0"),
    (lambda x: probe.cat([x, x]), "CatBackward0"),
    (lambda x: probe.stack([x, x]), "StackBackward0"),
    (lambda x: x.split(2)[0], "SplitBackward0"),
    (lambda x: x.split([1, 2])[1], "SplitWithSizesBackward0"),
    (lambda x: x.chunk(2)[0], "SplitBackward0"),
    (lambda x: x.unbind()[0], "UnbindBackward0"),
    (lambda x: x.narrow(1, 0, 2), "SliceBackward0"),
    (lambda x: x.flip(0), "FlipBackward0"),
    (lambda x: x.roll(1), "RollBackward0"),
    (lambda x: x.rot90(), "Rot90Backward0"),
    (lambda x: x.repeat(2, 1), "RepeatBackward0"),
    (lambda x: x.tril(), "TrilBackward0"),
    (lambda x: x.triu(), "TriuBackward0"),
    (lambda x: x.diagonal(), "DiagonalBackward0"),
    (lambda x: x.diag(), "DiagonalBackward0_copy"),
    (lambda x: x.diag_embed(), "DiagEmbedBackward0"),
    (lambda x: x.trace(), "TraceBackward0"),
    (lambda x: x.unfold(1, 2, 1), "UnfoldBackward0"),
    (lambda x: x.as_strided((2,), (1,)), "AsStridedBackward0"),
    (lambda x: x.movedim(0, 1), "PermuteBackward0"),
    (lambda x: x.repeat_interleave(2), "ViewBackward0"),
])
def test_grad_fn_names(fn, name):
    x = probe.randn(3, 4, requires_grad=True)
    assert type(fn(x).grad_fn).__name__ == name


def test_next_functions_of_reshape_copy():
    x = probe.randn(3, 4, requires_grad=True)
    y = x.t().reshape(-1)
    clone_node = y.grad_fn.next_functions[0][0]
    assert type(clone_node).__name__ == "CloneBackward0"


def test_float32_stays_float32():
    x = probe.randn(3, 4, requires_grad=True)
    outs = [x.view(-1), x.t().reshape(-1), probe.cat([x, x]), probe.stack([x, x]), x.flip(0),
            x.roll(1), x.repeat(2, 1), x.tril(), x.trace(), x.diag(), x.unfold(0, 2, 1),
            x.expand(2, 3, 4), x.diag_embed()]
    for out in outs:
        assert out.dtype is probe.float32
        out.backward(probe.ones(out.shape))
        assert x.grad.dtype is probe.float32
        x.grad = None


def test_cat_promotes_dtypes():
    a = probe.ones(2, dtype=probe.int32)
    b = probe.ones(2, dtype=probe.int64)
    c = probe.ones(2)
    assert probe.cat([a, b]).dtype is probe.int64
    assert probe.cat([a, c]).dtype is probe.float32
    assert probe.cat([c, probe.ones(2, dtype=probe.float64)]).dtype is probe.float64
    assert probe.cat([probe.ones(2, 2), probe.ones(0)]).shape == (2, 2)
    assert probe.stack([a, c]).dtype is probe.float32


def test_cat_grads_through_promotion():
    a = probe.ones(2, requires_grad=True)
    b = probe.ones(2, dtype=probe.float64, requires_grad=True)
    out = probe.cat([a, b])
    out.backward(probe.arange(4.0, dtype=probe.float64))
    assert a.grad.dtype is probe.float32 and b.grad.dtype is probe.float64
    np.testing.assert_array_equal(to_np(a.grad), [0, 1])
    np.testing.assert_array_equal(to_np(b.grad), [2, 3])


def test_cat_out():
    out = probe.empty(0)
    probe.cat([probe.ones(2), probe.zeros(1)], out=out)
    np.testing.assert_array_equal(to_np(out), [1, 1, 0])


# ------------------------------------------------------------------ views and version counters
def test_view_shares_memory_and_version(device):
    t = probe.zeros(6, device=device)
    v = t.view(2, 3)
    v[0, 1] = 5.0
    assert t[1].item() == 5.0
    assert t._version == v._version == 1
    base = probe.ones(3, device=device)
    base.view(3).mul_(2)
    assert base._version == 1
    np.testing.assert_array_equal(to_np(base), [2, 2, 2])
    w = base.view(3)
    w.add_(1)
    assert base._version == w._version == 2
    np.testing.assert_array_equal(to_np(base), [3, 3, 3])


def test_views_of_each_view_op_share_memory(device):
    t = probe.zeros(2, 3, 4, device=device)
    views = [t.view(6, 4), t.reshape(24), t.permute(2, 1, 0), t.transpose(0, 1), t[0].t(),
             t.unsqueeze(0), t[:1].squeeze(0), t.narrow(2, 1, 2), t.select(1, 2), t.unbind(0)[1],
             t.split(1, 2)[3], t.chunk(2, 2)[0], t.diagonal(0, 1, 2), t.movedim(0, 2),
             t.flatten(0, 1), t.unflatten(2, (2, 2)), t.mT, t.expand(2, 2, 3, 4)[0],
             t.unfold(2, 2, 2)]
    for i, v in enumerate(views):
        assert v._base is t, i
        assert v._vc is t._vc, i
    before = t._version
    t.view(-1)[5] = 3.0
    assert t._version == before + 1
    for v in views:
        assert v._version == t._version


def test_writes_through_views_reach_base(device):
    t = probe.zeros(3, 4, device=device)
    t.t()[1, 2] = 1.0
    t.diagonal()[0] = 2.0
    t.narrow(1, 3, 1)[2, 0] = 3.0
    t.unfold(1, 2, 2)[0, 1, 1] = 4.0
    expected = np.zeros((3, 4))
    expected[2, 1] = 1
    expected[0, 0] = 2
    expected[2, 3] = 3
    expected[0, 3] = 4
    np.testing.assert_array_equal(to_np(t), expected)


def test_reshape_view_or_copy():
    t = probe.arange(12.0).reshape(3, 4)
    v = t.reshape(4, 3)
    assert v._base is t._base and np.shares_memory(v.numpy(), t.numpy())
    c = t.t().reshape(-1)
    assert c._base is None and not np.shares_memory(c.numpy(), t.numpy())
    assert t.flatten(0, 0) is t


def test_non_view_ops_copy():
    t = probe.arange(12.0).reshape(3, 4)
    for out in (t.flip(0), t.roll(1), t.rot90(), t.tril(), t.repeat(1, 1), probe.cat([t]),
                t.diag()):
        assert out._base is None
        assert not np.shares_memory(out.numpy(), t.numpy())


def test_inplace_on_view_of_leaf_errors():
    x = probe.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad is "
                                           "being used in an in-place operation."):
        x.view(3)[0] = 2.0


def test_inplace_through_view_of_nonleaf_grad():
    x = probe.tensor([1.0, 2.0, 3.0, 4.0], dtype=probe.float64, requires_grad=True)
    w = probe.tensor([10.0, 20.0], dtype=probe.float64, requires_grad=True)
    y = x * 2
    y.view(2, 2)[1] = w * 3
    assert type(y.grad_fn).__name__ == "CopySlices"
    y.backward(probe.tensor([1.0, 2.0, 3.0, 4.0], dtype=probe.float64))
    np.testing.assert_array_equal(to_np(x.grad), [2, 4, 0, 0])
    np.testing.assert_array_equal(to_np(w.grad), [9, 12])


def test_expanded_tensor_writes_raise(device):
    e = probe.ones(4, device=device).expand(3, 4)
    msg = "unsupported operation: more than one element of the written-to tensor refers to a " \
          "single memory location. Please clone\\(\\) the tensor before performing the operation."
    with pytest.raises(RuntimeError, match=msg):
        e[:, 0] = 2.0
    with pytest.raises(RuntimeError, match=msg):
        e.add_(1)
    # expanding without broadcasting anything stays writable
    f = probe.ones(4, device=device)
    g = f.expand(1, 4)
    g[0, 0] = 3.0
    assert f[0].item() == 3.0


def test_view_dtype():
    t = probe.ones(2, 2)
    v = t.view(probe.int32)
    assert v.dtype is probe.int32 and v.shape == (2, 2)
    assert t.view(probe.int16).shape == (2, 4)
    assert t.view(dtype=probe.float64).shape == (2, 1)
    assert v._vc is t._vc


# ------------------------------------------------------------------ errors (PyTorch's wording)
def test_view_errors():
    m = probe.randn(3, 4)
    with pytest.raises(RuntimeError, match=r"view size is not compatible with input tensor's size "
                       r"and stride \(at least one dimension spans across two contiguous "
                       r"subspaces\). Use .reshape\(...\) instead."):
        m.t().view(-1)
    with pytest.raises(RuntimeError, match=r"shape '\[5, 2\]' is invalid for input of size 12"):
        m.reshape(5, 2)
    with pytest.raises(RuntimeError, match=r"shape '\[4, 2\]' is invalid for input of size 6"):
        probe.zeros(6).view(4, 2)
    with pytest.raises(RuntimeError, match="only one dimension can be inferred"):
        m.reshape(-1, -1)
    with pytest.raises(RuntimeError, match="invalid shape dimension -2"):
        m.reshape(3, -2)
    with pytest.raises(RuntimeError, match="cannot reshape tensor of 0 elements"):
        probe.zeros(0, 3).view(-1, 0)


@pytest.mark.parametrize("fn, exc, text", [
    (lambda m: probe.cat([m, probe.randn(3, 5)]), RuntimeError,
     "Sizes of tensors must match except in dimension 0. Expected size 4 but got size 5 for "
     "tensor number 1 in the list."),
    (lambda m: probe.cat([m, probe.randn(2, 3)], 1), RuntimeError,
     "Sizes of tensors must match except in dimension 1. Expected size 3 but got size 2 for "
     "tensor number 1 in the list."),
    (lambda m: probe.cat([m, probe.randn(3)]), RuntimeError,
     "Tensors must have same number of dimensions: got 2 and 1"),
    (lambda m: probe.cat([]), ValueError, "expected a non-empty list of Tensors"),
    (lambda m: probe.cat([m, m], 2), IndexError,
     "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    (lambda m: probe.cat([probe.tensor(1.0)]), RuntimeError,
     "zero-dimensional tensor (at position 0) cannot be concatenated"),
    (lambda m: probe.stack([m, probe.randn(3, 5)]), RuntimeError,
     "stack expects each tensor to be equal size, but got [3, 4] at entry 0 and [3, 5] at entry 1"),
    (lambda m: probe.stack([]), RuntimeError, "stack expects a non-empty TensorList"),
    (lambda m: m.expand(2, 5), RuntimeError,
     "The expanded size of the tensor (5) must match the existing size (4) at non-singleton "
     "dimension 1.  Target sizes: [2, 5].  Tensor sizes: [3, 4]"),
    (lambda m: m.expand(-1, 3, 4), RuntimeError,
     "The expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension 0"),
    (lambda m: m.expand(4), RuntimeError,
     "the number of sizes provided (1) must be greater or equal to the number of dimensions in "
     "the tensor (2)"),
    (lambda m: probe.zeros(2, 3, 4).t(), RuntimeError,
     "t() expects a tensor with <= 2 dimensions, but self is 3D"),
    (lambda m: m.permute(0), RuntimeError, "input.dim() = 2 is not equal to len(dims) = 1"),
    (lambda m: m.permute(1, 1), RuntimeError, "permute(): duplicate dims are not allowed."),
    (lambda m: m.transpose(0, 2), IndexError,
     "Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    (lambda m: m.unsqueeze(3), IndexError,
     "Dimension out of range (expected to be in range of [-3, 2], but got 3)"),
    (lambda m: m.flatten(1, 0), RuntimeError,
     "flatten() has invalid args: start_dim cannot come after end_dim"),
    (lambda m: m.unflatten(1, (3, 2)), RuntimeError,
     "unflatten: Provided sizes [3, 2] don't multiply up to the size of dim 1 (4) in the input "
     "tensor"),
    (lambda m: m.split(0), RuntimeError,
     "split_size can only be 0 if dimension size is 0, but got dimension size of 3"),
    (lambda m: m.split([1, 1]), RuntimeError,
     "split_with_sizes expects split_sizes to sum exactly to 3 (input tensor's size at dimension "
     "0), but got split_sizes=[1, 1]"),
    (lambda m: m.chunk(0), RuntimeError, "chunk expects `chunks` to be greater than 0, got: 0"),
    (lambda m: m.narrow(0, 2, 2), RuntimeError,
     "start (2) + length (2) exceeds dimension size (3)."),
    (lambda m: probe.zeros(2, 2, 2).diag(), RuntimeError,
     "diag(): Supports 1D or 2D tensors. Got 3D"),
    (lambda m: probe.zeros(2, 2, 2).trace(), RuntimeError,
     "trace: expected a matrix, but got tensor with dim 3"),
    (lambda m: probe.zeros(3).mT, RuntimeError,
     "tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor."),
    (lambda m: m.repeat(2), RuntimeError,
     "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor"),
    (lambda m: m.roll((1, 2), (0,)), RuntimeError,
     "shifts and dimensions must align. shifts: 2, dims:1"),
    (lambda m: m.rot90(1, (0, 0)), RuntimeError,
     "expected rotation dims to be different, but got dim0 = 0 and dim1 = 0"),
    (lambda m: probe.zeros(3).fliplr(), RuntimeError, "Input must be >= 2-d."),
    (lambda m: probe.zeros(3).tril(), RuntimeError,
     "tril: input tensor must have at least 2 dimensions"),
    (lambda m: probe.tensor(1.0).unbind(), IndexError,
     "Dimension specified as 0 but tensor has no dimensions"),
    (lambda m: probe.zeros(5).unfold(0, 6, 1), RuntimeError,
     "maximum size for tensor at dimension 0 is 5 but size is 6"),
    (lambda m: m.movedim((0, 1), (1, 1)), RuntimeError,
     "movedim: repeated dim in `destination` ([1, 1])"),
    (lambda m: m.select(0, 5), IndexError,
     "select(): index 5 out of range for tensor of size [3, 4] at dimension 0"),
    (lambda m: probe.broadcast_tensors(probe.ones(2, 3), probe.ones(4, 3)), RuntimeError,
     "The size of tensor a (2) must match the size of tensor b (4) at non-singleton dimension 0"),
    (lambda m: probe.broadcast_shapes((2, 3), (4, 3)), RuntimeError,
     "Attempting to broadcast a dimension of length 4 at -2! Mismatching argument at index 1 "
     "had (4, 3); but expected shape should be broadcastable to [2, 3]"),
])
def test_error_texts(fn, exc, text):
    with pytest.raises(exc) as info:
        fn(probe.randn(3, 4))
    assert text in str(info.value)


def test_T_warns_on_non_matrices():
    with pytest.warns(UserWarning, match="The use of `x.T` on tensors of dimension other than 2"):
        assert probe.zeros(2, 3, 4).T.shape == (4, 3, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert probe.zeros(2, 3).T.shape == (3, 2)


def test_misc_shapes():
    x = probe.zeros(2, 3, 4)
    assert x.squeeze(0).shape == (2, 3, 4)
    assert probe.zeros(1, 3).squeeze().shape == (3,)
    assert probe.tensor(1.0).flatten().shape == (1,)
    assert probe.tensor(1.0).expand(3).shape == (3,)
    assert probe.atleast_2d(probe.ones(3)).shape == (1, 3)
    assert probe.atleast_3d(probe.ones(3)).shape == (1, 3, 1)
    assert probe.column_stack([probe.ones(3), probe.ones(3, 2)]).shape == (3, 3)
    assert probe.broadcast_shapes((2, 1), (3,), 1) == (2, 3)
    assert [tuple(p.shape) for p in probe.zeros(7).tensor_split([1, 5])] == [(1,), (4,), (2,)]
    assert [tuple(p.shape) for p in probe.zeros(7).tensor_split(3)] == [(3,), (2,), (2,)]
    assert len(probe.zeros(5).chunk(4)) == 3
    assert len(probe.zeros(0).chunk(2)) == 2
    assert x.chunk(3, 1)[0].shape == (2, 1, 4)
    np.testing.assert_array_equal(
        to_np(probe.repeat_interleave(probe.tensor([1, 2]))), [0, 1, 1])
    assert probe.zeros(2, 2, dtype=probe.int32).trace().dtype is probe.int64
    assert probe.zeros(3, 4).diag(1).shape == (3,)
    assert probe.zeros(3).diag(-1).shape == (4, 4)
    assert [int(v) for v in probe.arange(3)] == [0, 1, 2]
    assert x.mT.shape == (2, 4, 3)


def test_iteration_and_reversed():
    t = probe.arange(6).reshape(3, 2)
    rows = list(t)
    assert len(rows) == 3 and rows[1].tolist() == [2, 3]
    assert [r.tolist() for r in reversed(t)] == [[4, 5], [2, 3], [0, 1]]


# ------------------------------------------------------------------ the NumPy namespace
def test_numpy_namespace_functions():
    a = np.arange(24.0).reshape(2, 3, 4)
    x = probe.tensor(a)
    ns = tensor_ns
    checks = [
        (ns.reshape(x, (4, 6)), a.reshape(4, 6)),
        (ns.transpose(x), a.transpose()),
        (ns.transpose(x, (1, 0, 2)), a.transpose(1, 0, 2)),
        (ns.swapaxes(x, 0, 2), a.swapaxes(0, 2)),
        (ns.moveaxis(x, 0, -1), np.moveaxis(a, 0, -1)),
        (ns.expand_dims(x, 1), np.expand_dims(a, 1)),
        (ns.expand_dims(x, (0, 2)), np.expand_dims(a, (0, 2))),
        (ns.squeeze(ns.expand_dims(x, 0)), a),
        (ns.broadcast_to(x[0, 0], (3, 4)), np.broadcast_to(a[0, 0], (3, 4))),
        (ns.concatenate([x, x], axis=1), np.concatenate([a, a], axis=1)),
        (ns.concatenate([x, a], axis=None), np.concatenate([a, a], axis=None)),
        (ns.stack([x, x], axis=3), np.stack([a, a], axis=3)),
        (ns.flip(x), np.flip(a)),
        (ns.flip(x, 1), np.flip(a, 1)),
        (ns.roll(x, 3), np.roll(a, 3)),
        (ns.roll(x, (1, 2), (0, 2)), np.roll(a, (1, 2), (0, 2))),
        (ns.tile(x, (2, 1)), np.tile(a, (2, 1))),
        (ns.repeat(x, 2, axis=1), np.repeat(a, 2, axis=1)),
        (ns.repeat(x, 2), np.repeat(a, 2)),
        (ns.tril(x, -1), np.tril(a, -1)),
        (ns.triu(x), np.triu(a)),
        (ns.diagonal(x, 1, 1, 2), np.diagonal(a, 1, 1, 2)),
        (ns.trace(x[0]), np.trace(a[0])),
        (ns.rot90(x[0]), np.rot90(a[0])),
        (ns.copy(x), a),
        (ns.astype(x, np.float32), a.astype(np.float32)),
        (ns.zeros((2, 3)), np.zeros((2, 3))),
        (ns.ones(3, dtype=np.float32), np.ones(3, np.float32)),
        (ns.full((2,), 7.0), np.full((2,), 7.0)),
        (ns.zeros_like(x), np.zeros_like(a)),
        (ns.ones_like(x, dtype=probe.int64), np.ones_like(a, dtype=np.int64)),
        (ns.eye(3, 4, 1), np.eye(3, 4, 1)),
    ]
    for i, (got, want) in enumerate(checks):
        assert isinstance(got, probe.Tensor), i
        assert to_np(got).dtype == want.dtype, i
        np.testing.assert_array_equal(to_np(got), want, err_msg=str(i))
    parts = ns.split(x, 2, axis=2)
    assert [tuple(p.shape) for p in parts] == [(2, 3, 2), (2, 3, 2)]
    parts = ns.split(x, [1], axis=1)
    assert [tuple(p.shape) for p in parts] == [(2, 1, 4), (2, 2, 4)]
    with pytest.raises(ValueError):
        ns.split(x, 3, axis=2)
    assert ns.ones(3, dtype=np.float32).dtype is probe.float32
    assert ns.zeros(2).dtype is probe.float64  # NumPy's default, as in the array backward


def test_numpy_namespace_is_differentiable():
    x = probe.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = tensor_ns.concatenate([tensor_ns.transpose(x), tensor_ns.flip(x, 0)], axis=0)
    y.backward(probe.ones(4, 2))
    np.testing.assert_array_equal(to_np(x.grad), np.full((2, 2), 2.0))
