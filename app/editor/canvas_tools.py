"""The mask tools' drags on the canvas: a brush or eraser stroke, a rectangle, a lasso.

Each drag writes the document's mask array directly while it moves and repaints only the box it touched, so a
stroke costs the same on a 1 MP and a 50 MP photo; when the drag ends, the whole of it becomes one undo step
(:meth:`~app.editor.document.EditorDocument.record_mask_edit`). The canvas turns mouse events into the calls
here and draws what :attr:`MaskGestures.lasso` and :meth:`MaskGestures.box_rect` describe.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QPointF, QRect, QRectF

from app.editor.document import EditorDocument
from app.editor.mask_tools import BRUSH, fill_polygon, polygon_box, stamp_soft_segment

U8 = npt.NDArray[np.uint8]
LASSO_PEN_SLACK = 4  # widget pixels around the lasso's path that its pen may cover


class PaintSurface(Protocol):
    """What the gestures need from the widget they are drawn on."""

    def widget_to_photo(self, point: QPointF) -> QPointF: ...

    def photo_to_widget(self, point: QPointF) -> QPointF: ...

    def repaint_photo_rect(self, rect: QRect) -> None: ...

    def repaint_widget_rect(self, rect: QRect) -> None: ...


class MaskGestures:
    """The drag in progress, if any, and what it has painted so far.

    Args:
        document: the document whose mask the drags paint.
        surface: the canvas: coordinate conversions and repaints.
    """

    def __init__(self, document: EditorDocument, surface: PaintSurface) -> None:
        self.document = document
        self.surface = surface
        self._stroke_last: QPointF | None = None
        self._stroke_backup: U8 | None = None
        self._stroke_rect = QRect()
        self._stroke_tool = BRUSH
        self.box_start: QPointF | None = None  # rectangle tool: where the drag began, in photo pixels
        self.box_end: QPointF | None = None
        self.lasso: list[QPointF] = []  # lasso tool: the path so far, in photo pixels

    # -- brush and eraser ------------------------------------------------------------------------------------

    @property
    def painting(self) -> bool:
        return self._stroke_backup is not None

    def begin_stroke(self, position: QPointF, tool: str, radius: float, hardness: float) -> None:
        """Start a brush (or eraser) stroke at ``position`` (widget pixels) and paint its first dab."""
        # The whole mask, because the stroke may go anywhere; only the touched box is kept for the undo step.
        self._stroke_backup = self.document.mask.copy()
        self._stroke_rect = QRect()
        self._stroke_tool = tool
        self._stroke_last = self.surface.widget_to_photo(position)
        self.paint_to(position, radius, hardness)

    def paint_to(self, position: QPointF, radius: float, hardness: float) -> None:
        """Continue the stroke to ``position`` (widget pixels)."""
        if self._stroke_last is None:
            return
        point = self.surface.widget_to_photo(position)
        dirty = stamp_soft_segment(
            self.document.mask, self._stroke_last, point, radius, hardness, erase=self._stroke_tool != BRUSH
        )
        self._stroke_last = point
        if not dirty.isEmpty():
            self._stroke_rect = self._stroke_rect.united(dirty)
            self.surface.repaint_photo_rect(dirty)

    def end_stroke(self) -> None:
        """Finish the stroke: everything it painted is one undo step."""
        backup, rect = self._stroke_backup, self._stroke_rect
        self._stroke_backup, self._stroke_last, self._stroke_rect = None, None, QRect()
        if backup is None or rect.isEmpty():
            return
        rows, columns = slice(rect.top(), rect.bottom() + 1), slice(rect.left(), rect.right() + 1)
        text = "Brush stroke" if self._stroke_tool == BRUSH else "Eraser stroke"
        self.document.record_mask_edit(rect, backup[rows, columns].copy(), text)

    # -- rectangle -------------------------------------------------------------------------------------------

    def begin_box(self, position: QPointF) -> None:
        self.box_start = self.box_end = self.surface.widget_to_photo(position)

    @property
    def boxing(self) -> bool:
        return self.box_start is not None

    def box_rect(self) -> QRect:
        """The rectangle tool's current box in photo pixels, clipped to the photo (empty when none)."""
        if self.box_start is None or self.box_end is None:
            return QRect()
        box = QRectF(self.box_start, self.box_end).normalized().toAlignedRect()
        mask = self.document.mask
        return box.intersected(QRect(0, 0, mask.shape[1], mask.shape[0]))

    def drag_box(self, position: QPointF) -> None:
        if self.box_start is None:
            return
        self.surface.repaint_photo_rect(self.box_rect())
        self.box_end = self.surface.widget_to_photo(position)
        self.surface.repaint_photo_rect(self.box_rect())

    def take_box(self) -> QRect:
        """End the drag and return its box (photo pixels, clipped; may be empty) without filling it."""
        box = self.box_rect()
        self.box_start = self.box_end = None
        return box

    def end_box(self) -> None:
        """Fill the dragged box as one undo step."""
        box = self.box_rect()
        self.box_start = self.box_end = None
        if box.isEmpty():
            return
        rows, columns = slice(box.top(), box.bottom() + 1), slice(box.left(), box.right() + 1)
        before = self.document.mask[rows, columns].copy()
        self.document.mask[rows, columns] = 255
        self.surface.repaint_photo_rect(box)
        self.document.record_mask_edit(box, before, "Rectangle")

    # -- lasso -----------------------------------------------------------------------------------------------

    def begin_lasso(self, position: QPointF) -> None:
        self.lasso = [self.surface.widget_to_photo(position)]

    def extend_lasso(self, position: QPointF) -> None:
        if not self.lasso:
            return
        point = self.surface.widget_to_photo(position)
        last = self.lasso[-1]
        self.lasso.append(point)
        # Repaint only the new piece of the path (its box in widget pixels, with room for the pen).
        piece = QRectF(self.surface.photo_to_widget(last), self.surface.photo_to_widget(point)).normalized()
        slack = LASSO_PEN_SLACK
        self.surface.repaint_widget_rect(piece.toAlignedRect().adjusted(-slack, -slack, slack, slack))

    def end_lasso(self) -> None:
        """Fill the closed lasso path as one undo step."""
        points, self.lasso = self.lasso, []
        if len(points) > 1:  # the path itself goes away
            widget = [self.surface.photo_to_widget(p) for p in points]
            xs, ys = [p.x() for p in widget], [p.y() for p in widget]
            outline = QRectF(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
            slack = LASSO_PEN_SLACK
            self.surface.repaint_widget_rect(outline.toAlignedRect().adjusted(-slack, -slack, slack, slack))
        mask = self.document.mask
        box = polygon_box(points, (mask.shape[0], mask.shape[1]))
        if box.isEmpty():
            return
        rows, columns = slice(box.top(), box.bottom() + 1), slice(box.left(), box.right() + 1)
        before = mask[rows, columns].copy()
        fill_polygon(mask, points, 255)
        if self.document.record_mask_edit(box, before, "Lasso"):
            self.surface.repaint_photo_rect(box)

    @property
    def busy(self) -> bool:
        """Whether a drag of any tool is in progress."""
        return self.painting or self.boxing or bool(self.lasso)
