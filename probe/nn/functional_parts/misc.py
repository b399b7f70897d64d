"""Padding, resampling and distances: ``pad``, ``interpolate`` (nearest, nearest-exact, linear,
bilinear, area), ``upsample*``, ``pixel_shuffle``/``pixel_unshuffle``, ``cosine_similarity`` and
``pairwise_distance``.

Padding and resampling are linear maps that act on one axis at a time: the forward gathers along
each padded/resized axis (a ``take`` per axis), the backward sums the gradient back along the
same axes. Each op comes with its adjoint as a second op; under ``create_graph=True`` one calls
the other, so every order of derivative works.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ...engine.autograd import Op
from ...engine.grad_mode import no_grad
from ...engine.tensor import Tensor

__all__ = [
    "cosine_similarity", "interpolate", "pad", "pairwise_distance", "pixel_shuffle",
    "pixel_unshuffle", "upsample", "upsample_bilinear", "upsample_nearest",
]

_INT64 = np.int64


def _index(ndim, axis, idx):
    return (slice(None),) * (axis % ndim) + (idx,)


# ---------------------------------------------------------------------------------------------
# Constant padding
# ---------------------------------------------------------------------------------------------

def _constant_pad(xp, x, pads, value):
    """``pads`` = ((lo, hi), ...) for the last ``len(pads)`` axes; negative values crop."""
    nd = x.ndim
    k = len(pads)
    shape = list(x.shape)
    src = [slice(None)] * nd
    dst = [slice(None)] * nd
    for i, (lo, hi) in enumerate(pads):
        ax = nd - k + i
        size = shape[ax]
        new = size + lo + hi
        shape[ax] = new
        src[ax] = slice(max(-lo, 0), size - max(-hi, 0))
        dst[ax] = slice(max(lo, 0), new - max(hi, 0))
    out = xp.full(tuple(shape), value, dtype=x.dtype)
    if all(s.start < s.stop for s in src[nd - k:]) and all(
            d.start < d.stop for d in dst[nd - k:]):
        out[tuple(dst)] = x[tuple(src)]
    return out


class _ConstantPad(Op):
    node_name = "ConstantPadNdBackward0"

    @staticmethod
    def forward(ctx, x, pads, value):
        if ctx.recording:
            ctx.pads = pads
        return _constant_pad(ctx.xp, x, pads, value)

    @staticmethod
    def backward(ctx, g):
        # The adjoint of padding by ``pads`` is padding by ``-pads`` (cropping) with zeros.
        neg = tuple((-lo, -hi) for lo, hi in ctx.pads)
        if isinstance(g, Tensor):
            return (_ConstantPad.apply(g, neg, 0),)
        return (_constant_pad(ctx.xp, g, neg, 0),)


# ---------------------------------------------------------------------------------------------
# Reflect / replicate / circular padding: a gather along each padded axis
# ---------------------------------------------------------------------------------------------

def _pad_index(mode, size, lo, hi):
    """Source positions of every output position along one axis."""
    if mode == "circular":
        # PyTorch crops first, then wraps around what is left.
        a, b = max(-lo, 0), size - max(-hi, 0)
        n = b - a
        pos = np.arange(-max(lo, 0), n + max(hi, 0), dtype=_INT64)
        return pos % n + a if n > 0 else pos[:0]
    pos = np.arange(-lo, size + hi, dtype=_INT64)
    if mode == "reflect":
        pos = np.where(pos < 0, -pos, pos)
        return np.where(pos >= size, 2 * (size - 1) - pos, pos)
    return np.clip(pos, 0, size - 1)


def _gather_pad(xp, x, indices):
    nd = x.ndim
    k = len(indices)
    for i, idx in enumerate(indices):
        ax = nd - k + i
        if idx.shape[0] == x.shape[ax] and (idx == np.arange(x.shape[ax])).all():
            continue
        x = xp.take(x, xp.asarray(idx), axis=ax)
    return x


def _scatter_axis(xp, g, idx, size, axis):
    """Sum ``g`` along ``axis`` into ``size`` positions: position ``idx[t]`` receives ``g[t]``.
    The identity run is one slice copy; the (narrow) borders are added one column each."""
    nd = g.ndim
    n = idx.shape[0]
    if n == size and (idx == np.arange(size)).all():
        return g
    shape = list(g.shape)
    shape[axis] = size
    out = xp.zeros(tuple(shape), dtype=g.dtype)
    # The longest run where idx[t] = idx[t0] + (t - t0): copied with one slice.
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    starts = np.concatenate(([0], breaks))
    lengths = np.concatenate((breaks, [n])) - starts
    best = int(np.argmax(lengths)) if n else 0
    best_start, best_len = (int(starts[best]), int(lengths[best])) if n else (0, 0)
    if n:
        s0 = int(idx[best_start])
        out[_index(nd, axis, slice(s0, s0 + best_len))] = \
            g[_index(nd, axis, slice(best_start, best_start + best_len))]
    for t in range(n):
        if best_start <= t < best_start + best_len:
            continue
        out[_index(nd, axis, int(idx[t]))] += g[_index(nd, axis, t)]
    return out


def _scatter_pad(xp, g, indices, sizes):
    nd = g.ndim
    k = len(indices)
    for i in range(k - 1, -1, -1):
        g = _scatter_axis(xp, g, indices[i], sizes[i], nd - k + i)
    return g


class _IndexPad(Op):
    """Padding by gathering (reflect, replicate, circular); subclasses set PyTorch's names."""

    @staticmethod
    def forward(ctx, x, indices):
        if ctx.recording:
            ctx.indices = indices
            ctx.sizes = x.shape[x.ndim - len(indices):]
        return _gather_pad(ctx.xp, x, indices)

    @staticmethod
    def backward(ctx, g):
        if isinstance(g, Tensor):
            return (_IndexPadAdjoint.apply(g, ctx.indices, ctx.sizes, type(ctx)),)
        return (_scatter_pad(ctx.xp, g, ctx.indices, ctx.sizes),)


