"""Autograd parity with PyTorch: each scenario is written once against a module ``lib`` and run on
``torch`` and on ``probe``; the plain-data results (values, grad_fn names, graph structure, hook
logs, error texts) must be equal."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import probe

torch = pytest.importorskip("torch")


def normalize_error(exc: BaseException) -> str:
    text = str(exc)
    text = re.sub(r"\s*\(Triggered internally at .*?\)", "", text, flags=re.S)
    return f"{type(exc).__name__}: {text.replace('torch.', 'probe.')}"


def outcome(fn, lib):
    """``fn(lib)``'s value, or its normalised exception."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(lib)
        except Exception as exc:  # noqa: BLE001 - the error text is what is compared
            return normalize_error(exc)


def same(fn):
    expected = outcome(fn, torch)
    got = outcome(fn, probe)
    assert got == expected
    return got


def vals(t, digits=5):
    if t is None:
        return None
    return np.round(np.asarray(t.detach().cpu().tolist(), dtype=np.float64), digits).tolist()


def graph(fn, depth=6):
    """A grad_fn's name and the structure below it (leaves show as AccumulateGrad)."""
    if fn is None:
        return None
    name = type(fn).__name__
    if depth == 0 or name == "AccumulateGrad":
        return name
    return (name, tuple((graph(n, depth - 1), nr) for n, nr in fn.next_functions))


def leaf(lib, data, dtype="float32"):
    return lib.tensor(data, dtype=getattr(lib, dtype), requires_grad=True)


# ----------------------------------------------------------------------------------------------
# grad_fn names and next_functions
# ----------------------------------------------------------------------------------------------

