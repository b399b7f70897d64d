"""Convolutions: ``conv1d``, ``conv2d``, ``conv_transpose1d``, ``conv_transpose2d``, ``unfold``
(im2col) and ``fold`` (col2im).

A convolution is one fused op (``ConvolutionBackward0``): im2col through a strided view of the
padded input and one GEMM. The column buffer is laid out ``(C*K*K, P)`` so that the forward, the
weight gradient and the column gradient are plain 2-D GEMMs; the columns are kept for the weight
gradient rather than rebuilt. ``P`` enumerates the output pixels either batch-first ``(n, oh, ow)``
or batch-last ``(oh, ow, n)``: batch-last gives long contiguous runs to the strided copies when the
output rows are short (LeNet's second conv), batch-first avoids two transposes when they are long.
The input gradient is col2im: ``K*K`` strided slice additions, one per kernel offset.

Convolution is bilinear, so its derivatives are convolutions again: the input gradient is a
transposed convolution and the weight gradient a correlation of the input with the output
gradient. The three ops below (``_Conv``, ``_ConvTranspose``, ``_ConvWeight``) are each other's
derivatives; under ``create_graph=True`` a backward calls the others' ``apply``, so gradients of any
order work for every option.
"""

from __future__ import annotations

from ...engine.autograd import Op
from ...engine.buffers import scratch
from ...engine.tensor import Tensor

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "fold", "unfold"]

# A column buffer larger than this many elements is built per batch chunk (and not kept).
_COLS_LIMIT = 1 << 24
# Tests force one layout to cover both code paths: None (pick per shape), "first" or "last".
_FORCE_LAYOUT = None


# ---------------------------------------------------------------------------------------------
# Array kernels. Everything works on 4-D arrays (N, C, H, W); 1-D convolutions use H = 1.
# ``geom`` is (k1, k2, s1, s2, pad_top, pad_bottom, pad_left, pad_right, d1, d2, groups).
# ---------------------------------------------------------------------------------------------

def _out_hw(geom, h, w):
    k1, k2, s1, s2, pt, pb, pl, pr, d1, d2, _ = geom
    return (h + pt + pb - d1 * (k1 - 1) - 1) // s1 + 1, (w + pl + pr - d2 * (k2 - 1) - 1) // s2 + 1


def _batch_last(n, ow):
    if _FORCE_LAYOUT is not None:
        return _FORCE_LAYOUT == "last"
    # Short output rows make the batch-first strided copies crawl (inner runs of ``ow``
    # elements); with a batch of 8 or more the batch-last runs are ``ow * n`` long. Measured
    # on LeNet/CIFAR-sized convs: batch-last wins up to ``ow`` = 16 (mostly in col2im), loses
    # a little beyond (two extra transposes).
    return n >= 8 and ow <= 16


def _padded(xp, x, geom, last):
    """``x`` (N, C, H, W) zero-padded, in (C, H, W, N) order when ``last``."""
    _, _, _, _, pt, pb, pl, pr, _, _, _ = geom
    n, c, h, w = x.shape
    if last:
        if not (pt or pb or pl or pr):
            return xp.ascontiguousarray(x.transpose(1, 2, 3, 0))
        out = xp.zeros((c, h + pt + pb, w + pl + pr, n), dtype=x.dtype)
        out[:, pt:pt + h, pl:pl + w, :] = x.transpose(1, 2, 3, 0)
        return out
    if not (pt or pb or pl or pr):
        return x
    out = xp.zeros((n, c, h + pt + pb, w + pl + pr), dtype=x.dtype)
    out[:, :, pt:pt + h, pl:pl + w] = x
    return out


def _im2col(xp, x, geom, last, out_hw=None):
    """The column buffer (C*K1*K2, P) of ``x`` (N, C, H, W); ``out_hw`` limits the windows to
    the first OH x OW (a transposed convolution with output padding has fewer)."""
    k1, k2, s1, s2, _, _, _, _, d1, d2, _ = geom
    n, c, h, w = x.shape
    oh, ow = out_hw or _out_hw(geom, h, w)
    xpad = _padded(xp, x, geom, last)
    strided = xp.lib.stride_tricks.as_strided
    if last:
        sc, sh, sw, sn = xpad.strides
        view = strided(xpad, (c, k1, k2, oh, ow, n), (sc, sh * d1, sw * d2, sh * s1, sw * s2, sn))
    else:
        sn, sc, sh, sw = xpad.strides
        view = strided(xpad, (c, k1, k2, n, oh, ow), (sc, sh * d1, sw * d2, sn, sh * s1, sw * s2))
    cols = scratch(xp, view.shape, x.dtype)
    cols[...] = view
    return cols.reshape(c * k1 * k2, n * oh * ow)


