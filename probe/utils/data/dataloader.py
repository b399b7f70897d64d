"""``DataLoader``: batches from a dataset, in the main process or in worker processes.

Arguments, validation errors, ``len`` and batch order follow ``torch.utils.data.DataLoader``.
With ``num_workers > 0`` the samples are loaded by worker processes (the ``fork`` start method on
Linux by default): the main process sends each worker lists of indices, at most
``prefetch_factor`` batches per worker in flight, and yields the results in sampler order (the
order of ``num_workers=0``). Workers are stopped and joined when the iterator is exhausted (unless
``persistent_workers``), garbage-collected, left early, or at interpreter exit; a worker whose
parent dies exits by itself.
"""

from __future__ import annotations

import itertools
import math
import os
import pickle
import queue
import sys
import time
import warnings
import weakref
from typing import Generic, TypeVar

from probe.engine import random as _random

from . import _worker
from .collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "get_worker_info"]

T_co = TypeVar("T_co", covariant=True)

get_worker_info = _worker.get_worker_info
_DatasetKind = _worker._DatasetKind

# How long shutdown waits for the workers to exit on their own before terminating them.
_JOIN_TIMEOUT = 5.0


class _InfiniteConstantSampler(Sampler):
    """The index sampler of an IterableDataset: ``None`` forever (the worker's stream decides
    where the data ends)."""

    def __iter__(self):
        while True:
            yield None


def _cpu_count():
    if hasattr(os, "sched_getaffinity"):
        try:
            return len(os.sched_getaffinity(0))
        except OSError:
            pass
    return os.cpu_count()


def _default_mp_context():
    import multiprocessing  # noqa: PLC0415  (only loaders with workers need it)

    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


