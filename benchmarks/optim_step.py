"""Optimizer step time: probe vs PyTorch (CPU, 2 threads), measured in the same run.

    python benchmarks/optim_step.py [--repeat 50] [--rounds 5]

Times ``optimizer.step()`` alone (gradients are set once and kept) for SGD with momentum 0.9
and for Adam on parameters shaped 784x256, 256x128 and 128x10 (234,752 values), then on a
1M-parameter model (a 1000x1000 weight and a 1000 bias). Prints the best-of-rounds median per
step (probe and PyTorch alternate round by round) and the ratio probe / PyTorch (lower is
better). PyTorch runs its default CPU path (the single-tensor loop: ``foreach`` defaults to False
on the CPU).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import median_time  # noqa: E402

import probe  # noqa: E402
import probe.optim  # noqa: E402,F401  (until probe/__init__ imports it)

MLP_SHAPES = [(784, 256), (256, 128), (128, 10)]
BIG_SHAPES = [(1000, 1000), (1000,)]


def make_params(lib, shapes, seed=0):
    rng = np.random.default_rng(seed)
    params = []
    for shape in shapes:
        p = lib.nn.Parameter(lib.tensor(rng.standard_normal(shape).astype(np.float32) * 0.01))
        p.grad = lib.tensor(rng.standard_normal(shape).astype(np.float32) * 0.01)
        params.append(p)
    return params


def bench(name, shapes, make_opt, repeat, rounds, torch):
    """Best-of-rounds medians; probe and PyTorch alternate round by round so that both see the
    same load on a shared machine."""
    steps = {"probe": make_opt(probe, make_params(probe, shapes)).step}
    if torch is not None:
        steps["torch"] = make_opt(torch, make_params(torch, shapes)).step
    best = {}
    for step in steps.values():
        for _ in range(3):
            step()
    for _ in range(rounds):
        for lib, step in steps.items():
            best[lib] = min(best.get(lib, float("inf")), median_time(step, repeat))
    line = f"{name:<28} probe {best['probe'] * 1e3:8.3f} ms"
    if torch is not None:
        line += (f"   torch {best['torch'] * 1e3:8.3f} ms   probe/torch "
                 f"{best['probe'] / best['torch']:5.2f}x")
    print(line)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:
        torch = None
        print("torch is not installed: probe timings only")

    def sgd(lib, params):
        return lib.optim.SGD(params, lr=0.01, momentum=0.9)

    def adam(lib, params):
        return lib.optim.Adam(params, lr=1e-3)

    n = sum(int(np.prod(s)) for s in MLP_SHAPES)
    print(f"784x256, 256x128, 128x10 parameters ({n:,} values), float32")
    bench("SGD momentum=0.9", MLP_SHAPES, sgd, args.repeat, args.rounds, torch)
    bench("Adam", MLP_SHAPES, adam, args.repeat, args.rounds, torch)
    n = sum(int(np.prod(s)) for s in BIG_SHAPES)
    print(f"1000x1000 + 1000 parameters ({n:,} values), float32")
    bench("SGD momentum=0.9", BIG_SHAPES, sgd, args.repeat, args.rounds, torch)
    bench("Adam", BIG_SHAPES, adam, args.repeat, args.rounds, torch)


if __name__ == "__main__":
    main()
