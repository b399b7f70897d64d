"""probe.utils.data against torch.utils.data: collation (types, dtypes, shapes, nesting, values),
loader lengths and batch sizes, sampler index lists, argument errors and worker behaviour."""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.utils.data as tdata  # noqa: E402

import probe  # noqa: E402
import probe.utils.data as pdata  # noqa: E402

Point = collections.namedtuple("Point", ["x", "y"])
Pair = collections.namedtuple("Pair", ["a", "b"])


def dtype_name(dt):
    return str(dt).split(".")[-1]


def assert_same(p, t, path="batch"):
    """``p`` (probe) has the structure, types, dtypes, shapes and values of ``t`` (torch)."""
    if isinstance(t, torch.Tensor):
        assert isinstance(p, probe.Tensor), f"{path}: {type(p)} is not a Tensor"
        assert dtype_name(p.dtype) == dtype_name(t.dtype), f"{path}: {p.dtype} vs {t.dtype}"
        assert tuple(p.shape) == tuple(t.shape), f"{path}: {tuple(p.shape)} vs {tuple(t.shape)}"
        np.testing.assert_array_equal(p.numpy(), t.numpy(), err_msg=path)
    elif isinstance(t, collections.abc.Mapping):
        assert type(p) is type(t), f"{path}: {type(p)} vs {type(t)}"
        assert list(p.keys()) == list(t.keys()), path
        for k in t:
            assert_same(p[k], t[k], f"{path}[{k!r}]")
    elif isinstance(t, list | tuple):
        assert type(p) is type(t), f"{path}: {type(p)} vs {type(t)}"
        assert len(p) == len(t), path
        for i, (a, b) in enumerate(zip(p, t)):
            assert_same(a, b, f"{path}[{i}]")
    else:
        assert type(p) is type(t), f"{path}: {type(p)} vs {type(t)}"
        assert p == t, path


# Each case builds a batch (a list of samples) with the given library's tensor functions, so the
# same samples go to both collate functions.
COLLATE_CASES = {
    "ints": lambda L: [1, 2, 3],
    "floats": lambda L: [1.5, 2.5],
    "bools": lambda L: [True, False, True],
    "int_then_float": lambda L: [1, 2.0],
    "float_then_int": lambda L: [2.0, 1],
    "int_then_bool": lambda L: [1, True],
    "strings": lambda L: ["a", "bc"],
    "bytes": lambda L: [b"a", b"b"],
    "np_str": lambda L: [np.str_("a"), np.str_("b")],
    "np_f32_vectors": lambda L: [np.arange(3, dtype=np.float32) + i for i in range(4)],
    "np_f64_matrices": lambda L: [np.full((2, 3), i, dtype=np.float64) for i in range(3)],
    "np_i32_0d": lambda L: [np.array(i, dtype=np.int32) for i in range(5)],
    "np_bool": lambda L: [np.array([True, False]), np.array([False, False])],
    "np_u8": lambda L: [np.arange(4, dtype=np.uint8), np.arange(4, dtype=np.uint8)],
    "np_f16": lambda L: [np.ones(2, dtype=np.float16), np.zeros(2, dtype=np.float16)],
    "np_mixed_i32_f32": lambda L: [np.ones(2, dtype=np.int32), np.ones(2, dtype=np.float32)],
    "np_mixed_i64_f64": lambda L: [np.ones(2, dtype=np.int64), np.ones(2, dtype=np.float64)],
    "np_scalar_f32": lambda L: [np.float32(1.5), np.float32(2.5)],
    "np_scalar_i64": lambda L: [np.int64(3), np.int64(4)],
    "np_scalar_bool": lambda L: [np.bool_(True), np.bool_(False)],
    "np_scalar_f64_f32": lambda L: [np.float64(1), np.float32(2)],
    "np_scalar_i32_f32": lambda L: [np.int32(1), np.float32(2)],
    "np_scalar_u8_i8": lambda L: [np.uint8(1), np.int8(2)],
    "np_scalar_then_float": lambda L: [np.float32(1), 2.5],
    "float_then_np_scalar": lambda L: [2.5, np.float32(1)],
    "tensors_f32": lambda L: [L.ones(2, 3) * i for i in range(3)],
    "tensors_i64_0d": lambda L: [L.tensor(i) for i in range(4)],
    "tensors_i16": lambda L: [L.tensor([1, 2], dtype=L.int16)] * 2,
    "tensors_bool": lambda L: [L.tensor([True]), L.tensor([False])],
    "tensors_f32_f64": lambda L: [L.ones(2), L.ones(2, dtype=L.float64)],
    "tuple_array_int": lambda L: [(np.full(3, i, dtype=np.float32), i) for i in range(4)],
    "tuple_tensor_float_str": lambda L: [(L.zeros(2), 0.5, "x"), (L.ones(2), 1.5, "y")],
    "list_tensor_int": lambda L: [[L.arange(3), 1], [L.arange(3), 2]],
    "list_of_ints": lambda L: [[1, 2], [3, 4], [5, 6]],
    "dict": lambda L: [{"x": np.ones(2), "y": i, "name": f"n{i}"} for i in range(3)],
    "ordered_dict": lambda L: [collections.OrderedDict(b=i, a=float(i)) for i in range(2)],
    "defaultdict": lambda L: [collections.defaultdict(int, k=i) for i in range(2)],
    "namedtuple": lambda L: [Point(L.ones(2), 1.0), Point(L.zeros(2), 2.0)],
    "nested": lambda L: [
        {"inp": (np.zeros((2, 2), dtype=np.float32), [i, float(i)]),
         "meta": Pair(a=f"s{i}", b={"k": np.int16(i)})}
        for i in range(3)
    ],
    "ranges": lambda L: [range(2), range(2)],
    "single_sample": lambda L: [(np.ones(4, dtype=np.float32), 7)],
    "tensor_and_dict": lambda L: [(L.arange(4.0), {"t": L.tensor(i)}) for i in range(2)],
}


