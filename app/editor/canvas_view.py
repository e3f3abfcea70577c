"""The canvas with scroll bars: they show where the view is on the photo and pan it when dragged.

The canvas keeps its own zoom and offset (it pans by scrolling already-drawn pixels); the bars only mirror
that state and turn their moves into :meth:`Canvas.pan_by` calls, so a scroll-bar pan costs the same as a
space-drag pan. A bar is shown only while the photo overflows that way (see :func:`bars_needed`).
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QSize, QSizeF, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QGridLayout, QScrollBar, QWidget

from app.editor.canvas import Canvas


def overflows(extent: float, view: int) -> bool:
    """Whether ``extent`` needs more than ``view`` pixels; less than half a pixel over is rounding, not overflow.

    The tolerance matters: a fitted photo can come out a hair wider than the canvas in floating point, and a
    bar shown for that would shrink the canvas, refit the photo and hide the bar again, over and over.
    """
    return round(extent - view) > 0


def bars_needed(shown: QSizeF, area: QSize, bars: QSize) -> tuple[bool, bool]:
    """``(horizontal, vertical)``: which bars the photo needs in ``area``, the whole view including the bars.

    Decided from the whole area, never from the canvas's current size (which the bars themselves change), so
    the answer cannot flip-flop: a bar is needed when the photo overflows the room left by the bars already
    needed. ``bars`` is (vertical bar's width, horizontal bar's height). Each pass can only add a bar, so
    two passes settle it.
    """
    horizontal = vertical = False
    for _ in range(2):
        horizontal = overflows(shown.width(), area.width() - (bars.width() if vertical else 0))
        vertical = overflows(shown.height(), area.height() - (bars.height() if horizontal else 0))
    return horizontal, vertical


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
        """Set the bars from the canvas's zoom and offset; a bar is hidden while the photo fits that way."""
        self._syncing = True
        try:
            shown = self.canvas.shown_size
            offset = self.canvas.offset
            thickness = QSize(self.vertical.sizeHint().width(), self.horizontal.sizeHint().height())
            wide, tall = bars_needed(shown, self.size(), thickness) if self.canvas.has_photo else (False, False)
            # The canvas's size once the layout has made room for the bars (it may not have yet).
            view_w = self.width() - (thickness.width() if tall else 0)
            view_h = self.height() - (thickness.height() if wide else 0)
            for bar, needed, extent, view, position in (
                (self.horizontal, wide, shown.width(), view_w, offset.x()),
                (self.vertical, tall, shown.height(), view_h, offset.y()),
            ):
                overflow = max(0, round(extent - view)) if needed else 0
                bar.setRange(0, overflow)
                bar.setPageStep(max(1, view))
                bar.setSingleStep(max(1, view // 20))
                bar.setValue(min(max(0, round(-position)), overflow))
                bar.setEnabled(needed)
                bar.setVisible(needed)
        finally:
            self._syncing = False

    def resizeEvent(self, event: QResizeEvent) -> None:
        # The canvas only reports a resize in fit mode; a zoomed view must re-decide its bars here.
        super().resizeEvent(event)
        self.sync()

    def _scrolled(self, orientation: Qt.Orientation, value: int) -> None:
        if self._syncing or not self.canvas.has_photo:
            return
        offset = self.canvas.offset
        if orientation == Qt.Orientation.Horizontal:
            self.canvas.pan_by(QPointF(-value - offset.x(), 0))
        else:
            self.canvas.pan_by(QPointF(0, -value - offset.y()))
