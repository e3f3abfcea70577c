"""The results history as a strip of thumbnails under the canvas, newest on the right.

One compact row: a small thumbnail with a one-line caption (the seed); what ran is in the tooltip and in the
review bar beside the strip. The strip keeps its height whether it holds results or not, so the canvas above
it never jumps when the first result arrives.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

from app.editor.history import THUMB_SIZE, HistoryEntry, ResultsHistory

EMPTY_TEXT = "Results of this photo appear here"


class HistoryStrip(QListWidget):
    """A horizontal strip of thumbnails, newest on the right; picking one emits :attr:`picked`."""

    picked = Signal(object)  # HistoryEntry

    def __init__(self, history: ResultsHistory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = history
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # The thumbnail, one caption line, the frame and room for the horizontal scroll bar when it shows.
        scroll_bar = self.horizontalScrollBar().sizeHint().height()
        self.setFixedHeight(THUMB_SIZE + self.fontMetrics().lineSpacing() + 14 + scroll_bar)
        caption = self.fontMetrics().horizontalAdvance("✓ seed 2147483647")  # the longest seed a run draws
        self.setGridSize(QSize(max(THUMB_SIZE + 28, caption + 10), THUMB_SIZE + self.fontMetrics().lineSpacing() + 8))
        self.setMinimumWidth(THUMB_SIZE * 2)
        self.setSpacing(2)
        self.setAccessibleName("Results history")
        self.setToolTip("Results of this photo: pick one to review it (arrow keys move, Enter picks)")
        self.itemClicked.connect(self._emit)
        self.itemActivated.connect(self._emit)

    def rebuild(self, selected: HistoryEntry | None = None) -> None:
        """Show the history's entries again (after an add, an eviction or a change of state)."""
        self.blockSignals(True)
        self.clear()
        for entry in self.history:
            pixmap = QPixmap.fromImage(entry.thumbnail())
            icon = QIcon(pixmap)
            icon.addPixmap(pixmap, QIcon.Mode.Selected)  # untinted: the selection must not change the colours
            item = QListWidgetItem(icon, entry.caption)
            item.setData(Qt.ItemDataRole.UserRole, entry.id)
            accepted = " (accepted)" if entry.accepted else ""
            item.setToolTip(f"{entry.description}{accepted}\n{entry.rect.width()} × {entry.rect.height()} px changed")
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            self.addItem(item)
            if entry is selected:
                item.setSelected(True)
                self.setCurrentItem(item)
        self.blockSignals(False)
        self.viewport().update()
        if selected is not None:
            current = self.currentItem()
            if current is not None:
                self.scrollToItem(current)

    def entry_at(self, row: int) -> HistoryEntry | None:
        item = self.item(row)
        return None if item is None else self.history.find(int(item.data(Qt.ItemDataRole.UserRole)))

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.count() == 0:  # say what the empty row is for
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(self.palette().ColorGroup.Disabled, self.palette().ColorRole.Text))
            painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, EMPTY_TEXT)
            painter.end()

    def _emit(self, item: QListWidgetItem) -> None:
        entry = self.history.find(int(item.data(Qt.ItemDataRole.UserRole)))
        if entry is not None:
            self.picked.emit(entry)
