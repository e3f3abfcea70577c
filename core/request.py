"""The plain objects a job travels in: one request in, one result out, progress events in between.

The CLI, the GUI editor and the batch runner all build an :class:`InpaintRequest` and receive an
:class:`InpaintResult`; nothing else is needed to run or reproduce a job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from core.plan import Plan

# Reference defaults of the released model's command line (see shared/reference/ARCHITECTURE.md §8).
DEFAULT_STEPS = 20
DEFAULT_GUIDANCE = 2.5
DEFAULT_STRENGTH = 0.99
DEFAULT_NOISE_OFFSET = 0.0357
DEFAULT_SEED = 0
DEFAULT_CONTEXT_MARGIN = 128  # photo pixels; the same number as core.plan.DEFAULT_CONTEXT_MARGIN
DEFAULT_REFINE_STRENGTH = 0.6


@dataclass
class InpaintSettings:
    """How to run a job: every knob of the Moebius pipeline, with the reference defaults.

    Args:
        steps: number of DDIM steps the schedule is built for (strength drops the first one).
        guidance: classifier-free guidance scale; 1.0 disables guidance.
        seed: seed of the ``torch.Generator`` that drives every random draw; ``None`` picks a random seed,
            which is reported back in the result so the job can be reproduced.
        strength: fraction of the schedule that is run (the reference uses 0.99).
        noise_offset: scale of the per-channel offset noise added to the initial noise.
        engine: ``"moebius"``, ``"classic"`` or ``"auto"`` (Moebius when its weights are installed).
        context_margin: photo pixels of surrounding context the model gets on every side of each mask
            region (see :mod:`core.plan`).
        colour_match: match colour and exposure of the fill to the photo around the mask.
        colour_match_strength: how much of that correction is applied, 0..1.
        grain_match: add the photo's grain to fills that came out cleaner than the photo around them.
        refine_strength: strength of the native-resolution tiles that refine a large mask after its
            reduced-scale pass (lower keeps more of that pass's structure).
    """

    steps: int = DEFAULT_STEPS
    guidance: float = DEFAULT_GUIDANCE
    seed: int | None = DEFAULT_SEED
    strength: float = DEFAULT_STRENGTH
    noise_offset: float = DEFAULT_NOISE_OFFSET
    engine: str = "auto"
    context_margin: int = DEFAULT_CONTEXT_MARGIN
    colour_match: bool = True
    colour_match_strength: float = 1.0
    grain_match: bool = False
    refine_strength: float = DEFAULT_REFINE_STRENGTH


@dataclass
class InpaintRequest:
    """Everything one inpaint needs.

    Args:
        image: RGB pixels, ``uint8`` array of shape (H, W, 3).
        mask: ``uint8`` array of shape (H, W); values ≥ 128 mark pixels to fill (white = fill).
        settings: how to run the job.
    """

    image: npt.NDArray[np.uint8]
    mask: npt.NDArray[np.uint8]
    settings: InpaintSettings = field(default_factory=InpaintSettings)


@dataclass
class InpaintResult:
    """What a job returns.

    Args:
        image: the filled photo, same shape and dtype as the request's image; pixels outside the mask are
            bit-identical to the input.
        seed: the seed actually used (useful when the request asked for a random one).
        engine: the name of the engine that produced it (``"moebius"`` or ``"classic"``).
        timings: seconds spent per stage (``"model"``, ``"composite"``, …).
        warnings: notes for the user that did not stop the job.
        plan: the windows the photo was processed in (see :mod:`core.plan`), for showing to the user.
    """

    image: npt.NDArray[np.uint8]
    seed: int | None
    engine: str
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    plan: Plan | None = None


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report of a running job.

    Args:
        stage: what is running: ``"load"``, ``"window"`` (which window of the plan), ``"encode"``,
            ``"denoise"``, ``"decode"``, ``"composite"``.
        step: steps done in this stage (``0..total``).
        total: steps in this stage.
        preview: optional cheap RGB preview (``uint8`` (h, w, 3)) of the current estimate, or ``None``.
        region: where ``preview`` belongs in the photo, ``(left, top, width, height)`` in photo pixels (the
            preview is scaled to that rectangle); ``None`` while it is still in the model's frame coordinates.
    """

    stage: str
    step: int
    total: int
    preview: npt.NDArray[np.uint8] | None = None
    region: tuple[int, int, int, int] | None = None


ProgressCallback = Callable[[ProgressEvent], None]
