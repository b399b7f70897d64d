"""``Trace`` and ``TraceDict``: capture and edit what layers compute, with baukit's API.

Both are context managers that register forward hooks on named layers and remove them on every
exit path, exceptions included. They are built on ``Module``'s public hook API only.

Differences from baukit (fixes, nothing its users need to relearn):

- a bad layer name raises ``LookupError`` naming close matches, before any hook is registered;
- ``clone``/``detach`` recurse through tuples, lists and dicts, passing other values through;
- inputs are captured before ``forward`` runs (an in-place op inside the layer cannot change
  them), and keyword inputs are captured too (``.kwargs``);
- ``calls=`` chooses which call of a layer used several times in one forward is retained;
- ``TraceDict(stop=True)`` stops once every listed layer has run, in execution order.

Retained values are the very tensors the model computed unless ``detach``/``clone`` is given:
with ``detach=False`` (baukit's default) a retained output keeps its autograd graph alive for as
long as the Trace is referenced. Pass ``detach=True`` to keep only the values.
"""

from __future__ import annotations

from collections import OrderedDict

from ._values import invoke_with_optional_args, recursive_copy
from .naming import name_lookup_error, resolve_layers

__all__ = ["StopForward", "Trace", "TraceDict"]


class StopForward(Exception):
    """Raised by a hook to end a forward pass early, once the traced layers have run; ``Trace``
    and ``TraceDict`` swallow it when their ``with`` block exits.

    >>> import probe
    >>> net = probe.nn.Sequential(probe.nn.Linear(2, 2), probe.nn.ReLU())
    >>> with Trace(net, "0", stop=True) as tr:
    ...     net(probe.ones(1, 2))  # stops after layer "0": nothing is returned
    >>> tr.output.shape
    probe.Size([1, 2])
    """


def _check_calls(calls):
    if calls in ("last", "all"):
        return
    if isinstance(calls, int) and not isinstance(calls, bool) and calls >= 0:
        return
    raise ValueError(f"calls must be 'last', 'all' or a call index >= 0, got {calls!r}")


