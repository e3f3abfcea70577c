"""The batch benchmark's report reads as lines (the measurement itself is run by ``python -m core.bench``)."""

from __future__ import annotations

from core.bench.batch import describe


def test_describe_names_every_case_and_the_overlap_gain() -> None:
    report = {
        "steps": 2,
        "large_size": [3000, 2000],
        "cases": {
            "tiny/512": {"photos": 3, "seconds": 30.0, "photos_per_minute": 6.0, "load_s": 4.0},
            "released/512": {"photos": 1, "seconds": 120.0, "photos_per_minute": 0.5, "load_s": 2.0},
        },
        "overlap": {"photos": 2, "sequential_s": 20.0, "read_ahead_s": 16.0, "gain": 1.25, "read_s": 0.3},
    }
    lines = describe(report)
    assert "3000×2000" in lines[0]
    assert any("tiny/512" in line and "6.00 photos/min" in line for line in lines)
    assert any("released/512" in line and "0.50 photos/min" in line for line in lines)
    assert "1.25×" in lines[-1] and "0.30 s" in lines[-1]
