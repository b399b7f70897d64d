"""The autograd graph: nodes, ``Op.apply`` (the one place that records edges) and the backward
engine.

An op is a ``Node`` subclass with ``forward(ctx, *arrays)`` and ``backward(ctx, *grads)`` side by
side. ``apply`` unwraps tensors to arrays, runs ``forward``, and records a node only when grad mode
is on and some input requires grad; the node is also the ``ctx``. ``backward`` is written against
``ctx.xp``: the array module (numpy or cupy) for ordinary backward passes, and
``probe.engine.tensor_ns`` (the same functions on Tensors) under ``create_graph=True``, so every
backward formula is written once and is itself differentiable.

Edges are ``(node, output_nr)`` pairs; an edge into a leaf tensor holds the tensor itself, and the
``AccumulateGrad`` node PyTorch shows in ``next_functions`` is made only when somebody asks for it.
"""

from __future__ import annotations

import heapq
import itertools
import sys
import traceback
import warnings
import weakref

import numpy as np

from . import tensor as _tensor_mod
from .grad_mode import MODES, STATE
from .hooks import HookDict, RemovableHandle

Tensor = _tensor_mod.Tensor
_wrap = _tensor_mod._wrap
_new = object.__new__
_ndarray = np.ndarray
_generic = np.generic

_sequence = itertools.count()

_FREED = object()

BACKWARD_TWICE_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you "
    "call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
    "through the graph a second time or if you need to access saved tensors after calling "
    "backward."
)
INFERENCE_SAVE_MSG = (
    "Inference tensors cannot be saved for backward. Please do not use Tensors created in "
    "inference mode in computation tracked by autograd. To work around this, you can make a "
    "clone to get a normal tensor and use it in autograd, or use `torch.no_grad()` instead of "
    "`torch.inference_mode()`."
)


class _NoGradContext:
    """The ``ctx`` ops see when nothing is recorded: saving is a no-op."""

    __slots__ = ("xp", "__dict__")
    needs_input_grad = ()
    recording = False

    def save_for_backward(self, *arrays):
        pass

    def mark_non_differentiable(self, *outputs):
        pass


_NO_GRAD_CTX = _NoGradContext()


