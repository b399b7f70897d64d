"""Attention: ``scaled_dot_product_attention``, ``multi_head_attention_forward``,
``MultiheadAttention`` and the Transformer layers — gradchecks (float64) over inputs, masks and
parameters, shapes, masks and fully masked rows, dropout in train/eval, errors with PyTorch's
wording, state_dict keys, reprs and default initialisation."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import probe
from probe.autograd import gradcheck, gradgradcheck
from probe.nn.functional_parts.activation import gelu, relu
from probe.nn.functional_parts.attention import (
    multi_head_attention_forward,
    scaled_dot_product_attention,
)
from probe.nn.modules.activation import GELU
from probe.nn.modules.multihead_attention import MultiheadAttention
from probe.nn.modules.normalization import LayerNorm
from probe.nn.modules.transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

sdpa = scaled_dot_product_attention


def _np(t):
    return t.detach().cpu().numpy()


def _randn(rng, *shape, device="cpu", requires_grad=True, dtype=np.float64):
    return probe.tensor(rng.standard_normal(shape).astype(dtype), device=device,
                        requires_grad=requires_grad)


def _reference(q, k, v, mask=None, causal=False, scale=None):
    """softmax(q k^T * scale + mask) v in NumPy (float64), zeros for fully masked rows."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if causal:
        s = np.where(np.tri(s.shape[-2], s.shape[-1], dtype=bool), s, -np.inf)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    m = s.max(-1, keepdims=True)
    m = np.where(np.isneginf(m), 0, m)
    e = np.exp(s - m)
    d = e.sum(-1, keepdims=True)
    return (e / np.where(d == 0, 1, d)) @ v


# ---------------------------------------------------------------------------------------------
# scaled_dot_product_attention
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("qs, ks, vs", [
    ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)),
    ((4, 5), (6, 5), (6, 3)),
    ((3, 4, 5), (1, 6, 5), (3, 6, 2)),
    ((4, 5), (2, 3, 6, 5), (6, 3)),
])
def test_sdpa_matches_reference(device, rng, qs, ks, vs):
    q, k, v = (_randn(rng, *s, device=device, requires_grad=False) for s in (qs, ks, vs))
    out = sdpa(q, k, v)
    np.testing.assert_allclose(_np(out), _reference(_np(q), _np(k), _np(v)), atol=1e-12)
    assert out.dtype == probe.float64


@pytest.mark.parametrize("mask_shape", [(4, 6), (2, 1, 4, 6), (1, 6), (3, 4, 6)])
def test_sdpa_bool_and_float_masks(device, rng, mask_shape):
    q, k, v = (_randn(rng, *s, device=device, requires_grad=False)
               for s in ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)))
    bmask = rng.random(mask_shape) > 0.3
    out = sdpa(q, k, v, attn_mask=probe.tensor(bmask, device=device))
    np.testing.assert_allclose(_np(out), _reference(_np(q), _np(k), _np(v), bmask), atol=1e-12)
    fmask = rng.standard_normal(mask_shape)
    out = sdpa(q, k, v, attn_mask=probe.tensor(fmask, device=device))
    np.testing.assert_allclose(_np(out), _reference(_np(q), _np(k), _np(v), fmask), atol=1e-12)


@pytest.mark.parametrize("L, S", [(4, 4), (3, 6), (6, 3)])
def test_sdpa_is_causal_is_top_left_aligned(rng, L, S):
    q, k, v = (_randn(rng, *s, requires_grad=False) for s in ((2, L, 5), (2, S, 5), (2, S, 3)))
    out = sdpa(q, k, v, is_causal=True)
    np.testing.assert_allclose(_np(out), _reference(_np(q), _np(k), _np(v), causal=True),
                               atol=1e-12)
    explicit = probe.tensor(np.tri(L, S, dtype=bool))
    np.testing.assert_allclose(_np(out), _np(sdpa(q, k, v, attn_mask=explicit)), atol=1e-12)


def test_sdpa_scale(rng):
    q, k, v = (_randn(rng, 2, 4, 5, requires_grad=False) for _ in range(3))
    out = sdpa(q, k, v, scale=0.3)
    np.testing.assert_allclose(_np(out), _reference(_np(q), _np(k), _np(v), scale=0.3),
                               atol=1e-12)


