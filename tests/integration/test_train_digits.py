"""The training example reaches high accuracy: engine, nn, optim and data working together."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_digits.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("train_digits", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_small_cnn_learns_the_digits():
    accuracy = _load_example().train(epochs=15, seed=0, verbose=False)
    assert accuracy > 0.95
