"""Region planning: groups, context windows at native resolution, reduced-scale passes with native tiles."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli.main import main
from core.inpaint.plan import GLOBAL, TILE, WINDOW, Plan, Rect, coarse_grid, plan_regions, render_plan
from core.job.options import DEFAULT_CONTEXT_MARGIN

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
needs_samples = pytest.mark.usefixtures("samples_dir")  # fails (never skips) without ../shared/samples


def mask_with(height: int, width: int, *boxes: tuple[int, int, int, int]) -> np.ndarray:
    """A mask with the given (left, top, right, bottom) boxes filled."""
    mask = np.zeros((height, width), np.uint8)
    for left, top, right, bottom in boxes:
        mask[top:bottom, left:right] = 255
    return mask


def covers(rect: Rect, box: tuple[int, int, int, int]) -> bool:
    left, top, right, bottom = box
    return rect.left <= left and rect.top <= top and rect.right >= right and rect.bottom >= bottom


def inside(rect: Rect, width: int, height: int) -> bool:
    return 0 <= rect.left < rect.right <= width and 0 <= rect.top < rect.bottom <= height


def test_empty_mask_plans_nothing() -> None:
    plan = plan_regions(np.zeros((300, 400), np.uint8), frame=512)
    assert plan.windows == () and plan.groups == ()
    assert plan.summary().startswith("0 mask regions")


def test_small_spot_gets_one_native_window_with_context() -> None:
    box = (2000, 1500, 2060, 1540)
    plan = plan_regions(mask_with(4000, 6000, box), frame=512)
    [window] = plan.windows
    assert window.kind == WINDOW and window.scale == 1.0  # seen at native resolution, never enlarged
    assert (window.rect.width, window.rect.height) == (512, 512)
    assert covers(window.rect, box) and covers(window.fills, box)
    # The spot sits in the middle, with at least the context margin around it.
    assert window.rect.left <= box[0] - DEFAULT_CONTEXT_MARGIN and window.rect.right >= box[2] + DEFAULT_CONTEXT_MARGIN


def test_context_margin_sets_the_window_size() -> None:
    box = (1000, 1000, 1400, 1300)  # 400 wide
    for margin, scale in ((0, 512 / 512), (100, 512 / 600), (300, 512 / 1000)):
        [window] = plan_regions(mask_with(3000, 3000, box), frame=512, context_margin=margin).windows
        assert window.scale == pytest.approx(scale)
        assert window.rect.width == window.rect.height == max(512, 400 + 2 * margin)
        assert covers(window.rect, (box[0] - margin, box[1] - margin, box[2] + margin, box[3] + margin))


@pytest.mark.parametrize(
    "box",
    [
        (0, 0, 40, 30),  # top-left corner
        (1960, 0, 2000, 30),  # top-right corner
        (0, 1470, 40, 1500),  # bottom-left corner
        (1960, 1470, 2000, 1500),  # bottom-right corner
        (900, 0, 1000, 20),  # top edge
        (0, 700, 15, 800),  # left edge
    ],
)
def test_windows_at_borders_shift_inside_the_photo(box: tuple[int, int, int, int]) -> None:
    plan = plan_regions(mask_with(1500, 2000, box), frame=512)
    [window] = plan.windows
    assert inside(window.rect, 2000, 1500)
    assert (window.rect.width, window.rect.height) == (512, 512)  # shifted, not cut or padded
    assert covers(window.rect, box)


def test_photo_smaller_than_the_frame_is_one_whole_window() -> None:
    plan = plan_regions(mask_with(300, 451, (60, 190, 220, 226)), frame=512)
    [window] = plan.windows
    assert window.rect == Rect(0, 0, 451, 300)
    assert window.scale == pytest.approx(512 / 451)


def test_two_distant_masks_become_two_windows() -> None:
    boxes = ((300, 300, 400, 380), (4500, 2800, 4620, 2900))
    plan = plan_regions(mask_with(4000, 6000, *boxes), frame=512)
    assert len(plan.groups) == 2 and [w.kind for w in plan.windows] == [WINDOW, WINDOW]
    first, second = plan.windows
    assert covers(first.fills, boxes[0]) and covers(second.fills, boxes[1])
    assert not first.rect.intersects(second.rect)
    assert first.scale == second.scale == 1.0
    assert plan.summary() == "2 mask regions, 2 windows (scale 1.00, 1.00)"


def test_near_masks_share_one_window() -> None:
    # 150 pixels apart: their context overlaps, so one window fills both.
    plan = plan_regions(mask_with(4000, 6000, (1000, 1000, 1100, 1100), (1250, 1000, 1350, 1100)), frame=512)
    [window] = plan.windows
    assert covers(window.fills, (1000, 1000, 1350, 1100))


def test_masks_that_fit_one_frame_together_are_merged() -> None:
    # 300 pixels apart with no context margin: one 512 window at native resolution still holds both.
    boxes = ((1000, 1000, 1050, 1050), (1350, 1000, 1400, 1050))
    assert len(plan_regions(mask_with(3000, 3000, *boxes), frame=512, context_margin=0).windows) == 1
    # Farther apart than a frame: separate windows.
    boxes = ((1000, 1000, 1050, 1050), (1600, 1000, 1650, 1050))
    assert len(plan_regions(mask_with(3000, 3000, *boxes), frame=512, context_margin=0).windows) == 2


def test_group_boxes_are_disjoint_and_hold_every_mask_pixel() -> None:
    rng = np.random.default_rng(4)
    mask = np.zeros((2000, 3000), np.uint8)
    for _ in range(40):
        x, y = int(rng.integers(0, 2950)), int(rng.integers(0, 1950))
        mask[y : y + int(rng.integers(1, 50)), x : x + int(rng.integers(1, 50))] = 255
    plan = plan_regions(mask, frame=512)
    owned = np.zeros(mask.shape, np.int32)
    for group in plan.groups:
        owned[group.slices] += 1
    assert owned.max() == 1  # no pixel belongs to two groups
    assert np.all(owned[mask >= 128] == 1)  # and every mask pixel to one
    assert {w.group for w in plan.windows} == set(range(len(plan.groups)))


def test_half_the_photo_masked_gives_a_reduced_pass_and_native_tiles() -> None:
    height, width = 2400, 3600
    mask = mask_with(height, width, (200, 100, 1800, 2300))
    plan = plan_regions(mask, frame=512, tile_overlap=128)
    [overview, *tiles] = plan.windows
    assert overview.kind == GLOBAL and overview.scale < 0.5
    assert covers(overview.rect, (200, 100, 1800, 2300)) or overview.rect.height == height
    assert tiles and all(t.kind == TILE and t.scale == 1.0 for t in tiles)
    assert all((t.rect.width, t.rect.height) == (512, 512) and inside(t.rect, width, height) for t in tiles)
    # Every mask pixel is refined by some tile.
    covered = np.zeros(mask.shape, bool)
    for tile in tiles:
        covered[tile.fills.slices] = True
    assert covered[mask >= 128].all()
    # Each tile cross-fades with its neighbours over their overlap, which is at least the asked overlap.
    by_position = {(t.rect.left, t.rect.top): t for t in tiles}
    for tile in tiles:
        ramp_left, ramp_top, ramp_right, ramp_bottom = tile.ramp
        row = sorted((t for (x, y), t in by_position.items() if y == tile.rect.top), key=lambda t: t.rect.left)
        position = row.index(tile)
        if position > 0:
            assert ramp_left == row[position - 1].rect.right - tile.rect.left >= 128
        else:
            assert ramp_left == 0
        if position < len(row) - 1:
            following = row[position + 1]
            assert ramp_right == tile.rect.right - following.rect.left == following.ramp[0]
        else:
            assert ramp_right == 0
        above = [t for (x, y), t in by_position.items() if x == tile.rect.left and y < tile.rect.top]
        below = [t for (x, y), t in by_position.items() if x == tile.rect.left and y > tile.rect.top]
        assert (ramp_top > 0) == bool(above) and (ramp_bottom > 0) == bool(below)
    assert [w.index for w in plan.windows] == list(range(len(plan.windows)))
    assert "1 reduced-scale pass" in plan.summary() and f"{len(tiles)} native-resolution tiles" in plan.summary()


def test_tiles_skip_parts_of_the_box_without_mask() -> None:
    # An L-shaped mask: its box is large, but the empty corner needs no tile.
    mask = mask_with(3000, 3000, (100, 100, 300, 2900), (100, 2700, 2900, 2900))
    plan = plan_regions(mask, frame=512)
    tiles = [w for w in plan.windows if w.kind == TILE]
    assert tiles
    for tile in tiles:
        assert (mask[tile.fills.slices] >= 128).any()
    full_grid = 6 * 6
    assert len(tiles) < full_grid


def test_native_plans_take_the_box_and_margin_as_they_are() -> None:
    plan = plan_regions(mask_with(1000, 1000, (0, 500, 40, 520), (900, 100, 950, 400)), frame=None, context_margin=32)
    assert plan.frame is None and [w.kind for w in plan.windows] == [WINDOW, WINDOW]
    first, second = sorted(plan.windows, key=lambda w: w.rect.left)
    assert first.rect == Rect(0, 468, 72, 552) and second.rect == Rect(868, 68, 982, 432)
    assert all(w.scale == 1.0 for w in plan.windows)


def test_coarse_grid_marks_every_cell_with_a_mask_pixel() -> None:
    rng = np.random.default_rng(1)
    for height, width, cell in [(37, 53, 4), (100, 7, 3), (5, 5, 1), (999, 1001, 7), (301, 300, 16), (64, 64, 20)]:
        mask = np.where(rng.random((height, width)) < 0.01, 255, 0).astype(np.uint8)
        mask[rng.random((height, width)) < 0.05] = 127  # just below the threshold: keep
        expected = np.zeros((-(-height // cell), -(-width // cell)), bool)
        ys, xs = np.nonzero(mask >= 128)
        expected[ys // cell, xs // cell] = True
        assert np.array_equal(coarse_grid(mask, cell), expected), (height, width, cell)


def test_planning_a_large_photo_is_quick() -> None:
    mask = mask_with(6000, 8000, (1000, 1000, 1400, 1800), (6000, 4000, 6100, 4080))  # 48 megapixels
    started = time.perf_counter()
    plan = plan_regions(mask, frame=512)
    assert time.perf_counter() - started < 1.0
    assert len(plan.groups) == 2


def test_plan_is_plain_data() -> None:
    plan = plan_regions(mask_with(2000, 3000, (100, 100, 200, 200), (2000, 1500, 2100, 1600)), frame=512)
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["width"] == 3000 and data["frame"] == 512 and len(data["windows"]) == 2
    assert data["windows"][0]["kind"] == "window" and len(data["windows"][0]["rect"]) == 4
    assert isinstance(plan, Plan)


def test_render_plan_draws_windows_on_a_reduced_photo() -> None:
    photo = np.full((2400, 3600, 3), 200, np.uint8)
    mask = mask_with(2400, 3600, (200, 100, 1800, 2300), (3000, 200, 3100, 260))
    plan = plan_regions(mask, frame=512)
    picture = render_plan(photo, mask, plan, max_side=900)
    assert picture.shape == (600, 900, 3) and picture.dtype == np.uint8
    colours = {tuple(c) for c in picture.reshape(-1, 3)[::7].tolist()}
    assert (255, 160, 20) in colours  # the reduced-scale pass (orange)
    assert (40, 190, 255) in colours  # the native tiles (light blue)
    assert (40, 220, 90) in colours  # the separate small window (green)
    small = render_plan(photo[:300, :400], mask[:300, :400], plan_regions(mask[:300, :400], frame=512))
    assert small.shape == (300, 400, 3)  # never enlarged


@needs_samples
def test_cli_writes_the_plan_picture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, picture = tmp_path / "out.png", tmp_path / "plan.png"
    code = main(
        [
            str(SAMPLES / "coffee.png"),
            "-m",
            str(SAMPLES / "coffee_mask.png"),
            "-o",
            str(out),
            "--engine",
            "classic",
            "--show-plan",
            str(picture),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Processed 1 mask region, 1 window" in captured.out and str(picture) in captured.out
    with Image.open(picture) as drawn:
        assert drawn.size == (600, 400) and drawn.format == "PNG"
    # An existing picture is only replaced with --overwrite, checked before any work is done.
    assert (
        main(
            [
                str(SAMPLES / "coffee.png"),
                "-m",
                str(SAMPLES / "coffee_mask.png"),
                "-o",
                str(tmp_path / "b.png"),
                "--engine",
                "classic",
                "--show-plan",
                str(picture),
            ]
        )
        == 2
    )
    assert not (tmp_path / "b.png").exists()


def soft_blob(height: int, width: int, box: tuple[int, int, int, int], sigma: float) -> np.ndarray:
    """A filled box with a blurred (soft) edge around it, like a feathered selection."""
    import cv2

    return np.asarray(cv2.GaussianBlur(mask_with(height, width, box), (0, 0), sigma), np.uint8)


@pytest.mark.parametrize("shape", [(600, 800), (3000, 4000)])  # one grid cell per pixel, and 4×4-pixel cells
def test_groups_hold_the_whole_soft_edge_but_no_detached_mark(shape: tuple[int, int]) -> None:
    from core.photo.mask import fill_region, mask_bbox

    height, width = shape
    mask = soft_blob(height, width, (300, 200, 360, 260), 8.0)
    mask[20:30, 20:30] = 100  # a faint mark far away, connected to nothing
    region = fill_region(mask)
    soft_box = mask_bbox(region.astype(np.uint8), threshold=1)
    hard_box = mask_bbox(mask)
    assert soft_box is not None and hard_box is not None
    assert soft_box[2] - soft_box[0] >= hard_box[2] - hard_box[0] + 20  # the edge reaches well beyond 128
    plan = plan_regions(mask, frame=512)
    assert [g.as_tuple() for g in plan.groups] == [soft_box]
    assert all(w.fills.as_tuple() == soft_box for w in plan.windows)


def test_tiles_cover_a_large_soft_edge() -> None:
    from core.photo.mask import fill_region

    mask = soft_blob(1400, 1800, (0, 0, 800, 1400), 20.0)
    plan = plan_regions(mask, frame=512)
    tiles = [w for w in plan.windows if w.kind == TILE]
    assert plan.windows[0].kind == GLOBAL and tiles
    covered = np.zeros(mask.shape, bool)
    for tile in tiles:
        covered[tile.fills.slices] = True
    assert covered[fill_region(mask)].all()
    assert not covered[:, 1000:].any()  # and nothing beyond the edge's end
