"""Pooling: ``max_pool1d/2d``, ``avg_pool1d/2d``, ``adaptive_avg_pool1d/2d`` and
``adaptive_max_pool1d/2d``.

Windows are strided views of the (padded) input, one per kernel offset: max pooling is
``np.maximum`` over the ``K*K`` views (measured far faster than a reduction over non-contiguous
axes), average pooling their sum. Max pooling remembers which offset won (a small int array) and
routes the gradient back with one masked write per offset. 1-D pooling is 2-D pooling over a
height of one, wrapped in unsqueeze/squeeze exactly as PyTorch does (``SqueezeBackward1``).

Every backward is itself differentiable: linear adjoints come in pairs of ops (pooling and its
adjoint) that call each other under ``create_graph=True``.
"""

from __future__ import annotations

import numpy as np

from ...engine.autograd import Op
from ...engine.tensor import Tensor

__all__ = [
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d",
    "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices",
    "avg_pool1d", "avg_pool2d", "max_pool1d", "max_pool1d_with_indices", "max_pool2d",
    "max_pool2d_with_indices",
]

_INT64 = np.int64


# ---------------------------------------------------------------------------------------------
# Geometry. ``geom`` = (k1, k2, s1, s2, p1, p2, d1, d2, oh, ow) on the last two axes.
# ---------------------------------------------------------------------------------------------

def _pool_out(size, k, s, p, d, ceil):
    """PyTorch's ``pooling_output_shape``."""
    num = size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)
    out = num // s + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def _padded(xp, x, geom, fill):
    """``x`` padded with ``fill`` so that every window lies inside; ``x`` itself when none is
    needed."""
    k1, k2, s1, s2, p1, p2, d1, d2, oh, ow = geom
    h, w = x.shape[-2:]
    need_h = (oh - 1) * s1 + d1 * (k1 - 1) + 1
    need_w = (ow - 1) * s2 + d2 * (k2 - 1) + 1
    hp, wp = max(need_h, h + p1), max(need_w, w + p2)
    if not (p1 or p2) and hp == h and wp == w:
        return x
    out = xp.full(x.shape[:-2] + (hp, wp), fill, dtype=x.dtype)
    out[..., p1:p1 + h, p2:p2 + w] = x
    return out


def _offsets(geom):
    k1, k2, s1, s2, _, _, d1, d2, oh, ow = geom
    for i in range(k1):
        hs = slice(i * d1, i * d1 + s1 * (oh - 1) + 1, s1)
        for j in range(k2):
            yield hs, slice(j * d2, j * d2 + s2 * (ow - 1) + 1, s2)


def _overlaps(geom):
    k1, k2, s1, s2, _, _, d1, d2, _, _ = geom
    return s1 < d1 * (k1 - 1) + 1 or s2 < d2 * (k2 - 1) + 1


def _scatter_views(xp, x_shape, geom, parts, dtype):
    """Sum per-offset window arrays back into an ``x_shape`` array (the adjoint of taking the
    window views); ``parts(k)`` gives the array for offset ``k``."""
    k1, k2, s1, s2, p1, p2, d1, d2, oh, ow = geom
    h, w = x_shape[-2:]
    hp = max((oh - 1) * s1 + d1 * (k1 - 1) + 1, h + p1)
    wp = max((ow - 1) * s2 + d2 * (k2 - 1) + 1, w + p2)
    out = xp.zeros(tuple(x_shape[:-2]) + (hp, wp), dtype=dtype)
    overlap = _overlaps(geom)
    for k, (hs, ws) in enumerate(_offsets(geom)):
        view = out[..., hs, ws]
        if overlap:
            view += parts(k)
        else:
            view[...] = parts(k)
    if p1 or p2 or hp != h or wp != w:
        return xp.ascontiguousarray(out[..., p1:p1 + h, p2:p2 + w])
    return out


# ---------------------------------------------------------------------------------------------
# Max pooling
# ---------------------------------------------------------------------------------------------

def _lowest(dtype):
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind == "b":
        return False
    return np.iinfo(dtype).min


def _max_pool_fwd(xp, x, geom, need_arg):
    """(max over each window, index of the winning offset or None)."""
    xpad = _padded(xp, x, geom, _lowest(x.dtype))
    kk = geom[0] * geom[1]
    out = arg = None
    for k, (hs, ws) in enumerate(_offsets(geom)):
        v = xpad[..., hs, ws]
        if out is None:
            out = v.copy()
            if need_arg:
                arg = xp.zeros(out.shape, dtype=np.int8 if kk < 128 else np.int32)
            continue
        if need_arg:
            # arg = where(v > out, k, arg), in three cheap in-place integer ops.
            delta = arg - k
            delta *= v > out
            arg -= delta
        xp.maximum(out, v, out=out)
    return out, arg


