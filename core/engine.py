"""Inpainting engines and the flat registry the front ends read their capabilities from.

An engine turns an :class:`~core.request.InpaintRequest` into an :class:`~core.request.InpaintResult`.
Two exist: the Moebius diffusion model (needs downloaded weights) and a classic OpenCV fill that always works.
The registry's capability flags tell the CLI and the GUI which settings mean something for an engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.cancel import CancelToken
from core.request import InpaintRequest, InpaintResult, ProgressCallback


class Engine(Protocol):
    """What every engine offers."""

    name: str

    def inpaint(
        self,
        request: InpaintRequest,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> InpaintResult:
        """Fill the request's mask. Raises :class:`core.errors.CancelledError` when ``cancel`` is set."""
        ...


@dataclass(frozen=True)
class EngineInfo:
    """A registry entry: what an engine is and which settings it understands.

    Args:
        name: identifier used on the command line and in settings files.
        label: what the user reads.
        description: one sentence for tooltips and ``--help``.
        needs_weights: the engine cannot run until model weights are installed.
        uses_seed / uses_steps / uses_guidance: whether those settings affect the result.
        has_preview: the engine can report previews while it runs.
    """

    name: str
    label: str
    description: str
    needs_weights: bool
    uses_seed: bool
    uses_steps: bool
    uses_guidance: bool
    has_preview: bool


ENGINES: dict[str, EngineInfo] = {
    "moebius": EngineInfo(
        name="moebius",
        label="Moebius (AI)",
        description="The Moebius diffusion model: realistic fills that invent plausible texture and structure.",
        needs_weights=True,
        uses_seed=True,
        uses_steps=True,
        uses_guidance=True,
        has_preview=True,
    ),
    "classic": EngineInfo(
        name="classic",
        label="Classic (built-in)",
        description="A fast built-in fill (OpenCV Telea) that works without the model; best for small spots.",
        needs_weights=False,
        uses_seed=False,
        uses_steps=False,
        uses_guidance=False,
        has_preview=False,
    ),
}


def load_engine(
    name: str,
    *,
    model_dir: str | None = None,
    device: str = "auto",
    precision: str | None = None,
    progress: ProgressCallback | None = None,
) -> Engine:
    """Build a ready-to-run engine.

    Args:
        name: ``"moebius"`` or ``"classic"`` (resolve ``"auto"`` with :func:`resolve_engine_name` first).
        model_dir: folder with Moebius weights; ``None`` looks in the app's models folder.
        device: ``"auto"`` or one of :data:`backends.device.DEVICES`.
        precision: ``None``/``"auto"`` (the device's policy), ``"exact"`` (float32 everywhere), or a dtype name.
        progress: receives ``stage="load"`` events while weights load.

    Raises:
        ModelNotInstalledError: ``name == "moebius"`` and no weights were found.
        DeviceError: the requested device does not exist here.
    """
    if name == "classic":
        from core.classic import ClassicEngine

        return ClassicEngine()
    if name == "moebius":
        from core.moebius_engine import MoebiusEngine

        return MoebiusEngine.from_model_dir(model_dir, device=device, precision=precision, progress=progress)
    raise ValueError(f"unknown engine {name!r}; expected one of {sorted(ENGINES)}")


def resolve_engine_name(name: str, model_dir: str | None = None) -> tuple[str, str | None]:
    """Turn ``"auto"`` into a concrete engine name.

    Returns the engine name and, when the choice fell back to the classic engine, a note for the user that
    says why and how to get the Moebius model.
    """
    if name != "auto":
        return name, None
    from core.weights import find_model, install_hint, require_model

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
