"""BERT encoders with Hugging Face's module names, so their checkpoints load key for key.

>>> import probe
>>> from probe.models import BertConfig, BertModel
>>> cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
...                  intermediate_size=32, max_position_embeddings=20)
>>> model = BertModel(cfg).eval()
>>> out = model(probe.tensor([[1, 5, 7, 2]]), output_hidden_states=True)
>>> out.last_hidden_state.shape, len(out.hidden_states)
(probe.Size([1, 4, 16]), 3)
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

import probe
from probe import nn
from probe.nn import functional as F

__all__ = ["BertConfig", "BertModel", "BertModelOutput", "SentenceEncoder"]


class BertConfig:
    """Hyper-parameters of a BERT encoder, with Hugging Face's ``config.json`` field names.

    Unknown fields are kept as attributes, so a full Hugging Face config round-trips.

    >>> BertConfig(hidden_size=32, num_attention_heads=4).head_dim
    8
    """

    def __init__(self, vocab_size=30522, hidden_size=768, num_hidden_layers=12,
                 num_attention_heads=12, intermediate_size=3072, hidden_act="gelu",
                 hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                 max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12,
                 pad_token_id=0, position_embedding_type="absolute", add_pooling_layer=True,
                 **kwargs):
        if hidden_size % num_attention_heads:
            raise ValueError(f"hidden_size ({hidden_size}) is not a multiple of "
                             f"num_attention_heads ({num_attention_heads})")
        if position_embedding_type != "absolute":
            raise NotImplementedError(
                f"position_embedding_type={position_embedding_type!r} is not supported "
                "(only 'absolute')")
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.layer_norm_eps = layer_norm_eps
        self.pad_token_id = pad_token_id
        self.position_embedding_type = position_embedding_type
        self.add_pooling_layer = add_pooling_layer
        for key, value in kwargs.items():
            setattr(self, key, value)

    @property
    def head_dim(self):
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, d):
        return cls(**d)

    @classmethod
    def from_json_file(cls, path):
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))

    @classmethod
    def from_pretrained(cls, path):
        """Read ``config.json`` from a model folder (or the file itself)."""
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, "config.json")
        return cls.from_json_file(path)

    def to_dict(self):
        return dict(self.__dict__)

    def __repr__(self):
        return f"BertConfig({json.dumps(self.to_dict(), indent=2, default=str)})"


class BertModelOutput:
    """What :class:`BertModel` returns: attributes, ``out["name"]`` and ``out[i]`` (fields
    that are ``None`` are skipped in positional access, as Hugging Face's ModelOutput)."""

    _fields = ("last_hidden_state", "pooler_output", "hidden_states", "attentions")

    def __init__(self, last_hidden_state, pooler_output=None, hidden_states=None,
                 attentions=None):
        self.last_hidden_state = last_hidden_state
        self.pooler_output = pooler_output
        self.hidden_states = hidden_states
        self.attentions = attentions

    def keys(self):
        return [k for k in self._fields if getattr(self, k) is not None]

    def to_tuple(self):
        return tuple(getattr(self, k) for k in self.keys())

    def __getitem__(self, key):
        if isinstance(key, str):
            return getattr(self, key)
        return self.to_tuple()[key]

    def __iter__(self):
        return iter(self.keys())

    def __repr__(self):
        inner = ", ".join(f"{k}=<{type(getattr(self, k)).__name__}>" for k in self.keys())
        return f"BertModelOutput({inner})"


def _activation(name):
    acts = {
        "gelu": nn.GELU(),
        "gelu_new": nn.GELU(approximate="tanh"),
        "gelu_pytorch_tanh": nn.GELU(approximate="tanh"),
        "relu": nn.ReLU(),
        "silu": nn.SiLU(),
        "swish": nn.SiLU(),
        "tanh": nn.Tanh(),
    }
    if name not in acts:
        raise ValueError(f"unsupported hidden_act {name!r}; one of {sorted(acts)}")
    return acts[name]


class BertEmbeddings(nn.Module):
    """Word + position + token-type embeddings, then LayerNorm and dropout."""

    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size,
                                            padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings,
                                                config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        # Non-persistent, as in recent transformers: old checkpoints that saved it still load.
        self.register_buffer("position_ids",
                             probe.arange(config.max_position_embeddings).reshape(1, -1),
                             persistent=False)

    def forward(self, input_ids, token_type_ids=None, position_ids=None):
        seq_len = input_ids.shape[1]
        if position_ids is None:
            position_ids = self.position_ids[:, :seq_len]
        emb = self.word_embeddings(input_ids) + self.position_embeddings(position_ids)
        if token_type_ids is None:
            # All-zero token types: row 0 broadcast, without a (B, T) lookup.
            emb = emb + self.token_type_embeddings.weight[0]
        else:
            emb = emb + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(emb))


class BertSelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention (``query``/``key``/``value``)."""

    def __init__(self, config):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.head_dim
        self.all_head_size = config.hidden_size
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def _heads(self, x):
        b, t, _ = x.shape
        return x.reshape(b, t, self.num_attention_heads, self.attention_head_size).transpose(1, 2)

    def forward(self, hidden_states, attention_mask=None, output_attentions=False):
        q = self._heads(self.query(hidden_states))
        k = self._heads(self.key(hidden_states))
        v = self._heads(self.value(hidden_states))
        probs = None
        if output_attentions:
            # Weights are needed, so the eager path (HF's "eager" attention).
            scores = q.matmul(k.transpose(-1, -2)) * (1.0 / math.sqrt(self.attention_head_size))
            if attention_mask is not None:
                scores = scores + attention_mask
            probs = F.softmax(scores, dim=-1)
            ctx = self.dropout(probs).matmul(v)
        else:
            ctx = F.scaled_dot_product_attention(
                q, k, v, attn_mask=attention_mask,
                dropout_p=self.dropout.p if self.training else 0.0)
        b, _, t, _ = ctx.shape
        ctx = ctx.transpose(1, 2).reshape(b, t, self.all_head_size)
        return ctx, probs


class BertSelfOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, input_tensor):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states, attention_mask=None, output_attentions=False):
        ctx, probs = self.self(hidden_states, attention_mask, output_attentions)
        return self.output(ctx, hidden_states), probs


class BertIntermediate(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = _activation(config.hidden_act)

    def forward(self, hidden_states):
        return self.intermediate_act_fn(self.dense(hidden_states))


class BertOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, input_tensor):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertLayer(nn.Module):
    """One transformer block: attention, then the feed-forward (intermediate + output)."""

    def __init__(self, config):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden_states, attention_mask=None, output_attentions=False):
        attn_out, probs = self.attention(hidden_states, attention_mask, output_attentions)
        return self.output(self.intermediate(attn_out), attn_out), probs


class BertEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden_states, attention_mask=None, output_hidden_states=False,
                output_attentions=False):
        all_hidden = [hidden_states] if output_hidden_states else None
        all_attn = [] if output_attentions else None
        for layer in self.layer:
            hidden_states, probs = layer(hidden_states, attention_mask, output_attentions)
            if output_hidden_states:
                all_hidden.append(hidden_states)
            if output_attentions:
                all_attn.append(probs)
        return hidden_states, all_hidden, all_attn


class BertPooler(nn.Module):
    """``tanh(dense(h[:, 0]))``: the [CLS] token's pooled vector."""

    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states):
        return self.activation(self.dense(hidden_states[:, 0]))


class BertModel(nn.Module):
    """A BERT encoder (Hugging Face's ``BertModel``, parameter for parameter).

    ``forward(input_ids, attention_mask=None, token_type_ids=None, output_hidden_states=False,
    output_attentions=False)`` returns a :class:`BertModelOutput` with ``last_hidden_state``
    (B, T, H), ``pooler_output`` (B, H; ``None`` without a pooler), ``hidden_states``
    (embeddings + one per layer) and ``attentions`` (one (B, heads, T, T) map per layer).

    >>> import probe
    >>> cfg = BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1,
    ...                  num_attention_heads=2, intermediate_size=16)
    >>> out = BertModel(cfg)(probe.tensor([[1, 2, 3]]), output_attentions=True)
    >>> out.attentions[0].shape
    probe.Size([1, 2, 3, 3])
    """

    def __init__(self, config, add_pooling_layer=None):
        super().__init__()
        if add_pooling_layer is None:
            add_pooling_layer = getattr(config, "add_pooling_layer", True)
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self._init_weights()

    def _init_weights(self):
        # BERT's initialisation: N(0, initializer_range) weights, zero biases, unit LayerNorms.
        std = getattr(self.config, "initializer_range", 0.02)
        with probe.no_grad():
            for module in self.modules():
                if isinstance(module, (nn.Linear, nn.Embedding)):
                    module.weight.normal_(0.0, std)
                    if isinstance(module, nn.Linear) and module.bias is not None:
                        module.bias.zero_()
                    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                        module.weight[module.padding_idx].zero_()
                elif isinstance(module, nn.LayerNorm):
                    module.weight.fill_(1.0)
                    module.bias.zero_()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def get_extended_attention_mask(self, attention_mask, dtype):
        """(B, T) 1/0 mask -> (B, 1, 1, T) additive mask: 0 where kept, dtype-min where masked."""
        if attention_mask.ndim == 2:
            attention_mask = attention_mask[:, None, None, :]
        elif attention_mask.ndim == 3:
            attention_mask = attention_mask[:, None, :, :]
        ext = 1.0 - attention_mask.to(dtype)
        return ext * float(np.finfo(probe.empty(0, dtype=dtype).numpy().dtype).min)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None,
                output_hidden_states=False, output_attentions=False, position_ids=None):
        if input_ids.ndim == 1:
            input_ids = input_ids.unsqueeze(0)
        hidden = self.embeddings(input_ids, token_type_ids=token_type_ids,
                                 position_ids=position_ids)
        ext_mask = None
        if attention_mask is not None:
            if attention_mask.ndim == 1:
                attention_mask = attention_mask.unsqueeze(0)
            ext_mask = self.get_extended_attention_mask(attention_mask, hidden.dtype)
        last, all_hidden, all_attn = self.encoder(
            hidden, ext_mask, output_hidden_states=output_hidden_states,
            output_attentions=output_attentions)
        pooled = self.pooler(last) if self.pooler is not None else None
        return BertModelOutput(
            last_hidden_state=last,
            pooler_output=pooled,
            hidden_states=tuple(all_hidden) if all_hidden is not None else None,
            attentions=tuple(all_attn) if all_attn is not None else None,
        )

    @classmethod
    def from_pretrained(cls, path, *, device="cpu", dtype=None, strict=True,
                        return_report=False):
        """Build from a Hugging Face model folder (``config.json`` + ``model.safetensors``
        or ``pytorch_model.bin``), in eval mode.

        Missing weights raise (``strict=False``: warn instead); unexpected checkpoint
        entries are warned about. ``return_report=True`` returns ``(model, report)`` with the
        :class:`~probe.models.hub.LoadReport`.
        """
        from .hub import load_pretrained

        return load_pretrained(cls, BertConfig, path, device=device, dtype=dtype,
                               strict=strict, return_report=return_report)


