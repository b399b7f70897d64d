"""probe.models.resnet: torchvision's names, shapes, init, modes."""

import pytest

import probe
from probe.models.resnet import BasicBlock, Bottleneck, resnet18, resnet34, resnet50

CONFIGS = {
    "resnet18": (resnet18, "basic", [2, 2, 2, 2]),
    "resnet34": (resnet34, "basic", [3, 4, 6, 3]),
    "resnet50": (resnet50, "bottleneck", [3, 4, 6, 3]),
}


def _bn(prefix):
    return [f"{prefix}.{k}" for k in
            ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]


def expected_keys(kind, layers):
    """torchvision's state_dict key order, derived from the architecture."""
    keys = ["conv1.weight", *_bn("bn1")]
    n_convs = 2 if kind == "basic" else 3
    expansion = 1 if kind == "basic" else 4
    inplanes = 64
    for stage, (planes, blocks) in enumerate(zip([64, 128, 256, 512], layers), start=1):
        for b in range(blocks):
            p = f"layer{stage}.{b}"
            for c in range(1, n_convs + 1):
                keys += [f"{p}.conv{c}.weight", *_bn(f"{p}.bn{c}")]
            if b == 0 and (stage > 1 or inplanes != planes * expansion):
                keys += [f"{p}.downsample.0.weight", *_bn(f"{p}.downsample.1")]
        inplanes = planes * expansion
    return keys + ["fc.weight", "fc.bias"]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_state_dict_keys_match_torchvision(name):
    fn, kind, layers = CONFIGS[name]
    model = fn()
    assert list(model.state_dict()) == expected_keys(kind, layers)


def test_parameter_counts_match_torchvision():
    # torchvision's published parameter counts.
    counts = {"resnet18": 11689512, "resnet34": 21797672, "resnet50": 25557032}
    for name, n in counts.items():
        model = CONFIGS[name][0]()
        assert sum(p.numel() for p in model.parameters()) == n


def test_block_types_and_shapes():
    m18, m50 = resnet18(), resnet50()
    assert isinstance(m18.layer1[0], BasicBlock) and isinstance(m50.layer1[0], Bottleneck)
    assert m18.layer1[0].downsample is None
    assert isinstance(m50.layer1[0].downsample[0], probe.nn.Conv2d)
    assert tuple(m50.layer2[0].conv2.stride) == (2, 2)  # v1.5: stride on the 3x3
    assert tuple(m50.fc.weight.shape) == (1000, 2048)
    assert isinstance(m18.avgpool, probe.nn.AdaptiveAvgPool2d)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_forward_shapes_train_and_eval(name):
    probe.manual_seed(0)
    model = CONFIGS[name][0](num_classes=7)
    x = probe.randn(2, 3, 64, 64)
    assert model.training
    out = model(x)
    assert tuple(out.shape) == (2, 7)
    assert out.grad_fn is not None
    assert model.bn1.num_batches_tracked.item() == 1
    model.eval()
    with probe.no_grad():
        out_eval = model(x)
    assert tuple(out_eval.shape) == (2, 7)
    assert model.bn1.num_batches_tracked.item() == 1  # eval does not update BN statistics
    with probe.no_grad():
        assert probe.equal(model(x), out_eval)  # eval is deterministic


def test_backward_reaches_every_parameter():
    model = resnet18(num_classes=3)
    model(probe.randn(2, 3, 32, 32)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_init_follows_torchvision():
    probe.manual_seed(0)
    model = resnet18()
    w = model.layer3[0].conv1.weight  # 256 x 128 x 3 x 3, fan_out = 256 * 9
    expected_std = (2.0 / (256 * 9)) ** 0.5
    assert abs(w.std().item() - expected_std) / expected_std < 0.05
    assert probe.equal(model.bn1.weight, probe.ones(64))
    assert probe.equal(model.bn1.bias, probe.zeros(64))


def test_zero_init_residual():
    m18 = resnet18(zero_init_residual=True)
    assert probe.equal(m18.layer2[1].bn2.weight, probe.zeros(128))
    assert probe.equal(m18.layer2[1].bn1.weight, probe.ones(128))
    m50 = resnet50(zero_init_residual=True)
    assert probe.equal(m50.layer4[2].bn3.weight, probe.zeros(2048))


@pytest.mark.parametrize("fn", [resnet18, resnet34, resnet50])
def test_pretrained_weights_raise_clear_error(fn):
    with pytest.raises(ValueError, match="load_state_dict"):
        fn(weights="IMAGENET1K_V1")


def test_state_dict_round_trip():
    a, b = resnet18(num_classes=4), resnet18(num_classes=4)
    b.load_state_dict(a.state_dict())
    a.eval()
    b.eval()
    x = probe.randn(1, 3, 32, 32)
    with probe.no_grad():
        assert probe.equal(a(x), b(x))
