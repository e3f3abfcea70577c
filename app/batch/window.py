"""The Batch window: a folder (or a handful of files) of photos with their masks, inpainted in one go.

What the user sees, top to bottom: where the photos come from and how masks are found; the pairing table
(photo, mask, status, output), where a missing or ambiguous mask is fixed by choosing one; the output folder,
name template and seed policy (every other setting is the editor's Settings panel, so a batch fills exactly
like the editor would); Start / Pause / Cancel with an overall bar (n of N, time left) and a bar for the
current photo's steps; a review grid of before/after thumbnails; and a summary when the batch ends.

The work is core's: :func:`~core.batch.pair_folder` pairs, :func:`~core.batch.prepare_batch` checks every
cheap thing up front (so a read-only output folder is refused before a model loads), and the inference
worker runs :func:`~core.batch.run_batch` in the app's one model thread. Starting again on the same output
folder resumes: photos its journal records as done are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QModelIndex, QPoint, QSize, Qt, QUrl, Signal
from PySide6.QtGui import (
    QDesktopServices,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeySequence,
    QShortcut,
    QShowEvent,
)
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QMenu, QPushButton, QSplitter, QVBoxLayout, QWidget

from app.batch.banners import ERROR_STYLE, NOTE_STYLE, banner
from app.batch.inputs import (
    IMAGE_FILTER,
    batch_inputs,
    default_output_folder,
    describe_source,
    one_photo,
    pair_inputs,
    settings_line,
)
from app.batch.output_form import OutputForm
from app.batch.review_grid import ReviewGrid
from app.batch.run_view import EDITOR_BUSY, RunControls
from app.batch.summary import SummaryPanel
from app.batch.table import RUNNING, PairingTable, PairingTableModel, Row, row_for
from app.drops import accept_as_copy
from app.fitting import fit_to_screen
from app.settings_panel import installed_engine
from app.worker import BatchFileReport, BatchJob, InferenceService, resolve_engine
from core.batch import (
    BatchOptions,
    BatchPlan,
    BatchProgress,
    BatchSummary,
    FileResult,
    Pairing,
    SharedMasks,
    output_name,
    placed_mask,
    prepare_batch,
)
from core.common.errors import BatchInputError, BatchSettingsChangedError, MoebiusError
from core.common.progress import ProgressEvent
from core.job.settings import JobSettings

# Core's hints name command-line options; the window says what to do in the window instead.
_GUI_HINTS = {
    "settings": "Tick “Redo photos done earlier” to redo every photo with the new settings, or choose another "
    "output folder.",
    "input": "Choose another output folder.",
}
PREFERRED_SIZE = QSize(1120, 820)


class BatchWindow(QWidget):
    """The batch panel as a window of its own (closing it while a batch runs only hides it)."""

    redo_requested = Signal(object, object)  # photo Path, mask Path | MaskMaker | None: open it in the editor

    def __init__(
        self, service: InferenceService, settings: Callable[[], JobSettings], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Batch — Moebius Studio")
        self.setObjectName("BatchWindow")
        self.setAcceptDrops(True)
        self.service = service
        self._settings = settings
        self.inputs: list[Path] = []
        self.masks_dir: Path | None = None
        self.shared: SharedMasks | None = None
        self.manual: dict[Path, Path] = {}  # masks fixed by hand survive a re-pairing
        self._auto_output: Path | None = None
        self.job: BatchJob | None = None
        self.plan: BatchPlan | None = None
        self.results: list[FileResult] = []
        self.summary: BatchSummary | None = None
        self._eta: float | None = None
        self._current: Path | None = None

        self._build()
        # The seed policy starts as saved (the command line's batch uses the same setting); the choice here
        # applies to this window's batches.
        self.seed_policy.setCurrentIndex(max(0, self.seed_policy.findData(self._settings().seed_policy)))
        self._connect()
        self.refresh_settings()
        self._update_controls()
        fit_to_screen(self, PREFERRED_SIZE)  # never taller than a laptop's screen

    # -- construction ----------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.message = banner(ERROR_STYLE)  # errors, until the next action
        self.note = banner(NOTE_STYLE)  # notes: resuming, engine fallback

        self.source_label = QLabel("Drop a folder of photos here, or choose one.")
        self.source_label.setWordWrap(True)
        self.add_button = QPushButton("Choose Folder…")
        self.masks_button = QPushButton("Masks Folder…")
        self.masks_button.setToolTip("Take each photo's mask from this folder (NAME.* or NAME_mask.*)")
        self.shared_button = QPushButton("One Mask for All…")
        self.shared_button.setToolTip("Use one mask for every photo (stretched to each photo's size)")
        self.auto_button = QPushButton("Find Masks by Name")
        self.auto_button.setToolTip("masks/NAME.*, NAME_mask.* or NAME.mask.png beside each photo")
        source_row = QHBoxLayout()
        source_row.addWidget(self.source_label, 1)
        for button in (self.add_button, self.masks_button, self.shared_button, self.auto_button):
            source_row.addWidget(button)

        self.model = PairingTableModel(self)
        self.table = PairingTable(self.model)
        self.fix_button = QPushButton("Choose Mask for Selected…")
        self.fix_button.setToolTip("Pair the selected photos with a mask file of your choice (or double-click a row)")
        self.counts_label = QLabel()
        fix_row = QHBoxLayout()
        fix_row.addWidget(self.counts_label, 1)
        fix_row.addWidget(self.fix_button)
        table_box = QWidget()
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.addWidget(self.table, 1)
        table_layout.addLayout(fix_row)

        self.review = ReviewGrid()
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(table_box)
        self.splitter.addWidget(self.review)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        table_box.setMinimumHeight(140)
        self.review.setMinimumHeight(self.review.sizeHint().height())  # one whole row of tiles
        self.splitter.setChildrenCollapsible(False)

        self.output_form = OutputForm()
        form = self.output_form  # its parts, by the names the rest of the window (and its tests) use
        self.output_edit, self.output_button = form.output_edit, form.output_button
        self.template_edit, self.seed_policy = form.template_edit, form.seed_policy
        self.redo_all, self.settings_label = form.redo_all, form.settings_label

        self.run_controls = RunControls()
        # The run row's parts, by the names the rest of the window (and its tests) use.
        self.overall, self.current = self.run_controls.overall, self.run_controls.current
        self.start_button, self.pause_button = self.run_controls.start_button, self.run_controls.pause_button
        self.cancel_button, self.wait_label = self.run_controls.cancel_button, self.run_controls.wait_label

        self.summary_panel = SummaryPanel()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 12)
        layout.addWidget(self.message)
        layout.addWidget(self.note)
        layout.addLayout(source_row)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.output_form)
        layout.addWidget(self.summary_panel)
        layout.addWidget(self.run_controls)

    def _connect(self) -> None:
        self.add_button.clicked.connect(self.choose_folder)
        self.masks_button.clicked.connect(self.choose_masks_folder)
        self.shared_button.clicked.connect(self.choose_shared_mask)
        self.auto_button.clicked.connect(lambda: self.set_mask_source(None, None))
        self.fix_button.clicked.connect(self.choose_mask_for_selected)
        self.table.doubleClicked.connect(self._double_clicked)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_controls())
        self.output_button.clicked.connect(self.choose_output)
        self.output_edit.textChanged.connect(lambda _text: self._refresh_outputs())
        self.template_edit.textChanged.connect(lambda _text: self._refresh_outputs())
        self.start_button.clicked.connect(self.start)
        self.pause_button.toggled.connect(self.set_paused)
        self.cancel_button.clicked.connect(self.cancel)
        self.review.redo_requested.connect(self.redo)
        self.summary_panel.open_folder.connect(self._open_output_folder)
        QShortcut(QKeySequence("Esc"), self, self.cancel)

        self.service.jobs_changed.connect(self._update_controls)
        worker = self.service.worker
        worker.progressed.connect(self._model_loading)
        worker.batch_progressed.connect(self._progressed)
        worker.batch_file_done.connect(self._file_done)
        worker.batch_finished.connect(self._finished)
        worker.failed.connect(self._failed)
        worker.cancelled.connect(lambda job_id: self._failed(job_id, "", "Cancelled before any photo started"))

    # -- user-facing questions (separate methods so tests can answer them) -------------------------------------

    def ask_folder(self, title: str, start: str = "") -> Path | None:
        chosen = QFileDialog.getExistingDirectory(self, title, start)
        return Path(chosen) if chosen else None

    def ask_file(self, title: str, start: str = "") -> Path | None:
        chosen, _ = QFileDialog.getOpenFileName(self, title, start, IMAGE_FILTER)
        return Path(chosen) if chosen else None

    # -- inputs and pairing ----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.job is not None

    def set_inputs(self, paths: Iterable[Path]) -> None:
        """Start over with these folders and photos (a drop, or Choose Folder)."""
        if self.running:
            self.show_message("A batch is running; cancel it or wait for it to end before choosing other photos.")
            return
        self.inputs = [Path(p) for p in paths]
        self.masks_dir, self.shared = None, None
        self.manual.clear()
        self.review.clear()
        self.summary_panel.hide()
        self.results = []
        self.summary = None
        self.run_controls.reset()
        suggested = default_output_folder(self.inputs)
        if not self.output_edit.text().strip() or Path(self.output_edit.text().strip()) == self._auto_output:
            self._auto_output = suggested
            self.output_edit.setText(str(suggested) if suggested else "")
        self.repair()

    def set_mask_source(self, masks_dir: Path | None, shared: Path | None) -> None:
        """Find masks by name (both ``None``), in a masks folder, or use one mask for every photo."""
        self.masks_dir = masks_dir
        self.shared = SharedMasks(default=shared) if shared is not None else None
        self.repair()

    def repair(self) -> None:
        """Pair the inputs again with the current mask source, keeping masks fixed by hand."""
        self.show_message("")
        self.note.hide()
        try:
            pairings = pair_inputs(self.inputs, masks_dir=self.masks_dir, shared=self.shared)
        except MoebiusError as error:
            self.show_message(error.user_message())
            pairings = []
        shared_mask = self.shared.default if self.shared is not None else None
        rows: list[Row] = []
        for pairing in pairings:
            fixed = self.manual.get(pairing.photo)
            if fixed is not None and pairing.source != "not-image":
                pairing = pairing.with_mask(fixed)
            rows.append(row_for(pairing, shared_mask))
        self.model.set_rows(rows)
        self.table.resizeColumnToContents(0)
        self._refresh_outputs()
        self._describe_source()
        self._update_controls()

    def fix_mask(self, rows: Iterable[int], mask: Path) -> None:
        """Pair these rows' photos with ``mask`` by hand."""
        for number in rows:
            pairing = self.model.rows[number].pairing
            if pairing.source == "not-image":
                continue
            self.manual[pairing.photo] = mask
            self.model.set_pairing(number, pairing.with_mask(mask))
        self._refresh_outputs()
        self._update_controls()

    def selected_rows(self) -> list[int]:
        return self.table.selected_rows()

    def choose_folder(self) -> None:
        start = str(self.inputs[0]) if self.inputs else ""
        folder = self.ask_folder("Choose a Folder of Photos", start)
        if folder is not None:
            self.set_inputs([folder])

    def choose_masks_folder(self) -> None:
        start = str(self.inputs[0]) if self.inputs else ""
        folder = self.ask_folder("Choose the Masks Folder", start)
        if folder is not None:
            self.set_mask_source(folder, None)

    def choose_shared_mask(self) -> None:
        start = str(self.inputs[0]) if self.inputs else ""
        mask = self.ask_file("Choose One Mask for Every Photo", start)
        if mask is not None:
            self.set_mask_source(None, mask)

    def choose_mask_for_selected(self) -> None:
        rows = self.selected_rows()
        if not rows or self.running:
            return
        start = str(self.model.rows[rows[0]].pairing.photo.parent)
        mask = self.ask_file(f"Choose the Mask for {self.model.rows[rows[0]].pairing.photo.name}", start)
        if mask is not None:
            self.fix_mask(rows, mask)

    def choose_output(self) -> None:
        start = self.output_edit.text().strip() or (str(self.inputs[0]) if self.inputs else "")
        folder = self.ask_folder("Choose the Output Folder", start)
        if folder is not None:
            self.output_edit.setText(str(folder))

    def _double_clicked(self, index: QModelIndex) -> None:
        self.table.selectRow(index.row())
        self.choose_mask_for_selected()

    def _context_menu(self, point: QPoint) -> None:
        if not self.selected_rows() or self.running:
            return
        menu = QMenu(self)
        menu.addAction("Choose Mask…", self.choose_mask_for_selected)
        menu.exec(self.table.viewport().mapToGlobal(point))

    def _describe_source(self) -> None:
        self.source_label.setText(describe_source(self.inputs, self.masks_dir, self.shared))
        self.source_label.setToolTip("\n".join(str(p) for p in self.inputs))

    def _refresh_outputs(self) -> None:
        """The Output column follows the folder and template as they are typed (nothing is created yet)."""
        if self.running:
            return
        folder_text = self.output_edit.text().strip()
        template = self.template_edit.text()
        for number, row in enumerate(self.model.rows):
            output = None
            if folder_text and row.processable:
                try:
                    output = Path(folder_text) / output_name(template, row.pairing.photo)
                except (KeyError, IndexError, ValueError):
                    output = None  # an unfinished template; Start explains what is wrong with it
            if output != row.output:
                self.model.update_row(number, output=output)
        self._update_counts()

    def _update_counts(self) -> None:
        self.counts_label.setText(self.model.counts_text())

    def refresh_settings(self) -> None:
        line = settings_line(self._settings(), installed_engine())
        self.settings_label.setText(f"{line} — from the editor's Settings panel")

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def show_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    # -- running ---------------------------------------------------------------------------------------------

    def start(self) -> BatchJob | None:
        """Check everything, then queue the batch in the inference thread; ``None`` when it cannot start."""
        if self.running:
            return None
        if self.service.editor_running:
            self.show_message(EDITOR_BUSY)
            return None
        self.show_message("")
        self.show_note("")
        if not any(row.processable for row in self.model.rows):
            self.show_message(
                "No photo has a mask yet: choose a masks folder, one mask for all, or select photos and choose "
                "their mask."
                if self.model.rows
                else "Drop a folder of photos on this window first."
            )
            return None
        out_text = self.output_edit.text().strip()
        if not out_text:
            self.show_message("Choose an output folder first; results are never written over the originals.")
            return None
        settings = self._settings()
        self.refresh_settings()
        try:
            engine, fallback = resolve_engine(settings.engine)
            options = BatchOptions(
                settings=settings.replace(engine=engine),
                seed_policy=self.output_form.seed_policy_value,
                template=self.template_edit.text(),
                resume=not self.redo_all.isChecked(),
                overwrite=self.redo_all.isChecked(),
            )
            plan = prepare_batch(self.model.pairings(), Path(out_text), options, shared=self.shared)
            cluster = self.output_form.cluster_spec()  # where the photos are filled (None: here)
        except BatchSettingsChangedError as error:
            self.show_message(f"{error.message} {_GUI_HINTS['settings']}")
            return None
        except BatchInputError as error:
            hint = error.hint if error.hint and "-o" not in error.hint and "--" not in error.hint else ""
            self.show_message(f"{error.message} {hint or _GUI_HINTS['input']}".strip())
            return None
        except MoebiusError as error:
            self.show_message(error.user_message())
            return None
        notes = ([fallback] if fallback else []) + plan.notes
        self.show_note(" ".join(notes))
        self._begin(plan)
        job = BatchJob(plan, cluster=cluster)
        self.job = self.service.submit_batch(job)
        self._update_controls()
        return job

    def _begin(self, plan: BatchPlan) -> None:
        """Reset the progress views and show what the plan decided for every row."""
        self.plan = plan
        self.results = []
        self.summary = None
        self._eta = None
        self._current = None
        self.review.clear()
        self.summary_panel.hide()
        self.model.show_plan(plan)
        self.run_controls.show_plan(plan.count("process"), plan.needs_engine)

    def set_paused(self, paused: bool) -> None:
        """Pause holds the batch before its next photo (the current one finishes); the worker reads the flag."""
        self.run_controls.show_pause(paused, self.job is not None)
        if self.job is None:
            return
        if paused:
            self.job.pause.set()
        else:
            self.job.pause.clear()

    @property
    def paused(self) -> bool:
        return self.job is not None and self.job.pause.is_set()

    def cancel(self) -> None:
        """Stop within one step: the token is set here, on the GUI thread; the photo being filled is not kept."""
        if self.job is None:
            return
        self.job.cancel.cancel()
        self.run_controls.show_cancelling()

    def redo(self, photo: Path, mask: Path | None) -> None:
        """Ask the editor to open a reviewed photo with the mask exactly as the batch laid it on.

        A shared mask is stretched or anchored to each photo, so its file alone rarely fits the photo; core's
        :func:`~core.batch.placed_mask` makes the same mask the batch filled, once the editor knows the size.
        """
        pairing = self._planned_pairing(photo)
        if self.plan is None or pairing is None or not pairing.ready:
            self.redo_requested.emit(photo, mask)
            return
        plan = self.plan

        def batch_mask(width: int, height: int) -> npt.NDArray[np.uint8]:
            return placed_mask(plan, pairing, width, height)[1]

        self.redo_requested.emit(photo, batch_mask)

    def _planned_pairing(self, photo: Path) -> Pairing | None:
        """How the last batch paired ``photo`` (the table may have been re-paired since)."""
        if self.plan is None:
            return None
        return next((item.pairing for item in self.plan.files if item.pairing.photo == photo), None)

    def _model_loading(self, job_id: int, event: ProgressEvent) -> None:
        if self.job is None or job_id != self.job.id:
            return
        self.run_controls.show_loading(event)

    def _progressed(self, job_id: int, report: BatchProgress) -> None:
        if self.job is None or job_id != self.job.id or self.job.cancel.cancelled:
            return
        self._eta = report.eta_s
        if report.nodes is not None:
            self.run_controls.show_nodes(report.nodes)
        number = self.model.row_of(report.photo)
        if report.event is None:
            if report.photo != self._current and number is not None and self.model.rows[number].text == "Waiting":
                # A photo starts: the runner reports it before reading it.
                self._current = report.photo
                self.model.update_row(number, state=RUNNING, text="Working…")
                self.table.scrollTo(self.model.index(number, 0))
                self.run_controls.show_reading(report.photo.name)
            return
        self.run_controls.show_step(report.photo.name, report.event, self.paused)

    def _file_done(self, job_id: int, report: BatchFileReport) -> None:
        if self.job is None or job_id != self.job.id or self.plan is None:
            return
        result = report.result
        self.results.append(result)
        number = self.model.show_result(result)
        if result.status in ("done", "skipped") and result.output is not None:
            note = "Done earlier · hover for before" if result.status == "skipped" else ""
            mask = result.mask
            if mask is None and number is not None:
                mask = self.model.rows[number].pairing.mask
            self.review.add(result.photo, mask, result.output, report.before, report.after, note)
        self._show_overall()
        if self.paused and result.status != "cancelled":
            self.run_controls.show_paused()

    def done_counts(self) -> tuple[int, int]:
        """``(photos processed, photos to process)`` of the current or last batch (failures count as processed)."""
        if self.plan is None:
            return 0, 0
        processed = sum(1 for r in self.results if r.status in ("done", "failed") and self._was_processed(r))
        return processed, self.plan.count("process")

    def _show_overall(self) -> None:
        if self.plan is None:
            return
        processed, to_do = self.done_counts()
        failed = sum(1 for r in self.results if r.status == "failed")
        self.run_controls.show_overall(processed, to_do, failed, paused=self.paused, eta_s=self._eta)

    def _was_processed(self, result: FileResult) -> bool:
        assert self.plan is not None
        item = self.plan.files[result.index - 1]
        return item.action == "process"

    def _finished(self, job_id: int, summary: BatchSummary) -> None:
        if self.job is None or job_id != self.job.id or self.plan is None:
            return
        self.job = None
        self.summary = summary
        self.pause_button.setChecked(False)
        self._show_overall()
        cancelled = bool(summary.counts.get("cancelled"))
        # Photos the cancel never reached are waiting again for the next Start.
        self.model.reset_waiting("Not started — done when you start again", keep={r.photo for r in self.results})
        problems = [
            r
            for r in self.results
            if r.status in ("failed", "unpaired", "ignored", "cancelled") or r.redone or r.kept_changed
        ]
        self.summary_panel.show_summary(summary, problems, self.plan.out_dir)
        self.run_controls.show_finished(cancelled)
        self._update_controls()

    def _failed(self, job_id: int, message: str, state: str = "Stopped") -> None:
        """Something stopped the whole batch (the model could not load, the folder is busy), or a cancel came
        before the first photo."""
        if self.job is None or job_id != self.job.id:
            return
        self.job = None
        self.pause_button.setChecked(False)
        self.show_message(message)
        self.run_controls.show_stopped(state)
        self.model.reset_waiting("Not started")
        self._update_controls()

    def _update_controls(self) -> None:
        running = self.running
        ready = any(row.processable for row in self.model.rows)
        self.run_controls.update_buttons(
            running=running,
            ready=ready,
            editor_busy=self.service.editor_running and not running,
            cancelling=self.job is not None and self.job.cancel.cancelled,
            ran_before=self.summary is not None,
        )
        source = (self.add_button, self.masks_button, self.shared_button, self.auto_button)
        for widget in (*source, *self.output_form.inputs()):
            widget.setEnabled(not running)
        self.fix_button.setEnabled(not running and bool(self.selected_rows()))
        self._update_counts()

    def _open_output_folder(self) -> None:
        if self.plan is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.plan.out_dir)))

    # -- window events ---------------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        self.refresh_settings()
        super().showEvent(event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        # Always as a copy (app.drops): dropped photos must stay in their folder.
        mime = event.mimeData()
        accept_as_copy(event, not self.running and bool(batch_inputs(mime) or one_photo(mime)))

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        accept_as_copy(event)

    def dropEvent(self, event: QDropEvent) -> None:
        inputs = batch_inputs(event.mimeData()) or one_photo(event.mimeData())
        if accept_as_copy(event, bool(inputs) and not self.running):
            self.set_inputs(inputs)


__all__ = ["BatchWindow"]
