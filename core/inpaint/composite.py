"""Between a photo and the model's square frame: fitting, mapping back, matching and blending a fill.

The released Moebius model only runs on a square frame (512×512). :func:`fit_to_frame` scales a photo (or a
window of one) of any shape so that its longer side fills the frame and pads the short side with mirrored
photo content (never black, which the model would read as part of the scene); :func:`unfit_from_frame` and
:func:`frame_to_window` undo that, the latter for any part of the window only, so a fill is never mapped back
over more of the photo than it changes. :func:`fill_alpha` and :func:`blend_into` blend a fill into the photo
with a soft edge that ramps up only *inside* the fill region, times the weight a soft mask gives each pixel,
so every pixel the mask does not select stays bit-identical to the original (:func:`composite` does the same
for a whole photo and a binary mask).

Before blending, the fill can be matched to the photo: :func:`colour_transform` measures colour and exposure
on a ring of unmasked pixels around the hole (where the model reproduced the photo and any difference is the
model's drift), and :func:`estimate_grain` / :func:`synthesize_grain` measure the photo's noise on such a
ring and add the missing part to a fill that came out cleaner than the photo.

Everything here works on windows and bounding boxes in float32, so its memory cost follows the size of the
masked area, never the size of the photo. Which windows exist is decided by :mod:`core.inpaint.plan`; running them is
:mod:`core.inpaint.regions`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from core.photo.mask import U8Mask, binarize, mask_bbox, reduce_mask

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


def frame_fit(shape: tuple[int, int], frame: int) -> FrameFit:
    """Where a ``(height, width)`` image lands in a square ``frame`` when its longer side fills it.

    Args:
        shape: the image's ``(height, width)`` in pixels.
        frame: side of the square frame in pixels.
    """
    height, width = int(shape[0]), int(shape[1])
    if frame < 1 or height < 1 or width < 1:
        raise ValueError(f"cannot fit a {width}×{height} image into a {frame}-pixel frame")
    # Scale so the longer side fills the frame; round the other side, keeping at least one pixel.
    scale = frame / max(height, width)
    new_width = min(frame, max(1, round(width * scale)))
    new_height = min(frame, max(1, round(height * scale)))
    left, top = (frame - new_width) // 2, (frame - new_height) // 2
    return FrameFit((height, width), frame, (left, top, left + new_width, top + new_height))


def to_frame(image: U8Image, mask: U8Mask, fit: FrameFit) -> tuple[U8Image, U8Mask]:
    """Scale an image and its mask into the frame described by ``fit`` and pad them to a square.

    ``image`` and ``mask`` may be views into a larger photo: only the frame-sized results are allocated.

    Args:
        image: ``uint8`` (H, W, 3) RGB pixels with ``fit.image_shape``.
        mask: ``uint8`` (H, W) mask, white = fill.
        fit: the frame geometry (see :func:`frame_fit`).

    Returns:
        ``(frame_image, frame_mask)``: ``uint8`` (frame, frame, 3) padded with mirrored content, and ``uint8``
        (frame, frame) of 0 and 255 padded with 0 ("keep"); thin strokes survive the reduction.
    """
    left, top, right, bottom = fit.content
    shape = (bottom - top, right - left)
    scaled_image = _resize(image, shape)
    scaled_mask = reduce_mask(mask, shape)
    padding = (top, fit.frame - bottom, left, fit.frame - right)
    frame_image = np.asarray(cv2.copyMakeBorder(scaled_image, *padding, cv2.BORDER_REFLECT_101), np.uint8)
    frame_mask = np.asarray(cv2.copyMakeBorder(scaled_mask, *padding, cv2.BORDER_CONSTANT, value=0), np.uint8)
    return frame_image, frame_mask


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
    height, width = _check_pair(image, mask)
    fit = frame_fit((height, width), frame)
    frame_image, frame_mask = to_frame(image, mask, fit)
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


def frame_to_window(frame_result: U8Image | F32Array, fit: FrameFit, part: tuple[int, int, int, int]) -> F32Array:
    """Map part of a frame-sized model result back to the window's own resolution, as float32.

    Only ``part`` is produced, so mapping a small fill out of a large, reduced window costs memory for the
    fill's area, not the window's. Enlarging uses bicubic interpolation; reducing (windows smaller than the
    frame) uses area averaging. Pixel centres are aligned the way :func:`cv2.resize` aligns them.

    Args:
        frame_result: ``uint8`` or ``float32`` (frame, frame, 3) image made from :func:`to_frame`'s output.
        fit: the geometry :func:`to_frame` used.
        part: ``(left, top, right, bottom)`` in window pixels (may reach outside the window; the result's
            border is then continued).

    Returns:
        ``float32`` (bottom − top, right − left, 3) RGB values in 0..255.
    """
    if frame_result.shape[:2] != (fit.frame, fit.frame):
        raise ValueError(f"expected a ({fit.frame}, {fit.frame}, 3) frame, got {frame_result.shape}")
    height, width = fit.image_shape
    left, top, right, bottom = fit.content
    source = frame_result.astype(np.float32, copy=False)
    x0, y0, x1, y1 = part
    if right - left > width:
        # 1. The window was enlarged for the model: reduce the whole content by area averaging, then cut.
        reduced = cv2.resize(source[top:bottom, left:right], (width, height), interpolation=cv2.INTER_AREA)
        padded = cv2.copyMakeBorder(
            reduced, max(0, -y0), max(0, y1 - height), max(0, -x0), max(0, x1 - width), cv2.BORDER_REPLICATE
        )
        ox, oy = max(0, -x0), max(0, -y0)
        return np.ascontiguousarray(padded[y0 + oy : y1 + oy, x0 + ox : x1 + ox], dtype=np.float32)
    # 2. Enlarging (or 1:1): sample only the wanted part with an affine map from window to frame pixels.
    sx, sy = (right - left) / width, (bottom - top) / height
    matrix = np.array([[sx, 0.0, (x0 + 0.5) * sx - 0.5 + left], [0.0, sy, (y0 + 0.5) * sy - 0.5 + top]])
    flags = (cv2.INTER_NEAREST if sx == 1.0 and sy == 1.0 else cv2.INTER_CUBIC) | cv2.WARP_INVERSE_MAP
    mapped = cv2.warpAffine(source, matrix, (x1 - x0, y1 - y0), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(mapped, dtype=np.float32)


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


def fill_alpha(region: npt.NDArray[np.bool_], weights: F32Array, feather_px: float) -> F32Array:
    """Blend weight of a fill under a soft mask: the inner feather of the region times the mask's weight.

    For a 0/255 mask the weights are exactly 1 on the region, so this is :func:`feather_alpha` of the mask.

    Args:
        region: ``bool`` (h, w) pixels the fill may change (see :func:`core.photo.mask.fill_region`).
        weights: ``float32`` (h, w) weight of the fill per pixel (see :func:`core.photo.mask.fill_weights`).
        feather_px: width of the ramp inside the region in pixels; 0 or less gives a hard edge.

    Returns:
        ``float32`` (h, w) weights in [0, 1], exactly 0 outside the region.
    """
    alpha = feather_alpha(np.where(region, np.uint8(255), np.uint8(0)), feather_px)
    alpha *= weights
    return alpha


def composite(original: U8Image, fill: U8Image, mask: U8Mask, *, feather_px: float) -> U8Image:
    """Blend ``fill`` into ``original`` under a binary ``mask`` with a soft edge inside the mask.

    Every value ≥ 128 counts as fully selected here: soft masks are honoured window by window by
    :func:`core.inpaint.regions.run_plan` (through :func:`fill_alpha`).

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


