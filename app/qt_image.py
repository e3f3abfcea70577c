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
