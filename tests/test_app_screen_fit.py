"""The layout stays put and fits a laptop: nothing resizes a window by itself, long texts are shortened instead
of widening the window, the results strip is one compact row, and the editor and the Batch window fit
1366×768 (checked in an X server of that size, with screenshots) as well as 1920×1080."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot
from test_app_editor import editor, engine, open_photo, stroke, wait_for_result

from app.fitting import FRAME_ALLOWANCE, ElidedLabel, fit_to_screen
from app.main_window import MainWindow

__all__ = ["editor", "engine"]

LONG = "A note that goes on and on about what happened to this photo and why " * 6


def test_an_elided_label_never_asks_for_the_width_of_its_text(qtbot: QtBot) -> None:
    label = ElidedLabel(LONG)
    qtbot.addWidget(label)
    label.resize(200, 20)
    assert label.minimumSizeHint().width() < 100
    assert label.text() == LONG  # the whole text stays readable: as text() and as the tooltip
    assert label.shown_text().endswith("…") and len(label.shown_text()) < len(LONG)
    assert label.toolTip() == LONG
    label.setText("short")
    assert label.shown_text() == "short" and label.toolTip() == ""


def test_long_texts_and_results_never_resize_the_editor(editor: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    open_photo(editor, tmp_path)
    qtbot.wait(50)
    size = editor.size()
    canvas_height = editor.canvas.height()
    stroke(qtbot, editor, [(150, 150), (250, 150)])
    editor.run_inpaint()
    wait_for_result(qtbot, editor)
    editor.review.bar.label.setText(LONG)  # a long description of what ran
    editor.batch_label.show()  # the note that a batch holds the model thread
    editor.device_label.setText(LONG)
    editor.show_message(LONG)
    qtbot.wait(50)
    assert editor.size() == size
    assert editor.minimumSizeHint().width() < 1000
    editor.show_message("")
    editor.accept_result()
    qtbot.wait(50)
    assert editor.size() == size
    # The undo button keeps its name whatever the step is called ("Undo Apply inpaint result").
    assert editor.tool_bar.undo_button.text() == "Undo" and editor.tool_bar.undo_button.isEnabled()
    assert "Apply inpaint result" in editor.tool_bar.undo_button.toolTip()
    # The results band kept its place: the canvas is as tall as before the first result.
    assert editor.canvas.height() == canvas_height


def test_the_results_strip_is_one_compact_row_shown_with_a_photo(
    editor: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    assert not editor.review.panel.isVisible()  # no photo, nothing to show
    open_photo(editor, tmp_path)
    assert editor.review.panel.isVisible() and editor.review.strip.count() == 0
    assert editor.review.panel.height() <= 110  # it was 144 px for the strip alone, plus the review bar


def test_a_window_is_fitted_to_the_free_area_of_its_screen(qtbot: QtBot) -> None:
    window = QWidget()
    qtbot.addWidget(window)
    room = QApplication.primaryScreen().availableGeometry().size() - FRAME_ALLOWANCE
    given = fit_to_screen(window, QSize(room.width() + 500, room.height() + 500))
    assert given == room and window.size() == room
    assert fit_to_screen(window, QSize(640, 480)) == QSize(640, 480)


@pytest.mark.xvfb
@pytest.mark.parametrize("screen", ["1366x768", "1920x1080"])
def test_editor_and_batch_window_fit_the_screen_with_screenshots(
    screen: str, repo_root: Path, samples_dir: Path
) -> None:
    """A whole session in an X server of the screen's size (tests/screen_check.py); the screenshots go to
    artifacts/screens/ (those of both sizes are kept in tests/screenshots/)."""
    if shutil.which("xvfb-run") is None:
        pytest.fail("xvfb-run is needed to open a screen of another size")
    out = repo_root / "artifacts" / "screens"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env["MOEBIUS_SHARED_DIR"] = str(samples_dir.parent)
    done = subprocess.run(
        [
            "xvfb-run",
            "--auto-servernum",
            f"--server-args=-screen 0 {screen}x24 -nolisten tcp",
            sys.executable,
            str(repo_root / "tests" / "screen_check.py"),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=400,
        env=env,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    report = json.loads(lines[-1])
    assert report["screen"] == screen
    failed = {name: seen for name, (passed, seen) in report["checks"].items() if not passed}
    assert failed == {}
    assert len(report["checks"]) >= 15
    for path in report["shots"]:
        assert Path(path).stat().st_size > 10_000, path
