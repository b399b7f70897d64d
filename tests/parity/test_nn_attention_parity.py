"""Parity with PyTorch for ``scaled_dot_product_attention``, ``MultiheadAttention`` and the
Transformer layers: the same module is built in both libraries, the torch weights are copied
across through load_state_dict (so state_dict keys must match), and outputs, attention weights
and input/parameter/mask gradients are compared in float32 and float64. PyTorch's fused
inference fast path is switched off (``torch.backends.mha.set_fastpath_enabled(False)``): it
differs from PyTorch's own ordinary path on fully padded rows, and probe runs the ordinary
path. Error messages are compared too."""

from __future__ import annotations

import numpy as np
import pytest

import probe
from probe.nn.functional_parts.attention import scaled_dot_product_attention
from probe.nn.modules.multihead_attention import MultiheadAttention
from probe.nn.modules.normalization import LayerNorm
from probe.nn.modules.transformer import (
    Transformer,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

torch = pytest.importorskip("torch")
TF = torch.nn.functional

pytestmark = [pytest.mark.filterwarnings("ignore:Support for mismatched"),
              pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")]

DTYPES = [pytest.param((np.float32, 3e-5), id="float32"),
          pytest.param((np.float64, 1e-10), id="float64")]


@pytest.fixture(autouse=True)
def _no_fast_path():
    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    yield
    torch.backends.mha.set_fastpath_enabled(before)


def _np(t):
    return t.detach().cpu().numpy()


def _pdt(np_dtype):
    return probe.float32 if np_dtype == np.float32 else probe.float64


def _tdt(np_dtype):
    return torch.float32 if np_dtype == np.float32 else torch.float64


def _close(a, b, tol):
    np.testing.assert_allclose(_np(a), _np(b), rtol=tol * 10, atol=tol, equal_nan=True)


def _pair(array, requires_grad=True):
    t = torch.tensor(array, requires_grad=requires_grad and array.dtype != bool)
    p = probe.tensor(array, requires_grad=requires_grad and array.dtype != bool)
    return t, p


def _mask(rng, kind, shape, np_dtype):
    if kind == "bool":
        m = rng.random(shape) > 0.35
        return m
    if kind == "bool_padding":  # True = padded (MultiheadAttention's convention)
        return rng.random(shape) > 0.7
    if kind == "float":
        return rng.standard_normal(shape).astype(np_dtype)
    if kind == "neg_inf":  # float mask with -inf entries, one row fully masked
        m = np.where(rng.random(shape) > 0.7, -np.inf, 0.0).astype(np_dtype)
        m[..., 0, :] = -np.inf
        return m
    raise ValueError(kind)


def _copy_module(t_module, p_module):
    t_state = t_module.state_dict()
    assert list(p_module.state_dict()) == list(t_state)
    p_module.load_state_dict({k: probe.tensor(v.detach().numpy().copy())
                              for k, v in t_state.items()})


def _compare_grads(pairs, tol):
    for t, p in pairs:
        if t.grad is None:
            assert p.grad is None
        else:
            _close(t.grad, p.grad, tol)


def _compare_params(t_module, p_module, tol):
    t_params = dict(t_module.named_parameters())
    for name, p in p_module.named_parameters():
        t = t_params[name]
        assert (t.grad is None) == (p.grad is None), name
        if t.grad is not None:
            _close(t.grad, p.grad, tol)


# ---------------------------------------------------------------------------------------------
# scaled_dot_product_attention
# ---------------------------------------------------------------------------------------------

SDPA_CASES = [
    pytest.param(((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)), None, None, {}, id="4d"),
    pytest.param(((4, 5), (6, 5), (6, 3)), None, None, {}, id="2d"),
    pytest.param(((3, 4, 5), (1, 6, 5), (3, 6, 2)), None, None, {}, id="broadcast-batch"),
    pytest.param(((4, 5), (2, 3, 6, 5), (6, 3)), None, None, {}, id="broadcast-query"),
    pytest.param(((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)), "bool", (4, 6), {}, id="bool-2d"),
    pytest.param(((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)), "bool", (2, 1, 4, 6), {},
                 id="bool-4d"),
    pytest.param(((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)), "float", (4, 6), {},
                 id="float-2d"),
    pytest.param(((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)), "float", (3, 1, 6), {},
                 id="float-broadcast"),
    pytest.param(((2, 4, 5), (2, 6, 5), (2, 6, 3)), "neg_inf", (2, 4, 6), {},
                 id="float-fully-masked-row"),
    pytest.param(((2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 4)), None, None, {"is_causal": True},
                 id="causal-square"),
    pytest.param(((2, 3, 6), (2, 4, 6), (2, 4, 2)), None, None, {"is_causal": True},
                 id="causal-wide-L"),
    pytest.param(((2, 3, 6), (2, 8, 6), (2, 8, 2)), None, None, {"is_causal": True},
                 id="causal-long-S"),
    pytest.param(((2, 4, 5), (2, 6, 5), (2, 6, 3)), None, None, {"scale": 0.21}, id="scale"),
    pytest.param(((2, 4, 3, 5), (2, 2, 6, 5), (2, 2, 6, 3)), None, None, {"enable_gqa": True},
                 id="gqa"),
    pytest.param(((2, 4, 3, 5), (2, 1, 6, 5), (2, 1, 6, 3)), "bool", (4, 3, 6),
                 {"enable_gqa": True}, id="gqa-mask"),
]


@pytest.mark.parametrize("shapes, mask_kind, mask_shape, kwargs", SDPA_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_parity(shapes, mask_kind, mask_shape, kwargs, dtype):
    np_dtype, tol = dtype
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np_dtype) for s in shapes]
    (tq, pq), (tk, pk), (tv, pv) = (_pair(a) for a in arrays)
    tm = pm = None
    if mask_kind is not None:
        m = _mask(rng, mask_kind, mask_shape, np_dtype)
        tm, pm = _pair(m, requires_grad=mask_kind == "float")
    t_out = TF.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm, **kwargs)
    p_out = scaled_dot_product_attention(pq, pk, pv, attn_mask=pm, **kwargs)
    assert p_out.dtype == _pdt(np_dtype) and p_out.shape == tuple(t_out.shape)
    _close(t_out, p_out, tol)
    g = rng.standard_normal(tuple(t_out.shape)).astype(np_dtype)
    t_out.backward(torch.tensor(g))
    p_out.backward(probe.tensor(g))
    pairs = [(tq, pq), (tk, pk), (tv, pv)]
    if mask_kind == "float":
        pairs.append((tm, pm))
    _compare_grads(pairs, tol)
    for _, p in pairs:
        assert p.grad.dtype == _pdt(np_dtype)


