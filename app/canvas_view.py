"""The canvas with scroll bars: they show where the view is on the photo and pan it when dragged.

The canvas keeps its own zoom and offset (it pans by scrolling already-drawn pixels); the bars only mirror
that state and turn their moves into :meth:`Canvas.pan_by` calls, so a scroll-bar pan costs the same as a
space-drag pan.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QGridLayout, QScrollBar, QWidget

from app.canvas import Canvas


class CanvasView(QWidget):
    """:class:`Canvas` plus a horizontal and a vertical scroll bar."""

    def __init__(self, canvas: Canvas, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.horizontal = QScrollBar(Qt.Orientation.Horizontal)
        self.vertical = QScrollBar(Qt.Orientation.Vertical)
        for bar in (self.horizontal, self.vertical):
            bar.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keyboard pans with the zoom actions and space-drag
        self.horizontal.setAccessibleName("Pan horizontally")
        self.vertical.setAccessibleName("Pan vertically")
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(0)
        grid.addWidget(canvas, 0, 0)
        grid.addWidget(self.vertical, 0, 1)
        grid.addWidget(self.horizontal, 1, 0)
        self._syncing = False
        canvas.view_changed.connect(self.sync)
        self.horizontal.valueChanged.connect(lambda value: self._scrolled(Qt.Orientation.Horizontal, value))
        self.vertical.valueChanged.connect(lambda value: self._scrolled(Qt.Orientation.Vertical, value))
        self.sync()

    def sync(self) -> None:
        """Set the bars from the canvas's zoom and offset (a bar is disabled when the photo fits that way)."""
        self._syncing = True
        try:
            shown = self.canvas.shown_size
            offset = self.canvas.offset
            for bar, extent, view, position in (
                (self.horizontal, shown.width(), self.canvas.width(), offset.x()),
                (self.vertical, shown.height(), self.canvas.height(), offset.y()),
            ):
                overflow = max(0, round(extent - view))
                bar.setRange(0, overflow)
                bar.setPageStep(max(1, view))
                bar.setSingleStep(max(1, view // 20))
                bar.setValue(min(max(0, round(-position)), overflow))
                bar.setEnabled(overflow > 0)
        finally:
            self._syncing = False

    def _scrolled(self, orientation: Qt.Orientation, value: int) -> None:
        if self._syncing or not self.canvas.has_photo:
            return
        offset = self.canvas.offset
        if orientation == Qt.Orientation.Horizontal:
            self.canvas.pan_by(QPointF(-value - offset.x(), 0))
        else:
            self.canvas.pan_by(QPointF(0, -value - offset.y()))
