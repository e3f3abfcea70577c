"""The editor opened on a copy another editor handed over: Save writes back into it, visibly and without asking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from fake_engine import FILL
from icc_profiles import prophoto_rgb
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from test_app_editor import editor, engine, stroke, wait_for_result

from app.editor.edit_in_place import ALWAYS, NAMES, NEVER, edit_in_place_target, is_handed_over_copy
from app.main import _parser
from app.main_window import MainWindow

__all__ = ["editor", "engine"]  # fixtures shared with test_app_editor


def test_lightroom_names_are_recognised() -> None:
    for name in ("IMG_0001-Edit.tif", "IMG_0001-Edit-2.tif", "beach-edit.TIFF", "a b-Edit-12.tif"):
        assert is_handed_over_copy(Path(name)), name
    for name in ("IMG_0001.tif", "IMG_0001-Edit.jpg", "-Edit.tif", "IMG-Edited.tif", "IMG-Edit-x.tif"):
        assert not is_handed_over_copy(Path(name)), name


def test_flag_and_setting_decide() -> None:
    copy, plain = Path("IMG-Edit.tif"), Path("IMG.tif")
    assert edit_in_place_target(copy, flag=None, mode=NAMES) == copy
    assert edit_in_place_target(copy, flag=None, mode=NEVER) is None  # the setting turns recognition off
    assert edit_in_place_target(copy, flag=False, mode=NAMES) is None  # --no-edit-in-place
    assert edit_in_place_target(plain, flag=None, mode=NAMES) is None
    assert edit_in_place_target(plain, flag=None, mode=ALWAYS) == plain  # Capture One, darktable
    assert edit_in_place_target(plain, flag=True, mode=NEVER) == plain  # --edit-in-place
    assert _parser().parse_args(["p.tif", "--edit-in-place"]).edit_in_place is True
    assert _parser().parse_args(["p.tif", "--no-edit-in-place"]).edit_in_place is False
    assert _parser().parse_args(["p.tif"]).edit_in_place is None


def _handed_over(folder: Path) -> tuple[Path, np.ndarray]:
    """A 16-bit ProPhoto TIFF named like Lightroom's copy."""
    ramp = np.linspace(0, 65535, 400).astype(np.uint16)
    samples = np.stack(
        [np.tile(ramp, (300, 1)), np.full((300, 400), 30000, np.uint16), np.tile(ramp[::-1], (300, 1))], 2
    )
    path = folder / "IMG_0001-Edit.tif"
    tifffile.imwrite(path, samples, photometric="rgb", iccprofile=prophoto_rgb())
    return path, samples


def _fill_and_accept(window: MainWindow, qtbot: QtBot, path: Path) -> np.ndarray:
    """Paint a stroke, fill it, accept the result; returns the mask that was filled."""
    assert window.open_image(path)
    window.canvas.set_zoom(1.0)
    window.canvas.set_brush_size(20)
    stroke(qtbot, window, [(150, 150), (250, 150)])
    mask = window.canvas.mask_array.copy()
    window.run_inpaint()
    wait_for_result(qtbot, window)
    window.accept_result()
    return mask


def test_save_writes_back_into_the_handed_over_copy(
    editor: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, samples = _handed_over(tmp_path)
    editor.document.edit_in_place = edit_in_place_target(path, flag=None, mode=NAMES)  # as app.main does
    mask = _fill_and_accept(editor, qtbot, path)
    assert "Edit in place: Save writes back into IMG_0001-Edit.tif" in editor.windowTitle()
    asked: list[str] = []
    monkeypatch.setattr(editor, "confirm", lambda title, text: asked.append(text) or False)
    offered: list[str] = []  # a file dialog is never shown by Save here; by Save As it is, offering another file
    monkeypatch.setattr(editor, "ask_path", lambda title, start, filter, save: offered.append(start))
    qtbot.keyClick(editor, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert not asked and not offered  # no "replace the original?" question, no file dialog
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_0001-Edit.tif"]
    assert not editor.has_unsaved_changes
    with tifffile.TiffFile(path) as written:
        result = written.pages[0].asarray()
        assert bytes(written.pages[0].tags[34675].value) == prophoto_rgb()
    assert result.dtype == np.uint16
    assert np.array_equal(result[mask == 0], samples[mask == 0])
    # A changed 16-bit pixel gets the 8-bit change added to its own value (core.photo.photo): FILL within a level.
    assert np.abs(result[150, 200].astype(int) / 257 - np.array(FILL)).max() <= 1
    # Save As still offers another file.
    editor.save_as()
    assert offered == [str(tmp_path / "IMG_0001-Edit_inpainted.tif")]


def test_without_edit_in_place_the_copy_is_kept(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    path, _ = _handed_over(tmp_path)
    before = path.read_bytes()
    editor.document.edit_in_place = edit_in_place_target(path, flag=None, mode=NEVER)
    _fill_and_accept(editor, qtbot, path)
    assert "Edit in place" not in editor.windowTitle()
    qtbot.keyClick(editor, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert (tmp_path / "IMG_0001-Edit_inpainted.tif").exists()
    assert path.read_bytes() == before


def test_file_handed_over_by_the_system_opens_in_place(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    """macOS hands Lightroom's "Edit In" copy to the running app as an open-document event, not an argument."""
    from PySide6.QtGui import QFileOpenEvent
    from PySide6.QtWidgets import QApplication

    from app.main import FileOpenHandler

    path, _ = _handed_over(tmp_path)
    app = QApplication.instance()
    assert app is not None
    handler = FileOpenHandler(editor)
    app.installEventFilter(handler)
    try:
        QApplication.sendEvent(app, QFileOpenEvent(str(path)))
    finally:
        app.removeEventFilter(handler)
    assert editor.document.path == path and editor.document.writes_in_place
    assert "Edit in place" in editor.windowTitle()


def test_saved_setting_chooses_the_mode() -> None:
    from app.editor.edit_in_place import MODE_SETTING, saved_mode
    from app.window_store import window_settings

    assert saved_mode() == NAMES  # the default (each test has its own empty settings folder)
    settings = window_settings()
    for written, read in (("never", NEVER), ("Always", ALWAYS), ("nonsense", NAMES)):
        settings.setValue(MODE_SETTING, written)
        settings.sync()
        assert saved_mode() == read
