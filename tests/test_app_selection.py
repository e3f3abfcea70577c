"""Object selection without weights, as a user does it: press W, drag a box around an object, the mask snaps to
it off the GUI thread (which says it is working), refine it with the brush, expand it for the shadow; each
step is one undo."""

from __future__ import annotations

import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest
from fake_engine import FakeEngine
from PySide6.QtCore import QPointF, Qt
from pytestqt.qtbot import QtBot
from test_app_editor import make_window, open_photo, stroke

from app.editor.mask_tools import OBJECT
from app.main_window import MainWindow
from core.common.errors import SelectionError

BOX = (300, 130, 480, 330)  # around the spoon and the cup's right side in coffee.png (600 × 400)


def drag_box(qtbot: QtBot, window: MainWindow, box: tuple[int, int, int, int]) -> None:
    canvas = window.canvas
    start = canvas.photo_to_widget(QPointF(box[0], box[1])).toPoint()
    end = canvas.photo_to_widget(QPointF(box[2], box[3])).toPoint()
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(canvas, (start + end) / 2)
    qtbot.mouseMove(canvas, end)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=end)


@pytest.fixture
def window(qtbot: QtBot, samples_dir: Path) -> MainWindow:
    editor = make_window(qtbot, FakeEngine())
    assert editor.open_image(samples_dir / "coffee.png", lambda width, height: np.zeros((height, width), np.uint8))
    editor.canvas.set_zoom(1.0)
    return editor


def test_a_box_around_the_object_snaps_the_mask_to_it_in_one_undo_step(window: MainWindow, qtbot: QtBot) -> None:
    qtbot.keyClick(window.canvas, Qt.Key.Key_W)
    assert window.canvas.tool == OBJECT and window.commands.object_tool.isChecked()
    drag_box(qtbot, window, BOX)
    qtbot.waitUntil(lambda: not window.selection.busy and window.document.has_mask, timeout=30_000)
    mask = window.canvas.mask_array
    left, top, right, bottom = BOX
    inside = mask[top : bottom + 1, left : right + 1]  # the drag's box, its last row and column included
    assert mask.sum() == inside.sum()  # nothing outside the box
    share = float((inside >= 128).mean())
    assert 0.05 < share < 0.9  # the object, not the whole box
    assert set(np.unique(mask)) <= {0, 255}
    assert window.undo_stack.count() == 1 and window.undo_stack.undoText() == "Select object"
    assert "Select object: done" in window.statusBar().currentMessage()
    # Refined with the eraser, then taken back step by step.
    qtbot.keyClick(window.canvas, Qt.Key.Key_E)
    ys, xs = np.nonzero(mask >= 128)
    stroke(qtbot, window, [(int(xs[0]), int(ys[0])), (int(xs[0]) + 1, int(ys[0]))])
    assert window.undo_stack.count() == 2
    window.undo_stack.undo()
    window.undo_stack.undo()
    assert not window.canvas.mask_array.any()


def test_finding_the_object_runs_off_the_gui_thread_and_says_so(
    window: MainWindow, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GrabCut on a big photo takes a second: the window stays usable and shows that it is working."""
    go_on = threading.Event()
    calls: list[tuple[int, tuple[int, int, int, int], int]] = []

    def select_object(pixels: np.ndarray, box: tuple[int, int, int, int], **_: object) -> np.ndarray:
        calls.append((threading.get_ident(), box, pixels.shape[1]))
        go_on.wait(10)
        found = np.zeros(pixels.shape[:2], np.uint8)
        found[box[1] + 10 : box[3] - 10, box[0] + 10 : box[2] - 10] = 255
        return found

    stand_in = types.ModuleType("core.photo.selection")
    stand_in.select_object = select_object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "core.photo.selection", stand_in)
    window.canvas.set_tool(OBJECT)
    drag_box(qtbot, window, BOX)
    qtbot.waitUntil(lambda: bool(calls))
    assert window.selection.busy and window.progress.isVisible()
    assert window.progress.format() == "Finding the object…"
    assert window.canvas.cursor().shape() == Qt.CursorShape.BusyCursor
    window.canvas.set_zoom(0.5)  # the window answers meanwhile
    qtbot.wait(50)
    assert window.canvas.zoom == pytest.approx(0.5)
    thread, box, width = calls[0]
    assert thread != threading.get_ident() and width == 600
    assert all(abs(a - b) <= 1 for a, b in zip(box, BOX, strict=True))  # (left, top, right, bottom) of the drag
    go_on.set()
    qtbot.waitUntil(lambda: not window.selection.busy)
    assert window.canvas.mask_array[BOX[1] + 20, BOX[0] + 20] == 255
    assert not window.progress.isVisible() and window.canvas.cursor().shape() == Qt.CursorShape.CrossCursor


def test_a_box_too_small_is_explained(window: MainWindow, qtbot: QtBot) -> None:
    window.canvas.set_tool(OBJECT)
    drag_box(qtbot, window, (200, 200, 204, 203))
    qtbot.waitUntil(lambda: not window.selection.busy and window.message.isVisible(), timeout=10_000)
    assert "too small" in window.message.text() and "at least 8 pixels" in window.message.text()
    assert not window.document.has_mask and window.undo_stack.count() == 0


def test_expand_to_include_the_shadow_grows_the_mask_downward(window: MainWindow, qtbot: QtBot) -> None:
    mask = np.zeros((400, 600), np.uint8)
    mask[100:200, 250:300] = 255  # an object 100 px tall
    window.document.replace_mask(mask, "Select object")
    window.commands.shadow.trigger()
    qtbot.waitUntil(lambda: not window.selection.busy, timeout=10_000)
    grown = window.canvas.mask_array >= 128
    rows = np.flatnonzero(grown.any(axis=1))
    assert rows[0] == 100 and rows[-1] == 199 + 25  # a quarter of the object's height below it
    assert grown[100:200, 250:300].all() and not grown[:100].any()
    assert window.undo_stack.undoText() == "Expand to include shadow"
    window.undo_stack.undo()
    assert np.array_equal(window.canvas.mask_array, mask)


def test_a_selection_of_the_previous_photo_never_lands_on_the_next(
    window: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    go_on = threading.Event()

    def select_object(pixels: np.ndarray, box: tuple[int, int, int, int], **_: object) -> np.ndarray:
        go_on.wait(10)
        return np.full(pixels.shape[:2], 255, np.uint8)

    stand_in = types.ModuleType("core.photo.selection")
    stand_in.select_object = select_object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "core.photo.selection", stand_in)
    window.canvas.set_tool(OBJECT)
    drag_box(qtbot, window, BOX)
    qtbot.waitUntil(lambda: window.selection.busy)
    open_photo(window, tmp_path)
    go_on.set()
    qtbot.wait(300)
    assert not window.document.has_mask and not window.selection.busy


def test_selection_error_is_a_mask_error() -> None:
    """The core's refusal reaches the window as a message in the product's words (a MoebiusError)."""
    error = SelectionError("The box is too small to select an object in.", hint="Drag a larger box.")
    assert "Drag a larger box." in error.user_message()
