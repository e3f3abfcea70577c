"""Reading photos and masks, and writing results without losing what the photo carried.

A photo is read once into a :class:`Photo`: RGB pixels at 8 bits the way a viewer shows them (EXIF
orientation already applied) for the engines, the source's own samples where they hold more than that
(16 bits, or one gray channel), the alpha channel kept aside untouched, and everything needed to write the
result back the way the photo came: format, colour profile, EXIF and XMP (orientation reset to "normal",
because the pixels are already turned), resolution, and for JPEG the source's quantization tables and chroma
subsampling.

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
for 16-bit outputs, in PNG, TIFF, WebP and BMP; JPEG cannot hold alpha, so it is dropped there. A colour
profile is kept only when it describes RGB or gray data. EXIF (including a TIFF's descriptive tags and its
EXIF and GPS directories), XMP and the resolution are carried into every format that can hold them; a TIFF
output carries the descriptive tags, the profile and XMP, but not the EXIF and GPS directories.

Pillow opens 16-bit colour files at 8 bits, so those are decoded by OpenCV, and written by OpenCV (PNG, with
the metadata chunks added here) or tifffile (TIFF, deflate-compressed unless the source was uncompressed).
Plain JPEGs are decoded by OpenCV too, which gives the same pixels faster and without an extra copy.

HEIC/HEIF photos are read when the optional ``pillow-heif`` package is installed; results are then written in
another format (the output's extension decides).

Limits: a file that decodes to more than :data:`MAX_PIXELS` pixels is refused before its pixels are decoded
(:class:`~core.common.errors.ImageTooLargeError`); callers raise the limit per call with ``max_pixels`` (the command
line with ``--max-pixels``).

Writing is atomic: the encoder writes a hidden temporary file next to the target, which is then renamed onto
it, so a crash or a full disk never leaves a half-written output, and an existing file is never replaced
unless the caller allows it. Input files are only ever opened for reading.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import re
import secrets
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageCms, JpegImagePlugin, PngImagePlugin, TiffImagePlugin, UnidentifiedImageError

from core.common.errors import (
    ImageReadError,
    ImageTooLargeError,
    OutputError,
    OutputExistsError,
    OutputNotWritableError,
)

MAX_PIXELS = 200_000_000
"""Default pixel limit of :func:`read_image` and :func:`read_mask` (200 megapixels): twice the largest
camera files, and far below what a decompression bomb claims. Raise it per call with ``max_pixels``."""

DEFAULT_JPEG_QUALITY = 95
"""JPEG quality used when neither the caller nor the source photo gives one."""

FORMATS_BY_EXTENSION: dict[str, str] = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
}
"""Output formats :func:`write_image` can write, by file extension (lower case)."""

_FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF"}
_KNOWN_EXTENSIONS = "Use .jpg, .png, .tif, .webp or .bmp."
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_GRAY_MODES = frozenset({"L", "1", "LA"})
_TIFF_DESCRIPTIVE_TAGS = (270, 271, 272, 305, 306, 315, 33432)  # description, make, model, software, date, …
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_LUMA_WEIGHTS = (19595, 38470, 7471)  # Pillow's RGB -> L weights (ITU-R 601-2) in 1/65536
_ALPHA_FORMATS = frozenset({"PNG", "TIFF", "WEBP", "BMP"})
_TIFF_LOSSLESS_COMPRESSIONS = frozenset({"raw", "tiff_lzw", "tiff_deflate", "tiff_adobe_deflate", "packbits"})
_EXIF_ORIENTATION = 0x0112
_XMP_ORIENTATION = re.compile(rb'(tiff:Orientation(?:="|>))([0-9])')

# Pillow's own decompression-bomb guard is one process-wide number; it is switched off while a header is read
# (under this lock) and the per-call ``max_pixels`` limit is checked instead.
_PIL_LIMIT_LOCK = threading.Lock()

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
            :func:`write_image` keeps them wherever a result pixel equals the source pixel.
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


# -- reading ------------------------------------------------------------------------------------------------


def check_input_file(path: str | os.PathLike[str], *, what: str = "photo") -> Path:
    """Make sure ``path`` names a readable file, without decoding it.

    Args:
        path: the file to check.
        what: what the file is, for the message (``"photo"``, ``"mask"``).

    Returns:
        The path as a :class:`~pathlib.Path`.

    Raises:
        ImageReadError: the file is missing, is a folder, or cannot be opened for reading.
    """
    file = Path(path)
    if file.is_dir():
        raise ImageReadError(f"The {what} {file} is a folder, not an image file.")
    if not file.exists():
        raise ImageReadError(f"The {what} {file} does not exist.", hint="Check the path and the file name.")
    try:
        with file.open("rb"):
            pass
    except PermissionError as error:
        raise ImageReadError(f"The {what} {file} cannot be read: permission denied.") from error
    except OSError as error:
        raise ImageReadError(f"The {what} {file} cannot be read: {error.strerror or error}.") from error
    return file


def read_image(path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> Photo:
    """Read a photo for inpainting.

    Args:
        path: the photo file; any format Pillow reads (the first frame of an animation or a multi-page file).
        max_pixels: refuse files with more pixels than this (see :data:`MAX_PIXELS`).

    Returns:
        The decoded :class:`Photo`, pixels turned upright.

    Raises:
        ImageReadError: the file is missing, unreadable, not an image, damaged or truncated.
        ImageTooLargeError: the file has more than ``max_pixels`` pixels.
    """
    file = check_input_file(path, what="photo")
    with _opened(file, max_pixels, what="photo") as image:
        # 1. Pixels at 8 bits, the source's own samples where they hold more, alpha, and the matching profile.
        decoded = _decode_with_opencv(image, file)
        if decoded is None:
            _load(image, file, max_pixels, what="photo")
            decoded = _samples(image, file)
        rgb, native, alpha, bit_depth, icc = decoded
        # 2. Turn everything upright, and record metadata that says it is upright now.
        exif_data = image.getexif()
        orientation = _orientation(exif_data.get(_EXIF_ORIENTATION))
        rgb = _apply_orientation(rgb, orientation)
        native = None if native is None else _apply_orientation(native, orientation)
        alpha = None if alpha is None else _apply_orientation(alpha, orientation)
        # 3. What the writer needs to encode a result the same way.
        jpeg = image if isinstance(image, JpegImagePlugin.JpegImageFile) else None
        qtables = _jpeg_qtables(jpeg) if jpeg is not None else None
        subsampling = JpegImagePlugin.get_sampling(jpeg) if jpeg is not None else -1
        compression = image.info.get("compression") if image.format == "TIFF" else None
        mode = image.mode
        if bit_depth == 16 and native is not None and native.ndim == 3:
            mode = "RGBA;16" if alpha is not None else "RGB;16"
        return Photo(
            pixels=rgb,
            alpha=alpha,
            format=image.format or "",
            mode=mode,
            path=file,
            bit_depth=bit_depth,
            native=native,
            icc_profile=icc,
            exif=_upright_exif(image, exif_data, orientation),
            xmp=_upright_xmp(image.info.get("xmp")),
            dpi=_dpi(image.info.get("dpi")),
            jpeg_quality=estimate_jpeg_quality(qtables) if qtables else None,
            jpeg_qtables=qtables,
            jpeg_subsampling=subsampling if subsampling >= 0 else None,
            tiff_compression=compression if isinstance(compression, str) else None,
            webp_lossless=image.format == "WEBP" and _is_lossless_webp(file),
            orientation=orientation,
        )


def read_mask(path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> U8Image:
    """Read a mask file as one 8-bit channel (white = fill), turned upright like a photo.

    Any mode is accepted. When the file has a real alpha channel, it decides what the mask is: a file whose
    colour is the same everywhere (a brush painted in one colour on transparency) gives its alpha; otherwise
    the gray value is composited over black, so transparent parts count as "keep".

    Args:
        path: the mask file.
        max_pixels: refuse files with more pixels than this.

    Returns:
        ``uint8`` array (H, W); the caller binarizes it (see :func:`core.photo.mask.binarize`).

    Raises:
        ImageReadError: the file is missing, unreadable, not an image, damaged or truncated.
        ImageTooLargeError: the file has more than ``max_pixels`` pixels.
    """
    file = check_input_file(path, what="mask")
    with _decoded(file, max_pixels, what="mask") as image:
        # 1. One gray channel at 8 bits, plus alpha when the file has one.
        alpha: U8Image | None = None
        if _has_alpha(image):
            rgba = image.convert("RGBA")
            alpha = np.array(rgba.getchannel("A"))
            gray = np.array(rgba.convert("L"))
        elif image.mode in _SIXTEEN_BIT_MODES:
            gray = _sixteen_to_eight_bits(image)
        else:
            gray = np.array(_converted(image, "L", file))
        # 2. Alpha decides only when it is not fully opaque.
        if alpha is not None and int(alpha.min()) < 255:
            if int(gray.min()) == int(gray.max()):
                gray = alpha
            else:
                weighted = gray.astype(np.uint16) * alpha.astype(np.uint16)
                gray = ((weighted + 127) // 255).astype(np.uint8)
        # 3. Turn it upright like the photo it belongs to.
        orientation = _orientation(image.getexif().get(_EXIF_ORIENTATION))
        return _apply_orientation(gray, orientation)


@contextlib.contextmanager
def _opened(file: Path, max_pixels: int, *, what: str) -> Iterator[Image.Image]:
    """Open ``file`` with Pillow and check its size against ``max_pixels`` before anything is decoded.

    Args:
        file: an existing, readable file.
        max_pixels: the pixel limit.
        what: ``"photo"`` or ``"mask"``, for messages.
    """
    # 1. Read the header only; Pillow's global guard is replaced by the per-call limit below.
    _register_optional_readers()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with _PIL_LIMIT_LOCK:
                saved_limit = Image.MAX_IMAGE_PIXELS
                Image.MAX_IMAGE_PIXELS = None
                try:
                    image = Image.open(file)
                finally:
                    Image.MAX_IMAGE_PIXELS = saved_limit
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise _too_large(file, what, None, max_pixels) from error
    except UnidentifiedImageError as error:
        raise ImageReadError(
            f"The {what} {file} is not an image file Moebius Studio can read.",
            hint="Use a JPEG, PNG, TIFF or WebP file.",
        ) from error
    except PermissionError as error:
        raise ImageReadError(f"The {what} {file} cannot be read: permission denied.") from error
    except OSError as error:
        raise ImageReadError(f"The {what} {file} cannot be read: {error}.") from error
    with image:
        # 2. Refuse absurd sizes before a single pixel is decoded.
        width, height = image.size
        if width * height > max_pixels:
            raise _too_large(file, what, (width, height), max_pixels)
        yield image


def _register_optional_readers() -> None:
    """Let Pillow open HEIC/HEIF photos when the optional ``pillow-heif`` package is installed (once)."""
    global _OPTIONAL_READERS_TRIED
    if _OPTIONAL_READERS_TRIED:
        return
    _OPTIONAL_READERS_TRIED = True
    try:
        heif = importlib.import_module("pillow_heif")
    except ImportError:
        return
    heif.register_heif_opener()


_OPTIONAL_READERS_TRIED = False


def _load(image: Image.Image, file: Path, max_pixels: int, *, what: str) -> None:
    """Decode an opened image with Pillow; damaged and truncated files surface here as clear errors."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise _too_large(file, what, image.size, max_pixels) from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageReadError(f"The {what} {file} is damaged or truncated and cannot be decoded ({error}).") from error


