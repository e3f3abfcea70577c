"""The editing canvas: shows the document's photo with its mask overlay, zooms, pans and paints the mask.

Why it is built this way:

- The mask is the document's ``Format_Alpha8`` QImage whose pixels are also a numpy array (no copy). Brush
  dabs are computed in numpy on the stroke segment's bounding box only (:mod:`app.editor.canvas_tools`), and
  only that box is repainted, so a stroke costs the same on a 1 MP and a 50 MP photo.
- The overlay is never stored in colour: each repaint colours just the repainted rectangle (fill with the
  overlay colour, keep it where the mask is set), which is a few hundred thousand pixels at most.
- The photo is kept as an ``RGB32`` QImage (the format Qt draws without conversion), plus a reduced copy for
  zoomed-out views so a 50 MP photo is not resampled from full size on every repaint. It shows the document's
  pixels, or a result under review pasted over them (:meth:`Canvas.show_patch`).
- One stroke is one undo step, recorded by the document when the stroke ends. A lasso or rectangle is one
  step too.
- Review layers (before/after split, live preview, region plan) are small images over one rectangle each,
  drawn by :mod:`app.editor.canvas_layers`.
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
    QPaintEvent,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QGestureEvent, QPinchGesture, QWidget

from app.editor import canvas_layers
from app.editor.canvas_tools import MaskGestures
from app.editor.document import EditorDocument
from app.editor.mask_tools import BOX_TOOLS, BRUSH, ERASER, LASSO, OBJECT
from app.qt_image import paste_rgb

MIN_ZOOM = 0.01
MAX_ZOOM = 32.0
ZOOM_STEP = 1.25
MIN_BRUSH = 1
MAX_BRUSH = 2000
DEFAULT_OVERLAY = QColor(255, 60, 90)

U8 = npt.NDArray[np.uint8]


class Canvas(QWidget):
    """Photo view with zoom, pan, mask painting and a mask overlay, over an :class:`EditorDocument`.

    Args:
        document: the document whose mask it shows and paints (its photo is shown once :meth:`set_photo`
            gives the canvas the image to draw).
        parent: the parent widget.
    """

    zoom_changed = Signal(float)
    brush_size_changed = Signal(int)
    hardness_changed = Signal(float)
    tool_changed = Signal(str)
    view_changed = Signal()  # zoom or pan: the scroll bars follow
    split_moved = Signal(float)
    object_box_drawn = Signal(QRect)  # the object tool's box, in photo pixels: find the object inside it

    def __init__(self, document: EditorDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.gestures = MaskGestures(document, self)
        self._photo: QImage | None = None
        self._preview: QImage | None = None
        self._preview_scale = 1.0
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
        self._sizing: tuple[QPointF, int] | None = None  # Alt/Ctrl-drag: where it began, brush size then
        # Review layers (see app.editor.canvas_layers): (image, photo rectangle) pairs, or None.
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
        document.mask_changed.connect(self.repaint_photo_rect)
        document.pixels_changed.connect(self._show_document_pixels)

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
        """The document's mask as a numpy view: 255 = fill, 0 = keep."""
        return self.document.mask

    def set_photo(self, photo: QImage, preview: QImage | None = None) -> None:
        """Show a new photo (``RGB32``, the document's pixels) fitted to the canvas."""
        self._photo = photo
        self._set_preview(preview)
        self.plan_rects = []
        self.fit()
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

    def show_patch(self, patch: U8, rect: QRect) -> None:
        """Show ``patch`` (RGB) at ``rect`` of the photo, converting and repainting only that part."""
        if self._photo is None or rect.isEmpty():
            return
        paste_rgb(self._photo, patch, rect.left(), rect.top())
        self.photo_pixels_changed(rect)

    def _show_document_pixels(self, rect: QRect) -> None:
        pixels = self.document.pixels
        if pixels is not None:
            self.show_patch(pixels[rect.top() : rect.bottom() + 1, rect.left() : rect.right() + 1], rect)

    def clear_photo(self) -> None:
        self._photo = self._preview = None
        self.update()

    def repaint_photo_rect(self, rect: QRect) -> None:
        """Repaint the widget pixels that show ``rect`` of the photo."""
        self.update(self.photo_to_widget_rect(rect))

    def repaint_widget_rect(self, rect: QRect) -> None:
        self.update(rect)

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
        mask_image = self.document.mask_image
        if self.mask_visible and mask_image is not None and mask_image.size() == self._photo.size():
            self._paint_overlay(painter, mask_image, target, source)
        if self.live_preview is not None:
            image, rect = self.live_preview
            canvas_layers.draw_layer(painter, image, self._photo_rect_f(rect))
        if self.plan_rects and self.plan_visible:
            canvas_layers.draw_plan(
                painter, [QRectF(self.photo_to_widget_rect(r)).adjusted(1, 1, -1, -1) for r in self.plan_rects]
            )
        if self.split_x is not None:
            canvas_layers.draw_divider(painter, self.split_x, self.height(), self.palette())
        gestures = self.gestures
        if len(gestures.lasso) > 1:
            canvas_layers.draw_lasso(painter, [self.photo_to_widget(p) for p in gestures.lasso])
        if gestures.boxing:
            box = QRectF(self.photo_to_widget_rect(gestures.box_rect()))
            canvas_layers.draw_box(painter, box.adjusted(1, 1, -1, -1))
        elif self._sizing is not None:
            self._paint_brush_outline(painter, self._sizing[0])
        elif (
            self._cursor is not None
            and self._pan_from is None
            and not self._space_down
            and self.tool not in (*BOX_TOOLS, LASSO)
            and not self._dragging_split
        ):
            self._paint_brush_outline(painter, self._cursor)

    def _photo_rect_f(self, rect: QRect) -> QRectF:
        """``rect`` of the photo in widget pixels, unrounded (layers are stretched over it exactly)."""
        return QRectF(
            self.photo_to_widget(QPointF(rect.left(), rect.top())),
            QSizeF(rect.width() * self._scale, rect.height() * self._scale),
        )

    def _paint_overlay(self, painter: QPainter, mask_image: QImage, target: QRectF, source: QRect) -> None:
        """Colour the mask over ``target`` in a temporary image the size of the repainted area."""
        box = target.toAlignedRect().intersected(self.rect())
        if box.isEmpty():
            return
        layer = QImage(box.size(), QImage.Format.Format_ARGB32_Premultiplied)
        layer.fill(Qt.GlobalColor.transparent)
        layer_painter = QPainter(layer)
        # The mask's alpha first, then the colour only where that alpha is: nothing outside the photo is tinted.
        layer_painter.drawImage(target.translated(-box.x(), -box.y()), mask_image, QRectF(source))
        layer_painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
        layer_painter.fillRect(layer.rect(), self.overlay_colour)
        layer_painter.end()
        painter.setOpacity(self.overlay_opacity)
        painter.drawImage(box.topLeft(), layer)
        painter.setOpacity(1.0)

    def _paint_brush_outline(self, painter: QPainter, centre: QPointF) -> None:
        canvas_layers.draw_brush_outline(painter, centre, self.brush_size / 2 * self._scale, self.hardness)

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

    def set_tool(self, tool: str) -> None:
        """What a left-button drag does: :data:`BRUSH`, :data:`ERASER`, :data:`RECTANGLE`, :data:`LASSO` or
        :data:`OBJECT`."""
        if tool != self.tool:
            self.tool = tool
            if self._cursor is not None:
                self.update(self._outline_rect(self._cursor))
            self.tool_changed.emit(tool)

    def set_hardness(self, hardness: float) -> None:
        """Brush hardness 0..1: 1 paints a hard edge, lower values fade the outer part of the brush."""
        hardness = min(max(float(hardness), 0.0), 1.0)
        if hardness != self.hardness:
            self.hardness = hardness
            if self._cursor is not None:
                self.update(self._outline_rect(self._cursor))
            self.hardness_changed.emit(hardness)

    def resize_brush(self, factor: float) -> None:
        """Scale the brush by ``factor``, by at least one pixel."""
        size = self.brush_size
        new = round(size * factor)
        if new == size:
            new = size + (1 if factor > 1 else -1)
        self.set_brush_size(new)

    def set_brush_size(self, size: int) -> None:
        size = min(max(int(size), MIN_BRUSH), MAX_BRUSH)
        if size != self.brush_size:
            if self._cursor is not None:
                self.update(self._outline_rect(self._cursor))
            self.brush_size = size
            if self._cursor is not None:
                self.update(self._outline_rect(self._cursor))
            self.brush_size_changed.emit(size)

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
        return self.gestures.painting

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
        paintable = self._photo is not None and self.document.has_photo and self.isEnabled()
        if event.button() == Qt.MouseButton.LeftButton and paintable:
            sizing_keys = Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.ControlModifier
            if self.tool in (BRUSH, ERASER) and event.modifiers() & sizing_keys:
                self._sizing = (position, self.brush_size)
                self._move_cursor(None)
                self.update(self._outline_rect(position))
            elif self.tool in BOX_TOOLS:
                self.gestures.begin_box(position)
            elif self.tool == LASSO:
                self.gestures.begin_lasso(position)
            else:
                self.gestures.begin_stroke(position, self.tool, self.brush_size / 2, self.hardness)

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
        gestures = self.gestures
        if gestures.painting:
            gestures.paint_to(position, self.brush_size / 2, self.hardness)
        elif gestures.boxing:
            gestures.drag_box(position)
        elif gestures.lasso:
            gestures.extend_lasso(position)
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
        gestures = self.gestures
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if gestures.lasso:
            gestures.extend_lasso(event.position())
            gestures.end_lasso()
        elif gestures.painting:
            gestures.paint_to(event.position(), self.brush_size / 2, self.hardness)
            gestures.end_stroke()
        elif gestures.boxing:
            gestures.drag_box(event.position())
            if gestures.box_rect().isEmpty() or self.tool == OBJECT:
                self.update()  # nothing to fill, or the object is found elsewhere: take the dragged outline away
            if self.tool == OBJECT:
                self.object_box_drawn.emit(gestures.take_box())
            else:
                gestures.end_box()

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
