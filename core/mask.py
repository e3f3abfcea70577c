"""Masks: which pixels of a photo to fill.

A mask is a ``uint8`` (H, W) array with the photo's geometry; white means "fill". Values are binarized at
:data:`FILL_THRESHOLD` (≥ 128 = fill) wherever a yes/no decision is needed here. The Moebius pipeline applies
its own threshold to the frame-sized mask it is given (ARCHITECTURE.md §8), which agrees with this one on
binary masks.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from core.errors import EmptyMaskError, MaskError, MaskSizeMismatchError

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

    The mask is binarized first. Enlarging uses nearest-neighbour sampling; shrinking measures how much of
    each new pixel the old mask covers and fills the pixel when any of it is covered, so a one-pixel stroke
    survives a large reduction (the mask grows by at most one new pixel at its border, which is the safe side
    for a fill).

    Args:
        mask: ``uint8`` (H, W) mask.
        shape: target ``(height, width)``.

    Returns:
        ``uint8`` (height, width) mask of 0 and 255.
    """
    height, width = int(shape[0]), int(shape[1])
    if height < 1 or width < 1:
        raise ValueError(f"cannot resize a mask to {width}×{height}")
    binary = np.where(binarize(mask), np.uint8(255), np.uint8(0))
    if binary.shape == (height, width):
        return binary
    if height * width >= binary.shape[0] * binary.shape[1]:
        resized = cv2.resize(binary, (width, height), interpolation=cv2.INTER_NEAREST)
    else:
        resized = cv2.resize(binary, (width, height), interpolation=cv2.INTER_AREA)
    covered: U8Mask = np.where(resized > 0, np.uint8(255), np.uint8(0))
    return covered


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
            raise MaskSizeMismatchError(
                (int(mask.shape[1]), int(mask.shape[0])), (width, height), hint=FIT_MASK_HINT
            )
        mask = fit_mask(mask, (height, width))
    # 3. Something to fill.
    if not bool(binarize(mask).any()):
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
    filled = binarize(mask, threshold)
    rows = np.flatnonzero(filled.any(axis=1))
    if rows.size == 0:
        return None
    columns = np.flatnonzero(filled.any(axis=0))
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1
