"""Headless mode: follow a source and print a progress line every N steps and every alert.

For CI and logs; imports no Textual.
"""

from __future__ import annotations

import sys
import time

from ..monitor.records import ENDED_STATES
from .sources import Source
from .state import RunState, format_alert, format_progress


def run_headless(source: Source, *, every: int = 10, out=None, poll_interval: float = 0.1,
                 follow: bool = True, idle_exit: float | None = None) -> RunState:
    """Print records from ``source`` until the run ends.

    The run ends at a terminal status record (stopped/finished/failed), when the source reports
    ``finished`` (and is drained), when ``follow`` is False and nothing new arrived, or after
    ``idle_exit`` seconds without records.
    """
    out = out or sys.stdout
    state = RunState()
    last_printed = 0
    last_data = time.monotonic()
    while True:
        finished_before = source.finished
        records = source.poll()
        if records:
            last_data = time.monotonic()
        done = False
        for rec in records:
            state.apply(rec)
            kind = rec.get("type")
            if kind == "step":
                for alert in rec.get("alerts") or ():
                    print("ALERT " + format_alert(alert), file=out, flush=True)
                if state.step // every != last_printed // every or last_printed == 0:
                    print(format_progress(state), file=out, flush=True)
                    last_printed = state.step
            elif kind == "status":
                reason = f" ({rec['reason']})" if rec.get("reason") else ""
                print(f"status: {rec.get('state')} at step {rec.get('step')}{reason}",
                      file=out, flush=True)
                if rec.get("state") in ENDED_STATES:
                    done = True
        idle = time.monotonic() - last_data
        if (done or (finished_before and not records) or (not follow and not records)
                or (idle_exit is not None and idle > idle_exit)):
            break
        if not records:
            time.sleep(poll_interval)
    if state.step != last_printed:
        print(format_progress(state), file=out, flush=True)
    print(f"done: {state.step} steps, {state.alert_total} alerts", file=out, flush=True)
    return state
