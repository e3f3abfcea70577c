"""The GPU check: ``python -m core.benchmark --gpu-check`` on a CUDA, ROCm or MPS machine, one JSON back.

Nobody on the team has such a machine at hand, so this is the one command to run when one is lent: it answers,
on that device, in exact mode (float32) and in the fast format the app picks there (float16 on GPUs):

1. **Golden parity**: the UNet's forward pass and the guided DDIM loop against the reference vectors
   (``../shared/reference/golden_tiny``), largest deviation and whether it is within the 1e-4 the CPU meets.
2. **Guided step**: one denoising step as the pipeline runs it (both guidance rows), with the self-λ
   positional filters applied row by row (the product's way) and by one padded product
   (:mod:`core.bench.self_lambda_variants`), with the dispatched operations per step, a proxy for kernel launches.
3. **VAE** encode and decode at 512×512.
4. **End to end**: a whole 512×512 inpaint through the pipeline as the app loads it, seconds per stage, peak
   device memory, and the largest pixel difference between the exact and the fast picture.
5. **Expectation**: what the measured matmul throughput and the work per step predict, next to the 26 ms per
   step the paper reports.

Every number comes from the same process on the same device. ``--device cpu`` lets the CPU stand in (the tests
do, with ``--quick``: the tiny configuration and two steps).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from core.bench.engine import _vae_config, count_gflop, randomize_batchnorm, time_call, write_end_to_end_model
from core.bench.precision import _deviation, _guided_step, _inputs, _random_model
from core.bench.self_lambda_variants import single_product_self_lambda
from core.model.unet import RELEASED_CONFIG, TINY_CONFIG

PAPER_STEP_MS = 26.0
REFERENCE_GFLOP_PER_STEP = 632.0
GOLDEN_TOLERANCE = 1e-4
# A typical cost of one dispatched GPU operation (launch plus the framework's own work), for the estimate.
LAUNCH_MICROSECONDS = 8.0
DEFAULT_GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "golden_tiny"


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def _median_seconds(fn: Callable[[], Any], device: str, repeats: int, warmup: bool = True) -> tuple[float, Any]:
    """Median seconds of ``repeats`` calls (after an untimed one unless ``warmup`` is false), each waiting for
    the device to finish, and the last call's result."""
    last: list[Any] = [None]

    def call() -> None:
        last[0] = fn()
        _sync(device)

    return statistics.median(time_call(call, repeats, warmup=int(warmup))), last[0]


