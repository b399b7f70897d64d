"""probe.tui: the terminal training monitor.

The Textual app lives in ``probe.tui.app`` and is imported only when the UI opens; the sources,
the run state and the headless printer import no Textual.
"""

from .sources import FakeSource, RingSource, RunDirSource, Source

__all__ = ["FakeSource", "RingSource", "RunDirSource", "Source"]
