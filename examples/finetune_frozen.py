"""Fine-tune only a new head on a frozen ResNet-18 ("linear probing").

    python examples/finetune_frozen.py

In real use the backbone would carry pretrained weights (``model.load_state_dict(...)`` with a
torchvision checkpoint: the parameter names are the same). No download is possible here, so the
backbone keeps its random initialisation: the recipe is what matters.

1. freeze every parameter, 2. replace ``fc`` with a new head (trainable by default),
3. train the head only, 4. check with a parameter snapshot that nothing else moved.
"""

from __future__ import annotations

import probe
import probe.nn as nn
import probe.nn.functional as F
from probe import nethook
from probe.datasets import synthetic_digits
from probe.models.resnet import resnet18
from probe.utils.data import DataLoader, TensorDataset

probe.manual_seed(0)

# Digits drawn at 32x32, repeated over 3 channels to look like RGB images.
images, labels = synthetic_digits(400, size=32, seed=0)
images = probe.from_numpy(images).expand(-1, 3, -1, -1).contiguous()
loader = DataLoader(TensorDataset(images, probe.from_numpy(labels)), batch_size=64, shuffle=True)

model = resnet18()  # pretend this is pretrained (1000 ImageNet classes)
nethook.set_requires_grad(False, model)  # 1. freeze the backbone
old_head = nethook.replace_module(model, "fc", nn.Linear(model.fc.in_features, 10))  # 2.
print(f"replaced {old_head} with {model.fc}")

trainable = [name for name, p in model.named_parameters() if p.requires_grad]
print("trainable parameters:", trainable)
snapshot = nethook.snapshot_parameters(model)

# Frozen BatchNorm layers should also keep their running statistics: eval mode for the
# backbone, train mode for the head only.
model.eval()
model.fc.train()
optimizer = probe.optim.Adam(model.fc.parameters(), lr=0.03)  # 3.
for epoch in range(5):
    total = correct = 0.0
    for batch, target in loader:
        optimizer.zero_grad()
        logits = model(batch)
        loss = F.cross_entropy(logits, target)
        loss.backward()  # gradients stop at fc: nothing upstream requires them
        optimizer.step()
        total += loss.item() * len(target)
        correct += (logits.argmax(1) == target).sum().item()
    print(f"epoch {epoch + 1}: loss {total / len(images):.4f}, "
          f"train accuracy {correct / len(images):.3f}")

# 4. Which parameters moved?
changed = snapshot.changed(model)
print("changed parameters:", changed)
assert sorted(changed) == ["fc.bias", "fc.weight"], changed
assert snapshot.diff(model)["layer4.1.conv2.weight"] == 0.0
print("only the new head was trained")