def _flat_indices(xp, arg, geom, h, w):
    """Indices into the flattened ``h * w`` input plane of the winning elements."""
    k1, k2, s1, s2, p1, p2, d1, d2, oh, ow = geom
    arg = arg.astype(_INT64)
    kh = arg // k2
    kw = arg - kh * k2
    rows = (xp.arange(oh, dtype=_INT64) * s1 - p1)[:, None] + kh * d1
    cols = (xp.arange(ow, dtype=_INT64) * s2 - p2)[None, :] + kw * d2
    # A window holding only padding and -inf wins at padding; PyTorch reports its first real
    # element, which clipping reproduces.
    return xp.clip(rows, 0, h - 1) * w + xp.clip(cols, 0, w - 1)


class _MaxPool2d(Op):
    node_name = "MaxPool2DWithIndicesBackward0"
    differentiable_outputs = (0,)

    @staticmethod
    def forward(ctx, x, geom, return_indices):
        xp = ctx.xp
        out, arg = _max_pool_fwd(xp, x, geom, ctx.recording or return_indices)
        if ctx.recording:
            ctx.geom = geom
            ctx.x_shape = x.shape
            ctx.save_for_backward(arg)
        if return_indices:
            return out, _flat_indices(xp, arg, geom, *x.shape[-2:])
        return out

    @staticmethod
    def backward(ctx, g, _g_indices=None):
        (arg,) = ctx.saved
        geom = ctx.geom
        if isinstance(g, Tensor):
            arg = arg._data if isinstance(arg, Tensor) else arg
            idx = _flat_indices(g._device.xp, arg, geom, *ctx.x_shape[-2:])
            return (_PlaneScatter.apply(g, idx, ctx.x_shape),)
        xp = ctx.xp
        return (_scatter_views(xp, ctx.x_shape, geom, lambda k: g * (arg == k), g.dtype),)


def _plane_scatter(xp, g, idx, x_shape):
    """Add ``g`` into zeros of ``x_shape`` at plane indices ``idx`` (duplicates add up)."""
    h, w = x_shape[-2:]
    planes = int(np.prod(x_shape[:-2], dtype=_INT64))
    hw = h * w
    flat = idx.reshape(planes, -1) + (xp.arange(planes, dtype=_INT64) * hw)[:, None]
    out = xp.bincount(flat.ravel(), weights=g.reshape(-1), minlength=planes * hw)
    return out.astype(g.dtype, copy=False).reshape(x_shape)


def _plane_gather(xp, u, idx):
    planes = int(np.prod(idx.shape[:-2], dtype=_INT64))
    src = u.reshape(planes, -1)
    return xp.take_along_axis(src, idx.reshape(planes, -1), axis=1).reshape(idx.shape)


class _PlaneScatter(Op):
    """The gradient of max pooling as an op of its own (for higher-order gradients)."""

    node_name = "MaxPool2DWithIndicesBackwardBackward0"

    @staticmethod
    def forward(ctx, g, idx, x_shape):
        if ctx.recording:
            ctx.idx = idx
        return _plane_scatter(ctx.xp, g, idx, x_shape)

    @staticmethod
    def backward(ctx, u):
        if isinstance(u, Tensor):
            return (_PlaneGather.apply(u, ctx.idx),)
        return (_plane_gather(ctx.xp, u, ctx.idx),)


class _PlaneGather(Op):
    node_name = "GatherBackward0"

    @staticmethod
    def forward(ctx, u, idx):
        if ctx.recording:
            ctx.idx = idx
            ctx.u_shape = u.shape
        return _plane_gather(ctx.xp, u, idx)

    @staticmethod
    def backward(ctx, g):
        if isinstance(g, Tensor):
            return (_PlaneScatter.apply(g, ctx.idx, ctx.u_shape),)
        return (_plane_scatter(ctx.xp, g, ctx.idx, ctx.u_shape),)


# ---------------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------------

def _two(value, name, fn, allow_empty=False):
    if isinstance(value, int | np.integer):
        return (int(value), int(value))
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * 2
    if len(value) != 2 and not (allow_empty and not value):
        if name == "stride":
            raise RuntimeError(
                f"{fn}: stride must either be omitted, a single int, or a tuple of two ints")
        raise RuntimeError(f"{fn}: {name} must either be a single int, or a tuple of two ints")
    return value


