"""Reviewing results on the canvas: the history strip, before/after (hold a key or split view), accept,
discard, variations, and the live preview while a job runs.

The data lives in the :class:`~app.editor.document.EditorDocument` (the history, the entry under review, the
undo step of an accepted result); this controller only decides what the canvas, the review bar and the strip
show. A result under review is *shown*: its changed box is pasted into the canvas image and nothing else
changes until Accept. What it needs from the window around it is the small :class:`ReviewView`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from PySide6.QtCore import QObject, QRect
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from app.editor.actions import make_action
from app.editor.canvas import Canvas
from app.editor.canvas_layers import preview_layer
from app.editor.document import EditorDocument
from app.editor.history import HistoryEntry, ResultsHistory, crop
from app.editor.history_strip import HistoryStrip
from app.editor.results_panel import ResultsPanel, ReviewBar
from app.editor.runner import JobRunner
from app.qt_image import rgb_to_rgb32
from core.common.progress import ProgressEvent
from core.inpaint.result import InpaintResult
from core.job.request import InpaintRequest

SPLIT_START = 0.5


class ReviewView(Protocol):
    """What the review needs from the window around the canvas."""

    def mask_wanted(self) -> bool:
        """Whether the user wants the mask overlay shown (the review hides it while a result is shown)."""
        ...

    def show_status(self, text: str) -> None:
        """A short note in the status bar."""
        ...


class ReviewController(QObject):
    """Shows the results of the open photo for review and turns the user's decisions into document changes.

    Args:
        document: the document whose history and pixels it shows.
        canvas: the canvas that shows them.
        runner: the editor's job runner (the live preview follows its job).
        view: the window's small :class:`ReviewView`.
        owner: the widget the review's keyboard shortcuts belong to.
    """

    def __init__(
        self, document: EditorDocument, canvas: Canvas, runner: JobRunner, view: ReviewView, owner: QWidget
    ) -> None:
        super().__init__(owner)
        self.document = document
        self.canvas = canvas
        self.runner = runner
        self.view = view
        self.strip = HistoryStrip(document.history)
        self.bar = ReviewBar()
        self.panel = ResultsPanel(self.strip, self.bar)  # shown by the window while a photo is open
        self.showing_before = False
        self.preview_count = 0  # live previews shown for the running job (observable for tests)
        self._preview_job = 0
        self._shown: HistoryEntry | None = None  # the entry whose box the canvas image shows now
        self.strip.picked.connect(self.review)
        self._build_actions(owner)
        runner.progressed.connect(self.job_progressed)
        runner.ended.connect(self.clear_preview)
        document.pixels_changed.connect(self._pixels_changed)
        document.opened.connect(self.reset)

    def _build_actions(self, owner: QWidget) -> None:
        key = QKeySequence
        self.split_action = make_action(
            owner,
            "&Split Before/After",
            self.toggle_split,
            [key("Y")],
            "Before left of a draggable divider, after right (Y)",
        )
        self.split_action.setCheckable(True)
        self.plan_action = make_action(
            owner,
            "Show &Processed Regions",
            self.toggle_plan,
            [key("Shift+P")],
            "Outline the windows the photo was processed in (Shift+P)",
        )
        self.plan_action.setCheckable(True)
        self.plan_action.setChecked(True)
        self.previous_action = make_action(
            owner, "&Previous Result", lambda: self.step(-1), [key("Alt+Left")], "Review the previous result (Alt+Left)"
        )
        self.next_action = make_action(
            owner, "&Next Result", lambda: self.step(1), [key("Alt+Right")], "Review the next result (Alt+Right)"
        )
        self.history_action = make_action(
            owner, "Results &History", self.focus_strip, [key("Ctrl+Shift+H")], "Move the keyboard focus to the results"
        )

    @property
    def view_actions(self) -> list[QAction]:
        return [self.split_action, self.plan_action]

    @property
    def run_actions(self) -> list[QAction]:
        return [self.previous_action, self.next_action, self.history_action]

    @property
    def history(self) -> ResultsHistory:
        return self.document.history

    @property
    def entry(self) -> HistoryEntry | None:
        """The entry under review, or ``None``."""
        return self.document.reviewed

    # -- entries ---------------------------------------------------------------------------------------------

    def add_result(self, request: InpaintRequest, result: InpaintResult) -> HistoryEntry | None:
        """Record a finished run (as its changed box) and show it for review; ``None`` when the photo it ran on
        is no longer open."""
        entry = self.document.add_result(request, result)
        if entry is not None:
            self.review(entry)
        return entry

    def review(self, entry: HistoryEntry) -> None:
        """Show ``entry`` over the photo (the photo itself does not change until Accept)."""
        pixels = self.document.pixels
        if pixels is None or entry not in self.history.entries:
            return
        if self._shown is not None and self._shown is not entry:
            self._restore_view()
        self.document.start_review(entry)
        self._shown = entry
        self.showing_before = False
        if not entry.rect.isEmpty():
            self.canvas.show_patch(entry.shown_over(pixels), entry.rect)
            self.canvas.compare_patch = (rgb_to_rgb32(crop(pixels, entry.rect)), QRect(entry.rect))
        else:
            self.canvas.compare_patch = None
        self.canvas.plan_rects = list(entry.plan_rects)
        self.canvas.mask_visible = False
        self.canvas.update()
        self.bar.show_entry(entry)
        self.strip.rebuild(selected=entry)

    def step(self, delta: int) -> None:
        """Review the previous (-1) or next (+1) result of the history."""
        entries = self.history.entries
        if not entries or self.runner.running:
            return
        index = entries.index(self.entry) + delta if self.entry in entries else len(entries) - 1
        self.review(entries[min(max(index, 0), len(entries) - 1)])

    def focus_strip(self) -> None:
        if self.history.entries:
            self.strip.setFocus()

    def _restore_view(self) -> None:
        """Show the photo itself again where the entry shown was drawn."""
        entry, pixels = self._shown, self.document.pixels
        self._shown = None
        if entry is not None and pixels is not None and not entry.rect.isEmpty():
            self.canvas.show_patch(crop(pixels, entry.rect), entry.rect)

    def _pixels_changed(self, rect: QRect) -> None:
        # The canvas has shown the new pixels (it listens first); a result under review goes back over them.
        entry = self.entry
        if entry is not None:
            self._shown = None
            self.review(entry)

    def close(self) -> None:
        """Stop reviewing (the entry stays in the history); the canvas shows the photo and the mask again."""
        self._restore_view()
        self.document.stop_review()
        self.showing_before = False
        self.canvas.compare_patch = None
        self.canvas.plan_rects = []
        self.canvas.mask_visible = self.view.mask_wanted()
        self.canvas.update()
        self.bar.clear_entry()
        self.strip.rebuild()

    def reset(self) -> None:
        """A new photo: nothing shown from the old one's history."""
        self._shown = None
        self.showing_before = False
        self.canvas.compare_patch = None
        self.canvas.plan_rects = []
        self.canvas.mask_visible = self.view.mask_wanted()
        self.clear_preview()
        self.strip.rebuild()
        self.bar.clear_entry()

    # -- decisions -------------------------------------------------------------------------------------------

    def accept(self) -> bool:
        """Apply the result under review: one undo step that also clears the mask it filled."""
        entry = self.entry
        if entry is None or self.document.pixels is None:
            return False
        self.close()
        self.document.accept(entry)
        self.strip.rebuild()
        return True

    def discard(self) -> bool:
        """Drop the result under review from the history; the mask stays for another try."""
        entry = self.entry
        if entry is None:
            return False
        self.close()
        self.document.discard(entry)
        self.strip.rebuild()
        return True

    def prepare_variation(self) -> bool:
        """Stop reviewing and put the reviewed result's mask back, ready to run it again with another seed
        (the result stays in the history). False when nothing is under review."""
        entry, pixels = self.entry, self.document.pixels
        if entry is None or pixels is None:
            return False
        self.close()
        mask = entry.full_mask((pixels.shape[0], pixels.shape[1]))
        if not np.array_equal(mask, self.document.mask):
            self.document.replace_mask(mask, "Restore mask of the result")
        return True

    # -- comparing -------------------------------------------------------------------------------------------

    def show_before(self, before: bool) -> None:
        """Show the photo without (``True``) or with (``False``) the result under review."""
        entry, pixels = self.entry, self.document.pixels
        if entry is None or pixels is None or entry.rect.isEmpty():
            return
        patch = crop(pixels, entry.rect) if before else entry.shown_over(pixels)
        self.canvas.show_patch(patch, entry.rect)
        self.showing_before = before
        self.view.show_status("Before" if before else "After")

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

    def job_progressed(self, event: ProgressEvent) -> None:
        """Draw the running job's preview over its window, only where the job's mask is."""
        job = self.runner.job
        if job is None:
            return
        if job.id != self._preview_job:
            self._preview_job, self.preview_count = job.id, 0
        if event.preview is None or event.region is None:
            return
        rect = QRect(*(int(v) for v in event.region))
        layer = preview_layer(np.asarray(event.preview, dtype=np.uint8), rect, job.request.mask)
        if layer.isNull():
            return
        self.clear_preview()
        self.canvas.live_preview = (layer, rect)
        self.canvas.repaint_photo_rect(rect)
        self.preview_count += 1

    def clear_preview(self) -> None:
        if self.canvas.live_preview is not None:
            rect = self.canvas.live_preview[1]
            self.canvas.live_preview = None
            self.canvas.repaint_photo_rect(rect)
