"""The records the monitor produces and the UI reads: plain, JSON-serialisable dicts.

This module is the contract between ``probe.monitor`` (producer) and ``probe.tui`` (consumer);
neither imports the other's internals. One ``step`` record per monitored training step, ``status``
records when training changes state, ``meta`` once per run (also written to ``meta.json``).

Floats may be NaN or +-Inf in memory; the run log encodes them so the file stays valid JSON
(see ``runlog``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal, TypedDict

if TYPE_CHECKING:  # Python 3.11+; the annotations below are never evaluated at run time
    from typing import NotRequired

Severity = Literal["info", "warning", "critical"]
Policy = Literal["warn", "pause", "skip_step", "stop"]
State = Literal["running", "paused", "stopped", "finished", "failed"]
# The states after which no more records come.
ENDED_STATES = ("stopped", "finished", "failed")


class LayerStats(TypedDict):
    """Statistics of one parameter tensor for one step (key: the parameter's dotted name)."""

    layer: str  # the owning module's dotted name ("" for the root), for grouping by layer
    shape: list[int]
    grad_norm: float  # L2 norm of the gradient (NaN when any element is non-finite)
    grad_max: float  # max |grad|
    weight_norm: float  # L2 norm of the parameter after the step
    update_ratio: float | None  # ||applied update|| / ||weight before||, None before any step
    nonfinite: int  # count of NaN/Inf gradient elements


class ModuleStats(TypedDict):
    """The same statistics for one module (key: its dotted name, "" for the root), over its own
    parameters with a gradient: norms combine as the norm of all their values together."""

    params: list[str]  # the parameters it covers, e.g. ["fc.weight", "fc.bias"]
    grad_norm: float  # NaN when any gradient element is non-finite
    grad_max: float
    weight_norm: float
    update_ratio: float | None  # over the parameters whose update is known
    nonfinite: int


class Alert(TypedDict):
    rule: str  # "nonfinite", "exploding", "vanishing", "update_ratio", "dead_units", ...
    severity: Severity
    layer: str | None  # parameter name, or None for global alerts
    message: str
    step: int
    policy: Policy  # what the monitor did about it
    repeats: NotRequired[int]  # checks of the same rule and layer held back since its last alert


class StepRecord(TypedDict):
    type: Literal["step"]
    step: int  # global step, from 1
    epoch: int  # from 0
    time: float  # time.time() when recorded
    loss: float | None
    lr: float | None  # first param group's learning rate
    global_grad_norm: float  # before clipping
    global_grad_norm_clipped: float | None  # after clipping, when the user clipped
    params: dict[str, LayerStats]  # in the model's named_parameters() order
    layers: dict[str, ModuleStats]  # per module owning parameters, in the same order
    alerts: list[Alert]


class StatusRecord(TypedDict):
    type: Literal["status"]
    state: State
    step: int
    time: float
    reason: str | None


class MetaRecord(TypedDict):
    type: Literal["meta"]
    run_id: str
    started: float
    model: str  # repr(model), first lines
    params: dict[str, list[int]]  # name -> shape
    config: dict  # free-form: optimizer, lr, batch size, every, rules...


__all__ = ["ENDED_STATES", "Alert", "LayerStats", "MetaRecord", "ModuleStats", "Policy",
           "Severity", "State", "StatusRecord", "StepRecord", "module_totals"]


def module_totals(params: dict, ratio_parts: dict | None = None) -> dict[str, ModuleStats]:
    """Per module, its parameters' statistics combined: norms as the norm of all their values,
    the largest max, the summed non-finite count, and the update ratio over the parameters
    whose update is known (``ratio_parts``: name -> (update sq norm, weight sq norm before);
    without it, None). The monitor fills a step record's ``layers`` with it; a reader of a log
    written without ``layers`` can rebuild them from ``params``.

    >>> stats = {"layer": "fc", "grad_norm": 3.0, "grad_max": 2.0, "weight_norm": 1.0,
    ...          "nonfinite": 0}
    >>> module_totals({"fc.weight": stats, "fc.bias": dict(stats, grad_norm=4.0)})["fc"]
    ... # doctest: +NORMALIZE_WHITESPACE
    {'params': ['fc.weight', 'fc.bias'], 'grad_norm': 5.0, 'grad_max': 2.0,
     'weight_norm': 1.4142135623730951, 'update_ratio': None, 'nonfinite': 0}
    """
    ratio_parts = ratio_parts or {}
    totals: dict[str, list] = {}
    for name, s in params.items():
        t = totals.get(s["layer"])
        if t is None:  # [names, grad sq, grad max, weight sq, update sq, weight-before sq, bad]
            t = totals[s["layer"]] = [[], 0.0, 0.0, 0.0, 0.0, 0.0, 0]
        t[0].append(name)
        t[1] += s["grad_norm"] * s["grad_norm"]
        t[2] = max(t[2], s["grad_max"]) if s["grad_max"] == s["grad_max"] else math.nan
        t[3] += s["weight_norm"] * s["weight_norm"]
        parts = ratio_parts.get(name)
        if parts is not None:
            t[4] += parts[0]
            t[5] += parts[1]
        t[6] += s["nonfinite"]
    return {layer: {"params": names, "grad_norm": math.sqrt(gsq), "grad_max": gmax,
                    "weight_norm": math.sqrt(wsq),
                    "update_ratio": math.sqrt(usq) / math.sqrt(bsq) if bsq > 0 else None,
                    "nonfinite": bad}
            for layer, (names, gsq, gmax, wsq, usq, bsq, bad) in totals.items()}