def _size_str(shape):
    return "x".join(str(s) for s in shape)


def _pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode, fn):
    kernel = _two(kernel_size, "kernel_size", fn)
    stride = kernel if stride is None else _two(stride, "stride", fn, allow_empty=True)
    if not stride:
        stride = kernel
    padding = _two(padding, "padding", fn)
    dilation = _two(dilation, "dilation", fn)
    if input.ndim not in (3, 4) or any(s == 0 for s in input.shape[1:]):
        if fn == "avg_pool2d":
            raise RuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
        raise RuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
    if any(k <= 0 for k in kernel):
        raise RuntimeError(
            f"kernel size should be greater than zero, but got kH: {kernel[0]} kW: {kernel[1]}")
    if any(s <= 0 for s in stride):
        raise RuntimeError("stride should not be zero")
    if any(p < 0 for p in padding):
        raise RuntimeError(f"pad must be non-negative, but got pad: {min(padding)}")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(
            "dilation should be greater than zero, but got dilationH: "
            f"{dilation[0]} dilationW: {dilation[1]}")
    for k, p, d in zip(kernel, padding, dilation, strict=True):
        if p > (d * (k - 1) + 1) // 2:
            raise RuntimeError(
                "pad should be at most half of effective kernel size, but got "
                f"pad={p}, kernel_size={k} and dilation={d}")
    h, w = input.shape[-2:]
    oh = _pool_out(h, kernel[0], stride[0], padding[0], dilation[0], ceil_mode)
    ow = _pool_out(w, kernel[1], stride[1], padding[1], dilation[1], ceil_mode)
    if oh < 1 or ow < 1:
        c = input.shape[-3]
        raise RuntimeError(
            f"Given input size: ({_size_str((c, h, w))}). Calculated output size: "
            f"({_size_str((c, oh, ow))}). Output size is too small")
    return (kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1], dilation[0],
            dilation[1], oh, ow)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling over ``(N, C, H, W)`` or ``(C, H, W)``; ``stride`` defaults to
    ``kernel_size``. With ``return_indices=True`` also the flat ``H*W`` index of each maximum.

    >>> import probe
    >>> from probe.nn.functional_parts.pooling import max_pool2d
    >>> max_pool2d(probe.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    geom = _pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode,
                          "max_pool2d")
    return _MaxPool2d.apply(input, geom, bool(return_indices))


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=True):
    """``max_pool2d`` returning ``(values, indices)``."""
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def _one(value, fn, name):
    if isinstance(value, int | np.integer):
        return int(value)
    value = tuple(value)
    if len(value) != 1:
        raise RuntimeError(f"{fn}() {name} must be an int or a tuple of one int")
    return int(value[0])


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """1-D max pooling over ``(N, C, L)`` or ``(C, L)``."""
    if input.ndim not in (2, 3):
        raise RuntimeError(
            "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size "
            f"for input, but got:[{', '.join(str(s) for s in input.shape)}]")
    k = _one(kernel_size, "max_pool1d", "kernel_size")
    s = k if stride is None or (not isinstance(stride, int) and not tuple(stride)) else \
        _one(stride, "max_pool1d", "stride")
    p = _one(padding, "max_pool1d", "padding")
    d = _one(dilation, "max_pool1d", "dilation")
    if k <= 0:
        raise RuntimeError(f"max_pool1d() kernel_size must be greater than zero, but got {k}")
    if s <= 0:
        raise RuntimeError(f"max_pool1d() stride must be greater than zero, but got {s}")
    if p < 0:
        raise RuntimeError(f"max_pool1d() padding must be non-negative, but got {p}")
    if p > k // 2:
        raise RuntimeError(
            "max_pool1d() padding should be at most half of kernel size, but got "
            f"padding={p} and kernel_size={k}")
    if d <= 0:
        raise RuntimeError(f"max_pool1d() dilation must be greater than zero, but got {d}")
    out_len = _pool_out(input.shape[-1], k, s, p, d, ceil_mode)
    if out_len < 1:
        raise RuntimeError(f"max_pool1d() Invalid computed output size: {out_len}")
    out = max_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, p), (1, d), ceil_mode,
                     return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


# ---------------------------------------------------------------------------------------------
# Average pooling
# ---------------------------------------------------------------------------------------------

