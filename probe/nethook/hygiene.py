"""Hook hygiene: see every hook registered on a model, and fail loudly when some are left over.

Forgotten hooks are the classic interpretability bug: a capture or an edit that outlives its
experiment silently changes every later result. ``list_hooks`` shows what is attached,
``assert_no_hooks`` turns a leak into a test failure, and ``HookLeakWarning`` is what probe
warns with when an ``InstrumentedModel`` is dropped or closed with hooks still attached.
"""

from __future__ import annotations

# (hook kind, the Module attribute holding that registry)
_REGISTRIES = (
    ("forward_pre", "_forward_pre_hooks"),
    ("forward", "_forward_hooks"),
    ("backward_pre", "_backward_pre_hooks"),
    ("backward", "_backward_hooks"),
    ("state_dict", "_state_dict_hooks"),
    ("load_state_dict_pre", "_load_state_dict_pre_hooks"),
)

HOOK_KINDS = tuple(kind for kind, _ in _REGISTRIES)


class HookLeakWarning(UserWarning):
    """Hooks registered by ``probe.nethook`` were still attached when they should be gone.

    A ``UserWarning`` (not a ``ResourceWarning``) so that it is shown by default.
    """


def list_hooks(model, kinds=None):
    """Every hook registered on ``model`` and its submodules, as
    ``[(module_name, hook_kind, hook), ...]`` in module order (``""`` is ``model`` itself).

    ``hook_kind`` is one of ``HOOK_KINDS``: ``"forward_pre"``, ``"forward"``,
    ``"backward_pre"``, ``"backward"``, ``"state_dict"``, ``"load_state_dict_pre"``;
    ``kinds`` keeps only those.

    >>> import probe
    >>> net = probe.nn.Sequential(probe.nn.Linear(2, 2), probe.nn.ReLU())
    >>> handle = net[1].register_forward_hook(lambda m, args, out: None)
    >>> [(name, kind) for name, kind, _ in list_hooks(net)]
    [('1', 'forward')]
    >>> handle.remove()
    >>> list_hooks(net)
    []
    """
    if kinds is not None:
        kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        unknown = [k for k in kinds if k not in HOOK_KINDS]
        if unknown:
            raise ValueError(f"unknown hook kind(s) {unknown}; expected some of {HOOK_KINDS}")
    found = []
    for name, module in model.named_modules():
        d = module.__dict__
        for kind, attr in _REGISTRIES:
            if kinds is not None and kind not in kinds:
                continue
            registry = d.get(attr)
            if registry:
                found.extend((name, kind, hook) for hook in list(registry.values()))
    return found


def is_nethook_hook(hook) -> bool:
    """Whether ``hook`` was registered by ``probe.nethook`` (Trace, TraceDict,
    InstrumentedModel), judged by the module its code lives in."""
    func = getattr(hook, "__func__", hook)
    module = getattr(func, "__module__", None) or type(hook).__module__ or ""
    return module == "probe.nethook" or module.startswith("probe.nethook.")


def describe_hooks(hooks) -> str:
    """One line per ``(module_name, hook_kind, hook)``, for error and warning messages."""
    lines = []
    for name, kind, hook in hooks:
        label = getattr(hook, "__qualname__", None) or type(hook).__qualname__
        lines.append(f"  {name or '<root>'}: {kind} hook {label}")
    return "\n".join(lines)


def assert_no_hooks(model, kinds=None) -> None:
    """Raise ``AssertionError`` listing every hook still registered on ``model``.

    >>> import probe
    >>> assert_no_hooks(probe.nn.Linear(2, 2))
    """
    hooks = list_hooks(model, kinds)
    if hooks:
        raise AssertionError(
            f"{len(hooks)} hook(s) still registered on {type(model).__name__}:\n"
            + describe_hooks(hooks)
        )
