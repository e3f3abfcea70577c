"""Dust candidates in one frame: small, round, slightly dark blobs on a smooth background.

Dust on the sensor shades the light that reaches a few pixels: a soft disc a few per cent darker than what is
around it, best seen on sky, walls and out-of-focus backgrounds. Per frame:

1. luminance, reduced so the long side is at most :data:`WORK_LONG_SIDE` (spots of radius
   :data:`MIN_RADIUS` or more at that size are found: on a 6000-pixel frame, about 6 pixels or more);
2. turned into the sensor's layout (EXIF orientation undone) so one spot lines up across portrait and landscape
   frames;
3. a morphological closing with a disc larger than the largest spot gives the background without dark blobs;
   the relative depth ``(background - luminance) / background`` is each pixel's darkening;
4. the background's texture (root mean square of its own fine detail around each pixel, relative to its level)
   says where the frame is smooth: only there can a faint spot be told from the picture;
5. connected regions darker than :data:`MIN_DEPTH` (and clearly above the local texture) on smooth ground, of
   a spot's size and roughly round, are the candidates.

What is found here is only a candidate: a dark pebble on a plain wall looks the same. :mod:`core.dust.vote`
keeps the ones that repeat at one sensor position across frames.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from core.photo.orientation import to_stored
from core.photo.read import MAX_PIXELS, read_image

WORK_LONG_SIDE = 2000
"""Frames are searched at this long side at most (larger ones are reduced first)."""
MIN_RADIUS = 2.0
"""Smallest spot radius found, in pixels at the working size."""
MAX_RADIUS = 24.0
"""Largest spot radius found, in pixels at the working size."""
MIN_DEPTH = 0.03
"""A candidate is at least this much darker than its background (3 %)."""
TEXTURE_FACTOR = 4.0
"""A candidate's depth is at least this many times the local texture."""
SMOOTH_TEXTURE = 0.012
"""Background texture (relative RMS) below which a place counts as smooth."""
TEXTURE_MAP_LONG_SIDE = 256
"""The texture map kept per frame for the vote is reduced to this long side."""


@dataclass(frozen=True)
class Candidate:
    """One dark blob in one frame, in the sensor's layout.

    Args:
        x: centre, in units of the frame's long side (0 … 1 across the long side).
        y: centre, in the same units.
        radius: equivalent radius (of a disc of the same area), in units of the long side.
        depth: the darkest relative darkening inside it (0.08 = 8 % darker than the background).
    """

    x: float
    y: float
    radius: float
    depth: float


@dataclass
class FrameScan:
    """What one frame contributes to the vote.

    Args:
        path: the photo file.
        sensor_size: ``(width, height)`` of the full-size frame in the sensor's layout.
        orientation: the EXIF orientation the photo was read with.
        candidates: the dark blobs found.
        texture: relative background texture in the sensor's layout, reduced to at most
            :data:`TEXTURE_MAP_LONG_SIDE` on the long side (``float32``).
    """

    path: Path
    sensor_size: tuple[int, int]
    orientation: int
    candidates: list[Candidate]
    texture: npt.NDArray[np.float32]

    @property
    def long_side(self) -> int:
        return max(self.sensor_size)

    def smooth_at(self, x: float, y: float) -> bool:
        """Whether the frame is smooth at ``(x, y)`` (units of the long side, sensor layout)."""
        height, width = self.texture.shape
        scale = max(width, height)
        column = min(width - 1, max(0, int(x * scale)))
        row = min(height - 1, max(0, int(y * scale)))
        return bool(self.texture[row, column] < SMOOTH_TEXTURE)


