"""Region planning: which parts of a photo the model sees, at which scale, in which order.

The model only runs on a square frame (512×512 for the released Moebius model), while photos are 12–100
megapixels. Scaling a whole photo into one frame makes every fill blurry, so a mask is handled region by
region instead:

1. **Groups.** The pixels a fill may change (:func:`core.photo.mask.fill_region`: every stroke with its whole
   soft edge, without faint marks that are not connected to a stroke) that lie close together (within the
   context margin) form one group; far-apart objects become separate groups. Two groups are also merged
   when one frame-sized window at native resolution holds both, because then one model call does the work
   of two at no loss of detail.
2. **Windows.** Each group gets a square *context window* around its mask box: the box plus the context
   margin on every side, at least one frame in size (so small spots are seen at native resolution rather
   than enlarged), and shifted — never padded with black — to stay inside the photo. The window is scaled
   into the model frame; its scale is model-frame pixels per photo pixel.
3. **Large masks.** When a group's window would be scaled below :data:`DEFAULT_MIN_SCALE`, the fill would be
   too soft, so the group gets a *global* window at the reduced scale (for the overall structure) followed by
   native-resolution *tiles* over the mask box. Tiles overlap by at least the tile overlap, and each tile
   records how wide its overlap with each neighbour is, so the fills can cross-fade over those bands without
   a seam.

Planning works on a coarse grid of the mask (at most :data:`MAX_GRID_PIXELS` cells), so its cost does not
grow with the photo's size; on that grid a soft mark counts when its cells are connected to a cell with a
pixel ≥ 128, which keeps every connected soft edge whole in its group's box. The result, :class:`Plan`, is a
plain data object: rectangles in photo pixels that a GUI can draw and that :func:`render_plan` draws into a
picture (``moebius-inpaint --show-plan``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from core.job.options import DEFAULT_CONTEXT_MARGIN
from core.photo.mask import FILL_THRESHOLD, SOFT_FLOOR, mask_bbox

# DEFAULT_CONTEXT_MARGIN (128): photo pixels of surrounding context given to the model on every side of a mask
# group's box; defined with the other job defaults in core.job.options.

DEFAULT_MIN_SCALE = 0.5
"""Smallest model-frame-per-photo-pixel scale at which one window still gives a sharp enough fill."""

DEFAULT_TILE_OVERLAP = 128
"""Minimum overlap in photo pixels between neighbouring native-resolution tiles."""

MAX_GRID_PIXELS = 1_000_000
"""Largest number of cells of the coarse mask grid that planning works on."""

__all__ = [
    "DEFAULT_CONTEXT_MARGIN",
    "GLOBAL",
    "TILE",
    "WINDOW",
    "Plan",
    "Rect",
    "Window",
    "coarse_grid",
    "plan_regions",
    "region_grid",
    "render_plan",
]

WINDOW = "window"
"""Kind of a window that fills its group in one model call."""
GLOBAL = "global"
"""Kind of the reduced-scale pass over a group too large for one window."""
TILE = "tile"
"""Kind of a native-resolution tile that refines a large group after its global pass."""

U8Mask = npt.NDArray[np.uint8]
BoolGrid = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Rect:
    """A rectangle in photo pixels; ``right`` and ``bottom`` are exclusive (Pillow's box convention).

    Args:
        left: first column.
        top: first row.
        right: one past the last column.
        bottom: one past the last row.
    """

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, columns)`` slices that cut this rectangle out of an array."""
        return slice(self.top, self.bottom), slice(self.left, self.right)

    def grown(self, by: int, width: int, height: int) -> Rect:
        """This rectangle grown by ``by`` pixels on every side, clipped to a ``width`` × ``height`` photo."""
        return Rect(
            max(0, self.left - by), max(0, self.top - by), min(width, self.right + by), min(height, self.bottom + by)
        )

    def intersects(self, other: Rect) -> bool:
        """Whether the two rectangles share at least one pixel."""
        return (
            self.left < other.right and other.left < self.right and self.top < other.bottom and other.top < self.bottom
        )

    def union(self, other: Rect) -> Rect:
        """The smallest rectangle holding both."""
        return Rect(
            min(self.left, other.left),
            min(self.top, other.top),
            max(self.right, other.right),
            max(self.bottom, other.bottom),
        )

    def intersection(self, other: Rect) -> Rect:
        """The shared part (empty, ``area == 0``, when they do not meet)."""
        left, top = max(self.left, other.left), max(self.top, other.top)
        return Rect(left, top, max(left, min(self.right, other.right)), max(top, min(self.bottom, other.bottom)))

    def relative_to(self, origin: Rect) -> Rect:
        """This rectangle in the coordinates of ``origin``'s top-left corner."""
        return Rect(self.left - origin.left, self.top - origin.top, self.right - origin.left, self.bottom - origin.top)

    def as_tuple(self) -> tuple[int, int, int, int]:
        return self.left, self.top, self.right, self.bottom


@dataclass(frozen=True)
class Window:
    """One model call of a plan.

    Args:
        index: position in :attr:`Plan.windows` (windows run in this order).
        kind: :data:`WINDOW`, :data:`GLOBAL` or :data:`TILE`.
        rect: the part of the photo given to the model, in photo pixels.
        group: index of the mask group (:attr:`Plan.groups`) this window fills.
        scale: model-frame pixels per photo pixel (below 1 when the window is reduced for the model; 1.0 for
            tiles and for native-resolution plans).
        fills: the part of ``rect`` whose mask pixels this window may change: its group's mask box, clipped
            to ``rect``. Mask pixels of other groups inside ``rect`` are shown to the model as holes too, so
            it never sees an object that is about to be removed, but they are filled by their own window.
        ramp: for tiles, the widths in photo pixels of the bands along the left, top, right and bottom edges
            that overlap the neighbouring tile on that side; the tiles' fills cross-fade across them.
            ``(0, 0, 0, 0)`` for other windows.
    """

    index: int
    kind: str
    rect: Rect
    group: int
    scale: float
    fills: Rect
    ramp: tuple[int, int, int, int] = (0, 0, 0, 0)


@dataclass(frozen=True)
class Plan:
    """How a mask is processed: mask groups and the windows that fill them, in running order.

    Args:
        width: the photo's width in pixels.
        height: the photo's height in pixels.
        frame: side of the model's square frame, or ``None`` for an engine that works at native resolution
            on windows of any shape (the classic engine).
        context_margin: the context margin the plan was made with, in photo pixels.
        groups: the mask box of each group, in photo pixels.
        windows: the model calls, in running order (a group's global pass comes before its tiles).
    """

    width: int
    height: int
    frame: int | None
    context_margin: int
    groups: tuple[Rect, ...]
    windows: tuple[Window, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        """One line for people: how many windows of which kind, and at which scales."""
        counts = {kind: sum(1 for w in self.windows if w.kind == kind) for kind in (WINDOW, GLOBAL, TILE)}
        parts = [f"{len(self.groups)} mask region{'s' if len(self.groups) != 1 else ''}"]
        if counts[WINDOW]:
            scales = ", ".join(f"{w.scale:.2f}" for w in self.windows if w.kind == WINDOW)
            parts.append(f"{counts[WINDOW]} window{'s' if counts[WINDOW] != 1 else ''} (scale {scales})")
        if counts[GLOBAL]:
            parts.append(f"{counts[GLOBAL]} reduced-scale pass{'es' if counts[GLOBAL] != 1 else ''}")
        if counts[TILE]:
            parts.append(f"{counts[TILE]} native-resolution tile{'s' if counts[TILE] != 1 else ''}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain JSON-compatible data (for logs, the GUI and tests)."""
        return {
            "width": self.width,
            "height": self.height,
            "frame": self.frame,
            "context_margin": self.context_margin,
            "groups": [g.as_tuple() for g in self.groups],
            "windows": [
                {
                    "index": w.index,
                    "kind": w.kind,
                    "rect": w.rect.as_tuple(),
                    "group": w.group,
                    "scale": w.scale,
                    "fills": w.fills.as_tuple(),
                    "ramp": list(w.ramp),
                }
                for w in self.windows
            ],
        }


def plan_regions(
    mask: U8Mask,
    *,
    frame: int | None,
    context_margin: int = DEFAULT_CONTEXT_MARGIN,
    min_scale: float = DEFAULT_MIN_SCALE,
    tile_overlap: int = DEFAULT_TILE_OVERLAP,
) -> Plan:
    """Plan the windows that fill ``mask``.

    Args:
        mask: ``uint8`` (H, W) mask with the photo's geometry: values ≥ 128 are filled, and so are the soft
            marks connected to them (see :func:`core.photo.mask.fill_region`).
        frame: side of the model's square frame (512 for Moebius), or ``None`` for a native-resolution engine
            that takes windows of any size and shape (each window is then the group's box plus the margin).
        context_margin: photo pixels of context around each group's mask box (0 or more).
        min_scale: a group whose window would be scaled below this gets a global pass plus native tiles.
        tile_overlap: minimum overlap in photo pixels between neighbouring tiles.

    Returns:
        The :class:`Plan`; its windows list is empty when the mask selects nothing.
    """
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (H, W) mask, got {mask.dtype} {mask.shape}")
    height, width = int(mask.shape[0]), int(mask.shape[1])
    if frame is not None and frame < 16:
        raise ValueError(f"frame must be at least 16 pixels, got {frame}")
    if not 0.0 < min_scale <= 1.0:
        raise ValueError(f"min_scale must be in (0, 1], got {min_scale}")
    margin = max(0, int(context_margin))
    # 1. A coarse grid of the mask keeps planning cheap for any photo size.
    cell = max(1, math.ceil(math.sqrt(height * width / MAX_GRID_PIXELS)))
    grid = region_grid(mask, cell)
    # 2. Groups: mask pixels within the margin of each other, then boxes that are near or share a frame.
    boxes = _merge_boxes(_near_components(grid, cell, margin, width, height), margin, frame, width, height)
    # 3. Exact boxes: the grid's are up to a cell too large on each side.
    boxes = [_exact_box(mask, box) for box in boxes] if cell > 1 else boxes
    boxes.sort(key=lambda box: (box.top, box.left))
    # 4. Windows per group, in reading order.
    windows: list[Window] = []
    for group, box in enumerate(boxes):
        windows.extend(
            _group_windows(box, group, len(windows), grid, cell, width, height, frame, margin, min_scale, tile_overlap)
        )
    return Plan(width, height, frame, margin, tuple(boxes), tuple(windows))


def region_grid(mask: U8Mask, cell: int) -> BoolGrid:
    """Which ``cell`` × ``cell`` blocks of ``mask`` may hold pixels of the fill region.

    The blocks with a pixel ≥ :data:`~core.photo.mask.FILL_THRESHOLD`, and the blocks with soft pixels
    (≥ :data:`~core.photo.mask.SOFT_FLOOR`) that are connected to those through blocks with soft pixels.
    Pixels that touch lie in the same or in touching blocks, so every pixel of
    :func:`~core.photo.mask.fill_region` lies in a marked block; a faint mark in a block next to a stroke may
    be marked too, which only makes a box a little larger. For a 0/255 mask this is :func:`coarse_grid`.

    Args:
        mask: ``uint8`` (H, W) mask.
        cell: block side in pixels.

    Returns:
        ``bool`` array of ``ceil(H / cell)`` × ``ceil(W / cell)`` blocks.
    """
    strong = coarse_grid(mask, cell)
    soft = coarse_grid(mask, cell, threshold=SOFT_FLOOR)
    if np.array_equal(soft, strong) or not strong.any():
        return strong
    # Keep the connected groups of soft blocks that hold a strong block.
    count, labels = cv2.connectedComponents(soft.astype(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    keep = np.zeros(count, np.bool_)
    keep[labels[strong]] = True
    keep[0] = False  # the background
    grid: BoolGrid = keep[labels]
    return grid


def coarse_grid(mask: U8Mask, cell: int, threshold: int = FILL_THRESHOLD) -> BoolGrid:
    """Which ``cell`` × ``cell`` blocks of ``mask`` hold at least one pixel at or above ``threshold``.

    Works through the mask in horizontal strips, so it never makes a full-size temporary copy.

    Args:
        mask: ``uint8`` (H, W) mask.
        cell: block side in pixels (1 gives the binarized mask itself).
        threshold: the smallest mask value that counts (1 or more).

    Returns:
        ``bool`` array of ``ceil(H / cell)`` × ``ceil(W / cell)`` blocks.
    """
    height, width = int(mask.shape[0]), int(mask.shape[1])
    rows, columns = -(-height // cell), -(-width // cell)
    grid = np.zeros((rows, columns), np.bool_)
    strip_rows = max(1, (1 << 22) // max(1, width * cell))  # about 4 MB of mask per strip
    for first in range(0, rows, strip_rows):
        last = min(rows, first + strip_rows)
        # 1. Binarize one strip (0/255) and pad it to whole cells with "keep".
        _, binary = cv2.threshold(mask[first * cell : min(height, last * cell)], threshold - 1, 255, cv2.THRESH_BINARY)
        pad_rows, pad_columns = (last - first) * cell - binary.shape[0], columns * cell - width
        if pad_rows or pad_columns:
            binary = cv2.copyMakeBorder(binary, 0, pad_rows, 0, pad_columns, cv2.BORDER_CONSTANT, value=0)
        # 2. A cell holds mask pixels when its average is above 0. OpenCV's area averaging rounds, so one
        #    pixel of 255 stays visible in cells of up to 15×15 pixels; larger cells take the exact maximum.
        if cell <= 15:
            averaged = cv2.resize(binary, (columns, last - first), interpolation=cv2.INTER_AREA)
            grid[first:last] = averaged > 0
        else:
            grid[first:last] = binary.reshape(last - first, cell, columns, cell).max(axis=(1, 3)) > 0
    return grid


def _near_components(grid: BoolGrid, cell: int, margin: int, width: int, height: int) -> list[Rect]:
    """Boxes (photo pixels) of the groups of grid cells that lie within ``margin`` pixels of each other."""
    if not grid.any():
        return []
    # 1. Grow the cells by half the margin, so that cells closer than the margin touch. The grid is padded
    #    first, so growing is never cut at its edges and each grown box is the original box plus ``reach``.
    reach = (margin // 2) // cell
    grown = np.pad(grid.astype(np.uint8), reach)
    if reach > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * reach + 1, 2 * reach + 1))
        grown = np.asarray(cv2.dilate(grown, kernel), np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8, ltype=cv2.CV_32S)
    # 2. Shrink each grown box back by ``reach`` (undoing the padding too) and convert cells to pixels.
    boxes: list[Rect] = []
    for x, y, w, h, _ in stats[1:count].tolist():
        x0, y0 = x, y  # padded coordinates of the grown box = original box's corner in unpadded cells
        x1, y1 = x + w - 2 * reach, y + h - 2 * reach
        boxes.append(Rect(x0 * cell, y0 * cell, min(width, x1 * cell), min(height, y1 * cell)))
    return boxes


def _exact_box(mask: U8Mask, box: Rect) -> Rect:
    """The smallest rectangle inside ``box`` that holds all of its mask pixels, soft edges included."""
    found = mask_bbox(mask[box.slices], threshold=SOFT_FLOOR)
    if found is None:  # cannot happen for a box made from marked cells; kept whole to be safe
        return box
    return Rect(box.left + found[0], box.top + found[1], box.left + found[2], box.top + found[3])


def _merge_boxes(boxes: list[Rect], margin: int, frame: int | None, width: int, height: int) -> list[Rect]:
    """Merge boxes whose context overlaps, or that fit together into one native-resolution frame.

    Merging repeats until nothing changes, so the final boxes are pairwise disjoint and every mask pixel
    lies in exactly one box. Each box is compared with all others at once, so thousands of specks (a dusty
    scan) still plan in a moment.
    """
    if len(boxes) < 2:
        return list(boxes)
    # Columns: left, top, right, bottom. Boxes lie inside the photo, so growing them without clipping to it
    # finds the same overlaps as growing and clipping.
    table = np.array([box.as_tuple() for box in boxes], dtype=np.int64)
    room = (frame - 2 * margin) if frame is not None else -1
    index = 0
    while index < len(table):
        box, others = table[index], table[index + 1 :]
        near = (
            (box[0] - margin < others[:, 2] + margin)
            & (others[:, 0] - margin < box[2] + margin)
            & (box[1] - margin < others[:, 3] + margin)
            & (others[:, 1] - margin < box[3] + margin)
        )
        union_w = np.maximum(box[2], others[:, 2]) - np.minimum(box[0], others[:, 0])
        union_h = np.maximum(box[3], others[:, 3]) - np.minimum(box[1], others[:, 1])
        hits = near | ((union_w <= room) & (union_h <= room))
        if not hits.any():
            index += 1
            continue
        # Swallow every hit, then compare the grown box with all the others again (earlier ones too).
        joined = np.vstack([box[None, :], others[hits]])
        merged = np.array([joined[:, 0].min(), joined[:, 1].min(), joined[:, 2].max(), joined[:, 3].max()])
        rest = np.vstack([table[:index], others[~hits]])
        table = np.vstack([merged[None, :], rest])
        index = 0
    return [Rect(*(int(v) for v in row)) for row in table]


def _group_windows(
    box: Rect,
    group: int,
    first_index: int,
    grid: BoolGrid,
    cell: int,
    width: int,
    height: int,
    frame: int | None,
    margin: int,
    min_scale: float,
    tile_overlap: int,
) -> list[Window]:
    """The windows of one group: one window, or a global pass followed by native tiles."""
    # 1. Native-resolution engines take the box plus its margin as it is.
    if frame is None:
        return [Window(first_index, WINDOW, box.grown(margin, width, height), group, 1.0, box)]
    # 2. One square window holding the box and its margin, at least one frame large.
    side = max(box.width, box.height) + 2 * margin
    rect = _square_around(box, max(side, frame), width, height)
    scale = frame / max(rect.width, rect.height)
    if scale >= min_scale:
        return [Window(first_index, WINDOW, rect, group, scale, box)]
    # 3. Too large: a reduced-scale pass over the whole group, then native tiles over its box.
    windows = [Window(first_index, GLOBAL, rect, group, scale, box)]
    for tile, ramp in _tiles(box, grid, cell, width, height, frame, tile_overlap):
        windows.append(Window(first_index + len(windows), TILE, tile, group, 1.0, box.intersection(tile), ramp))
    return windows


def _square_around(box: Rect, side: int, width: int, height: int) -> Rect:
    """A ``side`` × ``side`` square centred on ``box``, shifted to lie inside the photo.

    Where the photo is narrower (or lower) than ``side``, the square is cut to the photo's width (or
    height); the runner pads such windows to the model's square frame with mirrored photo content.
    """
    w, h = min(side, width), min(side, height)
    left = min(max(0, (box.left + box.right - w) // 2), width - w)
    top = min(max(0, (box.top + box.bottom - h) // 2), height - h)
    return Rect(left, top, left + w, top + h)


def _tile_starts(start: int, stop: int, size: int, overlap: int, limit: int) -> list[int]:
    """Positions of ``size``-long tiles covering ``[start, stop)`` with at least ``overlap`` shared.

    The tiles are spread evenly, so the overlap is the same between all neighbours; a range shorter than
    one tile gets one tile centred on it, kept inside ``[0, limit)``.
    """
    length = stop - start
    if length <= size:
        return [min(max(0, (start + stop - size) // 2), limit - size)]
    count = math.ceil((length - overlap) / max(1, size - overlap))
    count = max(2, count)
    return [start + round(i * (length - size) / (count - 1)) for i in range(count)]


def _tiles(
    box: Rect, grid: BoolGrid, cell: int, width: int, height: int, frame: int, overlap: int
) -> list[tuple[Rect, tuple[int, int, int, int]]]:
    """Native-resolution tiles over ``box`` (with some context around it) that hold mask pixels.

    Returns each tile with its ramp widths ``(left, top, right, bottom)``: how far it overlaps the kept tile
    next to it on that side (0 where there is none).
    """
    tile_w, tile_h = min(frame, width), min(frame, height)
    overlap = max(0, min(overlap, tile_w // 2, tile_h // 2))
    area = box.grown(overlap // 2, width, height)
    xs = _tile_starts(area.left, area.right, tile_w, overlap, width)
    ys = _tile_starts(area.top, area.bottom, tile_h, overlap, height)
    # 1. The grid of tiles, keeping those with mask pixels.
    kept: dict[tuple[int, int], Rect] = {}
    for row, y in enumerate(ys):
        for column, x in enumerate(xs):
            tile = Rect(x, y, x + tile_w, y + tile_h)
            if _has_mask(grid, cell, tile.intersection(box)):
                kept[(row, column)] = tile
    # 2. The overlap with each kept neighbour, over which the tiles' fills cross-fade.
    result: list[tuple[Rect, tuple[int, int, int, int]]] = []
    for (row, column), tile in kept.items():
        left, right = kept.get((row, column - 1)), kept.get((row, column + 1))
        above, below = kept.get((row - 1, column)), kept.get((row + 1, column))
        ramp = (
            max(0, left.right - tile.left) if left else 0,
            max(0, above.bottom - tile.top) if above else 0,
            max(0, tile.right - right.left) if right else 0,
            max(0, tile.bottom - below.top) if below else 0,
        )
        result.append((tile, ramp))
    return result


def _has_mask(grid: BoolGrid, cell: int, rect: Rect) -> bool:
    """Whether any grid cell overlapping ``rect`` (photo pixels) holds mask pixels."""
    if rect.area == 0:
        return False
    cells = grid[rect.top // cell : -(-rect.bottom // cell), rect.left // cell : -(-rect.right // cell)]
    return bool(cells.any())


# -- drawing ------------------------------------------------------------------------------------------------

_KIND_COLOURS = {WINDOW: (40, 220, 90), GLOBAL: (255, 160, 20), TILE: (40, 190, 255)}


def render_plan(
    image: npt.NDArray[np.uint8], mask: U8Mask, plan: Plan, *, max_side: int = 1600
) -> npt.NDArray[np.uint8]:
    """A picture of the plan: the photo dimmed, the mask in red, each window outlined and numbered.

    Windows are green, reduced-scale passes orange and native tiles light blue; labels give the window's
    number in running order and, except for tiles (always at scale 1), its scale.

    Args:
        image: ``uint8`` (H, W, 3) RGB photo the plan was made for.
        mask: ``uint8`` (H, W) mask the plan was made from.
        plan: the plan to draw.
        max_side: the picture's longer side in pixels at most (the photo is reduced to fit, never enlarged).

    Returns:
        ``uint8`` (h, w, 3) RGB picture.
    """
    height, width = int(image.shape[0]), int(image.shape[1])
    # 1. The photo reduced to the picture's size, dimmed so the drawing stands out, the mask tinted red.
    factor = min(1.0, max_side / max(height, width))
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    picture = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if factor < 1.0 else image.copy()
    picture = (picture.astype(np.float32) * 0.6).astype(np.uint8)
    if factor < 1.0:
        cell = max(1, math.ceil(1.0 / factor))
        small = coarse_grid(mask, cell).astype(np.uint8) * 255
        covered = cv2.resize(small, size, interpolation=cv2.INTER_NEAREST) > 0
    else:
        covered = mask >= FILL_THRESHOLD
    picture[covered] = (0.5 * picture[covered] + np.array([127, 0, 0], np.float32)).astype(np.uint8)
    # 2. The windows, tiles first so the larger outlines stay on top.
    thickness = max(1, round(max(size) / 600))
    order = sorted(plan.windows, key=lambda w: (w.kind != TILE, w.index))
    for window in order:
        colour = _KIND_COLOURS.get(window.kind, (255, 255, 255))
        x0, y0 = round(window.rect.left * factor), round(window.rect.top * factor)
        x1 = max(x0 + 1, round(window.rect.right * factor) - 1)
        y1 = max(y0 + 1, round(window.rect.bottom * factor) - 1)
        cv2.rectangle(picture, (x0, y0), (x1, y1), colour, thickness if window.kind != TILE else 1)
        # Tiles are many and all at scale 1: their number is enough.
        label = f"{window.index + 1}" if window.kind == TILE else f"{window.index + 1} x{window.scale:.2f}"
        scale = (0.3 if window.kind == TILE else 0.45) * thickness
        (text_w, text_h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        origin = (min(x0 + 3, size[0] - text_w - 1), min(y0 + text_h + 3, size[1] - 2))
        cv2.putText(picture, label, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)
    return np.ascontiguousarray(picture)
