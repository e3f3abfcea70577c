"""The :class:`Photo` record: a decoded photo, its own samples, and what it carried.

A photo is read once into a :class:`Photo` (by :func:`core.photo.read.read_image`): RGB pixels at 8 bits the
way a viewer shows them (EXIF orientation already applied) for the engines, the source's own samples where they
hold more than that (16 bits, one gray channel, CMYK inks), the alpha channel kept aside untouched, and
everything needed to write the result back the way the photo came (by :func:`core.photo.write.write_image`):
format, colour profile, EXIF and XMP (orientation reset to "normal", because the pixels are already turned),
resolution, for JPEG the source's quantization tables, chroma subsampling and application segments, and how
many pages or frames the file holds.

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
CMYK                   RGB through the file's CMYK      CMYK (JPEG, TIFF) with the file's profile: unchanged
                       profile when it has one          pixels keep their inks, changed ones are converted
                       (naive conversion otherwise)     through the profile (or naively; see
                                                        :mod:`core.photo.cmyk`); RGB in other formats
32-bit integer (I)     scaled to 8 bits                 RGB, 8 bits
multi-page TIFF        the first page                   every page (TIFF): only the first is changed
animated PNG, WebP     the first frame                  refused in the same format (it would drop frames);
                                                        another format gets the first frame and a note
HEIC/HEIF, AVIF        as it is (HEIF with more than    the same format, encoded anew (see below); alpha
                       8 bits is read at 8 bits)        is not written back
camera RAW (DNG, CR2,  developed by LibRaw at 16 bits   never as RAW: a 16-bit RGB TIFF (by default
CR3, NEF, ARW, RAF…)   (camera white balance, sRGB),    ``NAME_inpainted.tif``) with the sRGB profile and
                       rounded to 8 bits                the camera's make, model and date; unchanged pixels
                                                        keep all 16 developed bits (:mod:`core.photo.raw`)
=====================  ===============================  ===================================================

Alpha (RGBA, LA, PA, palette transparency) is never changed: it is re-attached on writing, at its own depth
for 16-bit outputs, in PNG, TIFF, WebP and BMP; JPEG cannot hold alpha, so it is dropped there.

Which pixels of a result file can differ from its source, by output format (the *fill region* is the set of
pixels the mask lets the engine change, :func:`core.photo.mask.fill_region`; everything else comes back from
the engine unchanged):

==========================  =================================================================================
output                      pixels that can differ from the source
==========================  =================================================================================
PNG, TIFF, BMP,             only the fill region; every other sample is written bit for bit (at 16 bits,
lossless WebP               gray or CMYK where the source had them). Other TIFF pages: none.
JPEG from a JPEG            only the 8×8 blocks that hold a changed pixel; every other block keeps the
(default)                   source's quantized coefficients. With subsampled chroma a block is a coding unit
                            (16×16 for 4:2:0, 16×8 for 4:2:2), and decoders that smooth chroma (libjpeg-turbo,
                            so OpenCV and Pillow) may also move the one pixel row and column around it. A
                            photo turned by its EXIF orientation keeps its coefficients turned; decoded, its
                            pixels can be a few levels off everywhere, since the decoder's integer IDCT is not
                            exactly mirror-symmetric. Where a block copy is impossible (a turned photo whose
                            mirrored side is not whole coding units, no ``jpeglib``, a source that changed
                            since reading) the whole picture is encoded anew, as below, with a note.
JPEG otherwise (another     every pixel: the picture is encoded anew (the source's tables and subsampling when
source, ``--quality``)      it was a JPEG), so unchanged pixels move by the encoder's rounding, typically a
                            few levels and more at sharp edges.
lossy WebP                  every pixel: WebP's lossy coding has no way to keep a source's blocks; unchanged
                            pixels move by the encoder's loss at the chosen quality (default 95).
HEIC/HEIF, AVIF             every pixel: encoded anew at quality 90 with full-resolution (4:4:4) chroma, so
                            unchanged pixels move by the encoder's rounding: on average well under one level
                            (HEIC) or about one level (AVIF), up to about 10 (HEIC) or 20 (AVIF) at sharp
                            edges.
==========================  =================================================================================
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
            (H, W) for 8-bit gray, ``uint8`` (H, W, 4) CMYK inks (as Pillow reads them, 0 = no ink);
            ``None`` when ``pixels`` are the samples to write back.
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
        cmyk_profile: the CMYK source's own colour profile (it describes ``native``), embedded again when the
            result is written as CMYK; ``None`` for other sources or a CMYK file without one.
        jpeg_segments: the JPEG source's application and comment segments (APP0–APP15, COM) as
            ``(marker, payload)`` in file order, so a JPEG result carries every one of them.
        frame_count: how many pages (TIFF) or frames (animated PNG or WebP) the source holds; only the first is
            filled, the others are written back untouched (TIFF) or the write-back is refused (animations).
        source_stamp: ``(size in bytes, modification time in ns)`` of the source file when it was read; writers
            that go back to the file (a JPEG's unchanged blocks, a TIFF's other pages) use it only while it
            still matches.
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
    cmyk_profile: bytes | None = None
    jpeg_segments: list[tuple[int, bytes]] | None = None
    frame_count: int = 1
    source_stamp: tuple[int, int] | None = None

    def unchanged_source(self) -> Path | None:
        """The source file when it is still the one this photo was read from (same size and time), else ``None``.

        Writers that take data from the source again (a JPEG's unchanged blocks, a TIFF's other pages) use it
        only then, so a file replaced or edited meanwhile never mixes into a result.
        """
        if self.path is None or self.source_stamp is None:
            return None
        try:
            status = self.path.stat()
        except OSError:
            return None
        return self.path if (status.st_size, status.st_mtime_ns) == self.source_stamp else None

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])