def test_sdpa_fully_masked_bool_rows_parity():
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) for s in ((2, 4, 5), (2, 6, 5), (2, 6, 3))]
    (tq, pq), (tk, pk), (tv, pv) = (_pair(a) for a in arrays)
    m = np.ones((4, 6), dtype=bool)
    m[1] = False
    t_out = TF.scaled_dot_product_attention(tq, tk, tv, attn_mask=torch.tensor(m))
    p_out = scaled_dot_product_attention(pq, pk, pv, attn_mask=probe.tensor(m))
    _close(t_out, p_out, 1e-12)
    t_out.sum().backward()
    p_out.sum().backward()
    _compare_grads([(tq, pq), (tk, pk), (tv, pv)], 1e-12)


def _error(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the type and text are what is compared
        return type(exc).__name__, str(exc)
    return None


@pytest.mark.parametrize("case", [
    "causal-and-mask", "dtype", "mask-dtype", "mask-int", "dims", "E", "S", "mask-shape",
    "mask-grows", "heads", "dropout", "int-inputs",
])
def test_sdpa_error_parity(case):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s).astype(np.float32)
               for s in ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)))

    def call(lib, sdpa):
        tq, tk, tv = (lib.tensor(a) for a in (q, k, v))
        if case == "causal-and-mask":
            return lambda: sdpa(tq, tk, tv, attn_mask=lib.ones(4, 6, dtype=lib.bool),
                                is_causal=True)
        if case == "dtype":
            return lambda: sdpa(tq, tk.double(), tv)
        if case == "mask-dtype":
            return lambda: sdpa(tq, tk, tv, attn_mask=lib.zeros(4, 6, dtype=lib.float64))
        if case == "mask-int":
            return lambda: sdpa(tq, tk, tv, attn_mask=lib.zeros(4, 6, dtype=lib.int64))
        if case == "dims":
            return lambda: sdpa(tq[0, 0, 0], tk[0, 0], tv[0, 0])
        if case == "E":
            return lambda: sdpa(tq, tk[..., :4], tv)
        if case == "S":
            return lambda: sdpa(tq, tk[:, :, :5], tv)
        if case == "mask-shape":
            return lambda: sdpa(tq, tk, tv, attn_mask=lib.zeros(5, 6))
        if case == "mask-grows":
            return lambda: sdpa(tq[:1], tk[:1], tv[:1], attn_mask=lib.zeros(5, 1, 4, 6))
        if case == "heads":
            return lambda: sdpa(tq, tk[:, :2], tv[:, :2])
        if case == "dropout":
            return lambda: sdpa(tq, tk, tv, dropout_p=1.5)
        if case == "int-inputs":
            return lambda: sdpa(tq.long(), tk.long(), tv.long())
        raise ValueError(case)

    expected = _error(call(torch, TF.scaled_dot_product_attention))
    got = _error(call(probe, scaled_dot_product_attention))
    assert expected is not None and got == expected


