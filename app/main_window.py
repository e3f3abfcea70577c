"""The editor window: canvas, tools, settings panel, inpaint run and review, open and save.

State that matters for undo lives in one QUndoStack: mask strokes (:mod:`app.canvas`) and applied results
(:class:`app.review.ApplyPatchCommand`). The photo being edited is ``current_pixels`` (RGB ``uint8``); the
canvas shows it, or a result of the history waiting for Accept/Discard (:mod:`app.review`).
"""

from __future__ import annotations

import platform
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import numpy.typing as npt
import PySide6
from PySide6.QtCore import QByteArray, QEvent, QMimeData, QRect, QSettings, Qt, QTimer, QUrl, qVersion
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

from app.batch_panel import BatchWindow, batch_inputs
from app.canvas import BRUSH, ERASER, LASSO, MAX_BRUSH, MIN_BRUSH, RECTANGLE, Canvas
from app.canvas_view import CanvasView
from app.models_dialog import ModelsDialog
from app.photo_loader import ASYNC_PIXELS, LoadedPhoto, MaskSource, PhotoLoader, header_size, load_photo
from app.qt_image import paste_rgb, rgb_to_rgb32
from app.review import ReviewController, ReviewedResult
from app.settings_panel import SettingsPanel
from app.theme import banner_style
from app.worker import EngineFactory, InferenceService, Job
from core import __version__
from core.common import paths
from core.common.errors import MoebiusError, OutputExistsError
from core.common.progress import ProgressEvent
from core.inpaint.result import InpaintResult
from core.job.request import InpaintRequest
from core.photo.imageio import Photo, write_image

