"""``RemovableHandle``: what every ``register_*hook`` returns."""

from __future__ import annotations

import itertools
import weakref


class HookDict(dict):
    """An insertion-ordered ``{handle_id: hook}`` that a handle can reference weakly."""

    __slots__ = ("__weakref__",)


class RemovableHandle:
    """Removes a registered hook. ``remove()`` is idempotent, the handle holds its dicts weakly
    (a handle never keeps a module or tensor alive), and it is a context manager.

    >>> import probe
    >>> w = probe.ones(2, requires_grad=True)
    >>> with w.register_hook(lambda g: g * 2):
    ...     (w * 3).sum().backward()
    >>> w.grad
    tensor([6., 6.])
    """

    _next_id = itertools.count()

    __slots__ = ("id", "hooks_dict_ref", "extra_dict_refs", "__weakref__")

    def __init__(self, hooks_dict, *, extra_dict=None):
        self.id = next(RemovableHandle._next_id)
        self.hooks_dict_ref = _ref(hooks_dict)
        if extra_dict is None:
            extras = ()
        elif isinstance(extra_dict, list | tuple):
            extras = extra_dict
        else:
            extras = (extra_dict,)
        self.extra_dict_refs = tuple(_ref(d) for d in extras)

    def remove(self) -> None:
        for ref in (self.hooks_dict_ref, *self.extra_dict_refs):
            d = ref()
            if d is not None:
                d.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False

    def __repr__(self):
        return f"<RemovableHandle id={self.id}>"


class _Strong:
    """A stand-in for a weak reference to an object that cannot be weakly referenced."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __call__(self):
        return self.obj


def _ref(d):
    try:
        return weakref.ref(d)
    except TypeError:  # plain dicts can't be weakly referenced
        return _Strong(d)
