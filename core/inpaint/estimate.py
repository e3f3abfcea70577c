"""How long a job will take on this device, learned from the jobs that ran on it.

The Moebius engine's time is almost all per model window: both VAE encodes, the denoising steps (each with
both guidance rows) and one decode, plus a small share for cutting the window out and blending its fill back.
So a job's time is its plan's windows (planned exactly as the engine will plan them, on the mask's coarse
grid) times the seconds of those stages on the device. Those seconds are kept per device (its name and number
formats, :func:`device_key`) in ``<data dir>/timings.json``: each finished run updates them
(:func:`record_job`, a moving average), so the second estimate on a machine is already its own. Before the
first run a first guess stands in (:func:`first_guess`), marked as such.

The file is a record of measurements, not a user setting: it may vanish or be damaged at any time, and then
the first guess is used again.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import threading
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from core.common.files import write_bytes_atomically
from core.common.paths import data_dir
from core.inpaint.schedule import steps_run, window_strength

if TYPE_CHECKING:
    from core.inpaint.device import DeviceInfo
    from core.inpaint.result import InpaintResult
    from core.job.settings import JobSettings

log = logging.getLogger(__name__)

U8Mask = npt.NDArray[np.uint8]

TIMINGS_FILE_NAME = "timings.json"
FORMAT_VERSION = 1
MODEL_FRAME = 512
"""Side of the released model's frame: the windows are planned for it, as the Moebius engine plans them."""

LEARNING_RATE = 0.35
"""Weight of a new run in the moving average: the last three runs make up about three quarters of it."""

ENCODE_REUSED_SHARE = 0.2
"""A run whose encodes took under this share of its decode time had its posteriors from the pipeline's cache
(another seed on the same frames): a real encode of a frame's two images costs about as much as its decode
(2 × 1082 against 2480 GFLOP in the reference count), a reused one a hash of the frame. Such a run does not
teach the encode time."""

# -- first guesses ---------------------------------------------------------------------------------------------
# CPUs: seconds per 512² window stage of the released model in float32, measured the way the app runs it
# (``python -m core.bench --variations``: a guided step as two batch-1 calls, this project's VAE) on the
# development machine, 2 threads of an Intel Xeon cloud server.
CPU_REFERENCE_THREADS = 2
# The VAE stages with Winograd's 3×3 convolutions: 0.63 and 0.64 of the direct ones' 9.2 and 7.8 s
# (``python -m core.bench.winograd``).
CPU_FLOAT32 = {"step": 2.3, "encode": 5.8, "decode": 5.0, "overhead": 0.3}
CPU_SCALING_LIMIT = 16
"""Threads beyond this are assumed to add nothing (memory bandwidth, not arithmetic, limits larger CPUs)."""
CPU_INT8_STEP_FACTOR = 0.63
"""Time of a guided step in the int8 mode against float32 (``python -m core.bench.fast``: 1.41 s against 2.26 s);
the VAE stages are unchanged."""
CPU_BFLOAT16_FACTOR = 0.6
"""Time of a bfloat16 run on a CPU that has it natively, against float32 (the reference's autocast step took
3.29 s against 5.44 s)."""
# GPUs: the reference work of each stage (shared/reference/ARCHITECTURE.md §11: 632 GFLOP per guided step,
# 1082 per encode, 2480 per decode) at a sustained rate assumed for a mid-range card of its kind (UNet in half
# precision, VAE in bfloat16 or float32), in GFLOP/s. Not measured here: the first run replaces them.
WORK_GFLOP = {"step": 632.0, "encode": 2 * 1082.0, "decode": 2480.0}
GPU_GFLOPS = {
    "cuda": {"step": 20_000.0, "encode": 8_000.0, "decode": 8_000.0},
    "mps": {"step": 3_000.0, "encode": 2_000.0, "decode": 2_000.0},
    "coreml": {"step": 3_000.0, "encode": 2_000.0, "decode": 2_000.0},
}
GPU_OVERHEAD_S = 0.2
CLASSIC_SECONDS_PER_WINDOW = 0.01
CLASSIC_SECONDS_PER_HOLE_PIXEL = 1.1e-5
"""The classic fill (OpenCV Telea) on the development machine: 0.35 s for a 200-pixel round hole, 3.7 s for a
600×750 one."""

_lock = threading.Lock()


@dataclass(frozen=True)
class StageTimes:
    """Seconds measured on one device for one 512² frame window.

    Args:
        step: one guided denoising step (both guidance rows).
        encode: both VAE encodes.
        decode: one VAE decode.
        overhead: the rest per window (planning share, compositing, conversions).
    """

    step: float
    encode: float
    decode: float
    overhead: float


@dataclass(frozen=True)
class Estimate:
    """The expected time of a job.

    Args:
        seconds: the whole job.
        windows: model windows the plan runs (0 for an empty mask).
        steps_run: denoising steps per window that actually run (strength taken into account).
        measured: ``True``: from runs on this machine and device; ``False``: a first guess.
        device: the device key it is for.
    """

    seconds: float
    windows: int
    steps_run: int
    measured: bool
    device: str