class DataLoader(Generic[T_co]):
    """Iterate over a dataset in batches.

    Args follow PyTorch: ``batch_size`` (None turns automatic batching off), ``shuffle`` (a new
    random order each epoch, reproducible with ``generator=probe.Generator().manual_seed(s)``),
    ``sampler`` / ``batch_sampler`` (custom index order; ``batch_sampler`` excludes
    ``batch_size``, ``shuffle``, ``sampler`` and ``drop_last``), ``num_workers`` (worker
    processes; 0 loads in the main process), ``collate_fn`` (``default_collate`` by default),
    ``drop_last`` (drop the last incomplete batch), ``timeout`` (seconds to wait for a worker's
    batch), ``worker_init_fn(worker_id)``, ``multiprocessing_context`` ('fork', 'spawn',
    'forkserver' or a context), ``prefetch_factor`` (batches in flight per worker, default 2),
    ``persistent_workers`` (keep workers between epochs), ``in_order`` (False yields batches as
    they arrive). ``pin_memory`` is accepted and has no effect.

    >>> import probe
    >>> from probe.utils.data import TensorDataset
    >>> ds = TensorDataset(probe.arange(10.0).reshape(5, 2), probe.arange(5))
    >>> loader = DataLoader(ds, batch_size=2)
    >>> len(loader), [y.tolist() for _, y in loader]
    (3, [[0, 1], [2, 3], [4]])
    """

    _initialized = False

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                 in_order=True):
        if not isinstance(num_workers, int) or isinstance(num_workers, bool):
            raise TypeError(
                f"num_workers option should be an int, but got {type(num_workers).__name__}"
            )
        if num_workers < 0:
            raise ValueError(
                "num_workers option should be non-negative; "
                "use num_workers=0 to disable multiprocessing."
            )
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing."
                "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor "
                "to None."
            )
        elif num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order

        # The dataset kind is checked before the samplers: an IterableDataset takes none.
        if isinstance(dataset, IterableDataset):
            self._dataset_kind = _DatasetKind.Iterable
            if shuffle not in {False, None}:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified shuffle option, "
                    f"but got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified sampler option, "
                    f"but got sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified "
                    f"batch_sampler option, but got batch_sampler={batch_sampler}"
                )
        else:
            shuffle = bool(shuffle)
            self._dataset_kind = _DatasetKind.Map

        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")

        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive "
                    "with batch_size, shuffle, sampler, and "
                    "drop_last"
                )
            batch_size = None
            drop_last = False
        elif batch_size is None:
            if drop_last:
                raise ValueError(
                    "batch_size=None option disables auto-batching "
                    "and is mutually exclusive with drop_last"
                )

        if sampler is None:
            if self._dataset_kind == _DatasetKind.Iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)

        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator

        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers

        self._initialized = True
        self._IterableDataset_len_called = None
        self._iterator = None
        self.check_worker_number_rationality()

    # ----------------------------------------------------------------- attributes
    @property
    def multiprocessing_context(self):
        return self._mp_context

    @multiprocessing_context.setter
    def multiprocessing_context(self, multiprocessing_context):
        if multiprocessing_context is not None:
            import multiprocessing  # noqa: PLC0415
            import multiprocessing.context  # noqa: PLC0415

            if self.num_workers > 0:
                if isinstance(multiprocessing_context, str):
                    valid_start_methods = multiprocessing.get_all_start_methods()
                    if multiprocessing_context not in valid_start_methods:
                        raise ValueError(
                            "multiprocessing_context option "
                            f"should specify a valid start method in {valid_start_methods!r}, "
                            f"but got multiprocessing_context={multiprocessing_context!r}"
                        )
                    multiprocessing_context = multiprocessing.get_context(multiprocessing_context)
                if not isinstance(multiprocessing_context, multiprocessing.context.BaseContext):
                    raise TypeError(
                        "multiprocessing_context option should be a valid context "
                        "object or a string specifying the start method, but got "
                        f"multiprocessing_context={multiprocessing_context}"
                    )
            else:
                raise ValueError(
                    "multiprocessing_context can only be used with "
                    "multi-process loading (num_workers > 0), but got "
                    f"num_workers={self.num_workers}"
                )
        self._mp_context = multiprocessing_context

    def __setattr__(self, attr, val):
        if self._initialized and attr in ("batch_size", "batch_sampler", "sampler", "drop_last",
                                          "dataset", "persistent_workers"):
            raise ValueError(
                f"{attr} attribute should not be set after {self.__class__.__name__} is "
                "initialized"
            )
        super().__setattr__(attr, val)

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        # What the iterator draws from: lists of indices with automatic batching, else indices.
        return self.batch_sampler if self._auto_collation else self.sampler

    # ----------------------------------------------------------------- iteration
    def _get_iterator(self):
        if self.num_workers == 0:
            return _SingleProcessDataLoaderIter(self)
        self.check_worker_number_rationality()
        return _MultiProcessingDataLoaderIter(self)

    def __iter__(self):
        # With persistent workers the one multi-process iterator (and its workers) is reused.
        if self.persistent_workers and self.num_workers > 0:
            if self._iterator is None:
                self._iterator = self._get_iterator()
            else:
                self._iterator._reset(self)
            return self._iterator
        return self._get_iterator()

    def __len__(self) -> int:
        if self._dataset_kind == _DatasetKind.Iterable:
            # Trust the dataset's own __len__ (TypeError without one); remember it to warn if
            # the workers yield more (an unsharded dataset duplicated across workers).
            length = self._IterableDataset_len_called = len(self.dataset)
            if self.batch_size is not None:
                if self.drop_last:
                    return length // self.batch_size
                return math.ceil(length / self.batch_size)
            return length
        return len(self._index_sampler)

    def check_worker_number_rationality(self):
        """Warn when more workers are asked for than there are usable CPUs."""
        if not self.num_workers:
            return
        suggest = _cpu_count()
        if suggest is None or self.num_workers > suggest:
            cpuset_checked = hasattr(os, "sched_getaffinity")
            if suggest is not None:
                suggested = (
                    f"Our suggested max number of worker in current system is {suggest}"
                    f"{'' if cpuset_checked else ' (`cpuset` is not taken into account)'}, "
                    "which is smaller than what this DataLoader is going to create."
                )
            else:
                suggested = ("DataLoader is not able to compute a suggested max number of worker "
                             "in current system.")
            warnings.warn(
                f"This DataLoader will create {self.num_workers} worker processes in total. "
                f"{suggested} Please be aware that excessive worker creation might get "
                "DataLoader running slow or even freeze, lower the worker number to avoid "
                "potential slowness/freeze if necessary.",
                stacklevel=2,
            )


