"""``fit`` writes to $PROBE_RUN_DIR when no run_dir is given (how ``probe run`` wires scripts)."""

from __future__ import annotations

import probe
import probe.nn as nn
import probe.optim as optim
from probe.monitor import fit
from probe.monitor.runlog import RunReader
from probe.utils.data import DataLoader, TensorDataset


def test_fit_writes_the_run_dir_named_by_the_environment(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    monkeypatch.setenv("PROBE_RUN_DIR", str(run_dir))
    data = TensorDataset(probe.randn(16, 4), probe.randint(0, 2, (16,)))
    model = nn.Linear(4, 2)
    fit(model, DataLoader(data, batch_size=8), optim.SGD(model.parameters(), lr=0.1),
        nn.CrossEntropyLoss(), epochs=2, headless=False)
    steps = [r for r in RunReader(run_dir).records() if r["type"] == "step"]
    assert len(steps) == 4
