"""DataLoader in the main process (num_workers=0): arguments, len, order, shuffling, collation."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import probe
from probe.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    TensorDataset,
    get_worker_info,
)


class Range(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))


class SizedStream(Stream):
    def __len__(self):
        return self.n


class Batched(Dataset):
    """Implements __getitems__: the loader must fetch whole batches through it."""

    def __init__(self):
        self.calls = []

    def __len__(self):
        return 6

    def __getitem__(self, i):
        raise AssertionError("__getitem__ must not be called when __getitems__ exists")

    def __getitems__(self, indices):
        self.calls.append(list(indices))
        return [i * 10 for i in indices]


def flat(loader):
    return [b.tolist() for b in loader]


# ---------------------------------------------------------------------------------- arguments

@pytest.mark.parametrize("kwargs,exc,match", [
    ({"num_workers": -1}, ValueError, "num_workers option should be non-negative"),
    ({"timeout": -1}, ValueError, "timeout option should be non-negative"),
    ({"prefetch_factor": 2}, ValueError, "prefetch_factor option could only be specified"),
    ({"num_workers": 1, "prefetch_factor": -1}, ValueError,
     "prefetch_factor option should be non-negative"),
    ({"persistent_workers": True}, ValueError, "persistent_workers option needs num_workers > 0"),
    ({"sampler": [0, 1], "shuffle": True}, ValueError,
     "sampler option is mutually exclusive with shuffle"),
    ({"batch_sampler": [[0]], "batch_size": 2}, ValueError,
     "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"),
    ({"batch_sampler": [[0]], "shuffle": True}, ValueError, "batch_sampler option is mutually"),
    ({"batch_sampler": [[0]], "sampler": [0]}, ValueError, "batch_sampler option is mutually"),
    ({"batch_sampler": [[0]], "drop_last": True}, ValueError, "batch_sampler option is mutually"),
    ({"batch_size": None, "drop_last": True}, ValueError,
     "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"),
    ({"batch_size": 0}, ValueError, "batch_size should be a positive integer value"),
    ({"multiprocessing_context": "fork"}, ValueError,
     "multiprocessing_context can only be used with multi-process loading"),
    ({"num_workers": 1, "multiprocessing_context": "nope"}, ValueError,
     "multiprocessing_context option should specify a valid start method"),
    ({"num_workers": 1, "multiprocessing_context": 3}, TypeError,
     "multiprocessing_context option should be a valid context object"),
])
def test_argument_validation(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        DataLoader(Range(4), **kwargs)


@pytest.mark.parametrize("kwargs,match", [
    ({"shuffle": True}, "expected unspecified shuffle option, but got shuffle=True"),
    ({"sampler": [0]}, "expected unspecified sampler option"),
    ({"batch_sampler": [[0]]}, "expected unspecified batch_sampler option"),
])
def test_iterable_dataset_rejects_samplers(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataLoader(Stream(3), **kwargs)


def test_iterable_dataset_accepts_shuffle_false():
    assert flat(DataLoader(Stream(3), shuffle=False)) == [[0], [1], [2]]


def test_attributes_frozen_after_init():
    loader = DataLoader(Range(4), batch_size=2)
    for name in ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
                 "persistent_workers"):
        with pytest.raises(ValueError, match=f"{name} attribute should not be set after "
                                             "DataLoader is initialized"):
            setattr(loader, name, None)
    loader.collate_fn = list  # others may change
    assert list(loader) == [[0, 1], [2, 3]]


def test_timeout_needs_workers():
    with pytest.raises(AssertionError, match="requires timeout == 0"):
        iter(DataLoader(Range(2), timeout=1))


def test_pin_memory_warns_without_gpu():
    if probe.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.warns(UserWarning, match="'pin_memory' argument is set as true"):
        assert flat(DataLoader(Range(2), pin_memory=True)) == [[0], [1]]


def test_too_many_workers_warns():
    with pytest.warns(UserWarning, match="This DataLoader will create 10000 worker processes"):
        DataLoader(Range(2), num_workers=10000)


# ---------------------------------------------------------------------------------- len / batches

@pytest.mark.parametrize("n", [0, 1, 7, 8, 9])
@pytest.mark.parametrize("bs", [1, 3, 8])
@pytest.mark.parametrize("drop_last", [False, True])
def test_len_and_batches(n, bs, drop_last):
    loader = DataLoader(Range(n), batch_size=bs, drop_last=drop_last)
    expected = n // bs if drop_last else math.ceil(n / bs)
    batches = flat(loader)
    assert len(loader) == expected == len(batches)
    assert all(len(b) == bs for b in (batches if drop_last else batches[:-1]))
    assert [i for b in batches for i in b] == list(range(expected * bs if drop_last else n))


@pytest.mark.parametrize("bs,drop_last", [(2, False), (2, True), (4, False), (4, True)])
def test_iterable_len(bs, drop_last):
    loader = DataLoader(SizedStream(7), batch_size=bs, drop_last=drop_last)
    expected = 7 // bs if drop_last else math.ceil(7 / bs)
    assert len(loader) == expected == len(list(loader))


def test_iterable_len_without_dataset_len_raises():
    with pytest.raises(TypeError):
        len(DataLoader(Stream(4), batch_size=2))
    assert len(DataLoader(SizedStream(4), batch_size=None)) == 4


def test_iterable_len_warns_when_exceeded():
    class Liar(Stream):
        def __len__(self):
            return 2

    loader = DataLoader(Liar(4), batch_size=None)
    assert len(loader) == 2
    with pytest.warns(UserWarning, match="was reported to be 2"):
        list(loader)


def test_iterable_drop_last():
    assert flat(DataLoader(Stream(7), batch_size=3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert flat(DataLoader(Stream(7), batch_size=3, drop_last=True)) == [[0, 1, 2], [3, 4, 5]]
    assert flat(DataLoader(Stream(6), batch_size=3)) == [[0, 1, 2], [3, 4, 5]]


def test_batch_size_none_converts_samples():
    class Arrays(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return np.full(3, i, dtype=np.float32), i

    out = list(DataLoader(Arrays(), batch_size=None))
    assert len(out) == 2
    x, y = out[1]
    assert isinstance(x, probe.Tensor) and x.shape == (3,) and y == 1


def test_custom_sampler_and_batch_sampler():
    loader = DataLoader(Range(6), batch_size=2, sampler=[5, 4, 3, 2, 1, 0])
    assert flat(loader) == [[5, 4], [3, 2], [1, 0]]
    bs = BatchSampler(SequentialSampler(range(5)), 2, False)
    loader = DataLoader(Range(5), batch_sampler=bs)
    assert flat(loader) == [[0, 1], [2, 3], [4]] and len(loader) == 3
    assert loader.batch_size is None and loader.drop_last is False
    loader = DataLoader(Range(5), batch_sampler=[[4, 0], [1]])
    assert flat(loader) == [[4, 0], [1]]


def test_getitems_is_used():
    ds = Batched()
    assert flat(DataLoader(ds, batch_size=4)) == [[0, 10, 20, 30], [40, 50]]
    assert ds.calls == [[0, 1, 2, 3], [4, 5]]


def test_custom_collate_fn():
    loader = DataLoader(Range(5), batch_size=2, collate_fn=lambda b: sum(b))
    assert list(loader) == [1, 5, 4]


def test_tensor_dataset_batches():
    x = probe.arange(20.0).reshape(10, 2)
    y = probe.arange(10)
    batches = list(DataLoader(TensorDataset(x, y), batch_size=4))
    assert [tuple(b[0].shape) for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert type(batches[0]) is list  # PyTorch's default_collate gives a list for tuple samples
    assert batches[2][1].tolist() == [8, 9]
    assert batches[0][0].dtype == probe.float32 and batches[0][1].dtype == probe.int64


def test_numpy_float32_samples():
    class DS(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full(3, i, dtype=np.float32), i

    x, y = next(iter(DataLoader(DS(), batch_size=4)))
    assert x.dtype == probe.float32 and x.shape == (4, 3)
    assert y.dtype == probe.int64 and y.shape == (4,)


# ---------------------------------------------------------------------------------- shuffling

def test_shuffle_reproducible_with_generator():
    def epochs(seed):
        loader = DataLoader(Range(20), batch_size=5, shuffle=True,
                            generator=probe.Generator().manual_seed(seed))
        return [flat(loader) for _ in range(3)]

    a, b, c = epochs(0), epochs(0), epochs(1)
    assert a == b and a != c
    assert a[0] != a[1]  # a new order each epoch
    for epoch in a:
        assert sorted(i for batch in epoch for i in batch) == list(range(20))


def test_shuffle_reproducible_with_manual_seed():
    probe.manual_seed(123)
    a = flat(DataLoader(Range(12), batch_size=4, shuffle=True))
    probe.manual_seed(123)
    b = flat(DataLoader(Range(12), batch_size=4, shuffle=True))
    assert a == b


def test_shuffle_builds_random_sampler():
    loader = DataLoader(Range(3), shuffle=True)
    assert isinstance(loader.sampler, RandomSampler)
    assert isinstance(DataLoader(Range(3)).sampler, SequentialSampler)


def test_get_worker_info_is_none_in_main_process():
    seen = []

    class DS(Range):
        def __getitem__(self, i):
            seen.append(get_worker_info())
            return i

    list(DataLoader(DS(2)))
    assert seen == [None, None]


def test_iterator_len_and_not_picklable():
    import pickle

    it = iter(DataLoader(Range(5), batch_size=2))
    assert len(it) == 3
    with pytest.raises(NotImplementedError, match="cannot be pickled"):
        pickle.dumps(it)


def test_no_warnings_in_plain_use():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(DataLoader(Range(5), batch_size=2, shuffle=True))


def test_tensors_on_device(device):
    x = probe.arange(12.0, device=device).reshape(6, 2)
    y = probe.arange(6, device=device)
    batches = list(DataLoader(TensorDataset(x, y), batch_size=4))
    assert [b[0].device.type for b in batches] == [device, device]
    assert batches[1][0].tolist() == [[8.0, 9.0], [10.0, 11.0]]
