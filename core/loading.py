"""Loading a Moebius pipeline onto the device and precision the backends layer chooses."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import DeviceError
from core.pipeline import MoebiusPipeline
from core.request import ProgressCallback, ProgressEvent
from core.weights import ModelFiles


@dataclass(frozen=True)
class DeviceInfo:
    """The compute device and precision an engine runs on, with the reason for the choice."""

    device: str
    dtype: str
    reason: str


def choose_device(preference: str) -> DeviceInfo:
    """Ask the backends layer for a device; turn its errors into :class:`DeviceError`."""
    from backends.device import DeviceUnavailable
    from backends.device import choose_device as backend_choose

    try:
        choice = backend_choose(preference)
    except DeviceUnavailable as exc:
        raise DeviceError(str(exc), hint="Use --device auto to pick what this computer has.") from exc
    return DeviceInfo(choice.device, choice.dtype_name, choice.reason)


def load_pipeline(
    files: ModelFiles, *, device: str = "auto", progress: ProgressCallback | None = None
) -> tuple[MoebiusPipeline, DeviceInfo]:
    """Load the UNet and the VAE of ``files`` onto the chosen device and build the pipeline."""
    import torch

    from core.model import load_moebius
    from core.vae import load_vae

    info = choose_device(device)
    dtype = getattr(torch, info.dtype)
    if progress is not None:
        progress(ProgressEvent("load", 0, 2))
    model = load_moebius(files.unet, device=info.device, dtype=dtype)
    if progress is not None:
        progress(ProgressEvent("load", 1, 2))
    vae = load_vae(files.vae_dir, device=info.device, dtype=dtype)
    if progress is not None:
        progress(ProgressEvent("load", 2, 2))
    return MoebiusPipeline(model, vae, device=info.device, dtype=dtype), info
