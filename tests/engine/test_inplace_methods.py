"""In-place Tensor methods: values, version counters, leaf errors, dtype rules, autograd."""

from __future__ import annotations

import numpy as np
import pytest

import probe
from probe.autograd import gradcheck

LEAF_MSG = "a leaf Variable that requires grad is being used in an in-place operation."


def to_numpy(t):
    return t.detach().cpu().numpy()


def _t(values, device="cpu", dtype=probe.float32, grad=False):
    return probe.tensor(values, dtype=dtype, device=device, requires_grad=grad)


X = [0.5, -1.5, 2.0, -0.25]
Y = [1.5, 2.0, -0.5, 4.0]

BINARY_CASES = [
    ("add_", lambda t, o: t.add_(o), lambda a, b: a + b),
    ("add_alpha", lambda t, o: t.add_(o, alpha=-0.5), lambda a, b: a - 0.5 * b),
    ("sub_", lambda t, o: t.sub_(o), lambda a, b: a - b),
    ("sub_alpha", lambda t, o: t.sub_(o, alpha=2), lambda a, b: a - 2 * b),
    ("mul_", lambda t, o: t.mul_(o), lambda a, b: a * b),
    ("div_", lambda t, o: t.div_(o), lambda a, b: a / b),
    ("iadd", lambda t, o: t.__iadd__(o), lambda a, b: a + b),
    ("imul", lambda t, o: t.__imul__(o), lambda a, b: a * b),
    ("isub", lambda t, o: t.__isub__(o), lambda a, b: a - b),
    ("itruediv", lambda t, o: t.__itruediv__(o), lambda a, b: a / b),
]


@pytest.mark.parametrize("name,fn,ref", BINARY_CASES)
@pytest.mark.parametrize("scalar", [False, True])
def test_binary_inplace_values_and_version(device, name, fn, ref, scalar):
    t = _t(X, device)
    other = 3.0 if scalar else _t(Y, device)
    before = t._version
    result = fn(t, other)
    assert result is t
    assert t._version == before + 1
    assert t.dtype == probe.float32
    expected = ref(np.array(X, np.float32), np.float32(3.0) if scalar else np.array(Y, np.float32))
    np.testing.assert_allclose(to_numpy(t), expected, rtol=1e-6)


def test_hot_ops_write_into_the_same_buffer():
    t = _t(X)
    data = t._data
    t.add_(1).mul_(2).sub_(_t(Y), alpha=0.5).div_(4).addcmul_(_t(Y), _t(Y), value=0.1)
    t.addcdiv_(_t(Y), _t(Y), value=-2).lerp_(_t(Y), 0.3).clamp_(-1, 1).zero_().fill_(2)
    t.copy_(_t(Y))
    assert t._data is data
    assert t._version == 11


