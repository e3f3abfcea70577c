"""The built-in classic engine: fills the mask, leaves everything else exactly as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.cancel import CancelToken
from core.classic import MAX_RADIUS, MIN_RADIUS, ClassicEngine, inpaint_radius
from core.engine import load_engine
from core.errors import CancelledError, EmptyMaskError
from core.imageio import read_image, read_mask
from core.request import InpaintRequest, ProgressEvent

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"sample photos not found in {SAMPLES}")


def striped_photo(height: int, width: int) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[:, :, 0] = (np.arange(width) * 255 // max(width - 1, 1)).astype(np.uint8)
    image[::8, :, 1] = 200
    return image


@needs_samples
@pytest.mark.parametrize("name", ["coffee.png", "chelsea.png", "rocket.jpg", "astronaut.png"])
def test_fills_the_samples_and_keeps_the_rest(name: str) -> None:
    photo = read_image(SAMPLES / name)
    mask = read_mask(SAMPLES / (Path(name).stem + "_mask.png"))
    events: list[ProgressEvent] = []
    result = ClassicEngine().inpaint(InpaintRequest(photo.pixels, mask), progress=events.append)

    assert result.engine == "classic" and result.seed is None and result.timings["model"] >= 0
    assert result.image.shape == photo.pixels.shape and result.image.dtype == np.uint8
    keep = mask < 128
    assert np.array_equal(result.image[keep], photo.pixels[keep])
    assert not np.array_equal(result.image[~keep], photo.pixels[~keep])
    assert [(e.stage, e.step, e.total) for e in events] == [("classic", 0, 1), ("classic", 1, 1)]


def test_fill_continues_the_surroundings() -> None:
    image = np.full((60, 80, 3), 90, np.uint8)
    image[20:40, 30:50] = 255  # a bright blemish on a flat grey photo
    mask = np.zeros((60, 80), np.uint8)
    mask[18:42, 28:52] = 255
    result = ClassicEngine("ns").inpaint(InpaintRequest(image, mask)).image
    assert np.abs(result[18:42, 28:52].astype(int) - 90).max() <= 2


def test_large_photo_is_processed_around_the_mask_only() -> None:
    image = striped_photo(3000, 4000)
    mask = np.zeros((3000, 4000), np.uint8)
    mask[1500:1510, 2000:2040] = 255
    result = ClassicEngine().inpaint(InpaintRequest(image, mask)).image
    changed = (result != image).any(axis=2)
    assert changed.any() and not (changed & (mask < 128)).any()


def test_mask_at_the_photo_corner() -> None:
    image = striped_photo(50, 70)
    mask = np.zeros((50, 70), np.uint8)
    mask[:10, -12:] = 255
    result = ClassicEngine().inpaint(InpaintRequest(image, mask)).image
    assert np.array_equal(result[mask < 128], image[mask < 128])


def test_cancelled_before_start() -> None:
    token = CancelToken()
    token.cancel()
    events: list[ProgressEvent] = []
    mask = np.full((8, 8), 255, np.uint8)
    with pytest.raises(CancelledError):
        ClassicEngine().inpaint(InpaintRequest(striped_photo(8, 8), mask), events.append, token)
    assert events == []


def test_empty_mask_and_unknown_method_are_refused() -> None:
    with pytest.raises(EmptyMaskError):
        ClassicEngine().inpaint(InpaintRequest(striped_photo(8, 8), np.zeros((8, 8), np.uint8)))
    with pytest.raises(ValueError, match="telea"):
        ClassicEngine("magic")


def test_radius_follows_the_mask_thickness() -> None:
    thin = np.zeros((50, 50), bool)
    thin[25, 5:45] = True
    thick = np.zeros((200, 200), bool)
    thick[20:180, 20:180] = True
    assert inpaint_radius(thin) == MIN_RADIUS
    assert inpaint_radius(thick) == MAX_RADIUS
    assert inpaint_radius(np.ones((30, 30), bool)) >= MIN_RADIUS


def test_registry_builds_the_classic_engine() -> None:
    engine = load_engine("classic")
    assert isinstance(engine, ClassicEngine) and engine.name == "classic"
