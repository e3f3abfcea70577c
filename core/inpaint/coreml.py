"""Core ML (macOS): the UNet and the VAE converted once per checkpoint, run through small adapters.

The conversion goes into the models folder (:func:`export_coreml`); :class:`CoreMLUNet` and
:class:`CoreMLVAE` look like the torch modules to the pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor, nn

from core.common.errors import CoreMLExportError, DeviceError
from core.common.progress import ProgressCallback, ProgressEvent
from core.inpaint.device import DeviceInfo
from core.inpaint.guarded import GuardedPipeline
from core.inpaint.pipeline import MoebiusPipeline
from core.weights.registry import ModelFiles, weights_file

if TYPE_CHECKING:
    from backends.coreml.export import ExportPart
    from backends.coreml.runtime import CoreMLFunction

log = logging.getLogger(__name__)

COREML_PARTS: dict[str, tuple[str, ...]] = {
    "unet": ("noise",),
    "vae_encoder": ("mean", "std"),
    "vae_decoder": ("image",),
}


def coreml_key(files: ModelFiles) -> str:
    """The key of a checkpoint's Core ML conversion: a hash of the UNet and VAE weight files."""
    from backends.coreml.export import checkpoint_key

    vae = weights_file(files.vae_dir)
    return checkpoint_key([files.unet] + ([vae] if vae is not None else []))


def coreml_folder(files: ModelFiles, models_root: Path | None = None) -> Path | None:
    """The folder of a complete Core ML conversion of ``files``, or ``None`` when there is none yet.

    Args:
        files: the checkpoint files.
        models_root: the models folder (default :func:`core.common.paths.models_dir`).
    """
    from backends.coreml.export import find_bundle
    from core.common.paths import models_dir

    root = models_dir() if models_root is None else models_root
    if not (root / "coreml").is_dir():
        return None  # nothing converted yet: no need to hash the checkpoint
    return find_bundle(root, coreml_key(files), tuple(COREML_PARTS))


def coreml_ready(files: ModelFiles) -> bool:
    from backends.coreml import coreml_status

    return coreml_status().can_run and coreml_folder(files) is not None


def coreml_parts(model: nn.Module, vae: Any, *, unet_precision: str = "float16") -> list[ExportPart]:
    """The three modules converted for Core ML, with fixed shapes.

    The UNet runs the guidance pair (foreground ids, removal ids) as one batch of 2 with the ids built in, so
    its inputs are plain float tensors: ``sample`` (2, 9, S, S) and ``timestep`` (1,). The VAE is converted
    in float32 because it overflows in float16.

    Args:
        model: the Moebius model (in float32, on the CPU).
        vae: its ``AutoencoderKL``.
        unet_precision: compute precision of the UNet's ML program.
    """
    from backends.coreml.export import ExportPart, FixedArguments, TensorSpec
    from core.model.unet import COND_IDS, UNCOND_IDS
    from core.model.vae import VAE_SCALE_FACTOR

    side = int(cast(Any, model).sample_size)
    channels = int(cast(Any, model).in_channels)
    frame = side * VAE_SCALE_FACTOR
    ids = torch.tensor([list(UNCOND_IDS), list(COND_IDS)], dtype=torch.long)
    return [
        ExportPart(
            "unet",
            FixedArguments(model, 3, {2: ids}),
            (TensorSpec("sample", (2, channels, side, side)), TensorSpec("timestep", (1,))),
            COREML_PARTS["unet"],
            unet_precision,
        ),
        ExportPart(
            "vae_encoder",
            _EncodeMoments(vae),
            (TensorSpec("pixels", (1, 3, frame, frame)),),
            COREML_PARTS["vae_encoder"],
            "float32",
        ),
        ExportPart(
            "vae_decoder",
            _Decode(vae),
            (TensorSpec("latents", (1, 4, side, side)),),
            COREML_PARTS["vae_decoder"],
            "float32",
        ),
    ]


class _EncodeMoments(nn.Module):
    """``pixels`` → the VAE posterior's mean and standard deviation (the pipeline samples itself)."""

    def __init__(self, vae: Any) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, pixels: Tensor) -> tuple[Tensor, Tensor]:
        posterior = self.vae.encode(pixels).latent_dist
        return posterior.mean, posterior.std


class _Decode(nn.Module):
    """Unscaled latents → decoded image in [-1, 1]."""

    def __init__(self, vae: Any) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, latents: Tensor) -> Tensor:
        return cast("Tensor", self.vae.decode(latents).sample)


def export_coreml(
    files: ModelFiles,
    *,
    models_root: Path | None = None,
    progress: ProgressCallback | None = None,
    minimum_macos: str = "13",
) -> Path:
    """Convert the checkpoint's UNet and VAE to Core ML into ``<models>/coreml/<key>/``; returns the folder.

    Works on any OS where coremltools installs (running the result needs macOS). An existing complete
    conversion is reused.

    Args:
        files: the checkpoint files.
        models_root: the models folder (default :func:`core.common.paths.models_dir`).
        progress: receives ``stage="convert"`` events, one per part.
        minimum_macos: oldest macOS the packages must run on.

    Raises:
        CoreMLExportError: coremltools is missing or cannot convert an operator (named in the message).
    """
    from backends.coreml import INSTALL_HINT, coreml_status
    from core.common.paths import models_dir
    from core.model.unet import load_moebius
    from core.model.vae import load_vae

    root = models_dir() if models_root is None else models_root
    existing = coreml_folder(files, root)
    if existing is not None:
        return existing
    if not coreml_status().can_export:
        raise CoreMLExportError("Core ML conversion needs coremltools.", hint=f"Install it: {INSTALL_HINT}")
    from backends.coreml.export import ConversionError, export_bundle

    model = load_moebius(files.unet)
    vae = load_vae(files.vae_dir)

    def report(done: int, total: int, name: str) -> None:
        if progress is not None:
            progress(ProgressEvent("convert", done, total))

    vae_file = weights_file(files.vae_dir)
    sources = [files.unet] + ([vae_file] if vae_file is not None else [])
    try:
        return export_bundle(
            root,
            coreml_key(files),
            coreml_parts(model, vae),
            sources=sources,
            minimum_macos=minimum_macos,
            progress=report,
        )
    except ConversionError as exc:
        raise CoreMLExportError(str(exc), hint="Use --device auto to run with torch instead.") from exc


