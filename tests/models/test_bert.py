"""BertModel on tiny random configs (no download): names, shapes, masks, grads, hooks, loading."""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pytest

import probe
from probe import nethook
from probe.models import BertConfig, BertModel, SentenceEncoder
from probe.models.hub import load_into, read_state_dict
from probe.serialization import save_safetensors

TINY = dict(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=32, max_position_embeddings=24, type_vocab_size=2)


def _layer_keys(i):
    p = f"encoder.layer.{i}."
    return [
        p + "attention.self.query.weight", p + "attention.self.query.bias",
        p + "attention.self.key.weight", p + "attention.self.key.bias",
        p + "attention.self.value.weight", p + "attention.self.value.bias",
        p + "attention.output.dense.weight", p + "attention.output.dense.bias",
        p + "attention.output.LayerNorm.weight", p + "attention.output.LayerNorm.bias",
        p + "intermediate.dense.weight", p + "intermediate.dense.bias",
        p + "output.dense.weight", p + "output.dense.bias",
        p + "output.LayerNorm.weight", p + "output.LayerNorm.bias",
    ]


# Hugging Face transformers' BertModel.state_dict() keys, in order.
HF_KEYS = [
    "embeddings.word_embeddings.weight",
    "embeddings.position_embeddings.weight",
    "embeddings.token_type_embeddings.weight",
    "embeddings.LayerNorm.weight",
    "embeddings.LayerNorm.bias",
    *_layer_keys(0),
    *_layer_keys(1),
    "pooler.dense.weight",
    "pooler.dense.bias",
]


@pytest.fixture
def model():
    probe.manual_seed(0)
    return BertModel(BertConfig(**TINY)).eval()


def _ids(rng, b=2, t=7):
    return probe.tensor(rng.integers(1, TINY["vocab_size"], size=(b, t)))


def test_state_dict_keys_match_hugging_face(model):
    assert list(model.state_dict().keys()) == HF_KEYS
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["embeddings.word_embeddings.weight"] == (40, 16)
    assert shapes["encoder.layer.1.intermediate.dense.weight"] == (32, 16)
    assert shapes["encoder.layer.1.output.dense.weight"] == (16, 32)


def test_no_pooler_drops_pooler_keys():
    m = BertModel(BertConfig(**TINY), add_pooling_layer=False)
    assert list(m.state_dict().keys()) == HF_KEYS[:-2]
    assert m(probe.tensor([[1, 2, 3]])).pooler_output is None


def test_output_shapes_and_counts(model, rng):
    ids = _ids(rng, 3, 5)
    out = model(ids, output_hidden_states=True, output_attentions=True)
    assert out.last_hidden_state.shape == (3, 5, 16)
    assert out.pooler_output.shape == (3, 16)
    assert len(out.hidden_states) == TINY["num_hidden_layers"] + 1
    assert len(out.attentions) == TINY["num_hidden_layers"]
    for a in out.attentions:
        assert a.shape == (3, 4, 5, 5)
        np.testing.assert_allclose(a.sum(-1).detach().numpy(), 1.0, rtol=1e-5)
    assert out.hidden_states[-1] is out.last_hidden_state
    assert out[0] is out.last_hidden_state and out["pooler_output"] is out.pooler_output
    plain = model(ids)
    assert plain.hidden_states is None and plain.attentions is None
    np.testing.assert_allclose(plain.last_hidden_state.detach().numpy(),
                               out.last_hidden_state.detach().numpy(), atol=1e-5)


def test_token_type_ids_default_to_zero(model, rng):
    ids = _ids(rng)
    a = model(ids).last_hidden_state.detach().numpy()
    b = model(ids, token_type_ids=probe.zeros_like(ids)).last_hidden_state.detach().numpy()
    c = model(ids, token_type_ids=probe.ones_like(ids)).last_hidden_state.detach().numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert not np.allclose(a, c)


def test_extended_attention_mask_is_additive(model):
    mask = probe.tensor([[1, 1, 0]])
    ext = model.get_extended_attention_mask(mask, probe.float32)
    assert ext.shape == (1, 1, 1, 3) and ext.dtype == probe.float32
    assert ext[0, 0, 0, 0].item() == 0.0
    assert ext[0, 0, 0, 2].item() == float(np.finfo(np.float32).min)


