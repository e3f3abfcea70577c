"""Choose the compute device and number format for a model, with a one-line reason a user can read.

``auto`` prefers CUDA (NVIDIA, or AMD through ROCm builds of torch), then Apple's MPS, then the CPU. An
explicitly requested device that is missing raises :class:`DeviceUnavailable`; the core turns that into its
own user-facing error.

Precision: ``exact`` (and, for now, ``auto``) runs in float32 everywhere, which reproduces the reference
implementation. ``float16`` / ``bfloat16`` are honoured where the device runs them natively, otherwise the
choice falls back to float32 and the reason says so.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

DEVICES = ("auto", "cuda", "mps", "cpu")
PRECISIONS = ("auto", "exact", "float32", "float16", "bfloat16")

# CPU feature flags (as spelled in /proc/cpuinfo) that matter for reduced-precision speed.
_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
_INTERESTING_FLAGS = frozenset({"avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16"})


class DeviceUnavailable(RuntimeError):
    """The requested device does not exist on this machine or this torch build cannot use it."""


@dataclass(frozen=True)
class DeviceChoice:
    """Where and in which number format to run.

    Args:
        device: torch device string: ``"cuda"``, ``"mps"`` or ``"cpu"``.
        dtype_name: ``"float32"``, ``"float16"`` or ``"bfloat16"``.
        reason: one line for logs and the GUI, saying what was picked and why.
    """

    device: str
    dtype_name: str
    reason: str


@dataclass(frozen=True)
class CpuInfo:
    """What the CPU is and which reduced-precision instructions it has.

    Args:
        model: marketing name, e.g. ``"AMD EPYC 7B13"``.
        threads: logical CPUs this process may run on.
        flags: the subset of CPU flags that matter here (``avx2``, ``avx512_bf16``, ``amx_bf16``, …).
    """

    model: str
    threads: int
    flags: frozenset[str]

    @property
    def native_bf16(self) -> bool:
        """Whether the CPU computes bfloat16 in hardware (AVX-512 BF16 or AMX)."""
        return bool(self.flags & _BF16_FLAGS)

    def summary(self) -> str:
        return f"{self.model}, {self.threads} thread{'s' if self.threads != 1 else ''}"


def _read_cpuinfo(cpuinfo: Path) -> tuple[str | None, frozenset[str]]:
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, frozenset()
    model: str | None = None
    flags: frozenset[str] = frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip() or None
        elif key in ("flags", "Features") and not flags:
            flags = frozenset(value.split()) & _INTERESTING_FLAGS
        if model is not None and flags:
            break
    return model, flags


def describe_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuInfo:
    """Describe the CPU from ``/proc/cpuinfo`` where it exists (Linux), else from :mod:`platform`."""
    model, flags = _read_cpuinfo(cpuinfo)
    if model is None:
        model = platform.processor() or platform.machine() or "unknown CPU"
    try:
        threads = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        threads = os.cpu_count() or 1
    return CpuInfo(model=model, threads=threads, flags=flags)


def _cuda_status() -> tuple[bool, str]:
    """Whether CUDA (or ROCm) can be used, and the device's description or why not."""
    import torch

    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        memory_gib = torch.cuda.get_device_properties(0).total_memory / 2**30
        api = "ROCm" if getattr(torch.version, "hip", None) else "CUDA"
        return True, f"{api}: {name} ({memory_gib:.0f} GiB)"
    if torch.version.cuda is None and not getattr(torch.version, "hip", None):
        return False, "this torch build has no CUDA support (a CPU-only wheel; see the README's GPU notes)"
    return False, "no CUDA device was found (check the driver and CUDA_VISIBLE_DEVICES)"


def _mps_status() -> tuple[bool, str]:
    import torch

    if torch.backends.mps.is_available():
        return True, "MPS: Apple GPU"
    if not torch.backends.mps.is_built():
        return False, "this torch build has no MPS support (MPS needs torch for macOS on Apple Silicon)"
    return False, "MPS is not available (it needs Apple Silicon and macOS 12.3 or newer)"


def _pick_dtype(device: str, precision: str, cpu: CpuInfo | None) -> tuple[str, str]:
    """Return the dtype name and the note explaining it."""
    if precision in ("auto", "exact", "float32"):
        note = f"{precision} mode" if precision != "float32" else "float32 requested"
        if device == "cpu" and cpu is not None:
            note += "; CPU has native bf16" if cpu.native_bf16 else "; CPU has no native bf16"
        return "float32", note
    if device == "cuda":
        import torch

        if precision == "bfloat16" and not torch.cuda.is_bf16_supported():
            return "float32", "bfloat16 requested but this GPU lacks it"
        return precision, f"{precision} requested"
    if device == "mps":
        if precision == "bfloat16":
            return "float32", "bfloat16 requested but MPS support for it is incomplete"
        return precision, f"{precision} requested"
    # CPU: float16 arithmetic is emulated and slow; bfloat16 is fine, fast only with native support.
    if precision == "float16":
        return "float32", "float16 requested but CPUs compute it slowly"
    native = cpu is not None and cpu.native_bf16
    return "bfloat16", "bfloat16 requested" + ("" if native else "; CPU has no native bf16, expect it slow")


def choose_device(preference: str = "auto", precision: str = "exact") -> DeviceChoice:
    """Pick the device and number format to run on.

    Args:
        preference: ``"auto"`` (CUDA, then MPS, then CPU), ``"cuda"``, ``"mps"`` or ``"cpu"``.
        precision: one of :data:`PRECISIONS`; ``"exact"`` means float32 everywhere.

    Raises:
        ValueError: unknown ``preference`` or ``precision``.
        DeviceUnavailable: an explicitly requested device cannot be used here.
    """
    if preference not in DEVICES:
        raise ValueError(f"unknown device {preference!r}; expected one of {', '.join(DEVICES)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")

    skipped: list[str] = []
    if preference in ("auto", "cuda"):
        ok, description = _cuda_status()
        if ok:
            dtype, note = _pick_dtype("cuda", precision, None)
            return DeviceChoice("cuda", dtype, f"{description}, {dtype} ({note})")
        if preference == "cuda":
            raise DeviceUnavailable(f"CUDA was requested but {description}.")
        skipped.append("CUDA")
    if preference in ("auto", "mps"):
        ok, description = _mps_status()
        if ok:
            dtype, note = _pick_dtype("mps", precision, None)
            return DeviceChoice("mps", dtype, f"{description}, {dtype} ({note})")
        if preference == "mps":
            raise DeviceUnavailable(f"MPS was requested but {description}.")
        skipped.append("MPS")

    cpu = describe_cpu()
    dtype, note = _pick_dtype("cpu", precision, cpu)
    reason = f"CPU: {cpu.summary()}, {dtype} ({note})"
    if skipped:
        reason += f"; no {' or '.join(skipped)} device found"
    return DeviceChoice("cpu", dtype, reason)
