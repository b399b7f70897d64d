"""``InstrumentedModel``: netdissect's wrapper that retains and edits layer outputs by name.

Each instrumented layer gets exactly one forward hook (a ``_LayerHook``) however many features
use it: its edit runs first, then the (edited) output is retained and/or cached. The hooks hold
the wrapper only weakly, so dropping an ``InstrumentedModel`` that was never closed lets it be
collected; its ``__del__`` then removes the hooks and warns (``HookLeakWarning``).
"""

from __future__ import annotations

import warnings
import weakref
from collections import OrderedDict

from ..engine.ops.creation import zeros_like
from ..engine.tensor import Tensor
from ..nn.modules.module import Module
from ._values import invoke_with_optional_args, map_tensors, recursive_copy
from .hygiene import HookLeakWarning, describe_hooks, is_nethook_hook, list_hooks
from .naming import module_names, resolve_layers

__all__ = ["InstrumentedModel"]


def _to_device(value, device):
    return map_tensors(lambda t: t.to(device), value)


def _check_calls(calls):
    if calls in ("last", "all") or (isinstance(calls, int) and not isinstance(calls, bool)):
        return calls
    raise ValueError(f"calls must be 'last', 'all' or an int, got {calls!r}")


class _RetainSpec:
    __slots__ = ("detach", "retain_grad", "device", "calls")

    def __init__(self, detach, retain_grad, device, calls):
        self.detach = detach
        self.retain_grad = retain_grad
        self.device = device
        self.calls = calls


class _LayerHook:
    """The one forward hook of an instrumented layer: edit, then retain, then cache."""

    __slots__ = ("name", "module", "handle", "owner_ref", "passes", "rule", "edit_kwargs",
                 "retain", "value", "values", "count", "pass_seen", "cache", "cache_device",
                 "__weakref__")

    def __init__(self, name, module, owner, passes):
        self.name = name
        self.module = module
        self.handle = None
        self.owner_ref = weakref.ref(owner)
        self.passes = passes  # [n]: the owner's forward-pass counter, shared
        self.rule = None
        self.edit_kwargs = {}
        self.retain = None
        self.value = None
        self.values = []
        self.count = 0
        self.pass_seen = -1
        self.cache = None
        self.cache_device = None

    @property
    def used(self):
        return self.rule is not None or self.retain is not None or self.cache is not None

    def attach(self):
        if self.handle is None:
            self.handle = self.module.register_forward_hook(self)

    def detach_hook(self):
        if self.handle is not None:
            self.handle.remove()
            self.handle = None

    def __call__(self, module, args, output):
        edited = self.rule is not None
        if edited:
            output = invoke_with_optional_args(
                self.rule, output, imodel=self.owner_ref(), name=self.name, **self.edit_kwargs)
        spec = self.retain
        if spec is not None:
            self._record(output, spec)
        if self.cache is not None:
            kept = recursive_copy(output, detach=True)
            if self.cache_device is not None:
                kept = _to_device(kept, self.cache_device)
            self.cache[self.name] = kept
        return output if edited else None

    def _keep(self, output, spec):
        if spec.retain_grad:
            # The graph node itself: .grad is filled on it by backward.
            return recursive_copy(output, retain_grad=True)
        kept = recursive_copy(output, detach=spec.detach)
        if spec.device is not None:
            kept = _to_device(kept, spec.device)
        return kept

    def _record(self, output, spec):
        calls = spec.calls
        if calls == "last":
            self.value = self._keep(output, spec)
            return
        current = self.passes[0]
        if self.pass_seen != current:  # first call in this forward pass
            self.pass_seen = current
            self.count = 0
            self.values = []
            self.value = None
        n = self.count
        self.count = n + 1
        if calls == "all" or calls < 0:
            self.values.append(self._keep(output, spec))
        elif n == calls:
            self.value = self._keep(output, spec)

    def clear_values(self):
        self.value = None
        self.values = []
        self.pass_seen = -1

    def retained(self):
        spec = self.retain
        calls = spec.calls
        if calls == "all":
            raw = list(self.values)
        elif isinstance(calls, int) and calls < 0:
            raw = self.values[calls] if len(self.values) >= -calls else None
        else:
            raw = self.value
        if spec.retain_grad:
            if spec.detach:
                raw = recursive_copy(raw, detach=True)
            if spec.device is not None:
                raw = _to_device(raw, spec.device)
        return raw


