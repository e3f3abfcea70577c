"""Converting a photo's RGB pixels between its own colour profile and sRGB, the space the model was trained in.

A photo handed over by Lightroom, Capture One or darktable is often in ProPhoto RGB or Adobe RGB: the same
numbers mean other colours there than in sRGB, so a model that learned sRGB would paint the wrong colours. The
engines therefore see the pixels converted to sRGB, and the fill is converted back into the photo's profile
(LittleCMS through Pillow's ImageCms, relative colorimetric intent: in-gamut colours keep their exact value,
out-of-gamut ones are clipped to the nearest the other space holds).

Which profiles take part:

* an RGB profile that is not sRGB: converted both ways;
* an RGB profile that *is* sRGB (any of its published variants: a grid of test colours maps onto itself within
  one level) and no profile at all: nothing is converted, the pixels are used as they are;
* a gray profile: nothing is converted (the engines see gray in all three channels, and a gray tone curve
  differs from sRGB's only in brightness, which the engines match to the surroundings anyway);
* a profile that cannot be read: :class:`ColourProfileError` (the caller decides what to do; the engines go on
  without conversion and say so).

Transforms are built once per profile (cached by the profile's bytes).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageCms

from core.common.errors import MoebiusError

U8Image = npt.NDArray[np.uint8]

SRGB_TOLERANCE = 1
"""A profile whose conversion to sRGB moves no test colour by more than this many levels counts as sRGB."""

_TEST_LEVELS = np.array([0, 32, 64, 96, 128, 160, 192, 224, 255], dtype=np.uint8)


class ColourProfileError(MoebiusError):
    """A photo's embedded colour profile could not be read or used."""


@dataclass(frozen=True)
class ProfileTransforms:
    """The two conversions between a photo's RGB profile and sRGB.

    Args:
        name: the profile's description (e.g. ``"ProPhoto RGB"``), for messages.
        to_srgb: photo profile → sRGB, relative colorimetric.
        from_srgb: sRGB → photo profile, relative colorimetric.
    """

    name: str
    to_srgb: ImageCms.ImageCmsTransform
    from_srgb: ImageCms.ImageCmsTransform

    def convert_to_srgb(self, pixels: U8Image) -> U8Image:
        """``uint8`` (H, W, 3) pixels in the photo's profile, converted to sRGB."""
        return _apply(self.to_srgb, pixels)

    def convert_from_srgb(self, pixels: U8Image) -> U8Image:
        """``uint8`` (H, W, 3) sRGB pixels, converted into the photo's profile."""
        return _apply(self.from_srgb, pixels)


def srgb_transforms(profile: bytes | None) -> ProfileTransforms | None:
    """The conversions a photo with ``profile`` needs, or ``None`` when its pixels can be used as they are.

    Args:
        profile: the photo's embedded ICC profile (:attr:`core.photo.photo.Photo.icc_profile`), or ``None``.

    Returns:
        ``None`` for no profile, a gray profile or an sRGB profile; otherwise the two transforms (cached).

    Raises:
        ColourProfileError: the profile is damaged or LittleCMS cannot build a transform from it.
    """
    if profile is None or len(profile) < 20 or profile[16:20] != b"RGB ":
        return None
    return _cached_transforms(bytes(profile))


@lru_cache(maxsize=8)
def _cached_transforms(profile: bytes) -> ProfileTransforms | None:
    """:func:`srgb_transforms` for an RGB profile, built once per profile."""
    intent = ImageCms.Intent.RELATIVE_COLORIMETRIC
    try:
        own = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        srgb = ImageCms.createProfile("sRGB")
        to_srgb = ImageCms.buildTransform(own, srgb, "RGB", "RGB", renderingIntent=intent)
        from_srgb = ImageCms.buildTransform(srgb, own, "RGB", "RGB", renderingIntent=intent)
        name = (ImageCms.getProfileDescription(own) or "").strip() or "embedded profile"
    except (ImageCms.PyCMSError, OSError, TypeError, ValueError) as error:
        raise ColourProfileError(f"The photo's colour profile cannot be read ({error}).") from None
    # A profile that maps every test colour onto itself is sRGB under another name: no conversion at all, so
    # such photos are filled exactly as untagged ones.
    grid = np.stack(np.meshgrid(_TEST_LEVELS, _TEST_LEVELS, _TEST_LEVELS, indexing="ij"), axis=-1).reshape(1, -1, 3)
    moved = np.abs(_apply(to_srgb, grid).astype(np.int16) - grid.astype(np.int16)).max()
    if moved <= SRGB_TOLERANCE:
        return None
    return ProfileTransforms(name=name, to_srgb=to_srgb, from_srgb=from_srgb)


def _apply(transform: ImageCms.ImageCmsTransform, pixels: U8Image) -> U8Image:
    """Run one LittleCMS transform over ``uint8`` (H, W, 3) pixels."""
    converted = transform.apply(Image.fromarray(np.ascontiguousarray(pixels), "RGB"))
    return np.array(converted, dtype=np.uint8).reshape(pixels.shape)
