"""Benchmark of the Moebius engine on this machine: ``python -m core.bench``.

Prints a table and optionally writes the same numbers as JSON. Everything is measured in one process, so the
ratios (achieved GFLOP/s against a large matmul's GFLOP/s measured moments before) are meaningful even on a
noisy machine; absolute seconds are not comparable across runs or machines.

Measured, for the tiny test configuration and the released configuration (random weights, BatchNorm statistics
randomised, 512×512 frame):

* seconds per guided UNet step (batch 2), split by component (self-λ, cross-λ, Mix-FFN, resnets, samplers);
* VAE encode and decode seconds at 512×512;
* achieved GFLOP/s, counted against the reference work of 632 GFLOP per guided step (and against this
  implementation's own FLOP count), next to a large float32 matmul's GFLOP/s;
* model load time from ``.bin`` and ``.safetensors``;
* peak resident memory of the process;
* optionally (``--end-to-end``) a whole 20-step inpaint of a 512×512 photo.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.inpaint.resident import freed_memory_reused
from core.model.unet import RELEASED_CONFIG, TINY_CONFIG, MoebiusModel
from core.model.vae import BUNDLED_VAE_CONFIG

# Work per call of the reference implementation (shared/reference/ARCHITECTURE.md §11), in GFLOP.
REFERENCE_GFLOP = {"unet_step": 632.0, "vae_encode": 1082.0, "vae_decode": 2480.0}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB.

    On Linux this is ``VmHWM`` of ``/proc/self/status``, which starts afresh when a program is started:
    ``getrusage``'s ``ru_maxrss`` survives ``exec`` and would report the benchmark's own (larger) peak for the
    end-to-end child processes it starts.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage / 1024.0 if sys.platform != "darwin" else usage / (1024.0 * 1024.0)


def time_call(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """Best float32 matmul throughput of this process, a practical peak to compare against."""
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    times = time_call(lambda: torch.mm(a, b), repeats, warmup=2)
    return 2 * size**3 / min(times) / 1e9


def count_gflop(fn: Callable[[], object]) -> float:
    """FLOPs of one call as counted by torch's FLOP counter (matmuls and convolutions), in GFLOP."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops() / 1e9


def randomize_batchnorm(module: nn.Module, seed: int = 1) -> None:
    generator = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=generator) * 0.1)
            assert m.running_var is not None
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=generator) + 0.5)


