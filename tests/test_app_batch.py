"""The Batch window driven like a user would: a folder dropped on the editor, pairings fixed, Start, Pause,
Cancel, review and redo, with a scriptable fake engine in the app's inference thread (and once with the tiny
random Moebius model). Results are checked on disk, pixel by pixel."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fake_engine import FILL, FakeEngine, mean_colour
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from app.batch.inputs import batch_inputs, pair_inputs
from app.batch.table import DONE, FAILED, NOT_PHOTO, PROBLEM, READY, SKIPPED
from app.batch.window import BatchWindow
from app.main_window import MainWindow
from app.worker import InferenceService
from core.batch import MaskPlacement, SharedMasks
from core.job.settings import JobSettings

SIZE = (64, 48)  # width, height of the test photos
SETTINGS = JobSettings(engine="moebius", steps=3)  # the fake engine stands in for Moebius


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    fake = FakeEngine()
    yield fake
    fake.release()


def photo_pixels(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8)


def mask_pixels() -> np.ndarray:
    mask = np.zeros((SIZE[1], SIZE[0]), np.uint8)
    mask[12:30, 20:44] = 255
    return mask


def make_shoot(folder: Path) -> Path:
    """Four photos with masks in masks/, one without a mask, a damaged JPEG (with a mask) and a text file."""
    (folder / "masks").mkdir(parents=True)
    for seed, name in enumerate(("a.png", "b.png", "c.png", "d.png", "e.png")):
        Image.fromarray(photo_pixels(seed)).save(folder / name)
    for stem in ("a", "b", "c", "d", "broken"):
        Image.fromarray(mask_pixels()).save(folder / "masks" / f"{stem}.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    (folder / "notes.txt").write_text("shot list")
    return folder


def make_batch(qtbot: QtBot, engine: FakeEngine | None, settings: JobSettings = SETTINGS) -> BatchWindow:
    service = InferenceService(None if engine is None else engine.factory())
    window = BatchWindow(service, lambda: settings)

    def close(_window: BatchWindow) -> None:
        if engine is not None:
            engine.release()
        assert service.shutdown()

    qtbot.addWidget(window, before_close_func=close)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()  # window shortcuts (Esc) only reach the active window
    qtbot.waitUntil(window.isActiveWindow)
    return window


@pytest.fixture
def batch(qtbot: QtBot, engine: FakeEngine) -> BatchWindow:
    return make_batch(qtbot, engine)


@pytest.fixture
def studio(qtbot: QtBot, engine: FakeEngine) -> Iterator[MainWindow]:
    window = MainWindow(engine_factory=engine.factory())
    qtbot.addWidget(window, before_close_func=lambda w: _release(w, engine))
    window.panel.engine.setCurrentIndex(window.panel.engine.findData("moebius"))
    window.panel.steps.setValue(3)
    window.resize(1000, 700)
    window.show()
    qtbot.waitExposed(window)
    yield window
    _release(window, engine)


def _release(window: MainWindow, engine: FakeEngine | None) -> None:
    if engine is not None:
        engine.release()
    window.document.mark_clean()  # no unsaved-changes question while tearing down
    window.shutdown()


def drop(qtbot: QtBot, target: MainWindow | BatchWindow, paths: list[Path]) -> bool:
    """Drag ``paths`` over ``target`` and drop them; returns whether the drag was accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    copy = Qt.DropAction.CopyAction
    left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPoint(40, 40), copy, mime, left, none)
    QApplication.sendEvent(target, enter)
    if not enter.isAccepted():
        return False
    QApplication.sendEvent(target, QDropEvent(QPointF(40, 40), copy, mime, left, none))
    return True


def states(window: BatchWindow) -> dict[str, str]:
    return {row.pairing.photo.name: row.state for row in window.model.rows}


def wait_until_finished(qtbot: QtBot, window: BatchWindow, timeout: int = 20_000) -> None:
    qtbot.waitUntil(lambda: window.summary is not None and not window.running, timeout=timeout)


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def assert_filled(output: Path, seed: int) -> None:
    """The masked area holds the fill; everything else is the original, exactly."""
    result, original, masked = read_rgb(output), photo_pixels(seed), mask_pixels() >= 128
    assert np.all(result[masked] == FILL)
    np.testing.assert_array_equal(result[~masked], original[~masked])