def blend_into(target: U8Image, fill: F32Array, alpha: F32Array) -> None:
    """Blend ``fill`` into ``target`` in place: ``target + alpha · (fill − target)``, rounded.

    Pixels whose weight is 0 are not written at all, so they keep their exact value.

    Args:
        target: ``uint8`` (h, w, 3) pixels to change, usually a view into the result photo.
        fill: ``float32`` (h, w, 3) fill values in 0..255.
        alpha: ``float32`` (h, w) weights in [0, 1].
    """
    # 1. Work on the box of non-zero weights only; dense arithmetic there is faster than gathering pixels.
    rows = np.flatnonzero(alpha.max(axis=1) > 0)
    if rows.size == 0:
        return
    columns = np.flatnonzero(alpha[rows[0] : rows[-1] + 1].max(axis=0) > 0)
    box = slice(int(rows[0]), int(rows[-1]) + 1), slice(int(columns[0]), int(columns[-1]) + 1)
    weight = alpha[box][:, :, None]
    base = target[box].astype(np.float32)
    blended = base + weight * (fill[box] - base)
    # 2. Round, and write only where the weight is non-zero.
    np.rint(blended, out=blended)
    np.clip(blended, 0, 255, out=blended)
    np.copyto(target[box], blended.astype(np.uint8), where=weight > 0)


