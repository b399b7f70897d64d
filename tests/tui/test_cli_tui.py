"""The `probe` command's demo/watch/run subcommands, headless, in subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_sources import write_run
from tui_records import alert, status, step

REPO_ROOT = Path(__file__).resolve().parents[2]


def probe_cli(*args, cwd=REPO_ROOT, timeout=120, env=None):
    return subprocess.run([sys.executable, "-m", "probe.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_version():
    result = probe_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("probe ")


def test_watch_headless_prints_a_finished_run(tmp_path):
    run_dir = tmp_path / "run"
    write_run(run_dir, [*(step(i) for i in range(1, 25)),
                        step(25, alerts=[alert("vanishing", "warning", "conv1.bias", 25,
                                               "grad norm 1e-9")]),
                        status("finished", 25)], torn='{"type": "st')
    result = probe_cli("watch", str(run_dir), "--headless", "--every", "10", timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "step 10 |" in out and "step 20 |" in out
    assert "ALERT [warning] step 25 vanishing conv1.bias: grad norm 1e-9" in out
    assert "status: finished at step 25" in out


def test_watch_headless_no_follow_without_final_status(tmp_path):
    write_run(tmp_path, [step(i) for i in range(1, 8)])
    result = probe_cli("watch", str(tmp_path), "--headless", "--no-follow", "--every", "5",
                       timeout=60)
    assert result.returncode == 0, result.stderr
    assert "step 5 |" in result.stdout and "done: 7 steps" in result.stdout


def test_watch_missing_dir(tmp_path):
    result = probe_cli("watch", str(tmp_path / "nope"), "--headless", timeout=60)
    assert result.returncode == 2 and "not a directory" in result.stderr


def test_headless_never_imports_textual(tmp_path):
    write_run(tmp_path, [step(1), status("finished", 1)])
    code = ("import sys; from probe.cli import main; "
            f"main(['watch', {str(tmp_path)!r}, '--headless']); "
            "print('TEXTUAL', any(m.split('.')[0] == 'textual' for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "TEXTUAL False" in result.stdout


def test_run_headless_wires_the_run_dir(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(
        "import json, os, sys\n"
        "d = os.environ['PROBE_RUN_DIR']\n"
        "json.dump({'type': 'meta', 'run_id': 'x', 'started': 0, 'model': '', 'params': {},"
        " 'config': {}}, open(os.path.join(d, 'meta.json'), 'w'))\n"
        "with open(os.path.join(d, 'metrics.jsonl'), 'w') as fh:\n"
        "    for i in range(1, 13):\n"
        f"        fh.write(json.dumps({step(1)!r} | {{'step': i}}) + '\\n')\n"
        f"    fh.write(json.dumps({status('finished', 12)!r}) + '\\n')\n"
        "print('script args', sys.argv[1:])\n")
    result = probe_cli("run", str(script), "--headless", "--every", "4", "--runs-dir",
                       str(tmp_path / "runs"), "--", "--epochs", "3", cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "script args ['--epochs', '3']" in result.stdout
    assert "step 4 |" in result.stdout and "status: finished at step 12" in result.stdout
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("train-")
    assert json.loads((runs[0] / "meta.json").read_text())["run_id"] == "x"


def test_demo_headless_finishes():
    pytest.importorskip("probe.monitor.demo")
    result = probe_cli("demo", "--headless", "--steps", "30", "--every", "10", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "step 10 |" in result.stdout and "step 30 |" in result.stdout


def test_demo_rejects_a_negative_rate():
    result = probe_cli("demo", "--headless", "--rate", "-1", timeout=60)
    assert result.returncode == 2
    assert "--rate must be >= 0" in result.stderr