def _xy(lib):
    x = leaf(lib, [[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])
    y = leaf(lib, [[2.0, 1.0, -1.0], [3.0, 0.25, 2.0]])
    return x, y


GRAPH_EXPRESSIONS = {
    "mul_scalar": lambda lib, x, y: x * 2,
    "add_tensor": lambda lib, x, y: x + y,
    "add_constant": lambda lib, x, y: x + lib.ones(3),
    "rsub": lambda lib, x, y: 1 - x,
    "div_pow": lambda lib, x, y: x / y ** 2,
    "pow_tensor": lambda lib, x, y: x.abs() ** y,
    "neg_exp_sum": lambda lib, x, y: (-x).exp().sum(),
    "sigmoid_tanh": lambda lib, x, y: x.sigmoid() * y.tanh(),
    "mean_dims": lambda lib, x, y: x.mean(0) + y.sum(1).mean(),
    "view_t": lambda lib, x, y: x.view(3, 2).t() * y,
    "matmul": lambda lib, x, y: (x @ y.t()).relu(),
    "index_slice": lambda lib, x, y: x[0] * y[1:2],
    "cat_stack": lambda lib, x, y: lib.stack([lib.cat([x, y]), lib.cat([y, x])]),
    "cast_clone": lambda lib, x, y: x.double().clone() * y.double(),
    "shared_subexpr": lambda lib, x, y: (lambda h: h * h + h)(x * y),
    "inplace_non_leaf": lambda lib, x, y: (x * 1).add_(y).mul_(2),
    "max_dim": lambda lib, x, y: x.max(1)[0] + x.max(),
}


@pytest.mark.parametrize("name", list(GRAPH_EXPRESSIONS))
def test_graph_structure(name):
    expr = GRAPH_EXPRESSIONS[name]

    def scenario(lib):
        x, y = _xy(lib)
        out = expr(lib, x, y)
        return graph(out.grad_fn), out.requires_grad, out.is_leaf

    same(scenario)


@pytest.mark.parametrize("name", list(GRAPH_EXPRESSIONS))
def test_graph_gradients(name):
    expr = GRAPH_EXPRESSIONS[name]

    def scenario(lib):
        x, y = _xy(lib)
        out = expr(lib, x, y)
        out.sum().backward()
        return vals(x.grad, 4), vals(y.grad, 4)

    same(scenario)


def test_next_functions_leaf_and_constant():
    def scenario(lib):
        x = leaf(lib, [1.0, 2.0])
        nf = (x * 2).grad_fn.next_functions
        return [(type(n).__name__ if n is not None else None, nr) for n, nr in nf], \
            nf[0][0].variable is x

    assert same(scenario) == ([("AccumulateGrad", 0), (None, 0)], True)


def test_no_grad_results_are_leaves():
    def scenario(lib):
        x = leaf(lib, [1.0])
        with lib.no_grad():
            y = x * 2
        with lib.no_grad(), lib.enable_grad():
            z = x * 2
        return y.requires_grad, y.is_leaf, y.grad_fn, z.requires_grad

    same(scenario)


# ----------------------------------------------------------------------------------------------
# Hooks, retain_grad, accumulation
# ----------------------------------------------------------------------------------------------

def test_hook_values_q_w_example():
    def scenario(lib):
        w = lib.ones(2, requires_grad=True)
        q = w * 2
        log = []
        q.register_hook(lambda g: (log.append(("q", vals(g))), g * 10)[1])
        w.register_hook(lambda g: log.append(("w", vals(g))))
        q.sum().backward()
        return log, vals(w.grad)

    assert same(scenario) == ([("q", [1.0, 1.0]), ("w", [20.0, 20.0])], [20.0, 20.0])


def test_hook_call_order():
    def scenario(lib):
        w = leaf(lib, [1.0, 2.0])
        q = w * 2
        r = q * 3
        log = []
        q.register_hook(lambda g: log.append(("q_hook", vals(g))))
        q.retain_grad()
        q.grad_fn.register_prehook(lambda go: log.append(("pre", [vals(g) for g in go])))
        q.grad_fn.register_hook(
            lambda gi, go: log.append(("post", [vals(g) for g in gi], [vals(g) for g in go])))
        q.register_hook(lambda g: (log.append(("q_hook2", vals(g))), g * 2)[1])
        w.register_hook(lambda g: log.append(("w_hook", vals(g))))
        w.register_post_accumulate_grad_hook(lambda t: log.append(("w_post", vals(t.grad))))
        r.sum().backward()
        return log, vals(q.grad), vals(w.grad)

    same(scenario)


def test_accumulate_grad_node_hook_order():
    def scenario(lib):
        w = lib.ones(2, requires_grad=True)
        y = w * 3
        acc = y.grad_fn.next_functions[0][0]
        log = []
        acc.register_prehook(lambda go: log.append(("acc_pre", [vals(g) for g in go])))
        acc.register_hook(lambda gi, go: log.append(("acc_post", len(gi), [vals(g) for g in go])))
        w.register_hook(lambda g: (log.append(("w_hook", vals(g))), g + 1)[1])
        w.register_post_accumulate_grad_hook(lambda t: log.append(("w_post", vals(t.grad))))
        y.sum().backward()
        return log, vals(w.grad)

    same(scenario)


def test_node_hooks_replace():
    def scenario(lib):
        w = lib.ones(2, requires_grad=True)
        q = w * 2
        q.grad_fn.register_prehook(lambda go: (go[0] * 100,))
        (q * 1).sum().backward()
        first = vals(w.grad)
        w.grad = None
        q2 = w * 2
        q2.grad_fn.register_hook(lambda gi, go: (gi[0] * 7, None))
        (q2 * 1).sum().backward()
        return first, vals(w.grad)

    assert same(scenario) == ([200.0, 200.0], [14.0, 14.0])


def test_retain_grad_values():
    def scenario(lib):
        w = lib.ones(2, requires_grad=True)
        h = w * 3
        h.retain_grad()
        (h * h).sum().backward()
        plain = (vals(h.grad), vals(w.grad), h.retains_grad, w.retains_grad)
        w2 = lib.ones(2, requires_grad=True)
        h2 = w2 * 3
        h2.retain_grad()
        h2.register_hook(lambda g: g * 10)
        (h2 * h2).sum().backward()
        return plain, vals(h2.grad), vals(w2.grad)

    assert same(scenario)[0] == ([6.0, 6.0], [18.0, 18.0], True, False)


def test_hook_removal_while_running():
    def scenario(lib):
        w = lib.ones(2, requires_grad=True)
        log, handles = [], {}

        def first(g):
            log.append("first")
            handles["second"].remove()

        handles["first"] = w.register_hook(first)
        handles["second"] = w.register_hook(lambda g: log.append("second"))
        (w * 2).sum().backward()
        (w * 2).sum().backward()
        handles["first"].remove()
        handles["first"].remove()
        return log

    same(scenario)


def test_hook_errors():
    def size_changed(lib):
        w = lib.ones(2, requires_grad=True)

        def bad(g):
            return lib.ones(3)

        (w * 2).register_hook(bad)
        (w * 2 * 1).sum().backward()
        q = w * 2
        q.register_hook(bad)
        (q * 2).sum().backward()

    def wrong_count(lib):
        w = lib.ones(2, requires_grad=True)
        q = w * 2

        def post(gi, go):
            return (gi[0],)

        q.grad_fn.register_hook(post)
        (q * 1).sum().backward()

    assert "has changed the size of value" in same(size_changed)
    assert "incorrect number of values" in same(wrong_count)


def test_accumulation_and_aliasing():
    def scenario(lib):
        w = lib.ones(2, requires_grad=True)
        for _ in range(3):
            (w * 2).sum().backward()
        g = w.grad
        (w * 2).sum().backward()
        a = lib.ones(3, requires_grad=True)
        b = lib.ones(3, requires_grad=True)
        (a + b).sum().backward()
        a.grad.mul_(5)
        return vals(g), w.grad is g, vals(a.grad), vals(b.grad)

    assert same(scenario) == ([8.0, 8.0], True, [5.0, 5.0, 5.0], [1.0, 1.0, 1.0])


def test_backward_inputs():
    def scenario(lib):
        a = lib.ones(3, requires_grad=True)
        b = lib.full((3,), 2.0, requires_grad=True)
        lib.autograd.backward([(a * b).sum()], inputs=[a])
        first = (vals(a.grad), b.grad)
        (a * b).sum().backward(inputs=b)
        return first, vals(a.grad), vals(b.grad)

    same(scenario)


# ----------------------------------------------------------------------------------------------
# autograd.grad, higher order
# ----------------------------------------------------------------------------------------------

def test_third_power_27_18():
    def scenario(lib):
        x = lib.tensor(3.0, requires_grad=True)
        (g,) = lib.autograd.grad(x ** 3, x, create_graph=True)
        (g2,) = lib.autograd.grad(g, x)
        return g.item(), type(g.grad_fn).__name__, g2.item()

    assert same(scenario) == (27.0, "MulBackward0", 18.0)


@pytest.mark.parametrize("expr", [
    lambda lib, x: (x * x * x).sum(),
    lambda lib, x: (x.exp() * x).sum(),
    lambda lib, x: (x.sigmoid() * x.tanh()).sum(),
    lambda lib, x: (x / (x * x + 1)).sum(),
    lambda lib, x: (x.abs() + 1).log().mean(),
    lambda lib, x: ((x * x).sqrt() + x ** 4).sum(),
])
def test_second_derivatives(expr):
    def scenario(lib):
        x = leaf(lib, [0.5, -1.5, 2.0], "float64")
        (g,) = lib.autograd.grad(expr(lib, x), x, create_graph=True)
        (h,) = lib.autograd.grad(g.sum(), x)
        return vals(g, 8), vals(h, 8)

    same(scenario)


def test_autograd_grad_options():
    def unused(lib):
        x = lib.ones(3, requires_grad=True)
        z = lib.ones(2, requires_grad=True)
        return lib.autograd.grad((x * 2).sum(), [x, z])

    def allow(lib):
        x = lib.ones(3, requires_grad=True)
        z = lib.ones(2, requires_grad=True)
        gx, gz = lib.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)
        return vals(gx), gz

    def materialize(lib):
        x = lib.ones(3, requires_grad=True)
        z = lib.ones(2, requires_grad=True)
        gx, gz = lib.autograd.grad((x * 2).sum(), [x, z], materialize_grads=True)
        return vals(gx), vals(gz)

    def materialize_conflict(lib):
        x = lib.ones(3, requires_grad=True)
        return lib.autograd.grad((x * 2).sum(), [x], allow_unused=False, materialize_grads=True)

    def no_grad_input(lib):
        x = lib.ones(3, requires_grad=True)
        return lib.autograd.grad((x * 2).sum(), lib.ones(3))

    def grad_outputs(lib):
        x = lib.ones(2, requires_grad=True)
        return vals(lib.autograd.grad(x * 5, x, grad_outputs=lib.tensor([1.0, 2.0]))[0])

    for scenario in (unused, allow, materialize, materialize_conflict, no_grad_input,
                     grad_outputs):
        same(scenario)