# -- the device key --------------------------------------------------------------------------------------------


def device_key(info: DeviceInfo) -> str:
    """Stable text naming the device and its number formats, e.g. ``"cpu|Intel(R) Xeon(R)|float32/float32"``.

    Args:
        info: the device an engine runs on (``MoebiusEngine.device``, or a device choice before loading).
    """
    name = _hardware_name(info).replace("|", "/").strip() or "unknown"
    # The int8 mode computes in float32 around its int8 products: its own key, so its times are learned apart.
    unet = f"{info.dtype}+int8" if info.int8_products else info.dtype
    return f"{info.device}|{name}|{unet}/{info.vae_dtype}"


def _hardware_name(info: DeviceInfo) -> str:
    """The processor's or the graphics card's model name."""
    if info.device == "cuda":
        try:
            import torch

            index = int(info.torch_device.split(":")[1]) if ":" in info.torch_device else 0
            return str(torch.cuda.get_device_name(index))
        except Exception:  # noqa: BLE001 -- no name is still a usable key
            return info.backend
    if info.device in ("mps", "coreml") and platform.system() == "Darwin":
        return f"Apple {platform.machine()}"
    from backends.device import describe_cpu

    return describe_cpu().model


def _key_parts(key: str) -> tuple[str, str, str]:
    """``(device, hardware name, UNet number format)`` of a key made by :func:`device_key`."""
    device, _, rest = key.partition("|")
    name, _, formats = rest.rpartition("|")
    return device, name, formats.partition("/")[0]


# -- estimating ------------------------------------------------------------------------------------------------


def estimate_job(mask: U8Mask, settings: JobSettings, key: str) -> Estimate:
    """The expected time of a job on the device ``key``, before it runs.

    Plans the windows exactly as the Moebius engine will (:func:`core.inpaint.plan.plan_regions` with the
    model's frame and the job's context margin; cheap, it works on a coarse grid of the mask) and adds up the
    stage times stored for ``key``, or a first guess when nothing was measured there yet. For the classic
    engine (``settings.engine == "classic"``) it is the classic fill's small estimate. ``"auto"`` counts as
    Moebius: resolve it first where the weights may be missing.

    Args:
        mask: ``uint8`` (H, W) mask at the photo's size.
        settings: the job's settings (steps, strength, refine strength, context margin, engine).
        key: the device's :func:`device_key`.
    """
    from core.inpaint.plan import plan_regions

    if settings.engine == "classic":
        return _classic_estimate(mask, key)
    plan = plan_regions(mask, frame=MODEL_FRAME, context_margin=settings.context_margin)
    stored = measured_times(key)
    times = stored if stored is not None else first_guess(key)
    seconds = 0.0
    for window in plan.windows:
        steps = steps_run(settings.steps, window_strength(settings, window.kind))
        seconds += steps * times.step + times.encode + times.decode + times.overhead
    return Estimate(
        seconds=seconds,
        windows=len(plan.windows),
        steps_run=steps_run(settings.steps, settings.strength),
        measured=stored is not None,
        device=key,
    )


def _classic_estimate(mask: U8Mask, key: str) -> Estimate:
    """The classic fill's time: a little per window and per hole pixel (it never runs the model)."""
    from core.inpaint.classic import CONTEXT_MARGIN
    from core.inpaint.plan import plan_regions
    from core.photo.mask import FILL_THRESHOLD

    plan = plan_regions(mask, frame=None, context_margin=CONTEXT_MARGIN)
    holes = int(np.count_nonzero(mask >= FILL_THRESHOLD)) if plan.windows else 0
    seconds = len(plan.windows) * CLASSIC_SECONDS_PER_WINDOW + holes * CLASSIC_SECONDS_PER_HOLE_PIXEL
    return Estimate(seconds=seconds, windows=len(plan.windows), steps_run=0, measured=False, device=key)


def first_guess(key: str) -> StageTimes:
    """Stage times for a device nothing was measured on yet, from its kind and number format.

    For a CPU the guess is the benchmark's numbers from the development machine, scaled by the thread count
    (and for bfloat16); for a GPU it is each stage's reference work at a rate assumed for its kind. It is not
    a probe run in this process: an estimate is asked for in the GUI thread, often before the model stack is
    loaded, and a probe there would cost a torch import and compete with a running job for the processor; the
    first real run on the device replaces the guess anyway.

    Args:
        key: a :func:`device_key`.
    """
    device, _, dtype = _key_parts(key)
    if device in GPU_GFLOPS:
        rates = GPU_GFLOPS[device]
        return StageTimes(**{name: WORK_GFLOP[name] / rates[name] for name in WORK_GFLOP}, overhead=GPU_OVERHEAD_S)
    from backends.device import describe_cpu

    threads = min(max(1, describe_cpu().threads), CPU_SCALING_LIMIT)
    factor = CPU_REFERENCE_THREADS / threads
    if dtype == "bfloat16":
        factor *= CPU_BFLOAT16_FACTOR
    times = {name: seconds * factor for name, seconds in CPU_FLOAT32.items()}
    if dtype.endswith("+int8"):
        times["step"] *= CPU_INT8_STEP_FACTOR
    return StageTimes(**times)


