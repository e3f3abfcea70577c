"""Selecting an object from a box drawn around it, and growing a selection to take in its shadow.

:func:`select_object` finds the object inside a box with OpenCV's GrabCut: everything outside the box is
background, the colours inside are split into object and background, and a graph cut draws the border
between them where the colours change. No model weights are needed. It works on the box plus a margin of
background, scaled down for large photos, in two passes: all iterations at a coarse size (long side
:data:`COARSE_SIDE`), in HSV and, if that does not fit the box well, in RGB; then one pass at the working size
(long side at most ``max_side``) that only decides a narrow band along the coarse border, with the colour
models the coarse pass learned. The result is cleaned (the largest pieces kept, holes filled) and scaled back
to the photo. The same photo and box always give the same selection.

:func:`expand_for_shadow` grows a selection downward, widening as it goes, the way a shadow falls below an
object lit from above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from core.common.errors import SelectionError
from core.photo.mask import FILL_THRESHOLD, BoolMask, U8Mask

U8Image = npt.NDArray[np.uint8]
Box = tuple[int, int, int, int]

MIN_BOX_SIDE = 8
"""Smallest box width and height in photo pixels that GrabCut can tell an object from its background in."""

MARGIN_SHARE = 0.1
"""Background taken around the box on each side, as a share of the box's longer side (at least
:data:`MIN_MARGIN_PX`): GrabCut learns the background's colours from it."""

MIN_MARGIN_PX = 8

COARSE_SIDE = 512
"""Long side of the coarse pass, where GrabCut runs all its iterations (about 0.3 s for five at 512²)."""

BAND_PX = 4
"""Half-width, in working pixels, of the band along the coarse border that the fine pass decides, on top of
the coarse pass's own pixel size."""

COLOUR_SPACES = ("hsv", "rgb")
"""The colour spaces GrabCut models the box in, in the order they are tried (see :func:`_best_coarse`)."""

GOOD_FIT = 0.8
"""A coarse selection whose bounding box covers this share of the box is taken without trying further."""

FIT_TIE = 0.05
"""A later colour space must fit the box by this much more to be preferred."""

RNG_SEED = 0x5E1EC7

KEEP_SHARE = 0.2
"""Pieces of the selection smaller than this share of the largest piece are dropped as stray pixels."""


def select_object(
    pixels: U8Image, box: tuple[int, int, int, int], *, iterations: int = 5, max_side: int = 1024
) -> U8Mask:
    """The object GrabCut finds inside ``box``, as a mask.

    Args:
        pixels: the photo, ``uint8`` (H, W, 3).
        box: ``(left, top, right, bottom)`` in photo pixels, right and bottom exclusive; the parts outside the
            photo are ignored.
        iterations: GrabCut iterations of the coarse pass.
        max_side: long side of the working size; larger boxes are scaled down to it.

    Returns:
        ``uint8`` (H, W): 255 on the object, 0 elsewhere (nothing outside the box).

    Raises:
        SelectionError: the box is empty or too small to select in, or nothing in it stands out from the
            background around it.
    """
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) photo, got {pixels.dtype} {pixels.shape}")
    if iterations < 1 or max_side < MIN_BOX_SIDE:
        raise ValueError("iterations must be at least 1 and max_side at least 8")
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    # 1. The box inside the photo, and the part of the photo GrabCut sees: the box with a margin around it.
    left, top, right, bottom = _clipped(box, width, height)
    if right - left < MIN_BOX_SIDE or bottom - top < MIN_BOX_SIDE:
        raise SelectionError(
            "The box is too small to select an object in.",
            hint=f"Drag a box at least {MIN_BOX_SIDE} pixels wide and tall around the object.",
        )
    margin = max(MIN_MARGIN_PX, round(MARGIN_SHARE * max(right - left, bottom - top)))
    area = (max(0, left - margin), max(0, top - margin), min(width, right + margin), min(height, bottom + margin))
    crop = pixels[area[1] : area[3], area[0] : area[2]]
    # 2. Scaled down to the working size; the box in working pixels.
    scale = min(1.0, max_side / max(crop.shape[0], crop.shape[1]))
    work = _resized(crop, scale)
    rect = _rect_in(work.shape, (left - area[0], top - area[1], right - area[0], bottom - area[1]), scale)
    # 3. GrabCut, coarse then fine; then the largest pieces with their holes filled.
    selected = _cleaned(_grabcut(work, rect, iterations))
    inside = np.zeros(selected.shape, np.bool_)
    inside[rect[1] : rect[1] + rect[3], rect[0] : rect[0] + rect[2]] = True
    selected &= inside
    if not selected.any():
        raise SelectionError(
            "Nothing in the box stands out from its surroundings.",
            hint="Draw the box a little larger than the object, or paint the mask with the brush.",
        )
    # 4. Back to the photo's size: scaled up smoothly, and nothing outside the box.
    mask = np.zeros((height, width), np.uint8)
    full = selected.view(np.uint8) * np.uint8(255)
    if scale < 1.0:
        full = np.asarray(cv2.resize(full, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_LINEAR))
        full = np.where(full >= FILL_THRESHOLD, np.uint8(255), np.uint8(0))
    box_part = full[top - area[1] : bottom - area[1], left - area[0] : right - area[0]]
    mask[top:bottom, left:right] = box_part
    return mask


