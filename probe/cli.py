"""The `probe` command: ``probe demo``, ``probe watch RUN_DIR``, ``probe run SCRIPT.py``.

Each opens the Textual monitor, or with ``--headless`` prints a progress line every N steps and
every alert (Textual is then never imported).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

JOIN_TIMEOUT = 10.0  # seconds to wait for the trainer thread on exit; it is a daemon anyway
# The demo with its UI trains at most this many steps a second: a pace a person can follow
# (unpaced, the small CNN converges within seconds and an explosion is over in a blink).
DEMO_UI_RATE = 50.0


def _version() -> str:
    try:
        from probe import __version__
    except ImportError:
        from importlib.metadata import version

        return version("probe")
    return __version__


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="probe", description="probe: model introspection toolkit and training monitor")
    parser.add_argument("--version", action="version", version=f"probe {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def common(p):
        p.add_argument("--headless", action="store_true",
                       help="no UI: print a progress line every N steps and every alert")
        p.add_argument("--every", type=int, default=10, metavar="N",
                       help="headless: print a progress line every N steps (default 10)")

    demo = sub.add_parser("demo", help="train a small CNN on bundled digits with the monitor open")
    common(demo)
    demo.add_argument("--steps", type=int, default=None, metavar="N",
                      help="stop after N training steps (default: train until stopped)")
    demo.add_argument("--rate", type=float, default=None, metavar="STEPS_PER_S",
                      help=f"pace training at most this many steps a second, 0 for no limit "
                           f"(default: {DEMO_UI_RATE:g} with the UI, so it can be watched; no "
                           f"limit headless)")

    watch = sub.add_parser("watch", help="attach to a run directory (live or finished)")
    common(watch)
    watch.add_argument("run_dir", help="a run directory with metrics.jsonl (and meta.json)")
    watch.add_argument("--no-follow", action="store_true",
                       help="headless: print what is there and exit instead of following")

    run = sub.add_parser(
        "run", help="run a training script with PROBE_RUN_DIR set, monitor open",
        description="Run SCRIPT.py in a subprocess with PROBE_RUN_DIR set to a fresh run "
                    "directory under --runs-dir, and monitor it. Script arguments go after --.")
    common(run)
    run.add_argument("script", help="the training script (it uses probe.monitor)")
    run.add_argument("--runs-dir", default="runs", help="where run directories go (./runs)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    script_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, script_args = argv[:cut], argv[cut + 1:]
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "demo":
        return cmd_demo(args)
    if args.command == "watch":
        return cmd_watch(args)
    return cmd_run(args, script_args)


# ---- probe watch --------------------------------------------------------------------------------
def cmd_watch(args) -> int:
    from probe.tui.sources import RunDirSource

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        print(f"probe watch: {run_dir} is not a directory", file=sys.stderr)
        return 2
    source = RunDirSource(run_dir)
    if args.headless:
        from probe.tui.headless import run_headless

        run_headless(source, every=args.every, follow=not args.no_follow)
        return 0
    _open_ui(source, title=f"probe watch {run_dir}")
    return 0


# ---- probe run ----------------------------------------------------------------------------------
def new_run_dir(runs_dir: str | os.PathLike, name: str) -> Path:
    """A fresh ``runs_dir/<name>-<timestamp>`` directory (suffixed when it exists)."""
    base = Path(runs_dir)
    base.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(1000):
        path = base / (f"{name}-{stamp}" + (f"-{i}" if i else ""))
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a run directory under {base}")


def cmd_run(args, script_args: list[str]) -> int:
    from probe.monitor.runlog import RUN_DIR_ENV
    from probe.tui.sources import ProcessController, RunDirSource

    script = Path(args.script)
    if not script.is_file():
        print(f"probe run: no such script: {script}", file=sys.stderr)
        return 2
    run_dir = new_run_dir(args.runs_dir, script.stem)
    env = dict(os.environ, **{RUN_DIR_ENV: str(run_dir.resolve())})
    print(f"probe run: run directory {run_dir}", file=sys.stderr, flush=True)
    cmd = [sys.executable, str(script), *script_args]
    if args.headless:
        proc = subprocess.Popen(cmd, env=env)
    else:
        # The script's own output would scribble over the UI: it goes to the run directory.
        log = open(run_dir / "output.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    controller = ProcessController(proc)
    source = RunDirSource(run_dir, controller=controller, process=proc)
    try:
        if args.headless:
            from probe.tui.headless import run_headless

            run_headless(source, every=args.every)
        else:
            _open_ui(source, title=f"probe run {script.name}")
    except KeyboardInterrupt:
        pass
    finally:
        # A fit()-driven script announced its command file: the source then controls it through
        # the run directory (clean stop first), with the signals as the fallback.
        rc = source.controller.close()
        if not args.headless:
            log.close()
            print(f"probe run: script output in {run_dir / 'output.log'}", file=sys.stderr)
    return rc if isinstance(rc, int) and rc >= 0 else 0


# ---- probe demo ---------------------------------------------------------------------------------
def cmd_demo(args) -> int:
    from probe.tui.sources import RingSource

    try:
        from probe.monitor import demo as demo_mod
    except ImportError as exc:
        print(f"probe demo: the demo job is not available ({exc})", file=sys.stderr)
        return 1
    rate = args.rate if args.rate is not None else (None if args.headless else DEMO_UI_RATE)
    if rate is not None and rate < 0:
        print(f"probe demo: --rate must be >= 0, got {args.rate:g}", file=sys.stderr)
        return 2
    rate = rate or None  # 0: no limit
    if not args.headless:
        return _demo_ui(demo_mod, args.steps, rate)
    ring = RingSource(label="demo (in-process)")
    job = demo_mod.DemoJob(sinks=[ring], steps_per_s=rate)
    controller = job.controller
    ring.controller = controller
    thread = threading.Thread(target=_train, args=(job, args.steps), name="probe-demo-trainer",
                              daemon=True)
    ring.thread = thread
    thread.start()
    try:
        from probe.tui.headless import run_headless

        run_headless(ring, every=args.every)
    except KeyboardInterrupt:
        pass
    finally:
        _stop(controller)
        thread.join(JOIN_TIMEOUT)
    return 0


def _demo_ui(demo_mod, max_steps, steps_per_s) -> int:
    # Textual's redraws are pure Python and hold the GIL: the trainer runs in a child process
    # (started before the app exists) and streams its records over a pipe.
    from probe.tui.sources import ProcessSource

    source = ProcessSource(demo_mod.demo_child,
                           kwargs={"max_steps": max_steps, "quiet": True,
                                   "steps_per_s": steps_per_s},
                           label="demo (child process)")
    controller = source.controller
    try:
        extra = {"e": ("explode", controller.explode,
                       "explode: multiply the learning rate by 100"),
                 "v": ("vanish", controller.vanish,
                       "vanish: scale every weight by 0.01 (gradients collapse)")}
        _open_ui(source, extra_keys=extra, title="probe demo")
    except KeyboardInterrupt:
        pass
    finally:
        source.close(JOIN_TIMEOUT / 2)
    return 0


def _train(job, max_steps) -> None:
    try:
        job.run(max_steps=max_steps)
    except Exception:  # noqa: BLE001 - fit already wrote a "failed" status the UI shows
        pass


def _stop(controller) -> None:
    stop = getattr(controller, "stop", None)
    if callable(stop):
        stop()


def _open_ui(source, **kw) -> None:
    from probe.tui.app import MonitorApp

    MonitorApp(source, **kw).run()


if __name__ == "__main__":
    raise SystemExit(main())
