"""Reading photos and masks: checked, limited in size, decoded, and turned upright.

A photo is read into a :class:`~core.photo.photo.Photo` with everything needed to write a result back the same
way; a mask is read as one 8-bit channel. Input files are only ever opened for reading.

HEIC/HEIF photos are read through ``pillow-heif`` (registered only when such a file is opened), AVIF photos by
Pillow itself (:mod:`core.photo.heif`); camera RAW files are developed by LibRaw (:mod:`core.photo.raw`).

Limits: a file that decodes to more than :data:`MAX_PIXELS` pixels is refused before its pixels are decoded
(:class:`~core.common.errors.ImageTooLargeError`); callers raise the limit per call with ``max_pixels`` (the command
line with ``--max-pixels``).
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, JpegImagePlugin, UnidentifiedImageError

from core.common.errors import ImageReadError, ImageTooLargeError
from core.photo.compression import estimate_jpeg_quality, is_lossless_webp, jpeg_qtables
from core.photo.decode import (
    SIXTEEN_BIT_MODES,
    convert_mode,
    decode_with_opencv,
    has_alpha,
    samples_from_pillow,
    sixteen_to_eight_bits,
)
from core.photo.heif import (
    HEIF_NOT_INSTALLED,
    HEIF_NOT_INSTALLED_HINT,
    deep_heif_samples,
    is_heif_file,
    register_heif,
)
from core.photo.jpeg_segments import application_segments, read_header_file
from core.photo.mask import FILL_THRESHOLD
from core.photo.metadata import (
    EXIF_ORIENTATION,
    dpi_from_info,
    exif_orientation,
    matching_profile,
    upright_exif,
    upright_xmp,
)
from core.photo.orientation import to_upright
from core.photo.photo import Photo, U8Image
from core.photo.raw import is_raw_path, read_raw
from core.photo.samples import to_eight_bits

MAX_PIXELS = 200_000_000
"""Default pixel limit of :func:`read_image` and :func:`read_mask` (200 megapixels): twice the largest
camera files, and far below what a decompression bomb claims. Raise it per call with ``max_pixels``."""

# Pillow's own decompression-bomb guard is one process-wide number; it is switched off while a header is read
# (under this lock) and the per-call ``max_pixels`` limit is checked instead.
_PIL_LIMIT_LOCK = threading.Lock()


def check_input_file(path: str | os.PathLike[str], *, what: str = "photo") -> Path:
    """Make sure ``path`` names a readable file, without decoding it.

    Args:
        path: the file to check.
        what: what the file is, for the message (``"photo"``, ``"mask"``).

    Returns:
        The path as a :class:`~pathlib.Path`.

    Raises:
        ImageReadError: the file is missing, is a folder, a pipe or a device, or cannot be opened for reading.
    """
    file = Path(path)
    if file.is_dir():
        raise ImageReadError(f"The {what} {file} is a folder, not an image file.")
    if not file.exists():
        raise ImageReadError(f"The {what} {file} does not exist.", hint="Check the path and the file name.")
    # A pipe or a device would make the reads below wait for data that may never come.
    try:
        kind = os.stat(file).st_mode
    except OSError as error:
        raise ImageReadError(f"The {what} {file} cannot be read: {error.strerror or error}.") from error
    if not stat.S_ISREG(kind):
        raise ImageReadError(
            f"The {what} {file} is {_file_kind(kind)}, not an image file.", hint="Give the path of a saved image file."
        )
    try:
        with file.open("rb"):
            pass
    except PermissionError as error:
        raise ImageReadError(f"The {what} {file} cannot be read: permission denied.") from error
    except OSError as error:
        raise ImageReadError(f"The {what} {file} cannot be read: {error.strerror or error}.") from error
    return file


def _file_kind(mode: int) -> str:
    """What a file that is not a regular file is, in words (for messages)."""
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_image(path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> Photo:
    """Read a photo for inpainting.

    Args:
        path: the photo file; any format Pillow reads (the first frame of an animation or a multi-page file),
            HEIC/HEIF, AVIF, or a camera RAW file (developed to 16 bits, see :mod:`core.photo.raw`).
        max_pixels: refuse files with more pixels than this (see :data:`MAX_PIXELS`).

    Returns:
        The decoded :class:`Photo`, pixels turned upright.

    Raises:
        ImageReadError: the file is missing, unreadable, not an image, damaged or truncated.
        ImageTooLargeError: the file has more than ``max_pixels`` pixels.
    """
    file = check_input_file(path, what="photo")
    if is_raw_path(file):
        return read_raw(file, max_pixels=max_pixels)
    status = file.stat()
    with _opened(file, max_pixels, what="photo") as image:
        # 1. Pixels at 8 bits, the source's own samples where they hold more, alpha, and the matching profile.
        decoded = decode_with_opencv(image, file)
        deep = deep_heif_samples(image, file) if decoded is None else None
        if deep is not None:
            icc = matching_profile(image.info.get("icc_profile") or None, b"RGB ")
            decoded = to_eight_bits(deep), deep, None, 16, icc
        if decoded is None:
            _load(image, file, max_pixels, what="photo")
            decoded = samples_from_pillow(image, file)
        rgb, native, alpha, bit_depth, icc = decoded
        # 2. Turn everything upright, and record metadata that says it is upright now.
        exif_data = image.getexif()
        orientation = exif_orientation(exif_data.get(EXIF_ORIENTATION))
        rgb = to_upright(rgb, orientation)
        native = None if native is None else to_upright(native, orientation)
        alpha = None if alpha is None else to_upright(alpha, orientation)
        # 3. What the writer needs to encode a result the same way.
        jpeg = image if isinstance(image, JpegImagePlugin.JpegImageFile) else None
        qtables = jpeg_qtables(jpeg) if jpeg is not None else None
        subsampling = JpegImagePlugin.get_sampling(jpeg) if jpeg is not None else -1
        compression = image.info.get("compression") if image.format == "TIFF" else None
        mode = image.mode
        if bit_depth == 16 and native is not None and native.ndim == 3:
            mode = "RGBA;16" if alpha is not None else "RGB;16"
        source_icc = image.info.get("icc_profile") or None
        segments = _jpeg_segments(file) if jpeg is not None else None
        return Photo(
            pixels=rgb,
            alpha=alpha,
            format=image.format or "",
            mode=mode,
            path=file,
            bit_depth=bit_depth,
            native=native,
            icc_profile=icc,
            exif=upright_exif(image, exif_data, orientation),
            xmp=upright_xmp(image.info.get("xmp")),
            dpi=dpi_from_info(image.info.get("dpi")),
            jpeg_quality=estimate_jpeg_quality(qtables) if qtables else None,
            jpeg_qtables=qtables,
            jpeg_subsampling=subsampling if subsampling >= 0 else None,
            tiff_compression=compression if isinstance(compression, str) else None,
            webp_lossless=image.format == "WEBP" and is_lossless_webp(file),
            orientation=orientation,
            cmyk_profile=matching_profile(source_icc, b"CMYK") if mode == "CMYK" else None,
            jpeg_segments=segments,
            frame_count=_frame_count(image),
            source_stamp=(status.st_size, status.st_mtime_ns),
        )


def _jpeg_segments(file: Path) -> list[tuple[int, bytes]] | None:
    """The JPEG's application and comment segments (``None`` when its header cannot be parsed)."""
    try:
        return application_segments(read_header_file(file))
    except (OSError, ValueError):
        return None


