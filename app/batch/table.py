"""The batch pairing table: one row per file of the batch, with its mask, its state and its output.

Rows start from core's pairings (what was found, or why nothing was); the batch window updates a row when the
user fixes its mask, when the plan decides to skip it (done earlier), and as each file is processed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from core.batch import BatchPlan, FileResult, Pairing

Index = QModelIndex | QPersistentModelIndex

PHOTO, MASK, STATUS, OUTPUT = range(4)
HEADERS = ("Photo", "Mask", "Status", "Output")

# Row states. "ready" and the problem states come from pairing; the others from running.
READY = "ready"
PROBLEM = "problem"  # no mask, or two candidate masks: listed, not processed
NOT_PHOTO = "not-photo"
QUEUED = "queued"
RUNNING = "running"
DONE = "done"
SKIPPED = "skipped"
FAILED = "failed"
CANCELLED = "cancelled"

_COLOURS = {
    PROBLEM: "#b26b00",
    NOT_PHOTO: "#8a8a8a",
    RUNNING: "#1f6fd1",
    DONE: "#2e8b3a",
    SKIPPED: "#2e8b3a",
    FAILED: "#c62828",
    CANCELLED: "#8a8a8a",
}

_SOURCE_LABELS = {
    "shared": "one mask for all",
    "masks-folder": "masks folder",
    "sibling": "beside the photo",
    "manual": "chosen by hand",
}


# FileResult status → (row state, status text); ``None`` text means the reason is shown.
_RESULT_ROWS = {
    "done": (DONE, None),
    "skipped": (SKIPPED, "Done earlier — skipped"),
    "failed": (FAILED, None),
    "unpaired": (PROBLEM, None),
    "ignored": (NOT_PHOTO, None),
    "cancelled": (CANCELLED, "Cancelled — done when you start again"),
}


@dataclass(frozen=True)
class Row:
    """What the table shows for one file."""

    pairing: Pairing
    state: str
    text: str  # the Status column: a short state or the reason in a sentence
    output: Path | None = None
    shared_mask: Path | None = None  # the shared mask that applies, for display

    @property
    def processable(self) -> bool:
        return self.pairing.ready


def row_for(pairing: Pairing, shared_mask: Path | None = None) -> Row:
    """The row of a freshly paired file: ready, or the problem in a sentence."""
    problem = pairing.problem()
    if problem is None:
        return Row(pairing, READY, "Ready", shared_mask=shared_mask)
    state = NOT_PHOTO if pairing.source == "not-image" else PROBLEM
    return Row(pairing, state, problem)


def result_state(result: FileResult) -> tuple[str, str]:
    """The row state and Status text of a file the batch has finished with."""
    state, text = _RESULT_ROWS.get(result.status, (FAILED, None))
    if result.status == "done":
        text = f"Done in {result.seconds:.1f} s" + (f" · seed {result.seed}" if result.seed is not None else "")
        if result.warnings:
            text += " — " + " ".join(result.warnings)
        if result.redone and result.reason:
            text += f" — {result.reason}"
    return state, text or result.reason or result.status


class PairingTableModel(QAbstractTableModel):
    """Rows of :class:`Row`; read-only to views (fixes go through :meth:`set_pairing`)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[Row] = []
        self._by_photo: dict[Path, int] = {}

    # -- Qt model interface -----------------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        if role == Qt.ItemDataRole.ForegroundRole and column == STATUS and row.state in _COLOURS:
            return QBrush(QColor(_COLOURS[row.state]))
        if role == Qt.ItemDataRole.ForegroundRole and row.state == NOT_PHOTO:
            return QBrush(QColor(_COLOURS[NOT_PHOTO]))
        if role == Qt.ItemDataRole.FontRole and row.state == RUNNING:
            font = QFont()
            font.setBold(True)
            return font
        return None

    @staticmethod
    def _mask_text(row: Row) -> str:
        pairing = row.pairing
        if pairing.mask is not None:
            return pairing.mask.name
        if pairing.source == "shared":
            return row.shared_mask.name if row.shared_mask is not None else "one mask for all"
        if pairing.source == "conflict":
            return f"{len(pairing.candidates)} candidates"
        return "—"

    def _text(self, row: Row, column: int) -> str:
        if column == PHOTO:
            return row.pairing.photo.name
        if column == MASK:
            return self._mask_text(row)
        if column == STATUS:
            return row.text
        return row.output.name if row.output is not None else ""

    @staticmethod
    def _tooltip(row: Row, column: int) -> str | None:
        pairing = row.pairing
        if column == PHOTO:
            return str(pairing.photo)
        if column == MASK:
            how = _SOURCE_LABELS.get(pairing.source)
            where = pairing.mask or row.shared_mask
            if where is not None:
                return f"{where}\n({how})" if how else str(where)
            return "\n".join(str(c) for c in pairing.candidates) or None
        if column == STATUS:
            return row.text  # long reasons are cut off in the cell
        return str(row.output) if row.output is not None else None

    # -- editing ----------------------------------------------------------------------------------------------

    def set_rows(self, rows: list[Row]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self._by_photo = {row.pairing.photo: i for i, row in enumerate(self.rows)}
        self.endResetModel()

    def row_of(self, photo: Path) -> int | None:
        return self._by_photo.get(photo)

    def update_row(self, number: int, **changes: Any) -> None:
        """Replace fields of one row and repaint it."""
        self.rows[number] = replace(self.rows[number], **changes)
        self.dataChanged.emit(self.index(number, 0), self.index(number, len(HEADERS) - 1))

    def set_pairing(self, number: int, pairing: Pairing) -> None:
        """A fixed pairing: the row becomes ready (or shows the new problem)."""
        old = self.rows[number]
        self.rows[number] = replace(row_for(pairing), output=old.output)
        self.dataChanged.emit(self.index(number, 0), self.index(number, len(HEADERS) - 1))

    def pairings(self) -> list[Pairing]:
        return [row.pairing for row in self.rows]

    def count(self, *states: str) -> int:
        return sum(1 for row in self.rows if row.state in states)

    def counts_text(self) -> str:
        """``"5 of 7 files ready · 1 need a mask …"`` (empty without rows)."""
        total = len(self.rows)
        if not total:
            return ""
        ready = sum(1 for row in self.rows if row.processable)
        problems, others = self.count(PROBLEM), self.count(NOT_PHOTO)
        parts = [f"{ready} of {total} files ready"]
        if problems:
            parts.append(f"{problems} need a mask (select and choose one)")
        if others:
            parts.append(f"{others} not photos")
        return " · ".join(parts)

    # -- a batch running -------------------------------------------------------------------------------------

    def show_plan(self, plan: BatchPlan) -> None:
        """What the plan decided for every row: waiting, done earlier, or why it is left out."""
        for item in plan.files:
            number = self.row_of(item.pairing.photo)
            if number is None:
                continue
            if item.action == "process":
                self.update_row(number, state=QUEUED, text="Waiting", output=item.output)
            elif item.action in ("skip", "adopt"):
                self.update_row(number, state=QUEUED, text="Done earlier", output=item.output)
            elif item.reason and self.rows[number].state == READY:
                self.update_row(number, state=PROBLEM, text=item.reason)

    def show_result(self, result: FileResult) -> int | None:
        """A file the batch has finished with; returns its row number (``None`` when it is not listed)."""
        number = self.row_of(result.photo)
        if number is not None:
            state, text = result_state(result)
            # A failed or cancelled photo has no output to point at (nothing partial is ever left).
            output = result.output if result.status in ("done", "skipped") else None
            self.update_row(number, state=state, text=text, output=output)
        return number

    def reset_waiting(self, text: str, keep: set[Path] | None = None) -> None:
        """Rows still queued or running (except ``keep``) are ready again, saying ``text``."""
        for number, row in enumerate(self.rows):
            if row.state in (QUEUED, RUNNING) and (keep is None or row.pairing.photo not in keep):
                self.update_row(number, state=READY, text=text)


class PairingTable(QTableView):
    """The pairing table's view: whole rows selected, read-only, a context menu for fixing masks."""

    def __init__(self, model: PairingTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(STATUS, QHeaderView.ResizeMode.Stretch)
        for column, width in ((PHOTO, 200), (MASK, 180), (OUTPUT, 220)):
            self.setColumnWidth(column, width)

    def selected_rows(self) -> list[int]:
        return sorted({index.row() for index in self.selectionModel().selectedRows()})