class CoreMLUNet:
    """Looks like the Moebius model to the pipeline; runs the converted UNet (a fixed batch of two rows).

    Args:
        function: the converted UNet (inputs ``sample``, ``timestep``; output ``noise``).
        ids: the (2, 10) ids built into the conversion, row by row.
        sample_size: latent side (64).
        in_channels: input channels (9).
    """

    def __init__(
        self,
        function: CoreMLFunction | Callable[..., tuple[Tensor, ...]],
        ids: Tensor,
        sample_size: int,
        in_channels: int,
    ) -> None:
        self.function = function
        self.ids = ids
        self.sample_size = sample_size
        self.in_channels = in_channels

    def to(self, *args: Any, **kwargs: Any) -> CoreMLUNet:
        """Core ML manages its own devices; moving is a no-op."""
        return self

    def __call__(self, sample: Tensor, timesteps: Tensor, input_ids: Tensor) -> Tensor:
        """Predict noise for any batch whose id rows are among the converted ones.

        Args:
            sample: (B, 9, S, S) model input.
            timesteps: the timestep, shape (1,).
            input_ids: (B, 10) ids; each row must equal one of the converted rows.
        """

        slots = []
        for row in input_ids.cpu():
            matches = [j for j in range(self.ids.shape[0]) if torch.equal(row, self.ids[j])]
            if not matches:
                raise ValueError(f"the Core ML UNet was converted for ids {self.ids.tolist()}, not {row.tolist()}")
            slots.append(matches[0])
        t = timesteps.reshape(1).float()
        if slots == list(range(self.ids.shape[0])):
            return self.function(sample=sample.float(), timestep=t)[0]
        # Another batch layout (no guidance, or split guidance): run each row in its slot of the fixed batch.
        rows = []
        for i, slot in enumerate(slots):
            batch = sample[i : i + 1].float().repeat(self.ids.shape[0], 1, 1, 1)
            rows.append(self.function(sample=batch, timestep=t)[0][slot : slot + 1])
        return torch.cat(rows)


class CoreMLVAE:
    """Looks like ``AutoencoderKL`` to the pipeline (``encode().latent_dist``, ``decode().sample``).

    Args:
        encoder: the converted encoder (input ``pixels``; outputs ``mean``, ``std``).
        decoder: the converted decoder (input ``latents``; output ``image``).
        scaling_factor: the VAE's latent scaling factor (from its config).
    """

    def __init__(
        self,
        encoder: CoreMLFunction | Callable[..., tuple[Tensor, ...]],
        decoder: CoreMLFunction | Callable[..., tuple[Tensor, ...]],
        scaling_factor: float,
    ) -> None:
        self.encoder = encoder
        self.decoder = decoder
        self.config = SimpleNamespace(scaling_factor=scaling_factor)

    def encode(self, pixels: Tensor) -> SimpleNamespace:
        """The posterior of ``pixels`` as ``result.latent_dist.mean`` / ``.std``."""
        mean, std = self.encoder(pixels=pixels.float())
        return SimpleNamespace(latent_dist=SimpleNamespace(mean=mean, std=std))

    def decode(self, latents: Tensor) -> SimpleNamespace:
        """The decoded image as ``result.sample``."""
        (image,) = self.decoder(latents=latents.float())
        return SimpleNamespace(sample=image)


def load_coreml(
    files: ModelFiles, info: DeviceInfo, progress: ProgressCallback | None, compute_units: str
) -> tuple[MoebiusPipeline, DeviceInfo]:

    from backends.coreml.runtime import CoreMLUnavailable, load_functions
    from core.model.checkpoint import read_config_beside
    from core.model.unet import COND_IDS, UNCOND_IDS
    from core.model.vae import read_vae_config

    notes = list(info.notes)
    folder = coreml_folder(files)
    if folder is None:
        notes.append("Converting the model for Core ML (once per checkpoint; this takes a few minutes).")
        log.warning("%s", notes[-1])
        folder = export_coreml(files, progress=progress)
    try:
        functions = load_functions(folder, COREML_PARTS, compute_units)
    except CoreMLUnavailable as exc:
        raise DeviceError(f"Core ML cannot run here: {exc}.", hint="Use --device auto.") from exc
    config = read_config_beside(files.unet) or {}
    config = dict(config.get("model_kwargs", config))
    side = int(config.get("sample_size", 64))
    ids = torch.tensor([list(UNCOND_IDS), list(COND_IDS)], dtype=torch.long)
    unet = CoreMLUNet(functions["unet"], ids, side, int(config.get("in_channels", 9)))
    vae = CoreMLVAE(
        functions["vae_encoder"], functions["vae_decoder"], float(read_vae_config(files.vae_dir)["scaling_factor"])
    )
    info = replace(info, notes=tuple(notes), reason=f"{info.reason}, compute units {compute_units}")
    pipeline = GuardedPipeline(unet, vae, info=info, device="cpu", dtype=torch.float32)
    return pipeline, info
