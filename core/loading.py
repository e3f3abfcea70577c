"""Loading a Moebius pipeline onto the device and number formats the backends layer chooses.

What the user asked for comes from the ``device`` argument (the command line's ``--device``), then the
environment variables ``MOEBIUS_STUDIO_DEVICE`` / ``MOEBIUS_STUDIO_PRECISION``, then the saved settings, else
``auto`` (:func:`resolve`). :mod:`backends.device` turns that into a device with a one-line reason.

Before loading, the free memory of the device is compared with an estimate of what a job needs; a GPU that is
short runs the guidance batch in two halves, or (for ``auto``) the CPU is used instead. While running,
:class:`GuardedPipeline` retries a job that runs out of memory, first with the guidance batch split in two,
then on the CPU, and records a note each time (``pipeline.notes``) so the user is told.

Core ML (macOS): the UNet and the VAE are converted once per checkpoint into the models folder
(:func:`export_coreml`) and run through small adapters that look like the torch modules to the pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from core.errors import CoreMLExportError, DeviceError, OutOfMemoryError
from core.pipeline import MoebiusPipeline
from core.request import ProgressCallback, ProgressEvent
from core.weights import ModelFiles

if TYPE_CHECKING:
    from backends.coreml.export import ExportPart
    from backends.coreml.runtime import CoreMLFunction
    from backends.device import DeviceChoice, Request

log = logging.getLogger(__name__)

# Peak working memory of one 512×512 job besides the weights, in float32, a rough figure: the reference pipeline
# peaked at 3.09 GB resident on a CPU with 1.24 GB of weights and ~0.35 GB of runtime (ARCHITECTURE.md §11).
ACTIVATION_BYTES_FLOAT32 = int(1.5 * 2**30)
# Splitting the guidance batch halves the UNet's activations; the VAE's (the larger part) stay.
SPLIT_SAVING = 0.25
MEMORY_MARGIN = 1.15
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
COREML_PARTS: dict[str, tuple[str, ...]] = {
    "unet": ("noise",),
    "vae_encoder": ("mean", "std"),
    "vae_decoder": ("image",),
}


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
    """

    device: str
    dtype: str
    reason: str
    vae_dtype: str = "float32"
    backend: str = "CPU"
    torch_device: str = "cpu"
    notes: tuple[str, ...] = ()


def resolve(device: str | None = None, precision: str | None = None) -> Request:
    """What the user asked for: ``device``/``precision`` if not ``auto``, else the environment, else settings.

    Args:
        device: the explicit device (e.g. ``--device``); ``None`` or ``"auto"`` means not given.
        precision: the explicit precision; ``None`` or ``"auto"`` means not given.

    Raises:
        DeviceError: an environment variable or setting names an unknown device or precision.
    """
    from backends.device import resolve_request
    from core.settings import load_settings

    saved = load_settings().settings  # never raises; a broken file gives the defaults
    try:
        return resolve_request(device, precision, setting_device=saved.device, setting_precision=saved.precision)
    except ValueError as exc:
        raise DeviceError(
            f"{str(exc)[0].upper()}{str(exc)[1:]}.",
            hint="Fix or unset MOEBIUS_STUDIO_DEVICE / MOEBIUS_STUDIO_PRECISION.",
        ) from exc


def _info(choice: DeviceChoice, request: Request, notes: tuple[str, ...] = ()) -> DeviceInfo:
    reason = choice.reason + (f" [{request.source}]" if request.source else "")
    return DeviceInfo(
        choice.device, choice.dtype_name, reason, choice.vae_dtype_name, choice.backend, choice.torch_device, notes
    )


def choose_device(
    preference: str | None = "auto", precision: str | None = None, *, coreml_ready: bool = False
) -> DeviceInfo:
    """Ask the backends layer for a device; turn its errors into :class:`DeviceError`.

    Args:
        preference: the explicit device (``None`` / ``"auto"``: environment, settings, then automatic).
        precision: the explicit precision (``None`` / ``"auto"``: environment, settings, then automatic).
        coreml_ready: a Core ML conversion of the checkpoint exists (``auto`` may then pick Core ML).
    """
    return choose_for(resolve(preference, precision), coreml_ready=coreml_ready)


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