# ---------------------------------------------------------------------------------------------
# MultiheadAttention
# ---------------------------------------------------------------------------------------------

MHA_CASES = [
    pytest.param({}, {}, "cross", id="cross"),
    pytest.param({}, {}, "self", id="self"),
    pytest.param({}, {}, "kv", id="key-is-value"),
    pytest.param({"batch_first": True}, {}, "self", id="batch-first-self"),
    pytest.param({"batch_first": True}, {}, "cross", id="batch-first-cross"),
    pytest.param({"kdim": 3, "vdim": 5}, {}, "cross", id="kdim-vdim"),
    pytest.param({"bias": False}, {}, "self", id="no-bias"),
    pytest.param({"add_bias_kv": True}, {}, "cross", id="bias-kv"),
    pytest.param({"add_zero_attn": True}, {}, "self", id="zero-attn"),
    pytest.param({"add_bias_kv": True, "add_zero_attn": True},
                 {"key_padding_mask": "bool_padding", "attn_mask": "bool_padding"}, "cross",
                 id="bias-kv-zero-attn-masks"),
    pytest.param({}, {"key_padding_mask": "bool_padding"}, "self", id="kpm-bool"),
    pytest.param({}, {"key_padding_mask": "float"}, "cross", id="kpm-float"),
    pytest.param({}, {"attn_mask": "bool_padding"}, "self", id="attn-bool"),
    pytest.param({}, {"attn_mask": "float"}, "cross", id="attn-float"),
    pytest.param({}, {"attn_mask": "float3"}, "cross", id="attn-float-3d"),
    pytest.param({}, {"attn_mask": "bool3"}, "self", id="attn-bool-3d"),
    pytest.param({"batch_first": True},
                 {"key_padding_mask": "bool_padding", "attn_mask": "bool_padding"}, "self",
                 id="both-bool"),
    pytest.param({}, {"key_padding_mask": "float", "attn_mask": "float"}, "cross",
                 id="both-float"),
    pytest.param({}, {"attn_mask": "causal", "is_causal": True}, "self", id="causal-hint"),
    pytest.param({}, {"attn_mask": "causal", "is_causal": True,
                      "key_padding_mask": "bool_padding"}, "self", id="causal-hint-kpm"),
    pytest.param({"kdim": 3, "vdim": 5, "batch_first": True},
                 {"key_padding_mask": "bool_padding"}, "cross", id="kdim-batch-first-kpm"),
]


