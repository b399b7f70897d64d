import subprocess
import sys
from pathlib import Path

import pytest

from probe.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("probe ")


def test_no_arguments_exits_zero():
    assert main([]) == 0


def test_module_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "probe.cli", "--version"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("probe ")
