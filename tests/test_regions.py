"""Running a plan: only mask pixels change, colour and grain are matched, tiles blend without seams."""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.common.cancel import CancelToken
from core.common.errors import CancelledError
from core.common.progress import ProgressEvent
from core.inpaint.classic import frame_inpainter
from core.inpaint.plan import GLOBAL, TILE, WINDOW, plan_regions
from core.inpaint.regions import BlendOptions, run_plan
from core.photo.read import read_image, read_mask

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
needs_samples = pytest.mark.usefixtures("samples_dir")  # fails (never skips) without ../shared/samples


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def smooth_photo(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = [128 + 90 * np.sin(x / 97 + c) * np.cos(y / 71 - c) for c in range(3)]
    return np.clip(np.stack(channels, axis=2), 0, 255).astype(np.uint8)


def box_mask(height: int, width: int, *boxes: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    for left, top, right, bottom in boxes:
        mask[top:bottom, left:right] = 255
    return mask


def flat_fill(value: int):  # type: ignore[no-untyped-def]
    """A stand-in model that paints every hole in one grey value and keeps the rest of the frame."""

    def inpaint(image: np.ndarray, mask: np.ndarray, index: int) -> np.ndarray:
        out = image.copy()
        out[mask >= 128] = value
        return out

    return inpaint


@needs_samples
@pytest.mark.parametrize("name", ["coffee.png", "chelsea.png", "rocket.jpg", "astronaut.png"])
def test_samples_change_only_under_the_mask(name: str) -> None:
    photo = read_image(SAMPLES / name)
    mask = read_mask(SAMPLES / f"{Path(name).stem}_mask.png")
    plan = plan_regions(mask, frame=512)
    run = run_plan(photo.pixels, mask, plan, frame_inpainter(plan), options=BlendOptions(grain_match=True))
    keep = mask < 128
    assert digest(run.image[keep]) == digest(photo.pixels[keep])
    assert not np.array_equal(run.image[~keep], photo.pixels[~keep])
    assert set(run.timings) == {"prepare", "model", "composite"}


@pytest.mark.parametrize(
    "box", [(0, 0, 60, 50), (1940, 0, 2000, 40), (0, 1450, 80, 1500), (1900, 1400, 2000, 1500), (900, 0, 1000, 30)]
)
def test_masks_at_borders_and_corners(box: tuple[int, int, int, int]) -> None:
    photo = smooth_photo(1500, 2000)
    mask = box_mask(1500, 2000, box)
    plan = plan_regions(mask, frame=512)
    run = run_plan(photo, mask, plan, flat_fill(30))
    keep = mask < 128
    assert digest(run.image[keep]) == digest(photo[keep])
    left, top, right, bottom = box
    # Full weight right up to the photo's edge (photo edges are not mask borders), a soft ramp inside.
    deep = run.image[top + 4 : bottom - 4, left + 4 : right - 4] if bottom - top > 8 else run.image[mask >= 128]
    assert np.abs(deep.astype(int) - 30).max() <= 1


def test_two_distant_masks_are_filled_by_their_own_windows() -> None:
    photo = smooth_photo(3000, 4000)
    mask = box_mask(3000, 4000, (200, 200, 300, 260), (3500, 2600, 3600, 2700))
    plan = plan_regions(mask, frame=512)
    calls: list[tuple[int, tuple[int, ...]]] = []
    events: list[ProgressEvent] = []

    def recording(image: np.ndarray, frame_mask: np.ndarray, index: int) -> np.ndarray:
        calls.append((index, image.shape))
        return flat_fill(10 + 200 * index)(image, frame_mask, index)

    run = run_plan(photo, mask, plan, recording, progress=events.append)
    assert [w.kind for w in plan.windows] == [WINDOW, WINDOW]
    assert calls == [(0, (512, 512, 3)), (1, (512, 512, 3))]
    assert [(e.stage, e.step, e.total) for e in events] == [("window", 0, 2), ("window", 1, 2), ("window", 2, 2)]
    assert abs(int(run.image[230, 250, 0]) - 10) <= 1 and abs(int(run.image[2650, 3550, 0]) - 210) <= 1
    keep = mask < 128
    assert digest(run.image[keep]) == digest(photo[keep])


def test_colour_match_removes_the_models_colour_drift() -> None:
    photo = np.full((800, 800, 3), (90, 120, 150), np.uint8)
    mask = box_mask(800, 800, (350, 350, 450, 450))
    plan = plan_regions(mask, frame=512)

    def drifting(image: np.ndarray, frame_mask: np.ndarray, index: int) -> np.ndarray:
        # The model reproduces the photo 25 levels too bright everywhere, its fill included.
        out = image.astype(np.int32) + 25
        out[frame_mask >= 128] = np.array((90, 120, 150)) + 25
        return np.clip(out, 0, 255).astype(np.uint8)

    def centre(options: BlendOptions) -> np.ndarray:
        return run_plan(photo, mask, plan, drifting, options=options).image[400, 400].astype(int)

    assert np.abs(centre(BlendOptions()) - (90, 120, 150)).max() <= 1
    assert np.abs(centre(BlendOptions(colour_match_strength=0.5)) - (102, 132, 162)).max() <= 1
    assert np.abs(centre(BlendOptions(colour_match=False)) - (115, 145, 175)).max() <= 1


def test_grain_match_gives_a_clean_fill_the_photos_grain() -> None:
    rng = np.random.default_rng(3)
    photo = np.clip(128 + rng.normal(0, 8, (900, 900, 3)), 0, 255).astype(np.uint8)
    mask = box_mask(900, 900, (300, 300, 600, 600))
    plan = plan_regions(mask, frame=512)
    clean = run_plan(photo, mask, plan, flat_fill(128), options=BlendOptions(colour_match=False)).image
    grainy = run_plan(photo, mask, plan, flat_fill(128), options=BlendOptions(colour_match=False, grain_match=True))
    inner = (slice(320, 580), slice(320, 580))
    assert clean[inner].std() < 1.0
    assert 6.5 < grainy.image[inner].astype(float).std() < 9.5
    assert abs(grainy.image[inner].astype(float).mean() - 128) < 1
    keep = mask < 128
    assert digest(grainy.image[keep]) == digest(photo[keep])
    # The same job gives the same grain.
    again = run_plan(photo, mask, plan, flat_fill(128), options=BlendOptions(colour_match=False, grain_match=True))
    assert np.array_equal(again.image, grainy.image)


def test_large_mask_is_refined_in_tiles_that_blend_without_seams() -> None:
    height, width = 1400, 1800
    photo = smooth_photo(height, width)
    mask = box_mask(height, width, (0, 0, 900, 1400))  # the left half of the photo
    plan = plan_regions(mask, frame=512)
    kinds = [w.kind for w in plan.windows]
    assert kinds[0] == GLOBAL and set(kinds[1:]) == {TILE} and len(kinds) > 3
    seen_in_tiles: list[float] = []

    def stand_in(image: np.ndarray, frame_mask: np.ndarray, index: int) -> np.ndarray:
        out = image.copy()
        if plan.windows[index].kind == TILE:
            # Tiles see the reduced-scale fill in the holes no tile refined yet; each paints its own value.
            seen_in_tiles.append(float(np.median(image[frame_mask >= 128][:, 0])))
        out[frame_mask >= 128] = 100 + 8 * index
        return out

    run = run_plan(photo, mask, plan, stand_in, options=BlendOptions(colour_match=False))
    keep = mask < 128
    assert digest(run.image[keep]) == digest(photo[keep])
    assert seen_in_tiles[0] == 100  # the first tile starts from the reduced-scale pass
    # Inside the mask, neighbouring pixels never jump although every tile differs: tiles fade in over their
    # overlap with the tiles before them.
    inner = run.image[:, :890, 0].astype(int)
    assert np.abs(np.diff(inner, axis=0)).max() <= 2 and np.abs(np.diff(inner, axis=1)).max() <= 2
    assert inner.max() - inner.min() >= 8  # the tiles really differ


def test_cancel_is_checked_between_windows() -> None:
    photo = smooth_photo(3000, 4000)
    mask = box_mask(3000, 4000, (200, 200, 300, 260), (3500, 2600, 3600, 2700))
    plan = plan_regions(mask, frame=512)
    token = CancelToken()
    calls: list[int] = []

    def cancelling(image: np.ndarray, frame_mask: np.ndarray, index: int) -> np.ndarray:
        calls.append(index)
        token.cancel()
        return image.copy()

    with pytest.raises(CancelledError):
        run_plan(photo, mask, plan, cancelling, cancel=token)
    assert calls == [0]


def test_wrong_frame_from_the_inpainter_is_refused() -> None:
    photo = smooth_photo(600, 600)
    mask = box_mask(600, 600, (200, 200, 260, 260))
    plan = plan_regions(mask, frame=512)
    with pytest.raises(ValueError, match="frame inpainter returned"):
        run_plan(photo, mask, plan, lambda image, frame_mask, index: image[:256, :256].copy())
    with pytest.raises(ValueError, match="plan is for"):
        run_plan(photo[:500], mask[:500], plan, flat_fill(0))


def test_sixty_megapixels_within_a_window_sized_memory_budget() -> None:
    # A 60 MP photo made by enlarging a small one, with a small and a large object to remove.
    small = smooth_photo(400, 600)
    photo = cv2.resize(small, (9600, 6400), interpolation=cv2.INTER_NEAREST)
    mask = box_mask(6400, 9600, (1000, 1200, 1090, 1300), (6000, 2000, 7100, 3400))
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        plan = plan_regions(mask, frame=512)
        run = run_plan(photo, mask, plan, frame_inpainter(plan))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [w.kind for w in plan.windows].count(GLOBAL) == 1 and len(plan.windows) > 3
    # The result is the only photo-sized array; everything else follows the windows. One float32 copy of
    # the photo alone would be 737 MB.
    photo_bytes = photo.nbytes
    assert peak - photo_bytes < 120 * 2**20, f"peak {peak / 2**20:.0f} MiB for a {photo_bytes / 2**20:.0f} MiB photo"
    keep = (slice(0, 6400, 7), slice(0, 9600, 7))  # a strided sample of the whole photo
    assert np.array_equal(run.image[keep][mask[keep] < 128], photo[keep][mask[keep] < 128])
    changed = np.any(run.image[1000:3500, 900:7200] != photo[1000:3500, 900:7200], axis=2)
    assert not (changed & (mask[1000:3500, 900:7200] < 128)).any()
    assert changed.any()


class RecordingPipeline:
    """Wraps a loaded pipeline and records the seed and strength of every frame it is asked to fill."""

    def __init__(self, pipeline: object) -> None:
        self.pipeline = pipeline
        self.calls: list[dict[str, object]] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.pipeline, name)

    def __call__(self, image: np.ndarray, mask: np.ndarray, **kwargs: object) -> np.ndarray:
        self.calls.append({"seed": kwargs["seed"], "strength": kwargs["strength"], "paste": kwargs["paste"]})
        return self.pipeline(image, mask, **kwargs)  # type: ignore[operator,no-any-return]


@pytest.fixture(scope="module")
def tiny_engine(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tiny_model import write_tiny_model

    from core.inpaint.moebius import MoebiusEngine

    root = tmp_path_factory.mktemp("models")
    write_tiny_model(root)
    return MoebiusEngine.from_model_dir(root / "moebius" / "ft_places2", device="cpu")


def test_moebius_runs_a_reduced_pass_and_tiles_with_one_seed_policy(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    from core.job.request import InpaintRequest
    from core.job.settings import JobSettings

    photo = smooth_photo(700, 1300)
    mask = box_mask(700, 1300, (400, 200, 780, 500))
    # A wide context margin makes the window too large for one frame: a reduced pass plus a native tile.
    settings = JobSettings(steps=2, seed=7, context_margin=340, grain_match=True)
    spy = RecordingPipeline(tiny_engine.pipeline)
    tiny_engine.pipeline = spy
    events: list[ProgressEvent] = []
    try:
        result = tiny_engine.inpaint(InpaintRequest(photo, mask, settings), progress=events.append)
    finally:
        tiny_engine.pipeline = spy.pipeline
    plan = result.plan
    assert plan is not None and [w.kind for w in plan.windows] == [GLOBAL, TILE]
    assert [c["seed"] for c in spy.calls] == [7, 8]
    assert [c["strength"] for c in spy.calls] == [settings.strength, settings.refine_strength]
    assert all(c["paste"] is False for c in spy.calls)
    windows = [(e.step, e.total) for e in events if e.stage == "window"]
    assert windows == [(0, 2), (1, 2), (2, 2)]
    assert {e.stage for e in events} >= {"encode", "denoise", "decode", "composite"}
    keep = mask < 128
    assert digest(result.image[keep]) == digest(photo[keep])
    assert not np.array_equal(result.image[~keep], photo[~keep])
    assert result.seed == 7 and result.timings["model"] > 0 and "plan" in result.timings


def test_moebius_cancel_stops_between_windows(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    from core.job.request import InpaintRequest
    from core.job.settings import JobSettings

    photo = smooth_photo(1200, 1600)
    mask = box_mask(1200, 1600, (100, 100, 160, 160), (1400, 1000, 1460, 1060))
    token = CancelToken()
    seen: list[int] = []

    def progress(event: ProgressEvent) -> None:
        if event.stage == "window":
            seen.append(event.step)
        if event.stage == "decode" and event.step == 1:
            token.cancel()  # the first window finishes, the second never starts

    with pytest.raises(CancelledError):
        tiny_engine.inpaint(InpaintRequest(photo, mask, JobSettings(steps=2)), progress=progress, cancel=token)
    assert seen == [0]


def test_a_soft_mask_is_filled_over_its_region_and_blended_by_its_weight() -> None:
    from core.photo.mask import fill_region, soft_fill

    photo = smooth_photo(700, 900)
    mask = np.asarray(cv2.GaussianBlur(box_mask(700, 900, (400, 300, 480, 360)), (0, 0), 6.0), np.uint8)
    # A faint mark in a corner of the stroke's box, connected to nothing: the model must not see it as a hole.
    rows, columns = np.nonzero(mask >= 8)
    corner = slice(rows.min(), rows.min() + 4), slice(columns.min(), columns.min() + 4)
    assert mask[rows.min() : rows.min() + 5, columns.min() : columns.min() + 5].max() < 8
    mask[corner] = 100
    region = fill_region(mask)
    assert not region[corner].any() and region.sum() > (mask >= 128).sum() * 1.3
    plan = plan_regions(mask, frame=512)
    (window,) = plan.windows
    holes: list[np.ndarray] = []

    def recording(image: np.ndarray, frame_mask: np.ndarray, index: int) -> np.ndarray:
        holes.append(frame_mask.copy())
        return flat_fill(30)(image, frame_mask, index)

    run = run_plan(photo, mask, plan, recording, options=BlendOptions(colour_match=False, feather_px=0.0))
    # 1. The model is asked to regenerate the whole region, soft edge included, and nothing else.
    assert window.scale == 1.0 and holes[0].shape == (512, 512)
    left, top = window.rect.left, window.rect.top
    expected = region[top : top + 512, left : left + 512]
    assert np.array_equal(holes[0] == 255, expected) and set(np.unique(holes[0])) == {0, 255}
    # 2. Each pixel is the photo moved its weight's share of the way to the fill; the rest is untouched.
    weight = soft_fill(mask)[1][:, :, None]  # 0 outside the region
    blended = np.rint(photo + weight * (np.float32(30) - photo.astype(np.float32)))
    assert np.abs(run.image.astype(np.float32) - blended).max() <= 1
    assert digest(run.image[~region]) == digest(photo[~region])