APP_TITLE = "Moebius Studio"
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.webp *.bmp);;All files (*)"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}
MAX_RECENT = 10
GROW_STEP = 8  # photo pixels per Grow/Shrink
DEVICE_PROBE_DELAY_MS = 1500
RUN_TIP = "Fill the masked area (Ctrl+Enter)"
BATCH_BUSY = "A batch is running, so Inpaint waits until it ends; File → Batch… shows its progress."
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
        self.pixels_version = 0  # which content current_pixels has (see has_unsaved_changes)
        self._saved_version = 0
        self.last_saved: Path | None = None
        self._step_times: list[float] = []
        self.job: Job | None = None
        self._loader: PhotoLoader | None = None
        self._old_loaders: list[PhotoLoader] = []
        self.models_dialog: ModelsDialog | None = None
        self.batch_window: BatchWindow | None = None

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
        self.banner.setObjectName("ModelBanner")
        self.banner.hide()
        self.message = QLabel()  # errors and notes that need reading, shown inline instead of a modal dialog
        self.message.setWordWrap(True)
        self.message.setObjectName("MessageBanner")
        self.apply_banner_colours()
        self.message.hide()
        self.review_bar = self._build_review_bar()
        self.canvas_view = CanvasView(self.canvas)
        self.review = ReviewController(self)
        layout.addWidget(self.banner)
        layout.addWidget(self.message)
        layout.addWidget(self.canvas_view, 1)
        layout.addWidget(self.review.strip)
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
        # While a batch runs the editor cannot inpaint (its job would wait behind the whole batch); this says so.
        self.batch_label = QLabel(BATCH_BUSY)
        self.batch_label.setObjectName("BatchRunningLabel")
        self.batch_label.hide()
        status = self.statusBar()
        status.addPermanentWidget(self.batch_label)
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
        self.export_mask_action = self._action(
            "Export &Mask…", self.export_mask, [key("Ctrl+Shift+E")], "Save the mask as a PNG"
        )
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
        self.lasso_action = self._action(
            "&Lasso", lambda: self.set_tool(LASSO), [key("L")], "Draw around an area to mask all of it (L)"
        )
        tools = QActionGroup(self)
        for action in (self.brush_action, self.eraser_action, self.rectangle_action, self.lasso_action):
            action.setCheckable(True)
            tools.addAction(action)
        self.brush_action.setChecked(True)
        self.smaller_action = self._action("S&maller Brush", lambda: self.resize_brush(1 / 1.2), [key("[")])
        self.bigger_action = self._action("B&igger Brush", lambda: self.resize_brush(1.2), [key("]")])
        self.softer_action = self._action(
            "So&fter Brush", lambda: self.set_hardness(self.canvas.hardness - 0.25), [key("Shift+[")]
        )
        self.harder_action = self._action(
            "&Harder Brush", lambda: self.set_hardness(self.canvas.hardness + 0.25), [key("Shift+]")]
        )
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

        self.run_action = self._action("&Inpaint", self.run_inpaint, [key("Ctrl+Return"), key("Ctrl+Enter")], RUN_TIP)
        self.cancel_action = self._action("&Cancel", self.cancel_run, [key("Esc")], "Stop the running inpaint (Esc)")
        self.accept_action = self._action("&Accept Result", self.accept_result, [key("Ctrl+Shift+Return")])
        self.discard_action = self._action("&Discard Result", self.discard_result, [key("Ctrl+Backspace")])
        self.again_action = self._action("Try Another &Seed", self.run_again, [key("Ctrl+Shift+R")])

        self.batch_action = self._action(
            "&Batch…", lambda: self.show_batch(), [key("Ctrl+B")], "Inpaint a folder of photos with their masks"
        )
        self.models_action = self._action(
            "&Models…", self.show_models, [key("Ctrl+Shift+M")], "Download, import, verify or remove the weights"
        )
        self.about_action = self._action("&About Moebius Studio", self.show_about)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        file_menu.addAction(self.batch_action)
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
            self.lasso_action,
            self.smaller_action,
            self.bigger_action,
            self.softer_action,
            self.harder_action,
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
        view_menu.addActions(self.review.view_actions)
        view_menu.addSeparator()
        panel_action = self.settings_dock.toggleViewAction()
        panel_action.setText("&Settings Panel")
        panel_action.setShortcut(QKeySequence("F9"))
        view_menu.addAction(panel_action)

        run_menu = bar.addMenu("&Inpaint")
        for action in (self.run_action, self.cancel_action, self.accept_action, self.discard_action, self.again_action):
            run_menu.addAction(action)
        run_menu.addSeparator()
        run_menu.addActions(self.review.run_actions)

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
        bar.addAction(self.lasso_action)
        self.size_spin = QSpinBox()
        self.size_spin.setRange(MIN_BRUSH, MAX_BRUSH)
        self.size_spin.setSuffix(" px")
        self.size_spin.setValue(self.canvas.brush_size)
        self.size_spin.setToolTip("Brush size in photo pixels ([ and ] change it, or Ctrl/Alt-drag sideways)")
        bar.addWidget(self.size_spin)
        self.hardness_spin = QSpinBox()
        self.hardness_spin.setRange(0, 100)
        self.hardness_spin.setSingleStep(25)
        self.hardness_spin.setSuffix(" % hard")
        self.hardness_spin.setValue(round(self.canvas.hardness * 100))
        self.hardness_spin.setToolTip(
            "Brush hardness: 100 % paints a hard edge; lower values fade the outer part of the brush "
            "(Shift+[ and Shift+]). The fill covers where the mask is at least half strength."
        )
        bar.addWidget(self.hardness_spin)
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
        self.hardness_spin.valueChanged.connect(lambda value: self.set_hardness(value / 100))
        self.canvas.brush_size_changed.connect(self.size_spin.setValue)
        self.canvas.zoom_changed.connect(lambda zoom: self.zoom_label.setText(f"{zoom:.0%}"))
        self.canvas.mask_edited.connect(self._update_actions)
        self.opacity_slider.valueChanged.connect(self._set_opacity)
        self.panel.changed.connect(lambda _settings: self.update_model_banner())
        self.panel.device_changed.connect(self.service.describe_device)
        self.undo_stack.indexChanged.connect(self._update_actions)
        self.service.jobs_changed.connect(self._update_actions)
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
        hardness = store.value("brush_hardness")
        if hardness is not None:
            self.set_hardness(float(str(hardness)))

    def _save_window(self) -> None:
        store = window_settings()
        store.setValue("geometry", self.saveGeometry())
        store.setValue("state", self.saveState())
        store.setValue("overlay_colour", self.canvas.overlay_colour.name())
        store.setValue("overlay_opacity", self.opacity_slider.value())
        store.setValue("brush_size", self.canvas.brush_size)
        store.setValue("brush_hardness", self.canvas.hardness)
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
        from core.weights.registry import find_model

        if self.panel.settings.engine != "classic" and find_model() is None:
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

    def show_message(self, text: str) -> None:
        """An inline message for the user (errors, warnings), until the next action replaces it."""
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _update_actions(self) -> None:
        has_photo = self.current_pixels is not None
        running = self.job is not None
        reviewing = self.pending_result is not None
        batch = self.service.batch_running
        for action in (
            self.save_action,
            self.save_as_action,
            self.export_mask_action,
            self.clear_mask_action,
            self.invert_mask_action,
        ):
            action.setEnabled(has_photo)
        self.run_action.setEnabled(has_photo and not running and not reviewing and not batch)
        self.run_action.setToolTip(BATCH_BUSY if batch else RUN_TIP)
        self.run_action.setStatusTip(BATCH_BUSY if batch else RUN_TIP)  # menus show it when hovered
        self.cancel_action.setEnabled(running)
        for action in (self.accept_action, self.discard_action):
            action.setEnabled(reviewing and not running)
        self.again_action.setEnabled(reviewing and not running and not batch)
        self.again_button.setEnabled(reviewing and not running and not batch)
        self.again_button.setToolTip(BATCH_BUSY if batch else "")
        self.batch_label.setVisible(batch)
        # The title stays the app's name (the photo is named in the status bar); a star marks unsaved results.
        self.setWindowTitle(f"{APP_TITLE} *" if self.has_unsaved_changes else APP_TITLE)

    @property
    def has_unsaved_changes(self) -> bool:
        """Whether the photo has accepted results that are not saved (mask strokes alone do not count)."""
        # Undo/redo rebuild the pixels as new arrays, so equal content is told by its version; the identity
        # check also counts as saved (the array that was written).
        return (
            self.current_pixels is not None
            and self.current_pixels is not self._saved_pixels
            and self.pixels_version != self._saved_version
        )

    # -- open ------------------------------------------------------------------------------------------------

    def choose_and_open(self) -> None:
        start = str(self.photo_path.parent) if self.photo_path else ""
        chosen, _ = QFileDialog.getOpenFileName(self, "Open Photo", start, IMAGE_FILTER)
        if chosen:
            self.open_image(Path(chosen))

    def open_image(self, path: Path, mask: MaskSource | None = None) -> bool:
        """Open a photo and its mask: ``mask`` (a file, or a :data:`~app.photo_loader.MaskMaker` that makes it
        for the photo), else ``NAME_mask.png`` beside it, if any.

        Small photos open before this returns; large ones are decoded on a thread and appear when ready
        (``loading`` is true meanwhile). Returns false when the photo could not be opened (or the user kept
        the current one); the reason is shown in the window.
        """
        path = Path(path)
        if not self.maybe_keep_changes():
            return False
        size = header_size(path)
        if size.isValid() and size.width() * size.height() > ASYNC_PIXELS:
            self._start_loader(path, mask)
            return True
        try:
            loaded = load_photo(path, mask)
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

    def _start_loader(self, path: Path, mask: MaskSource | None) -> None:
        if self._loader is not None:
            # Only the newest request counts; the old thread finishes on its own and is ignored.
            self._loader.loaded.disconnect()
            self._loader.failed.disconnect()
            self._old_loaders.append(self._loader)
        loader = PhotoLoader(path, mask)
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
        self.pixels_version = self._saved_version = 0
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

    def may_stop_batch(self) -> bool:
        """Before quitting: whether a running batch may be stopped (true when none runs)."""
        if not self.service.batch_running:
            return True
        done, total = self.batch_window.done_counts() if self.batch_window is not None else (0, 0)
        return self.ask_stop_batch(done, total)

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
        if batch_inputs(event.mimeData()) or self.dropped_photo(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        # A folder, or several photos, is a batch; one photo opens in the editor.
        inputs = batch_inputs(event.mimeData())
        if inputs:
            event.acceptProposedAction()
            QTimer.singleShot(0, lambda: self.show_batch(inputs))
            return
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
        actions = {
            BRUSH: self.brush_action,
            ERASER: self.eraser_action,
            RECTANGLE: self.rectangle_action,
            LASSO: self.lasso_action,
        }
        actions[tool].setChecked(True)

    def set_hardness(self, hardness: float) -> None:
        """Brush hardness 0..1 (the spin box shows it in per cent)."""
        self.canvas.hardness = min(max(hardness, 0.0), 1.0)
        self.hardness_spin.setValue(round(self.canvas.hardness * 100))

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
        self.review.show_before(before)

    @property
    def showing_before(self) -> bool:
        return self.review.showing_before

    @property
    def pending_result(self) -> ReviewedResult | None:
        """The result under review (an entry of the results history, over the photo), or ``None``."""
        entry, pixels = self.review.entry, self.current_pixels
        return None if entry is None or pixels is None else ReviewedResult(entry, pixels)

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
        if self.service.batch_running:
            self.show_message(BATCH_BUSY)  # never a job that waits unseen behind the whole batch
            return None
        if self.pending_result is not None:
            self.review.close()  # the result stays in the history
        mask = self.canvas.mask_array
        if not mask.any():
            self.show_message("Paint over what should be removed first (the brush is B; [ and ] change its size).")
            return None
        self.show_message("")
        settings = self.panel.settings
        if new_seed:
            settings = settings.replace(seed=None)
        request = InpaintRequest(self.current_pixels, mask.copy(), settings)
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
        """Run the reviewed result's mask again with a fresh random seed; the result stays in the history."""
        if self.pending_result is None:
            return None
        if self.service.batch_running:  # before the review closes: the result stays under review
            self.show_message(BATCH_BUSY)
            return None
        self.review.variation()
        return self.job

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
        self.review.add_result(request, result)
        # The banner already says when the classic engine stands in for a missing model.
        warnings = [w for w in result.warnings if not (self.banner.isVisible() and "not installed" in w)]
        if self.review.history.last_note:
            warnings.append(self.review.history.last_note)
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
        if self.review.accept():
            self.statusBar().showMessage("Result applied (Ctrl+Z takes it back); paint the next area.")

    def discard_result(self) -> None:
        if self.review.discard():
            self.statusBar().showMessage("Result discarded.")

    def _drop_pending(self) -> None:
        if self.job is not None:
            self.job.cancel.cancel()
            self.job = None
            self.progress.hide()
        self.review.reset()

    def apply_patch(self, rect: QRect, patch: U8, version: int) -> None:
        """Make the photo being edited ``patch`` in ``rect`` (undo/redo of results).

        A new array, never an edit in place: a running job or the last save may still hold the old one.
        """
        if self.current_pixels is None or rect.isEmpty():
            return
        pixels = self.current_pixels.copy()
        pixels[rect.top() : rect.bottom() + 1, rect.left() : rect.right() + 1] = patch
        self.current_pixels = pixels
        self.pixels_version = version
        self.show_patch(patch, rect)
        if self.review.entry is not None:  # a result under review is shown over the photo as it is now
            self.review.review(self.review.entry)
        self._update_actions()

    def show_patch(self, patch: U8, rect: QRect) -> None:
        """Show ``patch`` (RGB) at ``rect`` of the canvas, converting and repainting only that part."""
        if rect.isEmpty():
            return
        paste_rgb(self._canvas_image(), patch, rect.left(), rect.top())
        self.canvas.photo_pixels_changed(rect)

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
        self._saved_version = self.pixels_version
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

    def _refresh_batch_settings(self) -> None:
        if self.batch_window is not None:
            self.batch_window.refresh_settings()

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
        # Both questions come before anything stops: a Cancel in the second still leaves the batch running.
        if not self.may_stop_batch() or not self.maybe_keep_changes():
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


__all__ = ["APP_TITLE", "MainWindow", "default_output_path", "file_url", "rgb_to_rgb32"]
