"""``gradcheck``: compare analytical gradients with float64 central finite differences."""

from __future__ import annotations

import numpy as np

from .grad_mode import STATE
from .tensor import Tensor, _wrap


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when the analytical and numerical Jacobians differ."""


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _differentiable_outputs(func, inputs):
    outputs = _as_tuple(func(*inputs))
    return [o for o in outputs if isinstance(o, Tensor) and o._requires_grad]


def _numerical_jacobians(func, inputs, eps):
    """For each input requiring grad: a list (per output) of (n_in, n_out) Jacobians."""
    result = []
    prev = STATE.enabled
    STATE.enabled = False
    try:
        for t in inputs:
            if not (isinstance(t, Tensor) and t._requires_grad):
                continue
            data = t._data
            flat = data.reshape(-1)  # a view: the inputs are contiguous float64 tensors
            columns = None
            for k in range(flat.size):
                orig = flat[k].item()
                flat[k] = orig + eps
                plus = [o._data.astype(np.float64).ravel().copy()
                        for o in _as_tuple(func(*inputs)) if isinstance(o, Tensor)]
                flat[k] = orig - eps
                minus = [o._data.astype(np.float64).ravel().copy()
                         for o in _as_tuple(func(*inputs)) if isinstance(o, Tensor)]
                flat[k] = orig
                if columns is None:
                    columns = [np.zeros((flat.size, p.size)) for p in plus]
                for j, (p, m) in enumerate(zip(plus, minus, strict=False)):
                    columns[j][k] = (p - m) / (2 * eps)
            result.append(columns or [])
    finally:
        STATE.enabled = prev
    return result


def _analytical_jacobians(func, inputs):
    from .autograd import run_backward

    diff_inputs = [t for t in inputs if isinstance(t, Tensor) and t._requires_grad]
    all_outputs = [o for o in _as_tuple(func(*inputs)) if isinstance(o, Tensor)]
    jac = [[np.zeros((t._data.size, o._data.size)) for o in all_outputs] for t in diff_inputs]
    for j, out in enumerate(all_outputs):
        if not out._requires_grad:
            continue
        xp = out._device.xp
        for k in range(out._data.size):
            seed = xp.zeros(out._data.size, dtype=out._data.dtype)
            seed[k] = 1
            seed_t = _wrap(seed.reshape(out._data.shape), out._device)
            grads = run_backward([out], [seed_t], True, False, inputs=diff_inputs,
                                 accumulate=False, allow_unused=True)
            for i, g in enumerate(grads):
                if g is not None:
                    data = g._data if out._device.type == "cpu" else g._data.get()
                    jac[i][j][:, k] = np.asarray(data, dtype=np.float64).ravel()
    return jac


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0, check_undefined_grad=True, check_grad_dtypes=False,
              check_batched_grad=False, fast_mode=False, masked=None) -> bool:
    """Check ``func``'s gradients against finite differences; inputs should be float64 tensors.

    >>> import probe
    >>> x = probe.randn(3, dtype=probe.float64, requires_grad=True)
    >>> probe.autograd.gradcheck(lambda t: (t * t).sin(), (x,))
    True
    """
    inputs = _as_tuple(inputs)
    for i, t in enumerate(inputs):
        if isinstance(t, Tensor) and t._requires_grad:
            if t._data.dtype != np.float64:
                import warnings

                warnings.warn(
                    f"Input #{i} requires gradient and is not a double precision floating point. "
                    "This check will likely fail if all the inputs are not of double precision "
                    "floating point. ", UserWarning, stacklevel=2,
                )
            if not t._data.flags.c_contiguous:
                raise ValueError(f"gradcheck input #{i} must be contiguous")
    numerical = _numerical_jacobians(func, inputs, eps)
    analytical = _analytical_jacobians(func, inputs)
    for i, (num_cols, ana_cols) in enumerate(zip(numerical, analytical, strict=False)):
        if len(num_cols) != len(ana_cols):
            # ``func`` returned a different number of tensors with grad recording off.
            msg = (f"Jacobian mismatch for input {i}: {len(ana_cols)} outputs analytically, "
                   f"{len(num_cols)} numerically\n")
            if raise_exception:
                raise GradcheckError(msg)
            return False
        for j, (num, ana) in enumerate(zip(num_cols, ana_cols, strict=False)):
            if not np.allclose(ana, num, rtol=rtol, atol=atol):
                msg = (f"Jacobian mismatch for output {j} with respect to input {i},\n"
                       f"numerical:{num}\nanalytical:{ana}\n")
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True, **kwargs) -> bool:
    """Check second derivatives: gradcheck of the function ``inputs -> grad(func(inputs))``."""
    from .autograd import run_backward

    inputs = _as_tuple(inputs)
    diff_idx = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t._requires_grad]
    outputs = _differentiable_outputs(func, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(
            _wrap(o._device.xp.asarray(rng.standard_normal(o._data.shape)), o._device)
            for o in outputs
        )
    grad_outputs = _as_tuple(grad_outputs)

    def first_grads(*args):
        # The numerical pass of gradcheck runs ``func`` with grad recording off; the first
        # derivatives need the graph, so record it here whatever the surrounding mode.
        prev = STATE.enabled
        STATE.enabled = True
        try:
            outs = _differentiable_outputs(func, args)
            diff = [args[i] for i in diff_idx]
            grads = run_backward(outs, list(grad_outputs), True, True, inputs=diff,
                                 accumulate=False, allow_unused=True)
        finally:
            STATE.enabled = prev
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_grads, inputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
