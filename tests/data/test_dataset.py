"""Datasets, samplers, random_split and default_collate / default_convert (no worker processes)."""

from __future__ import annotations

import collections
import warnings

import numpy as np
import pytest

import probe
from probe.utils.data import (
    BatchSampler,
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    StackDataset,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    random_split,
)
from probe.utils.data.collate import collate, default_collate_fn_map


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i * i


class Stream(IterableDataset):
    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)


Point = collections.namedtuple("Point", ["x", "y"])


# ---------------------------------------------------------------------------------- datasets

def test_dataset_base_requires_getitem():
    with pytest.raises(NotImplementedError, match="should implement __getitem__"):
        Dataset()[0]
    with pytest.raises(TypeError):
        len(Dataset())


def test_generic_subscripts():
    class Ints(Dataset[int]):
        def __getitem__(self, i):
            return i

    class Stream1(IterableDataset[int]):
        def __iter__(self):
            return iter([1])

    class Order(Sampler[int]):
        def __iter__(self):
            return iter([0])

    assert Ints()[3] == 3 and list(Stream1()) == [1] and list(Order()) == [0]


def test_tensor_dataset():
    x = probe.arange(12.0).reshape(4, 3)
    y = probe.tensor([0, 1, 0, 1])
    ds = TensorDataset(x, y)
    assert len(ds) == 4
    xi, yi = ds[2]
    assert xi.tolist() == [6.0, 7.0, 8.0] and yi.item() == 0
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(x, probe.zeros(3))


def test_concat_dataset_and_add():
    ds = ConcatDataset([Squares(3), [10, 11]])
    assert len(ds) == 5
    assert [ds[i] for i in range(5)] == [0, 1, 4, 10, 11]
    assert ds[-1] == 11 and ds[-5] == 0
    assert ds.cumulative_sizes == [3, 5]
    with pytest.raises(ValueError, match="absolute value of index"):
        ds[-6]
    both = Squares(2) + Squares(3)
    assert isinstance(both, ConcatDataset) and len(both) == 5
    with pytest.raises(AssertionError, match="should not be an empty iterable"):
        ConcatDataset([])
    with pytest.raises(AssertionError, match="does not support IterableDataset"):
        ConcatDataset([Stream([1])])


def test_chain_dataset_and_add():
    chained = ChainDataset([Stream([1, 2]), Stream([3])])
    assert list(chained) == [1, 2, 3]
    assert len(chained) == 3
    assert list(Stream([1]) + Stream([2])) == [1, 2]
    with pytest.raises(AssertionError, match="only supports IterableDataset"):
        list(ChainDataset([Squares(2)]))


def test_subset():
    s = Subset(Squares(10), [9, 0, 3])
    assert len(s) == 3
    assert [s[i] for i in range(3)] == [81, 0, 9]
    assert s.__getitems__([0, 2]) == [81, 9]

    class Bad(Subset):
        def __getitem__(self, idx):
            return 0

    with pytest.raises(NotImplementedError, match="overrides __getitem__ but not __getitems__"):
        Bad(Squares(3), [0])


def test_stack_dataset():
    tup = StackDataset(Squares(3), ["a", "b", "c"])
    assert tup[2] == (4, "c") and len(tup) == 3
    assert tup.__getitems__([0, 1]) == [(0, "a"), (1, "b")]
    dic = StackDataset(x=Squares(2), y=["a", "b"])
    assert dic[1] == {"x": 1, "y": "b"}
    assert dic.__getitems__([1, 0]) == [{"x": 1, "y": "b"}, {"x": 0, "y": "a"}]
    with pytest.raises(ValueError, match="Size mismatch"):
        StackDataset(Squares(2), [1])
    with pytest.raises(ValueError, match="At least one dataset"):
        StackDataset()


