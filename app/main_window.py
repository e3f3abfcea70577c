"""The main window: shows a photo scaled to fit, with its mask as a translucent overlay.

A deliberately small shell; the editor (canvas, brushes, inference worker) replaces the central view later.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

import numpy as np
import PySide6
from PySide6.QtCore import QRectF, QSize, Qt, qVersion
from PySide6.QtGui import QAction, QColor, QImage, QImageReader, QKeySequence, QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMessageBox, QWidget

from app.qt_image import array_to_qimage, qimage_to_array
from core import __version__

APP_TITLE = "Moebius Studio"
MASK_OVERLAY_RGBA = (40, 170, 255, 140)  # translucent blue over the pixels to fill
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.webp *.bmp);;All files (*)"


class ImageLoadError(Exception):
    """A photo or mask could not be opened; the message is meant for the user."""


def read_qimage(path: Path) -> QImage:
    """Read an image file, applying its EXIF orientation. Raises :class:`ImageLoadError`."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    image = reader.read()
    if image.isNull():
        raise ImageLoadError(f"Cannot open {path.name}: {reader.errorString()}")
    return image


def mask_overlay(mask: QImage) -> tuple[QImage, float]:
    """Turn a mask (white = fill, threshold 128) into a translucent overlay, plus the fraction it covers."""
    selected = qimage_to_array(mask, channels=1) >= 128
    overlay = np.zeros((*selected.shape, 4), dtype=np.uint8)
    overlay[selected] = MASK_OVERLAY_RGBA
    return array_to_qimage(overlay), float(selected.mean())


def sibling_mask(photo: Path) -> Path | None:
    """The conventional mask file next to a photo (``name_mask.png``), if there is one."""
    candidate = photo.with_name(f"{photo.stem}_mask.png")
    return candidate if candidate.is_file() else None


def installed_version(distribution: str) -> str:
    """A package's installed version, read from its metadata (so the package itself is not imported)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


class ImageView(QWidget):
    """Paints a photo scaled to fit (never enlarged past 100 %), centred, with an optional overlay."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._photo: QPixmap | None = None
        self._overlay: QPixmap | None = None
        self.setMinimumSize(320, 240)
        self.setAutoFillBackground(True)
        palette = self.palette()
        palette.setColor(self.backgroundRole(), QColor(40, 42, 46))
        self.setPalette(palette)

    def set_images(self, photo: QImage | None, overlay: QImage | None = None) -> None:
        self._photo = QPixmap.fromImage(photo) if photo is not None else None
        self._overlay = QPixmap.fromImage(overlay) if overlay is not None else None
        self.update()

    @property
    def has_overlay(self) -> bool:
        return self._overlay is not None

    def sizeHint(self) -> QSize:
        return QSize(960, 640)

    def target_rect(self) -> QRectF:
        """Where the photo is drawn, in widget coordinates."""
        if self._photo is None:
            return QRectF()
        width, height = self._photo.width(), self._photo.height()
        scale = min(self.width() / width, self.height() / height, 1.0)
        shown_w, shown_h = width * scale, height * scale
        return QRectF((self.width() - shown_w) / 2, (self.height() - shown_h) / 2, shown_w, shown_h)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self._photo is None:
            painter.setPen(QColor(170, 170, 170))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Open a photo with File → Open…")
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        target = self.target_rect()
        painter.drawPixmap(target, self._photo, QRectF(self._photo.rect()))
        if self._overlay is not None:
            painter.drawPixmap(target, self._overlay, QRectF(self._overlay.rect()))


class MainWindow(QMainWindow):
    """The application window: menu, photo view and status bar."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(APP_TITLE)
        self.photo_path: Path | None = None
        self.view = ImageView(self)
        self.setCentralWidget(self.view)
        self.size_label = QLabel("No photo")
        self.statusBar().addPermanentWidget(self.size_label)
        self._build_menus()
        self._fit_to_screen(QSize(1100, 760))

    def _fit_to_screen(self, wanted: QSize) -> None:
        screen = self.screen()
        if screen is not None:
            available = screen.availableGeometry().size() * 0.9
            wanted = wanted.boundedTo(available)
        self.resize(wanted)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_action = QAction("&Open…", self)
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self.choose_and_open)
        file_menu.addAction(open_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        help_menu = self.menuBar().addMenu("&Help")
        about_action = QAction("&About Moebius Studio", self)
        about_action.setMenuRole(QAction.MenuRole.AboutRole)
        about_action.triggered.connect(self.show_about)
        help_menu.addAction(about_action)

    def open_image(self, path: Path, mask_path: Path | None = None) -> bool:
        """Show a photo and its mask (``mask_path``, else ``name_mask.png`` beside it, if any).

        Returns whether the photo opened; a failure is reported in the status bar and leaves the current
        photo in place.
        """
        path = Path(path)
        try:
            photo = read_qimage(path)
            mask_path = mask_path or sibling_mask(path)
            overlay, note = None, ""
            if mask_path is not None:
                mask = read_qimage(Path(mask_path))
                if mask.size() == photo.size():
                    overlay, fraction = mask_overlay(mask)
                    note = f"  ·  mask {fraction:.1%} of the photo"
                else:
                    note = "  ·  mask not shown: its size differs from the photo's"
        except ImageLoadError as error:
            self.statusBar().showMessage(str(error))
            return False
        self.photo_path = path
        self.view.set_images(photo, overlay)
        self.size_label.setText(f"{photo.width()} × {photo.height()} px")
        self.statusBar().showMessage(f"{path.name}{note}")
        return True

    def choose_and_open(self) -> None:
        start = str(self.photo_path.parent) if self.photo_path else ""
        chosen, _ = QFileDialog.getOpenFileName(self, "Open Photo", start, IMAGE_FILTER)
        if chosen:
            self.open_image(Path(chosen))

    def about_text(self) -> str:
        return (
            f"<h3>Moebius Studio {__version__}</h3>"
            "<p>Removes objects from photos with the Moebius diffusion model. Everything runs on this "
            "computer; no photo ever leaves it.</p>"
            f"<p>Python {platform.python_version()} · Qt {qVersion()} · PySide6 {PySide6.__version__} · "
            f"torch {installed_version('torch')}</p>"
        )

    def show_about(self) -> None:
        QMessageBox.about(self, "About Moebius Studio", self.about_text())
