"""Benchmark of Winograd's F(4×4, 3×3) against the direct 3×3 convolutions of the VAE.

The VAE's 3×3 stride-1 convolutions take Winograd's path where :func:`core.model.winograd.winograd_pays_off`
says so (:class:`core.model.winograd.Conv3x3`). This measures, in one process with random weights of the
released configuration, VAE encode and decode at 512×512 and 1024×1024 with that path and with every
convolution direct (:func:`core.model.winograd.direct_convolutions`), interleaved so that both see the same
machine: the median seconds, their ratio (issue 19's target: at most :data:`TARGET_RATIO`), the largest
deviation of the outputs (absolute and relative to the output's largest value), and for each distinct
convolution shape of the 512² frame its own timing both ways, which is what the rule is derived from. The
shapes' direct times also give the share of the run that the 3×3 Winograd convolutions alone shrink (the
path also folds each resnet's group norm and SiLU into the convolution that reads them,
:mod:`core.model.norm_fold`, and computes the decoder's upsampling convolutions by F(4×4, 2×2),
:mod:`core.model.upsample_winograd`; both are off inside ``direct_convolutions()`` too, so the baseline is the
VAE as it was before Winograd). Unless ``quick``, each stage also runs once per path in a child process that
reports its peak resident memory (``VmHWM``).

Use :func:`run` for the numbers and :func:`describe` for readable lines.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

TARGET_RATIO = 0.60
# --quick: the released layout at 128 channels per level and one resnet per stage, on a 128×128 frame.
QUICK_CHANGES = {"block_out_channels": [128, 128, 128, 128], "layers_per_block": 1}
QUICK_FRAME = 128


def run(quick: bool = False) -> dict[str, Any]:
    """Time encode, decode and each convolution shape with Winograd's path and with direct convolutions.

    Args:
        quick: a 128-channel VAE on a 128×128 frame, two repeats, no child processes (seconds in all).

    Returns:
        A JSON-compatible report: threads, target ratio, and per frame the encode and decode seconds both
        ways with ratio and deviation; the per-shape timings of the first frame; peak memory unless ``quick``.
    """
    from core.model.winograd import BAND_ELEMENTS, CACHE_LIMIT_BYTES

    config = _config(quick)
    # Five repeats at 512²: single decodes there vary by up to ±30 % on a shared machine.
    frames = [(QUICK_FRAME, 2)] if quick else [(512, 5), (1024, 1)]
    report: dict[str, Any] = {
        "config": "quick (128 channels, 1 resnet per stage)" if quick else "released",
        "threads": torch.get_num_threads(),
        "target_ratio": TARGET_RATIO,
        "band_elements": BAND_ELEMENTS,
        "cache_limit_bytes": CACHE_LIMIT_BYTES,
        "frames": {},
    }
    vae = _build(config)
    for index, (frame, repeats) in enumerate(frames):
        report["frames"][str(frame)] = _measure_frame(vae, frame, repeats, with_shapes=index == 0, quick=quick)
    if not quick:
        report["peak_memory_mb"] = {
            f"{stage}_{path}": _child_peak(config, frames[0][0], stage, path == "winograd")
            for stage in ("encode", "decode")
            for path in ("winograd", "direct")
        }
    return report


def describe(report: dict[str, Any]) -> list[str]:
    """Readable lines for a report from :func:`run`.

    Args:
        report: what :func:`run` returned.
    """
    target = report["target_ratio"]
    lines = [
        f"Winograd F(4×4, 3×3) against direct 3×3 convolutions, VAE ({report['config']}), CPU float32, "
        f"{report['threads']} threads:"
    ]
    for frame, result in report["frames"].items():
        for stage in ("encode", "decode"):
            entry = result[stage]
            verdict = "meets" if entry["ratio"] <= target else "misses"
            lines.append(
                f"[{frame}²] {stage}: Winograd {entry['winograd_seconds']:.2f} s, direct "
                f"{entry['direct_seconds']:.2f} s, ratio {100 * entry['ratio']:.0f} % ({verdict} the "
                f"{100 * target:.0f} % target); deviation {entry['max_abs_deviation']:.1e} "
                f"({entry['relative_deviation']:.1e} of the output's range)"
            )
            if "bound" in entry:
                bound = entry["bound"]
                lines.append(
                    f"        3×3 convolutions on Winograd's path: {100 * bound['share_of_direct']:.0f} % of the "
                    f"direct run; with them at their measured ratio the stage would take "
                    f"{100 * bound['predicted_ratio']:.0f} %"
                )
        if "shapes" in result:
            lines.append(
                f"[{frame}²] per convolution shape (layers in encode + decode: in → out channels at input size; "
                "direct ms, Winograd ms):"
            )
            for shape in result["shapes"]:
                rule = "Winograd" if shape["rule"] else "direct"
                used = f"{shape['counts']['encode']:2d} + {shape['counts']['decode']:2d}"
                lines.append(
                    f"        {used} × {shape['in']:3d} → {shape['out']:3d} at {shape['height']}×"
                    f"{shape['width']}: {1e3 * shape['direct_seconds']:7.1f}, {1e3 * shape['winograd_seconds']:7.1f}"
                    f" ({100 * shape['ratio']:.0f} %) — rule: {rule}"
                )
    for name, megabytes in report.get("peak_memory_mb", {}).items():
        lines.append(f"peak memory (VmHWM, own process), {name.replace('_', ' with ')}: {megabytes:.0f} MiB")
    return lines


def _config(quick: bool) -> dict[str, Any]:
    from core.model.vae import BUNDLED_VAE_CONFIG

    config: dict[str, Any] = json.loads(BUNDLED_VAE_CONFIG.read_text(encoding="utf-8"))
    if quick:
        config.update(QUICK_CHANGES)
    return config


def _build(config: dict[str, Any]) -> torch.nn.Module:
    from core.model.vae import build_vae

    torch.manual_seed(0)
    return build_vae(config).eval()


def _stage(vae: Any, stage: str, frame: int) -> Callable[[], torch.Tensor]:
    """The stage as the pipeline calls it, on inputs fixed for this frame."""
    generator = torch.Generator().manual_seed(frame)
    if stage == "encode":
        image = torch.rand(1, 3, frame, frame, generator=generator) * 2 - 1

        def encode() -> torch.Tensor:
            mean: torch.Tensor = vae.encode(image).latent_dist.mean
            return mean

        return encode
    latents = torch.randn(1, 4, frame // 8, frame // 8, generator=generator)

    def decode() -> torch.Tensor:
        sample: torch.Tensor = vae.decode(latents).sample
        return sample

    return decode


def _measure_frame(vae: Any, frame: int, repeats: int, *, with_shapes: bool, quick: bool) -> dict[str, Any]:
    """Both stages of one frame, Winograd and direct interleaved; optionally the per-shape timings."""
    from core.model.winograd import Conv3x3, direct_convolutions

    result: dict[str, Any] = {}
    counts: dict[str, Counter[tuple[int, int, int, int]]] = {"encode": Counter(), "decode": Counter()}

    with torch.inference_mode():
        for stage in ("encode", "decode"):
            call = _stage(vae, stage, frame)

            def record(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], stage: str = stage) -> None:
                assert isinstance(module, Conv3x3)
                height, width = inputs[0].shape[-2:]
                counts[stage][(module.in_channels, module.out_channels, height, width)] += 1

            # 1. One untimed run of each path (first-call costs), recording the shapes on the direct one.
            hooks = [m.register_forward_pre_hook(record) for m in vae.modules() if isinstance(m, Conv3x3)]
            with direct_convolutions():
                expected = call()
            for hook in hooks:
                hook.remove()
            got = call()
            # 2. Interleaved repeats.
            winograd_times, direct_times = [], []
            for _ in range(repeats):
                started = time.perf_counter()
                call()
                winograd_times.append(time.perf_counter() - started)
                with direct_convolutions():
                    started = time.perf_counter()
                    call()
                    direct_times.append(time.perf_counter() - started)
            deviation = float((got - expected).abs().max())
            winograd_seconds, direct_seconds = statistics.median(winograd_times), statistics.median(direct_times)
            result[stage] = {
                "winograd_seconds": winograd_seconds,
                "direct_seconds": direct_seconds,
                "winograd_runs": winograd_times,
                "direct_runs": direct_times,
                "ratio": winograd_seconds / direct_seconds,
                "max_abs_deviation": deviation,
                "relative_deviation": deviation / float(expected.abs().max()),
            }
    if with_shapes:
        distinct = sorted(set(counts["encode"]) | set(counts["decode"]), key=lambda s: (-s[2] * s[3], s[0], s[1]))
        result["shapes"] = [
            _time_shape(*shape, {stage: counts[stage][shape] for stage in counts}, repeats=2 if quick else 5)
            for shape in distinct
        ]
        for stage in ("encode", "decode"):
            result[stage]["bound"] = _bound(result[stage], result["shapes"], stage)
    return result


def _time_shape(
    in_channels: int, out_channels: int, height: int, width: int, counts: dict[str, int], *, repeats: int
) -> dict[str, Any]:
    """One convolution shape, Winograd (kernel transformed as the layer would get it) and direct, interleaved."""
    from core.model.winograd import FilterCache, winograd_conv3x3, winograd_pays_off

    generator = torch.Generator().manual_seed(in_channels * 7 + out_channels)
    x = torch.randn(1, in_channels, height, width, generator=generator).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(out_channels, in_channels, 3, 3, generator=generator) / (9 * in_channels) ** 0.5
    bias = torch.randn(out_channels, generator=generator)
    cache = FilterCache()
    with torch.inference_mode():
        winograd_conv3x3(x, weight, bias, cache.get(weight))
        F.conv2d(x, weight, bias, padding=1)
        winograd_times, direct_times = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            winograd_conv3x3(x, weight, bias, cache.get(weight))
            winograd_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            F.conv2d(x, weight, bias, padding=1)
            direct_times.append(time.perf_counter() - started)
    winograd_seconds, direct_seconds = statistics.median(winograd_times), statistics.median(direct_times)
    return {
        "in": in_channels,
        "out": out_channels,
        "height": height,
        "width": width,
        "counts": counts,
        "direct_seconds": direct_seconds,
        "winograd_seconds": winograd_seconds,
        "ratio": winograd_seconds / direct_seconds,
        "rule": winograd_pays_off(in_channels, out_channels, height, width),
    }


def _bound(stage: dict[str, Any], shapes: list[dict[str, Any]], name: str) -> dict[str, float]:
    """What the shapes' own timings predict for one stage: the share of its direct time spent in convolutions
    on Winograd's path, and the ratio the stage would reach if only those changed, by their measured ratios.

    Args:
        stage: the stage's entry (its direct seconds are the whole).
        shapes: the timed shapes with their counts per stage.
        name: ``"encode"`` or ``"decode"``.
    """
    chosen = [(s["counts"][name], s) for s in shapes if s["rule"] and s["counts"][name]]
    on_path = sum(count * s["direct_seconds"] for count, s in chosen)
    saved = sum(count * (s["direct_seconds"] - s["winograd_seconds"]) for count, s in chosen)
    whole = stage["direct_seconds"]
    return {"share_of_direct": min(1.0, on_path / whole), "predicted_ratio": max(0.0, (whole - saved) / whole)}


def _child_peak(config: dict[str, Any], frame: int, stage: str, winograd: bool) -> float:
    """Peak resident memory (MiB) of a fresh process that builds the VAE and runs one stage once."""
    script = (
        "import json, sys, contextlib, torch\n"
        "from core.bench.winograd import _build, _stage\n"
        "from core.bench.engine import peak_rss_mb\n"
        "from core.model.winograd import direct_convolutions\n"
        "config, frame, stage, winograd = json.loads(sys.argv[1])\n"
        "vae = _build(config)\n"
        "call = _stage(vae, stage, frame)\n"
        "with torch.inference_mode(), (contextlib.nullcontext() if winograd else direct_convolutions()):\n"
        "    call()\n"
        "print(peak_rss_mb())\n"
    )
    argument = json.dumps([config, frame, stage, winograd])
    done = subprocess.run(
        [sys.executable, "-c", script, argument], capture_output=True, text=True, check=True, timeout=900
    )
    return float(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    from core.bench.section import section_main

    raise SystemExit(
        section_main(
            "python -m core.bench.winograd",
            "Time the VAE with Winograd's 3×3 convolutions against direct ones.",
            "a 128-channel VAE on a 128×128 frame, no child processes",
            run,
            describe,
        )
    )
