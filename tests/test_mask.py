"""Masks: binarizing, stretching to the photo, and the checks that refuse unusable masks."""

from __future__ import annotations

import numpy as np
import pytest

from core.common.errors import EmptyMaskError, MaskError, MaskSizeMismatchError
from core.photo.mask import binarize, check_mask, fit_mask, mask_bbox


def test_binarize_fills_from_128() -> None:
    mask = np.array([[0, 127, 128, 255]], np.uint8)
    assert binarize(mask).tolist() == [[False, False, True, True]]
    assert binarize(mask, threshold=1).tolist() == [[False, True, True, True]]


def test_fit_mask_enlarges_with_nearest_neighbours() -> None:
    mask = np.array([[255, 0], [0, 200]], np.uint8)
    fitted = fit_mask(mask, (4, 6))
    assert fitted.shape == (4, 6) and set(np.unique(fitted)) == {0, 255}
    assert fitted[:2, :3].min() == 255 and fitted[2:, 3:].min() == 255 and fitted[:2, 3:].max() == 0


def test_fit_mask_keeps_one_pixel_strokes_when_shrinking() -> None:
    mask = np.zeros((1000, 1500), np.uint8)
    mask[:, 777] = 255  # a one-pixel vertical scratch
    mask[333, :] = 255  # and a horizontal one
    fitted = fit_mask(mask, (100, 150))
    assert fitted.shape == (100, 150)
    assert np.all(fitted[:, 77] == 255) and np.all(fitted[33, :] == 255)
    assert int((fitted > 0).sum()) <= 2 * (100 + 150)  # grows by at most one new pixel


def test_fit_mask_at_the_same_size_only_binarizes() -> None:
    mask = np.array([[10, 130], [128, 127]], np.uint8)
    assert fit_mask(mask, (2, 2)).tolist() == [[0, 255], [255, 0]]
    with pytest.raises(ValueError):
        fit_mask(mask, (0, 3))


def test_check_mask_accepts_a_matching_mask_as_is() -> None:
    mask = np.zeros((4, 6), np.uint8)
    mask[1, 2] = 200
    assert check_mask(mask, (4, 6, 3)) is mask


def test_check_mask_refuses_another_size_and_offers_fit_mask() -> None:
    mask = np.full((300, 200), 255, np.uint8)
    with pytest.raises(MaskSizeMismatchError) as refused:
        check_mask(mask, (400, 600, 3))
    text = refused.value.user_message()
    assert "200×300" in text and "600×400" in text and "--fit-mask" in text
    assert check_mask(mask, (400, 600, 3), fit=True).shape == (400, 600)


def test_check_mask_refuses_empty_masks() -> None:
    for mask in (np.zeros((5, 5), np.uint8), np.full((5, 5), 127, np.uint8)):
        with pytest.raises(EmptyMaskError, match="nothing to fill"):
            check_mask(mask, (5, 5))
    with pytest.raises(EmptyMaskError):
        check_mask(np.zeros((2, 2), np.uint8), (4, 4), fit=True)


def test_check_mask_refuses_other_array_kinds() -> None:
    with pytest.raises(MaskError):
        check_mask(np.zeros((5, 5, 3), np.uint8), (5, 5))
    with pytest.raises(MaskError):
        check_mask(np.ones((5, 5), np.float32), (5, 5))


def test_mask_bbox() -> None:
    mask = np.zeros((10, 20), np.uint8)
    assert mask_bbox(mask) is None
    mask[3, 4] = 255
    mask[6, 15] = 128
    mask[9, 19] = 100  # below the threshold
    assert mask_bbox(mask) == (4, 3, 16, 7)
    assert mask_bbox(mask, threshold=100) == (4, 3, 20, 10)


def test_fill_weights_read_mask_values_as_opacity() -> None:
    from core.photo.mask import SOFT_FLOOR, SOFT_FULL, fill_weights

    values = np.arange(256, dtype=np.uint8)
    weights = fill_weights(values)
    assert weights.dtype == np.float32 and weights.shape == (256,)
    assert np.all(weights[:SOFT_FLOOR] == 0.0)  # JPEG noise in a black mask counts for nothing
    assert np.all(weights[SOFT_FULL:] == 1.0)  # a white that went through JPEG is still full
    ramp = weights[SOFT_FLOOR - 1 : SOFT_FULL + 1]
    assert np.all(np.diff(ramp) > 0) and np.allclose(np.diff(ramp), np.diff(ramp)[0])  # linear in between
    assert weights[128] == pytest.approx(0.5, abs=0.01)
    assert fill_weights(np.array([[0, 255]], np.uint8)).tolist() == [[0.0, 1.0]]


def test_fill_region_keeps_soft_marks_connected_to_a_strong_pixel() -> None:
    from core.photo.mask import detached_marks, fill_region, has_soft_pixels, soft_fill

    mask = np.zeros((12, 16), np.uint8)
    mask[2:5, 2:5] = 255  # a strong core
    mask[5, 5] = 60  # soft, touching it diagonally
    mask[6, 6] = 20  # soft, touching only the soft pixel before it
    mask[7, 7] = 5  # below the floor: neither counts nor connects
    mask[8, 8] = 90  # so this one is cut off
    mask[10, 12:15] = 100  # a faint mark on its own
    mask[0, 15] = 7  # JPEG noise
    region = fill_region(mask)
    expected = np.zeros_like(region)
    expected[2:5, 2:5] = expected[5, 5] = expected[6, 6] = True
    assert np.array_equal(region, expected)
    rows, columns = detached_marks(mask)
    assert sorted(zip(rows.tolist(), columns.tolist(), strict=True)) == [(8, 8), (10, 12), (10, 13), (10, 14)]
    region_again, weights = soft_fill(mask)
    assert np.array_equal(region_again, region) and np.all(weights[~region] == 0) and weights[3, 3] == 1.0
    assert 0 < weights[6, 6] < weights[5, 5] < 1
    # A 0/255 mask has no soft pixels: its region is its white pixels, found without labelling anything.
    binary = np.where(mask >= 128, np.uint8(255), np.uint8(0))
    assert not has_soft_pixels(binary) and has_soft_pixels(mask)
    assert detached_marks(binary)[0].size == 0 and np.array_equal(fill_region(binary), binary == 255)
    # Views into a larger mask work the same.
    wide = np.zeros((20, 40), np.uint8)
    wide[4:16, 10:26] = mask
    assert np.array_equal(fill_region(wide[4:16, 10:26]), region)


def test_a_mask_of_faint_marks_only_is_empty() -> None:
    faint = np.zeros((6, 6), np.uint8)
    faint[1:4, 1:4] = 120
    with pytest.raises(EmptyMaskError):
        check_mask(faint, (6, 6))
    from core.photo.mask import fill_region

    assert not fill_region(faint).any()
