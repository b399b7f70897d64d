"""``probe.nn``: modules with PyTorch's hook registries, layers, functional, losses and init.

>>> import probe
>>> model = probe.nn.Sequential(probe.nn.Linear(4, 8), probe.nn.ReLU(), probe.nn.Linear(8, 2))
>>> model(probe.randn(3, 4)).shape
probe.Size([3, 2])
"""

from . import functional, init, modules, utils
from .modules import *  # noqa: F403
from .modules import Module, ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from .parameter import Buffer, Parameter
