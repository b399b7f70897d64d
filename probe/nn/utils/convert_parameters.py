"""``parameters_to_vector`` and ``vector_to_parameters``: parameters as one flat vector."""

from __future__ import annotations

from ...engine.ops.shape import cat as _cat
from ...engine.tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _check_param_device(param, old_param_device):
    """The device index of ``param`` (-1 for CPU); PyTorch's TypeError when it differs from
    ``old_param_device``."""
    dev = param._device
    index = (dev.index or 0) if dev.type == "cuda" else -1
    if old_param_device is None:
        return index
    if index != old_param_device:
        raise TypeError("Found two parameters on different devices, this is currently not "
                        "supported.")
    return old_param_device


def parameters_to_vector(parameters) -> Tensor:
    """All ``parameters`` flattened and concatenated into one vector (differentiable).

    >>> import probe
    >>> layer = probe.nn.Linear(3, 2)
    >>> probe.nn.utils.parameters_to_vector(layer.parameters()).shape
    probe.Size([8])
    """
    device = None
    vec = []
    for param in parameters:
        device = _check_param_device(param, device)
        vec.append(param.reshape(-1))
    return _cat(vec)


def _typename(obj) -> str:
    cls = type(obj)
    module = cls.__module__
    return cls.__qualname__ if module in (None, "builtins") else f"{module}.{cls.__qualname__}"


def vector_to_parameters(vec, parameters) -> None:
    """Copy consecutive slices of ``vec`` into ``parameters`` (each takes ``numel()`` values and
    its own shape); the parameters then share ``vec``'s storage, as in PyTorch."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {_typename(vec)}")
    device = None
    pointer = 0
    for param in parameters:
        device = _check_param_device(param, device)
        n = param.numel()
        param.data = vec[pointer:pointer + n].view_as(param).data
        pointer += n
