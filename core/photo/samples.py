"""The photo's own samples at their depth: rounding 16 bits to 8, and what a result is written with.

A result comes back from the engines as 8-bit RGB. Where the source held more (16 bits, or one gray channel;
see :attr:`~core.photo.photo.Photo.native`) and the output format can hold it, the result is written at the
source's depth and channels: pixels the engine left alone keep their original samples exactly, changed ones
get the change (:func:`merge_into_native`). The source's alpha is re-attached at the written depth.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from core.photo.cmyk import merge_cmyk
from core.photo.metadata import profile_for
from core.photo.photo import Photo, Samples, U8Image

_LUMA_WEIGHTS = (19595, 38470, 7471)  # Pillow's RGB -> L weights (ITU-R 601-2) in 1/65536
_ALPHA_FORMATS = frozenset({"PNG", "TIFF", "WEBP", "BMP"})
_DEEP_FORMATS = frozenset({"PNG", "TIFF"})
_GRAY_FORMATS = frozenset({"JPEG", "PNG", "TIFF", "BMP"})
CMYK_FORMATS = frozenset({"JPEG", "TIFF"})
"""Output formats a CMYK source is written back to as CMYK (the others get RGB)."""


def to_eight_bits(samples: Samples) -> U8Image:
    """16-bit samples rounded to the nearest 8-bit value (0..65535 → 0..255; 257 is odd, so no ties).

    Works in strips of rows, so converting a 100-megapixel photo needs no photo-sized 32-bit temporary.
    """
    result = np.empty(samples.shape, np.uint8)
    chunk = max(1, (1 << 20) // max(1, int(np.prod(samples.shape[1:]))))
    for first in range(0, int(samples.shape[0]), chunk):
        rows = slice(first, first + chunk)
        result[rows] = (samples[rows].astype(np.uint32) + 128) // 257
    return result


def output_samples(pixels: U8Image, like: Photo | None, format_name: str) -> tuple[Samples, Samples | None]:
    """What :func:`~core.photo.write.write_image` writes for ``pixels``: the samples and the alpha channel.

    * 16-bit sources written as PNG or TIFF stay 16-bit; gray sources stay gray in formats with gray (all but
      WebP), at 8 bits outside PNG and TIFF. Pixels equal to the source's keep their samples; see
      :func:`merge_into_native` for changed ones.
    * CMYK sources written as JPEG or TIFF stay CMYK: unchanged pixels keep their inks, changed ones are
      converted (see :func:`~core.photo.cmyk.merge_cmyk`).
    * Otherwise the 8-bit RGB ``pixels`` are written.
    * The source's alpha is attached unchanged where the format holds alpha, converted between 8 and 16 bits
      when the written depth differs.

    Args:
        pixels: ``uint8`` (H, W, 3) result pixels.
        like: the source photo, or ``None``; its samples and alpha are used only when its size matches.
        format_name: the output format.

    Returns:
        ``(samples, alpha)``: ``uint8``/``uint16`` (H, W) gray or (H, W, 3) RGB, or ``uint8`` (H, W, 4) CMYK,
        and (H, W) alpha of the same type or ``None``.
    """
    matches = like is not None and like.pixels.shape == pixels.shape
    native = like.native if like is not None and matches else None
    alpha = like.alpha if like is not None and matches and format_name in _ALPHA_FORMATS else None
    # 1. The source's own samples, with the result's changes, where the format holds them.
    samples: Samples = pixels
    if like is not None and native is not None:
        if native.ndim == 3 and native.shape[2] == 4:
            if format_name in CMYK_FORMATS:
                samples = merge_cmyk(native, like.pixels, pixels, profile_for(like, gray=False, cmyk=True))
        elif native.dtype == np.uint16 and format_name in _DEEP_FORMATS:
            samples = merge_into_native(native, like.pixels, pixels)
        elif native.ndim == 2 and format_name in _GRAY_FORMATS:
            samples = merge_into_native(native, like.pixels, pixels)
            if samples.dtype == np.uint16:
                samples = to_eight_bits(samples)
    # 2. Alpha at the depth of the samples; BMP has no gray-with-alpha, so that becomes RGBA.
    if alpha is not None:
        if samples.dtype == np.uint8 and alpha.dtype == np.uint16:
            alpha = to_eight_bits(alpha)
        elif samples.dtype == np.uint16 and alpha.dtype == np.uint8:
            alpha = alpha.astype(np.uint16) * 257
        if samples.ndim == 2 and format_name == "BMP":
            samples = np.repeat(samples[:, :, None], 3, axis=2)
    return samples, alpha


def merge_into_native(native: Samples, source: U8Image, result: U8Image) -> Samples:
    """The source's own samples with the result's changes: the result at the source's depth and channels.

    Pixels where ``result`` equals ``source`` keep their ``native`` samples exactly. Changed pixels get the
    8-bit change added to their native value (× 257 for 16 bits), so a 16-bit photo keeps its fine
    gradations under a soft edge; gray photos take the change of the result's luminance (Pillow's weights).
    Works in strips of rows, so the only photo-sized allocation is the returned array.

    Args:
        native: ``uint8``/``uint16`` (H, W) gray or (H, W, 3) RGB samples of the source.
        source: ``uint8`` (H, W, 3) the source as the engine saw it (:attr:`~core.photo.photo.Photo.pixels`).
        result: ``uint8`` (H, W, 3) the engine's result.
    """
    merged = native.copy()
    scale = 257 if native.dtype == np.uint16 else 1
    top = 65535 if native.dtype == np.uint16 else 255
    height = int(native.shape[0])
    chunk = max(1, (1 << 20) // max(1, int(native.shape[1])))
    for first in range(0, height, chunk):
        rows = slice(first, min(height, first + chunk))
        before, after = source[rows], result[rows]
        changed = np.any(before != after, axis=2)
        if not changed.any():
            continue
        if native.ndim == 3:
            delta = after[changed].astype(np.int32) - before[changed]
        else:
            delta = _luma(after[changed]) - _luma(before[changed])
        block = merged[rows]
        block[changed] = np.clip(block[changed].astype(np.int32) + scale * delta, 0, top).astype(native.dtype)
    return merged


def _luma(rgb: U8Image) -> npt.NDArray[np.int32]:
    """Pillow's RGB → L conversion (ITU-R 601-2 weights, rounded) of (..., 3) ``uint8`` values."""
    weights = np.array(_LUMA_WEIGHTS, np.int32)
    return np.asarray((rgb.astype(np.int32) @ weights + 0x8000) >> 16, dtype=np.int32)
