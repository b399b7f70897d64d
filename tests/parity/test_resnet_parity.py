"""Parity of probe.models.resnet with a PyTorch ResNet written here with torchvision's names
(torchvision itself cannot be installed beside this torch): same weights, same logits, same
train-mode outputs, input gradients and BN running statistics."""

from __future__ import annotations

import numpy as np
import pytest

import probe
from probe.models.resnet import resnet18, resnet50

torch = pytest.importorskip("torch")
tnn = torch.nn


class TorchBasic(tnn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = tnn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.relu = tnn.ReLU(inplace=True)
        self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class TorchBottleneck(tnn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = tnn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.conv2 = tnn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.conv3 = tnn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = tnn.BatchNorm2d(planes * 4)
        self.relu = tnn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class TorchResNet(tnn.Module):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = tnn.BatchNorm2d(64)
        self.relu = tnn.ReLU(inplace=True)
        self.maxpool = tnn.MaxPool2d(3, 2, 1)
        for i, (planes, n) in enumerate(zip([64, 128, 256, 512], layers)):
            setattr(self, f"layer{i + 1}", self._make(block, planes, n, 1 if i == 0 else 2))
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(512 * block.expansion, num_classes)

    def _make(self, block, planes, n, stride):
        down = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            down = tnn.Sequential(
                tnn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                tnn.BatchNorm2d(planes * block.expansion))
        blocks = [block(self.inplanes, planes, stride, down)]
        self.inplanes = planes * block.expansion
        blocks += [block(self.inplanes, planes) for _ in range(1, n)]
        return tnn.Sequential(*blocks)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


BUILD = {
    "resnet18": (resnet18, lambda: TorchResNet(TorchBasic, [2, 2, 2, 2], num_classes=10)),
    "resnet50": (resnet50, lambda: TorchResNet(TorchBottleneck, [3, 4, 6, 3], num_classes=10)),
}


def _pair(name, seed=0):
    """A torch model with non-trivial BN parameters and statistics, and probe's copy of it."""
    torch.manual_seed(seed)
    probe_fn, torch_fn = BUILD[name]
    tmodel = torch_fn()
    with torch.no_grad():
        for m in tmodel.modules():
            if isinstance(m, tnn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    pmodel = probe_fn(num_classes=10)
    state = {k: probe.from_numpy(v.detach().numpy().copy())
             for k, v in tmodel.state_dict().items()}
    result = pmodel.load_state_dict(state)
    assert not result.missing_keys and not result.unexpected_keys
    assert list(pmodel.state_dict()) == list(tmodel.state_dict())
    return tmodel, pmodel


def _input(seed=1):
    return np.random.default_rng(seed).standard_normal((2, 3, 64, 64)).astype(np.float32)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_eval_logits_match(name):
    tmodel, pmodel = _pair(name)
    tmodel.eval()
    pmodel.eval()
    x = _input()
    with torch.no_grad():
        expected = tmodel(torch.from_numpy(x)).numpy()
    with probe.no_grad():
        got = pmodel(probe.from_numpy(x)).numpy()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)


def test_train_mode_outputs_grads_and_running_stats_match():
    tmodel, pmodel = _pair("resnet18")
    tmodel.train()
    pmodel.train()
    x = _input(2)
    tx = torch.from_numpy(x).requires_grad_()
    px = probe.from_numpy(x.copy()).requires_grad_()
    tout, pout = tmodel(tx), pmodel(px)
    np.testing.assert_allclose(pout.detach().numpy(), tout.detach().numpy(), atol=1e-4, rtol=1e-4)
    g = np.random.default_rng(3).standard_normal((2, 10)).astype(np.float32)
    tout.backward(torch.from_numpy(g))
    pout.backward(probe.from_numpy(g))
    np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), atol=1e-4, rtol=1e-3)
    tgrads = dict(tmodel.named_parameters())
    for pname, p in pmodel.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tgrads[pname].grad.numpy(),
                                   atol=1e-3, rtol=1e-3, err_msg=pname)
    tstate = tmodel.state_dict()
    for key, value in pmodel.state_dict().items():
        if "running" in key or "num_batches" in key:
            np.testing.assert_allclose(value.numpy(), tstate[key].numpy(),
                                       atol=1e-5, rtol=1e-4, err_msg=key)
