"""Finding modules and parameters by their dotted names, and editing a model's structure.

Every name lookup in ``probe.nethook`` goes through here so that a typo fails the same way
everywhere: a ``LookupError`` that lists the closest existing names.
"""

from __future__ import annotations

import copy
import difflib
from collections import OrderedDict

from ..engine.tensor import Tensor
from ..nn.modules.container import Sequential
from ..nn.modules.module import Module

__all__ = [
    "get_module", "get_parameter", "module_names", "parameter_names", "replace_module",
    "set_requires_grad", "subsequence", "resolve_layers", "resolve_parameters",
    "name_lookup_error",
]


def name_lookup_error(kind, name, candidates):
    """A ``LookupError`` for an unknown ``kind`` name (``"layer"``, ``"parameter"``) that names
    the closest of ``candidates``."""
    candidates = list(candidates)
    close = difflib.get_close_matches(str(name), candidates, n=5, cutoff=0.5)
    if not close:
        # Short or very different names rarely reach the cutoff; suffix matches still help
        # ("fc" -> "encoder.fc").
        close = [c for c in candidates if c.endswith("." + str(name))][:5]
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return LookupError(f"unknown {kind} {name!r}{hint}")


def module_names(model):
    """The dotted names of ``model``'s submodules in registration order (the model itself,
    named ``""``, is left out).

    >>> import probe
    >>> module_names(probe.nn.Sequential(probe.nn.Linear(2, 2), probe.nn.ReLU()))
    ['0', '1']
    """
    return [name for name, _ in model.named_modules() if name]


def parameter_names(model):
    """The dotted names of ``model``'s parameters.

    >>> import probe
    >>> parameter_names(probe.nn.Sequential(probe.nn.Linear(2, 2)))
    ['0.weight', '0.bias']
    """
    return [name for name, _ in model.named_parameters()]


def _walk(model, name):
    """The module at dotted ``name`` (``""`` is ``model``), or None. Walks ``_modules`` so that a
    module shared under two names is found under both."""
    module = model
    if name == "":
        return module
    for part in name.split("."):
        children = getattr(module, "_modules", None)
        if children is None or part not in children or children[part] is None:
            return None
        module = children[part]
    return module


def get_module(model, name):
    """The submodule of ``model`` called ``name`` (dotted; ``""`` or None is ``model``).

    >>> import probe
    >>> net = probe.nn.Sequential(probe.nn.Linear(2, 3), probe.nn.ReLU())
    >>> get_module(net, "0")
    Linear(in_features=2, out_features=3, bias=True)
    """
    if name is None:
        return model
    found = _walk(model, name) if isinstance(name, str) else None
    if found is None:
        raise name_lookup_error("layer", name, module_names(model))
    return found


def get_parameter(model, name):
    """The parameter of ``model`` called ``name`` (dotted).

    >>> import probe
    >>> net = probe.nn.Sequential(probe.nn.Linear(2, 3))
    >>> get_parameter(net, "0.bias").shape
    probe.Size([3])
    """
    owner_name, _, attr = name.rpartition(".") if isinstance(name, str) else ("", "", None)
    owner = _walk(model, owner_name) if attr is not None else None
    params = getattr(owner, "_parameters", None) or {}
    param = params.get(attr)
    if param is None:
        raise name_lookup_error("parameter", name, parameter_names(model))
    return param


def resolve_layers(model, names):
    """The modules called ``names`` (a name or a list), all looked up before anything is done
    with them; raises one ``LookupError`` listing every unknown name with close matches.

    >>> import probe
    >>> net = probe.nn.Sequential(probe.nn.Linear(2, 2), probe.nn.ReLU())
    >>> [type(m).__name__ for m in resolve_layers(net, ["0", "1"])]
    ['Linear', 'ReLU']
    >>> resolve_layers(net, ["0", "00"])
    Traceback (most recent call last):
    ...
    LookupError: unknown layer '00'; did you mean '0'?
    """
    if names is None or isinstance(names, str):
        names = [names]
    found, errors = [], []
    for name in names:
        try:
            found.append(get_module(model, name))
        except LookupError as exc:
            errors.append(str(exc.args[0]))
    if errors:
        raise LookupError("; ".join(errors) if len(errors) > 1 else errors[0])
    return found


def resolve_parameters(model, names):
    """The parameters called ``names`` (a name or a list), all looked up first; raises one
    ``LookupError`` listing every unknown name with close matches."""
    if isinstance(names, str):
        names = [names]
    found, errors = [], []
    for name in names:
        try:
            found.append(get_parameter(model, name))
        except LookupError as exc:
            errors.append(str(exc.args[0]))
    if errors:
        raise LookupError("; ".join(errors))
    return found


