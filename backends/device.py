"""Choose the compute device and number formats for a model, with a one-line reason a user can read.

The choice is made in three steps, each a plain function so it can be tested with faked hardware:

1. :func:`resolve_request` decides what the user asked for: an explicit argument (the command line's
   ``--device``) wins, then the environment variables ``MOEBIUS_STUDIO_DEVICE`` / ``MOEBIUS_STUDIO_PRECISION``,
   then the setting the caller passes (saved, or the GUI's settings panel), else ``auto``. Nothing here reads
   the settings file: the front ends pass what they have.
2. :func:`probe` asks torch what this machine has (:class:`Capabilities`): CUDA or ROCm GPUs with their memory,
   Apple's MPS, Core ML (macOS with coremltools), and the CPU with its reduced-precision instructions.
3. :func:`choose_device` ranks what is there. ``auto`` takes a CUDA/ROCm GPU (the one with the most memory),
   then Core ML when a converted model is ready, then MPS, then the CPU. A device that was asked for by name
   and is missing raises :class:`DeviceUnavailable` with the reason.

Precision policy (:func:`precision_policy`), for ``auto``:

* CUDA / ROCm / MPS: float16 for the UNet. The VAE stays in float32 (bfloat16 on GPUs that compute it):
  this VAE's activations overflow float16's range, which turns the decoded picture into NaNs.
* Core ML: float16 (an fp16 ML program; the Neural Engine computes nothing else); the VAE in float32.
* CPU: bfloat16 only where the CPU has it natively (AVX-512 BF16, AMX, or Arm's BF16); elsewhere bfloat16 is
  emulated and many times slower than float32, so float32.

``exact`` (and ``float32``) forces float32 everywhere, which reproduces the reference implementation up to
float32 rounding. ``float16`` / ``bfloat16`` are honoured where the device runs them natively, otherwise the choice
falls back and the reason says so.

``int8`` is the fast mode for CPUs without native bfloat16: float32 activations, and the UNet's pointwise
matrix products computed with int8 weights and dynamically quantized int8 activations (the model is prepared
after loading; :data:`INT8_DTYPE` is the activations' format). It is a CPU mode: on a GPU, MPS or Core ML the
request falls back to that device's own fast format (float16), and the reason says so.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from backends.coreml import CoreMLStatus, coreml_status

DEVICES = ("auto", "cuda", "rocm", "mps", "coreml", "cpu")
PRECISIONS = ("auto", "exact", "float32", "float16", "bfloat16", "int8")
# The int8 mode's activations (and the VAE) stay in this format; only the products use int8.
INT8_DTYPE = "float32"
DEVICE_ENV = "MOEBIUS_STUDIO_DEVICE"
PRECISION_ENV = "MOEBIUS_STUDIO_PRECISION"

# CPU feature flags (as spelled in /proc/cpuinfo: x86 "flags", Arm "Features") that give native bfloat16.
_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
# x86 flags for int8 dot-product instructions (VNNI, AMX-INT8): with them int8 products can use the full 8-bit
# activation range without the 16-bit intermediate sums of plain AVX2 saturating.
_INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
# Flags worth showing because they decide how fast the CPU runs this model.
SPEED_FLAGS = frozenset(
    {
        "avx2",
        "fma",
        "f16c",
        "avx512f",
        "avx512_vnni",
        "avx_vnni",
        "avx512_bf16",
        "avx512_fp16",
        "amx_tile",
        "amx_bf16",
        "amx_int8",
        "asimd",
        "sve",
        "bf16",
    }
)
_GIB = 2**30


class DeviceUnavailable(RuntimeError):
    """The requested device does not exist on this machine or this torch build cannot use it."""


@dataclass(frozen=True)
class CpuInfo:
    """What the CPU is and which reduced-precision instructions it has.

    Args:
        model: marketing name, e.g. ``"AMD EPYC 7B13"``.
        threads: logical CPUs this process may run on.
        flags: the subset of CPU flags that matter for speed (:data:`SPEED_FLAGS`).
    """

    model: str
    threads: int
    flags: frozenset[str]

    @property
    def native_bf16(self) -> bool:
        """Whether the CPU computes bfloat16 in hardware (AVX-512 BF16, AMX or Arm BF16)."""
        return bool(self.flags & _BF16_FLAGS)

    @property
    def int8_dot(self) -> bool:
        """Whether the CPU has int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI or AMX-INT8)."""
        return bool(self.flags & _INT8_DOT_FLAGS)

    @property
    def bf16_flags(self) -> list[str]:
        """The flags that make bfloat16 native here, sorted (empty when there are none)."""
        return sorted(self.flags & _BF16_FLAGS)

    def summary(self) -> str:
        """``"<model>, <n> threads"``."""
        return f"{self.model}, {self.threads} thread{'s' if self.threads != 1 else ''}"


@dataclass(frozen=True)
class GpuInfo:
    """One CUDA or ROCm GPU as torch sees it.

    Args:
        index: torch's device index.
        name: the device name, e.g. ``"NVIDIA GeForce RTX 4070"``.
        total_bytes: its memory.
        api: ``"CUDA"`` or ``"ROCm"``.
        bf16: whether it computes bfloat16.
    """

    index: int
    name: str
    total_bytes: int
    api: str
    bf16: bool

    def summary(self) -> str:
        """``"<name>, <n> GiB"``."""
        return f"{self.name}, {self.total_bytes / _GIB:.0f} GiB"


@dataclass(frozen=True)
class Capabilities:
    """What this machine and this torch build can run on.

    Args:
        torch_version: ``torch.__version__``.
        cuda_build: CUDA version torch was built for, or ``None``.
        hip_build: ROCm (HIP) version torch was built for, or ``None``.
        gpus: usable CUDA/ROCm GPUs.
        cuda_problem: why no CUDA/ROCm GPU can be used (empty when one can).
        mps_built: torch was built with MPS.
        mps_available: an MPS device can be used now.
        mps_problem: why MPS cannot be used (empty when it can).
        coreml: Core ML availability.
        cpu: the CPU.
    """

    torch_version: str
    cuda_build: str | None
    hip_build: str | None
    gpus: tuple[GpuInfo, ...]
    cuda_problem: str
    mps_built: bool
    mps_available: bool
    mps_problem: str
    coreml: CoreMLStatus
    cpu: CpuInfo

    @property
    def build(self) -> str:
        """What kind of torch build this is: ``"ROCm 6.4"``, ``"CUDA 12.8"``, ``"MPS"`` or ``"CPU-only"``."""
        if self.hip_build:
            return f"ROCm {self.hip_build}"
        if self.cuda_build:
            return f"CUDA {self.cuda_build}"
        return "MPS" if self.mps_built else "CPU-only"


@dataclass(frozen=True)
class DeviceChoice:
    """Where and in which number formats to run.

    Args:
        device: ``"cuda"`` (also for ROCm), ``"mps"``, ``"coreml"`` or ``"cpu"``.
        dtype_name: the UNet's number format: ``"float32"``, ``"float16"`` or ``"bfloat16"``.
        reason: one line for logs and the GUI, saying what was picked and why.
        vae_dtype_name: the VAE's number format (float32 or bfloat16 where float16 would overflow).
        backend: what the user reads: ``"CUDA"``, ``"ROCm"``, ``"MPS"``, ``"Core ML"`` or ``"CPU"``.
        index: GPU index for CUDA/ROCm.
    """

    device: str
    dtype_name: str
    reason: str
    vae_dtype_name: str = "float32"
    backend: str = "CPU"
    index: int = 0

    @property
    def torch_device(self) -> str:
        """The torch device the tensors live on (Core ML takes CPU tensors)."""
        if self.device == "cuda":
            return "cuda" if self.index == 0 else f"cuda:{self.index}"
        return "cpu" if self.device == "coreml" else self.device


@dataclass(frozen=True)
class Request:
    """What the user asked for, after the command line, environment and settings were consulted.

    Args:
        device: one of :data:`DEVICES`.
        precision: one of :data:`PRECISIONS`.
        source: where a non-``auto`` value came from, e.g. ``"MOEBIUS_STUDIO_DEVICE"``; empty for defaults.
    """

    device: str
    precision: str
    source: str = ""


# -- what was asked for ------------------------------------------------------------------------------------


def _check_name(value: str, choices: tuple[str, ...], what: str, origin: str) -> str:
    name = value.strip().lower()
    if name not in choices:
        raise ValueError(f"unknown {what} {value!r} in {origin}; expected one of {', '.join(choices)}")
    return name


def resolve_request(
    device: str | None = None,
    precision: str | None = None,
    *,
    setting_device: str = "auto",
    setting_precision: str = "auto",
    setting_origin: str = "the settings",
    explicit_origin: str = "the command line",
    environ: Mapping[str, str] | None = None,
) -> Request:
    """Merge the places a device and precision can be asked for; the first that is not ``auto`` wins.

    Order: the explicit arguments (a command-line flag), then ``MOEBIUS_STUDIO_DEVICE`` /
    ``MOEBIUS_STUDIO_PRECISION``, then the setting (saved, or from the GUI's settings panel). The caller says
    where the explicit values and the settings came from, so that the request's ``source`` tells the truth.

    Args:
        device: explicit device, or ``None`` / ``"auto"`` for "not given".
        precision: explicit precision, or ``None`` / ``"auto"`` for "not given".
        setting_device: the device of the settings the job runs with.
        setting_precision: the precision of those settings.
        setting_origin: where those settings came from, e.g. ``"the saved settings"`` or ``"the settings panel"``.
        explicit_origin: where the explicit values came from.
        environ: environment to read (``None``: this process's).

    Raises:
        ValueError: a value is not a known device or precision (the message names where it came from).
    """
    env = os.environ if environ is None else environ
    sources: list[str] = []

    def pick(explicit: str | None, env_name: str, setting: str, choices: tuple[str, ...], what: str) -> str:
        candidates = (
            (explicit or "", explicit_origin),
            (env.get(env_name, ""), env_name),
            (setting, setting_origin),
        )
        for value, origin in candidates:
            if value.strip() and _check_name(value, choices, what, origin) != "auto":
                sources.append(f"{what} from {origin}")
                return value.strip().lower()
        return "auto"

    chosen_device = pick(device, DEVICE_ENV, setting_device, DEVICES, "device")
    chosen_precision = pick(precision, PRECISION_ENV, setting_precision, PRECISIONS, "precision")
    return Request(chosen_device, chosen_precision, "; ".join(sources))


# -- what the machine has ----------------------------------------------------------------------------------


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
            flags = frozenset(value.split()) & SPEED_FLAGS
        if model is not None and flags:
            break
    return model, flags


def describe_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuInfo:
    """Describe the CPU from ``/proc/cpuinfo`` where it exists (Linux), else from :mod:`platform`.

    Args:
        cpuinfo: the file to read (tests pass their own).
    """
    model, flags = _read_cpuinfo(cpuinfo)
    if model is None:
        model = platform.processor() or platform.machine() or "unknown CPU"
    try:
        threads = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        threads = os.cpu_count() or 1
    return CpuInfo(model=model, threads=threads, flags=flags)


def _probe_gpus() -> tuple[tuple[GpuInfo, ...], str]:
    import torch

    hip = getattr(torch.version, "hip", None)
    if not torch.cuda.is_available():
        if torch.version.cuda is None and not hip:
            return (), "this torch build has no CUDA support (a CPU-only wheel; see the README's GPU notes)"
        api = "ROCm" if hip else "CUDA"
        return (), f"no {api} device was found (check the driver and CUDA_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES)"
    api = "ROCm" if hip else "CUDA"
    gpus = []
    # device_count() is at least 1 whenever is_available() is true; "or 1" keeps faked machines honest.
    for index in range(torch.cuda.device_count() or 1):
        props = torch.cuda.get_device_properties(index)
        try:
            bf16 = bool(torch.cuda.is_bf16_supported())
        except (RuntimeError, AssertionError):
            bf16 = False
        gpus.append(GpuInfo(index, torch.cuda.get_device_name(index), int(props.total_memory), api, bf16))
    return tuple(gpus), ""


def _probe_mps() -> tuple[bool, bool, str]:
    import torch

    built = bool(torch.backends.mps.is_built())
    if torch.backends.mps.is_available():
        return built, True, ""
    if not built:
        return built, False, "this torch build has no MPS support (MPS needs torch for macOS on Apple Silicon)"
    return built, False, "MPS is not available (it needs Apple Silicon and macOS 12.3 or newer)"


def probe(cpu: CpuInfo | None = None) -> Capabilities:
    """Ask torch (and the OS) what this machine can run on.

    Args:
        cpu: a CPU description to use instead of reading it (tests).
    """
    import torch

    gpus, cuda_problem = _probe_gpus()
    mps_built, mps_available, mps_problem = _probe_mps()
    return Capabilities(
        torch_version=str(torch.__version__),
        cuda_build=torch.version.cuda,
        hip_build=getattr(torch.version, "hip", None) or None,
        gpus=gpus,
        cuda_problem=cuda_problem,
        mps_built=mps_built,
        mps_available=mps_available,
        mps_problem=mps_problem,
        coreml=coreml_status(),
        cpu=cpu if cpu is not None else describe_cpu(),
    )


# -- precision ---------------------------------------------------------------------------------------------


def precision_policy(
    backend: str, precision: str, caps: Capabilities, gpu: GpuInfo | None = None
) -> tuple[str, str, str]:
    """The UNet's and the VAE's number formats on ``backend``, and a short note saying why.

    Args:
        backend: ``"cuda"`` (CUDA or ROCm), ``"mps"``, ``"coreml"`` or ``"cpu"``.
        precision: one of :data:`PRECISIONS`.
        caps: the machine's capabilities (the CPU's bf16 support).
        gpu: the chosen CUDA/ROCm GPU (its bf16 support).

    Returns:
        ``(unet_dtype, vae_dtype, note)`` with dtype names as in torch (``"float16"``, …).
    """
    if precision in ("exact", "float32"):
        note = "exact mode" if precision == "exact" else "float32 requested"
        if backend == "cpu":
            note += "; CPU has native bf16" if caps.cpu.native_bf16 else "; CPU has no native bf16"
        return "float32", "float32", note
    if precision == "int8":
        return _int8_policy(backend, caps, gpu)
    gpu_bf16 = gpu is not None and gpu.bf16
    # The VAE overflows in float16, so on GPUs it runs in bfloat16 (same range as float32) or float32.
    gpu_vae = "bfloat16" if gpu_bf16 else "float32"
    if precision == "auto":
        if backend == "cuda":
            return "float16", gpu_vae, "auto: float16 on the GPU"
        if backend == "mps":
            return "float16", "float32", "auto: float16 on the GPU"
        if backend == "coreml":
            return "float16", "float32", "auto: float16 ML program"
        if caps.cpu.native_bf16:
            return "bfloat16", "float32", f"auto: CPU has native bf16 ({', '.join(caps.cpu.bf16_flags)})"
        return "float32", "float32", "auto: CPU has no native bf16, so float32"
    if precision == "float16":
        if backend == "cuda":
            return "float16", gpu_vae, "float16 requested"
        if backend in ("mps", "coreml"):
            return "float16", "float32", "float16 requested"
        return "float32", "float32", "float16 requested but CPUs compute it slowly"
    # bfloat16
    if backend == "cuda":
        if gpu_bf16:
            return "bfloat16", "bfloat16", "bfloat16 requested"
        return "float32", "float32", "bfloat16 requested but this GPU lacks it"
    if backend == "mps":
        return "float32", "float32", "bfloat16 requested but MPS support for it is incomplete"
    if backend == "coreml":
        return "float32", "float32", "bfloat16 requested but Core ML computes only float16 or float32"
    if caps.cpu.native_bf16:
        return "bfloat16", "float32", "bfloat16 requested"
    return "bfloat16", "float32", "bfloat16 requested; CPU has no native bf16, expect it many times slower"


def _int8_policy(backend: str, caps: Capabilities, gpu: GpuInfo | None) -> tuple[str, str, str]:
    """The int8 mode: float32 activations with int8 products on the CPU; elsewhere the device's fast format."""
    if backend == "cpu":
        dot = "with int8 dot products" if caps.cpu.int8_dot else "without int8 dot-product instructions"
        return INT8_DTYPE, "float32", f"fast int8 mode: int8 matrix products, CPU {dot}"
    fallback, vae, _ = precision_policy(backend, "auto", caps, gpu)
    return fallback, vae, f"int8 requested but it is a CPU mode; {fallback} is this device's fast mode"


def int8_requested(precision: str | None, device: str) -> bool:
    """Whether a model about to run on ``device`` (``"cpu"``, ``"cuda"``, …) is to be prepared for int8."""
    return precision == "int8" and device == "cpu"


# -- the choice --------------------------------------------------------------------------------------------


def _describe(backend: str, what: str, unet: str, vae: str, note: str) -> str:
    vae_part = f"; VAE in {vae}" if vae != unet else ""
    return f"{backend}: {what}, {unet} ({note}{vae_part})"


def choose_device(
    preference: str = "auto",
    precision: str = "exact",
    *,
    coreml_ready: bool = False,
    capabilities: Capabilities | None = None,
) -> DeviceChoice:
    """Pick the device and number formats to run on.

    Args:
        preference: one of :data:`DEVICES`. ``"auto"`` ranks CUDA/ROCm, Core ML (only when ``coreml_ready``),
            MPS, CPU. ``"rocm"`` is CUDA on an AMD build of torch.
        precision: one of :data:`PRECISIONS`; ``"exact"`` means float32 everywhere.
        coreml_ready: a converted Core ML model for the checkpoint already exists, so ``auto`` may use it
            (``auto`` never starts a conversion that takes minutes).
        capabilities: the machine's capabilities; ``None`` probes them.

    Raises:
        ValueError: unknown ``preference`` or ``precision``.
        DeviceUnavailable: an explicitly requested device cannot be used here.
    """
    if preference not in DEVICES:
        raise ValueError(f"unknown device {preference!r}; expected one of {', '.join(DEVICES)}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    caps = probe() if capabilities is None else capabilities

    skipped: list[str] = []
    # 1. CUDA or ROCm: the GPU with the most memory.
    if preference in ("auto", "cuda", "rocm"):
        if caps.gpus and (preference != "rocm" or caps.hip_build):
            gpu = max(caps.gpus, key=lambda g: (g.total_bytes, -g.index))
            unet, vae, note = precision_policy("cuda", precision, caps, gpu)
            return DeviceChoice(
                "cuda", unet, _describe(gpu.api, gpu.summary(), unet, vae, note), vae, gpu.api, gpu.index
            )
        if preference == "rocm":
            problem = caps.cuda_problem or "this torch build is for CUDA (NVIDIA), not ROCm"
            raise DeviceUnavailable(f"ROCm was requested but {problem}.")
        if preference == "cuda":
            raise DeviceUnavailable(f"CUDA was requested but {caps.cuda_problem}.")
        skipped.append("CUDA")
    # 2. Core ML: chosen by name, or by auto when a converted model is ready.
    if preference == "coreml" or (preference == "auto" and coreml_ready and caps.coreml.can_run):
        if not caps.coreml.can_run:
            raise DeviceUnavailable(f"Core ML was requested but {caps.coreml.reason}.")
        unet, vae, note = precision_policy("coreml", precision, caps)
        state = "converted model ready" if coreml_ready else "the model is converted on first use"
        what = f"{caps.coreml.reason}, {state}"
        return DeviceChoice("coreml", unet, _describe("Core ML", what, unet, vae, note), vae, "Core ML")
    # 3. Apple's GPU through MPS.
    if preference in ("auto", "mps"):
        if caps.mps_available:
            unet, vae, note = precision_policy("mps", precision, caps)
            return DeviceChoice("mps", unet, _describe("MPS", "Apple GPU", unet, vae, note), vae, "MPS")
        if preference == "mps":
            raise DeviceUnavailable(f"MPS was requested but {caps.mps_problem}.")
        skipped.append("MPS")
    # 4. The CPU always works.
    unet, vae, note = precision_policy("cpu", precision, caps)
    reason = _describe("CPU", caps.cpu.summary(), unet, vae, note)
    if skipped:
        reason += f"; no {' or '.join(skipped)} device found"
    return DeviceChoice("cpu", unet, reason, vae, "CPU")