@pytest.mark.parametrize("variant", ["view_of_view", "base", "setitem"])
def test_in_place_through_views(variant):
    def scenario(lib):
        x = leaf(lib, [[1.0, 2.0, 3.0], [0.5, -1.0, 2.0], [3.0, 1.0, -2.0], [1.5, 0.5, 1.0]],
                 "float64")
        v = leaf(lib, [1.0, -2.0, 3.0], "float64")
        m = x * 2
        h = m.view(12)
        t = m.t()
        if variant == "view_of_view":
            h[3:9].view(2, 3).mul_(v)
        elif variant == "base":
            m.mul_(v)
        else:
            m[2] = v * v
        names = [type(a.grad_fn).__name__ for a in (m, h, t)]
        out = (h.view(4, 3) * x).sum() + (t * t).sum()
        gx, gv = lib.autograd.grad(out, [x, v], create_graph=True)
        ((gx * gx).sum() + (gv * gv * gv).sum()).backward()
        return names, vals(gx, 6), vals(gv, 6), vals(x.grad, 6), vals(v.grad, 6)

    same(scenario)


# ----------------------------------------------------------------------------------------------
# Error texts
# ----------------------------------------------------------------------------------------------

def _saved_output_modified(lib):
    x = lib.ones(3, requires_grad=True)
    y = x.sigmoid()
    y.mul_(2)
    y.sum().backward()


