"""Linear maps of ``probe.nn.functional``: ``linear`` and ``bilinear``.

``linear`` is the engine's fused op (``probe.engine.ops.linalg.linear``): one GEMM on the input
folded to 2-D plus the bias add, with PyTorch's grad_fn names (``AddmmBackward0`` for 2-D inputs,
``ViewBackward0`` for batched ones, ``MmBackward0``/``UnsafeViewBackward0`` without bias).
``bilinear`` is composed from a GEMM and a batched product, so it needs no backward of its own.
"""

from __future__ import annotations

import math

from ...engine.ops import linalg as _linalg

__all__ = ["bilinear", "linear"]

linear = _linalg.linear


def bilinear(input1, input2, weight, bias=None):
    """``y[..., o] = sum_ij input1[..., i] * weight[o, i, j] * input2[..., j] + bias[o]``.

    >>> import probe
    >>> w = probe.ones(5, 3, 4)
    >>> probe.nn.functional.bilinear(probe.ones(2, 3), probe.ones(2, 4), w).tolist()[0]
    [12.0, 12.0, 12.0, 12.0, 12.0]
    """
    x1, x2, w = input1._data, input2._data, weight._data
    if w.ndim != 3:
        raise RuntimeError(f"bilinear(): weight must be 3-dimensional, but got {w.ndim} dims")
    if x1.ndim != x2.ndim:
        raise RuntimeError(
            f"bilinear(): input dimensions do not match: got {x1.ndim} and {x2.ndim}"
        )
    for i in range(x1.ndim - 1):
        if x1.shape[i] != x2.shape[i]:
            raise RuntimeError(
                f"bilinear(): input batch dimensions do not match: got {x1.shape[i]} and "
                f"{x2.shape[i]}"
            )
    if x1.shape[-1] != w.shape[1]:
        raise RuntimeError(
            f"bilinear(): input1 size does not match weight size: got {x1.shape[-1]} but "
            f"expected {w.shape[1]}"
        )
    if x2.shape[-1] != w.shape[2]:
        raise RuntimeError(
            f"bilinear(): input2 size does not match weight size: got {x2.shape[-1]} but "
            f"expected {w.shape[2]}"
        )
    out_f, in1, in2 = w.shape
    if bias is not None and (bias._data.ndim != 1 or bias._data.shape[0] != out_f):
        got = bias._data.shape[-1] if bias._data.ndim else 1
        raise RuntimeError(
            f"bilinear(): bias size does not match weight size: got {got} but expected {out_f}"
        )
    batch = x1.shape[:-1]
    rows = math.prod(batch)
    a = input1.reshape(rows, in1)
    b = input2.reshape(rows, in2)
    # (rows, in1) @ (in1, out*in2): one GEMM, then a batched (out, in2) @ (in2, 1) per row.
    t = a.matmul(weight.permute(1, 0, 2).reshape(in1, out_f * in2)).reshape(rows, out_f, in2)
    y = t.matmul(b.unsqueeze(2)).reshape(*batch, out_f)
    return y if bias is None else y + bias
