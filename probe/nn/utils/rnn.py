"""Variable-length sequences for the recurrent layers (``probe.nn.utils.rnn``): ``PackedSequence``,
``pack_padded_sequence``, ``pad_packed_sequence``, ``pad_sequence``, ``unpad_sequence``,
``pack_sequence``, ``unpack_sequence`` and ``invert_permutation``, with PyTorch's signatures.

Packing and unpacking are single gathers (one index op each, differentiable): a packed sequence's
rows are the valid ``(t, b)`` positions of the time-major padded batch, in time order.

>>> import probe
>>> from probe.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
>>> x = probe.arange(6.0).reshape(3, 2, 1)
>>> packed = pack_padded_sequence(x, [3, 1])
>>> packed.batch_sizes
tensor([2, 1, 1])
>>> padded, lengths = pad_packed_sequence(packed)
>>> padded[:, 1, 0].tolist(), lengths.tolist()
([1.0, 0.0, 0.0], [3, 1])
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from ...engine import dtypes as _dt
from ...engine.ops.creation import full as _full
from ...engine.ops.creation import tensor as _tensor
from ...engine.ops.shape import cat as _cat
from ...engine.tensor import Tensor

__all__ = [
    "PackedSequence", "invert_permutation", "pack_padded_sequence", "pack_sequence",
    "pad_packed_sequence", "pad_sequence", "unpack_sequence", "unpad_sequence",
]


class PackedSequence_(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(PackedSequence_):
    """A batch of variable-length sequences: ``data`` holds the valid steps of all sequences,
    time step by time step (``batch_sizes[t]`` rows for step ``t``, longest sequences first);
    ``sorted_indices`` maps that order back to the batch. Build it with
    ``pack_padded_sequence`` or ``pack_sequence``."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is not None:
            if batch_sizes.device.type != "cpu":
                raise ValueError(
                    "batch_sizes should always be on CPU. Instances of PackedSequence should "
                    "never be created manually. They should be instantiated by functions like "
                    "pack_sequence and pack_padded_sequences in nn.utils.rnn. "
                    "https://pytorch.org/docs/stable/nn.html#torch.nn.utils.rnn.pack_sequence"
                )
        else:
            if not (isinstance(data, list | tuple) and len(data) == 2):
                raise AssertionError("Expected data to be a list or tuple of length 2")
            data, batch_sizes = data
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """``data`` converted as ``Tensor.to``; the indices follow it to its device."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        dev = data.device

        def move(t):
            return None if t is None else t.to(dev)

        return type(self)(data, self.batch_sizes, move(self.sorted_indices),
                          move(self.unsorted_indices))

    def cuda(self, *args, **kwargs):
        if args or "device" in kwargs:
            return self.to(*args, **kwargs)
        return self.to("cuda", **kwargs)

    def cpu(self, *args, **kwargs):
        return self.to("cpu", *args, **kwargs)

    def pin_memory(self):
        return self

    def double(self):
        return self.to(dtype=_dt.float64)

    def float(self):
        return self.to(dtype=_dt.float32)

    def half(self):
        return self.to(dtype=_dt.float16)

    def long(self):
        return self.to(dtype=_dt.int64)

    def int(self):
        return self.to(dtype=_dt.int32)

    def short(self):
        return self.to(dtype=_dt.int16)

    def char(self):
        return self.to(dtype=_dt.int8)

    def byte(self):
        return self.to(dtype=_dt.uint8)

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda

    def is_pinned(self) -> bool:
        return False


def invert_permutation(permutation):
    """The inverse of a permutation tensor (None stays None)."""
    if permutation is None:
        return None
    perm = _host(permutation)
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size, dtype=perm.dtype)
    return _tensor(inv, device=permutation.device)


# ---------------------------------------------------------------------------------------------
# layout helpers (also used by the recurrent layers)
# ---------------------------------------------------------------------------------------------

def _host(t):
    data = t._data
    return data if isinstance(data, np.ndarray) else data.get()


def _valid(batch_sizes_np, batch):
    """(T, B) bool: step t of sequence b is present."""
    return np.arange(batch)[None, :] < batch_sizes_np[:, None]


def _packed_positions(batch_sizes_np, batch, batch_first, steps=None):
    """For each packed row, its position in the flattened padded (T, B) or (B, T) batch."""
    valid = _valid(batch_sizes_np, batch)
    t, b = np.nonzero(valid)  # row-major: time step by time step, as packed data is
    steps = valid.shape[0] if steps is None else steps
    return b * steps + t if batch_first else t * batch + b


def _packed_to_padded(data, batch_sizes_np, batch_first, padding_value, steps):
    """The padded batch (time-major or batch-first) from packed rows: one gather."""
    batch = int(batch_sizes_np[0])
    total = data.shape[0]
    pos = _packed_positions(batch_sizes_np, batch, batch_first, steps)
    gather = np.full(steps * batch, total, dtype=np.int64)
    gather[pos] = np.arange(total)
    pad = _full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype,
                device=data.device)
    flat = _cat([data, pad])[_tensor(gather, device=data.device)]
    shape = (batch, steps) if batch_first else (steps, batch)
    return flat.reshape(shape + tuple(data.shape[1:]))


def _padded_to_packed(padded, batch_sizes_np, batch_first):
    """The packed rows of a padded batch: one gather."""
    shape = padded.shape
    steps = shape[1] if batch_first else shape[0]
    batch = int(batch_sizes_np[0])
    pos = _packed_positions(batch_sizes_np, batch, batch_first, steps)
    flat = padded.reshape((shape[0] * shape[1],) + tuple(shape[2:]))
    return flat[_tensor(pos, device=padded.device)]


def _lengths_from(batch_sizes_np):
    return _valid(batch_sizes_np, int(batch_sizes_np[0])).sum(0).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------------------------

def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) of sequences of the
    given ``lengths`` into a ``PackedSequence``.

    With ``enforce_sorted=True`` the lengths must be decreasing; otherwise the batch is sorted
    here and ``sorted_indices`` records the permutation.
    """
    if isinstance(lengths, Tensor):
        lens = _host(lengths)
        if lens.ndim != 1:
            raise RuntimeError(
                "'lengths' argument should be a 1D CPU int64 tensor, but got "
                f"{lens.ndim}D {lengths.device.type} {lengths.dtype._legacy_name[:-6]} tensor"
            )
        lens = lens.astype(np.int64)
    else:
        lens = np.asarray(lengths, dtype=np.int64)
        if lens.ndim != 1:
            raise RuntimeError(
                "'lengths' argument should be a 1D CPU int64 tensor, but got "
                f"{lens.ndim}D cpu Long tensor"
            )
    sorted_indices = None
    batch_dim = 0 if batch_first else 1
    if not enforce_sorted:
        order = np.argsort(-lens, kind="stable")
        lens = lens[order]
        sorted_indices = _tensor(order, device=input.device)
        input = input.index_select(batch_dim, sorted_indices)
    batch = input.shape[batch_dim]
    if lens.size != batch:
        raise RuntimeError(
            f"Expected `len(lengths)` to be equal to batch_size, but got {lens.size} "
            f"(batch_size={batch})"
        )
    if lens.size and lens[-1] <= 0:
        raise RuntimeError(
            "Length of all samples has to be greater than 0, but found an element in "
            "'lengths' that is <= 0"
        )
    if np.any(lens[1:] > lens[:-1]):
        raise RuntimeError(
            "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
            "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence "
            "to sidestep this requirement if you do not need ONNX exportability."
        )
    steps = input.shape[1 - batch_dim]
    if lens.size and lens[0] > steps:
        raise RuntimeError(
            f"Expected the longest length to be at most the padded length {steps}, "
            f"but got {int(lens[0])}"
        )
    max_len = int(lens[0]) if lens.size else 0
    batch_sizes = (lens[None, :] > np.arange(max_len)[:, None]).sum(1).astype(np.int64)
    data = _padded_to_packed(input, batch_sizes, batch_first) if max_len else input.reshape(
        (0,) + tuple(input.shape[2:]))
    return PackedSequence(data, _tensor(batch_sizes), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Unpack a ``PackedSequence`` into ``(padded, lengths)``: the padded batch ``(T, B, *)``
    (``(B, T, *)`` with ``batch_first``) in the original batch order, and the lengths (int64,
    CPU)."""
    bs = _host(sequence.batch_sizes).astype(np.int64)
    steps = bs.shape[0]
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in "
                f"input, but got total_length={total_length} and max sequence length being "
                f"{steps}"
            )
        steps = total_length
    padded = _packed_to_padded(sequence.data, bs, batch_first, padding_value, steps)
    lengths = _lengths_from(bs)
    unsorted = sequence.unsorted_indices
    if unsorted is not None:
        padded = padded.index_select(0 if batch_first else 1, unsorted)
        lengths = lengths[_host(unsorted)]
    return padded, _tensor(lengths)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack variable-length tensors ``(L_i, *)`` into one ``(max L, B, *)`` tensor
    (``(B, max L, *)`` with ``batch_first``), filling with ``padding_value`` on the
    ``padding_side``.

    >>> import probe
    >>> from probe.nn.utils.rnn import pad_sequence
    >>> pad_sequence([probe.ones(2), probe.ones(1)], batch_first=True).tolist()
    [[1.0, 1.0], [1.0, 0.0]]
    """
    if isinstance(sequences, Tensor):
        sequences = sequences.unbind(0)
    elif not isinstance(sequences, Iterable):
        raise RuntimeError(
            "pad_sequence: Expected iterable for input sequences, but got arg of type: "
            f"{type(sequences)}"
        )
    sequences = tuple(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise RuntimeError(
            f"Expected padding_side to be one of left or right, but got {padding_side}."
        )
    first = sequences[0]
    if first.dim() == 0:
        raise RuntimeError("pad_sequence: expected sequences of at least 1 dimension, got 0")
    trailing = tuple(first.shape[1:])
    for s in sequences[1:]:
        if s.dim() == 0:
            raise RuntimeError("pad_sequence: expected sequences of at least 1 dimension, got 0")
        other = tuple(s.shape[1:])
        if other != trailing:
            for i, (a, b) in enumerate(zip(trailing, other, strict=False)):
                if a != b:
                    raise RuntimeError(
                        f"The size of tensor a ({a}) must match the size of tensor b ({b}) at "
                        f"non-singleton dimension {i}"
                    )
            raise RuntimeError(
                f"pad_sequence: expected sequences with trailing shape {list(trailing)}, got "
                f"{list(other)}"
            )
    lens = np.array([s.shape[0] for s in sequences], dtype=np.int64)
    batch = lens.size
    steps = int(lens.max())
    total = int(lens.sum())
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    t = np.arange(steps)[None, :]
    offset = (steps - lens)[:, None] if padding_side == "left" else 0
    src = t - offset  # (B, T): the step of sequence b shown at padded step t
    valid = (src >= 0) & (src < lens[:, None])
    gather = np.where(valid, starts[:, None] + src, total)
    if not batch_first:
        gather = gather.T
    pad = _full((1,) + trailing, padding_value, dtype=first.dtype, device=first.device)
    flat = _cat([*sequences, pad])
    out = flat[_tensor(np.ascontiguousarray(gather).reshape(-1), device=first.device)]
    shape = (batch, steps) if batch_first else (steps, batch)
    return out.reshape(shape + trailing)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of unpadded sequences of a padded batch (inverse of ``pad_sequence``).

    Unlike PyTorch's, the input is not transposed in place."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    lens = _host(lengths) if isinstance(lengths, Tensor) else np.asarray(lengths)
    return [padded_sequences[i, :int(n)] for i, n in enumerate(lens.tolist())]


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of variable-length tensors ``(L_i, *)`` (decreasing lengths unless
    ``enforce_sorted=False``)."""
    lengths = [v.size(0) for v in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of tensors a ``PackedSequence`` holds (inverse of ``pack_sequence``)."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
