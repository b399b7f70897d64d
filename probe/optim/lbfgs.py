"""L-BFGS with an optional strong-Wolfe line search, as ``torch.optim.LBFGS``.

The algorithm works on one flat vector over all parameters. Scalars that PyTorch keeps as
0-d tensors of the parameters' dtype (inner products, step lengths, ``rho``, ``H_diag``) are
NumPy scalars of that dtype here, so that they round the way PyTorch's do and the iterates
follow PyTorch's.
"""

from __future__ import annotations

import numpy as np

from ..engine.backend import CPU
from ..engine.grad_mode import STATE, enable_grad
from ..engine.tensor import Tensor, _wrap
from .optimizer import Optimizer, _real_view, _scalar
from .sgd import _check_lr

__all__ = ["LBFGS"]


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through two points with their slopes, clipped to ``bounds``
    (by default the interval between the points); the midpoint if the cubic has none."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


class LBFGS(Optimizer):
    """L-BFGS (after minFunc), PyTorch's algorithm and defaults: ``lr=1``, ``max_iter=20``,
    ``max_eval=max_iter * 5 // 4``, ``tolerance_grad=1e-7``, ``tolerance_change=1e-9``,
    ``history_size=100``, ``line_search_fn=None`` or ``"strong_wolfe"``.

    One parameter group only; ``step(closure)`` needs a closure that clears the gradients,
    computes the loss, calls ``backward`` and returns the loss. The state (directions, steps,
    counters) lives under the first parameter, as in PyTorch.

    >>> import probe
    >>> w = probe.nn.Parameter(probe.tensor([3.0, -1.0]))
    >>> opt = probe.optim.LBFGS([w], line_search_fn="strong_wolfe")
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = ((w - 1) ** 2).sum()
    ...     loss.backward()
    ...     return loss
    >>> _ = opt.step(closure)
    >>> w
    Parameter containing:
    tensor([1., 1.], requires_grad=True)
    """

    _state_follows_param_shape = False
    _tensor_step = False

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        _check_lr(lr)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        if line_search_fn is not None and line_search_fn != "strong_wolfe":
            raise RuntimeError("only 'strong_wolfe' is supported")
        defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
        }
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]
        self._numel_cache = None

    def __setstate__(self, state):
        super().__setstate__(state)
        self._params = self.param_groups[0]["params"]
        self._numel_cache = None

    # ------------------------------------------------------------------ flat views
    def _numel(self):
        if self._numel_cache is None:
            self._numel_cache = sum(
                2 * p.numel() if p.is_complex() else p.numel() for p in self._params
            )
        return self._numel_cache

    def _xp(self):
        return self._params[0]._device.xp

    def _gather_flat_grad(self):
        xp = self._xp()
        views = []
        for p in self._params:
            if p._grad is None:
                views.append(xp.zeros_like(_real_view(p._data).reshape(-1)))
            else:
                views.append(_real_view(p._grad._data).reshape(-1))
        return xp.concatenate(views)

    def _add_grad(self, step_size, update):
        xp = self._xp()
        offset = 0
        for p in self._params:
            x = _real_view(p._data)
            n = x.size
            chunk = update[offset:offset + n].reshape(x.shape)
            xp.add(x, xp.multiply(chunk, step_size), out=x)
            p._vc[0] += 1
            offset += n
        if offset != self._numel():
            raise AssertionError(f"Expected offset {offset} to equal {self._numel()}")

    def _clone_param(self):
        return [p._data.copy() for p in self._params]

    def _set_param(self, params_data):
        for p, data in zip(self._params, params_data):
            p._data[...] = data
            p._vc[0] += 1

    def _directional_evaluate(self, closure, x, t, d):
        self._add_grad(t, d)
        loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # ------------------------------------------------------------------ step
    def step(self, closure):
        """Run up to ``max_iter`` L-BFGS iterations; returns the loss of the first evaluation
        of ``closure``."""
        if closure is None:
            raise RuntimeError(
                "LBFGS.step() needs a closure that re-evaluates the model and returns the loss"
            )
        if len(self.param_groups) != 1:
            raise AssertionError(
                f"Expected exactly one param_group, but got {len(self.param_groups)}"
            )
        prev = STATE.enabled
        STATE.enabled = False
        try:
            return self._step(closure)
        finally:
            STATE.enabled = prev

    def _step(self, user_closure):
        def closure():
            with enable_grad():
                return user_closure()

        group = self.param_groups[0]
        lr = _scalar(group["lr"])
        max_iter = group["max_iter"]
        max_eval = group["max_eval"]
        tolerance_grad = group["tolerance_grad"]
        tolerance_change = group["tolerance_change"]
        line_search_fn = group["line_search_fn"]
        history_size = group["history_size"]

        sc = np.dtype(_real_dtype(self._params[0])).type
        xp = self._xp()

        def host(x):
            return sc(float(x))

        def dot(a, b):
            return host(a.dot(b))

        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1

        flat_grad = self._gather_flat_grad()
        if host(xp.abs(flat_grad).max()) <= tolerance_grad:
            return orig_loss

        d = _array(state.get("d"))
        t = _number(state.get("t"), sc)
        old_dirs = _arrays(state.get("old_dirs"))
        old_stps = _arrays(state.get("old_stps"))
        ro = _numbers(state.get("ro"), sc)
        H_diag = _number(state.get("H_diag"), sc)
        prev_flat_grad = _array(state.get("prev_flat_grad"))
        prev_loss = state.get("prev_loss")
        al = _numbers(state.get("al"), sc)

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = xp.multiply(d, t)
                ys = dot(y, s)
                if ys > 1e-10:
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / dot(y, y)
                num_old = len(old_dirs)
                if al is None:
                    al = [None] * history_size
                # Two-loop recursion: d = -H * grad with the stored curvature pairs.
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    al[i] = dot(old_stps[i], q) * ro[i]
                    q += xp.multiply(old_dirs[i], -al[i])
                d = r = xp.multiply(q, H_diag)
                for i in range(num_old):
                    be_i = dot(old_dirs[i], r) * ro[i]
                    r += xp.multiply(old_stps[i], al[i] - be_i)

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss

            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / host(xp.abs(flat_grad).sum())) * lr
            else:
                t = lr

            gtd = dot(flat_grad, d)
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x_init = self._clone_param()

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd, host, dot,
                    max_ls=max_eval - current_evals,
                )
                self._add_grad(t, d)
                opt_cond = host(xp.abs(flat_grad).max()) <= tolerance_grad
            else:
                self._add_grad(t, d)
                opt_cond = False
                if n_iter != max_iter:
                    loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = host(xp.abs(flat_grad).max()) <= tolerance_grad
                    ls_func_evals = 1

            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            if n_iter == max_iter:
                break
            if current_evals >= max_eval:
                break
            if opt_cond:
                break
            if host(xp.abs(xp.multiply(d, t)).max()) <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        device = self._params[0]._device
        state["d"] = _tensor(d, device)
        state["t"] = _scalar_tensor(t)
        state["old_dirs"] = [_tensor(v, device) for v in old_dirs or []]
        state["old_stps"] = [_tensor(v, device) for v in old_stps or []]
        state["ro"] = [_scalar_tensor(v) for v in ro or []]
        state["H_diag"] = _scalar_tensor(H_diag)
        state["prev_flat_grad"] = _tensor(prev_flat_grad, device)
        state["prev_loss"] = prev_loss
        if al is not None:
            state["al"] = [_scalar_tensor(v) for v in al]
        return orig_loss


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, host, dot, c1=1e-4, c2=0.9,
                  tolerance_change=1e-9, max_ls=25):
    """A step length satisfying the strong Wolfe conditions along ``d`` (bracketing, then
    zooming with cubic interpolation), PyTorch's line search step for step."""
    d_norm = host(abs(d).max())
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = dot(g_new, d)

    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    bracket_gtd = None
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket = [t_prev, t]
            bracket_f = [f_prev, f_new]
            bracket_g = [g_prev, g_new.copy()]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket = [t]
            bracket_f = [f_new]
            bracket_g = [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket = [t_prev, t]
            bracket_f = [f_prev, f_new]
            bracket_g = [g_prev, g_new.copy()]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        # Extrapolate.
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(min_step, max_step))
        t_prev = tmp
        f_prev = f_new
        g_prev = g_new.copy()
        gtd_prev = gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = dot(g_new, d)
        ls_iter += 1

    if ls_iter == max_ls:
        bracket = [0, t]
        bracket_f = [f, f_new]
        bracket_g = [g, g_new]

    # Zoom: shrink the bracket until a point satisfies the conditions.
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])
        # Keep away from the bracket's ends unless progress was already insufficient.
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = dot(g_new, d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            bracket[high_pos] = t
            bracket_f[high_pos] = f_new
            bracket_g[high_pos] = g_new.copy()
            bracket_gtd[high_pos] = gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                bracket[high_pos] = bracket[low_pos]
                bracket_f[high_pos] = bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos] = t
            bracket_f[low_pos] = f_new
            bracket_g[low_pos] = g_new.copy()
            bracket_gtd[low_pos] = gtd_new

    t = bracket[low_pos]
    f_new = bracket_f[low_pos]
    g_new = bracket_g[low_pos]
    return f_new, g_new, t, ls_func_evals


def _real_dtype(p):
    dtype = p._data.dtype
    return dtype if dtype.kind != "c" else p._data.real.dtype


def _array(value):
    return value._data if isinstance(value, Tensor) else value


def _arrays(values):
    return None if values is None else [_array(v) for v in values]


def _number(value, sc):
    """A state scalar back as a NumPy scalar of the parameters' dtype (or a Python number)."""
    if isinstance(value, Tensor):
        return sc(float(value._data))
    return value


def _numbers(values, sc):
    return None if values is None else [None if v is None else _number(v, sc) for v in values]


def _tensor(array, device):
    return None if array is None else _wrap(array, device)


def _scalar_tensor(value):
    """NumPy scalars become 0-d CPU tensors in the state (PyTorch keeps 0-d tensors there);
    Python numbers stay numbers."""
    if isinstance(value, np.generic):
        return _wrap(np.asarray(value), CPU)
    return value
