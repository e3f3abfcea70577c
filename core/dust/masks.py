"""One mask per photo: a disc a little larger than each dust spot, in the photo's displayed orientation.

The masks are PNG files named after the photos (``NAME.png``) in one folder, which is what the batch pairs as
a masks folder (``moebius-inpaint batch FOLDER --masks DIR``; ``FOLDER/masks`` is found without saying so).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from core.common.errors import OutputExistsError
from core.common.files import write_bytes_atomically
from core.dust.detect import FrameScan
from core.dust.vote import DustSpot
from core.photo.orientation import to_upright

MARGIN = 1.5
"""A mask disc's radius is this many times the spot's radius…"""
MARGIN_PX = 3
"""…plus this many pixels, so the spot's soft edge is filled too."""


def spot_mask(spots: list[DustSpot], scan: FrameScan) -> npt.NDArray[np.uint8]:
    """The mask of one photo: 255 on a disc around each spot, 0 elsewhere, upright like the photo.

    Args:
        spots: the shoot's dust spots.
        scan: the photo's scan (its sensor size and orientation).

    Returns:
        ``uint8`` (H, W) at the photo's full displayed size.
    """
    width, height = scan.sensor_size
    mask = np.zeros((height, width), np.uint8)
    for spot in spots:
        x, y, radius = spot.sensor_pixels(scan.sensor_size)
        cv2.circle(mask, (round(x - 0.5), round(y - 0.5)), math.ceil(radius * MARGIN + MARGIN_PX), 255, -1)
    return to_upright(mask, scan.orientation)


def mask_path(masks_dir: Path, photo: Path) -> Path:
    """Where the mask of ``photo`` goes: ``masks_dir/NAME.png``."""
    return masks_dir / f"{photo.stem}.png"


def write_masks(
    spots: list[DustSpot], scans: list[FrameScan], masks_dir: Path, *, overwrite: bool = False
) -> list[Path]:
    """Write one mask per photo (nothing when there are no spots).

    Args:
        spots: the shoot's dust spots.
        scans: the photos' scans.
        masks_dir: the folder to write into (made when missing).
        overwrite: replace masks that exist; otherwise an existing one stops the writing before any is written.

    Returns:
        The mask files written.

    Raises:
        OutputExistsError: a mask exists and ``overwrite`` is off.
    """
    if not spots:
        return []
    targets = [mask_path(masks_dir, scan.path) for scan in scans]
    existing = [target for target in targets if target.exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"{len(existing)} mask(s) already exist in {masks_dir}, e.g. {existing[0].name}.",
            hint="Choose another masks folder, or allow replacing them (--overwrite).",
        )
    masks_dir.mkdir(parents=True, exist_ok=True)
    for scan, target in zip(scans, targets, strict=True):
        buffer = io.BytesIO()
        Image.fromarray(spot_mask(spots, scan), "L").save(buffer, "PNG")
        write_bytes_atomically(target, buffer.getvalue())
    return targets
