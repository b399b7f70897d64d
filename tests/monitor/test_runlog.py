import json
import math
import threading
import time

import pytest

from probe.monitor import RunReader, RunWriter, replay


def _rec(step, loss=1.0):
    return {"type": "step", "step": step, "epoch": 0, "time": 1.0, "loss": loss, "lr": 0.1,
            "global_grad_norm": math.inf, "global_grad_norm_clipped": None,
            "params": {"w": {"layer": "", "shape": [2], "grad_norm": math.nan,
                             "grad_max": -math.inf, "weight_norm": 1.0, "update_ratio": None,
                             "nonfinite": 2}},
            "alerts": [{"rule": "nonfinite", "severity": "critical", "layer": "w",
                        "message": "NaN", "step": step, "policy": "warn"}]}


def test_nan_round_trip_and_valid_json(tmp_path):
    with RunWriter(tmp_path, meta={"config": {"lr": 0.1}}) as w:
        w.write(_rec(1, loss=math.nan))
    line = (tmp_path / "metrics.jsonl").read_text().splitlines()[0]
    json.loads(line, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))  # strict
    r, end = RunReader(tmp_path).records()
    assert end["type"] == "status" and end["state"] == "finished" and end["step"] == 1
    assert math.isnan(r["loss"]) and r["global_grad_norm"] == math.inf
    assert math.isnan(r["params"]["w"]["grad_norm"]) and r["params"]["w"]["grad_max"] == -math.inf
    assert r["alerts"][0]["message"] == "NaN"  # text fields are left alone


def test_torn_last_line_skipped(tmp_path):
    with RunWriter(tmp_path) as w:
        w.write(_rec(1))
        w.write(_rec(2))
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"type": "step", "ste')
    assert [r["step"] for r in RunReader(tmp_path).records()] == [1, 2, 2]  # 2: the end status


def test_follow_sees_appended_lines(tmp_path):
    w = RunWriter(tmp_path)
    stop = threading.Event()
    seen = []

    def reader():
        for r in RunReader(tmp_path).follow(poll=0.01, stop_event=stop, timeout=5):
            seen.append(r)
    t = threading.Thread(target=reader)
    t.start()
    w.write(_rec(1))
    with open(tmp_path / "metrics.jsonl", "a") as f:  # a torn line completed later
        f.write('{"type":"status","state":"running",')
        f.flush()
        time.sleep(0.05)
        f.write('"step":1,"time":0,"reason":null}\n')
    w.write({"type": "status", "state": "finished", "step": 1, "time": 0.0, "reason": None})
    t.join(timeout=5)
    stop.set()
    assert not t.is_alive()
    assert [r["type"] for r in seen] == ["step", "status", "status"]


def test_follow_timeout_on_missing_file(tmp_path):
    assert list(RunReader(tmp_path / "none").follow(poll=0.01, timeout=0.05)) == []


def test_replay_and_atomic_meta(tmp_path):
    w = RunWriter(tmp_path, meta={"run_id": "abc"})
    w.write(_rec(1))
    w.write_meta({"run_id": "abc", "config": {"x": 1}})
    w.close()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    records = list(replay(tmp_path))
    assert records[0]["type"] == "meta" and records[0]["config"] == {"x": 1}
    assert [(r["type"], r["step"]) for r in records[1:]] == [("step", 1), ("status", 1)]
    assert records[-1]["state"] == "finished"


def test_close_does_not_repeat_a_terminal_status(tmp_path):
    with RunWriter(tmp_path) as w:
        w.write(_rec(3))
        w.write({"type": "status", "state": "stopped", "step": 3, "time": 0.0, "reason": "user"})
    states = [r.get("state") for r in RunReader(tmp_path).records() if r["type"] == "status"]
    assert states == ["stopped"]


def test_exception_in_with_block_marks_run_failed(tmp_path):
    with pytest.raises(RuntimeError):
        with RunWriter(tmp_path) as w:
            w.write(_rec(2))
            raise RuntimeError("loss diverged")
    end = list(RunReader(tmp_path).records())[-1]
    assert end["type"] == "status" and end["state"] == "failed" and end["step"] == 2
    assert end["reason"] == "RuntimeError: loss diverged"


def test_writers_left_open_are_closed_at_exit(tmp_path):
    from probe.monitor import runlog

    w = RunWriter(tmp_path)
    w.write(_rec(5))
    runlog._close_open_writers()
    end = list(RunReader(tmp_path).records())[-1]
    assert end["state"] == "finished" and end["reason"] == "process exited"
    w.close()  # closing twice is harmless and writes nothing more
    assert len(list(RunReader(tmp_path).records())) == 2


def test_read_new_holds_a_torn_line_back_until_it_completes(tmp_path):
    from probe.monitor.runlog import encode_record

    reader = RunReader(tmp_path)
    assert reader.read_new() == [] and reader.meta() is None  # nothing written yet
    path = tmp_path / "metrics.jsonl"
    path.write_text(encode_record(_rec(1)) + "\n" + '{"type": "step", "ste')
    assert [r["step"] for r in reader.read_new()] == [1]
    assert reader.read_new() == []
    with open(path, "a") as f:
        f.write('p": 2}\n')
    assert reader.read_new() == [{"type": "step", "step": 2}]
    with open(path, "ab") as f:
        f.write(b"garbage line\n\xff\xfe\n" + encode_record(_rec(3)).encode() + b"\n")
    (r,) = reader.read_new()
    assert r["step"] == 3 and math.isnan(r["params"]["w"]["grad_norm"])
    assert reader.skipped == 2
    assert [r["step"] for r in RunReader(tmp_path).records()] == [1, 2, 3]
    (tmp_path / "meta.json").write_text('{"run_id": "x", "started": "NaN"}')
    meta = reader.meta()
    assert meta["type"] == "meta" and math.isnan(meta["started"])
    (tmp_path / "meta.json").write_text("[1, 2]")
    assert reader.meta() is None


def test_from_env_prefers_the_probe_run_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("PROBE_RUN_DIR", raising=False)
    with pytest.raises(ValueError, match="PROBE_RUN_DIR"):
        RunWriter.from_env()
    with RunWriter.from_env(tmp_path / "local") as w:
        assert w.run_dir == tmp_path / "local"
    monkeypatch.setenv("PROBE_RUN_DIR", str(tmp_path / "chosen"))
    with RunWriter.from_env(tmp_path / "local", meta={"run_id": "r"}) as w:
        assert w.run_dir == tmp_path / "chosen"
    assert RunReader(tmp_path / "chosen").meta()["run_id"] == "r"


@pytest.mark.parametrize("error, state, reason", [
    (KeyboardInterrupt(), "stopped", "interrupted (KeyboardInterrupt)"),
    (RuntimeError("CUDA out of memory"), "failed", "RuntimeError: CUDA out of memory"),
])
def test_exit_after_an_unhandled_exception_says_how_the_run_ended(tmp_path, monkeypatch, error,
                                                                   state, reason):
    from probe.monitor import runlog

    w = RunWriter(tmp_path)
    w.write(_rec(4))
    monkeypatch.setattr(runlog.sys, "last_value", error, raising=False)
    runlog._close_open_writers()
    end = list(RunReader(tmp_path).records())[-1]
    assert (end["state"], end["reason"], end["step"]) == (state, reason, 4)