def ring_around(hole: npt.NDArray[np.bool_], inner: int, outer: int) -> npt.NDArray[np.bool_]:
    """Pixels between ``inner`` and ``outer`` pixels away from ``hole`` (square distance), not in it.

    Args:
        hole: ``bool`` (h, w) pixels to be filled.
        inner: pixels nearer than this to the hole are left out (the model's soft transition zone).
        outer: pixels farther than this are left out.
    """

    def grow(by: int) -> npt.NDArray[np.bool_]:
        if by <= 0:
            return hole
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * by + 1, 2 * by + 1))
        return np.asarray(cv2.dilate(hole.astype(np.uint8), kernel), dtype=np.bool_)

    ring: npt.NDArray[np.bool_] = grow(outer) & ~grow(inner) & ~hole
    return ring


MIN_RING_PIXELS = 64
"""Fewest ring pixels a colour or grain measurement is based on; with fewer, nothing is changed."""

_MAX_GAIN = 1.25


def colour_transform(
    reference: U8Image | F32Array, produced: U8Image | F32Array, where: npt.NDArray[np.bool_]
) -> tuple[F32Array, F32Array]:
    """Per-channel gain and offset that make ``produced`` match ``reference`` in mean and contrast.

    The gain is the ratio of standard deviations, kept within ±25 % so texture the model left out (or
    invented) cannot turn into a contrast change; the offset then matches the means exactly.

    Args:
        reference: (h, w, 3) photo pixels as the model was given them.
        produced: (h, w, 3) the model's output for the same pixels.
        where: ``bool`` (h, w) pixels to compare (a ring around the hole, or a whole tile).

    Returns:
        ``(gain, offset)``, each ``float32`` (3,); identity when fewer than :data:`MIN_RING_PIXELS` pixels are
        compared.
    """
    if int(np.count_nonzero(where)) < MIN_RING_PIXELS:
        return np.ones(3, np.float32), np.zeros(3, np.float32)
    selection = where.astype(np.uint8)
    mean_ref, std_ref = (v.reshape(3) for v in cv2.meanStdDev(np.ascontiguousarray(reference), mask=selection))
    mean_out, std_out = (v.reshape(3) for v in cv2.meanStdDev(np.ascontiguousarray(produced), mask=selection))
    gain = np.where(std_out > 1.0, std_ref / np.maximum(std_out, 1e-6), 1.0)
    gain = np.clip(gain, 1.0 / _MAX_GAIN, _MAX_GAIN)
    offset = mean_ref - gain * mean_out
    return gain.astype(np.float32), offset.astype(np.float32)


