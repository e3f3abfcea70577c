"""The Find Sensor Dust window.

Pick the folder of a shoot, search it (on a thread, cancellable), review the spots found on a grid — a crop of
each with how many frames showed it, and a checkbox to keep or drop it — then write one mask per photo
(``FOLDER/masks``) and open them in the Batch window (:attr:`DustWindow.open_batch`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.dust.finder import DustFinder, DustFound, MaskWriter
from app.qt_image import array_to_qimage
from core.batch.pairing import MASKS_FOLDER

TILE_SIZE = 120
"""Side of a spot's crop on the grid, in pixels."""
COLUMNS = 5


class SpotTile(QFrame):
    """One spot on the review grid: its crop, where it is, how often it was seen, and whether to keep it."""

    def __init__(self, number: int, spot: Any, crop: Any, sensor_size: tuple[int, int]) -> None:
        super().__init__()
        self.spot = spot
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        image = QLabel()
        pixmap = QPixmap.fromImage(array_to_qimage(crop))
        image.setPixmap(pixmap.scaled(TILE_SIZE, TILE_SIZE, Qt.AspectRatioMode.KeepAspectRatio))
        image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        image.setFixedSize(TILE_SIZE, TILE_SIZE)
        x, y, radius = spot.sensor_pixels(sensor_size)
        self.keep = QCheckBox(f"Spot {number}")
        self.keep.setChecked(True)
        self.keep.setToolTip("Untick to leave this spot out of the masks")
        info = QLabel(f"seen in {spot.frames_seen} of {spot.smooth_in}\nat {x:.0f}, {y:.0f} · r {radius:.0f} px")
        info.setToolTip("Frames that show the spot, of the frames smooth enough there to show it (sensor pixels)")
        layout.addWidget(image)
        layout.addWidget(self.keep)
        layout.addWidget(info)


