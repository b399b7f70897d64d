"""Parity of probe's tensor formatting with ``repr(torch.Tensor)``."""

import numpy as np
import pytest

from probe.engine.formatting import (
    default_dtype_suffix_needed,
    format_tensor,
    get_printoptions,
    set_printoptions,
)

torch = pytest.importorskip("torch")

_RNG = np.random.default_rng(0)
_NAN, _INF = float("nan"), float("inf")


def _f32(values):
    return np.array(values, dtype=np.float32)


CASES = {
    # integers
    "int64_arange": np.arange(10),
    "int64_negative": np.array([-1, 20, -300]),
    "int64_big": np.array([2**40, -5, 7]),
    "int32": np.array([1, -2, 3], dtype=np.int32),
    "int16": np.array([100, -2], dtype=np.int16),
    "int8": np.array([-128, 127], dtype=np.int8),
    "uint8": np.array([0, 255, 7], dtype=np.uint8),
    "int64_2d": np.arange(-6, 6).reshape(3, 4),
    # float32, fixed and int mode
    "f32_ints": _f32([1, 2, 3]),
    "f32_negative_ints": _f32([-1, 2, -30]),
    "f32_fractions": _f32([1.5, 2.25, -3.125]),
    "f32_tenths": _f32([0.1, 0.2, 0.3]),
    "f32_ratio_1000": _f32([1e-3, 1.0]),
    "f32_int_1e8": _f32([1e8, 1.0]),
    "f32_int_large": _f32([123456.0, -7.0]),
    "f32_zeros": _f32([0.0, 0.0]),
    "f32_negative_zero": _f32([-0.0, 0.0]),
    "f32_zero_and_fraction": _f32([0.0, 0.5]),
    "f32_rounding": _f32([0.00015, 0.99995, 2.5]),
    # scientific mode
    "sci_ratio": _f32([1e-3, 1.5, 10.0]),
    "sci_big": _f32([1e5, 1.0]),
    "sci_huge": _f32([1e9]),
    "sci_tiny": _f32([1e-5]),
    "sci_mixed_sign": _f32([-1e-5, 3.0, 2e6]),
    "sci_int_mode": _f32([1.0, 1e5, -20.0]),
    # non-finite
    "nan_and_fraction": _f32([_NAN, 1.5]),
    "inf_and_ints": _f32([_INF, -_INF, 1.0]),
    "nan_only": _f32([_NAN]),
    "nan_inf_only": _f32([_NAN, _INF, -_INF]),
    "zero_and_nan": _f32([0.0, _NAN]),
    "sci_and_nan": _f32([1e-5, _NAN, -_INF]),
    "wide_and_inf": _f32([-1234.5, _INF]),
    # multi-dimensional
    "randn_2d": _RNG.standard_normal((3, 4)).astype(np.float32),
    "randn_3d": _RNG.standard_normal((2, 3, 4)).astype(np.float32),
    "randn_4d": _RNG.standard_normal((2, 2, 2, 3)).astype(np.float32),
    "ints_3d": np.arange(24).reshape(2, 3, 4),
    "column": _f32([[1.5], [2.0]]),
    # summarised
    "arange_1001_f32": np.arange(1001, dtype=np.float32),
    "arange_2000_int": np.arange(2000),
    "randn_2000": _RNG.standard_normal(2000).astype(np.float32),
    "randn_100x100": _RNG.standard_normal((100, 100)).astype(np.float32),
    "randn_20x30x40": _RNG.standard_normal((20, 30, 40)).astype(np.float32),
    "int_50x100": np.arange(5000).reshape(50, 100),
    "summary_short_rows": _RNG.standard_normal((500, 4)).astype(np.float32),
    "summary_hides_outlier": np.concatenate([_f32([1.5] * 4), _f32([1e9] * 1000), _f32([2.5] * 4)]),
    # line wrapping
    "wrap_floats": np.arange(100, dtype=np.float32) / 3,
    "wrap_ints": np.arange(50),
    "wrap_rows_2d": _RNG.standard_normal((3, 30)).astype(np.float32),
    "wrap_sci": _RNG.standard_normal(30).astype(np.float32) * 1e6,
    # zero-dimensional
    "scalar_int_mode": np.array(3.0, dtype=np.float32),
    "scalar_fraction": np.array(3.5, dtype=np.float32),
    "scalar_negative": np.array(-0.25, dtype=np.float32),
    "scalar_sci": np.array(1e-7, dtype=np.float32),
    "scalar_int": np.array(7),
    "scalar_bool": np.array(True),
    "scalar_nan": np.array(_NAN, dtype=np.float32),
    "scalar_f64": np.array(2.5),
    "scalar_f16": np.array(0.1, dtype=np.float16),
    "scalar_int32": np.array(-3, dtype=np.int32),
    # empty
    "empty_f32": np.zeros(0, dtype=np.float32),
    "empty_f32_2d": np.zeros((0, 3), dtype=np.float32),
    "empty_f32_3d": np.zeros((2, 0, 3), dtype=np.float32),
    "empty_int64": np.zeros(0, dtype=np.int64),
    "empty_f64_2d": np.zeros((3, 0)),
    "empty_bool": np.zeros(0, dtype=bool),
    # float64 and float16
    "f64_randn": _RNG.standard_normal((2, 3)),
    "f64_ints": np.array([1.0, -2.0]),
    "f64_sci": np.array([1e-10, 1e10]),
    "f64_precise": np.array([1 / 3, 2 / 3]),
    "f16_randn": _RNG.standard_normal((2, 3)).astype(np.float16),
    "f16_tenths": np.array([0.1, 0.2, 1000.0], dtype=np.float16),
    "f16_max": np.array([65504.0, -1.0], dtype=np.float16),
    "f16_tiny": np.array([6e-5, 1.0], dtype=np.float16),
    "f16_inf": np.array([_INF, 0.5], dtype=np.float16),
    # bool and complex
    "bool_1d": np.array([True, False]),
    "bool_2d": np.array([[True, False, True], [False, False, True]]),
    "bool_summarised": np.arange(3000) % 3 == 0,
    "complex64": np.array([1 + 2j, -3.5 - 1j], dtype=np.complex64),
    "complex128_2d": (_RNG.standard_normal((2, 2)) + 1j * _RNG.standard_normal((2, 2))),
}


