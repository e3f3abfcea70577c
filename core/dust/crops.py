"""Crops around dust spots, for a person to review them (the GUI's grid)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from core.dust.detect import FrameScan
from core.dust.vote import DustSpot
from core.photo.orientation import to_stored
from core.photo.read import read_image

CROP_RADII = 5.0
"""A crop reaches this many spot radii from its centre…"""
MIN_CROP_HALF = 24
"""…and at least this many pixels."""


def spot_crop(spot: DustSpot, scan: FrameScan) -> npt.NDArray[np.uint8]:
    """A square crop (sensor layout, full resolution) around ``spot`` in the frame of ``scan``, its contrast
    stretched so a spot of a few per cent can be seen.

    Args:
        spot: the spot.
        scan: a frame that shows it (its photo is read again).

    Returns:
        ``uint8`` (S, S, 3) pixels; near the frame's edge the crop is cut short.
    """
    photo = read_image(scan.path)
    sensor = to_stored(photo.pixels, photo.orientation)
    x, y, radius = spot.sensor_pixels(scan.sensor_size)
    half = max(MIN_CROP_HALF, round(radius * CROP_RADII))
    top, left = max(0, round(y) - half), max(0, round(x) - half)
    crop = sensor[top : round(y) + half, left : round(x) + half].astype(np.float32)
    # Stretch the crop's own range (1st to 99th percentile) to the full range: dust is faint.
    low, high = np.percentile(crop, [1, 99])
    stretched = (crop - low) * (255.0 / max(high - low, 1.0))
    result: npt.NDArray[np.uint8] = np.clip(stretched + 0.5, 0, 255).astype(np.uint8)
    return result