# -- learning --------------------------------------------------------------------------------------------------


def timings_file() -> Path:
    """Where the measured stage times are kept: ``<data dir>/timings.json``."""
    return data_dir() / TIMINGS_FILE_NAME


def measured_times(key: str) -> StageTimes | None:
    """The stage times learned for ``key``, or ``None`` when nothing usable was recorded (or the file is damaged).

    Args:
        key: a :func:`device_key`.
    """
    entry = _read_devices().get(key)
    return _times_from(entry) if entry is not None else None


def record_job(key: str, settings: JobSettings, result: InpaintResult) -> None:
    """Learn from a finished Moebius run: update the stage times of ``key`` and write them back.

    Uses ``result.timings`` (``"model.encode"``, ``"model.denoise"``, ``"model.decode"`` summed over the
    windows; ``"total"`` where the front end measured it, else the engine's own stages) and ``result.plan``
    (the windows). A classic run, or one without windows, teaches nothing. A file that cannot be written is
    logged and otherwise ignored: the estimate is a convenience, and the job it measured has succeeded.

    Args:
        key: the :func:`device_key` of the device the run used.
        settings: the settings the run used (its steps and strengths give the steps each window ran).
        result: what the engine returned.
    """
    measured = _measure(settings, result)
    if measured is None:
        return
    with _lock:
        devices = _read_devices()
        previous = _times_from(devices[key]) if key in devices else None
        runs = int(devices.get(key, {}).get("runs", 0)) if previous is not None else 0
        learned = {}
        for name, value in measured.items():
            old = getattr(previous, name) if previous is not None else None
            if value is None:  # not measured by this run (reused encodes): keep what was known
                value = old if old is not None else getattr(first_guess(key), name)
            elif old is not None:
                value = old + LEARNING_RATE * (value - old)
            learned[name] = value
        devices[key] = {**learned, "runs": runs + 1}
        try:
            folder = data_dir(ensure=True)
            payload = json.dumps({"version": FORMAT_VERSION, "devices": devices}, indent=1, sort_keys=True)
            write_bytes_atomically(folder / TIMINGS_FILE_NAME, (payload + "\n").encode())
        except OSError as error:
            log.warning("could not keep the measured run times in %s: %s", timings_file(), error)


def _measure(settings: JobSettings, result: InpaintResult) -> dict[str, float | None] | None:
    """Per-window stage seconds of one run (``encode`` is ``None`` when its posteriors were reused)."""
    plan, timings = result.plan, result.timings
    if result.engine != "moebius" or plan is None or not plan.windows:
        return None
    needed = ("model.encode", "model.denoise", "model.decode")
    if any(name not in timings for name in needed):
        return None
    windows = len(plan.windows)
    steps = sum(steps_run(settings.steps, window_strength(settings, w.kind)) for w in plan.windows)
    encode, denoise, decode = (float(timings[name]) for name in needed)
    if "total" in timings:
        total = float(timings["total"])
    else:
        total = sum(float(timings.get(name, 0.0)) for name in ("plan", "prepare", "model", "composite"))
    overhead = max(0.0, total - encode - denoise - decode)
    return {
        "step": denoise / steps,
        "encode": encode / windows if encode >= ENCODE_REUSED_SHARE * decode else None,
        "decode": decode / windows,
        "overhead": overhead / windows,
    }


def _read_devices() -> dict[str, dict[str, Any]]:
    """The file's per-device entries; empty when it is missing, damaged or of another version."""
    try:
        data = json.loads(timings_file().read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        if not isinstance(error, FileNotFoundError):
            log.warning("ignoring the measured run times in %s: %s", timings_file(), error)
        return {}
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION or not isinstance(data.get("devices"), dict):
        log.warning("ignoring the measured run times in %s: not a version %d file", timings_file(), FORMAT_VERSION)
        return {}
    return {key: entry for key, entry in data["devices"].items() if isinstance(entry, dict) and _times_from(entry)}


def _times_from(entry: dict[str, Any]) -> StageTimes | None:
    """The stage times of a file entry, or ``None`` when one is missing or not a finite number ≥ 0."""
    values = {}
    for name in (f.name for f in fields(StageTimes)):
        value = entry.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            return None
        values[name] = float(value)
    return StageTimes(**values)


__all__ = [
    "Estimate",
    "StageTimes",
    "device_key",
    "estimate_job",
    "first_guess",
    "measured_times",
    "record_job",
    "timings_file",
]
