"""Small datasets that ship with probe (generated, no download), for examples, tests and the demo.

``synthetic_digits`` draws the digits 0-9 from 5x3 glyphs onto an 8x8 canvas (or larger) with a
random shift, stroke intensity and noise: a task a small CNN learns to high accuracy in seconds,
close in spirit to scikit-learn's 8x8 ``load_digits``. ``load_digits`` returns scikit-learn's
real digits when scikit-learn is installed and falls back to the synthetic ones otherwise.
"""

from __future__ import annotations

import numpy as np

from .utils.data import TensorDataset

# 5 rows x 3 columns per digit, "#" = ink.
_GLYPHS = {
    0: ("###", "#.#", "#.#", "#.#", "###"),
    1: (".#.", "##.", ".#.", ".#.", "###"),
    2: ("###", "..#", "###", "#..", "###"),
    3: ("###", "..#", ".##", "..#", "###"),
    4: ("#.#", "#.#", "###", "..#", "..#"),
    5: ("###", "#..", "###", "..#", "###"),
    6: ("###", "#..", "###", "#.#", "###"),
    7: ("###", "..#", ".#.", ".#.", ".#."),
    8: ("###", "#.#", "###", "#.#", "###"),
    9: ("###", "#.#", "###", "..#", "###"),
}


def _glyph(digit: int) -> np.ndarray:
    return np.array([[c == "#" for c in row] for row in _GLYPHS[digit]], dtype=np.float32)


def synthetic_digits(n: int = 2000, *, size: int = 8, noise: float = 0.15, seed: int = 0):
    """``(images, labels)``: float32 images of shape ``(n, 1, size, size)`` in [0, 1] and int64
    labels, balanced over the ten digits.

    >>> images, labels = synthetic_digits(20, seed=1)
    >>> images.shape, labels.dtype
    ((20, 1, 8, 8), dtype('int64'))
    """
    if size < 7:
        raise ValueError(f"size must be at least 7 to fit a glyph with a margin, got {size}")
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = np.zeros((n, 1, size, size), dtype=np.float32)
    glyphs = [_glyph(d) for d in range(10)]
    scale = max(1, (size - 2) // 5)
    for i, digit in enumerate(labels):
        glyph = np.kron(glyphs[digit], np.ones((scale, scale), dtype=np.float32))
        gh, gw = glyph.shape
        top = rng.integers(0, size - gh + 1)
        left = rng.integers(0, size - gw + 1)
        images[i, 0, top:top + gh, left:left + gw] = glyph * rng.uniform(0.6, 1.0)
    images += rng.normal(0.0, noise, size=images.shape).astype(np.float32)
    np.clip(images, 0.0, 1.0, out=images)
    return images, labels.astype(np.int64)


def load_digits(*, seed: int = 0, n_synthetic: int = 2000):
    """8x8 digits as a ``TensorDataset`` of ``(image (1, 8, 8) float32, label int64)``:
    scikit-learn's real digits when it is installed, the synthetic ones otherwise.

    >>> dataset = load_digits()
    >>> len(dataset) > 1000
    True
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits  # noqa: PLC0415
    except ImportError:
        images, labels = synthetic_digits(n_synthetic, seed=seed)
    else:
        bunch = sklearn_digits()
        images = (bunch.images / 16.0).astype(np.float32)[:, None]
        labels = bunch.target.astype(np.int64)
    from .engine.ops.creation import from_numpy  # noqa: PLC0415

    return TensorDataset(from_numpy(images), from_numpy(labels))


__all__ = ["load_digits", "synthetic_digits"]
