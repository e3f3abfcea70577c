"""The Batch window's message lines: errors, and notes such as resuming or an engine fallback."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

ERROR_STYLE = "QLabel { background: #5c1f1f; color: #ffe5e5; padding: 6px 10px; }"
NOTE_STYLE = "QLabel { background: #24405c; color: #e6f0ff; padding: 6px 10px; }"


def banner(style: str) -> QLabel:
    """A hidden, wrapping plain-text label in ``style``: the window's errors and notes."""
    label = QLabel()
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setStyleSheet(style)
    label.hide()
    return label