class _IndexPadAdjoint(Op):
    node_name = "PadBackwardBackward0"

    @staticmethod
    def forward(ctx, g, indices, sizes, op):
        if ctx.recording:
            ctx.indices = indices
            ctx.op = op
        return _scatter_pad(ctx.xp, g, indices, sizes)

    @staticmethod
    def backward(ctx, u):
        if isinstance(u, Tensor):
            return (ctx.op.apply(u, ctx.indices),)
        return (_gather_pad(ctx.xp, u, ctx.indices),)


def _pad_op(prefix, k):
    return type(f"_{prefix}{k}d", (_IndexPad,), {"node_name": f"{prefix}{k}DBackward0"})


_PAD_OPS = {
    ("reflect", k): _pad_op("ReflectionPad", k) for k in (1, 2, 3)
} | {
    ("replicate", k): _pad_op("ReplicationPad", k) for k in (1, 2, 3)
} | {
    ("circular", k): type(f"_Circular{k}d", (_IndexPad,), {"node_name": "CopySlices"})
    for k in (1, 2, 3)
}

_NON_CONSTANT_HELP = (
    "Supported combinations for non-constant padding:\n"
    "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
    "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
    "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)"
)


def pad(input, pad, mode="constant", value=None):
    """Pad the last dimensions; ``pad`` lists ``(left, right)`` of the last dimension first, then
    ``(top, bottom)`` of the one before, and so on. Modes: ``"constant"`` (with ``value``,
    negative sizes crop), ``"reflect"``, ``"replicate"``, ``"circular"``.

    >>> import probe
    >>> from probe.nn.functional_parts.misc import pad
    >>> pad(probe.tensor([[1.0, 2.0, 3.0]]), (2, 1), mode="reflect").tolist()
    [[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    k = len(pad) // 2
    nd = input.ndim
    if k > nd:
        raise RuntimeError(
            "Padding length should be less than or equal to two times the input dimension but "
            f"got padding length {len(pad)} and input of dimension {nd}")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    # Pairs in axis order: the tuple lists the last axis first.
    pairs = tuple((pad[2 * (k - 1 - i)], pad[2 * (k - 1 - i) + 1]) for i in range(k))
    shape = tuple(input.shape)
    if mode == "constant":
        for i, (lo, hi) in enumerate(pairs):
            if shape[nd - k + i] + lo + hi < 0:
                new = list(shape)
                for j, (a, b) in enumerate(pairs):
                    new[nd - k + j] = shape[nd - k + j] + a + b
                raise RuntimeError(
                    f"The input size {shape[nd - k + i]}, plus negative padding {lo} and {hi} "
                    f"resulted in a negative output size, which is invalid. Check dimension "
                    f"{nd - k + i} of your input.")
        return _ConstantPad.apply(input, pairs, 0 if value is None else value)
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    if k not in (1, 2, 3) or nd not in (k + 1, k + 2):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {nd}D input tensor.\n"
            + _NON_CONSTANT_HELP)
    sizes = shape[nd - k:]
    if mode == "reflect":
        for i, ((lo, hi), size) in enumerate(zip(pairs, sizes, strict=True)):
            if lo >= size or hi >= size:
                arg = 2 * (k - i) + 2
                raise RuntimeError(
                    f"Argument #{arg}: Padding size should be less than the corresponding input "
                    f"dimension, but got: padding ({lo}, {hi}) at dimension {nd - k + i} of "
                    f"input {list(shape)}")
    if mode == "circular":
        for (lo, hi), size in zip(pairs, sizes, strict=True):
            if lo > size or hi > size:
                raise RuntimeError("Padding value causes wrapping around more than once.")
    else:
        outs = [s + lo + hi for s, (lo, hi) in zip(sizes, pairs, strict=True)]
        if any(o < 1 for o in outs):
            names = ("D", "H", "W")[3 - k:]
            ins = ", ".join(f"{n}: {s}" for n, s in zip(names, sizes, strict=True))
            calc = " ".join(f"{n}: {o}" for n, o in zip(names, outs, strict=True))
            raise RuntimeError(f"input ({ins}) is too small. Calculated output {calc}")
    indices = tuple(_pad_index(mode, size, lo, hi)
                    for size, (lo, hi) in zip(sizes, pairs, strict=True))
    return _PAD_OPS[mode, k].apply(input, indices)


# ---------------------------------------------------------------------------------------------
# Resampling: per axis, out[t] = sum_j w_j[t] * in[idx_j[t]]
# ---------------------------------------------------------------------------------------------

def _segment_sum(xp, vals, idx, size, axis):
    """Sum ``vals`` along ``axis`` into ``size`` positions by the non-decreasing ``idx``."""
    nd = vals.ndim
    n = idx.shape[0]
    if n == size and (idx == np.arange(size)).all():
        return vals
    if xp is np and n:
        starts = np.searchsorted(idx, np.arange(size))
        ends = np.searchsorted(idx, np.arange(size), side="right")
        filled = np.flatnonzero(starts < ends)
        # Each non-empty run ends where the next non-empty one starts (or at the end).
        sums = np.add.reduceat(vals, starts[filled], axis=axis)
        if filled.shape[0] == size:
            return sums
        shape = list(vals.shape)
        shape[axis] = size
        out = np.zeros(tuple(shape), dtype=vals.dtype)
        out[_index(nd, axis, filled)] = sums
        return out
    # Other backends: a one-hot matrix product along the axis (a GEMM on the GPU).
    onehot = np.zeros((n, size), dtype=vals.dtype)
    onehot[np.arange(n), idx] = 1
    moved = xp.moveaxis(vals, axis, -1)
    return xp.moveaxis(moved @ xp.asarray(onehot), -1, axis)


def _resample(xp, x, plan):
    """Apply ``plan`` (per axis: (axis, [(idx, weights or None), ...], in_size))."""
    for axis, terms, _ in plan:
        nd = x.ndim
        total = None
        for idx, w in terms:
            part = xp.take(x, xp.asarray(idx), axis=axis)
            if w is not None:
                shape = [1] * nd
                shape[axis] = w.shape[0]
                part = part * xp.asarray(w.astype(x.dtype, copy=False)).reshape(shape)
            total = part if total is None else total + part
        x = total
    return x


def _resample_adjoint(xp, g, plan):
    for axis, terms, size in reversed(plan):
        nd = g.ndim
        total = None
        for idx, w in terms:
            part = g
            if w is not None:
                shape = [1] * nd
                shape[axis] = w.shape[0]
                part = g * xp.asarray(w.astype(g.dtype, copy=False)).reshape(shape)
            part = _segment_sum(xp, part, idx, size, axis)
            total = part if total is None else total + part
        g = total
    return g


class _Resample(Op):
    """Nearest/linear resampling; subclasses carry PyTorch's grad_fn names."""

    @staticmethod
    def forward(ctx, x, plan):
        if ctx.recording:
            ctx.plan = plan
        return _resample(ctx.xp, x, plan)

    @staticmethod
    def backward(ctx, g):
        if isinstance(g, Tensor):
            return (_ResampleAdjoint.apply(g, ctx.plan, type(ctx)),)
        return (_resample_adjoint(ctx.xp, g, ctx.plan),)