@contextlib.contextmanager
def _decoded(file: Path, max_pixels: int, *, what: str) -> Iterator[Image.Image]:
    """:func:`_opened` followed by a Pillow decode (see there for the arguments)."""
    with _opened(file, max_pixels, what=what) as image:
        _load(image, file, max_pixels, what=what)
        yield image


def _too_large(file: Path, what: str, size: tuple[int, int] | None, max_pixels: int) -> ImageTooLargeError:
    """The error for a file over the pixel limit; ``size`` is (width, height) when known."""
    limit = f"{max_pixels / 1e6:g} megapixels"
    hint = "If the file is genuine, raise the limit (moebius-inpaint --max-pixels)."
    if size is None:
        return ImageTooLargeError(f"The {what} {file} is larger than the limit of {limit}.", hint=hint)
    return ImageTooLargeError(
        f"The {what} {file} is {size[0]}×{size[1]} pixels ({size[0] * size[1] / 1e6:.0f} megapixels), "
        f"more than the limit of {limit}.",
        hint=hint,
    )


_Decoded = tuple[U8Image, Samples | None, Samples | None, int, bytes | None]
"""``(rgb uint8 (H, W, 3), native samples or None, alpha or None, bits per channel, ICC profile)``."""


def _samples(image: Image.Image, file: Path) -> _Decoded:
    """Convert a Pillow-decoded image of any mode to RGB pixels for the model, keeping gray samples.

    Args:
        image: a loaded Pillow image.
        file: its path, for messages.
    """
    icc = image.info.get("icc_profile") or None
    # 1. Gray (and 1-bit) stays gray for writing; the model sees it in all three channels.
    if image.mode in _GRAY_MODES:
        gray = np.array(image.getchannel("L") if image.mode == "LA" else _converted(image, "L", file))
        alpha = np.array(image.getchannel("A")) if image.mode == "LA" else None
        return np.repeat(gray[:, :, None], 3, axis=2), gray, alpha, 8, _matching_profile(icc, b"GRAY")
    # 2. Other deep gray modes (32-bit integers, 16-bit ones from formats OpenCV does not read): 8 bits.
    if image.mode in _SIXTEEN_BIT_MODES:
        gray = _sixteen_to_eight_bits(image)
        return np.repeat(gray[:, :, None], 3, axis=2), None, None, 16, None
    # 3. CMYK through its own profile when it has one.
    if image.mode == "CMYK" and icc is not None and icc[16:20] == b"CMYK":
        converted = _cmyk_to_srgb(image, icc)
        if converted is not None:
            return converted
    # 4. Everything else (RGB, RGBA, palette, CMYK without a profile, …) as RGB plus alpha.
    rgb_icc = _matching_profile(icc, b"RGB ")
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        return np.array(rgba.convert("RGB")), None, np.array(rgba.getchannel("A")), 8, rgb_icc
    rgb = np.array(image if image.mode == "RGB" else _converted(image, "RGB", file))
    return rgb, None, None, 8, rgb_icc


