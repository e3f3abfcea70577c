"""What an inpainting engine offers, and building the one a job asks for.

An engine turns an :class:`~core.job.request.InpaintRequest` into an :class:`~core.inpaint.result.InpaintResult`.
Two exist: the Moebius diffusion model (needs downloaded weights, :mod:`core.inpaint.moebius`) and a classic
OpenCV fill that always works (:mod:`core.inpaint.classic`). What each understands is in the flat registry
:data:`core.job.engines.ENGINES`, which the front ends read without loading anything.
"""

from __future__ import annotations

from typing import Protocol

from core.common.cancel import CancelToken
from core.common.progress import ProgressCallback
from core.inpaint.result import InpaintResult
from core.job.engines import ENGINES
from core.job.request import InpaintRequest


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
        precision: ``None``/``"auto"`` (the device's policy), ``"exact"`` (float32 everywhere), or a dtype name.
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
