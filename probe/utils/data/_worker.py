"""The DataLoader's worker side: the loop a worker process runs, the fetchers that turn indices
into batches (shared with single-process loading), ``get_worker_info`` and the messages between
the main process and its workers.

Protocol. The main process puts ``(task_idx, index)`` on a worker's own index queue (``index`` is a
list of sample indices, or one index without automatic batching), ``_ResumeIteration()`` to start a
new epoch with persistent workers, and ``None`` to stop. A worker answers on the shared result
queue with ``_dumps((task_idx, batch))``, where ``batch`` may be an ``ExceptionWrapper`` (the
dataset raised) or ``_IterableDatasetStopIteration`` (its stream ended). Tensors travel as NumPy
arrays inside that pickle; only the DataLoader's own processes read it.
"""

from __future__ import annotations

import io
import os
import pickle
import queue
import random
import sys
import traceback
from dataclasses import dataclass

import numpy as np

from probe.engine.tensor import Tensor, _wrap

# How often a waiting worker checks that its parent is alive, and how often the main process
# checks that its workers are (seconds). Data arriving wakes either side at once.
MP_STATUS_CHECK_INTERVAL = 1.0


class _DatasetKind:
    Map = 0
    Iterable = 1


@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a DataLoader worker process.

    ``id`` (0 .. num_workers - 1), ``num_workers``, ``seed`` (this worker's seed: probe's default
    generator and Python's ``random`` are seeded with it, NumPy's global RNG from it) and
    ``dataset`` (this process's copy of the dataset).
    """

    id: int
    num_workers: int
    seed: int
    dataset: object


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """Information about the current DataLoader worker; ``None`` in the main process.

    Use it in an ``IterableDataset.__iter__`` or a ``worker_init_fn`` to give each worker its own
    share of the data:

    >>> get_worker_info() is None  # not in a worker
    True
    """
    return _worker_info


@dataclass(frozen=True)
class _IterableDatasetStopIteration:
    """A worker's iterable dataset is exhausted."""

    worker_id: int


@dataclass(frozen=True)
class _ResumeIteration:
    """Start a new epoch (persistent workers); echoed back once the worker has reset."""


class KeyErrorMessage(str):
    """A str whose repr is itself, so a re-raised KeyError prints the traceback text readably
    (``str(KeyError(s))`` is ``repr(s)``)."""

    def __repr__(self):
        return self


class ExceptionWrapper:
    """An exception caught in a worker, with its traceback text, to be rebuilt in the main process.

    Only the exception's type and the formatted text cross the process boundary (the exception
    object itself may not pickle).
    """

    def __init__(self, exc_info=None, where="in background"):
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_name = exc_info[0].__name__
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def build(self) -> BaseException:
        """The exception to raise: the original type where it can be built from a message,
        ``RuntimeError`` otherwise; the message holds the worker's traceback."""
        msg = f"Caught {self.exc_name} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = KeyErrorMessage(msg)
        elif getattr(self.exc_type, "message", None):
            # Types whose constructor requires a keyword ``message`` argument.
            try:
                return self.exc_type(message=msg)
            except Exception:
                return RuntimeError(msg)
        try:
            return self.exc_type(msg)
        except Exception:
            return RuntimeError(msg)

    def reraise(self):
        raise self.build()

    def __reduce__(self):
        return (_rebuild_exception_wrapper,
                (self.exc_type, self.exc_name, self.exc_msg, self.where))


def _rebuild_exception_wrapper(exc_type, exc_name, exc_msg, where):
    wrapper = ExceptionWrapper.__new__(ExceptionWrapper)
    wrapper.exc_type = exc_type
    wrapper.exc_name = exc_name
    wrapper.exc_msg = exc_msg
    wrapper.where = where
    return wrapper


# --------------------------------------------------------------------------------------------
# Fetchers: indices -> collated batch
# --------------------------------------------------------------------------------------------

class _MapDatasetFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        getitems = getattr(dataset, "__getitems__", None)
        self.getitems = getitems if callable(getitems) else None

    def fetch(self, possibly_batched_index):
        if self.auto_collation:
            if self.getitems is not None:
                data = self.getitems(possibly_batched_index)
            else:
                dataset = self.dataset
                data = [dataset[idx] for idx in possibly_batched_index]
        else:
            data = self.dataset[possibly_batched_index]
        return self.collate_fn(data)


class _IterableDatasetFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset_iter = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.ended = False

    def fetch(self, possibly_batched_index):
        if self.ended:
            raise StopIteration
        if self.auto_collation:
            data = []
            for _ in possibly_batched_index:
                try:
                    data.append(next(self.dataset_iter))
                except StopIteration:
                    self.ended = True
                    break
            if not data or (self.drop_last and len(data) < len(possibly_batched_index)):
                raise StopIteration
        else:
            data = next(self.dataset_iter)
        return self.collate_fn(data)


def create_fetcher(kind, dataset, auto_collation, collate_fn, drop_last):
    cls = _MapDatasetFetcher if kind == _DatasetKind.Map else _IterableDatasetFetcher
    return cls(dataset, auto_collation, collate_fn, drop_last)


# --------------------------------------------------------------------------------------------
# Serialising results
# --------------------------------------------------------------------------------------------

_CUDA_IN_WORKER = (
    "DataLoader worker process {worker_id} produced a tensor on {device}: CUDA tensors are not "
    "supported in DataLoader workers. Return CPU tensors from the dataset and collate_fn and move "
    "each batch to the GPU in the main process (batch.to('cuda')), or use num_workers=0."
)

_NON_LEAF = (
    "Cowardly refusing to serialize non-leaf tensor which requires_grad, since autograd does "
    "not support crossing process boundaries.  If you just want to transfer the data, call "
    "detach() on the tensor before serializing (e.g., putting it on the queue)."
)


def _rebuild_tensor(array, requires_grad):
    from probe.engine.backend import CPU  # noqa: PLC0415

    t = _wrap(array, CPU)
    if requires_grad:
        t._requires_grad = True
    return t


class _ResultPickler(pickle.Pickler):
    """Pickles CPU tensors as their NumPy arrays; refuses CUDA tensors with a clear error."""

    worker_id = 0

    def reducer_override(self, obj):
        if isinstance(obj, Tensor):
            if obj._device.type != "cpu":
                raise RuntimeError(
                    _CUDA_IN_WORKER.format(worker_id=self.worker_id, device=obj._device)
                )
            if obj._grad_fn is not None:
                raise RuntimeError(_NON_LEAF)
            if type(obj) is Tensor:
                return (_rebuild_tensor, (obj._data, obj._requires_grad))
        return NotImplemented


def _dumps(obj, worker_id=0) -> bytes:
    buf = io.BytesIO()
    pickler = _ResultPickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.worker_id = worker_id
    pickler.dump(obj)
    return buf.getvalue()


def _result_payload(idx, data, worker_id, where) -> bytes:
    """``_dumps((idx, data))``, or an error for the main process if ``data`` cannot be sent."""
    try:
        return _dumps((idx, data), worker_id)
    except Exception:
        if isinstance(data, ExceptionWrapper):
            # The dataset raised an exception whose type cannot be pickled (a local class, say):
            # send it as a RuntimeError with the same name and traceback text.
            data.exc_type = RuntimeError
            fallback = data
        else:
            # The batch cannot be pickled (or holds a CUDA tensor): report why.
            fallback = ExceptionWrapper(where=where)
    try:
        return _dumps((idx, fallback), worker_id)
    except Exception:
        fallback.exc_type = RuntimeError
        return _dumps((idx, fallback), worker_id)


def _loads(payload: bytes):
    return pickle.loads(payload)


# --------------------------------------------------------------------------------------------
# The worker loop
# --------------------------------------------------------------------------------------------

def _seed_worker(base_seed, worker_id):
    from probe.engine import random as _random  # noqa: PLC0415

    seed = base_seed + worker_id
    random.seed(seed)
    # Only the CPU generator: touching CUDA in a forked child is not safe, and CUDA tensors are
    # not supported in workers anyway.
    _random.default_generator.manual_seed(seed)
    # NumPy's legacy global RNG takes 32-bit words; derive them from (base_seed, worker_id) so
    # that workers draw different augmentations.
    state = np.random.SeedSequence(base_seed, spawn_key=(worker_id,)).generate_state(4)
    np.random.seed(state)
    return seed


def _worker_loop(dataset_kind, dataset, index_queue, data_queue, done_event, auto_collation,
                 collate_fn, drop_last, base_seed, init_fn, worker_id, num_workers,
                 persistent_workers):
    """Body of a worker process: fetch the batches the main process asks for until told to stop
    (``None``), or until the main process is gone."""
    global _worker_info
    where = f"in DataLoader worker process {worker_id}"
    # Watch the process that started this one: the main process (fork, spawn) or the forkserver,
    # which exits with it. If it goes, this worker is orphaned and stops.
    watched_pid = os.getppid()
    try:
        seed = _seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed,
                                  dataset=dataset)
        init_exception = None
        fetcher = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = create_fetcher(dataset_kind, dataset, auto_collation, collate_fn, drop_last)
        except Exception:
            init_exception = ExceptionWrapper(where=where)

        iteration_end = False
        while os.getppid() == watched_pid:
            try:
                r = index_queue.get(timeout=MP_STATUS_CHECK_INTERVAL)
            except queue.Empty:
                continue
            if isinstance(r, _ResumeIteration):
                data_queue.put(_dumps((r, None)))
                iteration_end = False
                if init_exception is None:
                    try:
                        fetcher = create_fetcher(dataset_kind, dataset, auto_collation,
                                                 collate_fn, drop_last)
                    except Exception:
                        init_exception = ExceptionWrapper(where=where)
                continue
            if r is None:
                break
            if done_event.is_set() or iteration_end:
                # Shutting down, or this worker's stream has ended: drain without working.
                continue
            idx, index = r
            if init_exception is not None:
                # worker_init_fn (or iter(dataset)) failed: every batch of this worker fails so.
                data = init_exception
            else:
                try:
                    data = fetcher.fetch(index)
                except Exception as e:
                    if isinstance(e, StopIteration) and dataset_kind == _DatasetKind.Iterable:
                        data = _IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                    else:
                        data = ExceptionWrapper(where=where)
            payload = _result_payload(idx, data, worker_id, where)
            data_queue.put(payload)
            del data, idx, index, r, payload  # free the batch before blocking for the next one
    except KeyboardInterrupt:
        # Ctrl-C reaches the whole process group; the main process handles it.
        pass
    if done_event.is_set() or os.getppid() != watched_pid:
        # Nobody will read what is still buffered; do not block the exit on flushing it.
        data_queue.cancel_join_thread()
        data_queue.close()