def _saved_input_modified(lib):
    a = lib.ones(3, requires_grad=True)
    x = a * 1
    y = x * x
    x.add_(1)
    y.sum().backward()


def _saved_plain_input_modified(lib):
    w = lib.ones(3, 4, requires_grad=True)
    m = lib.ones(2, 3)
    y = m.mm(w)
    m.add_(1)
    y.sum().backward()


def _inplace_leaf(lib):
    lib.ones(3, requires_grad=True).add_(1)


def _inplace_view_of_leaf(lib):
    lib.ones(3, requires_grad=True).view(3).add_(1)


def _setitem_leaf(lib):
    lib.ones(3, requires_grad=True)[0] = 1.0


def _backward_twice(lib):
    y = lib.ones(3, requires_grad=True).exp().sum()
    y.backward()
    y.backward()


def _saved_nothing_twice(lib):
    a = lib.ones(3, requires_grad=True)
    y = (a + a).sum()
    y.backward()
    y.backward()
    return vals(a.grad)


def _non_scalar(lib):
    (lib.ones(3, requires_grad=True) * 2).backward()


def _no_grad_backward(lib):
    lib.ones(3).sum().backward()


def _broadcast(lib):
    return lib.ones(2, 3) + lib.ones(2, 2)


def _broadcast0(lib):
    return lib.ones(2, 3) * lib.ones(4, 3)


def _numpy_requires_grad(lib):
    lib.ones(2, requires_grad=True).numpy()


def _item_many(lib):
    lib.ones(3).item()


def _bool_many(lib):
    bool(lib.ones(3))


def _requires_grad_non_leaf(lib):
    (lib.ones(2, requires_grad=True) * 2).requires_grad_(False)


def _requires_grad_int(lib):
    lib.tensor([1, 2]).requires_grad_()


def _requires_grad_int_factory(lib):
    lib.tensor([1, 2], requires_grad=True)


def _grad_wrong_size(lib):
    lib.ones(3, requires_grad=True).grad = lib.ones(4)


def _inference_saved(lib):
    with lib.inference_mode():
        it = lib.ones(3) * 2
    return it * lib.ones(3, requires_grad=True)


def _inference_unsaved(lib):
    with lib.inference_mode():
        it = lib.ones(3) * 2
    x = lib.ones(3, requires_grad=True)
    y = it + x
    y.sum().backward()
    return y.is_inference(), vals(x.grad)


def _inference_inplace(lib):
    with lib.inference_mode():
        it = lib.ones(3)
    it.add_(1)


def _empty_inputs(lib):
    (lib.ones(2, requires_grad=True) * 2).sum().backward(inputs=[])


def _split_output_in_place(lib):
    a, b = (lib.ones(4, 3, requires_grad=True) * 1).split(2)
    b.add_(1)


def _unbind_output_view_in_place(lib):
    rows = (lib.ones(4, 3, requires_grad=True) * 1).unbind(0)
    rows[2][1:].mul_(2)


def _non_leaf_grad_warning(lib):
    x = lib.ones(2, requires_grad=True)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        assert (x * 2).grad is None
    return re.sub(r"\s*\(Triggered internally at .*?\)", "", str(rec[0].message))


