"""Decoding an opened photo into the engines' 8-bit RGB pixels, its own samples, alpha and colour profile.

Pillow opens 16-bit colour files at 8 bits, so those are decoded by OpenCV; plain JPEGs are decoded by OpenCV
too, which gives the same pixels faster and without an extra copy. Everything else is decoded by Pillow and
converted from its mode (gray, palette, CMYK through its own profile, 32-bit integers, …). The orientation is
left to the caller (:mod:`core.photo.read`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, TiffImagePlugin

from core.common.errors import ImageReadError
from core.photo.metadata import matching_profile
from core.photo.photo import Samples, U8Image
from core.photo.samples import to_eight_bits

SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_GRAY_MODES = frozenset({"L", "1", "LA"})

Decoded = tuple[U8Image, Samples | None, Samples | None, int, bytes | None]
"""``(rgb uint8 (H, W, 3), native samples or None, alpha or None, bits per channel, ICC profile)``."""


def samples_from_pillow(image: Image.Image, file: Path) -> Decoded:
    """Convert a Pillow-decoded image of any mode to RGB pixels for the model, keeping gray samples.

    Args:
        image: a loaded Pillow image.
        file: its path, for messages.
    """
    icc = image.info.get("icc_profile") or None
    # 1. Gray (and 1-bit) stays gray for writing; the model sees it in all three channels.
    if image.mode in _GRAY_MODES:
        gray = np.array(image.getchannel("L") if image.mode == "LA" else convert_mode(image, "L", file))
        alpha = np.array(image.getchannel("A")) if image.mode == "LA" else None
        return np.repeat(gray[:, :, None], 3, axis=2), gray, alpha, 8, matching_profile(icc, b"GRAY")
    # 2. Other deep gray modes (32-bit integers, 16-bit ones from formats OpenCV does not read): 8 bits.
    if image.mode in SIXTEEN_BIT_MODES:
        gray = sixteen_to_eight_bits(image)
        return np.repeat(gray[:, :, None], 3, axis=2), None, None, 16, None
    # 3. CMYK: its inks are kept for writing back; the model sees RGB, through the file's profile when it has one.
    if image.mode == "CMYK":
        inks = np.array(image)
        converted = _cmyk_to_srgb(image, icc) if icc is not None and icc[16:20] == b"CMYK" else None
        if converted is not None:
            return converted[0], inks, None, 8, converted[4]
        return np.array(convert_mode(image, "RGB", file)), inks, None, 8, None
    # 4. Everything else (RGB, RGBA, palette, …) as RGB plus alpha.
    rgb_icc = matching_profile(icc, b"RGB ")
    if has_alpha(image):
        rgba = image.convert("RGBA")
        return np.array(rgba.convert("RGB")), None, np.array(rgba.getchannel("A")), 8, rgb_icc
    rgb = np.array(image if image.mode == "RGB" else convert_mode(image, "RGB", file))
    return rgb, None, None, 8, rgb_icc


def decode_with_opencv(image: Image.Image, file: Path) -> Decoded | None:
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
            return np.repeat(decoded[:, :, None], 3, axis=2), decoded, None, 8, matching_profile(icc, b"GRAY")
        return np.ascontiguousarray(decoded), None, None, 8, matching_profile(icc, b"RGB ")
    # 3. 16 bits: OpenCV's channel order is BGR(A); the model gets the samples rounded to 8 bits.
    if decoded.ndim == 2:
        return (
            np.repeat(to_eight_bits(decoded)[:, :, None], 3, axis=2),
            decoded,
            None,
            16,
            matching_profile(icc, b"GRAY"),
        )
    colour = np.ascontiguousarray(decoded[:, :, 2::-1])
    alpha = np.ascontiguousarray(decoded[:, :, 3]) if decoded.shape[2] == 4 else None
    return to_eight_bits(colour), colour, alpha, 16, matching_profile(icc, b"RGB ")


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


def has_alpha(image: Image.Image) -> bool:
    """Whether the image carries transparency (an alpha band or a transparent palette entry)."""
    return image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or (image.mode == "P" and "transparency" in image.info)


def sixteen_to_eight_bits(image: Image.Image) -> U8Image:
    """A 16-bit (or 32-bit integer) gray Pillow image as 8 bits: 0..65535 to 0..255, rounded."""
    return to_eight_bits(np.clip(np.asarray(image), 0, 65535))


def convert_mode(image: Image.Image, mode: str, file: Path) -> Image.Image:
    """``image.convert(mode)``, with a clear error for source modes Pillow cannot convert."""
    try:
        return image.convert(mode)
    except (ValueError, OSError) as error:
        raise ImageReadError(
            f"The image {file} uses a pixel format ({image.mode}) that cannot be converted."
        ) from error


def _cmyk_to_srgb(image: Image.Image, icc: bytes) -> Decoded | None:
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
