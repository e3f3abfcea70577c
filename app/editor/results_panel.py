"""The band under the canvas: the results history strip beside a bar that says what is going on and offers
what can be done next.

The band is shown, at one fixed height, as long as a photo is open, so the canvas never jumps when results
come and go. Its bar (:class:`ReviewBar`) has three states:

- *ready*: the time a run of the current mask is expected to take on this device, a button that halves the
  steps when that saves real time, and Inpaint / Variations;
- *running*: what runs (``Variation 2 of 3``) and its progress, with Cancel;
- *reviewing*: what made the result under review (engine, seed, settings, time) with Accept, Discard and
  Try another seed (while variations still run, the first one can be looked at already).

Every line is an :class:`~app.fitting.ElidedLabel`, so a long description never widens the window.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from app.editor.actions import EditorActions
from app.editor.history import HistoryEntry
from app.editor.history_strip import HistoryStrip
from app.fitting import ElidedLabel

READY_HINT = "Paint over what should go, then Inpaint (Ctrl+Enter)."
RUN_HINT = "Inpaint (Ctrl+Enter) fills the mask; Variations makes several fills to choose from."
REVIEW_HINT = "Keep this result? Hold \\ to compare, Y splits before and after."


class ReviewBar(QWidget):
    """What is going on with the photo's results, and the buttons for what can be done next."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        column = QVBoxLayout(self)
        column.setContentsMargins(10, 4, 10, 4)
        column.setSpacing(2)
        self.label = ElidedLabel()  # the main line: the result, the estimate or the running job
        self.detail = ElidedLabel()  # the second line: a hint, the progress
        font = self.label.font()
        font.setBold(True)
        self.label.setFont(font)
        column.addWidget(self.label)
        column.addWidget(self.detail)
        row = QHBoxLayout()
        row.setSpacing(6)
        self.fewer_button = QPushButton("Use fewer steps")
        self.run_button = QPushButton("Inpaint")
        self.variations_button = QPushButton("Variations")
        self.cancel_button = QPushButton("Cancel")
        self.again_button = QPushButton("Try another seed")
        self.discard_button = QPushButton("Discard")
        self.accept_button = QPushButton("Accept")
        row.addWidget(self.fewer_button)
        row.addStretch(1)
        for button in (
            self.cancel_button,
            self.again_button,
            self.discard_button,
            self.accept_button,
            self.variations_button,
            self.run_button,
        ):
            row.addWidget(button)
        column.addLayout(row)
        self.accept_button.setDefault(True)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.entry: HistoryEntry | None = None
        self.running = False
        self.progress_text = ""
        self.estimate_text = ""
        self.fewer_steps: int | None = None
        self.masked = False
        self._estimate_tip = ""
        self._refresh()

    # -- what the window tells it ------------------------------------------------------------------------------

    def show_entry(self, entry: HistoryEntry) -> None:
        """A result is under review."""
        self.entry = entry
        self._refresh()

    def clear_entry(self) -> None:
        """Nothing is under review any more."""
        self.entry = None
        self._refresh()

    def set_running(self, running: bool, text: str = "") -> None:
        """Whether the editor's job runs, and what it does (``Variation 2 of 3 · Step 5/20``)."""
        self.running = running
        self.progress_text = text if running else ""
        self._refresh()

    def set_estimate(self, text: str, fewer_steps: int | None = None, tip: str = "", *, masked: bool = True) -> None:
        """The expected time of a run (empty: none known), fewer steps worth offering (``None``: none), and
        whether there is a mask to run (the hint says what to do first otherwise)."""
        self.masked = masked
        self.estimate_text = text
        self.fewer_steps = fewer_steps
        if fewer_steps is not None:
            self.fewer_button.setText(f"Use {fewer_steps} steps")
        self._estimate_tip = tip
        self._refresh()

    def follow(self, actions: EditorActions) -> None:
        """Enable each button as the window's action that does the same (the window calls this on changes)."""
        for button, action in (
            (self.again_button, actions.again),
            (self.run_button, actions.run),
            (self.variations_button, actions.variations),
            (self.accept_button, actions.accept),
            (self.discard_button, actions.discard),
            (self.cancel_button, actions.cancel),
        ):
            button.setEnabled(action.isEnabled())

    @property
    def state(self) -> str:
        """``"reviewing"``, ``"running"`` or ``"ready"``."""
        return "reviewing" if self.entry is not None else "running" if self.running else "ready"

    # -- showing it --------------------------------------------------------------------------------------------

    def _refresh(self) -> None:
        entry = self.entry
        self.label.set_hint(self._estimate_tip if entry is None and not self.running else "")
        if entry is not None:
            done = " (accepted)" if entry.accepted else ""
            self.label.setText(f"{entry.description}{done}")
            self.detail.setText(self.progress_text if self.running else REVIEW_HINT)
        elif self.running:
            self.label.setText("Inpainting…")
            self.detail.setText(self.progress_text)
        else:
            self.label.setText(self.estimate_text or (RUN_HINT if self.masked else READY_HINT))
            self.detail.setText(RUN_HINT if self.estimate_text else "")
        reviewing, ready = entry is not None, entry is None and not self.running
        for button in (self.again_button, self.discard_button, self.accept_button):
            button.setVisible(reviewing)
        self.cancel_button.setVisible(self.running)
        self.run_button.setVisible(ready)
        self.variations_button.setVisible(ready)
        self.fewer_button.setVisible(ready and self.fewer_steps is not None)


class ResultsPanel(QWidget):
    """The history strip and the review bar side by side, one fixed-height band under the canvas.

    Args:
        strip: the results history strip.
        bar: the review bar.
    """

    def __init__(self, strip: HistoryStrip, bar: ReviewBar, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ResultsPanel")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(strip, 5)
        row.addWidget(bar, 6)
        self.setFixedHeight(max(strip.height(), bar.sizeHint().height()))