def _mha_inputs(rng, options, masks, attention, np_dtype, batch_first, unbatched=False):
    E, H, L, S, N = 8, 2, 4, 5, 3
    if attention == "self":
        S = L
    kdim, vdim = options.get("kdim", E), options.get("vdim", E)

    def shape(length, dim):
        if unbatched:
            return (length, dim)
        return (N, length, dim) if batch_first else (length, N, dim)

    q = rng.standard_normal(shape(L, E)).astype(np_dtype)
    k = rng.standard_normal(shape(S, kdim)).astype(np_dtype)
    v = rng.standard_normal(shape(S, vdim)).astype(np_dtype)
    kwargs_np = {}
    for name, kind in masks.items():
        if name == "is_causal":
            continue
        if name == "key_padding_mask":
            mshape = (S,) if unbatched else (N, S)
            kwargs_np[name] = _mask(rng, kind, mshape, np_dtype)
        elif kind == "float3":
            kwargs_np[name] = rng.standard_normal((H if unbatched else N * H, L, S)).astype(
                np_dtype)
        elif kind == "bool3":
            kwargs_np[name] = rng.random((H if unbatched else N * H, L, S)) > 0.7
        elif kind == "causal":
            kwargs_np[name] = np.triu(np.full((L, S), -np.inf), 1).astype(np_dtype)
        else:
            kwargs_np[name] = _mask(rng, kind, (L, S), np_dtype)
    return q, k, v, kwargs_np


@pytest.mark.parametrize("options, masks, attention", MHA_CASES)
@pytest.mark.parametrize("need_weights, average", [(True, True), (True, False), (False, True)],
                         ids=["weights-avg", "weights-per-head", "no-weights"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_mha_parity(options, masks, attention, need_weights, average, dtype):
    np_dtype, tol = dtype
    rng = np.random.default_rng(1)
    t_mha = torch.nn.MultiheadAttention(8, 2, dtype=_tdt(np_dtype), **options)
    p_mha = MultiheadAttention(8, 2, dtype=_pdt(np_dtype), **options)
    with torch.no_grad():
        for p in t_mha.parameters():
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)) * 0.5))
    _copy_module(t_mha, p_mha)
    batch_first = options.get("batch_first", False)
    q, k, v, masks_np = _mha_inputs(rng, options, masks, attention, np_dtype, batch_first)
    tq, pq = _pair(q)
    if attention == "self":
        tk = tv = tq
        pk = pv = pq
    elif attention == "kv":
        tk, pk = _pair(k)
        tv, pv = tk, pk
    else:
        (tk, pk), (tv, pv) = _pair(k), _pair(v)
    t_kwargs, p_kwargs = {}, {}
    for name, m in masks_np.items():
        t_kwargs[name], p_kwargs[name] = _pair(m, requires_grad=False)
    is_causal = masks.get("is_causal", False)
    t_out, t_w = t_mha(tq, tk, tv, need_weights=need_weights, average_attn_weights=average,
                       is_causal=is_causal, **t_kwargs)
    p_out, p_w = p_mha(pq, pk, pv, need_weights=need_weights, average_attn_weights=average,
                       is_causal=is_causal, **p_kwargs)
    _close(t_out, p_out, tol)
    assert p_out.dtype == _pdt(np_dtype)
    if t_w is None:
        assert p_w is None
    else:
        assert p_w.shape == tuple(t_w.shape)
        _close(t_w, p_w, tol)
    g = rng.standard_normal(tuple(t_out.shape)).astype(np_dtype)
    loss_t = (t_out * torch.tensor(g)).nansum()
    loss_p = (p_out * probe.tensor(g)).nansum()
    if t_w is not None:
        gw = rng.standard_normal(tuple(t_w.shape)).astype(np_dtype)
        loss_t = loss_t + (t_w * torch.tensor(gw)).nansum()
        loss_p = loss_p + (p_w * probe.tensor(gw)).nansum()
    loss_t.backward()
    loss_p.backward()
    pairs = [(tq, pq)] + ([] if attention == "self" else [(tk, pk)])
    if attention == "cross":
        pairs.append((tv, pv))
    _compare_grads(pairs, tol)
    _compare_params(t_mha, p_mha, tol)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("masks", [{}, {"key_padding_mask": "bool_padding",
                                        "attn_mask": "float3"}], ids=["plain", "masks"])
