"""``probe.autograd.graph``: the graph node type, as ``torch.autograd.graph``."""

from ..engine.autograd import Node

__all__ = ["Node"]
