"""Per-module state-dict versions: ``state_dict()._metadata``, ``_load_from_state_dict``
upgrades (BatchNorm's ``num_batches_tracked``, InstanceNorm's pre-0.4 running statistics), and
the guarantees around them (the caller's dict is never changed, a failed load changes nothing,
probe's own round trips keep the versions)."""

from __future__ import annotations

import copy
import io
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import probe
from probe import nn
from probe.serialization import CheckpointError


def _np(t):
    return t.detach().cpu().numpy()


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.norm = nn.InstanceNorm1d(4)  # no running stats, no parameters: not used

    def forward(self, x):
        return self.bn(self.fc(x))


def model():
    probe.manual_seed(0)
    return nn.Sequential(Block(), nn.Sequential(nn.Linear(4, 2), nn.BatchNorm1d(2)))


def _strip(sd, *suffixes):
    """A plain dict (no version) without the keys ending in ``suffixes``."""
    return {k: v for k, v in sd.items() if not k.endswith(suffixes)}


# ---------------------------------------------------------------------------------------------
# _version and state_dict()._metadata
# ---------------------------------------------------------------------------------------------

def test_versions():
    assert nn.Module._version == 1 and nn.Linear._version == 1
    for cls in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.InstanceNorm1d,
                nn.InstanceNorm2d, nn.InstanceNorm3d):
        assert cls._version == 2


def test_state_dict_metadata():
    sd = model().state_dict()
    assert type(sd) is OrderedDict and type(sd._metadata) is OrderedDict
    assert list(sd._metadata.items()) == [
        ("", {"version": 1}), ("0", {"version": 1}), ("0.fc", {"version": 1}),
        ("0.bn", {"version": 2}), ("0.norm", {"version": 2}), ("1", {"version": 1}),
        ("1.0", {"version": 1}), ("1.1", {"version": 2})]


def test_state_dict_prefix_and_destination():
    net = nn.Sequential(nn.BatchNorm1d(2))
    sd = net.state_dict(prefix="m.")
    assert list(sd) == ["m.0.weight", "m.0.bias", "m.0.running_mean", "m.0.running_var",
                        "m.0.num_batches_tracked"]
    assert dict(sd._metadata) == {"m": {"version": 1}, "m.0": {"version": 2}}
    plain = {}
    assert net.state_dict(destination=plain) is plain and not hasattr(plain, "_metadata")
    assert len(plain) == 5
    dest = OrderedDict()
    dest._metadata = OrderedDict(other={"version": 7})
    net.state_dict(destination=dest, prefix="p.")
    assert dict(dest._metadata) == {"other": {"version": 7}, "p": {"version": 1},
                                    "p.0": {"version": 2}}


def test_state_dict_positional_args_warn_as_pytorch():
    net = nn.Linear(2, 2)
    dest = OrderedDict()
    with pytest.warns(FutureWarning, match="Positional args are being deprecated"):
        out = net.state_dict(dest, "x.")
    assert out is dest and list(dest) == ["x.weight", "x.bias"]


def test_shared_module_saved_and_loaded_under_both_names():
    lin = nn.Linear(1, 1)
    net = nn.Sequential(lin, lin)
    sd = net.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert list(sd._metadata) == ["", "0", "1"]
    assert str(net.load_state_dict(sd)) == "<All keys matched successfully>"


def test_state_dict_post_hooks_get_local_metadata():
    net = model()
    seen = []

    def hook(module, destination, prefix, local_metadata):
        seen.append((prefix, local_metadata, set(destination)))

    net[0].bn.register_state_dict_post_hook(hook)
    net.register_state_dict_post_hook(hook)
    sd = net.state_dict()
    assert [(p, m) for p, m, _ in seen] == [("0.bn.", {"version": 2}), ("", {"version": 1})]
    assert seen[0][1] is sd._metadata["0.bn"]
    assert seen[1][2] == set(sd)  # the root's hook runs after the children were saved


def test_state_dict_hook_may_replace_the_dict_at_any_depth():
    net = nn.Sequential(nn.Linear(1, 1))

    def replace(module, destination, prefix, local_metadata):
        out = OrderedDict((k, v) for k, v in destination.items())
        out["extra"] = probe.zeros(1)
        return out

    net[0].register_state_dict_post_hook(replace)
    assert list(net.state_dict()) == ["0.weight", "0.bias", "extra"]


