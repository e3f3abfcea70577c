"""Progress reports of long work (an inpaint, a download, a verification), passed to a callback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


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