def test_sdpa_fully_masked_rows_give_zeros_and_zero_grads(device, rng):
    q, k, v = (_randn(rng, *s, device=device) for s in ((2, 4, 5), (2, 6, 5), (2, 6, 3)))
    mask = np.ones((4, 6), dtype=bool)
    mask[1] = False
    out = sdpa(q, k, v, attn_mask=probe.tensor(mask, device=device))
    assert np.all(_np(out)[:, 1] == 0) and np.isfinite(_np(out)).all()
    out.sum().backward()
    assert np.all(_np(q.grad)[:, 1] == 0) and np.isfinite(_np(k.grad)).all()
    fmask = np.zeros((4, 6))
    fmask[2] = -np.inf
    out = sdpa(q, k, v, attn_mask=probe.tensor(fmask, device=device))
    assert np.all(_np(out)[:, 2] == 0) and np.isfinite(_np(out)).all()


def test_sdpa_no_keys_gives_zeros(rng):
    q = _randn(rng, 2, 4, 5)
    k = _randn(rng, 2, 0, 5)
    v = _randn(rng, 2, 0, 3)
    out = sdpa(q, k, v)
    assert out.shape == (2, 4, 3) and np.all(_np(out) == 0)


def test_sdpa_float32_stays_float32(device, rng):
    q, k, v = (_randn(rng, 2, 3, 4, 8, device=device, dtype=np.float32) for _ in range(3))
    mask = probe.tensor(rng.standard_normal((4, 4)).astype(np.float32), device=device)
    out = sdpa(q, k, v, attn_mask=mask)
    assert out.dtype == probe.float32
    out.sum().backward()
    assert q.grad.dtype == probe.float32 and k.grad.dtype == probe.float32


def test_sdpa_grad_fn_and_next_functions(rng):
    q, k, v = (_randn(rng, 2, 4, 5) for _ in range(3))
    out = sdpa(q, k, v)
    assert out.grad_fn.name() == "ScaledDotProductFlashAttentionForCpuBackward0"
    assert len(out.grad_fn.next_functions) == 3


def test_sdpa_enable_gqa(rng):
    q = _randn(rng, 2, 4, 3, 5, requires_grad=False)
    k = _randn(rng, 2, 2, 6, 5, requires_grad=False)
    v = _randn(rng, 2, 2, 6, 3, requires_grad=False)
    out = sdpa(q, k, v, enable_gqa=True)
    kr, vr = np.repeat(_np(k), 2, axis=1), np.repeat(_np(v), 2, axis=1)
    np.testing.assert_allclose(_np(out), _reference(_np(q), kr, vr), atol=1e-12)


def test_sdpa_dropout_is_seeded_and_scaled(rng):
    q, k = (_randn(rng, 1, 8, 4, requires_grad=False) for _ in range(2))
    v = probe.ones(1, 8, 3, dtype=probe.float64)
    probe.manual_seed(0)
    a = sdpa(q, k, v, dropout_p=0.5)
    probe.manual_seed(0)
    b = sdpa(q, k, v, dropout_p=0.5)
    assert np.array_equal(_np(a), _np(b))
    assert not np.allclose(_np(a), 1.0)  # rows of kept weights, rescaled by 2
    assert np.all(_np(sdpa(q, k, v, dropout_p=1.0)) == 0)
    np.testing.assert_allclose(_np(sdpa(q, k, v, dropout_p=0.0)), 1.0)


# gradchecks -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["none", "float", "bool", "causal", "scale", "broadcast"])
def test_sdpa_gradcheck(device, rng, kind):
    q = _randn(rng, 2, 2, 3, 4, device=device)
    k = _randn(rng, 2, 2, 5, 4, device=device)
    v = _randn(rng, 2, 2, 5, 3, device=device)
    kwargs = {}
    inputs = [q, k, v]
    if kind == "float":
        m = _randn(rng, 3, 5, device=device)
        inputs.append(m)
    elif kind == "bool":
        bm = rng.random((2, 1, 3, 5)) > 0.4
        bm[0, 0, 1] = False  # one fully masked row
        kwargs["attn_mask"] = probe.tensor(bm, device=device)
    elif kind == "causal":
        kwargs["is_causal"] = True
    elif kind == "scale":
        kwargs["scale"] = 0.37
    elif kind == "broadcast":
        inputs[0] = _randn(rng, 3, 4, device=device)

    def fn(*args):
        if kind == "float":
            return sdpa(*args[:3], attn_mask=args[3])
        return sdpa(*args, **kwargs)

    assert gradcheck(fn, tuple(inputs))
    if kind in ("float", "bool", "causal"):
        assert gradgradcheck(fn, tuple(inputs))