def component_of(name: str, module: nn.Module) -> str | None:
    """Which reported component a module belongs to (by its released name)."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "attn1":
        return "self-λ"
    if leaf == "attn2":
        return "cross-λ"
    if leaf == "ff":
        return "Mix-FFN"
    if ".resnets." in f".{name}" and name.split(".")[-2] == "resnets":
        return "resnets"
    if name.endswith(("downsamplers.0", "upsamplers.0")):
        return "up/down convs"
    return None


@contextmanager
def component_timer(model: nn.Module, totals: dict[str, float]) -> Iterator[None]:
    """Accumulate wall time per component with forward hooks while the context is open."""
    starts: dict[int, float] = {}
    handles = []
    for name, module in model.named_modules():
        component = component_of(name, module)
        if component is None:
            continue

        def pre(m: nn.Module, _args: object) -> None:
            starts[id(m)] = time.perf_counter()

        def post(m: nn.Module, _args: object, _out: object, component: str = component) -> None:
            totals[component] = totals.get(component, 0.0) + time.perf_counter() - starts.pop(id(m))

        handles.append(module.register_forward_pre_hook(pre))
        handles.append(module.register_forward_hook(post))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def bench_unet(config: dict[str, Any], repeats: int, peak: float, with_reference: bool = False) -> dict[str, Any]:
    torch.manual_seed(0)
    model = MoebiusModel(config)
    randomize_batchnorm(model)
    side = model.sample_size
    sample = torch.randn(2, model.in_channels, side, side)
    ids = torch.tensor([list(range(10, 20)), list(range(10))])
    t = torch.tensor([500])

    def joint_step() -> object:
        with torch.inference_mode():
            return model(sample, t, ids)

    def split_step() -> object:
        # How the pipeline runs a guided step on the CPU: the two rows as two calls (half the activation
        # memory, at about the speed of one batch-2 call).
        with torch.inference_mode():
            return [model(sample[i : i + 1], t, ids[i : i + 1]) for i in range(2)]

    # The machine's speed drifts with other load (its matmul rate moved by ±10 % between runs): pair every
    # timed step with a matmul measured just before it, and compare each step with its own pair. Freed
    # activations are kept for reuse between calls, as the pipeline's denoising loop keeps them.
    pairs: dict[str, list[tuple[float, float]]] = {"joint": [], "split": []}
    with freed_memory_reused():
        joint_step()
        split_step()
        for _ in range(repeats):
            for name, fn in (("joint", joint_step), ("split", split_step)):
                pair_peak = matmul_gflops(repeats=3)
                pairs[name].append((pair_peak, time_call(fn, 1, warmup=0)[0]))
    joint_times = [seconds for _, seconds in pairs["joint"]]
    split_times = [seconds for _, seconds in pairs["split"]]
    step, times = split_step, split_times
    peak = max(peak, *(pair_peak for pair_peak, _ in pairs["split"]))
    reference_seconds = None
    if with_reference:
        from core.bench.reference import reference_forward

        state = model.state_dict()

        def reference_step() -> object:
            with torch.inference_mode():
                return reference_forward(state, model.config, sample, 500, ids)

        reference_seconds = min(time_call(reference_step, 1))
    components: dict[str, float] = {}
    with freed_memory_reused(), component_timer(model, components):
        step()
    counted = count_gflop(joint_step)
    seconds = statistics.median(times)
    result: dict[str, Any] = {
        "seconds_per_guided_step": seconds,
        "runs": times,
        "guided_step_as": "two batch-1 calls (the pipeline's way on the CPU)",
        "batch2_seconds": statistics.median(joint_times),
        "counted_gflop": counted,
        "achieved_gflops_counted": counted / seconds,
        "components_seconds": components,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if reference_seconds is not None:
        result["straightforward_seconds"] = reference_seconds
        result["speedup_vs_straightforward"] = reference_seconds / seconds
    result["matmul_gflops"] = peak
    if config == RELEASED_CONFIG:
        work = REFERENCE_GFLOP["unet_step"]
        result["achieved_gflops_reference_work"] = work / seconds
        # Each step against the matmul measured right before it; the median of those shares.
        for name in ("split", "joint"):
            shares = [work / seconds / pair_peak for pair_peak, seconds in pairs[name]]
            key = "share_of_matmul_peak" if name == "split" else "batch2_share_of_matmul_peak"
            result[key] = statistics.median(shares)
            result[f"{key}_runs"] = shares
    return result


def _vae_config(tiny: bool) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(BUNDLED_VAE_CONFIG.read_text())
    if tiny:
        # The released VAE shrunk to 16 channels per level, as the tests' tiny checkpoints have it.
        config.update(block_out_channels=[16, 16, 16, 16], norm_num_groups=8, layers_per_block=1)
    return config


def reference_vae(config: dict[str, Any]) -> nn.Module:
    """The reference implementation's autoencoder (diffusers' ``AutoencoderKL``), for comparisons only."""
    from diffusers import AutoencoderKL

    vae: nn.Module = AutoencoderKL.from_config(config)
    return vae.eval()


def bench_vae(tiny: bool, repeats: int) -> dict[str, Any]:
    """Encode and decode seconds at 512×512, for this implementation and the reference one (same weights)."""
    from core.model.vae import build_vae

    config = _vae_config(tiny)
    torch.manual_seed(0)
    vae = build_vae(config).eval()
    image = torch.rand(1, 3, 512, 512) * 2 - 1
    latents = torch.randn(1, 4, 64, 64)
    report: dict[str, Any] = {}
    outputs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    reference = reference_vae(config)
    reference.load_state_dict(vae.state_dict())
    for name, model in (("", vae), ("reference_", reference)):

        def encode(model: Any = model) -> torch.Tensor:
            with torch.inference_mode():
                mean: torch.Tensor = model.encode(image).latent_dist.mean
                return mean

        def decode(model: Any = model) -> torch.Tensor:
            with torch.inference_mode():
                sample: torch.Tensor = model.decode(latents).sample
                return sample

        warmup = 1 if tiny else 0
        report[f"{name}encode_seconds"] = statistics.median(time_call(encode, repeats, warmup=warmup))
        report[f"{name}decode_seconds"] = statistics.median(time_call(decode, repeats, warmup=warmup))
        outputs[name] = (encode(), decode())
    ours, theirs = outputs[""], outputs["reference_"]
    report["encode_max_deviation"] = float((ours[0] - theirs[0]).abs().max())
    report["decode_max_deviation"] = float((ours[1] - theirs[1]).abs().max())
    return report


# Further sections live beside the code they measure; each module offers run(quick) -> report and
# describe(report) -> lines. They run when their flag is given (or with --all).
SECTIONS: dict[str, tuple[str, str]] = {
    "load": ("core.bench.weights", "model load time from .bin and .safetensors"),
    "precision": ("core.bench.precision", "fp16/bf16 deviation from fp32 on one guided step"),
    "photo": ("core.bench.photo", "a 24 MP photo: read, plan, model, composite, write"),
    "batch": ("core.bench.batch", "photos per minute for 512×512 and 24 MP folders; read-ahead gain"),
    "variations": ("core.bench.variations", "a second seed on the same photo against the first (encodes reused)"),
    "selection": ("core.bench.selection", "selecting an object by its box, and its shadow, on a 24 MP photo"),
    "dust": ("core.bench.dust", "sensor-dust recall and false positives by spot radius and contrast"),
    "cluster": ("core.bench.cluster", "photos per minute on a local Ray cluster (1 and 2 CPU actors) vs this computer"),
    "winograd": ("core.bench.winograd", "VAE encode/decode with Winograd 3×3 convolutions against direct ones"),
    "fast": ("core.bench.fast", "the int8 fast mode against exact mode: step time, deviation per step and end to end"),
    # Last: it reuses the sections above that this run already measured.
    "speed": (
        "core.bench.speed",
        "every speed target with its ratio (Winograd, end to end, second seed, int8, golden)",
    ),
}


def run_section(name: str, quick: bool, done: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one section; ``done`` holds the sections this run measured before (the summary reuses them)."""
    import importlib

    module = importlib.import_module(SECTIONS[name][0])
    if name == "speed":
        summary: dict[str, Any] = module.run(quick, done=done)
        return summary
    report: dict[str, Any] = module.run(quick)
    return report