def _cpu_request(precision: str) -> Request:
    from backends.device import Request

    return Request("cpu", precision)


# -- memory --------------------------------------------------------------------------------------------------


def _file_bytes(path: Path | None) -> int:
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


def _vae_weights(files: ModelFiles) -> Path | None:
    from core.vae import VAE_WEIGHT_NAMES

    return next((files.vae_dir / n for n in VAE_WEIGHT_NAMES if (files.vae_dir / n).is_file()), None)


def estimate_memory(files: ModelFiles, dtype: str, vae_dtype: str, *, split_guidance: bool = False) -> int:
    """Estimated peak memory of one 512×512 job in bytes: weights in their run formats plus activations.

    Args:
        files: the checkpoint files (stored in float32; their sizes give the weight bytes).
        dtype: the UNet's number format.
        vae_dtype: the VAE's number format.
        split_guidance: the guidance batch runs in two halves.
    """
    weights = _file_bytes(files.unet) * DTYPE_BYTES[dtype] // 4
    weights += _file_bytes(_vae_weights(files)) * DTYPE_BYTES[vae_dtype] // 4
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
        cpu = choose_for(_cpu_request(precision))
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


# -- the guarded pipeline --------------------------------------------------------------------------------


class GuardedPipeline(MoebiusPipeline):
    """A :class:`~core.pipeline.MoebiusPipeline` that survives running out of memory.

    On an out-of-memory error the job is retried with the guidance batch split in two (the same result in two
    half-size calls), and if that fails too, on the CPU. Every such step appends a sentence to :attr:`notes`
    (see :meth:`take_notes`), and :attr:`info` always describes where the pipeline runs now.

    Args:
        model, vae, scheduler: as for :class:`~core.pipeline.MoebiusPipeline`.
        info: where it runs.
        cpu_fallback: returns the CPU choice used after a second out-of-memory error (default: float32).
        kwargs: further :class:`~core.pipeline.MoebiusPipeline` keyword arguments (``device``, ``dtype``,
            ``vae_dtype``, ``split_guidance``).
    """

    def __init__(
        self,
        model: Any,
        vae: Any,
        scheduler: Any = None,
        *,
        info: DeviceInfo,
        cpu_fallback: Callable[[], DeviceInfo] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, vae, scheduler, **kwargs)
        self.info = info
        self.notes: list[str] = list(info.notes)
        self.cpu_fallback = cpu_fallback

    def __call__(
        self, image: npt.NDArray[np.uint8], mask: npt.NDArray[np.uint8], **options: Any
    ) -> npt.NDArray[np.uint8]:
        """Inpaint one frame like :meth:`MoebiusPipeline.__call__`, retrying on out-of-memory errors."""
        from backends.memory import is_out_of_memory

        while True:
            try:
                return super().__call__(image, mask, **options)
            except Exception as error:
                if not is_out_of_memory(error):
                    raise
                self.step_down(error)

    def step_down(self, error: BaseException) -> None:
        """Make the next try need less memory, or raise :class:`OutOfMemoryError` when nothing is left.

        Args:
            error: the out-of-memory error that ended the last try.
        """
        from backends.memory import release_cached_memory

        release_cached_memory(self.info.device)
        if not self.split_guidance:
            self.split_guidance = True
            self._note(
                f"{self.info.backend} ran out of memory; retrying with the guidance batch split in two "
                "(slower, same result)."
            )
            return
        if self.info.device not in ("cpu", "coreml"):
            backend = self.info.backend
            self.move_to_cpu()
            self._note(f"{backend} ran out of memory again; running on the CPU instead ({self.info.reason}).")
            return
        raise OutOfMemoryError(
            f"There is not enough memory to run the model ({error}).",
            hint="Close other programs, or use a computer with more memory.",
        ) from error

    def move_to_cpu(self) -> None:
        """Move the UNet and the VAE to the CPU, in the CPU's number formats."""
        from backends.memory import release_cached_memory

        previous = self.info
        cpu = self.cpu_fallback() if self.cpu_fallback is not None else choose_for(_cpu_request("exact"))
        self.model.to(device="cpu", dtype=getattr(torch, cpu.dtype))
        nn.Module.to(self.vae, device="cpu", dtype=getattr(torch, cpu.vae_dtype))
        self.device = torch.device("cpu")
        self.dtype = getattr(torch, cpu.dtype)
        self.vae_dtype = getattr(torch, cpu.vae_dtype)
        self.info = replace(cpu, notes=previous.notes)
        release_cached_memory(previous.device)

    def _note(self, text: str) -> None:
        log.warning("%s", text)
        self.notes.append(text)

    def take_notes(self) -> list[str]:
        """The notes gathered so far (for a job's warnings); the list is emptied."""
        taken = list(self.notes)
        self.notes.clear()
        return taken


