"""Edit parameters by name and put them back exactly.

``edit_parameters`` is a context manager for "what if this weight were different" experiments;
``snapshot_parameters`` saves values to restore or compare later. Both write into each
parameter's own storage (under ``no_grad``), so the ``Parameter`` objects stay the same and an
optimizer holding them sees the edit.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from contextlib import contextmanager

from ..engine.grad_mode import no_grad
from ..engine.tensor import Tensor
from .naming import get_parameter, parameter_names


def _lookup(model, names):
    """``{name: Parameter}``, every name checked before any is used (LookupError naming close
    matches for the first unknown one)."""
    return OrderedDict((name, get_parameter(model, name)) for name in names)


def _saved_copy(param):
    with no_grad():
        return param.detach().clone()


def _write(param, value):
    with no_grad():
        param.copy_(value)


def _new_value(name, param, value):
    """The tensor to write into ``param`` for ``value`` (tensor, number or callable(old)),
    cast to its dtype and device; ValueError on a shape mismatch."""
    if callable(value) and not isinstance(value, Tensor):
        with no_grad():
            value = value(param.detach().clone())
    if isinstance(value, Tensor):
        new = value.detach()
    elif isinstance(value, bool | int | float):
        with no_grad():
            return param.detach().clone().fill_(value)
    else:
        try:
            from ..engine.ops.creation import as_tensor  # noqa: PLC0415

            new = as_tensor(value)
        except Exception as exc:
            raise TypeError(
                f"edit for '{name}' must be a Tensor, a number or a callable(old) -> new, "
                f"got {type(value).__name__}"
            ) from exc
    if tuple(new.shape) != tuple(param.shape):
        if new.dim() == 0:
            with no_grad():
                return param.detach().clone().fill_(new.item())
        raise ValueError(
            f"edit for '{name}' has shape {tuple(new.shape)}, the parameter has shape "
            f"{tuple(param.shape)}"
        )
    if new.device != param.device or new.dtype != param.dtype:
        new = new.to(device=param.device, dtype=param.dtype)
    return new


@contextmanager
def edit_parameters(model, edits):
    """Temporarily set parameters by name: ``{name: tensor | number | callable(old) -> new}``.

    Every name (``LookupError`` naming close matches) and shape (``ValueError``) is checked
    before anything changes. The new values are copied into the parameters' storage under
    ``no_grad``; on exit the exact original values are copied back, also when the body raises.
    Nesting works (each level restores what it found).

    >>> import probe
    >>> layer = probe.nn.Linear(2, 1)
    >>> with edit_parameters(layer, {"bias": 0.0, "weight": lambda w: w * 0}):
    ...     layer(probe.ones(1, 2)).item()
    0.0
    >>> bool(layer.weight.abs().sum() > 0)
    True
    """
    params = _lookup(model, list(edits))
    new_values = [(params[name], _new_value(name, params[name], value))
                  for name, value in edits.items()]
    saved = [(param, _saved_copy(param)) for param, _ in new_values]
    applied = 0
    try:
        for param, value in new_values:
            _write(param, value)
            applied += 1
        yield model
    finally:
        # Reverse order: a parameter listed twice (same object under two names) gets its
        # first-seen original back.
        for param, original in reversed(saved[:applied]):
            _write(param, original)


class ParameterSnapshot:
    """Saved copies of some parameters: ``restore()`` writes them back bit for bit,
    ``diff(model)`` reports the largest absolute change per name.

    >>> import probe
    >>> layer = probe.nn.Linear(2, 2)
    >>> snap = snapshot_parameters(layer)
    >>> with probe.no_grad():
    ...     _ = layer.weight.add_(1.0)
    >>> snap.diff(layer)["weight"]
    1.0
    >>> snap.restore()
    >>> snap.diff(layer)["weight"]
    0.0
    """

    def __init__(self, params):
        self._params = OrderedDict(params)
        self._saved = OrderedDict((name, _saved_copy(p)) for name, p in self._params.items())

    @property
    def names(self):
        """The snapshotted names, in order."""
        return list(self._saved)

    def __len__(self):
        return len(self._saved)

    def __contains__(self, name):
        return name in self._saved

    def __iter__(self):
        return iter(self._saved)

    def __getitem__(self, name):
        """The saved value of ``name`` (a detached copy; do not modify it)."""
        return self._saved[name]

    def restore(self, model=None):
        """Write the saved values back into the snapshotted parameters (into ``model``'s
        parameters of the same names when given)."""
        targets = self._params if model is None else _lookup(model, self._saved)
        for name, saved in self._saved.items():
            param = targets[name]
            if tuple(param.shape) != tuple(saved.shape):
                raise ValueError(
                    f"cannot restore '{name}': saved shape {tuple(saved.shape)}, "
                    f"parameter shape {tuple(param.shape)}"
                )
        for name, saved in self._saved.items():
            _write(targets[name], saved)

    def diff(self, model=None):
        """``{name: max |current - saved|}`` as floats for ``model`` (default: the snapshotted
        parameters); NaN where the shapes differ."""
        targets = self._params if model is None else _lookup(model, self._saved)
        out = OrderedDict()
        with no_grad():
            for name, saved in self._saved.items():
                current = targets[name].detach()
                if tuple(current.shape) != tuple(saved.shape):
                    out[name] = math.nan
                elif current.numel() == 0:
                    out[name] = 0.0
                else:
                    current = current.to(saved.device)
                    if not current.dtype.is_floating_point:
                        current, saved = current.double(), saved.double()
                    out[name] = float((current - saved).abs().max().item())
        return out

    def changed(self, model=None, atol=0.0):
        """Names whose largest absolute change exceeds ``atol``."""
        return [name for name, d in self.diff(model).items() if not d <= atol]

    def __repr__(self):
        return f"ParameterSnapshot({len(self)} parameters)"


def snapshot_parameters(model, names=None):
    """A ``ParameterSnapshot`` of ``names`` (default: every parameter); unknown names raise
    ``LookupError`` naming close matches."""
    if names is None:
        names = parameter_names(model)
    elif isinstance(names, str):
        names = [names]
    return ParameterSnapshot(_lookup(model, list(names)))
