"""How the source was compressed, and the encoder settings that compress a result the same way.

For JPEG that is the source's quantization tables (writing with them keeps its quality exactly), the IJG
quality that best explains them, and the chroma subsampling; for WebP whether the source was lossless; for
TIFF the source's compression when it is lossless (LZW otherwise).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import JpegImagePlugin

from core.photo.photo import Photo

DEFAULT_JPEG_QUALITY = 95
"""JPEG quality used when neither the caller nor the source photo gives one."""
_TIFF_LOSSLESS_COMPRESSIONS = frozenset({"raw", "tiff_lzw", "tiff_deflate", "tiff_adobe_deflate", "packbits"})

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


def jpeg_qtables(image: JpegImagePlugin.JpegImageFile) -> list[list[int]] | None:
    """The JPEG's quantization tables in natural order, as plain lists (``None`` when absent)."""
    tables = getattr(image, "quantization", None)
    if not tables:
        return None
    return [list(tables[key]) for key in sorted(tables)]


def estimate_jpeg_quality(qtables: list[list[int]]) -> int | None:
    """The IJG quality (1–100) whose scaled luminance table is closest to a JPEG's first table.

    Exact for files written by libjpeg-based encoders (most software); an approximation for cameras that use
    their own tables.

    Args:
        qtables: quantization tables in natural order (as :attr:`~core.photo.photo.Photo.jpeg_qtables`).
    """
    if not qtables or len(qtables[0]) != 64:
        return None
    actual = np.asarray(qtables[0], dtype=np.int64)
    qualities = np.arange(1, 101)
    scales = np.where(qualities < 50, 5000 // qualities, 200 - 2 * qualities)
    expected = np.clip((_IJG_LUMINANCE[None, :] * scales[:, None] + 50) // 100, 1, 255)
    errors = np.abs(expected - actual[None, :]).sum(axis=1)
    return int(qualities[int(np.argmin(errors))])


def is_lossless_webp(file: Path) -> bool:
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


def compression_options(format_name: str, like: Photo | None, quality: int | None) -> dict[str, Any]:
    """Pillow ``save`` options that compress a result in ``format_name`` the way ``like`` was compressed.

    Args:
        format_name: the output format.
        like: the source photo, or ``None``.
        quality: explicit JPEG/WebP quality, or ``None`` (the source's tables or losslessness, else
            :data:`DEFAULT_JPEG_QUALITY`).
    """
    options: dict[str, Any] = {}
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