def describe_section(name: str, report: dict[str, Any]) -> list[str]:
    import importlib

    lines: list[str] = importlib.import_module(SECTIONS[name][0]).describe(report)
    return lines


class _StraightforwardModel(nn.Module):
    """Adapter that lets the pipeline run the plain transcription (for the end-to-end comparison)."""

    def __init__(self, state: dict[str, torch.Tensor], config: dict[str, Any], sample_size: int) -> None:
        super().__init__()
        self.state = state
        self.config = config
        self.sample_size = sample_size

    def forward(self, sample: torch.Tensor, timesteps: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        from core.bench.reference import reference_forward

        return reference_forward(self.state, self.config, sample, int(timesteps.reshape(-1)[0]), input_ids)


def write_end_to_end_model(folder: Path, *, tiny: bool = False) -> None:
    """Random weights of the released (or the tiny) configuration in the released folder layout, as
    safetensors files (``folder/unet`` and ``folder/vae``)."""
    from safetensors.torch import save_file

    from core.model.vae import build_vae

    torch.manual_seed(0)
    model = MoebiusModel(dict(TINY_CONFIG) if tiny else None)
    randomize_batchnorm(model)
    for name, module, config in (
        ("unet", model, {"model_kwargs": model.config}),
        ("vae", build_vae(_vae_config(tiny)), _vae_config(tiny)),
    ):
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name / "config.json").write_text(json.dumps(config))
        state = {key: value.contiguous() for key, value in module.state_dict().items()}
        save_file(state, str(folder / name / "diffusion_pytorch_model.safetensors"))


