"""What an inpaint returns: the filled photo and how it was made."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from core.inpaint.plan import Plan


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
        plan: the windows the photo was processed in (see :mod:`core.inpaint.plan`), for showing to the user.
    """

    image: npt.NDArray[np.uint8]
    seed: int | None
    engine: str
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    plan: Plan | None = None