def apply_colour(image: F32Array, gain: F32Array, offset: F32Array, strength: float) -> F32Array:
    """``image`` moved ``strength`` of the way (0 = unchanged, 1 = fully) towards ``image · gain + offset``.

    Args:
        image: ``float32`` (..., 3) values in 0..255.
        gain: ``float32`` (3,) per-channel gain from :func:`colour_transform`.
        offset: ``float32`` (3,) per-channel offset.
        strength: how much of the correction to apply, 0..1.
    """
    if strength <= 0:
        return image
    corrected = image * gain + offset
    return np.asarray(image + np.float32(strength) * (corrected - image), dtype=np.float32)


@dataclass(frozen=True)
class Grain:
    """The fine noise of a patch of photo.

    Args:
        sigma: ``float32`` (3,) standard deviation of the noise per channel, in 8-bit levels.
        correlation: how much the channels' noise moves together, 0 (independent colour noise) to 1 (pure
            luminance noise).
    """

    sigma: F32Array
    correlation: float


# The residual of a 3×3 box blur keeps sqrt(8/9) of white noise's standard deviation.
_RESIDUAL_GAIN = float(np.sqrt(8.0 / 9.0))


def estimate_grain(pixels: F32Array, where: npt.NDArray[np.bool_]) -> Grain | None:
    """Measure the pixel-level noise of ``pixels`` at the ``where`` pixels.

    The residual after a 3×3 box blur holds the noise plus edges; the median absolute deviation ignores the
    few edge pixels, so the estimate follows the grain rather than the picture.

    Args:
        pixels: ``float32`` (h, w, 3) values in 0..255.
        where: ``bool`` (h, w) pixels to measure (a ring of photo, or the fill).

    Returns:
        The :class:`Grain`, or ``None`` with fewer than :data:`MIN_RING_PIXELS` pixels.
    """
    if int(where.sum()) < MIN_RING_PIXELS:
        return None
    residual = (pixels - cv2.blur(pixels, (3, 3), borderType=cv2.BORDER_REFLECT))[where]
    centred = residual - np.median(residual, axis=0)
    sigma = 1.4826 * np.median(np.abs(centred), axis=0) / _RESIDUAL_GAIN
    # Correlation of the channels, from the pixels that are noise rather than edges (within 3 sigma).
    calm = np.all(np.abs(centred) <= 3 * np.maximum(sigma * _RESIDUAL_GAIN, 1e-3), axis=1)
    correlation = 0.0
    if int(calm.sum()) >= MIN_RING_PIXELS and float(sigma.min()) > 0.05:
        matrix = np.corrcoef(centred[calm].T)
        correlation = float(np.clip(np.nanmean(matrix[np.triu_indices(3, 1)]), 0.0, 1.0))
    return Grain(sigma.astype(np.float32), correlation)


def synthesize_grain(shape: tuple[int, int], photo: Grain, fill: Grain | None, rng: np.random.Generator) -> F32Array:
    """Noise that brings a fill's grain up to the photo's: only what the fill lacks is added.

    Args:
        shape: ``(h, w)`` of the noise.
        photo: the grain measured around the hole.
        fill: the grain the fill already has (``None`` counts as none).
        rng: the random generator (seeded by the job, so results are reproducible).

    Returns:
        ``float32`` (h, w, 3) zero-mean noise in 8-bit levels (all zeros when the fill is grainy enough).
    """
    have = fill.sigma if fill is not None else np.zeros(3, np.float32)
    missing = np.sqrt(np.maximum(photo.sigma.astype(np.float64) ** 2 - have.astype(np.float64) ** 2, 0.0))
    if float(missing.max()) < 0.1:
        return np.zeros((*shape, 3), np.float32)
    shared = rng.standard_normal(shape, dtype=np.float32)[:, :, None]
    own = rng.standard_normal((*shape, 3), dtype=np.float32)
    mix = np.float32(np.sqrt(photo.correlation)), np.float32(np.sqrt(1.0 - photo.correlation))
    noise: F32Array = (mix[0] * shared + mix[1] * own) * missing.astype(np.float32)
    return noise


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
