"""The plain object a job travels in: the photo, the mask and every setting of one inpaint.

The CLI, the GUI editor and the batch runner all build an :class:`InpaintRequest`, hand it to an engine and
receive an :class:`~core.inpaint.result.InpaintResult`; nothing else is needed to run or reproduce a job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.job.options import (
    DEFAULT_CONTEXT_MARGIN,
    DEFAULT_GUIDANCE,
    DEFAULT_NOISE_OFFSET,
    DEFAULT_REFINE_STRENGTH,
    DEFAULT_SEED,
    DEFAULT_STEPS,
    DEFAULT_STRENGTH,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

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
            region (see :mod:`core.inpaint.plan`).
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
