"""LeNet-5 forward+backward (no optimizer) on 28x28 inputs: probe against PyTorch (CPU, 2
threads) in the same run, next to the same computation written with probe's NumPy conv/pool
kernels and no autograd engine.

    python benchmarks/conv_lenet.py [--batch 64] [--repeat 20] [--rounds 5] [--malloc-tuning]

LeNet-5: conv 5x5 (6 ch) -> relu -> maxpool 2 -> conv 5x5 (16 ch) -> relu -> maxpool 2 ->
linear 120 -> relu -> linear 84 -> relu -> linear 10, loss = sum of the logits. All three run on
the same weights. Timings are the best of ``--rounds`` medians (the machines are shared and
noisy: compare ratios, not absolute times).

``--malloc-tuning`` raises glibc's mmap/trim thresholds first (process-wide), which keeps freed
multi-megabyte blocks mapped instead of page-faulting them in again every step.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import median_time  # noqa: E402

import probe  # noqa: E402
from probe.engine.ops.linalg import linear as probe_linear  # noqa: E402
from probe.nn.functional_parts import conv as pconv  # noqa: E402
from probe.nn.functional_parts import pooling as ppool  # noqa: E402
from probe.nn.functional_parts.activation import relu as probe_relu  # noqa: E402

SHAPES = [(6, 1, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 256), (120,), (84, 120), (84,),
          (10, 84), (10,)]


def lenet(conv2d, max_pool2d, relu, linear, x, w):
    h = max_pool2d(relu(conv2d(x, w[0], w[1])), 2)
    h = max_pool2d(relu(conv2d(h, w[2], w[3])), 2)
    h = h.reshape(h.shape[0], -1)
    h = relu(linear(h, w[4], w[5]))
    h = relu(linear(h, w[6], w[7]))
    return linear(h, w[8], w[9])


def numpy_step(x, w):
    """The same forward and backward with probe's array kernels and no engine."""
    geom = (5, 5, 1, 1, 0, 0, 0, 0, 1, 1, 1)
    pool = (2, 2, 2, 2, 0, 0, 1, 1, 0, 0)

    def conv_pool(a, wt, b):
        z, cols, last = pconv._conv_fwd(np, a, wt, b, geom, True)
        r = np.maximum(z, 0)
        g = pool[:8] + (r.shape[2] // 2, r.shape[3] // 2)
        p, arg = ppool._max_pool_fwd(np, r, g, True)
        return z, cols, last, r, g, p, arg

    z1, c1, l1, r1, g1, p1, a1 = conv_pool(x, w[0], w[1])
    z2, c2, l2, r2, g2, p2, a2 = conv_pool(p1, w[2], w[3])
    f = p2.reshape(p2.shape[0], -1)
    z3 = f @ w[4].T + w[5]
    h3 = np.maximum(z3, 0)
    z4 = h3 @ w[6].T + w[7]
    h4 = np.maximum(z4, 0)
    out = h4 @ w[8].T + w[9]
    g5 = np.ones_like(out)
    grads = [g5.T @ h4, g5.sum(0)]
    g4 = (g5 @ w[8]) * (z4 > 0)
    grads += [g4.T @ h3, g4.sum(0)]
    g3 = (g4 @ w[6]) * (z3 > 0)
    grads += [g3.T @ f, g3.sum(0)]
    gp2 = (g3 @ w[4]).reshape(p2.shape)
    gr2 = ppool._scatter_views(np, r2.shape, g2, lambda k: gp2 * (a2 == k), gp2.dtype) * (z2 > 0)
    gm2 = pconv._grad_matrix(np, gr2, l2)
    grads += [pconv._weight_grad(np, gm2, c2, w[2].shape, 1), gm2.sum(1)]
    gp1 = pconv._col2im(np, pconv._cols_grad(np, w[2], gm2, 1), p1.shape, geom, l2,
                        z2.shape[2:])
    gr1 = ppool._scatter_views(np, r1.shape, g1, lambda k: gp1 * (a1 == k), gp1.dtype) * (z1 > 0)
    gm1 = pconv._grad_matrix(np, gr1, l1)
    grads += [pconv._weight_grad(np, gm1, c1, w[0].shape, 1), gm1.sum(1)]
    # Collected from the last layer back: reorder as (w1, b1, w2, b2, ...).
    pairs = [grads[i:i + 2] for i in range(0, len(grads), 2)][::-1]
    return out, [g for pair in pairs for g in pair]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--malloc-tuning", action="store_true")
    args = parser.parse_args()
    if args.malloc_tuning:
        probe.backends.cpu.tune_allocator()

    import torch  # noqa: PLC0415

    torch.set_num_threads(args.threads)
    tf = torch.nn.functional
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 1, 28, 28)).astype(np.float32)
    weights = [(rng.standard_normal(s) * 0.1).astype(np.float32) for s in SHAPES]

    px = probe.tensor(x)
    pw = [probe.tensor(w, requires_grad=True) for w in weights]
    tx = torch.tensor(x)
    tw = [torch.tensor(w, requires_grad=True) for w in weights]

    def probe_step():
        for w in pw:
            w.grad = None
        lenet(pconv.conv2d, ppool.max_pool2d, probe_relu, probe_linear, px, pw).sum().backward()

    def torch_step():
        for w in tw:
            w.grad = None
        lenet(tf.conv2d, tf.max_pool2d, tf.relu, tf.linear, tx, tw).sum().backward()

    def np_step():
        numpy_step(x, weights)

    # The three must compute the same gradients.
    probe_step()
    torch_step()
    _, np_grads = numpy_step(x, weights)
    for p, t, n in zip(pw, tw, np_grads, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(n.reshape(p.shape), p.grad.numpy(), rtol=1e-3, atol=1e-3)

    fns = {"probe": probe_step, "torch": torch_step, "numpy": np_step}
    best = {k: float("inf") for k in fns}
    for _ in range(args.rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], median_time(fn, args.repeat, warmup=3))
    tuning = "on" if args.malloc_tuning else "off"
    print(f"LeNet-5 forward+backward, batch {args.batch}, float32, torch threads "
          f"{args.threads}, malloc tuning {tuning}")
    for name in fns:
        ratio = best[name] / best["torch"]
        print(f"  {name:6s} {best[name] * 1e3:8.2f} ms   {ratio:5.2f}x PyTorch")


if __name__ == "__main__":
    main()