def _window_lengths(o, size, k, s, p):
    """(lengths counting padding, lengths of the real part) of each window along one axis."""
    starts = np.arange(o, dtype=_INT64) * s - p
    ends = np.minimum(starts + k, size + p)
    full = ends - starts
    real = np.minimum(ends, size) - np.maximum(starts, 0)
    return full, real


def _avg_divisor(geom, h, w, count_include_pad, divisor_override):
    """The divisor of every window: a Python number when all are equal, else an (OH, OW)
    host array."""
    if divisor_override is not None:
        return divisor_override
    k1, k2, s1, s2, p1, p2, _, _, oh, ow = geom
    fh, rh = _window_lengths(oh, h, k1, s1, p1)
    fw, rw = _window_lengths(ow, w, k2, s2, p2)
    lh, lw = (fh, fw) if count_include_pad else (rh, rw)
    if (lh == lh[0]).all() and (lw == lw[0]).all():
        return int(lh[0] * lw[0])
    return np.outer(lh, lw)


def _divide(xp, total, div, dtype):
    if not isinstance(div, int):
        div = xp.asarray(div, dtype=dtype if dtype.kind == "f" else _INT64)
    if dtype.kind == "f":
        return total / div
    # Integer pooling truncates toward zero, as C++ division does.
    return xp.trunc(total / div).astype(dtype)


def _avg_pool_fwd(xp, x, geom, div):
    xpad = _padded(xp, x, geom, 0)
    total = None
    for hs, ws in _offsets(geom):
        v = xpad[..., hs, ws]
        if total is None:
            total = v.copy()
        else:
            total += v
    return _divide(xp, total, div, x.dtype)


def _avg_pool_bwd(xp, g, x_shape, geom, div):
    if not isinstance(div, int):
        div = xp.asarray(div, dtype=g.dtype)
    gs = g / div
    return _scatter_views(xp, x_shape, geom, lambda k: gs, g.dtype)


class _AvgPool2d(Op):
    node_name = "AvgPool2DBackward0"

    @staticmethod
    def forward(ctx, x, geom, div):
        if ctx.recording:
            ctx.geom = geom
            ctx.div = div
            ctx.x_shape = x.shape
        return _avg_pool_fwd(ctx.xp, x, geom, div)

    @staticmethod
    def backward(ctx, g):
        if isinstance(g, Tensor):
            return (_AvgPool2dAdjoint.apply(g, ctx.geom, ctx.div, ctx.x_shape),)
        return (_avg_pool_bwd(ctx.xp, g, ctx.x_shape, ctx.geom, ctx.div),)


