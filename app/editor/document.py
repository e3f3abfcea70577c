"""The photo being edited, as data: its pixels, its mask, the undo stack, the saved state and the results.

The window and the canvas only *show* an :class:`EditorDocument`; everything that decides what the photo is
happens here, without widgets, so it can be driven and tested on its own:

- the photo as read (:class:`~core.photo.photo.Photo`, kept to write results back the same way) and its
  current pixels (RGB ``uint8``). A change never edits the array in place (a running job or the last save may
  still hold it): it makes a new array and a new *version*, a number that tells saved from unsaved content
  without comparing pixels;
- the mask: one ``Format_Alpha8`` QImage whose pixels are also a numpy view (no copy), so the canvas draws the
  image while brushes write the array (255 = fill, 0 = keep);
- one QUndoStack for everything: a mask edit (a whole brush stroke, a rectangle, a lasso, clear, invert,
  grow) is one step, an accepted result is one step that also clears the mask it filled;
- the saved state: which file the last save went to and whether accepted results are unsaved (mask strokes
  alone are not a change to the photo);
- the results history (:class:`~app.editor.history.ResultsHistory`) and the entry under review, which is
  only shown over the photo until it is accepted.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QObject, QRect, Signal
from PySide6.QtGui import QImage, QUndoCommand, QUndoStack

from app.editor.history import HistoryEntry, ResultsHistory, ReviewedResult, crop, nonzero_box
from app.qt_image import writable_view
from core.inpaint.result import InpaintResult
from core.job.request import InpaintRequest
from core.photo.photo import Photo
from core.photo.write import default_output_path, write_image

U8 = npt.NDArray[np.uint8]
_versions = itertools.count(1)


def next_version() -> int:
    """A new id for the content of the pixels (tells saved from unsaved without comparing pixels)."""
    return next(_versions)


def changed_box_of(old: U8, new: U8) -> QRect:
    """The box where ``new`` is larger than ``old`` (two masks of one size), empty when nowhere."""
    rows = np.flatnonzero((new > old).any(axis=1))
    if rows.size == 0:
        return QRect()
    band = slice(int(rows[0]), int(rows[-1]) + 1)
    columns = np.flatnonzero((new[band] > old[band]).any(axis=0))
    return QRect(int(columns[0]), int(rows[0]), int(columns[-1] - columns[0] + 1), int(rows[-1] - rows[0] + 1))


def _rows_columns(rect: QRect) -> tuple[slice, slice]:
    return slice(rect.top(), rect.bottom() + 1), slice(rect.left(), rect.right() + 1)


class MaskPatchCommand(QUndoCommand):
    """Undo step that swaps a rectangle of the mask between its before and after contents.

    Args:
        document: the document whose mask it changes.
        rect: the rectangle, in photo pixels.
        before: the mask's values in ``rect`` before the edit.
        after: the values after it; the mask already holds them when the command is pushed.
        text: what the Edit menu calls the step.
    """

    def __init__(self, document: EditorDocument, rect: QRect, before: U8, after: U8, text: str) -> None:
        super().__init__(text)
        self._document = document
        self._rect = QRect(rect)
        self._before = before
        self._after = after
        self._first = True

    def redo(self) -> None:
        if self._first:  # the mask already shows the new contents when the command is pushed
            self._first = False
            return
        self._document.write_mask(self._rect, self._after)

    def undo(self) -> None:
        self._document.write_mask(self._rect, self._before)


class ApplyPatchCommand(QUndoCommand):
    """Undo step of an accepted result: the changed box before and after (not full frames), and the mask it
    cleared.

    Args:
        document: the document whose pixels it changes.
        rect: the box the result changed, in photo pixels.
        before: the photo's pixels in ``rect`` before the result.
        after: the pixels in ``rect`` with the result.
        mask_rect: the box of the mask that was filled (empty when there was no mask).
        mask_before: the mask's values in ``mask_rect``; accepting clears them.
    """

    def __init__(
        self, document: EditorDocument, rect: QRect, before: U8, after: U8, mask_rect: QRect, mask_before: U8
    ) -> None:
        super().__init__("Apply inpaint result")
        self._document = document
        self._rect, self._before, self._after = QRect(rect), before, after
        self._mask_rect, self._mask_before = QRect(mask_rect), mask_before
        self._before_version = document.version
        self._after_version = next_version()

    def redo(self) -> None:
        self._document.set_pixels(self._rect, self._after, self._after_version)
        if not self._mask_rect.isEmpty():  # the filled area is done: the next round starts with an empty mask
            self._document.write_mask(self._mask_rect, np.zeros_like(self._mask_before))

    def undo(self) -> None:
        self._document.set_pixels(self._rect, self._before, self._before_version)
        if not self._mask_rect.isEmpty():
            self._document.write_mask(self._mask_rect, self._mask_before)


class EditorDocument(QObject):
    """The photo being edited, its mask, undo, saved state and results (see the module docstring).

    Signals tell the views what to show again; the document never reaches for a widget.
    """

    opened = Signal()  # a photo was opened: pixels, mask, undo, history and saved state are all new
    pixels_changed = Signal(QRect)  # the photo's pixels changed inside this rectangle (photo pixels)
    mask_changed = Signal(QRect)  # the mask was rewritten inside this rectangle (not sent while a brush paints)
    changed = Signal()  # anything the window's actions depend on: mask content, pixels, saved state, review

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.path: Path | None = None
        self.photo: Photo | None = None
        self.pixels: U8 | None = None
        self.version = 0
        self.last_saved: Path | None = None
        # A copy another editor handed over (Lightroom's NAME-Edit.tif): Save writes back into it.
        self.edit_in_place: Path | None = None
        self._saved_version = 0
        self.mask_image: QImage | None = None
        self._mask: U8 | None = None
        self.mask_revision = 0  # counts finished mask edits: tells a changed mask without comparing pixels
        self.history = ResultsHistory()
        self.reviewed: HistoryEntry | None = None

    # -- the photo -------------------------------------------------------------------------------------------

    @property
    def has_photo(self) -> bool:
        return self.pixels is not None

    def open(self, path: Path, photo: Photo, mask: U8 | None = None) -> None:
        """Make ``photo`` (read from ``path``) the photo being edited, with ``mask`` or an empty one.

        Everything of the previous photo goes: its undo steps, its results and its saved state.
        """
        self.path, self.photo, self.pixels = Path(path), photo, photo.pixels
        self.version = self._saved_version = next_version()
        self.last_saved = None
        self.mask_image = QImage(photo.width, photo.height, QImage.Format.Format_Alpha8)
        self.mask_image.fill(0)
        self._mask = writable_view(self.mask_image)
        if mask is not None:
            self._mask[:] = mask
        self.mask_revision += 1
        self.reviewed = None
        self.history.clear()
        self.undo_stack.clear()
        self.opened.emit()
        self.changed.emit()

    def set_pixels(self, rect: QRect, patch: U8, version: int) -> None:
        """Make the photo ``patch`` in ``rect``, as content ``version`` (undo and redo of results).

        A new array, never an edit in place: a running job or the last save may still hold the old one.
        """
        if self.pixels is None or rect.isEmpty():
            return
        rows, columns = _rows_columns(rect)
        pixels = self.pixels.copy()
        pixels[rows, columns] = patch
        self.pixels = pixels
        self.version = version
        self.pixels_changed.emit(QRect(rect))
        self.changed.emit()

    # -- the mask --------------------------------------------------------------------------------------------

    @property
    def mask(self) -> U8:
        """The mask as a numpy view: 255 = fill, 0 = keep. Change it through the document to get repaints."""
        if self._mask is None:
            raise RuntimeError("no photo is open")
        return self._mask

    @property
    def has_mask(self) -> bool:
        """Whether any pixel of the mask is set."""
        return self._mask is not None and bool(self._mask.any())

    def write_mask(self, rect: QRect, values: U8) -> None:
        """Overwrite the mask in ``rect`` (photo pixels); the views repaint just that part."""
        rows, columns = _rows_columns(rect)
        self.mask[rows, columns] = values
        self.mask_revision += 1
        self.mask_changed.emit(QRect(rect))
        self.changed.emit()

    def replace_mask(self, values: U8, text: str) -> None:
        """Change the whole mask as one undo step called ``text`` (clear, invert, load)."""
        before = self.mask.copy()
        rect = QRect(0, 0, before.shape[1], before.shape[0])
        self.write_mask(rect, values)
        self.undo_stack.push(MaskPatchCommand(self, rect, before, values.copy(), text))

    def record_mask_edit(self, rect: QRect, before: U8, text: str) -> bool:
        """Make one undo step of an edit already painted into :attr:`mask` inside ``rect``.

        Brushes write the mask array directly (and repaint only what they touch) while they move; the step
        is recorded once, when the stroke ends. Returns false when nothing actually changed.

        Args:
            rect: the box the edit touched, in photo pixels.
            before: the mask's values in ``rect`` before the edit.
            text: what the Edit menu calls the step.
        """
        if rect.isEmpty():
            return False
        rows, columns = _rows_columns(rect)
        after = self.mask[rows, columns].copy()
        if np.array_equal(before, after):
            return False
        self.mask_revision += 1
        self.undo_stack.push(MaskPatchCommand(self, rect, before, after, text))
        self.changed.emit()
        return True

    def add_to_mask(self, rect: QRect, values: U8, text: str) -> bool:
        """Add ``values`` (the shape of ``rect``) to the mask inside ``rect``, the larger value winning, as one
        undo step called ``text``; false when nothing changed.

        Only ``rect`` is written and kept for undo, so adding a small object to a 50 MP mask costs that box,
        not two full copies (callers find the box off the GUI thread, see :func:`changed_box_of`).
        """
        rect = rect.intersected(QRect(0, 0, self.mask.shape[1], self.mask.shape[0]))
        if rect.isEmpty():
            return False
        rows, columns = _rows_columns(rect)
        before = self.mask[rows, columns].copy()
        self.write_mask(rect, np.maximum(before, values[: rect.height(), : rect.width()]))
        return self.record_mask_edit(rect, before, text)

    def clear_mask(self) -> bool:
        """Empty the mask as one undo step; false when it was empty already."""
        if not self.has_mask:
            return False
        self.replace_mask(np.zeros_like(self.mask), "Clear mask")
        return True

    def invert_mask(self) -> bool:
        """Swap fill and keep as one undo step; false without a photo."""
        if self._mask is None:
            return False
        self.replace_mask(255 - self.mask, "Invert mask")
        return True

    def grow_mask(self, pixels: int) -> bool:
        """Grow (positive) or shrink (negative) the mask by ``pixels`` with a round kernel, as one undo step."""
        if not self.has_mask or pixels == 0:
            return False
        import cv2  # only here: the GUI starts without it

        size = 2 * abs(pixels) + 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        operation = cv2.dilate if pixels > 0 else cv2.erode
        changed = np.asarray(operation(self.mask, kernel), dtype=np.uint8)
        self.replace_mask(changed, "Grow mask" if pixels > 0 else "Shrink mask")
        return True

    # -- saving ----------------------------------------------------------------------------------------------

    @property
    def has_unsaved_changes(self) -> bool:
        """Whether the photo has accepted results that are not saved (mask strokes alone do not count)."""
        # Undo and redo bring earlier versions back, so taking back every result since a save counts as saved.
        return self.pixels is not None and self.version != self._saved_version

    @property
    def writes_in_place(self) -> bool:
        """Whether the open photo is a handed-over copy that Save writes back into (see :attr:`edit_in_place`)."""
        if self.path is None or self.edit_in_place is None:
            return False
        return self.path.resolve() == self.edit_in_place.resolve()

    @property
    def save_target(self) -> Path | None:
        """Where Save writes: the photo itself when edited in place, else where the last save went, else
        ``NAME_inpainted`` beside the original."""
        if self.path is None:
            return None
        if self.writes_in_place:
            return self.path
        return self.last_saved or default_output_path(self.path)

    def is_original(self, target: Path) -> bool:
        """Whether ``target`` is the file the photo was opened from."""
        return (
            self.path is not None and target.exists() and self.path.exists() and target.resolve() == self.path.resolve()
        )

    def save_to(self, target: Path, *, overwrite: bool = False, notes: list[str] | None = None) -> Path:
        """Write the photo as it is now (in the format and with the metadata of the original).

        ``notes`` receives a sentence whenever the file is less than a block-for-block copy of the original
        could be (a JPEG encoded anew, only the first of several pages). Returns the file written; raises core's
        :class:`~core.common.errors.MoebiusError` subclasses (an existing file without ``overwrite``, a folder
        that is not writable, …) and then nothing changes.
        """
        if self.pixels is None:
            raise RuntimeError("no photo is open")
        written = write_image(target, self.pixels, like=self.photo, overwrite=overwrite, notes=notes)
        self.last_saved = written
        self._saved_version = self.version
        self.changed.emit()
        return written

    def mark_clean(self) -> None:
        """Take the photo as it is now for saved (nothing is written): closing it asks no question."""
        self._saved_version = self.version
        self.changed.emit()

    def export_mask(self, target: Path) -> Path:
        """Write the mask as a black-and-white PNG (white = fill), the form the CLI's ``--mask`` reads.

        Raises core's :class:`~core.common.errors.MoebiusError` subclasses when it cannot be written.
        """
        grey = np.repeat(self.mask[:, :, None], 3, axis=2)
        return write_image(target, grey, overwrite=True, format="PNG")

    # -- results ---------------------------------------------------------------------------------------------

    @property
    def pending_result(self) -> ReviewedResult | None:
        """The result under review (an entry of the results history, over the photo), or ``None``."""
        entry, pixels = self.reviewed, self.pixels
        return None if entry is None or pixels is None else ReviewedResult(entry, pixels)

    def add_result(self, request: InpaintRequest, result: InpaintResult) -> HistoryEntry | None:
        """Record a finished run in the history, as its changed box; ``None`` when the photo has changed size
        since the run started (another photo was opened meanwhile).

        The oldest entries may be evicted to stay within the history's limits (see its ``last_note``); the
        one under review stops being reviewed then.
        """
        if self.pixels is None or result.image.shape != self.pixels.shape:
            return None
        # The photo the job ran on: the user may have accepted or undone something meanwhile.
        entry = HistoryEntry.from_result(request.image, request.mask, result, request.settings)
        evicted = self.history.add(entry)
        if self.reviewed in evicted:
            self.reviewed = None
        self.changed.emit()
        return entry

    def start_review(self, entry: HistoryEntry) -> bool:
        """Put ``entry`` under review (false when it is not in the history, or no photo is open)."""
        if self.pixels is None or entry not in self.history.entries:
            return False
        self.reviewed = entry
        self.changed.emit()
        return True

    def stop_review(self) -> None:
        """Nothing under review any more (the entry stays in the history)."""
        if self.reviewed is not None:
            self.reviewed = None
            self.changed.emit()

    def accept(self, entry: HistoryEntry) -> None:
        """Apply ``entry`` to the photo: one undo step that also clears the mask it filled.

        Only the pixels the run changed are replaced, so later accepted edits inside its box stay.
        """
        pixels = self.pixels
        if pixels is None:
            return
        self.stop_review()
        after = entry.shown_over(pixels) if not entry.rect.isEmpty() else entry.after
        before = crop(pixels, entry.rect) if not entry.rect.isEmpty() else entry.before
        mask = self.mask
        mask_rect = nonzero_box(mask)
        mask_before = crop(mask, mask_rect) if not mask_rect.isEmpty() else np.zeros((0, 0), np.uint8)
        entry.accepted = True
        self.undo_stack.push(ApplyPatchCommand(self, entry.rect, before, after, mask_rect, mask_before))

    def discard(self, entry: HistoryEntry) -> None:
        """Drop ``entry`` from the history; the mask stays for another try."""
        if self.reviewed is entry:
            self.reviewed = None
        self.history.remove(entry)
        self.changed.emit()


__all__ = [
    "ApplyPatchCommand",
    "EditorDocument",
    "MaskPatchCommand",
    "changed_box_of",
    "default_output_path",
    "next_version",
]