def test_metadata_survives_deepcopy_pickle_and_probe_save():
    sd = model().state_dict()
    assert copy.deepcopy(sd)._metadata == sd._metadata
    assert pickle.loads(pickle.dumps(sd))._metadata == sd._metadata
    buf = io.BytesIO()
    probe.save({"model": sd, "step": 3}, buf)
    buf.seek(0)
    loaded = probe.load(buf)["model"]
    assert type(loaded._metadata) is OrderedDict
    assert list(loaded._metadata.items()) == list(sd._metadata.items())
    plain = io.BytesIO()
    probe.save(OrderedDict(a=probe.ones(1)), plain)
    plain.seek(0)
    assert not hasattr(probe.load(plain), "_metadata")


def test_probe_save_rejects_metadata_it_cannot_store(tmp_path):
    sd = nn.Linear(1, 1).state_dict()
    sd._metadata[""]["fn"] = print
    with pytest.raises(TypeError, match="_metadata"):
        probe.save(sd, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_malformed_metadata_in_a_probe_checkpoint():
    import json
    import zlib

    from probe.engine import serialization as ser

    buf = io.BytesIO()
    probe.save(OrderedDict(a=1), buf)
    raw = buf.getvalue()
    magic, ver, hlen, _, _ = ser._PREFIX.unpack_from(raw)
    header = json.loads(raw[ser._PREFIX.size:ser._PREFIX.size + hlen])
    header["root"]["metadata"] = [1, 2]
    body = json.dumps(header).encode("ascii")
    out = ser._PREFIX.pack(magic, ver, len(body), zlib.crc32(body), 0) + body
    out += b"\0" * (-len(out) % 64)
    with pytest.raises(CheckpointError, match="metadata must be a dict"):
        probe.load(io.BytesIO(out))


# ---------------------------------------------------------------------------------------------
# BatchNorm: num_batches_tracked added in version 2
# ---------------------------------------------------------------------------------------------

def test_missing_num_batches_tracked_without_version_is_filled_in():
    src = model()
    src.train()
    src(probe.randn(5, 3))
    src(probe.randn(5, 3))
    old = _strip(src.state_dict(), "num_batches_tracked")
    dst = model()
    dst[0].bn.num_batches_tracked.fill_(7)
    result = dst.load_state_dict(old)
    assert result.missing_keys == [] and result.unexpected_keys == []
    # The module keeps its own count; everything else is loaded.
    assert dst[0].bn.num_batches_tracked.item() == 7
    assert dst[1][1].num_batches_tracked.item() == 0
    np.testing.assert_array_equal(_np(dst[0].bn.running_mean), _np(src[0].bn.running_mean))
    assert dst[0].bn.num_batches_tracked.dtype == probe.int64


@pytest.mark.parametrize("version", [None, 0, 1])
def test_old_versions_fill_in_num_batches_tracked(version):
    bn = nn.BatchNorm1d(2)
    sd = OrderedDict((k, v) for k, v in nn.BatchNorm1d(2).state_dict().items()
                     if k != "num_batches_tracked")
    sd._metadata = OrderedDict([("", {} if version is None else {"version": version})])
    assert bn.load_state_dict(sd).missing_keys == []


def test_version_2_reports_missing_num_batches_tracked():
    bn = nn.BatchNorm1d(2)
    sd = bn.state_dict()
    del sd["num_batches_tracked"]
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: '
                                           '"num_batches_tracked". $'):
        bn.load_state_dict(sd)
    assert bn.load_state_dict(sd, strict=False).missing_keys == ["num_batches_tracked"]


def test_no_fill_in_without_running_stats():
    bn = nn.BatchNorm1d(2, track_running_stats=False)
    assert bn.load_state_dict({"weight": probe.ones(2), "bias": probe.zeros(2)}).missing_keys \
        == []
    assert bn.num_batches_tracked is None


def test_pytorch_03_scalar_as_one_element_vector():
    bn = nn.BatchNorm1d(2)
    sd = dict(bn.state_dict())
    sd["num_batches_tracked"] = probe.tensor([5])
    bn.load_state_dict(sd)
    assert bn.num_batches_tracked.shape == () and bn.num_batches_tracked.item() == 5


def test_resnet18_checkpoint_without_num_batches_tracked():
    from probe.models.resnet import resnet18

    src = resnet18(num_classes=10)
    old = _strip(src.state_dict(), "num_batches_tracked")
    assert len(old) < len(src.state_dict())
    dst = resnet18(num_classes=10)
    assert str(dst.load_state_dict(old)) == "<All keys matched successfully>"
    np.testing.assert_array_equal(_np(dst.fc.weight), _np(src.fc.weight))


