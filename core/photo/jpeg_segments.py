"""A JPEG file's marker segments: reading its header, and the application segments a result carries again.

Everything before the first scan of a JPEG is a row of marker segments: application segments APP0–APP15 (JFIF,
EXIF, XMP, ICC profile, Photoshop IRB/IPTC in APP13, Adobe in APP14, …), comments (COM), and the segments that
describe the coding (quantization and Huffman tables, the frame header). A result written as JPEG gets every
application and comment segment of its source again, in the source's order, except:

* EXIF and XMP, which are replaced by the photo's upright versions (orientation reset to 1);
* the multi-picture index (APP2 ``MPF``), whose offsets point into data after the source's image that a
  result does not carry;
* when the pixels are encoded anew by Pillow (not block for block), the segments the encoder writes itself
  (JFIF APP0, the ICC profile, Adobe APP14 for CMYK) come from the encoder, so they match what it encoded;
  the source's Adobe segment is kept when its colour transform still describes the result (YCbCr for colour,
  none for gray).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from core.photo.photo import Photo

SOI, EOI, SOS, DQT, DHT, DRI, COM = 0xD8, 0xD9, 0xDA, 0xDB, 0xC4, 0xDD, 0xFE
APP0, APP1, APP2, APP14 = 0xE0, 0xE1, 0xE2, 0xEE
FRAME_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
"""Start-of-frame markers (SOF0–SOF15 less DHT, JPG and DAC)."""

EXIF_PREFIX = b"Exif\0\0"
XMP_PREFIX = b"http://ns.adobe.com/xap/1.0/\0"
ICC_PREFIX = b"ICC_PROFILE\0"
_MPF_PREFIX = b"MPF\0"
_JFIF_PREFIX = b"JFIF\0"
_ADOBE_PREFIX = b"Adobe"
_MAX_HEADER = 64 << 20  # a header larger than this is not a photo's; reading stops there


@dataclass(frozen=True)
class Segment:
    """One marker segment: the marker's second byte (``0xE1`` for APP1) and the bytes after its length."""

    marker: int
    payload: bytes

    def to_bytes(self) -> bytes:
        """The segment as written in a file: ``FF``, the marker, the big-endian length, the payload."""
        return bytes((0xFF, self.marker)) + struct.pack(">H", len(self.payload) + 2) + self.payload


def read_header(stream: BinaryIO) -> list[Segment]:
    """Every marker segment of a JPEG from its start up to and including the first scan header (SOS).

    Args:
        stream: the file, positioned at its start.

    Raises:
        ValueError: the stream is not a JPEG, or its header is cut short or malformed.
    """
    if stream.read(2) != b"\xff\xd8":
        raise ValueError("not a JPEG file")
    segments: list[Segment] = []
    total = 0
    while True:
        # 1. A marker, after any fill bytes (0xFF repeated).
        byte = stream.read(1)
        if byte != b"\xff":
            raise ValueError("a marker was expected")
        marker = 0xFF
        while marker == 0xFF:
            read = stream.read(1)
            if not read:
                raise ValueError("the header is cut short")
            marker = read[0]
        if marker in (SOI, EOI) or 0xD0 <= marker <= 0xD7:
            raise ValueError(f"unexpected marker FF{marker:02X} in the header")
        # 2. Its length and payload.
        length_bytes = stream.read(2)
        if len(length_bytes) < 2:
            raise ValueError("the header is cut short")
        length = struct.unpack(">H", length_bytes)[0]
        payload = stream.read(length - 2) if length >= 2 else b""
        if length < 2 or len(payload) != length - 2:
            raise ValueError("the header is cut short")
        segments.append(Segment(marker, payload))
        total += length
        if marker == SOS:
            return segments
        if total > _MAX_HEADER:
            raise ValueError("the header is implausibly large")


def read_header_file(file: Path) -> list[Segment]:
    """:func:`read_header` of a file (see there)."""
    with file.open("rb") as stream:
        return read_header(stream)


def application_segments(segments: list[Segment]) -> list[tuple[int, bytes]]:
    """The APP0–APP15 and COM segments among ``segments``, as ``(marker, payload)`` in file order."""
    return [(s.marker, s.payload) for s in segments if APP0 <= s.marker <= 0xEF or s.marker == COM]


def is_exif(marker: int, payload: bytes) -> bool:
    return marker == APP1 and payload.startswith(EXIF_PREFIX)


def is_xmp(marker: int, payload: bytes) -> bool:
    return marker == APP1 and payload.startswith(XMP_PREFIX)


def is_icc(marker: int, payload: bytes) -> bool:
    return marker == APP2 and payload.startswith(ICC_PREFIX)


def adobe_transform(segments: list[Segment]) -> int | None:
    """The colour transform of the Adobe APP14 segment (0 none, 1 YCbCr, 2 YCCK), or ``None`` without one."""
    for segment in segments:
        if segment.marker == APP14 and segment.payload.startswith(_ADOBE_PREFIX) and len(segment.payload) >= 12:
            return segment.payload[11]
    return None


def has_jfif(segments: list[Segment]) -> bool:
    return any(s.marker == APP0 and s.payload.startswith(_JFIF_PREFIX) for s in segments)


def carried_segments(like: Photo, *, same_coding: bool, channels: int = 3) -> list[Segment]:
    """The application and comment segments a JPEG result of ``like`` is written with, in the source's order.

    Args:
        like: the source photo (its :attr:`~core.photo.photo.Photo.jpeg_segments`, EXIF and XMP).
        same_coding: the result keeps the source's coding (colour space, components): its JFIF, Adobe and ICC
            segments still describe it and are kept. Otherwise they are left to the encoder.
        channels: the channels the encoder writes when ``same_coding`` is false (1 gray, 3 colour, 4 CMYK).
    """
    carried: list[Segment] = []
    exif_done = xmp_done = False
    for marker, payload in like.jpeg_segments or []:
        # 1. EXIF and XMP: the upright versions, once each.
        if is_exif(marker, payload):
            if like.exif and not exif_done:
                carried.append(Segment(APP1, _with_prefix(like.exif, EXIF_PREFIX)))
            exif_done = True
            continue
        if is_xmp(marker, payload):
            if like.xmp and not xmp_done:
                carried.append(Segment(APP1, XMP_PREFIX + like.xmp))
            xmp_done = True
            continue
        # 2. Segments that would be wrong in the result.
        if marker == APP2 and payload.startswith(_MPF_PREFIX):
            continue
        if not same_coding and (
            is_icc(marker, payload)
            or (marker == APP0 and payload.startswith(_JFIF_PREFIX))
            or (marker == APP14 and payload.startswith(_ADOBE_PREFIX) and not _adobe_fits(payload, channels))
        ):
            continue
        carried.append(Segment(marker, payload))
    return carried


def _adobe_fits(payload: bytes, channels: int) -> bool:
    """Whether an Adobe segment's colour transform describes what Pillow's encoder writes for ``channels``.

    The encoder writes YCbCr colour (transform 1) and plain gray (0), and its own Adobe segment for CMYK.
    """
    if len(payload) < 12 or channels == 4:
        return False
    return payload[11] == (1 if channels == 3 else 0)


def _with_prefix(data: bytes, prefix: bytes) -> bytes:
    return data if data.startswith(prefix) else prefix + data
