"""Every speed target of the second speed round, measured in one run: ``python -m core.bench.speed``.

Each target is a ratio of two measurements taken in the same run on this machine, so the machine's drift
affects both sides alike:

* VAE encode and decode of a 512×512 frame with Winograd's 3×3 convolutions against direct ones
  (:mod:`core.bench.winograd`), target ≤ 60 % each;
* a whole 512×512 inpaint in exact mode against the same inpaint with direct convolutions, each in its own
  process (:func:`core.bench.engine.bench_end_to_end`), target ≤ 80 %;
* a second seed on the same photo and mask against the first (:mod:`core.bench.variations`), target ≤ 85 %;
* one guided step in the int8 fast mode against exact mode (:mod:`core.bench.fast`), target ≥ 1.8×, with
  the deviation per step and on the end-to-end picture;
* golden parity in exact mode (the UNet's forward pass and the guided loop within 1e-4 of the reference
  vectors, with Winograd active), as the GPU check runs it on the CPU.

``run(quick)`` returns the sections' reports and a ``targets`` list; ``describe`` prints the list first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

END_TO_END_TARGET = 0.80
STEPS = 20


def run(quick: bool = False, *, done: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Measure every target.

    Args:
        quick: each section's smoke run (tiny configurations, a few steps); the ratios then mean little.
        done: reports of sections this run already measured (``winograd``, ``variations``, ``fast``), reused
            instead of measured twice.
    """
    from core.bench import fast, variations, winograd
    from core.bench.engine import bench_end_to_end
    from core.bench.gpu_check import DEFAULT_GOLDEN, check_golden

    done = done or {}

    def section(name: str, measure: Callable[[bool], dict[str, Any]]) -> dict[str, Any]:
        return dict(done[name]) if name in done else measure(quick)

    report: dict[str, Any] = {"quick": quick, "machine": machine()}
    report["winograd"] = section("winograd", winograd.run)
    report["end_to_end"] = bench_end_to_end(2 if quick else STEPS, "direct-convolutions", tiny=quick)
    report["variations"] = section("variations", variations.run)
    report["fast"] = section("fast", fast.run)
    report["golden"] = check_golden(DEFAULT_GOLDEN, "cpu", {"float32": ("float32", "float32")})
    report["targets"] = targets(report)
    return report


def machine() -> dict[str, Any]:
    """The CPU this run measures on: its name, the threads torch uses, and the instruction-set flags that decide
    the ratios (AVX-512, bfloat16 and int8 dot products, AMX).

    Ratios from CPUs of different kinds differ by more than the noise (the int8 step was 1.69× on a Xeon with
    AMX and 2.30× on a Zen 4 EPYC without it, the VAE decode 61 % and 76 %), so every run says where it ran.
    """
    import torch

    from backends.device import describe_cpu

    cpu = describe_cpu()
    return {"cpu": cpu.model, "threads": torch.get_num_threads(), "flags": sorted(cpu.flags)}


