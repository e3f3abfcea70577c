from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage

from app.qt_image import array_to_qimage, qimage_to_array

pytestmark = pytest.mark.usefixtures("qapp")


@pytest.mark.parametrize("width", [1, 3, 5, 7, 64])  # odd widths force padded QImage rows
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_round_trip_is_exact(width: int, channels: int) -> None:
    rng = np.random.default_rng(width * 10 + channels)
    shape = (5, width) if channels == 1 else (5, width, channels)
    pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
    image = array_to_qimage(pixels)
    assert (image.width(), image.height()) == (width, 5)
    back = qimage_to_array(image, channels=channels)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, pixels)


def test_pixel_order_is_rgb() -> None:
    pixels = np.zeros((2, 3, 3), dtype=np.uint8)
    pixels[1, 2] = (10, 20, 30)
    image = array_to_qimage(pixels)
    assert image.pixelColor(2, 1) == QColor(10, 20, 30)


def test_conversions_copy() -> None:
    pixels = np.full((4, 4, 3), 7, dtype=np.uint8)
    image = array_to_qimage(pixels)
    pixels[:] = 200
    assert image.pixelColor(0, 0) == QColor(7, 7, 7)
    back = qimage_to_array(image)
    image.fill(QColor(1, 2, 3))
    assert back[0, 0].tolist() == [7, 7, 7]


def test_non_contiguous_arrays_are_accepted() -> None:
    pixels = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    view = pixels[::2, ::3]
    np.testing.assert_array_equal(qimage_to_array(array_to_qimage(view)), view)


def test_any_qimage_format_converts_to_rgb() -> None:
    image = QImage(3, 2, QImage.Format.Format_ARGB32)
    image.fill(QColor(255, 128, 0))
    rgb = qimage_to_array(image)
    assert rgb.shape == (2, 3, 3)
    assert rgb[1, 2].tolist() == [255, 128, 0]
    assert qimage_to_array(image, channels=1).shape == (2, 3)


@pytest.mark.parametrize(
    ("pixels", "error"),
    [
        (np.zeros((4, 4), dtype=np.float32), TypeError),
        (np.zeros((4, 4, 2), dtype=np.uint8), ValueError),
        (np.zeros((4,), dtype=np.uint8), ValueError),
        (np.zeros((0, 4, 3), dtype=np.uint8), ValueError),
    ],
)
def test_bad_arrays_are_rejected(pixels: np.ndarray, error: type[Exception]) -> None:
    with pytest.raises(error):
        array_to_qimage(pixels)


def test_bad_qimage_requests_are_rejected() -> None:
    with pytest.raises(ValueError):
        qimage_to_array(QImage())
    with pytest.raises(ValueError):
        qimage_to_array(QImage(2, 2, QImage.Format.Format_RGB888), channels=2)


def test_writable_view_edits_the_image_in_place() -> None:
    from app.qt_image import writable_view

    image = QImage(7, 3, QImage.Format.Format_Alpha8)  # 7 bytes a row, padded to 8
    image.fill(0)
    view = writable_view(image)
    assert view.shape == (3, 7)
    view[1, 2:5] = 200
    assert image.pixelColor(3, 1).alpha() == 200 and image.pixelColor(3, 0).alpha() == 0


def test_writable_view_does_not_leak_into_copies() -> None:
    from app.qt_image import writable_view

    image = QImage(4, 4, QImage.Format.Format_Alpha8)
    image.fill(0)
    copy = QImage(image)  # an implicit (shared) copy
    writable_view(image)[:] = 255
    assert copy.pixelColor(0, 0).alpha() == 0


def test_rgb32_conversion_and_partial_paste() -> None:
    from app.qt_image import paste_rgb, rgb_to_rgb32

    pixels = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)
    image = rgb_to_rgb32(pixels)
    assert np.array_equal(qimage_to_array(image), pixels)
    patch = np.full((2, 3, 3), (10, 20, 30), dtype=np.uint8)
    paste_rgb(image, patch, 2, 1)
    expected = pixels.copy()
    expected[1:3, 2:5] = (10, 20, 30)
    assert np.array_equal(qimage_to_array(image), expected)
