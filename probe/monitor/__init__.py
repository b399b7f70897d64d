"""Training monitor: per-layer gradient statistics, health rules, run logs and a training driver.

No Textual import here (the UI lives in ``probe.tui``), so scripts and headless runs stay light.

    >>> from probe.monitor import GradientMonitor, TrainingController, fit, RunWriter, replay
"""

from .driver import FitResult, RecordBuffer, TrainingController, fit
from .records import Alert, LayerStats, MetaRecord, StatusRecord, StepRecord
from .rules import (
    DeadUnitsRule,
    ExplodingRule,
    NonFiniteRule,
    Rule,
    UpdateRatioRule,
    VanishingRule,
    default_rules,
)
from .runlog import RunReader, RunWriter, replay
from .stats import GradientMonitor, TrainingStopped

__all__ = [
    "Alert", "DeadUnitsRule", "ExplodingRule", "FitResult", "GradientMonitor", "LayerStats",
    "MetaRecord", "NonFiniteRule", "RecordBuffer", "Rule", "RunReader", "RunWriter",
    "StatusRecord", "StepRecord", "TrainingController", "TrainingStopped", "UpdateRatioRule",
    "VanishingRule", "default_rules", "fit", "replay",
]
