"""Attention in ``probe.nn.functional``: ``scaled_dot_product_attention`` and
``multi_head_attention_forward`` (PyTorch's names, signatures, mask conventions and errors).

Both run through one fused op, ``softmax(Q K^T * scale + mask) @ V`` with its backward written
next to it: one graph node instead of seven, the softmax done in place in the score buffer, and
the attention weights kept once for backward. The op returns the weights as a second output, so
``MultiheadAttention(need_weights=True)`` gets them without recomputing, and a backward under
``create_graph=True`` sees them as a differentiable tensor (higher-order gradients stay exact).

Fully masked rows follow PyTorch: ``scaled_dot_product_attention`` (and ``MultiheadAttention``
with ``need_weights=False``) give zeros there, as PyTorch's safe softmax does; the
``need_weights=True`` path of ``MultiheadAttention`` uses a plain softmax and gives NaN, as
PyTorch's does.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ...engine import random as _random
from ...engine.autograd import Op, _device_mismatch_msg
from ...engine.ops.linalg import linear as _linear
from ...engine.ops.shape import cat as _cat
from ...engine.tensor import Tensor, _wrap

__all__ = ["multi_head_attention_forward", "scaled_dot_product_attention"]

_NEG_INF = float("-inf")

# The C++ scalar names PyTorch prints in its attention errors.
_CPP_NAMES = {
    "float32": "float", "float64": "double", "float16": "c10::Half", "bfloat16": "c10::BFloat16",
    "int64": "long int", "int32": "int", "int16": "short int", "int8": "signed char",
    "uint8": "unsigned char", "bool": "bool",
}
_SHORT_NAMES = {
    "float32": "Float", "float64": "Double", "float16": "Half", "bfloat16": "BFloat16",
    "int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
    "bool": "Bool",
}


def _cpp(dtype) -> str:
    return _CPP_NAMES.get(dtype.name, dtype.name)


def _size_text(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _broadcast(a, b):
    """The broadcast of two shapes, or PyTorch's size-mismatch error (``a`` is tensor a)."""
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + tuple(a)
    b = (1,) * (n - len(b)) + tuple(b)
    out = []
    for i in range(n):
        x, y = a[i], b[i]
        if x != y and x != 1 and y != 1:
            raise RuntimeError(
                f"The size of tensor a ({x}) must match the size of tensor b ({y}) at "
                f"non-singleton dimension {i}"
            )
        out.append(y if x == 1 else x)
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# The fused op
# ---------------------------------------------------------------------------------------------