@pytest.mark.parametrize("name", sorted(COLLATE_CASES))
def test_default_collate_parity(name):
    make = COLLATE_CASES[name]
    expected = tdata.default_collate(make(torch))
    got = pdata.default_collate(make(probe))
    assert_same(got, expected)


def test_collate_case_count():
    assert len(COLLATE_CASES) >= 25


COLLATE_ERRORS = {
    "unequal_lists": lambda L: [[1, 2], [3]],
    "unequal_tuples": lambda L: [(1, 2), (3,)],
    "none": lambda L: [None, None],
    "object": lambda L: [object(), object()],
    "complex": lambda L: [1j, 2j],
    "string_arrays": lambda L: [np.array(["a"]), np.array(["b"])],
    "object_arrays": lambda L: [np.array([None]), np.array([None])],
    "missing_key": lambda L: [{"a": 1}, {"b": 2}],
    "tensor_shapes": lambda L: [L.ones(2), L.ones(3)],
    "empty": lambda L: [],
}


@pytest.mark.parametrize("name", sorted(COLLATE_ERRORS))
def test_default_collate_error_parity(name):
    make = COLLATE_ERRORS[name]
    with pytest.raises(Exception) as t_exc:
        tdata.default_collate(make(torch))
    with pytest.raises(Exception) as p_exc:
        pdata.default_collate(make(probe))
    assert type(p_exc.value) is type(t_exc.value)
    if name != "empty":
        assert str(p_exc.value) == str(t_exc.value)


CONVERT_CASES = {
    "int": lambda L: 3,
    "array": lambda L: np.arange(3),
    "np_scalar": lambda L: np.float32(2),
    "tuple": lambda L: (np.ones(2), 2, "s"),
    "namedtuple": lambda L: Point(np.array(1), np.array(2.0)),
    "dict": lambda L: {"a": np.zeros(2, dtype=np.float32), "b": [np.int64(1)]},
    "str_array": lambda L: np.array(["a", "b"]),
    "tensor": lambda L: L.ones(2),
}


@pytest.mark.parametrize("name", sorted(CONVERT_CASES))
def test_default_convert_parity(name):
    make = CONVERT_CASES[name]
    expected = tdata.default_convert(make(torch))
    got = pdata.default_convert(make(probe))
    if isinstance(expected, np.ndarray):
        assert isinstance(got, np.ndarray) and (got == expected).all()
    else:
        assert_same(got, expected)


# ------------------------------------------------------------------------------ lengths

class SizedStream:
    """Built per library as an IterableDataset subclass."""


def _stream_cls(lib):
    class Stream(lib.IterableDataset):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(self.n))

        def __len__(self):
            return self.n

    return Stream


