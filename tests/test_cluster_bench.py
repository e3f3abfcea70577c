"""The cluster benchmark's readable lines (the measurement itself runs with ``python -m core.bench.cluster``)."""

from __future__ import annotations

from core.bench.cluster import describe
from core.bench.engine import SECTIONS


def test_describe_reports_photos_per_minute_and_overhead() -> None:
    run = {"seconds": 10.0, "photos_per_minute": 60.0, "load_s": 1.0}
    report = {
        "cpus": 2,
        "classic": {
            "photos": 10,
            "local": run,
            "cluster_1": {**run, "photos_per_minute": 50.0},
            "cluster_2": {**run, "photos_per_minute": 95.5},
            "overhead_s_per_photo": 0.025,
        },
    }

    lines = describe(report)

    assert lines[0].startswith("cluster batch on this computer (2 CPU cores")
    assert any("classic/cluster_2" in line and "95.5 photos/min" in line for line in lines)
    assert lines[-1] == "  classic: cluster overhead 25 ms per photo"
    assert SECTIONS["cluster"][0] == "core.bench.cluster"