class _Attention(Op):
    """``(softmax(q @ k^T * scale + mask) * keep) @ v`` and the softmax weights.

    Arguments: ``q, k, v`` (Tensors; or ``q`` a packed ``(3, ..., L, E)`` tensor holding all
    three and ``k = v = None``, for self-attention: its gradient is then written into one
    buffer laid out like the packed input, with no slicing and re-assembling), ``fmask`` (an
    additive float mask Tensor or None), ``blocked`` (a raw bool array, True where a query may
    not look, or None), ``keep`` (a raw dropout mask already scaled by ``1 / (1 - p)``, or
    None), ``scale``, ``causal`` (block the upper triangle) and ``safe`` (rows with no allowed
    key give zeros instead of NaN).
    """

    # PyTorch's name for its fused CPU kernel, the top node of a 4-D scaled_dot_product_attention
    # there. Calls PyTorch sends to its unfused math path instead (3-D or 5-D inputs, dropout,
    # broadcast batch dims, a mask that requires grad) stay fused here, so their top node keeps
    # this name where PyTorch shows the final matmul's UnsafeViewBackward0/MmBackward0.
    node_name = "ScaledDotProductFlashAttentionForCpuBackward0"
    # Callers usually use only one of the two outputs: don't build zeros for the other.
    materialize_grads = False

    @staticmethod
    def forward(ctx, q, k, v, fmask, blocked, keep, scale, causal, safe):
        xp = ctx.xp
        packed = k is None
        qkv = q
        if packed:
            q, k, v = qkv[0], qkv[1], qkv[2]
        s = xp.matmul(q, xp.swapaxes(k, -1, -2))
        n_keys = s.shape[-1]
        if scale != 1.0:
            s *= scale
        masked = False
        if fmask is not None:
            s += fmask
            masked = True
        if blocked is not None:
            xp.copyto(s, _NEG_INF, where=blocked)
            masked = True
        if causal and n_keys:
            # Top-left aligned, as PyTorch: query i sees keys 0..i.
            xp.copyto(s, _NEG_INF, where=~xp.tri(s.shape[-2], n_keys, dtype=bool))
        if n_keys:
            m = xp.max(s, axis=-1, keepdims=True)
            if masked and safe:
                m[m == _NEG_INF] = 0
            with _quiet():  # -inf - -inf: the NaN rows PyTorch gives without safe softmax
                s -= m
            xp.exp(s, out=s)
            d = _row_sum(xp, s)
            if masked and safe:
                d[d == 0] = 1
            xp.reciprocal(d, out=d)
            s *= d
        p = s
        out = xp.matmul(p if keep is None else p * keep, v)
        if ctx.recording:
            ctx.save_for_backward(qkv, None if packed else k, None if packed else v, p, keep)
            ctx.scale = scale
            ctx.packed = packed
        return out, p

    @staticmethod
    def backward(ctx, g_out, g_p):
        q, k, v, p, keep = ctx.saved
        xp = ctx.xp
        need = ctx.needs_input_grad
        scale = ctx.scale
        raw = not isinstance(p, Tensor)
        buf = None
        if ctx.packed:
            qkv = q
            q, k, v = qkv[0], qkv[1], qkv[2]
            need = (need[0], need[0], need[0], need[3])
            if raw and need[0]:
                buf = xp.empty_like(qkv)  # keeps the packed input's memory layout
        need_scores = need[0] or need[1] or need[3]
        gq = gk = gv = gm = None
        dp = None
        if g_out is not None:
            if need[2]:
                pd = p if keep is None else p * keep
                gv = _matmul(xp, xp.swapaxes(pd, -1, -2), g_out, None if buf is None else buf[2])
            if need_scores:
                dp = xp.matmul(g_out, xp.swapaxes(v, -1, -2))
                if keep is not None:
                    dp = dp * keep
        if g_p is not None and need_scores:
            dp = g_p if dp is None else dp + g_p
        if dp is not None:
            # Softmax backward: ds = p * (dp - sum(dp * p)).
            if not raw or dp is g_p:
                ds = p * (dp - xp.sum(dp * p, axis=-1, keepdims=True))
            else:  # a fresh array in an ordinary backward: work in place
                row = _row_sum(xp, dp * p)
                dp -= row
                dp *= p
                ds = dp
            if need[3]:
                gm = ds
            if need[0]:
                gq = _matmul(xp, ds, k, None if buf is None else buf[0])
                gq = gq * scale if buf is None else _scale_inplace(gq, scale)
            if need[1]:
                gk = _matmul(xp, xp.swapaxes(ds, -1, -2), q, None if buf is None else buf[1])
                gk = gk * scale if buf is None else _scale_inplace(gk, scale)
        if not ctx.packed:
            return gq, gk, gv, gm
        if not need[0]:
            return None, None, None, gm
        grads = (gq, gk, gv)
        if buf is not None:
            for i, g in enumerate(grads):
                if g is None:
                    buf[i] = 0
            return buf, None, None, gm
        parts = [xp.zeros_like(qkv[i]) if g is None else g for i, g in enumerate(grads)]
        return xp.stack(parts), None, None, gm


def _row_sum(xp, a):
    """Sums over the last axis, keeping it: one batched GEMV against ones (several times faster
    than NumPy's reduction over a short contiguous axis)."""
    if a.dtype.kind == "f" and a.dtype.itemsize >= 4:
        return xp.matmul(a, xp.ones((a.shape[-1], 1), dtype=a.dtype))
    return xp.sum(a, axis=-1, keepdims=True)


def _matmul(xp, a, b, out):
    if out is None:
        return xp.matmul(a, b)
    xp.matmul(a, b, out=out)
    return out


def _scale_inplace(a, scale):
    a *= scale
    return a


