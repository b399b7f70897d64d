"""probe.tui: the terminal training monitor.

The Textual app lives in ``probe.tui.app`` and is imported only when the UI opens; the sources,
the run state and the headless printer import no Textual.
"""

from .inprocess import InProcessTraining, fit_with_ui
from .sources import FakeSource, RingSource, RunDirSource, Source

__all__ = ["FakeSource", "InProcessTraining", "RingSource", "RunDirSource", "Source",
           "fit_with_ui"]
