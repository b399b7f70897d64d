"""Saving and loading checkpoints: probe's own safe format, PyTorch checkpoints, safetensors.

``probe.save`` / ``probe.load`` work as ``torch.save`` / ``torch.load`` for tensors,
parameters and nested containers of them (state_dicts, optimizer states, training
checkpoints), and loading never runs code from the file:

- probe's format holds data only (a JSON description plus raw tensor bytes, every byte
  checksummed; see ``probe.engine.serialization``); writes are atomic;
- PyTorch checkpoints (``torch.save``'s zip format, and the legacy format) are read by an
  allow-listed unpickler that rebuilds tensors and plain containers and raises
  :class:`UnsafeCheckpointError` for anything else;
- ``.safetensors`` files are read and written directly.

>>> import probe, io
>>> from probe.serialization import save, load
>>> buf = io.BytesIO()
>>> save({"weight": probe.ones(2, 2), "epoch": 3}, buf); _ = buf.seek(0)
>>> load(buf)["epoch"]
3
"""

from __future__ import annotations

from .engine.safetensors_io import load_safetensors, safetensors_metadata, save_safetensors
from .engine.serialization import (
    CheckpointError,
    UnsafeCheckpointError,
    load,
    register_parameter_class,
    save,
)
from .engine.torch_pickle import load_torch_checkpoint
from .nn.parameter import Parameter as _Parameter

# Saved parameters load as probe.nn.Parameter (the engine cannot import probe.nn itself).
register_parameter_class(_Parameter)

__all__ = [
    "save",
    "load",
    "load_safetensors",
    "save_safetensors",
    "safetensors_metadata",
    "load_torch_checkpoint",
    "CheckpointError",
    "UnsafeCheckpointError",
]
