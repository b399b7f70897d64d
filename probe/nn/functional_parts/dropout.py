"""Dropout functions of ``probe.nn.functional``: ``dropout``, ``dropout1d/2d/3d``,
``alpha_dropout`` and ``feature_alpha_dropout``.

In training the input is multiplied by a mask drawn from probe's default generator of the
input's device (so ``probe.manual_seed`` makes it reproducible) and scaled by ``1 / (1 - p)``;
the product is an ordinary ``mul``, so the grad_fn is PyTorch's ``MulBackward0``. In evaluation,
with ``p == 0`` or on an empty input, the input itself is returned, as PyTorch does.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ...engine import random as _random
from ...engine.tensor import _wrap

__all__ = [
    "alpha_dropout", "dropout", "dropout1d", "dropout2d", "dropout3d", "feature_alpha_dropout",
]

# The SELU fixed point: alpha' = -scale * alpha (see Klambauer et al., "Self-Normalizing Neural
# Networks"); alpha dropout sets dropped units to -alpha' and rescales to keep mean and variance.
_ALPHA = 1.7580993408473766


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _keep_mask(input, p, shape):
    """A 0/1 array of ``shape`` (1 with probability ``1 - p``) in the input's dtype."""
    dev = input._device
    rng = _random._generator_for(dev, None)
    dtype = input._data.dtype
    u = _random._sample_float(rng, "uniform", shape, dtype if dtype.kind == "f" else
                              np.dtype(np.float32))
    return (u >= p).astype(dtype)


def _feature_shape(shape):
    return tuple(shape[:2]) + (1,) * (len(shape) - 2)


def _apply_mask(input, mask, inplace):
    m = _wrap(mask, input._device)
    return input.mul_(m) if inplace else input * m


def _dropout_impl(input, p, training, inplace, feature):
    _check_p(p)
    data = input._data
    if p == 0 or not training or data.size == 0:
        return input
    if feature and data.ndim < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    xp = input._device.xp
    if p == 1:
        return _apply_mask(input, xp.zeros((), dtype=data.dtype), inplace)
    shape = _feature_shape(data.shape) if feature else data.shape
    mask = _keep_mask(input, p, shape)
    mask *= data.dtype.type(1.0 / (1.0 - p))
    return _apply_mask(input, mask, inplace)


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` (training
    only; identity otherwise).

    >>> import probe
    >>> x = probe.ones(4)
    >>> probe.nn.functional.dropout(x, 0.5, training=False) is x
    True
    """
    return _dropout_impl(input, p, training, inplace, False)


def _channel_dropout_warning(name, ndim, spatial, ok):
    warnings.warn(
        f"{name}: Received a {ndim}-D input to {name}, which is deprecated and will result in an "
        "error in a future release. To retain the behavior and silence this warning, please use "
        f"dropout instead. Note that {name} exists to provide channel-wise dropout on inputs with "
        f"{spatial} spatial dimensions, a channel dimension, and an optional batch dimension "
        f"(i.e. {ok} inputs).",
        stacklevel=3,
    )


def _unbatched(input, batched, inplace, p, training):
    if batched:
        return _dropout_impl(input, p, training, inplace, True)
    x = input.unsqueeze_(0) if inplace else input.unsqueeze(0)
    out = _dropout_impl(x, p, training, inplace, True)
    return out.squeeze_(0) if inplace else out.squeeze(0)


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of ``(N, C, L)`` or ``(C, L)`` inputs with probability ``p``."""
    _check_p(p)
    ndim = input._data.ndim
    if ndim not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {ndim}D input. Note that "
            "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, "
            "a channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs)."
        )
    return _unbatched(input, ndim == 3, inplace, p, training)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of ``(N, C, H, W)`` inputs with probability ``p`` (a 3-D input is
    read as ``(N, C, L)``, as PyTorch still does)."""
    _check_p(p)
    ndim = input._data.ndim
    if ndim not in (3, 4):
        _channel_dropout_warning("dropout2d", ndim, 2, "3D or 4D")
    if ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
            "the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2,
        )
    return _dropout_impl(input, p, training, inplace, True)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` inputs with probability
    ``p``."""
    _check_p(p)
    ndim = input._data.ndim
    if ndim not in (4, 5):
        _channel_dropout_warning("dropout3d", ndim, 3, "4D or 5D")
    return _unbatched(input, ndim == 5, inplace, p, training)


def _alpha_impl(input, p, training, inplace, feature):
    _check_p(p)
    data = input._data
    if p == 0 or not training or data.size == 0:
        return input
    if feature and data.ndim < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    xp = input._device.xp
    if p == 1:
        return _apply_mask(input, xp.zeros((), dtype=data.dtype), inplace)
    shape = _feature_shape(data.shape) if feature else data.shape
    keep = _keep_mask(input, p, shape)
    a = 1.0 / math.sqrt((_ALPHA * _ALPHA * p + 1) * (1 - p))
    # Dropped units become the saturation value: out = a * (x * keep + alpha' * (1 - keep)) + b.
    shift = (keep - 1) * data.dtype.type(_ALPHA * a) + data.dtype.type(_ALPHA * a * p)
    keep *= data.dtype.type(a)
    out = _apply_mask(input, keep, inplace)
    shift_t = _wrap(shift, input._device)
    return out.add_(shift_t) if inplace else out + shift_t


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout that keeps the self-normalising property of SELU networks (zero mean, unit
    variance): dropped units are set to SELU's negative saturation value, then an affine
    correction is applied."""
    return _alpha_impl(input, p, training, inplace, False)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    """``alpha_dropout`` that drops whole channels."""
    return _alpha_impl(input, p, training, inplace, True)
