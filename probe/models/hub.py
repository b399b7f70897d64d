"""Read Hugging Face model folders: ``config.json`` plus ``model.safetensors`` (or
``pytorch_model.bin``, through probe's safe PyTorch reader, which never runs pickled code).

>>> from probe.models.hub import read_state_dict   # doctest: +SKIP
>>> sd = read_state_dict("/path/to/all-MiniLM-L6-v2")   # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field

import probe
from probe.serialization import load_safetensors

__all__ = ["LoadReport", "read_state_dict", "load_into", "load_pretrained", "weights_file"]

_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass
class LoadReport:
    """What loading a checkpoint into a model found.

    ``missing_keys``: model entries the checkpoint lacks; ``unexpected_keys``: checkpoint
    entries the model has no place for; ``ignored_keys``: checkpoint entries for the model's
    non-persistent buffers (e.g. ``embeddings.position_ids`` that old transformers saved),
    dropped because the model rebuilds them.
    """

    missing_keys: list = field(default_factory=list)
    unexpected_keys: list = field(default_factory=list)
    ignored_keys: list = field(default_factory=list)
    weights_file: str = ""

    @property
    def ok(self):
        return not self.missing_keys and not self.unexpected_keys


def weights_file(path):
    """The weights file of a model folder (``model.safetensors`` first), or ``path`` itself."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return path
    for name in _WEIGHT_FILES:
        candidate = os.path.join(path, name)
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        f"no weights in {path!r}: expected one of {', '.join(_WEIGHT_FILES)}")


def read_state_dict(path, device="cpu"):
    """``{name: tensor}`` from a model folder or a weights file (.safetensors or a torch
    checkpoint)."""
    file = weights_file(path)
    if file.endswith(".safetensors"):
        return load_safetensors(file, device=device)
    sd = probe.load(file, map_location=device, weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ValueError(f"{file!r} does not hold a state_dict (got {type(sd).__name__})")
    return sd


def _non_persistent_buffers(model):
    names = set()
    for prefix, module in model.named_modules():
        for name in getattr(module, "_non_persistent_buffers_set", ()):
            names.add(f"{prefix}.{name}" if prefix else name)
    return names


def _strip_prefix(state_dict, model_keys, prefix):
    """Drop a head model's base prefix (``bert.``) when the model's keys do not use it; the
    per-module versions in ``_metadata`` (checkpoints saved by PyTorch) are renamed alike."""
    if any(k.startswith(prefix) for k in model_keys):
        return state_dict
    if not any(k.startswith(prefix) for k in state_dict):
        return state_dict
    stripped = OrderedDict((k[len(prefix):] if k.startswith(prefix) else k, v)
                           for k, v in state_dict.items())
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        base = prefix.rstrip(".")
        stripped._metadata = OrderedDict(
            ("" if k == base else k[len(prefix):] if k.startswith(prefix) else k, v)
            for k, v in metadata.items())
    return stripped


def load_into(model, state_dict, *, strict=True, base_prefix=None, weights_file=""):
    """Load ``state_dict`` into ``model`` and return a :class:`LoadReport`.

    Missing weights raise ``RuntimeError`` when ``strict`` (a warning otherwise); unexpected
    entries always warn; entries for non-persistent buffers are dropped quietly.
    """
    model_keys = set(model.state_dict().keys())
    if base_prefix:
        state_dict = _strip_prefix(state_dict, model_keys, base_prefix)
    buffers = _non_persistent_buffers(model)
    ignored = sorted(k for k in state_dict if k in buffers)
    kept = OrderedDict((k, v) for k, v in state_dict.items() if k not in buffers)
    if getattr(state_dict, "_metadata", None) is not None:
        # Without the versions every module would load as if from a pre-versioning checkpoint.
        kept._metadata = state_dict._metadata
    missing, unexpected = model.load_state_dict(kept, strict=False)
    report = LoadReport(list(missing), list(unexpected), ignored, weights_file)
    where = f" from {weights_file}" if weights_file else ""
    if report.missing_keys:
        msg = (f"{type(model).__name__}: {len(missing)} weights missing{where}: "
               f"{', '.join(report.missing_keys)}")
        if strict:
            raise RuntimeError(msg + " (pass strict=False to keep their initial values)")
        warnings.warn(msg + " (left at their initial values)", stacklevel=3)
    if report.unexpected_keys:
        warnings.warn(f"{type(model).__name__}: {len(unexpected)} unexpected checkpoint "
                      f"entries{where} were not loaded: {', '.join(report.unexpected_keys)}",
                      stacklevel=3)
    return report


def load_pretrained(model_cls, config_cls, path, *, device="cpu", dtype=None, strict=True,
                    return_report=False, base_prefix="bert."):
    """Build ``model_cls(config)`` from a Hugging Face folder and load its weights (eval mode).

    A checkpoint without ``pooler.*`` weights builds the model without a pooler.
    """
    path = os.fspath(path)
    config = config_cls.from_pretrained(path)
    file = weights_file(path)
    state_dict = read_state_dict(file)
    if base_prefix:
        state_dict = {(k[len(base_prefix):] if k.startswith(base_prefix) else k): v
                      for k, v in state_dict.items()}
    has_pooler = any(k.startswith("pooler.") for k in state_dict)
    model = model_cls(config, add_pooling_layer=has_pooler)
    report = load_into(model, state_dict, strict=strict, weights_file=file)
    if dtype is not None:
        model = model.to(dtype)
    if str(device) != "cpu":
        model = model.to(device)
    model.eval()
    return (model, report) if return_report else model
