"""HEIC/HEIF and AVIF photos: reading and writing them back in their own format.

HEIC/HEIF (the format of iPhones and many Android phones, HEVC-coded) is read and written by the
``pillow-heif`` package, whose Pillow plugin is registered only when such a file is opened or written, so
starting the program loads nothing of it. AVIF (AV1-coded) is read and written by Pillow itself (Pillow 11.3
and later, built with libavif); ``pillow-heif`` 1.x no longer handles AVIF.

Both formats are lossy here: a result is encoded anew throughout at :data:`DEFAULT_HEIF_QUALITY` (or the
quality asked for), so pixels outside the fill region move by the encoder's rounding, like a JPEG encoded
anew. The colour profile, EXIF (orientation reset, since pixels are read upright) and XMP are carried.
HEIF photos with more than 8 bits per channel (10-bit HDR photos) are read at their own depth, kept in
16-bit PNG and TIFF results, but written back to HEIF at 8 bits; alpha is not written to these formats.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, features

from core.photo.photo import Samples

HEIF_FORMATS = frozenset({"HEIF", "AVIF"})
"""Pillow's names of the formats of this module."""

DEFAULT_HEIF_QUALITY = 90
"""Quality (1–100) HEIF and AVIF results are encoded at unless one is asked for: high enough that the encoder's
change to unfilled pixels stays small (a few levels), where the encoders' own defaults (50 for pillow-heif,
75 for Pillow's AVIF) visibly soften a photo."""

# ISO base media file brands of HEVC-coded HEIF files (``ftyp`` major brand); AVIF's are ``avif``/``avis``.
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
_HEIF_EXTENSIONS = frozenset({".heic", ".heif", ".hif"})
_registered = False

HEIF_NOT_INSTALLED = (
    "HEIC/HEIF support (the pillow-heif package) is not part of this installation; the installers leave it out "
    "because the HEVC encoder it contains (x265) is GPL-licensed"
)
"""Why HEIC is unavailable: always the case in the installers, and in a source install without pillow-heif."""

HEIF_NOT_INSTALLED_HINT = (
    "Export the photo as JPEG or TIFF first (Photos: File > Export), or install Moebius Studio with pip, which "
    "brings pillow-heif."
)


def is_heif_file(file: Path) -> bool:
    """Whether ``file`` is (or is named as) a HEIC/HEIF file: its extension, or its ``ftyp`` brand."""
    if file.suffix.lower() in _HEIF_EXTENSIONS:
        return True
    try:
        with file.open("rb") as stream:
            header = stream.read(12)
    except OSError:
        return False
    return len(header) == 12 and header[4:8] == b"ftyp" and header[8:12] in _HEIF_BRANDS


def register_heif() -> bool:
    """Register ``pillow-heif``'s Pillow plugin (reading and writing HEIF), once; ``False`` if not installed."""
    global _registered
    if _registered:
        return True
    try:
        heif = importlib.import_module("pillow_heif")
    except ImportError:
        return False
    heif.register_heif_opener()
    _registered = True
    return True


def deep_heif_samples(image: Image.Image, file: Path) -> Samples | None:
    """The samples of a HEIF photo with more than 8 bits per channel (10- or 12-bit HDR) at 16 bits.

    Pillow's plugin gives such photos at 8 bits; here the file is decoded again at its own depth, scaled to
    the full 16-bit range, so results written as 16-bit PNG or TIFF keep it (a HEIF result is 8-bit).
    ``None`` for 8-bit photos and for anything but colour without alpha.

    Args:
        image: the opened photo (its header says the depth).
        file: its path.
    """
    bits = image.info.get("bit_depth", 8)
    if image.format != "HEIF" or not isinstance(bits, int) or not 8 < bits <= 16 or image.mode != "RGB":
        return None
    heif = importlib.import_module("pillow_heif")
    deep = heif.open_heif(file, convert_hdr_to_8bit=False)
    if deep.mode != "RGB;16":
        return None
    # libheif hands the samples over shifted to the top of 16 bits; repeat the top bits below to reach 65535.
    shifted = np.asarray(deep)
    values = shifted >> (16 - bits)
    scaled = (values.astype(np.uint32) << (16 - bits)) | (values.astype(np.uint32) >> (2 * bits - 16))
    return np.ascontiguousarray(scaled.astype(np.uint16))


def missing_writer(format_name: str) -> str | None:
    """Why ``format_name`` (``"HEIF"`` or ``"AVIF"``) cannot be written here, or ``None`` when it can."""
    if format_name == "HEIF" and importlib.util.find_spec("pillow_heif") is None:
        return HEIF_NOT_INSTALLED
    if format_name == "AVIF" and not features.check("avif"):
        return "this Pillow was built without AVIF support"
    return None


def heif_save_options(format_name: str, quality: int | None) -> dict[str, Any]:
    """Pillow ``save`` options for a HEIF or AVIF result (the writer is registered as a side effect).

    Args:
        format_name: ``"HEIF"`` or ``"AVIF"``.
        quality: quality 1–100 asked for, or ``None`` for :data:`DEFAULT_HEIF_QUALITY`.
    """
    options: dict[str, Any] = {"quality": DEFAULT_HEIF_QUALITY if quality is None else quality}
    # Full-resolution chroma: the encoders default to 4:2:0, which smears colour edges by many levels even
    # where nothing was filled; 4:4:4 keeps unfilled pixels within a few levels of the source.
    if format_name == "HEIF":
        register_heif()
        options["chroma"] = 444
        # x265's "medium" preset instead of libheif's "slow": a 12-megapixel photo encodes 40 % faster with the
        # same error (measured: mean 0.41 against 0.42 levels) in a file about 10 % larger.
        options["enc_params"] = {"preset": "medium"}
    else:
        options["subsampling"] = "4:4:4"
    return options
