"""Overhead of probe.nethook.InstrumentedModel on an MLP training step.

    python benchmarks/nethook_overhead.py [--repeat 200] [--rounds 5]

MLP 784-256-128-10 (ReLU), cross-entropy, batch 128, SGD with momentum 0.9 (the model of
``train_step.py``), timed three ways in the same run: the plain model; the model wrapped in an
``InstrumentedModel`` with nothing retained; every layer retained (``detach=True``). The three
variants run in short interleaved bursts in shuffled order, so that drift of a shared machine
hits them alike; the median (and 10th percentile) per step is reported. Aims: < 3% (nothing
retained) and < 15% (all retained).
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from timing import time_samples

import probe
import probe.nn as nn
import probe.nn.functional as F
from probe.nethook import InstrumentedModel


def mlp():
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def make_step(model, params, x, y):
    optimizer = probe.optim.SGD(params, lr=0.01, momentum=0.9)

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200, help="steps per variant per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = probe.from_numpy(rng.standard_normal((128, 784)).astype(np.float32))
    y = probe.from_numpy(rng.integers(0, 10, size=128))

    probe.manual_seed(0)
    plain = mlp()
    probe.manual_seed(0)
    bare = InstrumentedModel(mlp())
    probe.manual_seed(0)
    retained = InstrumentedModel(mlp())
    retained.retain_layers(retained.layer_names(), detach=True)

    variants = {
        "plain": make_step(plain, plain.parameters(), x, y),
        "wrapped, none retained": make_step(bare, bare.parameters(), x, y),
        "wrapped, all retained": make_step(retained, retained.parameters(), x, y),
    }
    samples = {name: [] for name in variants}
    for step in variants.values():  # warm up
        time_samples(step, 10)
    names = list(variants)
    order_rng = np.random.default_rng(1)
    for _ in range(args.rounds):
        for _ in range(args.repeat // 10):
            # Short bursts in a shuffled order: no variant always runs first or after another.
            for i in order_rng.permutation(len(names)):
                samples[names[i]] += time_samples(variants[names[i]], 10)

    base = statistics.median(samples["plain"])
    base_p10 = float(np.percentile(samples["plain"], 10))
    print(f"MLP 784-256-128-10, batch 128, SGD momentum; {args.rounds} x {args.repeat} steps "
          f"per variant; retained layers: {retained.layer_names()}")
    for name, values in samples.items():
        med = statistics.median(values)
        p10 = float(np.percentile(values, 10))
        overhead = "" if name == "plain" else (
            f"  overhead {100 * (med / base - 1):+.1f}% (p10 {100 * (p10 / base_p10 - 1):+.1f}%)")
        print(f"  {name:24s} {med * 1e3:7.3f} ms/step (p10 {p10 * 1e3:.3f}){overhead}")
    print("  aims: none retained < 3%, all retained < 15%")
    retained.close()
    bare.close()


if __name__ == "__main__":
    main()
