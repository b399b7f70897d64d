"""Attach the op functions to ``Tensor`` as methods and operators.

Each op module exports ``TENSOR_METHODS`` (name -> function whose first parameter is the
tensor); binding them here keeps ``tensor.py`` free of imports from the op modules.
"""

from __future__ import annotations

from . import random
from .ops import OP_MODULES
from .tensor import Tensor


def bind_methods() -> None:
    for module in (*OP_MODULES, random):
        for name, fn in getattr(module, "TENSOR_METHODS", {}).items():
            setattr(Tensor, name, fn)
    for module in OP_MODULES:
        for name, prop in getattr(module, "TENSOR_PROPERTIES", {}).items():
            setattr(Tensor, name, property(prop))


bind_methods()
