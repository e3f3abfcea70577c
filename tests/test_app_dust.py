"""The Find Sensor Dust window: the File menu entry, the search on its thread (and its cancel), the review grid,
writing the masks of the spots kept, and the hand-over to the Batch window — on the real made-up dust shoot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fake_engine import FakeEngine
from PIL import Image
from pytestqt.qtbot import QtBot

from app.dust.window import DustWindow
from app.main_window import MainWindow
from core.bench.dust_shoot import SENSOR, make_shoot
from core.photo.orientation import to_upright
from core.photo.read import read_image

pytestmark = pytest.mark.usefixtures("qapp")


@pytest.fixture(scope="module")
def shoot_source(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dust_app") / "shoot"
    make_shoot(folder, samples_dir)
    return folder


@pytest.fixture
def shoot(shoot_source: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "shoot"
    folder.mkdir()
    for photo in shoot_source.iterdir():
        (folder / photo.name).write_bytes(photo.read_bytes())
    return folder


@pytest.fixture
def studio(qtbot: QtBot) -> Iterator[MainWindow]:
    engine = FakeEngine()
    window = MainWindow(engine_factory=engine.factory())
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    engine.release()
    window.document.mark_clean()
    window.shutdown()


def _search(qtbot: QtBot, window: DustWindow, folder: Path) -> None:
    window.set_folder(folder)
    # The window's own signals are emitted on the GUI thread, so one cannot pass before the wait begins.
    with qtbot.waitSignal(window.search_ended, timeout=120_000):
        assert window.start() is not None
    assert not window.busy


def test_file_menu_opens_the_dust_window(studio: MainWindow) -> None:
    file_menu = next(a.menu() for a in studio.menuBar().actions() if a.text() == "&File")
    entry = next(a for a in file_menu.actions() if a.text() == "Find Sensor &Dust…")
    entry.trigger()
    assert isinstance(studio.dust_window, DustWindow) and studio.dust_window.isVisible()
    assert studio.show_dust() is studio.dust_window  # one window, kept


def test_search_review_write_and_open_in_batch(qtbot: QtBot, studio: MainWindow, shoot: Path) -> None:
    window = studio.show_dust()
    _search(qtbot, window, shoot)
    # 1. The grid: one tile per spot, each with its crop and how often it was seen.
    assert len(window.tiles) >= 6
    assert "spot(s) in 24 frames" in window.status.text()
    for tile in window.tiles:
        assert tile.keep.isChecked()
        texts = [label.text() for label in tile.findChildren(type(window.status))]
        assert any(text.startswith(f"seen in {tile.spot.frames_seen} of ") for text in texts)
    assert not window.batch_button.isEnabled()  # nothing written yet
    # 2. Drop one spot, write the masks.
    dropped = window.tiles[0]
    dropped.keep.setChecked(False)
    with qtbot.waitSignal(window.writing_ended, timeout=60_000):
        assert window.write_masks() is not None
    assert window.batch_button.isEnabled()
    masks = shoot / "masks"
    assert len(list(masks.glob("*.png"))) == 24
    # The masks cover the spots kept and leave the dropped one alone, upright like each photo.
    for name in ("rocket_1", "astronaut_0"):
        photo = read_image(shoot / f"{name}.jpg")
        mask = np.asarray(Image.open(masks / f"{name}.png"))
        assert mask.shape == photo.pixels.shape[:2]
        for tile in window.tiles:
            marker = np.zeros((SENSOR[1], SENSOR[0]), np.uint8)
            x, y, _ = tile.spot.sensor_pixels(SENSOR)
            marker[int(y), int(x)] = 1
            row, column = np.argwhere(to_upright(marker, photo.orientation))[0]
            assert mask[row, column] == (0 if tile is dropped else 255)
    # 3. Open in Batch: the folder, paired with the masks just written.
    window.batch_button.click()
    batch = studio.batch_window
    assert batch is not None and batch.isVisible()
    assert batch.inputs == [shoot] and batch.masks_dir == masks
    assert {row.pairing.source for row in batch.model.rows} == {"masks-folder"}
    assert len(batch.model.rows) == 24


def test_existing_masks_are_replaced_only_when_the_user_agrees(
    qtbot: QtBot, studio: MainWindow, shoot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = studio.show_dust()
    (shoot / "masks").mkdir()
    kept = shoot / "masks" / "coffee_1.png"
    kept.write_bytes(b"someone else's mask")
    _search(qtbot, window, shoot)
    monkeypatch.setattr(window, "ask_replace", lambda _folder: False)
    assert window.write_masks() is None
    assert kept.read_bytes() == b"someone else's mask"
    monkeypatch.setattr(window, "ask_replace", lambda _folder: True)
    with qtbot.waitSignal(window.writing_ended, timeout=60_000):
        assert window.write_masks() is not None
    assert Image.open(kept).size == (400, 600)  # coffee_1 is portrait (EXIF 6): its mask is upright too


def test_cancel_stops_the_search_and_the_window_stays_usable(qtbot: QtBot, studio: MainWindow, shoot: Path) -> None:
    window = studio.show_dust()
    window.set_folder(shoot)
    with qtbot.waitSignal(window.search_ended, timeout=60_000):
        finder = window.start()
        assert finder is not None and window.cancel_button.isEnabled() and not window.find_button.isEnabled()
        done: list[int] = []
        finder.progressed.connect(lambda step, _total: done.append(step))
        qtbot.waitUntil(lambda: bool(done), timeout=60_000)  # the GUI thread handles events while frames are read
        window.cancel()
    assert window.find_button.isEnabled()
    assert max(done) < 24  # stopped between frames, not at the end
    assert window.status.text() == "Cancelled; nothing was written."
    assert window.tiles == [] and not (shoot / "masks").exists()


def test_a_missing_folder_is_told(qtbot: QtBot, studio: MainWindow, tmp_path: Path) -> None:
    window = studio.show_dust()
    _search(qtbot, window, tmp_path / "nowhere")
    assert "does not exist" in window.status.text()
    assert not window.write_button.isEnabled()