def test_random_split_lengths_and_reproducibility():
    parts = random_split(range(10), [3, 7], generator=probe.Generator().manual_seed(42))
    again = random_split(range(10), [3, 7], generator=probe.Generator().manual_seed(42))
    other = random_split(range(10), [3, 7], generator=probe.Generator().manual_seed(43))
    assert [len(p) for p in parts] == [3, 7]
    assert [list(p) for p in parts] == [list(p) for p in again]
    assert [list(p) for p in parts] != [list(p) for p in other]
    assert sorted(list(parts[0]) + list(parts[1])) == list(range(10))


def test_random_split_fractions():
    parts = random_split(range(30), [0.3, 0.3, 0.4], generator=probe.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [9, 9, 12]
    # Remainders go round-robin: floor(0.5 * 5) = 2 twice, one left for the first split.
    parts = random_split(range(5), [0.5, 0.5], generator=probe.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [3, 2]
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        random_split(range(2), [0.99, 0.01])
    with pytest.raises(ValueError, match="Fraction at index 0 is not between 0 and 1"):
        random_split(range(10), [1.5, -0.5])


def test_random_split_bad_lengths():
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="non-negative integer lengths"):
        random_split(range(10), [12, -2])


def test_random_split_default_generator_follows_manual_seed():
    probe.manual_seed(7)
    a = [list(p) for p in random_split(range(8), [4, 4])]
    probe.manual_seed(7)
    b = [list(p) for p in random_split(range(8), [4, 4])]
    assert a == b


# ---------------------------------------------------------------------------------- samplers

def test_sequential_sampler():
    s = SequentialSampler(range(5))
    assert list(s) == [0, 1, 2, 3, 4] and len(s) == 5


def test_sampler_base():
    with pytest.raises(NotImplementedError):
        iter(Sampler())
    with pytest.raises(TypeError):
        len(Sampler())


def test_random_sampler_permutation_and_generator():
    g = probe.Generator().manual_seed(3)
    s = RandomSampler(range(20), generator=g)
    first, second = list(s), list(s)
    assert sorted(first) == list(range(20)) and sorted(second) == list(range(20))
    assert first != second  # a new order each epoch
    g2 = probe.Generator().manual_seed(3)
    s2 = RandomSampler(range(20), generator=g2)
    assert list(s2) == first and list(s2) == second


def test_random_sampler_num_samples_and_replacement():
    s = RandomSampler(range(4), num_samples=10, generator=probe.Generator().manual_seed(0))
    out = list(s)
    assert len(s) == 10 and len(out) == 10
    assert sorted(out[:4]) == [0, 1, 2, 3] and sorted(out[4:8]) == [0, 1, 2, 3]
    r = RandomSampler(range(3), replacement=True, num_samples=100,
                      generator=probe.Generator().manual_seed(0))
    out = list(r)
    assert len(out) == 100 and set(out) <= {0, 1, 2} and len(set(out)) == 3
    with pytest.raises(TypeError, match="replacement should be a boolean value"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        RandomSampler([])


def test_random_sampler_unseeded_follows_manual_seed():
    probe.manual_seed(11)
    a = list(RandomSampler(range(10)))
    probe.manual_seed(11)
    assert list(RandomSampler(range(10))) == a


def test_subset_random_sampler():
    s = SubsetRandomSampler([10, 20, 30, 40], generator=probe.Generator().manual_seed(1))
    out = list(s)
    assert sorted(out) == [10, 20, 30, 40] and len(s) == 4
    s2 = SubsetRandomSampler([10, 20, 30, 40], generator=probe.Generator().manual_seed(1))
    assert list(s2) == out


def test_weighted_random_sampler():
    s = WeightedRandomSampler([0.0, 0.0, 1.0], 5, generator=probe.Generator().manual_seed(0))
    assert list(s) == [2] * 5 and len(s) == 5
    s = WeightedRandomSampler([1.0, 1.0, 1.0, 1.0], 4, replacement=False,
                              generator=probe.Generator().manual_seed(0))
    assert sorted(s) == [0, 1, 2, 3]
    w = [0.1, 0.9, 0.4, 0.7, 3.0, 0.6]
    a = list(WeightedRandomSampler(w, 50, generator=probe.Generator().manual_seed(9)))
    b = list(WeightedRandomSampler(w, 50, generator=probe.Generator().manual_seed(9)))
    assert a == b
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        WeightedRandomSampler(w, 0)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        WeightedRandomSampler(w, True)
    with pytest.raises(ValueError, match="replacement should be a boolean"):
        WeightedRandomSampler(w, 2, replacement=None)
    with pytest.raises(ValueError, match=r"weights should be a 1d sequence .* shape \(2, 2\)"):
        WeightedRandomSampler([[1.0, 2.0], [3.0, 4.0]], 2)


@pytest.mark.parametrize("n,bs,drop_last", [(10, 3, False), (10, 3, True), (9, 3, False),
                                            (9, 3, True), (2, 5, False), (2, 5, True),
                                            (0, 2, False)])
def test_batch_sampler(n, bs, drop_last):
    batches = list(BatchSampler(SequentialSampler(range(n)), bs, drop_last))
    flat = [i for b in batches for i in b]
    assert len(BatchSampler(SequentialSampler(range(n)), bs, drop_last)) == len(batches)
    if drop_last:
        assert all(len(b) == bs for b in batches) and flat == list(range(n // bs * bs))
    else:
        assert flat == list(range(n)) and all(len(b) == bs for b in batches[:-1])


def test_batch_sampler_validation():
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="batch_size should be a positive integer value"):
        BatchSampler(range(3), True, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value"):
        BatchSampler(range(3), 2, 0)


# ---------------------------------------------------------------------------------- collate

def test_collate_tensors_stacked():
    out = default_collate([probe.ones(2, 3), probe.zeros(2, 3)])
    assert out.shape == (2, 2, 3) and out.dtype == probe.float32
    assert default_collate([probe.tensor(1, dtype=probe.int32)] * 3).dtype == probe.int32
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        default_collate([probe.ones(2), probe.ones(3)])


def test_collate_numpy_arrays_keep_dtype():
    out = default_collate([np.zeros(3), np.ones(3)])
    assert isinstance(out, probe.Tensor) and out.dtype == probe.float64 and out.shape == (2, 3)
    out = default_collate([np.zeros((2, 2), dtype=np.float32)] * 4)
    assert out.dtype == probe.float32 and out.shape == (4, 2, 2)
    out = default_collate([np.array(1, dtype=np.int32), np.array(2, dtype=np.int32)])
    assert out.dtype == probe.int32 and out.tolist() == [1, 2]
    # Mixed dtypes promote as PyTorch's stack does (int32 with float32 -> float32).
    out = default_collate([np.zeros(2, dtype=np.int32), np.zeros(2, dtype=np.float32)])
    assert out.dtype == probe.float32
    with pytest.raises(TypeError, match="found <U1"):
        default_collate([np.array(["a"]), np.array(["b"])])


def test_collate_numpy_array_is_copied():
    a = np.zeros(3, dtype=np.float32)
    out = default_collate([a, a])
    a[0] = 5
    assert out.tolist() == [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]


def test_collate_python_numbers_and_strings():
    f = default_collate([1.5, 2.5])
    assert f.dtype == probe.float64 and f.tolist() == [1.5, 2.5]
    i = default_collate([1, 2, 3])
    assert i.dtype == probe.int64 and i.tolist() == [1, 2, 3]
    b = default_collate([True, False])
    assert b.dtype == probe.bool
    assert default_collate(["a", "b"]) == ["a", "b"]
    assert default_collate([b"a", b"b"]) == [b"a", b"b"]
    # The first element decides: ints then a float -> PyTorch's tensor() inference (float32).
    assert default_collate([1, 2.0]).dtype == probe.float32
    assert default_collate([2.0, 1]).dtype == probe.float64


def test_collate_numpy_scalars():
    assert default_collate([np.float32(1), np.float32(2)]).dtype == probe.float32
    assert default_collate([np.int32(1), np.int32(2)]).dtype == probe.int32
    assert default_collate([np.bool_(True), np.bool_(False)]).dtype == probe.bool
    assert default_collate([np.float64(1), np.float32(2)]).dtype == probe.float64
    assert default_collate([np.int32(1), np.float32(2)]).dtype == probe.float32
    assert default_collate([np.uint8(1), np.int8(2)]).dtype == probe.int16


def test_collate_float32_array_and_int_sample():
    batch = [(np.full(3, i, dtype=np.float32), i) for i in range(4)]
    x, y = default_collate(batch)
    assert x.dtype == probe.float32 and x.shape == (4, 3)
    assert y.dtype == probe.int64 and y.tolist() == [0, 1, 2, 3]


def test_collate_containers():
    d = default_collate([{"a": 1, "b": 2.0}, {"a": 3, "b": 4.0}])
    assert type(d) is dict and d["a"].tolist() == [1, 3] and d["b"].dtype == probe.float64
    od = default_collate([collections.OrderedDict(a=1), collections.OrderedDict(a=2)])
    assert type(od) is collections.OrderedDict
    p = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert type(p) is Point and p.x.tolist() == [1, 3] and p.y.dtype == probe.float64
    t = default_collate([(1, 2), (3, 4)])
    assert type(t) is list and [x.tolist() for x in t] == [[1, 3], [2, 4]]
    lst = default_collate([[1, 2], [3, 4]])
    assert type(lst) is list and [x.tolist() for x in lst] == [[1, 3], [2, 4]]
    nested = default_collate([{"x": (np.zeros(2), "s")}, {"x": (np.ones(2), "t")}])
    assert nested["x"][0].shape == (2, 2) and nested["x"][1] == ("s", "t")
    assert default_collate([{"k": "a"}, {"k": "b"}]) == {"k": ["a", "b"]}
    r = default_collate([range(2), range(2)])
    assert type(r) is list


def test_collate_unequal_sequences_raise():
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        default_collate([(1, 2), (3,)])


def test_collate_bad_types():
    with pytest.raises(TypeError, match="found <class 'NoneType'>"):
        default_collate([None, None])
    with pytest.raises(TypeError, match="batch must contain tensors, numpy arrays, numbers"):
        default_collate([object()])
    with pytest.raises(IndexError):
        default_collate([])
    with pytest.raises(KeyError):
        default_collate([{"a": 1}, {"b": 1}])


def test_collate_extensible_with_map():
    class Box:
        def __init__(self, v):
            self.v = v

    def collate_box(batch, *, collate_fn_map=None):
        return sum(b.v for b in batch)

    fn_map = {**default_collate_fn_map, Box: collate_box}
    out = collate([(Box(1), 2), (Box(3), 4)], collate_fn_map=fn_map)
    assert out[0] == 4 and out[1].tolist() == [2, 4]


def test_default_convert():
    assert default_convert(3) == 3
    t = default_convert(np.array([0, 1]))
    assert isinstance(t, probe.Tensor) and t.tolist() == [0, 1]
    s = default_convert(np.float32(1))
    assert isinstance(s, probe.Tensor) and s.dtype == probe.float32 and s.ndim == 0
    out = default_convert((np.array([1]), 2))
    assert type(out) is list and out[1] == 2 and isinstance(out[0], probe.Tensor)
    p = default_convert(Point(np.array(0), np.array(1)))
    assert type(p) is Point and isinstance(p.x, probe.Tensor)
    d = default_convert({"a": np.zeros(2), "s": "str"})
    assert d["a"].dtype == probe.float64 and d["s"] == "str"
    strs = np.array(["a"])
    assert default_convert(strs) is strs
    x = probe.ones(2)
    assert default_convert(x) is x


def test_collate_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        default_collate([np.zeros(2), np.zeros(2)])
        default_collate([probe.ones(2), probe.ones(2)])