class DustWindow(QWidget):
    """Finds sensor dust across a folder and writes masks for the batch.

    Signals:
        open_batch(folder, masks_dir): the user asked to fill the masks written with the Batch window.
        search_ended: a search ended (found, failed or cancelled) and the window shows its outcome.
        writing_ended: writing the masks ended (written or failed).
    """

    open_batch = Signal(object, object)
    search_ended = Signal()
    writing_ended = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Find Sensor Dust")
        self.finder: DustFinder | None = None
        self.writer: MaskWriter | None = None
        self.found: DustFound | None = None
        self.tiles: list[SpotTile] = []
        self.masks_written: Path | None = None
        self._build()
        self._update_controls()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        # 1. The folder and the search.
        row = QHBoxLayout()
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("The folder of one shoot (photos taken with the same camera)")
        self.folder_edit.textChanged.connect(lambda _text: self._update_controls())
        self.choose_button = QPushButton("Choose Folder…")
        self.choose_button.clicked.connect(self.choose_folder)
        self.min_frames = QSpinBox()
        self.min_frames.setRange(1, 1000)
        self.min_frames.setValue(3)
        self.min_frames.setPrefix("seen in ≥ ")
        self.min_frames.setSuffix(" frames")
        self.min_frames.setToolTip("A spot must show in at least this many frames to count as dust")
        self.find_button = QPushButton("Find Dust")
        self.find_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        for widget in (self.folder_edit, self.choose_button, self.min_frames, self.find_button, self.cancel_button):
            row.addWidget(widget, 1 if widget is self.folder_edit else 0)
        layout.addLayout(row)
        self.progress = QProgressBar()
        self.status = QLabel("Choose the folder of a shoot. Dust shows best on sky and plain backgrounds.")
        self.status.setWordWrap(True)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        # 2. The review grid.
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid_host)
        layout.addWidget(scroll, 1)
        # 3. Masks and the hand-over to Batch.
        bottom = QHBoxLayout()
        self.write_button = QPushButton("Write Masks")
        self.write_button.setToolTip("One mask per photo, in the masks folder beside the photos")
        self.write_button.clicked.connect(self.write_masks)
        self.batch_button = QPushButton("Open in Batch")
        self.batch_button.setToolTip("Fill the masked dust of every photo with the Batch window")
        self.batch_button.clicked.connect(self._open_batch)
        bottom.addStretch(1)
        bottom.addWidget(self.write_button)
        bottom.addWidget(self.batch_button)
        layout.addLayout(bottom)

    # -- the search -------------------------------------------------------------------------------------------

    @property
    def folder(self) -> Path | None:
        text = self.folder_edit.text().strip()
        return Path(text) if text else None

    @property
    def busy(self) -> bool:
        return any(thread is not None and thread.isRunning() for thread in (self.finder, self.writer))

    def choose_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Folder of the shoot", self.folder_edit.text())
        if chosen:
            self.set_folder(Path(chosen))

    def set_folder(self, folder: Path) -> None:
        """Use this folder (results of an earlier search are cleared)."""
        self.folder_edit.setText(str(folder))
        self._show_spots(None)

    def start(self) -> DustFinder | None:
        """Search the folder on a thread; returns the thread (``None`` when there is nothing to search)."""
        folder = self.folder
        if folder is None or self.busy:
            return None
        self._show_spots(None)
        self.finder = DustFinder(folder, self.min_frames.value())
        self.finder.progressed.connect(self._progressed)
        self.finder.found.connect(self._found)
        self.finder.failed.connect(self._failed)
        self.finder.finished.connect(self._search_finished)
        self.progress.setRange(0, 0)
        self.status.setText(f"Reading the photos of {folder.name}…")
        self.finder.start()
        self._update_controls()
        return self.finder

    def _search_finished(self) -> None:
        self._update_controls()
        self.search_ended.emit()

    def _writing_finished(self) -> None:
        self._update_controls()
        self.writing_ended.emit()

    def cancel(self) -> None:
        if self.finder is not None and self.finder.isRunning():
            self.finder.cancel.cancel()
            self.status.setText("Cancelling after this photo…")

    def _progressed(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.status.setText(f"Searching frame {done} of {total}…")

    def _found(self, found: DustFound) -> None:
        report = found.report
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self._show_spots(found)
        skipped = f" {len(report.skipped)} file(s) could not be read." if report.skipped else ""
        if len(report.scans) < self.min_frames.value():
            self.status.setText(
                f"Only {len(report.scans)} photo(s) could be read; dust is told from the picture by repeating "
                f"across at least {self.min_frames.value()} frames.{skipped}"
            )
        elif not report.spots:
            self.status.setText(f"No dust found in {len(report.scans)} frames.{skipped}")
        else:
            self.status.setText(
                f"{len(report.spots)} spot(s) in {len(report.scans)} frames. Untick any that are not dust, "
                f"then write the masks.{skipped}"
            )

    def _failed(self, message: str) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.setText(message)

    def _show_spots(self, found: DustFound | None) -> None:
        for tile in self.tiles:
            self.grid.removeWidget(tile)
            tile.deleteLater()
        self.tiles = []
        self.found = found
        self.masks_written = None
        if found is not None and found.report.scans:
            size = found.report.scans[0].sensor_size
            for number, (spot, crop) in enumerate(zip(found.report.spots, found.crops, strict=True), start=1):
                tile = SpotTile(number, spot, crop, size)
                tile.keep.toggled.connect(lambda _on: self._spots_changed())
                self.grid.addWidget(tile, (number - 1) // COLUMNS, (number - 1) % COLUMNS)
                self.tiles.append(tile)
        self._update_controls()

    def _spots_changed(self) -> None:
        self.masks_written = None  # the masks on disk no longer match the choice
        self._update_controls()

    def kept_spots(self) -> list[Any]:
        return [tile.spot for tile in self.tiles if tile.keep.isChecked()]

    # -- masks and Batch --------------------------------------------------------------------------------------

    def masks_dir(self) -> Path | None:
        folder = self.folder
        return folder / MASKS_FOLDER if folder is not None else None

    def ask_replace(self, masks_dir: Path) -> bool:
        """Whether to replace masks that exist (a method of its own so tests can answer it)."""
        answer = QMessageBox.question(
            self,
            "Masks exist",
            f"{masks_dir} already holds masks for some of these photos. Replace them?",
        )
        return answer == QMessageBox.StandardButton.Yes

    def write_masks(self) -> MaskWriter | None:
        """Write the masks of the spots kept, on a thread; returns the thread (``None`` when nothing to write)."""
        masks_dir, spots = self.masks_dir(), self.kept_spots()
        if self.found is None or masks_dir is None or not spots or self.busy:
            return None
        scans = self.found.report.scans
        overwrite = False
        if any((masks_dir / f"{scan.path.stem}.png").exists() for scan in scans):
            if not self.ask_replace(masks_dir):
                return None
            overwrite = True
        self.writer = MaskWriter(spots, scans, masks_dir, overwrite)
        self.writer.written.connect(self._written)
        self.writer.failed.connect(self._failed)
        self.writer.finished.connect(self._writing_finished)
        self.status.setText(f"Writing {len(scans)} masks…")
        self.writer.start()
        self._update_controls()
        return self.writer

    def _written(self, paths: list[Path]) -> None:
        self.masks_written = self.masks_dir()
        self.status.setText(
            f"Wrote {len(paths)} masks ({len(self.kept_spots())} spot(s) each) to {self.masks_written}. "
            "Open them in Batch to fill the dust."
        )
        self._update_controls()

    def _open_batch(self) -> None:
        if self.folder is not None and self.masks_written is not None:
            self.open_batch.emit(self.folder, self.masks_written)

    def _update_controls(self) -> None:
        busy = self.busy
        searching = self.finder is not None and self.finder.isRunning()
        self.find_button.setEnabled(not busy and self.folder is not None)
        self.choose_button.setEnabled(not busy)
        self.folder_edit.setEnabled(not busy)
        self.cancel_button.setEnabled(searching)
        self.write_button.setEnabled(not busy and bool(self.kept_spots()))
        self.batch_button.setEnabled(not busy and self.masks_written is not None)

    def closeEvent(self, event: QCloseEvent) -> None:
        # Never leave a thread running behind a closed window: stop the search, and let a write finish.
        if self.finder is not None and self.finder.isRunning():
            self.finder.cancel.cancel()
            self.finder.wait()
        if self.writer is not None and self.writer.isRunning():
            self.writer.wait()
        super().closeEvent(event)
