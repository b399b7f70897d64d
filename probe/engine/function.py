"""User-defined differentiable functions: ``probe.autograd.Function``.

The user's ``forward`` runs on Tensors with grad recording off; the node it leaves in the graph
(named ``<Class>Backward``) is also the ``ctx`` the user saved things on, exactly as in PyTorch.
"""

from __future__ import annotations

from .autograd import _FREED, Node, _sequence
from .grad_mode import STATE
from .tensor import Tensor, _wrap


class FunctionCtx(Node):
    """The ``ctx`` of a custom Function (and its ``grad_fn`` node)."""

    needs_input_grad = None  # set per call (a plain attribute here, not Node's property)
    # The engine leaves missing output grads as None; ``backward`` below materialises them
    # itself, honouring ``set_materialize_grads`` and skipping non-tensor outputs.
    materialize_grads = False
    _materialize_grads = True
    _dirty = ()
    _non_differentiable = ()
    _saved_tensors_raw = None

    def save_for_backward(self, *tensors):
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    "save_for_backward can only save variables, but argument "
                    f"{i} is of type {type(t).__name__}"
                )
        self._saved_tensors_raw = tensors

    def save_for_forward(self, *tensors):
        self._saved_for_forward = tensors

    def mark_dirty(self, *tensors):
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors):
        self._non_differentiable = tensors

    def set_materialize_grads(self, value: bool):
        self._materialize_grads = bool(value)

    @property
    def next_functions(self):
        # PyTorch lists edges for the Tensor arguments of ``apply`` only.
        edges = Node.next_functions.fget(self)
        return tuple(e for e, m in zip(edges, self._input_meta, strict=False) if m is not None)

    @property
    def saved_tensors(self):
        saved = self._saved
        if saved is _FREED:
            from .autograd import BACKWARD_TWICE_MSG  # noqa: PLC0415

            raise RuntimeError(BACKWARD_TWICE_MSG)
        if saved is None:
            return ()
        out = []
        for t, version in zip(saved, self._saved_versions, strict=False):
            if t is not None and t._vc[0] != version:
                from .autograd import _modified_inplace_msg  # noqa: PLC0415

                raise RuntimeError(_modified_inplace_msg(self, t, version))
            out.append(t)
        return tuple(out)

    @staticmethod
    def backward(node, *grads):
        """Called by the engine: run the user's backward on Tensors."""
        fn = node._function
        dev = node._device
        tensor_mode = grads and isinstance(next((g for g in grads if g is not None), None), Tensor)
        wrapped = []
        for i, g in enumerate(grads):
            if g is None:
                shape, dtype = node._output_shapes[i]
                if node._materialize_grads and dtype is not None:
                    g = dev.xp.zeros(shape, dtype=dtype)
                else:
                    wrapped.append(None)
                    continue
            wrapped.append(g if isinstance(g, Tensor) else _wrap(g, dev))
        result = fn.backward(node, *wrapped)
        if not isinstance(result, tuple):
            result = (result,)
        n_inputs = len(node._input_meta)
        if len(result) != n_inputs:
            # Trailing Nones beyond the inputs are allowed, as in PyTorch.
            extra = result[n_inputs:]
            if len(result) > n_inputs and all(r is None for r in extra):
                result = result[:n_inputs]
            else:
                raise RuntimeError(
                    f"function {type(node).__name__} returned an incorrect number of gradients "
                    f"(expected {n_inputs}, got {len(result)})"
                )
        out = []
        for r, meta in zip(result, node._input_meta, strict=False):
            if r is None or meta is None:
                out.append(None)
            elif not isinstance(r, Tensor):
                raise RuntimeError(f"expected Variable or None (got {type(r).__name__})")
            else:
                out.append(r if tensor_mode else r._data)
        return tuple(out)


class _FunctionMeta(type):
    def __init__(cls, name, bases, attrs):
        super().__init__(name, bases, attrs)
        cls._backward_cls = type(f"{name}Backward", (FunctionCtx,), {"_function": cls})


