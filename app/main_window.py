"""The editor window: canvas, tools, settings panel, inpaint run and review, open and save.

State that matters for undo lives in one QUndoStack: mask strokes (:mod:`app.canvas`) and applied results
(:class:`ApplyResultCommand`). The photo being edited is ``current_pixels`` (RGB ``uint8``); the canvas shows
it, or a result waiting for Accept/Discard.
"""

from __future__ import annotations

import platform
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import numpy.typing as npt
import PySide6
from PySide6.QtCore import QByteArray, QMimeData, QRect, QSettings, Qt, QTimer, QUrl, qVersion
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QKeyEvent,
    QKeySequence,
    QUndoCommand,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QColorDialog,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.canvas import BRUSH, ERASER, MAX_BRUSH, MIN_BRUSH, RECTANGLE, Canvas
from app.models_dialog import ModelsDialog
from app.photo_loader import ASYNC_PIXELS, LoadedPhoto, PhotoLoader, header_size, load_photo, reduced_copy
from app.qt_image import paste_rgb, rgb_to_rgb32
from app.settings_panel import SettingsPanel
from app.worker import EngineFactory, InferenceService, Job
from core import __version__, paths
from core.errors import MoebiusError, OutputExistsError
from core.imageio import Photo, write_image
from core.request import InpaintRequest, InpaintResult, ProgressEvent

APP_TITLE = "Moebius Studio"
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.webp *.bmp);;All files (*)"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}
MAX_RECENT = 10
GROW_STEP = 8  # photo pixels per Grow/Shrink
DEVICE_PROBE_DELAY_MS = 1500
U8 = npt.NDArray[np.uint8]


def installed_version(distribution: str) -> str:
    """A package's installed version, read from its metadata (so the package itself is not imported)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def window_settings() -> QSettings:
    """Window geometry, layout and recent files; kept in the app's config folder beside the job settings."""
    return QSettings(str(paths.config_dir(ensure=True) / "window.ini"), QSettings.Format.IniFormat)


def default_output_path(original: Path) -> Path:
    """``NAME_inpainted.EXT`` beside the original."""
    return original.with_name(f"{original.stem}_inpainted{original.suffix}")


def changed_box(before: U8, after: U8) -> QRect:
    """The bounding box of the pixels that differ (empty when none do)."""
    differs = np.any(before != after, axis=2)
    rows = np.flatnonzero(differs.any(axis=1))
    if rows.size == 0:
        return QRect()
    columns = np.flatnonzero(differs[rows[0] : rows[-1] + 1].any(axis=0))
    return QRect(int(columns[0]), int(rows[0]), int(columns[-1] - columns[0] + 1), int(rows[-1] - rows[0] + 1))


class ApplyResultCommand(QUndoCommand):
    """Undo step of an accepted result: the photo's pixels and the mask that produced them."""

    def __init__(self, window: MainWindow, before: U8, after: U8, mask_before: U8, rect: QRect) -> None:
        super().__init__("Apply inpaint result")
        self._window = window
        self._before, self._after = before, after
        self._mask_before = mask_before
        self._rect = rect

    def redo(self) -> None:
        self._window.set_pixels(self._after, self._rect)
        # The filled area is done: start the next round with an empty mask.
        self._window.canvas.write_mask(self._full_rect(), np.zeros_like(self._mask_before))

    def undo(self) -> None:
        self._window.set_pixels(self._before, self._rect)
        self._window.canvas.write_mask(self._full_rect(), self._mask_before)

    def _full_rect(self) -> QRect:
        height, width = self._mask_before.shape
        return QRect(0, 0, width, height)


