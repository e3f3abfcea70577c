"""Drive the editor and the Batch window through a photographer's session on the screen this process has, check
that nothing resizes a window by itself and that everything fits, and save screenshots.

Run by tests/test_app_screen_fit.py in a fresh Xvfb of a chosen size (a process shows on one screen only);
by hand::

    xvfb-run -s "-screen 0 1366x768x24" .venv/bin/python tests/screen_check.py OUT_DIR

It prints one JSON object: the screen, every check (name -> [passed, what was seen]) and the screenshots
written into OUT_DIR (``editor_review_WxH.png``, ``editor_24mp_WxH.png``, ``batch_WxH.png``).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QEventLoop
from PySide6.QtWidgets import QApplication, QWidget

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS.parent))
SAMPLES = Path(os.environ.get("MOEBIUS_SHARED_DIR") or TESTS.parent.parent / "shared") / "samples"


class Session:
    def __init__(self, app: QApplication, out: Path) -> None:
        self.app = app
        self.out = out
        screen = app.primaryScreen()
        self.available = screen.availableGeometry()
        self.tag = f"{screen.geometry().width()}x{screen.geometry().height()}"
        self.checks: dict[str, list[object]] = {}
        self.shots: list[str] = []

    def pump(self, seconds: float = 0.2) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.005)

    def wait(self, condition: object, timeout: float = 60.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():  # type: ignore[operator]
                return True
            self.pump(0.05)
        return False

    def check(self, name: str, passed: bool, seen: object) -> None:
        self.checks[name] = [bool(passed), str(seen)]

    def inside_screen(self, name: str, window: QWidget) -> None:
        frame = window.frameGeometry()
        self.check(f"{name}: inside the screen", self.available.contains(frame), f"{frame} in {self.available}")

    def shot(self, name: str) -> None:
        path = self.out / f"{name}_{self.tag}.png"
        self.app.primaryScreen().grabWindow(0).save(str(path))
        self.shots.append(str(path))


def photo_fully_shown(window: object) -> tuple[bool, str]:
    """Whether the canvas shows the whole photo, fitted (not cut, not zoomed in)."""
    canvas = window.canvas  # type: ignore[attr-defined]
    shown = canvas.shown_size
    offset = canvas.offset
    inside = offset.x() >= -0.5 and offset.y() >= -0.5
    inside = inside and offset.x() + shown.width() <= canvas.width() + 0.5
    inside = inside and offset.y() + shown.height() <= canvas.height() + 0.5
    fills = max(shown.width() / canvas.width(), shown.height() / canvas.height()) > 0.97 or canvas.zoom >= 0.999
    return inside and fills, f"zoom {canvas.zoom:.3f}, shown {shown.width():.0f}×{shown.height():.0f} at {offset}"


def write_big_photo(folder: Path) -> Path:
    """A 24 MP JPEG (6000 × 4000) with a mask of a figure in the middle."""
    height, width = 4000, 6000
    ys, xs = np.mgrid[0:height:8, 0:width:8]
    small = np.stack([xs * 255 // width, ys * 255 // height, (xs + ys) * 255 // (width + height)], axis=2)
    path = folder / "big.jpg"
    Image.fromarray(small.astype(np.uint8)).resize((width, height)).save(path, quality=85)
    mask = np.zeros((height, width), np.uint8)
    mask[1500:2600, 2700:3200] = 255
    Image.fromarray(mask).save(folder / "big_mask.png")
    return path


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    home = tempfile.mkdtemp(prefix="moebius-screen-")
    os.environ["MOEBIUS_STUDIO_HOME"] = home
    os.environ.pop("MOEBIUS_STUDIO_MODELS", None)
    app = QApplication([sys.argv[0]])
    from fake_engine import FakeEngine, mean_colour

    from app.main_window import MainWindow

    class StandIn(FakeEngine):
        name = "moebius"  # described as the model would be; its fill is the mean colour around the mask

    engine = StandIn(mean_colour)
    session = Session(app, out)
    window = MainWindow(engine_factory=engine.factory())
    window.show()
    session.pump(0.5)
    size = window.size()
    session.check("editor: minimum size fits", window.minimumSizeHint().height() <= session.available.height(), "")
    session.inside_screen("editor at start", window)
    panel = window.panel
    panel.engine.setCurrentIndex(panel.engine.findData("moebius"))
    panel.steps.setValue(20)
    window.open_image(SAMPLES / "coffee.png")
    session.wait(lambda: window.document.has_photo)
    # The device line and the estimate come from the inference thread (its first device probe imports torch).
    estimated = session.wait(lambda: "≈" in window.review.bar.label.text(), timeout=90)
    session.pump(2.0)
    session.check("ready: the estimate is shown", estimated, window.review.bar.label.text())
    session.shot("editor_ready")
    engine.hold(call=2, step=1)  # the second variation waits, so the first can be seen while it runs
    window.run_variations()
    session.wait(engine.held.is_set)
    session.pump(0.3)
    running_label = window.review.bar.detail.text()
    session.check("running: says which variation", "Variation 2 of 3" in running_label, running_label)
    session.shot("editor_running")
    engine.release()
    session.wait(lambda: window.job is None and len(window.document.history) == 3)
    window.review.review(window.document.history.entries[1])
    session.pump(0.5)
    session.check("editor: same size with results", window.size() == size, f"{window.size()} vs {size}")
    session.inside_screen("editor with results", window)
    dock = window.settings_dock.geometry().translated(window.geometry().topLeft())
    session.check("settings panel: on the screen", session.available.contains(dock), f"{dock}")
    strip = window.review.panel.height()
    session.check("history strip: compact", strip <= 110, f"{strip} px")
    session.shot("editor_review")

    window.accept_result()
    session.pump(0.3)
    seen = photo_fully_shown(window)
    session.check("coffee accepted: whole photo shown", *seen)

    folder = Path(tempfile.mkdtemp(prefix="moebius-big-"))
    big = write_big_photo(folder)
    window.document.mark_clean()
    window.open_image(big)
    session.wait(lambda: window.document.path == big and not window.loading, timeout=120)
    session.pump(0.5)
    panel.steps.setValue(3)
    window.run_inpaint()
    session.wait(lambda: window.pending_result is not None, timeout=120)
    session.pump(0.3)
    window.accept_result()
    session.pump(0.5)
    seen = photo_fully_shown(window)
    session.check("24 MP accepted: whole photo shown", *seen)
    session.check("editor: same size after the 24 MP photo", window.size() == size, f"{window.size()} vs {size}")
    session.shot("editor_24mp")

    window.document.mark_clean()
    batch = window.show_batch([SAMPLES])
    session.pump(0.5)
    batch.output_edit.setText(str(folder / "out"))
    batch_size = batch.size()
    session.inside_screen("batch window", batch)
    batch.start()
    session.wait(lambda: batch.summary is not None and not batch.running, timeout=180)
    session.pump(0.5)
    session.check("batch: same size after the run", batch.size() == batch_size, f"{batch.size()} vs {batch_size}")
    session.inside_screen("batch window after the run", batch)
    session.check("batch: minimum size fits", batch.minimumSizeHint().height() <= session.available.height(), "")
    session.shot("batch")

    window.document.mark_clean()
    window.shutdown()
    batch.close()
    window.close()
    print(json.dumps({"screen": session.tag, "checks": session.checks, "shots": session.shots}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