def test_sdpa_gradcheck_with_dropout(rng):
    q, k, v = (_randn(rng, 2, 3, 4) for _ in range(3))

    def fn(q, k, v):
        probe.manual_seed(7)
        return sdpa(q, k, v, dropout_p=0.3)

    assert gradcheck(fn, (q, k, v))
    assert gradgradcheck(fn, (q, k, v))


def test_sdpa_gradcheck_gqa(rng):
    q = _randn(rng, 1, 4, 3, 4)
    k = _randn(rng, 1, 2, 5, 4)
    v = _randn(rng, 1, 2, 5, 3)
    assert gradcheck(lambda q, k, v: sdpa(q, k, v, enable_gqa=True), (q, k, v))


# errors ---------------------------------------------------------------------------------------

def _qkv(rng, dtype=np.float32):
    return (_randn(rng, 2, 3, 4, 5, requires_grad=False, dtype=dtype),
            _randn(rng, 2, 3, 6, 5, requires_grad=False, dtype=dtype),
            _randn(rng, 2, 3, 6, 7, requires_grad=False, dtype=dtype))


def test_sdpa_errors(rng):
    q, k, v = _qkv(rng)
    with pytest.raises(RuntimeError, match=r"Explicit attn_mask should not be set when "
                                           r"is_causal=True"):
        sdpa(q, k, v, attn_mask=probe.ones(4, 6, dtype=probe.bool), is_causal=True)
    with pytest.raises(RuntimeError, match=r"Expected query, key, and value to have the same "
                                           r"dtype, but got query.dtype: float key.dtype: double"):
        sdpa(q, k.double(), v)
    with pytest.raises(RuntimeError, match=r"Expected attn_mask dtype to be bool or float or to "
                                           r"match query dtype, but got attn_mask.dtype: double"):
        sdpa(q, k, v, attn_mask=probe.zeros(4, 6, dtype=probe.float64))
    with pytest.raises(RuntimeError, match="attn_mask.dtype: long int"):
        sdpa(q, k, v, attn_mask=probe.zeros(4, 6, dtype=probe.int64))
    with pytest.raises(RuntimeError, match="at least 2 dimensional"):
        sdpa(q[0, 0, 0], k[0, 0], v[0, 0])
    with pytest.raises(RuntimeError, match=r"Expected size for first two dimensions of batch2 "
                                           r"tensor to be: \[6, 5\] but got: \[6, 4\]\."):
        sdpa(q, k[..., :4], v)
    with pytest.raises(RuntimeError, match=r"to be: \[6, 5\] but got: \[6, 6\]\."):
        sdpa(q, k[:, :, :5], v)
    with pytest.raises(RuntimeError, match=r"The size of tensor a \(4\) must match the size of "
                                           r"tensor b \(5\) at non-singleton dimension 2"):
        sdpa(q, k, v, attn_mask=probe.zeros(5, 6))
    with pytest.raises(RuntimeError, match=r"output with shape \[1, 3, 4, 6\] doesn't match the "
                                           r"broadcast shape \[5, 3, 4, 6\]"):
        sdpa(q[:1], k[:1], v[:1], attn_mask=probe.zeros(5, 1, 4, 6))
    with pytest.raises(RuntimeError, match="at non-singleton dimension 1"):
        sdpa(q, k[:, :2], v[:, :2])
    with pytest.raises(RuntimeError, match="Number of heads in key and value must divide"):
        sdpa(q, k[:, :2], v[:, :2], enable_gqa=True)
    with pytest.raises(RuntimeError, match="dropout probability has to be between 0 and 1, but "
                                           "got 1.5"):
        sdpa(q, k, v, dropout_p=1.5)
    with pytest.raises(RuntimeError, match="expected scalar type Float but found Long"):
        sdpa(q.long(), k.long(), v.long())