class _OperationCounter(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Counts the operators that compute something (views excluded) while active: on a GPU each is (at least)
    one kernel launch."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.count = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if not func.is_view:
            self.count += 1
        return func(*args, **(kwargs or {}))


@contextmanager
def _unchanged() -> Iterator[None]:
    yield


def _target(device: str | None) -> dict[str, Any]:
    """The device to check and its exact and fast formats (the app's policy there)."""
    from backends.device import choose_device

    exact = choose_device(device or "auto", "exact")
    fast = choose_device(device or "auto", "auto")
    unet_fast, vae_fast = fast.dtype_name, fast.vae_dtype_name
    note = fast.reason
    if unet_fast == "float32":
        # A CPU without native bf16: the app's fast mode is float32 there, so bfloat16 stands in.
        unet_fast, note = "bfloat16", note + "; bfloat16 checked instead"
    name = exact.reason
    if exact.torch_device.startswith("cuda"):
        name = torch.cuda.get_device_name(exact.index)
    return {
        "device": exact.torch_device,
        "kind": exact.device,
        "backend": exact.backend,
        "name": name,
        "exact_reason": exact.reason,
        "fast_reason": note,
        "formats": {"float32": ("float32", "float32"), "fast": (unet_fast, vae_fast)},
    }


def _matmul_tflops(device: str, dtype: torch.dtype, size: int) -> float:
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    seconds, _ = _median_seconds(lambda: torch.mm(a, b), device, 5)
    return 2 * size**3 / seconds / 1e12


def check_golden(folder: Path, device: str, formats: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """The UNet's forward pass and the guided DDIM loop against the reference vectors, in each format."""
    from safetensors.torch import load_file

    from core.inpaint.pipeline import MoebiusPipeline
    from core.model.unet import load_moebius
    from core.model.vae import build_vae

    if not (folder / "weights.safetensors").is_file():
        return {"found": False, "folder": str(folder)}
    config = json.loads((folder / "config.json").read_text())
    inputs, expected = load_file(str(folder / "inputs.safetensors")), load_file(str(folder / "expected.safetensors"))
    loop_inputs = load_file(str(folder / "pipeline_inputs.safetensors"))
    loop_expected = load_file(str(folder / "pipeline_expected.safetensors"))
    loop_config = json.loads((folder / "pipeline_config.json").read_text())
    report: dict[str, Any] = {"found": True, "folder": str(folder), "tolerance": GOLDEN_TOLERANCE}
    for label, (unet_dtype, _) in formats.items():
        dtype = getattr(torch, unet_dtype)
        model = load_moebius(folder / "weights.safetensors", config=config).to(device=device, dtype=dtype)
        # The loop never runs the VAE; a tiny one only supplies the scaling factor.
        pipeline = MoebiusPipeline(model, build_vae(_vae_config(True)), device=device, dtype=dtype)
        with torch.inference_mode():
            out = model(inputs["sample"].to(device, dtype), inputs["timesteps"].to(device), inputs["input_ids"])
            generator = torch.Generator().manual_seed(loop_config["torch_seed"])
            noise = MoebiusPipeline.draw_noise(loop_inputs["latents"].shape, generator, loop_config["noise_offset"])
            mask = torch.nn.functional.interpolate(
                loop_inputs["mask_image_size"], size=loop_inputs["latents"].shape[-2:]
            ).float()
            final = pipeline.denoise(
                loop_inputs["latents"],
                loop_inputs["masked_latents"],
                mask,
                noise,
                steps=loop_config["num_steps"],
                strength=loop_config["strength"],
                guidance=loop_config["guidance_scale"],
            )
        forward = _deviation(out.float().cpu(), expected["sample"])
        loop = _deviation(final.float().cpu() / 0.13025, loop_expected["final_latents_div_scaling"])
        report[label] = {
            "format": unet_dtype,
            "forward": {**forward, "within_tolerance": forward["max_abs"] <= GOLDEN_TOLERANCE},
            "denoising_loop": {**loop, "within_tolerance": loop["max_abs"] <= GOLDEN_TOLERANCE},
        }
        del model, pipeline
    return report


def check_step(
    config: Mapping[str, Any], device: str, formats: Mapping[str, tuple[str, str]], repeats: int, warmup: bool = True
) -> dict[str, Any]:
    """One guided step, self-λ by rows and by one padded product, in each format; operations per step."""
    model = _random_model(config).to(device)
    sample, t, ids = (tensor.to(device) for tensor in _inputs(model))
    gflop = count_gflop(lambda: _guided_step(model, sample, t, ids, torch.float32))
    report: dict[str, Any] = {"gflop_counted": gflop}
    for variant, switch in (("row_loop", _unchanged), ("single_product", single_product_self_lambda)):
        with switch():
            counter = _OperationCounter()
            with counter:
                _guided_step(model, sample, t, ids, torch.float32)
            report[f"{variant}_operations"] = counter.count
    reference: torch.Tensor | None = None
    for label, (unet_dtype, _) in formats.items():
        dtype = getattr(torch, unet_dtype)
        model.to(dtype)  # in place: a GPU need not hold both copies

        def step(dtype: torch.dtype = dtype) -> tuple[torch.Tensor, torch.Tensor]:
            return _guided_step(model, sample, t, ids, dtype)

        entry: dict[str, Any] = {"format": unet_dtype}
        for variant, switch in (("row_loop", _unchanged), ("single_product", single_product_self_lambda)):
            with switch():
                entry[f"{variant}_seconds"], (eps, _) = _median_seconds(step, device, repeats, warmup)
            if reference is None:
                reference = eps
            entry[f"{variant}_noise_deviation"] = _deviation(eps, reference)
        entry["single_product_speedup"] = entry["row_loop_seconds"] / entry["single_product_seconds"]
        report[label] = entry
    return report


def check_vae(
    tiny: bool, device: str, formats: Mapping[str, tuple[str, str]], repeats: int, warmup: bool = True
) -> dict[str, Any]:
    """VAE encode and decode of a 512×512 frame in each format."""
    from core.model.vae import build_vae

    torch.manual_seed(0)
    vae = build_vae(_vae_config(tiny)).eval()
    randomize_batchnorm(vae)
    pixels = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(2)) * 2 - 1
    report: dict[str, Any] = {}
    reference: torch.Tensor | None = None
    for label, (_, vae_dtype) in formats.items():
        dtype = getattr(torch, vae_dtype)
        vae.to(device=device, dtype=dtype)
        x = pixels.to(device, dtype)
        with torch.inference_mode():
            encode_seconds, encoded = _median_seconds(partial(vae.encode, x), device, repeats, warmup)
            decode_seconds, decoded = _median_seconds(
                partial(vae.decode, encoded.latent_dist.mean), device, repeats, warmup
            )
            decoded = decoded.sample.float().cpu()
        entry = {"format": vae_dtype, "encode_seconds": encode_seconds, "decode_seconds": decode_seconds}
        if reference is None:
            reference = decoded
        entry["decode_deviation"] = _deviation(decoded, reference)
        report[label] = entry
    return report


def check_end_to_end(
    tiny: bool, kind: str, formats: Mapping[str, tuple[str, str]], steps: int, warmup: bool = True
) -> dict[str, Any]:
    """A whole 512×512 inpaint, loaded the way the app loads it, in exact mode and in fast mode."""
    import numpy as np

    from core.inpaint.loading import load_pipeline
    from core.weights.registry import ModelFiles

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    mask = np.zeros((512, 512), np.uint8)
    mask[160:352, 192:320] = 255
    report: dict[str, Any] = {"steps": steps}
    pictures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="moebius-gpu-check-") as temp:
        folder = Path(temp)
        write_end_to_end_model(folder, tiny=tiny)
        files = ModelFiles(folder / "unet" / "diffusion_pytorch_model.safetensors", folder / "vae")
        # Precision names are the formats' names: the fast run loads exactly the format checked elsewhere.
        for label, precision in (("float32", "exact"), ("fast", formats["fast"][0])):
            pipeline, info = load_pipeline(files, device=kind, precision=precision)
            if warmup:
                pipeline(image, mask, steps=2)
                pipeline.clear_encode_cache()  # the timed run encodes, as a first run on a photo does
            if kind == "cuda":
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            pictures[label] = pipeline(image, mask, steps=steps)
            seconds = time.perf_counter() - start
            entry: dict[str, Any] = {"seconds": seconds, "device": info.reason, **pipeline.timings.as_dict()}
            if kind == "cuda":
                entry["peak_device_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
            report[label] = entry
            del pipeline
    if len(pictures) == 2:
        difference = np.abs(pictures["float32"].astype(np.int16) - pictures["fast"].astype(np.int16))
        report["fast_max_pixel_difference"] = int(difference.max())
        report["fast_mean_pixel_difference"] = float(difference.mean())
    return report


def expectation(
    step: Mapping[str, Any], matmul: Mapping[str, float], formats: Mapping[str, tuple[str, str]]
) -> dict[str, Any]:
    """What the measured throughput and the work per step predict for a guided step, and why."""
    gflop = step["gflop_counted"]
    fast_tflops = matmul.get("fast", matmul["float32"])
    compute_ms = gflop / fast_tflops
    launches_ms = step["row_loop_operations"] * LAUNCH_MICROSECONDS / 1000
    single_ms = step["single_product_operations"] * LAUNCH_MICROSECONDS / 1000
    return {
        "paper_step_ms": PAPER_STEP_MS,
        "reference_gflop_per_step": REFERENCE_GFLOP_PER_STEP,
        "counted_gflop_per_step": gflop,
        "compute_bound_ms": compute_ms,
        "launch_bound_ms_row_loop": launches_ms,
        "launch_bound_ms_single_product": single_ms,
        "fast_format": formats["fast"][0],
        "why": (
            f"{gflop:.0f} GFLOP per guided step at the {fast_tflops:.1f} TFLOP/s a large {formats['fast'][0]} "
            f"matmul reaches here is {compute_ms:.1f} ms; the step dispatches {step['row_loop_operations']} "
            f"operations with the row loop ({step['single_product_operations']} with one padded product), about "
            f"{launches_ms:.1f} ms ({single_ms:.1f} ms) at {LAUNCH_MICROSECONDS:.0f} µs each, plus memory-bound "
            f"normalisations and depthwise convolutions; so a step costs roughly the larger of the two plus that "
            f"memory traffic, near the paper's {PAPER_STEP_MS:.0f} ms when launches dominate"
        ),
    }


def run(
    device: str | None = None, *, quick: bool = False, golden: Path = DEFAULT_GOLDEN, steps: int = 20, repeats: int = 3
) -> dict[str, Any]:
    """Everything the GPU check measures, as one JSON-compatible report.

    Args:
        device: ``"cuda"``, ``"rocm"``, ``"mps"`` or ``"cpu"``; ``None`` takes the app's automatic choice.
        quick: the tiny configuration, two end-to-end steps, one timed repeat and no warm-up (a smoke run).
        golden: the folder of reference vectors.
        steps: steps of the end-to-end runs.
        repeats: timed runs per measurement (the median is reported).
    """
    target = _target(device)
    torch_device, formats = target["device"], target["formats"]
    if quick:
        steps, repeats = 2, 1
    size = 512 if quick else 4096
    matmul = {label: _matmul_tflops(torch_device, getattr(torch, unet), size) for label, (unet, _) in formats.items()}
    config = TINY_CONFIG if quick else RELEASED_CONFIG
    report: dict[str, Any] = {
        "command": "python -m core.benchmark --gpu-check",
        "machine": {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "hip": getattr(torch.version, "hip", None),
            "device": target["name"],
            "backend": target["backend"],
        },
        "device": torch_device,
        "exact": target["exact_reason"],
        "fast": target["fast_reason"],
        "configuration": "tiny" if quick else "released",
        "matmul_tflops": matmul,
    }
    report["golden"] = check_golden(golden, torch_device, formats)
    # A smoke run skips the untimed warm-up calls: its numbers only show that everything runs.
    warmup = not quick
    report["guided_step"] = check_step(config, torch_device, formats, repeats, warmup)
    report["vae"] = check_vae(quick, torch_device, formats, repeats, warmup)
    report["end_to_end"] = check_end_to_end(quick, target["kind"], formats, steps, warmup)
    report["expectation"] = expectation(report["guided_step"], matmul, formats)
    return report


def describe(report: Mapping[str, Any]) -> list[str]:
    """Readable lines for a report from :func:`run`."""
    lines = [
        f"GPU check on {report['machine']['device']} ({report['device']}), {report['configuration']} configuration"
    ]
    lines.append(f"  exact: {report['exact']}; fast: {report['fast']}")
    lines.append("  matmul: " + ", ".join(f"{k} {v:.2f} TFLOP/s" for k, v in report["matmul_tflops"].items()))
    golden = report["golden"]
    if not golden["found"]:
        lines.append(f"  golden parity: NOT RUN, no reference vectors in {golden['folder']} (use --golden DIR)")
    else:
        for label in ("float32", "fast"):
            if label in golden:
                g = golden[label]
                forward, loop = g["forward"], g["denoising_loop"]
                verdict = {True: "within", False: "outside"}
                lines.append(
                    f"  golden {label} ({g['format']}): forward max |Δ| {forward['max_abs']:.2e} "
                    f"({100 * forward['relative']:.3f} % of the largest value; {verdict[forward['within_tolerance']]}"
                    f" 1e-4), denoising loop {loop['max_abs']:.2e} ({100 * loop['relative']:.3f} %; "
                    f"{verdict[loop['within_tolerance']]} 1e-4)"
                )
    step = report["guided_step"]
    for label in ("float32", "fast"):
        if label in step:
            s = step[label]
            lines.append(
                f"  guided step {label} ({s['format']}): row loop {1000 * s['row_loop_seconds']:.1f} ms, one padded "
                f"product {1000 * s['single_product_seconds']:.1f} ms ({s['single_product_speedup']:.2f}×)"
            )
    lines.append(
        f"  operations per guided step: row loop {step['row_loop_operations']}, padded product "
        f"{step['single_product_operations']}; {step['gflop_counted']:.1f} GFLOP counted"
    )
    for label, v in report["vae"].items():
        lines.append(
            f"  VAE {label} ({v['format']}): encode {1000 * v['encode_seconds']:.0f} ms, decode "
            f"{1000 * v['decode_seconds']:.0f} ms"
        )
    e2e = report["end_to_end"]
    for label in ("float32", "fast"):
        if label in e2e:
            r = e2e[label]
            memory = f", peak {r['peak_device_memory_mb']:.0f} MiB" if "peak_device_memory_mb" in r else ""
            lines.append(
                f"  end to end 512², {e2e['steps']} steps, {label}: {r['seconds']:.2f} s (encode {r['encode']:.2f}, "
                f"denoise {r['denoise']:.2f}, decode {r['decode']:.2f}){memory}"
            )
    if "fast_max_pixel_difference" in e2e:
        lines.append(
            f"  fast picture vs exact: max {e2e['fast_max_pixel_difference']} levels, mean "
            f"{e2e['fast_mean_pixel_difference']:.2f}"
        )
    lines.append(f"  expectation: {report['expectation']['why']}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.benchmark --gpu-check", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--device",
        choices=("cuda", "rocm", "mps", "cpu"),
        default=None,
        help="device to check (default: the app's automatic choice; cpu stands in for a GPU)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny configuration, 2 steps, 1 repeat (smoke run)")
    parser.add_argument("--golden", type=Path, default=DEFAULT_GOLDEN, help="folder of the reference vectors")
    parser.add_argument("--steps", type=int, default=20, help="steps of the end-to-end runs")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (median reported)")
    parser.add_argument("--json", type=Path, default=Path("gpu-check.json"), help="where to write the report")
    args = parser.parse_args(argv)
    report = run(args.device, quick=args.quick, golden=args.golden, steps=args.steps, repeats=args.repeats)
    print("\n".join(describe(report)))
    args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"written {args.json}")
    return 0
