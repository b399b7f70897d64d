"""RNN, LSTM, GRU, their cells and packed sequences against PyTorch with the same weights (copied
across with ``load_state_dict``, both ways): outputs, final states, and the gradients of the
input, the initial states and every parameter, in float32 and float64, train and eval mode."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")

import probe  # noqa: E402
from probe.nn.modules import rnn as pnn  # noqa: E402
from probe.nn.utils import rnn as putils  # noqa: E402

TOL = {torch.float32: dict(rtol=2e-4, atol=2e-5), torch.float64: dict(rtol=1e-9, atol=1e-10)}
PDT = {torch.float32: probe.float32, torch.float64: probe.float64}


def to_np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return t.detach().cpu().numpy()


def P(t, requires_grad=None):
    rg = t.requires_grad if requires_grad is None else requires_grad
    return probe.tensor(t.detach().numpy(), requires_grad=rg)


def close(a, b, dtype, what=""):
    a, b = to_np(a), to_np(b)
    assert a.shape == b.shape, (what, a.shape, b.shape)
    assert a.dtype == b.dtype, (what, a.dtype, b.dtype)
    np.testing.assert_allclose(b, a, err_msg=what, **TOL[dtype])


def _pair(kind, args, kwargs, dtype, direction):
    """The same layer in torch and probe, weights copied ``torch->probe`` or ``probe->torch``."""
    kwargs = dict(kwargs)
    if kind == "lstm_proj":
        kwargs["proj_size"] = 2
    if kind == "rnn_relu":
        kwargs["nonlinearity"] = "relu"
    name = {"rnn": "RNN", "rnn_relu": "RNN", "lstm": "LSTM", "lstm_proj": "LSTM", "gru": "GRU",
            "rnncell": "RNNCell", "rnncell_relu": "RNNCell", "lstmcell": "LSTMCell",
            "grucell": "GRUCell"}[kind]
    if kind == "rnncell_relu":
        kwargs["nonlinearity"] = "relu"
    torch.manual_seed(0)
    t = getattr(torch.nn, name)(*args, **kwargs).to(dtype)
    probe.manual_seed(1)
    p = getattr(pnn, name)(*args, **kwargs).to(PDT[dtype])
    assert list(t.state_dict()) == list(p.state_dict())
    assert repr(t) == repr(p)
    if direction == "torch->probe":
        p.load_state_dict({k: P(v) for k, v in t.state_dict().items()})
    else:
        t.load_state_dict({k: torch.from_numpy(to_np(v).copy()) for k, v in
                           p.state_dict().items()})
    return t, p


def _flat(result):
    out, hidden = result
    hidden = list(hidden) if isinstance(hidden, tuple) else [hidden]
    return [out, *hidden]


def _check_grads(t_mod, p_mod, t_leaves, p_leaves, dtype):
    for i, (a, b) in enumerate(zip(t_leaves, p_leaves, strict=True)):
        close(a.grad, b.grad, dtype, f"leaf {i} grad")
    for (name, a), (name2, b) in zip(t_mod.named_parameters(), p_mod.named_parameters(),
                                     strict=True):
        assert name == name2
        close(a.grad, b.grad, dtype, f"{name}.grad")


# (num_layers, bidirectional, batch_first, initial state, bias, unbatched, weight copy direction)
CONFIGS = {
    "plain": (1, False, False, False, True, False, "torch->probe"),
    "h0_nobias": (1, False, False, True, False, False, "probe->torch"),
    "bidir_bf_h0": (1, True, True, True, True, False, "torch->probe"),
    "2layers_bidir_h0": (2, True, False, True, True, False, "probe->torch"),
    "3layers_bf": (3, False, True, False, True, False, "torch->probe"),
    "unbatched_bidir_h0": (2, True, False, True, True, True, "probe->torch"),
}
KINDS = ["rnn", "rnn_relu", "lstm", "lstm_proj", "gru"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("kind", KINDS)
def test_layer_parity(kind, config, dtype):
    layers, bidir, bf, with_state, bias, unbatched, direction = CONFIGS[config]
    L, N, Hin, H = 5, 3, 4, 6
    t, p = _pair(kind, (Hin, H), dict(num_layers=layers, bidirectional=bidir, batch_first=bf,
                                      bias=bias), dtype, direction)
    D = 2 if bidir else 1
    torch.manual_seed(2)
    shape = (L, Hin) if unbatched else ((N, L, Hin) if bf else (L, N, Hin))
    x = torch.randn(*shape, dtype=dtype, requires_grad=True)
    leaves = [x]
    hx = phx = None
    if with_state:
        hout = 2 if kind == "lstm_proj" else H
        sshape = (layers * D,) if unbatched else (layers * D, N)
        h0 = torch.randn(*sshape, hout, dtype=dtype, requires_grad=True)
        leaves.append(h0)
        if kind.startswith("lstm"):
            c0 = torch.randn(*sshape, H, dtype=dtype, requires_grad=True)
            leaves.append(c0)
            hx = (h0, c0)
        else:
            hx = h0
    p_leaves = [P(v) for v in leaves]
    if with_state:
        phx = tuple(p_leaves[1:]) if kind.startswith("lstm") else p_leaves[1]
    t_outs = _flat(t(x, hx))
    p_outs = _flat(p(p_leaves[0], phx))
    for i, (a, b) in enumerate(zip(t_outs, p_outs, strict=True)):
        close(a, b, dtype, f"output {i}")
    grads = [torch.randn_like(o) for o in t_outs]
    torch.autograd.backward(t_outs, grads)
    probe.autograd.backward(p_outs, [P(g, False) for g in grads])
    _check_grads(t, p, leaves, p_leaves, dtype)


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_dropout_layers_in_eval_mode_and_zero_dropout_in_training(kind, training):
    dropout = 0.0 if training else 0.4
    t, p = _pair(kind, (3, 4), dict(num_layers=2, dropout=dropout), torch.float64,
                 "torch->probe")
    t.train(training)
    p.train(training)
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    px = P(x)
    t_outs, p_outs = _flat(t(x)), _flat(p(px))
    for a, b in zip(t_outs, p_outs, strict=True):
        close(a, b, torch.float64)
    sum(o.sum() for o in t_outs).backward()
    sum(o.sum() for o in p_outs).backward()
    _check_grads(t, p, [x], [px], torch.float64)


CELL_KINDS = ["rnncell", "rnncell_relu", "lstmcell", "grucell"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("with_state", [True, False], ids=["hx", "nohx"])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("kind", CELL_KINDS)
def test_cell_parity(kind, batched, with_state, dtype):
    bias = not (kind == "rnncell_relu" and not batched)
    t, p = _pair(kind, (4, 5), dict(bias=bias), dtype,
                 "torch->probe" if batched else "probe->torch")
    torch.manual_seed(3)
    lead = (3,) if batched else ()
    x = torch.randn(*lead, 4, dtype=dtype, requires_grad=True)
    leaves = [x]
    hx = None
    if with_state:
        h = torch.randn(*lead, 5, dtype=dtype, requires_grad=True)
        leaves.append(h)
        if kind == "lstmcell":
            c = torch.randn(*lead, 5, dtype=dtype, requires_grad=True)
            leaves.append(c)
            hx = (h, c)
        else:
            hx = h
    p_leaves = [P(v) for v in leaves]
    phx = None
    if with_state:
        phx = tuple(p_leaves[1:]) if kind == "lstmcell" else p_leaves[1]
    t_out, p_out = t(x, hx), p(p_leaves[0], phx)
    t_outs = list(t_out) if isinstance(t_out, tuple) else [t_out]
    p_outs = list(p_out) if isinstance(p_out, tuple) else [p_out]
    for a, b in zip(t_outs, p_outs, strict=True):
        close(a, b, dtype, "cell output")
    grads = [torch.randn_like(o) for o in t_outs]
    torch.autograd.backward(t_outs, grads)
    probe.autograd.backward(p_outs, [P(g, False) for g in grads])
    _check_grads(t, p, leaves, p_leaves, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("sorted_", [True, False], ids=["sorted", "unsorted"])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "lstm_proj", "gru"])
def test_packed_sequence_parity(kind, sorted_, dtype):
    t, p = _pair(kind, (3, 5), dict(num_layers=2, bidirectional=True), dtype, "torch->probe")
    torch.manual_seed(4)
    lengths = [6, 4, 4, 1] if sorted_ else [4, 6, 1, 4]
    x = torch.randn(6, 4, 3, dtype=dtype, requires_grad=True)
    px = P(x)
    hout = 2 if kind == "lstm_proj" else 5
    h0 = torch.randn(4, 4, hout, dtype=dtype, requires_grad=True)
    c0 = torch.randn(4, 4, 5, dtype=dtype, requires_grad=True)
    ph0, pc0 = P(h0), P(c0)
    lstm = kind.startswith("lstm")
    tp = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=sorted_)
    pp = putils.pack_padded_sequence(px, lengths, enforce_sorted=sorted_)
    close(tp.data, pp.data, dtype, "packed data")
    assert tp.batch_sizes.tolist() == pp.batch_sizes.tolist()
    if not sorted_:
        assert tp.sorted_indices.tolist() == pp.sorted_indices.tolist()
    t_out, t_h = t(tp, (h0, c0) if lstm else h0)
    p_out, p_h = p(pp, (ph0, pc0) if lstm else ph0)
    close(t_out.data, p_out.data, dtype, "packed output")
    t_pad, t_len = torch.nn.utils.rnn.pad_packed_sequence(t_out, batch_first=True,
                                                          padding_value=0.5)
    p_pad, p_len = putils.pad_packed_sequence(p_out, batch_first=True, padding_value=0.5)
    close(t_pad, p_pad, dtype, "padded output")
    assert t_len.tolist() == p_len.tolist()
    t_outs = [t_pad, *(t_h if lstm else (t_h,))]
    p_outs = [p_pad, *(p_h if lstm else (p_h,))]
    for a, b in zip(t_outs[1:], p_outs[1:], strict=True):
        close(a, b, dtype, "final state")
    grads = [torch.randn_like(o) for o in t_outs]
    torch.autograd.backward(t_outs, grads)
    probe.autograd.backward(p_outs, [P(g, False) for g in grads])
    _check_grads(t, p, [x, h0] + ([c0] if lstm else []), [px, ph0] + ([pc0] if lstm else []),
                 dtype)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_parity(batch_first, side):
    torch.manual_seed(5)
    seqs = [torch.randn(n, 3, dtype=torch.float64, requires_grad=True) for n in (2, 5, 3)]
    pseqs = [P(s) for s in seqs]
    a = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=batch_first, padding_value=-2.0,
                                        padding_side=side)
    b = putils.pad_sequence(pseqs, batch_first=batch_first, padding_value=-2.0,
                            padding_side=side)
    close(a, b, torch.float64)
    g = torch.randn_like(a)
    a.backward(g)
    b.backward(P(g, False))
    for s, ps in zip(seqs, pseqs, strict=True):
        close(s.grad, ps.grad, torch.float64)


def test_pack_sequence_parity():
    torch.manual_seed(6)
    seqs = [torch.randn(n, 2) for n in (3, 5, 1)]
    a = torch.nn.utils.rnn.pack_sequence(seqs, enforce_sorted=False)
    b = putils.pack_sequence([P(s) for s in seqs], enforce_sorted=False)
    close(a.data, b.data, torch.float32)
    assert a.batch_sizes.tolist() == b.batch_sizes.tolist()
    assert a.unsorted_indices.tolist() == b.unsorted_indices.tolist()
    for u, v in zip(torch.nn.utils.rnn.unpack_sequence(a), putils.unpack_sequence(b),
                    strict=True):
        close(u, v, torch.float32)


@pytest.mark.parametrize("kind", ["rnn", "rnn_relu", "lstm", "lstm_proj", "gru"])
def test_default_init_statistics(kind):
    # same distribution as PyTorch: U(-1/sqrt(H), 1/sqrt(H)) for every parameter
    t, p = _pair(kind, (16, 32), dict(num_layers=2), torch.float32, "torch->probe")
    probe.manual_seed(7)
    p.reset_parameters()
    bound = 1 / np.sqrt(32)
    for (n, a), (_, b) in zip(t.named_parameters(), p.named_parameters(), strict=True):
        a, b = to_np(a), to_np(b)
        assert a.shape == b.shape, n
        assert np.abs(b).max() <= bound
        if b.size >= 1000:
            assert abs(b.std() - a.std()) < 0.1 * bound, n
