"""A tiny but genuine DNG file for tests: a Bayer (RGGB) mosaic with the tags LibRaw needs to develop it.

The mosaic is made from a known RGB picture (so a developed result can be compared with it by colour), at 16
bits with a black level and white level like a camera's; the DNG tags give LibRaw the CFA layout, the colour
matrix (sRGB primaries' XYZ matrix, inverted as DNG wants: XYZ to camera) and the as-shot white balance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import tifffile

BLACK_LEVEL = 256
WHITE_LEVEL = 16383
# XYZ (D65) to linear sRGB: with it as ColorMatrix1 the "camera" space is linear sRGB itself.
_XYZ_TO_SRGB = np.array(
    [[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]], dtype=np.float64
)


def scene(height: int = 64, width: int = 96) -> npt.NDArray[np.float64]:
    """A linear-light test scene in [0, 1], (H, W, 3): a red left third, a green middle, a blue-ish right third,
    brighter towards the bottom, over a neutral gray bottom quarter, so colour, white balance and orientation
    can all be checked after developing."""
    rows = np.linspace(0.15, 0.6, height)[:, None]
    picture = np.zeros((height, width, 3))
    third = width // 3
    picture[:, :third] = [1.0, 0.15, 0.1]
    picture[:, third : 2 * third] = [0.15, 1.0, 0.15]
    picture[:, 2 * third :] = [0.1, 0.25, 1.0]
    picture = picture * rows[:, :, None]
    picture[height - height // 4 :] = 0.3
    return picture


def write_dng(
    path: Path,
    *,
    height: int = 64,
    width: int = 96,
    orientation: int = 1,
    neutral: tuple[float, float, float] = (0.5, 1.0, 0.8),
) -> Path:
    """Write a small uncompressed DNG of :func:`scene` seen by a "camera" with the white balance ``neutral``.

    Args:
        path: the file to write (``.dng``).
        height: mosaic rows (even).
        width: mosaic columns (even).
        orientation: the TIFF/EXIF orientation tag (1–8) the camera recorded.
        neutral: AsShotNeutral: the camera's raw response to white; each channel of the scene is scaled by it
            in the mosaic, so only a developer that applies the camera's white balance gets the colours back.
    """
    # 1. The mosaic: RGGB, each site keeps one channel of the scene, scaled by the camera's response.
    linear = scene(height, width) * np.array(neutral)
    mosaic = np.empty((height, width), dtype=np.float64)
    mosaic[0::2, 0::2] = linear[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = linear[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = linear[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = linear[1::2, 1::2, 2]
    raw = np.round(BLACK_LEVEL + mosaic * (WHITE_LEVEL - BLACK_LEVEL)).astype(np.uint16)
    # 2. The DNG tags (codes from the DNG 1.4 specification).
    matrix = _rationals(_XYZ_TO_SRGB.ravel(), signed=True)
    extratags = [
        (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
        (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
        (50708, "s", 0, "Moebius Test Camera", True),  # UniqueCameraModel
        (271, "s", 0, "Moebius", True),  # Make
        (272, "s", 0, "Test Camera", True),  # Model
        (274, "H", 1, orientation, True),  # Orientation
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: R G / G B
        (50710, "B", 3, (0, 1, 2), True),  # CFAPlaneColor
        (50711, "H", 1, 1, True),  # CFALayout: rectangular
        (50714, "H", 1, BLACK_LEVEL, True),  # BlackLevel
        (50717, "H", 1, WHITE_LEVEL, True),  # WhiteLevel
        (50721, "2i", 9, matrix, True),  # ColorMatrix1 (SRATIONAL)
        (50778, "H", 1, 21, True),  # CalibrationIlluminant1: D65
        (50728, "2I", 3, _rationals(np.array(neutral), signed=False), True),  # AsShotNeutral
    ]
    tifffile.imwrite(
        path,
        raw,
        photometric=32803,  # CFA
        subfiletype=0,
        compression=None,
        extratags=extratags,
        metadata=None,
    )
    return path


def _rationals(values: npt.NDArray[np.float64], *, signed: bool) -> tuple[int, ...]:
    """Values as flat (numerator, denominator) pairs with a denominator of 10000."""
    pairs: list[int] = []
    for value in values:
        pairs += [int(round(float(value) * 10000)), 10000]
    if not signed and min(pairs) < 0:
        raise ValueError("unsigned rationals cannot be negative")
    return tuple(pairs)
