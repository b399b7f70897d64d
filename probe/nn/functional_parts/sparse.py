"""Lookup functions of ``probe.nn.functional``: ``embedding``, ``embedding_bag`` and
``one_hot``.

``embedding`` is one op (PyTorch's ``EmbeddingBackward0``): the forward is a ``take`` of weight
rows; the backward scatter-adds the gradient rows into a zeros weight-shaped array with one
``add.at``, through the indexing module's ``index_add_zeros``,
which is itself differentiable under ``create_graph`` (NumPy rows of 64 or more floats take a
sort-based path that measured 2-3x faster than ``add.at``). Gradients are dense (``sparse=True`` is
accepted and gives the same dense gradient).
"""

from __future__ import annotations

import numpy as np

from ...engine.autograd import Op
from ...engine.backend import xp_of
from ...engine.grad_mode import no_grad
from ...engine.ops.indexing import index_add_zeros
from ...engine.tensor import _wrap

__all__ = ["embedding", "embedding_bag", "one_hot"]

_INDEX_KINDS = (np.dtype(np.int64), np.dtype(np.int32))


def _index_type_error(indices, fname):
    name = indices.dtype._legacy_name
    return RuntimeError(
        "Expected tensor for argument #1 'indices' to have one of the following scalar types: "
        f"Long, Int; but got probe.{name} instead (while checking arguments for {fname})"
    )


def _check_bounds(idx, num):
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= num):
        raise IndexError("index out of range in self")


def _padding_index(padding_idx, num):
    if padding_idx is None:
        return -1
    if padding_idx > 0:
        if padding_idx >= num:
            raise AssertionError("Padding_idx must be within num_embeddings")
    elif padding_idx < 0:
        if padding_idx < -num:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx = num + padding_idx
    return int(padding_idx)


def _scatter_rows(g2, idx, num, padding_idx, scale_grad_by_freq, dtype):
    """The weight gradient: rows of ``g2`` summed into a zeros ``(num, D)`` array at ``idx``,
    leaving out ``padding_idx`` and (optionally) divided by each index's frequency."""
    ixp = xp_of(idx)
    if scale_grad_by_freq:
        counts = ixp.bincount(idx, minlength=num)
        g2 = g2 * (1.0 / counts[idx]).astype(dtype).reshape((-1, 1))
    if padding_idx >= 0:
        keep = idx != padding_idx
        if not bool(keep.all()):
            pos = ixp.nonzero(keep)[0]
            g2 = g2[pos]
            idx = idx[pos]
    if g2.__class__ is np.ndarray and g2.shape[1] >= _WIDE_ROWS:
        return _sum_rows_numpy(g2, idx, num)
    return index_add_zeros(g2, (num, g2.shape[-1]), 0, idx)


# For rows this wide, sorting the indices once pays: NumPy's add.at walks row by row
# (measured 3x slower for 4096 rows of 256 floats, mostly-unique or heavily repeated alike).
_WIDE_ROWS = 64


def _sum_rows_numpy(g2, idx, num):
    """Zeros ``(num, D)`` with the rows of ``g2`` summed at ``idx`` (NumPy arrays): unique
    indices are one scatter; a few repeats are added afterwards with ``add.at``; many repeats
    are summed per run of the sorted indices with ``reduceat`` on the transposed rows."""
    n, d = g2.shape
    out = np.zeros((num, d), dtype=g2.dtype)
    if n == 0:
        return out
    order = np.argsort(idx, kind="stable")
    ordered = idx[order]
    head = np.empty(n, dtype=bool)
    head[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=head[1:])
    starts = np.flatnonzero(head)
    rows = ordered[starts]
    if rows.shape[0] == n:
        out[idx] = g2
    elif (n - rows.shape[0]) * 4 <= n:
        first = order[starts]
        out[rows] = g2[first]
        rest = np.ones(n, dtype=bool)
        rest[first] = False
        np.add.at(out, idx[rest], g2[rest])
    else:
        out[rows] = np.add.reduceat(np.ascontiguousarray(g2[order].T), starts, axis=1).T
    return out


class _Embedding(Op):
    """``weight[indices]``; the index array is a plain parameter (it gets no gradient edge)."""

    node_name = "EmbeddingBackward0"

    @staticmethod
    def forward(ctx, weight, indices, padding_idx, scale_grad_by_freq):
        if ctx.recording:
            ctx.indices = indices
            ctx.num = weight.shape[0]
            ctx.dtype = weight.dtype
            ctx.padding_idx = padding_idx
            ctx.scale_grad_by_freq = scale_grad_by_freq
        return ctx.xp.take(weight, indices, axis=0)

    @staticmethod
    def backward(ctx, g):
        d = g.shape[-1]
        return (_scatter_rows(g.reshape((-1, d)), ctx.indices.reshape(-1), ctx.num,
                              ctx.padding_idx, ctx.scale_grad_by_freq, ctx.dtype),)


