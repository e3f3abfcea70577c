"""Keeping windows and their text inside the screen: windows sized to the screen they open on, and labels
whose changing text never widens the window.

A top-level Qt window grows by itself whenever the minimum size of its contents grows past its size, and a
label's minimum width is its whole text. So a long message in a one-line label (a result's description, a
batch note) would push the window wider than a laptop screen, and the panels at its edge off it.
:class:`ElidedLabel` shows as much of its text as fits, with an ellipsis, and the whole text as its tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QGuiApplication, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

# Room left for the window manager's frame and title bar, which Qt cannot know before the window is shown.
FRAME_ALLOWANCE = QSize(16, 48)
MIN_LABEL_WIDTH = 48


def fit_to_screen(window: QWidget, preferred: QSize) -> QSize:
    """Resize ``window`` to ``preferred``, or less where its screen's free area (less the frame) is smaller.

    Returns the size given. The screen is the window's own, else the one under the mouse, else the primary.

    Args:
        window: a top-level window, before or after it is shown.
        preferred: the size it should have on a large screen.
    """
    screen = window.screen() or QGuiApplication.screenAt(window.pos()) or QGuiApplication.primaryScreen()
    size = QSize(preferred)
    if screen is not None:
        room = screen.availableGeometry().size() - FRAME_ALLOWANCE
        size = size.boundedTo(room).expandedTo(window.minimumSizeHint())
    window.resize(size)
    return size


class ElidedLabel(QLabel):
    """A one-line label that never asks for more width than :data:`MIN_LABEL_WIDTH`: text that does not fit
    ends in "…" and the whole text is its tooltip (before the hint of :meth:`set_hint`, if any).

    Args:
        text: the first text.
        parent: the parent widget.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self._hint = ""
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:
        self._full = text
        self._elide()

    def set_hint(self, hint: str) -> None:
        """A tooltip that explains the text (shown after the whole text when the label shortens it)."""
        self._hint = hint
        self._elide()

    def text(self) -> str:
        """The whole text (also when the label shows it shortened)."""
        return self._full

    def shown_text(self) -> str:
        """What the label shows now (the text, or its start and an ellipsis)."""
        return super().text()

    def minimumSizeHint(self) -> QSize:
        return QSize(MIN_LABEL_WIDTH, super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:
        return QSize(self.fontMetrics().horizontalAdvance(self._full) + 8, super().sizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(0, self.contentsRect().width())
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, width)
        super().setText(shown)
        self.setToolTip("\n".join(part for part in (self._full if shown != self._full else "", self._hint) if part))
