"""The model frame around a photo, and blending a fill back without touching unmasked pixels."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from core.composite import FrameFit, auto_feather, composite, feather_alpha, fit_to_frame, unfit_from_frame
from core.imageio import read_image, read_mask

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"sample photos not found in {SAMPLES}")


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
