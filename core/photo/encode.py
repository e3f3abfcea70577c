"""Encoding a result's samples into a file's bytes, with the source's metadata and compression.

8-bit samples are encoded by Pillow. Pillow cannot write 16-bit colour, so 16-bit samples are encoded by
OpenCV (PNG, with the metadata chunks added here) or tifffile (TIFF, deflate-compressed unless the source was
uncompressed).
"""

from __future__ import annotations

from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from core.photo.compression import compression_options
from core.photo.metadata import descriptive_tags, pillow_metadata_options, png_metadata_chunks, profile_for
from core.photo.photo import Photo, Samples


def encode(
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

    # 1. Pixels, with alpha as an unassociated extra sample.
    data = samples if alpha is None else np.dstack([samples if samples.ndim == 3 else samples[:, :, None], alpha])
    photometric = "rgb" if samples.ndim == 3 else "minisblack"
    # 2. Metadata as extra tags (code, type, count, value): 7 = undefined bytes, 1 = bytes, "s" = text.
    tags: list[tuple[int, int | str, int, Any, bool]] = []
    profile = profile_for(like, gray=samples.ndim == 2)
    if profile:
        tags.append((34675, 7, len(profile), profile, True))
    if like is not None and like.xmp:
        tags.append((700, 1, len(like.xmp), like.xmp, True))
    software: str | bool = False
    for tag, value in descriptive_tags(like).items():
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
    # 1. Metadata every format here can carry, except where noted.
    options = pillow_metadata_options(format_name, like, gray)
    # 2. Encoding settings.
    options.update(compression_options(format_name, like, quality))
    return options
