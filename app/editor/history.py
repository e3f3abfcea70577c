"""Results history of the photo being edited: every finished run, kept as the rectangle it changed.

Why rectangles: a 50 MP photo costs about 150 MB per full RGB copy, so a before/after pair per run would eat
gigabytes after a few variations. An entry keeps only the box the run changed (its before and after pixels)
plus the mask that produced it (cropped to the mask's box), and the history evicts the oldest entries once a
memory budget or an entry count is exceeded, saying so in :attr:`ResultsHistory.last_note`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QImage

from app.qt_image import array_to_qimage
from core.inpaint.result import InpaintResult
from core.job.engines import ENGINES
from core.job.settings import JobSettings

U8 = npt.NDArray[np.uint8]
MAX_ENTRIES = 24
MAX_BYTES = 1_000_000_000  # patches of all entries together; a few 50 MP variations of a large mask fit
THUMB_SIZE = 56  # the strip stays one compact row under the canvas (see app.editor.results_panel)
_entry_ids = itertools.count(1)


def changed_box(before: U8, after: U8) -> QRect:
    """The bounding box of the pixels that differ (empty when none do)."""
    differs = np.any(before != after, axis=2)
    rows = np.flatnonzero(differs.any(axis=1))
    if rows.size == 0:
        return QRect()
    columns = np.flatnonzero(differs[rows[0] : rows[-1] + 1].any(axis=0))
    return QRect(int(columns[0]), int(rows[0]), int(columns[-1] - columns[0] + 1), int(rows[-1] - rows[0] + 1))


def nonzero_box(mask: U8) -> QRect:
    """The bounding box of a mask's non-zero pixels (soft edges included), empty when there are none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return QRect()
    columns = np.flatnonzero(mask[rows[0] : rows[-1] + 1].any(axis=0))
    return QRect(int(columns[0]), int(rows[0]), int(columns[-1] - columns[0] + 1), int(rows[-1] - rows[0] + 1))


def crop(pixels: npt.NDArray[np.uint8], rect: QRect) -> npt.NDArray[np.uint8]:
    """A copy of ``rect`` of an image (so the entry does not keep the full frame alive)."""
    return pixels[rect.top() : rect.bottom() + 1, rect.left() : rect.right() + 1].copy()


def engine_label(engine: str) -> str:
    """What the user reads for an engine's name (``"moebius"`` -> ``"Moebius (AI)"``); unknown names as they are."""
    info = ENGINES.get(engine)
    return info.label if info is not None else engine


def uses_seed(engine: str) -> bool:
    """Whether a run of ``engine`` depends on its seed (another seed gives another fill); unknown engines do."""
    info = ENGINES.get(engine)
    return info is None or info.uses_seed


def settings_summary(settings: JobSettings, engine: str) -> str:
    """A short line for the result's description: what the run of ``engine`` with these settings did.

    Only what the engine uses is named (from its capability flags in :data:`core.job.engines.ENGINES`): the
    classic fill has no steps and no guidance, so a line about them would describe something that never ran.
    """
    info = ENGINES.get(engine)
    parts = []
    if info is None or info.uses_steps:
        parts.append(f"{settings.steps} steps")
    if info is None or info.uses_guidance:
        parts.append(f"guidance {settings.guidance:g}")
    # Colour matching corrects a model's colour drift; the classic fill reproduces the photo's edge exactly and
    # never runs it (the registry has no flag for it, so the model engines are the ones that match colour).
    if info is None or info.needs_weights:
        if not settings.colour_match:
            parts.append("no colour match")
        elif settings.colour_match_strength < 1:
            parts.append(f"colour {settings.colour_match_strength:.0%}")
    else:
        parts.append("classic fill")
    if settings.grain_match:
        parts.append("grain")
    return " · ".join(parts)


