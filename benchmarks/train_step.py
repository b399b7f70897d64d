"""Training-step time of two small models: probe vs PyTorch (CPU, 2 threads) vs the same step
written by hand in NumPy, measured in the same run.

    python benchmarks/train_step.py [--repeat 30] [--only mlp|lenet]

- MLP 784-256-128-10, ReLU, cross-entropy, batch 128, SGD with momentum 0.9.
- LeNet-5 on 28x28 inputs (conv5x5 6ch pad 2, ReLU, maxpool 2, conv5x5 16ch, ReLU, maxpool 2,
  120-84-10), batch 64, Adam (PyTorch has no hand-written NumPy baseline for this one here).

Prints the median milliseconds per step and the ratios to PyTorch (lower is better).
"""

from __future__ import annotations

import argparse

import numpy as np
from timing import median_time


def make_data(batch, shape, classes, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *shape)).astype(np.float32)
    y = rng.integers(0, classes, size=batch)
    return x, y


# --------------------------------------------------------------------------------------------
# Models in a torch-like library (probe or torch): the same code serves both.
# --------------------------------------------------------------------------------------------

def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def lenet(lib):
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


def lib_step(lib, model, optimizer, x, y):
    loss_fn = lib.nn.functional.cross_entropy

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    return step


def copy_weights(src_model, dst_model, to_dst):
    """Copy torch weights into the probe model so both libraries train the same network."""
    for (_, p_src), (_, p_dst) in zip(src_model.named_parameters(), dst_model.named_parameters()):
        p_dst.data = to_dst(p_src.detach().numpy().copy())


# --------------------------------------------------------------------------------------------
# The MLP step by hand in NumPy
# --------------------------------------------------------------------------------------------

class NumpyMLP:
    def __init__(self, weights, lr=0.01, momentum=0.9):
        self.params = [w.astype(np.float32).copy() for w in weights]
        self.velocity = [np.zeros_like(p) for p in self.params]
        self.lr, self.momentum = lr, momentum

    def step(self, x, y):
        w1, b1, w2, b2, w3, b3 = self.params
        h1 = x @ w1.T
        h1 += b1
        np.maximum(h1, 0, out=h1)
        h2 = h1 @ w2.T
        h2 += b2
        np.maximum(h2, 0, out=h2)
        logits = h2 @ w3.T
        logits += b3
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        probs[np.arange(len(y)), y] -= 1
        g3 = probs / len(y)
        grads = [None] * 6
        grads[4], grads[5] = g3.T @ h2, g3.sum(axis=0)
        g2 = g3 @ w3
        g2 *= h2 > 0
        grads[2], grads[3] = g2.T @ h1, g2.sum(axis=0)
        g1 = g2 @ w2
        g1 *= h1 > 0
        grads[0], grads[1] = g1.T @ x, g1.sum(axis=0)
        for p, v, g in zip(self.params, self.velocity, grads):
            v *= self.momentum
            v += g
            p -= self.lr * v


def bench_mlp(repeat, torch, probe):
    x, y = make_data(128, (784,), 10)
    results = {}
    if torch is not None:
        tmodel = mlp(torch)
        step = lib_step(torch, tmodel, torch.optim.SGD(tmodel.parameters(), lr=0.01,
                                                         momentum=0.9),
                        torch.from_numpy(x), torch.from_numpy(y))
        results["torch"] = median_time(step, repeat, warmup=3)
    pmodel = mlp(probe)
    if torch is not None:
        copy_weights(tmodel, pmodel, probe.tensor)
    step = lib_step(probe, pmodel, probe.optim.SGD(pmodel.parameters(), lr=0.01, momentum=0.9),
                    probe.from_numpy(x), probe.from_numpy(y))
    results["probe"] = median_time(step, repeat, warmup=3)
    weights = [p.detach().numpy() for p in pmodel.parameters()]
    hand = NumpyMLP(weights)
    results["numpy"] = median_time(lambda: hand.step(x, y), repeat, warmup=3)
    return results


def bench_lenet(repeat, torch, probe):
    x, y = make_data(64, (1, 28, 28), 10)
    results = {}
    if torch is not None:
        tmodel = lenet(torch)
        step = lib_step(torch, tmodel, torch.optim.Adam(tmodel.parameters(), lr=1e-3),
                        torch.from_numpy(x), torch.from_numpy(y))
        results["torch"] = median_time(step, repeat, warmup=3)
    pmodel = lenet(probe)
    if torch is not None:
        copy_weights(tmodel, pmodel, probe.tensor)
    step = lib_step(probe, pmodel, probe.optim.Adam(pmodel.parameters(), lr=1e-3),
                    probe.from_numpy(x), probe.from_numpy(y))
    results["probe"] = median_time(step, repeat, warmup=3)
    return results


def report(name, results):
    line = [f"{name:8s}"]
    for lib in ("probe", "torch", "numpy"):
        if lib in results:
            line.append(f"{lib} {results[lib] * 1e3:7.2f} ms")
    if "torch" in results:
        line.append(f"| probe/torch {results['probe'] / results['torch']:.2f}x")
        if "numpy" in results:
            line.append(f"numpy/torch {results['numpy'] / results['torch']:.2f}x")
    print("  ".join(line))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--only", choices=("mlp", "lenet"))
    args = parser.parse_args()
    import probe

    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:
        torch = None
        print("torch is not installed: probe and NumPy only")
    if args.only in (None, "mlp"):
        report("MLP", bench_mlp(args.repeat, torch, probe))
    if args.only in (None, "lenet"):
        report("LeNet-5", bench_lenet(args.repeat, torch, probe))


if __name__ == "__main__":
    main()
