"""Parity with PyTorch for InstanceNorm1d/2d/3d: the same layer is built in both libraries with
the same parameters and buffers, then outputs, grad_fn names, gradients of input, weight and bias
and the running statistics are compared over several training steps and in evaluation, for
batched and unbatched inputs in float32 and float64. State dicts, reprs, error texts, warnings
and load_state_dict outcomes are compared too."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import probe

torch = pytest.importorskip("torch")

from harness import assert_same, assert_same_error, default_tol, run  # noqa: E402

# (class name, batched input shape); the unbatched input drops the first dim.
LAYERS = [("InstanceNorm1d", (3, 4, 5)), ("InstanceNorm2d", (2, 4, 3, 2)),
          ("InstanceNorm3d", (2, 4, 2, 3, 2))]
CONFIGS = [
    {},
    {"affine": True},
    {"affine": True, "track_running_stats": True},
    {"track_running_stats": True, "momentum": 0.3, "eps": 1e-3},
    {"affine": True, "bias": False, "track_running_stats": True, "momentum": None},
]


def _np(t):
    return t.detach().cpu().numpy()


def _build(lib, name, kwargs, dtype_name, seed=0):
    """The layer with the same random parameters and running statistics in either library."""
    layer = getattr(lib.nn, name)(4, **kwargs).to(getattr(lib, dtype_name))
    rng = np.random.default_rng(seed)
    with lib.no_grad():
        for _, p in layer.named_parameters():
            p.copy_(lib.tensor(rng.standard_normal(tuple(p.shape))))
        if layer.track_running_stats:
            layer.running_mean.copy_(lib.tensor(rng.standard_normal(4)))
            layer.running_var.copy_(lib.tensor(rng.random(4) + 0.5))
    return layer


def _step(lib, layer, data, dtype_name, seed):
    """One forward and backward through ``layer``; what harness.run compares."""
    params = [p for _, p in layer.named_parameters()]
    result = run(lib, lambda L, x: layer(x), [data], dtype_name, grad_seed=seed, params=params)
    layer.zero_grad()
    return result


def _assert_same_state(p_layer, t_layer, tol):
    p_state, t_state = p_layer.state_dict(), t_layer.state_dict()
    assert list(p_state) == list(t_state)
    for key, t_value in t_state.items():
        p_value = p_state[key]
        assert str(p_value.dtype).split(".")[-1] == str(t_value.dtype).split(".")[-1], key
        np.testing.assert_allclose(_np(p_value), _np(t_value), rtol=tol, atol=tol, err_msg=key)


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
@pytest.mark.parametrize("kwargs", CONFIGS, ids=lambda k: ",".join(f"{a}={b}" for a, b in
                                                                    k.items()) or "default")
@pytest.mark.parametrize("name, shape", LAYERS, ids=[n for n, _ in LAYERS])
def test_training_steps_then_eval(dtype_name, kwargs, name, shape):
    p_layer = _build(probe, name, kwargs, dtype_name)
    t_layer = _build(torch, name, kwargs, dtype_name)
    tol = 2e-5 if dtype_name == "float32" else default_tol(dtype_name)
    rng = np.random.default_rng(3)
    for step in range(4):
        # batched and unbatched steps alternate; both update the running statistics
        batch_shape = shape if step % 2 == 0 else shape[1:]
        data = rng.standard_normal(batch_shape) * (step + 1) + step
        got = _step(probe, p_layer, data, dtype_name, step)
        want = _step(torch, t_layer, data, dtype_name, step)
        assert_same(got, want, rtol=tol, atol=tol, grad_rtol=tol * 20, grad_atol=tol * 20)
        _assert_same_state(p_layer, t_layer, tol)
    p_layer.eval()
    t_layer.eval()
    for data in (rng.standard_normal(shape), rng.standard_normal(shape[1:])):
        got = _step(probe, p_layer, data, dtype_name, 9)
        want = _step(torch, t_layer, data, dtype_name, 9)
        assert_same(got, want, rtol=tol, atol=tol, grad_rtol=tol * 20, grad_atol=tol * 20)
    _assert_same_state(p_layer, t_layer, tol)


@pytest.mark.parametrize("name, shape", LAYERS, ids=[n for n, _ in LAYERS])
def test_grad_fn_chain(name, shape):
    def chain(lib, data):
        layer = getattr(lib.nn, name)(4, affine=True)
        out = layer(lib.tensor(data, requires_grad=True))
        names, node = [], out.grad_fn
        while node is not None:  # follow the input's path through the graph
            names.append(type(node).__name__)
            node = node.next_functions[0][0] if node.next_functions else None
        return names

    data = np.ones(shape, dtype=np.float32)
    data[..., 0] = 2.0
    assert chain(probe, data) == chain(torch, data)
    assert chain(probe, data[0]) == chain(torch, data[0])


@pytest.mark.parametrize("args, kwargs", [
    ((3,), {}),
    ((3,), {"affine": True}),
    ((5,), {"eps": 1e-3, "momentum": None, "track_running_stats": True}),
    ((2,), {"affine": True, "bias": False, "momentum": 0.25}),
])
@pytest.mark.parametrize("name", [n for n, _ in LAYERS])
def test_repr_and_state_dict_keys(name, args, kwargs):
    p_layer = getattr(probe.nn, name)(*args, **kwargs)
    t_layer = getattr(torch.nn, name)(*args, **kwargs)
    assert repr(p_layer) == repr(t_layer)
    assert list(p_layer.state_dict()) == list(t_layer.state_dict())
    _assert_same_state(p_layer, t_layer, 0)


@pytest.mark.parametrize("call", [
    lambda L: L.nn.InstanceNorm1d(3)(L.ones(2, 3, 4, 4)),
    lambda L: L.nn.InstanceNorm1d(3)(L.ones(3)),
    lambda L: L.nn.InstanceNorm2d(3)(L.ones(3, 4)),
    lambda L: L.nn.InstanceNorm2d(3)(L.ones(2, 3, 4, 4, 4)),
    lambda L: L.nn.InstanceNorm3d(3)(L.ones(2, 3, 4)),
    lambda L: L.nn.InstanceNorm3d(3)(L.ones(1, 2, 3, 4, 4, 4)),
    lambda L: L.nn.InstanceNorm2d(3, affine=True)(L.ones(2, 4, 3, 3)),
    lambda L: L.nn.InstanceNorm2d(3, affine=True)(L.ones(4, 3, 3)),
    lambda L: L.nn.InstanceNorm1d(3)(L.ones(2, 3, 1)),
    lambda L: L.nn.InstanceNorm1d(3, affine=True)(L.ones(3, 1)),
    lambda L: L.nn.InstanceNorm1d(3, track_running_stats=True)(L.ones(2, 4, 5)),
    lambda L: L.nn.InstanceNorm1d(3).eval()(L.ones(2, 3, 1)),
], ids=lambda c: "")
def test_error_texts(call):
    assert_same_error(call, quiet=True)


@pytest.mark.parametrize("name, shape, affine", [
    ("InstanceNorm1d", (2, 5, 4), False), ("InstanceNorm1d", (5, 4), False),
    ("InstanceNorm2d", (2, 5, 3, 3), False), ("InstanceNorm3d", (5, 2, 2, 2), False),
])
def test_num_features_warning(name, shape, affine):
    def warned(lib):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = getattr(lib.nn, name)(3, affine=affine)(lib.ones(*shape))
        return [(w.category, str(w.message)) for w in caught], tuple(out.shape)

    assert warned(probe) == warned(torch)


def _load_outcome(lib, load, strict):
    """What ``load`` (a state_dict loaded into a fresh layer) returns or raises."""
    try:
        result = load(lib, strict)
    except RuntimeError as exc:
        return "error", str(exc)
    return "ok", tuple(result.missing_keys), tuple(result.unexpected_keys)


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("load", [
    # running statistics saved by a tracking layer, loaded into one that does not track
    lambda L, strict: L.nn.InstanceNorm1d(2).load_state_dict(
        L.nn.InstanceNorm1d(2, track_running_stats=True).state_dict(), strict=strict),
    # a tracking layer given a state_dict without running statistics
    lambda L, strict: L.nn.InstanceNorm2d(2, affine=True, track_running_stats=True)
    .load_state_dict(L.nn.InstanceNorm2d(2, affine=True).state_dict(), strict=strict),
    # parameters for a layer without affine parameters
    lambda L, strict: L.nn.InstanceNorm3d(2).load_state_dict(
        L.nn.InstanceNorm3d(2, affine=True).state_dict(), strict=strict),
], ids=["unexpected-running-stats", "missing-running-stats", "unexpected-affine"])
def test_load_state_dict_outcomes(load, strict):
    assert _load_outcome(probe, load, strict) == _load_outcome(torch, load, strict)


def test_loaded_running_stats_normalise_in_eval():
    t_layer = _build(torch, "InstanceNorm2d", {"affine": True, "track_running_stats": True},
                     "float64", seed=4)
    t_layer(torch.randn(2, 4, 3, 3, dtype=torch.float64))  # move the statistics once more
    p_layer = probe.nn.InstanceNorm2d(4, affine=True, track_running_stats=True).double()
    p_layer.load_state_dict({k: probe.tensor(_np(v)) for k, v in t_layer.state_dict().items()})
    _assert_same_state(p_layer, t_layer, 0)
    data = np.random.default_rng(5).standard_normal((3, 4, 2, 2))
    got = _np(p_layer.eval()(probe.tensor(data)))
    want = _np(t_layer.eval()(torch.tensor(data)))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
