"""Parity with PyTorch for two things users observe without computing anything: how a device
compares (with devices, strings, ints, None; hashes, ``in``, dict keys, ordering), and the
grad_fn chain that ``instance_norm``, ``scaled_dot_product_attention`` and matrix-product
``einsum`` leave on their outputs (values and gradients are compared as well)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import probe

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().cpu().numpy()


def _chain(out, depth):
    """grad_fn names from the top, following the first edge that is not a leaf."""
    names = []
    fn = out.grad_fn
    while fn is not None and len(names) < depth:
        names.append(type(fn).__name__)
        nxt = [f for f, _ in fn.next_functions
               if f is not None and type(f).__name__ != "AccumulateGrad"]
        fn = nxt[0] if nxt else None
    return names


# ---------------------------------------------------------------------------------------------
# Device comparisons
# ---------------------------------------------------------------------------------------------

# Each expression is evaluated with ``L`` bound to probe and to torch; the results must agree.
DEVICE_EXPRESSIONS = [
    "L.device('cpu') == 'cpu'",
    "L.device('cpu') != 'cpu'",
    "'cpu' == L.device('cpu')",
    "'cpu' != L.device('cpu')",
    "L.device('cuda:1') == 'cuda:1'",
    "L.device('cpu') == L.device('cpu')",
    "L.device('cpu') != L.device('cpu')",
    "L.device('cuda') == L.device('cuda', 0)",
    "L.device('cuda', 0) == L.device('cuda:0')",
    "L.device('cuda', 0) != L.device('cuda', 1)",
    "L.device('cpu') == None",
    "L.device('cpu') != None",
    "L.device('cpu') == 0",
    "L.device('cuda', 0) == 0",
    "L.device('cpu') == L.device('cpu').type",
    "L.device('cpu') in ['cpu', 'cuda']",
    "L.device('cpu') in [L.device('cpu')]",
    "'cpu' in [L.device('cpu')]",
    "L.device('cpu') in ('cuda', None, 0)",
    "{L.device('cpu'): 1}.get('cpu')",
    "{L.device('cpu'): 1}.get(L.device('cpu'))",
    "{L.device('cuda', 0): 1}.get(L.device('cuda:0'))",
    "len({L.device('cpu'), L.device('cpu'), L.device('cuda'), L.device('cuda', 0)})",
    "[hash(L.device(s)) for s in ('cpu', 'cuda', 'cuda:0', 'cuda:1', 'meta')]",
    "L.device('cpu').__eq__('cpu')",
    "L.device('cpu').__ne__(None)",
    "L.zeros(2).device == 'cpu'",
    "L.zeros(2).device.type == 'cpu'",
    "L.zeros(2).device == L.device('cpu')",
    "L.zeros(2).device == L.ones(3).device",
    "repr(pickle.loads(pickle.dumps(L.device('cuda', 1))))",
    "str(L.device('cuda', 1))",
]


@pytest.mark.parametrize("expr", DEVICE_EXPRESSIONS)
def test_device_comparison(expr):
    got = eval(expr, {"L": probe, "pickle": pickle})
    want = eval(expr, {"L": torch, "pickle": pickle})
    if isinstance(want, str):
        want = want.replace("torch.", "probe.")
    assert got == want, expr


@pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
@pytest.mark.parametrize("other", ["L.device('cpu')", "'cpu'", "0", "None"])
def test_device_ordering_raises(op, other):
    expr = f"L.device('cpu') {op} {other}"
    errors = []
    for lib in (probe, torch):
        with pytest.raises(TypeError) as info:
            eval(expr, {"L": lib})
        errors.append(str(info.value))
    if other == "L.device('cpu')":
        assert errors[0] == errors[1] == "comparison not implemented"
    else:
        # Python words these itself and names the class: 'device' here, 'torch.device' there.
        assert errors[0] == errors[1].replace("torch.device", "device")


# ---------------------------------------------------------------------------------------------
# grad_fn chains
# ---------------------------------------------------------------------------------------------

def _arrays(seed, shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


def _run(lib, fn, arrays, grad_mask, seed):
    ts = [lib.tensor(a, requires_grad=g) for a, g in zip(arrays, grad_mask, strict=True)]
    out = fn(lib, *ts)
    g = np.random.default_rng(seed + 1).standard_normal(tuple(out.shape))
    out.backward(lib.tensor(g))
    return out, [None if t.grad is None else _np(t.grad) for t in ts if t.requires_grad]


def _compare(fn, shapes, *, depth, grad_mask=None, seed=0, check_names=True):
    arrays = _arrays(seed, shapes)
    grad_mask = grad_mask or [True] * len(arrays)
    p_out, p_grads = _run(probe, fn, arrays, grad_mask, seed)
    t_out, t_grads = _run(torch, fn, arrays, grad_mask, seed)
    if check_names:
        assert _chain(p_out, depth) == _chain(t_out, depth)
    np.testing.assert_allclose(_np(p_out), _np(t_out), rtol=1e-9, atol=1e-11)
    for p, t in zip(p_grads, t_grads, strict=True):
        assert (p is None) == (t is None)
        if p is not None:
            np.testing.assert_allclose(p, t, rtol=1e-8, atol=1e-10)


# (name, fn, input shapes, grad mask); fn(L, *tensors). Running statistics are built inside
# fn from fixed values so each library updates its own copy.
_RM = np.array([0.5, -1.0, 2.0])
_RV = np.array([1.5, 0.5, 2.0])

INSTANCE_NORM_CASES = {
    "3d": (lambda L, x: L.nn.functional.instance_norm(x), [(2, 3, 5)], None),
    "4d": (lambda L, x: L.nn.functional.instance_norm(x), [(2, 3, 4, 5)], None),
    "5d": (lambda L, x: L.nn.functional.instance_norm(x), [(2, 3, 2, 3, 2)], None),
    "affine": (lambda L, x, w, b: L.nn.functional.instance_norm(x, weight=w, bias=b),
               [(2, 3, 4, 5), (3,), (3,)], None),
    "affine_params_only": (lambda L, x, w, b: L.nn.functional.instance_norm(x, weight=w, bias=b),
                           [(2, 3, 4), (3,), (3,)], [False, True, True]),
    "running_train": (lambda L, x: L.nn.functional.instance_norm(
        x, L.tensor(_RM), L.tensor(_RV), momentum=0.3), [(2, 3, 6)], None),
    "running_eval": (lambda L, x, w, b: L.nn.functional.instance_norm(
        x, L.tensor(_RM), L.tensor(_RV), w, b, use_input_stats=False), [(2, 3, 6), (3,), (3,)],
        None),
    "non_contiguous": (lambda L, x: L.nn.functional.instance_norm(x.transpose(1, 2)),
                       [(2, 5, 3)], None),
}


@pytest.mark.parametrize("name", sorted(INSTANCE_NORM_CASES))
def test_instance_norm_grad_fn(name):
    fn, shapes, mask = INSTANCE_NORM_CASES[name]
    _compare(fn, shapes, depth=5, grad_mask=mask)


@pytest.mark.parametrize("momentum", [0.1, 0.7])
def test_instance_norm_running_stats_update(momentum):
    x = _arrays(3, [(4, 3, 7)])[0]
    stats = {}
    for lib in (probe, torch):
        rm, rv = lib.tensor(_RM), lib.tensor(_RV)
        versions = (rm._version, rv._version)
        lib.nn.functional.instance_norm(lib.tensor(x), rm, rv, momentum=momentum)
        stats[lib.__name__] = (_np(rm), _np(rv), rm._version - versions[0],
                               rv._version - versions[1])
    p, t = stats["probe"], stats["torch"]
    np.testing.assert_allclose(p[0], t[0], rtol=1e-12)
    np.testing.assert_allclose(p[1], t[1], rtol=1e-12)
    assert p[2:] == t[2:]


def _sdpa(**kwargs):
    return lambda L, q, k, v: L.nn.functional.scaled_dot_product_attention(q, k, v, **kwargs)


def _sdpa_mask(mask, **kwargs):
    return lambda L, q, k, v: L.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=L.tensor(mask), **kwargs)


_QKV = [(2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 8)]
_BOOL_MASK = np.random.default_rng(5).random((4, 6)) > 0.3
_FLOAT_MASK = np.random.default_rng(6).standard_normal((2, 1, 4, 6))

# The calls PyTorch's CPU backend sends to its fused kernel: 4-D inputs without dropout, a
# mask that needs no gradient. PyTorch's top node is ScaledDotProductFlashAttentionForCpu;
# probe's fused attention op carries that name.
SDPA_FUSED_CASES = {
    "plain": (_sdpa(), _QKV, None),
    "causal": (_sdpa(is_causal=True), [(2, 3, 6, 8)] * 3, None),
    "bool_mask": (_sdpa_mask(_BOOL_MASK), _QKV, None),
    "float_mask_4d": (_sdpa_mask(_FLOAT_MASK), _QKV, None),
    "scale": (_sdpa(scale=0.3), _QKV, None),
    "dropout_zero": (_sdpa(dropout_p=0.0), _QKV, None),
    "gqa": (_sdpa(enable_gqa=True), [(2, 4, 4, 8), (2, 2, 6, 8), (2, 2, 6, 8)], None),
    "value_grad_only": (_sdpa(), _QKV, [False, False, True]),
    "one_query": (_sdpa(), [(2, 3, 1, 8), (2, 3, 6, 8), (2, 3, 6, 8)], None),
}


@pytest.mark.parametrize("name", sorted(SDPA_FUSED_CASES))
def test_sdpa_grad_fn(name):
    fn, shapes, mask = SDPA_FUSED_CASES[name]
    _compare(fn, shapes, depth=1, grad_mask=mask)


# Calls PyTorch runs through its unfused math path (its top node is the last matmul's
# UnsafeViewBackward0, or MmBackward0 for 2-D inputs). probe keeps them fused for speed, so only
# values and gradients are compared. Dropout > 0 goes that way too, with different random
# streams, so it is left out here.
SDPA_MATH_CASES = {
    "3d": (_sdpa(), [(3, 4, 8), (3, 6, 8), (3, 6, 8)], None),
    "3d_causal": (_sdpa(is_causal=True), [(3, 6, 8)] * 3, None),
    "2d": (_sdpa(), [(4, 8), (6, 8), (6, 8)], None),
    "5d": (_sdpa(), [(2, 2, 3, 4, 8), (2, 2, 3, 6, 8), (2, 2, 3, 6, 8)], None),
    "broadcast_batch": (_sdpa(), [(2, 3, 4, 8), (1, 3, 6, 8), (1, 3, 6, 8)], None),
    "value_dim_differs": (_sdpa(), [(2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 5)], None),
}


@pytest.mark.parametrize("name", sorted(SDPA_MATH_CASES))
def test_sdpa_math_path_values(name):
    fn, shapes, mask = SDPA_MATH_CASES[name]
    _compare(fn, shapes, depth=1, grad_mask=mask, check_names=False)


# Contractions: PyTorch permutes, reshapes, runs bmm and views the result back.
EINSUM_CASES = {
    "matmul": ("ij,jk->ik", [(3, 4), (4, 5)]),
    "matmul_transposed_out": ("ij,jk->ki", [(3, 4), (4, 5)]),
    "batched": ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    "dot": ("i,i->", [(4,), (4,)]),
}


@pytest.mark.parametrize("name", sorted(EINSUM_CASES))
def test_einsum_contraction_grad_fn(name):
    eq, shapes = EINSUM_CASES[name]
    _compare(lambda L, *ts: L.einsum(eq, *ts), shapes, depth=1)
