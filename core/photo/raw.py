"""Camera RAW files (DNG, CR2, CR3, NEF, ARW, RAF, …): developed on reading, never written.

A RAW file holds the sensor's mosaic, not a picture; it is developed by LibRaw (through ``rawpy``) into a
16-bit RGB picture the way a camera's own JPEG would look in colour:

* the camera's white balance as shot (``use_camera_wb``), so colours match what the photographer saw;
* sRGB primaries with the sRGB tone curve (``output_color=sRGB``, ``gamma=(2.4, 12.92)``) and the sRGB ICC
  profile attached, so every viewer and the colour-managed writers agree on what the numbers mean (a wider
  gamut such as ProPhoto would need colour management everywhere the result is shown);
* 16 bits per channel (``output_bps=16``), so the result keeps the depth the sensor gave;
* LibRaw's usual exposure (``no_auto_bright=False``): it scales the picture so that at most 1 % of pixels clip,
  as LibRaw and dcraw do by default; without it most RAW files look a few stops dark, since their white level
  is far above the brightest highlight of a normal exposure;
* turned upright by the orientation the camera recorded (LibRaw's own flip).

Results are written as a 16-bit TIFF beside the RAW (``NAME_inpainted.tif``): a RAW file is never written or
changed, and an output named like a RAW file is refused (see :func:`core.photo.write.output_format`).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageCms

from core.common.errors import ImageReadError, ImageTooLargeError
from core.photo.metadata import EXIF_ORIENTATION
from core.photo.photo import Photo
from core.photo.samples import to_eight_bits

# fmt: off
RAW_EXTENSIONS = frozenset({
    ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf",
    ".rw2", ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".erf", ".kdc", ".mrw", ".rwl",
})
# fmt: on
"""File extensions (lower case) of camera RAW formats: read by developing them, never written."""

RAW_RESULT_EXTENSION = ".tif"
"""The extension a result of a RAW source gets by default: a 16-bit TIFF."""

RAW_SAVE_NOTE = "RAW files are never changed: the result is saved as a 16-bit TIFF beside it."
"""What the user is told wherever a RAW photo's result is saved."""

RAW_FORMAT = "RAW"
""":attr:`Photo.format` of a developed RAW photo (there is no writer of that name)."""


def is_raw_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a camera RAW file (by its extension)."""
    return Path(path).suffix.lower() in RAW_EXTENSIONS


def result_extension(source: str | os.PathLike[str]) -> str:
    """The extension (with the dot) a result of ``source`` gets by default: the source's own, or ``.tif`` for RAW.

    Args:
        source: the photo's path.
    """
    return RAW_RESULT_EXTENSION if is_raw_path(source) else Path(source).suffix


def read_raw(file: Path, *, max_pixels: int) -> Photo:
    """Develop a RAW file into a :class:`Photo` with 16-bit samples (see the module's notes for how).

    Args:
        file: an existing, readable RAW file.
        max_pixels: refuse files whose developed picture has more pixels than this.

    Raises:
        ImageReadError: ``rawpy`` is not installed, or LibRaw cannot read or develop the file.
        ImageTooLargeError: the picture has more than ``max_pixels`` pixels.
    """
    status = file.stat()
    rawpy = _rawpy(file)
    # 1. Open, and check the size before anything is developed.
    try:
        with rawpy.imread(str(file)) as raw:
            sizes = raw.sizes
            if sizes.width * sizes.height > max_pixels:
                raise ImageTooLargeError(
                    f"The photo {file} is {sizes.width}×{sizes.height} pixels, more than the limit of "
                    f"{max_pixels / 1e6:g} megapixels.",
                    hint="If the file is genuine, raise the limit (moebius-inpaint --max-pixels).",
                )
            # 2. Develop: camera white balance, sRGB, 16 bits, upright.
            samples = raw.postprocess(
                use_camera_wb=True,
                output_color=rawpy.ColorSpace.sRGB,
                gamma=(2.4, 12.92),
                output_bps=16,
                no_auto_bright=False,
            )
    except ImageTooLargeError:
        raise
    except (rawpy.LibRawError, OSError, ValueError) as error:
        raise ImageReadError(f"The RAW photo {file} cannot be developed ({error}).") from error
    native = np.ascontiguousarray(samples, dtype=np.uint16)
    # 3. The 8-bit picture the engines fill, and the metadata a TIFF result can carry.
    return Photo(
        pixels=to_eight_bits(native),
        alpha=None,
        format=RAW_FORMAT,
        mode="RGB;16",
        path=file,
        bit_depth=16,
        native=native,
        icc_profile=_srgb_profile(),
        exif=_raw_exif(file),
        orientation=1,
        source_stamp=(status.st_size, status.st_mtime_ns),
    )


def _rawpy(file: Path) -> Any:
    """The ``rawpy`` module, imported only when a RAW file is opened (it loads LibRaw)."""
    try:
        return importlib.import_module("rawpy")
    except ImportError as error:
        raise ImageReadError(
            f"The photo {file} is a camera RAW file, and RAW support (the rawpy package) is not installed.",
            hint="Install rawpy, or convert the file to TIFF first.",
        ) from error


def _srgb_profile() -> bytes:
    """The sRGB ICC profile describing the developed samples."""
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return bytes(profile.tobytes())


def _raw_exif(file: Path) -> bytes | None:
    """The basics of a TIFF-based RAW's metadata (DNG, CR2, NEF, ARW, …) as an EXIF block, or ``None``.

    Kept: the first directory's descriptive tags (make, model, software, date, artist, copyright, …) and the
    text and whole-number entries of its EXIF directory (date taken, ISO, lens model, …); the orientation is 1,
    since LibRaw has already turned the picture. Formats that are not TIFF inside (CR3, RAF, …) give ``None``.
    """
    import tifffile

    try:
        with tifffile.TiffFile(file) as tiff:
            tags = tiff.pages.first.tags
            exif = Image.Exif()
            for code in _DESCRIPTIVE_TAGS:
                tag = tags.get(code)
                if tag is not None and isinstance(tag.value, str) and tag.value.strip("\0 "):
                    exif[code] = tag.value.strip("\0")
            directory = tags.get(_EXIF_IFD)
            entries = directory.value if directory is not None and isinstance(directory.value, dict) else {}
            codes = {name: code for code, name in ExifTags.TAGS.items()}
            for name, value in entries.items():
                if name in codes and (isinstance(value, str) or (isinstance(value, int) and 0 <= value < 65536)):
                    exif.get_ifd(_EXIF_IFD)[codes[name]] = value
    except (OSError, ValueError, tifffile.TiffFileError):
        return None
    if not exif and not exif.get_ifd(_EXIF_IFD):
        return None
    exif[EXIF_ORIENTATION] = 1
    return bytes(exif.tobytes())


_DESCRIPTIVE_TAGS = (270, 271, 272, 305, 306, 315, 33432)  # description, make, model, software, date, artist, ©
_EXIF_IFD = 0x8769