class Node:
    """A node of the backward graph (a tensor's ``grad_fn``).

    PyTorch's public surface: ``name()``, ``next_functions``, ``register_hook(fn(grad_inputs,
    grad_outputs))``, ``register_prehook(fn(grad_outputs))``, ``metadata``.
    """

    recording = True
    _is_leaf_target = False
    _has_pre_hooks = False  # set by anything that registers a pre-hook, tensor hook or retain_grad
    # How many leading arguments are operands PyTorch wraps into tensors when they are Python
    # scalars (2 for add, sub, mul, div): those scalars show as (None, 0) in next_functions.
    scalar_edges = 0
    # Multi-output nodes get zeros for outputs that received no gradient (PyTorch's default).
    materialize_grads = True
    _saved_raw = None
    _saved_versions = ()
    # Output indices that carry gradients (None: all); e.g. ``max(dim)`` returns (values, indices).
    differentiable_outputs = None
    # Number of outputs of the node's forward (set per instance when it differs from 1).
    _num_outputs = 1
    _saved = None
    _pre_hooks = None
    _post_hooks = None
    _tensor_pre_hooks = None  # {output_nr: {id: hook}} from Tensor.register_hook on non-leaves
    _retain_grad_outputs = None  # {output_nr: weakref to the tensor that called retain_grad()}
    _anomaly_trace = None
    _metadata = None

    def name(self) -> str:
        return type(self).__name__

    def __repr__(self):
        return f"<{type(self).__name__} object at {hex(id(self))}>"

    @property
    def next_functions(self):
        # PyTorch lists one edge per differentiable Tensor argument: plain parameters (shapes,
        # dims, exponents) and integer/bool tensors (indices, masks) get none, except the Python
        # scalars that arithmetic ops wrap into tensors (``scalar_edges``: x * 2 has two edges).
        meta = self.__dict__.get("_input_meta")
        out = []
        for i, (target, nr) in enumerate(self._edges):
            if meta is not None:
                m = meta[i]
                if i >= self.scalar_edges if m is None else m[1].kind not in "fc":
                    continue
            if target is None:
                out.append((None, 0))
            elif target.__class__ is Tensor or isinstance(target, Tensor):
                out.append((accumulate_grad_node(target), 0))
            else:
                out.append((target, nr))
        return tuple(out)

    @property
    def metadata(self) -> dict:
        if self._metadata is None:
            self._metadata = {}
        return self._metadata

    def register_hook(self, hook):
        """``hook(grad_inputs, grad_outputs) -> tuple | None`` runs after this node's backward; a
        returned tuple replaces the gradients passed on to the inputs."""
        if self._post_hooks is None:
            self._post_hooks = HookDict()
        handle = RemovableHandle(self._post_hooks)
        self._post_hooks[handle.id] = hook
        return handle

    def register_prehook(self, hook):
        """``hook(grad_outputs) -> tuple | None`` runs before this node's backward; a returned tuple
        replaces the gradients it receives."""
        if self._pre_hooks is None:
            self._pre_hooks = HookDict()
        handle = RemovableHandle(self._pre_hooks)
        self._pre_hooks[handle.id] = hook
        self._has_pre_hooks = True
        return handle

    # --- ctx API used by op forwards --------------------------------------------------------

    def save_for_backward(self, *arrays):
        self._saved_raw = arrays

    def mark_non_differentiable(self, *outputs):
        self._non_diff = outputs

    @property
    def saved(self):
        """The saved values: arrays in an ordinary backward, Tensors under create_graph."""
        saved = self._saved
        if saved is None:
            return ()
        if saved is _FREED:
            raise RuntimeError(BACKWARD_TWICE_MSG)
        if _TENSOR_NS and self.xp is _TENSOR_NS[0]:
            return self.saved_tensors
        out = []
        versions = self._saved_versions
        i = 0
        for entry in saved:
            version = versions[i]
            i += 1
            cls = entry.__class__
            if cls is Tensor:
                if entry._vc[0] != version:
                    raise RuntimeError(_modified_inplace_msg(self, entry, version))
                out.append(entry._data)
            elif cls is tuple:  # an output: (array, version counter, output index)
                if entry[1][0] != version:
                    raise RuntimeError(_modified_inplace_msg(self, entry, version))
                out.append(entry[0])
            elif isinstance(entry, Tensor):
                if entry._vc[0] != version:
                    raise RuntimeError(_modified_inplace_msg(self, entry, version))
                out.append(entry._data)
            else:
                out.append(entry)
        return out

    @property
    def saved_tensors(self):
        """The saved values as Tensors (outputs are rebuilt with this node as their grad_fn)."""
        saved = self._saved
        if saved is _FREED:
            raise RuntimeError(BACKWARD_TWICE_MSG)
        if saved is None:
            return ()
        out = []
        for entry, version in zip(saved, self._saved_versions):
            cls = entry.__class__
            if cls is tuple:
                data, counter, nr = entry
                if counter[0] != version:
                    raise RuntimeError(_modified_inplace_msg(self, entry, version))
                t = _wrap(data, self._device)
                t._vc = counter
                t._requires_grad = True
                t._grad_fn = self
                t._output_nr = nr
                out.append(t)
            elif cls is Tensor or isinstance(entry, Tensor):
                if entry._vc[0] != version:
                    raise RuntimeError(_modified_inplace_msg(self, entry, version))
                out.append(entry)
            elif entry is None:  # an op may save None for a gradient it won't compute
                out.append(None)
            elif isinstance(entry, _SCALARS):  # a Python number an op saved: not a tensor
                out.append(entry)
            else:
                out.append(_wrap(entry, self._device))
        return tuple(out)

    def _release(self):
        if self._saved is not None:
            self._saved = _FREED


_NO_EDGE = (None, 0)
_SCALARS = (bool, int, float, complex)


_TENSOR_NS = []


def _tensor_ns():
    if not _TENSOR_NS:
        from . import tensor_ns  # noqa: PLC0415 - tensor_ns imports the ops, which import us

        _TENSOR_NS.append(tensor_ns)
    return _TENSOR_NS[0]


def _modified_inplace_msg(node, entry, version):
    """PyTorch's error for a saved tensor that an in-place op changed after it was saved."""
    if entry.__class__ is tuple:
        data, counter, out_nr = entry
        source = node
    else:
        data, counter, out_nr = entry._data, entry._vc, entry._output_nr
        source = entry._grad_fn
    shape = ", ".join(str(s) for s in data.shape)
    from .dtypes import from_numpy_dtype  # noqa: PLC0415

    type_name = f"probe.{from_numpy_dtype(data.dtype)._legacy_name}"
    origin = ""
    if source is not None:
        op_name = type(source).__name__
        for suffix in ("Backward0", "Backward1", "Backward2", "Backward"):
            if op_name.endswith(suffix):
                op_name = op_name[: -len(suffix)]
                break
        origin = f", which is output {out_nr} of {op_name},"
    return (
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{type_name} [{shape}]]{origin} is at version {counter[0]}; expected version "
        f"{version} instead. Hint: enable anomaly detection to find the operation that failed to "
        "compute its gradient, with torch.autograd.set_detect_anomaly(True, check_nan=False)."
    )


