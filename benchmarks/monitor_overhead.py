"""Overhead of ``GradientMonitor`` on a training step.

    python benchmarks/monitor_overhead.py [--repeat 200] [--rounds 7] [--every 1] [--device cpu]

MLP 784-256-128-10 (ReLU), cross-entropy, batch 128, SGD with momentum 0.9. Times the plain step
and the same step with a monitor (``every`` steps; default rules; no sinks) in alternating
rounds, and prints the best-of-rounds medians and the overhead in percent (the aim is < 5%).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import probe  # noqa: E402
import probe.nn as nn  # noqa: E402
import probe.optim as optim  # noqa: E402
from probe.monitor import GradientMonitor  # noqa: E402


def make(device, monitored, every):
    probe.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                          nn.Linear(128, 10)).to(device)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    monitor = GradientMonitor(model, opt, every=every) if monitored else None
    x = probe.randn(128, 784, device=device)
    y = probe.randint(0, 10, (128,), device=device)
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


def median(fn, repeat):
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    steps = {"plain": make(args.device, False, args.every),
             "monitored": make(args.device, True, args.every)}
    for step in steps.values():
        for _ in range(20):
            step()
    best = {name: float("inf") for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            best[name] = min(best[name], median(step, args.repeat))
    overhead = (best["monitored"] / best["plain"] - 1) * 100
    print(f"device {args.device}, every={args.every}")
    print(f"plain step      {best['plain'] * 1e3:8.3f} ms")
    print(f"monitored step  {best['monitored'] * 1e3:8.3f} ms")
    print(f"overhead        {overhead:8.1f} %")
    return overhead


if __name__ == "__main__":
    main()
