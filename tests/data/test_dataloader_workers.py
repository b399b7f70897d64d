"""DataLoader with worker processes: order, seeding, worker info, errors, shutdown, persistence.

Every wait in these tests has its own timeout so that a bug fails a test instead of hanging CI,
and every test checks that it left no worker process behind.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import probe
from probe.utils.data import (
    DataLoader,
    Dataset,
    IterableDataset,
    TensorDataset,
    get_worker_info,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def live_children(timeout=10.0):
    """The multiprocessing children still alive after waiting up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        children = mp.active_children()  # also reaps the finished ones
        if not children or time.monotonic() > deadline:
            return children
        time.sleep(0.02)


@pytest.fixture(autouse=True)
def no_leftover_workers():
    yield
    gc.collect()
    assert live_children() == []


# ------------------------------------------------------------------------------ datasets
# Module level, so that they can be pickled too.

class Range(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


class Info(Dataset):
    """Each sample reports who loaded it."""

    marker = "copy"

    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return {"i": i, "id": info.id, "num_workers": info.num_workers, "seed": info.seed,
                "dataset": type(info.dataset).__name__, "marker": info.dataset.marker,
                "init": _INIT_STATE.get("worker_id"), "pid": os.getpid()}


_INIT_STATE: dict = {}


def record_init(worker_id):
    _INIT_STATE["worker_id"] = worker_id
    _INIT_STATE["info_id"] = get_worker_info().id


class Randoms(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return (int(np.random.randint(0, 2**31)), int(probe.randint(0, 2**31, ()).item()),
                get_worker_info().id)


class Faulty(Dataset):
    def __init__(self, bad=5, exc=ValueError):
        self.bad = bad
        self.exc = exc

    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == self.bad:
            raise self.exc(f"bad index {i}")
        return i


class TwoArgError(Exception):
    def __init__(self, a, b):
        super().__init__(a, b)


class NeedsTwoArgs(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        raise TwoArgError("x", "y")


class Slow(Dataset):
    def __init__(self, n=1000, delay=0.02):
        self.n = n
        self.delay = delay

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        time.sleep(self.delay)
        return i


class Sharded(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


class Unsharded(IterableDataset):
    def __iter__(self):
        return iter(range(3))


class CudaTensor(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        t = probe.zeros(2)
        # A tensor that claims to live on a GPU (no GPU is needed to check the refusal).
        t._device = probe.device("cuda", 0)
        return t


class Unpicklable(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return lambda: i


class Big(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        return np.full((256, 256), i, dtype=np.float64)  # 512 KiB: larger than a pipe buffer


def raising_init(worker_id):
    raise RuntimeError(f"init failed in {worker_id}")


def flat(loader):
    return [b.tolist() if isinstance(b, probe.Tensor) else b for b in loader]


# ------------------------------------------------------------------------------ order

@pytest.mark.parametrize("bs,drop_last", [(1, False), (3, False), (3, True), (4, True)])
def test_same_batches_as_single_process(bs, drop_last):
    single = flat(DataLoader(Range(11), batch_size=bs, drop_last=drop_last))
    loader = DataLoader(Range(11), batch_size=bs, drop_last=drop_last, num_workers=2)
    multi = flat(loader)
    assert multi == single
    assert len(loader) == len(multi)


def test_same_shuffled_order_as_single_process():
    def run(workers):
        g = probe.Generator().manual_seed(17)
        loader = DataLoader(Range(20), batch_size=3, shuffle=True, generator=g,
                            num_workers=workers)
        return [flat(loader) for _ in range(2)]

    assert run(2) == run(0)


def test_in_order_false_yields_every_batch():
    loader = DataLoader(Range(20), batch_size=2, num_workers=2, in_order=False)
    batches = flat(loader)
    assert sorted(batches) == [[i, i + 1] for i in range(0, 20, 2)]


def test_batch_size_none_with_workers():
    assert flat(DataLoader(Range(5), batch_size=None, num_workers=2)) == [0, 1, 2, 3, 4]


def test_tensor_dataset_and_structures_cross_processes():
    x = probe.arange(24.0).reshape(6, 4)
    y = probe.arange(6)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, num_workers=2)
    (x0, y0), (x1, y1) = list(loader)
    assert x0.dtype == probe.float32 and y0.dtype == probe.int64
    assert x0.tolist() == x[:4].tolist() and y1.tolist() == [4, 5]
    x0.add_(1)  # received tensors are ordinary, writable tensors


def test_large_batches():
    batches = list(DataLoader(Big(), batch_size=2, num_workers=2))
    assert [b.shape for b in batches] == [(2, 256, 256)] * 3
    assert [b[:, 0, 0].tolist() for b in batches] == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    assert batches[0].dtype == probe.float64


def test_prefetch_limits_tasks_in_flight():
    it = iter(DataLoader(Range(100), num_workers=2, prefetch_factor=3))
    assert it._tasks_outstanding == 6
    next(it)
    assert it._tasks_outstanding <= 6
    del it


def test_prefetch_factor_zero_rejected_at_iteration():
    loader = DataLoader(Range(4), num_workers=2, prefetch_factor=0)
    with pytest.raises(AssertionError, match="prefetch_factor must be greater than 0"):
        iter(loader)


# ------------------------------------------------------------------------------ worker info, seeds

def test_worker_init_fn_and_get_worker_info():
    samples = list(DataLoader(Info(), batch_size=None, num_workers=2, worker_init_fn=record_init))
    assert [s["i"] for s in samples] == list(range(8))
    assert {s["id"] for s in samples} == {0, 1}
    for s in samples:
        assert s["init"] == s["id"]  # worker_init_fn(worker_id) ran in that worker
        assert s["num_workers"] == 2
        assert s["dataset"] == "Info" and s["marker"] == "copy"
        assert s["pid"] != os.getpid()
    seeds = {s["id"]: s["seed"] for s in samples}
    assert seeds[1] == seeds[0] + 1  # base_seed + worker_id
    assert _INIT_STATE == {}  # the main process's copy is untouched


def test_worker_seeds_differ_and_are_reproducible():
    def run(seed):
        g = probe.Generator().manual_seed(seed)
        return list(DataLoader(Randoms(), batch_size=None, num_workers=2, generator=g))

    a, b, c = run(5), run(5), run(6)
    assert a == b and a != c
    w0 = [s[:2] for s in a if s[2] == 0]
    w1 = [s[:2] for s in a if s[2] == 1]
    assert w0 and w1 and w0 != w1  # numpy and probe draws differ across workers


def test_sharded_iterable_dataset():
    batches = flat(DataLoader(Sharded(11), batch_size=2, num_workers=2))
    # Batches alternate between the workers, as PyTorch's do.
    assert batches == [[0, 2], [1, 3], [4, 6], [5, 7], [8, 10], [9]]
    assert flat(DataLoader(Sharded(11), batch_size=2, num_workers=2, drop_last=True)) == [
        [0, 2], [1, 3], [4, 6], [5, 7], [8, 10]]
    assert sorted(flat(DataLoader(Sharded(7), batch_size=None, num_workers=2))) == list(range(7))


def test_unsharded_iterable_dataset_is_duplicated_per_worker():
    assert sorted(flat(DataLoader(Unsharded(), batch_size=None, num_workers=2))) == [
        0, 0, 1, 1, 2, 2]


# ------------------------------------------------------------------------------ errors

def test_worker_exception_reraised_with_traceback():
    with pytest.raises(ValueError) as excinfo:
        for _ in DataLoader(Faulty(), batch_size=2, num_workers=2):
            pass
    msg = str(excinfo.value)
    assert msg.startswith("Caught ValueError in DataLoader worker process 0.\n"
                          "Original Traceback (most recent call last):\n")
    assert "raise self.exc(f\"bad index {i}\")" in msg
    assert msg.rstrip().endswith("ValueError: bad index 5")
    # The error left the loop: the workers are gone at once, without a garbage collection and
    # while the exception (and its traceback) is still alive.
    assert live_children(timeout=2.0) == []


def test_worker_key_error_and_unbuildable_exception():
    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker process"):
        list(DataLoader(Faulty(bad=0, exc=KeyError), num_workers=2))
    with pytest.raises(RuntimeError, match="Caught TwoArgError in DataLoader worker process"):
        list(DataLoader(NeedsTwoArgs(), num_workers=2))


def test_unpicklable_exception_type():
    class LocalError(Exception):
        pass

    with pytest.raises(RuntimeError, match="Caught LocalError in DataLoader worker process 0"):
        list(DataLoader(Faulty(bad=0, exc=LocalError), num_workers=2))


def test_iteration_continues_after_worker_error():
    it = iter(DataLoader(Faulty(bad=1), num_workers=2))
    assert next(it).tolist() == [0]
    with pytest.raises(ValueError, match="bad index 1"):
        next(it)
    assert [b.tolist() for b in it] == [[i] for i in range(2, 10)]


def test_worker_init_fn_exception():
    with pytest.raises(RuntimeError, match=r"(?s)Caught RuntimeError in DataLoader worker "
                                           r"process \d\..*init failed in \d"):
        list(DataLoader(Range(4), num_workers=2, worker_init_fn=raising_init))


def test_cuda_tensor_in_worker_is_refused():
    with pytest.raises(RuntimeError, match="CUDA tensors are not supported in DataLoader workers"):
        list(DataLoader(CudaTensor(), batch_size=None, num_workers=2))


def test_unpicklable_batch_reports_error():
    with pytest.raises(Exception, match="Caught .* in DataLoader worker process"):
        list(DataLoader(Unpicklable(), batch_size=None, num_workers=2))


def test_timeout():
    loader = DataLoader(Slow(n=4, delay=1.0), num_workers=2, timeout=0.2)
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.2 seconds"):
        next(iter(loader))


def test_killed_worker_detected():
    it = iter(DataLoader(Slow(), num_workers=2))
    next(it)
    victim = it._workers[0]
    victim.kill()
    victim.join(timeout=5)
    with pytest.raises(RuntimeError, match=rf"DataLoader worker \(pid\(s\) {victim.pid}\) "
                                           "exited unexpectedly"):
        for _ in it:
            pass
    del it


# ------------------------------------------------------------------------------ shutdown

def test_break_leaves_no_workers():
    for _ in DataLoader(Slow(), num_workers=2):
        break
    assert live_children(timeout=2.0) == []


def test_exception_in_loop_body_leaves_no_workers():
    with pytest.raises(ZeroDivisionError):
        for _ in DataLoader(Range(100), num_workers=2):
            1 / 0  # noqa: B018
    assert live_children(timeout=2.0) == []


def test_garbage_collected_iterator_stops_workers():
    it = iter(DataLoader(Range(100), num_workers=2))
    next(it)
    workers = list(it._workers)
    assert all(w.is_alive() for w in workers)
    del it
    assert live_children(timeout=2.0) == []
    assert not any(w.is_alive() for w in workers)


def test_exhausted_iterator_stops_workers():
    it = iter(DataLoader(Range(4), num_workers=2))
    assert len(list(it)) == 4
    assert live_children(timeout=2.0) == []
    with pytest.raises(StopIteration):
        next(it)


# ------------------------------------------------------------------------------ persistent workers

def test_persistent_workers_reused_across_epochs():
    loader = DataLoader(Range(10), batch_size=3, num_workers=2, persistent_workers=True)
    first = flat(loader)
    pids = [w.pid for w in loader._iterator._workers]
    second = flat(loader)
    assert first == second == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert [w.pid for w in loader._iterator._workers] == pids
    assert all(w.is_alive() for w in loader._iterator._workers)
    # Leaving an epoch early: the next epoch starts over, without stale batches.
    for _ in loader:
        break
    assert flat(loader) == first
    assert [w.pid for w in loader._iterator._workers] == pids
    del loader
    assert live_children(timeout=5.0) == []


def test_persistent_workers_with_iterable_dataset():
    loader = DataLoader(Sharded(9), batch_size=2, num_workers=2, persistent_workers=True)
    expected = flat(DataLoader(Sharded(9), batch_size=2, num_workers=2))
    assert flat(loader) == expected
    assert flat(loader) == expected
    del loader


def test_persistent_workers_shuffle_each_epoch():
    g = probe.Generator().manual_seed(0)
    loader = DataLoader(Range(16), batch_size=4, shuffle=True, generator=g, num_workers=2,
                        persistent_workers=True)
    a, b = flat(loader), flat(loader)
    assert a != b
    assert sorted(i for x in a for i in x) == sorted(i for x in b for i in x) == list(range(16))
    del loader


# ------------------------------------------------------------------------------ start methods

def test_spawn_context():
    x = probe.arange(10.0)
    loader = DataLoader(TensorDataset(x), batch_size=4, num_workers=2,
                        multiprocessing_context="spawn")
    assert [b[0].tolist() for b in loader] == [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0],
                                               [8.0, 9.0]]


def test_spawn_needs_picklable_arguments():
    loader = DataLoader(Range(4), num_workers=2, multiprocessing_context="spawn",
                        worker_init_fn=lambda worker_id: None)
    with pytest.warns(UserWarning, match="Got pickle error when attempting to start a worker"):
        with pytest.raises(Exception, match="pickle"):
            iter(loader)


# ------------------------------------------------------------------------------ process lifetime

def _run_script(code, timeout=60):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)


def _gone(pid):
    """True once ``pid`` has exited (a zombie nobody reaped counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_main_process_dies():
    result = _run_script("""
        import os, signal, time
        from probe.utils.data import DataLoader, Dataset

        class Slow(Dataset):
            def __len__(self):
                return 1000
            def __getitem__(self, i):
                time.sleep(0.01)
                return i

        it = iter(DataLoader(Slow(), num_workers=2))
        next(it)
        print(" ".join(str(w.pid) for w in it._workers), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    pids = [int(p) for p in result.stdout.split()]
    assert len(pids) == 2, result.stderr
    deadline = time.monotonic() + 15
    while not all(_gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(p) for p in pids)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_persistent_workers_stopped_at_interpreter_exit():
    result = _run_script("""
        from probe.utils.data import DataLoader

        loader = DataLoader(range(10), batch_size=2, num_workers=2, persistent_workers=True)
        list(loader)
        print(" ".join(str(w.pid) for w in loader._iterator._workers), flush=True)
        # exit with the loader (and its workers) still alive
    """)
    assert result.returncode == 0, result.stderr
    pids = [int(p) for p in result.stdout.split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 5
    while not all(_gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(p) for p in pids)
    assert "Traceback" not in result.stderr


def test_importing_starts_no_processes():
    result = _run_script("""
        import multiprocessing, probe.utils.data
        print(len(multiprocessing.active_children()))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