def test_broadcast_other_and_errors():
    t = probe.zeros(2, 3)
    t.add_(probe.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(t.numpy(), [[1, 2, 3], [1, 2, 3]])
    with pytest.raises(RuntimeError) as info:
        probe.zeros(3).add_(probe.zeros(2, 3))
    assert str(info.value) == "output with shape [3] doesn't match the broadcast shape [2, 3]"
    with pytest.raises(RuntimeError) as info:
        probe.zeros(3).mul_(probe.zeros(2))
    assert str(info.value) == ("The size of tensor a (3) must match the size of tensor b (2) at "
                               "non-singleton dimension 0")


@pytest.mark.parametrize("fn,msg", [
    (lambda: probe.zeros(3, dtype=probe.long).add_(1.5),
     "result type Float can't be cast to the desired output type Long"),
    (lambda: probe.zeros(3, dtype=probe.long).mul_(probe.tensor(2.0)),
     "result type Float can't be cast to the desired output type Long"),
    (lambda: probe.zeros(3, dtype=probe.long).div_(2),
     "result type Float can't be cast to the desired output type Long"),
    (lambda: probe.zeros(3, dtype=probe.bool).add_(1),
     "result type Long can't be cast to the desired output type Bool"),
    (lambda: probe.zeros(3, dtype=probe.long).sqrt_(),
     "result type Float can't be cast to the desired output type Long"),
    (lambda: probe.zeros(3, dtype=probe.long).exp_(),
     "result type Float can't be cast to the desired output type Long"),
    (lambda: probe.zeros(3).fill_(probe.ones(2)),
     "fill_ only supports 0-dimension value tensor but got tensor with 1 dimensions."),
    (lambda: probe.zeros(3).clamp_(), "torch.clamp: At least one of 'min' or 'max' must not be "
                                      "None"),
    (lambda: probe.zeros(3).copy_(probe.ones(2)),
     "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 0"),
    (lambda: probe.zeros(3, dtype=probe.bool).sub_(True),
     "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
     "`logical_xor()` operator instead."),
    (lambda: probe.zeros(3, dtype=probe.bool).sub_(1),
     "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to "
     "invert a mask, use the `~` or `logical_not()` operator instead."),
])
def test_dtype_and_shape_errors(fn, msg):
    with pytest.raises(RuntimeError) as info:
        fn()
    assert str(info.value) == msg


def test_errors_change_nothing():
    t = probe.zeros(3, dtype=probe.long)
    with pytest.raises(RuntimeError):
        t.add_(1.5)
    assert t._version == 0 and (t.numpy() == 0).all()


def test_integer_and_mixed_dtypes():
    t = probe.tensor([1, 2, 3])
    t.add_(2).mul_(3).sub_(1)
    assert t.dtype == probe.int64 and t.tolist() == [8, 11, 14]
    f = probe.zeros(3)
    f.add_(probe.ones(3, dtype=probe.float64) / 3)
    assert f.dtype == probe.float32
    f.add_(probe.tensor([1, 2, 3]))
    np.testing.assert_allclose(f.numpy(), [4 / 3, 7 / 3, 10 / 3], rtol=1e-6)
    u = probe.zeros(3, dtype=probe.uint8)
    u.add_(probe.ones(3, dtype=probe.int64))
    assert u.dtype == probe.uint8 and u.tolist() == [1, 1, 1]
    b = probe.tensor([True, False])
    b.add_(True)
    assert b.tolist() == [True, True]


def test_leaf_errors_and_no_grad_on_leaf():
    w = probe.ones(3, requires_grad=True)
    for fn in (lambda: w.add_(1), lambda: w.mul_(2), lambda: w.zero_(), lambda: w.fill_(1),
               lambda: w.copy_(probe.zeros(3)), lambda: w.clamp_(0, 1),
               lambda: w.addcmul_(w.detach(), w.detach()), lambda: w.exp_()):
        with pytest.raises(RuntimeError) as info:
            fn()
        assert str(info.value) == LEAF_MSG
    assert w._version == 0
    with probe.no_grad():
        w.mul_(2).add_(1)
    assert w._version == 2
    np.testing.assert_allclose(w.detach().numpy(), [3, 3, 3])
    assert w.requires_grad and w.is_leaf


def test_in_place_with_grad_operand_on_plain_tensor_is_recorded():
    w = probe.tensor([1.0, 2.0], requires_grad=True)
    t = probe.zeros(2)
    t.add_(w, alpha=3)
    assert t.grad_fn.name() == "AddBackward0"
    t.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [3, 3])


@pytest.mark.parametrize("fn,name", [
    (lambda y, w: y.add_(1), "AddBackward0"),
    (lambda y, w: y.add_(w, alpha=2), "AddBackward0"),
    (lambda y, w: y.sub_(w), "SubBackward0"),
    (lambda y, w: y.mul_(w), "MulBackward0"),
    (lambda y, w: y.mul_(2), "MulBackward0"),
    (lambda y, w: y.div_(2), "DivBackward0"),
    (lambda y, w: y.addcmul_(w, w, value=2), "AddcmulBackward0"),
    (lambda y, w: y.addcdiv_(w, w + 5, value=2), "AddcdivBackward0"),
    (lambda y, w: y.lerp_(w, 0.5), "LerpBackward0"),
    (lambda y, w: y.lerp_(w, w), "LerpBackward1"),
    (lambda y, w: y.zero_(), "ZeroBackward0"),
    (lambda y, w: y.fill_(2), "FillBackward2"),
    (lambda y, w: y.fill_(w.sum()), "FillBackward3"),
    (lambda y, w: y.copy_(w), "CopyBackwards"),
])
def test_grad_fn_after_inplace(fn, name):
    w = probe.randn(3, requires_grad=True)
    y = probe.randn(3, requires_grad=True) * 1
    out = fn(y, w)
    assert out is y
    assert y.grad_fn.name() == name


def _chain(x, w):
    y = x * 1
    y.mul_(w)
    y.add_(1)
    y.addcmul_(x, w, value=0.5)
    y.addcdiv_(x, w * w + 1, value=-2)
    y.sub_(w, alpha=0.25)
    y.div_(w * w + 2)
    y.lerp_(x, 0.3)
    y.lerp_(w, x * x)
    return y


