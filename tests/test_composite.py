"""The model frame around a photo, and blending a fill back without touching unmasked pixels."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.inpaint.composite import (
    FrameFit,
    apply_colour,
    auto_feather,
    blend_into,
    colour_transform,
    composite,
    estimate_grain,
    feather_alpha,
    fit_to_frame,
    frame_fit,
    frame_to_window,
    reduce_mask,
    ring_around,
    synthesize_grain,
    to_frame,
    unfit_from_frame,
)
from core.photo.read import read_image, read_mask

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
needs_samples = pytest.mark.usefixtures("samples_dir")  # fails (never skips) without ../shared/samples


def noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def smooth_photo(height: int, width: int) -> np.ndarray:
    """A photo-like image without pixel noise, so resampling round trips are nearly lossless."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = [128 + 100 * np.sin(x / 37 + c) * np.cos(y / 23 - c) for c in range(3)]
    photo: np.ndarray = np.clip(np.stack(channels, axis=2), 0, 255).astype(np.uint8)
    return photo


@pytest.mark.parametrize(
    ("height", "width"), [(400, 600), (451, 300), (300, 200), (1200, 900), (512, 512), (3, 1000)]
)
def test_fit_to_frame_keeps_the_aspect_ratio(height: int, width: int) -> None:
    image = smooth_photo(height, width)
    mask = np.zeros((height, width), np.uint8)
    mask[height // 3 : height // 2 + 1, width // 3 : width // 2 + 1] = 255
    frame_image, frame_mask, fit = fit_to_frame(image, mask, 512)

    assert frame_image.shape == (512, 512, 3) and frame_image.dtype == np.uint8
    assert frame_mask.shape == (512, 512) and frame_mask.dtype == np.uint8
    left, top, right, bottom = fit.content
    assert max(right - left, bottom - top) == 512
    assert (right - left) / (bottom - top) == pytest.approx(width / height, rel=0.02 + 1 / min(height, width))
    assert fit.image_shape == (height, width) and fit.frame == 512
    assert fit.scale == pytest.approx(512 / max(height, width), rel=0.02)
    # Padding never selects pixels to fill.
    outside = np.ones((512, 512), bool)
    outside[top:bottom, left:right] = False
    assert not frame_mask[outside].any() and frame_mask[top:bottom, left:right].any()


def test_padding_mirrors_the_photo_instead_of_black() -> None:
    image = smooth_photo(200, 400)
    frame_image, _, fit = fit_to_frame(image, np.zeros((200, 400), np.uint8), 400)
    left, top, right, bottom = fit.content
    assert (left, right) == (0, 400) and (top, bottom) == (100, 300)
    # BORDER_REFLECT_101: the row above the content mirrors the row below its first one.
    assert np.array_equal(frame_image[top - 1], frame_image[top + 1])
    assert np.array_equal(frame_image[0], frame_image[2 * top])
    assert frame_image[:top].mean() > 60  # not black


@pytest.mark.parametrize(("height", "width"), [(400, 600), (451, 300), (200, 300)])
def test_unfit_from_frame_restores_the_photo(height: int, width: int) -> None:
    image = smooth_photo(height, width)
    frame_image, _, fit = fit_to_frame(image, np.zeros((height, width), np.uint8), 512)
    restored = unfit_from_frame(frame_image, fit)
    assert restored.shape == image.shape and restored.dtype == np.uint8
    assert np.abs(restored.astype(int) - image.astype(int)).mean() < 2.0


def test_unfit_from_frame_checks_the_frame() -> None:
    fit = FrameFit((10, 20), 64, (0, 16, 64, 48))
    with pytest.raises(ValueError):
        unfit_from_frame(np.zeros((32, 32, 3), np.uint8), fit)


def test_thin_strokes_survive_the_frame() -> None:
    mask = np.zeros((2000, 3000), np.uint8)
    mask[1000, 100:2900] = 255  # one pixel high
    _, frame_mask, fit = fit_to_frame(np.zeros((2000, 3000, 3), np.uint8), mask, 512)
    assert frame_mask.max() == 255 and set(np.unique(frame_mask)) == {0, 255}
    assert frame_mask.any(axis=0).sum() >= 0.9 * 2800 * fit.scale


def test_composite_leaves_unmasked_pixels_bit_identical() -> None:
    original, fill = noise((120, 160, 3), seed=1), noise((120, 160, 3), seed=2)
    mask = np.zeros((120, 160), np.uint8)
    mask[30:90, 40:110] = 255
    mask[5, 5] = 128  # a lone pixel just at the threshold
    mask[100:110, 10:20] = 127  # grey just below the threshold: kept
    keep = mask < 128

    result = composite(original, fill, mask, feather_px=4)
    assert result.dtype == np.uint8 and result.shape == original.shape
    assert digest(result[keep]) == digest(original[keep])
    assert np.array_equal(result[50:70, 60:90], fill[50:70, 60:90])  # deep inside: the fill
    # On the ramp, a blend strictly between the two where they differ.
    edge = result[30, 60].astype(int), original[30, 60].astype(int), fill[30, 60].astype(int)
    expected = np.rint(edge[1] + 0.25 * (edge[2] - edge[1]))
    assert np.abs(edge[0] - expected).max() <= 1


def test_composite_with_no_feather_copies_masked_pixels() -> None:
    original, fill = noise((40, 50, 3), seed=3), noise((40, 50, 3), seed=4)
    mask = noise((40, 50), seed=5)
    expected = np.where((mask >= 128)[:, :, None], fill, original)
    assert np.array_equal(composite(original, fill, mask, feather_px=0), expected)
    empty = np.zeros((40, 50), np.uint8)
    assert np.array_equal(composite(original, fill, empty, feather_px=3), original)


def test_composite_on_the_mask_box_equals_the_whole_photo_computation() -> None:
    original, fill = noise((90, 110, 3), seed=6), noise((90, 110, 3), seed=7)
    mask = np.zeros((90, 110), np.uint8)
    mask[0:40, 70:110] = 255  # touches two photo edges
    mask[60:80, 10:30] = 255
    alpha = feather_alpha(mask, 5)[:, :, None]
    whole = np.rint(original + alpha * (fill.astype(np.float32) - original)).astype(np.uint8)
    assert np.array_equal(composite(original, fill, mask, feather_px=5), whole)
    # The photo's own edges are not mask borders: full weight right at the edge, deep enough inside.
    assert alpha[0, 105, 0] == 1.0 and alpha[10, 70, 0] == pytest.approx(0.2)


def test_feather_alpha_ramps_inside_the_mask_only() -> None:
    mask = np.zeros((30, 30), np.uint8)
    mask[5:25, 5:25] = 255
    alpha = feather_alpha(mask, 3)
    assert alpha.dtype == np.float32
    assert np.all(alpha[mask < 128] == 0)
    assert (
        alpha[15, 5] == pytest.approx(1 / 3) and alpha[15, 6] == pytest.approx(2 / 3) and alpha[15, 7] == 1.0
    )
    assert np.array_equal(feather_alpha(mask, 0), (mask >= 128).astype(np.float32))


def test_composite_checks_shapes() -> None:
    with pytest.raises(ValueError):
        composite(noise((4, 4, 3)), noise((4, 5, 3)), np.zeros((4, 4), np.uint8), feather_px=1)
    with pytest.raises(ValueError):
        composite(noise((4, 4, 3)), noise((4, 4, 3)), np.zeros((4, 5), np.uint8), feather_px=1)


def test_auto_feather_follows_the_scale() -> None:
    assert auto_feather((512, 512), 512) == 3.0
    assert auto_feather((3000, 4000, 3), 512) == pytest.approx(3 * 4000 / 512)
    assert auto_feather((100, 50), 512) == 1.0


@needs_samples
@pytest.mark.parametrize("name", ["coffee.png", "chelsea.png", "rocket.jpg", "astronaut.png"])
def test_frame_round_trip_on_samples_keeps_unmasked_pixels(name: str) -> None:
    photo = read_image(SAMPLES / name)
    mask = read_mask(SAMPLES / (Path(name).stem + "_mask.png"))
    frame_image, frame_mask, fit = fit_to_frame(photo.pixels, mask, 512)
    fake_model_output = frame_image.copy()
    fake_model_output[frame_mask > 0] = (0, 255, 0)
    fill = unfit_from_frame(fake_model_output, fit)
    result = composite(photo.pixels, fill, mask, feather_px=auto_feather(mask.shape, 512))
    keep = mask < 128
    assert digest(result[keep]) == digest(photo.pixels[keep])
    assert result[mask >= 128][:, 1].mean() > 200  # the fill arrived where the mask is


# -- helpers of the region runner ---------------------------------------------------------------------------


@pytest.mark.parametrize(("height", "width"), [(400, 600), (1200, 900), (300, 200), (512, 512)])
def test_frame_to_window_matches_unfit_and_maps_parts(height: int, width: int) -> None:
    image = smooth_photo(height, width)
    frame_image, _, fit = fit_to_frame(image, np.zeros((height, width), np.uint8), 512)
    whole = frame_to_window(frame_image, fit, (0, 0, width, height))
    assert whole.dtype == np.float32 and whole.shape == (height, width, 3)
    assert np.abs(whole - image).mean() < 2.0
    assert np.abs(whole - unfit_from_frame(frame_image, fit)).mean() < 1.5
    # A part is the same as the part of the whole, and may reach past the window's edge.
    part = frame_to_window(frame_image, fit, (width // 3, height // 4, width // 2, height // 2))
    assert np.allclose(part, whole[height // 4 : height // 2, width // 3 : width // 2], atol=0.01)
    outside = frame_to_window(frame_image, fit, (-2, -2, 3, 3))
    assert outside.shape == (5, 5, 3)


def test_frame_fit_and_to_frame_agree_with_fit_to_frame() -> None:
    image, mask = smooth_photo(300, 700), np.zeros((300, 700), np.uint8)
    mask[100:120, 200:400] = 255
    frame_image, frame_mask, fit = fit_to_frame(image, mask, 512)
    assert frame_fit((300, 700), 512) == fit
    again_image, again_mask = to_frame(image, mask, fit)
    assert np.array_equal(again_image, frame_image) and np.array_equal(again_mask, frame_mask)


@pytest.mark.parametrize("shape", [(100, 150), (333, 500), (1000, 1500), (7, 3), (2000, 700)])
def test_reduce_mask_keeps_every_speck(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(11)
    mask = np.where(rng.random((1000, 1500)) < 0.001, 255, 0).astype(np.uint8)
    mask[500, :] = 255  # a one-pixel stroke
    mask[rng.random((1000, 1500)) < 0.01] = 127  # below the threshold
    reduced = reduce_mask(mask, shape)
    assert reduced.shape == shape and set(np.unique(reduced)) <= {0, 255}
    # Every filled pixel lands in a filled new pixel (specks and strokes survive) ...
    ys, xs = np.nonzero(mask >= 128)
    if shape[0] <= 1000:
        row_of = np.searchsorted((np.arange(shape[0]) * 1000) // shape[0], ys, side="right") - 1
        column_of = np.searchsorted((np.arange(shape[1]) * 1500) // shape[1], xs, side="right") - 1
        assert np.all(reduced[row_of, column_of] == 255)
    # ... and no new pixel is filled without a filled old pixel nearby.
    reach_y, reach_x = -(-1000 // shape[0]), -(-1500 // shape[1])  # one footprint in each direction
    grown = cv2.dilate((mask >= 128).astype(np.uint8), np.ones((2 * reach_y + 1, 2 * reach_x + 1), np.uint8))
    ry, rx = np.nonzero(reduced)
    assert np.all(grown[np.minimum(999, ry * 1000 // shape[0]), np.minimum(1499, rx * 1500 // shape[1])])
    view = mask[100:900, 200:1300]  # works on views without copying them whole
    assert np.array_equal(reduce_mask(view, (80, 110)), reduce_mask(np.ascontiguousarray(view), (80, 110)))


def test_blend_into_writes_only_where_the_weight_is_positive() -> None:
    target, fill = noise((30, 40, 3), seed=1), noise((30, 40, 3), seed=2).astype(np.float32)
    alpha = np.zeros((30, 40), np.float32)
    alpha[10:20, 5:15] = 1.0
    alpha[10:20, 15:25] = 0.5
    fill[0, 0] = np.nan  # never read where the weight is 0
    before = target.copy()
    blend_into(target, fill, alpha)
    assert np.array_equal(target[alpha == 0], before[alpha == 0])
    assert np.array_equal(target[10:20, 5:15], fill[10:20, 5:15].astype(np.uint8))
    half = np.rint(before[10:20, 15:25] + 0.5 * (fill[10:20, 15:25] - before[10:20, 15:25]))
    assert np.array_equal(target[10:20, 15:25], half.astype(np.uint8))


def test_ring_around_leaves_a_gap_and_stops_at_the_outer_distance() -> None:
    hole = np.zeros((50, 50), bool)
    hole[20:30, 20:30] = True
    ring = ring_around(hole, 2, 5)
    assert not ring[hole].any()
    assert not ring[19, 25] and not ring[18, 25] and ring[17, 25] and ring[15, 25] and not ring[14, 25]


def test_colour_transform_matches_mean_and_bounded_contrast() -> None:
    rng = np.random.default_rng(12)
    reference = rng.normal(100, 20, (60, 60, 3)).astype(np.float32)
    produced = reference * 1.1 + 15  # brighter and a little more contrasty
    where = np.ones((60, 60), bool)
    gain, offset = colour_transform(reference, produced, where)
    corrected = apply_colour(produced, gain, offset, 1.0)
    assert np.allclose(corrected.mean(axis=(0, 1)), reference.mean(axis=(0, 1)), atol=0.05)
    assert np.allclose(gain, 1 / 1.1, atol=1e-3)
    assert np.array_equal(apply_colour(produced, gain, offset, 0.0), produced)
    # Too few pixels: no change. Wildly different contrast: the gain is capped.
    assert np.array_equal(colour_transform(reference, produced, np.zeros((60, 60), bool))[0], np.ones(3, np.float32))
    assert np.all(colour_transform(reference, produced * 3, where)[0] >= 0.8 - 1e-6)


def test_grain_is_measured_and_only_the_missing_part_is_added() -> None:
    rng = np.random.default_rng(13)
    noisy = (128 + rng.normal(0, 6, (200, 200, 1)) + rng.normal(0, 2, (200, 200, 3))).astype(np.float32)
    where = np.ones((200, 200), bool)
    grain = estimate_grain(noisy, where)
    assert grain is not None
    assert np.allclose(grain.sigma, np.sqrt(6**2 + 2**2), rtol=0.12)
    assert 0.75 < grain.correlation < 0.98  # mostly luminance grain
    assert estimate_grain(noisy, np.zeros((200, 200), bool)) is None
    added = synthesize_grain((300, 300), grain, None, np.random.default_rng(1))
    assert np.allclose(added.std(axis=(0, 1)), grain.sigma, rtol=0.05)
    assert np.all(synthesize_grain((10, 10), grain, grain, np.random.default_rng(1)) == 0)


def test_fill_alpha_is_the_feather_times_the_masks_weight() -> None:
    from core.inpaint.composite import fill_alpha
    from core.photo.mask import fill_region, fill_weights

    mask = np.zeros((30, 30), np.uint8)
    mask[5:25, 5:25] = 255
    region, weights = fill_region(mask), fill_weights(mask)
    assert np.array_equal(fill_alpha(region, weights, 3), feather_alpha(mask, 3))  # 0/255: exactly as before
    soft = mask.copy()
    soft[5:25, 5:8] = 128  # a half-weight band along the left edge
    alpha = fill_alpha(fill_region(soft), fill_weights(soft), 3)
    assert alpha[15, 5] == pytest.approx(feather_alpha(mask, 3)[15, 5] * fill_weights(soft)[15, 5])
    assert alpha[15, 7] == pytest.approx(fill_weights(soft)[15, 7]) and alpha[15, 15] == 1.0
    assert np.all(alpha[~fill_region(soft)] == 0)
