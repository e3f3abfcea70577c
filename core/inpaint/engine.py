"""What an inpainting engine offers, and building the one a job asks for.

An engine turns an :class:`~core.job.request.InpaintRequest` into an :class:`~core.inpaint.result.InpaintResult`.
Two exist: the Moebius diffusion model (needs downloaded weights, :mod:`core.inpaint.moebius`) and a classic
OpenCV fill that always works (:mod:`core.inpaint.classic`). What each understands is in the flat registry
:data:`core.job.engines.ENGINES`, which the front ends read without loading anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from core.common.cancel import CancelToken
from core.common.progress import ProgressCallback
from core.inpaint.result import InpaintResult
from core.job.engines import ENGINES
from core.job.request import InpaintRequest

if TYPE_CHECKING:
    from backends.device import Request
    from core.job.settings import JobSettings


class Engine(Protocol):
    """What every engine offers."""

    name: str

    def inpaint(
        self,
        request: InpaintRequest,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> InpaintResult:
        """Fill the request's mask. Raises :class:`core.common.errors.CancelledError` when ``cancel`` is set."""
        ...


def load_engine(
    name: str,
    *,
    model_dir: str | None = None,
    variant: str | None = None,
    device: str = "auto",
    precision: str | None = None,
    source: str = "",
    progress: ProgressCallback | None = None,
) -> Engine:
    """Build a ready-to-run engine.

    The device and precision are the ones the front end resolved from its flags, the environment and the
    settings (:func:`core.inpaint.device.resolve`); nothing is looked up here.

    Args:
        name: ``"moebius"`` or ``"classic"`` (resolve ``"auto"`` with :func:`resolve_engine_name` first).
        model_dir: folder with Moebius weights; ``None`` looks in the app's models folder.
        variant: the released Moebius weights to prefer (``JobSettings.model_variant``); ``None`` the default.
        device: ``"auto"`` or one of :data:`backends.device.DEVICES`.
        precision: ``None``/``"auto"`` (the device's policy), ``"exact"`` (float32 everywhere), a dtype name,
            or ``"int8"`` (the CPU's fast mode: int8 products in the UNet, see :mod:`core.model.quantized`).
        source: where non-``auto`` device and precision values came from, e.g. ``"device from the saved
            settings"`` (shown with the device's reason and in errors).
        progress: receives ``stage="load"`` events while weights load.

    Raises:
        ModelNotInstalledError: ``name == "moebius"`` and no weights were found.
        DeviceError: the requested device does not exist here.
    """
    if name == "classic":
        from core.inpaint.classic import ClassicEngine

        return ClassicEngine()
    if name == "moebius":
        from core.inpaint.moebius import MoebiusEngine

        return MoebiusEngine.from_model_dir(
            model_dir, device=device, precision=precision, source=source, variant=variant, progress=progress
        )
    raise ValueError(f"unknown engine {name!r}; expected one of {sorted(ENGINES)}")


def load_engine_for(
    name: str,
    settings: JobSettings,
    request: Callable[[], Request],
    *,
    model_dir: str | None = None,
    progress: ProgressCallback | None = None,
) -> Engine:
    """Build the engine a job runs on: :func:`load_engine` with the job's model variant and device request.

    The one place that knows an engine without weights (the classic fill) runs on the CPU, so the device and
    precision asked for do not apply to it. Every front end (command line, app, cluster worker) loads through it.

    Args:
        name: ``"moebius"`` or ``"classic"`` (already resolved from ``"auto"``).
        settings: the job's settings (its ``model_variant``).
        request: resolves the device and precision the front end asks for (:func:`core.inpaint.device.resolve`);
            called only for engines that use a device, so a bad ``MOEBIUS_STUDIO_DEVICE`` never stops the classic
            fill.
        model_dir: folder with Moebius weights; ``None`` looks in the app's models folder.
        progress: receives the loading events.
    """
    if not ENGINES[name].needs_weights:
        return load_engine(name, progress=progress)
    asked = request()
    return load_engine(
        name,
        model_dir=model_dir,
        variant=settings.model_variant,
        device=asked.device,
        precision=asked.precision,
        source=asked.source,
        progress=progress,
    )


def resolve_engine_name(name: str, model_dir: str | None = None) -> tuple[str, str | None]:
    """Turn ``"auto"`` into a concrete engine name.

    Returns the engine name and, when the choice fell back to the classic engine, a note for the user that
    says why and how to get the Moebius model.
    """
    if name != "auto":
        return name, None
    from core.weights.registry import find_model, install_hint, require_model

    if model_dir is not None:
        # An explicit model folder means the user wants Moebius: a wrong folder is an error, not a fallback.
        require_model(model_dir)
        return "moebius", None
    if find_model(model_dir) is not None:
        return "moebius", None
    return "classic", (
        "Moebius weights are not installed, so the built-in classic engine (OpenCV Telea) is used. "
        + install_hint()
    )
