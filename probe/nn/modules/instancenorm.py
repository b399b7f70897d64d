"""Instance normalisation layers: ``InstanceNorm1d``, ``InstanceNorm2d``, ``InstanceNorm3d``.

Each channel of each sample is normalised over its own spatial elements. The layers share
parameters, buffers and repr with batch normalisation (``_NormBase``) but default to
``affine=False`` and ``track_running_stats=False``, as PyTorch's do. When running statistics are
tracked they are updated in training and normalise in evaluation; otherwise the input's own
statistics are used in both modes.
"""

from __future__ import annotations

import warnings

from ..functional_parts.normalization import instance_norm
from .batchnorm import _NormBase

__all__ = ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"]


class _InstanceNorm(_NormBase):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)

    def _get_no_batch_dim(self) -> int:
        """The dimensionality of an unbatched input (a batched one has one more dim)."""
        raise NotImplementedError

    def _check_input_dim(self, input):
        dims = (self._get_no_batch_dim(), self._get_no_batch_dim() + 1)
        if input.dim() not in dims:
            raise ValueError(f"expected {dims[0]}D or {dims[1]}D input "
                             f"(got {input.dim()}D input)")

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # Version 1 (PyTorch 0.4.0) stopped saving running statistics when
        # track_running_stats=False, the default. A checkpoint without a version that still
        # has them is an error (also with strict=False); the keys are dropped from the working
        # copy so that they are not reported a second time as unexpected.
        if local_metadata.get("version") is None and not self.track_running_stats:
            found = [prefix + name for name in ("running_mean", "running_var")
                     if prefix + name in state_dict]
            if found:
                klass = type(self).__name__
                names = " and ".join(f'"{key}"' for key in found)
                error_msgs.append(
                    f"Unexpected running stats buffer(s) {names} for {klass} with "
                    "track_running_stats=False. If state_dict is a checkpoint saved before "
                    f"0.4.0, this may be expected because {klass} does not track running stats "
                    "by default since 0.4.0. Please remove these keys from state_dict. If the "
                    "running stats are actually needed, instead set track_running_stats=True "
                    f"in {klass} to enable them. See the documentation of {klass} for details."
                )
                for key in found:
                    del state_dict[key]
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def _apply_instance_norm(self, input):
        # PyTorch passes momentum=None on as 0.0 here: unlike BatchNorm there is no cumulative
        # average, so the running statistics stay as they are and num_batches_tracked is never
        # counted.
        return instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                             self.training or not self.track_running_stats,
                             0.0 if self.momentum is None else self.momentum, self.eps)

    def forward(self, input):
        self._check_input_dim(input)
        no_batch_dim = self._get_no_batch_dim()
        feature_dim = input.dim() - no_batch_dim
        channels = input.shape[feature_dim]
        if channels != self.num_features:
            # With affine parameters the shapes cannot agree. Without them PyTorch only warns
            # (tracked running statistics then fail in instance_norm with its own error).
            if self.affine:
                raise ValueError(f"expected input's size at dim={feature_dim} to match "
                                 f"num_features ({self.num_features}), but got: {channels}.")
            warnings.warn(f"input's size at dim={feature_dim} does not match num_features. "
                          "You can silence this warning by not passing in num_features, which "
                          "is not used because affine=False",
                          stacklevel=3)  # the line that called the module, not Module.__call__
        if input.dim() == no_batch_dim:
            # An unbatched input is a batch of one (the graph gains Unsqueeze/Squeeze nodes).
            return self._apply_instance_norm(input.unsqueeze(0)).squeeze(0)
        return self._apply_instance_norm(input)


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of ``(N, C, L)`` or unbatched ``(C, L)`` inputs over L.

    >>> import probe
    >>> m = probe.nn.InstanceNorm1d(2)
    >>> m
    InstanceNorm1d(2, eps=1e-05, momentum=0.1, affine=False, bias=False, track_running_stats=False)
    >>> y = m(probe.tensor([[[1.0, 3.0], [2.0, 6.0]]]))
    >>> [round(v, 4) for v in y.flatten().tolist()]
    [-1.0, 1.0, -1.0, 1.0]
    """

    def _get_no_batch_dim(self) -> int:
        return 2


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of ``(N, C, H, W)`` or unbatched ``(C, H, W)`` inputs over H, W.

    >>> import probe
    >>> m = probe.nn.InstanceNorm2d(3, affine=True, track_running_stats=True)
    >>> list(m.state_dict())
    ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    >>> m(probe.randn(2, 3, 4, 4)).shape
    probe.Size([2, 3, 4, 4])
    """

    def _get_no_batch_dim(self) -> int:
        return 3


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)`` inputs over
    D, H, W.

    >>> import probe
    >>> m = probe.nn.InstanceNorm3d(2)
    >>> m(probe.randn(2, 3, 3, 3)).shape  # unbatched (C, D, H, W)
    probe.Size([2, 3, 3, 3])
    """

    def _get_no_batch_dim(self) -> int:
        return 4