def scan_frame(path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> FrameScan:
    """Read one photo and find its dust candidates (see the module's documentation for the steps).

    Args:
        path: the photo file (never modified).
        max_pixels: refuse photos larger than this.

    Returns:
        The frame's :class:`FrameScan`.

    Raises:
        ImageReadError: the photo cannot be read.
    """
    photo = read_image(path, max_pixels=max_pixels)
    sensor = to_stored(photo.pixels, photo.orientation)
    height, width = sensor.shape[:2]
    candidates, texture = find_candidates(sensor)
    return FrameScan(Path(path), (width, height), photo.orientation, candidates, texture)


def find_candidates(rgb: npt.NDArray[np.uint8]) -> tuple[list[Candidate], npt.NDArray[np.float32]]:
    """Dark blobs of an RGB frame already in the sensor's layout, and its reduced texture map.

    Args:
        rgb: ``uint8`` (H, W, 3) pixels.

    Returns:
        The candidates and the texture map (see :class:`FrameScan`).
    """
    # 1. Luminance at the working size.
    long_side = max(rgb.shape[:2])
    scale = min(1.0, WORK_LONG_SIDE / long_side)
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    if scale < 1.0:
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        luma = np.asarray(cv2.resize(luma, size, interpolation=cv2.INTER_AREA), np.float32)
    luma = np.asarray(cv2.GaussianBlur(luma, (0, 0), 0.8), np.float32)
    # 2. The background without dark blobs, and each pixel's relative darkening.
    reach = int(MAX_RADIUS * 1.5) + 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    background = cv2.morphologyEx(luma, cv2.MORPH_CLOSE, disc)
    level = np.maximum(background, 8.0)
    depth = (background - luma) / level
    # 3. Texture: the background's own coarse detail (edges, gradients of objects), and the fine grain of the
    #    picture itself (noise, fur, foliage), each relative to the level; the rougher of the two counts.
    detail = background - cv2.GaussianBlur(background, (0, 0), MAX_RADIUS / 2)
    window = int(4 * MAX_RADIUS) | 1
    coarse = np.sqrt(cv2.blur(detail * detail, (window, window))) / level
    fine = luma - cv2.GaussianBlur(luma, (0, 0), 3.0)
    texture = np.maximum(coarse, _grain(fine) / level)
    # 4. Dark regions where the background is smooth at the coarse scale (the fine grain is judged per region
    #    below, around it, so that a large spot's own rim never makes its place look busy).
    dark = (depth > MIN_DEPTH) & (depth > TEXTURE_FACTOR * coarse) & (coarse < SMOOTH_TEXTURE)
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(dark.astype(np.uint8), connectivity=8)
    candidates: list[Candidate] = []
    work_long = max(luma.shape)
    min_area, max_area = math.pi * MIN_RADIUS**2, math.pi * MAX_RADIUS**2 * 1.2
    for label in range(1, count):
        left, top, box_w, box_h, area = (int(v) for v in stats[label])
        # 5. A spot's size, and roughly round: it fills much of its box, and the box is not long and thin.
        if not min_area <= area <= max_area:
            continue
        if area < 0.45 * box_w * box_h or max(box_w, box_h) > 2.0 * min(box_w, box_h):
            continue
        inside = labels[top : top + box_h, left : left + box_w] == label
        peak = float(depth[top : top + box_h, left : left + box_w][inside].max())
        cx, cy = centroids[label]
        # 6. Smooth around it: the fine grain in a ring just outside the region, relative to the level there.
        grain = _ring_grain(fine, level, (float(cx), float(cy)), math.sqrt(area / math.pi))
        if grain >= SMOOTH_TEXTURE or peak <= TEXTURE_FACTOR * grain:
            continue
        candidates.append(
            Candidate(
                x=float(cx + 0.5) / work_long,
                y=float(cy + 0.5) / work_long,
                radius=math.sqrt(area / math.pi) / work_long,
                depth=peak,
            )
        )
    # 7. The texture map the vote asks "was this place smooth?", reduced (the roughest value of each block
    #    counts, so a small busy patch is never averaged away).
    map_scale = min(1.0, TEXTURE_MAP_LONG_SIDE / work_long)
    if map_scale < 1.0:
        block = math.ceil(1 / map_scale)
        texture = cv2.dilate(texture, np.ones((block, block), np.uint8))
        size = (max(1, round(luma.shape[1] * map_scale)), max(1, round(luma.shape[0] * map_scale)))
        texture = cv2.resize(texture, size, interpolation=cv2.INTER_NEAREST)
    return candidates, texture.astype(np.float32)


GRAIN_BLOCK = 24
"""Side of the blocks (working pixels) over which the fine grain is measured."""


def _ring_grain(
    fine: npt.NDArray[np.float32], level: npt.NDArray[np.float32], centre: tuple[float, float], radius: float
) -> float:
    """The fine grain (robust spread, relative to the level) in a ring from 1.5 radii + 3 px to that + 12 px."""
    inner = radius * 1.5 + 3
    outer = inner + 12
    cx, cy = centre
    height, width = fine.shape
    left, right = max(0, int(cx - outer)), min(width, int(cx + outer) + 2)
    top, bottom = max(0, int(cy - outer)), min(height, int(cy + outer) + 2)
    rows, columns = np.mgrid[top:bottom, left:right]
    distance = np.hypot(columns - cx, rows - cy)
    ring = (distance >= inner) & (distance <= outer)
    if ring.sum() < 16:
        return math.inf
    values = fine[top:bottom, left:right][ring]
    spread = 1.4826 * float(np.median(np.abs(values - np.median(values))))
    return spread / float(np.median(level[top:bottom, left:right][ring]))


def _grain(fine: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The fine grain around each pixel, for the texture map the vote reads: a robust spread (median absolute
    deviation, scaled to a standard deviation) of ``fine`` (luminance minus its blur) per block, the largest of
    each block and its neighbours.

    Noise and fine texture (fur, foliage) raise it; a median mostly ignores a small dust spot. A larger spot may
    make its own place look busy here, which costs nothing: a frame that shows a spot always counts as one that
    could show it.
    """
    height, width = fine.shape
    rows, columns = -(-height // GRAIN_BLOCK), -(-width // GRAIN_BLOCK)
    padded = np.pad(fine, ((0, rows * GRAIN_BLOCK - height), (0, columns * GRAIN_BLOCK - width)), mode="edge")
    blocks = padded.reshape(rows, GRAIN_BLOCK, columns, GRAIN_BLOCK).transpose(0, 2, 1, 3).reshape(rows, columns, -1)
    centre = np.median(blocks, axis=2, keepdims=True)
    spread = (1.4826 * np.median(np.abs(blocks - centre), axis=2)).astype(np.float32)
    spread = cv2.dilate(spread, np.ones((3, 3), np.uint8))
    full = np.repeat(np.repeat(spread, GRAIN_BLOCK, axis=0), GRAIN_BLOCK, axis=1)
    return np.ascontiguousarray(full[:height, :width])