def replace_module(model, name, new_module):
    """Put ``new_module`` at ``name`` in ``model`` and return the module it replaces. Works for
    top-level names and for indices of a Sequential (``"0"``, ``"layers.3"``).

    >>> import probe
    >>> net = probe.nn.Sequential(probe.nn.Linear(2, 2), probe.nn.ReLU())
    >>> replace_module(net, "1", probe.nn.Tanh())
    ReLU()
    >>> net[1]
    Tanh()
    """
    if not name:
        raise ValueError("replace_module needs the name of a submodule, not the model itself")
    old = get_module(model, name)
    parent_name, _, attr = name.rpartition(".")
    parent = get_module(model, parent_name)
    setattr(parent, attr, new_module)
    return old


def set_requires_grad(requires_grad, *models):
    """Set ``requires_grad`` on every parameter of the given modules and on the given tensors
    (lists and tuples of them are accepted too).

    >>> import probe
    >>> net = probe.nn.Linear(2, 2)
    >>> set_requires_grad(False, net)
    >>> net.weight.requires_grad
    False
    """
    for item in models:
        if isinstance(item, Module):
            for param in item.parameters():
                param.requires_grad_(requires_grad)
        elif isinstance(item, Tensor):
            item.requires_grad_(requires_grad)
        elif isinstance(item, list | tuple):
            set_requires_grad(requires_grad, *item)
        else:
            raise TypeError(
                f"set_requires_grad expects Modules or Tensors, got {type(item).__name__}"
            )


class SubsequenceLookupError(LookupError, ValueError):
    """A layer named in ``subsequence`` does not exist (a ``ValueError`` too, as in baukit)."""


def subsequence(sequential, first_layer=None, last_layer=None, after_layer=None,
                upto_layer=None, single_layer=None, share_weights=False):
    """A new Sequential holding part of ``sequential``: from ``first_layer`` (inclusive) or
    ``after_layer`` (exclusive) to ``last_layer`` (inclusive) or ``upto_layer`` (exclusive), or
    just ``single_layer``. Dotted names reach into nested Sequentials, which are trimmed too.
    Layers are deep copies unless ``share_weights``.

    >>> import probe
    >>> net = probe.nn.Sequential(probe.nn.Linear(2, 2), probe.nn.ReLU(), probe.nn.Linear(2, 1))
    >>> subsequence(net, after_layer="0")
    Sequential(
      (1): ReLU()
      (2): Linear(in_features=2, out_features=1, bias=True)
    )
    >>> subsequence(net, upto_layer="2", share_weights=True)[0] is net[0]
    True
    """
    if single_layer is not None:
        if any(x is not None for x in (first_layer, last_layer, after_layer, upto_layer)):
            raise ValueError("single_layer cannot be combined with other layer bounds")
        first_layer = last_layer = single_layer
    if first_layer is not None and after_layer is not None:
        raise ValueError("give first_layer or after_layer, not both")
    if last_layer is not None and upto_layer is not None:
        raise ValueError("give last_layer or upto_layer, not both")
    start = first_layer if first_layer is not None else after_layer
    end = last_layer if last_layer is not None else upto_layer
    result = _trim(
        sequential,
        None if start is None else start.split("."), after_layer is None,
        None if end is None else end.split("."), upto_layer is None,
        share_weights, "",
    )
    if result is None:
        result = Sequential()
        result.training = sequential.training
    return result


def _trim(seq, start, start_incl, end, end_incl, share, prefix):
    """The part of ``seq`` between the bounds (name paths relative to ``seq``), or None when
    nothing of a nested Sequential is kept."""
    if start is None and end is None:
        return seq if share else copy.deepcopy(seq)
    if not isinstance(seq, Sequential):
        raise ValueError(f"{prefix.rstrip('.') or 'the model'} is not a Sequential")
    kept = OrderedDict()
    started = start is None
    ended = False
    for name, child in seq._modules.items():
        sub_start = sub_end = None
        if not started:
            if name != start[0]:
                continue
            started = True
            if len(start) > 1:
                sub_start = start[1:]
            elif not start_incl:  # after_layer: begin with the next child
                if end is not None and end[0] == name:
                    ended = True
                    break
                continue
        at_end = end is not None and name == end[0]
        if at_end:
            if len(end) > 1:
                sub_end = end[1:]
            elif not end_incl:  # upto_layer: this child is left out
                ended = True
                break
        if sub_start is not None or sub_end is not None:
            piece = _trim(child, sub_start, start_incl, sub_end, end_incl, share,
                          prefix + name + ".")
        else:
            piece = child if share else copy.deepcopy(child)
        if piece is not None:
            kept[name] = piece
        if at_end:
            ended = True
            break
    for bound, done in ((start, started), (end, ended or end is None)):
        if not done:
            missing = prefix + ".".join(bound)
            candidates = [prefix + n for n in module_names(seq)]
            raise SubsequenceLookupError(name_lookup_error("layer", missing, candidates).args[0])
    if not kept and prefix:
        return None
    result = Sequential(kept)
    result.training = seq.training
    return result