class Op(Node):
    """Base class of the engine's primitive ops (see the module docstring).

    >>> class Square(Op):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x * x
    ...     @staticmethod
    ...     def backward(ctx, grad):
    ...         (x,) = ctx.saved
    ...         return grad * 2 * x
    """

    # ``node_name`` sets the grad_fn class name PyTorch shows, e.g. "MulBackward0".
    # A view op returns a view of its first argument; the other arguments must be plain values,
    # and ``forward(ctx, array, *params)`` must be a pure function (it is replayed on the base).
    is_view = False

    @staticmethod
    def output_view_step(i, params):
        """For multi-output view ops: the single-output (op, params) step giving output ``i``."""
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "node_name" in cls.__dict__:
            cls.__name__ = cls.__qualname__ = cls.node_name

    @classmethod
    def apply(cls, *args):
        """Run the op on Tensors (and plain values), recording a node when needed."""
        # This is the engine's hottest function: keep it free of calls and repeated lookups.
        arrays = []
        dev = None
        requires = False
        for a in args:
            if a.__class__ is Tensor or isinstance(a, Tensor):
                d = a._device
                if dev is None:
                    dev = d
                elif d is not dev:
                    raise RuntimeError(_device_mismatch_msg(dev, d))
                if a._requires_grad:
                    requires = True
                arrays.append(a._data)
            else:
                arrays.append(a)
        if not requires or not STATE.enabled:
            ctx = _NO_GRAD_CTX
            ctx.xp = dev.xp
            try:
                out = cls.forward(ctx, *arrays)
            except ValueError as exc:
                raise _forward_error(exc, arrays) from None
            if out.__class__ is not tuple and not cls.is_view and not MODES.special:
                if out.__class__ is not _ndarray and isinstance(out, _generic):
                    out = np.asarray(out)
                t = _new(Tensor)
                t._data = out
                t._device = dev
                t._requires_grad = False
                t._grad_fn = None
                t._vc = [0]
                return t
            return _wrap_outputs(out, dev, args, cls)

        node = _new(cls)
        node.xp = dev.xp
        node._device = dev
        node._sequence_nr = next(_sequence)
        edges = []
        meta = []
        needs = []
        for a in args:
            if a.__class__ is Tensor or isinstance(a, Tensor):
                data = a._data
                meta.append((data.shape, data.dtype))
                if a._requires_grad:
                    fn = a._grad_fn
                    edges.append((a, 0) if fn is None else (fn, a._output_nr))
                    needs.append(True)
                    continue
            else:
                meta.append(None)
            edges.append(_NO_EDGE)
            needs.append(False)
        node._edges = edges
        node._input_meta = meta
        node.needs_input_grad = needs
        try:
            out = cls.forward(node, *arrays)
        except ValueError as exc:
            raise _forward_error(exc, arrays) from None
        if out.__class__ is tuple or cls.is_view:
            return _record_general(node, out, args, dev, cls)
        if out.__class__ is not _ndarray and isinstance(out, _generic):
            out = np.asarray(out)
        t = _new(Tensor)
        t._data = out
        t._device = dev
        t._requires_grad = True
        t._grad_fn = node
        vc = t._vc = [0]
        raw = node._saved_raw
        if raw is not None:
            saved = []
            versions = []
            for arr in raw:
                if arr is out:
                    saved.append((out, vc, 0))
                    versions.append(0)
                    continue
                for a in args:
                    if (a.__class__ is Tensor or isinstance(a, Tensor)) and a._data is arr:
                        if a._is_inference:  # only a *saved* inference tensor is an error
                            raise RuntimeError(INFERENCE_SAVE_MSG)
                        saved.append(a)
                        versions.append(a._vc[0])
                        break
                else:
                    saved.append(arr)
                    versions.append(None)
            node._saved = saved
            node._saved_versions = versions
            node._saved_raw = None
        if MODES.special and STATE.anomaly:
            node._anomaly_trace = traceback.format_stack()[:-2]
        return t

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError


