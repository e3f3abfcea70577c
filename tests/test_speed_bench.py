"""The speed summary (``python -m core.bench.speed``): its end-to-end pair and how targets are judged."""

from __future__ import annotations

from typing import Any

import pytest

from core.bench.speed import describe, targets


def test_end_to_end_pair_without_winograd_runs_in_its_own_processes() -> None:
    from core.bench.engine import bench_end_to_end

    pair = bench_end_to_end(1, "direct-convolutions", tiny=True)
    ours, base = pair["optimised"], pair["direct-convolutions"]
    assert pair["baseline"] == "direct-convolutions"
    assert base["winograd_calls"] == 0  # the baseline really computed every convolution directly
    for run in (ours, base):
        assert run["steps"] == 1 and run["seconds"] > 0 and run["peak_rss_mb"] > 0
    assert pair["time_ratio"] == pytest.approx(ours["seconds"] / base["seconds"])
    # Same weights, same seed: Winograd changes the picture by float32 rounding at most.
    assert pair["max_pixel_difference"] <= 1


def _report(*, decode: float, encode: float, e2e: float, seed: float, speedup: float, golden: float) -> dict[str, Any]:
    def stage(ratio: float) -> dict[str, float]:
        return {"ratio": ratio, "winograd_seconds": ratio, "direct_seconds": 1.0, "relative_deviation": 1e-6}

    run = {"seconds": 10.0, "steps": 20, "peak_rss_mb": 1300.0}
    first = {"seconds": 10.0}
    return {
        "quick": False,
        "winograd": {"target_ratio": 0.6, "frames": {"512": {"decode": stage(decode), "encode": stage(encode)}}},
        "end_to_end": {
            "optimised": run,
            "direct-convolutions": run,
            "time_ratio": e2e,
            "max_pixel_difference": 1,
        },
        "variations": {
            "target_ratio": 0.85,
            "configs": {
                "released": {
                    "ratio": seed,
                    "first": [first],
                    "second": [{"seconds": 10.0 * seed}],
                    "first_seed_repeated_exactly": True,
                }
            },
        },
        "fast": {
            "config": "released",
            "target_speedup": 1.8,
            "step": {"speedup": speedup, "exact": 1.0, "int8": 1.0 / speedup},
            "end_to_end": {"max_levels": 12, "mean_levels": 0.5},
        },
        "golden": {
            "found": True,
            "tolerance": 1e-4,
            "float32": {"forward": {"max_abs": golden}, "denoising_loop": {"max_abs": golden / 2}},
        },
    }


def test_targets_are_judged_in_the_right_direction() -> None:
    good = targets(_report(decode=0.5, encode=0.6, e2e=0.79, seed=0.8, speedup=1.9, golden=3e-5))
    assert [row["met"] for row in good] == [True] * 6
    bad = targets(_report(decode=0.61, encode=0.7, e2e=0.81, seed=0.9, speedup=1.7, golden=2e-4))
    assert [row["met"] for row in bad] == [False] * 6
    names = [row["name"] for row in bad]
    assert names[0].startswith("VAE decode 512²") and names[4].startswith("int8 fast mode")


def test_the_summary_prints_every_target_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.bench import fast, variations, winograd

    report = _report(decode=0.5, encode=0.7, e2e=0.79, seed=0.8, speedup=1.9, golden=3e-5)
    report["targets"] = targets(report)
    for module in (fast, variations, winograd):
        monkeypatch.setattr(module, "describe", lambda _report: ["(section lines)"])
    report["machine"] = {"cpu": "Example CPU", "threads": 2, "flags": ["avx2", "avx512_vnni", "avx512f"]}
    lines = describe(report)
    assert lines[0] == "Machine: Example CPU, 2 threads; flags: avx2 avx512_vnni avx512f"
    assert lines[2].startswith("  MET  VAE decode 512², Winograd / direct: 50 % (target ≤ 60 %)")
    assert lines[3].startswith("  MISS VAE encode 512²")
    assert "1.90× (target ≥ 1.8×)" in lines[6]
    assert "3.0e-05 (target ≤ 1e-04)" in lines[7]
    del report["machine"]  # a report kept from before the machine was recorded
    assert describe(report)[0] == "Machine: not recorded in this report"


def test_the_run_records_the_machine_it_measured_on() -> None:
    import torch

    from backends.device import describe_cpu
    from core.bench.speed import machine

    found = machine()
    cpu = describe_cpu()
    assert found == {"cpu": cpu.model, "threads": torch.get_num_threads(), "flags": sorted(cpu.flags)}
    assert found["threads"] >= 1 and isinstance(found["cpu"], str) and found["cpu"]
