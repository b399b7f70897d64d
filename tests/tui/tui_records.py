"""Hand-made monitor records for the UI tests (the probe.monitor.records format)."""

from __future__ import annotations

import math

PARAMS = {"conv1.weight": [8, 1, 3, 3], "conv1.bias": [8], "fc.weight": [10, 72], "fc.bias": [10]}


def meta(run_id: str = "test-run") -> dict:
    return {"type": "meta", "run_id": run_id, "started": 1000.0, "model": "Net()",
            "params": dict(PARAMS), "config": {"lr": 0.01}}


def step(n: int, *, epoch: int = 0, loss: float | None = None, norms: dict | None = None,
         alerts: list | None = None, ratio: float = 1e-3) -> dict:
    norms = norms or {}
    params = {}
    for i, (name, shape) in enumerate(PARAMS.items()):
        g = norms.get(name, 0.1 * (i + 1))
        params[name] = {"layer": name.rsplit(".", 1)[0], "shape": list(shape), "grad_norm": g,
                        "grad_max": g / 2 if math.isfinite(g) else g, "weight_norm": 1.0,
                        "update_ratio": ratio, "nonfinite": 0 if math.isfinite(g) else 3}
    total = math.sqrt(sum(p["grad_norm"] ** 2 for p in params.values()))
    return {"type": "step", "step": n, "epoch": epoch, "time": 1000.0 + n * 0.1,
            "loss": 2.0 / n if loss is None else loss, "lr": 0.01, "global_grad_norm": total,
            "global_grad_norm_clipped": None, "params": params, "alerts": alerts or []}


def alert(rule: str, severity: str, layer: str | None, step_n: int, message: str = "",
          policy: str = "warn") -> dict:
    return {"rule": rule, "severity": severity, "layer": layer, "message": message or rule,
            "step": step_n, "policy": policy}


def status(state: str, step_n: int, reason: str | None = None) -> dict:
    return {"type": "status", "state": state, "step": step_n, "time": 1000.0 + step_n * 0.1,
            "reason": reason}


def healthy_norms(n: int) -> dict:
    """Per-parameter grad norms that wobble from step to step in a fixed integer pattern (no
    trigonometry or randomness, so every platform draws the same sparklines), each layer on its
    own scale."""
    return {name: round(0.1 * (i + 1) * (1 + ((7 * n + 3 * i) % 10) / 40), 6)
            for i, name in enumerate(PARAMS)}


def healthy_run(n_steps: int, *, start: int = 1) -> list[dict]:
    """Steps ``start..n_steps`` of a healthy run: a loss falling like ``2/n`` with a small
    periodic wobble and the norms of :func:`healthy_norms`; no alerts."""
    return [step(n, loss=round(2.0 / n * (1 + (n % 4) / 20), 6), norms=healthy_norms(n))
            for n in range(start, n_steps + 1)]
