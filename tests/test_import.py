"""`import probe` must stay light: it loads neither textual nor cupy."""

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

HEAVY = ("textual", "cupy", "cupyx", "cupy_backends")

CHECK = f"""
import json, sys
import probe
heavy = {HEAVY!r}
loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
print(json.dumps(loaded))
"""


def test_import_probe_loads_neither_textual_nor_cupy():
    result = subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], f"import probe loaded: {loaded}"


def test_version_is_a_string():
    import probe

    assert isinstance(probe.__version__, str)
    assert probe.__version__