def _col2im(xp, gc, x_shape, geom, last, out_hw):
    """The adjoint of ``_im2col``: columns (C*K1*K2, P) of OH x OW windows summed back into an
    (N, C, H, W) array."""
    k1, k2, s1, s2, pt, pb, pl, pr, d1, d2, _ = geom
    n, c, h, w = x_shape
    oh, ow = out_hw
    hp, wp = h + pt + pb, w + pl + pr
    # Windows that do not overlap write each position once: assignment instead of addition.
    overlap = s1 < d1 * (k1 - 1) + 1 or s2 < d2 * (k2 - 1) + 1
    if last:
        gc = gc.reshape(c, k1, k2, oh, ow, n)
        out = xp.zeros((c, hp, wp, n), dtype=gc.dtype)
    else:
        gc = gc.reshape(c, k1, k2, n, oh, ow)
        out = xp.zeros((n, c, hp, wp), dtype=gc.dtype)
    for i in range(k1):
        hs = slice(i * d1, i * d1 + s1 * (oh - 1) + 1, s1)
        for j in range(k2):
            ws = slice(j * d2, j * d2 + s2 * (ow - 1) + 1, s2)
            if last:
                if overlap:
                    out[:, hs, ws, :] += gc[:, i, j]
                else:
                    out[:, hs, ws, :] = gc[:, i, j]
            elif overlap:
                out[:, :, hs, ws] += gc[:, i, j].transpose(1, 0, 2, 3)
            else:
                out[:, :, hs, ws] = gc[:, i, j].transpose(1, 0, 2, 3)
    if last:
        return xp.ascontiguousarray(out[:, pt:pt + h, pl:pl + w, :].transpose(3, 0, 1, 2))
    if pt or pb or pl or pr:
        return xp.ascontiguousarray(out[:, :, pt:pt + h, pl:pl + w])
    return out


def _grad_matrix(xp, gy, last):
    """The output gradient (N, O, OH, OW) as the (O, P) matrix matching the column layout."""
    o = gy.shape[1]
    if last:
        return xp.ascontiguousarray(gy.transpose(1, 2, 3, 0)).reshape(o, -1)
    return xp.ascontiguousarray(gy.transpose(1, 0, 2, 3)).reshape(o, -1)


