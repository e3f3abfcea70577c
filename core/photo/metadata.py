"""A photo's metadata: reading it, making it upright, and carrying it into the result's format.

The colour profile is kept only when it describes RGB or gray data. EXIF (including a TIFF's descriptive tags
and its EXIF and GPS directories), XMP and the resolution are carried into every format that can hold them;
a TIFF output carries the descriptive tags, the profile and XMP, but not the EXIF and GPS directories. Since
the pixels are turned upright on reading, the orientation recorded in EXIF and XMP is reset to "normal".
"""

from __future__ import annotations

import re
import struct
import zlib
from typing import Any

from PIL import Image, PngImagePlugin

from core.photo.jpeg_segments import carried_segments
from core.photo.photo import Photo

EXIF_ORIENTATION = 0x0112
_TIFF_DESCRIPTIVE_TAGS = (270, 271, 272, 305, 306, 315, 33432)  # description, make, model, software, date, …
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_XMP_ORIENTATION = re.compile(rb'(tiff:Orientation(?:="|>))([0-9])')


# -- reading ------------------------------------------------------------------------------------------------


def matching_profile(icc: bytes | None, space: bytes) -> bytes | None:
    """``icc`` when its header says it describes ``space`` data (``b"RGB "`` or ``b"GRAY"``), else ``None``."""
    if icc is not None and len(icc) >= 20 and icc[16:20] == space:
        return icc
    return None


def exif_orientation(value: object) -> int:
    """An EXIF orientation tag value as 1–8 (anything else counts as 1, "normal")."""
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def upright_exif(image: Image.Image, exif: Image.Exif, orientation: int) -> bytes | None:
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
    exif[EXIF_ORIENTATION] = 1
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
    exif[EXIF_ORIENTATION] = 1
    return exif.tobytes()


def upright_xmp(xmp: object) -> bytes | None:
    """The XMP packet with any ``tiff:Orientation`` set to 1 (bytes or text accepted), or ``None``."""
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    if not isinstance(xmp, bytes) or not xmp:
        return None
    return _XMP_ORIENTATION.sub(rb"\g<1>1", xmp)


def dpi_from_info(value: object) -> tuple[float, float] | None:
    """A ``(x, y)`` dpi pair from Pillow's info, or ``None`` when absent or meaningless."""
    if isinstance(value, tuple) and len(value) == 2:
        x, y = float(value[0]), float(value[1])
        if x > 0 and y > 0:
            return x, y
    return None


# -- carrying into outputs -----------------------------------------------------------------------------------


def profile_for(like: Photo | None, gray: bool, *, cmyk: bool = False) -> bytes | None:
    """``like``'s colour profile when it describes the written channels (gray, RGB or CMYK), else ``None``."""
    if like is None:
        return None
    if cmyk:
        return matching_profile(like.cmyk_profile, b"CMYK")
    if not like.icc_profile:
        return None
    return matching_profile(like.icc_profile, b"GRAY" if gray else b"RGB ")


def descriptive_tags(like: Photo | None) -> dict[int, str]:
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


def pillow_metadata_options(format_name: str, like: Photo | None, gray: bool, *, cmyk: bool = False) -> dict[str, Any]:
    """Pillow ``save`` options that carry ``like``'s metadata into ``format_name``, where the format can hold it.

    A JPEG source written as JPEG gets all its application and comment segments again (Photoshop/IPTC,
    comments, …; see :func:`~core.photo.jpeg_segments.carried_segments`), EXIF and XMP among them.

    Args:
        format_name: the output format.
        like: the source photo, or ``None`` (no options).
        gray: the written image is gray (a colour profile is attached only when it describes gray).
        cmyk: the written image is CMYK (the source's CMYK profile is attached).
    """
    options: dict[str, Any] = {}
    if like is None:
        return options
    profile = profile_for(like, gray, cmyk=cmyk)
    if profile and format_name != "BMP":
        options["icc_profile"] = profile
    if format_name == "JPEG" and like.jpeg_segments is not None:
        segments = carried_segments(like, same_coding=False, channels=1 if gray else 4 if cmyk else 3)
        options["extra"] = b"".join(segment.to_bytes() for segment in segments)
    elif like.exif and format_name in ("JPEG", "PNG", "WEBP", "HEIF", "AVIF"):
        options["exif"] = like.exif
    if format_name == "TIFF" and (like.exif or like.xmp):
        # Pillow writes a TIFF's tags from ``tiffinfo``: the descriptive tags and XMP (tag 700); EXIF
        # and GPS directories cannot be written into a TIFF by Pillow.
        info: dict[int, Any] = dict(descriptive_tags(like))
        if like.xmp:
            info[700] = like.xmp
        options["tiffinfo"] = info
    if like.xmp and (format_name in ("WEBP", "HEIF", "AVIF") or (format_name == "JPEG" and like.jpeg_segments is None)):
        options["xmp"] = like.xmp
    if like.xmp and format_name == "PNG":
        text = PngImagePlugin.PngInfo()
        text.add_itxt("XML:com.adobe.xmp", like.xmp.decode("utf-8", "replace"))
        options["pnginfo"] = text
    if like.dpi and format_name in ("JPEG", "PNG", "TIFF", "BMP"):
        options["dpi"] = like.dpi
    return options


def png_metadata_chunks(like: Photo | None, *, gray: bool) -> bytes:
    """``like``'s colour profile (``iCCP``), resolution (``pHYs``), EXIF (``eXIf``) and XMP (``iTXt``) as PNG chunks.

    Args:
        like: the source photo, or ``None`` (no chunks).
        gray: the PNG holds gray samples (a colour profile is attached only when it describes gray).
    """
    chunks = b""
    profile = profile_for(like, gray=gray)
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
    return chunks


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk: length, type, data and CRC."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
