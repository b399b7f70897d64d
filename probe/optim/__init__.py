"""``probe.optim``: optimizers and learning-rate schedulers with PyTorch's API and updates.

>>> import probe
>>> model = probe.nn.Linear(3, 1)
>>> opt = probe.optim.Adam(model.parameters(), lr=1e-2)
>>> loss = model(probe.ones(4, 3)).pow(2).mean()
>>> opt.zero_grad()
>>> loss.backward()
>>> opt.step()
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "Adagrad",
    "Adam",
    "AdamW",
    "LBFGS",
    "Optimizer",
    "RMSprop",
    "SGD",
    "lr_scheduler",
]
