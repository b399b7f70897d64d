"""examples/nethook_tour.py runs as it is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_nethook_tour_runs():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "nethook_tour.py")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for marker in ("trained SmallCNN", "captured:", "ablate conv channels", "grad of conv output",
                   "edit_parameters", "restored: max abs change 0.0"):
        assert marker in out, out
