"""Run one scenario on probe and on PyTorch and compare everything a user can see: values,
shapes, dtypes, grad_fn names and the gradients reaching every input.

``fn(lib, *inputs)`` is written once against the torch-like API and receives ``probe`` or
``torch`` as ``lib``. Float arrays become tensors that require grad (in ``dtype_name``); integer
and bool arrays become plain tensors (indices, masks).
"""

from __future__ import annotations

import warnings

import numpy as np


def run(lib, fn, arrays, dtype_name, *, grad_seed=7, quiet=False):
    dtype = getattr(lib, dtype_name)
    inputs = [lib.tensor(a, dtype=dtype, requires_grad=True) if a.dtype.kind == "f"
              else lib.tensor(a) for a in arrays]
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        out = fn(lib, *inputs)
    outs = list(out) if isinstance(out, tuple | list) else [out]
    diff = [o for o in outs if o.requires_grad]
    rng = np.random.default_rng(grad_seed)
    grads = [lib.tensor(rng.standard_normal(tuple(o.shape)), dtype=o.dtype) for o in diff]
    if diff:
        lib.autograd.backward(diff, grads)
    return {
        "values": [o.detach().numpy().copy() for o in outs],
        "dtypes": [str(o.dtype).split(".")[-1] for o in outs],
        "shapes": [tuple(o.shape) for o in outs],
        "names": [None if o.grad_fn is None else type(o.grad_fn).__name__ for o in outs],
        "grads": [None if t.grad is None else t.grad.numpy().copy() for t in inputs
                  if t.requires_grad],
    }


def default_tol(dtype_name):
    return 1e-5 if dtype_name == "float32" else 1e-10


def assert_same(got, want, *, rtol, atol, check_names=True):
    assert got["shapes"] == want["shapes"]
    assert got["dtypes"] == want["dtypes"]
    if check_names:
        assert got["names"] == want["names"]
    for g, w in zip(got["values"], want["values"], strict=True):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    assert len(got["grads"]) == len(want["grads"])
    for g, w in zip(got["grads"], want["grads"], strict=True):
        assert (g is None) == (w is None)
        if g is not None:
            assert g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def compare(fn, arrays, dtype_name, *, rtol=None, atol=None, grad_seed=7, check_names=True,
            quiet=False):
    """Run ``fn`` on probe and torch with the same arrays and assert they agree."""
    import pytest

    import probe

    torch = pytest.importorskip("torch")
    tol = default_tol(dtype_name)
    got = run(probe, fn, arrays, dtype_name, grad_seed=grad_seed, quiet=quiet)
    want = run(torch, fn, arrays, dtype_name, grad_seed=grad_seed, quiet=quiet)
    assert_same(got, want, rtol=tol if rtol is None else rtol, atol=tol if atol is None else atol,
                check_names=check_names)
