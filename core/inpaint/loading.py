"""Loading a Moebius pipeline onto the device and number formats the backends layer chooses.

:mod:`core.inpaint.device` picks the device and checks its memory, :mod:`core.inpaint.guarded` keeps a
running pipeline alive when memory runs out, and :mod:`core.inpaint.coreml` converts and runs the model with
Core ML on macOS; :func:`load_pipeline` puts them together.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import torch

from core.common.progress import ProgressCallback, ProgressEvent
from core.inpaint.coreml import coreml_ready, load_coreml
from core.inpaint.device import DeviceInfo, choose_for, cpu_request, plan_memory, request_for
from core.inpaint.guarded import GuardedPipeline
from core.inpaint.pipeline import MoebiusPipeline
from core.weights.registry import ModelFiles

log = logging.getLogger(__name__)


def load_pipeline(
    files: ModelFiles,
    *,
    device: str | None = "auto",
    precision: str | None = None,
    source: str = "",
    progress: ProgressCallback | None = None,
    compute_units: str = "all",
) -> tuple[MoebiusPipeline, DeviceInfo]:
    """Load the UNet and the VAE of ``files`` onto the chosen device and build a guarded pipeline.

    The device and precision are what the front end resolved (its flag, the environment, the settings; see
    :func:`core.inpaint.device.resolve`); nothing else is consulted here.

    Args:
        files: the checkpoint files.
        device: the device asked for; ``None`` / ``"auto"`` chooses automatically.
        precision: the precision asked for; ``None`` / ``"auto"`` follows the device's policy.
        source: where non-``auto`` values came from, for the reason and error messages.
        progress: receives ``stage="load"`` events.
        compute_units: Core ML compute units (``"all"``, ``"cpu_and_gpu"``, ``"cpu_and_ne"``, ``"cpu_only"``).

    Returns:
        The pipeline (a :class:`GuardedPipeline`, whose ``notes`` collect memory fallbacks) and the device
        choice, whose ``notes`` say what the memory check changed.
    """
    from backends.startup import prepare_torch_environment
    from core.model.quantized import check_int8_supported, prepare_int8
    from core.model.unet import load_moebius
    from core.model.vae import load_vae

    prepare_torch_environment()
    request = request_for(device, precision, source)
    info = choose_for(request, coreml_ready=coreml_ready(files))
    if info.device == "coreml":
        return load_coreml(files, info, progress, compute_units)
    info, split = plan_memory(files, info, automatic=request.device == "auto", precision=request.precision)

    if info.int8_products:
        check_int8_supported()  # refused before the weights are read, not after

    def cpu_choice() -> DeviceInfo:
        return choose_for(cpu_request(request.precision))

    if progress is not None:
        progress(ProgressEvent("load", 0, 2))
    try:
        model = load_moebius(files.unet, device=info.torch_device, dtype=getattr(torch, info.dtype))
        if progress is not None:
            progress(ProgressEvent("load", 1, 2))
        vae = load_vae(files.vae_dir, device=info.torch_device, dtype=getattr(torch, info.vae_dtype))
    except Exception as error:  # noqa: BLE001 -- only out-of-memory errors are handled here
        from backends.memory import is_out_of_memory, release_cached_memory

        if info.device == "cpu" or not is_out_of_memory(error):
            raise
        release_cached_memory(info.device)
        note = f"{info.backend} ran out of memory while loading the model; using the CPU instead."
        log.warning("%s", note)
        info = replace(cpu_choice(), notes=(*info.notes, note))
        model = load_moebius(files.unet, device="cpu", dtype=getattr(torch, info.dtype))
        vae = load_vae(files.vae_dir, device="cpu", dtype=getattr(torch, info.vae_dtype))
    if info.int8_products:
        # The fast int8 mode: the UNet's pointwise products get int8 weights; the VAE stays float32.
        plan = prepare_int8(model)
        log.info("%s", plan.summary())
    if progress is not None:
        progress(ProgressEvent("load", 2, 2))
    pipeline = GuardedPipeline(
        model,
        vae,
        info=info,
        cpu_fallback=cpu_choice,
        device=info.torch_device,
        dtype=getattr(torch, info.dtype),
        vae_dtype=getattr(torch, info.vae_dtype),
        # Split when the memory check asks for it; otherwise the pipeline's default for the device.
        split_guidance=True if split else None,
    )
    return pipeline, info
