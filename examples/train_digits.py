"""Train a small CNN on 8x8 digits with probe, the way one trains with PyTorch.

    python examples/train_digits.py

Uses scikit-learn's digits when scikit-learn is installed, probe's synthetic digits otherwise
(no download either way). Prints the loss per epoch and the test accuracy.
"""

from __future__ import annotations

import probe
import probe.nn as nn
import probe.nn.functional as F
from probe.datasets import load_digits
from probe.utils.data import DataLoader, random_split


class DigitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32 * 2 * 2, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # 8x8 -> 4x4
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 4x4 -> 2x2
        return self.fc(x.flatten(1))


def accuracy(model, loader):
    model.eval()
    correct = total = 0
    with probe.no_grad():
        for images, labels in loader:
            correct += (model(images).argmax(1) == labels).sum().item()
            total += len(labels)
    model.train()
    return correct / total


def train(epochs=15, seed=0, verbose=True):
    """Train DigitNet and return its accuracy on the held-out split."""
    probe.manual_seed(seed)
    dataset = load_digits(seed=seed)
    n_test = len(dataset) // 5
    generator = probe.Generator().manual_seed(seed)
    train_set, test_set = random_split(dataset, [len(dataset) - n_test, n_test],
                                       generator=generator)
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True, generator=generator)
    test_loader = DataLoader(test_set, batch_size=256)

    model = DigitNet()
    optimizer = probe.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(epochs):
        total = 0.0
        for images, labels in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(labels)
        if verbose:
            print(f"epoch {epoch + 1}: loss {total / len(train_set):.4f}")
    acc = accuracy(model, test_loader)
    if verbose:
        print(f"test accuracy: {acc:.3f}")
    return acc


if __name__ == "__main__":
    train()