def test_mha_unbatched_parity(need_weights, masks):
    rng = np.random.default_rng(2)
    t_mha = torch.nn.MultiheadAttention(8, 2, dtype=torch.float64)
    p_mha = MultiheadAttention(8, 2, dtype=probe.float64)
    _copy_module(t_mha, p_mha)
    q, k, v, masks_np = _mha_inputs(rng, {}, masks, "cross", np.float64, False, unbatched=True)
    (tq, pq), (tk, pk), (tv, pv) = _pair(q), _pair(k), _pair(v)
    t_kwargs = {n: torch.tensor(m) for n, m in masks_np.items()}
    p_kwargs = {n: probe.tensor(m) for n, m in masks_np.items()}
    with pytest.warns(UserWarning) if masks else _nullcontext():
        t_out, t_w = t_mha(tq, tk, tv, need_weights=need_weights, **t_kwargs)
    with pytest.warns(UserWarning) if masks else _nullcontext():
        p_out, p_w = p_mha(pq, pk, pv, need_weights=need_weights, **p_kwargs)
    _close(t_out, p_out, 1e-10)
    if need_weights:
        _close(t_w, p_w, 1e-10)
    t_out.sum().backward()
    p_out.sum().backward()
    _compare_grads([(tq, pq), (tk, pk), (tv, pv)], 1e-10)


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_mha_fully_padded_rows_parity():
    rng = np.random.default_rng(4)
    t_mha = torch.nn.MultiheadAttention(4, 2, dtype=torch.float64)
    p_mha = MultiheadAttention(4, 2, dtype=probe.float64)
    _copy_module(t_mha, p_mha)
    x = rng.standard_normal((3, 2, 4))
    kpm = np.array([[False, False, False], [True, True, True]])
    for need_weights in (True, False):
        t_out, t_w = t_mha(torch.tensor(x), torch.tensor(x), torch.tensor(x),
                           key_padding_mask=torch.tensor(kpm), need_weights=need_weights)
        p_out, p_w = p_mha(probe.tensor(x), probe.tensor(x), probe.tensor(x),
                           key_padding_mask=probe.tensor(kpm), need_weights=need_weights)
        _close(t_out, p_out, 1e-12)  # NaN rows with weights, zero rows without, as torch
        if need_weights:
            _close(t_w, p_w, 1e-12)


def test_mha_state_dict_and_repr_parity():
    for kwargs in ({}, {"kdim": 3, "vdim": 5, "add_bias_kv": True}, {"bias": False}):
        t_mha = torch.nn.MultiheadAttention(8, 2, **kwargs)
        p_mha = MultiheadAttention(8, 2, **kwargs)
        assert list(p_mha.state_dict()) == list(t_mha.state_dict())
        assert [tuple(v.shape) for v in p_mha.state_dict().values()] == [
            tuple(v.shape) for v in t_mha.state_dict().values()]
        assert repr(p_mha) == repr(t_mha)


@pytest.mark.parametrize("case", ["kpm-shape", "attn-2d", "attn-3d", "embed", "key-dims",
                                  "kpm-int", "causal-no-mask", "kv-shape", "kv-shape-unbatched"])
