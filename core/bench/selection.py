"""Benchmark of object selection: a box around an object on a 24 MP photo, and growing it for its shadow.

:func:`core.photo.selection.select_object` must answer while the user is still looking at the box they drew,
so it has to stay well under :data:`SELECT_BUDGET_S` however large the photo: GrabCut runs on the box scaled
down to the working size, and only the result is scaled back. This times it on a made-up 6000×4000 photo
with a 2200×3000-pixel object (a person close to the camera), and :func:`core.photo.selection.expand_for_shadow`
growing that selection 600 pixels down, and reports how well the selection matches the object drawn.

Use :func:`run` for the numbers and :func:`describe` for readable lines.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import numpy.typing as npt

SELECT_BUDGET_S = 1.0
FULL_SIZE = (6000, 4000)
QUICK_SIZE = (3000, 2000)
SHADOW_SHARE = 0.2
"""Shadow distance as a share of the photo's height."""


def run(quick: bool = False) -> dict[str, Any]:
    """Time the selection and the shadow growth.

    Args:
        quick: a 6 MP photo and one repetition instead of the 24 MP photo and the median of three.

    Returns:
        A JSON-compatible report: the photo and box sizes, seconds of every repetition of each operation, their
        medians, the selection's IoU with the object drawn, and whether selecting stayed within the budget.
    """
    from core.photo.selection import expand_for_shadow, select_object

    width, height = QUICK_SIZE if quick else FULL_SIZE
    repeats = 1 if quick else 3
    photo, truth, box = _material(width, height)
    select_seconds, shadow_seconds = [], []
    selected = np.zeros(truth.shape, np.uint8)
    distance = round(SHADOW_SHARE * height)
    for _ in range(repeats):
        started = time.perf_counter()
        selected = select_object(photo, box)
        select_seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        expand_for_shadow(selected, distance)
        shadow_seconds.append(time.perf_counter() - started)
    chosen = selected >= 128
    iou = float((chosen & truth).sum() / (chosen | truth).sum())
    return {
        "photo": {"width": width, "height": height, "megapixels": round(width * height / 1e6, 1)},
        "box": {"width": box[2] - box[0], "height": box[3] - box[1]},
        "select_seconds": select_seconds,
        "select_median_s": statistics.median(select_seconds),
        "shadow_distance_px": distance,
        "shadow_seconds": shadow_seconds,
        "shadow_median_s": statistics.median(shadow_seconds),
        "iou": iou,
        "budget_s": SELECT_BUDGET_S,
        "within_budget": statistics.median(select_seconds) < SELECT_BUDGET_S,
    }


def describe(report: dict[str, Any]) -> list[str]:
    """Readable lines for a report from :func:`run`.

    Args:
        report: what :func:`run` returned.
    """
    photo, box = report["photo"], report["box"]
    verdict = "within" if report["within_budget"] else "OVER"
    runs = ", ".join(f"{s:.3f}" for s in report["select_seconds"])
    return [
        f"Object selection on a {photo['width']}×{photo['height']} ({photo['megapixels']} MP) photo, box "
        f"{box['width']}×{box['height']} px:",
        f"  select  {report['select_median_s']:6.3f} s (runs {runs}) {verdict} the {report['budget_s']:.1f} s "
        f"budget; IoU with the object drawn {report['iou']:.3f}",
        f"  shadow  {report['shadow_median_s']:6.3f} s to grow it {report['shadow_distance_px']} px down",
    ]


Box = tuple[int, int, int, int]


def _material(width: int, height: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_], Box]:
    """A photo-like picture with an upright elliptical object, its exact mask, and a box drawn around it."""
    import cv2

    rng = np.random.default_rng(0)
    small = rng.integers(60, 150, (max(2, height // 20), max(2, width // 20), 3)).astype(np.uint8)
    photo = np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC), dtype=np.uint8)
    truth = np.zeros((height, width), np.uint8)
    centre, axes = (width // 2, height // 2), (int(width * 0.18), int(height * 0.37))
    cv2.ellipse(truth, centre, axes, 0, 0, 360, 255, -1)
    inside = truth > 0
    photo[inside] = np.clip(np.array([190, 70, 50]) + rng.integers(-15, 16, (int(inside.sum()), 3)), 0, 255)
    # The box as a user drags it: a little larger than the object on every side.
    reach_x, reach_y = axes[0] + axes[0] // 10, axes[1] + axes[1] // 10
    box = (centre[0] - reach_x, centre[1] - reach_y, centre[0] + reach_x, centre[1] + reach_y)
    return photo, inside, box


if __name__ == "__main__":
    from core.bench.section import section_main

    raise SystemExit(
        section_main(
            "python -m core.bench.selection",
            "Time selecting an object by its box, and growing it for its shadow.",
            "a 6 MP photo and one repetition",
            run,
            describe,
        )
    )