class _ResampleAdjoint(Op):
    node_name = "UpsampleBackwardBackward0"

    @staticmethod
    def forward(ctx, g, plan, op):
        if ctx.recording:
            ctx.plan = plan
            ctx.op = op
        return _resample_adjoint(ctx.xp, g, plan)

    @staticmethod
    def backward(ctx, u):
        if isinstance(u, Tensor):
            return (ctx.op.apply(u, ctx.plan),)
        return (_resample(ctx.xp, u, ctx.plan),)


_RESAMPLE_OPS = {
    name: type(f"_{name}", (_Resample,), {"node_name": f"{name}Backward0"})
    for name in ("UpsampleNearest1D", "UpsampleNearest2D", "UpsampleNearestExact1D",
                 "UpsampleNearestExact2D", "UpsampleLinear1D", "UpsampleBilinear2D")
}


def _scale_value(scale, in_size, out_size, ftype):
    """PyTorch's ``compute_scales_value`` in the kernel's float type."""
    if scale is not None and scale > 0:
        return ftype(1.0 / scale)
    return ftype(in_size) / ftype(out_size)


def _nearest_terms(in_size, out_size, scale, exact):
    f32 = np.float32
    if out_size == in_size and not exact:
        idx = np.arange(out_size, dtype=_INT64)
    elif out_size == 2 * in_size and not exact:
        idx = np.arange(out_size, dtype=_INT64) >> 1
    else:
        s = _scale_value(scale, in_size, out_size, f32)
        pos = np.arange(out_size, dtype=f32)
        if exact:
            pos = pos + f32(0.5)
        idx = np.minimum(np.floor(pos * s).astype(_INT64), in_size - 1)
    return [(idx, None)]


