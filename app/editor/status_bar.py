"""The editor's status bar: the photo's size, how much of it the mask covers, the zoom, the device, a progress
bar, and the note that a batch holds the model thread.

The mask's coverage follows every finished edit (a stroke, a selection, an undo), counted a moment after the
last one: counting a 50 MP mask takes milliseconds, too many to repeat for every event of a busy minute. Labels
whose text can grow are elided, so a long note never widens the window.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from app.editor.document import EditorDocument
from app.fitting import ElidedLabel
from core.photo.mask import FILL_THRESHOLD

COUNT_DELAY_MS = 200


def coverage_text(mask: np.ndarray | None) -> str:
    """``Mask 3.2 %`` of the photo (pixels at half strength or more), ``No mask`` when empty or none."""
    if mask is None or mask.size == 0:
        return ""
    # In bands of rows: one comparison of a whole 50 MP mask would allocate 50 MB first and take twice as long.
    covered = sum(int(np.count_nonzero(mask[row : row + 256] >= FILL_THRESHOLD)) for row in range(0, len(mask), 256))
    if covered == 0:
        return "No mask"
    share = covered / mask.size
    return f"Mask {share:.1%}" if share >= 0.001 else "Mask < 0.1 %"


class EditorStatus(QObject):
    """The permanent widgets of the editor's status bar, kept up to date with the document.

    Args:
        bar: the window's status bar (the widgets are added to it).
        document: the document whose photo and mask it describes.
        batch_note: what the batch label says while a batch holds the model thread.
    """

    def __init__(self, bar: QStatusBar, document: EditorDocument, batch_note: str) -> None:
        super().__init__(bar)
        self.bar = bar
        self.document = document
        self.size_label = QLabel("No photo")
        self.mask_label = QLabel("")
        self.mask_label.setObjectName("MaskCoverage")
        self.mask_label.setToolTip("How much of the photo the mask covers (where it is at least half strength)")
        self.zoom_label = QLabel("")
        self.device_label = ElidedLabel("")
        self.device_label.setMaximumWidth(220)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.hide()
        # While a batch runs the editor cannot inpaint (its job would wait behind the whole batch); this says so.
        self.batch_label = ElidedLabel(batch_note)
        self.batch_label.setObjectName("BatchRunningLabel")
        self.batch_label.setMaximumWidth(360)
        self.batch_label.hide()
        for widget in (
            self.batch_label,
            self.progress,
            self.size_label,
            self.mask_label,
            self.zoom_label,
            self.device_label,
        ):
            bar.addPermanentWidget(widget)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(COUNT_DELAY_MS)
        self._timer.timeout.connect(self.count_mask)
        self._counted = -1
        document.changed.connect(self._timer.start)
        document.opened.connect(self.count_mask)

    def count_mask(self) -> None:
        """Show the mask's coverage now (skipped while the mask is the one counted last)."""
        self._timer.stop()
        document = self.document
        if not document.has_photo:
            self.mask_label.setText("")
            return
        if document.mask_revision == self._counted:
            return
        self._counted = document.mask_revision
        self.mask_label.setText(coverage_text(document.mask))

    def show_busy(self, text: str) -> None:
        """A progress bar without steps and ``text`` (decoding, finding an object); ``""`` hides it."""
        if text:
            self.progress.setRange(0, 0)
            self.progress.setFormat(text)
            self.progress.show()
            self.bar.showMessage(text)
        else:
            self.progress.hide()
