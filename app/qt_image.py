"""Conversions between numpy pixel arrays and QImage — the only place in the app that does them.

Both directions copy, so neither side can see the other's later changes or outlive the other's buffer. The
row stride is handled explicitly: a QImage pads each row to a multiple of 4 bytes, a numpy array does not.

Arrays are ``uint8``: (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA (straight, not premultiplied, alpha).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PySide6.QtGui import QImage

_FORMAT_FOR_CHANNELS = {
    1: QImage.Format.Format_Grayscale8,
    3: QImage.Format.Format_RGB888,
    4: QImage.Format.Format_RGBA8888,
}


def array_to_qimage(pixels: npt.NDArray[np.uint8]) -> QImage:
    """Copy a ``uint8`` (H, W), (H, W, 3) or (H, W, 4) array into a new QImage."""
    if pixels.dtype != np.uint8:
        raise TypeError(f"expected a uint8 array, got {pixels.dtype}")
    if pixels.ndim == 2:
        channels = 1
    elif pixels.ndim == 3 and pixels.shape[2] in (3, 4):
        channels = pixels.shape[2]
    else:
        raise ValueError(f"expected shape (H, W), (H, W, 3) or (H, W, 4), got {pixels.shape}")
    height, width = pixels.shape[:2]
    if height == 0 or width == 0:
        raise ValueError(f"cannot convert an empty image of shape {pixels.shape}")

    image = QImage(width, height, _FORMAT_FOR_CHANNELS[channels])
    row_bytes = width * channels
    target = np.frombuffer(image.bits(), dtype=np.uint8, count=image.sizeInBytes())
    target = target.reshape(height, image.bytesPerLine())[:, :row_bytes]
    target[:] = pixels.reshape(height, row_bytes)
    return image


def qimage_to_array(image: QImage, channels: int = 3) -> npt.NDArray[np.uint8]:
    """Copy a QImage of any format into a new ``uint8`` array with 1 (grey), 3 (RGB) or 4 (RGBA) channels.

    Returns (H, W) for ``channels=1``, else (H, W, channels).
    """
    if channels not in _FORMAT_FOR_CHANNELS:
        raise ValueError(f"channels must be 1, 3 or 4, got {channels}")
    if image.isNull():
        raise ValueError("cannot convert a null QImage")
    converted = image.convertToFormat(_FORMAT_FOR_CHANNELS[channels])
    height, width = converted.height(), converted.width()
    row_bytes = width * channels
    source = np.frombuffer(converted.constBits(), dtype=np.uint8, count=converted.sizeInBytes())
    rows = source.reshape(height, converted.bytesPerLine())[:, :row_bytes]
    shape = (height, width) if channels == 1 else (height, width, channels)
    return rows.reshape(shape).copy()


def writable_view(image: QImage) -> npt.NDArray[np.uint8]:
    """A numpy view (no copy) of an 8-bit-per-sample QImage's pixels, for in-place edits of small regions.

    Only for ``Format_Alpha8``/``Format_Grayscale8`` (shape (H, W)) and ``Format_RGB32``/``Format_ARGB32*``
    (shape (H, W, 4), bytes in memory order B, G, R, A on little-endian machines). The view stays valid while
    ``image`` is alive and is not reassigned; taking it detaches the image from any implicit copy first, so
    edits never leak into a copy someone else holds.
    """
    depth = {
        QImage.Format.Format_Alpha8: 1,
        QImage.Format.Format_Grayscale8: 1,
        QImage.Format.Format_RGB32: 4,
        QImage.Format.Format_ARGB32: 4,
        QImage.Format.Format_ARGB32_Premultiplied: 4,
    }.get(image.format())
    if depth is None:
        raise ValueError(f"no writable view for QImage format {image.format()}")
    height, width = image.height(), image.width()
    buffer = np.frombuffer(image.bits(), dtype=np.uint8, count=image.sizeInBytes())  # bits() detaches
    rows = buffer.reshape(height, image.bytesPerLine())[:, : width * depth]
    return rows if depth == 1 else rows.reshape(height, width, depth)


def rgb_to_rgb32(pixels: npt.NDArray[np.uint8]) -> QImage:
    """Copy (H, W, 3) RGB pixels into a new ``Format_RGB32`` QImage: the format Qt draws fastest."""
    return array_to_qimage(pixels).convertToFormat(QImage.Format.Format_RGB32)


def paste_rgb(image: QImage, pixels: npt.NDArray[np.uint8], left: int, top: int) -> None:
    """Write (h, w, 3) RGB pixels into an ``RGB32`` QImage at (left, top), converting only that region."""
    view = writable_view(image)
    height, width = pixels.shape[:2]
    region = view[top : top + height, left : left + width]
    if np.little_endian:
        region[..., 0] = pixels[..., 2]
        region[..., 1] = pixels[..., 1]
        region[..., 2] = pixels[..., 0]
        region[..., 3] = 255
    else:  # pragma: no cover - big-endian machines store 0xAARRGGBB as A, R, G, B
        region[..., 0] = 255
        region[..., 1:] = pixels
