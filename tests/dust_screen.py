"""Screenshot of the Find Sensor Dust window after a search of the made-up dust shoot, on this process's screen.

    xvfb-run -s "-screen 0 1366x768x24" .venv/bin/python tests/dust_screen.py tests/screenshots

Writes ``dust_WxH.png`` into the folder given and prints whether the window fits the screen.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtWidgets import QApplication

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS.parent))

from app.dust.window import DustWindow  # noqa: E402
from core.bench.dust_shoot import make_shoot  # noqa: E402


def main(out: Path) -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    screen = app.primaryScreen()
    available = screen.availableGeometry()
    tag = f"{screen.geometry().width()}x{screen.geometry().height()}"
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp) / "shoot"
        make_shoot(folder, TESTS.parent.parent / "shared" / "samples")
        window = DustWindow()
        window.resize(min(1100, available.width()), min(700, available.height()))
        window.show()
        window.set_folder(folder)
        ended: list[bool] = []
        window.search_ended.connect(lambda: ended.append(True))
        window.start()
        deadline = time.monotonic() + 120
        while not ended and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.02)
        window.tiles[1].keep.setChecked(False)  # as a reviewer would drop a spot
        for _ in range(20):
            app.processEvents()
            time.sleep(0.02)
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"dust_{tag}.png"
        screen.grabWindow(0).save(str(path))
        frame = window.frameGeometry()
        print(f"{path}: window {frame.width()}x{frame.height()}, fits: {available.contains(frame)}")
        window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