def _forward_error(exc, arrays):
    """NumPy's/CuPy's broadcasting ValueError as PyTorch's RuntimeError; other errors as they
    are."""
    if "could not be broadcast" not in str(exc):
        return exc
    shape = ()
    for arr in arrays:
        other = getattr(arr, "shape", None)
        if other is None:
            continue
        n = max(len(shape), len(other))
        a = (1,) * (n - len(shape)) + tuple(shape)
        b = (1,) * (n - len(other)) + tuple(other)
        for i in range(n - 1, -1, -1):
            if a[i] != b[i] and a[i] != 1 and b[i] != 1:
                return RuntimeError(
                    f"The size of tensor a ({a[i]}) must match the size of tensor b ({b[i]}) at "
                    f"non-singleton dimension {i}"
                )
        shape = tuple(max(x, y) for x, y in zip(a, b, strict=True))
    return exc


def _device_mismatch_msg(a, b):
    return (
        "Expected all tensors to be on the same device, but found at least two devices, "
        f"{a} and {b}!"
    )


def _wrap_outputs(out, dev, args, op):
    if out.__class__ is tuple:
        results = tuple(_wrap_one(o, dev) for o in out)
        if op.is_view:
            for i, t in enumerate(results):
                _make_view(t, args[0], op.output_view_step(i, args[1:]))
        return results
    if out.__class__ is not _ndarray and isinstance(out, _generic):
        out = np.asarray(out)
    t = _wrap(out, dev)
    if op.is_view:
        _make_view(t, args[0], (op, args[1:]))
    elif STATE.inference:
        t._is_inference = True
    return t


def _wrap_one(o, dev):
    if isinstance(o, _generic):
        o = np.asarray(o)
    t = _wrap(o, dev)
    if STATE.inference:
        t._is_inference = True
    return t


def _make_view(view, source, step):
    """Make ``view`` share ``source``'s storage bookkeeping (version counter, base) and remember
    how to re-derive it from the base (``step`` is ``(op, params)``), for in-place autograd."""
    view._vc = source._vc
    base = source._base
    if base is None:
        view._base = source
        view._view_replay = (step,)
    else:
        view._base = base
        parent = source._view_replay
        view._view_replay = None if parent is None else parent + (step,)
    if source._is_inference:
        view._is_inference = True
    if view._requires_grad:
        if source._multi_view:
            view._multi_view = True
        root = view._base
        if root._grad_fn is not None:
            # An in-place op on the root or on another of its views rewrites the root's history;
            # this view's grad_fn must then be re-derived (see inplace._refresh_views). Views of
            # leaves need no record: autograd forbids in-place writes to them.
            views = root.__dict__.get("_views")
            if views is None:
                views = root._views = []
            elif len(views) >= 64:
                views[:] = [r for r in views if r() is not None]
            views.append(weakref.ref(view))


def _record_general(node, out, args, dev, op):
    """The recording path for multi-output and view ops (edges are already on the node)."""
    multi = out.__class__ is tuple
    outs = out if multi else (out,)
    non_diff = node.__dict__.get("_non_diff", ())
    diff = node.differentiable_outputs
    results = []
    for i, o in enumerate(outs):
        if isinstance(o, _generic):
            o = np.asarray(o)
        t = _wrap(o, dev)
        if (diff is None or i in diff) and not any(o is nd for nd in non_diff):
            t._requires_grad = True
            t._grad_fn = node
            t._output_nr = i
        results.append(t)
    if multi:
        node._num_outputs = len(outs)
        node._output_shapes = [(o.shape, o.dtype) for o in outs]
    if op.is_view:
        if multi:
            for i, t in enumerate(results):
                _make_view(t, args[0], op.output_view_step(i, args[1:]))
                if t._requires_grad:  # PyTorch refuses in-place writes to these (split, unbind)
                    t._multi_view = True
        else:
            _make_view(results[0], args[0], (op, args[1:]))
    raw = node._saved_raw
    if raw is not None:
        saved = []
        versions = []
        for arr in raw:
            entry, version = _save_entry(arr, args, outs, results)
            saved.append(entry)
            versions.append(version)
        node._saved = saved
        node._saved_versions = versions
        node._saved_raw = None
    if MODES.special and STATE.anomaly:
        node._anomaly_trace = traceback.format_stack()[:-3]
    return tuple(results) if multi else results[0]


