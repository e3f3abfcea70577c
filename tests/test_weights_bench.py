"""The weight-loading benchmark: a report with .bin and safetensors load times, and its table lines."""

from __future__ import annotations

from core.bench.weights import describe, run


def test_quick_run_reports_both_formats_and_describes_them() -> None:
    report = run(quick=True)
    assert report["config"] == "tiny" and report["parameters"] > 1_000_000
    for fmt in ("bin", "safetensors"):
        part = report[fmt]
        assert part["bytes"] > 1_000_000 and 0 < part["read_seconds"] <= part["load_seconds"] + 1.0
    # The speed-up is the ratio of the two measured loads (not a number that merely exists), and the table says it.
    speedup = report["load_speedup"]
    assert speedup == report["bin"]["load_seconds"] / report["safetensors"]["load_seconds"]
    assert report["convert_seconds"] > 0 and report["sha256_seconds"] > 0
    lines = describe(report)
    assert any(".bin" in line and "strict load" in line for line in lines)
    assert any(".safetensors (memory-mapped)" in line for line in lines)
    assert f"  safetensors loads {speedup:.1f}× as fast as .bin" in lines