@pytest.mark.parametrize("output_attentions", [False, True])
def test_padding_does_not_change_real_tokens(model, rng, output_attentions):
    ids = _ids(rng, 1, 5)
    alone = model(ids, output_attentions=output_attentions).last_hidden_state.detach().numpy()
    junk = probe.tensor(rng.integers(1, TINY["vocab_size"], size=(1, 3)))
    padded = probe.cat([ids, junk], dim=1)
    mask = probe.tensor([[1] * 5 + [0] * 3])
    out = model(padded, attention_mask=mask, output_attentions=output_attentions)
    np.testing.assert_allclose(out.last_hidden_state.detach().numpy()[:, :5], alone, atol=1e-5)
    if output_attentions:
        assert np.all(out.attentions[0].detach().numpy()[..., 5:] == 0)
    unmasked = model(padded).last_hidden_state.detach().numpy()[:, :5]
    assert not np.allclose(unmasked, alone, atol=1e-5)


def test_backward_gives_finite_grads(model, rng):
    model.train()
    ids = _ids(rng)
    out = model(ids, attention_mask=probe.tensor([[1] * 7, [1] * 4 + [0] * 3]),
                output_attentions=True)
    loss = out.last_hidden_state.pow(2).mean() + out.pooler_output.sum()
    loss = loss + sum(a.mean() for a in out.attentions)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.shape == p.shape
        assert np.isfinite(p.grad.detach().numpy()).all(), name
    assert model.encoder.layer[1].attention.self.query.weight.grad.abs().sum().item() > 0


@pytest.mark.parametrize("output_attentions", [False, True])
def test_gradcheck_float64_layer(output_attentions):
    probe.manual_seed(1)
    cfg = BertConfig(vocab_size=10, hidden_size=4, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=6, max_position_embeddings=5)
    m = BertModel(cfg).double().eval()
    ext = m.get_extended_attention_mask(probe.tensor([[1, 1, 0]]), probe.float64)
    layer = m.encoder.layer[0]
    x = probe.randn(1, 3, 4, dtype=probe.float64, requires_grad=True)

    def fn(h):
        out, probs = layer(h, ext, output_attentions)
        return out if probs is None else out.sum() + (probs * probs).sum()

    assert probe.autograd.gradcheck(fn, (x,))
    assert m(probe.tensor([[1, 2, 3]])).last_hidden_state.dtype == probe.float64


def test_nethook_trace_on_query(model, rng):
    ids = _ids(rng)
    name = "encoder.layer.1.attention.self.query"
    assert name in dict(model.named_modules())
    with nethook.Trace(model, name) as tr:
        out = model(ids, output_hidden_states=True)
    h = out.hidden_states[1]
    lin = model.encoder.layer[1].attention.self.query
    np.testing.assert_allclose(tr.output.detach().numpy(), lin(h).detach().numpy(), atol=1e-6)
    nethook.assert_no_hooks(model)

    with nethook.Trace(model, name, edit_output=lambda output, layer: output * 0):
        edited = model(ids).last_hidden_state
    assert not np.allclose(edited.detach().numpy(), out.last_hidden_state.detach().numpy())
    nethook.assert_no_hooks(model)


def test_forward_hook_sees_layer_output(model, rng):
    seen = []
    handle = model.encoder.layer[0].output.register_forward_hook(
        lambda mod, inp, out: seen.append(out.shape))
    model(_ids(rng, 2, 3))
    handle.remove()
    assert seen == [probe.Size([2, 3, 16])]