def _decode_with_opencv(image: Image.Image, file: Path) -> _Decoded | None:
    """Decode 16-bit PNG/TIFF files and plain JPEGs with OpenCV; ``None`` leaves the file to Pillow.

    Pillow opens 16-bit colour PNG and TIFF files at 8 bits, so OpenCV reads those at full depth; for plain
    (RGB or gray) JPEGs OpenCV's decoder gives the same pixels as Pillow's without an extra copy. The
    orientation is left to the caller.

    Args:
        image: the opened (not yet decoded) Pillow image, for its header.
        file: its path.
    """
    import cv2

    # 1. Choose: which files go to OpenCV, and how.
    if _is_sixteen_bit(image, file):
        flags = cv2.IMREAD_UNCHANGED
    elif image.format == "JPEG" and image.mode in ("RGB", "L"):
        flags = (cv2.IMREAD_COLOR_RGB if image.mode == "RGB" else cv2.IMREAD_GRAYSCALE) | cv2.IMREAD_IGNORE_ORIENTATION
    else:
        return None
    data = np.fromfile(file, np.uint8)
    if image.format == "JPEG" and data[-65536:].tobytes().rfind(b"\xff\xd9") < 0:
        return None  # no end marker: truncated; Pillow's decoder reports that clearly
    # 2. Decode, and make sure it is the picture the header described.
    decoded = cv2.imdecode(data, flags)
    width, height = image.size
    if decoded is None or decoded.shape[:2] != (height, width):
        raise ImageReadError(f"The photo {file} is damaged or truncated and cannot be decoded.")
    icc = image.info.get("icc_profile") or None
    if decoded.dtype == np.uint8:
        if decoded.ndim == 2:
            return np.repeat(decoded[:, :, None], 3, axis=2), decoded, None, 8, _matching_profile(icc, b"GRAY")
        return np.ascontiguousarray(decoded), None, None, 8, _matching_profile(icc, b"RGB ")
    # 3. 16 bits: OpenCV's channel order is BGR(A); the model gets the samples rounded to 8 bits.
    if decoded.ndim == 2:
        return (
            np.repeat(_to_eight_bits(decoded)[:, :, None], 3, axis=2),
            decoded,
            None,
            16,
            _matching_profile(icc, b"GRAY"),
        )
    colour = np.ascontiguousarray(decoded[:, :, 2::-1])
    alpha = np.ascontiguousarray(decoded[:, :, 3]) if decoded.shape[2] == 4 else None
    return _to_eight_bits(colour), colour, alpha, 16, _matching_profile(icc, b"RGB ")


