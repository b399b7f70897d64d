"""Parity of probe's shape and view ops with PyTorch: values, dtypes, grad_fn names and
gradients, in float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest

import probe

torch = pytest.importorskip("torch")

from harness import assert_same_error, compare, probe_text  # noqa: E402


def _compare(fn, shapes, dtype_name, seed=0, int_arrays=()):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes] + [np.asarray(a) for a in int_arrays]
    compare(fn, arrays, dtype_name)


CASES = {
    "view": (lambda L, x: x.view(6, 4), [(2, 3, 4)]),
    "view_infer": (lambda L, x: x.view(-1, 3), [(2, 3, 4)]),
    "view_then_view": (lambda L, x: x.view(4, 6).view(24), [(2, 3, 4)]),
    "reshape": (lambda L, x: x.reshape(3, 8), [(2, 3, 4)]),
    "reshape_copy": (lambda L, x: x.transpose(0, 2).reshape(-1), [(2, 3, 4)]),
    "reshape_fn": (lambda L, x: L.reshape(x, (4, -1)), [(2, 3, 4)]),
    "view_as": (lambda L, x: x.view_as(L.zeros(4, 6)), [(2, 3, 4)]),
    "reshape_as": (lambda L, x: x.t().reshape_as(L.zeros(12)), [(3, 4)]),
    "flatten": (lambda L, x: x.flatten(), [(2, 3, 4)]),
    "flatten_mid": (lambda L, x: x.flatten(1, 2), [(2, 3, 4, 5)]),
    "flatten_noncontig": (lambda L, x: x.permute(2, 1, 0).flatten(1), [(2, 3, 4)]),
    "flatten_0d": (lambda L, x: x[0, 0].flatten(), [(2, 3)]),
    "unflatten": (lambda L, x: x.unflatten(1, (2, -1)), [(3, 8)]),
    "permute": (lambda L, x: x.permute(2, 0, 1), [(2, 3, 4)]),
    "permute_neg": (lambda L, x: x.permute(-1, 0, 1), [(2, 3, 4)]),
    "transpose": (lambda L, x: x.transpose(1, 2), [(2, 3, 4)]),
    "swapaxes": (lambda L, x: L.swapaxes(x, 0, -1), [(2, 3, 4)]),
    "t": (lambda L, x: x.t(), [(3, 4)]),
    "t_1d": (lambda L, x: x.t(), [(5,)]),
    "T": (lambda L, x: x.T, [(3, 4)]),
    "mT": (lambda L, x: x.mT, [(2, 3, 4)]),
    "mH": (lambda L, x: x.mH, [(2, 3, 4)]),
    "H": (lambda L, x: x.H, [(3, 4)]),
    "adjoint": (lambda L, x: L.adjoint(x), [(2, 3, 4)]),
    "squeeze": (lambda L, x: x.squeeze(), [(1, 3, 1, 2)]),
    "squeeze_dim": (lambda L, x: x.squeeze(2), [(1, 3, 1, 2)]),
    "squeeze_dims": (lambda L, x: x.squeeze((0, 1)), [(1, 3, 1, 2)]),
    "squeeze_noop": (lambda L, x: x.squeeze(1), [(1, 3, 1, 2)]),
    "unsqueeze": (lambda L, x: x.unsqueeze(1), [(3, 4)]),
    "unsqueeze_last": (lambda L, x: L.unsqueeze(x, -1), [(3, 4)]),
    "expand": (lambda L, x: x.expand(2, 3, 4), [(3, 1)]),
    "expand_neg": (lambda L, x: x.expand(5, -1, 4), [(3, 1)]),
    "expand_as": (lambda L, x: x.expand_as(L.zeros(2, 3, 4)), [(4,)]),
    "broadcast_to": (lambda L, x: L.broadcast_to(x, (3, 2, 4)), [(2, 1)]),
    "broadcast_tensors": (lambda L, a, b: L.broadcast_tensors(a, b), [(3, 1), (1, 4)]),
    "cat": (lambda L, a, b: L.cat([a, b, a]), [(2, 3), (1, 3)]),
    "cat_dim1": (lambda L, a, b: L.cat((a, b), dim=1), [(2, 3), (2, 5)]),
    "cat_neg": (lambda L, a, b: L.cat([a, b], -1), [(2, 3), (2, 1)]),
    "cat_mixed_dtype": (lambda L, a: L.cat([a, L.ones(1, 3, dtype=L.int64)]), [(2, 3)]),
    "cat_f64": (lambda L, a: L.cat([a, L.ones(1, 3, dtype=L.float64)]), [(2, 3)]),
    "cat_legacy_empty": (lambda L, a: L.cat([a, L.zeros(0)]), [(2, 3)]),
    "concat": (lambda L, a, b: L.concat([a, b]), [(2, 3), (2, 3)]),
    "stack": (lambda L, a, b: L.stack([a, b]), [(2, 3), (2, 3)]),
    "stack_last": (lambda L, a, b: L.stack((a, b), dim=-1), [(2, 3), (2, 3)]),
    "hstack": (lambda L, a, b: L.hstack([a, b]), [(2, 3), (2, 1)]),
    "hstack_1d": (lambda L, a, b: L.hstack([a, b]), [(3,), (2,)]),
    "vstack": (lambda L, a, b: L.vstack([a, b]), [(3,), (2, 3)]),
    "dstack": (lambda L, a, b: L.dstack([a, b]), [(2, 3), (2, 3)]),
    "column_stack": (lambda L, a, b: L.column_stack([a, b]), [(3,), (3, 2)]),
    "split": (lambda L, x: x.split(2), [(5, 3)]),
    "split_dim": (lambda L, x: L.split(x, 2, dim=1), [(3, 5)]),
    "split_sizes": (lambda L, x: x.split([1, 3, 1]), [(5, 3)]),
    "split_partial": (lambda L, x: x.split(2)[1], [(5, 3)]),
    "chunk": (lambda L, x: x.chunk(3), [(5, 3)]),
    "chunk_dim": (lambda L, x: x.chunk(2, 1), [(5, 3)]),
    "tensor_split": (lambda L, x: x.tensor_split(3), [(7, 2)]),
    "tensor_split_idx": (lambda L, x: x.tensor_split([1, 4], dim=1), [(2, 6)]),
    "unbind": (lambda L, x: x.unbind(), [(3, 2)]),
    "unbind_dim": (lambda L, x: L.unbind(x, 1), [(3, 2)]),
    "narrow": (lambda L, x: x.narrow(1, 1, 2), [(3, 4)]),
    "narrow_neg": (lambda L, x: x.narrow(0, -2, 2), [(3, 4)]),
    "select": (lambda L, x: x.select(1, 2), [(3, 4)]),
    "movedim": (lambda L, x: x.movedim(0, 2), [(2, 3, 4)]),
    "moveaxis_multi": (lambda L, x: L.moveaxis(x, (0, 2), (2, 0)), [(2, 3, 4)]),
    "flip": (lambda L, x: x.flip(0), [(3, 4)]),
    "flip_dims": (lambda L, x: L.flip(x, (0, 2)), [(2, 3, 4)]),
    "fliplr": (lambda L, x: x.fliplr(), [(3, 4)]),
    "flipud": (lambda L, x: L.flipud(x), [(3, 4)]),
    "roll": (lambda L, x: x.roll(3), [(3, 4)]),
    "roll_dim": (lambda L, x: x.roll(1, 0), [(3, 4)]),
    "roll_dims": (lambda L, x: L.roll(x, (1, -2), (0, 1)), [(3, 4)]),
    "rot90": (lambda L, x: x.rot90(), [(3, 4)]),
    "rot90_k3": (lambda L, x: L.rot90(x, 3, (1, 2)), [(2, 3, 4)]),
    "rot90_neg": (lambda L, x: x.rot90(-1), [(3, 4)]),
    "repeat": (lambda L, x: x.repeat(2, 3), [(2, 3)]),
    "repeat_more_dims": (lambda L, x: x.repeat(2, 1, 2), [(2, 3)]),
    "tile": (lambda L, x: x.tile((2,)), [(2, 3)]),
    "tile_more": (lambda L, x: L.tile(x, (2, 1, 1)), [(2, 3)]),
    "repeat_interleave": (lambda L, x: x.repeat_interleave(2), [(2, 3)]),
    "repeat_interleave_dim": (lambda L, x: x.repeat_interleave(3, dim=1), [(2, 3)]),
    "repeat_interleave_tensor": (
        lambda L, x: x.repeat_interleave(L.tensor([2, 0, 1]), dim=0), [(3, 2)]),
    "tril": (lambda L, x: x.tril(), [(4, 4)]),
    "tril_k": (lambda L, x: L.tril(x, -1), [(2, 3, 4)]),
    "triu": (lambda L, x: x.triu(1), [(4, 3)]),
    "triu_neg": (lambda L, x: L.triu(x, -2), [(4, 3)]),
    "diagonal": (lambda L, x: x.diagonal(), [(3, 4)]),
    "diagonal_offset": (lambda L, x: L.diagonal(x, 1, 1, 2), [(2, 3, 4)]),
    "diagonal_neg": (lambda L, x: x.diagonal(-1), [(4, 3)]),
    "diag_1d": (lambda L, x: x.diag(), [(3,)]),
    "diag_1d_off": (lambda L, x: L.diag(x, -1), [(3,)]),
    "diag_2d": (lambda L, x: x.diag(1), [(3, 4)]),
    "diag_embed": (lambda L, x: x.diag_embed(), [(2, 3)]),
    "diag_embed_off": (lambda L, x: L.diag_embed(x, 1, 0, 2), [(2, 3)]),
    "trace": (lambda L, x: x.trace(), [(3, 4)]),
    "as_strided": (lambda L, x: x.as_strided((2, 2), (1, 2), 1), [(3, 4)]),
    "unfold": (lambda L, x: x.unfold(0, 3, 2), [(7,)]),
    "unfold_2d": (lambda L, x: x.unfold(1, 2, 1), [(3, 5)]),
    "atleast_2d": (lambda L, x: L.atleast_2d(x), [(3,)]),
    "atleast_3d": (lambda L, x: L.atleast_3d(x), [(2, 3)]),
    "chain": (lambda L, x: x.t().unsqueeze(0).expand(2, 4, 3).flip(1).reshape(8, 3)[1:],
              [(3, 4)]),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_shape_parity(name, dtype):
    fn, shapes = CASES[name]
    _compare(fn, shapes, dtype, seed=len(name))


def test_int_and_bool_dtypes_kept():
    for lib_dtype in ("int32", "int64", "bool", "uint8"):
        a = (np.arange(12).reshape(3, 4) % 3).astype(lib_dtype if lib_dtype != "bool" else bool)
        for fn in (lambda L, x: x.t().reshape(-1), lambda L, x: L.cat([x, x]),
                   lambda L, x: L.stack([x, x], 1), lambda L, x: x.flip(1),
                   lambda L, x: x.repeat(2, 1), lambda L, x: x.tril(),
                   lambda L, x: x.expand(2, 3, 4), lambda L, x: x.roll(1)):
            got = fn(probe, probe.tensor(a))
            want = fn(torch, torch.tensor(a))
            assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
            np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("fn", [
    lambda L: L.zeros(3, 4).t().view(-1),
    lambda L: L.zeros(6).reshape(4, 2),
    lambda L: L.zeros(3, 4).reshape(-1, -1),
    lambda L: L.cat([L.zeros(3, 4), L.zeros(3, 5)]),
    lambda L: L.cat([L.zeros(3, 4), L.zeros(3)]),
    lambda L: L.stack([L.zeros(3, 4), L.zeros(3, 5)]),
    lambda L: L.zeros(3, 4).expand(2, 5),
    lambda L: L.zeros(3, 4).expand(-1, 3, 4),
    lambda L: L.zeros(2, 3, 4).t(),
    lambda L: L.zeros(3, 4).permute(1, 1),
    lambda L: L.zeros(3, 4).transpose(0, 2),
    lambda L: L.zeros(3, 4).flatten(1, 0),
    lambda L: L.zeros(3, 4).unflatten(1, (3, 2)),
    lambda L: L.zeros(3, 4).split([1, 1]),
    lambda L: L.zeros(3, 4).chunk(0),
    lambda L: L.zeros(3, 4).narrow(0, 2, 2),
    lambda L: L.zeros(2, 2, 2).diag(),
    lambda L: L.zeros(2, 2, 2).trace(),
    lambda L: L.zeros(3, 4).repeat(2),
    lambda L: L.zeros(3, 4).roll((1, 2), (0,)),
    lambda L: L.zeros(3).tril(),
    lambda L: L.zeros(5).unfold(0, 6, 1),
    lambda L: L.zeros(3, 4).movedim((0, 1), (1, 1)),
    lambda L: L.broadcast_tensors(L.ones(2, 3), L.ones(4, 3)),
    lambda L: L.ones(4).expand(3, 4).add_(1),
])
def test_error_parity(fn):
    # probe's cat() messages name torch.cat(), as PyTorch's own do.
    assert_same_error(fn, text=lambda want: probe_text(want).replace("probe.cat()",
                                                                     "torch.cat()"))


def test_view_semantics_parity():
    for lib in (probe, torch):
        base = lib.zeros(2, 3)
        v = base.view(6)
        v.mul_(2)
        v[1] = 4.0
        base.t()[2, 1] = 5.0
        assert base._version == 3 and v._version == 3
        assert base.tolist() == [[0, 4, 0], [0, 0, 5]]