def expand_for_shadow(mask: U8Mask, distance: int, *, spread: float = 0.25) -> U8Mask:
    """The selection grown downward by ``distance`` photo pixels, widening sideways as it goes.

    Every selected pixel (≥ 128) casts a wedge below it: at ``d`` pixels down it is ``spread × d`` pixels wide
    on each side, so at the far end the growth is ``spread × distance`` wider on each side than the object.
    The original selection is kept (with its own values); the grown part is 255.

    Args:
        mask: ``uint8`` (H, W) selection.
        distance: how far down the shadow reaches, in photo pixels (0 returns a copy).
        spread: sideways widening per pixel down.

    Returns:
        A new ``uint8`` (H, W) mask.
    """
    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise ValueError(f"expected a uint8 (H, W) mask, got {mask.dtype} {mask.shape}")
    if distance < 0 or spread < 0:
        raise ValueError("distance and spread must be 0 or more")
    result = mask.copy()
    rows = np.flatnonzero(np.any(mask >= FILL_THRESHOLD, axis=1))
    if distance == 0 or rows.size == 0:
        return result
    columns = np.flatnonzero(np.any(mask[rows[0] : rows[-1] + 1] >= FILL_THRESHOLD, axis=0))
    height, width = mask.shape
    # 1. Only the part below and beside the selection can change.
    reach = math.ceil(spread * distance)
    top, bottom = int(rows[0]), min(height, int(rows[-1]) + 1 + distance)
    left, right = max(0, int(columns[0]) - reach), min(width, int(columns[-1]) + 1 + reach)
    source = mask[top:bottom, left:right] >= FILL_THRESHOLD
    # 2. A pixel (y, x) is in the wedge of a selected pixel (r, c) when 0 ≤ y − r ≤ distance and
    #    |x − c| ≤ spread·(y − r). With h(r, x) the distance along row r from x to the nearest selected pixel,
    #    that is: some r in [y − distance, y] has h(r, x) + spread·r ≤ spread·y. The smallest h(r, x) + spread·r
    #    over that window of rows is a minimum filter down each column (a grey erosion with a column kernel).
    row_distance = _row_distance(source)
    offsets = np.arange(source.shape[0], dtype=np.float32)[:, None] * np.float32(spread)
    lowest = cv2.erode(
        row_distance + offsets,
        np.ones((distance + 1, 1), np.uint8),
        anchor=(0, distance),
        borderType=cv2.BORDER_CONSTANT,
        borderValue=float(np.finfo(np.float32).max),
    )
    shadow = lowest <= offsets + np.float32(1e-3)
    part = result[top:bottom, left:right]
    part[shadow & ~source] = 255
    return result


# -- GrabCut -----------------------------------------------------------------------------------------------------


