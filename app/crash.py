"""The crash handler: an uncaught exception is written to a log file and the user is told where it is.

Qt calls Python slots from its event loop; an exception escaping one would otherwise only reach stderr, which a
desktop user never sees.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from core import __version__
from core.common import paths

Notifier = Callable[[Path, str], None]


def write_crash_log(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> Path:
    """Write the exception with versions and time to a new file in the log folder; returns its path."""
    folder = paths.log_dir(ensure=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"crash-{stamp}.log"
    text = "".join(traceback.format_exception(kind, error, tb))
    path.write_text(
        f"Moebius Studio {__version__} crashed at {time.strftime('%Y-%m-%d %H:%M:%S')}\nPython {sys.version}\n\n{text}",
        encoding="utf-8",
    )
    return path


def show_crash_dialog(path: Path, summary: str) -> None:
    """Tell the user what happened and where the log is (only when a QApplication runs)."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    if QApplication.instance() is None:
        return
    QMessageBox.critical(
        None,
        "Moebius Studio: unexpected error",
        f"Something went wrong: {summary}\n\nA report was written to:\n{path}\n\n"
        "Your photo on disk is unchanged. Please include the report when telling us about the problem.",
    )


def install_crash_handler(notify: Notifier = show_crash_dialog) -> None:
    """Route uncaught exceptions to a log file and a dialog (KeyboardInterrupt keeps its default)."""
    previous = sys.excepthook

    def handle(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, error, tb)
            return
        try:
            path = write_crash_log(kind, error, tb)
        except OSError:
            previous(kind, error, tb)
            return
        traceback.print_exception(kind, error, tb)
        notify(path, f"{kind.__name__}: {error}")

    sys.excepthook = handle
