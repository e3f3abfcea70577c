"""The reduced-precision check the benchmark reports: deviation of float16/bfloat16 from float32 and step times."""

from __future__ import annotations

import math

import pytest
import torch

from core.bench import precision as bench_precision
from core.bench.precision import RoundTo, describe, mark_reduced, run
from core.model.unet import TINY_CONFIG

# The tiny architecture, narrower and at an 8×8 latent: the same blocks and operators, a fraction of the work.
MICRO = {**TINY_CONFIG, "sample_size": 8, "block_out_channels": [8, 16, 32]}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_rounding_follows_reduced_tensors_only() -> None:
    weight = mark_reduced(torch.tensor([1.0001]))
    timestep = torch.tensor([900.3])
    with RoundTo(torch.float16):
        product = weight * 3.0001
        untouched = timestep * 1.0
        buffer = torch.zeros(2)
        buffer[:1] = product
    assert product.item() == torch.tensor(3.0001 * 1.0001).half().item()
    assert untouched.item() == pytest.approx(900.3, abs=1e-4)  # float32 arithmetic stays float32
    assert buffer[0].item() == product.item()


def test_report_of_a_small_configuration() -> None:
    report = run(configs={"micro": MICRO})
    section = report["configs"]["micro"]
    assert section["parameters"] > 0 and section["float32_seconds"] > 0
    for fmt in ("float16", "bfloat16"):
        entry = section["formats"][fmt]
        for kind in ("emulated", "native"):
            for part in ("noise", "latents"):
                deviation = entry[kind][part]
                assert deviation["finite"]
                assert 0 < deviation["max_abs"] < math.inf
                assert 0 < deviation["relative"] < 0.5
        assert entry["native"]["seconds"] > 0
    # bfloat16 keeps 8 significant bits, float16 11: its deviation is the larger one.
    formats = section["formats"]
    assert formats["bfloat16"]["emulated"]["noise"]["max_abs"] > formats["float16"]["emulated"]["noise"]["max_abs"]
    lines = describe(report)
    assert lines[0].startswith("Reduced precision vs float32: one guided step at t = 900")
    assert any(line.strip().startswith("float16   GPU-like") for line in lines)
    assert sum("native on this CPU:" in line for line in lines) == 2


def test_slow_formats_are_estimated_on_larger_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_precision, "EMULATED_RATIO", 0.0)  # treat every native run as emulated
    report = run(configs={"first": MICRO, "second": MICRO})
    skipped = report["configs"]["second"]["formats"]["float16"]["native"]
    assert skipped["skipped"].startswith("this CPU emulates float16")
    assert skipped["estimated_seconds"] > 0
    assert any("skipped, this CPU emulates" in line for line in describe(report))


def test_fast_mode_is_timed_against_exact_mode_where_the_app_would_use_a_gpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No GPU here: the CPU stands in for the device the app's automatic choice would have picked.
    monkeypatch.setattr(bench_precision, "_fast_mode_device", lambda: ("cpu", "bfloat16", "a stand-in device"))
    report = run(configs={"micro": MICRO})
    entry = report["fast_mode"]["configs"]["micro"]
    assert entry["float32_seconds"] > 0 and entry["fast_seconds"] > 0
    assert entry["speedup"] == pytest.approx(entry["float32_seconds"] / entry["fast_seconds"])
    assert entry["noise"]["finite"] and 0 < entry["noise"]["relative"] < 0.5
    lines = describe(report)
    heading = "Fast mode (bfloat16) against exact mode (float32) on a stand-in device:"
    assert any(line.strip() == heading for line in lines)
    assert any("[micro] float32" in line and "as fast" in line for line in lines)


def test_fast_mode_is_reported_as_not_measured_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_precision, "_fast_mode_device", lambda: None)
    report = run(configs={"micro": MICRO})
    assert "fast_mode" not in report
    assert describe(report)[-1].strip().startswith("Fast mode on a GPU: not measured")