def _matching(value, x):
    """``value`` (number, tensor or array) ready to combine with ``x``: on its device and dtype,
    and a 1-D vector of channel values laid along dim 1 (``(C,)`` -> ``(C, 1, 1)`` for
    ``(N, C, H, W)``) when it matches that dim, else broadcast from the last dim."""
    if isinstance(value, bool | int | float):
        return value
    if not isinstance(value, Tensor):
        from ..engine.ops.creation import as_tensor  # noqa: PLC0415

        value = as_tensor(value)
    if value.device != x.device or value.dtype != x.dtype:
        value = value.to(device=x.device, dtype=x.dtype)
    if value.dim() == 1 and x.dim() > 2 and value.shape[0] == x.shape[1]:
        value = value.reshape(value.shape[0], *([1] * (x.dim() - 2)))
    return value


def ablate_replace(x, ablation=None, replacement=None):
    """The default edit rule: ``x * (1 - ablation) + replacement * ablation``.

    ``ablation`` and ``replacement`` are numbers or tensors (1-D channel vectors broadcast over
    the other dims); ``replacement`` alone replaces fully (``ablation=1``), ``ablation`` alone
    scales towards zero.
    """
    if ablation is None and replacement is None:
        return x
    if not isinstance(x, Tensor):
        raise TypeError(
            f"the default edit rule needs a tensor output, got {type(x).__name__}; "
            "pass rule=... to edit other outputs"
        )
    if ablation is None:
        # Not x * 0 + r: that would keep NaN/inf of x.
        return zeros_like(x) + _matching(replacement, x)
    a = _matching(ablation, x)
    if replacement is None:
        return x * (1 - a)
    return x * (1 - a) + _matching(replacement, x) * a


