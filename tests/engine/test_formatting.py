"""Expected-string tests for probe.engine.formatting (no PyTorch needed)."""

import numpy as np
import pytest

from probe.engine.formatting import (
    default_dtype_suffix_needed,
    format_tensor,
    get_printoptions,
    printoptions,
    set_printoptions,
)

DEFAULTS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80, "sci_mode": None}


@pytest.fixture(autouse=True)
def _restore_options():
    yield
    set_printoptions(profile="default")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (np.array([1.0, 2.0], dtype=np.float32), "tensor([1., 2.])"),
        (np.array([-1.0, 20.0], dtype=np.float32), "tensor([-1., 20.])"),
        (np.array([1.5, -0.25], dtype=np.float32), "tensor([ 1.5000, -0.2500])"),
        (np.array([1.0, 1e5], dtype=np.float32), "tensor([1.0000e+00, 1.0000e+05])"),
        (np.array([1e-5], dtype=np.float32), "tensor([1.0000e-05])"),
        (np.array([np.nan, np.inf, -np.inf], dtype=np.float32), "tensor([nan, inf, -inf])"),
        (np.array([np.nan, 1.5], dtype=np.float32), "tensor([   nan, 1.5000])"),
        (np.array([1, -20, 300]), "tensor([  1, -20, 300])"),
        (np.array([True, False]), "tensor([ True, False])"),
        (np.array(3.0, dtype=np.float32), "tensor(3.)"),
        (np.array(7), "tensor(7)"),
        (np.zeros(0, dtype=np.float32), "tensor([])"),
        (np.zeros((0, 3), dtype=np.float32), "tensor([], size=(0, 3))"),
    ],
)
def test_format_tensor(data, expected):
    assert format_tensor(data) == expected


def test_nested_brackets_and_suffix():
    data = np.array([[1.0, 2.5], [3.0, 4.0]], dtype=np.float32)
    expected = "tensor([[1.0000, 2.5000],\n        [3.0000, 4.0000]], requires_grad=True)"
    assert format_tensor(data, suffixes=["requires_grad=True"]) == expected


def test_three_dims_use_blank_line_between_blocks():
    expected = "tensor([[[0, 1]],\n\n        [[2, 3]]])"
    assert format_tensor(np.arange(4).reshape(2, 1, 2)) == expected


def test_indent_follows_prefix():
    data = np.arange(4).reshape(2, 2)
    assert format_tensor(data, prefix="Param(") == "Param([[0, 1],\n       [2, 3]])"


def test_multiple_suffixes_in_order():
    data = np.array([1.0, 2.0])
    out = format_tensor(data, suffixes=["dtype=probe.float64", "grad_fn=<MulBackward0>"])
    assert out == "tensor([1., 2.], dtype=probe.float64, grad_fn=<MulBackward0>)"


def test_size_suffix_goes_after_device():
    data = np.zeros((2, 0), dtype=np.int64)
    out = format_tensor(data, suffixes=["device='cuda:0'", "dtype=probe.int64"])
    assert out == "tensor([], device='cuda:0', size=(2, 0), dtype=probe.int64)"


def test_long_row_wraps_at_linewidth():
    out = format_tensor(np.arange(30))
    assert out == (
        "tensor([ 0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15, 16, 17,\n"
        "        18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29])"
    )


def test_summarised_with_ellipsis():
    assert format_tensor(np.arange(2000)) == "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"


def test_float16_prints_its_rounded_value():
    data = np.array([0.1, 1000.0], dtype=np.float16)
    assert format_tensor(data) == "tensor([9.9976e-02, 1.0000e+03])"


def test_precision_and_sci_mode_options():
    set_printoptions(precision=2)
    assert format_tensor(np.array([1.2345])) == "tensor([1.23])"
    set_printoptions(sci_mode=False)
    assert format_tensor(np.array([1e-6, 1.0])) == "tensor([0.00, 1.00])"


def test_edgeitems_zero_shows_size():
    set_printoptions(threshold=5, edgeitems=0)
    assert format_tensor(np.arange(10)) == "tensor([...], size=(10,))"


def test_get_and_set_printoptions():
    assert get_printoptions() == DEFAULTS
    set_printoptions(precision=2, linewidth=100, sci_mode=True)
    assert get_printoptions() == {**DEFAULTS, "precision": 2, "linewidth": 100, "sci_mode": True}
    set_printoptions(profile="short")
    assert get_printoptions() == {**DEFAULTS, "precision": 2, "edgeitems": 2}
    set_printoptions(profile="full")
    assert get_printoptions()["threshold"] == float("inf")
    with pytest.raises(ValueError, match="profile"):
        set_printoptions(profile="bogus")


def test_printoptions_context_restores():
    with printoptions(precision=1):
        assert format_tensor(np.array([0.25, 1.5])) == "tensor([0.2, 1.5])"
    assert get_printoptions() == DEFAULTS


@pytest.mark.parametrize(
    ("dtype", "needed"),
    [
        ("float32", False),
        ("int64", False),
        ("bool", False),
        ("float64", True),
        ("float16", True),
        ("int32", True),
        ("uint8", True),
    ],
)
def test_default_dtype_suffix_needed(dtype, needed):
    assert default_dtype_suffix_needed(np.dtype(dtype)) is needed


def test_empty_tensors_show_every_dtype_but_float32():
    assert default_dtype_suffix_needed(np.int64, empty=True)
    assert default_dtype_suffix_needed(np.bool_, empty=True)
    assert not default_dtype_suffix_needed(np.float32, empty=True)
