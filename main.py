"""The one command line for the kiosk, the server and the tools around them (see README)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Each module adds its own commands; their heavy imports happen only when a command runs.
COMMAND_MODULES = ["kiosk.cli", "kiosk.exports.cli", "sync.cli", "sync.server.cli", "screens.cli"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python main.py",
        description="Patient feedback kiosk. With no command, starts the kiosk.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    from kiosk.cli import main_guard

    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["kiosk", *argv]
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    if os.environ.get("KIOSK_DEBUG"):
        return int(args.func(args) or 0)
    try:
        return main_guard(args.func, args)
    except Exception as e:
        print(f"error: {type(e).__name__}: {e} (set KIOSK_DEBUG=1 for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