# ---------------------------------------------------------------------------------------------
# InstanceNorm: running statistics without a version
# ---------------------------------------------------------------------------------------------

def _in_message(names, klass="InstanceNorm1d"):
    return (f"Unexpected running stats buffer(s) {names} for {klass} with "
            "track_running_stats=False. If state_dict is a checkpoint saved before 0.4.0, this "
            f"may be expected because {klass} does not track running stats by default since "
            "0.4.0. Please remove these keys from state_dict. If the running stats are actually "
            f"needed, instead set track_running_stats=True in {klass} to enable them. See the "
            f"documentation of {klass} for details.")


@pytest.mark.parametrize("strict", [True, False])
def test_instance_norm_running_stats_without_version(strict):
    m = nn.InstanceNorm1d(2, affine=True)
    sd = {"weight": probe.full((2,), 3.0), "bias": probe.zeros(2),
          "running_mean": probe.zeros(2), "running_var": probe.ones(2)}
    with pytest.raises(RuntimeError) as info:
        m.load_state_dict(sd, strict=strict)
    assert str(info.value) == ("Error(s) in loading state_dict for InstanceNorm1d:\n\t"
                               + _in_message('"running_mean" and "running_var"'))
    assert list(sd) == ["weight", "bias", "running_mean", "running_var"]  # caller's dict kept
    assert _np(m.weight).tolist() == [1, 1]  # nothing loaded


def test_instance_norm_nested_one_key_and_other_errors():
    net = nn.Sequential(nn.Linear(2, 2), nn.InstanceNorm2d(2))
    sd = {"0.weight": probe.zeros(2, 2), "1.running_var": probe.ones(2), "2.x": probe.ones(1)}
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    assert str(info.value) == (
        "Error(s) in loading state_dict for Sequential:\n\t"
        'Missing key(s) in state_dict: "0.bias". \n\t'
        'Unexpected key(s) in state_dict: "2.x". \n\t'
        + _in_message('"1.running_var"', "InstanceNorm2d"))
    assert _np(net[0].weight).any()  # nothing loaded


def test_instance_norm_running_stats_with_a_version_are_just_unexpected():
    tracked = nn.InstanceNorm1d(2, track_running_stats=True)
    plain = nn.InstanceNorm1d(2)
    result = plain.load_state_dict(tracked.state_dict(), strict=False)
    assert result.unexpected_keys == ["running_mean", "running_var", "num_batches_tracked"]


def test_instance_norm_tracking_without_version_fills_in_num_batches_tracked():
    m = nn.InstanceNorm1d(2, track_running_stats=True)
    sd = {"running_mean": probe.ones(2), "running_var": probe.ones(2)}
    assert m.load_state_dict(sd).missing_keys == []
    assert _np(m.running_mean).tolist() == [1, 1]


# ---------------------------------------------------------------------------------------------
# load_state_dict: copies, atomicity, custom upgrades
# ---------------------------------------------------------------------------------------------

def test_round_trips_keep_versions_and_never_upgrade():
    src = model()
    src.train()
    src(probe.randn(4, 3))
    sd = src.state_dict()
    dst = model()
    assert str(dst.load_state_dict(sd)) == "<All keys matched successfully>"
    assert dst[0].bn.num_batches_tracked.item() == 1
    buf = io.BytesIO()
    probe.save(sd, buf)
    buf.seek(0)
    again = model()
    assert str(again.load_state_dict(probe.load(buf))) == "<All keys matched successfully>"
    assert again[0].bn.num_batches_tracked.item() == 1


def test_caller_dict_and_metadata_are_never_changed():
    net = model()
    sd = net.state_dict()
    del sd["0.bn.num_batches_tracked"]
    sd._metadata["0.bn"] = {"version": 1}
    before_keys, before_meta = list(sd), copy.deepcopy(sd._metadata)
    net.load_state_dict(sd, assign=True)
    net.load_state_dict(sd)
    assert list(sd) == before_keys and sd._metadata == before_meta