# -- loading -------------------------------------------------------------------------------------------------


def load_pipeline(
    files: ModelFiles,
    *,
    device: str | None = "auto",
    precision: str | None = None,
    progress: ProgressCallback | None = None,
    compute_units: str = "all",
) -> tuple[MoebiusPipeline, DeviceInfo]:
    """Load the UNet and the VAE of ``files`` onto the chosen device and build a guarded pipeline.

    Args:
        files: the checkpoint files.
        device: the explicit device (``--device``); ``None`` / ``"auto"`` consults the environment and the
            settings, then chooses automatically.
        precision: the explicit precision; ``None`` / ``"auto"`` likewise.
        progress: receives ``stage="load"`` events.
        compute_units: Core ML compute units (``"all"``, ``"cpu_and_gpu"``, ``"cpu_and_ne"``, ``"cpu_only"``).

    Returns:
        The pipeline (a :class:`GuardedPipeline`, whose ``notes`` collect memory fallbacks) and the device
        choice, whose ``notes`` say what the memory check changed.
    """
    from backends.startup import prepare_torch_environment
    from core.model import load_moebius
    from core.vae import load_vae

    prepare_torch_environment()
    request = resolve(device, precision)
    info = choose_for(request, coreml_ready=_coreml_ready(files))
    if info.device == "coreml":
        return _load_coreml(files, info, progress, compute_units)
    info, split = plan_memory(files, info, automatic=request.device == "auto", precision=request.precision)

    def cpu_choice() -> DeviceInfo:
        return choose_for(_cpu_request(request.precision))

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


# -- Core ML ---------------------------------------------------------------------------------------------------


def coreml_key(files: ModelFiles) -> str:
    """The key of a checkpoint's Core ML conversion: a hash of the UNet and VAE weight files."""
    from backends.coreml.export import checkpoint_key

    vae = _vae_weights(files)
    return checkpoint_key([files.unet] + ([vae] if vae is not None else []))


def coreml_folder(files: ModelFiles, models_root: Path | None = None) -> Path | None:
    """The folder of a complete Core ML conversion of ``files``, or ``None`` when there is none yet.

    Args:
        files: the checkpoint files.
        models_root: the models folder (default :func:`core.paths.models_dir`).
    """
    from backends.coreml.export import find_bundle
    from core.paths import models_dir

    root = models_dir() if models_root is None else models_root
    if not (root / "coreml").is_dir():
        return None  # nothing converted yet: no need to hash the checkpoint
    return find_bundle(root, coreml_key(files), tuple(COREML_PARTS))


def _coreml_ready(files: ModelFiles) -> bool:
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
    from core.model import COND_IDS, UNCOND_IDS
    from core.vae import VAE_SCALE_FACTOR

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
        models_root: the models folder (default :func:`core.paths.models_dir`).
        progress: receives ``stage="convert"`` events, one per part.
        minimum_macos: oldest macOS the packages must run on.

    Raises:
        CoreMLExportError: coremltools is missing or cannot convert an operator (named in the message).
    """
    from backends.coreml import INSTALL_HINT, coreml_status
    from core.model import load_moebius
    from core.paths import models_dir
    from core.vae import load_vae

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

    vae_file = _vae_weights(files)
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


def _load_coreml(
    files: ModelFiles, info: DeviceInfo, progress: ProgressCallback | None, compute_units: str
) -> tuple[MoebiusPipeline, DeviceInfo]:

    from backends.coreml.runtime import CoreMLUnavailable, load_functions
    from core.model import COND_IDS, UNCOND_IDS, read_config_beside
    from core.vae import read_vae_config

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
