"""The :class:`Photo` record: a decoded photo, its own samples, and what it carried.

A photo is read once into a :class:`Photo` (by :func:`core.photo.read.read_image`): RGB pixels at 8 bits the
way a viewer shows them (EXIF orientation already applied) for the engines, the source's own samples where they
hold more than that (16 bits, or one gray channel), the alpha channel kept aside untouched, and everything
needed to write the result back the way the photo came (by :func:`core.photo.write.write_image`): format,
colour profile, EXIF and XMP (orientation reset to "normal", because the pixels are already turned),
resolution, and for JPEG the source's quantization tables and chroma subsampling.

How each kind of source is handled (the engines always work on 8-bit RGB):

=====================  ===============================  ===================================================
source                 given to the engines             written back as (when the output format can hold it)
=====================  ===============================  ===================================================
RGB, 8 bits            as it is                         RGB, 8 bits
RGB(A), 16 bits        rounded to 8 bits                RGB(A), 16 bits (PNG, TIFF): unchanged pixels keep
(PNG, TIFF)                                             all 16 bits; changed ones get the 8-bit change
                                                        added to their 16-bit value
gray (L), 1-bit        gray in all three channels       gray, 8 bits; the fill's luminance (Pillow's
                                                        ITU-R 601 weights); 1-bit sources become 8-bit gray
gray, 16 bits          rounded to 8 bits                gray, 16 bits (PNG, TIFF), like 16-bit RGB
gray + alpha (LA)      gray in all three channels       gray + alpha (16-bit LA PNGs are read as RGBA)
palette (P, PA)        RGB (+ alpha for transparency)   RGB or RGBA: a fill cannot be kept to the palette
CMYK                   RGB through the file's CMYK      RGB with an sRGB profile (or none when the file had
                       profile when it has one          none): inks cannot be separated again faithfully
32-bit integer (I)     scaled to 8 bits                 RGB, 8 bits
=====================  ===============================  ===================================================

Alpha (RGBA, LA, PA, palette transparency) is never changed: it is re-attached on writing, at its own depth
for 16-bit outputs, in PNG, TIFF, WebP and BMP; JPEG cannot hold alpha, so it is dropped there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

U8Image = npt.NDArray[np.uint8]
Samples = npt.NDArray[Any]
"""A photo's own samples: ``uint8`` or ``uint16``, (H, W) gray or (H, W, 3) RGB."""


@dataclass
class Photo:
    """A decoded photo plus what is needed to write a result back in the same way.

    Args:
        pixels: RGB pixels as displayed, ``uint8`` (H, W, 3), EXIF orientation applied: what engines fill.
        alpha: the source's alpha channel, (H, W) at the source's depth (``uint8``, or ``uint16`` for 16-bit
            files), turned like the pixels; ``None`` when opaque.
        format: Pillow's name of the source format: ``"JPEG"``, ``"PNG"``, ``"TIFF"``, ``"WEBP"``, …
        mode: Pillow's mode of the source before conversion (``"RGB"``, ``"P"``, ``"CMYK"``, ``"I;16"``, …);
            16-bit colour files, which Pillow cannot open at full depth, are ``"RGB;16"`` or ``"RGBA;16"``.
        path: the file the photo was read from, or ``None`` for photos made in memory.
        bit_depth: bits per channel of the source (8 or 16).
        native: the source's own samples where ``pixels`` does not hold them exactly, turned like the
            pixels: ``uint16`` (H, W, 3) for 16-bit colour, ``uint16`` (H, W) for 16-bit gray, ``uint8``
            (H, W) for 8-bit gray; ``None`` when ``pixels`` are the samples to write back.
            :func:`~core.photo.write.write_image` keeps them wherever a result pixel equals the source pixel.
        icc_profile: ICC profile that describes ``pixels`` (RGB) or ``native`` (gray), or ``None``.
        exif: EXIF block to write back, orientation reset to 1; ``None`` when the source had none.
        xmp: XMP packet to write back (orientation reset to 1); ``None`` when the source had none.
        dpi: resolution in dots per inch, when the source recorded one.
        jpeg_quality: IJG quality (1–100) that best explains the source's quantization tables (JPEG only).
        jpeg_qtables: the source's quantization tables in natural order (JPEG only); writing with them keeps
            the source's quality exactly.
        jpeg_subsampling: Pillow's subsampling code of the source (0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0).
        tiff_compression: Pillow's name of the source's TIFF compression (TIFF only).
        webp_lossless: the source was a lossless WebP (WebP only).
        orientation: the EXIF orientation (1–8) that was applied to the pixels.
    """

    pixels: U8Image
    alpha: Samples | None
    format: str
    mode: str
    path: Path | None = None
    bit_depth: int = 8
    native: Samples | None = None
    icc_profile: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None
    dpi: tuple[float, float] | None = None
    jpeg_quality: int | None = None
    jpeg_qtables: list[list[int]] | None = None
    jpeg_subsampling: int | None = None
    tiff_compression: str | None = None
    webp_lossless: bool = False
    orientation: int = 1

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])