def _write_folder(tmp_path, model, extra=None, drop=(), prefix="", fmt="safetensors"):
    cfg = {k: v for k, v in model.config.to_dict().items() if k != "add_pooling_layer"}
    cfg["architectures"] = ["BertModel"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    sd = {prefix + k: v.detach().clone() for k, v in model.state_dict().items() if k not in drop}
    sd.update(extra or {})
    if fmt == "safetensors":
        save_safetensors(sd, str(tmp_path / "model.safetensors"))
    else:
        probe.save(sd, str(tmp_path / "pytorch_model.bin"))
    return tmp_path


def test_from_pretrained_round_trip(tmp_path, model, rng):
    pos = probe.arange(TINY["max_position_embeddings"]).reshape(1, -1)
    folder = _write_folder(tmp_path, model, extra={"embeddings.position_ids": pos})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded, report = BertModel.from_pretrained(folder, return_report=True)
    assert not loaded.training
    assert report.missing_keys == [] and report.unexpected_keys == []
    assert report.ignored_keys == ["embeddings.position_ids"]
    ids = _ids(rng)
    np.testing.assert_allclose(loaded(ids).last_hidden_state.detach().numpy(),
                               model(ids).last_hidden_state.detach().numpy(), atol=1e-6)


def test_from_pretrained_torch_bin_and_prefix(tmp_path, model, rng):
    folder = _write_folder(tmp_path, model, prefix="bert.", fmt="bin",
                           extra={"cls.predictions.bias": probe.zeros(3)})
    with pytest.warns(UserWarning, match="cls.predictions.bias"):
        loaded, report = BertModel.from_pretrained(folder, return_report=True)
    assert report.unexpected_keys == ["cls.predictions.bias"]
    ids = _ids(rng)
    np.testing.assert_allclose(loaded(ids).pooler_output.detach().numpy(),
                               model(ids).pooler_output.detach().numpy(), atol=1e-6)


def test_from_pretrained_without_pooler(tmp_path, model):
    folder = _write_folder(tmp_path, model, drop=("pooler.dense.weight", "pooler.dense.bias"))
    loaded = BertModel.from_pretrained(folder)
    assert loaded.pooler is None
    assert loaded(probe.tensor([[1, 2]])).pooler_output is None


def test_from_pretrained_missing_weight_raises(tmp_path, model):
    folder = _write_folder(tmp_path, model, drop=("encoder.layer.1.output.dense.weight",))
    with pytest.raises(RuntimeError, match="encoder.layer.1.output.dense.weight"):
        BertModel.from_pretrained(folder)
    with pytest.warns(UserWarning, match="missing"):
        _, report = BertModel.from_pretrained(folder, strict=False, return_report=True)
    assert report.missing_keys == ["encoder.layer.1.output.dense.weight"]


def test_load_into_and_read_state_dict(tmp_path, model):
    folder = _write_folder(tmp_path, model)
    sd = read_state_dict(folder)
    assert sorted(sd) == sorted(HF_KEYS)
    fresh = BertModel(BertConfig(**TINY))
    report = load_into(fresh, sd)
    assert report.ok
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        read_state_dict(tmp_path / "nowhere")


def test_sentence_encoder_mean_pool_and_normalise(model):
    def tokenizer(texts):
        rows = [[1 + (ord(c) % 30) for c in s] for s in texts]
        width = max(map(len, rows))
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = r
            mask[i, :len(r)] = 1
        return {"input_ids": probe.tensor(ids), "attention_mask": probe.tensor(mask),
                "token_type_ids": probe.zeros_like(probe.tensor(ids))}

    enc = SentenceEncoder(model, tokenizer)
    emb = enc.encode(["abc", "hello there"])
    assert isinstance(emb, probe.Tensor) and emb.shape == (2, 16)
    np.testing.assert_allclose(emb.norm(dim=1).detach().numpy(), 1.0, rtol=1e-5)
    alone = enc.encode(["abc"], convert_to_numpy=True)
    assert isinstance(alone, np.ndarray)
    np.testing.assert_allclose(alone[0], emb[0].detach().numpy(), atol=1e-5)
    h = model(probe.tensor([[1 + ord(c) % 30 for c in "abc"]])).last_hidden_state.mean(1)
    np.testing.assert_allclose(alone[0], (h / h.norm(dim=1, keepdim=True))[0].detach().numpy(),
                               atol=1e-5)


def test_tokenizer_import_error_names_extra(monkeypatch):
    from probe.models import tokenizer as tok_mod

    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(ImportError, match=r"pip install 'probe\[models\]'"):
        tok_mod.require_tokenizers()


def test_config_validation():
    with pytest.raises(ValueError, match="multiple"):
        BertConfig(hidden_size=10, num_attention_heads=3)
    cfg = BertConfig(hidden_size=8, num_attention_heads=2, some_hf_field=3)
    assert cfg.some_hf_field == 3 and cfg.head_dim == 4
