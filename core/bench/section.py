"""The command line every benchmark section shares: ``python -m core.bench.<name> [--quick] [--json FILE]``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def section_main(
    prog: str,
    description: str,
    quick_help: str,
    run: Callable[[bool], dict[str, Any]],
    describe: Callable[[dict[str, Any]], list[str]],
    argv: list[str] | None = None,
) -> int:
    """Run one section, print its lines and optionally keep its report as JSON; returns the exit status.

    Args:
        prog: the command as the user types it (``python -m core.bench.photo``).
        description: one line for ``--help``.
        quick_help: what ``--quick`` makes smaller.
        run: the section's ``run(quick)``.
        describe: the section's ``describe(report)``.
        argv: the arguments; ``None`` reads the command line.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--json", type=Path, default=None, help="also write the report to this JSON file")
    args = parser.parse_args(argv)
    report = run(args.quick)
    print("\n".join(describe(report)))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0
