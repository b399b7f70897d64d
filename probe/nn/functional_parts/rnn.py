"""The recurrent layers' kernels: one fused op per layer (all time steps, both directions).

``probe.nn.RNN``/``LSTM``/``GRU`` and the LSTM and GRU cells run here. A layer is one ``Op``:

* the input projection of every time step and both directions is ONE GEMM before the loop
  (``x @ cat(W_ih).T``), with the biases added once into a processing-order buffer (the reverse
  direction's steps flipped);
* the Python loop over time steps does one batched GEMM per step for both directions
  (``(D, N, H) @ (D, H, G)``) plus a handful of in-place ufuncs on preallocated buffers;
* the gates come from one ``exp`` over all of them: the pre-activations are negated (doubled for
  LSTM's g gate) by folding that factor into the weights, so ``sigmoid(z) = 1 / (1 + exp(-z))``
  and ``tanh(z) = 2 sigmoid(2z) - 1``; NumPy's ``exp`` is about twice as fast as its ``tanh``;
* the backward walks the steps in reverse with one GEMM per step; the factors that do not depend
  on the incoming gradient are computed for all steps at once before the loop, and the weight and
  input gradients are one GEMM each over all steps after it;
* the large work arrays are recycled (``probe.engine.buffers.scratch``): page-faulting fresh
  ones in on every call cost about 30% of an LSTM training step.

Measured on a training step of a one-layer LSTM (L=50, N=32, H=128, float32, one thread): the same
layer composed from primitive ops took ~2.2x as long as this op (GRU ~2.4x, RNN ~2.3x).

Packed sequences run as padded ones with a validity mask: a padded step leaves the state as it
was, which is PyTorch's semantics for both directions.

Under ``create_graph=True`` the backward re-runs the layer composed from primitive ops
(``_reference``) on the saved inputs and differentiates it with ``autograd.grad``, so higher-order
gradients are exact without a second hand-written backward.
"""

from __future__ import annotations

import numpy as np

from ...engine.autograd import Op, _tensor_ns
from ...engine.buffers import scratch
from ...engine.ops.compare import where as _where
from ...engine.ops.linalg import linear as _linear
from ...engine.ops.shape import cat as _cat
from ...engine.ops.shape import stack as _stack_tensors
from ...engine.tensor import _wrap

__all__: list[str] = []

LSTM, GRU, RNN_TANH, RNN_RELU = "LSTM", "GRU", "RNN_TANH", "RNN_RELU"
_GATES = {LSTM: 4, GRU: 3, RNN_TANH: 1, RNN_RELU: 1}
_NW = 5  # per direction: w_ih, w_hh, b_ih, b_hh, w_hr (None where absent)


# ---------------------------------------------------------------------------------------------
# Work buffers. A layer needs a few arrays of 100 KB - 10 MB per call; glibc returns freed blocks
# of that size to the OS and page-faults them in again on the next call, which measured ~30% of
# an LSTM training step. Buffers are recycled once nothing but the pool references them (a graph
# that saved one, a tensor or a view holding it keeps it out of circulation).
# ---------------------------------------------------------------------------------------------

# ---------------------------------------------------------------------------------------------
# Shared pieces of the fast path (raw arrays, numpy or cupy)
# ---------------------------------------------------------------------------------------------

def _dims(x, bf):
    return (x.shape[1], x.shape[0]) if bf else (x.shape[0], x.shape[1])


def _time_major(a, bf):
    """A (L, N, ...) view of an array laid out like the input."""
    return a.swapaxes(0, 1) if bf else a