def _quiet():
    return np.errstate(invalid="ignore")


def _keep_mask(like: Tensor, shape, p: float):
    """A dropout keep mask of ``shape`` in ``like``'s dtype, scaled by ``1 / (1 - p)``."""
    data = like._data
    xp = like._device.xp
    if p >= 1.0:
        return xp.zeros(shape, dtype=data.dtype)
    rng = _random._generator_for(like._device, None)
    u = _random._sample_float(rng, "uniform", shape, data.dtype)
    keep = (u >= p).astype(data.dtype)
    keep *= data.dtype.type(1.0 / (1.0 - p))
    return keep


def _check_same_device(ref: Tensor, other: Tensor):
    if other._device is not ref._device:
        raise RuntimeError(_device_mismatch_msg(ref._device, other._device))


# ---------------------------------------------------------------------------------------------
# scaled_dot_product_attention
# ---------------------------------------------------------------------------------------------

def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """``softmax(query @ key.transpose(-2, -1) * scale + mask) @ value``.

    ``attn_mask`` is a bool mask (True: the query may attend to that key) or a float mask added
    to the scores, broadcast to ``(..., L, S)``; ``is_causal`` masks the upper triangle;
    ``scale`` defaults to ``1 / sqrt(E)``; ``dropout_p`` drops attention weights (always, as in
    PyTorch's functional form); ``enable_gqa`` lets ``query`` have a multiple of the key/value
    heads (dim -3). Rows where every key is masked give zeros, as PyTorch's.

    >>> import probe
    >>> q = k = v = probe.ones(2, 4, 3, 8)
    >>> probe.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).shape
    probe.Size([2, 4, 3, 8])
    """
    q, k, v = query._data, key._data, value._data
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise RuntimeError(
            "Expected query, key, and value to all be  at least 2 dimensional, but got "
            f"query.dim: {q.ndim} key.dim: {k.ndim} and value.dim: {v.ndim} instead."
        )
    if not (q.dtype == k.dtype == v.dtype):
        raise RuntimeError(
            "Expected query, key, and value to have the same dtype, but got query.dtype: "
            f"{_cpp(q.dtype)} key.dtype: {_cpp(k.dtype)} and value.dtype: {_cpp(v.dtype)} "
            "instead."
        )
    if q.dtype.kind != "f":
        raise RuntimeError(
            f"expected scalar type Float but found {_SHORT_NAMES.get(q.dtype.name, q.dtype.name)}"
        )
    _check_same_device(query, key)
    _check_same_device(query, value)
    if attn_mask is not None:
        _check_same_device(query, attn_mask)
        mdt = attn_mask._data.dtype
        if mdt != np.bool_ and mdt != np.float32 and mdt != q.dtype:
            raise RuntimeError(
                "Expected attn_mask dtype to be bool or float or to match query dtype, but got "
                f"attn_mask.dtype: {_cpp(mdt)} and  query.dtype: {_cpp(q.dtype)} instead."
            )
        if is_causal:
            raise RuntimeError(
                "_scaled_dot_product_attention: Explicit attn_mask should not be set when "
                "is_causal=True"
            )
    if not 0.0 <= dropout_p <= 1.0:
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")
    if enable_gqa and q.ndim >= 3 and k.ndim >= 3 and v.ndim >= 3:
        hq, hk, hv = q.shape[-3], k.shape[-3], v.shape[-3]
        if hk == 0 or hv == 0 or hq % hk or hq % hv:
            raise RuntimeError(
                "Number of heads in key and value must divide the number of heads in query "
                f"(got {hq} query heads, {hk} key heads and {hv} value heads)"
            )
        if hk != hq:
            key = key.repeat_interleave(hq // hk, dim=-3)
        if hv != hq:
            value = value.repeat_interleave(hq // hv, dim=-3)
        k, v = key._data, value._data

    batch_q, batch_k, batch_v = q.shape[:-2], k.shape[:-2], v.shape[:-2]
    if k.shape[-1] != q.shape[-1]:
        n = math.prod(_broadcast(batch_q, batch_k))
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{n}, "
            f"{q.shape[-1]}] but got: [{n}, {k.shape[-1]}]."
        )
    score_batch = _broadcast(batch_q, batch_k)
    if v.shape[-2] != k.shape[-2]:
        n = math.prod(_broadcast(score_batch, batch_v))
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: [{n}, "
            f"{k.shape[-2]}] but got: [{n}, {v.shape[-2]}]."
        )
    _broadcast(score_batch, batch_v)
    score_shape = score_batch + (q.shape[-2], k.shape[-2])

    fmask = blocked = None
    if attn_mask is not None:
        mshape = attn_mask._data.shape
        full = _broadcast(score_shape, mshape)
        if full != score_shape:
            raise RuntimeError(
                f"output with shape {_size_text(score_shape)} doesn't match the broadcast shape "
                f"{_size_text(full)}"
            )
        if attn_mask._data.dtype == np.bool_:
            blocked = ~attn_mask._data
        else:
            fmask = attn_mask
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1]) if q.shape[-1] else math.inf
    keep = _keep_mask(query, score_shape, dropout_p) if dropout_p > 0.0 else None
    out, _ = _Attention.apply(query, key, value, fmask, blocked, keep, float(scale),
                              bool(is_causal), True)
    return out


