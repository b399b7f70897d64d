"""ResNet-18/34/50 with torchvision's architecture and parameter names.

A torchvision ``state_dict`` (converted to probe tensors) loads one to one, and nethook layer names
are the familiar ones (``layer3.1.conv2``, ``fc``...). Pretrained weights cannot be downloaded here:
build the model, then ``load_state_dict`` the weights you have.

>>> import probe
>>> from probe.models.resnet import resnet18
>>> model = resnet18(num_classes=10).eval()
>>> model(probe.randn(1, 3, 32, 32)).shape
probe.Size([1, 10])
"""

from __future__ import annotations

from .. import nn

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50"]


def _conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided, as torchvision's v1.5), 1x1 expand, plus the residual."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = _conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's ResNet: stem, four stages of ``block``, global average pool, ``fc``."""

    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            # Each residual branch then starts as the identity, which helps very deep nets train.
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers.extend(block(self.inplanes, planes) for _ in range(1, blocks))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def _resnet(block, layers, num_classes, weights, zero_init_residual, name):
    if weights is not None:
        raise ValueError(
            f"{name}: pretrained weights cannot be downloaded by probe (weights={weights!r}). "
            f"Build the model with weights=None and load a state_dict instead, e.g. "
            f"model = {name}(); model.load_state_dict(probe.load('{name}.pt'))"
        )
    return ResNet(block, layers, num_classes=num_classes, zero_init_residual=zero_init_residual)


def resnet18(num_classes=1000, weights=None, zero_init_residual=False):
    """ResNet-18 (BasicBlock, [2, 2, 2, 2]) with torchvision's names and initialisation.

    >>> model = resnet18(num_classes=10)
    >>> model.fc.out_features
    10
    """
    return _resnet(BasicBlock, [2, 2, 2, 2], num_classes, weights, zero_init_residual, "resnet18")


def resnet34(num_classes=1000, weights=None, zero_init_residual=False):
    """ResNet-34 (BasicBlock, [3, 4, 6, 3]) with torchvision's names and initialisation."""
    return _resnet(BasicBlock, [3, 4, 6, 3], num_classes, weights, zero_init_residual, "resnet34")


def resnet50(num_classes=1000, weights=None, zero_init_residual=False):
    """ResNet-50 (Bottleneck, [3, 4, 6, 3]) with torchvision's names and initialisation."""
    return _resnet(Bottleneck, [3, 4, 6, 3], num_classes, weights, zero_init_residual, "resnet50")