class Function(metaclass=_FunctionMeta):
    """Base class for custom differentiable operations.

    >>> import probe
    >>> class Double(probe.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         return x * 2
    ...     @staticmethod
    ...     def backward(ctx, grad):
    ...         return grad * 2
    >>> x = probe.ones(2, requires_grad=True)
    >>> Double.apply(x).sum().backward()
    >>> x.grad
    tensor([2., 2.])
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your "
                                  "custom autograd.Function to use it with backward mode AD.")

    vjp = backward

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError

    @classmethod
    def _uses_setup_context(cls):
        return "setup_context" in {k for c in cls.__mro__ if c is not Function
                                   for k in c.__dict__}

    @classmethod
    def apply(cls, *args, **kwargs):
        tensors = [a for a in args if isinstance(a, Tensor)]
        requires = STATE.enabled and any(t._requires_grad for t in tensors)
        dev = tensors[0]._device if tensors else None
        ctx = cls._backward_cls.__new__(cls._backward_cls)
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
        ctx._device = dev
        ctx.xp = dev.xp if dev is not None else None
        ctx._sequence_nr = next(_sequence)
        prev = STATE.enabled
        STATE.enabled = False
        try:
            if cls._uses_setup_context():
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
            else:
                output = cls.forward(ctx, *args, **kwargs)
        finally:
            STATE.enabled = prev
        if not requires:
            return output
        return _connect(ctx, args, output)


def _connect(ctx, args, output):
    multi = isinstance(output, tuple)
    outs = output if multi else (output,)
    edges, meta = [], []
    for a in args:
        if isinstance(a, Tensor):
            meta.append((a._data.shape, a._data.dtype))
            if a._requires_grad:
                fn = a._grad_fn
                edges.append((a, 0) if fn is None else (fn, a._output_nr))
                continue
        else:
            meta.append(None)
        edges.append((None, 0))
    ctx._edges = edges
    ctx._input_meta = meta
    ctx._num_outputs = len(outs)
    ctx._output_shapes = [
        (o._data.shape, o._data.dtype) if isinstance(o, Tensor) else ((), None) for o in outs
    ]
    dirty_ids = {id(t) for t in ctx._dirty}
    non_diff_ids = {id(t) for t in ctx._non_differentiable}
    input_ids = {id(a) for a in args if isinstance(a, Tensor)}
    results = []
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            results.append(o)
            continue
        if id(o) in dirty_ids:
            from .ops.inplace import check_inplace  # noqa: PLC0415

            if o._grad_fn is None and o._requires_grad and o._base is None:
                raise RuntimeError(
                    "a leaf Variable that requires grad has been used in an in-place operation."
                )
            check_inplace(o, True)
            o._vc[0] += 1
            t = o
        elif id(o) in input_ids:
            # Returning an input unchanged: PyTorch returns a view of it.
            t = _wrap(o._data, o._device)
            t._vc = o._vc
            t._base = o if o._base is None else o._base
        else:
            t = o
        if id(o) not in non_diff_ids and o._data.dtype.kind in "fc":
            t._requires_grad = True
            t._grad_fn = ctx
            t._output_nr = i
        results.append(t)
    raw = ctx._saved_tensors_raw
    if raw is not None:
        ctx._saved = list(raw)
        ctx._saved_versions = [None if t is None else t._vc[0] for t in raw]
    return tuple(results) if multi else results[0]


class _DelayedError(Node):
    """Stands in for a once-differentiable backward in a recorded graph: differentiating
    through it raises (PyTorch's ``DelayedError``)."""

    _num_outputs = 1

    @staticmethod
    def backward(node, *grads):
        raise RuntimeError(
            "trying to differentiate twice a function that was marked with @once_differentiable"
        )


def _delayed_error(t, grad_args):
    """``t`` as a new tensor whose grad_fn raises when differentiated (a no-op edge to
    every gradient argument that requires grad)."""
    node = _DelayedError()
    node.xp = t._device.xp
    node._device = t._device
    node._sequence_nr = next(_sequence)
    node._edges = [(a, 0) if a._grad_fn is None else (a._grad_fn, a._output_nr)
                   for a in grad_args]
    node._input_meta = [(a._data.shape, a._data.dtype) for a in grad_args]
    out = _wrap(t._data, t._device)
    out._requires_grad = True
    out._grad_fn = node
    return out


class once_differentiable:
    """Decorator for a ``backward`` that can't itself be differentiated: it runs under no_grad,
    and under ``create_graph=True`` its results raise if anyone differentiates through them."""

    def __new__(cls, fn):
        import functools  # noqa: PLC0415

        @functools.wraps(fn)
        def wrapper(ctx, *args):
            prev = STATE.enabled
            STATE.enabled = False
            try:
                result = fn(ctx, *args)
            finally:
                STATE.enabled = prev
            grad_args = [a for a in args if isinstance(a, Tensor) and a._requires_grad]
            if not (prev and grad_args):
                return result
            if isinstance(result, tuple):
                return tuple(_delayed_error(r, grad_args) if isinstance(r, Tensor) else r
                             for r in result)
            return _delayed_error(result, grad_args) if isinstance(result, Tensor) else result

        return wrapper

