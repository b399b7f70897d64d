"""The opt-in allocator tuning is callable and reports whether it applied."""

import subprocess
import sys


def test_tune_allocator_applies_in_a_child_process():
    # Run in a child: the setting is process-wide and must not leak into the test session.
    code = "import probe; print(probe.backends.cpu.tune_allocator())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() in ("True", "False")
    if sys.platform.startswith("linux"):
        assert out.stdout.strip() == "True"