def _grabcut(work: U8Image, rect: Box, iterations: int) -> BoolMask:
    """The object in ``rect`` (x, y, w, h) of ``work``: coarse GrabCut, then a fine pass along its border."""
    side = max(work.shape[0], work.shape[1])
    factor = min(1.0, COARSE_SIDE / side)
    # 1. Every iteration at the coarse size, in each colour space until one fits the box; this also learns the
    #    colour models of the fine pass.
    coarse = _resized(work, factor)
    coarse_rect = _rect_in(coarse.shape, (rect[0], rect[1], rect[0] + rect[2], rect[1] + rect[3]), factor)
    best = _best_coarse(coarse, coarse_rect, iterations)
    if factor >= 1.0:
        return best.found
    # 2. Scaled up: certain inside and outside, undecided in a band along the border (a coarse pixel and a bit).
    found = best.found.view(np.uint8) * np.uint8(255)
    upscaled = cv2.resize(found, (work.shape[1], work.shape[0]), interpolation=cv2.INTER_LINEAR) >= FILL_THRESHOLD
    band = 2 * (math.ceil(1 / factor) + BAND_PX) + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (band, band))
    sure_object = cv2.erode(upscaled.view(np.uint8), kernel).view(np.bool_)
    maybe = cv2.dilate(upscaled.view(np.uint8), kernel).view(np.bool_)
    fine: U8Mask = np.full(work.shape[:2], cv2.GC_BGD, np.uint8)
    fine[maybe] = cv2.GC_PR_BGD
    fine[upscaled] = cv2.GC_PR_FGD
    fine[sure_object] = cv2.GC_FGD
    outside = np.ones(work.shape[:2], np.bool_)
    outside[rect[1] : rect[1] + rect[3], rect[0] : rect[0] + rect[2]] = False
    fine[outside] = cv2.GC_BGD
    # 3. One pass at the working size with the coarse pass's colour models decides the band.
    background, foreground = best.models
    cv2.setRNGSeed(RNG_SEED)
    cv2.grabCut(_in_space(work, best.space), fine, (0, 0, 0, 0), background, foreground, 1, cv2.GC_EVAL)
    selected: BoolMask = np.isin(fine, (cv2.GC_FGD, cv2.GC_PR_FGD))
    return selected


@dataclass
class _Coarse:
    """One coarse GrabCut: its colour space, what it found, how well that fits the box, its colour models."""

    space: str
    found: BoolMask
    fit: float
    models: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]


def _best_coarse(coarse: U8Image, rect: Box, iterations: int) -> _Coarse:
    """GrabCut in each of :data:`COLOUR_SPACES` until a selection fits the box well; the best fitting one.

    The user drew the box around the object, so the selection's own bounding box should fill it: a selection
    that spans a small part of the box has usually lost part of the object to the background (greys and
    whites tell apart by hue and saturation where their RGB values are close, and saturated colours by RGB).

    Raises:
        SelectionError: GrabCut failed in every colour space.
    """
    best: _Coarse | None = None
    for space in COLOUR_SPACES:
        try:
            labels, models = _grabcut_labels(_in_space(coarse, space), rect, iterations)
        except SelectionError:
            continue
        found: BoolMask = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))
        candidate = _Coarse(space, found, _box_fit(found, rect), models)
        if best is None or candidate.fit > best.fit + FIT_TIE:
            best = candidate
        if best.fit >= GOOD_FIT:
            break
    if best is None:
        raise SelectionError(
            "Nothing in the box stands out from its surroundings.",
            hint="Draw the box a little larger than the object, or paint the mask with the brush.",
        )
    return best


def _box_fit(found: BoolMask, rect: Box) -> float:
    """How much of ``rect`` the bounding box of ``found`` covers, 0..1."""
    rows = np.flatnonzero(found.any(axis=1))
    if rows.size == 0:
        return 0.0
    columns = np.flatnonzero(found.any(axis=0))
    spanned = (rows[-1] + 1 - rows[0]) * (columns[-1] + 1 - columns[0])
    return float(spanned) / float(rect[2] * rect[3])


