"""The editing canvas: shows the photo with its mask overlay, zooms, pans and paints the mask.

Why it is built this way:

- The mask is one ``Format_Alpha8`` QImage whose pixels are also seen as a numpy array (no copy). Brush dabs
  are computed in numpy on the stroke segment's bounding box only, and only that box is repainted, so a stroke
  costs the same on a 1 MP and a 50 MP photo.
- The overlay is never stored in colour: each repaint colours just the repainted rectangle (fill with the
  overlay colour, keep it where the mask is set), which is a few hundred thousand pixels at most.
- The photo is kept as an ``RGB32`` QImage (the format Qt draws without conversion), plus a reduced copy for
  zoomed-out views so a 50 MP photo is not resampled from full size on every repaint.
- One stroke is one undo step: the mask under the stroke's bounding box is saved when the stroke starts and
  the before/after patches go onto the window's QUndoStack when it ends.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QPointF, QRect, QRectF, QSize, QSizeF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QUndoCommand,
    QUndoStack,
    QWheelEvent,
)
from PySide6.QtWidgets import QWidget

from app.qt_image import writable_view

BRUSH = "brush"
ERASER = "eraser"
RECTANGLE = "rectangle"
MIN_ZOOM = 0.01
MAX_ZOOM = 32.0
ZOOM_STEP = 1.25
MIN_BRUSH = 1
MAX_BRUSH = 2000
PREVIEW_LONG_SIDE = 4096  # long side of the reduced photo used while zoomed out below half its size
DEFAULT_OVERLAY = QColor(255, 60, 90)

U8 = npt.NDArray[np.uint8]


def stamp_segment(mask: U8, start: QPointF, end: QPointF, radius: float, value: int) -> QRect:
    """Set every mask pixel whose centre lies within ``radius`` of the segment start–end to ``value``.

    Only the segment's bounding box is touched. Returns that box (clipped to the mask), empty if outside.
    """
    height, width = mask.shape
    left = max(0, math.floor(min(start.x(), end.x()) - radius))
    top = max(0, math.floor(min(start.y(), end.y()) - radius))
    right = min(width, math.ceil(max(start.x(), end.x()) + radius) + 1)
    bottom = min(height, math.ceil(max(start.y(), end.y()) + radius) + 1)
    if left >= right or top >= bottom:
        return QRect()
    ys = np.arange(top, bottom, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(left, right, dtype=np.float32)[None, :] + 0.5
    x0, y0 = start.x(), start.y()
    dx, dy = end.x() - x0, end.y() - y0
    length2 = dx * dx + dy * dy
    if length2 > 1e-9:
        t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / length2, 0.0, 1.0)
        distance2 = (xs - (x0 + t * dx)) ** 2 + (ys - (y0 + t * dy)) ** 2
    else:
        distance2 = (xs - x0) ** 2 + (ys - y0) ** 2
    # A radius under one pixel still marks the pixel under the cursor.
    inside = distance2 <= max(radius, 0.71) ** 2
    mask[top:bottom, left:right][inside] = value
    return QRect(left, top, right - left, bottom - top)


class MaskPatchCommand(QUndoCommand):
    """Undo step that swaps a rectangle of the mask between its before and after contents."""

    def __init__(self, canvas: Canvas, rect: QRect, before: U8, after: U8, text: str) -> None:
        super().__init__(text)
        self._canvas = canvas
        self._rect = QRect(rect)
        self._before = before
        self._after = after
        self._first = True

    def redo(self) -> None:
        if self._first:  # the canvas already shows the new contents when the command is pushed
            self._first = False
            return
        self._canvas.write_mask(self._rect, self._after)

    def undo(self) -> None:
        self._canvas.write_mask(self._rect, self._before)


class Canvas(QWidget):
    """Photo view with zoom, pan, brush/eraser mask painting and a mask overlay."""

    zoom_changed = Signal(float)
    mask_edited = Signal()
    brush_size_changed = Signal(int)

    def __init__(self, undo_stack: QUndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = undo_stack
        self._photo: QImage | None = None
        self._preview: QImage | None = None
        self._preview_scale = 1.0
        self._mask_image: QImage | None = None
        self._mask: U8 | None = None
        self._scale = 1.0  # widget (logical) pixels per photo pixel
        self._offset = QPointF(0, 0)  # where the photo's top-left corner is, in widget pixels
        self._fit_mode = True
        self.tool = BRUSH
        self.brush_size = 60  # diameter in photo pixels
        self.overlay_colour = QColor(DEFAULT_OVERLAY)
        self.overlay_opacity = 0.5
        self.mask_visible = True
        self.plan_rects: list[QRect] = []
        self._cursor: QPointF | None = None
        self._space_down = False
        self._pan_from: QPointF | None = None
        self._stroke_last: QPointF | None = None
        self._stroke_backup: U8 | None = None
        self._stroke_rect = QRect()
        self._box_start: QPointF | None = None  # rectangle tool: where the drag began, in photo pixels
        self._box_end: QPointF | None = None
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setMinimumSize(320, 240)

    # -- content ---------------------------------------------------------------------------------------------

    def sizeHint(self) -> QSize:
        return QSize(960, 640)

    @property
    def has_photo(self) -> bool:
        return self._photo is not None

    @property
    def photo_size(self) -> QSize:
        return self._photo.size() if self._photo is not None else QSize()

    @property
    def mask_array(self) -> U8:
        """The mask as a numpy view: 255 = fill, 0 = keep. Edit it through the canvas to get repaints."""
        if self._mask is None:
            raise RuntimeError("no photo is open")
        return self._mask

    def set_photo(self, photo: QImage, preview: QImage | None = None, *, keep_view: bool = False) -> None:
        """Show a new photo (``RGB32``) and start an empty mask of its size."""
        self._photo = photo
        self._set_preview(preview)
        if self._mask_image is None or self._mask_image.size() != photo.size():
            self._mask_image = QImage(photo.size(), QImage.Format.Format_Alpha8)
            self._mask_image.fill(0)
            self._mask = writable_view(self._mask_image)
        if not keep_view:
            self.plan_rects = []
            self.fit()
        self.update()

    def replace_photo_image(self, photo: QImage, preview: QImage | None = None) -> None:
        """Show other pixels of the same size (a result, before/after), keeping zoom, pan and mask."""
        self._photo = photo
        self._set_preview(preview)
        self.update()

    def _set_preview(self, preview: QImage | None) -> None:
        self._preview = preview
        if preview is not None and self._photo is not None:
            self._preview_scale = preview.width() / self._photo.width()

    def clear_photo(self) -> None:
        self._photo = self._preview = self._mask_image = None
        self._mask = None
        self.update()

    def write_mask(self, rect: QRect, values: U8) -> None:
        """Overwrite the mask in ``rect`` (photo pixels) and repaint just that part."""
        mask = self.mask_array
        mask[rect.top() : rect.bottom() + 1, rect.left() : rect.right() + 1] = values
        self.update(self.photo_to_widget_rect(rect))
        self.mask_edited.emit()

    def replace_mask(self, values: U8, text: str) -> None:
        """Change the whole mask as one undo step (clear, invert, load)."""
        before = self.mask_array.copy()
        rect = QRect(0, 0, before.shape[1], before.shape[0])
        self.write_mask(rect, values)
        self.undo_stack.push(MaskPatchCommand(self, rect, before, values.copy(), text))

    # -- view ------------------------------------------------------------------------------------------------

    @property
    def zoom(self) -> float:
        """Photo pixels shown per screen (device) pixel: 1.0 is 100 %."""
        return self._scale * self.devicePixelRatioF()

    def fit(self) -> None:
        """Show the whole photo, centred; never enlarged past 100 %."""
        self._fit_mode = True
        if self._photo is None:
            return
        ratio = self.devicePixelRatioF()
        scale = min(self.width() / self._photo.width(), self.height() / self._photo.height(), 1.0 / ratio)
        self._scale = max(scale, MIN_ZOOM / ratio)
        shown_w, shown_h = self._photo.width() * self._scale, self._photo.height() * self._scale
        self._offset = QPointF((self.width() - shown_w) / 2, (self.height() - shown_h) / 2)
        self.update()
        self.zoom_changed.emit(self.zoom)

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom to ``zoom`` (1.0 = 100 %), keeping the photo point under ``anchor`` (default: centre) still."""
        if self._photo is None:
            return
        self._fit_mode = False
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        fixed = self.widget_to_photo(anchor)
        self._scale = zoom / self.devicePixelRatioF()
        self._offset = anchor - fixed * self._scale
        self.update()
        self.zoom_changed.emit(self.zoom)

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom / ZOOM_STEP)

    def pan_by(self, delta: QPointF) -> None:
        self._fit_mode = False
        self._offset += delta
        self.scroll(round(delta.x()), round(delta.y()))  # moves the pixels already drawn; repaints the strip

    def widget_to_photo(self, point: QPointF) -> QPointF:
        return (point - self._offset) / self._scale

    def photo_to_widget(self, point: QPointF) -> QPointF:
        return point * self._scale + self._offset

    def photo_to_widget_rect(self, rect: QRect) -> QRect:
        """The widget pixels that show ``rect`` of the photo (rounded outwards, with a pixel of slack)."""
        top_left = self.photo_to_widget(QPointF(rect.left(), rect.top()))
        bottom_right = self.photo_to_widget(QPointF(rect.right() + 1, rect.bottom() + 1))
        return QRectF(top_left, bottom_right).toAlignedRect().adjusted(-1, -1, 1, 1)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()

    # -- painting --------------------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        area = event.rect()
        painter.fillRect(area, self.palette().color(self.backgroundRole()).darker(160))
        if self._photo is None:
            painter.setPen(self.palette().color(self.foregroundRole()))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Open a photo (Ctrl+O) or drop one here")
            return
        photo_area = QRectF(
            self.widget_to_photo(QPointF(area.topLeft())),
            self.widget_to_photo(QPointF(area.bottomRight()) + QPointF(1, 1)),
        ).intersected(QRectF(0, 0, self._photo.width(), self._photo.height()))
        if photo_area.isEmpty():
            return
        # Whole photo pixels, so the image is sampled from the same grid at every repaint of a part of it.
        source = photo_area.toAlignedRect()
        target = QRectF(
            self.photo_to_widget(QPointF(source.topLeft())),
            QSizeF(source.width() * self._scale, source.height() * self._scale),
        )
        zoomed_out = self._scale * self.devicePixelRatioF() < 0.5
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, zoomed_out)
        if zoomed_out and self._preview is not None:
            s = self._preview_scale
            reduced = QRectF(source.x() * s, source.y() * s, source.width() * s, source.height() * s)
            painter.drawImage(target, self._preview, reduced)
        else:
            painter.drawImage(target, self._photo, QRectF(source))
        if self.mask_visible and self._mask_image is not None:
            self._paint_overlay(painter, target, source)
        if self.plan_rects:
            painter.setPen(QPen(QColor(255, 210, 0), 1.5, Qt.PenStyle.DashLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            for rect in self.plan_rects:
                painter.drawRect(QRectF(self.photo_to_widget_rect(rect)).adjusted(1, 1, -1, -1))
        if self._box_start is not None and self._box_end is not None:
            painter.setPen(QPen(QColor(255, 255, 255), 1, Qt.PenStyle.DashLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(self.photo_to_widget_rect(self._box_rect())).adjusted(1, 1, -1, -1))
        elif self._cursor is not None and self._pan_from is None and not self._space_down and self.tool != RECTANGLE:
            self._paint_brush_outline(painter, self._cursor)

    def _paint_overlay(self, painter: QPainter, target: QRectF, source: QRect) -> None:
        """Colour the mask over ``target`` in a temporary image the size of the repainted area."""
        assert self._mask_image is not None
        box = target.toAlignedRect().intersected(self.rect())
        if box.isEmpty():
            return
        layer = QImage(box.size(), QImage.Format.Format_ARGB32_Premultiplied)
        layer.fill(Qt.GlobalColor.transparent)
        layer_painter = QPainter(layer)
        # The mask's alpha first, then the colour only where that alpha is: nothing outside the photo is tinted.
        layer_painter.drawImage(target.translated(-box.x(), -box.y()), self._mask_image, QRectF(source))
        layer_painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
        layer_painter.fillRect(layer.rect(), self.overlay_colour)
        layer_painter.end()
        painter.setOpacity(self.overlay_opacity)
        painter.drawImage(box.topLeft(), layer)
        painter.setOpacity(1.0)

    def _paint_brush_outline(self, painter: QPainter, centre: QPointF) -> None:
        radius = self.brush_size / 2 * self._scale
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        # Dark and light rings so the outline shows on any photo.
        painter.setPen(QPen(QColor(0, 0, 0, 160), 3))
        painter.drawEllipse(centre, radius, radius)
        painter.setPen(QPen(QColor(255, 255, 255, 230), 1))
        painter.drawEllipse(centre, radius, radius)

    def _outline_rect(self, centre: QPointF) -> QRect:
        radius = self.brush_size / 2 * self._scale + 3
        return (
            QRectF(centre.x() - radius, centre.y() - radius, 2 * radius, 2 * radius)
            .toAlignedRect()
            .adjusted(-2, -2, 2, 2)
        )

    def _move_cursor(self, position: QPointF | None) -> None:
        if self._cursor is not None:
            self.update(self._outline_rect(self._cursor))
        self._cursor = position
        if position is not None:
            self.update(self._outline_rect(position))

    # -- brush -----------------------------------------------------------------------------------------------

    def set_brush_size(self, size: int) -> None:
        size = min(max(int(size), MIN_BRUSH), MAX_BRUSH)
        if size != self.brush_size:
            if self._cursor is not None:
                self.update(self._outline_rect(self._cursor))
            self.brush_size = size
            if self._cursor is not None:
                self.update(self._outline_rect(self._cursor))
            self.brush_size_changed.emit(size)

    def _begin_stroke(self, position: QPointF) -> None:
        self._stroke_backup = self.mask_array.copy()
        self._stroke_rect = QRect()
        self._stroke_last = self.widget_to_photo(position)
        self._paint_to(position)

    def _paint_to(self, position: QPointF) -> None:
        assert self._stroke_last is not None
        point = self.widget_to_photo(position)
        value = 255 if self.tool == BRUSH else 0
        dirty = stamp_segment(self.mask_array, self._stroke_last, point, self.brush_size / 2, value)
        self._stroke_last = point
        if not dirty.isEmpty():
            self._stroke_rect = self._stroke_rect.united(dirty)
            self.update(self.photo_to_widget_rect(dirty))

    def _end_stroke(self) -> None:
        backup, rect = self._stroke_backup, self._stroke_rect
        self._stroke_backup, self._stroke_last, self._stroke_rect = None, None, QRect()
        if backup is None or rect.isEmpty():
            return
        rows = slice(rect.top(), rect.bottom() + 1)
        columns = slice(rect.left(), rect.right() + 1)
        before, after = backup[rows, columns].copy(), self.mask_array[rows, columns].copy()
        if np.array_equal(before, after):
            return
        text = "Brush stroke" if self.tool == BRUSH else "Eraser stroke"
        self.undo_stack.push(MaskPatchCommand(self, rect, before, after, text))
        self.mask_edited.emit()

    def _box_rect(self) -> QRect:
        """The rectangle tool's current box in photo pixels, clipped to the photo."""
        assert self._box_start is not None and self._box_end is not None
        box = QRectF(self._box_start, self._box_end).normalized().toAlignedRect()
        return box.intersected(QRect(0, 0, self.mask_array.shape[1], self.mask_array.shape[0]))

    def _drag_box(self, position: QPointF) -> None:
        if self._box_start is not None and self._box_end is not None:
            self.update(self.photo_to_widget_rect(self._box_rect()))
        self._box_end = self.widget_to_photo(position)
        self.update(self.photo_to_widget_rect(self._box_rect()))

    def _end_box(self) -> None:
        """Fill the dragged box (brush) as one undo step."""
        box = self._box_rect() if self._box_start is not None and self._box_end is not None else QRect()
        self._box_start = self._box_end = None
        if box.isEmpty():
            self.update()
            return
        rows, columns = slice(box.top(), box.bottom() + 1), slice(box.left(), box.right() + 1)
        before = self.mask_array[rows, columns].copy()
        after = np.full_like(before, 255)
        self.write_mask(box, after)
        self.undo_stack.push(MaskPatchCommand(self, box, before, after, "Rectangle"))

    @property
    def painting(self) -> bool:
        return self._stroke_backup is not None

    # -- input -----------------------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        position = event.position()
        if event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space_down
        ):
            self._pan_from = position
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            self._move_cursor(None)
            return
        if event.button() == Qt.MouseButton.LeftButton and self._photo is not None and self.isEnabled():
            if self.tool == RECTANGLE:
                self._box_start = self._box_end = self.widget_to_photo(position)
            else:
                self._begin_stroke(position)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        position = event.position()
        if self._pan_from is not None:
            self.pan_by(position - self._pan_from)
            self._pan_from = position
            return
        if self.painting:
            self._paint_to(position)
        elif self._box_start is not None:
            self._drag_box(position)
        self._move_cursor(position)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._pan_from = None
            self.setCursor(Qt.CursorShape.OpenHandCursor if self._space_down else Qt.CursorShape.CrossCursor)
            return
        if event.button() == Qt.MouseButton.LeftButton and self.painting:
            self._paint_to(event.position())
            self._end_stroke()
        elif event.button() == Qt.MouseButton.LeftButton and self._box_start is not None:
            self._drag_box(event.position())
            self._end_box()

    def leaveEvent(self, event: object) -> None:
        self._move_cursor(None)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps and self._photo is not None:
            self.set_zoom(self.zoom * ZOOM_STEP**steps, event.position())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.setCursor(Qt.CursorShape.OpenHandCursor)
            if self._cursor is not None:
                self.update(self._outline_rect(self._cursor))
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self._pan_from = None
            self.setCursor(Qt.CursorShape.CrossCursor)
            return
        super().keyReleaseEvent(event)
