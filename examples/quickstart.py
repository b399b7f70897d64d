"""probe in five minutes: tensors, autograd, and a small CNN trained with the classic loop.

    python examples/quickstart.py

Everything here is plain PyTorch code with ``import probe as torch``; no download needed.
"""

from __future__ import annotations

import probe as torch
import probe.nn as nn
import probe.nn.functional as F
from probe.datasets import synthetic_digits
from probe.utils.data import DataLoader, TensorDataset

# --- 1. Tensors ------------------------------------------------------------------------------
a = torch.arange(6, dtype=torch.float32).reshape(2, 3)
b = torch.ones(3, 2)
print("a =\n", a)
print("a @ b =\n", a @ b)
print("column means:", a.mean(dim=0), "| shape:", a.shape, "| dtype:", a.dtype)

# --- 2. Autograd -----------------------------------------------------------------------------
# d/dx of f(x) = sum(x**2 * sin(x)) is 2x sin(x) + x**2 cos(x).
x = torch.linspace(0, 3, 4, requires_grad=True)
y = (x ** 2 * torch.sin(x)).sum()
y.backward()
expected = 2 * x * torch.sin(x) + x ** 2 * torch.cos(x)
print("grad:", x.grad, "| matches the formula:", torch.allclose(x.grad, expected.detach()))

# torch.autograd.grad returns gradients instead of accumulating them in .grad.
(gx,) = torch.autograd.grad((x ** 3).sum(), x)
print("d/dx sum(x^3) = 3x^2:", gx)

# A tensor hook sees (and may replace) the gradient flowing through it.
w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)


def scale_grad(grad):
    print("  hook saw grad", grad)
    return grad * 10


w.register_hook(scale_grad)
(w * w).sum().backward()
print("grad after the hook scaled it by 10:", w.grad)

# --- 3. A small CNN, trained the classic way ---------------------------------------------------
torch.manual_seed(0)
images, labels = synthetic_digits(1000, seed=0)  # NumPy arrays: (1000, 1, 8, 8), (1000,)
dataset = TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))
train_set = TensorDataset(*dataset[:800])
test_images, test_labels = dataset[800:]
loader = DataLoader(train_set, batch_size=64, shuffle=True)

model = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 8x8 -> 4x4
    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 4x4 -> 2x2
    nn.Flatten(), nn.Linear(32 * 2 * 2, 10),
)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

for epoch in range(8):
    model.train()
    total = 0.0
    for batch, target in loader:
        optimizer.zero_grad()                      # 1. clear old gradients
        loss = F.cross_entropy(model(batch), target)  # 2. forward
        loss.backward()                            # 3. backward
        optimizer.step()                           # 4. update
        total += loss.item() * len(target)
    print(f"epoch {epoch + 1}: loss {total / len(train_set):.4f}")

model.eval()
with torch.no_grad():
    accuracy = (model(test_images).argmax(dim=1) == test_labels).float().mean().item()
print(f"test accuracy: {accuracy:.3f}")