def _linear_terms(in_size, out_size, scale, align_corners, ftype):
    if align_corners:
        s = ftype(in_size - 1) / ftype(out_size - 1) if out_size > 1 else ftype(0)
        src = s * np.arange(out_size, dtype=ftype)
    else:
        s = _scale_value(scale, in_size, out_size, ftype)
        src = s * (np.arange(out_size, dtype=ftype) + ftype(0.5)) - ftype(0.5)
        src = np.maximum(src, ftype(0))
    i0 = src.astype(_INT64)
    i1 = i0 + (i0 < in_size - 1)
    lam1 = np.clip(src - i0.astype(ftype), 0, 1).astype(ftype)
    lam0 = (ftype(1) - lam1).astype(ftype)
    return [(i0, lam0), (i1, lam1)]


_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dimensions of ``(N, C, L)`` or ``(N, C, H, W)`` inputs to ``size`` or
    by ``scale_factor``. Modes: ``nearest``, ``nearest-exact``, ``linear`` (3-D), ``bilinear``
    (4-D, with ``align_corners``) and ``area``.

    >>> import probe
    >>> from probe.nn.functional_parts.misc import interpolate
    >>> interpolate(probe.tensor([[[1.0, 2.0]]]), scale_factor=2).tolist()
    [[[1.0, 1.0, 2.0, 2.0]]]
    """
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError(
                "align_corners option can only be set with the interpolating modes: "
                "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    dim = input.ndim - 2
    if dim < 1:
        raise ValueError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
            "the modes: nearest | linear | bilinear | bicubic | trilinear | lanczos | area | "
            f"nearest-exact (got {mode})")
    spatial = tuple(input.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        if isinstance(size, list | tuple):
            if len(size) != dim:
                raise ValueError(
                    "Input and output must have the same number of spatial dimensions, but got "
                    f"input with spatial dimensions of {list(spatial)} and output size of "
                    f"{size}. Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
                    "output size in (o1, o2, ...,oK) format.")
            out_sizes = tuple(int(s) for s in size)
        else:
            out_sizes = (int(size),) * dim
        scales = (None,) * dim
    elif scale_factor is not None:
        if isinstance(scale_factor, list | tuple):
            if len(scale_factor) != dim:
                raise ValueError(
                    "Input and scale_factor must have the same number of spatial dimensions, "
                    f"but got input with spatial dimensions of {list(spatial)} and "
                    f"scale_factor of shape {scale_factor}. Please provide input tensor in "
                    "(N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) "
                    "format.")
            factors = tuple(float(s) for s in scale_factor)
        else:
            factors = (float(scale_factor),) * dim
        out_sizes = tuple(math.floor(s * f) for s, f in zip(spatial, factors, strict=True))
        scales = (None,) * dim if recompute_scale_factor else factors
    else:
        raise ValueError("either size or scale_factor should be defined")
    if antialias and mode not in ("bilinear", "bicubic"):
        raise ValueError("Anti-alias option is restricted to bilinear and bicubic modes and "
                         "requires a 4-D tensor as input")
    if antialias:
        raise NotImplementedError("interpolate(antialias=True) is not supported by probe")
    if mode not in _MODES:
        raise NotImplementedError(
            f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for "
            "the modes: nearest | linear | bilinear | bicubic | trilinear | lanczos | area | "
            f"nearest-exact (got {mode})")
    if mode == "area":
        from .pooling import adaptive_avg_pool1d, adaptive_avg_pool2d  # noqa: PLC0415

        if dim == 1:
            return adaptive_avg_pool1d(input, out_sizes)
        if dim == 2:
            return adaptive_avg_pool2d(input, out_sizes)
    needs = {"linear": 1, "bilinear": 2, "trilinear": 3, "bicubic": 2}
    if mode in needs and needs[mode] != dim:
        raise NotImplementedError(
            f"Got {input.ndim}D input, but {mode} mode needs {needs[mode] + 2}D input")
    if dim > 2 or mode in ("bicubic", "trilinear"):
        raise NotImplementedError(f"interpolate(mode={mode!r}) on {input.ndim}D input is not "
                                  "supported by probe")
    if any(o <= 0 for o in out_sizes) or any(s <= 0 for s in spatial):
        if dim == 1:
            raise RuntimeError(
                "Input and output sizes should be greater than 0, but got input (W: "
                f"{spatial[0]}) output (W: {out_sizes[0]})")
        raise RuntimeError(
            "Input and output sizes should be greater than 0, but got input (H: "
            f"{spatial[0]}, W: {spatial[1]}) output (H: {out_sizes[0]}, W: {out_sizes[1]})")
    ftype = np.float64 if input._data.dtype == np.float64 else np.float32
    plan = []
    for i in range(dim):
        if mode in ("nearest", "nearest-exact"):
            terms = _nearest_terms(spatial[i], out_sizes[i], scales[i], mode == "nearest-exact")
        else:
            if input._data.dtype.kind not in "fc":
                raise NotImplementedError(
                    f"\"upsample_{mode}{dim}d_out_frame\" not implemented for "
                    f"'{str(input.dtype).split('.')[-1].capitalize()}'")
            terms = _linear_terms(spatial[i], out_sizes[i], scales[i], align_corners, ftype)
        plan.append((2 + i, terms, spatial[i]))
    name = {"nearest": "UpsampleNearest", "nearest-exact": "UpsampleNearestExact",
            "linear": "UpsampleLinear", "bilinear": "UpsampleBilinear"}[mode]
    return _RESAMPLE_OPS[f"{name}{dim}D"].apply(input, tuple(plan))


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of ``interpolate``."""
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` "
                  "instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(..., mode="nearest")``."""
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """Deprecated: ``interpolate(..., mode="bilinear", align_corners=True)``."""
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# ---------------------------------------------------------------------------------------------
# Pixel shuffle
# ---------------------------------------------------------------------------------------------

def _shuffle(xp, x, r):
    lead = x.shape[:-3]
    c, h, w = x.shape[-3:]
    oc = c // (r * r)
    y = x.reshape(*lead, oc, r, r, h, w)
    nl = len(lead)
    perm = (*range(nl), nl, nl + 3, nl + 1, nl + 4, nl + 2)
    return xp.ascontiguousarray(y.transpose(perm)).reshape(*lead, oc, h * r, w * r)


def _unshuffle(xp, x, r):
    lead = x.shape[:-3]
    c, h, w = x.shape[-3:]
    y = x.reshape(*lead, c, h // r, r, w // r, r)
    nl = len(lead)
    perm = (*range(nl), nl, nl + 2, nl + 4, nl + 1, nl + 3)
    return xp.ascontiguousarray(y.transpose(perm)).reshape(*lead, c * r * r, h // r, w // r)


class _PixelShuffle(Op):
    node_name = "PixelShuffleBackward0"

    @staticmethod
    def forward(ctx, x, r):
        if ctx.recording:
            ctx.r = r
        return _shuffle(ctx.xp, x, r)

    @staticmethod
    def backward(ctx, g):
        if isinstance(g, Tensor):
            return (_PixelUnshuffle.apply(g, ctx.r),)
        return (_unshuffle(ctx.xp, g, ctx.r),)


class _PixelUnshuffle(Op):
    node_name = "PixelUnshuffleBackward0"

    @staticmethod
    def forward(ctx, x, r):
        if ctx.recording:
            ctx.r = r
        return _unshuffle(ctx.xp, x, r)

    @staticmethod
    def backward(ctx, g):
        if isinstance(g, Tensor):
            return (_PixelShuffle.apply(g, ctx.r),)
        return (_shuffle(ctx.xp, g, ctx.r),)


def pixel_shuffle(input, upscale_factor):
    """Rearrange ``(*, C*r*r, H, W)`` into ``(*, C, H*r, W*r)``."""
    r = int(upscale_factor)
    if input.ndim < 3:
        raise RuntimeError(
            "pixel_shuffle expects input to have at least 3 dimensions, but got input with "
            f"{input.ndim} dimension(s)")
    if r <= 0:
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {r}")
    c = input.shape[-3]
    if c % (r * r):
        raise RuntimeError(
            "pixel_shuffle expects its input's 'channel' dimension to be divisible by the "
            f"square of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    return _PixelShuffle.apply(input, r)


def pixel_unshuffle(input, downscale_factor):
    """Rearrange ``(*, C, H*r, W*r)`` into ``(*, C*r*r, H, W)``."""
    r = int(downscale_factor)
    if input.ndim < 3:
        raise RuntimeError(
            "pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
            f"{input.ndim} dimension(s)")
    if r <= 0:
        raise RuntimeError(
            f"pixel_unshuffle expects a positive downscale_factor, but got {r}")
    h, w = input.shape[-2:]
    if h % r:
        raise RuntimeError(
            "pixel_unshuffle expects height to be divisible by downscale_factor, but "
            f"input.size(-2)={h} is not divisible by {r}")
    if w % r:
        raise RuntimeError(
            "pixel_unshuffle expects width to be divisible by downscale_factor, but "
            f"input.size(-1)={w} is not divisible by {r}")
    return _PixelUnshuffle.apply(input, r)


# ---------------------------------------------------------------------------------------------
# Distances
# ---------------------------------------------------------------------------------------------

def _as_float(t):
    if t._data.dtype.kind in "fc":
        return t
    from ...engine.dtypes import get_default_dtype  # noqa: PLC0415

    return t.to(get_default_dtype())


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """Cosine similarity along ``dim`` (inputs broadcast): ``x1 . x2 / (|x1| |x2|)`` with each
    norm clamped to at least ``eps``, as PyTorch computes it.

    >>> import probe
    >>> from probe.nn.functional_parts.misc import cosine_similarity
    >>> cosine_similarity(probe.tensor([[1.0, 0.0]]), probe.tensor([[1.0, 1.0]])).tolist()
    [0.7071067690849304]
    """
    from ...engine.ops.linalg import vector_norm  # noqa: PLC0415
    from ...engine.ops.shape import broadcast_tensors  # noqa: PLC0415

    x1, x2 = _as_float(x1), _as_float(x2)
    if x1._data.dtype != x2._data.dtype:
        from ...engine.ops._common import promote_operands  # noqa: PLC0415

        x1, x2, _ = promote_operands(x1, x2)
    x1, x2 = broadcast_tensors(x1, x2)
    n1 = vector_norm(x1, 2, dim=dim, keepdim=True).clone()
    n2 = vector_norm(x2, 2, dim=dim, keepdim=True).clone()
    # Clamped outside autograd, exactly as PyTorch does (the norm's gradient is unclamped).
    with no_grad():
        n1.clamp_min_(eps)
        n2.clamp_min_(eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The ``p``-norm of ``x1 - x2 + eps`` along the last dimension."""
    from ...engine.ops.reduction import norm  # noqa: PLC0415

    dim = max(x1.ndim, x2.ndim) - 1
    return norm(x1 - x2 + eps, p, dim, keepdim)
