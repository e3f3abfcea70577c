from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

import resources
from app.main_window import MainWindow, default_output_path
from app.qt_image import qimage_to_array
from core import __version__


@pytest.fixture
def window(qtbot: QtBot) -> MainWindow:
    main_window = MainWindow()
    qtbot.addWidget(main_window, before_close_func=lambda w: w.shutdown())
    main_window.resize(900, 700)
    main_window.show()
    qtbot.waitExposed(main_window)
    return main_window


def _write_photo(path: Path, size: tuple[int, int], colour: tuple[int, int, int] = (90, 140, 200)) -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


def test_title_and_empty_state(window: MainWindow) -> None:
    assert window.windowTitle() == "Moebius Studio"
    assert window.size_label.text() == "No photo"
    assert window.photo_path is None
    assert not window.commands.run.isEnabled() and not window.commands.save.isEnabled()


def test_opens_the_bundled_sample_with_its_mask(window: MainWindow) -> None:
    assert window.open_image(resources.SAMPLE_PHOTO)
    assert window.photo_path == resources.SAMPLE_PHOTO
    assert window.size_label.text() == "600 × 400 px"
    assert window.canvas.mask_array.any()
    message = window.statusBar().currentMessage()
    assert message.startswith("coffee.png")
    assert "mask" in message


def test_photo_is_fitted_and_small_photos_are_not_enlarged(window: MainWindow, tmp_path: Path) -> None:
    window.open_image(_write_photo(tmp_path / "tiny.png", (40, 30)))
    assert window.canvas.zoom == pytest.approx(1.0)
    window.open_image(_write_photo(tmp_path / "wide.png", (4000, 1000)))
    assert window.canvas.zoom < 1.0
    assert window.canvas.zoom * 4000 == pytest.approx(window.canvas.width() * window.canvas.devicePixelRatioF())


def test_photo_pixels_reach_the_screen(window: MainWindow, tmp_path: Path, qtbot: QtBot) -> None:
    window.open_image(_write_photo(tmp_path / "blue.png", (320, 240), colour=(20, 60, 220)))
    qtbot.wait(10)
    shot = qimage_to_array(window.canvas.grab().toImage())
    centre = shot[shot.shape[0] // 2, shot.shape[1] // 2].astype(int)
    assert np.abs(centre - [20, 60, 220]).max() <= 2


def test_mask_of_another_size_is_not_loaded(window: MainWindow, tmp_path: Path) -> None:
    photo = _write_photo(tmp_path / "photo.png", (64, 48))
    Image.new("L", (10, 10), 255).save(tmp_path / "photo_mask.png")
    assert window.open_image(photo)
    assert not window.canvas.mask_array.any()
    assert "size differs" in window.statusBar().currentMessage()


def test_missing_file_is_reported(window: MainWindow, tmp_path: Path) -> None:
    assert not window.open_image(tmp_path / "missing.png")
    assert "missing.png" in window.message.text()
    assert window.photo_path is None


def test_menus_use_standard_keys(window: MainWindow) -> None:
    menus = [menu_action.menu() for menu_action in window.menuBar().actions()]
    actions = {action.text(): action for menu in menus for action in menu.actions()}
    assert actions["&Open…"].shortcut() == QKeySequence(QKeySequence.StandardKey.Open)
    assert actions["&Save"].shortcut() == QKeySequence(QKeySequence.StandardKey.Save)
    assert actions["&Quit"].shortcut() == QKeySequence(QKeySequence.StandardKey.Quit)
    assert QKeySequence("Ctrl+Return") in actions["&Inpaint"].shortcuts()
    assert actions["&Cancel"].shortcut() == QKeySequence("Esc")
    assert QKeySequence("Ctrl+Shift+Z") in window.commands.redo.shortcuts()
    assert "&About Moebius Studio" in actions
    assert [action.text() for action in window.menuBar().actions()] == [
        "&File",
        "&Edit",
        "&Mask",
        "&View",
        "&Inpaint",
        "&Help",
    ]


def test_about_names_the_versions_and_licences(window: MainWindow) -> None:
    text = window.about_text()
    assert __version__ in text
    for component in ("Python", "Qt", "PySide6", "torch", "Licences"):
        assert component in text


def test_default_output_name() -> None:
    assert default_output_path(Path("/photos/IMG_1.jpg")) == Path("/photos/IMG_1_inpainted.jpg")


def test_quit_closes_the_window(window: MainWindow, qtbot: QtBot) -> None:
    window.commands.quit.trigger()
    qtbot.waitUntil(lambda: not window.isVisible())
    assert not window.service.inference_thread.isRunning()


@pytest.mark.xvfb
def test_screenshot_under_a_real_x_server(window: MainWindow, qtbot: QtBot) -> None:
    window.open_image(resources.SAMPLE_PHOTO)
    qtbot.wait(200)
    screen = QApplication.primaryScreen()
    assert screen is not None
    shot = screen.grabWindow(0).toImage()
    assert not shot.isNull()
    pixels = qimage_to_array(shot)
    # The photo (many colours) is on screen, not just a flat background.
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 1000
