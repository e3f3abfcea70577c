"""The editor's tool bar: open and save, undo, the mask tools with brush size, hardness and overlay opacity,
and Inpaint / Cancel. The spin boxes and the slider follow the canvas (keys and drags change it too)."""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QSlider, QSpinBox, QToolBar, QWidget

from app.editor.actions import EditorActions
from app.editor.canvas import MAX_BRUSH, MIN_BRUSH, Canvas


class EditorToolBar(QToolBar):
    """The tool bar of the editor window.

    Args:
        actions: the window's actions.
        canvas: the canvas whose brush and overlay the controls set.
        parent: the window.
    """

    def __init__(self, actions: EditorActions, canvas: Canvas, parent: QWidget | None = None) -> None:
        super().__init__("Tools", parent)
        self.setObjectName("ToolsBar")
        self.canvas = canvas
        self.addActions([actions.open, actions.save])
        self.addSeparator()
        # The undo stack's actions rename themselves ("Undo Apply inpaint result"): the bar shows buttons of a
        # fixed name that follow them, so the bar never changes width and the window never moves.
        self.undo_button = self._fixed_text(actions.undo, "Undo")
        self.redo_button = self._fixed_text(actions.redo, "Redo")
        self.addSeparator()
        self.addActions([actions.brush, actions.eraser, actions.rectangle, actions.lasso, actions.object_tool])

        self.size_spin = QSpinBox()
        self.size_spin.setRange(MIN_BRUSH, MAX_BRUSH)
        self.size_spin.setSuffix(" px")
        self.size_spin.setValue(canvas.brush_size)
        self.size_spin.setToolTip("Brush size in photo pixels ([ and ] change it, or Ctrl/Alt-drag sideways)")
        self.addWidget(self.size_spin)
        self.hardness_spin = QSpinBox()
        self.hardness_spin.setRange(0, 100)
        self.hardness_spin.setSingleStep(25)
        self.hardness_spin.setSuffix(" % hard")
        self.hardness_spin.setValue(round(canvas.hardness * 100))
        self.hardness_spin.setToolTip(
            "Brush hardness: 100 % paints a hard edge; lower values fade the outer part of the brush "
            "(Shift+[ and Shift+]). The fill covers where the mask is at least half strength."
        )
        self.addWidget(self.hardness_spin)
        self.addSeparator()
        self.addAction(actions.show_mask)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(10, 100)
        self.opacity_slider.setValue(round(canvas.overlay_opacity * 100))
        self.opacity_slider.setMaximumWidth(110)
        self.opacity_slider.setToolTip("Mask overlay opacity")
        self.addWidget(self.opacity_slider)
        self.addSeparator()
        self.addActions([actions.run, actions.cancel])

        self.size_spin.valueChanged.connect(canvas.set_brush_size)
        canvas.brush_size_changed.connect(self.size_spin.setValue)
        self.hardness_spin.valueChanged.connect(lambda value: canvas.set_hardness(value / 100))
        canvas.hardness_changed.connect(lambda hardness: self.hardness_spin.setValue(round(hardness * 100)))
        self.opacity_slider.valueChanged.connect(self._set_opacity)

    def _fixed_text(self, action: QAction, text: str) -> QAction:
        """A tool bar button named ``text`` that triggers ``action`` and follows its enabled state; what it would
        undo or redo is its tooltip."""
        button = QAction(text, self)
        button.triggered.connect(lambda _checked=False: action.trigger())

        def follow() -> None:
            if not (shiboken6.isValid(action) and shiboken6.isValid(button)):
                return  # the window is being taken apart
            button.setEnabled(action.isEnabled())
            button.setToolTip(action.text().replace("&", ""))

        action.changed.connect(follow)
        follow()
        self.addAction(button)
        return button

    def _set_opacity(self, value: int) -> None:
        self.canvas.overlay_opacity = value / 100
        self.canvas.update()
