"""``Optimizer``: parameter groups, per-parameter state, ``state_dict`` and step hooks.

The element-wise optimizers (SGD, Adam, AdamW, RMSprop, Adagrad) update parameters in place on
their arrays (NumPy or CuPy) with ufuncs that write into ``out=``: a step records no autograd
graph and allocates nothing per parameter beyond a few scratch buffers that are reused from step
to step. The Tensor in-place methods would do the same arithmetic, but their per-call checks
made a step of many small parameters about 1.6x slower.
"""

from __future__ import annotations

import functools
import warnings
from collections import OrderedDict, defaultdict
from copy import deepcopy
from itertools import chain

import numpy as np

from ..engine.backend import CPU
from ..engine.grad_mode import STATE, enable_grad
from ..engine.hooks import RemovableHandle
from ..engine.tensor import Tensor, _wrap

__all__ = [
    "Optimizer",
    "required",
    "register_optimizer_step_pre_hook",
    "register_optimizer_step_post_hook",
]


# Scratch buffers up to this size are cached by the optimizer between steps.
_SCRATCH_CACHE_BYTES = 64 << 20


class _RequiredParameter:
    """Marks an optimizer default that every parameter group must set itself."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


class _HookRegistry(OrderedDict):
    """Insertion-ordered ``{handle_id: hook}`` that a ``RemovableHandle`` references weakly."""


_global_step_pre_hooks = _HookRegistry()
_global_step_post_hooks = _HookRegistry()


def register_optimizer_step_pre_hook(hook) -> RemovableHandle:
    """Register ``hook(optimizer, args, kwargs)`` to run before every optimizer's ``step``."""
    handle = RemovableHandle(_global_step_pre_hooks)
    _global_step_pre_hooks[handle.id] = hook
    return handle


def register_optimizer_step_post_hook(hook) -> RemovableHandle:
    """Register ``hook(optimizer, args, kwargs)`` to run after every optimizer's ``step``."""
    handle = RemovableHandle(_global_step_post_hooks)
    _global_step_post_hooks[handle.id] = hook
    return handle


def _typename(obj) -> str:
    """PyTorch's ``torch.typename``: the legacy tensor type name or ``module.qualname``."""
    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    if hasattr(obj, "__qualname__"):
        qualname = obj.__qualname__
    elif hasattr(obj, "__name__"):
        qualname = obj.__name__
    else:
        module = obj.__class__.__module__ or ""
        qualname = obj.__class__.__qualname__
    if module in ("", "builtins"):
        return qualname
    return f"{module}.{qualname}"


def _hooked(step):
    """Wrap a ``step`` so the optimizer's and the global step hooks run around it."""

    @functools.wraps(step)
    def wrapper(*args, **kwargs):
        self = args[0]
        self._opt_called = True  # lets a scheduler tell whether step() ran before its own step
        if not (self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks
                or _global_step_pre_hooks or _global_step_post_hooks):
            return step(*args, **kwargs)
        if self.__dict__.get("_running_step_hooks"):
            # A subclass's step calling super().step(): the hooks run once, around the outer.
            return step(*args, **kwargs)
        self._running_step_hooks = True
        try:
            return _call_with_hooks(self, step, args, kwargs)
        finally:
            self._running_step_hooks = False

    wrapper.hooked = True
    return wrapper


def _call_with_hooks(self, step, args, kwargs):
    """``step(*args, **kwargs)`` between the pre-hooks (global first) and the post-hooks."""
    for pre_hook in chain(tuple(_global_step_pre_hooks.values()),
                          tuple(self._optimizer_step_pre_hooks.values())):
        result = pre_hook(self, args, kwargs)
        if result is not None:
            if isinstance(result, tuple) and len(result) == 2:
                args, kwargs = result
            else:
                raise RuntimeError(
                    f"{step} must return None or a tuple of (new_args, new_kwargs), but got "
                    f"{result}."
                )
    out = step(*args, **kwargs)
    for post_hook in chain(tuple(self._optimizer_step_post_hooks.values()),
                           tuple(_global_step_post_hooks.values())):
        post_hook(self, args, kwargs)
    return out


def _scalar(value):
    """A Python number from a float or a one-element tensor (a tensor learning rate)."""
    if isinstance(value, Tensor):
        return value.item()
    return value


def _step_tensor(value=0.0) -> Tensor:
    """A step counter as PyTorch keeps it: a float32 0-d tensor on the CPU."""
    return _wrap(np.array(value, dtype=np.float32), CPU)