def _renorm_rows(weight, idx, max_norm, norm_type):
    """Rescale in place the rows of ``weight`` that ``idx`` uses whose ``norm_type``-norm
    exceeds ``max_norm`` (PyTorch's ``embedding_renorm_``)."""
    xp = weight._device.xp
    rows = xp.unique(idx.reshape(-1))
    if rows.size == 0:
        return
    with no_grad():
        data = weight._data
        sub = data[rows]
        norms = xp.linalg.norm(sub.astype(np.float64), ord=norm_type, axis=1)
        scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        data[rows] = (sub * scale.reshape(-1, 1)).astype(data.dtype)
        weight._vc[0] += 1


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    """Rows of ``weight`` picked by the integer ``input``: output shape ``input.shape + (D,)``.

    ``padding_idx`` rows get no gradient; ``max_norm`` renormalises the used rows in place;
    ``scale_grad_by_freq`` divides each row's gradient by its frequency in ``input``.

    >>> import probe
    >>> w = probe.arange(6.0).reshape(3, 2)
    >>> probe.nn.functional.embedding(probe.tensor([2, 0]), w).tolist()
    [[4.0, 5.0], [0.0, 1.0]]
    """
    idx = input._data
    w = weight._data
    if idx.dtype not in _INDEX_KINDS:
        raise _index_type_error(input, "embedding")
    if w.ndim != 2:
        raise RuntimeError("'weight' must be 2-D")
    if input._device != weight._device:
        raise RuntimeError(
            "Expected all tensors to be on the same device, but found at least two devices, "
            f"{weight._device} and {input._device}!"
        )
    num = w.shape[0]
    padding_idx = _padding_index(padding_idx, num)
    _check_bounds(idx, num)
    if max_norm is not None:
        _renorm_rows(weight, idx, max_norm, norm_type)
    return _Embedding.apply(weight, idx, padding_idx, bool(scale_grad_by_freq))


# ---------------------------------------------------------------------------------------------
# embedding_bag
# ---------------------------------------------------------------------------------------------

class _EmbeddingBag(Op):
    """Sum, mean or max of the weight rows of each bag (``bag_of[t]`` is token t's bag)."""

    node_name = "EmbeddingBagBackward0"

    @staticmethod
    def forward(ctx, weight, psw, idx, bag_of, nbags, mode, padding_idx, scale_grad_by_freq):
        xp = ctx.xp
        d = weight.shape[1]
        if padding_idx >= 0:
            keep = idx != padding_idx
            if not bool(keep.all()):
                pos = xp.nonzero(keep)[0]
                idx, bag_of = idx[pos], bag_of[pos]
                psw = psw[pos] if psw is not None else None
        rows = xp.take(weight, idx, axis=0)
        counts = xp.bincount(bag_of, minlength=nbags)
        if mode == "max":
            out, arg = _bag_max(xp, rows, bag_of, counts, nbags)
        else:
            if psw is not None:
                rows = rows * psw.reshape((-1, 1))
            out = xp.zeros((nbags, d), dtype=weight.dtype)
            xp.add.at(out, bag_of, rows)
            if mode == "mean":
                out /= xp.maximum(counts, 1).astype(out.dtype).reshape((-1, 1))
            arg = None
        if ctx.recording:
            ctx.idx, ctx.bag_of, ctx.counts, ctx.arg = idx, bag_of, counts, arg
            ctx.num = weight.shape[0]
            ctx.mode = mode
            ctx.dtype = weight.dtype
            ctx.scale = scale_grad_by_freq
            ctx.save_for_backward(weight if ctx.needs_input_grad[1] else None,
                                  psw if ctx.needs_input_grad[0] else None)
        return out

    @staticmethod
    def backward(ctx, g):
        weight, psw = ctx.saved
        need = ctx.needs_input_grad
        idx, bag_of = ctx.idx, ctx.bag_of
        ixp = xp_of(idx)
        d = g.shape[1]
        gw = gp = None
        if ctx.mode == "max":
            if need[0]:
                from ...engine.ops.indexing import _IndexPutAcc  # noqa: PLC0415
                from ...engine.ops.shape import _run  # noqa: PLC0415

                arg = ctx.arg
                filled = ctx.counts > 0
                if not bool(filled.all()):
                    bags = ixp.nonzero(filled)[0]
                    arg, g = arg[bags], g[bags]
                cols = ixp.arange(d).reshape((1, -1))
                gw = _run(_IndexPutAcc, g, (ctx.num, d), (idx[arg], cols))
            return gw, None
        g_tok = g[bag_of]
        if need[0]:
            gt = g_tok
            if ctx.mode == "mean":
                inv = (1.0 / ixp.maximum(ctx.counts, 1)).astype(ctx.dtype)
                gt = gt * inv[bag_of].reshape((-1, 1))
            if psw is not None:
                gt = gt * psw.reshape((-1, 1))
            gw = _scatter_rows(gt, idx, ctx.num, -1, ctx.scale, ctx.dtype)
        if len(need) > 1 and need[1]:
            gp = ctx.xp.sum(g_tok * weight[idx], axis=1)
        return gw, gp


