"""The Models dialog: which Moebius weights are installed; download (progress, cancel, resume), import, verify
or remove them.

Downloads and imports run on a short-lived thread so the dialog stays responsive; Cancel sets the core's
cancel token from the GUI thread. A cancelled download keeps its partial file, and the next download of the same
model resumes it (core.weights.download does that; the dialog shows "partly downloaded").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QThread, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.worker import forget_foreign_thread
from core.common.cancel import CancelToken

Task = Callable[[CancelToken, Callable[[int, int], None]], str]
"""A job for the task thread: gets the cancel token and a ``(done, total)`` progress sink; returns a summary."""


def _gigabytes(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n else "—"


class TaskThread(QThread):
    """Runs one :data:`Task`; reports progress, then ``done`` or ``failed`` (queued to the GUI thread)."""

    progressed = Signal(object, object)  # done, total bytes: Python ints, larger than a C int
    done = Signal(str)
    failed = Signal(str)

    def __init__(self, task: Task) -> None:
        super().__init__()
        self.task = task
        self.cancel = CancelToken()

    def run(self) -> None:
        from core.common.errors import CancelledError, MoebiusError

        try:
            summary = self.task(self.cancel, lambda done, total: self.progressed.emit(done, total))
        except CancelledError:
            self.failed.emit("Cancelled. A partial download is kept and resumes next time.")
        except MoebiusError as error:
            self.failed.emit(error.user_message())
        except Exception as error:  # shown in the dialog rather than lost in the thread
            self.failed.emit(f"Failed unexpectedly: {error!r}")
        else:
            self.done.emit(summary)
        finally:
            forget_foreign_thread()


def download_task(name: str, endpoint: str | None = None) -> Task:
    """Download registry model ``name`` with core.weights.download (``endpoint``: another Hub address)."""

    def run(cancel: CancelToken, progress: Callable[[int, int], None]) -> str:
        from core.weights.download import download_model

        def sink(report: Any) -> None:
            progress(int(report.overall_done or report.done), int(report.overall_total or report.total or 0))

        download_model(name, endpoint=endpoint, progress=sink, cancel=cancel)
        return f"{name} is installed."

    return run


def import_task(path: Path) -> Task:
    """Import the checkpoints found at ``path`` with core.weights.importer."""

    def run(cancel: CancelToken, progress: Callable[[int, int], None]) -> str:
        from core.weights.importer import import_models

        report = import_models(path, cancel=cancel)
        notes = [f"Installed {item.path.name}" for item in report.installed]
        notes += [f"Refused {p.name}: {error.user_message()}" for p, error in report.failed]
        if report.refused:
            notes.append("Nothing from this import was installed")
        return "; ".join(notes) or "Nothing to import was found there."

    return run


def verify_task(name: str) -> Task:
    """Re-check the installed files of ``name`` completely (hash, safe read, keys and shapes)."""

    def run(cancel: CancelToken, progress: Callable[[int, int], None]) -> str:
        from core.weights.store import verify_installed

        results = verify_installed([name], cancel=cancel)
        if not results:
            return f"{name} is not installed: nothing to verify."
        lines = [f"{'OK' if r.ok else 'Damaged'}: {r.path.name}: {r.message}" for r in results]
        verdict = f"{name} is intact." if all(r.ok for r in results) else f"{name} failed verification."
        return " ".join([verdict, *lines])

    return run


def remove_task(name: str) -> Task:
    """Delete the installed files of ``name`` (and unfinished downloads of it)."""

    def run(cancel: CancelToken, progress: Callable[[int, int], None]) -> str:
        from core.weights.store import remove_model

        removed = remove_model(name)
        note = " Nothing can be inpainted with Moebius until a VAE is installed again." if name == "vae" else ""
        return f"Removed {name} ({len(removed)} file(s)).{note}"

    return run


class ModelsDialog(QDialog):
    """Lists the registry's models with size and state; downloads, imports, cancels."""

    models_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(720, 360)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Model", "What it is for", "Size", "State"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.status = QLabel("Models are stored in the app's models folder; nothing is sent anywhere.")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.hide()
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Download the selected model from Hugging Face (resumes a partial one)")
        self.import_button = QPushButton("Import from Folder…")
        self.import_button.setToolTip("Install weights you already have (released layout, HF cache, single files)")
        self.verify_button = QPushButton("&Verify")
        self.verify_button.setToolTip("Re-read the selected model's files and check them against their records")
        self.remove_button = QPushButton("&Remove…")
        self.remove_button.setToolTip("Delete the selected model's files from the models folder")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        close_button = QPushButton("Close")
        buttons = QHBoxLayout()
        self.download_button.setText("&Download")
        self.import_button.setText("&Import from Folder…")
        for button in (
            self.download_button,
            self.import_button,
            self.verify_button,
            self.remove_button,
            self.cancel_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self.download_button.clicked.connect(self.download_selected)
        self.import_button.clicked.connect(self.choose_import)
        self.verify_button.clicked.connect(self.verify_selected)
        self.remove_button.clicked.connect(self.remove_selected)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.cancel_button.clicked.connect(self.cancel)
        close_button.clicked.connect(self.close)
        self.task_thread: TaskThread | None = None
        self.endpoint: str | None = None  # the Hub's address; None: HF_ENDPOINT or huggingface.co
        self.refresh()

    def refresh(self) -> None:
        """Read the models folder again."""
        from core.weights.store import model_status

        rows = model_status()
        self.table.setRowCount(len(rows))
        for row, status in enumerate(rows):
            spec = status.spec
            size = sum(f.size or f.approx_bytes for f in spec.files)
            state = status.state
            if status.partial_bytes:
                state += f" ({_gigabytes(status.partial_bytes)})"
            for column, text in enumerate((spec.name, f"{spec.label}: {spec.purpose}", _gigabytes(size), state)):
                item = QTableWidgetItem(text)
                if column == 1 and spec.licence:
                    item.setToolTip(f"Licence: {spec.licence}")
                self.table.setItem(row, column, item)
        if self.table.currentRow() < 0 and rows:
            self.table.selectRow(0)
        self._installed = {status.spec.name: status.installed or bool(status.partial_bytes) for status in rows}
        self._update_buttons()

    def _update_buttons(self) -> None:
        """Verify and Remove only for a model that is on this computer, and never while a task runs."""
        idle = getattr(self, "task_thread", None) is None
        present = getattr(self, "_installed", {}).get(self.selected_model() or "", False)
        for button in (self.download_button, self.import_button):
            button.setEnabled(idle)
        self.verify_button.setEnabled(idle and present)
        self.remove_button.setEnabled(idle and present)

    def selected_model(self) -> str | None:
        row = self.table.currentRow()
        item = self.table.item(row, 0) if row >= 0 else None
        return item.text() if item is not None else None

    def download_selected(self) -> None:
        name = self.selected_model()
        if name is not None:
            self.start(download_task(name, self.endpoint), f"Downloading {name}…")

    def verify_selected(self) -> None:
        name = self.selected_model()
        if name is not None:
            self.start(verify_task(name), f"Verifying {name}…")

    def remove_selected(self) -> None:
        name = self.selected_model()
        if name is not None and self.confirm_remove(name):
            self.start(remove_task(name), f"Removing {name}…")

    def confirm_remove(self, name: str) -> bool:
        """Ask before deleting (a separate method so tests can answer it)."""
        answer = QMessageBox.question(
            self, "Remove model?", f"Delete the files of {name}? It can be downloaded or imported again later."
        )
        return answer == QMessageBox.StandardButton.Yes

    def choose_import(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import Models From")
        if folder:
            self.start(import_task(Path(folder)), f"Importing from {folder}…")

    def start(self, task: Task, text: str) -> None:
        """Run ``task`` on the task thread (one at a time)."""
        if self.task_thread is not None:
            return
        thread = TaskThread(task)
        thread.progressed.connect(self._progressed)
        thread.done.connect(self._finished)
        thread.failed.connect(self._finished)
        self.task_thread = thread
        self.status.setText(text)
        self.progress.setRange(0, 0)
        self.progress.show()
        self._update_buttons()
        self.cancel_button.setEnabled(True)
        thread.start()

    def cancel(self) -> None:
        if self.task_thread is not None:
            self.task_thread.cancel.cancel()
            self.status.setText("Cancelling…")

    def _progressed(self, done: int, total: int) -> None:
        if total > 0:
            # Counted in units that keep the range under a million, so it fits the progress bar's int.
            unit = max(1, -(-total // 1_000_000))
            self.progress.setRange(0, max(1, total // unit))
            self.progress.setValue(min(done, total) // unit)
            if total >= 1e9:
                self.progress.setFormat(f"{done / 1e9:.2f} of {total / 1e9:.2f} GB")
            else:
                self.progress.setFormat(f"{done / 1e6:.1f} of {total / 1e6:.1f} MB")

    def _finished(self, text: str) -> None:
        if self.task_thread is not None:
            self.task_thread.wait()
            self.task_thread = None
        self.status.setText(text)
        self.progress.hide()
        self.cancel_button.setEnabled(False)
        self.refresh()
        self.models_changed.emit()

    def shutdown(self) -> None:
        """Cancel and wait for a running task (closing the dialog or the app)."""
        if self.task_thread is not None:
            self.task_thread.cancel.cancel()
            self.task_thread.wait()
            self.task_thread = None

    def done(self, result: int) -> None:
        self.shutdown()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)