def _weight_times_cols(xp, w, cols, groups):
    o = w.shape[0]
    if groups == 1:
        return w.reshape(o, -1) @ cols
    p = cols.shape[1]
    return (w.reshape(groups, o // groups, -1) @ cols.reshape(groups, -1, p)).reshape(o, p)


def _cols_grad(xp, w, gm, groups):
    o = w.shape[0]
    if groups == 1:
        return w.reshape(o, -1).T @ gm
    p = gm.shape[1]
    wg = w.reshape(groups, o // groups, -1).transpose(0, 2, 1)
    return (wg @ gm.reshape(groups, o // groups, p)).reshape(-1, p)


def _weight_grad(xp, gm, cols, w_shape, groups):
    if groups == 1:
        return (gm @ cols.T).reshape(w_shape)
    p = cols.shape[1]
    o = w_shape[0]
    gw = gm.reshape(groups, o // groups, p) @ cols.reshape(groups, -1, p).transpose(0, 2, 1)
    return gw.reshape(w_shape)


def _from_matrix(xp, out2, n, oh, ow, last, bias):
    """(O, P) GEMM result as a contiguous (N, O, OH, OW) array, bias added on the way."""
    o = out2.shape[0]
    if last:
        src = out2.reshape(o, oh, ow, n).transpose(3, 0, 1, 2)
    else:
        src = out2.reshape(o, n, oh, ow).transpose(1, 0, 2, 3)
    out = xp.empty((n, o, oh, ow), dtype=out2.dtype)
    if bias is None:
        out[...] = src
    else:
        xp.add(src, bias.reshape(1, o, 1, 1), out=out)
    return out


def _chunks(n, per_sample):
    if n * per_sample <= _COLS_LIMIT or n <= 1:
        return None
    step = max(1, _COLS_LIMIT // max(per_sample, 1))
    return [(i, min(i + step, n)) for i in range(0, n, step)]


def _cols_per_sample(geom, c, oh, ow):
    return c * geom[0] * geom[1] * oh * ow


def _conv_fwd(xp, x, w, b, geom, keep, out_hw=None):
    """conv(x, w) + b on 4-D arrays: (out, columns kept for backward or None, layout)."""
    n, c, h, wd = x.shape
    oh, ow = out_hw = out_hw or _out_hw(geom, h, wd)
    last = _batch_last(n, ow)
    groups = geom[10]
    chunks = _chunks(n, _cols_per_sample(geom, c, oh, ow))
    if chunks is None:
        cols = _im2col(xp, x, geom, last, out_hw)
        out = _from_matrix(xp, _weight_times_cols(xp, w, cols, groups), n, oh, ow, last, b)
        return out, (cols if keep else None), last
    out = xp.empty((n, w.shape[0], oh, ow), dtype=x.dtype)
    for lo, hi in chunks:
        last_c = _batch_last(hi - lo, ow)
        cols = _im2col(xp, x[lo:hi], geom, last_c, out_hw)
        out[lo:hi] = _from_matrix(xp, _weight_times_cols(xp, w, cols, groups), hi - lo, oh, ow,
                                  last_c, b)
    return out, None, last


def _conv_input_grad(xp, gy, w, x_shape, geom):
    """The input gradient of conv for output gradient ``gy``: a transposed convolution."""
    n, c, h, wd = x_shape
    groups = geom[10]
    oh, ow = gy.shape[2], gy.shape[3]
    chunks = _chunks(n, _cols_per_sample(geom, c, oh, ow))
    if chunks is None:
        last = _batch_last(n, ow)
        gc = _cols_grad(xp, w, _grad_matrix(xp, gy, last), groups)
        return _col2im(xp, gc, x_shape, geom, last, (oh, ow))
    out = xp.empty(x_shape, dtype=gy.dtype)
    for lo, hi in chunks:
        last = _batch_last(hi - lo, ow)
        gc = _cols_grad(xp, w, _grad_matrix(xp, gy[lo:hi], last), groups)
        out[lo:hi] = _col2im(xp, gc, (hi - lo, c, h, wd), geom, last, (oh, ow))
    return out


def _conv_weight_grad(xp, x, gy, w_shape, geom):
    """The weight gradient of conv: the input correlated with the output gradient."""
    n, c, h, wd = x.shape
    groups = geom[10]
    oh, ow = gy.shape[2], gy.shape[3]
    chunks = _chunks(n, _cols_per_sample(geom, c, oh, ow)) or [(0, n)]
    total = None
    for lo, hi in chunks:
        last = _batch_last(hi - lo, ow)
        cols = _im2col(xp, x[lo:hi], geom, last, (oh, ow))
        part = _weight_grad(xp, _grad_matrix(xp, gy[lo:hi], last), cols, w_shape, groups)
        total = part if total is None else total + part
    return total


def _to4(a, nd):
    """A 1-D convolution's (N, C, L) array as (N, C, 1, L)."""
    return a if nd == 2 else a.reshape(a.shape[0], a.shape[1], 1, a.shape[2])


def _from4(a, nd):
    return a if nd == 2 else a.reshape(a.shape[0], a.shape[1], a.shape[3])


def _shape4(shape, nd):
    return tuple(shape) if nd == 2 else (shape[0], shape[1], 1, shape[2])


def _hw(a, nd):
    """The spatial size of a (N, C, ...) array or tensor as (H, W)."""
    shape = tuple(a.shape)
    return shape[2:] if nd == 2 else (1, shape[2])


def _bias_grad(xp, g, nd):
    return xp.sum(g, axis=(0, 2, 3) if nd == 2 else (0, 2))


# ---------------------------------------------------------------------------------------------
# The ops
# ---------------------------------------------------------------------------------------------

class _Conv(Op):
    """``conv(x, w) + b`` (PyTorch's ``ConvolutionBackward0``)."""

    node_name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx, x, w, b, geom, nd, out_hw=None):
        keep = ctx.recording and ctx.needs_input_grad[1]
        out, cols, last = _conv_fwd(ctx.xp, _to4(x, nd), _to4(w, nd), b, geom, keep, out_hw)
        if ctx.recording:
            ctx.geom = geom
            ctx.nd = nd
            ctx.last = last
            ctx.save_for_backward(x, w, cols)
        return _from4(out, nd)

    @staticmethod
    def backward(ctx, g):
        x, w, cols = ctx.saved
        need = ctx.needs_input_grad
        geom, nd = ctx.geom, ctx.nd
        xp = ctx.xp
        gb = _bias_grad(xp, g, nd) if need[2] else None
        if isinstance(g, Tensor):  # create_graph: the derivatives as differentiable convolutions
            gx = _ConvTranspose.apply(g, w, None, geom, nd, tuple(x.shape)) if need[0] else None
            gw = _ConvWeight.apply(x, g, geom, nd, tuple(w.shape)) if need[1] else None
            return gx, gw, gb
        g4, w4 = _to4(g, nd), _to4(w, nd)
        gx = gw = None
        if cols is not None:
            # The fast path: the columns of the forward, one output-gradient matrix for both.
            gm = _grad_matrix(xp, g4, ctx.last)
            gw = _weight_grad(xp, gm, cols, w4.shape, geom[10]).reshape(w.shape)
            if need[0]:
                gc = _cols_grad(xp, w4, gm, geom[10])
                gx = _col2im(xp, gc, _shape4(x.shape, nd), geom, ctx.last, g4.shape[2:])
                gx = _from4(gx, nd)
            return gx, gw, gb
        if need[0]:
            gx = _from4(_conv_input_grad(xp, g4, w4, _shape4(x.shape, nd), geom), nd)
        if need[1]:
            gw = _conv_weight_grad(xp, _to4(x, nd), g4, w4.shape, geom).reshape(w.shape)
        return gx, gw, gb


class _ConvTranspose(Op):
    """The transposed convolution ``conv_transpose(y, w) + b`` onto an input of ``x_shape``:
    the input gradient of ``conv(., w)`` (PyTorch's ``ConvolutionBackward0``)."""

    node_name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx, y, w, b, geom, nd, x_shape):
        out = _conv_input_grad(ctx.xp, _to4(y, nd), _to4(w, nd), _shape4(x_shape, nd), geom)
        if b is not None:
            out += b.reshape(1, -1, 1, 1)
        if ctx.recording:
            ctx.geom = geom
            ctx.nd = nd
            ctx.save_for_backward(y, w)
        return _from4(out, nd)

    @staticmethod
    def backward(ctx, g):
        y, w = ctx.saved
        need = ctx.needs_input_grad
        geom, nd = ctx.geom, ctx.nd
        xp = ctx.xp
        gb = _bias_grad(xp, g, nd) if need[2] else None
        if isinstance(g, Tensor):
            gy = _Conv.apply(g, w, None, geom, nd, _hw(y, nd)) if need[0] else None
            gw = _ConvWeight.apply(g, y, geom, nd, tuple(w.shape)) if need[1] else None
            return gy, gw, gb
        g4 = _to4(g, nd)
        gy = gw = None
        if need[0]:
            gy = _conv_fwd(xp, g4, _to4(w, nd), None, geom, False, _hw(y, nd))[0]
            gy = _from4(gy, nd)
        if need[1]:
            gw = _conv_weight_grad(xp, g4, _to4(y, nd), _shape4(w.shape, nd), geom)
            gw = gw.reshape(w.shape)
        return gy, gw, gb


class _ConvWeight(Op):
    """The weight gradient of ``conv(x, .)`` for output gradient ``gy`` (appears in graphs of
    higher-order derivatives only)."""

    node_name = "ConvolutionBackwardBackward0"

    @staticmethod
    def forward(ctx, x, gy, geom, nd, w_shape):
        out = _conv_weight_grad(ctx.xp, _to4(x, nd), _to4(gy, nd), _shape4(w_shape, nd), geom)
        if ctx.recording:
            ctx.geom = geom
            ctx.nd = nd
            ctx.save_for_backward(x, gy)
        return out.reshape(w_shape)

    @staticmethod
    def backward(ctx, g):
        x, gy = ctx.saved
        need = ctx.needs_input_grad
        geom, nd = ctx.geom, ctx.nd
        xp = ctx.xp
        if isinstance(g, Tensor):
            gx = _ConvTranspose.apply(gy, g, None, geom, nd, tuple(x.shape)) if need[0] else None
            ggy = _Conv.apply(x, g, None, geom, nd, _hw(gy, nd)) if need[1] else None
            return gx, ggy
        g4 = _to4(g, nd)
        gx = ggy = None
        if need[0]:
            gx = _conv_input_grad(xp, _to4(gy, nd), g4, _shape4(x.shape, nd), geom)
            gx = _from4(gx, nd)
        if need[1]:
            ggy = _conv_fwd(xp, _to4(x, nd), g4, None, geom, False, _hw(gy, nd))[0]
            ggy = _from4(ggy, nd)
        return gx, ggy


# ---------------------------------------------------------------------------------------------
# Argument checks (PyTorch's wording)
# ---------------------------------------------------------------------------------------------

def _size_str(shape):
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _tuple_arg(value, nd, name):
    if isinstance(value, int):
        return (value,) * nd
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * nd
    if len(value) != nd:
        raise RuntimeError(
            f"expected {name} to be a single integer value or a list of {nd} values to match "
            f"the convolution dimensions, but got {name}={list(value)}"
        )
    return value


_DTYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
                "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
                "bool": "Bool", "bfloat16": "BFloat16", "complex64": "ComplexFloat",
                "complex128": "ComplexDouble"}
_LOWER_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half",
                "int64": "long int", "int32": "int", "bfloat16": "c10::BFloat16"}


def _check_dtypes(input, weight, bias):
    dt_in = input._data.dtype
    dt_w = weight._data.dtype
    if dt_in != dt_w:
        raise RuntimeError(
            f"expected scalar type {_DTYPE_NAMES.get(dt_in.name, dt_in.name)} but found "
            f"{_DTYPE_NAMES.get(dt_w.name, dt_w.name)}"
        )
    if bias is not None and bias._data.dtype != dt_in:
        dt_b = bias._data.dtype
        raise RuntimeError(
            f"Input type ({_LOWER_NAMES.get(dt_in.name, dt_in.name)}) and bias type "
            f"({_LOWER_NAMES.get(dt_b.name, dt_b.name)}) should be the same"
        )


def _check_common(input, weight, bias, nd, name, stride, padding, dilation, groups, transposed):
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {name}, but got "
            f"input of size: {_size_str(input.shape)}"
        )
    if weight.ndim != nd + 2:
        raise RuntimeError(
            f"expected stride to be a single integer value or a list of {weight.ndim - 2} "
            f"values to match the convolution dimensions, but got stride={list(stride)}"
        )
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(p < 0 for p in padding):
        raise RuntimeError("negative padding is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(f"dilation should be greater than zero, but got {list(dilation)}")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    wshape = tuple(weight.shape)
    if not transposed and wshape[0] % groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size [{_size_str(wshape)}] instead"
        )
    batched_shape = tuple(input.shape) if input.ndim == nd + 2 else (1, *input.shape)
    channels = batched_shape[1]
    expected = wshape[0] if transposed else wshape[1] * groups
    if channels != expected:
        prefix = "transposed=1, " if transposed else f"groups={groups}, "
        raise RuntimeError(
            f"Given {prefix}weight of size {_size_str(wshape)}, expected "
            f"input{_size_str(batched_shape)} to have {expected} channels, but got {channels} "
            "channels instead"
        )
    if bias is not None:
        out_channels = wshape[1] * groups if transposed else wshape[0]
        if bias.ndim != 1 or bias.shape[0] != out_channels:
            raise RuntimeError(
                f"Given weight of size {_size_str(wshape)}, expected bias to be 1-dimensional "
                f"with {out_channels} elements, but got bias of size {_size_str(bias.shape)} "
                "instead"
            )
    _check_dtypes(input, weight, bias)
    return input.ndim == nd + 2


def _fmt_sizes(sizes):
    return "(" + " x ".join(str(s) for s in sizes) + ")"


def _geometry(kernel, stride, pads, dilation, groups, nd):
    """The internal 2-D geometry tuple; ``pads`` is ((lo, hi), ...) per spatial dim."""
    if nd == 1:
        return (1, kernel[0], 1, stride[0], 0, 0, pads[0][0], pads[0][1], 1, dilation[0], groups)
    return (kernel[0], kernel[1], stride[0], stride[1], pads[0][0], pads[0][1], pads[1][0],
            pads[1][1], dilation[0], dilation[1], groups)


def _conv(input, weight, bias, stride, padding, dilation, groups, nd, name):
    stride = _tuple_arg(stride, nd, "stride")
    dilation = _tuple_arg(dilation, nd, "dilation")
    kernel = tuple(weight.shape[2:])
    if isinstance(padding, str):
        if padding == "valid":
            pads = ((0, 0),) * nd
            padding = (0,) * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            # An odd total goes to the far side, as PyTorch pads it.
            pads = tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                         for d, k in zip(dilation, kernel, strict=False))
            padding = tuple(lo for lo, _ in pads)
        else:
            raise RuntimeError(f"Invalid padding string: '{padding}'")
    else:
        padding = _tuple_arg(padding, nd, "padding")
        pads = tuple((p, p) for p in padding)
    batched = _check_common(input, weight, bias, nd, name, stride, padding, dilation, groups,
                            False)
    spatial = tuple(input.shape[-nd:])
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(spatial, pads, strict=True))
    eff = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel, strict=True))
    if any(p < e for p, e in zip(padded, eff, strict=True)):
        raise RuntimeError(
            f"Calculated padded input size per channel: {_fmt_sizes(padded)}. Kernel size: "
            f"{_fmt_sizes(eff)}. Kernel size can't be greater than actual input size"
        )
    geom = _geometry(kernel, stride, pads, dilation, groups, nd)
    if not batched:
        return _Conv.apply(input.unsqueeze(0), weight, bias, geom, nd, None).squeeze(0)
    return _Conv.apply(input, weight, bias, geom, nd, None)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation) over ``(N, C, L)`` or ``(C, L)`` inputs.

    ``padding`` is an int, a 1-tuple, ``"valid"`` or ``"same"``.

    >>> import probe
    >>> from probe.nn.functional_parts.conv import conv1d
    >>> conv1d(probe.ones(1, 1, 5), probe.ones(1, 1, 3)).tolist()
    [[[3.0, 3.0, 3.0]]]
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) over ``(N, C, H, W)`` or ``(C, H, W)`` inputs.

    ``weight`` is ``(out_channels, in_channels / groups, kH, kW)``; ``padding`` is an int, a
    pair, ``"valid"`` or ``"same"``.

    >>> import probe
    >>> from probe.nn.functional_parts.conv import conv2d
    >>> conv2d(probe.ones(1, 1, 4, 4), probe.ones(2, 1, 3, 3), padding=1).shape
    probe.Size([1, 2, 4, 4])
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, nd,
                    name):
    stride = _tuple_arg(stride, nd, "stride")
    padding = _tuple_arg(padding, nd, "padding")
    dilation = _tuple_arg(dilation, nd, "dilation")
    output_padding = _tuple_arg(output_padding, nd, "output_padding")
    batched = _check_common(input, weight, bias, nd, name, stride, padding, dilation, groups,
                            True)
    if any(op < 0 for op in output_padding):
        raise RuntimeError("negative output_padding is not supported")
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation,
                                                    strict=True)):
        if nd == 2:
            raise RuntimeError(
                "output padding must be smaller than either stride or dilation, but got "
                f"output_padding_height: {output_padding[0]} output_padding_width: "
                f"{output_padding[1]} stride_height: {stride[0]} stride_width: {stride[1]} "
                f"dilation_height: {dilation[0]} dilation_width: {dilation[1]}"
            )
        raise RuntimeError(
            "output padding must be smaller than either stride or dilation, but got "
            f"output_padding: {output_padding[0]} stride: {stride[0]} dilation: {dilation[0]}"
        )
    kernel = tuple(weight.shape[2:])
    spatial = tuple(input.shape[-nd:])
    out_spatial = tuple(
        (i - 1) * s - 2 * p + d * (k - 1) + op + 1
        for i, s, p, d, k, op in zip(spatial, stride, padding, dilation, kernel, output_padding,
                                     strict=True)
    )
    if any(o <= 0 for o in out_spatial):
        # PyTorch's wording for an empty result of a transposed convolution.
        raise RuntimeError(
            f"Given input size per channel: {_fmt_sizes(spatial)}. Calculated output size per "
            f"channel: {_fmt_sizes(out_spatial)}. Output size is too small"
        )
    x = input if batched else input.unsqueeze(0)
    out_channels = weight.shape[1] * groups
    x_shape = (x.shape[0], out_channels, *out_spatial)
    geom = _geometry(kernel, stride, tuple((p, p) for p in padding), dilation, groups, nd)
    out = _ConvTranspose.apply(x, weight, bias, geom, nd, x_shape)
    return out if batched else out.squeeze(0)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """1-D transposed convolution ("deconvolution"); ``weight`` is
    ``(in_channels, out_channels / groups, kL)``."""
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 1, "conv_transpose1d")


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """2-D transposed convolution, the gradient of ``conv2d`` with respect to its input;
    ``weight`` is ``(in_channels, out_channels / groups, kH, kW)``.

    >>> import probe
    >>> from probe.nn.functional_parts.conv import conv_transpose2d
    >>> conv_transpose2d(probe.ones(1, 1, 2, 2), probe.ones(1, 1, 3, 3), stride=2).shape
    probe.Size([1, 1, 5, 5])
    """
    return _conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                           dilation, 2, "conv_transpose2d")


