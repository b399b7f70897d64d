"""Parity with PyTorch for per-module state-dict versions: ``state_dict()._metadata``, loads of
checkpoints without ``num_batches_tracked``, InstanceNorm's pre-0.4 running-statistics error,
``strict=False`` results and error texts, on identical inputs in both libraries. (PyTorch may
copy part of a state dict before it raises; probe changes nothing, so only the outcome and the
message are compared after an error.)"""

from __future__ import annotations

import io
from collections import OrderedDict

import numpy as np
import pytest

import probe

torch = pytest.importorskip("torch")

from harness import probe_text  # noqa: E402


def build(L, shared=False):
    """The same nested model in either library, with the same values."""

    class Block(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = L.nn.Linear(3, 4)
            self.bn = L.nn.BatchNorm1d(4)
            self.norm = L.nn.InstanceNorm1d(4)
            self.tracked = L.nn.InstanceNorm1d(4, affine=True, track_running_stats=True)

    net = L.nn.Sequential(Block(), L.nn.Sequential(L.nn.Linear(4, 2), L.nn.BatchNorm2d(2)))
    if shared:
        net.add_module("again", net[0].fc)
    rng = np.random.default_rng(3)
    with L.no_grad():
        for name, t in net.state_dict(keep_vars=True).items():
            if name.endswith("num_batches_tracked"):
                t.fill_(int(rng.integers(1, 9)))
            else:
                t.copy_(L.tensor(rng.standard_normal(tuple(t.shape)).astype(np.float32)))
    return net


def arrays(L, **kw):
    return {k: v.detach().cpu().numpy().copy() for k, v in build(L, **kw).state_dict().items()}


def as_state_dict(L, arrs, metadata=None):
    sd = OrderedDict((k, L.tensor(v)) for k, v in arrs.items())
    if metadata is not None:
        sd._metadata = OrderedDict((k, dict(v)) for k, v in metadata.items())
    return sd


def values(net):
    return {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}


def load_both(arrs, metadata=None, strict=True, assign=False):
    """Load the same dict into a fresh model of each library: (result or error text) and the
    state afterwards (None after an error)."""
    out = []
    for L in (probe, torch):
        net = build(L)
        with L.no_grad():
            for t in net.state_dict().values():
                if t.dtype == L.int64:
                    t.fill_(11)
        try:
            result = net.load_state_dict(as_state_dict(L, arrs, metadata), strict=strict,
                                         assign=assign)
        except RuntimeError as exc:
            out.append((probe_text(str(exc)), None))
        else:
            out.append(((list(result.missing_keys), list(result.unexpected_keys)),
                        values(net)))
    (p_res, p_vals), (t_res, t_vals) = out
    assert p_res == t_res
    if t_vals is not None:
        assert list(p_vals) == list(t_vals)
        for k in t_vals:
            np.testing.assert_array_equal(p_vals[k], t_vals[k], err_msg=k)
    return p_res


def metadata_of(L, **kw):
    return [(k, dict(v)) for k, v in build(L, **kw).state_dict()._metadata.items()]


# ---------------------------------------------------------------------------------------------
# _metadata
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shared", [False, True])
def test_metadata_and_keys_match(shared):
    assert metadata_of(probe, shared=shared) == metadata_of(torch, shared=shared)
    assert list(build(probe, shared=shared).state_dict()) == \
        list(build(torch, shared=shared).state_dict())


def test_versions_match():
    for name in ("Module", "Linear", "Sequential", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
                 "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"):
        assert getattr(probe.nn, name)._version == getattr(torch.nn, name)._version, name


@pytest.mark.parametrize("prefix", ["", "m.", "m"])
def test_prefix_and_destination_match(prefix):
    got = []
    for L in (probe, torch):
        net = build(L)
        sd = net.state_dict(prefix=prefix)
        dest = OrderedDict()
        dest._metadata = OrderedDict()
        net[1].state_dict(destination=dest, prefix=prefix)
        plain = net[0].state_dict(destination={})
        got.append((list(sd), [(k, dict(v)) for k, v in sd._metadata.items()], list(dest),
                    list(dest._metadata), list(plain), hasattr(plain, "_metadata")))
    assert got[0] == got[1]


def test_torch_saved_state_dict_keeps_metadata():
    buf = io.BytesIO()
    tnet = build(torch)
    torch.save(tnet.state_dict(), buf)
    buf.seek(0)
    sd = probe.load(buf)
    assert [(k, dict(v)) for k, v in sd._metadata.items()] == metadata_of(torch)
    pnet = build(probe)
    assert str(pnet.load_state_dict(sd)) == "<All keys matched successfully>"
    for k, v in values(tnet).items():
        np.testing.assert_array_equal(values(pnet)[k], v, err_msg=k)


def test_old_torch_checkpoint_without_metadata_or_num_batches_tracked():
    old = OrderedDict((k, v) for k, v in build(torch).state_dict().items()
                      if not k.endswith("num_batches_tracked"))
    buf = io.BytesIO()
    torch.save(old, buf)  # an OrderedDict without _metadata, as PyTorch 0.3 wrote them
    buf.seek(0)
    sd = probe.load(buf)
    assert not hasattr(sd, "_metadata")
    pnet, tnet = build(probe), build(torch)
    assert list(pnet.load_state_dict(sd)) == list(tnet.load_state_dict(old)) == [[], []]
    for k, v in values(tnet).items():
        np.testing.assert_array_equal(values(pnet)[k], v, err_msg=k)


# ---------------------------------------------------------------------------------------------
# num_batches_tracked
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", [None, 1, 2, "none-at-all"])
@pytest.mark.parametrize("strict", [True, False])
def test_missing_num_batches_tracked(version, strict):
    arrs = {k: v for k, v in arrays(torch).items() if not k.endswith("num_batches_tracked")}
    metadata = None
    if version != "none-at-all":
        metadata = OrderedDict(metadata_of(torch))
        for key in ("0.bn", "0.tracked", "1.1"):
            metadata[key] = {} if version is None else {"version": version}
    load_both(arrs, metadata, strict=strict)


def test_only_some_modules_old():
    arrs = {k: v for k, v in arrays(torch).items() if not k.endswith("num_batches_tracked")}
    metadata = OrderedDict(metadata_of(torch))
    metadata["0.bn"] = {"version": 1}
    load_both(arrs, metadata, strict=False)
    load_both(arrs, metadata, strict=True)


def test_assign_with_old_checkpoint():
    arrs = {k: v for k, v in arrays(torch).items() if not k.endswith("num_batches_tracked")}
    load_both(arrs, None, assign=True)


def test_one_element_vector_into_a_scalar_buffer():
    arrs = arrays(torch)
    arrs["0.bn.num_batches_tracked"] = np.array([5], dtype=np.int64)
    load_both(arrs)


# ---------------------------------------------------------------------------------------------
# InstanceNorm without a version
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("keys", [("running_mean",), ("running_var",),
                                  ("running_mean", "running_var"),
                                  ("running_mean", "running_var", "num_batches_tracked")])
@pytest.mark.parametrize("with_metadata", [False, True])
def test_instance_norm_running_stats(strict, keys, with_metadata):
    arrs = arrays(torch)
    for k in keys:
        arrs["0.norm." + k] = np.ones(4, np.float32) if k != "num_batches_tracked" else \
            np.array(3, dtype=np.int64)
    metadata = None
    if with_metadata:  # a version for every module but the InstanceNorm
        metadata = OrderedDict(metadata_of(torch))
        del metadata["0.norm"]
    assert isinstance(load_both(arrs, metadata, strict=strict), str)


@pytest.mark.parametrize("cls", ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"])
def test_instance_norm_as_root(cls):
    texts = []
    for L in (probe, torch):
        m = getattr(L.nn, cls)(3)
        sd = {"running_var": L.ones(3), "running_mean": L.zeros(3)}
        with pytest.raises(RuntimeError) as info:
            m.load_state_dict(sd, strict=False)
        texts.append((str(info.value), list(sd)))
    assert texts[0] == texts[1]


def test_instance_norm_version_1_with_running_stats():
    arrs = arrays(torch)
    arrs["0.norm.running_mean"] = np.zeros(4, np.float32)
    metadata = OrderedDict(metadata_of(torch))
    metadata["0.norm"] = {"version": 1}
    load_both(arrs, metadata, strict=False)
    load_both(arrs, metadata, strict=True)


# ---------------------------------------------------------------------------------------------
# strict=False results and error texts
# ---------------------------------------------------------------------------------------------

def _perturbed():
    base = arrays(torch)
    cases = {"same": dict(base)}
    d = dict(base)
    del d["0.fc.bias"], d["1.1.running_var"]
    d["0.extra"] = np.zeros(1, np.float32)
    d["zzz"] = np.zeros(1, np.float32)
    d["0.fc.weight.sub"] = np.zeros(1, np.float32)
    d["1.5.weight"] = np.zeros(1, np.float32)
    cases["mixed"] = d
    d = dict(base)
    d["0.bn.weight"] = np.zeros(3, np.float32)
    del d["1.0.weight"]
    cases["size"] = d
    d = {k: v for k, v in reversed(list(base.items()))}
    cases["reversed"] = d
    return cases


@pytest.mark.parametrize("case", ["same", "mixed", "size", "reversed"])
@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("with_metadata", [False, True])
def test_results_and_errors_match(case, strict, with_metadata):
    metadata = OrderedDict(metadata_of(torch)) if with_metadata else None
    load_both(_perturbed()[case], metadata, strict=strict)


def test_caller_dict_unchanged_in_both():
    for L in (probe, torch):
        arrs = {k: v for k, v in arrays(torch).items() if not k.endswith("num_batches_tracked")}
        arrs["0.norm.running_mean"] = np.zeros(4, np.float32)
        sd = as_state_dict(L, arrs, OrderedDict([("", {"version": 1})]))
        keys = list(sd)
        with pytest.raises(RuntimeError):
            build(L).load_state_dict(sd, strict=False)
        assert list(sd) == keys and dict(sd._metadata) == {"": {"version": 1}}


def test_custom_upgrade_same_code_both_libraries():
    def make(L):
        class Renamed(L.nn.Module):
            _version = 2

            def __init__(self):
                super().__init__()
                self.weight = L.nn.Parameter(L.zeros(2))

            def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs):
                if local_metadata.get("version", 1) < 2 and prefix + "w" in state_dict:
                    state_dict[prefix + "weight"] = state_dict.pop(prefix + "w")
                super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                              missing_keys, unexpected_keys, error_msgs)

        return L.nn.Sequential(L.nn.Linear(1, 1), Renamed())

    got = []
    for L in (probe, torch):
        net = make(L)
        sd = OrderedDict([("0.weight", L.ones(1, 1)), ("0.bias", L.ones(1)),
                          ("1.w", L.full((2,), 3.0))])
        r1 = net.load_state_dict(sd)
        sd._metadata = OrderedDict([("1", {"version": 2})])
        r2 = net.load_state_dict(sd, strict=False)
        got.append((list(r1), list(r2), net[1].weight.tolist(),
                     [(k, dict(v)) for k, v in net.state_dict()._metadata.items()]))
    assert got[0] == got[1]
