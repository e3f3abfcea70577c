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
  the before/after patches go onto the window's QUndoStack when it ends. A lasso or rectangle is one step too.
- Review layers (before/after split, live preview, region plan) are small images over one rectangle each,
  drawn by :mod:`app.canvas_layers`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, QSize, QSizeF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QNativeGestureEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QUndoCommand,
    QUndoStack,
    QWheelEvent,
)
from PySide6.QtWidgets import QGestureEvent, QPinchGesture, QWidget

from app import canvas_layers
from app.mask_tools import fill_polygon, polygon_box, stamp_soft_segment
from app.qt_image import writable_view

BRUSH = "brush"
ERASER = "eraser"
RECTANGLE = "rectangle"
LASSO = "lasso"
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
    return stamp_soft_segment(mask, start, end, radius, 1.0, erase=value == 0)


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
    view_changed = Signal()  # zoom or pan: the scroll bars follow
    split_moved = Signal(float)

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
        self.hardness = 1.0  # 1 = hard edge; lower values fade the outer part of the brush (see mask_tools)
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
        self._lasso: list[QPointF] = []  # lasso tool: the path so far, in photo pixels
        self._sizing: tuple[QPointF, int] | None = None  # Alt/Ctrl-drag: where it began, brush size then
        # Review layers (see app.canvas_layers): (image, photo rectangle) pairs, or None.
        self.compare_patch: tuple[QImage, QRect] | None = None
        self.split_fraction: float | None = None  # the divider's x as a fraction of the width; None = off
        self._dragging_split = False
        self.live_preview: tuple[QImage, QRect] | None = None
        self.plan_visible = True
        self.grabGesture(Qt.GestureType.PinchGesture)
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

    def photo_pixels_changed(self, rect: QRect) -> None:
        """The photo image changed inside ``rect``: bring the reduced copy up to date there and repaint it."""
        if self._photo is None or rect.isEmpty():
            return
        if self._preview is not None:
            s = self._preview_scale
            # A pixel of margin so the smooth scaling at the box's edge sees its neighbours.
            source = rect.adjusted(-2, -2, 2, 2).intersected(self._photo.rect())
            target = QRectF(source.x() * s, source.y() * s, source.width() * s, source.height() * s)
            painter = QPainter(self._preview)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(target, self._photo, QRectF(source))
            painter.end()
        self.update(self.photo_to_widget_rect(rect))

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
        self.view_changed.emit()

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
        self.view_changed.emit()

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom / ZOOM_STEP)

    def pan_by(self, delta: QPointF) -> None:
        self._fit_mode = False
        self._offset += delta
        self.scroll(round(delta.x()), round(delta.y()))  # moves the pixels already drawn; repaints the strip
        self.view_changed.emit()

    @property
    def offset(self) -> QPointF:
        """Where the photo's top-left corner is, in widget pixels."""
        return QPointF(self._offset)

    @property
    def shown_size(self) -> QSizeF:
        """The photo's size on screen, in widget pixels."""
        return QSizeF(self.photo_size) * self._scale

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
        if self.compare_patch is not None and self.split_x is not None:
            image, rect = self.compare_patch
            clip = QRectF(0, 0, self.split_x, self.height())
            canvas_layers.draw_layer(painter, image, self._photo_rect_f(rect), clip)
        if self.mask_visible and self._mask_image is not None:
            self._paint_overlay(painter, target, source)
        if self.live_preview is not None:
            image, rect = self.live_preview
            canvas_layers.draw_layer(painter, image, self._photo_rect_f(rect))
        if self.plan_rects and self.plan_visible:
            canvas_layers.draw_plan(
                painter, [QRectF(self.photo_to_widget_rect(r)).adjusted(1, 1, -1, -1) for r in self.plan_rects]
            )
        if self.split_x is not None:
            canvas_layers.draw_divider(painter, self.split_x, self.height(), self.palette())
        if len(self._lasso) > 1:
            self._paint_lasso(painter)
        if self._box_start is not None and self._box_end is not None:
            painter.setPen(QPen(QColor(255, 255, 255), 1, Qt.PenStyle.DashLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(self.photo_to_widget_rect(self._box_rect())).adjusted(1, 1, -1, -1))
        elif self._sizing is not None:
            self._paint_brush_outline(painter, self._sizing[0])
        elif (
            self._cursor is not None
            and self._pan_from is None
            and not self._space_down
            and self.tool not in (RECTANGLE, LASSO)
            and not self._dragging_split
        ):
            self._paint_brush_outline(painter, self._cursor)

    def _photo_rect_f(self, rect: QRect) -> QRectF:
        """``rect`` of the photo in widget pixels, unrounded (layers are stretched over it exactly)."""
        return QRectF(
            self.photo_to_widget(QPointF(rect.left(), rect.top())),
            QSizeF(rect.width() * self._scale, rect.height() * self._scale),
        )

    def _paint_lasso(self, painter: QPainter) -> None:
        path = QPainterPath(self.photo_to_widget(self._lasso[0]))
        for point in self._lasso[1:]:
            path.lineTo(self.photo_to_widget(point))
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(0, 0, 0, 160), 3))
        painter.drawPath(path)
        painter.setPen(QPen(QColor(255, 255, 255, 230), 1, Qt.PenStyle.DashLine))
        painter.drawPath(path)
        painter.restore()

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
        if self.hardness < 1:  # the fully painted core of a soft brush
            inner = radius * self.hardness
            painter.setPen(QPen(QColor(255, 255, 255, 150), 1, Qt.PenStyle.DotLine))
            painter.drawEllipse(centre, inner, inner)

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
        dirty = stamp_soft_segment(
            self.mask_array, self._stroke_last, point, self.brush_size / 2, self.hardness, erase=self.tool == ERASER
        )
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

    def _extend_lasso(self, position: QPointF) -> None:
        point = self.widget_to_photo(position)
        last = self._lasso[-1]
        self._lasso.append(point)
        # Repaint only the new piece of the path (its box in widget pixels, with room for the pen).
        piece = QRectF(self.photo_to_widget(last), self.photo_to_widget(point)).normalized()
        self.update(piece.toAlignedRect().adjusted(-4, -4, 4, 4))

    def _end_lasso(self) -> None:
        """Fill the closed lasso path (eraser: clear it) as one undo step."""
        points, self._lasso = self._lasso, []
        if len(points) > 1:
            xs = [self.photo_to_widget(p).x() for p in points]
            ys = [self.photo_to_widget(p).y() for p in points]
            outline = QRectF(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
            self.update(outline.toAlignedRect().adjusted(-4, -4, 4, 4))
        mask = self.mask_array
        box = polygon_box(points, mask.shape)
        if box.isEmpty():
            return
        rows, columns = slice(box.top(), box.bottom() + 1), slice(box.left(), box.right() + 1)
        before = mask[rows, columns].copy()
        fill_polygon(mask, points, 255)
        after = mask[rows, columns].copy()
        if np.array_equal(before, after):
            return
        self.update(self.photo_to_widget_rect(box))
        self.undo_stack.push(MaskPatchCommand(self, box, before, after, "Lasso"))
        self.mask_edited.emit()

    def _resize_by_drag(self, position: QPointF) -> None:
        """Alt/Ctrl-drag: the outline's edge follows the pointer horizontally (anchored where the drag began)."""
        assert self._sizing is not None
        anchor, size = self._sizing
        self.set_brush_size(round(size + 2 * (position.x() - anchor.x()) / self._scale))

    # -- split view ------------------------------------------------------------------------------------------

    @property
    def split_x(self) -> float | None:
        """The divider's x in widget pixels, or ``None`` when the split view is off or there is nothing to compare
        (the mode stays on for the next result under review)."""
        if self.split_fraction is None or self.compare_patch is None:
            return None
        return self.split_fraction * self.width()

    def set_split(self, fraction: float | None) -> None:
        """Turn the split view on at ``fraction`` of the width (0..1), or off with ``None``."""
        if fraction is not None:
            fraction = min(max(fraction, 0.0), 1.0)
        if fraction != self.split_fraction:
            self.split_fraction = fraction
            self.update()  # the divider spans the whole height: the whole widget shows it
            if fraction is not None:
                self.split_moved.emit(fraction)

    def _near_divider(self, position: QPointF) -> bool:
        x = self.split_x
        return x is not None and abs(position.x() - x) <= canvas_layers.DIVIDER_GRAB

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
        if event.button() == Qt.MouseButton.LeftButton and self._near_divider(position):
            self._dragging_split = True
            self._move_cursor(None)
            return
        if event.button() == Qt.MouseButton.LeftButton and self._photo is not None and self.isEnabled():
            sizing_keys = Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.ControlModifier
            if self.tool in (BRUSH, ERASER) and event.modifiers() & sizing_keys:
                self._sizing = (position, self.brush_size)
                self._move_cursor(None)
                self.update(self._outline_rect(position))
            elif self.tool == RECTANGLE:
                self._box_start = self._box_end = self.widget_to_photo(position)
            elif self.tool == LASSO:
                self._lasso = [self.widget_to_photo(position)]
            else:
                self._begin_stroke(position)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        position = event.position()
        if self._pan_from is not None:
            self.pan_by(position - self._pan_from)
            self._pan_from = position
            return
        if self._dragging_split:
            self.set_split(position.x() / max(1, self.width()))
            return
        if self._sizing is not None:
            self.update(self._outline_rect(self._sizing[0]))
            self._resize_by_drag(position)
            self.update(self._outline_rect(self._sizing[0]))
            return
        if self.painting:
            self._paint_to(position)
        elif self._box_start is not None:
            self._drag_box(position)
        elif self._lasso:
            self._extend_lasso(position)
        self._move_cursor(position)
        if self.split_x is not None:
            near = self._near_divider(position)
            self.setCursor(Qt.CursorShape.SplitHCursor if near else Qt.CursorShape.CrossCursor)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._pan_from = None
            self.setCursor(Qt.CursorShape.OpenHandCursor if self._space_down else Qt.CursorShape.CrossCursor)
            return
        if event.button() == Qt.MouseButton.LeftButton and self._dragging_split:
            self._dragging_split = False
            self.set_split(event.position().x() / max(1, self.width()))
            return
        if event.button() == Qt.MouseButton.LeftButton and self._sizing is not None:
            self._resize_by_drag(event.position())
            self.update(self._outline_rect(self._sizing[0]))
            self._sizing = None
            self._move_cursor(event.position())
            return
        if event.button() == Qt.MouseButton.LeftButton and self._lasso:
            self._extend_lasso(event.position())
            self._end_lasso()
            return
        if event.button() == Qt.MouseButton.LeftButton and self.painting:
            self._paint_to(event.position())
            self._end_stroke()
        elif event.button() == Qt.MouseButton.LeftButton and self._box_start is not None:
            self._drag_box(event.position())
            self._end_box()

    def leaveEvent(self, event: object) -> None:
        self._move_cursor(None)

    def event(self, event: QEvent) -> bool:
        # Pinch zoom: trackpads send native zoom gestures (macOS, Wayland), touch screens a QPinchGesture.
        if isinstance(event, QNativeGestureEvent) and event.gestureType() == Qt.NativeGestureType.ZoomNativeGesture:
            if self._photo is not None:
                self.set_zoom(self.zoom * (1.0 + event.value()), event.position())
            event.accept()
            return True
        if isinstance(event, QGestureEvent):
            pinch = event.gesture(Qt.GestureType.PinchGesture)
            if isinstance(pinch, QPinchGesture) and self._photo is not None:
                centre = self.mapFromGlobal(pinch.centerPoint().toPoint())
                self.set_zoom(self.zoom * pinch.scaleFactor(), QPointF(centre))
                event.accept()
                return True
        return super().event(event)

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