def _state_like(p, fill=0):
    """A new state tensor shaped like parameter ``p``, filled with ``fill``, on ``p``'s device
    (CuPy allocates on the current device, so make it ``p``'s first)."""
    data = p._data
    with _on_device_of(data):
        return _wrap(p._device.xp.full_like(data, fill), p._device)


def _real_view(array):
    """A complex array as a real array of twice the last dimension (PyTorch's view_as_real),
    so the element-wise update formulas act on the real and imaginary parts alike."""
    if array.dtype.kind == "c":
        return array.view(array.real.dtype)
    return array


class Optimizer:
    """Base class of all optimizers.

    ``params`` is an iterable of tensors (or of ``(name, tensor)`` pairs), or of dicts that each
    define a parameter group with its own options; options missing from a group take the values
    in ``defaults``.

    >>> import probe
    >>> w = probe.nn.Parameter(probe.ones(2))
    >>> opt = probe.optim.SGD([w], lr=0.5)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    Parameter containing:
    tensor([0., 0.], requires_grad=True)
    """

    # Whether each per-parameter state tensor has its parameter's shape (load_state_dict checks
    # it); LBFGS keeps flat vectors over all parameters instead.
    _state_follows_param_shape = True
    # Whether the per-parameter ``step`` counter is a tensor (Adam, RMSprop, Adagrad).
    _tensor_step = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "hooked", False):
            cls.step = _hooked(step)

    def __init__(self, params, defaults):
        self.defaults = defaults
        self._optimizer_step_pre_hooks = _HookRegistry()
        self._optimizer_step_post_hooks = _HookRegistry()
        self._optimizer_state_dict_pre_hooks = _HookRegistry()
        self._optimizer_state_dict_post_hooks = _HookRegistry()
        self._optimizer_load_state_dict_pre_hooks = _HookRegistry()
        self._optimizer_load_state_dict_post_hooks = _HookRegistry()
        self._scratch_buffers = {}
        self._update_observers = _HookRegistry()

        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                "dicts, but got " + _typename(params)
            )
        self.state = defaultdict(dict)
        self.param_groups = []

        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    # ------------------------------------------------------------------ pickling and repr
    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        for name in ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks",
                     "_optimizer_state_dict_pre_hooks", "_optimizer_state_dict_post_hooks",
                     "_optimizer_load_state_dict_pre_hooks",
                     "_optimizer_load_state_dict_post_hooks"):
            if name not in self.__dict__:
                setattr(self, name, _HookRegistry())
        if "_scratch_buffers" not in self.__dict__:
            self._scratch_buffers = {}
        if "_update_observers" not in self.__dict__:
            self._update_observers = _HookRegistry()
        self.defaults.setdefault("differentiable", False)

    def __repr__(self):
        text = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"

    # ------------------------------------------------------------------ parameter groups
    def add_param_group(self, param_group) -> None:
        """Add a group of parameters (a dict with ``params`` and optional options) to optimize.

        >>> import probe
        >>> a, b = probe.nn.Parameter(probe.ones(2)), probe.nn.Parameter(probe.ones(3))
        >>> opt = probe.optim.SGD([a], lr=0.1)
        >>> opt.add_param_group({"params": [b], "lr": 0.01})
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.01]
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        # Validate a copy: a rejected group leaves both the caller's dict and the optimizer as
        # they were.
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)

        tensors, names = [], []
        for param in params:
            if isinstance(param, tuple):
                names.append(param[0])
                tensors.append(param[1])
            else:
                tensors.append(param)
        if names:
            if len(names) != len(tensors):
                raise ValueError(
                    "all optimizer params should be with/without names. Some param names are "
                    "missing"
                )
            group["param_names"] = names
        group["params"] = tensors

        for param in tensors:
            if not isinstance(param, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    + _typename(param)
                )
            if not self.defaults.get("differentiable", None) and not (
                param._grad_fn is None or param._retains_grad
            ):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(
                    "parameter group didn't specify a value of required optimization parameter "
                    f"{name}"
                )
            group.setdefault(name, default)

        ids = {id(p) for p in tensors}
        if len(ids) != len(tensors):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, this "
                "will cause an error; see github.com/pytorch/pytorch/issues/40967 for more "
                "information",
                stacklevel=3,
            )
        existing = set()
        for other in self.param_groups:
            existing.update(id(p) for p in other["params"])
            if ("param_names" in group) != ("param_names" in other):
                which = "with names" if "param_names" in group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. cannot add param "
                    f"group {which} to the optimizer"
                )
        if not existing.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")

        param_group.clear()
        param_group.update(group)
        self.param_groups.append(param_group)

    # ------------------------------------------------------------------ gradients and step
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized tensors: to ``None`` (default) or to zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p._grad
                if g is None:
                    continue
                if set_to_none:
                    p._grad = None
                else:
                    if g._grad_fn is not None:
                        g._grad_fn = None
                    g._requires_grad = False
                    g._data.fill(0)
                    g._vc[0] += 1

    def step(self, closure=None):
        """Perform one optimization step; subclasses implement it."""
        raise NotImplementedError

    def _run_step(self, closure):
        """The body shared by the element-wise optimizers: evaluate ``closure`` with grad
        enabled, then update every group with grad recording off."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        prev = STATE.enabled
        STATE.enabled = False
        try:
            # A NaN or Inf gradient propagates into the weights silently, as in PyTorch; NumPy
            # would print a RuntimeWarning for each array op of the step.
            with np.errstate(all="ignore"):
                for group in self.param_groups:
                    self._update_group(group)
        finally:
            STATE.enabled = prev
        return loss

    def _update_group(self, group) -> None:
        raise NotImplementedError

    # Optimizers whose every step goes through ``_apply_update`` (so observers see each update).
    _reports_updates = False

    def _apply_update(self, p, x, update, decay=0.0) -> None:
        """``x = x * (1 - decay) + update`` for parameter ``p`` (``x`` is ``p``'s array or its
        real view; ``decay`` is AdamW's decoupled ``lr * weight_decay``): bumps ``p``'s version
        counter. The update observers see the step's change ``update - decay * x`` first, as
        ``observe(p, update, decay, x)`` while ``x`` still holds the weights before the step,
        so that measuring it needs no array of its own."""
        observers = self._update_observers
        if observers:
            for observe in observers.values():
                observe(p, update, decay, x)
        xp = p._device.xp
        if decay:
            xp.multiply(x, 1 - decay, out=x)
        xp.add(x, update, out=x)
        p._vc[0] += 1

    def _register_update_observer(self, observer) -> RemovableHandle:
        """Call ``observer(param, update, decay, weights)`` before each update a step makes to a
        parameter, which changes it by ``update - decay * weights`` (probe-only; PyTorch has no
        such hook). ``probe.monitor`` measures the applied update this way instead of copying
        the weights before the step and subtracting after. The arrays are the optimizer's own
        (a scratch buffer, the parameter's data): read them during the call, do not keep or
        change them. Only optimizers whose class sets ``_reports_updates`` call it for every
        update they make."""
        handle = RemovableHandle(self._update_observers)
        self._update_observers[handle.id] = observer
        return handle

    def _scratch(self, array, slot=0):
        """A buffer shaped like ``array`` (same dtype and array module) for intermediate
        results; ``slot`` picks one of several buffers needed at the same time. Buffers up to
        ``_SCRATCH_CACHE_BYTES`` are kept and reused from step to step (freeing and re-faulting
        them each step was measured to cost more than the arithmetic); larger ones are
        temporary, as PyTorch's are."""
        n = array.size
        if n * array.itemsize > _SCRATCH_CACHE_BYTES:
            with _on_device_of(array):
                return _array_module(array).empty(array.shape, dtype=array.dtype)
        key = (slot, array.dtype, type(array))
        buf = self._scratch_buffers.get(key)
        if buf is None or buf.size < n or _device_of(buf) != _device_of(array):
            with _on_device_of(array):
                buf = _array_module(array).empty(n, dtype=array.dtype)
            self._scratch_buffers[key] = buf
        return buf[:n].reshape(array.shape)

    # ------------------------------------------------------------------ hooks
    def register_step_pre_hook(self, hook) -> RemovableHandle:
        """Register ``hook(optimizer, args, kwargs) -> None | (new_args, new_kwargs)`` to run
        before ``step``; a returned pair replaces the arguments ``step`` is called with."""
        handle = RemovableHandle(self._optimizer_step_pre_hooks)
        self._optimizer_step_pre_hooks[handle.id] = hook
        return handle

    def register_step_post_hook(self, hook) -> RemovableHandle:
        """Register ``hook(optimizer, args, kwargs) -> None`` to run after ``step``."""
        handle = RemovableHandle(self._optimizer_step_post_hooks)
        self._optimizer_step_post_hooks[handle.id] = hook
        return handle

    def register_state_dict_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """Register ``hook(optimizer)`` to run before ``state_dict`` builds its result."""
        return _register(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """Register ``hook(optimizer, state_dict) -> None | state_dict`` to run after
        ``state_dict``; a returned dict replaces the result."""
        return _register(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """Register ``hook(optimizer, state_dict) -> None | state_dict`` to run before
        ``load_state_dict``; a returned dict is loaded instead."""
        return _register(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """Register ``hook(optimizer)`` to run after ``load_state_dict``."""
        return _register(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    # ------------------------------------------------------------------ state_dict
    def state_dict(self):
        """The optimizer's state as ``{'state': {index: {...}}, 'param_groups': [...]}``.

        Parameters are replaced by their index, counted across all groups in order; the state
        tensors are the optimizer's own (not copies), as in PyTorch.

        >>> import probe
        >>> w = probe.nn.Parameter(probe.ones(2))
        >>> opt = probe.optim.Adam([w])
        >>> (w * w).sum().backward(); opt.step()
        >>> sd = opt.state_dict()
        >>> sorted(sd["state"][0]), sd["param_groups"][0]["params"]
        (['exp_avg', 'exp_avg_sq', 'step'], [0])
        """
        for pre_hook in tuple(self._optimizer_state_dict_pre_hooks.values()):
            pre_hook(self)

        mapping = {}
        start = 0
        packed_groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            packed_groups.append(packed)
        packed_state = {
            (mapping[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()
        }
        state_dict = {"state": packed_state, "param_groups": packed_groups}

        for post_hook in tuple(self._optimizer_state_dict_post_hooks.values()):
            result = post_hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    def load_state_dict(self, state_dict) -> None:
        """Load a state produced by ``state_dict`` (of an optimizer over the same parameter
        layout). Everything is checked before anything changes; state tensors are copied to
        each parameter's device and, for floating parameters, its dtype (``step`` counters
        keep theirs).
        """
        if not isinstance(state_dict, dict):
            raise TypeError(
                f"optimizer state_dict must be a dict, but got {type(state_dict).__name__}"
            )
        state_dict = state_dict.copy()
        for pre_hook in tuple(self._optimizer_load_state_dict_pre_hooks.values()):
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result
        for key in ("state", "param_groups"):
            if key not in state_dict:
                raise KeyError(
                    f"optimizer state_dict is missing the key '{key}' (expected the dict "
                    "returned by Optimizer.state_dict(): {'state': ..., 'param_groups': ...})"
                )

        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of "
                "optimizer's group"
            )
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        # Check every state tensor against its parameter before building the new state.
        if self._state_follows_param_shape:
            for k, value in state_dict["state"].items():
                param = id_map.get(k)
                if param is None or not isinstance(value, dict):
                    continue
                for name, v in value.items():
                    if isinstance(v, Tensor) and v._data.ndim and v.shape != param.shape:
                        raise ValueError(
                            f"loaded state dict has '{name}' of shape {list(v.shape)} for "
                            f"parameter {k}, but that parameter has shape {list(param.shape)}"
                        )

        state = defaultdict(dict)
        for k, value in state_dict["state"].items():
            param = id_map.get(k)
            if param is None:
                state[k] = value
            else:
                state[param] = _cast_state(param, value, None, self._tensor_step)

        new_groups = []
        for group, new_group in zip(groups, saved_groups):
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            new_groups.append(new_group)
        self.__setstate__({"state": state, "param_groups": new_groups})

        for post_hook in tuple(self._optimizer_load_state_dict_post_hooks.values()):
            post_hook(self)


def _register(registry, hook, prepend):
    handle = RemovableHandle(registry)
    registry[handle.id] = hook
    if prepend:
        registry.move_to_end(handle.id, last=False)
    return handle


def _cast_state(param, value, key=None, tensor_step=True):
    """A copy of ``value`` with its tensors on ``param``'s device (and dtype, when floating)."""
    if isinstance(value, Tensor):
        value = value.detach()
        if key == "step":
            return value.clone()
        if param.is_floating_point():
            return value.to(dtype=param.dtype, device=param.device, copy=True)
        return value.to(device=param.device, copy=True)
    if key == "step" and tensor_step and isinstance(value, int | float):
        return _step_tensor(float(value))  # a checkpoint that kept the step as a number
    if isinstance(value, dict):
        return {k: _cast_state(param, v, k, tensor_step) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_cast_state(param, v, None, tensor_step) for v in value)
    return value


def _device_of(array):
    if isinstance(array, np.ndarray):
        return None
    return array.device.id


def _array_module(array):
    if isinstance(array, np.ndarray):
        return np
    import cupy  # noqa: PLC0415  (only reached for CuPy arrays)

    return cupy


class _NullContext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _on_device_of(array):
    if isinstance(array, np.ndarray):
        return _NullContext()
    return array.device
