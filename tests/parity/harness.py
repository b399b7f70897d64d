"""Run one scenario on probe and on PyTorch and compare everything a user can see: values,
shapes, dtypes, grad_fn names and the gradients reaching every input.

``fn(lib, *inputs)`` is written once against the torch-like API and receives ``probe`` or
``torch`` as ``lib``. Float arrays become tensors that require grad (in ``dtype_name``); integer
and bool arrays become plain tensors (indices, masks); a float array wrapped in ``Const`` becomes
a tensor in ``dtype_name`` that does not require grad (a loss weight, a target). For example::

    compare(lambda L, x, w: L.nn.functional.mse_loss(x, L.zeros(3), weight=w),
            [np.ones(3), Const(np.arange(3.0))], "float64")

Error texts are compared the same way: ``assert_same_error(lambda L: L.ones(2).sum(3))``.
"""

from __future__ import annotations

import re
import warnings

import numpy as np


class Const:
    """A float input that stays a constant: converted to ``dtype_name`` without requires_grad.

    >>> Const([1.0, 2.0]).array.tolist()
    [1.0, 2.0]
    """

    def __init__(self, array):
        self.array = np.asarray(array)


def _input(lib, a, dtype):
    if isinstance(a, Const):
        return lib.tensor(a.array, dtype=dtype)
    if a.dtype.kind == "f":
        return lib.tensor(a, dtype=dtype, requires_grad=True)
    return lib.tensor(a)


def run(lib, fn, arrays, dtype_name, *, grad_seed=7, quiet=False, fields=None, params=(),
        out_grad="random"):
    """Run ``fn(lib, *inputs)``, backpropagate into it and return what ``assert_same`` compares.

    ``grad_seed`` seeds the random output gradients (``out_grad="ones"`` sends ones instead);
    ``quiet`` silences warnings in forward and backward; ``fields`` names the fields of a
    named-tuple result (they must be the very tensors that unpacking gives); ``params`` are
    tensors besides the inputs whose gradients are returned too (a module's parameters).
    """
    dtype = getattr(lib, dtype_name)
    inputs = [_input(lib, a, dtype) for a in arrays]
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        out = fn(lib, *inputs)
        outs = list(out) if isinstance(out, tuple | list) else [out]
        named = None
        if fields:
            named = [getattr(out, f) for f in fields]
            assert all(a is b for a, b in zip(out, named, strict=True))
        diff = [o for o in outs if o.requires_grad]
        rng = np.random.default_rng(grad_seed)
        grads = [lib.tensor(np.ones(tuple(o.shape)) if out_grad == "ones"
                            else rng.standard_normal(tuple(o.shape)), dtype=o.dtype)
                 for o in diff]
        if diff:
            lib.autograd.backward(diff, grads)
    result = {
        "values": [o.detach().numpy().copy() for o in outs],
        "dtypes": [str(o.dtype).split(".")[-1] for o in outs],
        "shapes": [tuple(o.shape) for o in outs],
        "names": [None if o.grad_fn is None else type(o.grad_fn).__name__ for o in outs],
        "grads": [None if t.grad is None else t.grad.numpy().copy() for t in [*inputs, *params]
                  if t.requires_grad],
    }
    if named is not None:
        result["type"] = type(out).__name__
        result["named"] = [o.detach().numpy().copy() for o in named]
    return result


def default_tol(dtype_name):
    return 1e-5 if dtype_name == "float32" else 1e-10


def assert_same(got, want, *, rtol, atol, check_names=True, name_aliases=(), grad_rtol=None,
                grad_atol=None):
    """Assert two ``run`` results agree. ``name_aliases`` holds (probe, torch) grad_fn name
    pairs accepted as equal; gradients use ``grad_rtol``/``grad_atol`` where given."""
    assert got["shapes"] == want["shapes"]
    assert got["dtypes"] == want["dtypes"]
    if check_names:
        names = [w if (g, w) in name_aliases else g
                 for g, w in zip(got["names"], want["names"], strict=True)]
        assert names == want["names"]
    assert got.get("type") == want.get("type")
    for g, w in zip(got["values"], want["values"], strict=True):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    for g, w in zip(got.get("named") or [], want.get("named") or [], strict=True):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    grad_rtol = rtol if grad_rtol is None else grad_rtol
    grad_atol = atol if grad_atol is None else grad_atol
    assert len(got["grads"]) == len(want["grads"])
    for g, w in zip(got["grads"], want["grads"], strict=True):
        assert (g is None) == (w is None)
        if g is not None:
            assert g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=grad_rtol, atol=grad_atol)


def compare(fn, arrays, dtype_name, *, rtol=None, atol=None, grad_seed=7, check_names=True,
            quiet=False, fields=None, name_aliases=(), grad_rtol=None, grad_atol=None):
    """Run ``fn`` on probe and torch with the same arrays and assert they agree."""
    import pytest

    import probe

    torch = pytest.importorskip("torch")
    tol = default_tol(dtype_name)
    got = run(probe, fn, arrays, dtype_name, grad_seed=grad_seed, quiet=quiet, fields=fields)
    want = run(torch, fn, arrays, dtype_name, grad_seed=grad_seed, quiet=quiet, fields=fields)
    assert_same(got, want, rtol=tol if rtol is None else rtol, atol=tol if atol is None else atol,
                check_names=check_names, name_aliases=name_aliases, grad_rtol=grad_rtol,
                grad_atol=grad_atol)


def probe_text(text):
    """A PyTorch message as probe words it: ``torch.`` names read ``probe.``, and PyTorch's note
    on where in its C++ source the message came from is dropped.

    >>> probe_text("torch.cat(): bad (Triggered internally at aten/x.cpp:1.)")
    'probe.cat(): bad'
    """
    text = text.replace("torch.", "probe.")
    return re.sub(r"\s*\(Triggered internally at .*?\)", "", text, flags=re.S)


def raised(lib, call, *, quiet=False):
    """The exception ``call(lib)`` raises; fails the test if it raises none."""
    import pytest

    with pytest.raises(Exception) as info, warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        call(lib)
    return info.value


def assert_same_error(call, *, quiet=False, text=probe_text, first_line=False):
    """Assert ``call(probe)`` raises the same exception type as ``call(torch)``, with the text
    ``text`` makes of PyTorch's message (only their first lines with ``first_line``: PyTorch
    appends notes on its own internals to some messages)."""
    import pytest

    import probe

    torch = pytest.importorskip("torch")
    want = raised(torch, call, quiet=quiet)
    got = raised(probe, call, quiet=quiet)
    assert type(got) is type(want)
    got_text, want_text = str(got), text(str(want))
    if first_line:
        got_text, want_text = got_text.split("\n")[0], want_text.split("\n")[0]
    assert got_text == want_text