@dataclass(eq=False)  # entries are compared by identity: their pixels are arrays
class HistoryEntry:
    """One finished run, as the box it changed.

    ``before`` is the photo in ``rect`` when the run started, ``after`` the result there; ``mask`` is the
    mask that was run, cropped to ``mask_rect``.
    """

    rect: QRect
    before: U8
    after: U8
    mask_rect: QRect
    mask: U8
    seed: int | None
    engine: str
    summary: str
    seconds: float
    warnings: list[str] = field(default_factory=list)
    plan_rects: list[QRect] = field(default_factory=list)
    accepted: bool = False
    id: int = field(default_factory=lambda: next(_entry_ids))
    _thumbnail: QImage | None = field(default=None, repr=False)

    @classmethod
    def from_result(cls, photo: U8, mask: U8, result: InpaintResult, settings: JobSettings) -> HistoryEntry:
        plan_rects = []
        if result.plan is not None:
            plan_rects = [
                QRect(w.rect.left, w.rect.top, w.rect.right - w.rect.left, w.rect.bottom - w.rect.top)
                for w in result.plan.windows
            ]
        # Nothing outside the processed windows changes, so on a big photo only they are compared.
        area = QRect(0, 0, photo.shape[1], photo.shape[0])
        if plan_rects:
            union = QRect()
            for window in plan_rects:
                union = union.united(window)
            area = union.intersected(area)
        rect = changed_box(crop(photo, area), crop(result.image, area)).translated(area.topLeft())
        mask_rect = nonzero_box(mask)
        seconds = result.timings.get("total") or sum(result.timings.values())
        return cls(
            rect=rect,
            before=crop(photo, rect) if not rect.isEmpty() else np.zeros((0, 0, 3), np.uint8),
            after=crop(result.image, rect) if not rect.isEmpty() else np.zeros((0, 0, 3), np.uint8),
            mask_rect=mask_rect,
            mask=crop(mask, mask_rect) if not mask_rect.isEmpty() else np.zeros((0, 0), np.uint8),
            seed=result.seed,
            engine=result.engine,
            summary=settings_summary(settings, result.engine),
            seconds=float(seconds),
            warnings=list(result.warnings),
            plan_rects=plan_rects,
        )

    @property
    def nbytes(self) -> int:
        return int(self.before.nbytes + self.after.nbytes + self.mask.nbytes)

    @property
    def caption(self) -> str:
        """The thumbnail's one-line caption: the seed (or the engine, for one without), ✓ once accepted."""
        name = f"seed {self.seed}" if self.seed is not None else engine_label(self.engine).split(" (")[0]
        mark = "✓ " if self.accepted else ""
        return f"{mark}{name}"

    @property
    def description(self) -> str:
        """What ran, in one line: engine, seed where it matters, settings it used, time."""
        parts = [engine_label(self.engine)]
        if self.seed is not None or uses_seed(self.engine):
            parts.append(f"seed {self.seed}" if self.seed is not None else "random seed")
        parts += [self.summary, f"{self.seconds:.1f} s"]
        return " · ".join(parts)

    def shown_over(self, photo: U8) -> U8:
        """The result's box as it looks over ``photo``: only the pixels the run changed are replaced.

        Replacing only changed pixels keeps later accepted edits elsewhere in the box when an older entry is
        picked.
        """
        view = crop(photo, self.rect)
        changed = np.any(self.before != self.after, axis=2)
        view[changed] = self.after[changed]
        return view

    def full_mask(self, shape: tuple[int, int]) -> U8:
        mask = np.zeros(shape, np.uint8)
        if not self.mask_rect.isEmpty():
            r = self.mask_rect
            mask[r.top() : r.bottom() + 1, r.left() : r.right() + 1] = self.mask
        return mask

    def thumbnail(self) -> QImage:
        """The result's changed box, reduced to :data:`THUMB_SIZE` (made once: the strip is rebuilt often)."""
        if self._thumbnail is None:
            if self.rect.isEmpty():
                self._thumbnail = QImage(THUMB_SIZE, THUMB_SIZE, QImage.Format.Format_RGB32)
                self._thumbnail.fill(Qt.GlobalColor.darkGray)
            else:
                self._thumbnail = array_to_qimage(self.after).scaled(
                    THUMB_SIZE,
                    THUMB_SIZE,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
        return self._thumbnail


class ResultsHistory:
    """The entries of the current photo, oldest first, within :data:`MAX_ENTRIES` and :data:`MAX_BYTES`."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.entries: list[HistoryEntry] = []
        self.last_note = ""

    def __iter__(self) -> Iterator[HistoryEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def nbytes(self) -> int:
        return sum(entry.nbytes for entry in self.entries)

    def add(self, entry: HistoryEntry) -> list[HistoryEntry]:
        """Append ``entry``; returns the entries evicted to stay within the limits (never ``entry`` itself)."""
        self.entries.append(entry)
        evicted: list[HistoryEntry] = []
        while len(self.entries) > 1 and (len(self.entries) > self.max_entries or self.nbytes > self.max_bytes):
            evicted.append(self.entries.pop(0))
        if not evicted:
            self.last_note = ""
        elif len(evicted) == 1:
            self.last_note = "The oldest result was dropped from the history to save memory."
        else:
            self.last_note = f"The {len(evicted)} oldest results were dropped from the history to save memory."
        return evicted

    def remove(self, entry: HistoryEntry) -> None:
        if entry in self.entries:
            self.entries.remove(entry)

    def clear(self) -> None:
        self.entries.clear()
        self.last_note = ""

    def find(self, entry_id: int) -> HistoryEntry | None:
        return next((entry for entry in self.entries if entry.id == entry_id), None)


@dataclass(frozen=True)
class ReviewedResult:
    """A result under review as callers outside the editor see it: engine, seed and the full picture.

    ``image`` builds the full frame on demand (the history itself keeps only the changed box).
    """

    entry: HistoryEntry
    photo: U8

    @property
    def engine(self) -> str:
        return self.entry.engine

    @property
    def seed(self) -> int | None:
        return self.entry.seed

    @property
    def warnings(self) -> list[str]:
        return self.entry.warnings

    @property
    def image(self) -> U8:
        image = self.photo.copy()
        rect = self.entry.rect
        if not rect.isEmpty():
            image[rect.top() : rect.bottom() + 1, rect.left() : rect.right() + 1] = self.entry.shown_over(self.photo)
        return image