def test_mha_error_parity(case):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 4)).astype(np.float32)

    def call(lib, cls):
        lib.manual_seed(0)
        mha = cls(4, 2)
        t = lib.tensor(x)
        if case == "kpm-shape":
            return lambda: mha(t, t, t, key_padding_mask=lib.zeros(2, 4, dtype=lib.bool))
        if case == "attn-2d":
            return lambda: mha(t, t, t, attn_mask=lib.zeros(4, 5))
        if case == "attn-3d":
            return lambda: mha(t, t, t, attn_mask=lib.zeros(3, 5, 5))
        if case == "embed":
            return lambda: mha(t[..., :3], t[..., :3], t[..., :3])
        if case == "key-dims":
            return lambda: mha(t, t[0], t)
        if case == "kpm-int":
            return lambda: mha(t, t, t, key_padding_mask=lib.zeros(2, 5, dtype=lib.int64))
        if case == "causal-no-mask":
            return lambda: mha(t, t, t, is_causal=True)
        if case == "kv-shape":
            return lambda: mha(t, t, t[:4])
        if case == "kv-shape-unbatched":
            return lambda: mha(t[:, 0], t[:, 0], t[:4, 0])
        raise ValueError(case)

    expected = _error(call(torch, torch.nn.MultiheadAttention))
    got = _error(call(probe, MultiheadAttention))
    assert expected is not None and got is not None
    assert got[0] == expected[0]
    assert got[1] == expected[1].replace("torch.Size", "probe.Size")


# ---------------------------------------------------------------------------------------------
# Transformer layers
# ---------------------------------------------------------------------------------------------

ENC_CASES = [
    pytest.param({}, {}, id="post-norm"),
    pytest.param({"norm_first": True}, {}, id="pre-norm"),
    pytest.param({"batch_first": True}, {}, id="batch-first"),
    pytest.param({"batch_first": True, "norm_first": True, "activation": "gelu"}, {},
                 id="batch-first-pre-norm-gelu"),
    pytest.param({"bias": False}, {}, id="no-bias"),
    pytest.param({}, {"src_key_padding_mask": "bool_padding"}, id="kpm"),
    pytest.param({"batch_first": True}, {"src_mask": "causal"}, id="causal-mask"),
    pytest.param({"norm_first": True}, {"src_mask": "causal", "is_causal": True},
                 id="causal-hint"),
    pytest.param({"layer_norm_eps": 1e-3}, {"src_mask": "bool_padding",
                                             "src_key_padding_mask": "bool_padding"},
                 id="both-masks-eps"),
]


def _encoder_inputs(rng, options, masks, np_dtype, S=5, N=3, E=8):
    batch_first = options.get("batch_first", False)
    x = rng.standard_normal((N, S, E) if batch_first else (S, N, E)).astype(np_dtype)
    kwargs = {}
    for name, kind in masks.items():
        if name == "is_causal":
            kwargs[name] = kind
            continue
        if name.endswith("key_padding_mask"):
            m = rng.random((N, S)) > 0.7
            m[:, 0] = False  # no fully padded rows: compared without NaN
            kwargs[name] = m
        elif kind == "causal":
            kwargs[name] = np.triu(np.full((S, S), -np.inf), 1).astype(np_dtype)
        else:
            m = rng.random((S, S)) > 0.7
            np.fill_diagonal(m, False)
            kwargs[name] = m
    return x, kwargs