# ---------------------------------------------------------------------------------------------
# unfold (im2col) and fold (col2im)
# ---------------------------------------------------------------------------------------------

def _unfold_arrays(xp, x, geom):
    """(N, C, H, W) -> (N, C*K1*K2, L) sliding blocks."""
    k1, k2, s1, s2, _, _, _, _, d1, d2, _ = geom
    n, c, h, w = x.shape
    oh, ow = _out_hw(geom, h, w)
    xpad = _padded(xp, x, geom, False)
    sn, sc, sh, sw = xpad.strides
    view = xp.lib.stride_tricks.as_strided(
        xpad, (n, c, k1, k2, oh, ow), (sn, sc, sh * d1, sw * d2, sh * s1, sw * s2))
    return xp.ascontiguousarray(view).reshape(n, c * k1 * k2, oh * ow)


def _fold_arrays(xp, cols, out_shape, geom):
    """(N, C*K1*K2, L) blocks summed into (N, C, H, W): the adjoint of ``_unfold_arrays``."""
    k1, k2, s1, s2, pt, pb, pl, pr, d1, d2, _ = geom
    n, c, h, w = out_shape
    oh, ow = _out_hw(geom, h, w)
    blocks = cols.reshape(n, c, k1, k2, oh, ow)
    out = xp.zeros((n, c, h + pt + pb, w + pl + pr), dtype=cols.dtype)
    for i in range(k1):
        hs = slice(i * d1, i * d1 + s1 * (oh - 1) + 1, s1)
        for j in range(k2):
            out[:, :, hs, j * d2:j * d2 + s2 * (ow - 1) + 1:s2] += blocks[:, :, i, j]
    if pt or pb or pl or pr:
        return xp.ascontiguousarray(out[:, :, pt:pt + h, pl:pl + w])
    return out


