"""The batch review grid: a before/after thumbnail per result, to approve it or send it back to the editor.

Thumbnails arrive ready-made (the worker decodes them at reduced size between photos), so adding a tile costs
the GUI thread one QPixmap conversion. A tile shows the result; hovering it, or the "Show originals" toggle,
shows the photo as it was.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QEnterEvent, QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.worker import THUMBNAIL_EDGE

TILE_WIDTH = THUMBNAIL_EDGE + 24
_NORMAL = "ReviewTile { border: 1px solid palette(mid); border-radius: 6px; background: palette(base); }"
_APPROVED = "ReviewTile { border: 2px solid #2e8b3a; border-radius: 6px; background: palette(base); }"


class ReviewTile(QFrame):
    """One result: its thumbnail, name, and Approve / Redo."""

    redo_requested = Signal(object, object)  # photo Path, mask Path | None
    approval_changed = Signal()

    def __init__(
        self,
        photo: Path,
        mask: Path | None,
        output: Path | None,
        before: QImage | None,
        after: QImage | None,
        note: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.photo, self.mask_path, self.output = photo, mask, output
        self._before = QPixmap.fromImage(before) if before is not None else QPixmap()
        self._after = QPixmap.fromImage(after) if after is not None else QPixmap()
        self.showing_before = False
        self._force_before = False
        self.setFixedWidth(TILE_WIDTH)
        self.setStyleSheet(_NORMAL)

        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setFixedSize(THUMBNAIL_EDGE, THUMBNAIL_EDGE)
        self.picture.setStyleSheet("QLabel { background: #202020; border-radius: 3px; }")
        self.caption = QLabel(photo.name)
        self.caption.setToolTip(f"{photo}\n→ {output}" if output is not None else str(photo))
        self.caption.setStyleSheet("QLabel { font-weight: 600; }")
        self.caption.setMaximumWidth(THUMBNAIL_EDGE)
        self.state = QLabel(note or "After · hover for before")
        self.state.setStyleSheet("QLabel { color: palette(placeholder-text); font-size: 11px; }")
        self.approve_button = QPushButton("Approve")
        self.approve_button.setCheckable(True)
        self.approve_button.setToolTip("Mark this result as good")
        self.redo_button = QPushButton("Redo…")
        self.redo_button.setToolTip("Open the photo with its mask in the editor to fix it by hand")
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.approve_button)
        buttons.addWidget(self.redo_button)
        column = QVBoxLayout(self)
        column.setContentsMargins(8, 8, 8, 8)
        column.setSpacing(4)
        column.addWidget(self.picture)
        column.addWidget(self.caption)
        column.addWidget(self.state)
        column.addLayout(buttons)

        self.approve_button.toggled.connect(self._approved)
        self.redo_button.clicked.connect(lambda: self.redo_requested.emit(self.photo, self.mask_path))
        self._show()

    @property
    def approved(self) -> bool:
        return self.approve_button.isChecked()

    def show_before(self, before: bool) -> None:
        self.showing_before = before
        self._show()

    def force_before(self, before: bool) -> None:
        """The grid-wide "Show originals" toggle."""
        self._force_before = before
        self._show()

    def _show(self) -> None:
        before = self.showing_before or self._force_before
        pixmap = self._before if before else self._after
        if pixmap.isNull():
            self.picture.setText("no preview")
        else:
            self.picture.setPixmap(pixmap)
        self.picture.setToolTip("Before" if before else "After")

    def _approved(self, approved: bool) -> None:
        self.setStyleSheet(_APPROVED if approved else _NORMAL)
        self.approve_button.setText("Approved ✓" if approved else "Approve")
        self.approval_changed.emit()

    def enterEvent(self, event: QEnterEvent) -> None:
        self.show_before(True)
        super().enterEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        self.show_before(False)
        super().leaveEvent(event)


class ReviewGrid(QWidget):
    """A scrolling grid of :class:`ReviewTile`, reflowed to the width; says how many are approved."""

    redo_requested = Signal(object, object)  # photo Path, mask Path | None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tiles: list[ReviewTile] = []
        self._columns = 0
        probe = ReviewTile(Path("probe"), None, None, None, None)  # the height of one row of tiles, measured once
        self._tile_height = probe.sizeHint().height()
        probe.deleteLater()
        self.heading = QLabel("Results appear here as each photo is done.")
        self.originals = QCheckBox("Show originals")
        self.originals.setToolTip("Show every photo as it was before (or hover one tile)")
        self.approve_all = QPushButton("Approve all")
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.heading, 1)
        top.addWidget(self.originals)
        top.addWidget(self.approve_all)

        self._container = QWidget()
        self._grid = QGridLayout(self._container)
        self._grid.setContentsMargins(4, 4, 4, 4)
        self._grid.setSpacing(10)
        self._grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setWidget(self._container)
        self.scroll_area.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.scroll_area, 1)

        self.originals.toggled.connect(self._force_before)
        self.approve_all.clicked.connect(self._approve_all)
        self._update_heading()

    def clear(self) -> None:
        for tile in self.tiles:
            self._grid.removeWidget(tile)
            tile.deleteLater()
        self.tiles = []
        self._update_heading()

    def add(
        self,
        photo: Path,
        mask: Path | None,
        output: Path | None,
        before: QImage | None,
        after: QImage | None,
        note: str = "",
    ) -> ReviewTile:
        tile = ReviewTile(photo, mask, output, before, after, note)
        tile.force_before(self.originals.isChecked())
        tile.redo_requested.connect(self.redo_requested)
        tile.approval_changed.connect(self._update_heading)
        self.tiles.append(tile)
        columns = self._column_count()
        index = len(self.tiles) - 1
        self._grid.addWidget(tile, index // columns, index % columns)
        self._update_heading()
        return tile

    def tile_for(self, photo: Path) -> ReviewTile | None:
        return next((tile for tile in self.tiles if tile.photo == photo), None)

    @property
    def approved(self) -> list[Path]:
        return [tile.photo for tile in self.tiles if tile.approved]

    def sizeHint(self) -> QSize:
        return QSize(TILE_WIDTH * 3 + 40, self._tile_height + self.heading.sizeHint().height() + 24)

    def _column_count(self) -> int:
        width = self.scroll_area.viewport().width() if self.scroll_area.viewport() is not None else self.width()
        return max(1, (width - 8) // (TILE_WIDTH + self._grid.spacing()))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        columns = self._column_count()
        if columns != self._columns:
            self._columns = columns
            for index, tile in enumerate(self.tiles):
                self._grid.removeWidget(tile)
                self._grid.addWidget(tile, index // columns, index % columns)

    def _force_before(self, before: bool) -> None:
        for tile in self.tiles:
            tile.force_before(before)

    def _approve_all(self) -> None:
        for tile in self.tiles:
            tile.approve_button.setChecked(True)

    def _update_heading(self) -> None:
        count = len(self.tiles)
        self.approve_all.setEnabled(count > 0)
        if count == 0:
            self.heading.setText("Results appear here as each photo is done.")
            return
        approved = sum(1 for tile in self.tiles if tile.approved)
        results = "1 result" if count == 1 else f"{count} results"
        self.heading.setText(f"{results} · {approved} approved — hover a picture to see it before")
