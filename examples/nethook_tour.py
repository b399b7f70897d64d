"""A tour of probe.nethook on a small CNN trained in a few seconds on synthetic 8x8 digits.

    python examples/nethook_tour.py

Trains the model (no download), then: captures activations (Trace, TraceDict), edits an
activation, ablates conv channels with InstrumentedModel and measures the accuracy drop, traces
gradients of an activation, and edits a parameter by name and puts it back.
"""

from __future__ import annotations

import probe
import probe.nn as nn
import probe.nn.functional as F
from probe import nethook
from probe.datasets import synthetic_digits
from probe.utils.data import DataLoader, TensorDataset


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        return self.fc(self.pool(F.relu(self.conv(x))).flatten(1))


def accuracy(model, images, labels):
    with probe.no_grad():
        return (model(images).argmax(1) == labels).float().mean().item()


def train(epochs=12, seed=0):
    probe.manual_seed(seed)
    images, labels = synthetic_digits(2000, seed=seed)
    images, labels = probe.from_numpy(images), probe.from_numpy(labels)
    train_x, train_y, test_x, test_y = images[:1600], labels[:1600], images[1600:], labels[1600:]
    generator = probe.Generator().manual_seed(seed)
    loader = DataLoader(TensorDataset(train_x, train_y), batch_size=64, shuffle=True,
                        generator=generator)
    model = SmallCNN()
    optimizer = probe.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
    model.eval()
    return model, test_x, test_y


def main():
    model, x, y = train()
    base = accuracy(model, x, y)
    print(f"trained SmallCNN: test accuracy {base:.3f}")

    # 1. Capture: every listed layer's output during one forward pass.
    with nethook.TraceDict(model, ["conv", "pool", "fc"], detach=True) as td:
        model(x[:16])
    shapes = {name: tuple(t.output.shape) for name, t in td.items()}
    print(f"captured: {shapes}")
    with nethook.Trace(model, "conv", stop=True) as tr:  # stop right after the conv layer
        model(x[:16])
    print(f"stopped after conv: output {tuple(tr.output.shape)}")

    # 2. Edit an activation: double the conv output; the prediction changes accordingly.
    with nethook.Trace(model, "conv", edit_output=lambda output: output * 2):
        doubled = accuracy(model, x, y)
    print(f"edit: conv output x2 -> accuracy {doubled:.3f}")

    # 3. Ablate channels, most active first, and watch the accuracy fall.
    with nethook.InstrumentedModel(model) as imodel:
        imodel.retain_layer("conv")
        with probe.no_grad():
            imodel(x)
        mean_act = imodel.retained_layer("conv").relu().mean((0, 2, 3))
        order = mean_act.argsort(descending=True).tolist()
        line = []
        for k in (1, 2, 4):
            mask = probe.zeros(8)
            mask[order[:k]] = 1.0
            imodel.edit_layer("conv", ablation=mask)  # (8,) broadcasts over (N, 8, H, W)
            line.append(f"top-{k} -> {accuracy(imodel, x, y):.3f}")
        imodel.remove_edits("conv")
        print(f"ablate conv channels {order[:4]}: " + ", ".join(line)
              + f" (none: {accuracy(imodel, x, y):.3f})")

        # 4. Gradients of an activation: which channels does the loss depend on most?
        imodel.stop_retaining_layers("conv")
        imodel.retain_layer("conv", retain_grad=True)
        loss = F.cross_entropy(imodel(x), y)
        loss.backward()
        act, grad = imodel.retained_layer("conv"), imodel.retained_grad("conv")
        attribution = (act * grad).sum((0, 2, 3)).abs()
        top = attribution.argsort(descending=True)[:3].tolist()
        print(f"grad of conv output: shape {tuple(grad.shape)}, |act*grad| top channels {top}")
    nethook.assert_no_hooks(model)
    model.zero_grad()

    # 5. Edit a parameter by name, then get the exact original back.
    snapshot = nethook.snapshot_parameters(model)
    with nethook.edit_parameters(model, {"conv.weight": lambda w: -w, "fc.bias": 0.0}):
        flipped = accuracy(model, x, y)
        changed = {k: round(v, 3) for k, v in snapshot.diff(model).items() if v > 0}
    restored = max(snapshot.diff(model).values())
    print(f"edit_parameters(conv.weight=-w, fc.bias=0): accuracy {flipped:.3f}, "
          f"changed {changed}")
    print(f"restored: max abs change {restored}, accuracy {accuracy(model, x, y):.3f}")
    assert restored == 0.0


if __name__ == "__main__":
    main()