class SentenceEncoder:
    """Sentence embeddings as sentence-transformers' all-MiniLM-L6-v2: BERT, mean pooling over
    the attention mask, then L2 normalisation.

    ``SentenceEncoder(path)`` loads model and tokenizer from a Hugging Face folder;
    ``SentenceEncoder(model, tokenizer)`` wraps ones already built (the tokenizer is any
    callable returning ``input_ids``/``attention_mask``/``token_type_ids``).

    >>> enc = SentenceEncoder("/path/to/all-MiniLM-L6-v2")          # doctest: +SKIP
    >>> enc.encode(["A cat.", "A dog."]).shape                       # doctest: +SKIP
    probe.Size([2, 384])
    """

    def __init__(self, model_or_path, tokenizer=None, *, device="cpu", normalize=True,
                 batch_size=32):
        if isinstance(model_or_path, (str, os.PathLike)):
            path = model_or_path
            model = BertModel.from_pretrained(path, device=device)
            if tokenizer is None:
                from .tokenizer import Tokenizer

                tokenizer = Tokenizer.from_pretrained(path)
        else:
            model = model_or_path
        if tokenizer is None:
            raise ValueError("SentenceEncoder needs a tokenizer when given a model")
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.normalize = normalize
        self.batch_size = batch_size

    @staticmethod
    def mean_pool(last_hidden_state, attention_mask):
        """Average of the token vectors the mask keeps (padding excluded)."""
        mask = attention_mask.to(last_hidden_state.dtype).unsqueeze(-1)
        summed = (last_hidden_state * mask).sum(1)
        return summed / mask.sum(1).clamp(min=1e-9)

    def embed(self, input_ids, attention_mask, token_type_ids=None):
        """Embeddings of already tokenized input (differentiable; no ``no_grad``)."""
        out = self.model(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        emb = self.mean_pool(out.last_hidden_state, attention_mask)
        if self.normalize:
            emb = F.normalize(emb, p=2.0, dim=1)
        return emb

    def encode(self, sentences, batch_size=None, convert_to_numpy=False):
        """Embed a list of strings -> (N, hidden) tensor (numpy with ``convert_to_numpy``)."""
        single = isinstance(sentences, str)
        if single:
            sentences = [sentences]
        batch_size = batch_size or self.batch_size
        chunks = []
        with probe.no_grad():
            for start in range(0, len(sentences), batch_size):
                batch = self.tokenizer(sentences[start:start + batch_size])
                batch = {k: v.to(self.device) for k, v in batch.items()}
                chunks.append(self.embed(batch["input_ids"], batch["attention_mask"],
                                         batch.get("token_type_ids")))
        emb = chunks[0] if len(chunks) == 1 else probe.cat(chunks, dim=0)
        if single:
            emb = emb[0]
        return emb.cpu().numpy() if convert_to_numpy else emb