class _Im2Col(Op):
    node_name = "Im2ColBackward0"

    @staticmethod
    def forward(ctx, x, geom, batched):
        if not batched:
            x = x[None]
        if ctx.recording:
            ctx.geom = geom
            ctx.batched = batched
            ctx.x_shape = x.shape
        out = _unfold_arrays(ctx.xp, x, geom)
        return out if batched else out[0]

    @staticmethod
    def backward(ctx, g):
        if isinstance(g, Tensor):
            return (_Col2Im.apply(g, ctx.geom, ctx.batched, ctx.x_shape),)
        gb = g if ctx.batched else g[None]
        out = _fold_arrays(ctx.xp, gb, ctx.x_shape, ctx.geom)
        return (out if ctx.batched else out[0],)


class _Col2Im(Op):
    node_name = "Col2ImBackward0"

    @staticmethod
    def forward(ctx, cols, geom, batched, out_shape):
        if not batched:
            cols = cols[None]
        if ctx.recording:
            ctx.geom = geom
            ctx.batched = batched
        out = _fold_arrays(ctx.xp, cols, out_shape, geom)
        return out if batched else out[0]

    @staticmethod
    def backward(ctx, g):
        if isinstance(g, Tensor):
            return (_Im2Col.apply(g, ctx.geom, ctx.batched),)
        gb = g if ctx.batched else g[None]
        out = _unfold_arrays(ctx.xp, gb, ctx.geom)
        return (out if ctx.batched else out[0],)


