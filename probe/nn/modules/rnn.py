"""Recurrent layers: ``RNN`` (tanh/relu), ``LSTM`` (optional projection), ``GRU`` and their cells,
with PyTorch's constructor arguments, parameter names and order (``weight_ih_l0``,
``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, ``weight_hr_l0``, ``..._reverse``), gate order
(LSTM: i, f, g, o; GRU: r, z, n), default initialisation and reprs.

Each layer of a stack is one fused op (``functional_parts/rnn.py``): one GEMM for the input
projection of every step, one GEMM per step for the recurrence (both directions together).
Packed sequences (``probe.nn.utils.rnn``) are accepted and returned as in PyTorch.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from ...engine.ops.creation import empty, zeros
from ...engine.ops.shape import cat
from ...engine.random import rand_like
from .. import init
from ..functional_parts.rnn import _reference, _RNNLayer
from ..parameter import Parameter
from ..utils import rnn as _urnn
from .module import Module

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNBase", "RNNCell", "RNNCellBase"]

# The modes (PyTorch's ``RNNBase.mode`` values) and their gate counts.
_M_LSTM, _M_GRU, _M_TANH, _M_RELU = "LSTM", "GRU", "RNN_TANH", "RNN_RELU"
_GATES = {_M_LSTM: 4, _M_GRU: 3, _M_TANH: 1, _M_RELU: 1}
_SUFFIXES = ("weight_ih_l{}{}", "weight_hh_l{}{}", "bias_ih_l{}{}", "bias_hh_l{}{}",
             "weight_hr_l{}{}")


def _dropout(x, p):
    """Inter-layer dropout (training only): keep with probability 1 - p, scale by 1/(1 - p)."""
    if p == 1:
        return x * 0
    keep = (rand_like(x) >= p).to(x.dtype)
    return x * (keep * (1.0 / (1.0 - p)))


class RNNBase(Module):
    """The shared machinery of ``RNN``, ``LSTM`` and ``GRU``: parameters ``weight_ih_l{k}``,
    ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` (and ``weight_hr_l{k}`` for a
    projected LSTM), with ``_reverse`` twins for the backward direction, all initialised
    uniformly on ``(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``."""

    __constants__ = ["mode", "input_size", "hidden_size", "num_layers", "bias", "batch_first",
                     "dropout", "bidirectional", "proj_size"]

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, proj_size=0, device=None,
                 dtype=None):
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        num_directions = 2 if bidirectional else 1
        if (not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1
                or isinstance(dropout, bool)):
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of an "
                "element being zeroed"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                "dropout expects num_layers greater than 1, but got "
                f"dropout={dropout} and num_layers={num_layers}",
                stacklevel=2,
            )
        if not isinstance(bias, bool):
            raise TypeError(f"bias should be of type bool, got: {type(bias).__name__}")
        if not isinstance(batch_first, bool):
            raise TypeError(
                f"batch_first should be of type bool, got: {type(batch_first).__name__}"
            )
        if not isinstance(input_size, int):
            raise TypeError(f"input_size should be of type int, got: {type(input_size).__name__}")
        if input_size <= 0:
            raise ValueError("input_size must be greater than zero")
        if not isinstance(hidden_size, int):
            raise TypeError(
                f"hidden_size should be of type int, got: {type(hidden_size).__name__}"
            )
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError(
                "proj_size should be a positive integer or zero to disable projections"
            )
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        factory = {"device": device, "dtype": dtype}
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input = input_size if layer == 0 else real_hidden * num_directions
                shapes = [(gate_size, layer_input), (gate_size, real_hidden)]
                kinds = [0, 1]
                if bias:
                    shapes += [(gate_size,), (gate_size,)]
                    kinds += [2, 3]
                if proj_size > 0:
                    shapes.append((proj_size, hidden_size))
                    kinds.append(4)
                suffix = "_reverse" if direction == 1 else ""
                names = [_SUFFIXES[k].format(layer, suffix) for k in kinds]
                for name, shape in zip(names, shapes, strict=True):
                    setattr(self, name, Parameter(empty(shape, **factory)))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    @property
    def _flat_weights(self):
        params = self._parameters
        return [params.get(name) for name in self._flat_weights_names]

    @property
    def all_weights(self):
        """The parameters, one list per layer and direction."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """A no-op: the weights are used as they are (PyTorch packs them for cuDNN)."""

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    # ------------------------------------------------------------------ checks (PyTorch's)
    def check_input(self, input, batch_sizes) -> None:
        weight = self._parameters[self._flat_weights_names[0]]
        if input.dtype != weight.dtype:
            raise ValueError(
                f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight.dtype}). "
                f"Convert input: input.to({weight.dtype}), or convert model: "
                f"model.to({input.dtype})"
            )
        expected_input_dim = 2 if batch_sizes is not None else 3
        if input.dim() != expected_input_dim:
            raise RuntimeError(
                f"input must have {expected_input_dim} dimensions, got {input.dim()}"
            )
        if self.input_size != input.size(-1):
            raise RuntimeError(
                "input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {input.size(-1)}"
            )

    def get_expected_hidden_size(self, input, batch_sizes):
        if batch_sizes is not None:
            mini_batch = int(batch_sizes[0])
        else:
            mini_batch = input.size(0) if self.batch_first else input.size(1)
        num_directions = 2 if self.bidirectional else 1
        size = self.proj_size if self.proj_size > 0 else self.hidden_size
        return (self.num_layers * num_directions, mini_batch, size)

    def check_hidden_size(self, hx, expected_hidden_size,
                          msg="Expected hidden size {}, got {}") -> None:
        if tuple(hx.size()) != tuple(expected_hidden_size):
            raise RuntimeError(msg.format(tuple(expected_hidden_size), list(hx.size())))

    def check_forward_args(self, input, hidden, batch_sizes) -> None:
        self.check_input(input, batch_sizes)
        expected = self.get_expected_hidden_size(input, batch_sizes)
        self.check_hidden_size(hidden, expected)

    def permute_hidden(self, hx, permutation):
        if permutation is None:
            return hx
        return hx.index_select(1, permutation)

    # ------------------------------------------------------------------ the stack
    def _run(self, input, h0, c0, mask):
        """Run the layers on a time-major (or batch_first) 3-D input; returns
        ``(output, h_n, c_n or None)``."""
        params = self._parameters
        names = self._flat_weights_names
        D = 2 if self.bidirectional else 1
        bf = self.batch_first and mask is None
        has_bias = self.bias
        proj = self.proj_size > 0
        p = self.dropout if self.training else 0.0
        x = input
        hns, cns = [], []
        k = 0
        for layer in range(self.num_layers):
            ws = []
            for _ in range(D):
                ws.append(params[names[k]])
                ws.append(params[names[k + 1]])
                k += 2
                if has_bias:
                    ws.append(params[names[k]])
                    ws.append(params[names[k + 1]])
                    k += 2
                else:
                    ws += [None, None]
                if proj:
                    ws.append(params[names[k]])
                    k += 1
                else:
                    ws.append(None)
            h = h0[layer * D:(layer + 1) * D] if self.num_layers > 1 else h0
            c = None
            if c0 is not None:
                c = c0[layer * D:(layer + 1) * D] if self.num_layers > 1 else c0
            outs = _RNNLayer.apply(x, h, c, *ws, self.mode, bf, mask, False)
            x = outs[0]
            hns.append(outs[1])
            if c0 is not None:
                cns.append(outs[2])
            if p > 0 and layer < self.num_layers - 1:
                x = _dropout(x, p)
        hn = hns[0] if len(hns) == 1 else cat(hns, 0)
        cn = None
        if c0 is not None:
            cn = cns[0] if len(cns) == 1 else cat(cns, 0)
        return x, hn, cn

    def _forward_impl(self, input, hx):
        lstm = self.mode == _M_LSTM
        D = 2 if self.bidirectional else 1
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        if isinstance(input, _urnn.PackedSequence):
            data, batch_sizes, sorted_indices, unsorted_indices = input
            bs = _urnn._host(batch_sizes).astype(np.int64)
            max_batch = int(bs[0])
            if hx is None:
                hx = self._zero_state(data, D, max_batch, real_hidden, lstm)
            else:
                hx = self.permute_hidden(hx, sorted_indices)
            self._check_args(data, hx, batch_sizes, lstm)
            steps = bs.shape[0]
            padded = _urnn._packed_to_padded(data, bs, False, 0.0, steps)
            mask = data._device.xp.asarray(_urnn._valid(bs, max_batch))
            h0, c0 = hx if lstm else (hx, None)
            out, hn, cn = self._run(padded, h0, c0, mask)
            out = _urnn._padded_to_packed(out, bs, False)
            hidden = (hn, cn) if lstm else hn
            return (_urnn.PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices),
                    self.permute_hidden(hidden, unsorted_indices))
        if input.dim() not in (2, 3):
            name = "RNN" if self.mode in (_M_TANH, _M_RELU) else self.mode
            extra = " tensor" if name == "RNN" else ""
            raise ValueError(
                f"{name}: Expected input to be 2D or 3D, got {input.dim()}D{extra} instead"
            )
        batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        if not batched:
            input = input.unsqueeze(batch_dim)
        if hx is not None:
            if lstm:
                hdims = (hx[0].dim(), hx[1].dim())
                want = 3 if batched else 2
                if hdims != (want, want):
                    kind = "batched 3-D" if batched else "unbatched 2-D"
                    raise RuntimeError(
                        f"For {kind} input, hx and cx should also be {want}-D but got "
                        f"({hdims[0]}-D, {hdims[1]}-D) tensors"
                    )
                if not batched:
                    hx = (hx[0].unsqueeze(1), hx[1].unsqueeze(1))
            elif batched and hx.dim() != 3:
                raise RuntimeError(
                    f"For batched 3-D input, hx should also be 3-D but got {hx.dim()}-D tensor"
                )
            elif not batched:
                if hx.dim() != 2:
                    raise RuntimeError(
                        f"For unbatched 2-D input, hx should also be 2-D but got {hx.dim()}-D "
                        "tensor"
                    )
                hx = hx.unsqueeze(1)
        else:
            max_batch = input.size(0) if self.batch_first else input.size(1)
            hx = self._zero_state(input, D, max_batch, real_hidden, lstm)
        self._check_args(input, hx, None, lstm)
        if input.shape[1 if self.batch_first else 0] == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        h0, c0 = hx if lstm else (hx, None)
        out, hn, cn = self._run(input, h0, c0, None)
        if not batched:
            out = out.squeeze(batch_dim)
            hn = hn.squeeze(1)
            if lstm:
                cn = cn.squeeze(1)
        return out, ((hn, cn) if lstm else hn)

    def _zero_state(self, like, D, batch, real_hidden, lstm):
        shape = (self.num_layers * D, batch, real_hidden)
        h = zeros(shape, dtype=like.dtype, device=like.device)
        if not lstm:
            return h
        return h, zeros((self.num_layers * D, batch, self.hidden_size), dtype=like.dtype,
                        device=like.device)

    def _check_args(self, input, hx, batch_sizes, lstm):
        self.check_forward_args(input, hx, batch_sizes)
        weight = self._parameters[self._flat_weights_names[0]]
        for h in (hx if lstm else (hx,)):
            if h.dtype != weight.dtype:
                raise RuntimeError(
                    "mat1 and mat2 must have the same dtype, but got "
                    f"{_short(h.dtype)} and {_short(weight.dtype)}"
                )


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or ``relu``).

    >>> import probe
    >>> rnn = probe.nn.RNN(10, 20, num_layers=2)
    >>> out, h_n = rnn(probe.randn(5, 3, 10))
    >>> tuple(out.shape), tuple(h_n.shape)
    ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.__dict__["nonlinearity"] = args[3]
            args = args[:3] + args[4:]
        else:
            self.__dict__["nonlinearity"] = kwargs.pop("nonlinearity", "tanh")
        if self.nonlinearity == "tanh":
            mode = _M_TANH
        elif self.nonlinearity == "relu":
            mode = _M_RELU
        else:
            raise ValueError(
                f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        super().__init__(mode, *args, **kwargs)

    def forward(self, input, hx=None):
        return self._forward_impl(input, hx)


class LSTM(RNNBase):
    """Long short-term memory, gates ``i, f, g, o`` (``weight_ih_l0`` is ``W_ii|W_if|W_ig|W_io``);
    with ``proj_size > 0`` the hidden state is projected by ``weight_hr_l{k}``.

    >>> import probe
    >>> lstm = probe.nn.LSTM(10, 20, num_layers=2, batch_first=True)
    >>> lstm
    LSTM(10, 20, num_layers=2, batch_first=True)
    >>> out, (h_n, c_n) = lstm(probe.randn(3, 5, 10))
    >>> tuple(out.shape), tuple(h_n.shape), tuple(c_n.shape)
    ((3, 5, 20), (2, 3, 20), (2, 3, 20))
    """

    def __init__(self, *args, **kwargs):
        super().__init__(_M_LSTM, *args, **kwargs)

    def get_expected_cell_size(self, input, batch_sizes):
        if batch_sizes is not None:
            mini_batch = int(batch_sizes[0])
        else:
            mini_batch = input.size(0) if self.batch_first else input.size(1)
        num_directions = 2 if self.bidirectional else 1
        return (self.num_layers * num_directions, mini_batch, self.hidden_size)

    def check_forward_args(self, input, hidden, batch_sizes) -> None:
        self.check_input(input, batch_sizes)
        self.check_hidden_size(hidden[0], self.get_expected_hidden_size(input, batch_sizes),
                               "Expected hidden[0] size {}, got {}")
        self.check_hidden_size(hidden[1], self.get_expected_cell_size(input, batch_sizes),
                               "Expected hidden[1] size {}, got {}")

    def permute_hidden(self, hx, permutation):
        if permutation is None:
            return hx
        return hx[0].index_select(1, permutation), hx[1].index_select(1, permutation)

    def forward(self, input, hx=None):
        return self._forward_impl(input, hx)


class GRU(RNNBase):
    """Gated recurrent unit, gates ``r, z, n``:
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``.

    >>> import probe
    >>> gru = probe.nn.GRU(10, 20, bidirectional=True)
    >>> out, h_n = gru(probe.randn(5, 3, 10))
    >>> tuple(out.shape), tuple(h_n.shape)
    ((5, 3, 40), (2, 3, 20))
    """

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__(_M_GRU, *args, **kwargs)

    def forward(self, input, hx=None):
        return self._forward_impl(input, hx)


# ---------------------------------------------------------------------------------------------
# cells
# ---------------------------------------------------------------------------------------------

class RNNCellBase(Module):
    """The shared parameters of the cells: ``weight_ih``, ``weight_hh``, ``bias_ih``,
    ``bias_hh``, initialised uniformly on ``(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``."""

    __constants__ = ["input_size", "hidden_size", "bias"]

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(empty((num_chunks * hidden_size, input_size), **factory))
        self.weight_hh = Parameter(empty((num_chunks * hidden_size, hidden_size), **factory))
        if bias:
            self.bias_ih = Parameter(empty(num_chunks * hidden_size, **factory))
            self.bias_hh = Parameter(empty(num_chunks * hidden_size, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _cell(self, mode, input, hx, lstm):
        name = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        states = hx if lstm and hx is not None else (hx,)
        for h in states:
            if h is not None and h.dim() not in (1, 2):
                raise ValueError(
                    f"{name}: Expected hidden to be 1D or 2D, got {h.dim()}D instead"
                )
        batched = input.dim() == 2
        if not batched:
            input = input.unsqueeze(0)
        if hx is None:
            z = zeros((input.size(0), self.hidden_size), dtype=input.dtype, device=input.device)
            states = (z, z) if lstm else (z,)
        elif not batched:
            states = tuple(h.unsqueeze(0) for h in states)
        self._check_cell(input, states)
        p = self._parameters
        h = states[0]
        c = states[1] if lstm else None
        ws = [p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"], None]
        if mode in (_M_TANH, _M_RELU):
            # Two GEMMs and one activation: composed from primitive ops it measured faster
            # than the fused op (and shows PyTorch's grad_fn, TanhBackward0 / ReluBackward0).
            out = _reference(mode, input, h, None, ws, False, None, True)
        else:
            out = _RNNLayer.apply(input, h, c, *ws, mode, False, None, True)
        if not batched:
            out = (out[0].squeeze(0), out[1].squeeze(0)) if lstm else out.squeeze(0)
        return out

    def _check_cell(self, input, states):
        if input.size(1) != self.input_size:
            raise RuntimeError(
                f"input has inconsistent input_size: got {input.size(1)} expected "
                f"{self.input_size}"
            )
        for i, h in enumerate(states):
            if input.size(0) != h.size(0):
                raise RuntimeError(
                    f"Input batch size {input.size(0)} doesn't match hidden{i} batch size "
                    f"{h.size(0)}"
                )
            if h.size(1) != self.hidden_size:
                raise RuntimeError(
                    f"hidden{i} has inconsistent hidden_size: got {h.size(1)}, expected "
                    f"{self.hidden_size}"
                )
        w = self._parameters["weight_ih"]
        for t in (input, *states):
            if t.dtype != w.dtype:
                raise RuntimeError(
                    "mat1 and mat2 must have the same dtype, but got "
                    f"{_short(t.dtype)} and {_short(w.dtype)}"
                )


def _short(dtype):
    return dtype._legacy_name[:-6] if hasattr(dtype, "_legacy_name") else str(dtype)


class RNNCell(RNNCellBase):
    """One Elman RNN step: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or ``relu``).

    >>> import probe
    >>> probe.nn.RNNCell(10, 20, nonlinearity="relu")
    RNNCell(10, 20, nonlinearity=relu)
    """

    __constants__ = ["input_size", "hidden_size", "bias", "nonlinearity"]

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device,
                         dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        if self.nonlinearity == "tanh":
            mode = _M_TANH
        elif self.nonlinearity == "relu":
            mode = _M_RELU
        else:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        return self._cell(mode, input, hx, False)


class LSTMCell(RNNCellBase):
    """One LSTM step; returns ``(h', c')``.

    >>> import probe
    >>> cell = probe.nn.LSTMCell(10, 20)
    >>> cell
    LSTMCell(10, 20)
    >>> h, c = cell(probe.randn(3, 10))
    >>> tuple(h.shape), tuple(c.shape)
    ((3, 20), (3, 20))
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device,
                         dtype=dtype)

    def forward(self, input, hx=None):
        return self._cell(_M_LSTM, input, hx, True)


class GRUCell(RNNCellBase):
    """One GRU step; returns ``h'``.

    >>> import probe
    >>> probe.nn.GRUCell(10, 20)(probe.randn(3, 10)).shape
    probe.Size([3, 20])
    """

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device,
                         dtype=dtype)

    def forward(self, input, hx=None):
        return self._cell(_M_GRU, input, hx, False)
