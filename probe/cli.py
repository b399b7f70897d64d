"""The `probe` command."""

from __future__ import annotations

import argparse


def _version() -> str:
    try:
        from probe import __version__
    except ImportError:
        from importlib.metadata import version

        return version("probe")
    return __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="probe", description="probe: model introspection toolkit")
    parser.add_argument("--version", action="version", version=f"probe {_version()}")
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
