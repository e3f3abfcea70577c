"""Running a region plan: every window through the model, and its fill back into the photo.

For each window of a :class:`~core.inpaint.plan.Plan`, in order:

1. cut the window out of the photo (as filled so far) and scale it into the model's frame, with every pixel
   of the fill region in it marked as a hole; a native-resolution tile first gets the reduced-scale pass's fill in the
   holes that no earlier tile refined, so the model refines that structure instead of inventing a new one;
2. call the frame inpainter (the model, or a stand-in) on the frame;
3. match colour and exposure: the model reproduces the unmasked part of the frame, so comparing its output
   with its input on a ring just outside the hole measures the model's colour drift, which is then removed
   from the whole frame (for tiles, the whole frame is the reference: it holds the photo and the earlier,
   already matched fill);
4. map only the part that changes back to the photo's resolution, optionally add the grain the fill lacks,
   and blend it in through the feathered region of the window's own group, times the weight the mask gives
   each pixel; tiles cross-fade with the tiles before them, so every pixel ends up with the
   overlap-weighted average of all tiles over it.

The fill region (:func:`core.photo.mask.fill_region`) is every stroke of the mask with its whole soft edge; a
soft edge fades the fill into the photo like a feathered selection (:func:`core.photo.mask.fill_weights`).
Only pixels of the region ever change; every other pixel of the result is bit-identical to the input, and so
are the region's pixels of weight 0. For a 0/255 mask the region is its white pixels and every weight is 1.
Memory follows the windows (a few frame-sized and fill-sized float32 arrays at a time), never the photo's
size: the only photo-sized array is the result itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from core.common.cancel import CancelToken
from core.common.progress import ProgressCallback, ProgressEvent
from core.inpaint.composite import (
    FRAME_FEATHER_PX,
    FrameFit,
    Grain,
    apply_colour,
    blend_into,
    colour_transform,
    estimate_grain,
    fill_alpha,
    frame_fit,
    frame_to_window,
    ring_around,
    synthesize_grain,
    to_frame,
)
from core.inpaint.plan import GLOBAL, TILE, Plan, Rect, Window
from core.job.options import COLOUR_MATCH, COLOUR_MATCH_STRENGTH, DEFAULT_SEED, GRAIN_MATCH
from core.photo.mask import FILL_THRESHOLD, SOFT_FLOOR, Pixels, detached_marks, fill_weights, has_soft_pixels

U8Image = npt.NDArray[np.uint8]
U8Mask = npt.NDArray[np.uint8]
F32Array = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

FrameInpainter = Callable[[U8Image, U8Mask, int], U8Image]
"""Fills one frame: ``(frame_image, frame_mask, window_index) -> frame_result``.

``frame_image`` is ``uint8`` (S, S, 3) RGB, ``frame_mask`` ``uint8`` (S, S) with 255 = hole, and the result
``uint8`` (S, S, 3), where S is the plan's frame size (for native-resolution plans, any window shape). The
window index says which :attr:`Plan.windows` entry is being filled, e.g. to choose a seed or a strength.
"""

RING_INNER_FRAME_PX = 2
"""Ring pixels nearer than this (model-frame pixels) to the hole are left out of measurements."""

RING_OUTER_FRAME_PX = 10
"""Ring pixels farther than this (model-frame pixels) from the hole are left out of measurements."""


@dataclass(frozen=True)
class BlendOptions:
    """How fills are adapted and blended into the photo.

    Args:
        colour_match: match colour and exposure of each fill to the photo around it.
        colour_match_strength: how much of that correction to apply, 0..1 (1 = all of it).
        grain_match: add the noise the fill lacks compared with the photo around it.
        feather_px: width of the soft edge inside the mask in photo pixels; ``None`` adapts it to each
            window's scale (:data:`~core.inpaint.composite.FRAME_FEATHER_PX` model-frame pixels); 0 is a hard edge.
        seed: seed of the synthesized grain, so the same job gives the same picture.
    """

    colour_match: bool = COLOUR_MATCH.default
    colour_match_strength: float = COLOUR_MATCH_STRENGTH.default
    grain_match: bool = GRAIN_MATCH.default
    feather_px: float | None = None
    seed: int = DEFAULT_SEED


@dataclass
class PlanRun:
    """The outcome of :func:`run_plan`.

    Args:
        image: the filled photo, ``uint8`` (H, W, 3); pixels outside the mask are bit-identical to the input.
        timings: seconds spent per stage: ``"prepare"`` (cutting and scaling windows), ``"model"`` (the frame
            inpainter) and ``"composite"`` (mapping back, matching, blending).
    """

    image: U8Image
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _CoarsePass:
    """A group's reduced-scale fill, kept for its native tiles."""

    produced: F32Array
    fit: FrameFit
    rect: Rect


