"""Which device and number formats a Moebius pipeline runs on, and whether its memory suffices.

What the user asked for is merged by the front end that asks (:func:`resolve`): its explicit value (the command
line's ``--device``), then the environment variables ``MOEBIUS_STUDIO_DEVICE`` / ``MOEBIUS_STUDIO_PRECISION``,
then the setting it runs with (saved, or the GUI's settings panel), else ``auto``. Loading takes that resolved
request and consults nothing else; :mod:`backends.device` turns it into a device with a one-line reason.

Before loading, the free memory of the device is compared with an estimate of what a job needs
(:func:`plan_memory`): a GPU that is short runs the guidance batch in two halves, or (for ``auto``) the CPU is
used instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from core.common.errors import DeviceError
from core.weights.registry import ModelFiles, weights_file

if TYPE_CHECKING:
    from backends.device import DeviceChoice, Request

log = logging.getLogger(__name__)

# Peak working memory of one 512×512 job besides the weights, in float32, a rough figure: the reference pipeline
# peaked at 3.09 GB resident on a CPU with 1.24 GB of weights and ~0.35 GB of runtime (ARCHITECTURE.md §11).
ACTIVATION_BYTES_FLOAT32 = int(1.5 * 2**30)
# Splitting the guidance batch halves the UNet's activations; the VAE's (the larger part) stay.
SPLIT_SAVING = 0.25
MEMORY_MARGIN = 1.15
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


@dataclass(frozen=True)
class DeviceInfo:
    """The compute device and number formats an engine runs on, with the reason for the choice.

    Args:
        device: ``"cuda"`` (CUDA or ROCm), ``"mps"``, ``"coreml"`` or ``"cpu"``.
        dtype: the UNet's number format (``"float32"``, ``"float16"``, ``"bfloat16"``).
        reason: one line saying what was chosen and why.
        vae_dtype: the VAE's number format.
        backend: what the user reads: ``"CUDA"``, ``"ROCm"``, ``"MPS"``, ``"Core ML"`` or ``"CPU"``.
        torch_device: the torch device of the tensors (``"cuda:1"``; ``"cpu"`` for Core ML).
        notes: things the user should know (memory, fallbacks), one sentence each.
        int8_products: the fast int8 mode: the UNet's pointwise products run with int8 weights (on the CPU,
            ``dtype`` float32 for everything else); the model is prepared for it after loading.
    """

    device: str
    dtype: str
    reason: str
    vae_dtype: str = "float32"
    backend: str = "CPU"
    torch_device: str = "cpu"
    notes: tuple[str, ...] = ()
    int8_products: bool = False


def resolve(
    device: str | None = None,
    precision: str | None = None,
    *,
    setting_device: str = "auto",
    setting_precision: str = "auto",
    setting_origin: str = "the settings",
    explicit_origin: str = "the command line",
) -> Request:
    """What the user asked for: ``device``/``precision`` if not ``auto``, else the environment, else the setting.

    Called by the front ends, which know where each value came from; nothing here reads a file.

    Args:
        device: the explicit device (e.g. ``--device``); ``None`` or ``"auto"`` means not given.
        precision: the explicit precision; ``None`` or ``"auto"`` means not given.
        setting_device: the device of the settings the job runs with.
        setting_precision: their precision.
        setting_origin: where those settings came from (``"the saved settings"``, ``"the settings panel"``).
        explicit_origin: where the explicit values came from.

    Raises:
        DeviceError: an environment variable or a value names an unknown device or precision.
    """
    from backends.device import resolve_request

    try:
        return resolve_request(
            device,
            precision,
            setting_device=setting_device,
            setting_precision=setting_precision,
            setting_origin=setting_origin,
            explicit_origin=explicit_origin,
        )
    except ValueError as exc:
        raise DeviceError(
            f"{str(exc)[0].upper()}{str(exc)[1:]}.",
            hint="Fix or unset MOEBIUS_STUDIO_DEVICE / MOEBIUS_STUDIO_PRECISION.",
        ) from exc


def _info(choice: DeviceChoice, request: Request, notes: tuple[str, ...] = ()) -> DeviceInfo:
    from backends.device import int8_requested

    reason = choice.reason + (f" [{request.source}]" if request.source else "")
    return DeviceInfo(
        choice.device,
        choice.dtype_name,
        reason,
        choice.vae_dtype_name,
        choice.backend,
        choice.torch_device,
        notes,
        int8_products=int8_requested(request.precision, choice.device),
    )


def choose_device(
    preference: str | None = "auto", precision: str | None = None, *, coreml_ready: bool = False
) -> DeviceInfo:
    """The device for exactly these values (nothing else is consulted); see :func:`choose_for`.

    Args:
        preference: the device; ``None`` means ``"auto"``.
        precision: the precision; ``None`` means ``"auto"``.
        coreml_ready: a Core ML conversion of the checkpoint exists (``auto`` may then pick Core ML).
    """
    return choose_for(request_for(preference, precision), coreml_ready=coreml_ready)


def request_for(device: str | None = "auto", precision: str | None = None, source: str = "") -> Request:
    """A request for exactly these values, as resolved by a front end.

    Args:
        device: the device; ``None`` means ``"auto"``.
        precision: the precision; ``None`` means ``"auto"``.
        source: where non-``auto`` values came from (see :class:`backends.device.Request`).
    """
    from backends.device import Request

    return Request(device or "auto", precision or "auto", source)


def choose_for(request: Request, *, coreml_ready: bool = False) -> DeviceInfo:
    """The device for an already resolved request (see :func:`resolve`).

    Args:
        request: what was asked for and where it came from.
        coreml_ready: a Core ML conversion of the checkpoint exists.
    """
    from backends.device import DeviceUnavailable
    from backends.device import choose_device as backend_choose

    try:
        choice = backend_choose(request.device, request.precision, coreml_ready=coreml_ready)
    except DeviceUnavailable as exc:
        where = f" (set by {request.source})" if request.source else ""
        raise DeviceError(
            f"{str(exc).rstrip('.')}{where}.", hint="Use --device auto to pick what this computer has."
        ) from exc
    return _info(choice, request)


def cpu_request(precision: str) -> Request:
    from backends.device import Request

    return Request("cpu", precision)


# -- memory --------------------------------------------------------------------------------------------------


def _file_bytes(path: Path | None) -> int:
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


def estimate_memory(files: ModelFiles, dtype: str, vae_dtype: str, *, split_guidance: bool = False) -> int:
    """Estimated peak memory of one 512×512 job in bytes: weights in their run formats plus activations.

    Args:
        files: the checkpoint files (stored in float32; their sizes give the weight bytes).
        dtype: the UNet's number format.
        vae_dtype: the VAE's number format.
        split_guidance: the guidance batch runs in two halves.
    """
    weights = _file_bytes(files.unet) * DTYPE_BYTES[dtype] // 4
    weights += _file_bytes(weights_file(files.vae_dir)) * DTYPE_BYTES[vae_dtype] // 4
    activations = ACTIVATION_BYTES_FLOAT32 * max(DTYPE_BYTES[dtype], DTYPE_BYTES[vae_dtype]) / 4
    if split_guidance:
        activations *= 1 - SPLIT_SAVING
    return int((weights + activations) * MEMORY_MARGIN)


def plan_memory(
    files: ModelFiles, info: DeviceInfo, *, automatic: bool, precision: str = "auto"
) -> tuple[DeviceInfo, bool]:
    """Check the free memory of the chosen device; returns the (possibly changed) choice and ``split_guidance``.

    A GPU that is short for a normal run but fits a split one runs split; one that fits neither is swapped for
    the CPU when the choice was automatic, otherwise kept with a warning (a run that does fail retries on the
    CPU anyway). A short CPU only gets a warning.

    Args:
        files: the checkpoint files.
        info: the device choice.
        automatic: the device was chosen automatically (so it may be changed).
        precision: the requested precision, for a switch to the CPU.
    """
    from backends.memory import check_memory, gib

    if info.device == "coreml":
        return info, False
    index = int(info.torch_device.split(":")[1]) if ":" in info.torch_device else 0
    need = estimate_memory(files, info.dtype, info.vae_dtype)
    check = check_memory(info.device, need, index)
    log.info("memory check on %s: %s", info.torch_device, check.message)
    if check.enough:
        return info, False
    assert check.free_bytes is not None  # "not enough" is only reported when the free memory is known
    if info.device == "cpu":
        note = f"Only {gib(check.free_bytes)} of RAM is free and a run needs about {gib(need)}; it may be slow."
        return replace(info, notes=(*info.notes, note)), False
    split_need = estimate_memory(files, info.dtype, info.vae_dtype, split_guidance=True)
    if check.free_bytes >= split_need:
        note = (
            f"{info.backend} has {gib(check.free_bytes)} free, less than the {gib(need)} a normal run needs; "
            "the guidance batch runs in two halves to fit."
        )
        return replace(info, notes=(*info.notes, note)), True
    if automatic:
        cpu = choose_for(cpu_request(precision))
        note = (
            f"{info.backend} has only {gib(check.free_bytes)} free and a run needs about {gib(split_need)}; "
            "using the CPU instead."
        )
        return replace(cpu, notes=(*info.notes, note)), False
    note = (
        f"{info.backend} has only {gib(check.free_bytes)} free and a run needs about {gib(split_need)}; "
        "if it runs out of memory the job is retried on the CPU."
    )
    return replace(info, notes=(*info.notes, note)), True
