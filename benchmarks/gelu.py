"""Exact GELU (``approximate="none"``, the erf form) and erf alone on float32: probe vs PyTorch
(CPU, 2 threads), measured in the same run.

    python benchmarks/gelu.py [--threads 2] [--repeat 20] [--rounds 3]

Shapes 1536x1536 (a BERT-base intermediate activation at batch*length 1536) and 128x1536.
Times the forward under no_grad, forward+backward (``out.backward(g)`` with a fixed ``g``), and
``erf`` alone. Prints the best-of-rounds median for each (probe and PyTorch alternate round by
round, so both see the same load on a shared machine) and the ratio probe / PyTorch (lower is
better).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import median_time  # noqa: E402

import probe  # noqa: E402

SHAPES = [(1536, 1536), (128, 1536)]


def cases(lib, data, grad):
    """``{name: callable}`` for one library; ``lib`` is probe or torch."""
    F = lib.nn.functional
    x = lib.tensor(data, requires_grad=True)
    x_plain = lib.tensor(data)
    g = lib.tensor(grad)

    def forward():
        with lib.no_grad():
            F.gelu(x_plain)

    def forward_backward():
        x.grad = None
        F.gelu(x).backward(g)

    def erf():
        with lib.no_grad():
            lib.erf(x_plain)

    return {"forward": forward, "forward+backward": forward_backward, "erf": erf}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
        print("torch is not installed: probe only")

    rng = np.random.default_rng(0)
    print(f"float32, torch threads {args.threads}, best of {args.rounds} rounds of "
          f"{args.repeat} (median):")
    print(f"{'shape':>11s} {'what':>17s} {'probe':>10s} {'torch':>10s} {'probe/torch':>12s}")
    for shape in SHAPES:
        # Pre-activations of a trained network: mostly within a few units of 0, some tails.
        data = (rng.standard_normal(shape) * 1.5).astype(np.float32)
        grad = rng.standard_normal(shape).astype(np.float32)
        libs = {"probe": cases(probe, data, grad)}
        if torch is not None:
            libs["torch"] = cases(torch, data, grad)
        best = {name: {} for name in libs}
        for _ in range(args.rounds):
            for name, fns in libs.items():
                for what, fn in fns.items():
                    t = median_time(fn, args.repeat, warmup=1)
                    best[name][what] = min(best[name].get(what, t), t)
        label = "x".join(map(str, shape))
        for what in best["probe"]:
            p = best["probe"][what]
            line = f"{label:>11s} {what:>17s} {p * 1e3:8.3f}ms"
            if "torch" in best:
                t = best["torch"][what]
                line += f" {t * 1e3:8.3f}ms {p / t:11.2f}x"
            print(line)


if __name__ == "__main__":
    main()