def _save_entry(arr, args, outs, results):
    """A saved entry and its version: an input Tensor, an output (array, counter, index), or a
    constant array (no version)."""
    for i, o in enumerate(outs):
        if o is arr:
            t = results[i]
            return (t._data, t._vc, i), t._vc[0]
    for a in args:
        if isinstance(a, Tensor) and a._data is arr:
            if a._is_inference:
                raise RuntimeError(INFERENCE_SAVE_MSG)
            return a, a._vc[0]
    return arr, None


def accumulate_grad_node(leaf):
    """The ``AccumulateGrad`` node of a leaf (made once, kept on the leaf)."""
    node = leaf._accumulate_node
    if node is None:
        node = AccumulateGrad(leaf)
        leaf._accumulate_node = node
    return node


class AccumulateGrad(Node):
    """The node that adds incoming gradients into a leaf's ``.grad``."""

    def __init__(self, leaf):
        self._leaf_ref = weakref.ref(leaf)
        self._edges = []
        self._sequence_nr = -1

    @property
    def variable(self):
        return self._leaf_ref()


# ---------------------------------------------------------------------------------------------
# The backward engine
# ---------------------------------------------------------------------------------------------

def _sum_to_shape(xp, grad, shape):
    """Reduce a broadcast gradient back to ``shape`` (the one place that does it)."""
    gshape = grad.shape
    if len(gshape) < len(shape) or any(
        g != s and s != 1 for g, s in zip(gshape[len(gshape) - len(shape):], shape)
    ):
        return None
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and gshape[i + lead] != 1
    )
    if axes:
        grad = xp.sum(grad, axis=axes, keepdims=True)
        if lead:
            grad = grad.reshape(shape)
    return grad


def _validate_grads(node, grads, xp):
    """Check and fix the gradients a node returned: count, shape (broadcast-reduced), dtype."""
    meta = node._input_meta
    if grads.__class__ is not tuple and grads.__class__ is not list:
        grads = (grads,)
    n = len(meta)
    if len(grads) != n:
        if len(grads) < n and all(m is None for m in meta[len(grads):]):
            grads = tuple(grads) + (None,) * (n - len(grads))
        else:
            raise RuntimeError(
                f"function {type(node).__name__} returned an incorrect number of gradients "
                f"(expected {n}, got {len(grads)})"
            )
    out = None
    for i in range(n):
        g = grads[i]
        if g is None:
            continue
        m = meta[i]
        if m is None:  # a plain (non-tensor) argument: no gradient flows there
            fixed = None
        else:
            shape, dtype = m
            if g.__class__ is _ndarray and g.shape == shape and g.dtype == dtype:
                continue
            fixed = _fix_grad(node, i, g, shape, dtype, xp)
            if fixed is g:
                continue
        if out is None:
            out = list(grads)
        out[i] = fixed
    return grads if out is None else out


def _fix_grad(node, i, g, shape, dtype, xp):
    if isinstance(g, _generic):
        g = np.asarray(g)
    if g.shape != shape:
        reduced = _sum_to_shape(xp, g, shape)
        if reduced is None:
            raise RuntimeError(
                f"Function {type(node).__name__} returned an invalid gradient at index {i} - "
                f"got {list(g.shape)} but expected shape compatible with {list(shape)}"
            )
        g = reduced
    if g.dtype != dtype:
        g = g.to(_dtype_of(dtype)) if isinstance(g, Tensor) else g.astype(dtype)
    return g


def _dtype_of(np_dtype):
    from .dtypes import from_numpy_dtype  # noqa: PLC0415

    return from_numpy_dtype(np_dtype)


def _make_root_grads(tensors, grad_tensors):
    roots = []
    for i, t in enumerate(tensors):
        g = grad_tensors[i] if grad_tensors is not None else None
        if not t._requires_grad:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
        if g is None:
            if t._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = _wrap(t._device.xp.ones_like(t._data), t._device)
        elif not isinstance(g, Tensor):
            g = _wrap(t._device.xp.asarray(g, dtype=t._data.dtype), t._device)
        elif g._data.shape != t._data.shape:
            raise RuntimeError(
                f"Mismatch in shape: grad_output[{i}] has a shape of {_size_str(g)} and "
                f"output[{i}] has a shape of {_size_str(t)}."
            )
        roots.append((t, g))
    return roots


def _size_str(t):
    return repr(_tensor_mod.Size(t._data.shape))  # probe.Size([...]), as every other message