def _frame_count(image: Image.Image) -> int:
    """How many pages or frames an opened image holds (1 for still images)."""
    try:
        count = int(getattr(image, "n_frames", 1))
    except (OSError, ValueError, EOFError, SyntaxError):
        return 1
    return max(1, count)


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
        if has_alpha(image):
            rgba = image.convert("RGBA")
            alpha = np.array(rgba.getchannel("A"))
            gray = np.array(rgba.convert("L"))
        elif image.mode in SIXTEEN_BIT_MODES:
            gray = sixteen_to_eight_bits(image)
        else:
            gray = np.array(convert_mode(image, "L", file))
        # 2. Alpha decides only when it is not fully opaque.
        if alpha is not None and int(alpha.min()) < 255:
            if int(gray.min()) == int(gray.max()):
                gray = alpha
            else:
                weighted = gray.astype(np.uint16) * alpha.astype(np.uint16)
                gray = ((weighted + 127) // 255).astype(np.uint8)
        # 3. Turn it upright like the photo it belongs to.
        orientation = exif_orientation(image.getexif().get(EXIF_ORIENTATION))
        upright = to_upright(gray, orientation)
        # 4. Colour with nothing bright: say so when the mask is refused as empty (see mask.empty_mask_error).
        if upright.size and int(upright.max()) < FILL_THRESHOLD and image.mode not in _GRAY_MASK_MODES:
            strongest = _strongest_channel(image, file)
            if strongest >= FILL_THRESHOLD:
                marked = upright.view(DimColourMask)
                marked.colour_note = f"it has colour (a colour channel reaches {strongest} of 255)"
                return marked
        return upright


class DimColourMask(np.ndarray[Any, np.dtype[np.uint8]]):
    """A mask read from a coloured file whose brightness stays below the fill threshold everywhere.

    It is the mask's values like any other; ``colour_note`` says what colour was found, so that the message
    of an empty mask (:func:`core.photo.mask.empty_mask_error`) can explain that masks are read by brightness.
    """

    colour_note: str = ""


_GRAY_MASK_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


def _strongest_channel(image: Image.Image, file: Path) -> int:
    """The largest value of any colour channel (R, G or B) of an image, transparent pixels counted as black."""
    if has_alpha(image):
        rgba = np.array(image.convert("RGBA"), dtype=np.uint16)
        weighted = (rgba[:, :, :3] * rgba[:, :, 3:4] + 127) // 255
        return int(weighted.max()) if weighted.size else 0
    rgb = np.array(convert_mode(image, "RGB", file))
    return int(rgb.max()) if rgb.size else 0


@contextlib.contextmanager
def _opened(file: Path, max_pixels: int, *, what: str) -> Iterator[Image.Image]:
    """Open ``file`` with Pillow and check its size against ``max_pixels`` before anything is decoded.

    Args:
        file: an existing, readable file.
        max_pixels: the pixel limit.
        what: ``"photo"`` or ``"mask"``, for messages.
    """
    # 1. Read the header only; Pillow's global guard is replaced by the per-call limit below.
    heif_missing = is_heif_file(file) and not register_heif()
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
        if heif_missing:
            raise ImageReadError(
                f"The {what} {file} is a HEIC/HEIF file. {HEIF_NOT_INSTALLED}.",
                hint=HEIF_NOT_INSTALLED_HINT,
            ) from error
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