def _pair(value, name):
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * 2
    if len(value) != 2:
        raise RuntimeError(f"{name} must be an int or a tuple of two ints, got {value}")
    return value


def _fold_args(kernel_size, dilation, padding, stride):
    kernel = _pair(kernel_size, "kernel_size")
    dilation = _pair(dilation, "dilation")
    padding = _pair(padding, "padding")
    stride = _pair(stride, "stride")
    if any(k <= 0 for k in kernel):
        raise RuntimeError(
            f"kernel size should be greater than zero, but got kernel_height: {kernel[0]} "
            f"kernel_width: {kernel[1]}")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(
            f"dilation should be greater than zero, but got dilation_height: {dilation[0]} "
            f"dilation_width: {dilation[1]}")
    if any(p < 0 for p in padding):
        raise RuntimeError(
            f"padding should be non-negative, but got pad_height: {padding[0]} pad_width: "
            f"{padding[1]}")
    if any(s <= 0 for s in stride):
        raise RuntimeError(
            f"stride should be greater than zero, but got stride_height: {stride[0]} "
            f"stride_width: {stride[1]}")
    return kernel, dilation, padding, stride


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding blocks (im2col): ``(N, C, H, W)`` -> ``(N, C*kH*kW, L)``.

    >>> import probe
    >>> from probe.nn.functional_parts.conv import unfold
    >>> unfold(probe.arange(16.0).reshape(1, 1, 4, 4), 2, stride=2).shape
    probe.Size([1, 4, 4])
    """
    kernel, dilation, padding, stride = _fold_args(kernel_size, dilation, padding, stride)
    if input.ndim not in (3, 4):
        raise RuntimeError(
            "Input Error: Only 3D or 4D input Tensors are supported (got "
            f"{input.ndim}D)")
    batched = input.ndim == 4
    h, w = input.shape[-2:]
    geom = _geometry(kernel, stride, ((padding[0], padding[0]), (padding[1], padding[1])),
                     dilation, 1, 2)
    oh, ow = _out_hw(geom, h, w)
    if oh < 1 or ow < 1:
        raise RuntimeError(
            f"Given input with spatial size ({h}, {w}), kernel_size=({kernel[0]}, {kernel[1]}), "
            f"dilation=({dilation[0]}, {dilation[1]}), padding=({padding[0]}, {padding[1]}), "
            f"calculated shape of the array of sliding blocks as ({oh}, {ow}), but its "
            "components must be at least one."
        )
    return _Im2Col.apply(input, geom, batched)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Combine sliding blocks into a tensor, summing overlaps (col2im): ``(N, C*kH*kW, L)`` ->
    ``(N, C, *output_size)``.

    >>> import probe
    >>> from probe.nn.functional_parts.conv import fold
    >>> fold(probe.ones(1, 4, 4), (4, 4), 2, stride=2).shape
    probe.Size([1, 1, 4, 4])
    """
    out_hw = _pair(output_size, "output_size")
    kernel, dilation, padding, stride = _fold_args(kernel_size, dilation, padding, stride)
    if input.ndim not in (2, 3):
        raise RuntimeError(
            "Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch size and "
            f"non-zero dimensions for input, but got: {_size_str(input.shape)}")
    batched = input.ndim == 3
    shape = tuple(input.shape) if batched else (1, *input.shape)
    kk = kernel[0] * kernel[1]
    if shape[1] % kk:
        raise RuntimeError(
            "Expected size of input's dimension 1 to be divisible by the product of "
            f"kernel_size, but got input.size(1)={shape[1]} and kernel_size=({kernel[0]}, "
            f"{kernel[1]}).")
    geom = _geometry(kernel, stride, ((padding[0], padding[0]), (padding[1], padding[1])),
                     dilation, 1, 2)
    oh, ow = _out_hw(geom, *out_hw)
    if oh < 1 or ow < 1:
        raise RuntimeError(
            f"Given output_size=({out_hw[0]}, {out_hw[1]}), kernel_size=({kernel[0]}, "
            f"{kernel[1]}), dilation=({dilation[0]}, {dilation[1]}), padding=({padding[0]}, "
            f"{padding[1]}), stride=({stride[0]}, {stride[1]}), calculated shape of the array "
            f"of sliding blocks as ({oh}, {ow}), but its components must be at least one.")
    if shape[2] != oh * ow:
        raise RuntimeError(
            f"Given output_size=({out_hw[0]}, {out_hw[1]}), kernel_size=({kernel[0]}, "
            f"{kernel[1]}), dilation=({dilation[0]}, {dilation[1]}), padding=({padding[0]}, "
            f"{padding[1]}), stride=({stride[0]}, {stride[1]}), expected size of input's "
            f"dimension 2 to match the calculated number of sliding blocks {oh} * {ow} = "
            f"{oh * ow}, but got input.size(2)={shape[2]}.")
    out_shape = (shape[0], shape[1] // kk, *out_hw)
    return _Col2Im.apply(input, geom, batched, out_shape)

