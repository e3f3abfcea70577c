"""Encoding a result's samples into a file's bytes, with the source's metadata and compression.

8-bit samples are encoded by Pillow. Pillow cannot write 16-bit colour, so 16-bit samples are encoded by
OpenCV (PNG, with the metadata chunks added here) or tifffile (TIFF, deflate-compressed unless the source was
uncompressed). A JPEG source written as JPEG keeps its unchanged blocks (:mod:`core.photo.jpeg_blocks`); a
multi-page TIFF gets all its pages back (:mod:`core.photo.pages`).
"""

from __future__ import annotations

from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from core.photo.compression import compression_options
from core.photo.heif import HEIF_FORMATS, heif_save_options
from core.photo.jpeg_blocks import write_keeping_blocks
from core.photo.metadata import pillow_metadata_options, png_metadata_chunks
from core.photo.pages import first_page_arguments, is_multi_page_tiff, write_tiff_pages
from core.photo.photo import Photo, Samples


def encode(
    stream: BinaryIO,
    format_name: str,
    samples: Samples,
    alpha: Samples | None,
    like: Photo | None,
    quality: int | None,
    notes: list[str] | None = None,
) -> None:
    """Encode ``samples`` (+ ``alpha``) into ``stream`` in ``format_name`` with ``like``'s metadata.

    Args:
        stream: the output, open for writing.
        format_name: the output format.
        samples: what :func:`~core.photo.samples.output_samples` gave.
        alpha: the alpha channel to attach, or ``None``.
        like: the source photo, or ``None``.
        quality: explicit JPEG/WebP quality, or ``None``.
        notes: receives a sentence when the result is encoded in a less faithful way than it could be.
    """
    if is_multi_page_tiff(like, format_name) and like is not None:
        write_tiff_pages(stream, samples, alpha, like)
    elif samples.dtype == np.uint16 and format_name == "PNG":
        stream.write(_sixteen_bit_png(samples, alpha, like))
    elif samples.dtype == np.uint16:
        _write_sixteen_bit_tiff(stream, samples, alpha, like)
    elif (
        format_name == "JPEG"
        and like is not None
        and quality is None
        and write_keeping_blocks(stream, samples, like, notes)
    ):
        return
    else:
        image = _pillow_image(samples, alpha)
        cmyk = samples.ndim == 3 and samples.shape[2] == 4
        options = _encoder_options(format_name, like, quality, gray=samples.ndim == 2, cmyk=cmyk)
        image.save(stream, format=format_name, **options)


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
    if rgb.shape[2] == 4:
        return Image.fromarray(rgb, mode="CMYK")
    if alpha is not None:
        return Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA")
    return Image.fromarray(rgb, mode="RGB")


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
    chunks = png_metadata_chunks(like, gray=samples.ndim == 2)
    return data[:33] + chunks + data[33:]


def _write_sixteen_bit_tiff(stream: BinaryIO, samples: Samples, alpha: Samples | None, like: Photo | None) -> None:
    """Write a 16-bit TIFF with tifffile, carrying the profile, XMP, resolution and descriptive tags.

    Deflate compression is used unless the source was uncompressed (LZW needs a codec tifffile does not
    bring along).
    """
    import tifffile

    compression = None if like is not None and like.tiff_compression == "raw" else "zlib"
    arguments = first_page_arguments(samples, alpha, like, compression)
    tifffile.imwrite(stream, arguments.pop("data"), **arguments)


def _encoder_options(
    format_name: str, like: Photo | None, quality: int | None, *, gray: bool = False, cmyk: bool = False
) -> dict[str, Any]:
    """Pillow ``save`` options that reproduce ``like``'s encoding and metadata in ``format_name``.

    Args:
        format_name: the output format.
        like: the source photo, or ``None``.
        quality: explicit JPEG/WebP quality, or ``None``.
        gray: the written image is gray (a colour profile is attached only when it describes gray).
        cmyk: the written image is CMYK (the source's CMYK profile is attached).
    """
    # 1. Metadata every format here can carry, except where noted.
    options = pillow_metadata_options(format_name, like, gray, cmyk=cmyk)
    # 2. Encoding settings.
    options.update(compression_options(format_name, like, quality))
    if format_name in HEIF_FORMATS:
        options.update(heif_save_options(format_name, quality))
    return options