def test_gradcheck_through_inplace_chain(rng):
    x = probe.tensor(rng.standard_normal(5), dtype=probe.float64, requires_grad=True)
    w = probe.tensor(rng.standard_normal(5), dtype=probe.float64, requires_grad=True)
    assert gradcheck(_chain, (x, w))


def test_gradcheck_copy_fill_zero(rng):
    x = probe.tensor(rng.standard_normal(4), dtype=probe.float64, requires_grad=True)
    w = probe.tensor(rng.standard_normal(1), dtype=probe.float64, requires_grad=True)

    def f(a, b):
        y = a * 2
        y.copy_(b)  # broadcast from shape (1,)
        z = a * 3
        z.fill_(b.sum())
        u = a * a
        u.zero_()
        return y + z + u + a

    assert gradcheck(f, (x, w))


def test_gradcheck_inplace_on_view_of_non_leaf(rng):
    x = probe.tensor(rng.standard_normal((2, 3)), dtype=probe.float64, requires_grad=True)
    w = probe.tensor(rng.standard_normal(6), dtype=probe.float64, requires_grad=True)

    def f(a, b):
        y = a * 1
        y.view(6).mul_(b)
        return y

    assert gradcheck(f, (x, w))


def test_inplace_on_saved_tensor_raises_at_backward():
    x = probe.randn(3, requires_grad=True)
    y = x.sigmoid()
    y.mul_(2)
    with pytest.raises(RuntimeError) as info:
        y.sum().backward()
    assert str(info.value) == (
        "one of the variables needed for gradient computation has been modified by an inplace "
        "operation: [probe.FloatTensor [3]], which is output 0 of Sigmoid, is at version 1; "
        "expected version 0 instead. Hint: enable anomaly detection to find the operation that "
        "failed to compute its gradient, with torch.autograd.set_detect_anomaly(True, "
        "check_nan=False)."
    )


def test_inplace_on_saved_input_mentions_producer():
    x = probe.randn(3, requires_grad=True)
    a = x * 1
    b = a * a
    a.add_(1)
    with pytest.raises(RuntimeError, match="which is output 0 of Add, is at version 1"):
        b.sum().backward()


@pytest.mark.parametrize("method,np_fn", [
    ("exp_", np.exp), ("log_", np.log), ("sqrt_", np.sqrt), ("sin_", np.sin), ("cos_", np.cos),
    ("tanh_", np.tanh), ("neg_", np.negative), ("abs_", np.abs), ("floor_", np.floor),
    ("ceil_", np.ceil), ("trunc_", np.trunc), ("round_", np.round), ("sign_", np.sign),
    ("reciprocal_", np.reciprocal), ("relu_", lambda a: np.maximum(a, 0)),
    ("sigmoid_", lambda a: 1 / (1 + np.exp(-a))),
])
def test_unary_inplace(device, method, np_fn):
    vals = [0.5, 1.5, 2.25, 3.0] if method in ("log_", "sqrt_") else [0.5, -1.5, 2.5, -3.0]
    t = _t(vals, device)
    data = t._data
    out = getattr(t, method)()
    assert out is t and t._data is data and t._version == 1 and t.dtype == probe.float32
    np.testing.assert_allclose(to_numpy(t), np_fn(np.array(vals, np.float32)), rtol=1e-6)


@pytest.mark.parametrize("method,name", [
    ("exp_", "ExpBackward0"), ("sigmoid_", "SigmoidBackward0"), ("relu_", "ReluBackward0"),
    ("tanh_", "TanhBackward0"), ("neg_", "NegBackward0"), ("abs_", "AbsBackward0"),
])
def test_unary_inplace_autograd(rng, method, name):
    x = probe.tensor(rng.standard_normal(4), dtype=probe.float64, requires_grad=True)
    y = x * 1
    getattr(y, method)()
    assert y.grad_fn.name() == name

    def f(a):
        z = a * 1
        getattr(z, method)()
        return z

    assert gradcheck(f, (x,))


def test_probe_relu_function():
    y = probe.tensor([-1.0, 2.0], requires_grad=True) * 1
    out = probe.relu_(y)
    assert out is y and y.grad_fn.name() == "ReluBackward0"
    assert y.tolist() == [0.0, 2.0]