def run_backward(tensors, grad_tensors, retain_graph, create_graph, inputs=None,
                 accumulate=True, allow_unused=True):
    """Propagate gradients from ``tensors`` through the graph.

    With ``accumulate`` the leaf gradients are added into ``.grad`` (``Tensor.backward``);
    otherwise the gradients reaching ``inputs`` are returned (``autograd.grad``).
    """
    if retain_graph is None:
        retain_graph = create_graph
    roots = _make_root_grads(tensors, grad_tensors)
    tensor_mode = bool(create_graph)

    # Graph positions (nodes, or leaf tensors) are keyed by id(): Tensor hashing is slower and
    # the engine holds every position alive while it runs.
    # captures: id(position) -> [(input index, output_nr)] whose gradient autograd.grad returns.
    captures = {}
    if inputs is not None:
        for idx, t in enumerate(inputs):
            if t._grad_fn is None:
                if not t._requires_grad:
                    raise RuntimeError("One of the differentiated Tensors does not require grad")
                captures.setdefault(id(t), []).append((idx, 0))
            else:
                captures.setdefault(id(t._grad_fn), []).append((idx, t._output_nr))
    captured = [None] * (len(inputs) if inputs is not None else 0)

    # Dependency counts over the reachable graph (iterative DFS, no recursion).
    deps = {}
    stack = []
    for t, _ in roots:
        target = t._grad_fn if t._grad_fn is not None else t
        if id(target) not in deps:
            deps[id(target)] = 0
            stack.append(target)
    order = []
    while stack:
        target = stack.pop()
        order.append(target)
        for nxt, _ in target._edges:  # a leaf tensor's _edges is the class default ()
            if nxt is None:
                continue
            key = id(nxt)
            count = deps.get(key)
            if count is None:
                deps[key] = 1
                stack.append(nxt)
            else:
                deps[key] = count + 1

    needed = _needed_targets(order, captures) if inputs is not None else None

    buffers = {}
    ready = []
    for t, g in roots:
        target = t._grad_fn if t._grad_fn is not None else t
        gval = g if tensor_mode else g._data
        key = id(target)
        buf = buffers.get(key)
        if buf is None:
            buf = buffers[key] = [None] * target._num_outputs
        nr = t._output_nr if t._grad_fn is not None else 0
        buf[nr] = gval if buf[nr] is None else buf[nr] + gval
    for target in order:
        if deps[id(target)] == 0 and id(target) in buffers:
            heapq.heappush(ready, _ready_key(target))

    order = None  # let nodes go as soon as they are done
    prev_enabled = STATE.enabled
    STATE.enabled = tensor_mode
    heappop, heappush = heapq.heappop, heapq.heappush
    tick = _ready_order.__next__
    try:
        while ready:
            target = heappop(ready)[2]
            grads = buffers.pop(id(target))
            if target._is_leaf_target:
                _arrive_at_leaf(target, grads[0], captures, captured, accumulate, tensor_mode,
                                inputs)
                continue
            if target._has_pre_hooks:
                grads = _run_pre_hooks(target, grads, tensor_mode)
            if captures:
                hits = captures.get(id(target))
                if hits:
                    for idx, nr in hits:
                        captured[idx] = grads[nr]
            if needed is not None and id(target) not in needed:
                grads_in = None
            else:
                grads_in = _call_node(target, grads, tensor_mode, retain_graph)
            i = -1
            for nxt, nr in target._edges:
                i += 1
                if nxt is None:
                    continue
                key = id(nxt)
                buf = buffers.get(key)
                if buf is None:
                    buf = buffers[key] = [None] * nxt._num_outputs
                if grads_in is not None:
                    g = grads_in[i]
                    if g is not None:
                        old = buf[nr]
                        buf[nr] = g if old is None else old + g
                remaining = deps[key] - 1
                deps[key] = remaining
                if remaining == 0:
                    heappush(ready, (-nxt._sequence_nr, tick(), nxt))
            grads = grads_in = g = old = None  # drop references: leaves may keep the buffer
    finally:
        STATE.enabled = prev_enabled

    if inputs is not None and not accumulate:
        result = []
        for i, g in enumerate(captured):
            if g is None:
                if not allow_unused:
                    raise RuntimeError(
                        f"The differentiated Tensor at index {i} appears to not have been used in "
                        "the graph. Set allow_unused=True if this is the desired behavior."
                    )
                result.append(None)
            elif isinstance(g, Tensor):
                result.append(g)
            else:
                result.append(_wrap(g, inputs[i]._device))
        return result
    return None


_ready_order = itertools.count()