class _AvgPool2dAdjoint(Op):
    node_name = "AvgPool2DBackwardBackward0"

    @staticmethod
    def forward(ctx, g, geom, div, x_shape):
        if ctx.recording:
            ctx.geom = geom
            ctx.div = div
        return _avg_pool_bwd(ctx.xp, g, x_shape, geom, div)

    @staticmethod
    def backward(ctx, u):
        if isinstance(u, Tensor):
            return (_AvgPool2d.apply(u, ctx.geom, ctx.div),)
        return (_avg_pool_fwd(ctx.xp, u, ctx.geom, ctx.div),)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-D average pooling over ``(N, C, H, W)`` or ``(C, H, W)``.

    >>> import probe
    >>> from probe.nn.functional_parts.pooling import avg_pool2d
    >>> avg_pool2d(probe.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
    [[[[2.5, 4.5], [10.5, 12.5]]]]
    """
    geom = _pool_geometry(input, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d")
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    div = _avg_divisor(geom, *input.shape[-2:], count_include_pad, divisor_override)
    return _AvgPool2d.apply(input, geom, div)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """1-D average pooling over ``(N, C, L)`` or ``(C, L)``."""
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for "
            "argument #1 'self' (while checking arguments for avg_pool1d)")
    k = _one(kernel_size, "avg_pool1d", "kernel_size")
    s = k if stride is None or (not isinstance(stride, int) and not tuple(stride)) else \
        _one(stride, "avg_pool1d", "stride")
    p = _one(padding, "avg_pool1d", "padding")
    out = avg_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, p), ceil_mode, count_include_pad)
    return out.squeeze(-2)


# ---------------------------------------------------------------------------------------------
# Adaptive pooling
# ---------------------------------------------------------------------------------------------

def _adaptive_bounds(size, out):
    i = np.arange(out, dtype=_INT64)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _adaptive_matrix(size, out, dtype):
    """(out, size) averaging matrix of PyTorch's adaptive windows."""
    start, end = _adaptive_bounds(size, out)
    pos = np.arange(size)
    mask = (pos[None, :] >= start[:, None]) & (pos[None, :] < end[:, None])
    return (mask / (end - start)[:, None]).astype(dtype)


def _separable(xp, x, mh, mw):
    """``mh @ x @ mw.T`` over the last two axes of ``x`` (two GEMMs)."""
    if isinstance(x, Tensor):
        return xp.einsum("ia,...ab,jb->...ij", mh, x, mw)
    lead = x.shape[:-2]
    h, w = x.shape[-2:]
    oh, ow = mh.shape[0], mw.shape[0]
    t = xp.ascontiguousarray(x).reshape(-1, w) @ mw.T
    t = xp.ascontiguousarray(t.reshape(-1, h, ow).transpose(0, 2, 1)).reshape(-1, h) @ mh.T
    return xp.ascontiguousarray(t.reshape(-1, ow, oh).transpose(0, 2, 1)).reshape(*lead, oh, ow)


class _AdaptiveAvgPool2d(Op):
    node_name = "AdaptiveAvgPool2DBackward0"

    @staticmethod
    def forward(ctx, x, out_hw):
        xp = ctx.xp
        h, w = x.shape[-2:]
        oh, ow = out_hw
        if ctx.recording:
            ctx.out_hw = out_hw
            ctx.x_shape = x.shape
        if oh == 1 and ow == 1:
            return x.reshape(*x.shape[:-2], h * w).mean(axis=-1)[..., None, None]
        mh = xp.asarray(_adaptive_matrix(h, oh, x.dtype))
        mw = xp.asarray(_adaptive_matrix(w, ow, x.dtype))
        return _separable(xp, x, mh, mw)

    @staticmethod
    def backward(ctx, g):
        xp = ctx.xp
        h, w = ctx.x_shape[-2:]
        oh, ow = ctx.out_hw
        if oh == 1 and ow == 1 and not isinstance(g, Tensor):
            out = xp.empty(ctx.x_shape, dtype=g.dtype)
            out[...] = g / (h * w)
            return (out,)
        dev_xp = g._device.xp if isinstance(g, Tensor) else xp
        dtype = g._data.dtype if isinstance(g, Tensor) else g.dtype
        mh = dev_xp.asarray(_adaptive_matrix(h, oh, dtype).T)
        mw = dev_xp.asarray(_adaptive_matrix(w, ow, dtype).T)
        return (_separable(xp, g, mh, mw),)


def _adaptive_max_fwd(xp, x, out_hw):
    """Max over PyTorch's adaptive windows: (values, flat plane indices)."""
    h, w = x.shape[-2:]
    oh, ow = out_hw
    sh, eh = _adaptive_bounds(h, oh)
    sw, ew = _adaptive_bounds(w, ow)
    out = idx = None
    for t in range(int((eh - sh).max())):
        rows = np.minimum(sh + t, eh - 1)
        xr = x[..., xp.asarray(rows), :]
        for u in range(int((ew - sw).max())):
            cols = np.minimum(sw + u, ew - 1)
            v = xr[..., xp.asarray(cols)]
            flat = xp.asarray(rows[:, None] * w + cols[None, :])
            if out is None:
                out = v
                idx = xp.broadcast_to(flat, v.shape).copy()
                continue
            # Clamped duplicates compare equal and never win: PyTorch's first maximum stays.
            m = v > out
            out = xp.where(m, v, out)
            idx = xp.where(m, flat, idx)
    return out, idx


class _AdaptiveMaxPool2d(Op):
    node_name = "AdaptiveMaxPool2DBackward0"
    differentiable_outputs = (0,)

    @staticmethod
    def forward(ctx, x, out_hw, return_indices):
        xp = ctx.xp
        h, w = x.shape[-2:]
        oh, ow = out_hw
        if h % oh == 0 and w % ow == 0:
            # Equal windows: the strided max pooling kernel.
            geom = (h // oh, w // ow, h // oh, w // ow, 0, 0, 1, 1, oh, ow)
            out, arg = _max_pool_fwd(xp, x, geom, True)
            idx = _flat_indices(xp, arg, geom, h, w)
        else:
            out, idx = _adaptive_max_fwd(xp, x, out_hw)
        if ctx.recording:
            ctx.x_shape = x.shape
            ctx.save_for_backward(idx)
        if return_indices:
            return out, idx
        return out

    @staticmethod
    def backward(ctx, g, _g_indices=None):
        (idx,) = ctx.saved
        if isinstance(g, Tensor):
            idx = idx._data if isinstance(idx, Tensor) else idx
            return (_PlaneScatter.apply(g, idx, ctx.x_shape),)
        return (_plane_scatter(ctx.xp, g, idx, ctx.x_shape),)


def _adaptive_size(output_size, input, n, fn):
    if isinstance(output_size, int | np.integer) or output_size is None:
        sizes = (output_size,) * n
    else:
        sizes = tuple(output_size)
        if len(sizes) != n:
            if n == 1:
                raise RuntimeError(
                    f"{fn}() argument 'output_size' should contain one int (got {len(sizes)})")
            raise RuntimeError(f"{fn}: output_size must be {n}")
    spatial = tuple(input.shape[-n:])
    sizes = tuple(s if o is None else int(o) for o, s in zip(sizes, spatial, strict=True))
    return sizes


def _check_adaptive_input(input, fn, nd):
    if input.ndim not in (nd + 1, nd + 2):
        if nd == 1:
            raise RuntimeError(
                f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor for "
                f"argument #1 'self' (while checking arguments for {fn})")
        raise RuntimeError(f"{fn}(): Expected 3D or 4D tensor, but got {list(input.shape)}")
    for i in range(1, input.ndim):
        if input.shape[i] == 0:
            raise RuntimeError(
                f"{fn}(): Expected input to have non-zero size for non-batch dimensions, but "
                f"input has sizes {list(input.shape)} with dimension {i} being empty")


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size (``None`` keeps that input size).

    >>> import probe
    >>> from probe.nn.functional_parts.pooling import adaptive_avg_pool2d
    >>> adaptive_avg_pool2d(probe.ones(2, 3, 7, 5), 1).shape
    probe.Size([2, 3, 1, 1])
    """
    if input.ndim < 3:
        # PyTorch fails in its Python wrapper with this message.
        raise IndexError(
            f"Dimension out of range (expected to be in range of [-{input.ndim}, "
            f"{input.ndim - 1}], but got -3)")
    out_hw = _adaptive_size(output_size, input, 2, "adaptive_avg_pool2d")
    _check_adaptive_input(input, "adaptive_avg_pool2d", 2)
    if any(o < 0 for o in out_hw):
        raise RuntimeError(
            "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 "
            f"but received {{{out_hw[0]}, {out_hw[1]}}}")
    if any(o == 0 for o in out_hw):
        from ...engine.ops.creation import zeros  # noqa: PLC0415

        return zeros(*input.shape[:-2], *out_hw, dtype=input.dtype, device=input.device)
    if out_hw == (1, 1):
        return input.mean((-2, -1), keepdim=True)  # PyTorch's global pooling: MeanBackward1
    return _AdaptiveAvgPool2d.apply(input, out_hw)


def adaptive_avg_pool1d(input, output_size):
    """Average pooling of ``(N, C, L)`` or ``(C, L)`` to a fixed length."""
    _check_adaptive_input(input, "adaptive_avg_pool1d", 1)
    (size,) = _adaptive_size(output_size, input, 1, "adaptive_avg_pool1d")
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, size)).squeeze(-2)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output size; with ``return_indices`` also the flat ``H*W``
    indices of the maxima."""
    if input.ndim < 3:
        raise ValueError("Input dimension should be at least 3")
    out_hw = _adaptive_size(output_size, input, 2, "adaptive_max_pool2d")
    _check_adaptive_input(input, "adaptive_max_pool2d", 2)
    if any(o <= 0 for o in out_hw):
        raise RuntimeError(
            "adaptive_max_pool2d(): Expected output_size to be positive, but got "
            f"{list(out_hw)}")
    return _AdaptiveMaxPool2d.apply(input, out_hw, bool(return_indices))


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max pooling of ``(N, C, L)`` or ``(C, L)`` to a fixed length."""
    _check_adaptive_input(input, "adaptive_max_pool1d", 1)
    (size,) = _adaptive_size(output_size, input, 1, "adaptive_max_pool1d")
    out = adaptive_max_pool2d(input.unsqueeze(-2), (1, size), return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=True):
    """``max_pool1d`` returning ``(values, indices)``."""
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=True):
    """``adaptive_max_pool2d`` returning ``(values, indices)``."""
    return adaptive_max_pool2d(input, output_size, True)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=True):
    """``adaptive_max_pool1d`` returning ``(values, indices)``."""
    return adaptive_max_pool1d(input, output_size, True)