def _draw_base_seed(generator):
    return int(_random.randint(0, 2**63 - 1, (), generator=generator).item())


class _BaseDataLoaderIter:
    def __init__(self, loader):
        self._dataset = loader.dataset
        self._dataset_kind = loader._dataset_kind
        self._IterableDataset_len_called = loader._IterableDataset_len_called
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._num_workers = loader.num_workers
        if loader.pin_memory:
            from probe import cuda  # noqa: PLC0415

            if not cuda.is_available():
                warnings.warn(
                    "'pin_memory' argument is set as true but no accelerator is found, "
                    "then device pinned memory won't be used.",
                    stacklevel=3,
                )
        self._timeout = loader.timeout
        self._collate_fn = loader.collate_fn
        self._sampler_iter = iter(self._index_sampler)
        # Drawn for every iterator (workers or not) so that a shuffled order from the same
        # generator state does not depend on num_workers.
        self._base_seed = _draw_base_seed(loader.generator)
        self._persistent_workers = loader.persistent_workers
        self._num_yielded = 0

    def __iter__(self):
        return self

    def _reset(self, loader, first_iter=False):
        self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0
        self._IterableDataset_len_called = loader._IterableDataset_len_called

    def _next_index(self):
        return next(self._sampler_iter)  # StopIteration ends the epoch

    def _next_data(self):
        raise NotImplementedError

    def _count_yielded(self):
        self._num_yielded += 1
        if (self._dataset_kind == _DatasetKind.Iterable
                and self._IterableDataset_len_called is not None
                and self._num_yielded > self._IterableDataset_len_called):
            msg = (
                f"Length of IterableDataset {self._dataset} was reported to be "
                f"{self._IterableDataset_len_called}(when accessing len(dataloader)), but "
                f"{self._num_yielded} samples have been fetched. "
            )
            if self._num_workers > 0:
                msg += (
                    "For multiprocessing data-loading, this could be caused by not properly "
                    "configuring the IterableDataset replica at each worker. Use "
                    "probe.utils.data.get_worker_info() in __iter__ to give each worker its "
                    "own share of the data."
                )
            warnings.warn(msg, stacklevel=3)

    def __next__(self):
        data = self._next_data()
        self._count_yielded()
        return data

    def __len__(self):
        return len(self._index_sampler)

    def __getstate__(self):
        raise NotImplementedError(f"{self.__class__.__name__} cannot be pickled")


class _SingleProcessDataLoaderIter(_BaseDataLoaderIter):
    def __init__(self, loader):
        super().__init__(loader)
        if self._timeout != 0:
            raise AssertionError("_SingleProcessDataLoaderIter requires timeout == 0")
        if self._num_workers != 0:
            raise AssertionError("_SingleProcessDataLoaderIter requires num_workers == 0")
        self._dataset_fetcher = _worker.create_fetcher(
            self._dataset_kind, self._dataset, self._auto_collation, self._collate_fn,
            self._drop_last,
        )

    def _next_data(self):
        index = self._next_index()
        return self._dataset_fetcher.fetch(index)


class _DeferredError(Exception):
    """Carries an error the multi-process iterator raises itself (a worker's exception, a
    timeout, a dead worker) up to ``__next__``, which raises it without the frames that hold the
    iterator (see ``_MultiProcessingDataLoaderIter.__next__``)."""

    def __init__(self, error):
        super().__init__()
        self.error = error


