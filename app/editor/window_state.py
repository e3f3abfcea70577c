"""The editor window's looks between launches: geometry and panel layout, brush, overlay (in ``window.ini``,
see :mod:`app.editor.recent`).

A geometry saved on a larger screen is fitted to the screen the window opens on, so the window never starts
taller or wider than what the user can see.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSize
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QMainWindow, QSlider

from app.editor.canvas import Canvas
from app.fitting import fit_to_screen
from app.window_store import window_settings


def restore_window(window: QMainWindow, canvas: Canvas, opacity: QSlider, preferred: QSize) -> None:
    """Give ``window`` its saved geometry and layout (else ``preferred``, fitted), and the brush and overlay.

    Args:
        window: the editor window.
        canvas: its canvas (brush size, hardness, overlay colour).
        opacity: the tool bar's overlay opacity slider.
        preferred: the window's size on a large screen when none was saved.
    """
    store = window_settings()
    geometry = store.value("geometry")
    if isinstance(geometry, QByteArray) and not geometry.isEmpty():
        window.restoreGeometry(geometry)
        fit_to_screen(window, window.size())  # saved on a larger screen
    else:
        fit_to_screen(window, preferred)
    state = store.value("state")
    if isinstance(state, QByteArray) and not state.isEmpty():
        window.restoreState(state)
    colour = QColor(str(store.value("overlay_colour", "")))
    if colour.isValid():
        canvas.overlay_colour = colour
    value = store.value("overlay_opacity")
    if value is not None:
        opacity.setValue(int(str(value)))
    size = store.value("brush_size")
    if size is not None:
        canvas.set_brush_size(int(str(size)))
    hardness = store.value("brush_hardness")
    if hardness is not None:
        canvas.set_hardness(float(str(hardness)))


def save_window(window: QMainWindow, canvas: Canvas, opacity: QSlider) -> None:
    """Remember what :func:`restore_window` gives back."""
    store = window_settings()
    store.setValue("geometry", window.saveGeometry())
    store.setValue("state", window.saveState())
    store.setValue("overlay_colour", canvas.overlay_colour.name())
    store.setValue("overlay_opacity", opacity.value())
    store.setValue("brush_size", canvas.brush_size)
    store.setValue("brush_hardness", canvas.hardness)
    store.sync()
