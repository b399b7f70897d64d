"""Utilities built on probe's engine: ``probe.utils.data`` (datasets, samplers, ``DataLoader``).

>>> import probe
>>> from probe.utils.data import DataLoader, TensorDataset
>>> ds = TensorDataset(probe.arange(6.0), probe.arange(6))
>>> [x.tolist() for x, _ in DataLoader(ds, batch_size=4)]
[[0.0, 1.0, 2.0, 3.0], [4.0, 5.0]]
"""

from . import data