# -- drop, pairing, fixing ---------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Function. 'QDragEnterEvent:DeprecationWarning")
def test_dropping_a_folder_on_the_editor_opens_the_batch_pairing_table(
    studio: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    shoot = make_shoot(tmp_path / "shoot")
    assert drop(qtbot, studio, [shoot])
    qtbot.waitUntil(lambda: studio.batch_window is not None and studio.batch_window.isVisible())
    window = studio.batch_window
    assert window is not None
    assert states(window) == {
        "a.png": READY,
        "b.png": READY,
        "broken.jpg": READY,  # only its name is known until it is read
        "c.png": READY,
        "d.png": READY,
        "e.png": PROBLEM,
        "notes.txt": NOT_PHOTO,
    }
    rows = {row.pairing.photo.name: row for row in window.model.rows}
    assert rows["a.png"].pairing.mask == shoot / "masks" / "a.png"
    assert "No mask found" in rows["e.png"].text
    # The output column follows the suggested folder (inside the shoot, never over it) and the template.
    assert window.output_edit.text() == str(shoot / "inpainted")
    assert rows["a.png"].output == shoot / "inpainted" / "a_inpainted.png"
    assert window.model.data(window.model.index(0, 3)) == "a_inpainted.png"
    assert "5 of 7 files ready" in window.counts_label.text() and "1 need a mask" in window.counts_label.text()
    # The File menu opens the same window again; Ctrl+B is its key.
    assert studio.commands.batch.shortcut().toString() == "Ctrl+B"
    assert studio.show_batch() is window


def test_one_photo_is_the_editors_and_several_are_a_batch(tmp_path: Path) -> None:
    shoot = make_shoot(tmp_path / "shoot")
    one, two = QMimeData(), QMimeData()
    one.setUrls([QUrl.fromLocalFile(str(shoot / "a.png"))])
    two.setUrls([QUrl.fromLocalFile(str(shoot / name)) for name in ("a.png", "e.png", "notes.txt")])
    assert batch_inputs(one) == []
    assert batch_inputs(two) == [shoot / "a.png", shoot / "e.png"]
    # Dropped files are paired by the rules of their folder, and only they are listed.
    pairings = pair_inputs(batch_inputs(two))
    assert [(p.photo.name, p.source) for p in pairings] == [("a.png", "masks-folder"), ("e.png", "missing")]


def test_a_pairing_is_fixed_by_choosing_a_mask_and_survives_re_pairing(
    batch: BatchWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shoot = make_shoot(tmp_path / "shoot")
    spare = tmp_path / "spare_mask.png"
    Image.fromarray(mask_pixels()).save(spare)
    batch.set_inputs([shoot])
    row = batch.model.row_of(shoot / "e.png")
    assert row is not None
    batch.table.selectRow(row)
    assert batch.fix_button.isEnabled()
    monkeypatch.setattr(batch, "ask_file", lambda title, start="": spare)
    batch.fix_button.click()
    fixed = batch.model.rows[row]
    assert fixed.state == READY and fixed.pairing.source == "manual" and fixed.pairing.mask == spare
    assert batch.model.data(batch.model.index(row, 1)) == "spare_mask.png"
    # One mask for all replaces the found masks, yet the hand-made fix is kept.
    batch.set_mask_source(None, spare)
    assert {r.pairing.source for r in batch.model.rows if r.state == READY} == {"shared", "manual"}
    batch.set_mask_source(None, None)
    assert batch.model.rows[row].pairing.mask == spare


# -- running -------------------------------------------------------------------------------------------------


def test_batch_runs_to_results_review_grid_and_summary(
    batch: BatchWindow, engine: FakeEngine, qtbot: QtBot, tmp_path: Path
) -> None:
    shoot = make_shoot(tmp_path / "shoot")
    originals = {p.name: p.read_bytes() for p in shoot.iterdir() if p.is_file()}
    batch.set_inputs([shoot])
    e_row = batch.model.row_of(shoot / "e.png")
    assert e_row is not None
    Image.fromarray(mask_pixels()).save(tmp_path / "e_mask.png")
    batch.fix_mask([e_row], tmp_path / "e_mask.png")
    out = shoot / "inpainted"
    assert not out.exists()

    formats: list[str] = []
    real_set_format = batch.current.setFormat

    def set_format(text: str) -> None:
        formats.append(text)
        real_set_format(text)

    batch.current.setFormat = set_format  # type: ignore[method-assign]
    job = batch.start()
    assert job is not None and batch.running
    assert not batch.start_button.isEnabled() and batch.cancel_button.isEnabled()
    wait_until_finished(qtbot, batch)

    # One model load for the whole batch: five photos went through the one engine.
    assert len(engine.requests) == 5
    for seed, name in enumerate(("a", "b", "c", "d", "e")):
        assert_filled(out / f"{name}_inpainted.png", seed)
    assert not (out / "broken_inpainted.jpg").exists()
    assert "a.png · step 3/3" in formats and formats[-1] == "Finished"  # the per-file bar counted the steps
    assert {p.name: p.read_bytes() for p in shoot.iterdir() if p.is_file()} == originals
    assert states(batch) == {
        "a.png": DONE,
        "b.png": DONE,
        "broken.jpg": FAILED,
        "c.png": DONE,
        "d.png": DONE,
        "e.png": DONE,
        "notes.txt": NOT_PHOTO,
    }
    # The summary counts every outcome and names each problem with its reason.
    assert batch.summary is not None
    assert batch.summary.counts == {"done": 5, "failed": 1, "ignored": 1}
    headline = batch.summary_panel.headline.text()
    assert "5 done" in headline and "1 failed" in headline and "1 not photos" in headline
    lines = batch.summary_panel.problem_lines()
    assert len(lines) == 2
    assert lines[0].startswith("broken.jpg — failed: ") and len(lines[0]) > len("broken.jpg — failed: ") + 10
    assert lines[1].startswith("notes.txt — not photos")
    assert batch.overall.value() == batch.overall.maximum() == 6
    assert batch.overall.format() == "6 of 6 photos · 1 failed"
    # The review grid: one tile per result, showing the result and, on hover, the photo as it was.
    assert [t.photo.name for t in batch.review.tiles] == ["a.png", "b.png", "c.png", "d.png", "e.png"]
    tile = batch.review.tiles[0]
    after = tile.picture.pixmap().toImage()
    tile.show_before(True)
    before = tile.picture.pixmap().toImage()
    assert after.size() == before.size() and after.width() == 64
    centre = after.pixelColor(32, 20)
    assert (centre.red(), centre.green(), centre.blue()) == FILL
    assert before.pixelColor(32, 20) != centre
    tile.approve_button.click()
    assert batch.review.approved == [shoot / "a.png"]
    assert "1 approved" in batch.review.heading.text()
    assert batch.start_button.isEnabled() and batch.start_button.text() == "Start Again"


def test_pause_holds_the_next_photo_until_resume(
    batch: BatchWindow, engine: FakeEngine, qtbot: QtBot, tmp_path: Path
) -> None:
    shoot = make_shoot(tmp_path / "shoot")
    batch.set_inputs([shoot])
    engine.hold(call=1, step=2)
    batch.start()
    qtbot.waitUntil(engine.held.is_set)
    batch.pause_button.click()
    assert batch.pause_button.text() == "Resume" and batch.paused
    engine.release()  # the photo being worked on finishes
    qtbot.waitUntil(lambda: len(batch.results) >= 1)
    qtbot.wait(400)
    assert len(engine.requests) == 1  # the next one waits
    assert batch.running and "Paused" in batch.current.format()
    assert "paused" in batch.overall.format()
    batch.pause_button.click()
    assert batch.pause_button.text() == "Pause" and not batch.paused
    wait_until_finished(qtbot, batch)
    assert len(engine.requests) == 4
    assert batch.summary is not None and batch.summary.counts["done"] == 4


def test_cancel_mid_batch_keeps_no_partial_file_and_a_rerun_resumes(
    batch: BatchWindow, engine: FakeEngine, qtbot: QtBot, tmp_path: Path
) -> None:
    shoot = make_shoot(tmp_path / "shoot")
    out = tmp_path / "clean"
    batch.set_inputs([shoot])
    batch.output_edit.setText(str(out))
    engine.hold(call=2, step=2)  # a.png finishes, b.png is held in the middle
    batch.start()
    qtbot.waitUntil(engine.held.is_set)
    qtbot.keyClick(batch, Qt.Key.Key_Escape)
    assert batch.job is None or batch.job.cancel.cancelled
    wait_until_finished(qtbot, batch, timeout=5_000)
    assert sorted(p.name for p in out.iterdir()) == ["a_inpainted.png", "moebius-batch.jsonl", "moebius-batch.lock"]
    assert batch.summary is not None and batch.summary.counts.get("cancelled") == 1
    assert "Cancelled" in batch.summary_panel.headline.text()
    assert "press Start to continue" in batch.current.format()
    assert states(batch)["c.png"] == READY  # never reached, waiting for the next start

    engine.release()
    first_run = len(engine.requests)
    batch.start()
    wait_until_finished(qtbot, batch)
    assert len(engine.requests) - first_run == 3  # b, c and d; a is not redone
    assert states(batch)["a.png"] == SKIPPED
    assert batch.summary.counts == {"done": 3, "skipped": 1, "failed": 1, "unpaired": 1, "ignored": 1}
    for seed, name in enumerate(("a", "b", "c", "d")):
        assert_filled(out / f"{name}_inpainted.png", seed)
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_a_read_only_output_folder_is_refused_before_anything_runs(
    batch: BatchWindow, engine: FakeEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shoot = make_shoot(tmp_path / "shoot")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Root writes anywhere: make the folder refuse new files the way a read-only disk does.
        real_open = os.open

        def refusing_open(path: str | os.PathLike[str], flags: int, *args: int, **kwargs: object) -> int:
            if Path(path).parent == locked and flags & os.O_CREAT:
                raise PermissionError(errno.EROFS, "Read-only file system", str(path))
            return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "open", refusing_open)
    try:
        batch.set_inputs([shoot])
        batch.output_edit.setText(str(locked))
        assert batch.start() is None
        text = batch.message.text()
        assert batch.message.isVisible() and f"{locked} is read-only" in text and "probe" not in text
        assert "Choose another output folder" in text and "with -o" not in text
        assert not batch.running and not engine.requests and list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_settings_changed_since_the_earlier_run_is_explained(qtbot: QtBot, engine: FakeEngine, tmp_path: Path) -> None:
    shoot = make_shoot(tmp_path / "shoot")
    first = make_batch(qtbot, engine)
    first.set_inputs([shoot])
    first.start()
    wait_until_finished(qtbot, first)
    second = make_batch(qtbot, engine, SETTINGS.replace(steps=5))
    second.set_inputs([shoot])
    assert second.start() is None
    assert "other settings" in second.message.text() and "Redo photos done earlier" in second.message.text()
    second.redo_all.setChecked(True)
    calls = len(engine.requests)
    assert second.start() is not None
    wait_until_finished(qtbot, second)
    assert len(engine.requests) - calls == 4 and engine.requests[-1].settings.steps == 5


def test_redo_opens_the_photo_with_its_mask_in_the_editor(
    studio: MainWindow, engine: FakeEngine, qtbot: QtBot, tmp_path: Path
) -> None:
    shoot = make_shoot(tmp_path / "shoot")
    window = studio.show_batch([shoot])
    window.start()
    wait_until_finished(qtbot, window)
    tile = window.review.tile_for(shoot / "c.png")
    assert tile is not None
    tile.redo_button.click()
    qtbot.waitUntil(lambda: studio.photo_path == shoot / "c.png")
    assert studio.current_pixels is not None
    np.testing.assert_array_equal(studio.current_pixels, photo_pixels(2))
    np.testing.assert_array_equal(studio.canvas.mask_array >= 128, mask_pixels() >= 128)


@pytest.mark.parametrize("placement", [MaskPlacement(), MaskPlacement("anchor", "bottom-right")])
def test_redo_with_a_shared_mask_opens_the_mask_as_the_batch_laid_it_on(
    studio: MainWindow, engine: FakeEngine, qtbot: QtBot, tmp_path: Path, placement: MaskPlacement
) -> None:
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    for seed, name in enumerate(("a.png", "b.png")):
        Image.fromarray(photo_pixels(seed)).save(shoot / name)
    small = np.zeros((SIZE[1] // 2, SIZE[0] // 2), np.uint8)  # half the photos' size: the editor would refuse it
    small[4:16, 6:20] = 255
    Image.fromarray(small).save(tmp_path / "one-mask.png")
    window = studio.show_batch([shoot])
    window.shared = SharedMasks(default=tmp_path / "one-mask.png", placement=placement)
    window.repair()
    window.start()
    wait_until_finished(qtbot, window)
    tile = window.review.tile_for(shoot / "b.png")
    assert tile is not None
    tile.redo_button.click()
    qtbot.waitUntil(lambda: studio.photo_path == shoot / "b.png")
    filled = next(r.mask for r in engine.requests if np.array_equal(r.image, photo_pixels(1)))
    assert (studio.canvas.mask_array >= 128).any()
    np.testing.assert_array_equal(studio.canvas.mask_array >= 128, filled >= 128)
    assert "not loaded" not in studio.statusBar().currentMessage()


# -- the editor and the batch share one inference thread ---------------------------------------------------


def open_with_mask(qtbot: QtBot, studio: MainWindow, shoot: Path, name: str = "a.png") -> None:
    assert studio.open_image(shoot / name, shoot / "masks" / name)
    qtbot.waitUntil(lambda: studio.photo_path == shoot / name)
    assert studio.commands.run.isEnabled()


def test_the_editor_cannot_inpaint_while_a_batch_runs_and_says_why(
    studio: MainWindow, engine: FakeEngine, qtbot: QtBot, tmp_path: Path
) -> None:
    shoot = make_shoot(tmp_path / "shoot")
    open_with_mask(qtbot, studio, shoot)
    engine.hold(call=1, step=2)
    window = studio.show_batch([shoot])
    assert window.start() is not None
    qtbot.waitUntil(engine.held.is_set)
    assert not studio.commands.run.isEnabled()
    assert "batch is running" in studio.commands.run.toolTip() and "File → Batch…" in studio.commands.run.toolTip()
    assert studio.batch_label.isVisibleTo(studio)
    studio.commands.run.trigger()  # the menu item, the toolbar button and Ctrl+Enter all go through the action
    assert studio.job is None
    assert studio.run_inpaint() is None and studio.job is None  # called directly: refused with the reason
    assert "batch is running" in studio.message.text()
    engine.release()
    wait_until_finished(qtbot, window)
    assert studio.commands.run.isEnabled() and not studio.batch_label.isVisibleTo(studio)
    assert studio.commands.run.toolTip().startswith("Fill the masked area")


def test_the_batch_cannot_start_while_the_editor_inpaints_and_says_why(
    studio: MainWindow, engine: FakeEngine, qtbot: QtBot, tmp_path: Path
) -> None:
    shoot = make_shoot(tmp_path / "shoot")
    open_with_mask(qtbot, studio, shoot)
    engine.hold(call=1, step=2)
    assert studio.run_inpaint() is not None
    qtbot.waitUntil(engine.held.is_set)
    window = studio.show_batch([shoot])
    assert not window.start_button.isEnabled() and window.wait_label.isVisibleTo(window)
    assert "editor is inpainting" in window.start_button.toolTip()
    assert window.start() is None and not window.running
    assert "editor is inpainting" in window.message.text()
    engine.release()
    qtbot.waitUntil(lambda: studio.job is None)
    assert window.start_button.isEnabled() and not window.wait_label.isVisibleTo(window)
    assert window.start() is not None
    wait_until_finished(qtbot, window)


def test_quitting_during_a_batch_asks_first_and_still_asks_about_unsaved_changes(
    studio: MainWindow, engine: FakeEngine, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shoot = make_shoot(tmp_path / "shoot")
    open_with_mask(qtbot, studio, shoot)
    studio.run_inpaint()
    qtbot.waitUntil(lambda: studio.pending_result is not None)
    studio.accept_result()
    assert studio.has_unsaved_changes
    engine.hold(call=3, step=2)  # the editor's was the first call, photo a the second: hold photo b
    window = studio.show_batch([shoot])
    assert window.start() is not None
    qtbot.waitUntil(lambda: engine.held.is_set() and window.done_counts()[0] == 1)
    stop_answers, save_answers = [False, True, True], [QMessageBox.StandardButton.Cancel]
    asked: list[tuple[int, int]] = []

    def ask_stop_batch(done: int, total: int) -> bool:
        asked.append((done, total))
        return stop_answers.pop(0) if stop_answers else True

    monkeypatch.setattr(studio, "ask_stop_batch", ask_stop_batch)
    monkeypatch.setattr(
        studio, "ask_save_changes", lambda: save_answers.pop(0) if save_answers else QMessageBox.StandardButton.Discard
    )
    assert not studio.close()  # Cancel in the batch question: nothing asked about the photo, nothing stops
    assert window.running and not window.job.cancel.cancelled and len(save_answers) == 1  # type: ignore[union-attr]
    assert not studio.close()  # Stop and Quit, then Cancel about the unsaved photo: still nothing stops
    assert window.running and not window.job.cancel.cancelled and not save_answers  # type: ignore[union-attr]
    assert studio.close()  # Stop and Quit, Discard: the batch is cancelled and the thread ends
    assert asked[0] == (1, window.plan.count("process"))  # type: ignore[union-attr]
    assert not studio.service.inference_thread.isRunning()


# -- the real model ------------------------------------------------------------------------------------------


def test_batch_with_the_tiny_moebius_model(qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tiny_model import write_tiny_model

    write_tiny_model(tmp_path / "models")
    monkeypatch.setenv("MOEBIUS_STUDIO_MODELS", str(tmp_path / "models"))
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    for seed, name in enumerate(("one.png", "two.png")):
        Image.fromarray(photo_pixels(seed)).save(shoot / name)
        Image.fromarray(mask_pixels()).save(shoot / name.replace(".png", "_mask.png"))
    window = make_batch(qtbot, None, JobSettings(engine="auto", steps=2))  # the real engine factory
    window.set_inputs([shoot])
    assert window.start() is not None
    stages: list[str] = []
    window.service.worker.batch_progressed.connect(
        lambda _id, report: stages.append(report.event.stage) if report.event else None
    )
    qtbot.waitUntil(lambda: window.summary is not None or window.message.isVisible(), timeout=180_000)
    assert window.summary is not None, window.message.text()
    assert window.summary.counts == {"done": 2}
    assert "denoise" in stages
    masked = mask_pixels() >= 128
    near = np.zeros_like(masked)
    near[4:38, 12:52] = True  # the mask and the feathered ring around it
    for seed, name in enumerate(("one", "two")):
        result = read_rgb(shoot / "inpainted" / f"{name}_inpainted.png")
        original = photo_pixels(seed)
        assert result.shape == original.shape
        np.testing.assert_array_equal(result[~near], original[~near])  # far from the mask nothing changes
        assert np.abs(result[masked].astype(int) - original[masked]).mean() > 5  # the masked area was filled


# -- looking at it -------------------------------------------------------------------------------------------


@pytest.mark.xvfb
def test_screenshot_of_the_batch_window_with_the_sample_photos(
    studio: MainWindow, engine: FakeEngine, qtbot: QtBot, tmp_path: Path, repo_root: Path, shared_dir: Path
) -> None:
    """Saves artifacts/batch_running.png (mid-run) and artifacts/batch.png (after the run, with the summary)."""
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    for path in sorted((shared_dir / "samples").iterdir()):
        if path.suffix in (".png", ".jpg"):
            shutil.copy(path, shoot / path.name)
    (shoot / "scan_0042.jpg").write_bytes(b"\xff\xd8\xff\xe0 damaged card")
    shutil.copy(shoot / "coffee_mask.png", shoot / "scan_0042_mask.png")
    (shoot / "IMG_0099.png").write_bytes((shoot / "coffee.png").read_bytes())  # no mask
    engine.fill = mean_colour
    engine.hold(call=3, step=2)
    window = studio.show_batch([shoot])
    window.resize(1180, 860)
    window.start()
    qtbot.waitUntil(engine.held.is_set, timeout=10_000)
    qtbot.wait(300)
    folder = repo_root / "artifacts"
    folder.mkdir(exist_ok=True)

    def save(name: str) -> None:
        screen = QApplication.primaryScreen()
        assert screen is not None
        frame = window.frameGeometry()
        shot = screen.grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height())
        assert shot.save(str(folder / name))

    save("batch_running.png")
    assert window.running and window.review.tiles
    engine.release()
    wait_until_finished(qtbot, window)
    window.review.tiles[0].approve_button.click()
    qtbot.wait(300)
    save("batch.png")
    assert window.summary is not None and window.summary.counts.get("done") == 4
