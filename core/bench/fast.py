"""Benchmark of the fast int8 mode (``--precision int8``) against exact float32 on this CPU.

Both models are loaded the way the app loads them (:func:`core.inpaint.loading.load_pipeline` over random
weights with randomised BatchNorm statistics, written as memory-mapped safetensors in the released layout),
once with precision ``exact`` and once with ``int8``. Reported:

* **step**: one guided UNet step at 512×512 as the pipeline runs it on the CPU (the two guidance rows as two
  calls): seconds of each mode (medians of interleaved runs in one process), the speed-up, and the time per
  component (resnets, self-λ, cross-λ, Mix-FFN, up/down convs, the rest) from one extra step of each;
* **trajectory**: a whole default DDIM run (20 steps at strength 0.99: 19 steps) from the same start, each mode
  on its own: the largest and mean absolute difference of the guided noise prediction and of the latents
  after every step;
* **end to end**: the real engine (:class:`core.inpaint.moebius.MoebiusEngine`) on a 512×512 sample photo and
  its mask from ``../shared/samples``, same seed: each mode's seconds and the picture's difference in 0–255
  levels (largest, mean over the picture, mean inside the mask).

This machine's CPU may have native bfloat16 (then ``auto`` picks bfloat16 and int8 is not what the app would
use here); int8 is for CPUs without it, but it is always measured against exact float32.
``--quick`` uses the tiny configuration and a few steps.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

TARGET_SPEEDUP = 1.8
STEPS = 20
SEED = 0
SAMPLE = "astronaut"


def run(quick: bool = False) -> dict[str, Any]:
    """Measure the int8 mode against exact float32.

    Args:
        quick: the tiny configuration, 4 denoising steps, two timed steps per mode.

    Returns:
        A JSON-compatible report: ``device`` lines of both modes, ``int8`` (what was quantized), ``step``,
        ``trajectory`` and ``end_to_end`` (see the module docstring), ``config`` and ``target_speedup``.
    """
    from core.bench.engine import write_end_to_end_model
    from core.inpaint.loading import load_pipeline
    from core.model.quantized import int8_layers, int8_weight_bytes
    from core.weights.registry import ModelFiles

    steps = 4 if quick else STEPS
    with tempfile.TemporaryDirectory(prefix="moebius-bench-fast-") as temp:
        folder = Path(temp)
        write_end_to_end_model(folder, tiny=quick)
        files = ModelFiles(folder / "unet" / "diffusion_pytorch_model.safetensors", folder / "vae")
        exact, exact_info = load_pipeline(files, device="cpu", precision="exact")
        fast, fast_info = load_pipeline(files, device="cpu", precision="int8")
        quantized = int8_layers(fast.model)
        if not quantized or int8_layers(exact.model):
            raise RuntimeError("the int8 pipeline has no int8 layers, or the exact one has some")
        # 1. One guided step, interleaved, then one more of each with the component timer.
        step = _step(exact.model, fast.model, repeats=2 if quick else 5)
        # 2. A whole DDIM trajectory of each mode from the same start.
        trajectory = _trajectory(exact, fast, steps)
        # 3. The engine on a real photo.
        end_to_end = _end_to_end(exact, fast, files, exact_info, fast_info, steps, repeats=1 if quick else 2)
    return {
        "config": "tiny" if quick else "released",
        "target_speedup": TARGET_SPEEDUP,
        "device": {"exact": exact_info.reason, "int8": fast_info.reason},
        "int8": {"layers": len(quantized), "weight_bytes": int8_weight_bytes(fast.model)},
        "step": step,
        "trajectory": trajectory,
        "end_to_end": end_to_end,
    }


def describe(report: Mapping[str, Any]) -> list[str]:
    """Readable lines for a report from :func:`run`.

    Args:
        report: what :func:`run` returned.
    """
    step, e2e = report["step"], report["end_to_end"]
    verdict = "meets" if step["speedup"] >= report["target_speedup"] else "misses"
    lines = [
        f"Fast int8 mode against exact float32, {report['config']} configuration, 512² frame, this CPU:",
        f"  exact: {report['device']['exact']}",
        f"  int8:  {report['device']['int8']} ({report['int8']['layers']} layers with int8 products, "
        f"{report['int8']['weight_bytes'] / 2**20:.0f} MiB of int8 weights beside the float ones)",
        f"  guided step: exact {step['exact']:.3f} s, int8 {step['int8']:.3f} s → {step['speedup']:.2f}× "
        f"(median of {len(step['exact_runs'])}; {verdict} the {report['target_speedup']:.1f}× target)",
        "    runs (s): exact "
        + ", ".join(f"{s:.3f}" for s in step["exact_runs"])
        + "; int8 "
        + ", ".join(f"{s:.3f}" for s in step["int8_runs"]),
    ]
    parts = sorted(set(step["components"]["exact"]) | set(step["components"]["int8"]))
    lines.append(
        "  by component (exact → int8 s): "
        + ", ".join(
            f"{part} {step['components']['exact'].get(part, 0.0):.3f} → {step['components']['int8'].get(part, 0.0):.3f}"
            for part in parts
        )
    )
    lines.append("  per step, |int8 − exact| of the guided noise (max / mean) and of the latents (max / mean):")
    for row in report["trajectory"]:
        lines.append(
            f"    t={row['timestep']:4d}: noise {row['noise_max']:.4f} / {row['noise_mean']:.5f}   "
            f"latents {row['latents_max']:.4f} / {row['latents_mean']:.5f}"
        )
    lines.append(
        f"  end to end ({e2e['sample']}, {e2e['steps']} steps, seed {e2e['seed']}): "
        f"exact {e2e['exact_seconds']:.2f} s, int8 {e2e['int8_seconds']:.2f} s "
        f"({e2e['exact_seconds'] / e2e['int8_seconds']:.2f}×); picture "
        f"difference max {e2e['max_levels']} levels, mean {e2e['mean_levels']:.2f}, "
        f"mean inside the mask {e2e['mean_levels_in_mask']:.2f}"
    )
    for name, runs in e2e["runs"].items():
        lines.append(
            f"    {name:5s} runs: "
            + "; ".join(
                f"{r['seconds']:.2f} s (encode {r['encode']:.2f}, denoise {r['denoise']:.2f}, decode {r['decode']:.2f})"
                for r in runs
            )
        )
    return lines


def _guided_call(model: torch.nn.Module, sample: Tensor, t: Tensor, ids: Tensor) -> Tensor:
    """The two guidance rows as two calls, as the pipeline runs them on the CPU."""
    with torch.inference_mode():
        return torch.cat([model(sample[i : i + 1], t, ids[i : i + 1]) for i in range(sample.shape[0])])


def _step(exact: torch.nn.Module, fast: torch.nn.Module, repeats: int) -> dict[str, Any]:
    from core.bench.engine import component_timer
    from core.bench.precision import _inputs

    sample, t, ids = _inputs(exact)  # type: ignore[arg-type]
    # One untimed call each (first-call costs), then interleaved timed calls.
    _guided_call(exact, sample, t, ids)
    _guided_call(fast, sample, t, ids)
    runs: dict[str, list[float]] = {"exact": [], "int8": []}
    for _ in range(repeats):
        for name, model in (("exact", exact), ("int8", fast)):
            started = time.perf_counter()
            _guided_call(model, sample, t, ids)
            runs[name].append(time.perf_counter() - started)
    components: dict[str, dict[str, float]] = {}
    for name, model in (("exact", exact), ("int8", fast)):
        totals: dict[str, float] = {}
        started = time.perf_counter()
        with component_timer(model, totals):
            _guided_call(model, sample, t, ids)
        totals["rest"] = time.perf_counter() - started - sum(totals.values())
        components[name] = totals
    exact_s, fast_s = statistics.median(runs["exact"]), statistics.median(runs["int8"])
    return {
        "exact": exact_s,
        "int8": fast_s,
        "speedup": exact_s / fast_s,
        "exact_runs": runs["exact"],
        "int8_runs": runs["int8"],
        "components": components,
    }


def _trajectory(exact: Any, fast: Any, steps: int) -> list[dict[str, Any]]:
    """Per-step deviation of the guided noise and the latents over a whole run of each mode."""
    from core.inpaint.pipeline import DenoiseTrace
    from core.job.options import DEFAULT_STRENGTH

    side = exact.model.sample_size
    generator = torch.Generator().manual_seed(SEED)
    latents = torch.randn(1, 4, side, side, generator=generator)
    masked = torch.randn(1, 4, side, side, generator=generator)
    mask = torch.zeros(1, 1, side, side)
    mask[..., side // 4 : 3 * side // 4, side // 3 : 2 * side // 3] = 1.0
    noise = torch.randn(1, 4, side, side, generator=generator)
    traces = []
    for pipeline in (exact, fast):
        trace = DenoiseTrace()
        with torch.inference_mode():
            pipeline.denoise(latents, masked, mask, noise, steps=steps, trace=trace)
        traces.append(trace)
    timesteps = exact.timesteps(steps, DEFAULT_STRENGTH)
    rows = []
    for i, t in enumerate(timesteps):
        noise_diff = (traces[1].guided[i] - traces[0].guided[i]).abs()
        latent_diff = (traces[1].latents[i] - traces[0].latents[i]).abs()
        rows.append(
            {
                "timestep": int(t),
                "noise_max": float(noise_diff.max()),
                "noise_mean": float(noise_diff.mean()),
                "latents_max": float(latent_diff.max()),
                "latents_mean": float(latent_diff.mean()),
            }
        )
    return rows


def _end_to_end(
    exact: Any, fast: Any, files: Any, exact_info: Any, fast_info: Any, steps: int, repeats: int
) -> dict[str, Any]:
    from core.inpaint.moebius import MoebiusEngine
    from core.job.request import InpaintRequest
    from core.job.settings import JobSettings

    photo, mask = _sample()
    settings = JobSettings(steps=steps, engine="moebius", seed=SEED)
    engines = {"exact": MoebiusEngine(exact, files, exact_info), "int8": MoebiusEngine(fast, files, fast_info)}
    pictures: dict[str, npt.NDArray[np.uint8]] = {}
    runs: dict[str, list[dict[str, float]]] = {"exact": [], "int8": []}
    for engine in engines.values():
        # An untimed short run first (first-call costs of every kernel), on another seed.
        engine.inpaint(InpaintRequest(photo, mask, settings.replace(steps=2, seed=SEED + 1)))
    for _ in range(repeats):
        # Interleaved, so that both modes see the same drift of this machine's speed.
        for name, engine in engines.items():
            # Encoded afresh, as a first run on a photo is (the warm-up kept this photo's posteriors).
            engine.pipeline.clear_encode_cache()
            started = time.perf_counter()
            result = engine.inpaint(InpaintRequest(photo, mask, settings))
            seconds = time.perf_counter() - started
            stages = {stage: result.timings[f"model.{stage}"] for stage in ("encode", "denoise", "decode")}
            runs[name].append({"seconds": seconds, **stages})
            if name in pictures and not np.array_equal(pictures[name], result.image):
                raise RuntimeError(f"the {name} mode gave a different picture on its second run")
            pictures[name] = result.image
    diff = np.abs(pictures["int8"].astype(np.int16) - pictures["exact"].astype(np.int16))
    inside = mask >= 128
    return {
        "sample": f"{SAMPLE}.png",
        "steps": steps,
        "seed": SEED,
        "exact_seconds": statistics.median(run["seconds"] for run in runs["exact"]),
        "int8_seconds": statistics.median(run["seconds"] for run in runs["int8"]),
        "runs": runs,
        "max_levels": int(diff.max()),
        "mean_levels": float(diff.mean()),
        "mean_levels_in_mask": float(diff[inside].mean()),
    }


def _sample() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """The 512×512 sample photo and its mask."""
    from PIL import Image

    from core.bench.dust import samples_folder

    folder = samples_folder()
    photo = np.asarray(Image.open(folder / f"{SAMPLE}.png").convert("RGB"), dtype=np.uint8)
    mask = np.asarray(Image.open(folder / f"{SAMPLE}_mask.png").convert("L"), dtype=np.uint8)
    return photo, mask


if __name__ == "__main__":
    from core.bench.section import section_main

    raise SystemExit(
        section_main(
            "python -m core.bench.fast",
            "Time the fast int8 mode against exact float32 and measure how far its pictures move.",
            "the tiny configuration and 4 denoising steps",
            run,
            describe,
        )
    )
