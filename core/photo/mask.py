"""Masks: which pixels of a photo to fill.

A mask is a ``uint8`` (H, W) array with the photo's geometry; white means "fill". Values are binarized at
:data:`FILL_THRESHOLD` (≥ 128 = fill) wherever a yes/no decision is needed here. The checks here avoid
photo-sized temporary arrays, because a mask of a 100-megapixel photo is itself 100 MB. The Moebius pipeline applies
its own threshold to the frame-sized mask it is given (ARCHITECTURE.md §8), which agrees with this one on
binary masks.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from core.common.errors import EmptyMaskError, MaskError, MaskSizeMismatchError

FILL_THRESHOLD = 128
"""Mask values at or above this are filled; below it the photo is kept."""

FIT_MASK_HINT = "Use --fit-mask to stretch it to the photo, or export the mask at the photo's size."

U8Mask = npt.NDArray[np.uint8]
BoolMask = npt.NDArray[np.bool_]


def binarize(mask: U8Mask, threshold: int = FILL_THRESHOLD) -> BoolMask:
    """Which pixels to fill.

    Args:
        mask: ``uint8`` (H, W) mask, white = fill.
        threshold: values at or above it are filled.

    Returns:
        ``bool`` (H, W) array, ``True`` where the photo is to be filled.
    """
    return np.asarray(mask >= threshold, dtype=np.bool_)


def fit_mask(mask: U8Mask, shape: tuple[int, int]) -> U8Mask:
    """Resize a mask to ``shape`` without losing thin strokes; the result is binary (0 or 255).

    Enlarging uses nearest-neighbour sampling; shrinking fills a new pixel when any old pixel it covers is
    filled, so a one-pixel stroke or a lone speck survives any reduction (the mask grows by at most one new
    pixel at its border, which is the safe side for a fill). See :func:`reduce_mask`; masks of another
    aspect ratio (``--fit-mask``) are handled per axis.

    Args:
        mask: ``uint8`` (H, W) mask.
        shape: target ``(height, width)``.

    Returns:
        ``uint8`` (height, width) mask of 0 and 255.
    """
    height, width = int(shape[0]), int(shape[1])
    if height < 1 or width < 1:
        raise ValueError(f"cannot resize a mask to {width}×{height}")
    if (height, width) == mask.shape:
        return np.where(binarize(mask), np.uint8(255), np.uint8(0))
    return reduce_mask(mask, (height, width))


def reduce_mask(mask: U8Mask, shape: tuple[int, int]) -> U8Mask:
    """Resize a mask to ``shape`` as 0/255 without losing thin strokes, in strips (no full-size copy).

    Along an axis that shrinks, a new pixel is filled when any old pixel of its footprint is ≥ 128, so a
    one-pixel stroke or a lone speck survives any reduction (the mask grows by at most one new pixel, the safe
    side for a fill); along an axis that grows, the nearest old pixel is taken. Works through a view into a
    large photo strip by strip.

    Args:
        mask: ``uint8`` (H, W) mask (may be a view).
        shape: target ``(height, width)``.
    """
    height, width = int(mask.shape[0]), int(mask.shape[1])
    out_h, out_w = int(shape[0]), int(shape[1])
    if out_h < 1 or out_w < 1:
        raise ValueError(f"cannot resize a mask to {out_w}×{out_h}")
    # 1. Per axis: where each new pixel's footprint starts (shrinking), or which old pixel it takes (growing).
    shrink_rows, rows = _axis_map(height, out_h)
    shrink_columns, columns = _axis_map(width, out_w)
    result = np.empty((out_h, out_w), np.uint8)
    # 2. Strips of new rows, each reading about 4 MB of the old mask.
    chunk = max(1, (1 << 22) // max(1, width * max(1, height // out_h)))
    for first in range(0, out_h, chunk):
        last = min(out_h, first + chunk)
        if shrink_rows:
            stop = int(rows[last]) if last < out_h else height
            strip = mask[int(rows[first]) : stop] >= FILL_THRESHOLD
            by_rows = np.logical_or.reduceat(strip, rows[first:last] - rows[first], axis=0)
        else:
            by_rows = mask[rows[first:last]] >= FILL_THRESHOLD
        filled = np.logical_or.reduceat(by_rows, columns, axis=1) if shrink_columns else by_rows[:, columns]
        result[first:last] = np.where(filled, np.uint8(255), np.uint8(0))
    return result


def _axis_map(old: int, new: int) -> tuple[bool, npt.NDArray[np.int64]]:
    """``(True, footprint starts)`` when an axis shrinks from ``old`` to ``new`` pixels (or keeps its size),
    ``(False, nearest old pixel of each new pixel)`` when it grows."""
    if new <= old:
        return True, (np.arange(new, dtype=np.int64) * old) // new
    centres = (np.arange(new, dtype=np.float64) + 0.5) * old / new
    return False, np.minimum(old - 1, centres.astype(np.int64))


def check_mask(mask: U8Mask, image_shape: tuple[int, ...], *, fit: bool = False) -> U8Mask:
    """Make sure a mask can be used with a photo, and return the mask to use.

    Args:
        mask: ``uint8`` (H, W) mask as read from its file.
        image_shape: the photo's array shape, (H, W) or (H, W, C).
        fit: stretch a mask of another size to the photo (``--fit-mask``) instead of refusing it.

    Returns:
        The mask, resized to the photo when ``fit`` was needed.

    Raises:
        MaskError: the mask is not a single-channel 8-bit array.
        MaskSizeMismatchError: the sizes differ and ``fit`` is false.
        EmptyMaskError: no pixel is marked for filling.
    """
    # 1. One 8-bit channel.
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise MaskError(f"A mask must be one 8-bit channel; got {mask.dtype} data of shape {mask.shape}.")
    # 2. The photo's size, or stretched to it when allowed.
    height, width = int(image_shape[0]), int(image_shape[1])
    if mask.shape != (height, width):
        if not fit:
            raise MaskSizeMismatchError((int(mask.shape[1]), int(mask.shape[0])), (width, height), hint=FIT_MASK_HINT)
        mask = fit_mask(mask, (height, width))
    # 3. Something to fill (the largest value tells, without a photo-sized temporary array).
    if mask.size == 0 or int(mask.max()) < FILL_THRESHOLD:
        raise EmptyMaskError("The mask is empty: there is nothing to fill.")
    return mask


def mask_bbox(mask: U8Mask, threshold: int = FILL_THRESHOLD) -> tuple[int, int, int, int] | None:
    """The smallest rectangle holding every pixel to fill.

    Args:
        mask: ``uint8`` (H, W) mask.
        threshold: values at or above it count as fill.

    Returns:
        ``(left, top, right, bottom)`` in pixels, right and bottom exclusive (Pillow's box convention), or
        ``None`` when the mask is empty.
    """
    # The largest value per row and per column answers the question without a photo-sized temporary array.
    if mask.size == 0:
        return None
    rows = np.flatnonzero(mask.max(axis=1) >= threshold)
    if rows.size == 0:
        return None
    columns = np.flatnonzero(mask[rows[0] : rows[-1] + 1].max(axis=0) >= threshold)
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1
