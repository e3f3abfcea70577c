"""Benchmark of sensor-dust detection: recall and false positives by spot radius and contrast, seconds per frame.

The material is the made-up shoot of :mod:`core.bench.dust_shoot`: 24 frames cut from the four sample photos
(``../shared/samples`` beside the repository, or the folder in ``MOEBIUS_SAMPLES``), 600×400 sensor pixels,
half of them portrait (EXIF orientation 6 or 8), with soft dark discs at 8 fixed sensor positions. For each
radius × contrast the shoot is written, :func:`core.dust.find_dust` runs with its defaults, and:

- recall: planted spots found (a found spot within 3 px of a planted one) / planted spots;
- false positives: found spots that match no planted spot;
- busy false positives: spots found in 6 dust-free frames of busy texture (fur, flag, suit).

Not every planted spot can be found: a spot is visible only in frames that are smooth at its place, and the
sample photos are mostly busy, so recall is bounded by the shoot, not only by the detector.

Use :func:`run` for the numbers and :func:`describe` for readable lines; ``python -m core.bench.dust``.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from core.bench.dust_shoot import DUST_SPOTS, SENSOR, busy_crops, make_shoot
from core.bench.section import section_main

RADII = (3.0, 6.0, 10.0)
CONTRASTS = (0.04, 0.08, 0.15)
QUICK_RADII = (6.0,)
QUICK_CONTRASTS = (0.08,)
MATCH_PX = 3.0
LARGE_SIZE = (6000, 4000)
LARGE_RADIUS = 18.0


def samples_folder() -> Path:
    """The sample photos: ``MOEBIUS_SAMPLES``, else ``../shared/samples`` beside the repository."""
    configured = os.environ.get("MOEBIUS_SAMPLES")
    folder = Path(configured) if configured else Path(__file__).resolve().parents[3] / "shared" / "samples"
    if not folder.is_dir():
        raise SystemExit(f"The sample photos are not at {folder}; set MOEBIUS_SAMPLES to their folder.")
    return folder


def run(quick: bool = False) -> dict[str, Any]:
    """Measure recall and false positives for each radius × contrast.

    Args:
        quick: one radius (6 px) and one contrast (8 %) instead of 3 × 3.

    Returns:
        A JSON-compatible report: one row per radius × contrast, the busy frames' result, seconds per frame.
    """
    from core.dust import find_dust

    samples = samples_folder()
    rows = []
    seconds, frames = 0.0, 0
    with tempfile.TemporaryDirectory(prefix="moebius-dust-bench-") as temp:
        root = Path(temp)
        for radius in QUICK_RADII if quick else RADII:
            for contrast in QUICK_CONTRASTS if quick else CONTRASTS:
                folder = root / f"r{radius:g}_c{contrast:g}"
                make_shoot(folder, samples, radius=radius, contrast=contrast)
                started = time.perf_counter()
                report = find_dust(folder)
                seconds += time.perf_counter() - started
                frames += len(report.scans)
                found = [spot.sensor_pixels(SENSOR)[:2] for spot in report.spots]
                matched = {
                    planted for planted in DUST_SPOTS if any(math.dist(planted, spot) <= MATCH_PX for spot in found)
                }
                false = [spot for spot in found if all(math.dist(p, spot) > MATCH_PX for p in DUST_SPOTS)]
                rows.append(
                    {
                        "radius_px": radius,
                        "contrast": contrast,
                        "planted": len(DUST_SPOTS),
                        "found": len(matched),
                        "recall": len(matched) / len(DUST_SPOTS),
                        "false_positives": len(false),
                    }
                )
        busy_folder = root / "busy"
        busy_crops(busy_folder, samples)
        busy = find_dust(busy_folder, min_frames=2)
        large = _large_frame(root, samples, 1 if quick else 3)
    return {
        "large_frame": large,
        "frames_per_shoot": frames // max(1, len(rows)),
        "sensor": list(SENSOR),
        "rows": rows,
        "busy_frames": len(busy.scans),
        "busy_false_positives": len(busy.spots),
        "seconds_per_frame": seconds / max(1, frames),
    }


def _large_frame(root: Path, samples: Path, repeats: int) -> dict[str, Any]:
    """Time one 6000×4000 frame (the rocket sample scaled up, dust of radius 18 px at 8 %), and count the planted
    spots it finds on its own (before any vote)."""
    import numpy as np
    from PIL import Image

    from core.bench.dust_shoot import add_dust, write_frame
    from core.dust import scan_frame

    width, height = LARGE_SIZE
    scale = width / SENSOR[0]
    spots = [(round(x * scale), round(y * scale)) for x, y in DUST_SPOTS]
    sample = Image.open(samples / "rocket.jpg").convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
    path = root / "large.jpg"
    write_frame(path, add_dust(np.asarray(sample), spots, LARGE_RADIUS, 0.08), 1)
    seconds = []
    scan = None
    for _ in range(repeats):
        started = time.perf_counter()
        scan = scan_frame(path)
        seconds.append(time.perf_counter() - started)
    assert scan is not None
    found = [(c.x * width, c.y * width) for c in scan.candidates]
    hits = sum(1 for p in spots if any(math.dist(p, c) <= MATCH_PX * scale for c in found))
    return {
        "size": [width, height],
        "radius_px": LARGE_RADIUS,
        "contrast": 0.08,
        "seconds": min(seconds),
        "planted": len(spots),
        "found_in_frame": hits,
        "candidates": len(scan.candidates),
    }


def describe(report: dict[str, Any]) -> list[str]:
    """Readable lines of a :func:`run` report."""
    width, height = report["sensor"]
    lines = [
        f"sensor dust: {report['frames_per_shoot']} frames of {width}×{height}, "
        f"{report['rows'][0]['planted']} spots planted at fixed sensor positions",
        "  radius  contrast  recall        false positives",
    ]
    for row in report["rows"]:
        lines.append(
            f"  {row['radius_px']:>4.0f} px  {row['contrast'] * 100:>6.0f} %  "
            f"{row['found']}/{row['planted']} ({row['recall'] * 100:.0f} %)  {row['false_positives']:>8}"
        )
    lines.append(
        f"  busy frames without dust: {report['busy_false_positives']} spot(s) in {report['busy_frames']} frames "
        "(voted with --min-frames 2)"
    )
    lines.append(f"  {report['seconds_per_frame']:.3f} s per frame of {width}×{height}")
    large = report["large_frame"]
    lines.append(
        f"  one {large['size'][0]}×{large['size'][1]} frame: {large['seconds']:.2f} s (read included); "
        f"{large['found_in_frame']}/{large['planted']} planted spots of radius {large['radius_px']:.0f} px at "
        f"{large['contrast'] * 100:.0f} % among its {large['candidates']} candidates (one frame, before the vote)"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    return section_main(
        "python -m core.bench.dust",
        "Recall and false positives of the sensor-dust detector by spot radius and contrast.",
        "one radius and contrast (6 px, 8 %) instead of 3 × 3",
        run,
        describe,
        argv,
    )


if __name__ == "__main__":
    raise SystemExit(main())