def _bag_max(xp, rows, bag_of, counts, nbags):
    """Per-bag, per-column maxima of ``rows`` and the token index attaining each (first one);
    empty bags give zeros."""
    d = rows.shape[1]
    longest = int(counts.max()) if counts.size else 0
    starts = xp.cumsum(counts) - counts
    slot = xp.arange(bag_of.shape[0]) - starts[bag_of]
    dense = xp.full((nbags, max(longest, 1), d), -xp.inf, dtype=rows.dtype)
    dense[bag_of, slot] = rows
    where = xp.argmax(dense, axis=1)
    out = xp.take_along_axis(dense, where.reshape((nbags, 1, d)), axis=1).reshape((nbags, d))
    out[counts == 0] = 0
    token = starts.reshape((-1, 1)) + where
    return out, xp.minimum(token, max(bag_of.shape[0] - 1, 0))


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False,
                  mode="mean", sparse=False, per_sample_weights=None, include_last_offset=False,
                  padding_idx=None):
    """Sums, means or maxima of bags of embeddings without materialising the per-token rows'
    graph: a 2-D ``input`` holds one bag per row; a 1-D ``input`` is split into bags at
    ``offsets``."""
    idx = input._data
    w = weight._data
    if idx.dtype not in _INDEX_KINDS:
        raise _index_type_error(input, "embedding_bag")
    if w.ndim != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension {w.ndim}")
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"mode has to be one of sum, mean or max, but got {mode}")
    xp = weight._device.xp
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated "
                             "is a mini-batch of fixed length sequences. However, found offsets "
                             f"of type {type(offsets)}")
        nbags, length = idx.shape
        bag_of = xp.repeat(xp.arange(nbags), length)
        idx = idx.reshape(-1)
    elif idx.ndim == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        off = offsets._data
        if off.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor")
        if include_last_offset:
            off = off[:-1]
        nbags = off.shape[0]
        if nbags and (int(off[0]) != 0):
            raise RuntimeError(f"offsets[0] has to be 0, i.e., the first sequence in the "
                               f"mini-batch has to start from position 0. However, got "
                               f"{int(off[0])}")
        # each token's bag: the last offset at or before its position
        bag_of = xp.searchsorted(off, xp.arange(idx.shape[0]), side="right") - 1
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension "
                         f"{idx.ndim}")
    psw = None
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(
                "embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
                "GitHub."
            )
        if tuple(per_sample_weights._data.shape) != tuple(input._data.shape):
            raise ValueError(
                f"embedding_bag: If per_sample_weights ({list(per_sample_weights.shape)}) is not "
                f"None, then it must have the same shape as the input ({list(input.shape)})"
            )
        psw = per_sample_weights
    num = w.shape[0]
    if padding_idx is not None and not -num <= padding_idx < num:
        raise RuntimeError(f"padding_idx must be within the number of embeddings, -{num} through "
                           f"{num - 1}, but got {padding_idx}")
    padding_idx = _padding_index(padding_idx, num)
    _check_bounds(idx, num)
    if max_norm is not None:
        _renorm_rows(weight, idx, max_norm, norm_type)
    if psw is not None and psw._data.ndim != 1:
        psw = psw.reshape(-1)
    return _EmbeddingBag.apply(weight, psw, idx, bag_of, int(nbags), mode, padding_idx,
                               bool(scale_grad_by_freq))


# ---------------------------------------------------------------------------------------------
# one_hot
# ---------------------------------------------------------------------------------------------

def one_hot(tensor, num_classes=-1):
    """int64 one-hot encoding: ``one_hot(t)[..., i] == (t == i)``.

    >>> import probe
    >>> probe.nn.functional.one_hot(probe.tensor([0, 2]), 3).tolist()
    [[1, 0, 0], [0, 0, 1]]
    """
    idx = tensor._data
    if idx.dtype != np.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    xp = tensor._device.xp
    if idx.size:
        if int(idx.min()) < 0:
            raise RuntimeError("Class values must be non-negative.")
        if num_classes == -1:
            num_classes = int(idx.max()) + 1
        elif int(idx.max()) >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    elif num_classes == -1:
        raise RuntimeError("Can not infer total number of classes from empty tensor.")
    out = xp.zeros((idx.size, num_classes), dtype=np.int64)
    if idx.size:
        out[xp.arange(idx.size), idx.reshape(-1)] = 1
    return _wrap(out.reshape(idx.shape + (num_classes,)), tensor._device)
