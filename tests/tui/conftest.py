"""The update switch of the monitor's golden screen snapshots (tests/tui/test_snapshots.py).

``--snapshot-update`` is registered here, so pytest knows it when the run names a path under
tests/tui (``python -m pytest tests/tui/test_snapshots.py --snapshot-update``). A run of the
whole suite loads this file too late for new command-line options: use
``PROBE_SNAPSHOT_UPDATE=1`` there.
"""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser):
    try:
        parser.addoption("--snapshot-update", action="store_true", default=False,
                         help="rewrite tests/tui/snapshots/*.txt from the current screens")
    except ValueError:
        # A snapshot plugin (syrupy, pytest-textual-snapshot) already owns the flag; its value
        # means the same here.
        pass


@pytest.fixture
def snapshot_update(request) -> bool:
    """True when golden snapshots should be rewritten instead of compared."""
    return (bool(request.config.getoption("--snapshot-update", default=False))
            or os.environ.get("PROBE_SNAPSHOT_UPDATE") == "1")