def end_to_end_child(implementation: str, steps: int, folder: Path) -> dict[str, Any]:
    """One whole 512×512 inpaint with the released configuration (random weights from ``folder``).

    ``optimised`` loads the files the way the app does (:func:`core.inpaint.loading.load_pipeline`: memory-mapped
    weights, this project's VAE and scheduler); ``direct-convolutions`` is the same with every Winograd
    convolution computed directly (:func:`core.model.winograd.direct_convolutions`), i.e. as before Winograd
    came in, the baseline of its end-to-end gain; ``straightforward`` reads them into memory and runs the plain
    transcription of the UNet with the reference implementation's VAE and DDIM scheduler (diffusers). Run in
    a fresh process per implementation (see :func:`bench_end_to_end`) so its peak memory is its own.
    """
    import numpy as np

    from core.inpaint.pipeline import MoebiusPipeline

    unet_file = folder / "unet" / "diffusion_pytorch_model.safetensors"
    if implementation in ("optimised", "direct-convolutions"):
        from core.inpaint.loading import load_pipeline
        from core.weights.registry import ModelFiles

        pipeline, _ = load_pipeline(ModelFiles(unet_file, folder / "vae"), device="cpu", precision="float32")
    else:
        from diffusers import DDIMScheduler
        from safetensors.torch import load_file

        from core.inpaint.pipeline import make_scheduler

        config = json.loads((folder / "unet" / "config.json").read_text())["model_kwargs"]
        unet = _StraightforwardModel(load_file(str(unet_file)), config, int(config["sample_size"]))
        vae = reference_vae(_vae_config(False))
        vae.load_state_dict(load_file(str(folder / "vae" / "diffusion_pytorch_model.safetensors")))
        ours = make_scheduler()
        scheduler = DDIMScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            num_train_timesteps=ours.num_train_timesteps,
            clip_sample=False,
            set_alpha_to_one=True,
            steps_offset=0,
            timestep_spacing="leading",
            prediction_type="epsilon",
        )
        pipeline = MoebiusPipeline(unet, vae, scheduler, release_between_stages=False)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    mask = np.zeros((512, 512), np.uint8)
    mask[160:352, 192:320] = 255
    from core.model.winograd import direct_convolutions

    with direct_convolutions() if implementation == "direct-convolutions" else contextlib.nullcontext():
        start = time.perf_counter()
        result = pipeline(image, mask, steps=steps)
        seconds = time.perf_counter() - start
    np.save(folder / f"result_{implementation}.npy", result)
    from core.model.winograd import winograd_call_count

    return {
        "seconds": seconds,
        "steps": steps,
        "peak_rss_mb": peak_rss_mb(),
        "winograd_calls": winograd_call_count(),
        **pipeline.timings.as_dict(),
    }


END_TO_END_CHILDREN = ("optimised", "direct-convolutions", "straightforward")


def bench_end_to_end(steps: int, baseline: str = "straightforward", *, tiny: bool = False) -> dict[str, Any]:
    """Whole inpaints by this implementation and by a ``baseline`` (see :func:`end_to_end_child`), each in its
    own process (a third writes the weights first, so that no process's peak includes building them).

    Args:
        steps: denoising steps of each run.
        baseline: ``"straightforward"`` (the plain transcription) or ``"direct-convolutions"`` (this
            implementation without Winograd).
        tiny: the tiny configuration instead of the released one (smoke runs).
    """
    import subprocess
    import tempfile

    import numpy as np

    out: dict[str, Any] = {"baseline": baseline}
    names = ("optimised", baseline)
    with tempfile.TemporaryDirectory(prefix="moebius-bench-") as temp:
        base = [sys.executable, "-m", "core.bench", "--steps", str(steps), "--model-folder", temp]
        subprocess.run(
            [*base, "--write-model", *(["--quick"] if tiny else [])], capture_output=True, text=True, check=True
        )
        for implementation in names:
            done = subprocess.run(
                [*base, "--end-to-end-child", implementation], capture_output=True, text=True, check=True
            )
            out[implementation] = json.loads(done.stdout.strip().splitlines()[-1])
        # Same seed, same weights: the two pictures should agree up to float32 rounding (a few levels at most).
        results = [np.load(Path(temp) / f"result_{name}.npy").astype(np.int16) for name in names]
        out["max_pixel_difference"] = int(np.abs(results[0] - results[1]).max())
    out["time_ratio"] = out["optimised"]["seconds"] / out[baseline]["seconds"]
    return out


