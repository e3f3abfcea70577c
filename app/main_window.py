"""The editor window: puts the editor's parts together around one :class:`~app.editor.document.EditorDocument`.

The document holds what is being edited (pixels, mask, undo, saved state, results); the window shows it with
the canvas (:mod:`app.editor.canvas`), drives its review and the results band under the canvas
(:mod:`app.editor.review`, :mod:`app.editor.results_panel`), runs inpaint jobs and variations
(:mod:`app.editor.inpaint_flow`, :mod:`app.editor.runner`) with the expected time shown before
(:mod:`app.editor.estimate_view`), selects objects (:mod:`app.editor.selection_tool`), opens and saves files
(:mod:`app.editor.files`), and holds the actions, menus and tool bar (:mod:`app.editor.actions`,
:mod:`app.editor.toolbar`), the settings panel, the status bar (:mod:`app.editor.status_bar`) and the other
windows (Batch, Models). It is sized to its screen and nothing in it resizes it later (:mod:`app.fitting`).
The questions it asks the user are separate methods so tests can answer them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QEvent, QMimeData, QSize, Qt, QTimer
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QKeySequence,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.about import about_text
from app.batch.inputs import batch_inputs
from app.batch.window import BatchWindow
from app.drops import accept_as_copy
from app.dust.window import DustWindow
from app.editor.actions import EditorActions
from app.editor.canvas import Canvas
from app.editor.canvas_view import CanvasView
from app.editor.document import EditorDocument, default_output_path
from app.editor.estimate_view import EstimateView
from app.editor.files import IMAGE_SUFFIXES, PhotoFiles
from app.editor.history import ReviewedResult, uses_seed
from app.editor.inpaint_flow import BATCH_BUSY, InpaintFlow
from app.editor.photo_loader import LoadedPhoto, MaskSource
from app.editor.recent import recent_files, recent_labels, remember_recent
from app.editor.review import ReviewController
from app.editor.runner import JobRunner
from app.editor.selection_tool import ObjectSelection
from app.editor.status_bar import EditorStatus
from app.editor.toolbar import EditorToolBar
from app.editor.window_state import restore_window, save_window
from app.models_dialog import ModelsDialog
from app.settings_panel import SettingsPanel
from app.theme import banner_style
from app.worker import EngineFactory, InferenceService, Job
from core.photo.photo import Photo

APP_TITLE = "Moebius Studio"
DEVICE_PROBE_DELAY_MS = 1500
PREFERRED_SIZE = QSize(1600, 1000)  # on a screen with room for it; smaller screens get what they have
U8 = npt.NDArray[np.uint8]


class MainWindow(QMainWindow):
    """The Moebius Studio editor.

    Args:
        engine_factory: makes the inpainting engine in the inference thread (tests pass a fake one); the
            default loads core's engines.
    """

    def __init__(self, engine_factory: EngineFactory | None = None) -> None:
        super().__init__()
        self.setWindowTitle(APP_TITLE)
        self.setObjectName("MainWindow")
        self.setAcceptDrops(True)
        self.models_dialog: ModelsDialog | None = None
        self.batch_window: BatchWindow | None = None
        self.dust_window: DustWindow | None = None

        # 1. The document and what works on it.
        self.document = EditorDocument(self)
        self.canvas = Canvas(self.document, self)
        self.service = InferenceService(engine_factory, self)
        self.jobs = JobRunner(self.service, self)
        self.files = PhotoFiles(self.document, self, self)
        self.panel = SettingsPanel()
        self.review = ReviewController(self.document, self.canvas, self.jobs, self, self)
        self.selection = ObjectSelection(self.document, self, self)

        # 2. The central column: banners, the canvas with its scroll bars, the results strip, the review bar.
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.PlainText)
        self.banner.setObjectName("ModelBanner")
        self.banner.hide()
        self.message = QLabel()  # errors and notes that need reading, shown inline instead of a modal dialog
        self.message.setWordWrap(True)
        self.message.setObjectName("MessageBanner")
        self.message.hide()
        self.apply_banner_colours()
        self.canvas_view = CanvasView(self.canvas)
        for part, stretch in ((self.banner, 0), (self.message, 0), (self.canvas_view, 1)):
            layout.addWidget(part, stretch)
        layout.addWidget(self.review.panel)  # the results strip and the review bar, shown with a photo
        self.review.panel.hide()
        self.setCentralWidget(central)
        self.settings_dock = QDockWidget("Settings", self)
        self.settings_dock.setObjectName("SettingsDock")
        # In a scroll area: on a low screen the panel scrolls instead of making the window taller than it.
        scroller = QScrollArea()
        scroller.setWidget(self.panel)
        scroller.setWidgetResizable(True)
        scroller.setFrameShape(QScrollArea.Shape.NoFrame)
        scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroller.setMinimumWidth(self.panel.minimumSizeHint().width() + scroller.verticalScrollBar().sizeHint().width())
        self.settings_dock.setWidget(scroller)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.settings_dock)

        # 3. The status bar (size, mask coverage, zoom, device, progress, the batch note).
        self.status = EditorStatus(self.statusBar(), self.document, BATCH_BUSY)
        self.size_label, self.mask_label, self.zoom_label = (
            self.status.size_label,
            self.status.mask_label,
            self.status.zoom_label,
        )
        self.device_label, self.progress, self.batch_label = (
            self.status.device_label,
            self.status.progress,
            self.status.batch_label,
        )
        self.flow = InpaintFlow(self, self.document, self.service, self.jobs, self.review, self.panel, self.status)
        settings, engine = (lambda: self.panel.settings), (lambda: self.panel.engine_name)
        self.estimates = EstimateView(self.document, self.service, settings, engine, self.review.bar, self)

        # 4. Actions, menus and the tool bar.
        self.commands = EditorActions(self, self, self.document, self.canvas)
        panel_action = self.settings_dock.toggleViewAction()
        panel_action.setText("&Settings Panel")
        panel_action.setShortcut(QKeySequence("F9"))
        self.recent_menu = self.commands.build_menus(self.review.view_actions, self.review.run_actions, panel_action)
        self._rebuild_recent_menu()
        self.tool_bar = EditorToolBar(self.commands, self.canvas, self)
        self.addToolBar(self.tool_bar)

        self._connect()
        restore_window(self, self.canvas, self.tool_bar.opacity_slider, PREFERRED_SIZE)
        self.update_model_banner()
        self.update_actions()
        if self.panel.load_warnings:
            self.show_message(" ".join(self.panel.load_warnings))
        # Asking torch about devices imports it (seconds): done in the worker, a moment after the window and
        # the photo are up, so starting stays quick.
        QTimer.singleShot(DEVICE_PROBE_DELAY_MS, self.service.describe_device)

    def _connect(self) -> None:
        bar = self.review.bar
        bar.accept_button.clicked.connect(self.accept_result)
        bar.discard_button.clicked.connect(self.discard_result)
        bar.again_button.clicked.connect(self.run_again)
        bar.run_button.clicked.connect(self.run_inpaint)
        bar.variations_button.clicked.connect(self.run_variations)
        bar.cancel_button.clicked.connect(self.cancel_run)
        bar.fewer_button.clicked.connect(self._use_fewer_steps)
        self.canvas.zoom_changed.connect(lambda zoom: self.zoom_label.setText(f"{zoom:.0%}"))
        self.canvas.object_box_drawn.connect(self.selection.select)
        self.document.changed.connect(self.update_actions)
        self.document.undo_stack.indexChanged.connect(self.update_actions)
        self.files.loaded.connect(self._show_loaded)
        self.files.loading_started.connect(self._loading_started)
        self.files.loading_ended.connect(self.hide_progress)
        self.panel.changed.connect(self._settings_changed)
        self.panel.variations_changed.connect(lambda _count: self.update_actions())
        self.panel.device_changed.connect(lambda: self.service.describe_device(self.panel.settings))
        self.service.jobs_changed.connect(self.update_actions)
        self.service.worker.device_described.connect(self._device_described)
        self.jobs.ended.connect(lambda: self.estimates.schedule(again=True))  # the run's time was recorded

    # -- what the rest of the app and the tests read -----------------------------------------------------------

    @property
    def undo_stack(self) -> QUndoStack:
        return self.document.undo_stack

    @property
    def photo_path(self) -> Path | None:
        return self.document.path

    @property
    def photo(self) -> Photo | None:
        return self.document.photo

    @property
    def current_pixels(self) -> U8 | None:
        """The photo being edited (RGB ``uint8``), without a result under review."""
        return self.document.pixels

    @property
    def has_unsaved_changes(self) -> bool:
        return self.document.has_unsaved_changes

    @property
    def pending_result(self) -> ReviewedResult | None:
        """The result under review (an entry of the results history, over the photo), or ``None``."""
        return self.document.pending_result

    @property
    def showing_before(self) -> bool:
        return self.review.showing_before

    @property
    def job(self) -> Job | None:
        """The editor's running job, if any."""
        return self.jobs.job

    @property
    def loading(self) -> bool:
        """Whether a big photo is being decoded on a thread."""
        return self.files.loading

    # -- window state ----------------------------------------------------------------------------------------

    def recent_files(self) -> list[str]:
        return recent_files()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = recent_files()
        for item, label in zip(recent, recent_labels(recent), strict=True):
            action = self.recent_menu.addAction(label)
            action.setToolTip(item)
            action.triggered.connect(lambda _checked=False, item=item: self.open_image(Path(item)))
        self.recent_menu.setEnabled(bool(recent))

    def update_model_banner(self) -> None:
        """Say clearly when the Moebius weights are missing and the classic fill is used instead."""
        self.panel.refresh_engine()  # which engine "auto" runs follows the installed weights
        if self.panel.settings.engine != "classic" and self.panel.engine_name == "classic":
            self.banner.setText(
                "The Moebius model is not installed, so inpainting uses the built-in classic fill, which suits "
                "small spots. Install it with Help → Models…, or run: moebius-inpaint models download"
            )
            self.banner.show()
        else:
            self.banner.hide()

    def apply_banner_colours(self) -> None:
        """Banner colours derived from the palette, so they read well in light and dark mode."""
        palette = self.palette()
        self.banner.setStyleSheet(banner_style(palette, "warning"))
        self.message.setStyleSheet(banner_style(palette, "error"))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.apply_banner_colours()
        super().changeEvent(event)

    def _settings_changed(self) -> None:
        self.update_model_banner()
        self.estimates.schedule()
        self.update_actions()

    def update_actions(self) -> None:
        """Enable what may be done now, and let the title and the results band follow the document."""
        running, reviewing, batch = self.jobs.running, self.pending_result is not None, self.service.batch_running
        entry = self.document.reviewed
        # Another seed changes nothing for an engine without one (the classic fill): no button that repeats it.
        seeded = uses_seed(entry.engine) if entry is not None else uses_seed(self.panel.engine_name)
        commands = self.commands
        commands.update_enabled(
            has_photo=self.document.has_photo,
            running=running,
            reviewing=reviewing,
            batch=batch,
            batch_tip=BATCH_BUSY,
            seeded=seeded,
        )
        bar = self.review.bar
        count = self.panel.variations
        commands.variations.setText(f"&Variations ({count})")
        bar.variations_button.setText(f"{count} Variations")
        bar.follow(commands)
        unseeded = "The classic fill has no seed: another run gives the same picture."
        bar.again_button.setToolTip(BATCH_BUSY if batch else "" if seeded else unseeded)
        bar.variations_button.setToolTip(BATCH_BUSY if batch else commands.variations.toolTip() if seeded else unseeded)
        self.batch_label.setVisible(batch)
        self.review.panel.setVisible(self.document.has_photo)
        # The photo's name, and Qt's mark of unsaved changes (a star, or the platform's own sign).
        path = self.document.path
        self.setWindowTitle(f"{path.name}[*] — {APP_TITLE}" if path is not None else APP_TITLE)
        if path is not None and self.document.writes_in_place:
            # Said where it is seen: Save replaces this file, the copy another editor handed over and reads back.
            self.setWindowTitle(f"{path.name}[*] — Edit in place: Save writes back into {path.name} — {APP_TITLE}")
        self.setWindowModified(self.has_unsaved_changes)

    def model_banner_shown(self) -> bool:
        return self.banner.isVisible()

    def _use_fewer_steps(self) -> None:
        """The review bar's offer: set the steps it suggested (saved like any change in the panel)."""
        if self.review.bar.fewer_steps is not None:
            self.panel.steps.setValue(self.review.bar.fewer_steps)

    # -- the views the editor's parts use (ReviewView, FilesView) ----------------------------------------------

    def show_message(self, text: str) -> None:
        """An inline message for the user (errors, warnings), until the next action replaces it."""
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def show_status(self, text: str) -> None:
        self.statusBar().showMessage(text)

    def show_busy(self, text: str) -> None:
        """Show that something is being worked on off the GUI thread (``""``: nothing any more)."""
        self.canvas.setCursor(Qt.CursorShape.BusyCursor if text else Qt.CursorShape.CrossCursor)
        if text:
            self.status.show_busy(text)
        else:
            self.hide_progress()

    def mask_wanted(self) -> bool:
        return self.commands.show_mask.isChecked()

    def confirm(self, title: str, text: str) -> bool:
        """A yes/no question (a separate method so tests can answer it)."""
        return QMessageBox.question(self, title, text) == QMessageBox.StandardButton.Yes

    def ask_save_changes(self) -> QMessageBox.StandardButton:
        """The unsaved-changes question (a separate method so tests can answer it)."""
        name = self.photo_path.name if self.photo_path else "the photo"
        return QMessageBox.question(
            self,
            "Unsaved changes",
            f"Save the changes to {name}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )

    def ask_path(self, title: str, start: str, filter: str, *, save: bool) -> Path | None:
        """A file dialog to open or to save (it asks about replacing an existing file itself)."""
        dialog = QFileDialog.getSaveFileName if save else QFileDialog.getOpenFileName
        chosen, _ = dialog(self, title, start, filter)
        return Path(chosen) if chosen else None

    def ask_stop_batch(self, done: int, total: int) -> bool:
        """The stop-the-batch question (a separate method so tests can answer it); true for Stop and Quit."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Batch running")
        box.setText(
            f"A batch is running ({done} of {total} done). Stop it and quit?\n\n"
            "Finished photos are kept; starting the batch again continues where it stopped."
        )
        stop = box.addButton("Stop and Quit", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(box.addButton(QMessageBox.StandardButton.Cancel))
        box.exec()
        return box.clickedButton() is stop

    # -- open and save ---------------------------------------------------------------------------------------

    def choose_and_open(self) -> None:
        self.files.choose_and_open()

    def open_image(self, path: Path, mask: MaskSource | None = None) -> bool:
        """Open a photo and its mask (see :meth:`PhotoFiles.open_image`); false when it could not be opened or
        the user kept the current one. Small photos are shown before this returns, big ones when decoded."""
        return self.files.open_image(path, mask)

    def _loading_started(self, name: str) -> None:
        self.status.show_busy("Opening…")  # decoding has no steps to count
        self.statusBar().showMessage(f"Opening {name}…")

    def hide_progress(self) -> None:
        """Hide the progress bar unless a job, a decoding or a selection still shows it."""
        if not self.jobs.running and not self.files.loading and not self.selection.busy:
            self.progress.hide()

    def _show_loaded(self, loaded: LoadedPhoto) -> None:
        self.show_message("")
        self.jobs.drop()  # a job of the previous photo: its result would not fit
        self.document.open(loaded.path, loaded.photo, loaded.mask)
        self.canvas.set_photo(loaded.image, loaded.preview)
        self.size_label.setText(f"{loaded.photo.width} × {loaded.photo.height} px")
        note = f"  ·  {loaded.note}" if loaded.note else ""
        self.statusBar().showMessage(f"{loaded.path.name}{note}")
        remember_recent(loaded.path)
        self._rebuild_recent_menu()
        self.update_actions()

    def maybe_keep_changes(self) -> bool:
        """Before the photo goes away: ask about unsaved results. Returns false to keep the current photo."""
        return self.files.maybe_keep_changes()

    def save(self) -> bool:
        """Save to ``NAME_inpainted`` beside the original (or where the last save went)."""
        return self.files.save()

    def save_as(self) -> bool:
        return self.files.save_as()

    def write_to(self, target: Path, *, overwrite: bool = False) -> bool:
        """Write the edited photo; asks before replacing the original. Returns whether it was written."""
        return self.files.write_to(target, overwrite=overwrite)

    def export_mask(self) -> bool:
        return self.files.export_mask()

    def write_mask_to(self, target: Path) -> bool:
        """Write the mask as a black-and-white PNG (white = fill)."""
        return self.files.write_mask_to(target)

    def clear_mask(self) -> None:
        self.document.clear_mask()

    # -- run and review --------------------------------------------------------------------------------------

    def run_inpaint(self, *, new_seed: bool = False) -> Job | None:
        """Queue an inpaint of the current mask; returns the job, or ``None`` when there is nothing to do."""
        return self.flow.run(new_seed=new_seed)

    def run_variations(self) -> Job | None:
        """Queue one job that makes the panel's number of variations, each with a new seed."""
        return self.flow.run(variations=self.panel.variations)

    def run_again(self) -> Job | None:
        """Run the reviewed result's mask again with a fresh random seed; the result stays in the history."""
        return self.flow.run_again()

    def cancel_run(self) -> None:
        """Stop the running job within a step."""
        self.flow.cancel()

    def expand_for_shadow(self) -> bool:
        """Grow the mask downward to take in the shadow of the object it covers (off the GUI thread)."""
        return self.selection.expand_for_shadow()

    def _device_described(self, text: str) -> None:
        self.panel.set_device_text(text)
        self.device_label.setText(text.split(" — ")[0])

    def accept_result(self) -> None:
        """Keep the result under review: one undo step that also clears the mask it filled."""
        if self.review.accept():
            self.statusBar().showMessage("Result applied (Ctrl+Z takes it back); paint the next area.")

    def discard_result(self) -> None:
        if self.review.discard():
            self.statusBar().showMessage("Result discarded.")

    def show_before(self, before: bool) -> None:
        """Show the photo without (``True``) or with (``False``) the result under review."""
        self.review.show_before(before)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Holding \\ shows the photo without the result under review (before/after comparison).
        if event.key() == Qt.Key.Key_Backslash and not event.isAutoRepeat() and self.pending_result is not None:
            self.show_before(True)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Backslash and not event.isAutoRepeat() and self.pending_result is not None:
            self.show_before(False)
            return
        super().keyReleaseEvent(event)

    # -- drag and drop ---------------------------------------------------------------------------------------

    @staticmethod
    def dropped_photo(mime: QMimeData) -> Path | None:
        for url in mime.urls():
            if url.isLocalFile():
                path = Path(url.toLocalFile())
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    return path
        return None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        # Always as a copy (app.drops): a photo dropped from a file manager must stay where it is.
        mime = event.mimeData()
        accept_as_copy(event, bool(batch_inputs(mime)) or self.dropped_photo(mime) is not None)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        accept_as_copy(event)  # the source may propose Move again as modifier keys change during the drag

    def dropEvent(self, event: QDropEvent) -> None:
        # A folder, or several photos, is a batch; one photo opens in the editor.
        inputs = batch_inputs(event.mimeData())
        if inputs:
            if accept_as_copy(event):
                QTimer.singleShot(0, lambda: self.show_batch(inputs))
            return
        path = self.dropped_photo(event.mimeData())
        if not accept_as_copy(event, path is not None) or path is None:
            return
        # Opened after the drop returns, so a question dialog does not block the source application.
        QTimer.singleShot(0, lambda: self.open_image(path))

    # -- other windows, about and closing --------------------------------------------------------------------

    def show_batch(self, inputs: list[Path] | None = None) -> BatchWindow:
        """Open the Batch window (one, kept while the editor is open), with these folders or photos if given."""
        if self.batch_window is None:
            self.batch_window = BatchWindow(self.service, lambda: self.panel.settings, self)
            self.batch_window.redo_requested.connect(lambda photo, mask: self.open_image(photo, mask))
            self.panel.changed.connect(lambda _settings: self._refresh_batch_settings())
        if inputs:
            self.batch_window.set_inputs(inputs)
        self.batch_window.show()
        self.batch_window.raise_()
        self.batch_window.activateWindow()
        return self.batch_window

    def show_dust(self) -> DustWindow:
        """Open the Find Sensor Dust window (one, kept while the editor is open); its masks go to the Batch window."""
        if self.dust_window is None:
            self.dust_window = DustWindow(self)
            self.dust_window.open_batch.connect(
                lambda folder, masks: self.show_batch([folder]).set_mask_source(masks, None)
            )
        self.dust_window.show()
        self.dust_window.raise_()
        self.dust_window.activateWindow()
        return self.dust_window

    def _refresh_batch_settings(self) -> None:
        if self.batch_window is not None:
            self.batch_window.refresh_settings()

    def show_models(self) -> ModelsDialog:
        """Open the Models dialog (one at a time, not modal, so the editor stays usable meanwhile)."""
        if self.models_dialog is None:
            self.models_dialog = ModelsDialog(self)
            self.models_dialog.models_changed.connect(self._settings_changed)
        self.models_dialog.refresh()
        self.models_dialog.show()
        self.models_dialog.raise_()
        return self.models_dialog

    def about_text(self) -> str:
        return about_text()

    def show_about(self) -> None:
        QMessageBox.about(self, "About Moebius Studio", self.about_text())

    def may_stop_batch(self) -> bool:
        """Before quitting: whether a running batch may be stopped (true when none runs)."""
        if not self.service.batch_running:
            return True
        done, total = self.batch_window.done_counts() if self.batch_window is not None else (0, 0)
        return self.ask_stop_batch(done, total)

    def closeEvent(self, event: QCloseEvent) -> None:
        # Both questions come before anything stops: a Cancel in the second still leaves the batch running.
        if not self.may_stop_batch() or not self.maybe_keep_changes():
            event.ignore()
            return
        save_window(self, self.canvas, self.tool_bar.opacity_slider)
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop every thread the window started (the worker waits for its job to notice the cancel)."""
        self.service.shutdown()
        if self.models_dialog is not None:
            self.models_dialog.shutdown()
        self.files.shutdown()
        self.selection.shutdown()


__all__ = ["APP_TITLE", "BATCH_BUSY", "MainWindow", "default_output_path"]
