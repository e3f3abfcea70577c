"""How far float16 and bfloat16 move one guided denoising step away from float32, and what they cost here.

For the tiny and the released configuration (random weights, randomised BatchNorm statistics), one guided step
at the first timestep the default schedule runs (t = 900) is computed in float32 and then in each reduced
format. Reported per format:

* ``emulated``: every weight and every intermediate result rounded to the format, arithmetic in float32. That
  is how GPUs compute float16/bfloat16 (tensor cores accumulate in float32), so it predicts the deviation on
  CUDA, ROCm and MPS, including overflow (a result beyond float16's ±65504 becomes infinite), on any machine.
* ``native``: the model converted to the format and run by this CPU, with its step time. CPUs without native
  bfloat16 (AVX-512 BF16, AMX, Arm BF16) emulate both formats in software and run many times slower; when the
  tiny model shows that, the released model's native run is skipped and its time estimated from the ratio.

Where the app's automatic choice is a GPU (CUDA, ROCm or MPS), the step is also timed there in exact mode
(float32) and in fast mode (the format the app picks there, float16 on GPUs), with the fast step's deviation
from the exact one on the same device: the measurement behind "fast mode is N× as fast".

Deviations are the maximum absolute difference from float32 and that maximum relative to the largest float32
magnitude, for the guided noise prediction and for the latents after the DDIM step.
``run(quick)`` returns the numbers; ``describe(report)`` turns them into lines for the benchmark's table.
"""

from __future__ import annotations

import copy
import functools
import statistics
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from core.job.options import DEFAULT_GUIDANCE
from core.model.unet import COND_IDS, RELEASED_CONFIG, TINY_CONFIG, UNCOND_IDS, MoebiusModel

FORMATS: dict[str, torch.dtype] = {"float16": torch.float16, "bfloat16": torch.bfloat16}
TIMESTEP = 900
# A native run slower than this many times float32 means the CPU emulates the format.
EMULATED_RATIO = 4.0


_MARK = "_moebius_reduced_precision"


def _is_reduced(value: Any) -> bool:
    if isinstance(value, Tensor):
        return bool(getattr(value, _MARK, False))
    if isinstance(value, list | tuple):
        return any(_is_reduced(v) for v in value)
    return False


def _is_view_of_argument(out: Tensor, args: tuple[Any, ...]) -> bool:
    """Whether ``out`` shares its storage with one of the tensor arguments (a view, not a new result)."""
    pointer = out.untyped_storage().data_ptr()
    return any(isinstance(a, Tensor) and a.untyped_storage().data_ptr() == pointer for a in args)


def mark_reduced(tensor: Tensor) -> Tensor:
    """Mark ``tensor`` as one that would be stored in the reduced format (weights, model inputs)."""
    setattr(tensor, _MARK, True)
    return tensor


class RoundTo(TorchFunctionMode):
    """While active, round the floating-point results of torch functions to ``dtype`` (kept as float32).

    Only results computed from tensors marked with :func:`mark_reduced` (or from such results) are rounded,
    so arithmetic that a converted model does in float32 anyway (the timestep embedding's sinusoids, which
    start from integer timesteps) stays float32 here too.

    Args:
        dtype: the format to imitate (``torch.float16`` or ``torch.bfloat16``).
    """

    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.dtype = dtype

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Iterable[type],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        reduced = _is_reduced(args) or _is_reduced(tuple(kwargs.values()))
        out = func(*args, **kwargs)
        if not reduced:
            return out
        if getattr(func, "__name__", "") == "__setitem__" and isinstance(args[0], Tensor):
            # Writing reduced values into a buffer: the buffer holds reduced values from now on.
            self._round_in_place(args[0])
            return out
        if isinstance(out, Tensor) and args and out is args[0]:
            return self._round_in_place(out)  # an in-place operator: keep the caller's tensor object
        if isinstance(out, Tensor) and _is_view_of_argument(out, args):
            # A view (indexing, reshape) holds values that are already rounded; a rounded copy would break
            # updates made through it (`a[i][j] += b`).
            return mark_reduced(out)
        return self._round(out)

    def _round_in_place(self, tensor: Tensor) -> Tensor:
        if tensor.dtype == torch.float32:
            tensor.copy_(tensor.to(self.dtype))
        return mark_reduced(tensor)

    def _round(self, value: Any) -> Any:
        if isinstance(value, Tensor) and value.dtype == torch.float32:
            return mark_reduced(value.to(self.dtype).to(torch.float32))
        if isinstance(value, tuple):
            return tuple(self._round(v) for v in value)
        return value