# ---------------------------------------------------------------------------------------------
# MultiheadAttention
# ---------------------------------------------------------------------------------------------

def test_mha_state_dict_keys_repr_and_init():
    mha = MultiheadAttention(8, 2)
    assert list(mha.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight",
                                      "out_proj.bias"]
    assert repr(mha) == ("MultiheadAttention(\n  (out_proj): NonDynamicallyQuantizableLinear("
                         "in_features=8, out_features=8, bias=True)\n)")
    assert mha.in_proj_weight.shape == (24, 8)
    bound = math.sqrt(6 / (24 + 8))  # xavier_uniform_
    assert float(mha.in_proj_weight.abs().max()) <= bound
    assert np.all(_np(mha.in_proj_bias) == 0) and np.all(_np(mha.out_proj.bias) == 0)
    assert mha.q_proj_weight is None and mha.head_dim == 4 and mha._qkv_same_embed_dim

    sep = MultiheadAttention(8, 2, add_bias_kv=True, kdim=3, vdim=5)
    assert list(sep.state_dict()) == ["q_proj_weight", "k_proj_weight", "v_proj_weight",
                                      "in_proj_bias", "bias_k", "bias_v", "out_proj.weight",
                                      "out_proj.bias"]
    assert sep.k_proj_weight.shape == (8, 3) and sep.v_proj_weight.shape == (8, 5)
    assert sep.in_proj_weight is None and sep.bias_k.shape == (1, 1, 8)

    nob = MultiheadAttention(8, 2, bias=False)
    assert list(nob.state_dict()) == ["in_proj_weight", "out_proj.weight"]
    assert nob.bias_k is None and nob.bias_v is None


def test_mha_constructor_errors():
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        MultiheadAttention(7, 2)
    with pytest.raises(ValueError, match="embed_dim and num_heads must be greater than 0, got "
                                         "embed_dim=0 and num_heads=2 instead"):
        MultiheadAttention(0, 2)


def test_mha_factory_kwargs(device):
    mha = MultiheadAttention(4, 2, dtype=probe.float64, device=device)
    assert all(p.dtype == probe.float64 and p.device.type == device for p in mha.parameters())


@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_shapes(device, rng, batch_first):
    mha = MultiheadAttention(8, 2, batch_first=batch_first, device=device)
    shape = (3, 5, 8) if batch_first else (5, 3, 8)
    x = _randn(rng, *shape, device=device, dtype=np.float32)
    out, w = mha(x, x, x)
    assert out.shape == shape and w.shape == (3, 5, 5)
    out, w = mha(x, x, x, average_attn_weights=False)
    assert w.shape == (3, 2, 5, 5)
    np.testing.assert_allclose(_np(w).sum(-1), 1.0, rtol=1e-5)
    out, w = mha(x, x, x, need_weights=False)
    assert w is None and out.dtype == probe.float32
    u = _randn(rng, 5, 8, device=device, dtype=np.float32)
    unbatched, w = mha(u, u, u)
    assert unbatched.shape == (5, 8) and w.shape == (5, 5)


def test_mha_batch_first_matches_seq_first(rng):
    a = MultiheadAttention(8, 2, dtype=probe.float64)
    b = MultiheadAttention(8, 2, batch_first=True, dtype=probe.float64)
    b.load_state_dict(a.state_dict())
    q, k = _randn(rng, 4, 3, 8), _randn(rng, 6, 3, 8)
    oa, wa = a(q, k, k)
    ob, wb = b(q.transpose(0, 1), k.transpose(0, 1), k.transpose(0, 1))
    np.testing.assert_allclose(_np(oa), _np(ob.transpose(0, 1)), atol=1e-12)
    np.testing.assert_allclose(_np(wa), _np(wb), atol=1e-12)


def test_mha_fully_masked_rows_need_weights_nan_else_zero(rng):
    mha = MultiheadAttention(4, 2, dtype=probe.float64)
    x = _randn(rng, 3, 2, 4, requires_grad=False)
    kpm = probe.tensor([[False, False, False], [True, True, True]])
    out, w = mha(x, x, x, key_padding_mask=kpm)
    assert np.isnan(_np(out)[:, 1]).all() and np.isnan(_np(w)[1]).all()
    assert np.isfinite(_np(out)[:, 0]).all()
    out, _ = mha(x, x, x, key_padding_mask=kpm, need_weights=False)
    np.testing.assert_allclose(_np(out)[:, 1], 0.0)  # out_proj.bias is zero-initialised