ERROR_SCENARIOS = [
    _saved_output_modified, _saved_input_modified, _saved_plain_input_modified, _inplace_leaf,
    _inplace_view_of_leaf, _setitem_leaf, _backward_twice, _saved_nothing_twice, _non_scalar,
    _no_grad_backward, _broadcast, _broadcast0, _numpy_requires_grad, _item_many, _bool_many,
    _requires_grad_non_leaf, _requires_grad_int, _requires_grad_int_factory, _grad_wrong_size,
    _inference_saved, _inference_unsaved, _inference_inplace, _empty_inputs, _non_leaf_grad_warning,
    _split_output_in_place, _unbind_output_view_in_place,
]


@pytest.mark.parametrize("scenario", ERROR_SCENARIOS, ids=lambda f: f.__name__.strip("_"))
def test_error_texts(scenario):
    same(scenario)


def test_anomaly_detection():
    def scenario(lib):
        x = lib.zeros(1, requires_grad=True)
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            with lib.autograd.detect_anomaly():
                try:
                    (lib.sqrt(x) * 0.0).sum().backward()
                    error = None
                except RuntimeError as exc:
                    error = str(exc)
        messages = [str(r.message).split("\n")[0] for r in rec]
        return error, messages[0], [m for m in messages if m.startswith("Error detected")]

    error, first, detected = same(scenario)
    assert error == "Function 'SqrtBackward0' returned nan values in its 0th output."
    assert detected == ["Error detected in SqrtBackward0. Traceback of forward call that caused "
                        "the error:"]


# ----------------------------------------------------------------------------------------------
# Custom Function
# ----------------------------------------------------------------------------------------------

def _function_classes(lib):
    class MyMul(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a, b, k):
            ctx.save_for_backward(a, b)
            ctx.k = k
            ctx.seen_needs = ctx.needs_input_grad
            return a * b * k

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g * b * ctx.k, g * a * ctx.k, None

    class Inpl(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class F(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g

    class G(lib.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return lib.ones(4)

    return MyMul, Inpl, F, G


def test_custom_function_behaviour():
    def scenario(lib):
        MyMul, Inpl, F, G = _function_classes(lib)
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = lib.tensor([3.0, 4.0])
        y = MyMul.apply(a, b, 2.0)
        nf = [(type(n).__name__ if n is not None else None, nr)
              for n, nr in y.grad_fn.next_functions]
        y.sum().backward()
        x0 = lib.ones(3, requires_grad=True)
        x = x0.clone()
        z = Inpl.apply(x)
        dirty = (z is x, x._version, type(z.grad_fn).__name__)
        z.sum().backward()
        return type(y.grad_fn).__name__, nf, vals(a.grad), dirty, vals(x0.grad)

    same(scenario)


def test_custom_function_needs_input_grad():
    def scenario(lib):
        MyMul, *_ = _function_classes(lib)
        y = MyMul.apply(lib.ones(3, requires_grad=True), lib.ones(3), 2.0)
        return y.grad_fn.seen_needs

    assert same(scenario) == (True, False, False)


def test_custom_function_errors():
    def wrong_count(lib):
        _, _, F, _ = _function_classes(lib)
        F.apply(lib.ones(3, requires_grad=True), lib.ones(3, requires_grad=True)).sum().backward()

    def wrong_shape(lib):
        *_, G = _function_classes(lib)
        G.apply(lib.ones(3, requires_grad=True)).sum().backward()

    def dirty_leaf(lib):
        _, Inpl, _, _ = _function_classes(lib)
        Inpl.apply(lib.ones(3, requires_grad=True))

    assert same(wrong_count) == (
        "RuntimeError: function FBackward returned an incorrect number of gradients "
        "(expected 2, got 1)")
    assert same(wrong_shape) == (
        "RuntimeError: Function GBackward returned an invalid gradient at index 0 - got [4] but "
        "expected shape compatible with [3]")
    same(dirty_leaf)


def test_gradcheck_agrees_with_torch():
    def scenario(lib):
        MyMul, *_ = _function_classes(lib)
        a = leaf(lib, [0.3, -1.2], "float64")
        b = leaf(lib, [2.0, 0.7], "float64")
        ok = lib.autograd.gradcheck(lambda a, b: MyMul.apply(a, b, 1.5), (a, b))
        ok2 = lib.autograd.gradgradcheck(lambda a, b: (a * b).exp(), (a, b))
        return ok, ok2

    assert same(scenario) == (True, True)
