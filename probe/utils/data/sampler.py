"""Samplers: iterables of dataset indices (or of index lists, ``BatchSampler``).

Random samplers draw from a ``probe.Generator``: pass a seeded one for a reproducible order.
The streams are probe's own (NumPy's PCG64), not bit-identical to PyTorch's.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Generic, TypeVar

import numpy as np

from probe.engine import random as _random
from probe.engine.ops.creation import as_tensor

__all__ = [
    "Sampler",
    "SequentialSampler",
    "RandomSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
    "BatchSampler",
]

T_co = TypeVar("T_co", covariant=True)

_INT64_MAX = 2**63 - 1


class Sampler(Generic[T_co]):
    """Base class of samplers: subclasses implement ``__iter__`` (and usually ``__len__``).

    >>> class Reversed(Sampler):
    ...     def __init__(self, n):
    ...         self.n = n
    ...     def __iter__(self):
    ...         return iter(range(self.n - 1, -1, -1))
    ...     def __len__(self):
    ...         return self.n
    >>> list(Reversed(3))
    [2, 1, 0]
    """

    def __init__(self, data_source: Sized | None = None) -> None:
        # Older code passes the data source up; it is accepted and unused.
        pass

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError

    # No default __len__: len() must raise TypeError for samplers without one.


class SequentialSampler(Sampler[int]):
    """Indices ``0 .. len(data_source) - 1`` in order.

    >>> list(SequentialSampler(range(4)))
    [0, 1, 2, 3]
    """

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


def _fresh_generator():
    """A new generator seeded from the default one (what an unseeded random sampler uses)."""
    seed = int(_random.randint(0, _INT64_MAX, ()).item())
    return _random.Generator().manual_seed(seed)


class RandomSampler(Sampler[int]):
    """Indices in random order: a permutation, or ``num_samples`` draws with replacement.

    Without replacement and with ``num_samples > len(data_source)``, whole permutations are
    chained. Each ``iter()`` draws a new order from ``generator`` (the default generator if None).

    >>> import probe
    >>> s = RandomSampler(range(5), generator=probe.Generator().manual_seed(0))
    >>> sorted(s)
    [0, 1, 2, 3, 4]
    """

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, generator=None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.replacement, bool):
            raise TypeError(
                f"replacement should be a boolean value, but got replacement={self.replacement}"
            )
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(
                "num_samples should be a positive integer value, but got "
                f"num_samples={self.num_samples}"
            )

    @property
    def num_samples(self) -> int:
        if self._num_samples is None:
            return len(self.data_source)
        return self._num_samples

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        generator = _fresh_generator() if self.generator is None else self.generator
        num_samples = self.num_samples
        if self.replacement:
            # Chunks keep a partly consumed iterator from drawing the whole stream up front.
            for _ in range(num_samples // 32):
                yield from _random.randint(0, n, (32,), generator=generator).tolist()
            yield from _random.randint(0, n, (num_samples % 32,), generator=generator).tolist()
        else:
            for _ in range(num_samples // n):
                yield from _random.randperm(n, generator=generator).tolist()
            yield from _random.randperm(n, generator=generator).tolist()[: num_samples % n]

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given indices in a random order (a new permutation per ``iter()``).

    >>> import probe
    >>> sorted(SubsetRandomSampler([5, 7, 9], generator=probe.Generator().manual_seed(1)))
    [5, 7, 9]
    """

    def __init__(self, indices: Sequence[int], generator=None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        for i in _random.randperm(len(self.indices), generator=self.generator).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler[int]):
    """``num_samples`` indices into ``weights`` drawn with probability proportional to the weight.

    >>> import probe
    >>> s = WeightedRandomSampler([0.0, 1.0, 0.0], 4, generator=probe.Generator().manual_seed(0))
    >>> list(s)
    [1, 1, 1, 1]
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator=None) -> None:
        if (not isinstance(num_samples, int) or isinstance(num_samples, bool)
                or num_samples <= 0):
            raise ValueError(
                f"num_samples should be a positive integer value, but got num_samples={num_samples}"
            )
        if not isinstance(replacement, bool):
            raise ValueError(
                f"replacement should be a boolean value, but got replacement={replacement}"
            )
        weights_tensor = as_tensor(np.asarray(weights, dtype=np.float64))
        if weights_tensor.ndim != 1:
            raise ValueError(
                "weights should be a 1d sequence but given "
                f"weights have shape {tuple(weights_tensor.shape)}"
            )
        self.weights = weights_tensor
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        rand_tensor = _random.multinomial(self.weights, self.num_samples, self.replacement,
                                          generator=self.generator)
        yield from iter(rand_tensor.tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler[list[int]]):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last may be shorter
    unless ``drop_last``).

    >>> list(BatchSampler(SequentialSampler(range(7)), batch_size=3, drop_last=False))
    [[0, 1, 2], [3, 4, 5], [6]]
    >>> list(BatchSampler(SequentialSampler(range(7)), batch_size=3, drop_last=True))
    [[0, 1, 2], [3, 4, 5]]
    """

    def __init__(self, sampler: Sampler[int] | Iterable[int], batch_size: int,
                 drop_last: bool) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        it = iter(self.sampler)
        size = self.batch_size
        if self.drop_last:
            # zip over the same iterator stops at the first incomplete group.
            for batch in zip(*([it] * size)):
                yield list(batch)
        else:
            batch = list(itertools.islice(it, size))
            while batch:
                yield batch
                batch = list(itertools.islice(it, size))

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size
