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

# Reference defaults of the released model's command line (see shared/reference/ARCHITECTURE.md §8).
DEFAULT_STEPS = 20
DEFAULT_GUIDANCE = 2.5
DEFAULT_STRENGTH = 0.99
DEFAULT_NOISE_OFFSET = 0.0357
DEFAULT_SEED = 0


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
    """

    steps: int = DEFAULT_STEPS
    guidance: float = DEFAULT_GUIDANCE
    seed: int | None = DEFAULT_SEED
    strength: float = DEFAULT_STRENGTH
    noise_offset: float = DEFAULT_NOISE_OFFSET
    engine: str = "auto"


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
    """

    image: npt.NDArray[np.uint8]
    seed: int | None
    engine: str
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report of a running job.

    Args:
        stage: what is running: ``"load"``, ``"encode"``, ``"denoise"``, ``"decode"``, ``"composite"``.
        step: steps done in this stage (``0..total``).
        total: steps in this stage.
        preview: optional cheap RGB preview (``uint8`` (h, w, 3)) of the current estimate, or ``None``.
    """

    stage: str
    step: int
    total: int
    preview: npt.NDArray[np.uint8] | None = None


ProgressCallback = Callable[[ProgressEvent], None]
