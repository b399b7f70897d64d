"""examples/watch_training.py under ``probe run --headless``: the script's records reach the run
directory that the command created, and the command reports them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from probe.monitor.runlog import RunReader

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "watch_training.py"


def test_probe_run_headless_follows_the_example(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "probe.cli", "run", str(EXAMPLE), "--headless",
         "--runs-dir", str(tmp_path), "--", "--epochs", "1"],
        capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert "status: finished" in done.stdout
    (run_dir,) = list(tmp_path.iterdir())
    steps = [r for r in RunReader(run_dir).records() if r["type"] == "step"]
    assert len(steps) == 63  # 4000 samples / 64 per batch
    assert all(set(r["params"]) == set(steps[0]["params"]) for r in steps)
