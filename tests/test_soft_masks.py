"""Soft masks: a feathered mask value is the weight of the fill, not a cut at 128.

Strokes are painted with the editor's own brush (``stamp_soft_segment``), so these tests follow what a user
paints. The reference for a soft result is the same engine run on the *hard* version of its fill region: the
model sees the same holes in both runs, so a soft pixel must be the original moved ``w`` of the way to the
hard result, where ``w`` is the mask's weight there.
"""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPointF

from app.editor.mask_tools import stamp_soft_segment
from core.common.errors import EmptyMaskError
from core.inpaint.classic import ClassicEngine, frame_inpainter
from core.inpaint.plan import plan_regions
from core.inpaint.regions import BlendOptions, run_plan
from core.job.request import InpaintRequest
from core.job.settings import JobSettings
from core.photo.mask import SOFT_FLOOR, check_mask, fill_region, fill_weights
from core.photo.read import read_image, read_mask

HEIGHT, WIDTH = 300, 400
CENTRE = (200.0, 150.0)  # x, y of the brush stroke's middle
RADIUS = 40.0


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def scene(height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A textured photo with a bright object at the stroke, so that any fill differs clearly from it."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = [110 + 60 * np.sin(x / 23 + c) * np.cos(y / 17 - c) for c in range(3)]
    photo = np.stack(channels, axis=2)
    photo[(x - CENTRE[0]) ** 2 + (y - CENTRE[1]) ** 2 < 30**2] = (250, 240, 60)
    return np.asarray(np.clip(photo, 0, 255), np.uint8)


def stroke(hardness: float, *, radius: float = RADIUS, shape: tuple[int, int] = (HEIGHT, WIDTH)) -> np.ndarray:
    """A short brush stroke over the object, painted like the editor paints it."""
    mask = np.zeros(shape, np.uint8)
    x, y = CENTRE
    stamp_soft_segment(mask, QPointF(x - 15, y), QPointF(x + 15, y), radius, hardness)
    return mask


def hard_version(mask: np.ndarray) -> np.ndarray:
    """The fill region of ``mask`` as a 0/255 mask: the same holes, each filled with full weight."""
    return np.where(fill_region(mask), np.uint8(255), np.uint8(0))


def classic(photo: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return ClassicEngine().inpaint(InpaintRequest(photo, mask)).image


def assert_weighted_blend(photo: np.ndarray, soft: np.ndarray, hard: np.ndarray, mask: np.ndarray) -> None:
    """Every pixel of ``soft`` is ``photo`` moved ``w`` of the way to ``hard`` (±1 for rounding)."""
    weight = fill_weights(mask)[:, :, None]
    base = photo.astype(np.float32)
    expected = np.rint(base + weight * (hard.astype(np.float32) - base))
    assert np.abs(soft.astype(np.float32) - expected).max() <= 1.0


def assert_monotone_across_the_edge(photo: np.ndarray, soft: np.ndarray, hard: np.ndarray, mask: np.ndarray) -> None:
    """Along the row through the stroke, from its core out over the soft edge, the share of the hard fill in
    the soft result falls with the mask's weight, from all of it to none."""
    row, first = int(CENTRE[1]), int(CENTRE[0]) + 15
    line = slice(first, first + int(RADIUS) + 3)
    photo_line = photo[row, line].astype(np.float32)
    change = hard[row, line].astype(np.float32) - photo_line
    channel = np.argmax(np.abs(change), axis=1)  # the channel the fill changes most, per pixel
    pick = np.arange(channel.size), channel
    useful = np.abs(change[pick]) >= 20  # a share is only measurable where the fill differs clearly
    share = (soft[row, line].astype(np.float32)[pick] - photo_line[pick])[useful] / change[pick][useful]
    weight = fill_weights(mask[row, line])[useful]
    assert useful.sum() >= 10 and np.all(np.diff(weight) <= 0)  # the brush fades out along the row
    assert np.all(np.diff(share) <= 0.1)  # …and so does the fill, within rounding
    assert share[0] == pytest.approx(1.0, abs=0.05)
    assert np.all(np.abs(share - weight) <= 0.1)


def test_the_brush_hardness_changes_the_classic_fill_and_the_soft_edge_blends() -> None:
    photo = scene()
    soft_mask, hard_mask = stroke(0.0), stroke(1.0)
    assert len(np.unique(soft_mask)) > 100 and set(np.unique(hard_mask)) == {0, 255}
    soft = classic(photo, soft_mask)
    hard = classic(photo, hard_version(soft_mask))
    # 1. Hardness matters: the soft stroke fades the fill out where the hard one covers it fully.
    assert not np.array_equal(soft, classic(photo, hard_mask))
    # 2. Only the region changes; the rest of the photo is bit-identical (weight 0 there).
    region = fill_region(soft_mask)
    assert digest(soft[~region]) == digest(photo[~region])
    assert np.any(soft[region] != photo[region])
    # 3. In the region, a blend of the photo and the hard fill by the mask's weight, monotone across the edge.
    assert_weighted_blend(photo, soft, hard, soft_mask)
    assert_monotone_across_the_edge(photo, soft, hard, soft_mask)
    partial = (fill_weights(soft_mask) > 0.2) & (fill_weights(soft_mask) < 0.8)
    between = np.abs(soft[partial].astype(int) - photo[partial]) <= np.abs(hard[partial].astype(int) - photo[partial])
    assert between.all()


@pytest.fixture(scope="module")
def tiny_engine(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tiny_model import write_tiny_model

    from core.inpaint.moebius import MoebiusEngine

    root = tmp_path_factory.mktemp("models")
    write_tiny_model(root)
    return MoebiusEngine.from_model_dir(root / "moebius" / "ft_places2", device="cpu")


@pytest.mark.usefixtures("one_torch_thread")
def test_the_brush_hardness_changes_the_moebius_fill_and_the_soft_edge_blends(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    photo = scene()
    settings = JobSettings(steps=2, seed=11)
    soft_mask = stroke(0.0)

    def moebius(mask: np.ndarray) -> np.ndarray:
        image: np.ndarray = tiny_engine.inpaint(InpaintRequest(photo, mask, settings)).image
        return image

    soft, hard = moebius(soft_mask), moebius(hard_version(soft_mask))
    assert not np.array_equal(soft, moebius(stroke(1.0)))
    region = fill_region(soft_mask)
    assert digest(soft[~region]) == digest(photo[~region])
    # The model saw the same holes in both runs, so the soft result is the hard one weighted by the mask.
    assert_weighted_blend(photo, soft, hard, soft_mask)
    assert_monotone_across_the_edge(photo, soft, hard, soft_mask)


def test_a_hard_mask_takes_the_same_path_when_its_box_also_holds_a_detached_faint_mark() -> None:
    # A faint mark inside the stroke's box (not touching it) makes the runner work the region out by
    # connectivity instead of by threshold; the strong stroke must come out bit for bit as on its own.
    photo = scene()
    hard_mask = stroke(1.0)
    (box,) = plan_regions(hard_mask, frame=512).groups
    mark = slice(box.top, box.top + 4), slice(box.left, box.left + 4)  # the box's corner, outside the disc
    assert not hard_mask[box.top : box.top + 6, box.left : box.left + 6].any()
    marked = hard_mask.copy()
    marked[mark] = 90
    assert not fill_region(marked)[mark].any()
    assert np.array_equal(classic(photo, marked), classic(photo, hard_mask))
    for mask in (hard_mask, marked):
        assert plan_regions(mask, frame=512).to_dict() == plan_regions(hard_mask, frame=512).to_dict()
    plan = plan_regions(hard_mask, frame=512)
    options = BlendOptions(grain_match=True, seed=4)
    with_mark = run_plan(photo, marked, plan, frame_inpainter(plan), options=options).image
    without = run_plan(photo, hard_mask, plan, frame_inpainter(plan), options=options).image
    assert np.array_equal(with_mark, without)


def test_jpeg_noise_in_the_mask_changes_nothing_and_plans_no_extra_windows() -> None:
    photo = scene(900, 1200)
    clean = stroke(0.5, shape=(900, 1200))
    noisy = clean.copy()
    rng = np.random.default_rng(2)
    speckle = (rng.random(noisy.shape) < 0.05) & (clean == 0)
    noisy[speckle] = rng.integers(1, SOFT_FLOOR, size=int(speckle.sum()), dtype=np.uint8)
    assert int(noisy.max()) == 255 and len(np.unique(noisy[speckle])) == SOFT_FLOOR - 1
    for frame in (512, None):
        assert plan_regions(noisy, frame=frame).to_dict() == plan_regions(clean, frame=frame).to_dict()
    assert np.array_equal(classic(photo, noisy), classic(photo, clean))
    plan = plan_regions(clean, frame=512)
    options = BlendOptions(grain_match=True, seed=1)
    noisy_run = run_plan(photo, noisy, plan, frame_inpainter(plan), options=options).image
    assert np.array_equal(noisy_run, run_plan(photo, clean, plan, frame_inpainter(plan), options=options).image)


def test_a_faint_stroke_on_its_own_is_ignored() -> None:
    photo = scene(900, 1200)
    strong = stroke(1.0, shape=(900, 1200))
    faint = np.zeros_like(strong)
    stamp_soft_segment(faint, QPointF(900, 700), QPointF(1000, 720), 25, 0.0)
    faint = (faint.astype(np.uint16) * 100 // 255).astype(np.uint8)  # at most 100: no pixel reaches 128
    assert int(faint.max()) == 100
    both = np.maximum(strong, faint)
    # 1. Not planned, not filled: bit-identical to the strong stroke alone.
    for frame in (512, None):
        assert plan_regions(both, frame=frame).to_dict() == plan_regions(strong, frame=frame).to_dict()
    assert np.array_equal(classic(photo, both), classic(photo, strong))
    # 2. A mask with nothing but faint marks is empty.
    with pytest.raises(EmptyMaskError):
        check_mask(faint, photo.shape)
    with pytest.raises(EmptyMaskError):
        classic(photo, faint)
    assert plan_regions(faint, frame=512).windows == ()


@pytest.mark.parametrize("name", ["coffee.png", "chelsea.png", "rocket.jpg", "astronaut.png"])
def test_samples_with_a_blurred_mask_change_only_inside_it(name: str, samples_dir: Path) -> None:
    photo = read_image(samples_dir / name).pixels
    blurred = np.asarray(
        cv2.GaussianBlur(read_mask(samples_dir / f"{Path(name).stem}_mask.png"), (0, 0), 4.0), np.uint8
    )
    assert len(np.unique(blurred)) > 100
    region = fill_region(blurred)
    outside = ~region
    assert np.all(blurred[outside] < 128)  # every strong pixel is in the region
    plan = plan_regions(blurred, frame=512)
    for result in (
        run_plan(photo, blurred, plan, frame_inpainter(plan), options=BlendOptions(grain_match=True)).image,
        ClassicEngine().inpaint(InpaintRequest(photo, blurred, JobSettings(grain_match=True, seed=5))).image,
    ):
        assert digest(result[outside]) == digest(photo[outside])
        changed = np.any(result != photo, axis=2)
        assert changed.any() and np.all(blurred[changed] >= SOFT_FLOOR)
        # The soft edge really is a blend: where the weight is small, the change is small.
        faint = region & (fill_weights(blurred) < 0.1)
        step = np.abs(result[faint].astype(int) - photo[faint]).max()
        assert step <= 0.1 * 255 + 1


def test_a_soft_stroke_on_a_24_megapixel_photo_costs_window_sized_memory() -> None:
    height, width = 4000, 6000
    photo = np.asarray(cv2.resize(scene(400, 600), (width, height), interpolation=cv2.INTER_NEAREST), np.uint8)
    mask = np.zeros((height, width), np.uint8)
    stamp_soft_segment(mask, QPointF(3000, 2000), QPointF(3300, 2100), 60, 0.0)
    stamp_soft_segment(mask, QPointF(500, 3500), QPointF(520, 3510), 10, 0.3)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        plan = plan_regions(mask, frame=512)
        run = run_plan(photo, mask, plan, frame_inpainter(plan), options=BlendOptions(grain_match=True))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The result is the only photo-sized array (72 MB); a float32 pass over the photo would be 96 MB per channel.
    assert peak - photo.nbytes < 32 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert len(plan.windows) == 2
    changed = np.any(run.image[1800:2300, 2800:3500] != photo[1800:2300, 2800:3500], axis=2)
    assert changed.any() and np.all(mask[1800:2300, 2800:3500][changed] >= SOFT_FLOOR)
