"""Per-op overhead: a 100-op elementwise chain on small tensors, forward and forward+backward,
probe against PyTorch (CPU) in the same run.

    python benchmarks/op_overhead.py [--size 16] [--ops 100] [--repeat 30]

Prints the median time per op for each library and the probe/PyTorch ratio (lower is better).
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import median_time


def chain(lib, x, w, n_ops):
    """``n_ops`` elementwise ops: mul, add, tanh, sub, in a fixed rotation."""
    y = x
    for i in range(n_ops):
        k = i % 4
        if k == 0:
            y = y * w
        elif k == 1:
            y = y + 0.5
        elif k == 2:
            y = lib.tanh(y)
        else:
            y = y - x
    return y


def bench(lib, make, size, n_ops, repeat):
    data = np.random.default_rng(0).standard_normal((size,)).astype(np.float32)
    x = make(data.copy(), True)
    w = make(data.copy() * 0.1, True)
    with lib.no_grad():
        forward_nograd = median_time(lambda: chain(lib, x, w, n_ops), repeat, warmup=1)

    def train_step():
        x.grad = None
        w.grad = None
        chain(lib, x, w, n_ops).sum().backward()

    forward = median_time(lambda: chain(lib, x, w, n_ops), repeat, warmup=1)
    step = median_time(train_step, repeat, warmup=1)
    return forward_nograd / n_ops, forward / n_ops, step / n_ops


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--ops", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    import probe

    results = {"probe": bench(probe, lambda a, rg: probe.tensor(a, requires_grad=rg),
                              args.size, args.ops, args.repeat)}
    try:
        import torch

        torch.set_num_threads(2)
        results["torch"] = bench(
            torch, lambda a, rg: torch.tensor(a, requires_grad=rg), args.size, args.ops,
            args.repeat,
        )
    except ImportError:
        print("torch is not installed: probe only")

    print(f"{args.ops}-op elementwise chain, tensors of {args.size} float32, per op (median):")
    print(f"{'':8s} {'no_grad fwd':>12s} {'fwd (graph)':>12s} {'fwd+bwd':>12s}")
    for name, (ng, fwd, step) in results.items():
        print(f"{name:8s} {ng * 1e6:10.2f}us {fwd * 1e6:10.2f}us {step * 1e6:10.2f}us")
    if "torch" in results:
        p, t = results["probe"], results["torch"]
        print(f"{'ratio':8s} {p[0] / t[0]:11.2f}x {p[1] / t[1]:11.2f}x {p[2] / t[2]:11.2f}x"
              "   (probe / PyTorch)")


if __name__ == "__main__":
    main()
