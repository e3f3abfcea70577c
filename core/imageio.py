"""Reading photos and masks, and writing results without losing what the photo carried.

A photo is read once into a :class:`Photo`: RGB pixels the way a viewer shows them (EXIF orientation already
applied), the alpha channel kept aside untouched, and everything needed to write the result back the way the
photo came: format, colour profile, EXIF and XMP (orientation reset to "normal", because the pixels are
already turned), resolution, and for JPEG the source's quantization tables and chroma subsampling.

Conversions for the model, as of now (the high-resolution work will keep 16-bit data at 16 bits):

* palette, grayscale, black-and-white and CMYK photos become RGB; results are written as RGB (or RGBA);
* 16-bit and 32-bit integer photos are scaled to 8 bits;
* alpha (RGBA, LA, PA, palette transparency) is split off and re-attached on writing when the output format
  supports it (PNG, TIFF, WebP, BMP); JPEG cannot hold alpha, so it is dropped there;
* a colour profile is kept only when it describes RGB data; a CMYK photo with a CMYK profile is converted to
  sRGB through that profile and gets an sRGB profile.

Limits: a file that decodes to more than :data:`MAX_PIXELS` pixels is refused before its pixels are decoded
(:class:`~core.errors.ImageTooLargeError`); callers can raise the limit per call with ``max_pixels``.

Writing is atomic: the encoder writes a hidden temporary file next to the target, which is then renamed onto
it, so a crash or a full disk never leaves a half-written output, and an existing file is never replaced
unless the caller allows it. Input files are only ever opened for reading.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageCms, JpegImagePlugin, PngImagePlugin, UnidentifiedImageError

from core.errors import (
    ImageReadError,
    ImageTooLargeError,
    OutputError,
    OutputExistsError,
    OutputNotWritableError,
)

MAX_PIXELS = 200_000_000
"""Default pixel limit of :func:`read_image` and :func:`read_mask` (200 megapixels)."""

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
_ALPHA_FORMATS = frozenset({"PNG", "TIFF", "WEBP", "BMP"})
_TIFF_LOSSLESS_COMPRESSIONS = frozenset({"raw", "tiff_lzw", "tiff_deflate", "tiff_adobe_deflate", "packbits"})
_EXIF_ORIENTATION = 0x0112
_XMP_ORIENTATION = re.compile(rb'(tiff:Orientation(?:="|>))([0-9])')

# Pillow's own decompression-bomb guard is one process-wide number; it is switched off while a header is read
# (under this lock) and the per-call ``max_pixels`` limit is checked instead.
_PIL_LIMIT_LOCK = threading.Lock()

U8Image = npt.NDArray[np.uint8]


@dataclass
class Photo:
    """A decoded photo plus what is needed to write a result back in the same way.

    Args:
        pixels: RGB pixels as displayed, ``uint8`` (H, W, 3), EXIF orientation applied.
        alpha: the source's alpha channel, ``uint8`` (H, W), turned like the pixels; ``None`` when opaque.
        format: Pillow's name of the source format: ``"JPEG"``, ``"PNG"``, ``"TIFF"``, ``"WEBP"``, …
        mode: Pillow's mode of the source before conversion (``"RGB"``, ``"P"``, ``"CMYK"``, ``"I;16"``, …).
        path: the file the photo was read from, or ``None`` for photos made in memory.
        bit_depth: bits per channel of the source (8 or 16); ``pixels`` are always 8 bits for now.
        icc_profile: ICC profile that describes ``pixels`` (RGB), or ``None``.
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
    alpha: U8Image | None
    format: str
    mode: str
    path: Path | None = None
    bit_depth: int = 8
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
    with _decoded(file, max_pixels, what="photo") as image:
        # 1. Pixels and alpha at 8 bits, the profile that still describes them after conversion.
        rgb, alpha, bit_depth, icc = _rgb_and_alpha(image, file)
        # 2. Turn the pixels upright, and record metadata that says they are upright now.
        exif_data = image.getexif()
        orientation = _orientation(exif_data.get(_EXIF_ORIENTATION))
        rgb = _apply_orientation(rgb, orientation)
        alpha = None if alpha is None else _apply_orientation(alpha, orientation)
        # 3. What the writer needs to encode a result the same way.
        jpeg = image if isinstance(image, JpegImagePlugin.JpegImageFile) else None
        qtables = _jpeg_qtables(jpeg) if jpeg is not None else None
        subsampling = JpegImagePlugin.get_sampling(jpeg) if jpeg is not None else -1
        compression = image.info.get("compression") if image.format == "TIFF" else None
        return Photo(
            pixels=rgb,
            alpha=alpha,
            format=image.format or "",
            mode=image.mode,
            path=file,
            bit_depth=bit_depth,
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
        ``uint8`` array (H, W); the caller binarizes it (see :func:`core.mask.binarize`).

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
def _decoded(file: Path, max_pixels: int, *, what: str) -> Iterator[Image.Image]:
    """Open ``file`` with Pillow, check its size against ``max_pixels``, decode it, and close it afterwards.

    Args:
        file: an existing, readable file.
        max_pixels: the pixel limit.
        what: ``"photo"`` or ``"mask"``, for messages.
    """
    # 1. Read the header only; Pillow's global guard is replaced by the per-call limit below.
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
        # 3. Decode; damaged and truncated files surface here.
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise _too_large(file, what, (width, height), max_pixels) from error
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise ImageReadError(
                f"The {what} {file} is damaged or truncated and cannot be decoded ({error})."
            ) from error
        yield image


def _too_large(file: Path, what: str, size: tuple[int, int] | None, max_pixels: int) -> ImageTooLargeError:
    """The error for a file over the pixel limit; ``size`` is (width, height) when known."""
    limit = f"{max_pixels / 1e6:g} megapixels"
    if size is None:
        return ImageTooLargeError(f"The {what} {file} is larger than the limit of {limit}.")
    return ImageTooLargeError(
        f"The {what} {file} is {size[0]}×{size[1]} pixels ({size[0] * size[1] / 1e6:.0f} megapixels), "
        f"more than the limit of {limit}.",
    )


def _rgb_and_alpha(image: Image.Image, file: Path) -> tuple[U8Image, U8Image | None, int, bytes | None]:
    """Convert a decoded image of any mode to RGB pixels for the model.

    Args:
        image: a loaded Pillow image.
        file: its path, for messages.

    Returns:
        ``(rgb uint8 (H, W, 3), alpha uint8 (H, W) or None, source bits per channel, ICC profile of rgb)``.
    """
    icc = image.info.get("icc_profile") or None
    if image.mode in _SIXTEEN_BIT_MODES:
        gray = _sixteen_to_eight_bits(image)
        return np.repeat(gray[:, :, None], 3, axis=2), None, 16, _rgb_profile(icc)
    if image.mode == "CMYK" and icc is not None and icc[16:20] == b"CMYK":
        converted = _cmyk_to_srgb(image, icc)
        if converted is not None:
            return converted
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        return np.array(rgba.convert("RGB")), np.array(rgba.getchannel("A")), 8, _rgb_profile(icc)
    rgb = np.array(image if image.mode == "RGB" else _converted(image, "RGB", file))
    return rgb, None, 8, _rgb_profile(icc)


def _has_alpha(image: Image.Image) -> bool:
    """Whether the image carries transparency (an alpha band or a transparent palette entry)."""
    return image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )


def _sixteen_to_eight_bits(image: Image.Image) -> U8Image:
    """A 16-bit gray image (Pillow opens 16-bit PNGs as "I") as 8 bits: 0..65535 to 0..255, rounded."""
    values = np.asarray(image).astype(np.float32)
    return np.asarray(np.rint(np.clip(values, 0, 65535) / 257.0), dtype=np.uint8)


def _converted(image: Image.Image, mode: str, file: Path) -> Image.Image:
    """``image.convert(mode)``, with a clear error for source modes Pillow cannot convert."""
    try:
        return image.convert(mode)
    except (ValueError, OSError) as error:
        raise ImageReadError(
            f"The image {file} uses a pixel format ({image.mode}) that cannot be converted."
        ) from error


def _cmyk_to_srgb(image: Image.Image, icc: bytes) -> tuple[U8Image, None, int, bytes] | None:
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
    return np.array(converted), None, 8, srgb.tobytes()


def _rgb_profile(icc: bytes | None) -> bytes | None:
    """``icc`` when it is a profile for RGB data (the colour-space field of the ICC header), else ``None``."""
    if icc is not None and len(icc) >= 20 and icc[16:20] == b"RGB ":
        return icc
    return None


def _orientation(value: object) -> int:
    """An EXIF orientation tag value as 1–8 (anything else counts as 1, "normal")."""
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _apply_orientation(array: U8Image, orientation: int) -> U8Image:
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

    TIFF files keep their metadata in the image's own tag directory, which is not an EXIF block; it is not
    carried over for now.
    """
    raw = image.info.get("exif")
    if not isinstance(raw, bytes) or image.format == "TIFF":
        return None
    if orientation == 1:
        return raw
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


def check_output_path(
    path: str | os.PathLike[str], *, overwrite: bool = False, format: str | None = None
) -> str:
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

    Args:
        path: the output file; its extension decides the format unless ``format`` is given.
        pixels: ``uint8`` (H, W, 3) RGB pixels.
        like: the photo the pixels came from; its alpha (when the size matches and the format can hold it),
            colour profile, EXIF, XMP, resolution, JPEG tables and subsampling, TIFF compression and WebP
            losslessness are reused. ``None`` writes a plain file.
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
    # 2. Build the image and the encoder options.
    image = _pillow_image(pixels, like, name)
    options = _encoder_options(name, like, quality)
    # 3. Encode into a temporary file in the same folder, then move it into place in one step.
    fd, temp = _create_temp(target)
    try:
        with os.fdopen(fd, "wb") as stream:
            image.save(stream, format=name, **options)
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
            raise OutputNotWritableError(
                f"Cannot write {target}: {target.parent} is not a folder."
            ) from error
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


def _pillow_image(pixels: U8Image, like: Photo | None, format_name: str) -> Image.Image:
    """The image to encode: RGB, or RGBA when ``like`` has alpha of the same size and the format keeps it."""
    rgb = np.ascontiguousarray(pixels)
    alpha = like.alpha if like is not None else None
    if alpha is not None and format_name in _ALPHA_FORMATS and alpha.shape == rgb.shape[:2]:
        return Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA")
    return Image.fromarray(rgb, mode="RGB")


def _encoder_options(format_name: str, like: Photo | None, quality: int | None) -> dict[str, Any]:
    """Pillow ``save`` options that reproduce ``like``'s encoding and metadata in ``format_name``.

    Args:
        format_name: the output format.
        like: the source photo, or ``None``.
        quality: explicit JPEG/WebP quality, or ``None``.
    """
    options: dict[str, Any] = {}
    # 1. Metadata every format here can carry, except where noted.
    if like is not None:
        if like.icc_profile and format_name != "BMP":
            options["icc_profile"] = like.icc_profile
        if like.exif and format_name in ("JPEG", "PNG", "WEBP"):
            options["exif"] = like.exif
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
