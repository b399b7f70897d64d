"""Tokenizers from a Hugging Face model folder (``tokenizer.json``), through the ``tokenizers``
package (the optional extra: ``pip install 'probe[models]'``).

>>> tok = Tokenizer.from_pretrained("/path/to/all-MiniLM-L6-v2")   # doctest: +SKIP
>>> batch = tok(["Hello world", "Hi"])                            # doctest: +SKIP
>>> batch["input_ids"].shape                                      # doctest: +SKIP
probe.Size([2, 4])
"""

from __future__ import annotations

import json
import os

import numpy as np

import probe

__all__ = ["Tokenizer", "require_tokenizers"]

_INSTALL_HINT = ("probe.models' tokenizer needs the 'tokenizers' package: "
                 "pip install 'probe[models]' (or pip install tokenizers)")


def require_tokenizers():
    """The ``tokenizers`` module, or an ImportError that says how to install it."""
    try:
        import tokenizers
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return tokenizers


def _read_json(path):
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    return {}


class Tokenizer:
    """Batch tokenizer: ``tok(texts)`` -> ``{"input_ids", "attention_mask",
    "token_type_ids"}`` int64 tensors padded to the longest text (as sentence-transformers
    and Hugging Face's ``padding=True, truncation=True``).

    ``max_length`` defaults to sentence-transformers' ``max_seq_length`` when the folder has
    ``sentence_bert_config.json``, else ``model_max_length`` from ``tokenizer_config.json``.
    """

    def __init__(self, backend, max_length=512, pad_id=0, pad_token="[PAD]"):
        self.backend = backend
        self.max_length = max_length
        self.pad_id = pad_id
        self.pad_token = pad_token
        # The folder's tokenizer.json may pin fixed padding/truncation (MiniLM: 128);
        # padding is done per batch here instead.
        self.backend.no_padding()
        self.backend.no_truncation()

    @classmethod
    def from_pretrained(cls, path, max_length=None):
        """Load ``tokenizer.json`` from a model folder."""
        tokenizers = require_tokenizers()
        path = os.fspath(path)
        file = os.path.join(path, "tokenizer.json") if os.path.isdir(path) else path
        folder = os.path.dirname(file)
        if not os.path.isfile(file):
            raise FileNotFoundError(f"no tokenizer.json in {path!r}")
        backend = tokenizers.Tokenizer.from_file(file)
        raw = _read_json(file)
        padding = raw.get("padding") or {}
        pad_id = padding.get("pad_id", 0)
        pad_token = padding.get("pad_token", "[PAD]")
        if max_length is None:
            st_config = _read_json(os.path.join(folder, "sentence_bert_config.json"))
            tok_config = _read_json(os.path.join(folder, "tokenizer_config.json"))
            max_length = st_config.get("max_seq_length") or tok_config.get("model_max_length")
            if not isinstance(max_length, int) or max_length > 100_000:
                max_length = 512
        return cls(backend, max_length=max_length, pad_id=pad_id, pad_token=pad_token)

    def encode_batch(self, texts, max_length=None):
        """numpy int64 arrays ``(input_ids, attention_mask, token_type_ids)``."""
        if isinstance(texts, str):
            texts = [texts]
        limit = max_length or self.max_length
        self.backend.enable_truncation(limit)
        try:
            encs = self.backend.encode_batch(list(texts))
        finally:
            self.backend.no_truncation()
        width = max((len(e.ids) for e in encs), default=0)
        ids = np.full((len(encs), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encs), width), dtype=np.int64)
        types = np.zeros((len(encs), width), dtype=np.int64)
        for row, enc in enumerate(encs):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
            types[row, :n] = enc.type_ids
        return ids, mask, types

    def __call__(self, texts, max_length=None, device="cpu"):
        ids, mask, types = self.encode_batch(texts, max_length)
        return {
            "input_ids": probe.from_numpy(ids).to(device),
            "attention_mask": probe.from_numpy(mask).to(device),
            "token_type_ids": probe.from_numpy(types).to(device),
        }

    def decode(self, ids, skip_special_tokens=True):
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        return self.backend.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def tokenize(self, text):
        return self.backend.encode(text).tokens
