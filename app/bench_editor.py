"""Editor benchmark: ``python -m app.bench_editor [--megapixels 50] [--moves 200]``.

Measures what the editor issue asks for, on this machine:

- time from launching ``python -m app`` to its window being visible (a fresh process, so nothing is cached
  in this one), and whether torch was imported by then;
- the repaint cost of one mouse move of a brush stroke on a large photo (median and 95th percentile), at
  fit-to-window and at 100 % zoom: the move event plus the repaint Qt does for it;
- opening a 24 MP JPEG until it is on screen.

Runs on Qt's offscreen platform unless a display is set. Not a test: numbers vary with the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

CHILD = textwrap.dedent(
    """
    import os, sys, time
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    app = QApplication([sys.argv[0]])
    from app.main import main
    from app.main_window import MainWindow

    def report():
        visible = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        torch = any(name.split(".")[0] == "torch" for name in sys.modules)
        print("VISIBLE", time.time() - float(os.environ["BENCH_T0"]), bool(visible), torch, flush=True)
        app.quit()

    QTimer.singleShot(0, report)
    main([])
    """
)


def time_to_window(runs: int) -> list[float]:
    """Seconds from process launch to the window shown, over ``runs`` fresh processes."""
    times = []
    for _ in range(runs):
        env = dict(os.environ, BENCH_T0=repr(time.time()))
        done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=120)
        line = next((x for x in done.stdout.splitlines() if x.startswith("VISIBLE")), None)
        if line is None:
            raise RuntimeError(f"the app did not start: {done.stderr[-2000:]}")
        _, seconds, visible, torch = line.split()
        if visible != "True" or torch != "False":
            raise RuntimeError(f"window visible: {visible}, torch imported: {torch}")
        times.append(float(seconds))
    return times


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def stroke_repaint(megapixels: float, moves: int) -> dict[str, dict[str, float]]:
    """Per-move cost of a brush stroke on a synthetic photo of ``megapixels``, at fit and at 100 %."""
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    from app.editor.photo_loader import reduced_copy
    from app.main_window import MainWindow
    from app.qt_image import rgb_to_rgb32
    from core.photo.photo import Photo

    app = QApplication.instance() or QApplication([sys.argv[0]])
    width = int((megapixels * 1e6 * 3 / 2) ** 0.5)
    height = int(megapixels * 1e6 / width)
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    pixels = np.ascontiguousarray(np.repeat(np.repeat(small, 16, 0), 16, 1)[:height, :width])
    image = rgb_to_rgb32(pixels)
    window = MainWindow()
    window.resize(1400, 900)
    window.show()
    window.document.open(Path("bench.png"), Photo(pixels, None, "PNG", "RGB"))
    window.canvas.set_photo(image, reduced_copy(image))
    window.canvas.set_brush_size(80)
    app.processEvents()
    canvas = window.canvas
    results: dict[str, dict[str, float]] = {}
    for label, zoom in (("fit", None), ("100%", 1.0)):
        if zoom is None:
            canvas.fit()
        else:
            canvas.set_zoom(zoom)
        app.processEvents()

        def send(kind: QEvent.Type, point: QPointF) -> None:
            buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else Qt.MouseButton.LeftButton
            event = QMouseEvent(
                kind,
                point,
                canvas.mapToGlobal(point),
                Qt.MouseButton.LeftButton,
                buttons,
                Qt.KeyboardModifier.NoModifier,
            )
            QApplication.sendEvent(canvas, event)

        start = QPointF(canvas.width() * 0.2, canvas.height() * 0.3)
        send(QEvent.Type.MouseButtonPress, start)
        app.processEvents()
        durations = []
        for i in range(moves):
            point = start + QPointF(i * canvas.width() * 0.6 / moves, 40 * np.sin(i / 8))
            began = time.perf_counter()
            send(QEvent.Type.MouseMove, point)
            app.processEvents()  # Qt repaints the dirty rectangle here
            durations.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        send(QEvent.Type.MouseButtonRelease, point)
        app.processEvents()
        release = (time.perf_counter() - began) * 1000
        results[label] = {
            "median_ms": statistics.median(durations),
            "p95_ms": percentile(durations, 95),
            "max_ms": max(durations),
            "release_ms": release,
        }
        window.undo_stack.undo()
    window.document.mark_clean()
    window.close()
    window.shutdown()
    return results


def open_jpeg(megapixels: float) -> float:
    """Seconds from asking the window to open a JPEG of ``megapixels`` until it has been painted."""
    from PIL import Image
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    width = int((megapixels * 1e6 * 3 / 2) ** 0.5)
    height = int(megapixels * 1e6 / width)
    rng = np.random.default_rng(1)
    small = rng.integers(0, 255, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    pixels = np.repeat(np.repeat(small, 8, 0), 8, 1)[:height, :width]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "photo.jpg"
        Image.fromarray(pixels).save(path, quality=92)
        window = MainWindow()
        window.resize(1400, 900)
        window.show()
        app.processEvents()
        began = time.perf_counter()
        window.open_image(path)
        while window.photo_path != path:
            app.processEvents()
            time.sleep(0.002)
        window.canvas.repaint()
        seconds = time.perf_counter() - began
        window.close()
        window.shutdown()
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.bench_editor", description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=50.0, help="photo size for the stroke test")
    parser.add_argument("--moves", type=int, default=200, help="mouse moves in the scripted stroke")
    parser.add_argument("--starts", type=int, default=3, help="app launches to time")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    options = parser.parse_args(argv)
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("MOEBIUS_STUDIO_HOME", tempfile.mkdtemp(prefix="moebius-bench-"))

    starts = time_to_window(options.starts)
    strokes = stroke_repaint(options.megapixels, options.moves)
    jpeg = open_jpeg(24.0)
    report = {
        "window_visible_s": {"median": statistics.median(starts), "all": starts},
        "stroke_repaint_ms": strokes,
        "stroke_megapixels": options.megapixels,
        "open_24mp_jpeg_s": jpeg,
        "platform": os.environ.get("QT_QPA_PLATFORM", "display"),
    }
    if options.json:
        print(json.dumps(report, indent=2))
        return 0
    each = ", ".join(f"{s:.2f}" for s in starts)
    print(f"window visible after launch: median {statistics.median(starts):.2f} s ({each})")
    for label, numbers in strokes.items():
        print(
            f"brush stroke on {options.megapixels:g} MP at {label}: median {numbers['median_ms']:.2f} ms, "
            f"p95 {numbers['p95_ms']:.2f} ms, max {numbers['max_ms']:.2f} ms per move; "
            f"stroke end (undo step) {numbers['release_ms']:.1f} ms"
        )
    print(f"open a 24 MP JPEG to first display: {jpeg:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
