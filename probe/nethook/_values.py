"""Helpers over nested layer values (tensors inside tuples, lists and dicts) shared by nethook.

Layer outputs are often not a single tensor: attention blocks return ``(hidden, weights)``,
transformer layers return ``(hidden, cache)`` where the cache is an arbitrary object, and model
outputs are dicts. Everything here recurses through tuples (named tuples included), lists and
dicts, applies a function to the tensors, and passes every other value (None, ints, cache
objects) through untouched.
"""

from __future__ import annotations

import inspect

from ..engine.grad_mode import STATE
from ..engine.tensor import Tensor

__all__ = ["map_tensors", "recursive_copy", "invoke_with_optional_args"]


def map_tensors(fn, value):
    """Apply ``fn`` to every tensor in ``value``, rebuilding tuples, lists and dicts around the
    results; other values are returned as they are.

    >>> import probe
    >>> out = map_tensors(lambda t: t * 2, (probe.ones(2), None, {"n": 3, "t": probe.ones(1)}))
    >>> out
    (tensor([2., 2.]), None, {'n': 3, 't': tensor([2.])})
    """
    if isinstance(value, Tensor):
        return fn(value)
    if isinstance(value, tuple):
        items = [map_tensors(fn, v) for v in value]
        if hasattr(value, "_fields"):  # a named tuple takes its fields positionally
            return type(value)(*items)
        return _rebuild(value, items, tuple)
    if isinstance(value, list):
        return _rebuild(value, [map_tensors(fn, v) for v in value], list)
    if isinstance(value, dict):
        return _rebuild(value, [(k, map_tensors(fn, v)) for k, v in value.items()], dict)
    return value


def _rebuild(original, items, fallback):
    # Keep the container's own type (OrderedDict, a model-output dict class...) when it can be
    # built from its items; otherwise fall back to the plain builtin rather than failing.
    kind = type(original)
    if kind is fallback:
        return fallback(items)
    try:
        return kind(items)
    except Exception:
        return fallback(items)


def _copy_tensor(t, clone, detach, retain_grad):
    if retain_grad:
        # The retained tensor must be the graph node itself (a clone or a detached copy would
        # never receive a gradient). Like baukit, an output that does not require grad (a frozen
        # model) is made to, so that gradients of activations can still be traced.
        if not t.requires_grad and t.grad_fn is None and STATE.enabled and t.is_floating_point():
            t.requires_grad_(True)
        if t.requires_grad:
            if t.grad_fn is not None:
                t.retain_grad()
            return t
    if detach:
        t = t.detach()
    if clone:
        t = t.clone()
    return t


def recursive_copy(value, clone=False, detach=False, retain_grad=False):
    """``value`` with every tensor detached and/or cloned (recursing through containers).

    With ``retain_grad`` a tensor that requires grad is kept as it is (it must stay in the graph)
    and ``retain_grad()`` is called on it, so its ``.grad`` is filled by ``backward``.

    >>> import probe
    >>> x = probe.ones(2, requires_grad=True) * 2
    >>> copied = recursive_copy((x, 7), detach=True)
    >>> copied[0].grad_fn is None, copied[1]
    (True, 7)
    """
    if not (clone or detach or retain_grad):
        return value
    return map_tensors(lambda t: _copy_tensor(t, clone, detach, retain_grad), value)


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def invoke_with_optional_args(fn, *args, **kwargs):
    """Call ``fn`` with only the arguments it declares (baukit's calling convention).

    Keyword arguments whose name matches a parameter go to that parameter; the remaining
    positional parameters are filled by the positional arguments, then the required ones by the
    unmatched keyword arguments, in order (unlike baukit, a parameter with a default keeps it
    rather than receiving an unrelated value); what ``fn`` cannot accept is dropped (``**kwargs``
    in ``fn`` accepts the rest by name); a required parameter nothing can fill raises
    ``TypeError``.

    >>> invoke_with_optional_args(lambda output: output + 1, output=1, layer="fc")
    2
    >>> invoke_with_optional_args(lambda x, name: (x, name), output=1, layer="fc")
    (1, 'fc')
    >>> invoke_with_optional_args(lambda layer, output: layer, output=1, layer="fc")
    'fc'
    """
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # no signature (some builtins): pass everything
        return fn(*args, **kwargs)
    pending_pos = list(args)
    # Names matched by parameters are consumed first, whatever their position.
    named = {p.name for p in params if p.kind != inspect.Parameter.VAR_POSITIONAL
             and p.kind != inspect.Parameter.VAR_KEYWORD}
    leftovers = [(k, v) for k, v in kwargs.items() if k not in named]
    call_args, call_kwargs = [], {}
    missing = []
    for p in params:
        if p.kind in _POSITIONAL:
            if p.name in kwargs:
                value = kwargs[p.name]
            elif pending_pos:
                value = pending_pos.pop(0)
            elif p.default is not inspect.Parameter.empty:
                value = p.default
            elif leftovers:
                value = leftovers.pop(0)[1]
            else:
                missing.append(p.name)
                continue
            call_args.append(value)
        elif p.kind == inspect.Parameter.VAR_POSITIONAL:
            call_args.extend(pending_pos)
            pending_pos = []
        elif p.kind == inspect.Parameter.KEYWORD_ONLY:
            if p.name in kwargs:
                call_kwargs[p.name] = kwargs[p.name]
            elif p.default is inspect.Parameter.empty:
                missing.append(p.name)
        else:  # **kwargs takes whatever keyword arguments no parameter claimed
            call_kwargs.update(leftovers)
            leftovers = []
    if missing:
        name = getattr(fn, "__name__", type(fn).__name__)
        raise TypeError(f"{name}() cannot be passed {', '.join(missing)}")
    return fn(*call_args, **call_kwargs)