def _is_sixteen_bit(image: Image.Image, file: Path) -> bool:
    """Whether ``image`` is a 16-bit-per-sample PNG, or a 16-bit RGB(A) or gray TIFF."""
    if image.format == "PNG":
        with file.open("rb") as stream:
            header = stream.read(26)
        return len(header) == 26 and header[12:16] == b"IHDR" and header[24] == 16
    if image.format == "TIFF" and isinstance(image, TiffImagePlugin.TiffImageFile):
        bits = image.tag_v2.get(258)
        bits = bits if isinstance(bits, tuple) else (bits,)
        unsigned = image.tag_v2.get(339, 1) in (1, (1,), (1, 1, 1), (1, 1, 1, 1))
        photometric = image.tag_v2.get(262)
        return bool(bits) and all(b == 16 for b in bits) and unsigned and photometric in (1, 2)
    return False


def _to_eight_bits(samples: Samples) -> U8Image:
    """16-bit samples rounded to the nearest 8-bit value (0..65535 → 0..255; 257 is odd, so no ties).

    Works in strips of rows, so converting a 100-megapixel photo needs no photo-sized 32-bit temporary.
    """
    result = np.empty(samples.shape, np.uint8)
    chunk = max(1, (1 << 20) // max(1, int(np.prod(samples.shape[1:]))))
    for first in range(0, int(samples.shape[0]), chunk):
        rows = slice(first, first + chunk)
        result[rows] = (samples[rows].astype(np.uint32) + 128) // 257
    return result


def _has_alpha(image: Image.Image) -> bool:
    """Whether the image carries transparency (an alpha band or a transparent palette entry)."""
    return image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or (image.mode == "P" and "transparency" in image.info)


def _sixteen_to_eight_bits(image: Image.Image) -> U8Image:
    """A 16-bit (or 32-bit integer) gray Pillow image as 8 bits: 0..65535 to 0..255, rounded."""
    return _to_eight_bits(np.clip(np.asarray(image), 0, 65535))


def _converted(image: Image.Image, mode: str, file: Path) -> Image.Image:
    """``image.convert(mode)``, with a clear error for source modes Pillow cannot convert."""
    try:
        return image.convert(mode)
    except (ValueError, OSError) as error:
        raise ImageReadError(
            f"The image {file} uses a pixel format ({image.mode}) that cannot be converted."
        ) from error


def _cmyk_to_srgb(image: Image.Image, icc: bytes) -> _Decoded | None:
    """Convert a CMYK image to sRGB through its embedded profile; ``None`` when the profile is unusable."""
    import io

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        converted = ImageCms.profileToProfile(image, source, srgb, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None
    if converted is None:
        return None
    return np.array(converted), None, None, 8, srgb.tobytes()


def _matching_profile(icc: bytes | None, space: bytes) -> bytes | None:
    """``icc`` when its header says it describes ``space`` data (``b"RGB "`` or ``b"GRAY"``), else ``None``."""
    if icc is not None and len(icc) >= 20 and icc[16:20] == space:
        return icc
    return None


def _orientation(value: object) -> int:
    """An EXIF orientation tag value as 1–8 (anything else counts as 1, "normal")."""
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _apply_orientation(array: Samples, orientation: int) -> Samples:
    """Turn ``array`` (H, W) or (H, W, C) upright according to an EXIF orientation (1–8)."""
    if orientation == 2:
        turned = array[:, ::-1]
    elif orientation == 3:
        turned = array[::-1, ::-1]
    elif orientation == 4:
        turned = array[::-1, :]
    elif orientation == 5:
        turned = np.swapaxes(array, 0, 1)
    elif orientation == 6:
        turned = np.rot90(array, -1)
    elif orientation == 7:
        turned = np.swapaxes(array[::-1, ::-1], 0, 1)
    elif orientation == 8:
        turned = np.rot90(array, 1)
    else:
        return array
    return np.ascontiguousarray(turned)


def _upright_exif(image: Image.Image, exif: Image.Exif, orientation: int) -> bytes | None:
    """The EXIF block to write back: the source's bytes, or re-encoded with orientation 1 when it was turned.

    A TIFF keeps its metadata in the image's own tag directory rather than in an EXIF block; its descriptive
    tags (description, make, model, software, date, artist, copyright) and its EXIF and GPS directories are
    gathered into a new EXIF block.
    """
    if image.format == "TIFF":
        return _exif_from_tiff(exif)
    raw = image.info.get("exif")
    if not isinstance(raw, bytes):
        return None
    if orientation == 1:
        return raw
    exif[_EXIF_ORIENTATION] = 1
    return exif.tobytes()


def _exif_from_tiff(tags: Image.Exif) -> bytes | None:
    """An EXIF block with a TIFF's descriptive tags and its EXIF and GPS directories (``None`` if it has none).

    The TIFF's layout tags (size, strips, compression, …) describe the source file, not the result, so they
    are left out.
    """
    exif = Image.Exif()
    for tag in _TIFF_DESCRIPTIVE_TAGS:
        value = tags.get(tag)
        if isinstance(value, str | bytes) and value:
            exif[tag] = value
    for directory in (_EXIF_IFD, _GPS_IFD):
        if directory in tags:
            entries = tags.get_ifd(directory)
            if entries:
                exif.get_ifd(directory).update(entries)
    if not exif and not exif.get_ifd(_EXIF_IFD) and not exif.get_ifd(_GPS_IFD):
        return None
    exif[_EXIF_ORIENTATION] = 1
    return exif.tobytes()


def _upright_xmp(xmp: object) -> bytes | None:
    """The XMP packet with any ``tiff:Orientation`` set to 1 (bytes or text accepted), or ``None``."""
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    if not isinstance(xmp, bytes) or not xmp:
        return None
    return _XMP_ORIENTATION.sub(rb"\g<1>1", xmp)


def _dpi(value: object) -> tuple[float, float] | None:
    """A ``(x, y)`` dpi pair from Pillow's info, or ``None`` when absent or meaningless."""
    if isinstance(value, tuple) and len(value) == 2:
        x, y = float(value[0]), float(value[1])
        if x > 0 and y > 0:
            return x, y
    return None


def _jpeg_qtables(image: JpegImagePlugin.JpegImageFile) -> list[list[int]] | None:
    """The JPEG's quantization tables in natural order, as plain lists (``None`` when absent)."""
    tables = getattr(image, "quantization", None)
    if not tables:
        return None
    return [list(tables[key]) for key in sorted(tables)]


def _is_lossless_webp(file: Path) -> bool:
    """Whether a WebP file's image chunk is VP8L (lossless), read from its RIFF chunk headers."""
    with file.open("rb") as stream:
        header = stream.read(12)
        if header[:4] != b"RIFF" or header[8:12] != b"WEBP":
            return False
        for _ in range(64):
            chunk = stream.read(8)
            if len(chunk) < 8:
                return False
            kind, size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if kind in (b"VP8L", b"VP8 "):
                return kind == b"VP8L"
            if kind == b"ANMF":
                stream.seek(16, os.SEEK_CUR)  # frame header; the frame's own image chunk follows
                continue
            stream.seek(size + (size & 1), os.SEEK_CUR)
    return False


# Annex K of the JPEG standard: the tables the IJG library scales by quality, in natural order.
_IJG_LUMINANCE = np.array(
    [
        16, 11, 10, 16, 24, 40, 51, 61,
        12, 12, 14, 19, 26, 58, 60, 55,
        14, 13, 16, 24, 40, 57, 69, 56,
        14, 17, 22, 29, 51, 87, 80, 62,
        18, 22, 37, 56, 68, 109, 103, 77,
        24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101,
        72, 92, 95, 98, 112, 100, 103, 99,
    ],
    dtype=np.int64,
)  # fmt: skip


def estimate_jpeg_quality(qtables: list[list[int]]) -> int | None:
    """The IJG quality (1–100) whose scaled luminance table is closest to a JPEG's first table.

    Exact for files written by libjpeg-based encoders (most software); an approximation for cameras that use
    their own tables.

    Args:
        qtables: quantization tables in natural order (as :attr:`Photo.jpeg_qtables`).
    """
    if not qtables or len(qtables[0]) != 64:
        return None
    actual = np.asarray(qtables[0], dtype=np.int64)
    qualities = np.arange(1, 101)
    scales = np.where(qualities < 50, 5000 // qualities, 200 - 2 * qualities)
    expected = np.clip((_IJG_LUMINANCE[None, :] * scales[:, None] + 50) // 100, 1, 255)
    errors = np.abs(expected - actual[None, :]).sum(axis=1)
    return int(qualities[int(np.argmin(errors))])


# -- writing ------------------------------------------------------------------------------------------------


def output_format(path: str | os.PathLike[str], format: str | None = None) -> str:
    """The Pillow format name to write ``path`` in.

    Args:
        path: the output file; its extension decides the format unless ``format`` is given.
        format: an explicit format name (``"JPEG"``, ``"PNG"``, ``"TIFF"``, ``"WEBP"``, ``"BMP"``).

    Raises:
        OutputError: the extension (or ``format``) is not one Moebius Studio writes.
    """
    if format is not None:
        name = format.upper()
        name = _FORMAT_ALIASES.get(name, name)
        if name not in set(FORMATS_BY_EXTENSION.values()):
            raise OutputError(f"Cannot write images in the {format} format.", hint=_KNOWN_EXTENSIONS)
        return name
    suffix = Path(path).suffix.lower()
    if not suffix:
        raise OutputError(
            f"The output {Path(path)} has no extension, so its image format is unknown.",
            hint=_KNOWN_EXTENSIONS,
        )
    if suffix not in FORMATS_BY_EXTENSION:
        raise OutputError(
            f"The output {Path(path)} ends in {suffix}, which is not an image format Moebius Studio writes.",
            hint=_KNOWN_EXTENSIONS,
        )
    return FORMATS_BY_EXTENSION[suffix]


def check_output_path(path: str | os.PathLike[str], *, overwrite: bool = False, format: str | None = None) -> str:
    """Check, before any work is done, that a result can be written to ``path``.

    Probes the folder by creating and removing an empty hidden file, so read-only folders and read-only
    disks are caught even where permission bits say otherwise.

    Args:
        path: the output file.
        overwrite: whether an existing file at ``path`` may be replaced.
        format: explicit output format (see :func:`output_format`).

    Returns:
        The Pillow format name the output will be written in.

    Raises:
        OutputError: unknown format.
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
        OutputNotWritableError: the folder is missing, is not a folder, or does not accept new files.
    """
    target = Path(path)
    # 1. Format first: it needs nothing from the file system.
    name = output_format(target, format)
    # 2. The target itself.
    if target.is_dir():
        raise OutputNotWritableError(f"The output {target} is a folder; give a file name.")
    if target.exists() and not overwrite:
        raise _exists_error(target)
    # 3. Its folder: exists, is a folder, accepts a new file.
    folder = target.parent
    if not folder.is_dir():
        state = "is not a folder" if folder.exists() else "does not exist"
        raise OutputNotWritableError(f"Cannot write {target}: the folder {folder} {state}.")
    probe = _create_temp(target)
    os.close(probe[0])
    os.unlink(probe[1])
    return name


def write_image(
    path: str | os.PathLike[str],
    pixels: U8Image,
    *,
    like: Photo | None = None,
    overwrite: bool = False,
    format: str | None = None,
    quality: int | None = None,
) -> Path:
    """Write RGB pixels to ``path`` atomically, carrying over what the source photo had.

    When ``like`` has samples of its own (16 bits, gray; see :attr:`Photo.native`) and the format can hold
    them, the file is written at the source's depth and channels: every pixel equal to the source pixel keeps
    its original samples, and changed pixels get the change (see :func:`output_samples`).

    Args:
        path: the output file; its extension decides the format unless ``format`` is given.
        pixels: ``uint8`` (H, W, 3) RGB pixels: the result (or any picture, with ``like=None``).
        like: the photo the pixels came from; its samples and alpha (when the size matches and the format can
            hold them), colour profile, EXIF, XMP, resolution, JPEG tables and subsampling, TIFF compression
            and WebP losslessness are reused. ``None`` writes a plain file.
        overwrite: replace an existing file at ``path``.
        format: explicit output format name, overriding the extension.
        quality: JPEG/WebP quality 1–100, overriding what ``like`` suggests (default
            :data:`DEFAULT_JPEG_QUALITY`).

    Returns:
        The path written.

    Raises:
        OutputError: unknown format.
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
        OutputNotWritableError: the folder is missing or read-only, or the disk is full.
    """
    target = Path(path)
    # 1. Validate everything that can be checked without encoding.
    name = output_format(target, format)
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"write_image expects uint8 (H, W, 3) pixels, got {pixels.dtype} {pixels.shape}")
    if target.exists() and not overwrite:
        raise _exists_error(target)
    # 2. The samples to write (the source's depth and channels where the format holds them).
    samples, alpha = output_samples(pixels, like, name)
    # 3. Encode into a temporary file in the same folder, then move it into place in one step.
    fd, temp = _create_temp(target)
    try:
        os.close(fd)  # reopened by name, which some encoders (tifffile) want to know
        with open(temp, "wb") as stream:
            _encode(stream, name, samples, alpha, like, quality)
            stream.flush()
            os.fsync(stream.fileno())
        _move_into_place(temp, target, overwrite=overwrite)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        if isinstance(error, OSError) and not isinstance(error, FileExistsError):
            raise OutputNotWritableError(f"Could not write {target}: {error.strerror or error}.") from error
        raise
    return target


def _create_temp(target: Path) -> tuple[int, str]:
    """Create a new hidden temporary file next to ``target``; returns ``(descriptor, path)``.

    The file gets the usual permissions (0666 less the umask), so the renamed result looks like any new file.
    """
    for _ in range(16):
        temp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            return os.open(temp, flags, 0o666), str(temp)
        except FileExistsError:
            continue
        except FileNotFoundError as error:
            raise OutputNotWritableError(
                f"Cannot write {target}: the folder {target.parent} does not exist."
            ) from error
        except NotADirectoryError as error:
            raise OutputNotWritableError(f"Cannot write {target}: {target.parent} is not a folder.") from error
        except OSError as error:
            read_only = error.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
            reason = "the folder is read-only" if read_only else (error.strerror or str(error))
            raise OutputNotWritableError(f"Cannot write {target}: {reason}.") from error
    raise OutputNotWritableError(f"Cannot write {target}: could not create a temporary file next to it.")


def _move_into_place(temp: str, target: Path, *, overwrite: bool) -> None:
    """Rename ``temp`` onto ``target``; without ``overwrite`` never replace a file that appeared meanwhile.

    A hard link fails atomically when the target exists; file systems without hard links fall back to a
    check followed by a rename.
    """
    if overwrite:
        os.replace(temp, target)
        return
    try:
        os.link(temp, target)
    except FileExistsError as error:
        raise _exists_error(target) from error
    except OSError:
        if target.exists():
            raise _exists_error(target) from None
        os.replace(temp, target)
        return
    os.unlink(temp)


def _exists_error(target: Path) -> OutputExistsError:
    return OutputExistsError(
        f"The output {target} already exists.", hint="Use --overwrite to replace it, or choose another name."
    )


_DEEP_FORMATS = frozenset({"PNG", "TIFF"})
_GRAY_FORMATS = frozenset({"JPEG", "PNG", "TIFF", "BMP"})


def output_samples(pixels: U8Image, like: Photo | None, format_name: str) -> tuple[Samples, Samples | None]:
    """What :func:`write_image` writes for ``pixels``: the samples and the alpha channel.

    * 16-bit sources written as PNG or TIFF stay 16-bit; gray sources stay gray in formats with gray (all but
      WebP), at 8 bits outside PNG and TIFF. Pixels equal to the source's keep their samples; see
      :func:`merge_into_native` for changed ones.
    * Otherwise the 8-bit RGB ``pixels`` are written.
    * The source's alpha is attached unchanged where the format holds alpha, converted between 8 and 16 bits
      when the written depth differs.

    Args:
        pixels: ``uint8`` (H, W, 3) result pixels.
        like: the source photo, or ``None``; its samples and alpha are used only when its size matches.
        format_name: the output format.

    Returns:
        ``(samples, alpha)``: ``uint8``/``uint16`` (H, W) gray or (H, W, 3) RGB, and (H, W) alpha of the
        same type or ``None``.
    """
    matches = like is not None and like.pixels.shape == pixels.shape
    native = like.native if like is not None and matches else None
    alpha = like.alpha if like is not None and matches and format_name in _ALPHA_FORMATS else None
    # 1. The source's own samples, with the result's changes, where the format holds them.
    samples: Samples = pixels
    if like is not None and native is not None:
        if native.dtype == np.uint16 and format_name in _DEEP_FORMATS:
            samples = merge_into_native(native, like.pixels, pixels)
        elif native.ndim == 2 and format_name in _GRAY_FORMATS:
            samples = merge_into_native(native, like.pixels, pixels)
            if samples.dtype == np.uint16:
                samples = _to_eight_bits(samples)
    # 2. Alpha at the depth of the samples; BMP has no gray-with-alpha, so that becomes RGBA.
    if alpha is not None:
        if samples.dtype == np.uint8 and alpha.dtype == np.uint16:
            alpha = _to_eight_bits(alpha)
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
        source: ``uint8`` (H, W, 3) the source as the engine saw it (:attr:`Photo.pixels`).
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


def _encode(
    stream: BinaryIO,
    format_name: str,
    samples: Samples,
    alpha: Samples | None,
    like: Photo | None,
    quality: int | None,
) -> None:
    """Encode ``samples`` (+ ``alpha``) into ``stream`` in ``format_name`` with ``like``'s metadata."""
    if samples.dtype == np.uint16 and format_name == "PNG":
        stream.write(_sixteen_bit_png(samples, alpha, like))
    elif samples.dtype == np.uint16:
        _write_sixteen_bit_tiff(stream, samples, alpha, like)
    else:
        image = _pillow_image(samples, alpha)
        image.save(stream, format=format_name, **_encoder_options(format_name, like, quality, gray=samples.ndim == 2))


def _pillow_image(samples: Samples, alpha: Samples | None) -> Image.Image:
    """The 8-bit image to encode: RGB/RGBA for colour samples, L/LA for gray ones."""
    if samples.ndim == 2:
        gray = np.ascontiguousarray(samples)
        return (
            Image.fromarray(np.dstack([gray, alpha]), mode="LA")
            if alpha is not None
            else Image.fromarray(gray, mode="L")
        )
    rgb = np.ascontiguousarray(samples)
    if alpha is not None:
        return Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA")
    return Image.fromarray(rgb, mode="RGB")


def _profile_for(like: Photo | None, gray: bool) -> bytes | None:
    """``like``'s colour profile when it describes the written channels (gray or RGB), else ``None``."""
    if like is None or not like.icc_profile:
        return None
    return _matching_profile(like.icc_profile, b"GRAY" if gray else b"RGB ")


def _sixteen_bit_png(samples: Samples, alpha: Samples | None, like: Photo | None) -> bytes:
    """A 16-bit PNG of ``samples`` (+ ``alpha``) encoded by OpenCV, with ``like``'s metadata chunks added.

    Pillow cannot write 16-bit colour PNGs; OpenCV can but writes no metadata, so the colour profile
    (``iCCP``), resolution (``pHYs``), EXIF (``eXIf``) and XMP (``iTXt``) chunks are inserted after the header.
    """
    import cv2

    # 1. OpenCV wants BGR(A) channel order.
    if samples.ndim == 3:
        planes = samples[:, :, ::-1] if alpha is None else np.dstack([samples[:, :, ::-1], alpha])
    else:
        planes = samples if alpha is None else np.dstack([samples, samples, samples, alpha])
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(planes), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise OSError("the PNG encoder failed")
    data = encoded.tobytes()
    # 2. Metadata chunks, right after IHDR (8 bytes of signature + 25 of IHDR), where every reader finds them.
    chunks = b""
    profile = _profile_for(like, gray=samples.ndim == 2)
    if profile:
        chunks += _png_chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(profile))
    if like is not None and like.dpi:
        x, y = (round(d / 0.0254) for d in like.dpi)
        chunks += _png_chunk(b"pHYs", struct.pack(">IIB", x, y, 1))
    if like is not None and like.exif:
        exif = like.exif[6:] if like.exif.startswith(b"Exif\0\0") else like.exif
        chunks += _png_chunk(b"eXIf", exif)
    if like is not None and like.xmp:
        chunks += _png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + like.xmp)
    return data[:33] + chunks + data[33:]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk: length, type, data and CRC."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _write_sixteen_bit_tiff(stream: BinaryIO, samples: Samples, alpha: Samples | None, like: Photo | None) -> None:
    """Write a 16-bit TIFF with tifffile, carrying the profile, XMP, resolution and descriptive tags.

    Deflate compression is used unless the source was uncompressed (LZW needs a codec tifffile does not
    bring along).
    """
    import tifffile

    # 1. Pixels, with alpha as an unassociated extra sample.
    data = samples if alpha is None else np.dstack([samples if samples.ndim == 3 else samples[:, :, None], alpha])
    photometric = "rgb" if samples.ndim == 3 else "minisblack"
    # 2. Metadata as extra tags (code, type, count, value): 7 = undefined bytes, 1 = bytes, "s" = text.
    tags: list[tuple[int, int | str, int, Any, bool]] = []
    profile = _profile_for(like, gray=samples.ndim == 2)
    if profile:
        tags.append((34675, 7, len(profile), profile, True))
    if like is not None and like.xmp:
        tags.append((700, 1, len(like.xmp), like.xmp, True))
    software: str | bool = False
    for tag, value in _descriptive_tags(like).items():
        if tag == 305:
            software = value
        else:
            tags.append((tag, "s", 0, value, True))
    compression = None if like is not None and like.tiff_compression == "raw" else "zlib"
    resolution = like.dpi if like is not None and like.dpi else None
    tifffile.imwrite(
        stream,
        data,
        photometric=photometric,
        extrasamples=[2] if alpha is not None else None,
        compression=compression,
        resolution=resolution,
        resolutionunit=2 if resolution else None,
        extratags=tags,
        metadata=None,
        software=software,
    )


def _descriptive_tags(like: Photo | None) -> dict[int, str]:
    """The text tags of ``like``'s EXIF block that a TIFF's first directory holds (make, model, …)."""
    if like is None or not like.exif:
        return {}
    exif = Image.Exif()
    exif.load(like.exif)
    found: dict[int, str] = {}
    for tag in _TIFF_DESCRIPTIVE_TAGS:
        value = exif.get(tag)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and value.strip("\0 "):
            found[tag] = value.strip("\0")
    return found


def _encoder_options(
    format_name: str, like: Photo | None, quality: int | None, *, gray: bool = False
) -> dict[str, Any]:
    """Pillow ``save`` options that reproduce ``like``'s encoding and metadata in ``format_name``.

    Args:
        format_name: the output format.
        like: the source photo, or ``None``.
        quality: explicit JPEG/WebP quality, or ``None``.
        gray: the written image is gray (a colour profile is attached only when it describes gray).
    """
    options: dict[str, Any] = {}
    # 1. Metadata every format here can carry, except where noted.
    if like is not None:
        profile = _profile_for(like, gray)
        if profile and format_name != "BMP":
            options["icc_profile"] = profile
        if like.exif and format_name in ("JPEG", "PNG", "WEBP"):
            options["exif"] = like.exif
        if format_name == "TIFF" and (like.exif or like.xmp):
            # Pillow writes a TIFF's tags from ``tiffinfo``: the descriptive tags and XMP (tag 700); EXIF
            # and GPS directories cannot be written into a TIFF by Pillow.
            info: dict[int, Any] = dict(_descriptive_tags(like))
            if like.xmp:
                info[700] = like.xmp
            options["tiffinfo"] = info
        if like.xmp and format_name in ("JPEG", "WEBP"):
            options["xmp"] = like.xmp
        if like.xmp and format_name == "PNG":
            text = PngImagePlugin.PngInfo()
            text.add_itxt("XML:com.adobe.xmp", like.xmp.decode("utf-8", "replace"))
            options["pnginfo"] = text
        if like.dpi and format_name in ("JPEG", "PNG", "TIFF", "BMP"):
            options["dpi"] = like.dpi
    # 2. Encoding settings.
    if format_name == "JPEG":
        same_format = like is not None and like.format == "JPEG"
        if quality is not None:
            options["quality"] = quality
        elif same_format and like is not None and like.jpeg_qtables:
            options["qtables"] = like.jpeg_qtables
        else:
            options["quality"] = DEFAULT_JPEG_QUALITY
        if same_format and like is not None and like.jpeg_subsampling is not None:
            options["subsampling"] = like.jpeg_subsampling
    elif format_name == "WEBP":
        if quality is None and like is not None and like.webp_lossless:
            options["lossless"] = True
        else:
            options["quality"] = quality if quality is not None else DEFAULT_JPEG_QUALITY
    elif format_name == "TIFF":
        source = like.tiff_compression if like is not None else None
        options["compression"] = source if source in _TIFF_LOSSLESS_COMPRESSIONS else "tiff_lzw"
    return options