def test_clamp_variants():
    t = _t([-2.0, -0.5, 0.5, 2.0])
    t.clamp_(-1, 1)
    assert t.tolist() == [-1.0, -0.5, 0.5, 1.0]
    t.clamp_min_(0)
    assert t.tolist() == [0.0, 0.0, 0.5, 1.0]
    t.clamp_max_(0.5)
    assert t.tolist() == [0.0, 0.0, 0.5, 0.5]
    t.clip_(min=0.25)
    assert t.tolist() == [0.25, 0.25, 0.5, 0.5]
    t.clamp_(max=_t([0.0, 1.0, 0.0, 1.0]))
    assert t.tolist() == [0.0, 0.25, 0.0, 0.5]


def test_copy_casts_broadcasts_and_crosses_devices(device):
    t = probe.zeros(2, 3, dtype=probe.int64, device=device)
    t.copy_(probe.tensor([1.7, -2.7, 3.2], device=device))
    assert t.tolist() == [[1, -2, 3], [1, -2, 3]]
    f = probe.zeros(3, device=device)
    f.copy_(probe.tensor([1.0, 2.0, 3.0], dtype=probe.float64))  # from the CPU
    assert f.tolist() == [1.0, 2.0, 3.0] and f.dtype == probe.float32


def test_copy_grad_flows_to_source_with_cast():
    src = probe.tensor([1.0, 2.0], dtype=probe.float64, requires_grad=True)
    y = probe.zeros(2, requires_grad=True) * 1
    y.copy_(src)
    assert y.dtype == probe.float32 and y.grad_fn.name() == "CopyBackwards"
    (y * probe.tensor([3.0, 4.0])).sum().backward()
    assert src.grad.dtype == probe.float64
    np.testing.assert_allclose(src.grad.numpy(), [3, 4])


def test_fill_with_tensor_and_zero():
    t = probe.ones(2, 2)
    t.fill_(probe.tensor(5.0))
    assert t.tolist() == [[5.0, 5.0], [5.0, 5.0]]
    t.zero_()
    assert t.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    i = probe.zeros(2, dtype=probe.int64)
    i.fill_(2.5)
    assert i.tolist() == [2, 2]


def test_views_share_version_and_data():
    base = probe.zeros(2, 3)
    v = base.view(6)
    v.add_(1)
    assert base._version == 1 and (base.numpy() == 1).all()
    base[0].mul_(3)
    assert v.tolist() == [3, 3, 3, 1, 1, 1]
    assert v._version == 2


def test_view_of_leaf_inplace_error():
    w = probe.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad is being "
                                           "used in an in-place operation."):
        w.view(6).add_(1)


def test_iadd_keeps_identity_and_divmodes():
    t = probe.tensor([5.0, -5.0])
    ref = t
    t += 1
    t *= 2
    t -= 1
    t /= 2
    assert t is ref
    np.testing.assert_allclose(t.numpy(), [5.5, -4.5])
    t.div_(2, rounding_mode="floor")
    assert t.tolist() == [2.0, -3.0]
    u = probe.tensor([7, -7])
    u //= 2
    assert u.tolist() == [3, -4]


def test_optimizer_style_updates_match_numpy(rng):
    p = probe.tensor(rng.standard_normal(5), dtype=probe.float32)
    g = probe.tensor(rng.standard_normal(5), dtype=probe.float32)
    m = probe.zeros(5)
    v = probe.zeros(5)
    pn, gn = p.numpy().copy(), g.numpy().copy()
    mn, vn = np.zeros(5, np.float32), np.zeros(5, np.float32)
    for _ in range(3):
        m.mul_(0.9).add_(g, alpha=0.1)
        v.mul_(0.999).addcmul_(g, g, value=0.001)
        p.addcdiv_(m, v.sqrt().add_(1e-8), value=-0.01)
        mn = mn * 0.9 + 0.1 * gn
        vn = vn * 0.999 + 0.001 * gn * gn
        pn = pn - 0.01 * mn / (np.sqrt(vn) + 1e-8)
    np.testing.assert_allclose(p.numpy(), pn, rtol=1e-5)
    assert p.dtype == probe.float32


def test_inference_tensor_inplace_outside_inference_mode():
    with probe.inference_mode():
        t = probe.ones(2)
    with pytest.raises(RuntimeError, match="Inplace update to inference tensor outside "
                                           "InferenceMode is not allowed"):
        t.add_(1)


def test_shape_inplace_methods():
    t = probe.zeros(2, 3)
    assert t.t_() is t and t.shape == (3, 2)
    t.unsqueeze_(0)
    assert t.shape == (1, 3, 2)
    t.squeeze_()
    assert t.shape == (3, 2)
    t.transpose_(0, 1)
    assert t.shape == (2, 3)