def _to_lib(kwargs, lib):
    return {k: (lib.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}


@pytest.mark.parametrize("options, masks", ENC_CASES)
@pytest.mark.parametrize("mode", ["eval", "train-no-dropout"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_encoder_layer_parity(options, masks, mode, dtype):
    np_dtype, tol = dtype
    rng = np.random.default_rng(5)
    dropout = 0.1 if mode == "eval" else 0.0
    t_layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=dropout, dtype=_tdt(np_dtype),
                                               **options)
    p_layer = TransformerEncoderLayer(8, 2, 16, dropout=dropout, dtype=_pdt(np_dtype),
                                      **options)
    with torch.no_grad():
        for p in t_layer.parameters():
            p.add_(torch.tensor(rng.standard_normal(tuple(p.shape)) * 0.1))
    _copy_module(t_layer, p_layer)
    assert repr(p_layer) == repr(t_layer)
    if mode == "eval":
        t_layer.eval()
        p_layer.eval()
    x, kwargs = _encoder_inputs(rng, options, masks, np_dtype)
    tx, px = _pair(x)
    t_out = t_layer(tx, **_to_lib(kwargs, torch))
    p_out = p_layer(px, **_to_lib(kwargs, probe))
    _close(t_out, p_out, tol)
    g = rng.standard_normal(tuple(t_out.shape)).astype(np_dtype)
    t_out.backward(torch.tensor(g))
    p_out.backward(probe.tensor(g))
    _compare_grads([(tx, px)], tol)
    _compare_params(t_layer, p_layer, tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("masked", [False, True])
def test_encoder_parity(dtype, masked):
    np_dtype, tol = dtype
    rng = np.random.default_rng(6)
    t_enc = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(8, 2, 16, dtype=_tdt(np_dtype)), 2,
        norm=torch.nn.LayerNorm(8, dtype=_tdt(np_dtype)), enable_nested_tensor=False).eval()
    p_enc = TransformerEncoder(TransformerEncoderLayer(8, 2, 16, dtype=_pdt(np_dtype)), 2,
                               norm=LayerNorm(8, dtype=_pdt(np_dtype))).eval()
    _copy_module(t_enc, p_enc)
    assert repr(p_enc) == repr(t_enc)
    x, kwargs = _encoder_inputs(rng, {}, {"src_key_padding_mask": "bool"} if masked else {},
                                np_dtype)
    if masked:
        kwargs["mask"] = np.triu(np.full((5, 5), -np.inf), 1).astype(np_dtype)
    tx, px = _pair(x)
    t_out = t_enc(tx, **_to_lib(kwargs, torch))
    p_out = p_enc(px, **_to_lib(kwargs, probe))
    _close(t_out, p_out, tol)
    t_out.sum().backward()
    p_out.sum().backward()
    _compare_grads([(tx, px)], tol)
    _compare_params(t_enc, p_enc, tol)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_decoder_layer_parity(norm_first, dtype):
    np_dtype, tol = dtype
    rng = np.random.default_rng(7)
    t_layer = torch.nn.TransformerDecoderLayer(8, 2, 16, norm_first=norm_first,
                                               dtype=_tdt(np_dtype)).eval()
    p_layer = TransformerDecoderLayer(8, 2, 16, norm_first=norm_first,
                                      dtype=_pdt(np_dtype)).eval()
    _copy_module(t_layer, p_layer)
    assert repr(p_layer) == repr(t_layer)
    tgt = rng.standard_normal((4, 3, 8)).astype(np_dtype)
    mem = rng.standard_normal((6, 3, 8)).astype(np_dtype)
    causal = np.triu(np.full((4, 4), -np.inf), 1).astype(np_dtype)
    (tt, pt), (tm, pm) = _pair(tgt), _pair(mem)
    t_out = t_layer(tt, tm, tgt_mask=torch.tensor(causal))
    p_out = p_layer(pt, pm, tgt_mask=probe.tensor(causal))
    _close(t_out, p_out, tol)
    t_out.sum().backward()
    p_out.sum().backward()
    _compare_grads([(tt, pt), (tm, pm)], tol)
    _compare_params(t_layer, p_layer, tol)


@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_parity(batch_first):
    rng = np.random.default_rng(8)
    t_model = torch.nn.Transformer(8, 2, 2, 2, 16, batch_first=batch_first,
                                   dtype=torch.float64).eval()
    p_model = Transformer(8, 2, 2, 2, 16, batch_first=batch_first, dtype=probe.float64).eval()
    _copy_module(t_model, p_model)
    src = rng.standard_normal((3, 5, 8) if batch_first else (5, 3, 8))
    tgt = rng.standard_normal((3, 4, 8) if batch_first else (4, 3, 8))
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    pmask = Transformer.generate_square_subsequent_mask(4, dtype=probe.float64)
    np.testing.assert_array_equal(_np(tmask), _np(pmask))
    (ts, ps), (tt, pt) = _pair(src), _pair(tgt)
    t_out = t_model(ts, tt, tgt_mask=tmask)
    p_out = p_model(ps, pt, tgt_mask=pmask)
    _close(t_out, p_out, 1e-10)
    t_out.sum().backward()
    p_out.sum().backward()
    _compare_grads([(ts, ps), (tt, pt)], 1e-10)
    _compare_params(t_model, p_model, 1e-10)
