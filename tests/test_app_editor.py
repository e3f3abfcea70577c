"""The editor window driven like a user would: real mouse and key events, a scriptable fake engine."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from fake_engine import FILL, FakeEngine
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from app.editor.runner import StepPace
from app.main_window import MainWindow
from core.common.cancel import CancelToken
from core.common.progress import ProgressCallback, ProgressEvent
from core.job.settings import JobSettings

__all__ = ["FILL", "FakeEngine"]  # shared with test_editor_review


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


def make_window(qtbot: QtBot, engine: FakeEngine | None, *, resize: bool = True) -> MainWindow:
    window = MainWindow(engine_factory=None if engine is None else engine.factory())
    qtbot.addWidget(window, before_close_func=lambda w: _release(w, engine))
    if resize:
        window.resize(1000, 700)
    window.show()
    qtbot.waitExposed(window)
    # Shortcuts only fire in the active window; under Xvfb without a window manager nothing activates it.
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.canvas.setFocus()
    return window


def _release(window: MainWindow, engine: FakeEngine | None) -> None:
    if engine is not None:
        engine.release()
    window.document.mark_clean()  # no unsaved-changes question while tearing down
    window.shutdown()


@pytest.fixture
def editor(qtbot: QtBot, engine: FakeEngine) -> Iterator[MainWindow]:
    window = make_window(qtbot, engine)
    window.panel.steps.setValue(3)
    yield window
    _release(window, engine)


def write_photo(path: Path, size: tuple[int, int] = (400, 300)) -> Path:
    height, width = size[1], size[0]
    ramp = np.linspace(0, 255, width, dtype=np.uint8)
    pixels = np.stack(
        [np.tile(ramp, (height, 1)), np.full((height, width), 120, np.uint8), np.tile(ramp[::-1], (height, 1))], axis=2
    )
    Image.fromarray(pixels).save(path)
    return path


def stroke(
    qtbot: QtBot, window: MainWindow, points: list[tuple[int, int]], button: Qt.MouseButton = Qt.MouseButton.LeftButton
) -> None:  # noqa: E501
    """Press at the first point (in photo pixels), move through the others, release at the last."""
    canvas = window.canvas
    widget_points = [canvas.photo_to_widget(QPointF(x, y)).toPoint() for x, y in points]
    qtbot.mousePress(canvas, button, pos=widget_points[0])
    for point in widget_points[1:]:
        qtbot.mouseMove(canvas, point)
    qtbot.mouseRelease(canvas, button, pos=widget_points[-1])


def open_photo(window: MainWindow, tmp_path: Path, name: str = "street.png") -> Path:
    path = write_photo(tmp_path / name)
    assert window.open_image(path)
    window.canvas.set_zoom(1.0)  # one photo pixel per screen pixel makes the strokes easy to check
    window.canvas.set_brush_size(20)
    return path


def wait_for_result(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.pending_result is not None, timeout=10_000)


# -- painting ------------------------------------------------------------------------------------------------


def test_a_stroke_paints_the_mask_and_is_one_undo_step(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    stroke(qtbot, editor, [(100, 150), (140, 150), (180, 150), (220, 150)])
    mask = editor.canvas.mask_array
    assert mask[150, 100:221].min() == 255  # the whole line
    assert mask[150, 60] == 0 and mask[100, 150] == 0  # nothing far from it
    assert mask[150 + 9, 150] == 255 and mask[150 + 12, 150] == 0  # a 20 px brush reaches 10 px each side
    assert editor.undo_stack.count() == 1

    qtbot.keyClick(editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not editor.canvas.mask_array.any()
    qtbot.keyClick(editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert editor.canvas.mask_array[150, 100:221].min() == 255


def test_eraser_and_a_second_stroke_undo_separately(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    stroke(qtbot, editor, [(100, 100), (300, 100)])
    qtbot.keyClick(editor.canvas, Qt.Key.Key_E)
    stroke(qtbot, editor, [(200, 80), (200, 120)])
    mask = editor.canvas.mask_array
    assert mask[100, 120] == 255 and mask[100, 200] == 0
    assert editor.undo_stack.count() == 2
    editor.undo_stack.undo()
    assert editor.canvas.mask_array[100, 200] == 255


def test_brush_size_keys_and_outline(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    size = editor.canvas.brush_size
    qtbot.keyClick(editor.canvas, Qt.Key.Key_BracketRight)
    assert editor.canvas.brush_size > size
    assert editor.tool_bar.size_spin.value() == editor.canvas.brush_size
    qtbot.keyClick(editor.canvas, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(editor.canvas, Qt.Key.Key_BracketLeft)
    assert editor.canvas.brush_size < size
    # The outline is drawn at the true size: at 100 % a 40 px brush has a 40 px circle.
    editor.canvas.set_brush_size(40)
    centre = editor.canvas.photo_to_widget(QPointF(200, 150)).toPoint()
    qtbot.mouseMove(editor.canvas, centre)
    qtbot.wait(20)
    with_outline = editor.canvas.grab().toImage()
    editor.canvas._move_cursor(None)
    without = editor.canvas.grab().toImage()
    ratio = with_outline.devicePixelRatio()
    y = round(centre.y() * ratio)
    changed = [
        dx
        for dx in range(0, 40)
        if with_outline.pixel(round((centre.x() + dx) * ratio), y) != without.pixel(round((centre.x() + dx) * ratio), y)
    ]
    assert changed and min(changed) >= 17 and max(changed) <= 23, changed


def test_clear_and_invert_are_undoable(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    stroke(qtbot, editor, [(50, 50), (60, 60)])
    painted = editor.canvas.mask_array.copy()
    editor.commands.invert_mask.trigger()
    assert np.array_equal(editor.canvas.mask_array, 255 - painted)
    editor.commands.clear_mask.trigger()
    assert not editor.canvas.mask_array.any()
    editor.undo_stack.undo()
    editor.undo_stack.undo()
    assert np.array_equal(editor.canvas.mask_array, painted)


def test_a_mouse_move_repaints_only_the_dirty_rectangle(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    qtbot.wait(50)
    painted: list[tuple[int, int]] = []
    original = type(editor.canvas).paintEvent

    def record(event: object) -> None:
        rect = event.rect()  # type: ignore[attr-defined]
        painted.append((rect.width(), rect.height()))
        original(editor.canvas, event)  # type: ignore[arg-type]

    editor.canvas.paintEvent = record  # type: ignore[method-assign]
    stroke(qtbot, editor, [(100, 100), (104, 100), (108, 100)])
    qtbot.wait(50)
    assert painted
    canvas_area = editor.canvas.width() * editor.canvas.height()
    assert all(w * h < canvas_area / 10 for w, h in painted), painted


def test_zoom_and_pan(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    canvas = editor.canvas
    anchor = canvas.photo_to_widget(QPointF(100, 100))
    wheel = QWheelEvent(
        anchor,
        canvas.mapToGlobal(anchor),
        QPoint(0, 0),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(canvas, wheel)
    assert canvas.zoom == pytest.approx(1.25)
    moved = canvas.widget_to_photo(anchor)  # the point under the cursor stays put
    assert (moved.x(), moved.y()) == pytest.approx((100, 100))
    editor.commands.zoom_out.trigger()
    assert canvas.zoom == pytest.approx(1.0)
    editor.commands.actual_size.trigger()
    assert canvas.zoom == pytest.approx(1.0)
    before = canvas.widget_to_photo(QPointF(300, 300))
    stroke(qtbot, editor, [(100, 100), (150, 130)], button=Qt.MouseButton.MiddleButton)
    after = canvas.widget_to_photo(QPointF(300, 300))
    assert (before.x() - after.x(), before.y() - after.y()) == pytest.approx((50, 30), abs=1)
    assert not canvas.mask_array.any()  # panning never paints
    editor.commands.fit.trigger()
    assert canvas.zoom <= 1.0


def test_space_drag_pans_instead_of_painting(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    canvas = editor.canvas
    before = canvas.widget_to_photo(QPointF(300, 300))
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    stroke(qtbot, editor, [(100, 100), (120, 100)])
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    after = canvas.widget_to_photo(QPointF(300, 300))
    assert before.x() - after.x() == pytest.approx(20, abs=1)
    assert not canvas.mask_array.any()


def test_mask_overlay_visibility_and_opacity(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    stroke(qtbot, editor, [(200, 150), (201, 150)])
    centre = editor.canvas.photo_to_widget(QPointF(200, 150)).toPoint()
    qtbot.mouseMove(editor.canvas, QPoint(5, 5))  # keep the brush outline away from the sampled pixel

    def sample() -> tuple[int, int, int]:
        shot = editor.canvas.grab().toImage()
        ratio = shot.devicePixelRatio()
        colour = shot.pixelColor(round(centre.x() * ratio), round(centre.y() * ratio))
        return colour.red(), colour.green(), colour.blue()

    shown = sample()
    qtbot.keyClick(editor.canvas, Qt.Key.Key_H)
    hidden = sample()
    assert shown != hidden
    qtbot.keyClick(editor.canvas, Qt.Key.Key_H)
    editor.tool_bar.opacity_slider.setValue(100)
    full = sample()
    assert full[0] > 240 and full[1] < 80  # the overlay colour itself


# -- running -------------------------------------------------------------------------------------------------


def test_run_accept_undo(editor: MainWindow, engine: FakeEngine, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    original = editor.current_pixels.copy()  # type: ignore[union-attr]
    stroke(qtbot, editor, [(150, 150), (250, 150)])
    qtbot.keyClick(editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    wait_for_result(qtbot, editor)
    assert engine.requests[0].settings.steps == 3
    assert editor.review.bar.isVisible()
    assert "seed 0" in editor.review.bar.label.text()
    assert np.array_equal(editor.current_pixels, original)  # not applied until accepted

    editor.review.bar.accept_button.click()
    pixels = editor.current_pixels
    assert pixels is not None
    assert tuple(pixels[150, 200]) == FILL
    assert np.array_equal(pixels[10], original[10])
    assert not editor.canvas.mask_array.any()  # the next round starts with an empty mask
    assert editor.has_unsaved_changes
    shot = editor.canvas.grab().toImage()
    point = editor.canvas.photo_to_widget(QPointF(200, 150)).toPoint()
    ratio = shot.devicePixelRatio()
    colour = shot.pixelColor(round(point.x() * ratio), round(point.y() * ratio))
    assert (colour.red(), colour.green(), colour.blue()) == FILL

    editor.commands.undo.trigger()
    assert np.array_equal(editor.current_pixels, original)
    assert editor.canvas.mask_array[150, 200] == 255
    assert not editor.has_unsaved_changes
    editor.commands.redo.trigger()
    assert tuple(editor.current_pixels[150, 200]) == FILL  # type: ignore[index]


def test_progress_then_cancel_mid_run(editor: MainWindow, engine: FakeEngine, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    stroke(qtbot, editor, [(150, 150), (250, 150)])
    engine.hold()
    job = editor.run_inpaint()
    assert job is not None
    qtbot.waitUntil(engine.held.is_set)
    assert editor.progress.isVisible()
    assert not editor.commands.run.isEnabled() and editor.commands.cancel.isEnabled()
    # The window keeps working while the job runs: paint another stroke.
    stroke(qtbot, editor, [(50, 50), (60, 50)])
    assert editor.canvas.mask_array[50, 55] == 255
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert job.cancel.cancelled
    qtbot.waitUntil(lambda: editor.job is None)
    assert editor.pending_result is None
    assert "Cancelled" in editor.statusBar().currentMessage()
    assert not editor.progress.isVisible()
    assert editor.commands.run.isEnabled()


def test_progress_bar_counts_steps(editor: MainWindow, engine: FakeEngine, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    stroke(qtbot, editor, [(150, 150), (160, 150)])
    formats: list[str] = []
    real_set_format = editor.progress.setFormat

    def set_format(text: str) -> None:
        formats.append(text)
        real_set_format(text)

    editor.progress.setFormat = set_format  # type: ignore[method-assign]
    editor.run_inpaint()
    wait_for_result(qtbot, editor)
    assert "Step 3/3" in formats


def test_discard_and_try_another_seed(editor: MainWindow, engine: FakeEngine, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    original = editor.current_pixels.copy()  # type: ignore[union-attr]
    stroke(qtbot, editor, [(150, 150), (250, 150)])
    editor.run_inpaint()
    wait_for_result(qtbot, editor)
    editor.review.bar.again_button.click()
    wait_for_result(qtbot, editor)
    assert engine.requests[1].settings.seed is None  # a fresh random seed
    assert "seed 4242" in editor.review.bar.label.text()
    editor.review.bar.discard_button.click()
    assert editor.pending_result is None
    assert np.array_equal(editor.current_pixels, original)
    assert editor.canvas.mask_array[150, 200] == 255  # the mask is kept for another try


def test_run_without_a_mask_explains(editor: MainWindow, engine: FakeEngine, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    assert editor.run_inpaint() is None
    assert "Paint over" in editor.message.text()
    assert not engine.requests


def test_engine_errors_are_shown(qtbot: QtBot, tmp_path: Path) -> None:
    from core.common.errors import ModelNotInstalledError

    def broken(name: str, settings: JobSettings, progress: ProgressCallback) -> FakeEngine:
        raise ModelNotInstalledError("The Moebius model is not installed.", hint="Download it first.")

    window = MainWindow(engine_factory=broken)
    qtbot.addWidget(window, before_close_func=lambda w: _release(w, None))
    window.show()
    open_photo(window, tmp_path)
    stroke(qtbot, window, [(150, 150), (250, 150)])
    window.run_inpaint()
    qtbot.waitUntil(lambda: window.job is None)
    assert "not installed" in window.message.text() and "Download it first." in window.message.text()
    window.shutdown()


def test_a_failed_job_is_reported_and_the_next_run_works(
    editor: MainWindow, engine: FakeEngine, qtbot: QtBot, tmp_path: Path
) -> None:
    from core.common.errors import OutOfMemoryError

    open_photo(editor, tmp_path)
    stroke(qtbot, editor, [(150, 150), (250, 150)])
    engine.failure = OutOfMemoryError("The job did not fit in memory.", hint="Paint a smaller area.")
    assert editor.run_inpaint() is not None
    qtbot.waitUntil(lambda: editor.job is None)
    assert "did not fit in memory" in editor.message.text() and "Paint a smaller area." in editor.message.text()
    assert editor.statusBar().currentMessage() == "Inpaint failed."
    assert editor.pending_result is None and not editor.progress.isVisible()
    assert editor.commands.run.isEnabled() and editor.canvas.mask_array[150, 200] == 255
    engine.failure = None
    editor.run_inpaint()
    wait_for_result(qtbot, editor)
    assert not editor.message.isVisible()


# -- files ---------------------------------------------------------------------------------------------------


def test_save_writes_beside_the_original_and_reopens(
    editor: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = open_photo(editor, tmp_path)
    untouched = path.read_bytes()
    stroke(qtbot, editor, [(150, 150), (250, 150)])
    editor.run_inpaint()
    wait_for_result(qtbot, editor)
    editor.accept_result()
    qtbot.keyClick(editor, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    saved = tmp_path / "street_inpainted.png"
    assert saved.exists() and editor.document.last_saved == saved
    assert path.read_bytes() == untouched  # the original is never touched
    assert not editor.has_unsaved_changes
    assert tuple(np.asarray(Image.open(saved))[150, 200]) == FILL

    assert editor.open_image(saved)
    assert editor.photo_path == saved
    assert tuple(editor.current_pixels[150, 200]) == FILL  # type: ignore[index]

    # Saving an edit of the reopened file goes to a new name; replacing an existing one asks first.
    asked: list[str] = []
    monkeypatch.setattr(editor, "confirm", lambda title, text: asked.append(text) or True)
    (tmp_path / "street_inpainted_inpainted.png").write_bytes(b"old")
    assert editor.save()
    assert asked and "already exists" in asked[0]


def test_never_replaces_the_original_without_asking(
    editor: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = open_photo(editor, tmp_path)
    untouched = path.read_bytes()
    monkeypatch.setattr(editor, "confirm", lambda title, text: False)
    assert not editor.write_to(path, overwrite=True)
    assert path.read_bytes() == untouched


def test_export_mask(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    stroke(qtbot, editor, [(150, 150), (250, 150)])
    assert editor.write_mask_to(tmp_path / "strokes.png")
    exported = np.asarray(Image.open(tmp_path / "strokes.png").convert("L"))
    assert np.array_equal(exported, editor.canvas.mask_array)


def test_unsaved_changes_prompt(
    editor: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_photo(editor, tmp_path)
    stroke(qtbot, editor, [(150, 150), (250, 150)])
    editor.run_inpaint()
    wait_for_result(qtbot, editor)
    editor.accept_result()
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Discard]
    monkeypatch.setattr(editor, "ask_save_changes", lambda: answers.pop(0))
    other = write_photo(tmp_path / "other.png")
    assert not editor.open_image(other)  # Cancel keeps the edited photo
    assert editor.photo_path is not None and editor.photo_path.name == "street.png"
    assert editor.open_image(other)  # Discard opens the other one
    assert editor.photo_path == other


@pytest.mark.filterwarnings("ignore:Function. 'QDragEnterEvent:DeprecationWarning")
def test_drag_and_drop_opens_a_photo(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    path = write_photo(tmp_path / "dropped.jpg")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    actions = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(QPoint(50, 50), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(editor, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(50, 50), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(editor, drop)
    qtbot.waitUntil(lambda: editor.photo_path == path)
    assert editor.size_label.text() == "400 × 300 px"

    text_only = QMimeData()
    text_only.setUrls([QUrl.fromLocalFile(str(tmp_path / "notes.txt"))])
    refused = QDragEnterEvent(
        QPoint(5, 5), actions, text_only, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(editor, refused)
    assert not refused.isAccepted()


def test_big_photos_open_off_the_gui_thread(
    editor: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.editor.files.ASYNC_PIXELS", 1000)
    path = write_photo(tmp_path / "big.png", (800, 600))
    assert editor.open_image(path)
    assert editor.loading and editor.progress.isVisible()
    qtbot.waitUntil(lambda: editor.photo_path == path, timeout=10_000)
    assert not editor.loading
    assert editor.size_label.text() == "800 × 600 px"


def test_recent_files_and_mask_beside_the_photo(editor: MainWindow, tmp_path: Path) -> None:
    path = write_photo(tmp_path / "scene.png")
    mask = np.zeros((300, 400), np.uint8)
    mask[:150] = 255
    Image.fromarray(mask).save(tmp_path / "scene_mask.png")
    assert editor.open_image(path)
    assert editor.canvas.mask_array[10, 10] == 255 and editor.canvas.mask_array[200, 10] == 0
    assert "mask from scene_mask.png" in editor.statusBar().currentMessage()
    assert editor.mask_label.text() == "Mask 50.0%"  # the live count in the status bar
    assert editor.recent_files()[0] == str(path.resolve())
    assert [a.text() for a in editor.recent_menu.actions()] == ["scene.png"]


def test_unreadable_file_keeps_the_current_photo(editor: MainWindow, tmp_path: Path) -> None:
    path = open_photo(editor, tmp_path)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a PNG")
    assert not editor.open_image(broken)
    assert editor.photo_path == path
    assert "broken.png" in editor.message.text()


# -- settings and state --------------------------------------------------------------------------------------


def test_settings_persist_between_launches(qtbot: QtBot, engine: FakeEngine) -> None:
    from core.job.settings_file import load_settings

    first = make_window(qtbot, engine)
    first.panel.steps.setValue(7)
    first.panel.random_seed.setChecked(True)
    first.panel.grain_match.setChecked(True)
    first.panel.engine.setCurrentIndex(first.panel.engine.findData("classic"))
    first.resize(840, 610)
    first.canvas.set_brush_size(33)
    first.close()
    saved = load_settings().settings  # the file the command line reads too
    assert (saved.steps, saved.seed, saved.grain_match, saved.engine) == (7, None, True, "classic")

    second = make_window(qtbot, engine, resize=False)
    assert second.panel.steps.value() == 7
    assert second.panel.random_seed.isChecked() and not second.panel.seed.isEnabled()
    assert second.panel.grain_match.isChecked()
    assert second.panel.engine.currentData() == "classic"
    assert second.canvas.brush_size == 33
    # Window managers may adjust the width by the frame; the restored geometry is the saved one, not the default.
    assert second.height() == 610 and abs(second.width() - 840) < 60


def test_device_and_reason_are_shown(editor: MainWindow, qtbot: QtBot) -> None:
    qtbot.waitUntil(lambda: "—" in editor.panel.device.text(), timeout=60_000)
    assert "cpu" in editor.panel.device.text().lower()


def test_banner_without_weights(editor: MainWindow) -> None:
    assert editor.banner.isVisible()
    assert "classic" in editor.banner.text()


def test_crash_handler_writes_a_log(monkeypatch: pytest.MonkeyPatch, private_home: Path) -> None:
    import sys

    from app.crash import install_crash_handler

    told: list[tuple[Path, str]] = []
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    install_crash_handler(lambda path, summary: told.append((path, summary)))
    try:
        raise ValueError("boom")
    except ValueError as error:
        sys.excepthook(type(error), error, error.__traceback__)
    ((path, summary),) = told
    assert path.is_file() and path.is_relative_to(private_home)
    assert "ValueError: boom" in path.read_text()
    assert summary == "ValueError: boom"


# -- the real model ------------------------------------------------------------------------------------------


def test_run_with_the_tiny_moebius_checkpoint(qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tiny_model import write_tiny_model

    write_tiny_model(tmp_path / "models")
    monkeypatch.setenv("MOEBIUS_STUDIO_MODELS", str(tmp_path / "models"))
    window = make_window(qtbot, None)  # the real engine factory
    assert not window.banner.isVisible()
    window.panel.steps.setValue(2)
    window.panel.engine.setCurrentIndex(window.panel.engine.findData("moebius"))
    path = open_photo(window, tmp_path)
    original = window.current_pixels.copy()  # type: ignore[union-attr]
    stroke(qtbot, window, [(150, 150), (250, 150)])
    stages: list[str] = []
    window.service.worker.progressed.connect(lambda _id, event: stages.append(event.stage))
    window.run_inpaint()
    qtbot.waitUntil(lambda: window.pending_result is not None or window.message.isVisible(), timeout=120_000)
    assert window.pending_result is not None, window.message.text()
    assert window.pending_result.engine == "moebius"
    assert "denoise" in stages
    window.accept_result()
    result = window.current_pixels
    assert result is not None
    outside = window.undo_stack.command(0) is not None and np.ones(original.shape[:2], bool)
    assert outside is not None
    assert np.array_equal(result[:100], original[:100])  # far from the mask nothing changes
    assert window.canvas.plan_rects == [] and path.exists()


# -- screenshot ----------------------------------------------------------------------------------------------


@pytest.mark.xvfb
def test_screenshot_with_photo_mask_and_result(
    editor: MainWindow, engine: FakeEngine, qtbot: QtBot, repo_root: Path
) -> None:
    """Saves artifacts/editor.png: the window with the sample photo, a painted mask, a result under review and
    the results history strip (two runs)."""
    import resources

    editor.resize(1280, 860)
    assert editor.open_image(resources.SAMPLE_PHOTO)
    editor.clear_mask()
    editor.canvas.set_brush_size(36)
    stroke(qtbot, editor, [(380, 150), (420, 170), (460, 200)])
    editor.run_inpaint()
    wait_for_result(qtbot, editor)
    editor.review.bar.again_button.click()  # a variation: the history strip shows two thumbnails
    qtbot.waitUntil(lambda: len(editor.review.history) == 2 and editor.pending_result is not None, timeout=10_000)
    # Paint another stroke after the result so the mask overlay is visible too.
    editor.canvas.mask_visible = True
    editor.canvas.update()
    stroke(qtbot, editor, [(120, 300), (200, 320)])
    qtbot.mouseMove(editor.canvas, editor.canvas.photo_to_widget(QPointF(300, 120)).toPoint())
    qtbot.wait(300)
    screen = QApplication.primaryScreen()
    assert screen is not None
    shot = screen.grabWindow(0, editor.x(), editor.y(), editor.frameGeometry().width(), editor.frameGeometry().height())
    folder = repo_root / "artifacts"
    folder.mkdir(exist_ok=True)
    assert shot.save(str(folder / "editor.png"))
    assert editor.review.bar.isVisible() and editor.canvas.mask_array.any()
    assert editor.review.strip.isVisible() and editor.review.strip.count() == 2


def test_hold_backslash_to_compare_before_and_after(
    editor: MainWindow, engine: FakeEngine, qtbot: QtBot, tmp_path: Path
) -> None:
    open_photo(editor, tmp_path)
    original = editor.current_pixels.copy()  # type: ignore[union-attr]
    stroke(qtbot, editor, [(150, 150), (250, 150)])
    editor.run_inpaint()
    wait_for_result(qtbot, editor)
    point = editor.canvas.photo_to_widget(QPointF(200, 150)).toPoint()
    qtbot.mouseMove(editor.canvas, QPoint(5, 5))

    def shown() -> tuple[int, int, int]:
        shot = editor.canvas.grab().toImage()
        ratio = shot.devicePixelRatio()
        colour = shot.pixelColor(round(point.x() * ratio), round(point.y() * ratio))
        return colour.red(), colour.green(), colour.blue()

    assert shown() == FILL
    qtbot.keyPress(editor.canvas, Qt.Key.Key_Backslash)
    assert editor.showing_before
    assert shown() == tuple(int(v) for v in original[150, 200])
    qtbot.keyRelease(editor.canvas, Qt.Key.Key_Backslash)
    assert shown() == FILL


def test_grow_and_shrink_the_mask(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    stroke(qtbot, editor, [(200, 150), (200, 150)])
    area = int((editor.canvas.mask_array > 0).sum())
    editor.commands.grow_mask.trigger()
    grown = int((editor.canvas.mask_array > 0).sum())
    assert grown > area
    editor.commands.shrink_mask.trigger()
    editor.commands.shrink_mask.trigger()
    assert int((editor.canvas.mask_array > 0).sum()) < area
    assert editor.undo_stack.count() == 4
    editor.undo_stack.undo()
    editor.undo_stack.undo()
    assert int((editor.canvas.mask_array > 0).sum()) == grown


def test_progress_shows_the_time_left() -> None:
    pace = StepPace()
    texts = [pace.time_left(ProgressEvent("denoise", step, 10), now=100.0 + 2 * step) for step in (1, 2, 3)]
    assert texts == ["", " · ~16 s left", " · ~14 s left"]
    assert pace.time_left(ProgressEvent("decode", 1, 1), now=200.0) == ""


def test_rectangle_tool_masks_a_box_in_one_step(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    qtbot.keyClick(editor.canvas, Qt.Key.Key_R)
    stroke(qtbot, editor, [(100, 80), (150, 100), (200, 120)])
    mask = editor.canvas.mask_array
    assert mask[80:120, 100:200].min() == 255
    assert mask[125, 150] == 0 and mask[100, 205] == 0
    assert editor.undo_stack.count() == 1
    editor.undo_stack.undo()
    assert not editor.canvas.mask_array.any()


# -- models --------------------------------------------------------------------------------------------------


def test_models_dialog_lists_states_and_runs_a_cancellable_task(editor: MainWindow, qtbot: QtBot) -> None:
    from app.models_dialog import Task

    dialog = editor.show_models()
    names = [dialog.table.item(row, 0).text() for row in range(dialog.table.rowCount())]
    assert "ft_places2" in names and "vae" in names
    assert all(dialog.table.item(row, 3).text() == "not installed" for row in range(dialog.table.rowCount()))

    started = threading.Event()

    def slow(cancel: CancelToken, progress: Callable[[int, int], None]) -> str:
        progress(2_000_000_000, 4_000_000_000)
        started.set()
        while True:
            cancel.raise_if_cancelled()
            threading.Event().wait(0.01)

    task: Task = slow
    dialog.start(task, "Downloading…")
    qtbot.waitUntil(started.is_set)
    qtbot.waitUntil(lambda: dialog.progress.format().startswith("2.00 of 4.00 GB"))
    assert dialog.cancel_button.isEnabled() and not dialog.download_button.isEnabled()
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: dialog.task_thread is None)
    assert "Cancelled" in dialog.status.text()
    assert dialog.download_button.isEnabled()
    dialog.close()


def test_models_dialog_hides_the_banner_once_weights_are_installed(
    editor: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tiny_model import write_tiny_model

    assert editor.banner.isVisible()
    dialog = editor.show_models()
    write_tiny_model(tmp_path / "models")
    monkeypatch.setenv("MOEBIUS_STUDIO_MODELS", str(tmp_path / "models"))
    dialog.start(lambda cancel, progress: "done", "Working…")
    qtbot.waitUntil(lambda: dialog.task_thread is None)
    assert not editor.banner.isVisible()
    states = {
        dialog.table.item(row, 0).text(): dialog.table.item(row, 3).text() for row in range(dialog.table.rowCount())
    }
    assert states["ft_places2"].startswith("installed") and states["vae"].startswith("installed")
    dialog.close()
