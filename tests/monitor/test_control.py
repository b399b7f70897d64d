"""Controlling a run through its run directory's command file."""

from __future__ import annotations

import threading
import time

import pytest

import probe
import probe.nn as nn
import probe.optim as optim
from probe.monitor import TrainingController, fit
from probe.monitor.control import COMMANDS, CommandListener, send_command
from probe.monitor.runlog import RunReader
from probe.utils.data import DataLoader, TensorDataset


def test_send_command_rejects_what_the_trainer_would_not_accept(tmp_path):
    with pytest.raises(ValueError, match="unknown command 'explode'"):
        send_command(tmp_path, "explode")
    with pytest.raises(ValueError, match="takes 1 argument"):
        send_command(tmp_path, "scale_lr")
    assert not (tmp_path / COMMANDS).exists()


def test_listener_applies_new_requests_and_skips_bad_lines(tmp_path):
    send_command(tmp_path, "stop")  # before the listener: meant for an earlier run
    controller = TrainingController()
    listener = CommandListener(tmp_path, controller)
    with open(tmp_path / COMMANDS, "a") as f:
        f.write('not json\n{"cmd": "rm -rf"}\n["pause"]\n{"cmd": "scale_lr", "args": ["x"]}\n')
    send_command(tmp_path, "pause")
    send_command(tmp_path, "scale_lr", 10)
    assert listener.poll() == ["pause", "scale_lr"]
    assert listener.ignored == 4
    assert controller.paused and not controller.stop_requested
    group = {"lr": 0.5}
    controller.apply_lr(type("Opt", (), {"param_groups": [group]})())
    assert group["lr"] == 5.0


def _fit_in_thread(run_dir, steps=1000):
    probe.manual_seed(0)
    model = nn.Linear(4, 2)
    data = TensorDataset(probe.randn(64, 4), probe.randint(0, 2, (64,)))
    result = {}

    def train():
        result["fit"] = fit(model, DataLoader(data, batch_size=8), optim.SGD(model.parameters(),
                            lr=0.01), nn.CrossEntropyLoss(), epochs=None, max_steps=steps,
                            run_dir=run_dir, headless=False)

    thread = threading.Thread(target=train, daemon=True)
    thread.start()
    return thread, result


def _wait_for(reader, seen, predicate, limit=20.0):
    deadline = time.monotonic() + limit
    while not any(predicate(r) for r in seen):
        assert time.monotonic() < deadline, "the trainer did not get there"
        seen += reader.read_new()
        time.sleep(0.01)
    return next(r for r in seen if predicate(r))


def test_fit_obeys_requests_written_to_its_run_directory(tmp_path):
    thread, result = _fit_in_thread(tmp_path)
    reader, seen = RunReader(tmp_path), []
    _wait_for(reader, seen, lambda r: r["type"] == "step")
    assert RunReader(tmp_path).meta()["control"] == COMMANDS
    send_command(tmp_path, "pause")
    paused = _wait_for(reader, seen, lambda r: r.get("state") == "paused")
    send_command(tmp_path, "step_once")
    one_more = _wait_for(reader, seen, lambda r: r["type"] == "step" and
                         r["step"] == paused["step"] + 1)
    time.sleep(0.3)  # still paused: no further step
    assert max(r["step"] for r in seen + reader.read_new() if r["type"] == "step") == \
        one_more["step"]
    send_command(tmp_path, "stop")
    thread.join(20)
    assert not thread.is_alive()
    assert result["fit"]["state"] == "stopped"
    assert RunReader(tmp_path).records()[-1]["state"] == "stopped"
