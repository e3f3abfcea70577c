"""The built-in classic engine: fills the mask, leaves everything else exactly as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.common.cancel import CancelToken
from core.common.errors import CancelledError, EmptyMaskError
from core.common.progress import ProgressEvent
from core.inpaint.classic import MAX_RADIUS, MIN_RADIUS, ClassicEngine, frame_inpainter, inpaint_radius
from core.inpaint.engine import load_engine
from core.inpaint.plan import TILE, plan_regions
from core.job.request import InpaintRequest
from core.job.settings import JobSettings
from core.photo.read import read_image, read_mask

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
needs_samples = pytest.mark.usefixtures("samples_dir")  # fails (never skips) without ../shared/samples


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

    assert result.engine == "classic" and result.seed is None and result.timings["model"] > 0
    assert result.image.shape == photo.pixels.shape and result.image.dtype == np.uint8
    keep = mask < 128
    assert np.array_equal(result.image[keep], photo.pixels[keep])
    assert not np.array_equal(result.image[~keep], photo.pixels[~keep])
    assert [(e.stage, e.step, e.total) for e in events] == [("window", 0, 1), ("window", 1, 1)]
    assert result.plan is not None and len(result.plan.windows) == 1 and result.plan.frame is None


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


def test_distant_spots_are_filled_in_separate_native_windows() -> None:
    image = striped_photo(2000, 3000)
    mask = np.zeros((2000, 3000), np.uint8)
    mask[100:120, 100:140] = 255
    mask[1800:1830, 2800:2850] = 255
    result = ClassicEngine().inpaint(InpaintRequest(image, mask))
    assert result.plan is not None and len(result.plan.windows) == 2
    assert all(w.scale == 1.0 and w.rect.width < 200 for w in result.plan.windows)
    changed = (result.image != image).any(axis=2)
    assert changed.any() and not (changed & (mask < 128)).any()


def test_grain_match_gives_the_smooth_fill_the_photos_grain() -> None:
    rng = np.random.default_rng(9)
    image = np.clip(120 + rng.normal(0, 7, (300, 300, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((300, 300), np.uint8)
    mask[100:200, 100:200] = 255
    plain = ClassicEngine().inpaint(InpaintRequest(image, mask)).image
    settings = JobSettings(grain_match=True, seed=3)
    grainy = ClassicEngine().inpaint(InpaintRequest(image, mask, settings)).image
    inner = (slice(120, 180), slice(120, 180))
    assert plain[inner].astype(float).std() < grainy[inner].astype(float).std()
    assert 5.0 < grainy[inner].astype(float).std() < 9.0
    assert np.array_equal(grainy[mask < 128], image[mask < 128])


def test_frame_stand_in_fills_windows_and_passes_tiles_through() -> None:
    mask = np.zeros((2400, 3600), np.uint8)
    mask[100:2300, 100:1700] = 255
    plan = plan_regions(mask, frame=512)
    fill = frame_inpainter(plan)
    frame = striped_photo(512, 512)
    hole = np.zeros((512, 512), np.uint8)
    hole[200:300, 200:300] = 255
    tile_index = next(w.index for w in plan.windows if w.kind == TILE)
    assert np.array_equal(fill(frame, hole, tile_index), frame)
    filled = fill(frame, hole, 0)
    assert not np.array_equal(filled[200:300, 200:300], frame[200:300, 200:300])
    assert np.array_equal(filled[hole < 128], frame[hole < 128])
