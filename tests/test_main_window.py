from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

import resources
from app.main_window import MainWindow
from app.qt_image import qimage_to_array
from core import __version__


@pytest.fixture
def window(qtbot: QtBot) -> MainWindow:
    main_window = MainWindow()
    qtbot.addWidget(main_window)
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


def test_opens_the_bundled_sample_with_its_mask(window: MainWindow) -> None:
    assert window.open_image(resources.SAMPLE_PHOTO)
    assert window.photo_path == resources.SAMPLE_PHOTO
    assert window.size_label.text() == "600 × 400 px"
    assert window.view.has_overlay
    message = window.statusBar().currentMessage()
    assert message.startswith("coffee.png")
    assert "mask" in message


def test_photo_is_drawn_scaled_to_fit(window: MainWindow, qtbot: QtBot) -> None:
    window.open_image(resources.SAMPLE_PHOTO)
    window.view.resize(450, 450)
    target = window.view.target_rect()
    assert (target.width(), target.height()) == pytest.approx((450, 300))
    assert (target.left(), target.top()) == pytest.approx((0, 75))


def test_small_photos_are_not_enlarged(window: MainWindow, tmp_path: Path) -> None:
    window.open_image(_write_photo(tmp_path / "tiny.png", (40, 30)))
    target = window.view.target_rect()
    assert (target.width(), target.height()) == (40, 30)


def test_photo_pixels_reach_the_screen(window: MainWindow, tmp_path: Path, qtbot: QtBot) -> None:
    window.open_image(_write_photo(tmp_path / "blue.png", (320, 240), colour=(20, 60, 220)))
    qtbot.wait(10)
    shot = qimage_to_array(window.view.grab().toImage())
    centre = shot[shot.shape[0] // 2, shot.shape[1] // 2].astype(int)
    assert np.abs(centre - [20, 60, 220]).max() <= 2


def test_open_with_an_explicit_mask(window: MainWindow, tmp_path: Path) -> None:
    photo = _write_photo(tmp_path / "photo.png", (64, 48))
    mask = np.zeros((48, 64), dtype=np.uint8)
    mask[:24] = 255
    Image.fromarray(mask).save(tmp_path / "strokes.png")
    assert window.open_image(photo, tmp_path / "strokes.png")
    assert window.view.has_overlay
    assert "mask 50.0%" in window.statusBar().currentMessage()


def test_photo_without_mask_has_no_overlay(window: MainWindow, tmp_path: Path) -> None:
    assert window.open_image(_write_photo(tmp_path / "plain.jpg", (64, 48)))
    assert not window.view.has_overlay
    assert window.size_label.text() == "64 × 48 px"


def test_mask_of_another_size_is_not_shown(window: MainWindow, tmp_path: Path) -> None:
    photo = _write_photo(tmp_path / "photo.png", (64, 48))
    Image.new("L", (10, 10), 255).save(tmp_path / "photo_mask.png")
    assert window.open_image(photo)
    assert not window.view.has_overlay
    assert "size differs" in window.statusBar().currentMessage()


def test_unreadable_file_keeps_the_current_photo(window: MainWindow, tmp_path: Path) -> None:
    window.open_image(resources.SAMPLE_PHOTO)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a PNG")
    assert not window.open_image(broken)
    assert not window.open_image(tmp_path / "missing.png")
    assert window.photo_path == resources.SAMPLE_PHOTO
    assert window.size_label.text() == "600 × 400 px"
    assert "Cannot open missing.png" in window.statusBar().currentMessage()


def test_menus_use_standard_keys(window: MainWindow) -> None:
    menus = [menu_action.menu() for menu_action in window.menuBar().actions()]
    actions = {action.text(): action for menu in menus for action in menu.actions()}
    assert actions["&Open…"].shortcut() == QKeySequence(QKeySequence.StandardKey.Open)
    assert actions["&Quit"].shortcut() == QKeySequence(QKeySequence.StandardKey.Quit)
    assert "&About Moebius Studio" in actions
    assert [action.text() for action in window.menuBar().actions()] == ["&File", "&Help"]


def test_about_names_the_versions(window: MainWindow) -> None:
    text = window.about_text()
    assert __version__ in text
    for component in ("Python", "Qt", "PySide6", "torch"):
        assert component in text


def test_quit_closes_the_window(window: MainWindow, qtbot: QtBot) -> None:
    quit_action = next(a for a in window.menuBar().actions()[0].menu().actions() if a.text() == "&Quit")
    quit_action.trigger()
    qtbot.waitUntil(lambda: not window.isVisible())


@pytest.mark.xvfb
def test_screenshot_under_a_real_x_server(window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    window.open_image(resources.SAMPLE_PHOTO)
    qtbot.wait(200)
    screen = QApplication.primaryScreen()
    assert screen is not None
    shot = screen.grabWindow(0).toImage()
    assert not shot.isNull()
    pixels = qimage_to_array(shot)
    # The photo (many colours) is on screen, not just a flat background.
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 1000