class MainWindow(QMainWindow):
    """The Moebius Studio editor."""

    def __init__(self, engine_factory: EngineFactory | None = None) -> None:
        super().__init__()
        self.setWindowTitle(APP_TITLE)
        self.setObjectName("MainWindow")
        self.setAcceptDrops(True)
        self.photo_path: Path | None = None
        self.photo: Photo | None = None
        self.current_pixels: U8 | None = None
        self._saved_pixels: U8 | None = None
        self.last_saved: Path | None = None
        self.pending_result: InpaintResult | None = None
        self._pending_rect = QRect()
        self.pending_mask: U8 | None = None
        self.showing_before = False
        self._step_times: list[float] = []
        self.job: Job | None = None
        self._loader: PhotoLoader | None = None
        self._old_loaders: list[PhotoLoader] = []
        self.models_dialog: ModelsDialog | None = None

        self.undo_stack = QUndoStack(self)
        self.canvas = Canvas(self.undo_stack, self)
        self.service = InferenceService(engine_factory, self)
        self.panel = SettingsPanel()

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.PlainText)
        self.banner.setStyleSheet("QLabel { background: #5a4a14; color: #fff4d0; padding: 6px 10px; }")
        self.banner.hide()
        self.message = QLabel()  # errors and notes that need reading, shown inline instead of a modal dialog
        self.message.setWordWrap(True)
        self.message.setStyleSheet("QLabel { background: #5c1f1f; color: #ffe5e5; padding: 6px 10px; }")
        self.message.hide()
        self.review_bar = self._build_review_bar()
        layout.addWidget(self.banner)
        layout.addWidget(self.message)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.review_bar)
        self.setCentralWidget(central)

        dock = QDockWidget("Settings", self)
        dock.setObjectName("SettingsDock")
        dock.setWidget(self.panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.settings_dock = dock

        self.size_label = QLabel("No photo")
        self.zoom_label = QLabel("")
        self.device_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.hide()
        status = self.statusBar()
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.size_label)
        status.addPermanentWidget(self.zoom_label)
        status.addPermanentWidget(self.device_label)

        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._connect()
        self._restore_window()
        self.update_model_banner()
        self._update_actions()
        if self.panel.load_warnings:
            self.show_message(" ".join(self.panel.load_warnings))
        # Asking torch about devices imports it (seconds): done in the worker, a moment after the window and
        # the photo are up, so starting stays quick.
        QTimer.singleShot(DEVICE_PROBE_DELAY_MS, self.service.describe_device)

    # -- construction ----------------------------------------------------------------------------------------

    def _action(self, text: str, slot: object, shortcuts: list[QKeySequence] | None = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcuts:
            action.setShortcuts(shortcuts)
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work even when the action is only in a hidden menu
        return action

    def _build_actions(self) -> None:
        key = QKeySequence
        std = QKeySequence.StandardKey
        self.open_action = self._action("&Open…", self.choose_and_open, key.keyBindings(std.Open), "Open a photo")
        self.save_action = self._action(
            "&Save", self.save, key.keyBindings(std.Save), "Save the edited photo beside the original (NAME_inpainted)"
        )
        self.save_as_action = self._action("Save &As…", self.save_as, key.keyBindings(std.SaveAs))
        self.export_mask_action = self._action("Export &Mask…", self.export_mask, tip="Save the mask as a PNG")
        self.quit_action = self._action("&Quit", self.close, key.keyBindings(std.Quit))
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        self.undo_action = self.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcuts(key.keyBindings(std.Undo))
        self.redo_action = self.undo_stack.createRedoAction(self, "&Redo")
        redo_keys = key.keyBindings(std.Redo)
        for extra in (key("Ctrl+Shift+Z"), key("Ctrl+Y")):
            if extra not in redo_keys:
                redo_keys.append(extra)
        self.redo_action.setShortcuts(redo_keys)
        self.addAction(self.undo_action)
        self.addAction(self.redo_action)

        self.brush_action = self._action("&Brush", lambda: self.set_tool(BRUSH), [key("B")], "Paint what to remove (B)")
        self.eraser_action = self._action("&Eraser", lambda: self.set_tool(ERASER), [key("E")], "Erase the mask (E)")
        self.rectangle_action = self._action(
            "&Rectangle", lambda: self.set_tool(RECTANGLE), [key("R")], "Drag a box to mask (R)"
        )
        tools = QActionGroup(self)
        for action in (self.brush_action, self.eraser_action, self.rectangle_action):
            action.setCheckable(True)
            tools.addAction(action)
        self.brush_action.setChecked(True)
        self.smaller_action = self._action("S&maller Brush", lambda: self.resize_brush(1 / 1.2), [key("[")])
        self.bigger_action = self._action("B&igger Brush", lambda: self.resize_brush(1.2), [key("]")])
        self.clear_mask_action = self._action("&Clear Mask", self.clear_mask, [key("Ctrl+Shift+A")])
        self.invert_mask_action = self._action("&Invert Mask", self.invert_mask, [key("Ctrl+I")])
        self.grow_mask_action = self._action("&Grow Mask", lambda: self.grow_mask(GROW_STEP), [key("Ctrl+Shift+=")])
        self.shrink_mask_action = self._action(
            "Shrin&k Mask", lambda: self.grow_mask(-GROW_STEP), [key("Ctrl+Shift+-")]
        )
        self.show_mask_action = self._action("&Show Mask", self.toggle_mask, [key("H")], "Show or hide the mask (H)")
        self.show_mask_action.setCheckable(True)
        self.show_mask_action.setChecked(True)
        self.overlay_colour_action = self._action("Mask &Colour…", self.choose_overlay_colour)

        self.zoom_in_action = self._action("Zoom &In", self.canvas.zoom_in, key.keyBindings(std.ZoomIn))
        self.zoom_out_action = self._action("Zoom &Out", self.canvas.zoom_out, key.keyBindings(std.ZoomOut))
        self.fit_action = self._action("&Fit in Window", self.canvas.fit, [key("Ctrl+0")])
        self.actual_size_action = self._action(
            "&Actual Size (100 %)", lambda: self.canvas.set_zoom(1.0), [key("Ctrl+1")]
        )

        self.run_action = self._action(
            "&Inpaint", self.run_inpaint, [key("Ctrl+Return"), key("Ctrl+Enter")], "Fill the masked area (Ctrl+Enter)"
        )
        self.cancel_action = self._action("&Cancel", self.cancel_run, [key("Esc")], "Stop the running inpaint (Esc)")
        self.accept_action = self._action("&Accept Result", self.accept_result, [key("Ctrl+Shift+Return")])
        self.discard_action = self._action("&Discard Result", self.discard_result)
        self.again_action = self._action("Try Another &Seed", self.run_again, [key("Ctrl+Shift+R")])

        self.models_action = self._action("&Models…", self.show_models, tip="Download or import the Moebius weights")
        self.about_action = self._action("&About Moebius Studio", self.show_about)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        file_menu.addSeparator()
        for action in (self.save_action, self.save_as_action, self.export_mask_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)

        mask_menu = bar.addMenu("&Mask")
        for action in (
            self.brush_action,
            self.eraser_action,
            self.rectangle_action,
            self.smaller_action,
            self.bigger_action,
        ):
            mask_menu.addAction(action)
        mask_menu.addSeparator()
        for action in (
            self.clear_mask_action,
            self.invert_mask_action,
            self.grow_mask_action,
            self.shrink_mask_action,
            self.show_mask_action,
            self.overlay_colour_action,
        ):
            mask_menu.addAction(action)

        view_menu = bar.addMenu("&View")
        for action in (self.zoom_in_action, self.zoom_out_action, self.fit_action, self.actual_size_action):
            view_menu.addAction(action)
        view_menu.addSeparator()
        view_menu.addAction(self.settings_dock.toggleViewAction())

        run_menu = bar.addMenu("&Inpaint")
        for action in (self.run_action, self.cancel_action, self.accept_action, self.discard_action, self.again_action):
            run_menu.addAction(action)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.models_action)
        help_menu.addAction(self.about_action)
        self._rebuild_recent_menu()

    def _build_toolbar(self) -> None:
        bar = QToolBar("Tools", self)
        bar.setObjectName("ToolsBar")
        bar.addAction(self.open_action)
        bar.addAction(self.save_action)
        bar.addSeparator()
        bar.addAction(self.undo_action)
        bar.addAction(self.redo_action)
        bar.addSeparator()
        bar.addAction(self.brush_action)
        bar.addAction(self.eraser_action)
        bar.addAction(self.rectangle_action)
        self.size_spin = QSpinBox()
        self.size_spin.setRange(MIN_BRUSH, MAX_BRUSH)
        self.size_spin.setSuffix(" px")
        self.size_spin.setValue(self.canvas.brush_size)
        self.size_spin.setToolTip("Brush size in photo pixels ([ and ] change it)")
        bar.addWidget(self.size_spin)
        bar.addSeparator()
        bar.addAction(self.show_mask_action)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(10, 100)
        self.opacity_slider.setValue(round(self.canvas.overlay_opacity * 100))
        self.opacity_slider.setMaximumWidth(110)
        self.opacity_slider.setToolTip("Mask overlay opacity")
        bar.addWidget(self.opacity_slider)
        bar.addSeparator()
        bar.addAction(self.run_action)
        bar.addAction(self.cancel_action)
        self.addToolBar(bar)
        self.tool_bar = bar

    def _build_review_bar(self) -> QWidget:
        bar = QWidget()
        row = QHBoxLayout(bar)
        row.setContentsMargins(10, 6, 10, 6)
        self.review_label = QLabel()
        row.addWidget(self.review_label, 1)
        self.accept_button = QPushButton("Accept")
        self.discard_button = QPushButton("Discard")
        self.again_button = QPushButton("Try another seed")
        for button in (self.again_button, self.discard_button, self.accept_button):
            row.addWidget(button)
        self.accept_button.setDefault(True)
        bar.hide()
        return bar

    def _connect(self) -> None:
        self.accept_button.clicked.connect(self.accept_result)
        self.discard_button.clicked.connect(self.discard_result)
        self.again_button.clicked.connect(self.run_again)
        self.size_spin.valueChanged.connect(self.canvas.set_brush_size)
        self.canvas.brush_size_changed.connect(self.size_spin.setValue)
        self.canvas.zoom_changed.connect(lambda zoom: self.zoom_label.setText(f"{zoom:.0%}"))
        self.canvas.mask_edited.connect(self._update_actions)
        self.opacity_slider.valueChanged.connect(self._set_opacity)
        self.panel.changed.connect(lambda _settings: self.update_model_banner())
        self.undo_stack.indexChanged.connect(self._update_actions)
        worker = self.service.worker
        worker.started.connect(self._job_started)
        worker.progressed.connect(self._job_progressed)
        worker.finished.connect(self._job_finished)
        worker.failed.connect(self._job_failed)
        worker.cancelled.connect(self._job_cancelled)
        worker.device_described.connect(self._device_described)

    # -- window state ----------------------------------------------------------------------------------------

    def _restore_window(self) -> None:
        store = window_settings()
        geometry = store.value("geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1200, 800)
        state = store.value("state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        colour = QColor(str(store.value("overlay_colour", "")))
        if colour.isValid():
            self.canvas.overlay_colour = colour
        opacity = store.value("overlay_opacity")
        if opacity is not None:
            self.opacity_slider.setValue(int(str(opacity)))
        size = store.value("brush_size")
        if size is not None:
            self.canvas.set_brush_size(int(str(size)))

    def _save_window(self) -> None:
        store = window_settings()
        store.setValue("geometry", self.saveGeometry())
        store.setValue("state", self.saveState())
        store.setValue("overlay_colour", self.canvas.overlay_colour.name())
        store.setValue("overlay_opacity", self.opacity_slider.value())
        store.setValue("brush_size", self.canvas.brush_size)
        store.sync()

    def recent_files(self) -> list[str]:
        value = window_settings().value("recent", [])
        if isinstance(value, str):
            return [value]
        return [str(item) for item in value] if isinstance(value, list) else []

    def _add_recent(self, path: Path) -> None:
        entry = str(path.resolve())
        recent = [entry, *(item for item in self.recent_files() if item != entry)][:MAX_RECENT]
        store = window_settings()
        store.setValue("recent", recent)
        store.sync()
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        for item in recent:
            action = self.recent_menu.addAction(Path(item).name)
            action.setToolTip(item)
            action.triggered.connect(lambda _checked=False, item=item: self.open_image(Path(item)))
        self.recent_menu.setEnabled(bool(recent))

    def update_model_banner(self) -> None:
        """Say clearly when the Moebius weights are missing and the classic fill is used instead."""
        from core.weights import find_model

        if self.panel.settings.engine != "classic" and find_model() is None:
            self.banner.setText(
                "The Moebius model is not installed, so inpainting uses the built-in classic fill, which suits "
                "small spots. Install it with Help → Models…, or run: moebius-inpaint models download"
            )
            self.banner.show()
        else:
            self.banner.hide()

    def show_message(self, text: str) -> None:
        """An inline message for the user (errors, warnings), until the next action replaces it."""
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _update_actions(self) -> None:
        has_photo = self.current_pixels is not None
        running = self.job is not None
        reviewing = self.pending_result is not None
        for action in (
            self.save_action,
            self.save_as_action,
            self.export_mask_action,
            self.clear_mask_action,
            self.invert_mask_action,
        ):
            action.setEnabled(has_photo)
        self.run_action.setEnabled(has_photo and not running and not reviewing)
        self.cancel_action.setEnabled(running)
        for action in (self.accept_action, self.discard_action, self.again_action):
            action.setEnabled(reviewing and not running)
        self.again_button.setEnabled(reviewing and not running)
        # The title stays the app's name (the photo is named in the status bar); a star marks unsaved results.
        self.setWindowTitle(f"{APP_TITLE} *" if self.has_unsaved_changes else APP_TITLE)

    @property
    def has_unsaved_changes(self) -> bool:
        """Whether the photo has accepted results that are not saved (mask strokes alone do not count)."""
        return self.current_pixels is not None and self.current_pixels is not self._saved_pixels

    # -- open ------------------------------------------------------------------------------------------------

    def choose_and_open(self) -> None:
        start = str(self.photo_path.parent) if self.photo_path else ""
        chosen, _ = QFileDialog.getOpenFileName(self, "Open Photo", start, IMAGE_FILTER)
        if chosen:
            self.open_image(Path(chosen))

    def open_image(self, path: Path, mask_path: Path | None = None) -> bool:
        """Open a photo (and its mask: ``mask_path``, else ``NAME_mask.png`` beside it, if any).

        Small photos open before this returns; large ones are decoded on a thread and appear when ready
        (``loading`` is true meanwhile). Returns false when the photo could not be opened (or the user kept
        the current one); the reason is shown in the window.
        """
        path = Path(path)
        if not self.maybe_keep_changes():
            return False
        size = header_size(path)
        if size.isValid() and size.width() * size.height() > ASYNC_PIXELS:
            self._start_loader(path, mask_path)
            return True
        try:
            loaded = load_photo(path, mask_path)
        except MoebiusError as error:
            self._open_failed(error.user_message())
            return False
        except MemoryError:
            self._open_failed(f"Not enough memory to open {path.name}.")
            return False
        self._show_loaded(loaded)
        return True

    @property
    def loading(self) -> bool:
        return self._loader is not None

    def _start_loader(self, path: Path, mask_path: Path | None) -> None:
        if self._loader is not None:
            # Only the newest request counts; the old thread finishes on its own and is ignored.
            self._loader.loaded.disconnect()
            self._loader.failed.disconnect()
            self._old_loaders.append(self._loader)
        loader = PhotoLoader(path, mask_path)
        loader.loaded.connect(self._loader_done)
        loader.failed.connect(self._loader_failed)
        self._loader = loader
        self.statusBar().showMessage(f"Opening {path.name}…")
        self.progress.setRange(0, 0)  # busy indicator: decoding has no steps to count
        self.progress.setFormat("Opening…")
        self.progress.show()
        loader.start()

    def _finish_loader(self) -> None:
        if self._loader is not None:
            self._loader.wait()
            self._loader = None
        if self.job is None:
            self.progress.hide()

    def _loader_done(self, loaded: LoadedPhoto) -> None:
        self._finish_loader()
        self._show_loaded(loaded)

    def _loader_failed(self, message: str) -> None:
        self._finish_loader()
        self._open_failed(message)

    def _open_failed(self, message: str) -> None:
        self.statusBar().showMessage(message)
        self.show_message(message)

    def _show_loaded(self, loaded: LoadedPhoto) -> None:
        self.show_message("")
        self._drop_pending()
        self.photo, self.photo_path = loaded.photo, loaded.path
        self.current_pixels = self._saved_pixels = loaded.photo.pixels
        self.last_saved = None
        self.canvas.set_photo(loaded.image, loaded.preview)
        if loaded.mask is not None:
            self.canvas.mask_array[:] = loaded.mask
            self.canvas.update()
        self.undo_stack.clear()
        self.size_label.setText(f"{loaded.photo.width} × {loaded.photo.height} px")
        note = f"  ·  {loaded.note}" if loaded.note else ""
        self.statusBar().showMessage(f"{loaded.path.name}{note}")
        self._add_recent(loaded.path)
        self._update_actions()

    def maybe_keep_changes(self) -> bool:
        """Before the photo goes away: ask about unsaved results. Returns false to keep the current photo."""
        if not self.has_unsaved_changes:
            return True
        answer = self.ask_save_changes()
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

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

    def confirm(self, title: str, text: str) -> bool:
        """A yes/no question (a separate method so tests can answer it)."""
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

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
        if self.dropped_photo(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        path = self.dropped_photo(event.mimeData())
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        # Opened after the drop returns, so a question dialog does not block the source application.
        QTimer.singleShot(0, lambda: self.open_image(path))

    # -- mask ------------------------------------------------------------------------------------------------

    def set_tool(self, tool: str) -> None:
        self.canvas.tool = tool
        {BRUSH: self.brush_action, ERASER: self.eraser_action, RECTANGLE: self.rectangle_action}[tool].setChecked(True)

    def resize_brush(self, factor: float) -> None:
        size = self.canvas.brush_size
        new = round(size * factor)
        if new == size:
            new = size + (1 if factor > 1 else -1)
        self.canvas.set_brush_size(new)

    def clear_mask(self) -> None:
        if self.canvas.has_photo and self.canvas.mask_array.any():
            self.canvas.replace_mask(np.zeros_like(self.canvas.mask_array), "Clear mask")

    def grow_mask(self, pixels: int) -> None:
        """Grow (positive) or shrink (negative) the mask by ``pixels`` with a round kernel, as one undo step."""
        if not self.canvas.has_photo or not self.canvas.mask_array.any():
            return
        import cv2  # only here: the GUI starts without it

        size = 2 * abs(pixels) + 1
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        operation = cv2.dilate if pixels > 0 else cv2.erode
        changed = operation(self.canvas.mask_array, kernel)
        self.canvas.replace_mask(np.asarray(changed, dtype=np.uint8), "Grow mask" if pixels > 0 else "Shrink mask")

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

    def show_before(self, before: bool) -> None:
        """Show the photo without (``True``) or with (``False``) the result under review."""
        if self.pending_result is None or self.current_pixels is None:
            return
        pixels = self.current_pixels if before else self.pending_result.image
        self._show_pixels(pixels, self._pending_rect)
        self.showing_before = before
        self.statusBar().showMessage("Before" if before else "After")

    def invert_mask(self) -> None:
        if self.canvas.has_photo:
            self.canvas.replace_mask(255 - self.canvas.mask_array, "Invert mask")

    def toggle_mask(self) -> None:
        self.canvas.mask_visible = self.show_mask_action.isChecked()
        self.canvas.update()

    def _set_opacity(self, value: int) -> None:
        self.canvas.overlay_opacity = value / 100
        self.canvas.update()

    def choose_overlay_colour(self) -> None:
        colour = QColorDialog.getColor(self.canvas.overlay_colour, self, "Mask Colour")
        if colour.isValid():
            self.canvas.overlay_colour = colour
            self.canvas.update()

    # -- run -------------------------------------------------------------------------------------------------

    def run_inpaint(self, *, new_seed: bool = False) -> Job | None:
        """Queue an inpaint of the current mask; returns the job, or ``None`` when there is nothing to do."""
        if self.current_pixels is None or self.job is not None:
            return None
        if self.pending_result is not None:
            self.discard_result()
        mask = self.canvas.mask_array
        if not mask.any():
            self.show_message("Paint over what should be removed first (the brush is B; [ and ] change its size).")
            return None
        self.show_message("")
        settings = self.panel.settings
        request_settings = settings.inpaint_settings()
        if new_seed:
            request_settings.seed = None
        request = InpaintRequest(self.current_pixels, mask.copy(), request_settings)
        job = Job(request, engine=settings.engine, device=settings.device, precision=settings.precision)
        self.job = self.service.submit(job)
        self._step_times = []
        self.progress.setRange(0, 0)
        self.progress.setFormat("Starting…")
        self.progress.show()
        self.statusBar().showMessage("Inpainting…")
        self._update_actions()
        return job

    def run_again(self) -> Job | None:
        """Discard the result under review and run the same mask again with a fresh random seed."""
        if self.pending_result is None:
            return None
        self.discard_result()  # the mask stays as it was, so the same area is filled again
        return self.run_inpaint(new_seed=True)

    def cancel_run(self) -> None:
        """Stop the running job; the token is set here, on the GUI thread, and the job stops within a step."""
        if self.job is not None:
            self.job.cancel.cancel()
            self.progress.setFormat("Cancelling…")
            self.statusBar().showMessage("Cancelling…")

    def _job_started(self, job_id: int, engine: str) -> None:
        if self.job is not None and job_id == self.job.id:
            self.statusBar().showMessage(f"Inpainting with {engine}…")

    def _job_progressed(self, job_id: int, event: ProgressEvent) -> None:
        if self.job is None or job_id != self.job.id or self.job.cancel.cancelled:
            return
        if event.total > 0:
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.step)
            label = "Step" if event.stage == "denoise" else event.stage.capitalize()
            self.progress.setFormat(f"{label} {event.step}/{event.total}{self._time_left(event)}")
        else:
            self.progress.setRange(0, 0)
            self.progress.setFormat(event.stage.capitalize())

    def _time_left(self, event: ProgressEvent, now: float | None = None) -> str:
        """`` · ~N s left`` from the pace of the denoising steps so far (empty until there is a pace)."""
        if event.stage != "denoise":
            return ""
        now = time.monotonic() if now is None else now
        if event.step <= 1:
            self._step_times = [now]
            return ""
        self._step_times.append(now)
        pace = (now - self._step_times[0]) / (len(self._step_times) - 1)
        left = pace * (event.total - event.step)
        return f" · ~{left:.0f} s left" if left >= 1 else ""

    def _end_job(self, job_id: int) -> bool:
        if self.job is None or job_id != self.job.id:
            return False
        self.job = None
        if self._loader is None:
            self.progress.hide()
        return True

    def _job_finished(self, job_id: int, result: InpaintResult) -> None:
        if self.job is None or job_id != self.job.id:
            return
        request = self.job.request
        self._end_job(job_id)
        if self.current_pixels is None or result.image.shape != self.current_pixels.shape:
            self._update_actions()
            return  # the photo changed while the job ran
        self.pending_result = result
        self.pending_mask = request.mask
        self._pending_rect = changed_box(self.current_pixels, result.image)
        self._show_pixels(result.image, self._pending_rect)
        if result.plan is not None:
            self.canvas.plan_rects = [
                QRect(w.rect.left, w.rect.top, w.rect.right - w.rect.left, w.rect.bottom - w.rect.top)
                for w in result.plan.windows
            ]
        self.canvas.mask_visible = False
        self.canvas.update()
        seconds = sum(v for k, v in result.timings.items() if k == "total") or sum(result.timings.values())
        seed = f"seed {result.seed}" if result.seed is not None else "no seed"
        self.review_label.setText(
            f"{result.engine} · {seed} · {seconds:.1f} s — keep this result? (hold \\ to compare)"
        )
        self.review_bar.show()
        # The banner already says when the classic engine stands in for a missing model.
        warnings = [w for w in result.warnings if not (self.banner.isVisible() and "not installed" in w)]
        if warnings:
            self.show_message(" ".join(warnings))
        self.statusBar().showMessage("Done: accept, discard or try another seed.")
        self._update_actions()

    def _job_failed(self, job_id: int, message: str) -> None:
        if self._end_job(job_id):
            self.show_message(message)
            self.statusBar().showMessage("Inpaint failed.")
            self._update_actions()

    def _job_cancelled(self, job_id: int) -> None:
        if self._end_job(job_id):
            self.statusBar().showMessage("Cancelled.")
            self._update_actions()

    def _device_described(self, text: str) -> None:
        self.panel.set_device_text(text)
        self.device_label.setText(text.split(" — ")[0])

    # -- review ----------------------------------------------------------------------------------------------

    def accept_result(self) -> None:
        """Keep the result under review: one undo step that also clears the mask it filled."""
        result = self.pending_result
        if result is None or self.current_pixels is None:
            return
        before, rect = self.current_pixels, self._pending_rect
        mask_before = self.canvas.mask_array.copy()
        self._end_review()
        self.undo_stack.push(ApplyResultCommand(self, before, result.image, mask_before, rect))
        self.statusBar().showMessage("Result applied (Ctrl+Z takes it back).")

    def discard_result(self) -> None:
        if self.pending_result is None or self.current_pixels is None:
            return
        self._show_pixels(self.current_pixels, self._pending_rect)
        self._end_review()
        self.statusBar().showMessage("Result discarded.")

    def _drop_pending(self) -> None:
        if self.job is not None:
            self.job.cancel.cancel()
            self.job = None
            self.progress.hide()
        self.pending_result = None
        self.review_bar.hide()

    def _end_review(self) -> None:
        self.pending_result = None
        self.showing_before = False
        self.pending_mask = None
        self.canvas.plan_rects = []
        self.canvas.mask_visible = self.show_mask_action.isChecked()
        self.canvas.update()
        self.review_bar.hide()
        self._update_actions()

    def set_pixels(self, pixels: U8, rect: QRect) -> None:
        """Make ``pixels`` the photo being edited (used by undo/redo of results)."""
        self.current_pixels = pixels
        self._show_pixels(pixels, rect)
        self._update_actions()

    def _show_pixels(self, pixels: U8, rect: QRect) -> None:
        """Show ``pixels`` in the canvas, converting only ``rect`` (the part that changed)."""
        if rect.isEmpty():
            return
        image = self._canvas_image()
        part = pixels[rect.top() : rect.bottom() + 1, rect.left() : rect.right() + 1]
        paste_rgb(image, part, rect.left(), rect.top())
        preview = reduced_copy(image) if self.canvas._preview is not None else None
        self.canvas.replace_photo_image(image, preview)
        self.canvas.update(self.canvas.photo_to_widget_rect(rect))

    def _canvas_image(self) -> QImage:
        image = self.canvas._photo
        if image is None:
            raise RuntimeError("no photo is open")
        return image

    # -- save ------------------------------------------------------------------------------------------------

    def save(self) -> bool:
        """Save to ``NAME_inpainted`` beside the original (or where the last save went)."""
        if self.photo_path is None or self.current_pixels is None:
            return False
        target = self.last_saved or default_output_path(self.photo_path)
        overwrite = target == self.last_saved
        if not overwrite and target.exists():
            if not self.confirm("Replace file?", f"{target.name} already exists. Replace it?"):
                return self.save_as()
            overwrite = True
        return self.write_to(target, overwrite=overwrite)

    def save_as(self) -> bool:
        if self.photo_path is None or self.current_pixels is None:
            return False
        start = str(self.last_saved or default_output_path(self.photo_path))
        chosen, _ = QFileDialog.getSaveFileName(self, "Save Photo As", start, IMAGE_FILTER)
        if not chosen:
            return False
        # The file dialog has already asked about replacing an existing file.
        return self.write_to(Path(chosen), overwrite=True)

    def write_to(self, target: Path, *, overwrite: bool = False) -> bool:
        """Write the edited photo; asks before replacing the original. Returns whether it was written."""
        if self.photo_path is None or self.current_pixels is None:
            return False
        if (
            target.exists()
            and self.photo_path.exists()
            and target.resolve() == self.photo_path.resolve()
            and not self.confirm("Replace the original?", f"Replace the original photo {target.name}?")
        ):
            return False
        try:
            written = write_image(target, self.current_pixels, like=self.photo, overwrite=overwrite)
        except OutputExistsError as error:
            self.show_message(error.user_message())
            return False
        except MoebiusError as error:
            self.show_message(error.user_message())
            return False
        self.last_saved = written
        self._saved_pixels = self.current_pixels
        self.statusBar().showMessage(f"Saved {written}")
        self._update_actions()
        return True

    def export_mask(self) -> bool:
        if self.photo_path is None or not self.canvas.has_photo:
            return False
        start = str(self.photo_path.with_name(f"{self.photo_path.stem}_mask.png"))
        chosen, _ = QFileDialog.getSaveFileName(self, "Export Mask", start, "PNG image (*.png)")
        return bool(chosen) and self.write_mask_to(Path(chosen))

    def write_mask_to(self, target: Path) -> bool:
        """Write the mask as a black-and-white PNG (white = fill), the form the CLI's ``--mask`` reads."""
        grey = np.repeat(self.canvas.mask_array[:, :, None], 3, axis=2)
        try:
            write_image(target, grey, overwrite=True, format="PNG")
        except MoebiusError as error:
            self.show_message(error.user_message())
            return False
        self.statusBar().showMessage(f"Mask saved to {target}")
        return True

    # -- about and closing -----------------------------------------------------------------------------------

    def about_text(self) -> str:
        return (
            f"<h3>Moebius Studio {__version__}</h3>"
            "<p>Removes objects from photos with the Moebius diffusion model. Everything runs on this "
            "computer; no photo ever leaves it.</p>"
            f"<p>Python {platform.python_version()} · Qt {qVersion()} · PySide6 {PySide6.__version__} · "
            f"torch {installed_version('torch')}</p>"
            "<p>Licences: Moebius Studio, Qt for Python (LGPLv3), PyTorch (BSD). The Moebius and PixelHacker "
            "model weights (hustvl) come under their own licence; see <code>moebius-inpaint models list</code>."
            "</p>"
        )

    def show_models(self) -> ModelsDialog:
        """Open the Models dialog (one at a time, not modal, so the editor stays usable meanwhile)."""
        if self.models_dialog is None:
            self.models_dialog = ModelsDialog(self)
            self.models_dialog.models_changed.connect(self.update_model_banner)
        self.models_dialog.refresh()
        self.models_dialog.show()
        self.models_dialog.raise_()
        return self.models_dialog

    def show_about(self) -> None:
        QMessageBox.about(self, "About Moebius Studio", self.about_text())

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.maybe_keep_changes():
            event.ignore()
            return
        self._save_window()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop every thread the window started (the worker waits for its job to notice the cancel)."""
        self.service.shutdown()
        if self.models_dialog is not None:
            self.models_dialog.shutdown()
        for loader in [*self._old_loaders, *([self._loader] if self._loader else [])]:
            loader.wait()
        self._old_loaders.clear()
        self._loader = None


def file_url(path: Path) -> QUrl:
    """A ``file://`` URL for drag-and-drop data."""
    return QUrl.fromLocalFile(str(path))


__all__ = ["APP_TITLE", "MainWindow", "ApplyResultCommand", "default_output_path", "file_url", "rgb_to_rgb32"]