def _dtype_suffixes(arr):
    if default_dtype_suffix_needed(arr.dtype, empty=arr.size == 0):
        return [f"dtype=probe.{arr.dtype.name}"]
    return []


def _torch_repr(tensor):
    return repr(tensor).replace("torch.", "probe.")


@pytest.fixture
def options():
    """Apply print options to both libraries and restore both afterwards."""
    probe_saved = get_printoptions()
    torch.set_printoptions(profile="default")

    def apply(**kwargs):
        set_printoptions(**kwargs)
        torch.set_printoptions(**kwargs)

    yield apply
    set_printoptions(**probe_saved)
    torch.set_printoptions(profile="default")


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name):
    arr = CASES[name]
    expected = _torch_repr(torch.from_numpy(arr))
    assert format_tensor(arr, suffixes=_dtype_suffixes(arr)) == expected


@pytest.mark.parametrize("name", ["f32_fractions", "f64_randn", "wrap_floats", "randn_3d"])
def test_requires_grad_suffix(name):
    arr = CASES[name]
    expected = _torch_repr(torch.from_numpy(arr).requires_grad_())
    suffixes = [*_dtype_suffixes(arr), "requires_grad=True"]
    assert format_tensor(arr, suffixes=suffixes) == expected


@pytest.mark.parametrize("name", ["f32_fractions", "f64_precise", "scalar_f64", "randn_2d"])
def test_grad_fn_suffix(name):
    arr = CASES[name]
    expected = _torch_repr(torch.from_numpy(arr).requires_grad_() * 2)
    suffixes = [*_dtype_suffixes(arr), "grad_fn=<MulBackward0>"]
    assert format_tensor(arr * 2, suffixes=suffixes) == expected


def test_suffix_wraps_after_long_last_line():
    arr = np.array([123456.789, 2.5, -3.25, 4.0, 5.0, 6.0, 7.5]) * 1.5
    expected = _torch_repr(torch.from_numpy(arr).requires_grad_())
    suffixes = [*_dtype_suffixes(arr), "requires_grad=True"]
    assert "\n" in expected
    assert format_tensor(arr, suffixes=suffixes) == expected


OPTION_CASES = [
    ({"precision": 2}, "randn_2d"),
    ({"precision": 8}, "f64_precise"),
    ({"precision": 0}, "f32_fractions"),
    ({"sci_mode": True}, "f32_fractions"),
    ({"sci_mode": True}, "f32_ints"),
    ({"sci_mode": False}, "sci_ratio"),
    ({"sci_mode": False}, "sci_tiny"),
    ({"threshold": 5}, "int64_arange"),
    ({"threshold": 5, "edgeitems": 1}, "randn_3d"),
    ({"threshold": 5, "edgeitems": 0}, "randn_3d"),
    ({"threshold": 5, "edgeitems": 0}, "int64_arange"),
    ({"edgeitems": 0}, "f32_fractions"),
    ({"edgeitems": 0}, "scalar_fraction"),
    ({"linewidth": 40}, "wrap_floats"),
    ({"linewidth": 40}, "wrap_rows_2d"),
    ({"linewidth": 5}, "f32_fractions"),
    ({"profile": "short"}, "randn_100x100"),
    ({"profile": "full"}, "arange_2000_int"),
    ({"profile": "full", "linewidth": 120}, "randn_2000"),
]


@pytest.mark.parametrize(("kwargs", "name"), OPTION_CASES)
def test_matches_torch_with_options(options, kwargs, name):
    options(**kwargs)
    arr = CASES[name]
    expected = _torch_repr(torch.from_numpy(arr))
    assert format_tensor(arr, suffixes=_dtype_suffixes(arr)) == expected


def test_get_printoptions_matches_torch(options):
    options(precision=3, threshold=50, edgeitems=2, linewidth=60, sci_mode=True)
    assert get_printoptions() == torch._tensor_str.get_printoptions()