class Trace:
    """Retain (and optionally edit) the output of one layer of ``module`` while in a ``with`` block.

    ``layer`` is a dotted name (None: ``module`` itself). After the forward pass:

    - ``.output``: the layer's output (after ``edit_output``);
    - ``.input``: its first positional input, or the tuple of them when there are several
      (baukit's convention), with ``retain_input=True``; ``.inputs``: always the tuple;
      ``.kwargs``: the keyword inputs (a dict).

    ``clone``/``detach`` copy the retained values (recursively). ``retain_grad=True`` keeps the
    output in the graph and calls ``retain_grad()`` on it, so ``.output.grad`` is filled by
    ``backward`` (``clone``/``detach`` then do not apply to it). ``edit_output(output, layer,
    inputs, kwargs)``, called with only the arguments it declares, returns the layer's new
    output; the edit happens before retention. ``stop=True`` raises ``StopForward`` right after
    the layer, which the ``with`` block swallows. ``calls`` picks which call of a layer run
    several times is retained: ``"last"``, ``"all"`` (``.output`` etc. are then lists) or an
    index counted from 0 since the Trace was made; edits apply to every call.

    >>> import probe
    >>> net = probe.nn.Sequential(probe.nn.Linear(2, 3), probe.nn.ReLU())
    >>> with Trace(net, "0", retain_input=True, detach=True) as tr:
    ...     y = net(probe.ones(1, 2))
    >>> tr.output.shape, tr.input.shape
    (probe.Size([1, 3]), probe.Size([1, 2]))
    >>> with Trace(net, "1", edit_output=lambda output: output * 0):
    ...     net(probe.ones(1, 2))
    tensor([[0., 0., 0.]], grad_fn=<MulBackward0>)
    """

    def __init__(self, module, layer=None, retain_output=True, retain_input=False, clone=False,
                 detach=False, retain_grad=False, edit_output=None, stop=False, calls="last"):
        (target,) = resolve_layers(module, [layer])
        _check_calls(calls)
        self.layer = layer
        self.module = target
        self.retain_output = retain_output
        self.retain_input = retain_input
        self.clone = clone
        self.detach = detach
        self.retain_grad = retain_grad
        self.edit_output = edit_output
        self.stop = stop
        self.calls = calls
        self.call_count = 0  # completed calls of the layer since the Trace was made
        many = calls == "all"
        self.output = [] if many and retain_output else None
        self.input = [] if many and retain_input else None
        self.inputs = [] if many and retain_input else None
        self.kwargs = [] if many and retain_input else None
        self._ran = False  # the retained call has happened
        self._on_call = None  # TraceDict's stop bookkeeping
        self._handles = []
        try:
            if retain_input:
                self._handles.append(
                    target.register_forward_pre_hook(self._pre_hook, with_kwargs=True))
            self._handles.append(target.register_forward_hook(self._hook, with_kwargs=True))
        except BaseException:
            self.close()
            raise

    def _wanted(self, index):
        calls = self.calls
        return calls == "last" or calls == "all" or index == calls

    def _pre_hook(self, module, args, kwargs):
        # call_count is only bumped when the call completes, so it indexes the current call.
        if not self._wanted(self.call_count):
            return None
        inputs = recursive_copy(args, clone=self.clone, detach=self.detach)
        kw = dict(recursive_copy(kwargs, clone=self.clone, detach=self.detach))
        first = inputs[0] if len(inputs) == 1 else inputs
        if self.calls == "all":
            self.inputs.append(inputs)
            self.input.append(first)
            self.kwargs.append(kw)
        else:
            self.inputs, self.input, self.kwargs = inputs, first, kw
        return None

    def _hook(self, module, args, kwargs, output):
        index = self.call_count
        self.call_count += 1
        if self.edit_output is not None:
            output = invoke_with_optional_args(
                self.edit_output, output=output, layer=self.layer, inputs=args, kwargs=kwargs)
        wanted = self._wanted(index)
        if wanted:
            if self.retain_output:
                kept = recursive_copy(output, clone=self.clone, detach=self.detach,
                                      retain_grad=self.retain_grad)
                if self.retain_grad:
                    # The model goes on with a copy, so an in-place op after this layer
                    # cannot modify (or invalidate the gradient of) the retained tensor.
                    output = recursive_copy(kept, clone=True)
                if self.calls == "all":
                    self.output.append(kept)
                else:
                    self.output = kept
            self._ran = True
        if self._on_call is not None:
            self._on_call(self)
        if self.stop and wanted:
            raise StopForward()
        return output

    def close(self):
        """Remove this Trace's hooks (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()
        return exc_type is not None and issubclass(exc_type, StopForward)

    def __repr__(self):
        state = "open" if self._handles else "closed"
        return f"<Trace layer={self.layer!r} calls={self.calls!r} {state}>"


_TRACE_DEFAULTS = dict(retain_output=True, retain_input=False, clone=False, detach=False,
                       retain_grad=False, edit_output=None, stop=False, calls="last")


class TraceDict(OrderedDict):
    """Trace several layers at once: an ordered dict ``name -> Trace`` in the order given.

    Takes ``Trace``'s options; each may also be a ``{layer: value}`` dict giving per-layer
    values (layers it leaves out get ``Trace``'s default). ``stop=True`` raises
    ``StopForward`` as soon as every listed layer has run (so the order of ``layers`` does not
    matter); a ``{layer: True}`` dict stops right after those layers instead. All names are
    looked up before any hook is registered, and all hooks go on every exit path.

    >>> import probe
    >>> net = probe.nn.Sequential(probe.nn.Linear(2, 3), probe.nn.ReLU(), probe.nn.Linear(3, 1))
    >>> with TraceDict(net, ["1", "0"], detach=True, stop=True) as td:
    ...     net(probe.ones(4, 2))
    >>> list(td), td["1"].output.shape
    (['1', '0'], probe.Size([4, 3]))
    """

    def __init__(self, module, layers=None, retain_output=True, retain_input=False,
                 clone=False, detach=False, retain_grad=False, edit_output=None, stop=False,
                 calls="last"):
        super().__init__()
        if layers is None:
            layers = []
        elif isinstance(layers, str):
            layers = [layers]
        layers = list(dict.fromkeys(layers))
        resolve_layers(module, layers)  # every name first: no hook before they all exist
        options = dict(retain_output=retain_output, retain_input=retain_input, clone=clone,
                       detach=detach, retain_grad=retain_grad, edit_output=edit_output,
                       stop=stop, calls=calls)
        for key, value in options.items():
            if isinstance(value, dict):
                unknown = [k for k in value if k not in layers]
                if unknown:
                    raise name_lookup_error(f"layer in {key}=", unknown[0], layers)
        self._stop_all = stop is True
        self._pending = set(layers)
        try:
            for name in layers:
                opts = {key: (value.get(name, _TRACE_DEFAULTS[key]) if isinstance(value, dict)
                              else value) for key, value in options.items()}
                if self._stop_all:
                    opts["stop"] = False
                trace = Trace(module, name, **opts)
                if self._stop_all:
                    trace._on_call = self._layer_ran
                self[name] = trace
        except BaseException:
            self.close()
            raise

    def _layer_ran(self, trace):
        if trace._ran:
            self._pending.discard(trace.layer)
            if not self._pending:
                self._pending = set(self)  # ready for a later forward pass
                raise StopForward()

    def close(self):
        """Remove every hook (idempotent)."""
        for trace in reversed(list(self.values())):
            trace.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()
        return exc_type is not None and issubclass(exc_type, StopForward)

    def __repr__(self):
        return f"TraceDict({list(self)!r})"

    # An OrderedDict subclass pickles/copies through __reduce__, which would try to rebuild it
    # with no module; a TraceDict is a live registration, not data.
    def __reduce__(self):
        raise TypeError("a TraceDict cannot be pickled or copied; copy its outputs instead")