def _in_space(image: U8Image, space: str) -> U8Image:
    """``image`` (RGB) in the colour space GrabCut is to model: ``"rgb"`` or ``"hsv"`` (hue over 0..255)."""
    if space == "hsv":
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2HSV_FULL), dtype=np.uint8)
    return image


def _grabcut_labels(
    work: U8Image, rect: Box, iterations: int
) -> tuple[U8Mask, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
    """GrabCut's labels for ``work`` started from ``rect``, and its background and object colour models."""
    labels = np.zeros(work.shape[:2], np.uint8)
    background = np.zeros((1, 65), np.float64)
    foreground = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(RNG_SEED)  # GrabCut starts its colour models with k-means: the same box, the same selection
    try:
        cv2.grabCut(work, labels, rect, background, foreground, iterations, cv2.GC_INIT_WITH_RECT)
    except cv2.error as error:  # e.g. too few distinct colours to learn a model from
        raise SelectionError(
            "Nothing in the box stands out from its surroundings.",
            hint="Draw the box a little larger than the object, or paint the mask with the brush.",
        ) from error
    return labels, (background, foreground)


# -- helpers -----------------------------------------------------------------------------------------------------


def _clipped(box: tuple[int, int, int, int], width: int, height: int) -> Box:
    """``box`` as whole pixels inside a ``width`` × ``height`` photo (empty when it lies outside)."""
    left, top, right, bottom = (int(round(v)) for v in box)
    left, right = max(0, min(left, right)), min(width, max(left, right))
    top, bottom = max(0, min(top, bottom)), min(height, max(top, bottom))
    return left, top, max(left, right), max(top, bottom)


def _resized(image: U8Image, scale: float) -> U8Image:
    """``image`` scaled by ``scale`` ≤ 1 (area averaging), contiguous; itself when the scale is 1."""
    if scale >= 1.0:
        return np.ascontiguousarray(image)
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _rect_in(shape: tuple[int, ...], box: Box, scale: float) -> Box:
    """GrabCut's rectangle ``(x, y, w, h)`` for ``box`` (photo pixels of the crop) at ``scale``.

    It keeps at least one pixel of background on every side, so that GrabCut has background to learn from
    even when the box covers the whole photo.
    """
    height, width = int(shape[0]), int(shape[1])
    left = min(max(1, math.floor(box[0] * scale)), width - 2)
    top = min(max(1, math.floor(box[1] * scale)), height - 2)
    right = max(left + 1, min(width - 1, math.ceil(box[2] * scale)))
    bottom = max(top + 1, min(height - 1, math.ceil(box[3] * scale)))
    return left, top, right - left, bottom - top


def _cleaned(selected: BoolMask) -> BoolMask:
    """The large pieces of ``selected`` (at least :data:`KEEP_SHARE` of the largest), with their holes filled."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(selected.view(np.uint8), connectivity=8)
    if count <= 1:
        return selected
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(count, np.bool_)
    keep[1:] = areas >= KEEP_SHARE * areas.max()
    kept: BoolMask = keep[labels]
    # Holes: the background that cannot be reached from the border of the crop.
    background = np.pad(~kept, 1, constant_values=True).view(np.uint8) * np.uint8(255)
    flood = np.zeros((background.shape[0] + 2, background.shape[1] + 2), np.uint8)
    cv2.floodFill(background, flood, (0, 0), 128, flags=4)
    holes = background[1:-1, 1:-1] == 255
    filled: BoolMask = kept | holes
    return filled


def _row_distance(selected: BoolMask) -> npt.NDArray[np.float32]:
    """For every pixel, the distance along its row to the nearest selected pixel (a large number when none)."""
    rows, width = selected.shape
    index = np.arange(width, dtype=np.float32)[None, :]
    far = np.float32(1e7)
    before = np.where(selected, index, -far)
    np.maximum.accumulate(before, axis=1, out=before)
    after = np.where(selected, index, far + width)
    after = np.minimum.accumulate(after[:, ::-1], axis=1)[:, ::-1]
    distance: npt.NDArray[np.float32] = np.minimum(index - before, after - index).astype(np.float32)
    return distance
