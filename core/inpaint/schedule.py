"""How many denoising steps a model window runs: one rule for the pipeline, the engine and the time estimate.

The DDIM schedule has ``steps`` entries; a strength below 1 starts part of the way down it, so only the last
``int(steps × strength)`` entries run (the reference's count: 20 steps at 0.99 run 19). At least one step
always runs, where the reference would stop with an error. Native-resolution tiles refine the reduced-scale
pass at the refine strength instead of the job's strength.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.job.settings import JobSettings


def steps_run(steps: int, strength: float) -> int:
    """The denoising steps that actually run for a schedule of ``steps`` at ``strength``.

    Args:
        steps: the schedule's length (at least 1).
        strength: the fraction of the schedule to run, in (0, 1].

    Raises:
        ValueError: ``steps`` below 1 or ``strength`` outside (0, 1].
    """
    if steps < 1:
        raise ValueError("steps must be at least 1")
    if not 0.0 < strength <= 1.0:
        raise ValueError("strength must be in (0, 1]")
    return min(max(1, int(steps * strength)), steps)


def window_strength(settings: JobSettings, kind: str) -> float:
    """The strength a window of ``kind`` (:data:`core.inpaint.plan.TILE` or another) runs at.

    Tiles refine at the refine strength, raised where needed so that at least one step of the schedule lies
    within it; every other window runs at the job's strength.

    Args:
        settings: the job's settings.
        kind: the window's kind.
    """
    from core.inpaint.plan import TILE  # here, not at the top: the plan module brings OpenCV with it

    if kind == TILE:
        return max(settings.refine_strength, min(1.0, 1.0 / settings.steps + 1e-6))
    return settings.strength
