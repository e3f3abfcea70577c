"""How big a bundle is unpacked, and what takes the space: ``python packaging/size_report.py BUNDLE_DIR``.

The installers' size budget is checked on the unpacked folder (what lands on the user's disk), so the numbers
are file sizes summed as ``du --apparent-size`` would, without following links.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

MB = 1024 * 1024


def file_sizes(root: Path) -> dict[str, int]:
    """Every regular file under ``root`` (relative path with "/" → bytes); links are not followed."""
    sizes: dict[str, int] = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            sizes[path.relative_to(root).as_posix()] = path.stat().st_size
    return sizes


def by_group(sizes: dict[str, int], depth: int) -> dict[str, int]:
    """Bytes per folder ``depth`` levels below the bundle's data folder (``_internal`` is skipped over)."""
    groups: dict[str, int] = defaultdict(int)
    for name, size in sizes.items():
        parts = name.split("/")
        if parts[0] == "_internal":
            parts = parts[1:]
        key = "/".join(parts[:depth]) if len(parts) > depth else "/".join(parts)
        groups[key] += size
    return dict(groups)


def report(root: Path, top: int = 15, budget_mb: float | None = None) -> dict[str, object]:
    """The numbers as a dict: total, file count, the biggest files and the biggest folders."""
    sizes = file_sizes(root)
    total = sum(sizes.values())
    biggest_files = sorted(sizes.items(), key=lambda item: -item[1])[:top]
    biggest_groups = sorted(by_group(sizes, 2).items(), key=lambda item: -item[1])[:top]
    result: dict[str, object] = {
        "bundle": str(root),
        "total_mb": round(total / MB, 1),
        "files": len(sizes),
        "biggest_files_mb": {name: round(size / MB, 1) for name, size in biggest_files},
        "biggest_folders_mb": {name: round(size / MB, 1) for name, size in biggest_groups},
    }
    if budget_mb is not None:
        result["budget_mb"] = budget_mb
        result["within_budget"] = total / MB <= budget_mb
    return result


def format_report(data: dict[str, object]) -> str:
    lines = [f"bundle {data['bundle']}: {data['total_mb']} MB unpacked in {data['files']} files"]
    if "budget_mb" in data:
        verdict = "within" if data["within_budget"] else "OVER"
        lines[0] += f" ({verdict} the {data['budget_mb']} MB budget)"
    for title, key in (("biggest folders", "biggest_folders_mb"), ("biggest files", "biggest_files_mb")):
        lines.append(f"  {title}:")
        entries = data[key]
        assert isinstance(entries, dict)
        lines.extend(f"    {size:8.1f} MB  {name}" for name, size in entries.items())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("bundle", type=Path, help="the unpacked bundle folder (dist/moebius-studio)")
    parser.add_argument("--top", type=int, default=15, help="how many of the biggest items to list")
    parser.add_argument("--budget-mb", type=float, help="fail (exit 1) when the bundle is bigger than this")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    options = parser.parse_args(argv)
    if not options.bundle.is_dir():
        parser.error(f"{options.bundle} is not a folder")
    data = report(options.bundle, options.top, options.budget_mb)
    print(format_report(data))
    if options.json:
        options.json.write_text(json.dumps(data, indent=1))
    return 0 if data.get("within_budget", True) else 1


if __name__ == "__main__":
    sys.exit(main())
