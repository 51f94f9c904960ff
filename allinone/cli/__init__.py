"""The `allinone` command line. Each sub-command lives in allinone/cli/<name>.py and provides
``register(subparsers)``; nothing here imports torch (train/convert import it when they run)."""

from __future__ import annotations

import argparse
import importlib
import sys

# Order shown in --help.
COMMANDS = ["info", "run", "demo", "bench", "sweep", "monitor", "convert", "train"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="allinone",
        description="Nested pruned models that keep latency steady while the CPU clock moves.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"allinone.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from allinone import __version__

        print(__version__)
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"allinone {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