class _WorkerPool:
    """The worker processes and queues of one multi-process iterator, and their shutdown.

    Kept apart from the iterator so that a ``weakref.finalize`` on the iterator can shut the pool
    down (at garbage collection or interpreter exit) without keeping the iterator alive.
    """

    def __init__(self, ctx, num_workers, make_args):
        self.owner_pid = os.getpid()
        self.closed = False
        self.done_event = ctx.Event()
        self.result_queue = ctx.Queue()
        self.index_queues = []
        self.workers = []
        try:
            for worker_id in range(num_workers):
                index_queue = ctx.Queue()
                # Pending indices are worthless once we stop; never block exit flushing them.
                index_queue.cancel_join_thread()
                w = ctx.Process(
                    target=_worker._worker_loop,
                    args=make_args(worker_id, index_queue, self.result_queue, self.done_event),
                    daemon=True,
                )
                self.index_queues.append(index_queue)
                try:
                    w.start()
                except (TypeError, AttributeError, pickle.PicklingError):
                    warnings.warn(
                        "Got pickle error when attempting to start a worker Process. This might "
                        "be because the worker Process arguments (dataset, collate_fn, "
                        "worker_init_fn) are not picklable, which the 'spawn' and 'forkserver' "
                        "start methods require.",
                        stacklevel=5,
                    )
                    raise
                self.workers.append(w)
        except BaseException:
            self.shutdown()
            raise

    def shutdown(self):
        # A forked child holds a copy of this object: only the process that made it may stop it.
        if self.closed or os.getpid() != self.owner_pid:
            return
        self.closed = True
        try:
            self.done_event.set()
            for q in self.index_queues:
                try:
                    q.put(None)
                except (OSError, ValueError):
                    pass
            deadline = time.monotonic() + _JOIN_TIMEOUT
            for w in self.workers:
                w.join(timeout=max(0.0, deadline - time.monotonic()))
        finally:
            for w in self.workers:
                if w.is_alive():
                    w.terminate()
            for w in self.workers:
                w.join(timeout=_JOIN_TIMEOUT)
                if w.is_alive():
                    w.kill()
                    w.join(timeout=_JOIN_TIMEOUT)
            for q in (*self.index_queues, self.result_queue):
                q.cancel_join_thread()
                q.close()


