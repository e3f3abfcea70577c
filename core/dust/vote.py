"""The vote across frames: a dark blob is dust when it sits at one sensor position in many frames.

Candidates of every frame are grouped by position in the sensor's layout (units of the long side, so frames of
different pixel sizes but the same aspect line up). A group is kept as a :class:`DustSpot` when it was seen in
at least ``min_frames`` frames, and in at least ``min_share`` of the frames that could have shown it there:
dust is only visible where a frame is smooth, so a spot that sits over busy picture in most frames is judged
only by the frames that were smooth at that place (a frame that shows the spot counts as one of them).

Limits: frames must share the sensor's aspect (frames cropped in the camera or in an editor do not line up),
and a dark detail of the scene that stays at one place in the frame across a burst of near-identical frames is
indistinguishable from dust; frames of different scenes vote better.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from core.dust.detect import Candidate, FrameScan

DEFAULT_MIN_FRAMES = 3
"""A spot must be seen in at least this many frames."""
DEFAULT_MIN_SHARE = 0.5
"""…and in at least this share of the frames that were smooth at its place."""
TOLERANCE = 0.005
"""How far apart (units of the long side) one spot's centres may be across frames: 0.5 %, 10 px at 2000 px."""
MIN_TOLERANCE_PX = 3.0
"""…but never less than this many pixels of the smallest frame (for small frames)."""


@dataclass
class DustSpot:
    """One dust spot of the sensor.

    Args:
        x: centre in the sensor's layout, in units of the long side (the median over the frames that show it).
        y: the same, vertically.
        radius: radius in units of the long side (the largest seen, so a mask covers every frame's spot).
        depth: the median darkening (0.08 = 8 %).
        seen_in: the frames that show it.
        smooth_in: how many frames were smooth at its place or show it (the frames that could show it).
    """

    x: float
    y: float
    radius: float
    depth: float
    seen_in: list[Path] = field(default_factory=list)
    smooth_in: int = 0

    @property
    def frames_seen(self) -> int:
        return len(self.seen_in)

    def sensor_pixels(self, sensor_size: tuple[int, int]) -> tuple[float, float, float]:
        """``(x, y, radius)`` in pixels of a frame of ``sensor_size`` (width, height, sensor layout)."""
        long_side = max(sensor_size)
        return self.x * long_side, self.y * long_side, self.radius * long_side


def vote_spots(
    scans: list[FrameScan],
    *,
    min_frames: int = DEFAULT_MIN_FRAMES,
    min_share: float = DEFAULT_MIN_SHARE,
) -> list[DustSpot]:
    """The dust spots of a shoot (see the module's documentation for the rule).

    Args:
        scans: one :class:`FrameScan` per frame.
        min_frames: frames a spot must be seen in.
        min_share: share of the frames smooth at its place that must show it.

    Returns:
        The spots, the most often seen first.
    """
    if not scans:
        return []
    smallest = min(scan.long_side for scan in scans)
    tolerance = max(TOLERANCE, MIN_TOLERANCE_PX / smallest)
    # 1. Group candidates by position: the deepest first, each joins the nearest group within the tolerance.
    entries = [(candidate, index) for index, scan in enumerate(scans) for candidate in scan.candidates]
    entries.sort(key=lambda entry: -entry[0].depth)
    groups: list[list[tuple[Candidate, int]]] = []
    centres: list[tuple[float, float]] = []
    for candidate, index in entries:
        best, best_distance = -1, tolerance
        for number, (gx, gy) in enumerate(centres):
            distance = math.hypot(candidate.x - gx, candidate.y - gy)
            if distance <= best_distance:
                best, best_distance = number, distance
        if best < 0:
            groups.append([(candidate, index)])
            centres.append((candidate.x, candidate.y))
        else:
            groups[best].append((candidate, index))
    # 2. Keep the groups seen in enough frames, and in enough of the frames that could show them.
    spots: list[DustSpot] = []
    for group in groups:
        frames = sorted({index for _, index in group})
        if len(frames) < min_frames:
            continue
        x, y = _median([c.x for c, _ in group]), _median([c.y for c, _ in group])
        could_show = sum(1 for index, scan in enumerate(scans) if index in frames or scan.smooth_at(x, y))
        if len(frames) < min_share * could_show:
            continue
        spots.append(
            DustSpot(
                x=x,
                y=y,
                radius=max(c.radius for c, _ in group),
                depth=_median([c.depth for c, _ in group]),
                seen_in=[scans[index].path for index in frames],
                smooth_in=could_show,
            )
        )
    spots.sort(key=lambda spot: (-spot.frames_seen, spot.y, spot.x))
    return spots


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
