"""What the canvas draws over the photo besides the mask: the before/after split, the live preview, the plan.

Each layer is a small image covering one rectangle of the photo (never a photo-sized copy), drawn only where a
repaint needs it:

- the *compare* patch is the photo before the result under review, over the result's changed box; it is drawn
  left of the split divider;
- the *live preview* is the model's rough estimate during denoising, scaled to the window it covers and made
  transparent outside the painted mask, so it shows only where the fill will go.

The outlines of the tools (the brush at its true size, the rectangle being dragged, the lasso's path) are drawn
here too, dark under light so they show on any photo.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPalette, QPen

from app.qt_image import array_to_qimage
from core.photo.mask import FILL_WEIGHTS

U8 = npt.NDArray[np.uint8]
ALPHA_BY_MASK_VALUE: U8 = np.rint(FILL_WEIGHTS * 255).astype(np.uint8)  # the preview's opacity per mask value
PREVIEW_LONG_SIDE = 1024  # the preview is a rough estimate: no need for more pixels than this
DIVIDER_GRAB = 6  # widget pixels either side of the divider that grab it


def preview_layer(preview: U8, region: QRect, mask: U8) -> QImage:
    """An RGBA image of ``preview`` scaled to ``region`` (photo pixels), as opaque as the fill's weight there.

    The preview shows where the fill will go the way the fill is blended: fully inside the mask, fading over a
    soft edge (:data:`core.photo.mask.FILL_WEIGHTS`), not at all outside.

    Large regions are sampled on a coarser grid (long side :data:`PREVIEW_LONG_SIDE`); the canvas stretches the
    layer over ``region``. The mask is sampled at the same grid, nearest neighbour, so the cost does not grow
    with the photo.
    """
    region = region.intersected(QRect(0, 0, mask.shape[1], mask.shape[0]))
    if region.isEmpty() or preview.ndim != 3 or preview.shape[2] != 3 or preview.size == 0:
        return QImage()
    scale = min(1.0, PREVIEW_LONG_SIDE / max(region.width(), region.height()))
    width, height = max(1, round(region.width() * scale)), max(1, round(region.height() * scale))
    ys = region.top() + ((np.arange(height) + 0.5) * region.height() / height).astype(np.intp)
    xs = region.left() + ((np.arange(width) + 0.5) * region.width() / width).astype(np.intp)
    alpha = ALPHA_BY_MASK_VALUE[mask[ys[:, None], xs[None, :]]]
    py = ((np.arange(height) + 0.5) * preview.shape[0] / height).astype(np.intp)
    px = ((np.arange(width) + 0.5) * preview.shape[1] / width).astype(np.intp)
    rgb = preview[py[:, None], px[None, :]]
    return array_to_qimage(np.concatenate([rgb, alpha[:, :, None]], axis=2))


def draw_layer(painter: QPainter, image: QImage, target: QRectF, clip: QRectF | None = None) -> None:
    """Draw ``image`` stretched over ``target`` (widget pixels), optionally clipped."""
    if image.isNull():
        return
    painter.save()
    if clip is not None:
        painter.setClipRect(clip, Qt.ClipOperation.IntersectClip)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
    painter.drawImage(target, image)
    painter.restore()


def draw_divider(painter: QPainter, x: float, height: int, palette: QPalette) -> None:
    """The split view's vertical divider with a grip in the middle, readable on light and dark photos."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(QColor(0, 0, 0, 150), 3))
    painter.drawLine(QPointF(x, 0), QPointF(x, height))
    painter.setPen(QPen(QColor(255, 255, 255, 230), 1))
    painter.drawLine(QPointF(x, 0), QPointF(x, height))
    grip = QRectF(x - 7, height / 2 - 18, 14, 36)
    painter.setBrush(palette.color(QPalette.ColorRole.Highlight))
    painter.setPen(QPen(palette.color(QPalette.ColorRole.HighlightedText), 1))
    painter.drawRoundedRect(grip, 4, 4)
    painter.restore()


def draw_plan(painter: QPainter, rects: list[QRectF]) -> None:
    """The region plan's windows as dashed boxes (dark under light, so they show on any photo)."""
    painter.save()
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for colour, width in ((QColor(0, 0, 0, 150), 3.0), (QColor(255, 210, 0), 1.5)):
        painter.setPen(QPen(colour, width, Qt.PenStyle.DashLine))
        for rect in rects:
            painter.drawRect(rect)
    painter.restore()


def draw_lasso(painter: QPainter, points: list[QPointF]) -> None:
    """The lasso's path so far (widget pixels), dark under light dashes so it shows on any photo."""
    path = QPainterPath(points[0])
    for point in points[1:]:
        path.lineTo(point)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(QPen(QColor(0, 0, 0, 160), 3))
    painter.drawPath(path)
    painter.setPen(QPen(QColor(255, 255, 255, 230), 1, Qt.PenStyle.DashLine))
    painter.drawPath(path)
    painter.restore()


def draw_box(painter: QPainter, rect: QRectF) -> None:
    """The rectangle tool's box while it is dragged (widget pixels)."""
    painter.save()
    painter.setPen(QPen(QColor(255, 255, 255), 1, Qt.PenStyle.DashLine))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawRect(rect)
    painter.restore()


def draw_brush_outline(painter: QPainter, centre: QPointF, radius: float, hardness: float) -> None:
    """The brush's outline at its true size (``radius`` in widget pixels), and a soft brush's full-strength core."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    # Dark and light rings so the outline shows on any photo.
    painter.setPen(QPen(QColor(0, 0, 0, 160), 3))
    painter.drawEllipse(centre, radius, radius)
    painter.setPen(QPen(QColor(255, 255, 255, 230), 1))
    painter.drawEllipse(centre, radius, radius)
    if hardness < 1:
        inner = radius * hardness
        painter.setPen(QPen(QColor(255, 255, 255, 150), 1, Qt.PenStyle.DotLine))
        painter.drawEllipse(centre, inner, inner)
    painter.restore()
