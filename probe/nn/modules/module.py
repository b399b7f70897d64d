"""``Module``: parameters, buffers and submodules, state dicts, and PyTorch's hook registries.

Hooks are stored where PyTorch stores them (``_forward_pre_hooks``, ``_forward_hooks``,
``_backward_pre_hooks``, ``_backward_hooks``: ordered dicts keyed by handle id), so code that
inspects them keeps working. A module with no hooks takes a fast path in ``__call__``.

Full backward hooks are built on probe's own graph (see ``backward_hooks.py``): unlike PyTorch's,
an in-place op on the output of a hooked module keeps working.
"""

from __future__ import annotations

import contextvars
import warnings
from collections import OrderedDict, namedtuple
from collections.abc import Mapping

from ...engine.backend import canonical_device
from ...engine.grad_mode import STATE
from ...engine.hooks import RemovableHandle
from ...engine.tensor import Tensor
from ..parameter import Buffer, Parameter
from .backward_hooks import BackwardHookState

# Global hooks (``register_module_*``): they run before every module's own hooks.
_global_forward_pre_hooks: OrderedDict = OrderedDict()
_global_forward_hooks: OrderedDict = OrderedDict()
_global_forward_hooks_always_called: dict = {}
_global_forward_hooks_with_kwargs: dict = {}
_global_backward_pre_hooks: OrderedDict = OrderedDict()
_global_backward_hooks: OrderedDict = OrderedDict()


def _any_global_hooks() -> bool:
    return bool(_global_forward_pre_hooks or _global_forward_hooks or _global_backward_pre_hooks
                or _global_backward_hooks)


def register_module_forward_pre_hook(hook):
    """A forward pre-hook for every module (runs before the module's own pre-hooks)."""
    handle = RemovableHandle(_global_forward_pre_hooks)
    _global_forward_pre_hooks[handle.id] = hook
    return handle


def register_module_forward_hook(hook, *, with_kwargs=False, always_call=False):
    """A forward hook for every module (runs before the module's own forward hooks)."""
    handle = RemovableHandle(_global_forward_hooks,
                             extra_dict=[_global_forward_hooks_always_called,
                                         _global_forward_hooks_with_kwargs])
    _global_forward_hooks[handle.id] = hook
    if with_kwargs:
        _global_forward_hooks_with_kwargs[handle.id] = True
    if always_call:
        _global_forward_hooks_always_called[handle.id] = True
    return handle


def register_module_full_backward_pre_hook(hook):
    """A backward pre-hook for every module."""
    handle = RemovableHandle(_global_backward_pre_hooks)
    _global_backward_pre_hooks[handle.id] = hook
    return handle


def register_module_full_backward_hook(hook):
    """A full backward hook for every module."""
    handle = RemovableHandle(_global_backward_hooks)
    _global_backward_hooks[handle.id] = hook
    return handle


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


# The copies staged by ``Module._load_from_state_dict`` while a ``load_state_dict`` runs (None
# outside one): they are made only after every module's check has passed.
_LOAD_PLAN: contextvars.ContextVar = contextvars.ContextVar("probe_load_plan", default=None)


def _apply_loaded(staged):
    """Make the copies (or, with ``assign``, the replacements) that a load staged."""
    from ...engine.backend import to_device_array  # noqa: PLC0415

    for module, local, current, is_param, value, assign in staged:
        if value is current:  # e.g. BatchNorm's num_batches_tracked filled in from itself
            continue
        if assign:
            if is_param:
                module._parameters[local] = Parameter(
                    value.detach().to(current._device), current._requires_grad)
            else:
                module._buffers[local] = value.detach().to(current._device)
            continue
        data = to_device_array(value._data, value._device, current._device)
        if data.dtype != current._data.dtype:
            data = data.astype(current._data.dtype)
        current._data[...] = data
        current._vc[0] += 1