def _random_model(config: Mapping[str, Any], seed: int = 0) -> MoebiusModel:
    from core.bench.engine import randomize_batchnorm

    torch.manual_seed(seed)
    model = MoebiusModel(config)
    randomize_batchnorm(model)
    return model.eval()


def _inputs(model: MoebiusModel, seed: int = 1) -> tuple[Tensor, Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    side = model.sample_size
    latents = torch.randn(1, 4, side, side, generator=generator)
    mask = (torch.rand(1, 1, side, side, generator=generator) > 0.5).float()
    masked = torch.randn(1, 4, side, side, generator=generator)
    sample = torch.cat([latents, mask, masked], dim=1).repeat(2, 1, 1, 1)
    ids = torch.tensor([list(UNCOND_IDS), list(COND_IDS)])
    return sample, torch.tensor([TIMESTEP]), ids


def _guided_step(model: nn.Module, sample: Tensor, t: Tensor, ids: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """The guided noise and the DDIM-updated latents (η = 0, next timestep t − 50) in float32."""
    from core.inpaint.pipeline import make_scheduler

    with torch.inference_mode():
        # Copied to the CPU, which also waits for an accelerator to finish (the timings rely on it).
        out = model(sample.to(dtype), t, ids).float().cpu()
    uncond, cond = out.chunk(2)
    eps = uncond + DEFAULT_GUIDANCE * (cond - uncond)
    scheduler = make_scheduler()
    scheduler.set_timesteps(20)
    x = sample[:1, :4].float().cpu()
    latents: Tensor = scheduler.step(eps, int(t.item()), x).prev_sample
    return eps, latents


def _deviation(got: Tensor, reference: Tensor) -> dict[str, float | bool]:
    finite = bool(torch.isfinite(got).all())
    diff = (got - reference).abs()
    largest = float(reference.abs().max())
    worst = float(diff.max()) if finite else float("inf")
    return {"max_abs": worst, "relative": worst / largest if largest else 0.0, "finite": finite}


def _timed(fn: Callable[[], object], repeats: int) -> list[float]:
    from core.bench.engine import time_call

    return time_call(fn, repeats, warmup=0)


def check_config(
    config: Mapping[str, Any], *, native: Collection[str] = tuple(FORMATS), repeats: int = 1
) -> dict[str, Any]:
    """Deviation and step time of each reduced format for one configuration.

    Args:
        config: the model configuration (random weights are drawn for it).
        native: the formats to also run natively on this CPU (timed); the others are only emulated.
        repeats: timed runs of each step (the median is reported); one untimed warm-up run comes first.
    """
    model = _random_model(config)
    sample, t, ids = _inputs(model)
    ref_eps, ref_latents = _guided_step(model, sample, t, ids, torch.float32)
    fp32_runs = _timed(lambda: _guided_step(model, sample, t, ids, torch.float32), repeats)
    fp32_seconds = statistics.median(fp32_runs)
    result: dict[str, Any] = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "float32_seconds": fp32_seconds,
        "formats": {},
    }
    for name, dtype in FORMATS.items():
        entry: dict[str, Any] = {}
        # 1. Emulated: weights rounded once, every intermediate result rounded as it is produced.
        rounded = copy.deepcopy(model)
        with torch.no_grad():
            for tensor in [*rounded.parameters(), *rounded.buffers()]:
                if tensor.is_floating_point():
                    mark_reduced(tensor.copy_(tensor.to(dtype)))
        with RoundTo(dtype):
            eps, latents = _guided_step(rounded, mark_reduced(sample.to(dtype).float()), t, ids, torch.float32)
        entry["emulated"] = {"noise": _deviation(eps, ref_eps), "latents": _deviation(latents, ref_latents)}
        del rounded
        # 2. Native, where it finishes in reasonable time.
        if name in native:
            converted = copy.deepcopy(model).to(dtype)
            eps, latents = _guided_step(converted, sample, t, ids, dtype)  # also the warm-up
            step = functools.partial(_guided_step, converted, sample, t, ids, dtype)
            seconds = statistics.median(_timed(step, repeats))
            entry["native"] = {
                "seconds": seconds,
                "ratio_to_float32": seconds / fp32_seconds,
                "noise": _deviation(eps, ref_eps),
                "latents": _deviation(latents, ref_latents),
            }
            del converted
        else:
            entry["native"] = {"skipped": "not requested"}
        result["formats"][name] = entry
    return result


def check_fast_mode(
    config: Mapping[str, Any], device: str, dtype: torch.dtype, *, repeats: int = 5
) -> dict[str, Any]:
    """Exact mode (float32) against fast mode (``dtype``) on ``device``: step times, speed-up and deviation.

    Args:
        config: the model configuration (random weights are drawn for it).
        device: the torch device, e.g. ``"cuda"``.
        dtype: the fast mode's number format there.
        repeats: timed runs of each step (the median is reported), after one untimed warm-up run.
    """
    model = _random_model(config).to(device)
    sample, t, ids = (tensor.to(device) for tensor in _inputs(model))
    ref_eps, ref_latents = _guided_step(model, sample, t, ids, torch.float32)
    exact = statistics.median(_timed(lambda: _guided_step(model, sample, t, ids, torch.float32), repeats))
    # The float32 model is converted in place: a GPU need not hold both.
    fast_model = model.to(dtype)
    eps, latents = _guided_step(fast_model, sample, t, ids, dtype)
    fast = statistics.median(_timed(lambda: _guided_step(fast_model, sample, t, ids, dtype), repeats))
    return {
        "float32_seconds": exact,
        "fast_seconds": fast,
        "speedup": exact / fast,
        "noise": _deviation(eps, ref_eps),
        "latents": _deviation(latents, ref_latents),
    }


def _fast_mode_device() -> tuple[str, str, str] | None:
    """``(torch device, fast format, description)`` when the app's automatic choice is a GPU, else ``None``."""
    from backends.device import choose_device

    choice = choose_device("auto", "auto")
    if choice.device not in ("cuda", "mps"):
        return None
    return choice.torch_device, choice.dtype_name, choice.reason


def run(quick: bool = False, *, configs: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Measure the deviation of float16 and bfloat16 from float32 on one guided step, and their step times.

    Args:
        quick: the tiny configuration only (seconds to a minute instead of minutes).
        configs: configurations to check instead of tiny (+ released), by name (tests use small ones).

    Returns:
        ``{"timestep", "guidance", "threads", "cpu_native_bf16", "configs": {name: {...}}}``, plus
        ``"fast_mode"`` (see :func:`check_fast_mode`) where the app would run on a GPU.
    """
    from backends.device import describe_cpu

    cpu = describe_cpu()
    chosen = dict(configs) if configs is not None else {"tiny": TINY_CONFIG}
    if configs is None and not quick:
        chosen["released"] = RELEASED_CONFIG
    report: dict[str, Any] = {
        "timestep": TIMESTEP,
        "guidance": DEFAULT_GUIDANCE,
        "threads": torch.get_num_threads(),
        "cpu_native_bf16": cpu.native_bf16,
        "configs": {},
    }
    slow: dict[str, float] = {}
    for name, config in chosen.items():
        # Formats the first (small) configuration showed to be emulated are not run natively on larger ones:
        # that would take many minutes per step; the time is estimated from the ratio instead.
        result = check_config(config, native=[f for f in FORMATS if f not in slow])
        for fmt, entry in result["formats"].items():
            ratio = entry["native"].get("ratio_to_float32")
            if ratio is not None and ratio > EMULATED_RATIO:
                slow.setdefault(fmt, ratio)
            elif fmt in slow:
                entry["native"] = {
                    "skipped": f"this CPU emulates {fmt} ({slow[fmt]:.0f}× slower than float32 on a smaller model)",
                    "estimated_seconds": result["float32_seconds"] * slow[fmt],
                }
        report["configs"][name] = result
    accelerator = _fast_mode_device()
    if accelerator is not None:
        device, dtype_name, reason = accelerator
        report["fast_mode"] = {
            "device": reason,
            "dtype": dtype_name,
            "configs": {
                name: check_fast_mode(config, device, getattr(torch, dtype_name)) for name, config in chosen.items()
            },
        }
    return report


def _format_deviation(d: Mapping[str, Any]) -> str:
    if not d["finite"]:
        return "overflow (inf/NaN)"
    return f"{d['max_abs']:.2e} ({100 * d['relative']:.2f} %)"


def describe(report: Mapping[str, Any]) -> list[str]:
    """The report of :func:`run` as lines for a table.

    Args:
        report: what :func:`run` returned.
    """
    lines = [
        f"Reduced precision vs float32: one guided step at t = {report['timestep']}, guidance {report['guidance']}, "
        f"random weights; max |Δ| (relative to the largest float32 value); CPU native bf16: "
        f"{'yes' if report['cpu_native_bf16'] else 'no'}, {report['threads']} threads",
    ]
    for name, section in report["configs"].items():
        lines.append(
            f"  [{name}] {section['parameters']:,} parameters, float32 step {section['float32_seconds']:.2f} s"
        )
        for fmt, entry in section["formats"].items():
            emulated = entry["emulated"]
            lines.append(
                f"    {fmt:<9} GPU-like (rounded, float32 sums): noise {_format_deviation(emulated['noise'])}, "
                f"latents {_format_deviation(emulated['latents'])}"
            )
            native = entry["native"]
            if "skipped" in native:
                estimate = native.get("estimated_seconds")
                guess = f", about {estimate:.0f} s per step" if estimate is not None else ""
                lines.append(f"    {'':<9} native on this CPU: skipped, {native['skipped']}{guess}")
            else:
                lines.append(
                    f"    {'':<9} native on this CPU: {native['seconds']:.2f} s per step "
                    f"({native['ratio_to_float32']:.1f}× float32), noise {_format_deviation(native['noise'])}, "
                    f"latents {_format_deviation(native['latents'])}"
                )
    fast_mode = report.get("fast_mode")
    if fast_mode is not None:
        lines.append(f"  Fast mode ({fast_mode['dtype']}) against exact mode (float32) on {fast_mode['device']}:")
        for name, entry in fast_mode["configs"].items():
            lines.append(
                f"    [{name}] float32 {entry['float32_seconds']:.3f} s, {fast_mode['dtype']} "
                f"{entry['fast_seconds']:.3f} s per guided step: {entry['speedup']:.2f}× as fast; "
                f"noise {_format_deviation(entry['noise'])}, latents {_format_deviation(entry['latents'])}"
            )
    else:
        lines.append("  Fast mode on a GPU: not measured, the app's automatic choice here is not a GPU")
    return lines


if __name__ == "__main__":
    from core.bench.section import section_main

    raise SystemExit(
        section_main(
            "python -m core.bench.precision", __doc__.split("\n\n")[0], "tiny configuration only", run, describe
        )
    )