def targets(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The targets with their measured values: ``name``, ``measured``, ``target``, ``better`` ("lower" or
    "higher"), ``met`` and a ``detail`` line."""
    rows: list[dict[str, Any]] = []

    def add(name: str, measured: float, target: float, better: str, detail: str) -> None:
        met = measured <= target if better == "lower" else measured >= target
        rows.append(
            {"name": name, "measured": measured, "target": target, "better": better, "met": met, "detail": detail}
        )

    vae = report["winograd"]
    frame = "512" if "512" in vae["frames"] else next(iter(vae["frames"]))
    for stage in ("decode", "encode"):
        entry = vae["frames"][frame][stage]
        add(
            f"VAE {stage} {frame}², Winograd / direct",
            entry["ratio"],
            vae["target_ratio"],
            "lower",
            f"{entry['winograd_seconds']:.2f} s vs {entry['direct_seconds']:.2f} s, "
            f"deviation {entry['relative_deviation']:.1e} of the output's range",
        )
    e2e = report["end_to_end"]
    ours, base = e2e["optimised"], e2e["direct-convolutions"]
    add(
        f"end to end 512², {ours['steps']} steps, exact: with / without Winograd",
        e2e["time_ratio"],
        END_TO_END_TARGET,
        "lower",
        f"{ours['seconds']:.1f} s vs {base['seconds']:.1f} s, peak {ours['peak_rss_mb']:.0f} vs "
        f"{base['peak_rss_mb']:.0f} MiB, pictures differ by at most {e2e['max_pixel_difference']} levels",
    )
    seeds = report["variations"]
    name = "released" if "released" in seeds["configs"] else "tiny"
    config = seeds["configs"][name]
    add(
        f"second seed / first, same photo and mask ({name})",
        config["ratio"],
        seeds["target_ratio"],
        "lower",
        f"{config['second'][0]['seconds']:.1f} s vs {config['first'][0]['seconds']:.1f} s; the repeated first seed "
        + ("gave the same picture" if config["first_seed_repeated_exactly"] else "gave A DIFFERENT PICTURE"),
    )
    fast = report["fast"]
    step, pictures = fast["step"], fast["end_to_end"]
    add(
        f"int8 fast mode: exact step / int8 step ({fast['config']})",
        step["speedup"],
        fast["target_speedup"],
        "higher",
        f"{step['exact']:.2f} s vs {step['int8']:.2f} s; end-to-end picture differs by max "
        f"{pictures['max_levels']} levels, mean {pictures['mean_levels']:.2f}",
    )
    golden = report["golden"]
    if golden["found"]:
        exact = golden["float32"]
        worst = max(exact["forward"]["max_abs"], exact["denoising_loop"]["max_abs"])
        add(
            "golden parity in exact mode: largest deviation",
            worst,
            golden["tolerance"],
            "lower",
            f"UNet forward {exact['forward']['max_abs']:.1e}, guided loop {exact['denoising_loop']['max_abs']:.1e}",
        )
    return rows


def describe(report: Mapping[str, Any]) -> list[str]:
    """The targets first (one line each), then every section's own lines.

    Args:
        report: what :func:`run` returned.
    """
    from core.bench import fast, variations, winograd

    lines = [
        _machine_line(report.get("machine")),
        "Speed targets, each measured in this run" + (" (quick: smoke-run sizes)" if report["quick"] else "") + ":",
    ]
    for row in report["targets"]:
        sign = "≤" if row["better"] == "lower" else "≥"
        value = f"{row['measured']:.2f}×" if row["better"] == "higher" else _ratio(row)
        lines.append(
            f"  {'MET ' if row['met'] else 'MISS'} {row['name']}: {value} (target {sign} {_target(row)}); "
            f"{row['detail']}"
        )
    if not report["golden"]["found"]:
        lines.append(f"  golden parity: not checked, no reference vectors in {report['golden']['folder']}")
    for title, module, key in (
        ("Winograd", winograd, "winograd"),
        ("Variations", variations, "variations"),
        ("Fast mode", fast, "fast"),
    ):
        lines.append(f"{title}:")
        lines += [f"  {line}" for line in module.describe(report[key])]
    return lines


def _machine_line(machine: Mapping[str, Any] | None) -> str:
    """``Machine: <CPU>, <n> threads; flags …`` (reports written before the machine was recorded say so)."""
    from backends.device import CpuInfo

    if not machine:
        return "Machine: not recorded in this report"
    cpu = CpuInfo(model=machine["cpu"], threads=machine["threads"], flags=frozenset(machine["flags"]))
    flags = " ".join(machine["flags"]) or "none of the speed-relevant flags"
    return f"Machine: {cpu.summary()}; flags: {flags}"


def _ratio(row: Mapping[str, Any]) -> str:
    if "golden" in row["name"]:
        return f"{row['measured']:.1e}"
    return f"{100 * row['measured']:.0f} %"


def _target(row: Mapping[str, Any]) -> str:
    if row["better"] == "higher":
        return f"{row['target']:.1f}×"
    if "golden" in row["name"]:
        return f"{row['target']:.0e}"
    return f"{100 * row['target']:.0f} %"


if __name__ == "__main__":
    from core.bench.section import section_main

    raise SystemExit(
        section_main(
            "python -m core.bench.speed",
            "Every speed target (Winograd VAE, end to end, second seed, int8 fast mode, golden parity) in one run.",
            "every section's smoke run (tiny configurations, a few steps)",
            run,
            describe,
        )
    )
