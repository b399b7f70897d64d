"""Recurrent layers (RNN, LSTM, GRU and their cells) and probe.nn.utils.rnn: gradients with respect
to the input, the initial states and every parameter (gradcheck, and gradgradcheck for the
create_graph path), shapes, parameter names and order, initialisation, reprs, PyTorch's errors,
dropout between layers, packed sequences, and the fused layer against the same layer composed
from primitive ops."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import probe
from probe.autograd import gradcheck, gradgradcheck
from probe.nn.functional_parts import rnn as K
from probe.nn.modules.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell
from probe.nn.utils.rnn import (
    PackedSequence,
    invert_permutation,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
    unpack_sequence,
    unpad_sequence,
)


def to_np(t):
    return t.detach().cpu().numpy()


def _rand(*shape, device="cpu", seed=0, dtype=probe.float64, requires_grad=True):
    data = np.random.default_rng(seed).standard_normal(shape)
    return probe.tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def _make(kind, input_size, hidden, **kwargs):
    probe.manual_seed(0)
    if kind == "lstm":
        return LSTM(input_size, hidden, **kwargs)
    if kind == "lstm_proj":
        return LSTM(input_size, hidden, proj_size=2, **kwargs)
    if kind == "gru":
        return GRU(input_size, hidden, **kwargs)
    if kind == "rnn_relu":
        return RNN(input_size, hidden, nonlinearity="relu", **kwargs)
    return RNN(input_size, hidden, **kwargs)


def _as_list(hidden):
    return list(hidden) if isinstance(hidden, tuple) else [hidden]


KINDS = ["rnn", "rnn_relu", "lstm", "lstm_proj", "gru"]

# (num_layers, bidirectional, batch_first, with_initial_state, unbatched)
CONFIGS = {
    "1layer": (1, False, False, False, False),
    "1layer_h0": (1, False, False, True, False),
    "bidir_bf_h0": (1, True, True, True, False),
    "2layer_bidir_h0": (2, True, False, True, False),
    "2layer_bf": (2, False, True, False, False),
    "unbatched_h0": (1, True, False, True, True),
}


# ---------------------------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("kind", KINDS)
def test_layer_gradcheck(kind, config, device):
    layers, bidir, bf, with_state, unbatched = CONFIGS[config]
    m = _make(kind, 3, 3, num_layers=layers, bidirectional=bidir, batch_first=bf)
    m = m.double().to(device)
    L, N = 3, 2
    D = 2 if bidir else 1
    shape = (L, 3) if unbatched else ((N, L, 3) if bf else (L, N, 3))
    x = _rand(*shape, device=device)
    params = list(m.parameters())
    inputs = [x]
    if with_state:
        hout = 2 if kind == "lstm_proj" else 3
        sshape = (layers * D,) if unbatched else (layers * D, N)
        h0 = _rand(*sshape, hout, device=device, seed=1)
        inputs.append(h0)
        if kind.startswith("lstm"):
            inputs.append(_rand(*sshape, 3, device=device, seed=2))
    lstm = kind.startswith("lstm")
    n_state = len(inputs) - 1

    def f(*args):
        state = args[1:1 + n_state]
        hx = None
        if state:
            hx = tuple(state) if lstm else state[0]
        out, hidden = m(args[0], hx)
        return (out, *_as_list(hidden))

    assert gradcheck(f, (*inputs, *params))


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_relu", "lstm_proj"])
def test_layer_gradgradcheck(kind):
    bidir = kind in ("gru", "rnn_relu")
    m = _make(kind, 2, 3, bidirectional=bidir).double()
    D = 2 if bidir else 1
    x = _rand(2, 1, 2)
    h = _rand(D, 1, 2 if kind == "lstm_proj" else 3, seed=1)
    params = list(m.parameters())

    def f(x, h, *ps):
        hx = h
        if kind == "lstm":
            hx = (h, h.tanh())
        elif kind == "lstm_proj":
            hx = (h, probe.zeros(1, 1, 3, dtype=probe.float64))
        out, _ = m(x, hx)
        return out

    assert gradgradcheck(f, (x, h, *params))


CELLS = ["rnn", "rnn_relu", "lstm", "gru"]


def _cell(kind, bias=True):
    probe.manual_seed(0)
    if kind == "lstm":
        return LSTMCell(3, 4, bias=bias)
    if kind == "gru":
        return GRUCell(3, 4, bias=bias)
    return RNNCell(3, 4, bias=bias, nonlinearity="relu" if kind == "rnn_relu" else "tanh")


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("kind", CELLS)
def test_cell_gradcheck(kind, batched, bias, device):
    c = _cell(kind, bias).double().to(device)
    shape = (2,) if batched else ()
    x = _rand(*shape, 3, device=device)
    h = _rand(*shape, 4, device=device, seed=1)
    hc = _rand(*shape, 4, device=device, seed=2)
    params = list(c.parameters())

    def f(x, h, hc, *ps):
        out = c(x, (h, hc) if kind == "lstm" else h)
        return out

    assert gradcheck(f, (x, h, hc, *params))


@pytest.mark.parametrize("kind", CELLS)
def test_cell_gradgradcheck(kind):
    c = _cell(kind).double()
    x = _rand(2, 3)
    h = _rand(2, 4, seed=1)
    params = list(c.parameters())

    def f(x, h, *ps):
        return c(x, (h, h * 0.5) if kind == "lstm" else h)

    assert gradgradcheck(f, (x, h, *params))


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_cell_without_state_is_zero_state(kind):
    c = _cell(kind).double()
    x = _rand(2, 3, requires_grad=False)
    z = probe.zeros(2, 4, dtype=probe.float64)
    a = c(x)
    b = c(x, (z, z) if kind == "lstm" else z)
    for u, v in zip(_as_list(a), _as_list(b), strict=True):
        np.testing.assert_array_equal(to_np(u), to_np(v))


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_packed_gradcheck(kind):
    m = _make(kind, 2, 3, num_layers=2, bidirectional=True).double()
    x = _rand(4, 3, 2)
    params = list(m.parameters())

    def f(x, *ps):
        packed = pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False)
        out, hidden = m(packed)
        return (out.data, *_as_list(hidden))

    assert gradcheck(f, (x, *params))


def test_packed_gradgradcheck():
    m = _make("lstm", 2, 2, bidirectional=True).double()
    x = _rand(3, 2, 2)

    def f(x):
        out, _ = m(pack_padded_sequence(x, [3, 1]))
        return out.data

    assert gradgradcheck(f, (x,))


# ---------------------------------------------------------------------------------------------
# the fused op against the composed reference
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("bf", [False, True])
@pytest.mark.parametrize("D", [1, 2])
@pytest.mark.parametrize("mode", ["LSTM", "LSTM_PROJ", "GRU", "RNN_TANH", "RNN_RELU"])
def test_fused_layer_matches_composed_reference(mode, D, bf, masked):
    proj = mode == "LSTM_PROJ"
    mode = "LSTM" if proj else mode
    L, N, Hin, H = 5, 3, 4, 6
    hout = 3 if proj else H
    G = K._GATES[mode] * H
    seed = iter(range(100))
    x = _rand(*((N, L, Hin) if bf else (L, N, Hin)), seed=next(seed))
    h0 = _rand(D, N, hout, seed=next(seed))
    c0 = _rand(D, N, H, seed=next(seed)) if mode == "LSTM" else None
    ws = []
    for _ in range(D):
        ws += [_rand(G, Hin, seed=next(seed)), _rand(G, hout, seed=next(seed)),
               _rand(G, seed=next(seed)), _rand(G, seed=next(seed)),
               _rand(hout, H, seed=next(seed)) if proj else None]
    mask = None
    if masked:
        mask = np.arange(L)[:, None] < np.array([5, 3, 1])[None, :]
    leaves = [t for t in (x, h0, c0, *ws) if t is not None]
    fused = K._RNNLayer.apply(x, h0, c0, *ws, mode, bf, mask, False)
    ref = K._reference(mode, x, h0, c0, ws, bf, mask, False)
    if masked:  # outputs at padded steps are not defined (packing drops them)
        keep = probe.tensor(np.swapaxes(mask, 0, 1) if bf else mask)[..., None]
        fused = (fused[0] * keep, *fused[1:])
        ref = (ref[0] * keep, *ref[1:])
    grads = [_rand(*o.shape, seed=50 + i, requires_grad=False) for i, o in enumerate(fused)]
    for a, b in zip(fused, ref, strict=True):
        np.testing.assert_allclose(to_np(a), to_np(b), rtol=1e-12, atol=1e-12)
    ga = probe.autograd.grad(list(fused), leaves, grads)
    gb = probe.autograd.grad(list(ref), leaves, grads)
    for a, b in zip(ga, gb, strict=True):
        np.testing.assert_allclose(to_np(a), to_np(b), rtol=1e-10, atol=1e-11)


def test_fused_lstm_extreme_preactivations_are_finite():
    # exp(-z) overflows for very negative pre-activations: the gates must still be 0 / -1
    m = _make("lstm", 2, 3).double()
    x = probe.tensor([[[1e4, -1e4]], [[-1e4, 1e4]]], dtype=probe.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, (h, c) = m(x)
        out.sum().backward()
    assert np.isfinite(to_np(out)).all() and np.isfinite(to_np(x.grad)).all()
    assert np.abs(to_np(out)).max() <= 1


# ---------------------------------------------------------------------------------------------
# construction: parameters, init, repr
# ---------------------------------------------------------------------------------------------

def test_parameter_names_order_and_shapes():
    m = LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2)
    names = [n for n, _ in m.named_parameters()]
    expected = []
    for layer in range(2):
        for sfx in ("", "_reverse"):
            expected += [f"{p}_l{layer}{sfx}" for p in
                         ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")]
    assert names == expected
    assert list(m.state_dict()) == expected
    assert m.weight_ih_l0.shape == (16, 3)
    assert m.weight_hh_l0.shape == (16, 2)
    assert m.weight_hr_l0.shape == (2, 4)
    assert m.weight_ih_l1_reverse.shape == (16, 4)
    assert m._flat_weights_names == expected
    assert [[p.shape for p in ps] for ps in m.all_weights][0] == [
        (16, 3), (16, 2), (16,), (16,), (2, 4)]


@pytest.mark.parametrize("cls,gates", [(RNN, 1), (GRU, 3), (LSTM, 4)])
def test_parameters_without_bias(cls, gates):
    m = cls(3, 5, bias=False, num_layers=2)
    assert [n for n, _ in m.named_parameters()] == [
        "weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1"]
    assert m.weight_ih_l1.shape == (gates * 5, 5)


@pytest.mark.parametrize("cls", [RNN, GRU, LSTM, RNNCell, GRUCell, LSTMCell])
def test_default_init_is_uniform_in_stdv(cls):
    probe.manual_seed(0)
    m = cls(30, 25)
    bound = 1 / math.sqrt(25)
    for p in m.parameters():
        a = to_np(p)
        assert a.max() <= bound and a.min() >= -bound
        if a.size >= 500:
            assert a.max() > 0.9 * bound and a.min() < -0.9 * bound
        assert p.dtype == probe.float32


def test_factory_kwargs():
    m = GRU(3, 4, dtype=probe.float64, device="cpu")
    assert all(p.dtype == probe.float64 for p in m.parameters())
    c = LSTMCell(3, 4, dtype=probe.float64)
    assert c.weight_ih.dtype == probe.float64


@pytest.mark.parametrize("make,text", [
    (lambda: LSTM(10, 20, num_layers=2, batch_first=True),
     "LSTM(10, 20, num_layers=2, batch_first=True)"),
    (lambda: RNN(3, 4, 2, "relu", False, True, 0.5, True),
     "RNN(3, 4, num_layers=2, bias=False, batch_first=True, dropout=0.5, bidirectional=True)"),
    (lambda: LSTM(3, 4, proj_size=2), "LSTM(3, 4, proj_size=2)"),
    (lambda: GRU(3, 4), "GRU(3, 4)"),
    (lambda: LSTMCell(10, 20), "LSTMCell(10, 20)"),
    (lambda: RNNCell(3, 4, bias=False, nonlinearity="relu"),
     "RNNCell(3, 4, bias=False, nonlinearity=relu)"),
    (lambda: GRUCell(3, 4, bias=False), "GRUCell(3, 4, bias=False)"),
])
def test_repr(make, text):
    assert repr(make()) == text


def test_attributes_and_flatten_parameters():
    m = RNN(3, 4, nonlinearity="relu", dropout=0.25, num_layers=2)
    assert (m.mode, m.nonlinearity, m.dropout, m.num_layers, m.proj_size) == (
        "RNN_RELU", "relu", 0.25, 2, 0)
    assert isinstance(m, RNNBase)
    assert m.flatten_parameters() is None
    assert LSTM(2, 3).mode == "LSTM" and GRU(2, 3).mode == "GRU"


@pytest.mark.parametrize("make,exc,text", [
    (lambda: GRU(3, 4, proj_size=2), ValueError,
     "proj_size argument is only supported for LSTM, not RNN or GRU"),
    (lambda: RNN(3, 4, nonlinearity="x"), ValueError,
     "Unknown nonlinearity 'x'. Select from 'tanh' or 'relu'."),
    (lambda: LSTM(3, 4, dropout=2), ValueError,
     "dropout should be a number in range [0, 1] representing the probability of an element "
     "being zeroed"),
    (lambda: LSTM(3, 4, proj_size=4), ValueError, "proj_size has to be smaller than hidden_size"),
    (lambda: LSTM(3, 4, proj_size=-1), ValueError,
     "proj_size should be a positive integer or zero to disable projections"),
    (lambda: LSTM(3, 0), ValueError, "hidden_size must be greater than zero"),
    (lambda: LSTM(0, 3), ValueError, "input_size must be greater than zero"),
    (lambda: LSTM(3, 4, num_layers=0), ValueError, "num_layers must be greater than zero"),
    (lambda: LSTM(3.0, 4), TypeError, "input_size should be of type int, got: float"),
    (lambda: LSTM(3, 4, bias=1), TypeError, "bias should be of type bool, got: int"),
    (lambda: LSTM(3, 4, batch_first=None), TypeError,
     "batch_first should be of type bool, got: NoneType"),
])
def test_constructor_errors(make, exc, text):
    with pytest.raises(exc) as info:
        make()
    assert str(info.value) == text


def test_dropout_single_layer_warns():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1, "
                                         "but got dropout=0.5 and num_layers=1"):
        LSTM(3, 4, dropout=0.5)


# ---------------------------------------------------------------------------------------------
# forward: shapes, states, dtypes, errors
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bf", [False, True])
@pytest.mark.parametrize("bidir", [False, True])
def test_output_shapes(bf, bidir):
    D = 2 if bidir else 1
    x = probe.randn(2, 5, 3) if bf else probe.randn(5, 2, 3)
    out, (h, c) = LSTM(3, 4, num_layers=3, bidirectional=bidir, batch_first=bf, proj_size=2)(x)
    assert tuple(out.shape) == ((2, 5, 2 * D) if bf else (5, 2, 2 * D))
    assert tuple(h.shape) == (3 * D, 2, 2) and tuple(c.shape) == (3 * D, 2, 4)
    out, h = GRU(3, 4, bidirectional=bidir, batch_first=bf)(x)
    assert tuple(out.shape) == ((2, 5, 4 * D) if bf else (5, 2, 4 * D))
    assert tuple(h.shape) == (D, 2, 4)


def test_unbatched_shapes_and_values():
    m = _make("lstm", 3, 4, bidirectional=True).double()
    x = _rand(5, 3, requires_grad=False)
    h = _rand(2, 4, seed=1, requires_grad=False)
    out, (hn, cn) = m(x, (h, h))
    assert tuple(out.shape) == (5, 8) and tuple(hn.shape) == (2, 4) and tuple(cn.shape) == (2, 4)
    out_b, (hn_b, _) = m(x.unsqueeze(1), (h.unsqueeze(1), h.unsqueeze(1)))
    np.testing.assert_allclose(to_np(out), to_np(out_b[:, 0]))
    np.testing.assert_allclose(to_np(hn), to_np(hn_b[:, 0]))


def test_last_output_is_final_hidden_state():
    m = _make("gru", 3, 4, bidirectional=True).double()
    out, h = m(_rand(6, 2, 3))
    np.testing.assert_allclose(to_np(out[-1, :, :4]), to_np(h[0]))
    np.testing.assert_allclose(to_np(out[0, :, 4:]), to_np(h[1]))


def test_float32_stays_float32():
    m = _make("lstm", 3, 4, num_layers=2, bidirectional=True)
    x = probe.randn(4, 2, 3, requires_grad=True)
    out, (h, c) = m(x)
    assert out.dtype == h.dtype == c.dtype == probe.float32
    (out.sum() + h.sum() + c.sum()).backward()
    assert x.grad.dtype == probe.float32
    assert all(p.grad.dtype == probe.float32 for p in m.parameters())


def test_no_grad_records_nothing():
    m = _make("lstm", 3, 4)
    with probe.no_grad():
        out, (h, c) = m(probe.randn(4, 2, 3))
    assert out.grad_fn is None and not out.requires_grad


def test_batch_of_zero():
    out, h = _make("gru", 3, 4)(probe.randn(5, 0, 3))
    assert tuple(out.shape) == (5, 0, 4) and tuple(h.shape) == (1, 0, 4)


def test_in_place_on_outputs_keeps_gradients_right():
    m = _make("lstm", 3, 4).double()
    x = _rand(4, 2, 3)
    out, (h, c) = m(x)
    loss = out.sum() + 2 * h.sum() + 3 * c.sum()
    expected = probe.autograd.grad(loss, [x])[0]
    out, (h, c) = m(x)
    loss = out.sum() + 2 * h.sum() + 3 * c.sum()
    out.mul_(0)  # the layer keeps its own buffers: its outputs can be changed afterwards
    h.mul_(0)
    c.mul_(0)
    got = probe.autograd.grad(loss, [x])[0]
    np.testing.assert_allclose(to_np(got), to_np(expected))


def test_second_backward_raises_and_retain_graph_works():
    m = _make("gru", 3, 4)
    out, _ = m(probe.randn(3, 2, 3))
    out.sum().backward(retain_graph=True)
    first = to_np(m.weight_hh_l0.grad).copy()
    out.sum().backward()
    np.testing.assert_allclose(to_np(m.weight_hh_l0.grad), 2 * first, rtol=1e-6)
    out2, _ = m(probe.randn(3, 2, 3))
    out2.sum().backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        out2.sum().backward()


def test_modified_input_raises():
    m = _make("rnn", 3, 4)
    x = probe.randn(3, 2, 3, requires_grad=True)
    y = x * 1
    out, _ = m(y)
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def _err(fn):
    with pytest.raises(Exception) as info:
        fn()
    return type(info.value), str(info.value)


def test_forward_errors():
    lstm = LSTM(3, 4, num_layers=2)
    assert _err(lambda: lstm(probe.randn(5, 2, 6))) == (
        RuntimeError, "input.size(-1) must be equal to input_size. Expected 3, got 6")
    assert _err(lambda: lstm(probe.randn(5, 2, 3, 1))) == (
        ValueError, "LSTM: Expected input to be 2D or 3D, got 4D instead")
    assert _err(lambda: lstm(probe.randn(5, 2, 3), (probe.randn(2, 2, 4),
                                                    probe.randn(1, 2, 4)))) == (
        RuntimeError, "Expected hidden[1] size (2, 2, 4), got [1, 2, 4]")
    assert _err(lambda: lstm(probe.randn(5, 2, 3), (probe.randn(1, 2, 4),
                                                    probe.randn(2, 2, 4)))) == (
        RuntimeError, "Expected hidden[0] size (2, 2, 4), got [1, 2, 4]")
    assert _err(lambda: lstm(probe.randn(5, 2, 3), (probe.randn(2, 4), probe.randn(2, 2, 4)))) == (
        RuntimeError,
        "For batched 3-D input, hx and cx should also be 3-D but got (2-D, 3-D) tensors")
    assert _err(lambda: lstm(probe.randn(5, 3), (probe.randn(2, 2, 4), probe.randn(2, 2, 4)))) == (
        RuntimeError,
        "For unbatched 2-D input, hx and cx should also be 2-D but got (3-D, 3-D) tensors")
    assert _err(lambda: lstm(probe.randn(5, 2, 3, dtype=probe.float64))) == (
        ValueError,
        "RNN input dtype (torch.float64) does not match weight dtype (torch.float32). Convert "
        "input: input.to(torch.float32), or convert model: model.to(torch.float64)"
        .replace("torch.", "probe."))
    assert _err(lambda: lstm(probe.randn(0, 2, 3))) == (
        RuntimeError, "Expected sequence length to be larger than 0 in RNN")
    gru = GRU(3, 4)
    assert _err(lambda: gru(probe.randn(5, 2, 3), probe.randn(2, 2, 4))) == (
        RuntimeError, "Expected hidden size (1, 2, 4), got [2, 2, 4]")
    assert _err(lambda: gru(probe.randn(5, 2, 3), probe.randn(2, 4))) == (
        RuntimeError, "For batched 3-D input, hx should also be 3-D but got 2-D tensor")
    assert _err(lambda: gru(probe.randn(5, 3), probe.randn(1, 2, 4))) == (
        RuntimeError, "For unbatched 2-D input, hx should also be 2-D but got 3-D tensor")
    assert _err(lambda: gru(probe.randn(5, 2, 3, 3))) == (
        ValueError, "GRU: Expected input to be 2D or 3D, got 4D instead")
    assert _err(lambda: gru(probe.randn(5, 2, 3), probe.randn(1, 2, 4, dtype=probe.float64))) == (
        RuntimeError, "mat1 and mat2 must have the same dtype, but got Double and Float")
    assert _err(lambda: RNN(3, 4)(probe.randn(1, 5, 2, 3))) == (
        ValueError, "RNN: Expected input to be 2D or 3D, got 4D tensor instead")


def test_cell_errors():
    c = LSTMCell(3, 4)
    assert _err(lambda: c(probe.randn(2, 5))) == (
        RuntimeError, "input has inconsistent input_size: got 5 expected 3")
    assert _err(lambda: c(probe.randn(2, 3), (probe.randn(3, 4), probe.randn(2, 4)))) == (
        RuntimeError, "Input batch size 2 doesn't match hidden0 batch size 3")
    assert _err(lambda: c(probe.randn(2, 3), (probe.randn(2, 5), probe.randn(2, 4)))) == (
        RuntimeError, "hidden0 has inconsistent hidden_size: got 5, expected 4")
    assert _err(lambda: c(probe.randn(2, 3), (probe.randn(2, 4), probe.randn(2, 5)))) == (
        RuntimeError, "hidden1 has inconsistent hidden_size: got 5, expected 4")
    assert _err(lambda: c(probe.randn(2, 3, 3))) == (
        ValueError, "LSTMCell: Expected input to be 1D or 2D, got 3D instead")
    assert _err(lambda: GRUCell(3, 4)(probe.randn(2, 3), probe.randn(2, 4, 1))) == (
        ValueError, "GRUCell: Expected hidden to be 1D or 2D, got 3D instead")
    assert _err(lambda: c(probe.randn(2, 3, dtype=probe.float64))) == (
        RuntimeError, "mat1 and mat2 must have the same dtype, but got Double and Float")
    bad = RNNCell(3, 4, nonlinearity="foo")
    assert _err(lambda: bad(probe.randn(2, 3))) == (RuntimeError, "Unknown nonlinearity: foo")


# ---------------------------------------------------------------------------------------------
# dropout between layers; train / eval
# ---------------------------------------------------------------------------------------------

def test_dropout_between_layers_only_in_training():
    m = _make("lstm", 3, 4, num_layers=2, dropout=0.5)
    x = probe.randn(6, 3, 3)
    m.eval()
    a, _ = m(x)
    b, _ = m(x)
    np.testing.assert_array_equal(to_np(a), to_np(b))
    m.train()
    c, _ = m(x)
    d, _ = m(x)
    assert not np.allclose(to_np(c), to_np(d))


def test_dropout_one_zeroes_the_next_layers_input():
    m = _make("gru", 3, 4, num_layers=2, dropout=1.0).double()
    x = _rand(5, 2, 3, requires_grad=False)
    out, h = m(x)
    # the second layer sees zeros: its output is that of a GRU layer fed with zeros
    single = GRU(4, 4).double()
    single.load_state_dict({k.replace("_l1", "_l0"): v for k, v in m.state_dict().items()
                            if "_l1" in k})
    ref, _ = single(probe.zeros(5, 2, 4, dtype=probe.float64))
    np.testing.assert_allclose(to_np(out), to_np(ref), rtol=1e-12)


def test_dropout_gradient_flows_through_kept_units():
    m = _make("rnn", 3, 4, num_layers=2, dropout=0.3).double()
    x = _rand(4, 2, 3)
    probe.manual_seed(5)
    out, _ = m(x)
    out.sum().backward()
    assert np.isfinite(to_np(x.grad)).all() and np.abs(to_np(x.grad)).sum() > 0


# ---------------------------------------------------------------------------------------------
# packed sequences (probe.nn.utils.rnn)
# ---------------------------------------------------------------------------------------------

def test_pack_and_pad_round_trip():
    x = probe.arange(24.0).reshape(4, 3, 2)
    packed = pack_padded_sequence(x, [4, 2, 1])
    assert isinstance(packed, PackedSequence)
    assert packed.batch_sizes.tolist() == [3, 2, 1, 1]
    assert packed.sorted_indices is None and packed.unsorted_indices is None
    assert to_np(packed.data)[:, 0].tolist() == [0, 2, 4, 6, 8, 12, 18]
    padded, lengths = pad_packed_sequence(packed, padding_value=-1.0)
    assert lengths.tolist() == [4, 2, 1] and lengths.dtype == probe.int64
    expected = to_np(x).copy()
    expected[2:, 1] = -1
    expected[1:, 2] = -1
    np.testing.assert_array_equal(to_np(padded), expected)


def test_pack_unsorted_batch_first_and_total_length():
    x = probe.randn(3, 4, 2)  # batch first
    packed = pack_padded_sequence(x, probe.tensor([2, 4, 1]), batch_first=True,
                                  enforce_sorted=False)
    assert packed.sorted_indices.tolist() == [1, 0, 2]
    assert packed.unsorted_indices.tolist() == [1, 0, 2]
    padded, lengths = pad_packed_sequence(packed, batch_first=True, total_length=6)
    assert tuple(padded.shape) == (3, 6, 2) and lengths.tolist() == [2, 4, 1]
    np.testing.assert_array_equal(to_np(padded[0, :2]), to_np(x[0, :2]))
    np.testing.assert_array_equal(to_np(padded[1, :4]), to_np(x[1]))
    assert (to_np(padded[2, 1:]) == 0).all()


def test_pack_errors():
    x = probe.randn(4, 3, 2)
    assert _err(lambda: pack_padded_sequence(x, [2, 3, 1])) == (
        RuntimeError,
        "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You "
        "can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
        "sidestep this requirement if you do not need ONNX exportability.")
    assert _err(lambda: pack_padded_sequence(x, [3, 2])) == (
        RuntimeError, "Expected `len(lengths)` to be equal to batch_size, but got 2 (batch_size=3)")
    assert _err(lambda: pack_padded_sequence(x, [3, 2, 0])) == (
        RuntimeError,
        "Length of all samples has to be greater than 0, but found an element in 'lengths' that "
        "is <= 0")
    assert _err(lambda: pack_padded_sequence(x, [[3, 2, 1]])) == (
        RuntimeError,
        "'lengths' argument should be a 1D CPU int64 tensor, but got 2D cpu Long tensor")
    packed = pack_padded_sequence(x, [3, 2, 1])
    assert _err(lambda: pad_packed_sequence(packed, total_length=2)) == (
        ValueError,
        "Expected total_length to be at least the length of the longest sequence in input, but "
        "got total_length=2 and max sequence length being 3")


def test_pack_gradients():
    x = _rand(4, 3, 2)

    def f(x):
        p = pack_padded_sequence(x, [1, 4, 2], enforce_sorted=False)
        return pad_packed_sequence(p, padding_value=3.0)[0]

    assert gradcheck(f, (x,))


def test_pad_sequence():
    a, b, c = probe.ones(2, 3), 2 * probe.ones(4, 3), 3 * probe.ones(1, 3)
    out = pad_sequence([a, b, c])
    assert tuple(out.shape) == (4, 3, 3)
    assert to_np(out[:, :, 0]).tolist() == [[1, 2, 3], [1, 2, 0], [0, 2, 0], [0, 2, 0]]
    out = pad_sequence([a, b, c], batch_first=True, padding_value=-1.0, padding_side="left")
    assert tuple(out.shape) == (3, 4, 3)
    assert to_np(out[:, :, 0]).tolist() == [[-1, -1, 1, 1], [2, 2, 2, 2], [-1, -1, -1, 3]]
    assert _err(lambda: pad_sequence([])) == (RuntimeError,
                                              "received an empty list of sequences")
    assert _err(lambda: pad_sequence([a], padding_side="middle")) == (
        RuntimeError, "Expected padding_side to be one of left or right, but got middle.")
    assert _err(lambda: pad_sequence(5)) == (
        RuntimeError,
        "pad_sequence: Expected iterable for input sequences, but got arg of type: "
        "<class 'int'>")
    assert _err(lambda: pad_sequence([a, probe.ones(2, 4)]))[0] is RuntimeError


def test_pad_sequence_gradcheck():
    a, b = _rand(2, 3), _rand(3, 3, seed=1)
    assert gradcheck(lambda a, b: pad_sequence([a, b], batch_first=True, padding_value=2.0),
                     (a, b))
    assert gradcheck(lambda a, b: pad_sequence([a, b], padding_side="left"), (a, b))


def test_pack_sequence_unpack_and_unpad():
    seqs = [probe.randn(3, 2), probe.randn(5, 2), probe.randn(1, 2)]
    packed = pack_sequence(seqs, enforce_sorted=False)
    back = unpack_sequence(packed)
    for s, t in zip(seqs, back, strict=True):
        np.testing.assert_array_equal(to_np(s), to_np(t))
    padded = pad_sequence(seqs)
    unpadded = unpad_sequence(padded, probe.tensor([3, 5, 1]))
    assert tuple(padded.shape) == (5, 3, 2)  # not transposed in place
    for s, t in zip(seqs, unpadded, strict=True):
        np.testing.assert_array_equal(to_np(s), to_np(t))


def test_invert_permutation_and_packed_sequence_methods():
    assert invert_permutation(probe.tensor([2, 0, 1])).tolist() == [1, 2, 0]
    assert invert_permutation(None) is None
    packed = pack_sequence([probe.randn(2, 2), probe.randn(3, 2)], enforce_sorted=False)
    d = packed.double()
    assert d.data.dtype == probe.float64 and d.batch_sizes is packed.batch_sizes
    assert packed.to(probe.float32) is packed
    assert not packed.is_cuda and not packed.is_pinned()
    data, batch_sizes, sorted_indices, unsorted_indices = packed
    assert sorted_indices.tolist() == [1, 0]
    assert PackedSequence(data, batch_sizes, sorted_indices).unsorted_indices.tolist() == [1, 0]


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_packed_input_matches_per_sequence_runs(kind):
    m = _make(kind, 3, 4, num_layers=2, bidirectional=True).double()
    seqs = [_rand(n, 3, seed=n, requires_grad=False) for n in (3, 5, 2)]
    out, hidden = m(pack_sequence(seqs, enforce_sorted=False))
    assert isinstance(out, PackedSequence)
    padded, lengths = pad_packed_sequence(out, batch_first=True)
    assert lengths.tolist() == [3, 5, 2]
    for b, s in enumerate(seqs):
        single_out, single_hidden = m(s)
        n = s.shape[0]
        np.testing.assert_allclose(to_np(padded[b, :n]), to_np(single_out), rtol=1e-12)
        assert (to_np(padded[b, n:]) == 0).all()
        for full, one in zip(_as_list(hidden), _as_list(single_hidden), strict=True):
            np.testing.assert_allclose(to_np(full[:, b]), to_np(one), rtol=1e-12)


def test_packed_input_with_initial_state_is_permuted():
    m = _make("gru", 2, 3).double()
    seqs = [_rand(n, 2, seed=n, requires_grad=False) for n in (2, 4)]
    h0 = _rand(1, 2, 3, seed=9, requires_grad=False)
    out, h = m(pack_sequence(seqs, enforce_sorted=False), h0)
    for b, s in enumerate(seqs):
        _, hb = m(s, h0[:, b])
        np.testing.assert_allclose(to_np(h[:, b]), to_np(hb), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# state dicts and devices
# ---------------------------------------------------------------------------------------------

def test_state_dict_round_trip_between_layers():
    a = _make("lstm", 3, 4, num_layers=2, bidirectional=True)
    probe.manual_seed(1)
    b = LSTM(3, 4, num_layers=2, bidirectional=True)
    b.load_state_dict(a.state_dict())
    x = probe.randn(3, 2, 3)
    np.testing.assert_array_equal(to_np(a(x)[0]), to_np(b(x)[0]))


def test_reassigned_parameter_is_used():
    m = _make("rnn", 2, 3)
    m.weight_hh_l0 = probe.nn.Parameter(probe.zeros(3, 3))
    m.bias_hh_l0 = probe.nn.Parameter(probe.zeros(3))
    x = probe.randn(4, 1, 2)
    out, _ = m(x)
    expected = (x @ m.weight_ih_l0.T + m.bias_ih_l0).tanh()
    np.testing.assert_allclose(to_np(out), to_np(expected), rtol=1e-5, atol=1e-6)


def test_runs_on_device(device):
    m = _make("lstm", 3, 4, bidirectional=True).to(device)
    x = probe.randn(4, 2, 3, device=device, requires_grad=True)
    out, (h, c) = m(x)
    assert out.device.type == device
    out.sum().backward()
    assert x.grad.device.type == device
    packed = pack_padded_sequence(x, [4, 2])
    out, _ = m(packed)
    assert out.data.device.type == device
