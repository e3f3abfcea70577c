"""The results history as a strip of thumbnails under the canvas, newest on the right."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

from app.editor.history import THUMB_SIZE, HistoryEntry, ResultsHistory


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
        # The thumbnail, two caption lines and the frame.
        self.setFixedHeight(THUMB_SIZE + 2 * self.fontMetrics().lineSpacing() + 20)
        self.setSpacing(4)
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
            item.setToolTip(
                f"{entry.engine} · {entry.caption.replace(chr(10), ' · ')} · {entry.seconds:.1f} s"
                f"\n{entry.rect.width()} × {entry.rect.height()} px changed"
            )
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            self.addItem(item)
            if entry is selected:
                item.setSelected(True)
                self.setCurrentItem(item)
        self.blockSignals(False)
        self.setVisible(bool(self.history.entries))
        if selected is not None:
            current = self.currentItem()
            if current is not None:
                self.scrollToItem(current)

    def entry_at(self, row: int) -> HistoryEntry | None:
        item = self.item(row)
        return None if item is None else self.history.find(int(item.data(Qt.ItemDataRole.UserRole)))

    def _emit(self, item: QListWidgetItem) -> None:
        entry = self.history.find(int(item.data(Qt.ItemDataRole.UserRole)))
        if entry is not None:
            self.picked.emit(entry)
