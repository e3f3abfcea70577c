"""Reviewing results: the history strip, before/after (hold a key or split view), accept, discard, variations,
and the live preview while a job runs.

The photo being edited is the window's ``current_pixels``. A result under review is only *shown*: its changed
box is pasted into the canvas image and nothing else changes until Accept, which is one undo step holding the
box's before and after pixels (not full frames) and the mask it cleared.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QObject, QRect
from PySide6.QtGui import QAction, QKeySequence, QUndoCommand

from app.canvas_layers import preview_layer
from app.history import HistoryEntry, HistoryStrip, ResultsHistory, crop, nonzero_box
from app.qt_image import rgb_to_rgb32
from core.common.progress import ProgressEvent
from core.inpaint.result import InpaintResult
from core.job.request import InpaintRequest

if TYPE_CHECKING:
    from app.main_window import MainWindow

U8 = npt.NDArray[np.uint8]
SPLIT_START = 0.5
_versions = itertools.count(1)


def next_version() -> int:
    """A new id for the content of ``current_pixels`` (tells saved from unsaved without comparing pixels)."""
    return next(_versions)


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


class ApplyPatchCommand(QUndoCommand):
    """Undo step of an accepted result: the changed box before and after, and the mask it cleared."""

    def __init__(
        self, window: MainWindow, rect: QRect, before: U8, after: U8, mask_rect: QRect, mask_before: U8
    ) -> None:
        super().__init__("Apply inpaint result")
        self._window = window
        self._rect, self._before, self._after = QRect(rect), before, after
        self._mask_rect, self._mask_before = QRect(mask_rect), mask_before
        self._before_version = window.pixels_version
        self._after_version = next_version()

    def redo(self) -> None:
        self._window.apply_patch(self._rect, self._after, self._after_version)
        if not self._mask_rect.isEmpty():  # the filled area is done: the next round starts with an empty mask
            self._window.canvas.write_mask(self._mask_rect, np.zeros_like(self._mask_before))

    def undo(self) -> None:
        self._window.apply_patch(self._rect, self._before, self._before_version)
        if not self._mask_rect.isEmpty():
            self._window.canvas.write_mask(self._mask_rect, self._mask_before)


class ReviewController(QObject):
    """Owns the results history of the open photo and the result under review."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.canvas = window.canvas
        self.history = ResultsHistory()
        self.strip = HistoryStrip(self.history)
        self.strip.hide()
        self.entry: HistoryEntry | None = None
        self.showing_before = False
        self.preview_count = 0  # live previews shown for the running job (observable for tests)
        self._preview_job = 0
        self.strip.picked.connect(self.review)
        self._build_actions()
        worker = window.service.worker
        worker.progressed.connect(self.job_progressed)
        worker.finished.connect(self._job_ended)
        worker.failed.connect(self._job_ended)
        worker.cancelled.connect(self._job_ended)

    def _build_actions(self) -> None:
        window = self.window
        key = QKeySequence
        self.split_action = window._action(
            "&Split Before/After", self.toggle_split, [key("Y")], "Before left of a draggable divider, after right (Y)"
        )
        self.split_action.setCheckable(True)
        self.plan_action = window._action(
            "Show &Processed Regions",
            self.toggle_plan,
            [key("Shift+P")],
            "Outline the windows the photo was processed in (Shift+P)",
        )
        self.plan_action.setCheckable(True)
        self.plan_action.setChecked(True)
        self.previous_action = window._action(
            "&Previous Result", lambda: self.step(-1), [key("Alt+Left")], "Review the previous result (Alt+Left)"
        )
        self.next_action = window._action(
            "&Next Result", lambda: self.step(1), [key("Alt+Right")], "Review the next result (Alt+Right)"
        )
        self.history_action = window._action(
            "Results &History", self.focus_strip, [key("Ctrl+Shift+H")], "Move the keyboard focus to the results"
        )

    @property
    def view_actions(self) -> list[QAction]:
        return [self.split_action, self.plan_action]

    @property
    def run_actions(self) -> list[QAction]:
        return [self.previous_action, self.next_action, self.history_action]

    # -- entries ---------------------------------------------------------------------------------------------

    def add_result(self, request: InpaintRequest, result: InpaintResult) -> HistoryEntry:
        """Record a finished run (as its changed box) and show it for review."""
        # The photo the job ran on: the user may have accepted or undone something meanwhile.
        entry = HistoryEntry.from_result(request.image, request.mask, result, request.settings)
        evicted = self.history.add(entry)
        if self.entry in evicted:
            self.close()
        self.review(entry)
        return entry

    def review(self, entry: HistoryEntry) -> None:
        """Show ``entry`` over the photo (the photo itself does not change until Accept)."""
        pixels = self.window.current_pixels
        if pixels is None or entry not in self.history.entries:
            return
        if self.entry is not None and self.entry is not entry:
            self._restore_view()
        self.entry = entry
        self.showing_before = False
        if not entry.rect.isEmpty():
            self.window.show_patch(entry.shown_over(pixels), entry.rect)
            self.canvas.compare_patch = (rgb_to_rgb32(crop(pixels, entry.rect)), QRect(entry.rect))
        else:
            self.canvas.compare_patch = None
        self.canvas.plan_rects = list(entry.plan_rects)
        self.canvas.mask_visible = False
        self.canvas.update()
        seed = f"seed {entry.seed}" if entry.seed is not None else "no seed"
        done = " (accepted)" if entry.accepted else ""
        self.window.review_label.setText(
            f"{entry.engine} · {seed} · {entry.summary} · {entry.seconds:.1f} s{done} — keep this result? "
            "(hold \\ to compare, Y splits)"
        )
        self.window.review_bar.show()
        self.strip.rebuild(selected=entry)
        self.window._update_actions()

    def step(self, delta: int) -> None:
        """Review the previous (-1) or next (+1) result of the history."""
        entries = self.history.entries
        if not entries or self.window.job is not None:
            return
        index = entries.index(self.entry) + delta if self.entry in entries else len(entries) - 1
        self.review(entries[min(max(index, 0), len(entries) - 1)])

    def focus_strip(self) -> None:
        if self.history.entries:
            self.strip.setFocus()

    def _restore_view(self) -> None:
        """Show the photo itself again where the entry under review was drawn."""
        pixels = self.window.current_pixels
        if self.entry is not None and pixels is not None and not self.entry.rect.isEmpty():
            self.window.show_patch(crop(pixels, self.entry.rect), self.entry.rect)

    def close(self) -> None:
        """Stop reviewing (the entry stays in the history); the canvas shows the photo and the mask again."""
        self._restore_view()
        self.entry = None
        self.showing_before = False
        self.canvas.compare_patch = None
        self.canvas.plan_rects = []
        self.canvas.mask_visible = self.window.show_mask_action.isChecked()
        self.canvas.update()
        self.window.review_bar.hide()
        self.strip.rebuild()
        self.window._update_actions()

    def reset(self) -> None:
        """A new photo: forget the history."""
        self.entry = None
        self.canvas.compare_patch = None
        self.canvas.plan_rects = []
        self.clear_preview()
        self.history.clear()
        self.strip.rebuild()
        self.window.review_bar.hide()

    # -- decisions -------------------------------------------------------------------------------------------

    def accept(self) -> bool:
        """Apply the result under review: one undo step that also clears the mask it filled."""
        entry, pixels = self.entry, self.window.current_pixels
        if entry is None or pixels is None:
            return False
        after = entry.shown_over(pixels) if not entry.rect.isEmpty() else entry.after
        before = crop(pixels, entry.rect) if not entry.rect.isEmpty() else entry.before
        mask = self.canvas.mask_array
        mask_rect = nonzero_box(mask)
        mask_before = crop(mask, mask_rect) if not mask_rect.isEmpty() else np.zeros((0, 0), np.uint8)
        self.close()
        entry.accepted = True
        self.window.undo_stack.push(ApplyPatchCommand(self.window, entry.rect, before, after, mask_rect, mask_before))
        self.strip.rebuild()
        return True

    def discard(self) -> bool:
        """Drop the result under review from the history; the mask stays for another try."""
        entry = self.entry
        if entry is None:
            return False
        self.close()
        self.history.remove(entry)
        self.strip.rebuild()
        return True

    def variation(self) -> InpaintRequest | None:
        """Run the reviewed result's mask again with a fresh random seed (the result stays in the history)."""
        entry, pixels = self.entry, self.window.current_pixels
        if entry is None or pixels is None:
            return None
        self.close()
        mask = entry.full_mask(pixels.shape[:2])
        if not np.array_equal(mask, self.canvas.mask_array):
            self.canvas.replace_mask(mask, "Restore mask of the result")
        job = self.window.run_inpaint(new_seed=True)
        return None if job is None else job.request

    # -- comparing -------------------------------------------------------------------------------------------

    def show_before(self, before: bool) -> None:
        """Show the photo without (``True``) or with (``False``) the result under review."""
        entry, pixels = self.entry, self.window.current_pixels
        if entry is None or pixels is None or entry.rect.isEmpty():
            return
        patch = crop(pixels, entry.rect) if before else entry.shown_over(pixels)
        self.window.show_patch(patch, entry.rect)
        self.showing_before = before
        self.window.statusBar().showMessage("Before" if before else "After")

    def toggle_split(self) -> None:
        self.set_split(SPLIT_START if self.canvas.split_fraction is None else None)

    def set_split(self, fraction: float | None) -> None:
        """Split view on at ``fraction`` of the canvas width (before on the left), or off."""
        self.canvas.set_split(fraction)
        self.split_action.setChecked(fraction is not None)

    def toggle_plan(self) -> None:
        self.canvas.plan_visible = self.plan_action.isChecked()
        self.canvas.update()

    # -- live preview ----------------------------------------------------------------------------------------

    def job_progressed(self, job_id: int, event: ProgressEvent) -> None:
        """Draw the job's preview over its window, only where the job's mask is."""
        job = self.window.job
        if job is None or job.id != job_id or job.cancel.cancelled:
            return
        if job.id != self._preview_job:
            self._preview_job, self.preview_count = job.id, 0
        preview = event.preview
        region = getattr(event, "region", None)  # core adds it with the preview's place in the photo
        if preview is None or region is None:
            return
        rect = QRect(*(int(v) for v in region))
        layer = preview_layer(np.asarray(preview, dtype=np.uint8), rect, job.request.mask)
        if layer.isNull():
            return
        self.clear_preview()
        self.canvas.live_preview = (layer, rect)
        self.canvas.update(self.canvas.photo_to_widget_rect(rect))
        self.preview_count += 1

    def _job_ended(self, job_id: int, *_: object) -> None:
        # Batch jobs share the worker: only the editor's own job takes its preview away.
        job = self.window.job
        if job is None or job.id == job_id:
            self.clear_preview()

    def clear_preview(self) -> None:
        if self.canvas.live_preview is not None:
            rect = self.canvas.live_preview[1]
            self.canvas.live_preview = None
            self.canvas.update(self.canvas.photo_to_widget_rect(rect))
