"""The end-of-batch summary: counts in one sentence, then every file that was not done, with its reason.

Nothing that went wrong is only in the table: a failed or left-out file is listed here with the sentence core
gave for it, so a photographer sees at a glance what needs another look.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout

from core.batch import BatchSummary, FileResult

MAX_VISIBLE_PROBLEMS = 5  # more scroll

# Status → how it reads in the summary; the order is the order shown.
LABELS = {
    "done": "done",
    "skipped": "skipped (done earlier)",
    "failed": "failed",
    "unpaired": "without a usable mask",
    "ignored": "not photos",
    "cancelled": "cancelled",
    "redone": "redone (output missing or damaged)",
    "kept_changed": "kept (output changed since written)",
}


def summary_sentence(summary: BatchSummary, out_dir: Path | None = None) -> str:
    """``"Finished in 12 s: 5 done · 2 failed …"`` — counts of zero are left out, except ``done``."""
    counts = summary.counts
    parts = [f"{counts.get('done', 0)} done"]
    parts += [f"{counts[key]} {label}" for key, label in LABELS.items() if key != "done" and counts.get(key)]
    verb = "Cancelled after" if counts.get("cancelled") else "Finished in"
    where = f"; results in {out_dir}" if out_dir is not None else ""
    return f"{verb} {format_duration(summary.seconds)}: {' · '.join(parts)}{where}."


def format_duration(seconds: float) -> str:
    """``"45 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class SummaryPanel(QFrame):
    """Shown when a batch ends (or is cancelled): the counts, the problems, and a way to the results."""

    open_folder = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("BatchSummary")
        self.setStyleSheet("#BatchSummary { border: 1px solid palette(mid); border-radius: 6px; }")
        self.headline = QLabel()
        self.headline.setWordWrap(True)
        self.headline.setTextFormat(Qt.TextFormat.PlainText)
        self.headline.setStyleSheet("QLabel { font-weight: 600; }")
        self.open_button = QPushButton("Show results folder")
        self.problems = QListWidget()
        self.problems.setWordWrap(True)
        self.problems.setAlternatingRowColors(True)
        top = QHBoxLayout()
        top.addWidget(self.headline, 1)
        top.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addLayout(top)
        layout.addWidget(self.problems)
        self.open_button.clicked.connect(self.open_folder)
        self.hide()

    def show_summary(self, summary: BatchSummary, problems: list[FileResult], out_dir: Path | None) -> None:
        self.headline.setText(summary_sentence(summary, out_dir))
        self.problems.clear()
        for result in problems:
            key = "redone" if result.redone else "kept_changed" if result.kept_changed else result.status
            label = LABELS.get(key, result.status)
            item = QListWidgetItem(f"{result.photo.name} — {label}: {result.reason or 'no reason given'}")
            item.setToolTip(str(result.photo))
            self.problems.addItem(item)
        self.problems.setVisible(bool(problems))
        # As tall as its lines, up to a handful: the review grid above keeps the room.
        rows = min(max(len(problems), 1), MAX_VISIBLE_PROBLEMS)
        line = max(self.problems.sizeHintForRow(0), self.fontMetrics().height() + 2)
        self.problems.setFixedHeight(rows * line + 2 * self.problems.frameWidth() + 4)
        self.show()

    def problem_lines(self) -> list[str]:
        return [self.problems.item(i).text() for i in range(self.problems.count())]