def _copy_metadata(metadata):
    """A copy of a state dict's ``_metadata`` (None stays None), checked to be
    ``{prefix: {...}}``, so that loading never changes the caller's."""
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise TypeError("Expected state_dict._metadata to map module prefixes to dicts, got "
                        f"{type(metadata).__name__}.")
    copied = OrderedDict()
    for key, local in metadata.items():
        if not isinstance(local, Mapping):
            raise TypeError(f"Expected state_dict._metadata[{key!r}] to be a dict, got "
                            f"{type(local).__name__}.")
        copied[key] = dict(local)
    return copied


def _addindent(text, spaces):
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    first = lines.pop(0)
    return first + "\n" + "\n".join(" " * spaces + line for line in lines)


def _typename(value):
    if isinstance(value, Tensor):
        return value.type()
    module = type(value).__module__
    name = type(value).__qualname__
    return name if module in ("builtins", None) else f"{module}.{name}"


class Module:
    """Base class of all layers and models.

    >>> import probe
    >>> class TwoLayer(probe.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc1 = probe.nn.Linear(4, 8)
    ...         self.fc2 = probe.nn.Linear(8, 2)
    ...     def forward(self, x):
    ...         return self.fc2(self.fc1(x).relu())
    >>> [name for name, _ in TwoLayer().named_parameters()]
    ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
    """

    training: bool
    _version = 1
    call_super_init = False
    dump_patches = False

    def __init__(self, *args, **kwargs):
        if self.call_super_init is False and (args or kwargs):
            if kwargs:
                raise TypeError(
                    f"{type(self).__name__}.__init__() got an unexpected keyword argument "
                    f"'{next(iter(kwargs))}'"
                )
            raise TypeError(
                f"{type(self).__name__}.__init__() takes 1 positional argument but "
                f"{len(args) + 1} were given"
            )
        setattr_ = object.__setattr__
        setattr_(self, "training", True)
        setattr_(self, "_parameters", {})
        setattr_(self, "_buffers", {})
        setattr_(self, "_non_persistent_buffers_set", set())
        setattr_(self, "_modules", {})
        setattr_(self, "_forward_pre_hooks", OrderedDict())
        setattr_(self, "_forward_pre_hooks_with_kwargs", OrderedDict())
        setattr_(self, "_forward_hooks", OrderedDict())
        setattr_(self, "_forward_hooks_with_kwargs", OrderedDict())
        setattr_(self, "_forward_hooks_always_called", OrderedDict())
        setattr_(self, "_backward_pre_hooks", OrderedDict())
        setattr_(self, "_backward_hooks", OrderedDict())
        setattr_(self, "_is_full_backward_hook", None)
        setattr_(self, "_state_dict_hooks", OrderedDict())
        setattr_(self, "_load_state_dict_pre_hooks", OrderedDict())
        if self.call_super_init:
            super().__init__(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    # ------------------------------------------------------------------ registration
    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Register a tensor that is module state but not a parameter (e.g. running means)."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_attr_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{_typename(tensor)}' object to buffer '{name}' "
                "(torch Tensor or None required)"
            )
        if isinstance(tensor, Buffer):
            persistent = tensor.persistent
            tensor = tensor.detach()
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name: str, param) -> None:
        """Register a ``Parameter`` (or None) under ``name``."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_attr_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is None:
            self._parameters[name] = None
            return
        if not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                "(torch.nn.Parameter or None required)"
            )
        if param._grad_fn is not None:
            raise ValueError(
                f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must be "
                "created explicitly. To express '{name}' as a function of another Tensor, compute "
                "the value in the forward() method."
            )
        self._parameters[name] = param

    def add_module(self, name: str, module) -> None:
        """Register a child module (or None) under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {_typename(name)}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        """The submodule at a dotted path such as ``"encoder.layer.3"`` (``""`` is self)."""
        if target == "":
            return self
        module = self
        walked = []
        for item in target.split("."):
            if not hasattr(module, item):
                where = ".".join(walked) or type(self).__name__
                raise AttributeError(f"{module._get_name()} has no attribute `{item}`"
                                     + ("" if not walked else f" (under '{where}')"))
            module = getattr(module, item)
            walked.append(item)
            if not isinstance(module, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return module

    def set_submodule(self, target: str, module: Module, strict: bool = False) -> None:
        """Replace the submodule at a dotted path."""
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        parent_name, _, leaf = target.rpartition(".")
        parent = self.get_submodule(parent_name)
        if strict and not hasattr(parent, leaf):
            raise AttributeError(f"{parent._get_name()} has no attribute `{leaf}`")
        if not isinstance(module, Module):
            raise TypeError(f"`module` is not an nn.Module, found {type(module)}")
        setattr(parent, leaf, module)

    def get_parameter(self, target: str) -> Parameter:
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if not hasattr(module, name):
            raise AttributeError(f"{module._get_name()} has no attribute `{name}`")
        param = getattr(module, name)
        if not isinstance(param, Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return param

    def get_buffer(self, target: str) -> Tensor:
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if name not in module._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return module._buffers[name]

    # ------------------------------------------------------------------ attributes
    def __getattr__(self, name):
        d = self.__dict__
        if "_parameters" in d:
            params = d["_parameters"]
            if name in params:
                return params[name]
            buffers = d["_buffers"]
            if name in buffers:
                return buffers[name]
            modules = d["_modules"]
            if name in modules:
                return modules[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            _remove_from(name, d, d["_buffers"], d["_modules"], d["_non_persistent_buffers_set"])
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as parameter '{name}' "
                    "(torch.nn.Parameter or None expected)"
                )
            self.register_parameter(name, value)
            return
        modules = d.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            _remove_from(name, d, params, d["_buffers"], d["_non_persistent_buffers_set"])
            modules[name] = value
            return
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as child module '{name}' "
                    "(torch.nn.Module or None expected)"
                )
            modules[name] = value
            return
        buffers = d.get("_buffers")
        if isinstance(value, Buffer) or (buffers is not None and name in buffers):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{_typename(value)}' as buffer '{name}' "
                    "(torch.nn.Buffer, torch.Tensor or None expected)"
                )
            if isinstance(value, Buffer):
                self.register_buffer(name, value)
            else:
                buffers[name] = value
            return
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if name in d.get(store, ()):
                del d[store][name]
                d["_non_persistent_buffers_set"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        keys = set(super().__dir__())
        keys |= set(self._parameters) | set(self._buffers) | set(self._modules)
        return sorted(k for k in keys if not k[0].isdigit())

    def __setstate__(self, state):
        self.__dict__.update(state)

    # ------------------------------------------------------------------ iteration
    def _named_members(self, get_members, prefix="", recurse=True, remove_duplicate=True):
        memo = set()
        modules = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                   if recurse else [(prefix, self)])
        for module_prefix, module in modules:
            for name, value in get_members(module):
                if value is None or (remove_duplicate and id(value) in memo):
                    continue
                if remove_duplicate:
                    memo.add(id(value))
                yield (module_prefix + ("." if module_prefix else "") + name, value)

    def parameters(self, recurse: bool = True):
        """Yield the parameters (of submodules too, unless ``recurse=False``), each once."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True):
        """Yield ``(dotted_name, parameter)`` pairs, e.g. ``("fc1.weight", Parameter)``."""
        yield from self._named_members(lambda m: m._parameters.items(), prefix=prefix,
                                       recurse=recurse, remove_duplicate=remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True):
        yield from self._named_members(lambda m: m._buffers.items(), prefix=prefix,
                                       recurse=recurse, remove_duplicate=remove_duplicate)

    def children(self):
        for _, module in self.named_children():
            yield module

    def named_children(self):
        memo = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in memo:
                memo.add(id(module))
                yield name, module

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        """Yield ``(dotted_name, module)`` for this module and every descendant, depth first.

        Iterative, so very deep models do not hit Python's recursion limit.
        """
        if memo is None:
            memo = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if id(module) in memo:
                    continue
                memo.add(id(module))
            yield name, module
            children = [
                (name + ("." if name else "") + child_name, child)
                for child_name, child in module._modules.items() if child is not None
            ]
            stack.extend(reversed(children))

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters (to None by default, as PyTorch)."""
        for p in self.parameters():
            if p._grad is None:
                continue
            if set_to_none:
                p._grad = None
            else:
                g = p._grad
                if g._grad_fn is not None:
                    p._grad = g.detach()
                    g = p._grad
                g._data[...] = 0
                g._vc[0] += 1

    def apply(self, fn):
        """Call ``fn`` on every submodule (children first) and on self; returns self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ conversion
    def _apply(self, fn, recurse: bool = True):
        """Replace every parameter, gradient and buffer by ``fn(tensor)``, keeping Parameter
        objects (their data is swapped) so optimisers holding them stay valid."""
        if recurse:
            for module in self.children():
                module._apply(fn)
        from ...engine.grad_mode import no_grad  # noqa: PLC0415

        with no_grad():
            for param in self._parameters.values():
                if param is None:
                    continue
                new = fn(param)
                if new is not param:
                    param._data = new._data
                    param._device = new._device
                    param._vc[0] += 1
                if param._grad is not None:
                    new_grad = fn(param._grad)
                    if new_grad is not param._grad:
                        param._grad = new_grad
            for key, buf in self._buffers.items():
                if buf is not None:
                    self._buffers[key] = fn(buf)
        return self

    def to(self, *args, **kwargs):
        """Move and/or cast parameters and buffers: ``to(device)``, ``to(dtype)``,
        ``to(device, dtype)``, ``to(tensor)``. Only floating tensors change dtype."""
        from ...engine.ops.conversion import _parse_to_args  # noqa: PLC0415

        dev, dtype, _ = _parse_to_args(None, args, dict(kwargs))
        if dtype is not None and not dtype.is_floating_point:
            raise TypeError(
                f"nn.Module.to only accepts floating point or complex dtypes, but got desired "
                f"dtype={dtype}"
            )
        if dev is not None:
            dev = canonical_device(dev)

        def convert(t):
            if dtype is not None and t.is_floating_point():
                return t.to(device=dev, dtype=dtype)
            return t.to(device=dev) if dev is not None else t

        return self._apply(convert)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else
                       (f"cuda:{device}" if isinstance(device, int) else device))

    def _cast_floating(self, dtype):
        return self._apply(lambda t: t.to(dtype) if t.is_floating_point() else t)

    def float(self):
        from ...engine import dtypes  # noqa: PLC0415

        return self._cast_floating(dtypes.float32)

    def double(self):
        from ...engine import dtypes  # noqa: PLC0415

        return self._cast_floating(dtypes.float64)

    def half(self):
        from ...engine import dtypes  # noqa: PLC0415

        return self._cast_floating(dtypes.float16)

    def type(self, dst_type):
        return self._apply(lambda t: t.type(dst_type))

    def share_memory(self):
        return self

    # ------------------------------------------------------------------ state dicts
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf if keep_vars else buf.detach()

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """An ordered dict of parameters and persistent buffers by dotted name (tensors share
        storage with the module's, detached unless ``keep_vars``).

        As PyTorch's, the returned dict carries ``_metadata``: ``{module_prefix: {"version":
        module._version}}`` (``""`` for this module), which ``load_state_dict`` hands to each
        module so that it can upgrade checkpoints saved by older versions of it. A
        ``destination`` passed in gets ``_metadata`` entries only if it already has that
        attribute (PyTorch's rule).

        >>> import probe
        >>> net = probe.nn.Sequential(probe.nn.Linear(2, 2), probe.nn.BatchNorm1d(2))
        >>> dict(net.state_dict()._metadata)
        {'': {'version': 1}, '0': {'version': 1}, '1': {'version': 2}}
        """
        if args:  # legacy positional form state_dict(destination, prefix, keep_vars)
            warnings.warn(
                "Positional args are being deprecated, use kwargs instead. Refer to "
                "https://pytorch.org/docs/main/generated/torch.nn.Module.html"
                "#torch.nn.Module.state_dict for details.",
                FutureWarning,
                stacklevel=2,
            )
            if destination is None:
                destination = args[0]
            if len(args) > 1 and prefix == "":
                prefix = args[1]
            if len(args) > 2 and keep_vars is False:
                keep_vars = args[2]
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        local_metadata = {"version": self._version}
        if hasattr(destination, "_metadata"):
            destination._metadata[prefix[:-1]] = local_metadata
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                # A child's post-hook may hand back a new dict; PyTorch drops it below the
                # root (pytorch#117437), probe keeps it.
                destination = module.state_dict(destination=destination,
                                                 prefix=prefix + name + ".",
                                                 keep_vars=keep_vars)
        for hook in self._state_dict_hooks.values():
            result = hook(self, destination, prefix, local_metadata)
            if result is not None:
                destination = result
        return destination

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        """Check this module's own entries of ``state_dict`` (not its children's): PyTorch's
        per-module step of ``load_state_dict``.

        ``local_metadata`` is what ``state_dict()`` recorded for this module (``{}`` for a
        plain dict): a subclass overrides this method to upgrade an old checkpoint, reading
        ``local_metadata.get("version")`` and editing ``state_dict`` (a copy owned by
        ``load_state_dict``), then calls ``super()._load_from_state_dict(...)``. Problems are
        appended to ``missing_keys``, ``unexpected_keys`` (when ``strict``) and ``error_msgs``.

        Inside ``load_state_dict`` the copies are only staged, and made once every module has
        been checked without an error, so a failed load changes nothing. Called on its own (no
        ``load_state_dict`` running) it copies at once, as PyTorch's does.
        """
        local_state = OrderedDict()
        for name, param in self._parameters.items():
            if param is not None:
                local_state[name] = (param, True)
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                local_state[name] = (buf, False)
        assign = bool(local_metadata.get("assign_to_params_buffers", False))
        staged = []
        for name, (current, is_param) in local_state.items():
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor):
                value = _as_tensor_like(value, current)
                if value is None:
                    error_msgs.append(
                        f'While copying the parameter named "{key}", expected torch.Tensor or '
                        f"Tensor-like object from checkpoint but received {type(state_dict[key])}"
                    )
                    continue
            if current.dim() == 0 and value.dim() == 1 and value.shape[0] == 1:
                value = value[0]  # PyTorch 0.3 saved scalars as 1-element vectors
            if tuple(value._data.shape) != tuple(current._data.shape):
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape {value.shape} from "
                    f"checkpoint, the shape in current model is {current.shape}."
                )
                continue
            staged.append((self, name, current, is_param, value, assign))
        if strict:
            for key in state_dict:
                if not isinstance(key, str) or not key.startswith(prefix):
                    continue
                head, dot, _ = key[len(prefix):].partition(".")
                # A dotted key belongs to a child (checked there); a key under a child that
                # is None is ignored, as PyTorch does.
                if (dot and head not in self._modules) or (not dot and head not in local_state):
                    unexpected_keys.append(key)
        plan = _LOAD_PLAN.get()
        if plan is None:
            _apply_loaded(staged)
        else:
            plan.extend(staged)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy parameters and buffers from ``state_dict``.

        Works as PyTorch's: the mapping is copied (the caller's is never changed, nor its
        ``_metadata``), then each module, parent before children, checks its part with
        ``_load_from_state_dict`` and its ``_metadata`` entry, where old checkpoints are
        upgraded (e.g. BatchNorm's missing ``num_batches_tracked``). Every key and shape is
        checked before anything is copied; on any error nothing is changed and a RuntimeError
        lists all problems (PyTorch's wording; errors other than missing or unexpected keys
        raise also with ``strict=False``). Returns ``(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        metadata = _copy_metadata(getattr(state_dict, "_metadata", None))
        state_dict = OrderedDict(state_dict)
        if metadata is not None:
            state_dict._metadata = metadata
        # probe's load pre-hooks take (module, state_dict): the whole working copy, which they
        # may edit, before any module's check.
        for module in self.modules():
            for hook in module._load_state_dict_pre_hooks.values():
                hook(module, state_dict)
        missing_keys, unexpected_keys, error_msgs = [], [], []

        def load(module, local_state_dict, prefix):
            local_metadata = {} if metadata is None else dict(metadata.get(prefix[:-1], {}))
            if assign:
                local_metadata["assign_to_params_buffers"] = assign
            module._load_from_state_dict(local_state_dict, prefix, local_metadata, True,
                                         missing_keys, unexpected_keys, error_msgs)
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + "."
                    load(child, {k: v for k, v in local_state_dict.items()
                                 if isinstance(k, str) and k.startswith(child_prefix)},
                         child_prefix)

        plan = []
        token = _LOAD_PLAN.set(plan)
        try:
            load(self, state_dict, "")
        finally:
            _LOAD_PLAN.reset(token)
        unexpected_keys.extend(k for k in state_dict if not isinstance(k, str))
        if strict:
            if unexpected_keys:
                error_msgs.insert(0, "Unexpected key(s) in state_dict: "
                                  + ", ".join(f'"{k}"' for k in unexpected_keys) + ". ")
            if missing_keys:
                error_msgs.insert(0, "Missing key(s) in state_dict: "
                                  + ", ".join(f'"{k}"' for k in missing_keys) + ". ")
        if error_msgs:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(error_msgs))
        _apply_loaded(plan)
        return _IncompatibleKeys(missing_keys, unexpected_keys)

    def register_state_dict_post_hook(self, hook):
        handle = RemovableHandle(self._state_dict_hooks)
        self._state_dict_hooks[handle.id] = hook
        return handle

    _register_state_dict_hook = register_state_dict_post_hook

    def register_load_state_dict_pre_hook(self, hook):
        handle = RemovableHandle(self._load_state_dict_pre_hooks)
        self._load_state_dict_pre_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------------ repr
    def _get_name(self):
        return type(self).__name__

    def extra_repr(self) -> str:
        """Extra text inside this module's ``repr`` parentheses (layers override it)."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _addindent(repr(module), 2)
                       for key, module in self._modules.items()]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"

    # ------------------------------------------------------------------ hooks
    def register_forward_pre_hook(self, hook, *, prepend: bool = False,
                                  with_kwargs: bool = False):
        """``hook(module, args) -> None | new_args`` before ``forward``; with ``with_kwargs``
        ``hook(module, args, kwargs) -> None | (new_args, new_kwargs)``."""
        handle = RemovableHandle(self._forward_pre_hooks,
                                 extra_dict=self._forward_pre_hooks_with_kwargs)
        self._forward_pre_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        if prepend:
            self._forward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False):
        """``hook(module, args, output) -> None | new_output`` after ``forward``; with
        ``with_kwargs`` ``hook(module, args, kwargs, output)``; ``always_call`` also runs it
        when ``forward`` raises.

        >>> import probe
        >>> layer = probe.nn.Linear(2, 2)
        >>> seen = []
        >>> handle = layer.register_forward_hook(lambda m, args, out: seen.append(out.shape))
        >>> _ = layer(probe.ones(3, 2))
        >>> seen
        [probe.Size([3, 2])]
        """
        handle = RemovableHandle(
            self._forward_hooks,
            extra_dict=[self._forward_hooks_with_kwargs, self._forward_hooks_always_called],
        )
        self._forward_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs[handle.id] = True
        if always_call:
            self._forward_hooks_always_called[handle.id] = True
        if prepend:
            self._forward_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_full_backward_pre_hook(self, hook, prepend: bool = False):
        """``hook(module, grad_output) -> None | new_grad_output`` before the module's
        gradients are computed."""
        handle = RemovableHandle(self._backward_pre_hooks)
        self._backward_pre_hooks[handle.id] = hook
        if prepend:
            self._backward_pre_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_full_backward_hook(self, hook, prepend: bool = False):
        """``hook(module, grad_input, grad_output) -> None | new_grad_input`` once the
        gradients with respect to the module's inputs are computed."""
        if self._is_full_backward_hook is False:
            raise RuntimeError(
                "Cannot use both regular backward hooks and full backward hooks on a single "
                "Module. Please use only one of them."
            )
        object.__setattr__(self, "_is_full_backward_hook", True)
        handle = RemovableHandle(self._backward_hooks)
        self._backward_hooks[handle.id] = hook
        if prepend:
            self._backward_hooks.move_to_end(handle.id, last=False)
        return handle

    def register_backward_hook(self, hook):
        """Deprecated in PyTorch; probe runs it as a full backward hook."""
        warnings.warn(
            "register_backward_hook is deprecated; probe runs it as "
            "register_full_backward_hook (gradients with respect to the module's inputs).",
            FutureWarning, stacklevel=2,
        )
        return self.register_full_backward_hook(hook)

    # ------------------------------------------------------------------ calling
    def __call__(self, *args, **kwargs):
        if (self._forward_hooks or self._forward_pre_hooks or self._backward_hooks
                or self._backward_pre_hooks or _any_global_hooks()):
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    _call_impl = __call__

    def _call_with_hooks(self, args, kwargs):
        pre_hooks = (*_global_forward_pre_hooks.items(), *self._forward_pre_hooks.items())
        for hook_id, hook in pre_hooks:
            if hook_id in self._forward_pre_hooks_with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            "forward pre-hook must return None or a tuple of (new_args, "
                            f"new_kwargs), but got {result}."
                        )
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)

        backward_hooks = (*_global_backward_hooks.values(), *self._backward_hooks.values())
        backward_pre_hooks = (*_global_backward_pre_hooks.values(),
                              *self._backward_pre_hooks.values())
        bw_state = None
        if (backward_hooks or backward_pre_hooks) and STATE.enabled:
            bw_state = BackwardHookState(self, backward_hooks, backward_pre_hooks)
            args = bw_state.setup_input_hook(args)

        forward_hooks = (*_global_forward_hooks.items(), *self._forward_hooks.items())
        called = set()
        try:
            result = self.forward(*args, **kwargs)
            for hook_id, hook in forward_hooks:
                called.add(hook_id)
                if (hook_id in self._forward_hooks_with_kwargs
                        or hook_id in _global_forward_hooks_with_kwargs):
                    hook_result = hook(self, args, kwargs, result)
                else:
                    hook_result = hook(self, args, result)
                if hook_result is not None:
                    result = hook_result
        except Exception:
            for hook_id, hook in forward_hooks:
                if hook_id in called:
                    continue
                if (hook_id in self._forward_hooks_always_called
                        or hook_id in _global_forward_hooks_always_called):
                    try:
                        if (hook_id in self._forward_hooks_with_kwargs
                                or hook_id in _global_forward_hooks_with_kwargs):
                            hook(self, args, kwargs, None)
                        else:
                            hook(self, args, None)
                    except Exception as hook_exc:
                        warnings.warn(
                            f"forward hook with always_call=True raised an exception that was "
                            f"silenced as another error was raised in forward: {hook_exc!r}",
                            stacklevel=2,
                        )
            raise

        if bw_state is not None:
            result = bw_state.setup_output_hook(result)
        return result


def _remove_from(name, *stores):
    for store in stores:
        if store is None:
            continue
        if isinstance(store, set):
            store.discard(name)
        elif name in store:
            del store[name]


def _check_attr_name(name, what):
    if not isinstance(name, str):
        raise TypeError(f"{what} name should be a string. Got {_typename(name)}")
    if "." in name:
        raise KeyError(f'{what} name can\'t contain "."')
    if name == "":
        raise KeyError(f'{what} name can\'t be empty string ""')


def _as_tensor_like(value, like):
    """Accept NumPy arrays and numbers in a state_dict (as plain data for ``like``)."""
    import numpy as np  # noqa: PLC0415

    from ...engine.ops.creation import tensor  # noqa: PLC0415

    if isinstance(value, np.ndarray | np.generic | int | float):
        return tensor(np.asarray(value), dtype=like.dtype)
    return None

