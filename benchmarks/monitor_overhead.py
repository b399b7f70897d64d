"""Overhead of ``GradientMonitor`` on a training step.

    python benchmarks/monitor_overhead.py [--model mlp|cnn|minilm] [--repeat 200] [--rounds 7]
                                          [--every 1] [--device cpu]

``mlp``: MLP 784-256-128-10 (ReLU), batch 128; ``cnn``: the ``probe demo`` CNN on 1x16x16 images,
batch 32; ``minilm``: fine-tuning all-MiniLM-L6-v2's architecture (random weights, 6 layers, 384
wide, 101 parameter tensors) with a linear head on the pooled output, 8 sequences of 32 tokens,
AdamW (use ``--repeat 20`` for it). Cross-entropy, SGD with momentum 0.9 for the first two.
Times the plain step
and the same step with a monitor (``every`` steps; default rules; no sinks) in alternating
rounds, and prints the best-of-rounds medians and the overhead in percent (the aim is < 5%).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import median_time  # noqa: E402

import probe  # noqa: E402
import probe.nn as nn  # noqa: E402
import probe.optim as optim  # noqa: E402
from probe.monitor import GradientMonitor  # noqa: E402
from probe.monitor.demo import make_model as make_demo_model  # noqa: E402


class _Classifier(nn.Module):
    """A BERT encoder with a linear head on its pooled output."""

    def __init__(self, encoder, classes):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, classes)

    def forward(self, input_ids):
        return self.head(self.encoder(input_ids).pooler_output)


def _minilm(device):
    from probe.models.bert import BertConfig, BertModel  # noqa: PLC0415

    config = BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                        intermediate_size=1536, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)
    model = _Classifier(BertModel(config), 10).to(device)
    x = probe.randint(0, config.vocab_size, (8, 32), device=device)
    return model, x, optim.AdamW(model.parameters(), lr=1e-5)


def make(kind, device, monitored, every):
    probe.manual_seed(0)
    opt = None
    if kind == "minilm":
        model, x, opt = _minilm(device)
    elif kind == "mlp":
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                              nn.Linear(128, 10)).to(device)
        x = probe.randn(128, 784, device=device)
    else:
        model = make_demo_model().to(device)
        x = probe.randn(32, 1, 16, 16, device=device)
    opt = opt or optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    monitor = GradientMonitor(model, opt, every=every) if monitored else None
    y = probe.randint(0, 10, (x.shape[0],), device=device)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        if monitor is not None:
            monitor.after_backward(loss)
        opt.step()
        if device != "cpu":
            probe.cuda.synchronize()

    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("mlp", "cnn", "minilm"), default="mlp")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    steps = {"plain": make(args.model, args.device, False, args.every),
             "monitored": make(args.model, args.device, True, args.every)}
    for step in steps.values():
        for _ in range(20):
            step()
    best = {name: float("inf") for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            best[name] = min(best[name], median_time(step, args.repeat))
    overhead = (best["monitored"] / best["plain"] - 1) * 100
    print(f"{args.model}, device {args.device}, every={args.every}")
    print(f"plain step      {best['plain'] * 1e3:8.3f} ms")
    print(f"monitored step  {best['monitored'] * 1e3:8.3f} ms")
    print(f"overhead        {overhead:8.1f} %")
    return overhead


if __name__ == "__main__":
    main()