@pytest.mark.parametrize("n", [0, 1, 2, 5, 7, 10, 16, 33])
@pytest.mark.parametrize("drop_last", [False, True])
def test_len_and_batch_sizes_parity(n, drop_last):
    for bs in [1, 2, 3, 4, 5, 8, 16, 50]:
        t = tdata.DataLoader(range(n), batch_size=bs, drop_last=drop_last)
        p = pdata.DataLoader(range(n), batch_size=bs, drop_last=drop_last)
        assert len(p) == len(t) == (n // bs if drop_last else math.ceil(n / bs))
        assert [len(b) for b in p] == [len(b) for b in t]
        assert [b.tolist() for b in p] == [b.tolist() for b in t]
        if n:  # (shuffling an empty dataset is a ValueError in both)
            ts = tdata.DataLoader(range(n), batch_size=bs, drop_last=drop_last, shuffle=True)
            ps = pdata.DataLoader(range(n), batch_size=bs, drop_last=drop_last, shuffle=True)
            assert len(ps) == len(ts)
            assert [len(b) for b in ps] == [len(b) for b in ts]
        ti = tdata.DataLoader(_stream_cls(tdata)(n), batch_size=bs, drop_last=drop_last)
        pi = pdata.DataLoader(_stream_cls(pdata)(n), batch_size=bs, drop_last=drop_last)
        assert len(pi) == len(ti)
        assert [b.tolist() for b in pi] == [b.tolist() for b in ti]


def test_shuffle_empty_dataset_error_parity():
    with pytest.raises(ValueError) as t_exc:
        tdata.DataLoader(range(0), shuffle=True)
    with pytest.raises(ValueError) as p_exc:
        pdata.DataLoader(range(0), shuffle=True)
    assert str(p_exc.value) == str(t_exc.value)


@pytest.mark.parametrize("n", [0, 3, 8])
def test_len_batch_size_none_parity(n):
    t = tdata.DataLoader(range(n), batch_size=None)
    p = pdata.DataLoader(range(n), batch_size=None)
    assert len(p) == len(t)
    assert list(p) == list(t)


# ------------------------------------------------------------------------------ samplers

@pytest.mark.parametrize("n", [0, 1, 4, 9])
def test_sequential_sampler_parity(n):
    assert list(pdata.SequentialSampler(range(n))) == list(tdata.SequentialSampler(range(n)))
    assert len(pdata.SequentialSampler(range(n))) == len(tdata.SequentialSampler(range(n)))


@pytest.mark.parametrize("source", [range(10), [3, 1, 4, 1, 5, 9, 2, 6], range(0), range(7)])
@pytest.mark.parametrize("bs", [1, 2, 3, 4, 11])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batch_sampler_parity(source, bs, drop_last):
    t = tdata.BatchSampler(tdata.SequentialSampler(source), bs, drop_last)
    p = pdata.BatchSampler(pdata.SequentialSampler(source), bs, drop_last)
    assert list(p) == list(t) and len(p) == len(t)
    t = tdata.BatchSampler(source, bs, drop_last)
    p = pdata.BatchSampler(source, bs, drop_last)
    assert list(p) == list(t) and len(p) == len(t)


@pytest.mark.parametrize("kwargs", [{}, {"num_samples": 3}, {"num_samples": 25},
                                    {"replacement": True}, {"replacement": True,
                                                            "num_samples": 70}])
def test_random_sampler_len_parity(kwargs):
    t = list(tdata.RandomSampler(range(10), **kwargs))
    p = list(pdata.RandomSampler(range(10), **kwargs))
    assert len(p) == len(t) == len(pdata.RandomSampler(range(10), **kwargs))
    if not kwargs.get("replacement"):
        # Without replacement both chain permutations (the last one cut short).
        full = len(p) // 10
        for out in (p, t):
            counts = collections.Counter(out)
            assert all(full <= counts[i] <= full + 1 for i in range(10))


def test_weighted_and_subset_sampler_len_parity():
    assert len(pdata.WeightedRandomSampler([1, 2, 3], 7)) == len(
        tdata.WeightedRandomSampler([1, 2, 3], 7))
    assert len(list(pdata.WeightedRandomSampler([1, 2, 3], 7))) == 7
    assert len(pdata.SubsetRandomSampler([4, 5])) == len(tdata.SubsetRandomSampler([4, 5]))


@pytest.mark.parametrize("lengths", [[3, 7], [0.3, 0.7], [0.5, 0.5], [0.25, 0.25, 0.5],
                                     [1 / 3, 1 / 3, 1 / 3], [10, 0], [0.1] * 10])
def test_random_split_lengths_parity(lengths):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = tdata.random_split(range(10), lengths)
        p = pdata.random_split(range(10), lengths)
    assert [len(s) for s in p] == [len(s) for s in t]


# ------------------------------------------------------------------------------ argument errors

BAD_LOADER_ARGS = [
    {"num_workers": -1},
    {"timeout": -1},
    {"prefetch_factor": 2},
    {"num_workers": 1, "prefetch_factor": -1},
    {"persistent_workers": True},
    {"sampler": [0, 1], "shuffle": True},
    {"batch_sampler": [[0]], "batch_size": 2},
    {"batch_sampler": [[0]], "shuffle": True},
    {"batch_sampler": [[0]], "drop_last": True},
    {"batch_size": None, "drop_last": True},
    {"batch_size": 0},
    {"batch_size": -3},
    {"drop_last": 1},
    {"multiprocessing_context": "fork"},
    {"num_workers": 1, "multiprocessing_context": "nope"},
]


@pytest.mark.parametrize("kwargs", BAD_LOADER_ARGS, ids=lambda k: ",".join(k))
def test_loader_argument_errors_parity(kwargs):
    with pytest.raises(Exception) as t_exc:
        tdata.DataLoader(range(4), **kwargs)
    with pytest.raises(Exception) as p_exc:
        pdata.DataLoader(range(4), **kwargs)
    assert type(p_exc.value) is type(t_exc.value)
    assert str(p_exc.value) == str(t_exc.value)


@pytest.mark.parametrize("kwargs", [{"shuffle": True}, {"sampler": [0]},
                                    {"batch_sampler": [[0]]}])
def test_iterable_dataset_errors_parity(kwargs):
    with pytest.raises(ValueError) as t_exc:
        tdata.DataLoader(_stream_cls(tdata)(2), **kwargs)
    with pytest.raises(ValueError) as p_exc:
        pdata.DataLoader(_stream_cls(pdata)(2), **kwargs)
    assert str(p_exc.value) == str(t_exc.value)


def test_iterable_len_error_parity():
    class TS(tdata.IterableDataset):
        def __iter__(self):
            return iter(range(3))

    class PS(pdata.IterableDataset):
        def __iter__(self):
            return iter(range(3))

    with pytest.raises(TypeError):
        len(tdata.DataLoader(TS()))
    with pytest.raises(TypeError):
        len(pdata.DataLoader(PS()))


# ------------------------------------------------------------------------------ workers

class Faulty:
    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 3:
            raise ValueError("bad index 3")
        return i


class Sharded:
    def __init__(self, lib, n):
        self.lib = lib
        self.n = n

    def __iter__(self):
        info = self.lib.get_worker_info()
        return iter(range(info.id, self.n, info.num_workers))


def test_worker_error_message_parity():
    with pytest.raises(ValueError) as t_exc:
        list(tdata.DataLoader(Faulty(), batch_size=2, num_workers=2))
    with pytest.raises(ValueError) as p_exc:
        list(pdata.DataLoader(Faulty(), batch_size=2, num_workers=2))
    t_lines = str(t_exc.value).splitlines()
    p_lines = str(p_exc.value).splitlines()
    assert p_lines[:2] == t_lines[:2]
    assert p_lines[-1] == t_lines[-1] == "ValueError: bad index 3"


@pytest.mark.parametrize("bs,drop_last", [(2, False), (2, True), (3, False), (None, False)])
def test_iterable_worker_batches_parity(bs, drop_last):
    def make(lib):
        cls = type("S", (Sharded, lib.IterableDataset), {})
        return cls(lib, 11)

    t = tdata.DataLoader(make(tdata), batch_size=bs, drop_last=drop_last, num_workers=2)
    p = pdata.DataLoader(make(pdata), batch_size=bs, drop_last=drop_last, num_workers=2)
    def as_lists(loader):
        return [b.tolist() if hasattr(b, "tolist") else b for b in loader]

    assert as_lists(p) == as_lists(t)