def _project(xp, x, ws, D, G, bf, biases, scale):
    """The input contribution of every step: ONE GEMM for all steps and directions (the gate
    ``scale`` folded into the weights), plus the bias, in processing order ``(L, D, N, G)``
    (the reverse direction's steps flipped). Also returns the unscaled stacked ``W_ih``."""
    L, N = _dims(x, bf)
    wcat = ws[0] if D == 1 else xp.concatenate([ws[_NW * d] for d in range(D)], 0)
    wT = wcat.T if scale is None else wcat.T * xp.tile(scale, D)
    xg = xp.matmul(x.reshape(-1, x.shape[-1]), wT, out=scratch(xp, (x.size // x.shape[-1], D * G),
                                                              x.dtype))
    if scale is not None:
        biases = [None if b is None else b * scale for b in biases]
    if D == 1 and not bf:
        xgp = xg.reshape(L, 1, N, G)
        if biases[0] is not None:
            xgp += biases[0]
        return xgp, wcat
    xg = _time_major(xg.reshape(x.shape[0], x.shape[1], D, G), bf)
    xgp = scratch(xp, (L, D, N, G), x.dtype)
    for d in range(D):
        src = xg[:, :, d] if d == 0 else xg[::-1, :, d]
        if biases[d] is None:
            xgp[:, d] = src
        else:
            xp.add(src, biases[d], out=xgp[:, d])
    return xgp, wcat


def _stack(xp, ws, D, k, transpose=False):
    """Weight ``k`` of every direction as one (D, ., .) array (a view when D == 1)."""
    if D == 1:
        w = ws[k]
        return (w.T if transpose else w)[None]
    return xp.stack([ws[_NW * d + k].T if transpose else ws[_NW * d + k] for d in range(D)])


def _stack_hh(xp, ws, D, scale):
    """``(D, H_out, G)``: the recurrent weights transposed (times the gate scale)."""
    if scale is None:
        return _stack(xp, ws, D, 1, True)
    return xp.stack([ws[_NW * d + 1].T * scale for d in range(D)])


def _prescale(x, bf, h0):
    """Fold the gate scale into the weights (once per call) rather than into each step's gates
    (``L * N`` rows): worth it unless the call is short, like a cell's single step."""
    L, N = _dims(x, bf)
    return L * N > x.shape[-1] + h0.shape[-1]


def _masks(xp, mask, D, dt):
    """Processing-order (L, D, N, 1) masks: valid (as 0/1 floats), and padded (bool)."""
    L, N = mask.shape
    mp = xp.empty((L, D, N, 1), bool)
    mp[:, 0, :, 0] = mask
    if D == 2:
        mp[:, 1, :, 0] = mask[::-1]
    return mp.astype(dt), ~mp


def _assemble(xp, Hs, x, bf, D):
    """The layer output in the input's layout from the processing-order states."""
    L = Hs.shape[0] - 1
    Hout = Hs.shape[3]
    out = scratch(xp, x.shape[:2] + (D, Hout), Hs.dtype)
    tm = _time_major(out, bf)
    tm[:, :, 0] = Hs[1:, 0]
    if D == 2:
        tm[:, :, 1] = Hs[L:0:-1, 1]
    return out.reshape(x.shape[0], x.shape[1], D * Hout)


def _grad_steps(xp, g, x, bf, D, Hout):
    """The output gradient in processing order ``(L, D, N, Hout)``."""
    L, N = _dims(x, bf)
    g4 = _time_major(g.reshape(x.shape[0], x.shape[1], D, Hout), bf)
    out = scratch(xp, (L, D, N, Hout), g.dtype)
    out[:, 0] = g4[:, :, 0]
    if D == 2:
        out[:, 1] = g4[::-1, :, 1]
    return out


def _outer_sum(xp, a, b):
    """``(D, P, Q)``: for each direction, the sum over steps and rows of ``a^T b`` (one GEMM)."""
    D, P, Q = a.shape[1], a.shape[-1], b.shape[-1]
    if D == 1:
        return (a.reshape(-1, P).T @ b.reshape(-1, Q))[None]
    a2 = xp.moveaxis(a, 1, 0).reshape(D, -1, P)
    b2 = xp.moveaxis(b, 1, 0).reshape(D, -1, Q)
    return xp.matmul(a2.swapaxes(1, 2), b2)


def _input_grads(xp, dZ, x, wcat, bf, need_x, need_w):
    """Gradients of the input projection from the processing-order gate gradients ``dZ``:
    (dx, dW_ih stacked over directions, db summed over steps and rows)."""
    L, D, N, G = dZ.shape
    if D == 1 and not bf:
        d2 = dZ.reshape(L * N, G)
    else:
        dxg = scratch(xp, x.shape[:2] + (D, G), dZ.dtype)
        tm = _time_major(dxg, bf)
        tm[:, :, 0] = dZ[:, 0]
        if D == 2:
            tm[:, :, 1] = dZ[::-1, 1]
        d2 = dxg.reshape(-1, D * G)
    gx = None
    if need_x:
        gx = xp.matmul(d2, wcat, out=scratch(xp, (d2.shape[0], wcat.shape[1]), d2.dtype))
        gx = gx.reshape(x.shape)
    gw = (d2.T @ x.reshape(-1, x.shape[-1])).reshape(D, G, x.shape[-1]) if need_w else None
    gb = d2.sum(0).reshape(D, G)
    return gx, gw, gb


def _dsum(a):
    """Per-direction sum over steps and rows: (L, D, N, P) -> (D, P)."""
    return a.sum(axis=(0, 2))


# ---------------------------------------------------------------------------------------------
# LSTM
# ---------------------------------------------------------------------------------------------

def _lstm_forward(xp, x, h0, c0, ws, D, bf, mask, rec):
    L, N = _dims(x, bf)
    H = c0.shape[-1]
    Hout = h0.shape[-1]
    G = 4 * H
    dt = x.dtype
    proj = ws[4] is not None
    # All four gates from one exp: the pre-activations are negated (doubled for g) by folding
    # the factor into the weights, so sigmoid(z) = 1 / (1 + exp(-z)) for i, f, o and
    # tanh(z) = 2 sigmoid(2z) - 1 for g. np.exp is ~2x faster than np.tanh (float32 and 64).
    scale = xp.full(G, -1.0, dt)
    scale[2 * H:3 * H] = -2
    biases = [None if ws[_NW * d + 2] is None else ws[_NW * d + 2] + ws[_NW * d + 3]
              for d in range(D)]
    step_scale = None
    if not _prescale(x, bf, h0):
        step_scale, scale = scale, None
    xgp, wcat = _project(xp, x, ws, D, G, bf, biases, scale)
    whhT = _stack_hh(xp, ws, D, scale)
    whrT = _stack(xp, ws, D, 4, True) if proj else None
    Hs = scratch(xp, (L + 1, D, N, Hout), dt)
    Hs[0] = h0
    Cs = scratch(xp, (L + 1, D, N, H), dt)
    Cs[0] = c0
    keep = L if rec else 1
    A = scratch(xp, (keep, D, N, G), dt)
    Tc = scratch(xp, (keep, D, N, H), dt)
    M = scratch(xp, (keep, D, N, H), dt) if proj else None
    tmp = xp.empty((D, N, H), dt)
    mp = pad = None
    if mask is not None:
        mp, pad = _masks(xp, mask, D, dt)
    matmul, multiply, tanh, exp, divide = xp.matmul, xp.multiply, xp.tanh, xp.exp, xp.divide
    h1, h2, h3 = H, 2 * H, 3 * H
    for s in range(L):
        k = s if rec else 0
        a = A[k]
        matmul(Hs[s], whhT, out=a)
        a += xgp[s]
        if step_scale is not None:
            a *= step_scale
        exp(a, out=a)
        a += 1
        divide(1, a, out=a)
        g = a[..., h2:h3]
        g *= 2
        g -= 1
        c = Cs[s + 1]
        multiply(a[..., h1:h2], Cs[s], out=c)
        multiply(a[..., :h1], a[..., h2:h3], out=tmp)
        c += tmp
        if pad is not None:
            xp.copyto(c, Cs[s], where=pad[s])
        tc = tanh(c, out=Tc[k])
        if proj:
            multiply(a[..., h3:], tc, out=M[k])
            matmul(M[k], whrT, out=Hs[s + 1])
        else:
            multiply(a[..., h3:], tc, out=Hs[s + 1])
        if pad is not None:
            xp.copyto(Hs[s + 1], Hs[s], where=pad[s])
    saved = (Hs, Cs, A, Tc, M, mp, pad, wcat) if rec else None
    return Hs, Cs[L], saved


def _lstm_backward(xp, x, ws, saved, dHp, dh, dc, bf, need_x, need_w):
    Hs, Cs, A, Tc, M, mp, pad, wcat = saved
    L, D, N, G = A.shape
    H = G // 4
    h1, h2, h3 = H, 2 * H, 3 * H
    proj = M is not None
    # Factors independent of the incoming gradient, for all steps at once:
    # K = [g * i', c_prev * f', i * g', tanh(c) * o'] and OT = o * tanh'(c).
    K = scratch(xp, A.shape, A.dtype)
    xp.subtract(1, A, out=K)
    K *= A
    K[..., :h1] *= A[..., h2:h3]
    K[..., h1:h2] *= Cs[:-1]
    Kg = K[..., h2:h3]
    xp.multiply(A[..., h2:h3], A[..., h2:h3], out=Kg)
    xp.subtract(1, Kg, out=Kg)
    Kg *= A[..., :h1]
    K[..., h3:] *= Tc
    OT = scratch(xp, Tc.shape, Tc.dtype)
    xp.multiply(Tc, Tc, out=OT)
    xp.subtract(1, OT, out=OT)
    OT *= A[..., h3:]
    Af = A[..., h1:h2]
    dZ = scratch(xp, A.shape, A.dtype)
    whh = _stack(xp, ws, D, 1)
    whr = _stack(xp, ws, D, 4) if proj else None
    DH = scratch(xp, (L, D, N, dh.shape[-1]), dh.dtype) if proj else None
    tmp = xp.empty((D, N, H), A.dtype)
    dh = dh.copy()
    dc = dc.copy()
    matmul, multiply = xp.matmul, xp.multiply
    for s in range(L - 1, -1, -1):
        if dHp is not None:
            dh += dHp[s]
        if pad is not None:
            keep_h = dh * pad[s]
            keep_c = dc * pad[s]
            dh *= mp[s]
            dc *= mp[s]
        if proj:
            DH[s] = dh
            dm = matmul(dh, whr)
        else:
            dm = dh
        multiply(dm, OT[s], out=tmp)
        dc += tmp
        k = K[s]
        z = dZ[s]
        multiply(dc, k[..., :h1], out=z[..., :h1])
        multiply(dc, k[..., h1:h2], out=z[..., h1:h2])
        multiply(dc, k[..., h2:h3], out=z[..., h2:h3])
        multiply(dm, k[..., h3:], out=z[..., h3:])
        dc *= Af[s]
        matmul(z, whh, out=dh)
        if pad is not None:
            dh += keep_h
            dc += keep_c
    gx, gw_ih, gb = _input_grads(xp, dZ, x, wcat, bf, need_x, need_w)
    gw_hh = _outer_sum(xp, dZ, Hs[:-1]) if need_w else None
    gw_hr = _outer_sum(xp, DH, M) if proj and need_w else None
    return gx, dh, dc, gw_ih, gw_hh, gb, gb, gw_hr


# ---------------------------------------------------------------------------------------------
# GRU: r, z, n with n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); h' = n + z * (h - n)
# ---------------------------------------------------------------------------------------------

def _gru_forward(xp, x, h0, c0, ws, D, bf, mask, rec):
    L, N = _dims(x, bf)
    H = h0.shape[-1]
    G = 3 * H
    dt = x.dtype
    # r, z = 1 / (1 + exp(-pre)): the -1 is folded into their weights and biases.
    scale = xp.full(G, -1.0, dt)
    scale[2 * H:] = 1
    biases = []
    bhn = None
    if ws[2] is not None:
        bhn = xp.stack([ws[_NW * d + 3][2 * H:] for d in range(D)])[:, None, :]
        for d in range(D):
            b = ws[_NW * d + 2].copy()
            b[:2 * H] += ws[_NW * d + 3][:2 * H]
            biases.append(b)
    else:
        biases = [None] * D
    pre = _prescale(x, bf, h0)
    xgp, wcat = _project(xp, x, ws, D, G, bf, biases, scale if pre else None)
    whhT = _stack_hh(xp, ws, D, scale if pre else None)
    Hs = scratch(xp, (L + 1, D, N, H), dt)
    Hs[0] = h0
    keep = L if rec else 1
    HH = scratch(xp, (keep, D, N, G), dt)
    RZ = scratch(xp, (keep, D, N, 2 * H), dt)
    NN = scratch(xp, (keep, D, N, H), dt)
    mp = pad = None
    if mask is not None:
        mp, pad = _masks(xp, mask, D, dt)
    matmul, multiply, tanh = xp.matmul, xp.multiply, xp.tanh
    h2 = 2 * H
    for s in range(L):
        k = s if rec else 0
        hh = HH[k]
        matmul(Hs[s], whhT, out=hh)
        xs = xgp[s]
        if bhn is not None:
            hh[..., h2:] += bhn
        rz = RZ[k]
        xp.add(hh[..., :h2], xs[..., :h2], out=rz)
        if not pre:
            xp.negative(rz, out=rz)
        xp.exp(rz, out=rz)
        rz += 1
        xp.divide(1, rz, out=rz)
        n = NN[k]
        multiply(rz[..., :H], hh[..., h2:], out=n)
        n += xs[..., h2:]
        tanh(n, out=n)
        h = Hs[s + 1]
        xp.subtract(Hs[s], n, out=h)
        h *= rz[..., H:]
        h += n
        if pad is not None:
            xp.copyto(h, Hs[s], where=pad[s])
    saved = (Hs, HH, RZ, NN, mp, pad, wcat) if rec else None
    return Hs, None, saved


def _gru_backward(xp, x, ws, saved, dHp, dh, dc, bf, need_x, need_w):
    Hs, HH, RZ, NN, mp, pad, wcat = saved
    L, D, N, G = HH.shape
    H = G // 3
    h2 = 2 * H
    R = RZ[..., :H]
    Z = RZ[..., H:]
    # dn_pre = dh * (1 - z) * (1 - n^2); dz_pre = dh * (h - n) * z (1 - z);
    # dr_pre = dn_pre * hn * r (1 - r), for all steps at once.
    OZ = scratch(xp, NN.shape, NN.dtype)
    xp.subtract(1, Z, out=OZ)
    Kn = scratch(xp, NN.shape, NN.dtype)
    xp.multiply(NN, NN, out=Kn)
    xp.subtract(1, Kn, out=Kn)
    Kn *= OZ
    Kz = scratch(xp, NN.shape, NN.dtype)
    xp.subtract(Hs[:-1], NN, out=Kz)
    Kz *= Z
    Kz *= OZ
    Kr = OZ  # 1 - z is no longer needed
    xp.subtract(1, R, out=Kr)
    Kr *= R
    Kr *= HH[..., h2:]
    DZh = scratch(xp, HH.shape, HH.dtype)
    DNX = scratch(xp, NN.shape, NN.dtype)
    whh = _stack(xp, ws, D, 1)
    tmp = xp.empty_like(dh)
    dh = dh.copy()
    matmul, multiply = xp.matmul, xp.multiply
    for s in range(L - 1, -1, -1):
        if dHp is not None:
            dh += dHp[s]
        if pad is not None:
            keep_h = dh * pad[s]
            dh *= mp[s]
        dz = DZh[s]
        dn = DNX[s]
        multiply(dh, Kn[s], out=dn)
        multiply(dh, Kz[s], out=dz[..., H:h2])
        multiply(dn, Kr[s], out=dz[..., :H])
        multiply(dn, R[s], out=dz[..., h2:])
        dh *= Z[s]
        matmul(dz, whh, out=tmp)
        dh += tmp
        if pad is not None:
            dh += keep_h
    gw_hh = _outer_sum(xp, DZh, Hs[:-1]) if need_w else None
    gb_hh = _dsum(DZh)
    dZx = DZh
    dZx[..., h2:] = DNX  # DZh's n part is no longer needed
    gx, gw_ih, gb_ih = _input_grads(xp, dZx, x, wcat, bf, need_x, need_w)
    return gx, dh, None, gw_ih, gw_hh, gb_ih, gb_hh, None


# ---------------------------------------------------------------------------------------------
# Elman RNN: h' = tanh|relu(W_ih x + b_ih + W_hh h + b_hh)
# ---------------------------------------------------------------------------------------------

def _rnn_forward(xp, x, h0, c0, ws, D, bf, mask, rec, relu):
    L, N = _dims(x, bf)
    H = h0.shape[-1]
    dt = x.dtype
    biases = [None if ws[_NW * d + 2] is None else ws[_NW * d + 2] + ws[_NW * d + 3]
              for d in range(D)]
    xgp, wcat = _project(xp, x, ws, D, H, bf, biases, None)
    whhT = _stack(xp, ws, D, 1, True)
    Hs = scratch(xp, (L + 1, D, N, H), dt)
    Hs[0] = h0
    mp = pad = None
    if mask is not None:
        mp, pad = _masks(xp, mask, D, dt)
    matmul = xp.matmul
    for s in range(L):
        h = Hs[s + 1]
        matmul(Hs[s], whhT, out=h)
        h += xgp[s]
        if relu:
            xp.maximum(h, 0, out=h)
        else:
            xp.tanh(h, out=h)
        if pad is not None:
            xp.copyto(h, Hs[s], where=pad[s])
    saved = (Hs, mp, pad, wcat) if rec else None
    return Hs, None, saved


def _rnn_backward(xp, x, ws, saved, dHp, dh, dc, bf, need_x, need_w, relu):
    Hs, mp, pad, wcat = saved
    L1, D, N, H = Hs.shape
    L = L1 - 1
    deriv = scratch(xp, (L, D, N, H), Hs.dtype)
    if relu:
        xp.greater(Hs[1:], 0, out=deriv)
    else:
        xp.multiply(Hs[1:], Hs[1:], out=deriv)
        xp.subtract(1, deriv, out=deriv)
    dZ = scratch(xp, (L, D, N, H), Hs.dtype)
    whh = _stack(xp, ws, D, 1)
    dh = dh.copy()
    matmul = xp.matmul
    for s in range(L - 1, -1, -1):
        if dHp is not None:
            dh += dHp[s]
        if pad is not None:
            keep_h = dh * pad[s]
            dh *= mp[s]
        xp.multiply(dh, deriv[s], out=dZ[s])
        matmul(dZ[s], whh, out=dh)
        if pad is not None:
            dh += keep_h
    gx, gw_ih, gb = _input_grads(xp, dZ, x, wcat, bf, need_x, need_w)
    gw_hh = _outer_sum(xp, dZ, Hs[:-1]) if need_w else None
    return gx, dh, None, gw_ih, gw_hh, gb, gb, None


def _forward_kernel(mode):
    if mode == LSTM:
        return _lstm_forward, _lstm_backward
    if mode == GRU:
        return _gru_forward, _gru_backward
    relu = mode == RNN_RELU
    return (lambda *a: _rnn_forward(*a, relu)), (lambda *a: _rnn_backward(*a, relu))


_KERNELS = {m: _forward_kernel(m) for m in (LSTM, GRU, RNN_TANH, RNN_RELU)}


# ---------------------------------------------------------------------------------------------
# The op
# ---------------------------------------------------------------------------------------------

class _RNNLayer(Op):
    """One recurrent layer (all steps, 1 or 2 directions), or one cell step.

    ``apply(x, h0, c0, *weights, mode, batch_first, mask, cell)`` with ``weights`` five per
    direction (``w_ih, w_hh, b_ih, b_hh, w_hr``, None where absent). Layer outputs:
    ``(output, h_n[, c_n])``; a cell (2-D ``x``/``h0``) returns ``h'`` (LSTM: ``(h', c')``).
    """

    node_name = "MkldnnRnnLayerBackward0"

    @staticmethod
    def forward(ctx, x, h0, c0, *rest):
        *ws, mode, bf, mask, cell = rest
        D = len(ws) // _NW
        rec = ctx.recording
        fwd = _KERNELS[mode][0]
        with np.errstate(over="ignore"):  # exp(-z) may overflow to inf: sigmoid is then 0
            return _run_forward(ctx, fwd, x, h0, c0, ws, mode, bf, mask, cell, D, rec)

    @staticmethod
    def backward(ctx, *grads):
        xp = ctx.xp
        if xp is _tensor_ns():
            return _differentiable_backward(ctx, grads)
        saved = ctx.saved
        n = ctx.n_inputs
        x, h0, c0, *ws = saved[:n]
        kernel_saved = saved[n:]
        D = len(ws) // _NW
        need = ctx.needs_input_grad
        need_x = need[0]
        need_w = any(need[3:])
        bwd = _KERNELS[ctx.mode][1]
        if ctx.cell:
            g_h = grads[0]
            g_c = grads[1] if len(grads) > 1 else None
            gx, gh, gc, gwi, gwh, gbi, gbh, _ = bwd(
                xp, x[None], ws, kernel_saved, None, g_h[None],
                None if g_c is None else g_c[None], False, need_x, need_w)
            gx = None if gx is None else gx[0]
            gh = gh[0]
            gc = None if gc is None else gc[0]
        else:
            g_out, g_hn = grads[0], grads[1]
            g_cn = grads[2] if len(grads) > 2 else None
            Hout = h0.shape[-1]
            dHp = _grad_steps(xp, g_out, x, ctx.bf, D, Hout)
            gx, gh, gc, gwi, gwh, gbi, gbh, gwr = bwd(
                xp, x, ws, kernel_saved, dHp, g_hn, g_cn, ctx.bf, need_x, need_w)
        gws = []
        for d in range(D):
            gws.append(None if gwi is None else gwi[d])
            gws.append(None if gwh is None else gwh[d])
            has_b = ws[_NW * d + 2] is not None
            gws.append(gbi[d] if has_b else None)
            gws.append(gbh[d] if has_b else None)
            gws.append(None if ws[_NW * d + 4] is None or not need_w else gwr[d])
        return (gx, gh, gc, *gws)


def _run_forward(ctx, fwd, x, h0, c0, ws, mode, bf, mask, cell, D, rec):
    if cell:
        Hs, cn, saved = fwd(ctx.xp, x[None], h0[None], None if c0 is None else c0[None],
                            ws, 1, False, None, rec)
        h = Hs[1, 0].copy()  # Hs is kept for the backward: the output must not alias it
        outs = h if cn is None else (h, cn[0].copy())
    else:
        Hs, cn, saved = fwd(ctx.xp, x, h0, c0, ws, D, bf, mask, rec)
        out = _assemble(ctx.xp, Hs, x, bf, D)
        hn = Hs[-1].copy()
        outs = (out, hn) if cn is None else (out, hn, cn.copy())
    if rec:
        ctx.mode = mode
        ctx.bf = bf
        ctx.cell = cell
        ctx.mask = mask
        ctx.n_inputs = 3 + len(ws)
        ctx.save_for_backward(x, h0, c0, *ws, *saved)
    return outs



def _differentiable_backward(ctx, grads):
    """The backward under ``create_graph``: differentiate the composed reference layer."""
    from ...autograd import grad as _grad  # noqa: PLC0415 - probe.autograd imports the engine

    saved = ctx.saved[:ctx.n_inputs]
    need = ctx.needs_input_grad
    args = []
    wanted = []
    for i, t in enumerate(saved):
        if t is not None and need[i]:
            t = t.view_as(t)  # a node of its own: the gradient stops here, not upstream
            wanted.append(i)
        args.append(t)
    x, h0, c0, *ws = args
    outs = _reference(ctx.mode, x, h0, c0, ws, ctx.bf, ctx.mask, ctx.cell)
    if not isinstance(outs, tuple):
        outs = (outs,)
    pairs = [(o, g) for o, g in zip(outs, grads, strict=True) if g is not None]
    res = _grad([o for o, _ in pairs], [args[i] for i in wanted], [g for _, g in pairs],
                create_graph=True, allow_unused=True)
    result = [None] * len(saved)
    for i, g in zip(wanted, res, strict=True):
        result[i] = g
    return tuple(result)


# ---------------------------------------------------------------------------------------------
# The same computation composed from primitive ops (double backward; a test oracle)
# ---------------------------------------------------------------------------------------------

def _reference_step(mode, xt, h, c, w_hh, b_hh, w_hr):
    if mode == LSTM:
        z = xt + _linear(h, w_hh, b_hh)
        i, f, g, o = z.chunk(4, -1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        if w_hr is not None:
            h = _linear(h, w_hr)
        return h, c
    if mode == GRU:
        xr, xz, xn = xt.chunk(3, -1)
        hr, hz, hn = _linear(h, w_hh, b_hh).chunk(3, -1)
        r = (xr + hr).sigmoid()
        z = (xz + hz).sigmoid()
        n = (xn + r * hn).tanh()
        return n + z * (h - n), None
    pre = xt + _linear(h, w_hh, b_hh)
    return (pre.relu() if mode == RNN_RELU else pre.tanh()), None


def _reference(mode, x, h0, c0, ws, bf, mask, cell):
    """``_RNNLayer``'s outputs computed from primitive ops (same arguments)."""
    if cell:
        h, c = _reference_step(mode, _linear(x, ws[0], ws[2]), h0, c0, ws[1], ws[3], ws[4])
        return h if c is None else (h, c)
    D = len(ws) // _NW
    if bf:
        x = x.transpose(0, 1)
    L = x.shape[0]
    valid = None if mask is None else _wrap(mask[:, :, None], x._device)
    outs, hns, cns = [], [], []
    for d in range(D):
        w_ih, w_hh, b_ih, b_hh, w_hr = ws[_NW * d:_NW * d + _NW]
        xg = _linear(x, w_ih, b_ih)
        h = h0[d]
        c = None if c0 is None else c0[d]
        hs = [None] * L
        for t in (range(L) if d == 0 else range(L - 1, -1, -1)):
            hn, cn = _reference_step(mode, xg[t], h, c, w_hh, b_hh, w_hr)
            if valid is not None:
                hn = _where(valid[t], hn, h)
                if cn is not None:
                    cn = _where(valid[t], cn, c)
            h, c = hn, cn
            hs[t] = h
        outs.append(_stack_tensors(hs))
        hns.append(h)
        cns.append(c)
    out = outs[0] if D == 1 else _cat(outs, -1)
    if bf:
        out = out.transpose(0, 1)
    hn = _stack_tensors(hns)
    return (out, hn) if c0 is None else (out, hn, _stack_tensors(cns))