def _ready_key(target):
    # Later-created nodes run first (PyTorch's order); a leaf (whose _sequence_nr is the largest
    # possible) accumulates as soon as it is ready, and ties keep the order in which targets
    # became ready, so runs are deterministic.
    return (-target._sequence_nr, next(_ready_order), target)


def _needed_targets(order, captures):
    """ids of the nodes whose backward must run: those with an edge leading to a captured
    position (a node's successors may be reached later in a DAG, so iterate to a fixpoint)."""
    needed = set()
    changed = True
    while changed:  # ``order`` is a DFS pre-order, so one reversed pass settles trees
        changed = False
        for target in reversed(order):
            if id(target) in needed or isinstance(target, Tensor):
                continue
            for nxt, _ in target._edges:
                if nxt is not None and (id(nxt) in captures or id(nxt) in needed):
                    needed.add(id(target))
                    changed = True
                    break
    return needed


def _as_grad_value(g, tensor_mode, dev):
    """Convert a hook's returned gradient to the engine's representation."""
    if g is None:
        return None
    if tensor_mode:
        return g if isinstance(g, Tensor) else _wrap(g, dev)
    return g._data if isinstance(g, Tensor) else g


def _hook_grad(hook, result, old, tensor_mode, dev):
    """A tensor hook's replacement gradient, checked as PyTorch does (same size)."""
    new = _as_grad_value(result, tensor_mode, dev)
    if new.shape != old.shape:
        raise RuntimeError(f"hook '{_hook_name(hook)}' has changed the size of value")
    return new


def _hook_name(hook):
    return getattr(hook, "__name__", type(hook).__name__)


def _to_hook_value(g, dev, tensor_mode):
    if g is None or tensor_mode:
        return g
    return _wrap(g, dev)


def _run_pre_hooks(node, grads, tensor_mode):
    dev = node._device
    tensor_hooks = node._tensor_pre_hooks
    if tensor_hooks:
        for nr, hooks in list(tensor_hooks.items()):
            if grads[nr] is None:
                continue
            for hook in list(hooks.values()):
                result = hook(_to_hook_value(grads[nr], dev, tensor_mode))
                if result is not None:
                    grads[nr] = _hook_grad(hook, result, grads[nr], tensor_mode, dev)
    retain = node._retain_grad_outputs
    if retain:
        for nr, ref in retain.items():
            t = ref()
            if t is not None and grads[nr] is not None:
                g = grads[nr]
                g_tensor = g if tensor_mode else _wrap(g, dev)
                if not tensor_mode:
                    g_tensor = _wrap(g.copy(), dev)
                t._grad = g_tensor if t._grad is None else t._grad + g_tensor
    if node._pre_hooks:
        for hook in list(node._pre_hooks.values()):
            result = hook(tuple(_to_hook_value(g, dev, tensor_mode) for g in grads))
            if result is not None:
                grads = [_as_grad_value(g, tensor_mode, dev) for g in result]
    return grads


def _call_node(node, grads, tensor_mode, retain_graph):
    """Run one node's backward; returns one gradient (or None) per edge."""
    if node._saved is _FREED:
        raise RuntimeError(BACKWARD_TWICE_MSG)
    if node._num_outputs == 1:
        if grads[0] is None:
            return None
    else:
        if all(g is None for g in grads):
            return None
        if node.materialize_grads and any(g is None for g in grads):
            grads = _materialize(node, grads, tensor_mode)
    if tensor_mode:
        xp = node.xp
        node.xp = _tensor_ns()
        # None stays None: nodes with materialize_grads=False expect it for outputs that got
        # no gradient.
        grads = [g if g is None or isinstance(g, Tensor) else _wrap(g, node._device)
                 for g in grads]
        try:
            result = node.backward(node, *grads)
        finally:
            node.xp = xp
        result = _validate_grads(node, result, _tensor_ns())
    else:
        result = node.backward(node, *grads)
        result = _validate_grads(node, result, node.xp)
    if MODES.special and STATE.anomaly and STATE.anomaly_check_nan:
        _check_anomaly(node, result)
    if node._post_hooks:
        dev = node._device
        for hook in list(node._post_hooks.values()):
            new = hook(tuple(_to_hook_value(g, dev, tensor_mode) for g in result),
                       tuple(_to_hook_value(g, dev, tensor_mode) for g in grads))
            if new is not None:
                if len(new) != len(result):
                    raise RuntimeError(
                        f"hook '{_hook_name(hook)}' has returned an incorrect number of values "
                        f"(got {len(new)}, but expected {len(result)})"
                    )
                result = [_as_grad_value(g, tensor_mode, dev) for g in new]
    if not retain_graph and node._saved is not None:
        node._saved = _FREED
    return result


