"""Messages that stay true: the mask's coverage follows painting, the device line names the settings panel,
recent files tell same-named photos apart, the title names the photo and marks unsaved changes, and a save
into a read-only folder offers another place."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from test_app_editor import editor, engine, open_photo, stroke, wait_for_result, write_photo

from app.editor.recent import recent_labels
from app.main_window import MainWindow

__all__ = ["editor", "engine"]


def test_the_mask_coverage_follows_painting_and_undo(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    assert editor.mask_label.text() == "No mask"
    stroke(qtbot, editor, [(100, 150), (300, 150)])
    expected = f"Mask {(editor.canvas.mask_array >= 128).mean():.1%}"
    qtbot.waitUntil(lambda: editor.mask_label.text() == expected)
    assert expected != "Mask 0.0%"
    qtbot.keyClick(editor.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: editor.mask_label.text() == "No mask")


def test_a_device_chosen_in_the_panel_is_reported_as_coming_from_the_panel(editor: MainWindow, qtbot: QtBot) -> None:
    panel = editor.panel
    panel.engine.setCurrentIndex(panel.engine.findData("moebius"))  # the device only applies to the model
    panel.device_choice.setCurrentIndex(panel.device_choice.findData("cpu"))
    assert panel.device.text() == "checking…"
    qtbot.waitUntil(lambda: panel.device.text() != "checking…", timeout=120_000)  # the worker may import torch
    text = panel.device.text()
    assert "from the settings panel" in text and "command line" not in text, text
    assert text.startswith("cpu")


def test_recent_files_of_the_same_name_show_their_folders(editor: MainWindow, tmp_path: Path) -> None:
    for day in ("day1", "day2"):
        (tmp_path / "shoot" / day).mkdir(parents=True)
    first = write_photo(tmp_path / "shoot" / "day1" / "coffee.png")
    second = write_photo(tmp_path / "shoot" / "day2" / "coffee.png")
    other = write_photo(tmp_path / "street.png")
    for path in (first, second, other):
        assert editor.open_image(path)
    labels = [action.text() for action in editor.recent_menu.actions()]
    assert labels == ["street.png", "coffee.png — day2", "coffee.png — day1"]
    assert editor.recent_menu.actions()[1].toolTip() == str(second.resolve())
    # Folders of the same name as well: as much of the path as tells them apart.
    assert recent_labels(["/a/x/pics/c.png", "/b/x/pics/c.png", "/a/y.png"]) == [
        f"c.png — {Path('a/x/pics')}",
        f"c.png — {Path('b/x/pics')}",
        "y.png",
    ]


def test_the_title_names_the_photo_and_marks_unsaved_changes(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    assert editor.windowTitle() == "Moebius Studio"
    open_photo(editor, tmp_path, "harbour.png")
    assert editor.windowTitle().startswith("harbour.png") and "Moebius Studio" in editor.windowTitle()
    assert not editor.isWindowModified()
    stroke(qtbot, editor, [(150, 150), (250, 150)])
    assert not editor.isWindowModified()  # a mask alone changes nothing in the photo
    editor.run_inpaint()
    wait_for_result(qtbot, editor)
    editor.accept_result()
    assert editor.isWindowModified()
    assert editor.save()
    assert not editor.isWindowModified()


def test_saving_into_a_read_only_folder_offers_save_as(
    editor: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = tmp_path / "card"
    card.mkdir()
    path = write_photo(card / "IMG_0001.png")
    assert editor.open_image(path)
    editor.canvas.set_brush_size(20)
    stroke(qtbot, editor, [(150, 150), (250, 150)])
    editor.run_inpaint()
    wait_for_result(qtbot, editor)
    editor.accept_result()
    # The card refuses new files (as a write-protected card does, even for root).
    real_open = os.open

    def refusing_open(target: str | os.PathLike[str], flags: int, *args: int, **kwargs: object) -> int:
        if Path(target).parent == card and flags & os.O_CREAT:
            raise PermissionError(errno.EROFS, "Read-only file system", str(target))
        return real_open(target, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refusing_open)
    questions: list[str] = []
    elsewhere = tmp_path / "elsewhere" / "IMG_0001_inpainted.png"
    elsewhere.parent.mkdir()
    monkeypatch.setattr(editor, "confirm", lambda title, text: questions.append(f"{title}: {text}") or True)
    monkeypatch.setattr(editor, "ask_path", lambda title, start, filter, *, save: elsewhere)
    assert editor.save()
    assert len(questions) == 1 and "Save the photo somewhere else?" in questions[0]
    assert "IMG_0001_inpainted.png" in questions[0]
    assert elsewhere.exists() and not (card / "IMG_0001_inpainted.png").exists()
    assert sorted(p.name for p in card.iterdir()) == ["IMG_0001.png"]
    assert not editor.isWindowModified()
