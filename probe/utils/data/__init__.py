"""Datasets, samplers and the ``DataLoader``, as ``torch.utils.data``.

>>> import probe
>>> from probe.utils.data import DataLoader, TensorDataset
>>> x, y = probe.arange(12.0).reshape(6, 2), probe.arange(6)
>>> loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True,
...                     generator=probe.Generator().manual_seed(0))
>>> [tuple(xb.shape) for xb, yb in loader]
[(4, 2), (2, 2)]

Importing this package starts no processes; worker processes start when a loader with
``num_workers > 0`` is iterated.
"""

from ._worker import WorkerInfo, get_worker_info
from .collate import default_collate, default_convert
from .dataloader import DataLoader
from .dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    random_split,
)
from .sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "BatchSampler",
    "ChainDataset",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "StackDataset",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "WorkerInfo",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "random_split",
]