def test_failed_load_changes_nothing_across_modules():
    net = model()
    sd = {k: probe.full(v.shape, 9.0, dtype=v.dtype) for k, v in net.state_dict().items()}
    sd["0.norm.running_mean"] = probe.zeros(4)  # version None: an error, also non-strict
    with pytest.raises(RuntimeError, match="Unexpected running stats"):
        net.load_state_dict(sd, strict=False)
    assert not (_np(net[0].fc.weight) == 9).any()
    assert _np(net[1][1].running_var).tolist() == [1, 1]


class Renamed(nn.Module):
    """Version 2 renamed ``w`` to ``weight``: the upgrade PyTorch modules write."""

    _version = 2

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(probe.zeros(2))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        if local_metadata.get("version", 1) < 2 and prefix + "w" in state_dict:
            state_dict[prefix + "weight"] = state_dict.pop(prefix + "w")
        if prefix + "bad" in state_dict:
            error_msgs.append("bad entry")
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)


def test_custom_upgrade_in_a_subclass():
    net = nn.Sequential(Renamed())
    sd = OrderedDict([("0.w", probe.ones(2))])
    sd._metadata = OrderedDict([("", {"version": 1}), ("0", {"version": 1})])
    assert str(net.load_state_dict(sd)) == "<All keys matched successfully>"
    assert _np(net[0].weight).tolist() == [1, 1] and list(sd) == ["0.w"]
    # At the current version the old name is not upgraded.
    sd._metadata["0"] = {"version": 2}
    assert net.load_state_dict(sd, strict=False) == (["0.weight"], ["0.w"])
    assert net.state_dict()._metadata["0"] == {"version": 2}


def test_error_from_an_upgrade_raises_even_non_strict_and_changes_nothing():
    net = nn.Sequential(nn.Linear(2, 2), Renamed())
    sd = {k: probe.full(v.shape, 4.0) for k, v in net.state_dict().items()}
    sd["1.bad"] = probe.zeros(1)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd, strict=False)
    assert str(info.value) == "Error(s) in loading state_dict for Sequential:\n\tbad entry"
    assert not (_np(net[0].weight) == 4).any()


def test_load_from_state_dict_called_directly_copies_at_once():
    lin = nn.Linear(2, 2)
    missing, unexpected, errors = [], [], []
    lin._load_from_state_dict({"w.weight": probe.ones(2, 2), "w.x": probe.ones(1)}, "w.", {},
                              True, missing, unexpected, errors)
    assert _np(lin.weight).tolist() == [[1, 1], [1, 1]]
    assert (missing, unexpected, errors) == (["w.bias"], ["w.x"], [])


def test_assign_keeps_working():
    bn = nn.BatchNorm1d(2)
    sd = {"weight": probe.full((2,), 2.0), "bias": probe.zeros(2),
          "running_mean": probe.ones(2), "running_var": probe.ones(2)}
    bn.load_state_dict(sd, assign=True)
    assert isinstance(bn.weight, nn.Parameter) and bn.weight.requires_grad
    assert _np(bn.weight).tolist() == [2, 2] and bn.num_batches_tracked.item() == 0


def test_load_pre_hook_edits_the_working_copy():
    lin = nn.Linear(2, 2)
    seen = []

    def hook(module, state_dict):
        seen.append(state_dict)
        state_dict["bias"] = state_dict.pop("b")

    lin.register_load_state_dict_pre_hook(hook)
    sd = {"weight": probe.ones(2, 2), "b": probe.full((2,), 3.0)}
    assert str(lin.load_state_dict(sd)) == "<All keys matched successfully>"
    assert _np(lin.bias).tolist() == [3, 3] and list(sd) == ["weight", "b"]
    assert seen[0] is not sd


def test_mapping_and_bad_inputs():
    from types import MappingProxyType

    lin = nn.Linear(1, 1)
    lin.load_state_dict(MappingProxyType({"weight": probe.ones(1, 1), "bias": probe.ones(1)}))
    assert lin.weight.item() == 1.0
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        lin.load_state_dict([("weight", probe.ones(1, 1))])
    bad = OrderedDict(weight=probe.zeros(1, 1), bias=probe.zeros(1))
    bad._metadata = [1]
    with pytest.raises(TypeError, match="_metadata"):
        lin.load_state_dict(bad)
    bad._metadata = OrderedDict([("", 1)])
    with pytest.raises(TypeError, match="_metadata"):
        lin.load_state_dict(bad)
    assert lin.weight.item() == 1.0
    weird = {"weight": probe.ones(1, 1), "bias": probe.ones(1), 3: probe.ones(1)}
    assert lin.load_state_dict(weird, strict=False).unexpected_keys == [3]