def print_table(report: dict[str, Any]) -> None:
    print(f"Moebius Studio benchmark — {report['machine']}")
    print(
        f"torch {report['torch']}, {report['threads']} threads; float32 matmul peak "
        f"{report['matmul_gflops']:.1f} GFLOP/s"
    )
    for name, section in report["configs"].items():
        unet = section["unet"]
        print(f"\n[{name}] {unet['parameters']:,} parameters")
        print(
            f"  guided UNet step             {unet['seconds_per_guided_step']:8.3f} s   "
            f"{unet['counted_gflop']:.1f} GFLOP counted, {unet['achieved_gflops_counted']:.1f} GFLOP/s"
        )
        if "batch2_seconds" in unet:
            print(f"    as {unet['guided_step_as']}; one batch-2 call takes {unet['batch2_seconds']:.3f} s")
        if "share_of_matmul_peak" in unet:
            runs = ", ".join(f"{100 * share:.0f}" for share in unet["share_of_matmul_peak_runs"])
            print(
                f"  against the reference 632 GFLOP: {unet['achieved_gflops_reference_work']:.1f} GFLOP/s = "
                f"{100 * unet['share_of_matmul_peak']:.0f} % of the matmul peak (median of {runs} %, each step "
                f"against a matmul timed just before it); one batch-2 call: "
                f"{100 * unet['batch2_share_of_matmul_peak']:.0f} %"
            )
        if "straightforward_seconds" in unet:
            print(
                f"  straightforward transcription {unet['straightforward_seconds']:7.3f} s   "
                f"→ this implementation is {unet['speedup_vs_straightforward']:.2f}× as fast"
            )
        for component, seconds in sorted(unet["components_seconds"].items(), key=lambda kv: -kv[1]):
            print(f"    {component:<26} {seconds:8.3f} s")
        vae = section.get("vae")
        if vae:
            for stage in ("encode", "decode"):
                seconds, reference = vae[f"{stage}_seconds"], vae[f"reference_{stage}_seconds"]
                print(
                    f"  VAE {stage} 512×512           {seconds:8.3f} s   reference {reference:.3f} s "
                    f"({reference / seconds:.2f}× as long), max deviation {vae[f'{stage}_max_deviation']:.1e}"
                )
    for name in SECTIONS:
        if name in report.get("sections", {}):
            print(f"\n[{name}] {SECTIONS[name][1]}")
            for line in describe_section(name, report["sections"][name]):
                print(f"  {line}")
    if "end_to_end" in report:
        e2e = report["end_to_end"]
        for name in ("optimised", e2e["baseline"]):
            run = e2e[name]
            print(
                f"\nend to end 512×512, {run['steps']} steps, {name}: {run['seconds']:.1f} s "
                f"(encode {run['encode']:.1f}, denoise {run['denoise']:.1f}, decode {run['decode']:.1f}), "
                f"peak memory {run['peak_rss_mb']:.0f} MiB"
            )
        print(
            f"time ratio optimised / {e2e['baseline']}: {100 * e2e['time_ratio']:.0f} %; largest pixel difference "
            f"between the two pictures: {e2e['max_pixel_difference']} levels"
        )
    print(f"\npeak resident memory {report['peak_rss_mb']:.0f} MiB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny configuration only (seconds, for smoke runs)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (median reported)")
    parser.add_argument("--no-vae", action="store_true", help="skip the VAE timings")
    for name, (_, text) in SECTIONS.items():
        parser.add_argument(f"--{name}", action="store_true", help=f"also measure {text}")
    parser.add_argument("--all", action="store_true", help="every section, the end-to-end runs included")
    parser.add_argument("--end-to-end", action="store_true", help="also run one whole 20-step 512×512 inpaint")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report to this JSON file")
    parser.add_argument("--steps", type=int, default=20, help="steps of the end-to-end runs")
    parser.add_argument("--end-to-end-child", choices=END_TO_END_CHILDREN, help=argparse.SUPPRESS)
    parser.add_argument("--write-model", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model-folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.write_model:
        write_end_to_end_model(args.model_folder, tiny=args.quick)
        return 0
    if args.end_to_end_child:
        print(json.dumps(end_to_end_child(args.end_to_end_child, args.steps, args.model_folder)))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)

    report: dict[str, Any] = {
        "machine": f"{platform.machine()} {platform.processor() or platform.platform()}",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    report["matmul_gflops"] = matmul_gflops()
    configs: dict[str, dict[str, Any]] = {
        "tiny": {"unet": bench_unet(dict(TINY_CONFIG), args.repeats, report["matmul_gflops"])}
    }
    if not args.no_vae:
        configs["tiny"]["vae"] = bench_vae(True, args.repeats)
    if not args.quick:
        configs["released"] = {
            "unet": bench_unet(dict(RELEASED_CONFIG), args.repeats, report["matmul_gflops"], with_reference=True)
        }
        if not args.no_vae:
            configs["released"]["vae"] = bench_vae(False, max(1, args.repeats // 2))
    report["configs"] = configs
    report["sections"] = {}
    for name in SECTIONS:
        if getattr(args, name) or args.all:
            report["sections"][name] = run_section(name, args.quick, report["sections"])
    if (args.end_to_end or args.all) and not args.quick:
        report["end_to_end"] = bench_end_to_end(args.steps)
    report["peak_rss_mb"] = peak_rss_mb()
    print_table(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=1))
        print(f"\nwritten {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
