"""Masks: which pixels of a photo to fill, and how strongly.

A mask is a ``uint8`` (H, W) array with the photo's geometry; white means "fill". A mask value is the weight
of the fill at that pixel, like the opacity of a feathered selection (see :func:`fill_weights`): a soft brush
edge fades the fill out instead of being cut. Yes/no decisions (is the mask empty, may it be stretched) still
binarize at :data:`FILL_THRESHOLD` (≥ 128 = fill), and :func:`fill_region` says which pixels a fill may
change. The checks here avoid photo-sized temporary arrays, because a mask of a 100-megapixel photo is itself
100 MB. The Moebius pipeline is always given a binary hole (ARCHITECTURE.md §8).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from core.common.errors import EmptyMaskError, MaskError, MaskSizeMismatchError

FILL_THRESHOLD = 128
"""Mask values at or above this are certainly filled: a mask with none of them is empty, and a soft mark
counts only where it is connected to one (see :func:`fill_region`)."""

SOFT_FLOOR = 8
"""Mask values below this have no weight at all: the faint noise of a JPEG-compressed mask changes nothing."""

SOFT_FULL = 248
"""Mask values at or above this have the full weight, so a white that went through JPEG is still filled fully."""

FILL_WEIGHTS: npt.NDArray[np.float32] = np.clip(
    (np.arange(256, dtype=np.float32) - (SOFT_FLOOR - 1)) / np.float32(SOFT_FULL - SOFT_FLOOR + 1), 0.0, 1.0
).astype(np.float32)
"""The weight of each mask value 0..255 (a lookup table, see :func:`fill_weights`)."""

FIT_MASK_HINT = "Use --fit-mask to stretch it to the photo, or export the mask at the photo's size."

U8Mask = npt.NDArray[np.uint8]
BoolMask = npt.NDArray[np.bool_]
F32Weights = npt.NDArray[np.float32]
Pixels = tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]
"""Rows and columns of some pixels, as :func:`numpy.nonzero` gives them."""


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
        raise empty_mask_error(mask)
    return mask


def empty_mask_error(mask: U8Mask) -> EmptyMaskError:
    """The error for a mask without a pixel of :data:`FILL_THRESHOLD` or brighter, saying what was found.

    A mask read from a coloured file says so (see :class:`core.photo.read.DimColourMask`): a mask painted red
    on black is dark grey by brightness, which is how masks are read.

    Args:
        mask: the ``uint8`` mask that was found empty.
    """
    brightest = int(mask.max()) if mask.size else 0
    found = f"Its brightest pixel is {brightest} of 255"
    colour = getattr(mask, "colour_note", "")
    if colour:
        found += f"; {colour}, but masks are read by brightness"
    return EmptyMaskError(
        f"The mask is empty: there is nothing to fill. {found}: paint what should be filled white "
        f"({FILL_THRESHOLD} of 255 or brighter) on black."
    )


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


def fill_weights(mask: U8Mask) -> F32Weights:
    """The weight of the fill at every pixel, from the mask value alone.

    A mask value ``m`` is read like the opacity of a feathered selection: weight 0 below :data:`SOFT_FLOOR`
    (noise of a JPEG-compressed mask), 1 from :data:`SOFT_FULL` up (a white that went through JPEG), and
    linear in between, ``(m − 7) / 241``, so that a soft brush edge fades the fill into the photo. A pixel
    is only filled at all when it lies in :func:`fill_region`; its weight there is this value.

    Args:
        mask: ``uint8`` mask of any shape (usually a window's part of the photo's mask).

    Returns:
        ``float32`` weights in [0, 1], the shape of ``mask`` (a 0/255 mask gives exactly 0.0 and 1.0).
    """
    weights: F32Weights = FILL_WEIGHTS[mask]
    return weights


def has_soft_pixels(mask: U8Mask) -> bool:
    """Whether ``mask`` holds soft pixels, :data:`SOFT_FLOOR` ≤ value < :data:`FILL_THRESHOLD` (a 0/255 mask
    holds none, and its fill region is simply its white pixels).

    Args:
        mask: ``uint8`` (H, W) mask (may be a view).
    """
    import cv2  # here: importing the mask rules stays light for the GUI

    if mask.size == 0:
        return False
    return bool(cv2.countNonZero(cv2.inRange(mask, SOFT_FLOOR, FILL_THRESHOLD - 1)) > 0)


def detached_marks(mask: U8Mask) -> Pixels:
    """The faint marks of a mask that do not count: soft pixels not connected to any pixel ≥ 128.

    A soft pixel (:data:`SOFT_FLOOR` ≤ value < :data:`FILL_THRESHOLD`) belongs to a fill only when it is
    connected (8-neighbourhood, through pixels ≥ :data:`SOFT_FLOOR`) to a pixel ≥ :data:`FILL_THRESHOLD`: the
    soft edge of a brush stroke does, a faint smudge on its own does not. Such a chain reaches a strong
    pixel exactly when its connected run of soft pixels touches one, so only the soft pixels are labelled.
    Costs a few bytes per pixel of ``mask`` for a moment, and nothing when ``mask`` has no soft pixel.

    Args:
        mask: ``uint8`` (H, W) mask, or a part of one that holds every connected mark it touches whole.

    Returns:
        ``(rows, columns)`` of the soft pixels that are left out (usually none).
    """
    import cv2  # here: importing the mask rules stays light for the GUI

    none = (np.zeros(0, np.intp), np.zeros(0, np.intp))
    # 1. The soft pixels; a mask without any (0/255 masks, the common case) needs nothing more.
    if not has_soft_pixels(mask):
        return none
    soft = np.asarray(cv2.inRange(mask, SOFT_FLOOR, FILL_THRESHOLD - 1), np.uint8)
    # 2. The soft pixels that touch a strong one (each temporary array is dropped as soon as it is used).
    _, strong = cv2.threshold(mask, FILL_THRESHOLD - 1, 255, cv2.THRESH_BINARY)
    touching = cv2.bitwise_and(cv2.dilate(strong, np.ones((3, 3), np.uint8)), soft)
    del strong
    # 3. Runs of connected soft pixels; a run is attached when one of its pixels touches a strong one.
    count, labels = cv2.connectedComponents(soft, connectivity=8, ltype=cv2.CV_32S)
    del soft
    attached = np.zeros(count, np.bool_)
    attached[0] = True  # the background label
    attached[labels[np.nonzero(touching)]] = True
    del touching
    if attached.all():
        return none
    # 4. The pixels of the runs that are not.
    rows, columns = np.nonzero(~attached[labels])
    return rows.astype(np.intp), columns.astype(np.intp)


def fill_region(mask: U8Mask) -> BoolMask:
    """The pixels a fill may change: every mark of the mask that is connected to a pixel ≥ 128.

    The region is made of the connected parts (8-neighbourhood) of the pixels ≥ :data:`SOFT_FLOOR` that hold
    at least one pixel ≥ :data:`FILL_THRESHOLD`: a stroke with its whole soft edge. Faint marks not connected
    to such a pixel, and values below :data:`SOFT_FLOOR`, are left alone (bit-identical). The engines
    regenerate this region and blend the result in with :func:`fill_weights`; for a 0/255 mask it is the
    white pixels. See :func:`detached_marks` for what is left out.

    Args:
        mask: ``uint8`` (H, W) mask, or a part of one that holds every connected mark it touches whole.

    Returns:
        ``bool`` (H, W), ``True`` where the photo may change.
    """
    region = np.asarray(mask >= SOFT_FLOOR, dtype=np.bool_)
    region[detached_marks(mask)] = False
    return region


def soft_fill(mask: U8Mask) -> tuple[BoolMask, F32Weights]:
    """The region to fill and the fill's weight per pixel (0 outside the region).

    Args:
        mask: ``uint8`` (H, W) mask, or a part of one that holds every connected mark it touches whole.

    Returns:
        ``(region, weights)``: see :func:`fill_region` and :func:`fill_weights`.
    """
    region = fill_region(mask)
    weights = fill_weights(mask)
    weights[~region] = 0.0
    return region, weights