def run_plan(
    image: U8Image,
    mask: U8Mask,
    plan: Plan,
    inpaint_frame: FrameInpainter,
    *,
    options: BlendOptions | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> PlanRun:
    """Fill ``mask`` in ``image`` window by window as ``plan`` says.

    Args:
        image: ``uint8`` (H, W, 3) RGB photo; it is not modified.
        mask: ``uint8`` (H, W) mask the plan was made from: its values are the weights of the fill (see
            :func:`core.photo.mask.fill_weights`), over the region :func:`core.photo.mask.fill_region`.
        plan: the windows to run (see :func:`core.inpaint.plan.plan_regions`).
        inpaint_frame: fills one frame (see :data:`FrameInpainter`).
        options: colour, grain and feather settings; ``None`` uses the defaults.
        progress: receives ``ProgressEvent("window", i, n)`` before window ``i`` and ``(…, n, n)`` at the end
            (the frame inpainter may report its own stages in between).
        cancel: checked before every window.

    Returns:
        The :class:`PlanRun` with the filled photo and the time per stage.

    Raises:
        CancelledError: ``cancel`` was set.
        ValueError: the inputs do not match each other or the plan, or the inpainter returned a frame of the
            wrong shape.
    """
    # 1. Check that photo, mask and plan belong together.
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected a uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
    if mask.dtype != np.uint8 or mask.shape != image.shape[:2]:
        raise ValueError(f"expected a uint8 {image.shape[:2]} mask, got {mask.dtype} {mask.shape}")
    if (plan.height, plan.width) != mask.shape:
        raise ValueError(f"the plan is for {plan.width}×{plan.height} pixels, the mask is {mask.shape[::-1]}")
    options = options or BlendOptions()
    regions = _FillRegions(mask, plan)
    result = image.copy()
    timings = {"prepare": 0.0, "model": 0.0, "composite": 0.0}
    coarse: dict[int, _CoarsePass] = {}
    grains: dict[int, Grain] = {}
    total = len(plan.windows)
    # 2. The windows in order; each sees the photo as filled by the windows before it.
    for window in plan.windows:
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(ProgressEvent("window", window.index, total))
        started = time.perf_counter()
        crop = _tile_input(result, regions, window, plan, coarse) if window.kind == TILE else result[window.rect.slices]
        fit, frame_image, frame_mask = _model_input(crop, regions.hole(window.rect), plan.frame)
        prepared = time.perf_counter()
        frame_result = inpaint_frame(frame_image, frame_mask, window.index)
        if frame_result.shape != frame_image.shape or frame_result.dtype != np.uint8:
            raise ValueError(
                f"the frame inpainter returned {frame_result.dtype} {frame_result.shape} for window "
                f"{window.index}; expected uint8 {frame_image.shape}"
            )
        filled = time.perf_counter()
        produced = _matched(frame_image, frame_mask, frame_result, fit, window, options)
        if window.kind == GLOBAL:
            assert fit is not None  # a global pass only exists for plans with a model frame
            coarse[window.group] = _CoarsePass(produced, fit, window.rect)
        else:
            _blend_window(result, regions, window, produced, fit, options, grains, plan.windows[: window.index])
        done = time.perf_counter()
        timings["prepare"] += prepared - started
        timings["model"] += filled - prepared
        timings["composite"] += done - filled
    if progress is not None and total:
        progress(ProgressEvent("window", total, total))
    return PlanRun(result, timings)


def _model_input(crop: U8Image, mask: U8Mask, frame: int | None) -> tuple[FrameFit | None, U8Image, U8Mask]:
    """The frame the model sees for a window: ``(fit, frame_image, frame_mask)``; ``fit`` is ``None`` for
    native-resolution plans, whose frame is the window itself. ``mask`` marks the holes with values ≥ 128
    (see :meth:`_FillRegions.hole`)."""
    if frame is None:
        hole = np.where(mask >= FILL_THRESHOLD, np.uint8(255), np.uint8(0))
        return None, crop.copy(), hole  # a copy: the inpainter may write into its frame
    fit = frame_fit((int(crop.shape[0]), int(crop.shape[1])), frame)
    frame_image, frame_mask = to_frame(crop, mask, fit)
    return fit, frame_image, frame_mask


def _tile_input(
    result: U8Image, regions: _FillRegions, window: Window, plan: Plan, coarse: dict[int, _CoarsePass]
) -> U8Image:
    """A tile as the model should see it: the photo filled so far, and the group's reduced-scale fill in the
    holes no earlier tile of the group has refined yet."""
    rect = window.rect
    crop = result[rect.slices].copy()
    owned = regions.owned(rect, window)
    # 1. Mark what earlier tiles of the same group already refined.
    refined = np.zeros(owned.shape, np.bool_)
    for earlier in plan.windows[: window.index]:
        if earlier.kind == TILE and earlier.group == window.group and earlier.rect.intersects(rect):
            refined[earlier.rect.intersection(rect).relative_to(rect).slices] = True
    # 2. Put the coarse fill where nothing is refined yet.
    pending = owned & ~refined
    source = coarse.get(window.group)
    if source is not None and pending.any():
        part = rect.relative_to(source.rect).as_tuple()
        coarse_fill = frame_to_window(source.produced, source.fit, part)
        crop[pending] = np.clip(np.rint(coarse_fill[pending]), 0, 255).astype(np.uint8)
    return crop


def _matched(
    frame_image: U8Image,
    frame_mask: U8Mask,
    frame_result: U8Image,
    fit: FrameFit | None,
    window: Window,
    options: BlendOptions,
) -> F32Array:
    """The model's frame as float32, with its colour and exposure drift removed when asked."""
    produced = frame_result.astype(np.float32)
    if not options.colour_match or options.colour_match_strength <= 0:
        return produced
    # 1. The reference pixels: a ring just outside the hole, or for tiles the whole frame content.
    content = np.zeros(frame_mask.shape, np.bool_)
    if fit is None:
        content[:] = True
    else:
        left, top, right, bottom = fit.content
        content[top:bottom, left:right] = True
    if window.kind == TILE:
        reference = content
    else:
        reference = ring_around(frame_mask >= FILL_THRESHOLD, RING_INNER_FRAME_PX, RING_OUTER_FRAME_PX) & content
    # 2. Per-channel gain and offset measured there, applied to the whole frame.
    gain, offset = colour_transform(frame_image, produced, reference)
    return apply_colour(produced, gain, offset, min(1.0, options.colour_match_strength))


def _blend_window(
    result: U8Image,
    regions: _FillRegions,
    window: Window,
    produced: F32Array,
    fit: FrameFit | None,
    options: BlendOptions,
    grains: dict[int, Grain],
    earlier: tuple[Window, ...],
) -> None:
    """Map a window's fill back to the photo and blend it into ``result`` under its group's region, weighted by
    the mask.

    ``earlier`` are the plan's windows before this one (tiles cross-fade with the earlier tiles).
    """
    mask = regions.mask
    height, width = int(mask.shape[0]), int(mask.shape[1])
    inner = math.ceil(RING_INNER_FRAME_PX / window.scale)
    outer = inner + max(6, math.ceil((RING_OUTER_FRAME_PX - RING_INNER_FRAME_PX) / window.scale))
    # 1. The part of the photo that can change, with room around it for the feather and the grain ring.
    if window.kind == TILE:
        part = window.rect
    else:
        part = window.fills.grown(outer if options.grain_match else 1, width, height)
        if fit is None:
            part = part.intersection(window.rect)
    owned = regions.owned(part, window)
    if not owned.any():
        return
    # 2. The fill at the photo's resolution, for that part only.
    relative = part.relative_to(window.rect)
    if fit is None:
        fill = np.ascontiguousarray(produced[relative.slices])
    else:
        fill = frame_to_window(produced, fit, relative.as_tuple())
    # 3. Grain the fill lacks compared with the photo just around the hole.
    if options.grain_match:
        ring = ring_around(owned, inner, outer) & (mask[part.slices] < SOFT_FLOOR)
        photo_grain = estimate_grain(result[part.slices].astype(np.float32), ring)
        if photo_grain is not None:
            grains[window.group] = photo_grain
        photo_grain = photo_grain or grains.get(window.group)
        if photo_grain is not None:
            rng = np.random.default_rng([options.seed, window.index])
            noise = synthesize_grain(owned.shape, photo_grain, estimate_grain(fill, owned), rng)
            fill += noise
    # 4. Blend through the feathered region times the mask's weights; tiles cross-fade with the tiles before them.
    feather = options.feather_px if options.feather_px is not None else max(1.0, FRAME_FEATHER_PX / window.scale)
    alpha = fill_alpha(owned, fill_weights(mask[part.slices]), feather)
    if window.kind == TILE:
        alpha *= _cross_fade(window, [w for w in earlier if w.kind == TILE])
    blend_into(result[part.slices], fill, alpha)


def _tile_weight(tile: Window, area: Rect) -> F32Array:
    """A tile's share over ``area``: 1 inside, falling linearly to 0 across its overlap with each neighbour.

    Neighbouring tiles' shares add up to 1 over their overlap (a partition of unity), and 0 outside the tile.
    """
    rect, (left, top, right, bottom) = tile.rect, tile.ramp

    def profile(start: int, stop: int, first: int, rise: int, fall: int, count: int) -> F32Array:
        # Distance of each pixel centre to the tile's two edges, in units of the ramp there.
        centres = np.arange(first, first + count, dtype=np.float32) + np.float32(0.5)
        up = (centres - start) / rise if rise else np.ones(count, np.float32)
        down = (stop - centres) / fall if fall else np.ones(count, np.float32)
        inside = (centres > start) & (centres < stop)
        return np.where(inside, np.clip(np.minimum(up, down), 0.0, 1.0), 0.0).astype(np.float32)

    across = profile(rect.left, rect.right, area.left, left, right, area.width)
    down = profile(rect.top, rect.bottom, area.top, top, bottom, area.height)
    weight: F32Array = down[:, None] * across[None, :]
    return weight


def _cross_fade(tile: Window, earlier_tiles: list[Window]) -> F32Array:
    """How much of the tile's fill replaces what earlier tiles left, per pixel of the tile.

    With ``w`` this tile's share and ``W`` the earlier tiles' shares, blending with ``w / (w + W)`` one tile
    after another gives every pixel the share-weighted average of all tiles over it, with no seam, without
    keeping an accumulator the size of the mask.
    """
    own = _tile_weight(tile, tile.rect)
    before = np.zeros_like(own)
    for earlier in earlier_tiles:
        if earlier.group == tile.group and earlier.rect.intersects(tile.rect):
            before += _tile_weight(earlier, tile.rect)
    total = own + before
    share: F32Array = np.where(total > 0, own / np.maximum(total, np.float32(1e-12)), 0.0).astype(np.float32)
    return share


class _FillRegions:
    """The fill region of a plan's mask (:func:`core.photo.mask.fill_region`), asked for window by window.

    Whether a soft pixel belongs to the region depends on what it is connected to, so it is decided per group,
    over the group's box, which holds every connected mark of the group whole (see
    :func:`core.inpaint.plan.region_grid`): a group's region is its box's pixels ≥ :data:`SOFT_FLOOR` less the
    detached faint marks found there. That is worked out once per group when a window first needs it, costs
    nothing for groups without soft pixels, and keeps only the detached pixels' positions (usually none).
    Pixels outside every group's box are never in the region.

    Args:
        mask: ``uint8`` (H, W) mask the plan was made from.
        plan: the plan being run.
    """

    def __init__(self, mask: U8Mask, plan: Plan) -> None:
        self.mask = mask
        self.groups = plan.groups
        self._boxes = np.array([g.as_tuple() for g in plan.groups], np.int64).reshape(-1, 4)
        self._soft: dict[int, bool] = {}
        self._detached: dict[int, Pixels] = {}

    def owned(self, part: Rect, window: Window) -> BoolArray:
        """The region's pixels that ``window`` fills (those in its group's box, inside ``window.fills``), as a
        ``bool`` array over ``part`` (photo pixels)."""
        owned = np.zeros((part.height, part.width), np.bool_)
        inside = window.fills.intersection(part)
        if inside.area:
            np.greater_equal(self.mask[inside.slices], SOFT_FLOOR, out=owned[inside.relative_to(part).slices])
            self._drop_detached(owned, part, inside, window.group)
        return owned

    def hole(self, rect: Rect) -> U8Mask:
        """The model's holes over ``rect``: values ≥ 128 on the region of every group, 0 elsewhere.

        Where no group reaching into ``rect`` has soft pixels, that is the mask itself (no copy is made).
        """
        view = self.mask[rect.slices]
        groups = self._groups_in(rect)
        if not any(self._is_soft(group) for group in groups):
            return view
        # Built as bool and turned into 0/255 in place: one byte per pixel of the window, no more.
        hole = np.zeros(view.shape, np.bool_)
        for group in groups:
            inside = self.groups[group].intersection(rect)
            np.greater_equal(self.mask[inside.slices], SOFT_FLOOR, out=hole[inside.relative_to(rect).slices])
            self._drop_detached(hole, rect, inside, group)
        values = hole.view(np.uint8)
        values *= np.uint8(255)
        return values

    def _groups_in(self, rect: Rect) -> list[int]:
        """The groups whose box shares pixels with ``rect``."""
        left, top, right, bottom = self._boxes.T
        meets = (left < rect.right) & (rect.left < right) & (top < rect.bottom) & (rect.top < bottom)
        return [int(i) for i in np.flatnonzero(meets)]

    def _is_soft(self, group: int) -> bool:
        """Whether the group's box holds soft pixels (then its region needs more than a threshold)."""
        if group not in self._soft:
            box = self.groups[group]
            self._soft[group] = has_soft_pixels(self.mask[box.slices])
            if self._soft[group]:
                rows, columns = detached_marks(self.mask[box.slices])
                self._detached[group] = (rows + box.top, columns + box.left)
        return self._soft[group]

    def _drop_detached(self, array: BoolArray, area: Rect, inside: Rect, group: int) -> None:
        """Clear, in ``array`` (covering ``area``), the group's detached marks that lie in ``inside``."""
        if not self._is_soft(group):
            return
        rows, columns = self._detached[group]
        if rows.size == 0:
            return
        here = (rows >= inside.top) & (rows < inside.bottom) & (columns >= inside.left) & (columns < inside.right)
        array[rows[here] - area.top, columns[here] - area.left] = 0
