"""Mask painting arithmetic for the canvas: soft brush dabs and lasso fills, each on a small box of the mask.

The mask stays ``uint8`` 0..255 and each value is the weight of the fill there
(:func:`core.photo.mask.fill_weights`): a soft brush edge fades the fill out, the way the overlay shows it while
painting. A soft edge counts where it is connected to a pixel ≥ 128. Everything here touches only the bounding
box of what is painted, so a stroke costs the same on a 1 MP and a 50 MP photo.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QPointF, QRect

U8 = npt.NDArray[np.uint8]
# The mask tools (what a left-button drag on the canvas does).
BRUSH = "brush"
ERASER = "eraser"
RECTANGLE = "rectangle"
LASSO = "lasso"
OBJECT = "object"  # drag a box around an object: the mask snaps to the object (app.editor.selection_tool)
BOX_TOOLS = (RECTANGLE, OBJECT)  # the tools whose drag is a box
MIN_RADIUS = 0.71  # a radius under one pixel still marks the pixel under the cursor


def segment_box(mask: U8, start: QPointF, end: QPointF, radius: float) -> QRect:
    """The mask pixels a dab of ``radius`` moved from ``start`` to ``end`` can touch (clipped; may be empty)."""
    height, width = mask.shape
    left = max(0, math.floor(min(start.x(), end.x()) - radius))
    top = max(0, math.floor(min(start.y(), end.y()) - radius))
    right = min(width, math.ceil(max(start.x(), end.x()) + radius) + 1)
    bottom = min(height, math.ceil(max(start.y(), end.y()) + radius) + 1)
    if left >= right or top >= bottom:
        return QRect()
    return QRect(left, top, right - left, bottom - top)


def segment_distance(box: QRect, start: QPointF, end: QPointF) -> npt.NDArray[np.float32]:
    """Distance of each pixel centre in ``box`` to the segment start–end."""
    ys = np.arange(box.top(), box.bottom() + 1, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(box.left(), box.right() + 1, dtype=np.float32)[None, :] + 0.5
    x0, y0 = start.x(), start.y()
    dx, dy = end.x() - x0, end.y() - y0
    length2 = dx * dx + dy * dy
    if length2 > 1e-9:
        t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / length2, 0.0, 1.0)
        distance2 = (xs - (x0 + t * dx)) ** 2 + (ys - (y0 + t * dy)) ** 2
    else:
        distance2 = (xs - x0) ** 2 + (ys - y0) ** 2
    return np.sqrt(distance2, dtype=np.float32)


def stamp_soft_segment(
    mask: U8, start: QPointF, end: QPointF, radius: float, hardness: float, *, erase: bool = False
) -> QRect:
    """Paint (or erase) a brush segment with a soft edge; returns the box it touched.

    ``hardness`` 1.0 is a hard disc: exactly the pixels within ``radius`` become 255 (0 when erasing). Lower
    values keep full strength inside ``radius * hardness`` and fade linearly to nothing at ``radius``. Paint
    only ever raises mask values and erasing only lowers them, so overlapping dabs of one stroke never punch
    holes into each other.
    """
    radius = max(radius, MIN_RADIUS)
    box = segment_box(mask, start, end, radius)
    if box.isEmpty():
        return box
    distance = segment_distance(box, start, end)
    hardness = min(max(hardness, 0.0), 1.0)
    inner = radius * hardness
    if radius - inner < 1e-6:
        strength = np.where(distance <= radius, np.uint8(255), np.uint8(0))
    else:
        falloff = np.clip((radius - distance) / (radius - inner), 0.0, 1.0)
        strength = np.round(falloff * 255).astype(np.uint8)
    region = mask[box.top() : box.bottom() + 1, box.left() : box.right() + 1]
    if erase:
        np.minimum(region, 255 - strength, out=region)
    else:
        np.maximum(region, strength, out=region)
    return box


def polygon_box(points: Sequence[QPointF], shape: tuple[int, int]) -> QRect:
    """The mask pixels a polygon covers (clipped to ``shape`` = (height, width); may be empty)."""
    if len(points) < 3:
        return QRect()
    xs = [p.x() for p in points]
    ys = [p.y() for p in points]
    left, top = max(0, math.floor(min(xs))), max(0, math.floor(min(ys)))
    right, bottom = min(shape[1], math.ceil(max(xs)) + 1), min(shape[0], math.ceil(max(ys)) + 1)
    if left >= right or top >= bottom:
        return QRect()
    return QRect(left, top, right - left, bottom - top)


def fill_polygon(mask: U8, points: Sequence[QPointF], value: int = 255) -> QRect:
    """Set the pixels whose centres lie inside the closed polygon ``points`` (photo pixels) to ``value``.

    Returns the box that was touched (empty when the polygon has no area on the mask).
    """
    box = polygon_box(points, mask.shape)
    if box.isEmpty():
        return box
    import cv2  # only here: the GUI starts without it

    shift = 4  # sub-pixel precision: cv2 takes fixed-point vertices
    # cv2 puts integer coordinates on pixel centres; ours put them on pixel corners, hence the half pixel.
    vertices = np.array(
        [[(p.x() - box.left() - 0.5) * (1 << shift), (p.y() - box.top() - 0.5) * (1 << shift)] for p in points]
    )
    inside = np.zeros((box.height(), box.width()), np.uint8)
    cv2.fillPoly(inside, [np.round(vertices).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=shift)
    region = mask[box.top() : box.bottom() + 1, box.left() : box.right() + 1]
    region[inside.astype(bool)] = value
    return box
