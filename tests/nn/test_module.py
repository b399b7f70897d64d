"""Module registration, iteration, state dicts, modes, conversion and repr."""

from __future__ import annotations

import pytest

import probe
from probe import nn


class Affine(nn.Module):
    def __init__(self, n=3, bias=True):
        super().__init__()
        self.weight = nn.Parameter(probe.ones(n))
        if bias:
            self.bias = nn.Parameter(probe.zeros(n))
        else:
            self.register_parameter("bias", None)
        self.register_buffer("running", probe.zeros(n))
        self.register_buffer("scratch", probe.zeros(1), persistent=False)

    def forward(self, x):
        return x * self.weight + (self.bias if self.bias is not None else 0)

    def extra_repr(self):
        return f"n={self.weight.shape[0]}"


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Affine()
        self.body = nn.Sequential(Affine(), Affine(bias=False))
        self.shared = self.a  # the same module twice: iterated once

    def forward(self, x):
        return self.body(self.a(x))


def test_named_parameters_buffers_modules():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "a.weight", "a.bias", "body.0.weight", "body.0.bias", "body.1.weight"]
    assert [n for n, _ in net.named_buffers()] == [
        "a.running", "a.scratch", "body.0.running", "body.0.scratch", "body.1.running",
        "body.1.scratch"]
    assert [n for n, _ in net.named_modules()] == ["", "a", "body", "body.0", "body.1"]
    assert [n for n, _ in net.named_children()] == ["a", "body"]
    assert len(list(net.named_modules(remove_duplicate=False))) == 6
    assert [n for n, _ in net.named_parameters(prefix="net", recurse=False)] == []
    assert [n for n, _ in net.a.named_parameters(prefix="x")] == ["x.weight", "x.bias"]


def test_state_dict_keys_share_storage_and_exclude_non_persistent():
    net = Net()
    sd = net.state_dict()
    # A module registered twice is saved under both names, as PyTorch does.
    assert list(sd) == ["a.weight", "a.bias", "a.running", "body.0.weight", "body.0.bias",
                        "body.0.running", "body.1.weight", "body.1.running", "shared.weight",
                        "shared.bias", "shared.running"]
    assert not sd["a.weight"].requires_grad
    sd["a.weight"][0] = 5.0
    assert net.a.weight[0].item() == 5.0


def test_load_state_dict_roundtrip_and_errors_change_nothing():
    src, dst = Net(), Net()
    with probe.no_grad():
        for p in src.parameters():
            p.add_(1.5)
    assert str(dst.load_state_dict(src.state_dict())) == "<All keys matched successfully>"
    assert dst.a.bias.tolist() == [1.5, 1.5, 1.5]

    fresh = Net()
    bad = src.state_dict()
    bad["extra"] = probe.zeros(1)
    del bad["a.bias"]
    bad["body.0.weight"] = probe.zeros(4)
    with pytest.raises(RuntimeError) as info:
        fresh.load_state_dict(bad)
    msg = str(info.value)
    assert msg.startswith("Error(s) in loading state_dict for Net:\n\t")
    assert 'Missing key(s) in state_dict: "a.bias". ' in msg
    assert 'Unexpected key(s) in state_dict: "extra". ' in msg
    assert "size mismatch for body.0.weight: copying a param with shape" in msg
    # Nothing was loaded: a.weight still has its initial value.
    assert fresh.a.weight.tolist() == [1.0, 1.0, 1.0]


def test_load_state_dict_non_strict_reports_keys():
    net = Net()
    sd = net.state_dict()
    del sd["a.bias"]
    sd["extra"] = probe.zeros(1)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["a.bias"]
    assert result.unexpected_keys == ["extra"]


def test_train_eval_requires_grad_zero_grad():
    net = Net()
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    net.requires_grad_(True)
    for p in net.parameters():
        p.grad = probe.ones_like(p)
    net.zero_grad(set_to_none=False)
    assert all(p.grad.tolist() == [0.0] * 3 for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_setattr_rules_and_errors():
    m = Affine()
    with pytest.raises(TypeError, match="cannot assign .* as parameter 'weight'"):
        m.weight = probe.ones(3)
    m.weight = None
    assert m.weight is None
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        m.missing  # noqa: B018
    m.running = probe.ones(3)  # a tensor assigned to a buffer name stays a buffer
    assert "running" in m._buffers
    del m.running
    assert "running" not in m._buffers

    class Early(nn.Module):
        def __init__(self):
            self.p = nn.Parameter(probe.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_get_submodule_parameter_and_apply():
    net = Net()
    assert net.get_submodule("body.1") is net.body[1]
    assert net.get_parameter("body.0.bias") is net.body[0].bias
    with pytest.raises(AttributeError):
        net.get_submodule("body.7")
    visited = []
    net.apply(lambda m: visited.append(type(m).__name__))
    assert visited == ["Affine", "Affine", "Affine", "Sequential", "Net"]


def test_to_double_keeps_parameter_objects():
    net = Net()
    w = net.a.weight
    net.double()
    assert net.a.weight is w and w.dtype == probe.float64
    assert net.a.running.dtype == probe.float64
    net.to(probe.float32)
    assert w.dtype == probe.float32


def test_repr_nested_like_pytorch():
    net = Net()
    assert repr(net) == (
        "Net(\n"
        "  (a): Affine(n=3)\n"
        "  (body): Sequential(\n"
        "    (0): Affine(n=3)\n"
        "    (1): Affine(n=3)\n"
        "  )\n"
        "  (shared): Affine(n=3)\n"
        ")"
    )


def test_sequential_indexing_slicing_assignment():
    seq = nn.Sequential(Affine(1), Affine(2), Affine(3))
    assert seq[-1].weight.shape == (3,)
    assert len(seq[1:]) == 2 and isinstance(seq[1:], nn.Sequential)
    seq[2] = Affine(4)
    assert seq[2].weight.shape == (4,)
    del seq[0]
    assert [n for n, _ in seq.named_children()] == ["0", "1"]
    seq.append(Affine(5))
    assert len(seq) == 3


def test_module_list_dict_parameter_list_dict():
    ml = nn.ModuleList([Affine(1), Affine(1)])
    ml.append(Affine(2))
    assert len(list(ml.parameters())) == 6
    assert repr(ml).startswith("ModuleList(\n  (0-1): 2 x Affine(n=1)\n  (2): Affine(n=2)")
    md = nn.ModuleDict({"x": Affine(1)})
    md["y"] = Affine(2)
    assert list(md.keys()) == ["x", "y"]
    pl = nn.ParameterList([probe.ones(2), nn.Parameter(probe.zeros(3))])
    assert all(isinstance(p, nn.Parameter) for p in pl)
    assert [n for n, _ in pl.named_parameters()] == ["0", "1"]
    pd = nn.ParameterDict({"a": probe.ones(1)})
    assert [n for n, _ in pd.named_parameters()] == ["a"]


def test_parameter_repr_and_requires_grad():
    p = nn.Parameter(probe.tensor([1.0, 2.0]))
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    q = nn.Parameter(probe.tensor([1.0]), requires_grad=False)
    assert repr(q) == "Parameter containing:\ntensor([1.])"
    assert p.is_leaf and isinstance(p, probe.Tensor)
