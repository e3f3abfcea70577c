"""CMYK photos: the fill turned into inks, with the source's own inks kept wherever nothing changed.

A CMYK photo is given to the engines as RGB (through its colour profile when it has one). When the result is
written back in a format that holds CMYK (JPEG, TIFF), every pixel the engine left alone keeps its original
four ink values exactly, and only changed pixels are converted back into inks:

* through the file's own CMYK profile (sRGB → that profile, perceptual intent, the way the photo was read),
  when it has a usable one;
* otherwise by the naive conversion that exactly undoes the one the photo was read with (Pillow's
  ``(255 − C)·(255 − K)/255``), with as much black as possible (K = 255 − max(R, G, B)): without a profile
  nothing is known about the inks, and this keeps the colour that was seen.

Values are CMYK as Pillow reads them (0 = no ink, 255 = full ink).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageCms

from core.photo.photo import Samples, U8Image


def merge_cmyk(native: Samples, source: U8Image, result: U8Image, profile: bytes | None) -> Samples:
    """The source's inks with the result's changed pixels converted into inks.

    Args:
        native: ``uint8`` (H, W, 4) CMYK samples of the source.
        source: ``uint8`` (H, W, 3) the source as the engine saw it (RGB).
        result: ``uint8`` (H, W, 3) the engine's result.
        profile: the source's CMYK ICC profile, or ``None`` (naive conversion).

    Returns:
        ``uint8`` (H, W, 4): ``native`` where ``result`` equals ``source``, converted result pixels elsewhere.
    """
    merged = native.copy()
    changed = np.any(source != result, axis=2)
    if changed.any():
        merged[changed] = rgb_to_cmyk(result[changed], profile)
    return merged


def rgb_to_cmyk(rgb: U8Image, profile: bytes | None) -> U8Image:
    """Convert ``(..., 3)`` RGB values to ``(..., 4)`` CMYK, through ``profile`` when it is usable.

    Args:
        rgb: ``uint8`` RGB values of any leading shape.
        profile: a CMYK ICC profile, or ``None`` for the naive conversion.
    """
    flat = np.ascontiguousarray(rgb.reshape(-1, 3))
    converted = _through_profile(flat, profile) if profile is not None else None
    if converted is None:
        converted = naive_rgb_to_cmyk(flat)
    return converted.reshape(*rgb.shape[:-1], 4)


def naive_rgb_to_cmyk(rgb: U8Image) -> U8Image:
    """The inverse of Pillow's naive CMYK → RGB conversion, with maximal black (see the module's docstring).

    Args:
        rgb: ``uint8`` (N, 3) RGB values.
    """
    values = rgb.astype(np.int32)
    brightest = values.max(axis=1)
    black = 255 - brightest
    safe = np.maximum(brightest, 1)[:, None]
    inks = (255 * (safe - values) + safe // 2) // safe
    inks[brightest == 0] = 0
    return np.concatenate([inks, black[:, None]], axis=1).clip(0, 255).astype(np.uint8)


def _through_profile(rgb: U8Image, profile: bytes) -> U8Image | None:
    """``rgb`` (N, 3) converted from sRGB to the CMYK ``profile``; ``None`` when the profile cannot be used."""
    try:
        target = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        image = Image.fromarray(rgb[None, :, :], mode="RGB")
        converted = ImageCms.profileToProfile(image, srgb, target, outputMode="CMYK")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None
    if converted is None:
        return None
    values: U8Image = np.asarray(converted, dtype=np.uint8)[0]
    return values
