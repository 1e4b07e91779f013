"""Command-line entry point: argument parsing and wiring, nothing else."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ohtui import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ohtui",
        description="Terminal UI and embedded server for OpenHands V0 agent sessions.",
    )
    parser.add_argument("--version", action="version", version=f"ohtui {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    print(f"ohtui {__version__}", file=sys.stdout)
    return 0