def test_mha_bool_and_float_masks_agree(rng):
    mha = MultiheadAttention(4, 2, dtype=probe.float64)
    x = _randn(rng, 5, 2, 4, requires_grad=False)
    kpm = rng.random((2, 5)) > 0.7
    am = rng.random((5, 5)) > 0.7
    np.fill_diagonal(am, False)
    out_b, w_b = mha(x, x, x, key_padding_mask=probe.tensor(kpm), attn_mask=probe.tensor(am))
    f = probe.tensor(np.where(kpm, -np.inf, 0.0))
    g = probe.tensor(np.where(am, -np.inf, 0.0))
    out_f, w_f = mha(x, x, x, key_padding_mask=f, attn_mask=g)
    np.testing.assert_allclose(_np(out_b), _np(out_f), atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(_np(w_b), _np(w_f), atol=1e-12, equal_nan=True)
    with pytest.warns(UserWarning, match="Support for mismatched key_padding_mask and attn_mask "
                                         "is deprecated"):
        out_m, _ = mha(x, x, x, key_padding_mask=probe.tensor(kpm), attn_mask=g)
    np.testing.assert_allclose(_np(out_b), _np(out_m), atol=1e-12, equal_nan=True)


def test_mha_is_causal_hint_uses_causal_mask(rng):
    mha = MultiheadAttention(4, 2, dtype=probe.float64)
    x = _randn(rng, 5, 2, 4, requires_grad=False)
    causal = Transformer.generate_square_subsequent_mask(5, dtype=probe.float64)
    ref, _ = mha(x, x, x, attn_mask=causal)
    hint, w = mha(x, x, x, attn_mask=causal, is_causal=True, need_weights=False)
    assert w is None
    np.testing.assert_allclose(_np(ref), _np(hint), atol=1e-12)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        mha(x, x, x, is_causal=True)


def test_mha_dropout_train_and_eval(rng):
    mha = MultiheadAttention(4, 2, dropout=0.5, dtype=probe.float64)
    x = _randn(rng, 6, 2, 4, requires_grad=False)
    mha.eval()
    a, wa = mha(x, x, x)
    b, wb = mha(x, x, x)
    assert np.array_equal(_np(a), _np(b))
    np.testing.assert_allclose(_np(wa).sum(-1), 1.0)
    mha.train()
    probe.manual_seed(1)
    c, wc = mha(x, x, x, average_attn_weights=False)
    probe.manual_seed(1)
    d, _ = mha(x, x, x, average_attn_weights=False)
    assert np.array_equal(_np(c), _np(d)) and not np.allclose(_np(c), _np(a))
    weights = _np(wc)  # after dropout, as PyTorch: zeros and values scaled by 2
    assert (weights == 0).any() and not np.allclose(weights.sum(-1), 1.0)


def test_mha_add_bias_kv_and_zero_attn_shapes(rng):
    mha = MultiheadAttention(4, 2, add_bias_kv=True, add_zero_attn=True)
    x = _randn(rng, 5, 2, 4, dtype=np.float32)
    kpm = probe.zeros(2, 5, dtype=probe.bool)
    out, w = mha(x, x, x, key_padding_mask=kpm)
    assert out.shape == (5, 2, 4) and w.shape == (2, 5, 7)


def test_mha_functional_matches_module(rng):
    mha = MultiheadAttention(4, 2, dtype=probe.float64)
    q, k = _randn(rng, 3, 2, 4), _randn(rng, 5, 2, 4)
    out, w = multi_head_attention_forward(
        q, k, k, 4, 2, mha.in_proj_weight, mha.in_proj_bias, None, None, False, 0.0,
        mha.out_proj.weight, mha.out_proj.bias, training=False)
    ref, ref_w = mha(q, k, k)
    np.testing.assert_allclose(_np(out), _np(ref), atol=1e-12)
    np.testing.assert_allclose(_np(w), _np(ref_w), atol=1e-12)


def test_mha_static_k_v(rng):
    mha = MultiheadAttention(4, 2, dtype=probe.float64)
    q = _randn(rng, 3, 2, 4)
    sk, sv = _randn(rng, 4, 6, 2), _randn(rng, 4, 6, 2)
    out, w = multi_head_attention_forward(
        q, q, q, 4, 2, mha.in_proj_weight, mha.in_proj_bias, None, None, False, 0.0,
        mha.out_proj.weight, mha.out_proj.bias, static_k=sk, static_v=sv)
    assert out.shape == (3, 2, 4) and w.shape == (2, 3, 6)
    with pytest.raises(AssertionError, match="expecting static_k.size\\(0\\) of 4, but got 3"):
        multi_head_attention_forward(
            q, q, q, 4, 2, mha.in_proj_weight, mha.in_proj_bias, None, None, False, 0.0,
            mha.out_proj.weight, mha.out_proj.bias, static_k=sk[:3], static_v=sv)


def test_mha_errors(rng):
    mha = MultiheadAttention(4, 2)
    x = _randn(rng, 5, 2, 4, dtype=np.float32)
    with pytest.raises(AssertionError, match="For batched \\(3-D\\) `query`, expected `key` and "
                                             "`value` to be 3-D but found 2-D and 3-D"):
        mha(x, x[0], x)
    with pytest.raises(AssertionError, match="query should be unbatched 2D or batched 3D tensor "
                                             "but received 4-D query tensor"):
        mha(x[None], x[None], x[None])
    with pytest.raises(AssertionError, match="was expecting embedding dimension of 4, but got 3"):
        mha(x[..., :3], x[..., :3], x[..., :3])
    with pytest.raises(RuntimeError, match=r"The shape of the 2D attn_mask is probe.Size\(\[4, "
                                           r"5\]\), but should be \(5, 5\)."):
        mha(x, x, x, attn_mask=probe.zeros(4, 5))
    with pytest.raises(RuntimeError, match="The shape of the 3D attn_mask is"):
        mha(x, x, x, attn_mask=probe.zeros(3, 5, 5))
    with pytest.raises(AssertionError, match="Expected key_padded_mask.shape\\[1\\] to be 5, but "
                                             "got 4"):
        mha(x, x, x, key_padding_mask=probe.zeros(2, 4, dtype=probe.bool))
    with pytest.raises(AssertionError, match="only bool and floating types of key_padding_mask "
                                             "are supported"):
        mha(x, x, x, key_padding_mask=probe.zeros(2, 5, dtype=probe.int64))
    with pytest.raises(AssertionError, match="key shape .* does not match value shape"):
        mha(x, x, x[:4])


# gradchecks -----------------------------------------------------------------------------------

def _check_module(module, *inputs, output=0, second_order=False, **kwargs):
    module.double()
    params = tuple(p for p in module.parameters() if p.requires_grad)
    n = len(inputs)

    def fn(*args):
        result = module(*args[:n], **kwargs)
        return result[output] if isinstance(result, tuple) else result

    assert gradcheck(fn, (*inputs, *params))
    if second_order:
        assert gradgradcheck(fn, (*inputs, *params))


@pytest.mark.parametrize("options", [
    {},
    {"batch_first": True},
    {"kdim": 3, "vdim": 5},
    {"bias": False},
    {"add_bias_kv": True, "add_zero_attn": True},
])
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_gradcheck(rng, options, need_weights):
    mha = MultiheadAttention(4, 2, **options)
    bf = options.get("batch_first", False)
    q = _randn(rng, *((2, 3, 4) if bf else (3, 2, 4)))
    k = _randn(rng, *((2, 5, options.get("kdim", 4)) if bf else (5, 2, options.get("kdim", 4))))
    v = _randn(rng, *((2, 5, options.get("vdim", 4)) if bf else (5, 2, options.get("vdim", 4))))
    _check_module(mha, q, k, v, need_weights=need_weights)
    if need_weights:
        _check_module(mha, q, k, v, output=1)


@pytest.mark.filterwarnings("ignore:Support for mismatched")
@pytest.mark.parametrize("average", [True, False])
def test_mha_gradcheck_masks_and_weights(rng, average):
    mha = MultiheadAttention(4, 2)
    x = _randn(rng, 4, 2, 4)
    kpm = probe.tensor([[False, False, True, False], [False, True, False, False]])
    am = _randn(rng, 4, 4)  # a float mask gets a gradient too
    mha.double()
    params = tuple(mha.parameters())

    def fn(x, am, *params):
        out, w = mha(x, x, x, key_padding_mask=kpm, attn_mask=am,
                     average_attn_weights=average)
        return out, w

    assert gradcheck(fn, (x, am, *params))


def test_mha_gradgradcheck_self_attention(rng):
    mha = MultiheadAttention(4, 2)
    x = _randn(rng, 3, 1, 4)
    mha.double()
    params = tuple(mha.parameters())
    assert gradgradcheck(lambda x, *p: mha(x, x, x, need_weights=False)[0], (x, *params))


# ---------------------------------------------------------------------------------------------
# Transformer layers
# ---------------------------------------------------------------------------------------------

def test_encoder_layer_submodules_and_repr():
    layer = TransformerEncoderLayer(8, 2, 16)
    assert [n for n, _ in layer.named_children()] == [
        "self_attn", "linear1", "dropout", "linear2", "norm1", "norm2", "dropout1", "dropout2"]
    assert list(layer.state_dict()) == [
        "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
        "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
        "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"]
    assert repr(layer) == (
        "TransformerEncoderLayer(\n"
        "  (self_attn): MultiheadAttention(\n"
        "    (out_proj): NonDynamicallyQuantizableLinear(in_features=8, out_features=8, "
        "bias=True)\n"
        "  )\n"
        "  (linear1): Linear(in_features=8, out_features=16, bias=True)\n"
        "  (dropout): Dropout(p=0.1, inplace=False)\n"
        "  (linear2): Linear(in_features=16, out_features=8, bias=True)\n"
        "  (norm1): LayerNorm((8,), eps=1e-05, elementwise_affine=True, bias=True)\n"
        "  (norm2): LayerNorm((8,), eps=1e-05, elementwise_affine=True, bias=True)\n"
        "  (dropout1): Dropout(p=0.1, inplace=False)\n"
        "  (dropout2): Dropout(p=0.1, inplace=False)\n"
        ")")
    assert layer.activation is relu and layer.activation_relu_or_gelu == 1
    assert TransformerEncoderLayer(8, 2, activation="gelu").activation is gelu
    assert TransformerEncoderLayer(8, 2, activation=GELU()).activation_relu_or_gelu == 2
    assert TransformerEncoderLayer(8, 2, activation=probe.tanh).activation_relu_or_gelu == 0
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not swish"):
        TransformerEncoderLayer(8, 2, activation="swish")
    nob = TransformerEncoderLayer(8, 2, 16, bias=False)
    assert nob.linear1.bias is None and nob.norm1.bias is None
    assert nob.self_attn.in_proj_bias is None


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_layer_gradcheck_eval(rng, norm_first, batch_first):
    layer = TransformerEncoderLayer(4, 2, 6, batch_first=batch_first, norm_first=norm_first,
                                    activation="gelu").eval()
    x = _randn(rng, 2, 3, 4)
    _check_module(layer, x)


@pytest.mark.filterwarnings("ignore:Support for mismatched")
def test_encoder_layer_gradcheck_with_masks(rng):
    layer = TransformerEncoderLayer(4, 2, 6, batch_first=True).eval()
    x = _randn(rng, 2, 3, 4)
    kpm = probe.tensor([[False, False, True], [False, False, False]])
    mask = Transformer.generate_square_subsequent_mask(3)
    _check_module(layer, x, src_mask=mask.double(), src_key_padding_mask=kpm)


def test_encoder_layer_train_vs_eval(rng):
    layer = TransformerEncoderLayer(8, 2, 16, dropout=0.5, dtype=probe.float64)
    x = _randn(rng, 5, 2, 8, requires_grad=False)
    layer.eval()
    a, b = layer(x), layer(x)
    assert np.array_equal(_np(a), _np(b))
    layer.train()
    probe.manual_seed(0)
    c = layer(x)
    probe.manual_seed(0)
    d = layer(x)
    assert np.array_equal(_np(c), _np(d)) and not np.allclose(_np(c), _np(a))


def test_encoder_layer_float32_end_to_end(device, rng):
    layer = TransformerEncoderLayer(8, 2, 16, batch_first=True, device=device)
    x = _randn(rng, 2, 5, 8, device=device, dtype=np.float32)
    out = layer(x)
    assert out.dtype == probe.float32 and out.shape == (2, 5, 8)
    out.sum().backward()
    assert all(p.grad.dtype == probe.float32 for p in layer.parameters())
    assert x.grad.dtype == probe.float32


def test_encoder_deep_copies_layers(rng):
    layer = TransformerEncoderLayer(8, 2, 16)
    enc = TransformerEncoder(layer, 3, norm=LayerNorm(8))
    assert len(enc.layers) == 3 and enc.num_layers == 3
    assert enc.layers[0] is not layer and enc.layers[0] is not enc.layers[1]
    assert enc.layers[0].linear1.weight is not enc.layers[1].linear1.weight
    np.testing.assert_array_equal(_np(enc.layers[0].linear1.weight), _np(layer.linear1.weight))
    keys = list(enc.state_dict())
    assert keys[0] == "layers.0.self_attn.in_proj_weight" and keys[-1] == "norm.bias"
    assert "layers.2.norm2.weight" in keys
    assert enc.use_nested_tensor is False
    out = enc(_randn(rng, 5, 2, 8, requires_grad=False, dtype=np.float32))
    assert out.shape == (5, 2, 8)


def test_encoder_detects_causal_mask(rng):
    enc = TransformerEncoder(TransformerEncoderLayer(4, 2, 6, dropout=0.0), 2).double()
    x = _randn(rng, 5, 2, 4, requires_grad=False)
    mask = Transformer.generate_square_subsequent_mask(5, dtype=probe.float64)
    bool_mask = probe.tensor(np.triu(np.ones((5, 5), dtype=bool), 1))
    a = enc(x, mask=mask)
    b = enc(x, mask=bool_mask)
    c = enc(x, mask=mask, is_causal=True)
    np.testing.assert_allclose(_np(a), _np(b), atol=1e-12)
    np.testing.assert_allclose(_np(a), _np(c), atol=1e-12)


def test_generate_square_subsequent_mask():
    m = Transformer.generate_square_subsequent_mask(3)
    assert m.dtype == probe.float32
    expected = np.array([[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]], dtype=np.float32)
    np.testing.assert_array_equal(_np(m), expected)


def test_decoder_layer_and_transformer(rng):
    dec_layer = TransformerDecoderLayer(4, 2, 6, dropout=0.0).eval()
    assert [n for n, _ in dec_layer.named_children()] == [
        "self_attn", "multihead_attn", "linear1", "dropout", "linear2", "norm1", "norm2",
        "norm3", "dropout1", "dropout2", "dropout3"]
    tgt, mem = _randn(rng, 3, 2, 4), _randn(rng, 5, 2, 4)
    _check_module(dec_layer, tgt, mem)
    dec = TransformerDecoder(dec_layer, 2)
    assert dec(tgt, mem).shape == (3, 2, 4)

    model = Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                        dim_feedforward=16, batch_first=True)
    assert [n for n, _ in model.named_children()] == ["encoder", "decoder"]
    src = _randn(rng, 2, 5, 8, dtype=np.float32, requires_grad=False)
    tgt = _randn(rng, 2, 3, 8, dtype=np.float32, requires_grad=False)
    out = model(src, tgt, tgt_mask=Transformer.generate_square_subsequent_mask(3))
    assert out.shape == (2, 3, 8)
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        model(src, tgt[:1])
    with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal to "
                                           "d_model"):
        model(src[..., :4], tgt[..., :4])
    bound = math.sqrt(6 / (8 + 16))  # every matrix re-initialised with xavier_uniform_
    assert float(model.encoder.layers[0].linear1.weight.abs().max()) <= bound


def test_encoder_layer_deepcopy_and_state_dict_roundtrip(rng):
    layer = TransformerEncoderLayer(8, 2, 16, dtype=probe.float64).eval()
    clone = copy.deepcopy(layer)
    x = _randn(rng, 4, 2, 8, requires_grad=False)
    np.testing.assert_array_equal(_np(layer(x)), _np(clone(x)))
    other = TransformerEncoderLayer(8, 2, 16, dtype=probe.float64).eval()
    other.load_state_dict(layer.state_dict())
    np.testing.assert_array_equal(_np(layer(x)), _np(other(x)))
