"""Shared fixtures: the ``device`` fixture runs a test on the CPU and, where CuPy and a GPU are
present, on CUDA too (skipped with a reason otherwise)."""

from __future__ import annotations

import numpy as np
import pytest

import probe


def _cuda_params():
    if probe.cuda.is_available():
        return [pytest.param("cuda", marks=pytest.mark.cuda)]
    no_gpu = pytest.mark.skip(reason="CUDA not available (no CuPy or GPU)")
    return [pytest.param("cuda", marks=no_gpu)]


@pytest.fixture(params=["cpu", *_cuda_params()])
def device(request):
    """The device a test runs on: "cpu", and "cuda" where available."""
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def to_numpy(t):
    """Host copy of a tensor's data (works for CUDA tensors too)."""
    return t.detach().cpu().numpy()
