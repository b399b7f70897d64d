"""A training script to watch in probe's terminal UI.

    probe run examples/watch_training.py            # opens the UI on this script's run
    probe run examples/watch_training.py --headless -- --epochs 2

The script only uses ``probe.monitor.fit``: under ``probe run`` the environment variable
PROBE_RUN_DIR names a fresh run directory, ``fit`` writes its records there, and the UI follows it.
Run on its own (``python examples/watch_training.py``) it prints progress lines instead.
"""

from __future__ import annotations

import argparse

import probe
import probe.nn as nn
from probe.datasets import synthetic_digits
from probe.monitor import fit
from probe.utils.data import DataLoader, TensorDataset


def main(argv=None):
    parser = argparse.ArgumentParser(description="train a small CNN under the monitor")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.05)
    args = parser.parse_args(argv)

    probe.manual_seed(0)
    images, labels = synthetic_digits(4000, size=16, seed=0)
    data = TensorDataset(probe.from_numpy(images), probe.from_numpy(labels))
    loader = DataLoader(data, batch_size=64, shuffle=True)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10),
    )
    optimizer = probe.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    result = fit(model, loader, optimizer, nn.CrossEntropyLoss(), epochs=args.epochs,
                 print_every=50, config={"script": "watch_training", "lr": args.lr})
    print(f"finished: {result['state']} after {result['steps']} steps")


if __name__ == "__main__":
    main()