def _materialize(node, grads, tensor_mode):
    """Zeros for the outputs that received no gradient (PyTorch's default for multi-output ops)."""
    out = list(grads)
    shapes = node.__dict__.get("_output_shapes")
    for i, g in enumerate(out):
        if g is None and shapes is not None:
            shape, dtype = shapes[i]
            z = node._device.xp.zeros(shape, dtype=dtype)
            out[i] = _wrap(z, node._device) if tensor_mode else z
    return out


def _check_anomaly(node, grads):
    for i, g in enumerate(grads):
        if g is None:
            continue
        data = g._data if isinstance(g, Tensor) else g
        if data.dtype.kind in "fc" and not bool(node._device.xp.isfinite(data).all()):
            if node._anomaly_trace:
                warnings.warn(
                    f"Error detected in {type(node).__name__}. Traceback of forward call that "
                    "caused the error:\n" + "".join(node._anomaly_trace),
                    stacklevel=2,
                )
            raise RuntimeError(
                f"Function '{type(node).__name__}' returned nan values in its {i}th output."
            )


def _arrive_at_leaf(leaf, grad, captures, captured, accumulate, tensor_mode, inputs):
    if grad is None:
        return
    dev = leaf._device
    hooks = leaf._hooks
    if hooks:
        for hook in list(hooks.values()):
            result = hook(_to_hook_value(grad, dev, tensor_mode))
            if result is not None:
                grad = _hook_grad(hook, result, grad, tensor_mode, dev)
    acc_node = leaf._accumulate_node
    if acc_node is not None and acc_node._pre_hooks:
        for hook in list(acc_node._pre_hooks.values()):
            result = hook((_to_hook_value(grad, dev, tensor_mode),))
            if result is not None:
                grad = _as_grad_value(result[0], tensor_mode, dev)
    hits = captures.get(id(leaf)) if captures else None
    if hits:
        for idx, _ in hits:
            captured[idx] = grad
        if not accumulate:
            return
    if not accumulate:
        return
    if inputs is not None and not hits:
        return
    if tensor_mode:
        g_tensor = grad if isinstance(grad, Tensor) else _wrap(grad, dev)
        if leaf._grad is None:
            # The same gradient may reach several leaves (AddBackward0): each gets its own copy,
            # a differentiable one when it carries a graph (PyTorch clones here too).
            leaf._grad = (g_tensor.clone() if g_tensor._requires_grad
                          else _wrap(g_tensor._data.copy(), dev))
        else:
            leaf._grad = leaf._grad + g_tensor
    elif leaf._grad is None:
        leaf._grad = _wrap(_private_buffer(grad), dev)
    elif leaf._grad._requires_grad:
        leaf._grad = leaf._grad + _wrap(grad, dev)
    else:
        leaf._grad._data += grad
    # PyTorch runs post-accumulate-grad hooks before the AccumulateGrad node's own hooks.
    post = leaf._post_acc_hooks
    if post:
        for hook in list(post.values()):
            hook(leaf)
    if acc_node is not None and acc_node._post_hooks:
        for hook in list(acc_node._post_hooks.values()):
            hook((), (_to_hook_value(grad, dev, tensor_mode),))


# References to a gradient array that nobody else holds, counted at _private_buffer's check: the
# engine's buffer list, _arrive_at_leaf's argument, this function's argument, getrefcount's own.
_UNSHARED_REFCOUNT = 4
# References to that array's base: the view's own, this function's local name, getrefcount's.
_UNSHARED_BASE_REFCOUNT = 3


def _private_buffer(grad):
    """``grad`` itself when no one else can see it, else a copy.

    The engine hands one array to several inputs (``AddBackward0`` passes its gradient on
    unchanged), and ``.grad`` later accumulates in place, so a leaf must own its buffer; copying
    only when the array is shared keeps the common case free.
    """
    if (grad.flags.c_contiguous and grad.flags.writeable
            and sys.getrefcount(grad) <= _UNSHARED_REFCOUNT):
        base = grad.base
        if base is None:
            return grad
        # A reshaped view of a fresh result (a broadcast gradient summed back to a bias shape)
        # owns its memory when it covers all of a base that only it refers to.
        if (base.base is None and base.size == grad.size
                and sys.getrefcount(base) <= _UNSHARED_BASE_REFCOUNT):
            return grad
    return grad.copy()