class _MultiProcessingDataLoaderIter(_BaseDataLoaderIter):
    def __init__(self, loader):
        super().__init__(loader)
        self._prefetch_factor = loader.prefetch_factor
        self._in_order = loader.in_order
        if self._num_workers <= 0:
            raise AssertionError(
                "num_workers must be greater than 0 for MultiProcessingDataLoaderIter"
            )
        if self._prefetch_factor <= 0:
            raise AssertionError(
                "prefetch_factor must be greater than 0 for MultiProcessingDataLoaderIter"
            )
        ctx = loader.multiprocessing_context or _default_mp_context()
        self._worker_init_fn = loader.worker_init_fn
        self._shutdown = False

        def make_args(worker_id, index_queue, result_queue, done_event):
            return (self._dataset_kind, self._dataset, index_queue, result_queue, done_event,
                    self._auto_collation, self._collate_fn, self._drop_last, self._base_seed,
                    self._worker_init_fn, worker_id, self._num_workers,
                    self._persistent_workers)

        self._pool = _WorkerPool(ctx, self._num_workers, make_args)
        self._workers = self._pool.workers
        self._index_queues = self._pool.index_queues
        self._data_queue = self._pool.result_queue
        self._finalizer = weakref.finalize(self, self._pool.shutdown)
        self._reset(loader, first_iter=True)

    def _reset(self, loader, first_iter=False):
        super()._reset(loader, first_iter)
        self._send_idx = 0  # id of the next task to send
        self._rcvd_idx = 0  # id of the next task to yield (in order)
        # task id -> (worker_id,) while outstanding, (worker_id, data) once it arrived early
        self._task_info = {}
        self._tasks_outstanding = 0
        # False for a worker whose IterableDataset is exhausted (or which was stopped)
        self._workers_status = [True] * self._num_workers
        self._workers_num_tasks = [0] * self._num_workers
        self._worker_queue_idx_cycle = itertools.cycle(range(self._num_workers))
        if not first_iter:
            # Persistent workers, new epoch: the resume marker queues up behind any stale
            # tasks of an unfinished epoch, so discard results until every worker echoed it.
            for q in self._index_queues:
                q.put(_worker._ResumeIteration())
            remaining = self._num_workers
            while remaining > 0:
                try:
                    idx, _ = self._get_data()
                except _DeferredError as deferred:
                    raise deferred.error from None
                if isinstance(idx, _worker._ResumeIteration):
                    remaining -= 1
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    def __next__(self):
        try:
            data = self._next_data()
        except _DeferredError as deferred:
            error = deferred.error
        else:
            self._count_yielded()
            return data
        # The frames of _next_data hold the iterator; raising from here with ``self`` dropped
        # means that the error leaving a for loop frees the iterator, and so stops its workers
        # at once (a worker's own traceback is in the message).
        del self
        raise error

    # ------------------------------------------------------------- receiving
    def _try_get_data(self, timeout):
        try:
            return True, _worker._loads(self._data_queue.get(timeout=timeout))
        except Exception as e:
            failed = [w for worker_id, w in enumerate(self._workers)
                      if self._workers_status[worker_id] and not w.is_alive()]
            if failed:
                for w in failed:
                    self._mark_worker_as_unavailable(self._workers.index(w))
                pids = ", ".join(str(w.pid) for w in failed)
                error = RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly")
            elif isinstance(e, queue.Empty):
                return False, None
            else:
                raise
        raise _DeferredError(error)

    def _get_data(self):
        if self._timeout > 0:
            success, data = self._try_get_data(self._timeout)
            if success:
                return data
            raise _DeferredError(RuntimeError(f"DataLoader timed out after {self._timeout} "
                                              "seconds"))
        while True:
            success, data = self._try_get_data(_worker.MP_STATUS_CHECK_INTERVAL)
            if success:
                return data

    def _next_data(self):
        while True:
            # Skip tasks already yielded (out of order) or lost with an exhausted worker.
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info:
                    worker_id = info[0]
                    if len(info) == 2 or self._workers_status[worker_id]:
                        break
                    del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                if not self._persistent_workers:
                    self._shutdown_workers()
                raise StopIteration

            if len(self._task_info[self._rcvd_idx]) == 2:
                worker_id, data = self._task_info.pop(self._rcvd_idx)
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)

            if self._shutdown or self._tasks_outstanding <= 0:
                raise AssertionError(
                    "Invalid iterator state: shutdown or no outstanding tasks when fetching next "
                    "data"
                )
            idx, data = self._get_data()
            self._tasks_outstanding -= 1
            if isinstance(data, _worker._IterableDatasetStopIteration):
                if self._persistent_workers:
                    self._workers_status[data.worker_id] = False
                else:
                    self._mark_worker_as_unavailable(data.worker_id)
                self._try_put_index()
                continue

            if idx != self._rcvd_idx:
                if not self._in_order:
                    worker_id = self._task_info.pop(idx)[0]
                    return self._process_data(data, worker_id)
                self._task_info[idx] += (data,)
            else:
                worker_id = self._task_info.pop(idx)[0]
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)

    def _process_data(self, data, worker_id):
        self._workers_num_tasks[worker_id] -= 1
        self._try_put_index()
        if isinstance(data, _worker.ExceptionWrapper):
            raise _DeferredError(data.build())
        return data

    # ------------------------------------------------------------- sending
    def _try_put_index(self):
        max_tasks = self._prefetch_factor * self._num_workers
        if self._tasks_outstanding >= max_tasks:
            raise AssertionError("Number of outstanding tasks exceeded maximum allowed tasks")
        try:
            index = self._next_index()
        except StopIteration:
            return
        for _ in range(self._num_workers):  # the next active worker, if any
            worker_queue_idx = next(self._worker_queue_idx_cycle)
            if self._workers_status[worker_queue_idx]:
                if self._in_order:
                    break
                # Out of order: keep a slow worker from hoarding tasks.
                if self._workers_num_tasks[worker_queue_idx] < max_tasks // sum(
                        self._workers_status):
                    break
        else:
            return
        self._index_queues[worker_queue_idx].put((self._send_idx, index))
        self._task_info[self._send_idx] = (worker_queue_idx,)
        self._workers_num_tasks[worker_queue_idx] += 1
        self._tasks_outstanding += 1
        self._send_idx += 1

    # ------------------------------------------------------------- stopping
    def _mark_worker_as_unavailable(self, worker_id, shutdown=False):
        try:
            self._index_queues[worker_id].put(None)
        except (OSError, ValueError):
            pass
        self._workers_status[worker_id] = False

    def _shutdown_workers(self):
        if not self._shutdown:
            self._shutdown = True
            self._finalizer()  # runs _WorkerPool.shutdown once

