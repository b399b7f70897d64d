"""``probe.nethook``: capture, edit and trace what a model's layers compute.

baukit's ``nethook`` API (``Trace``, ``TraceDict``, ``StopForward``, ``get_module``,
``replace_module``, ``subsequence``...) and netdissect's ``InstrumentedModel``, built on
``probe.nn.Module``'s public hook API, with parameter editing by name and hook hygiene checks.

>>> import probe
>>> from probe import nethook
>>> net = probe.nn.Sequential(probe.nn.Linear(2, 3), probe.nn.ReLU(), probe.nn.Linear(3, 1))
>>> with nethook.TraceDict(net, ["0", "1"], detach=True) as td:
...     _ = net(probe.ones(4, 2))
>>> td["1"].output.shape
probe.Size([4, 3])
>>> nethook.assert_no_hooks(net)
"""

from ._values import invoke_with_optional_args, map_tensors, recursive_copy
from .hygiene import HookLeakWarning, assert_no_hooks, list_hooks
from .instrumented import InstrumentedModel
from .naming import (
    get_module,
    get_parameter,
    module_names,
    parameter_names,
    replace_module,
    resolve_layers,
    resolve_parameters,
    set_requires_grad,
    subsequence,
)
from .params import ParameterSnapshot, edit_parameters, snapshot_parameters
from .trace import StopForward, Trace, TraceDict

__all__ = [
    "Trace", "TraceDict", "StopForward", "InstrumentedModel",
    "get_module", "get_parameter", "module_names", "parameter_names", "replace_module",
    "set_requires_grad", "subsequence", "resolve_layers", "resolve_parameters",
    "edit_parameters", "snapshot_parameters", "ParameterSnapshot",
    "list_hooks", "assert_no_hooks", "HookLeakWarning",
    "map_tensors", "recursive_copy", "invoke_with_optional_args",
]
