"""``probe.nn.functional``: the stateless counterparts of the layers (``import probe.nn.functional
as F``). Each family lives in ``probe.nn.functional_parts``; this module gathers them.

>>> import probe
>>> import probe.nn.functional as F
>>> F.relu(probe.tensor([-1.0, 2.0]))
tensor([0., 2.])
"""

from .functional_parts.activation import *  # noqa: F403
from .functional_parts.attention import *  # noqa: F403
from .functional_parts.conv import *  # noqa: F403
from .functional_parts.dropout import *  # noqa: F403
from .functional_parts.linear import *  # noqa: F403
from .functional_parts.loss import *  # noqa: F403
from .functional_parts.misc import *  # noqa: F403
from .functional_parts.normalization import *  # noqa: F403
from .functional_parts.pooling import *  # noqa: F403
from .functional_parts.sparse import *  # noqa: F403