class InstrumentedModel(Module):
    """Wrap ``model`` to retain and edit its layers' outputs by name (netdissect's API).

    Calling the wrapper calls the model; its parameters are the model's. Use it as a context
    manager (or call ``close()``) so that its hooks are removed.

    >>> import probe
    >>> net = probe.nn.Sequential(probe.nn.Linear(2, 3), probe.nn.ReLU(), probe.nn.Linear(3, 1))
    >>> with InstrumentedModel(net) as imodel:
    ...     imodel.retain_layer("1")
    ...     imodel.edit_layer("0", ablation=1.0)   # zero the first layer's output
    ...     _ = imodel(probe.ones(4, 2))
    ...     imodel.retained_layer("1").abs().sum().item()
    0.0
    >>> probe.nethook.list_hooks(net)
    []
    """

    def __init__(self, model):
        super().__init__()
        if not isinstance(model, Module):
            raise TypeError(f"InstrumentedModel wraps a Module, got {type(model).__name__}")
        self.model = model
        object.__setattr__(self, "_layers", {})  # name -> _LayerHook
        object.__setattr__(self, "_retained_order", OrderedDict())  # name -> None, retain order
        object.__setattr__(self, "_passes", [0])
        object.__setattr__(self, "_closed", False)

    # ------------------------------------------------------------------ context and calling
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def forward(self, *args, **kwargs):
        self._passes[0] += 1
        return self.model(*args, **kwargs)

    def layer_names(self):
        """Every submodule name of the wrapped model, in registration order."""
        return module_names(self.model)

    # ------------------------------------------------------------------ hooks bookkeeping
    def _resolve(self, names):
        """``[(name, module)]`` for ``names`` (a name or a list), all checked first."""
        if isinstance(names, str):
            names = [names]
        else:
            names = list(names)
        bad = [n for n in names if not isinstance(n, str)]
        if bad:
            raise TypeError(f"layer names must be strings, got {bad[0]!r}")
        return list(zip(names, resolve_layers(self.model, names)))

    def _layer(self, name, module):
        layer = self._layers.get(name)
        if layer is None or layer.module is not module:
            if layer is not None:  # the module under this name was replaced
                layer.detach_hook()
            layer = _LayerHook(name, module, self, self._passes)
            self._layers[name] = layer
        return layer

    def _release(self, name):
        layer = self._layers.get(name)
        if layer is not None and not layer.used:
            layer.detach_hook()
            del self._layers[name]

    def _apply_atomically(self, names, change):
        """Run ``change(layer)`` on each resolved layer and hook it; on any error, put every
        touched layer back as it was."""
        resolved = self._resolve(names)
        saved = []
        try:
            for name, module in resolved:
                existed = name in self._layers
                layer = self._layer(name, module)
                saved.append((name, existed, layer, layer.rule, dict(layer.edit_kwargs),
                              layer.retain, name in self._retained_order))
                change(layer)
                layer.attach()
        except BaseException:
            for name, existed, layer, rule, kwargs, retain, was_retained in reversed(saved):
                layer.rule, layer.edit_kwargs, layer.retain = rule, kwargs, retain
                if not was_retained:
                    self._retained_order.pop(name, None)
                if not existed or not layer.used:
                    layer.detach_hook()
                    self._layers.pop(name, None)
            raise
        return resolved

    # ------------------------------------------------------------------ retaining
    def retain_layer(self, name, detach=True, retain_grad=False, device=None, calls="last"):
        """Keep ``name``'s output (after its edits) at each forward pass.

        ``detach`` (default) keeps a detached tensor, so the graph is not kept alive;
        ``retain_grad`` keeps the graph node and fills its ``.grad`` on backward (see
        ``retained_grad``); ``device`` moves the kept value; ``calls`` picks which call of a
        module run several times per forward: ``"last"`` (default), ``"all"`` (a list) or an
        index.
        """
        self.retain_layers([name], detach=detach, retain_grad=retain_grad, device=device,
                           calls=calls)

    def retain_layers(self, names, detach=True, retain_grad=False, device=None, calls="last"):
        """``retain_layer`` for each of ``names``; all names are checked before any is hooked."""
        calls = _check_calls(calls)
        spec = _RetainSpec(bool(detach), bool(retain_grad), device, calls)

        def change(layer):
            layer.retain = spec
            layer.clear_values()
            self._retained_order.setdefault(layer.name, None)

        self._apply_atomically(names, change)

    def stop_retaining_layers(self, names):
        """Stop retaining ``names`` (a name or a list) and drop their values."""
        if isinstance(names, str):
            names = [names]
        for name in names:
            self._retained_order.pop(name, None)
            layer = self._layers.get(name)
            if layer is not None:
                layer.retain = None
                layer.clear_values()
                self._release(name)

    def _retained_layer_hook(self, name):
        if name is None:
            if not self._retained_order:
                raise LookupError("no layer is retained; call retain_layer(name) first")
            name = next(iter(self._retained_order))
        if name not in self._retained_order:
            raise KeyError(
                f"layer {name!r} is not retained (retained: {list(self._retained_order)})")
        return self._layers[name]

    def retained_layer(self, name=None, clear=False):
        """The retained output of ``name`` (default: the first retained layer) from the last
        forward pass; a list for ``calls="all"``; None before the layer has run."""
        layer = self._retained_layer_hook(name)
        value = layer.retained()
        if clear:
            layer.clear_values()
        return value

    def retained_grad(self, name=None):
        """The gradient of ``name``'s retained output after ``backward`` (needs
        ``retain_layer(name, retain_grad=True)``)."""
        layer = self._retained_layer_hook(name)
        spec = layer.retain
        if not spec.retain_grad:
            raise RuntimeError(
                f"layer {layer.name!r} is retained without gradients; use "
                "retain_layer(name, retain_grad=True)")
        if spec.calls == "all":
            raw = list(layer.values)
        elif isinstance(spec.calls, int) and spec.calls < 0:
            raw = layer.values[spec.calls] if len(layer.values) >= -spec.calls else None
        else:
            raw = layer.value
        grads = map_tensors(lambda t: t.grad, raw)
        if spec.device is not None:
            grads = _to_device(grads, spec.device)
        return grads

    def retained_features(self, clear=False):
        """``OrderedDict`` of every retained layer's value, in retain order."""
        out = OrderedDict((name, self._layers[name].retained()) for name in self._retained_order)
        if clear:
            for name in self._retained_order:
                self._layers[name].clear_values()
        return out

    # ------------------------------------------------------------------ editing
    def edit_layer(self, name, rule=None, ablation=None, replacement=None, **kwargs):
        """Edit ``name``'s output at every call.

        The default rule is ``x * (1 - ablation) + replacement * ablation`` (numbers or
        tensors; a 1-D vector of channel values broadcasts over the other dims).
        ``rule(x, imodel, name, **kwargs)`` replaces it and gets only the arguments it declares.
        Arguments merge with those of earlier ``edit_layer`` calls on the same layer.
        """
        if rule is not None and not callable(rule):
            raise TypeError(f"rule must be callable, got {type(rule).__name__}")
        if ablation is not None:
            kwargs["ablation"] = ablation
        if replacement is not None:
            kwargs["replacement"] = replacement

        def change(layer):
            if rule is not None:
                layer.rule = rule
            elif layer.rule is None:
                layer.rule = ablate_replace
            layer.edit_kwargs.update(kwargs)

        self._apply_atomically([name], change)

    def remove_edits(self, name=None):
        """Remove the edits of ``name`` (a name or a list; default: every layer)."""
        if name is None:
            names = list(self._layers)
        elif isinstance(name, str):
            names = [name]
        else:
            names = list(name)
        for n in names:
            layer = self._layers.get(n)
            if layer is not None:
                layer.rule = None
                layer.edit_kwargs = {}
                self._release(n)

    # ------------------------------------------------------------------ one-shot cache
    def run_with_cache(self, *args, names_filter=None, device=None, **kwargs):
        """Run the model and return ``(output, cache)``: ``cache[name]`` is each selected
        layer's (detached, edited) output. ``names_filter`` is None (every layer), a name, a
        list of names or ``callable(name) -> bool``. Nothing stays hooked afterwards except what
        was already.

        >>> import probe
        >>> net = probe.nn.Sequential(probe.nn.Linear(2, 3), probe.nn.ReLU())
        >>> out, cache = InstrumentedModel(net).run_with_cache(probe.ones(1, 2))
        >>> sorted(cache), bool((cache["1"] == out).all())
        (['0', '1'], True)
        """
        if names_filter is None:
            names = self.layer_names()
        elif isinstance(names_filter, str):
            names = [names_filter]
        elif callable(names_filter):
            names = [n for n in self.layer_names() if names_filter(n)]
        else:
            names = list(names_filter)
        cache = {}

        def change(layer):
            layer.cache = cache
            layer.cache_device = device

        resolved = []
        try:
            resolved = self._apply_atomically(names, change)
            output = self(*args, **kwargs)
        finally:
            for name, _ in resolved:
                layer = self._layers.get(name)
                if layer is not None:
                    layer.cache = None
                    layer.cache_device = None
                    self._release(name)
        ordered = {name: cache[name] for name, _ in resolved if name in cache}
        return output, ordered

    # ------------------------------------------------------------------ cleanup
    def hooked_layers(self):
        """Names of the layers this wrapper currently has a hook on."""
        return [name for name, layer in self._layers.items() if layer.handle is not None]

    def close(self):
        """Remove every hook, edit and retained value. Warns (``HookLeakWarning``) if hooks
        registered by other ``probe.nethook`` objects are still attached to the model."""
        self._remove_all()
        object.__setattr__(self, "_closed", True)
        leftover = [h for h in list_hooks(self.model) if is_nethook_hook(h[2])]
        if leftover:
            warnings.warn(
                "InstrumentedModel closed while probe.nethook hooks are still attached to the "
                "model (an open Trace?):\n" + describe_hooks(leftover),
                HookLeakWarning, stacklevel=2)

    def _remove_all(self):
        for layer in self._layers.values():
            layer.detach_hook()
            layer.rule = None
            layer.retain = None
            layer.cache = None
            layer.clear_values()
        self._layers.clear()
        self._retained_order.clear()

    def __del__(self):
        try:
            layers = self.__dict__.get("_layers")
            if not layers:
                return
            hooked = [name for name, layer in layers.items() if layer.handle is not None]
            self._remove_all()
            if hooked:
                warnings.warn(
                    f"InstrumentedModel was garbage-collected with hooks still attached to "
                    f"layers {hooked}; its hooks are removed now. Call close() or use it as a "
                    "context manager.", HookLeakWarning, stacklevel=2)
        except Exception:  # noqa: S110 - never raise from a finaliser (e.g. at interpreter exit)
            pass

    def extra_repr(self):
        hooked = self.hooked_layers()
        return f"hooked={hooked}" if hooked else ""
