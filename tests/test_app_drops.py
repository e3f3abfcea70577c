"""Photos dropped on a window are copied, never moved: a drop from a file manager is accepted as Copy even when
Move is proposed (Shift held), a source that only allows Move is refused, and the photo stays in its folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot
from test_app_editor import editor, engine, write_photo

from app.main_window import MainWindow

__all__ = ["editor", "engine"]

COPY_OR_MOVE = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction


def mime_of(*paths: Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    return mime


def drag_and_drop(target: QWidget, mime: QMimeData, allowed: Qt.DropAction) -> tuple[QDragEnterEvent, QDropEvent]:
    """Enter, move and drop as a file manager with Shift held does: Move proposed, ``allowed`` possible."""
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier
    enter = QDragEnterEvent(QPoint(50, 50), allowed, mime, buttons, keys)
    enter.setDropAction(Qt.DropAction.MoveAction)
    QApplication.sendEvent(target, enter)
    move = QDragMoveEvent(QPoint(60, 60), allowed, mime, buttons, keys)
    move.setDropAction(Qt.DropAction.MoveAction)
    QApplication.sendEvent(target, move)
    assert move.dropAction() == enter.dropAction()
    drop = QDropEvent(QPointF(60, 60), allowed, mime, buttons, keys)
    drop.setDropAction(Qt.DropAction.MoveAction)
    QApplication.sendEvent(target, drop)
    return enter, drop


def test_a_photo_dropped_on_the_editor_is_copied_and_opened(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    photo = write_photo(tmp_path / "from_the_file_manager.png")
    enter, drop = drag_and_drop(editor, mime_of(photo), COPY_OR_MOVE)
    assert enter.isAccepted() and enter.dropAction() == Qt.DropAction.CopyAction
    assert drop.isAccepted() and drop.dropAction() == Qt.DropAction.CopyAction
    qtbot.waitUntil(lambda: editor.photo_path == photo)
    assert photo.exists()


def test_a_folder_dropped_on_the_editor_opens_the_batch_as_a_copy(
    editor: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    write_photo(shoot / "a.png")
    _, drop = drag_and_drop(editor, mime_of(shoot), COPY_OR_MOVE)
    assert drop.isAccepted() and drop.dropAction() == Qt.DropAction.CopyAction
    qtbot.waitUntil(lambda: editor.batch_window is not None and editor.batch_window.isVisible())
    assert (shoot / "a.png").exists()


@pytest.mark.parametrize("where", ["editor", "batch"])
def test_a_source_that_only_moves_is_refused(editor: MainWindow, tmp_path: Path, where: str) -> None:
    photo = write_photo(tmp_path / "only_move.png")
    target: QWidget = editor if where == "editor" else editor.show_batch()
    enter, drop = drag_and_drop(target, mime_of(photo), Qt.DropAction.MoveAction)
    assert not enter.isAccepted() and not drop.isAccepted()
    assert editor.photo_path != photo and photo.exists()


def test_photos_dropped_on_the_batch_window_are_copied(editor: MainWindow, tmp_path: Path) -> None:
    batch = editor.show_batch()
    photos = [write_photo(tmp_path / f"p{i}.png") for i in range(2)]
    enter, drop = drag_and_drop(batch, mime_of(*photos), COPY_OR_MOVE)
    assert enter.dropAction() == Qt.DropAction.CopyAction and drop.dropAction() == Qt.DropAction.CopyAction
    assert drop.isAccepted() and batch.inputs == photos
    assert all(photo.exists() for photo in photos)
