"""probe.models.hub.load_into keeps a checkpoint's per-module versions (``_metadata``)."""

from __future__ import annotations

from collections import OrderedDict

import pytest

import probe.nn as nn
from probe.models.hub import load_into


def _net():
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def _checkpoint(prefix="", versions=True):
    sd = OrderedDict((prefix + k, v.clone()) for k, v in _net().state_dict().items()
                     if not k.endswith("num_batches_tracked"))
    if versions:
        base = prefix.rstrip(".")
        sd._metadata = OrderedDict([(base, {"version": 1}),
                                    (prefix + "0", {"version": 1}),
                                    (prefix + "1", {"version": 2})])
    return sd


def test_versions_reach_the_modules():
    # Version 2 BatchNorm checkpoints always hold num_batches_tracked: its absence is reported.
    with pytest.raises(RuntimeError, match="1.num_batches_tracked"):
        load_into(_net(), _checkpoint())
    # A checkpoint without versions is an old one: the count is filled in, as PyTorch does.
    assert load_into(_net(), _checkpoint(versions=False)).ok


def test_versions_follow_a_stripped_base_prefix():
    with pytest.raises(RuntimeError, match="1.num_batches_tracked"):
        load_into(_net(), _checkpoint("bert."), base_prefix="bert.")
    assert load_into(_net(), _checkpoint("bert.", versions=False), base_prefix="bert.").ok
