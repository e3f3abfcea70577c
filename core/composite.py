"""Putting the model's square frame around a photo, and blending its fill back into the photo.

The released Moebius model only runs on a square frame (512×512). :func:`fit_to_frame` scales a photo of any
shape so that its longer side fills the frame and pads the short side with mirrored photo content (never
black, which the model would read as part of the scene); :func:`unfit_from_frame` undoes that. Finally
:func:`composite` blends the fill into the original photo under the mask with a soft edge that ramps up only
*inside* the mask, so every pixel the mask does not select stays bit-identical to the original.

Blending happens in float32 on the mask's bounding box only, so its memory cost follows the size of the
masked area, not the size of the photo. Adjustments of the fill before blending (colour and exposure matching,
grain) fit between :func:`feather_alpha` and the blend; region planning for large photos builds on
:class:`FrameFit`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from core.mask import U8Mask, binarize, fit_mask, mask_bbox

FRAME_FEATHER_PX = 3.0
"""Width of the soft edge, in model-frame pixels, that :func:`auto_feather` scales to the photo."""

U8Image = npt.NDArray[np.uint8]
F32Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class FrameFit:
    """Where a photo sits inside the square model frame.

    Args:
        image_shape: the photo's ``(height, width)`` in pixels.
        frame: side of the square frame in pixels (512 for the released model).
        content: ``(left, top, right, bottom)`` of the scaled photo inside the frame, right and bottom
            exclusive; the rest of the frame is padding.
    """

    image_shape: tuple[int, int]
    frame: int
    content: tuple[int, int, int, int]

    @property
    def scale(self) -> float:
        """Frame pixels per photo pixel (below 1 when the photo was reduced)."""
        return (self.content[2] - self.content[0]) / self.image_shape[1]


def fit_to_frame(image: U8Image, mask: U8Mask, frame: int) -> tuple[U8Image, U8Mask, FrameFit]:
    """Scale a photo and its mask into a square frame without distorting them.

    Args:
        image: ``uint8`` (H, W, 3) RGB photo.
        mask: ``uint8`` (H, W) mask, white = fill.
        frame: side of the square frame in pixels.

    Returns:
        ``(frame_image, frame_mask, fit)``: the photo scaled so its longer side equals ``frame``, centred and
        padded with mirrored content to ``uint8`` (frame, frame, 3); the mask scaled the same way (binary,
        thin strokes kept) and padded with 0 to ``uint8`` (frame, frame); and the :class:`FrameFit` that
        :func:`unfit_from_frame` needs.
    """
    # 1. Check the inputs belong together.
    height, width = _check_pair(image, mask)
    if frame < 1:
        raise ValueError(f"frame must be a positive size, got {frame}")
    # 2. Scale so the longer side fills the frame; round the other side, keeping at least one pixel.
    scale = frame / max(height, width)
    new_width = min(frame, max(1, round(width * scale)))
    new_height = min(frame, max(1, round(height * scale)))
    scaled_image = _resize(image, (new_height, new_width))
    scaled_mask = fit_mask(mask, (new_height, new_width))
    # 3. Centre it and pad the short side: mirrored photo content for the image, "keep" for the mask.
    left, top = (frame - new_width) // 2, (frame - new_height) // 2
    right, bottom = frame - new_width - left, frame - new_height - top
    padding = (top, bottom, left, right)
    frame_image = np.asarray(cv2.copyMakeBorder(scaled_image, *padding, cv2.BORDER_REFLECT_101), np.uint8)
    frame_mask = np.asarray(cv2.copyMakeBorder(scaled_mask, *padding, cv2.BORDER_CONSTANT, value=0), np.uint8)
    fit = FrameFit((height, width), frame, (left, top, left + new_width, top + new_height))
    return frame_image, frame_mask, fit


def unfit_from_frame(frame_result: U8Image, fit: FrameFit) -> U8Image:
    """Cut the photo's part out of a frame-sized result and scale it back to the photo's size.

    Args:
        frame_result: ``uint8`` (frame, frame, 3) image produced from :func:`fit_to_frame`'s output.
        fit: the :class:`FrameFit` returned with that output.

    Returns:
        ``uint8`` (H, W, 3) image with the photo's original size.
    """
    expected = (fit.frame, fit.frame, 3)
    if frame_result.shape != expected or frame_result.dtype != np.uint8:
        raise ValueError(f"expected a uint8 {expected} frame, got {frame_result.dtype} {frame_result.shape}")
    left, top, right, bottom = fit.content
    return _resize(frame_result[top:bottom, left:right], fit.image_shape)


def auto_feather(mask_shape: tuple[int, ...], frame: int) -> float:
    """Soft-edge width in photo pixels for a photo processed in a ``frame``-sized model frame.

    The model's detail is limited to its frame, so the edge is :data:`FRAME_FEATHER_PX` frame pixels wide,
    converted to photo pixels (wider for photos that were reduced), and never narrower than one pixel.

    Args:
        mask_shape: the photo's (or mask's) array shape, (H, W) or (H, W, C).
        frame: side of the square model frame in pixels.
    """
    photo_pixels_per_frame_pixel = max(int(mask_shape[0]), int(mask_shape[1])) / frame
    return max(1.0, FRAME_FEATHER_PX * photo_pixels_per_frame_pixel)


def feather_alpha(mask: U8Mask, feather_px: float) -> F32Array:
    """Blend weight of the fill per pixel: 0 outside the mask, ramping to 1 over ``feather_px`` inside it.

    The weight is the distance to the nearest unmasked pixel divided by ``feather_px``, clipped to [0, 1]
    (so the outermost masked pixels already get ``1 / feather_px``). The photo's own edges do not count as
    mask borders.

    Args:
        mask: ``uint8`` (H, W) mask; values ≥ 128 are filled.
        feather_px: width of the ramp in pixels; 0 or less gives a hard edge.

    Returns:
        ``float32`` (H, W) weights in [0, 1], exactly 0 wherever the mask is below 128.
    """
    inside = binarize(mask)
    if feather_px <= 0:
        return inside.astype(np.float32)
    distance = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    alpha: F32Array = np.clip(distance / np.float32(feather_px), 0.0, 1.0).astype(np.float32)
    alpha[~inside] = 0.0
    return alpha


def composite(original: U8Image, fill: U8Image, mask: U8Mask, *, feather_px: float) -> U8Image:
    """Blend ``fill`` into ``original`` under ``mask`` with a soft edge inside the mask.

    Args:
        original: ``uint8`` (H, W, 3) photo.
        fill: ``uint8`` (H, W, 3) image whose masked part replaces the photo's (the engine's output mapped
            back to the photo's size).
        mask: ``uint8`` (H, W) mask; values ≥ 128 are filled.
        feather_px: width of the soft edge in pixels (see :func:`auto_feather`); 0 copies masked pixels as
            they are.

    Returns:
        A new ``uint8`` (H, W, 3) image: ``original`` wherever the mask is below 128 (bit-identical),
        ``fill`` deep inside the mask, a rounded float32 blend of both on the ramp.
    """
    # 1. Check shapes, and find the part of the photo that can change at all.
    height, width = _check_pair(original, mask)
    if fill.shape != original.shape or fill.dtype != np.uint8:
        raise ValueError(f"fill must be uint8 {original.shape}, got {fill.dtype} {fill.shape}")
    result = original.copy()
    box = mask_bbox(mask)
    if box is None:
        return result
    # 2. Grow the box by one pixel so the distance transform sees the unmasked pixels around the mask.
    left, top = max(0, box[0] - 1), max(0, box[1] - 1)
    right, bottom = min(width, box[2] + 1), min(height, box[3] + 1)
    window = (slice(top, bottom), slice(left, right))
    # 3. Blend in float32 on the box only; unmasked pixels get weight 0 and keep their exact value.
    alpha = feather_alpha(mask[window], feather_px)[:, :, None]
    base = original[window].astype(np.float32)
    blended = base + alpha * (fill[window].astype(np.float32) - base)
    result[window] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return result


def _check_pair(image: U8Image, mask: U8Mask) -> tuple[int, int]:
    """Validate an RGB ``uint8`` photo and a ``uint8`` mask of the same size; returns ``(height, width)``."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
    if mask.dtype != np.uint8 or mask.shape != image.shape[:2]:
        raise ValueError(f"expected a uint8 {image.shape[:2]} mask, got {mask.dtype} {mask.shape}")
    return int(image.shape[0]), int(image.shape[1])


def _resize(image: U8Image, shape: tuple[int, int]) -> U8Image:
    """Resize an image to ``(height, width)``: area averaging to reduce, Lanczos to enlarge."""
    height, width = shape
    if image.shape[:2] == (height, width):
        return image.copy()
    reducing = height * width < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if reducing else cv2.INTER_LANCZOS4
    return np.asarray(cv2.resize(image, (width, height), interpolation=interpolation), np.uint8)
