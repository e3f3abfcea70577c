"""The engines a job can ask for: a flat registry whose capability flags tell the front ends what to enable.

Pure data, importable without loading a model: the CLI's choices, the settings' validation and the GUI's
engine menu all read it. Building an engine is :func:`core.inpaint.engine.load_engine`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass


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

ENGINE_CHOICES: tuple[str, ...] = ("auto", *ENGINES)
"""What a job may ask for: ``"auto"`` (Moebius when its weights are installed, else classic) or an engine."""