# ---------------------------------------------------------------------------------------------
# multi_head_attention_forward
# ---------------------------------------------------------------------------------------------

def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads):
    """PyTorch's shape checks; True for batched (3-D) inputs."""
    qd = query.dim()
    if qd == 3:
        if key.dim() != 3 or value.dim() != 3:
            raise AssertionError(
                "For batched (3-D) `query`, expected `key` and `value` to be 3-D but found "
                f"{key.dim()}-D and {value.dim()}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask.dim() != 2:
            raise AssertionError(
                "For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D but "
                f"found {key_padding_mask.dim()}-D tensor instead"
            )
        if attn_mask is not None and attn_mask.dim() not in (2, 3):
            raise AssertionError(
                "For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but "
                f"found {attn_mask.dim()}-D tensor instead"
            )
        return True
    if qd == 2:
        if key.dim() != 2 or value.dim() != 2:
            raise AssertionError(
                "For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found "
                f"{key.dim()}-D and {value.dim()}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask.dim() != 1:
            raise AssertionError(
                "For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D "
                f"but found {key_padding_mask.dim()}-D tensor instead"
            )
        if attn_mask is not None:
            if attn_mask.dim() not in (2, 3):
                raise AssertionError(
                    "For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D "
                    f"but found {attn_mask.dim()}-D tensor instead"
                )
            if attn_mask.dim() == 3:
                expected = (num_heads, query.shape[0], key.shape[0])
                if tuple(attn_mask.shape) != expected:
                    raise AssertionError(
                        f"Expected `attn_mask` shape to be {expected} but got {attn_mask.shape}"
                    )
        return False
    raise AssertionError(
        f"query should be unbatched 2D or batched 3D tensor but received {qd}-D query tensor"
    )


def _check_mask_type(mask, mask_name, other, other_name):
    """PyTorch's ``_canonical_mask`` checks (probe keeps bool masks bool: cheaper, same result)."""
    if mask is None:
        return
    dt = mask._data.dtype
    if dt != np.bool_ and dt.kind != "f":
        raise AssertionError(f"only bool and floating types of {mask_name} are supported")
    if other is not None and other._data.dtype != dt:
        warnings.warn(
            f"Support for mismatched {mask_name} and {other_name} is deprecated. Use same type "
            "for both instead.",
            stacklevel=4,
        )


def _pad_key_axis(mask):
    """One more (allowed) key at the end of a mask's last axis."""
    if mask is None:
        return None
    data = mask._data
    xp = mask._device.xp
    if data.dtype == np.bool_:
        pad = xp.zeros(data.shape[:-1] + (1,), dtype=data.dtype)
        return _wrap(xp.concatenate([data, pad], axis=-1), mask._device)
    pad = _wrap(xp.zeros(data.shape[:-1] + (1,), dtype=data.dtype), mask._device)
    return _cat([mask, pad], dim=-1)


def _as_additive(mask, dtype):
    """A float mask (bool True -> -inf, as PyTorch's ``_canonical_mask``)."""
    data = mask._data
    if data.dtype != np.bool_:
        return mask
    xp = mask._device.xp
    return _wrap(xp.where(data, _NEG_INF, 0.0).astype(dtype), mask._device)


def _in_projection(query, key, value, num_heads, in_proj_weight, in_proj_bias,
                   use_separate_proj_weight, q_proj_weight, k_proj_weight, v_proj_weight):
    """The three projections (packed weight: one GEMM for self-attention, two for
    encoder-decoder attention)."""
    E = query.shape[-1]
    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        if key is value and query is key:
            proj = _linear(query, in_proj_weight, in_proj_bias)
            return proj[..., :E], proj[..., E:2 * E], proj[..., 2 * E:]
        if key is value:
            b_q = b_kv = None
            if in_proj_bias is not None:
                b_q, b_kv = in_proj_bias[:E], in_proj_bias[E:]
            q = _linear(query, in_proj_weight[:E], b_q)
            kv = _linear(key, in_proj_weight[E:], b_kv)
            return q, kv[..., :E], kv[..., E:]
        w_q, w_k, w_v = in_proj_weight[:E], in_proj_weight[E:2 * E], in_proj_weight[2 * E:]
        b_q = b_k = b_v = None
        if in_proj_bias is not None:
            b_q, b_k, b_v = in_proj_bias[:E], in_proj_bias[E:2 * E], in_proj_bias[2 * E:]
        return _linear(query, w_q, b_q), _linear(key, w_k, b_k), _linear(value, w_v, b_v)
    for name, w in (("q", q_proj_weight), ("k", k_proj_weight), ("v", v_proj_weight)):
        if w is None:
            raise AssertionError(f"use_separate_proj_weight is True but {name}_proj_weight is None")
    Ek, Ev = key.shape[-1], value.shape[-1]
    for what, w, shape in (("query", q_proj_weight, (E, E)), ("key", k_proj_weight, (E, Ek)),
                           ("value", v_proj_weight, (E, Ev))):
        if tuple(w.shape) != shape:
            raise AssertionError(f"expecting {what} weights shape of {shape}, but got {w.shape}")
    b_q = b_k = b_v = None
    if in_proj_bias is not None:
        b_q, b_k, b_v = in_proj_bias[:E], in_proj_bias[E:2 * E], in_proj_bias[2 * E:]
        for what, b in (("query", b_q), ("key", b_k), ("value", b_v)):
            if tuple(b.shape) != (E,):
                raise AssertionError(f"expecting {what} bias shape of {(E,)}, but got {b.shape}")
    return (_linear(query, q_proj_weight, b_q), _linear(key, k_proj_weight, b_k),
            _linear(value, v_proj_weight, b_v))


def _heads(x, batch_major, num_heads, head_dim):
    """``(N, S, E)`` or ``(S, N, E)`` -> ``(N, H, S, head_dim)`` (a view)."""
    a, b = x.shape[0], x.shape[1]
    x = x.reshape(a, b, num_heads, head_dim)
    return x.permute(0, 2, 1, 3) if batch_major else x.permute(1, 2, 0, 3)


def _seq_major_shape(x, batch_major):
    """``x``'s shape as PyTorch's functional sees it: ``(S, N, E)`` (unbatched inputs have
    N = 1 there)."""
    shape = x.shape
    if batch_major:
        return type(shape)((shape[1], shape[0], shape[2]))
    return shape


def _static(t, name, bsz, num_heads, head_dim):
    """A caller-given ``(N * num_heads, S, head_dim)`` key or value as ``(N, H, S, hd)``."""
    if t.size(0) != bsz * num_heads:
        raise AssertionError(f"expecting {name}.size(0) of {bsz * num_heads}, but got {t.size(0)}")
    if t.size(2) != head_dim:
        raise AssertionError(f"expecting {name}.size(2) of {head_dim}, but got {t.size(2)}")
    return t.reshape(bsz, num_heads, t.shape[1], head_dim)


def _multi_head_attention(query, key, value, embed_dim_to_check, num_heads, in_proj_weight,
                          in_proj_bias, bias_k, bias_v, add_zero_attn, dropout_p,
                          out_proj_weight, out_proj_bias, training, key_padding_mask,
                          need_weights, attn_mask, use_separate_proj_weight, q_proj_weight,
                          k_proj_weight, v_proj_weight, static_k, static_v,
                          average_attn_weights, is_causal, batch_first):
    """``multi_head_attention_forward`` for inputs laid out ``(L, N, E)`` or, with
    ``batch_first``, ``(N, L, E)`` (no transposing copies either way)."""
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
        batch_major = True
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    else:
        batch_major = batch_first
    if batch_major:
        bsz, tgt_len, embed_dim = query.shape
        src_len = key.shape[1]
    else:
        tgt_len, bsz, embed_dim = query.shape
        src_len = key.shape[0]

    _check_mask_type(key_padding_mask, "key_padding_mask", attn_mask, "attn_mask")
    if is_causal and attn_mask is None:
        raise RuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer "
            "module method `generate_square_subsequent_mask` to create this mask."
        )
    if is_causal and key_padding_mask is None and not need_weights:
        # Only the hint is used: SDPA builds the causal mask itself.
        attn_mask = None
    else:
        _check_mask_type(attn_mask, "attn_mask", None, "")
        is_causal = False
    if embed_dim != embed_dim_to_check:
        raise AssertionError(
            f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}"
        )
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if key.shape[:2] != value.shape[:2]:
            k_shape, v_shape = _seq_major_shape(key, batch_major), _seq_major_shape(value,
                                                                                  batch_major)
            raise AssertionError(
                f"key's sequence and batch dims {k_shape[:2]} do not match value's "
                f"{v_shape[:2]}"
            )
    elif key.shape != value.shape:
        raise AssertionError(
            f"key shape {_seq_major_shape(key, batch_major)} does not match value shape "
            f"{_seq_major_shape(value, batch_major)}"
        )

    # Self-attention with the packed weight: one GEMM, and q, k, v stay one packed tensor
    # (3, N, H, L, head_dim) all the way into the attention op.
    packed = (not use_separate_proj_weight and in_proj_weight is not None
              and query is key and key is value and bias_k is None and bias_v is None
              and static_k is None and static_v is None and not add_zero_attn)
    if packed:
        qkv = _linear(query, in_proj_weight, in_proj_bias)
        qkv = qkv.reshape(qkv.shape[0], qkv.shape[1], 3, num_heads, head_dim)
        qkv = qkv.permute(2, 0, 3, 1, 4) if batch_major else qkv.permute(2, 1, 3, 0, 4)
        q = k = v = None
    else:
        q, k, v = _in_projection(query, key, value, num_heads, in_proj_weight, in_proj_bias,
                                 use_separate_proj_weight, q_proj_weight, k_proj_weight,
                                 v_proj_weight)

    if attn_mask is not None:
        if attn_mask.dim() == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(
                    f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be "
                    f"{(tgt_len, src_len)}."
                )
        elif attn_mask.dim() == 3:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(
                    f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                    f"{(bsz * num_heads, tgt_len, src_len)}."
                )
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")

    seq_axis = 1 if batch_major else 0
    if bias_k is not None and bias_v is not None:
        if static_k is not None:
            raise AssertionError("bias cannot be added to static key.")
        if static_v is not None:
            raise AssertionError("bias cannot be added to static value.")
        shape = (bsz, 1, embed_dim) if batch_major else (1, bsz, embed_dim)
        k = _cat([k, bias_k.reshape(1, 1, embed_dim).expand(*shape)], dim=seq_axis)
        v = _cat([v, bias_v.reshape(1, 1, embed_dim).expand(*shape)], dim=seq_axis)
        attn_mask = _pad_key_axis(attn_mask)
        key_padding_mask = _pad_key_axis(key_padding_mask)
    elif bias_k is not None:
        raise AssertionError("bias_k is set but bias_v is None")
    elif bias_v is not None:
        raise AssertionError("bias_v is set but bias_k is None")

    if not packed:
        q = _heads(q, batch_major, num_heads, head_dim)
        k = (_heads(k, batch_major, num_heads, head_dim) if static_k is None
             else _static(static_k, "static_k", bsz, num_heads, head_dim))
        v = (_heads(v, batch_major, num_heads, head_dim) if static_v is None
             else _static(static_v, "static_v", bsz, num_heads, head_dim))

    if add_zero_attn:
        xp = query._device.xp
        zeros = _wrap(xp.zeros((bsz, num_heads, 1, head_dim), dtype=k._data.dtype), k._device)
        k = _cat([k, zeros], dim=2)
        v = _cat([v, zeros], dim=2)
        attn_mask = _pad_key_axis(attn_mask)
        key_padding_mask = _pad_key_axis(key_padding_mask)
    src_len = qkv.shape[3] if packed else k.shape[2]

    # Masks as (N or 1, H or 1, L, S): a bool "blocked" array when every mask is bool (no
    # arithmetic), else one additive float mask (which keeps a float mask's gradient).
    masks = []
    if attn_mask is not None:
        masks.append(attn_mask.reshape(1, 1, tgt_len, src_len) if attn_mask.dim() == 2
                     else attn_mask.reshape(bsz, num_heads, tgt_len, src_len))
    if key_padding_mask is not None:
        if key_padding_mask.shape[0] != bsz:
            raise AssertionError(
                f"Expected key_padded_mask.shape[0] to be {bsz}, but got "
                f"{key_padding_mask.shape[0]}"
            )
        if key_padding_mask.shape[1] != src_len:
            raise AssertionError(
                f"Expected key_padded_mask.shape[1] to be {src_len}, but got "
                f"{key_padding_mask.shape[1]}"
            )
        masks.append(key_padding_mask.reshape(bsz, 1, 1, src_len))
    fmask = blocked = None
    if masks:
        for m in masks:
            _check_same_device(query, m)
        if all(m._data.dtype == np.bool_ for m in masks):
            blocked = masks[0]._data
            if len(masks) == 2:
                blocked = blocked | masks[1]._data
        else:
            dtype = query._data.dtype
            fmask = _as_additive(masks[0], dtype)
            if len(masks) == 2:
                fmask = fmask + _as_additive(masks[1], dtype)

    if not training:
        dropout_p = 0.0
    keep = None
    if dropout_p > 0.0:
        keep = _keep_mask(query, (bsz, num_heads, tgt_len, src_len), dropout_p)
    scale = 1.0 / math.sqrt(head_dim)
    out, weights = _Attention.apply(qkv if packed else q, k, v, fmask, blocked, keep, scale,
                                    bool(is_causal), not need_weights)
    if batch_major:
        out = out.permute(0, 2, 1, 3).reshape(bsz, tgt_len, embed_dim)
    else:
        out = out.permute(2, 0, 1, 3).reshape(tgt_len, bsz, embed_dim)
    out = _linear(out, out_proj_weight, out_proj_bias)
    if not is_batched:
        out = out.squeeze(0)
    if not need_weights:
        return out, None
    if keep is not None:
        # PyTorch returns the weights after dropout.
        weights = weights * _wrap(keep, weights._device)
    if average_attn_weights:
        weights = weights.mean(dim=1)
    if not is_batched:
        weights = weights.squeeze(0)
    return out, weights


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads,
                                 in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
                                 dropout_p, out_proj_weight, out_proj_bias, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights=True, is_causal=False):
    """Multi-head attention on ``(L, N, E)`` inputs (or unbatched ``(L, E)``), as
    ``torch.nn.functional.multi_head_attention_forward``: returns ``(attn_output,
    attn_weights)``, the weights averaged over heads unless ``average_attn_weights=False``, and
    None when ``need_weights=False``.

    ``key_padding_mask`` ``(N, S)`` and ``attn_mask`` ``(L, S)`` or ``(N * num_heads, L, S)``
    are bool (True: *not* allowed to attend) or float (added to the scores).
    """
    return _multi_head_attention(
        query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias, bias_k,
        bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias, training,
        key_padding_mask, need_weights, attn_mask, use_separate_proj_weight, q_proj_weight,
        k_proj_weight, v_proj_weight, static_k, static_v, average_attn_weights, is_causal, False,
    )
