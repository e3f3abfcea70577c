"""Start Moebius Studio: ``moebius-studio [PHOTO] [--mask MASK]`` or ``python -m app``.

The window is shown before anything else happens; the photo (the bundled sample when none is given) is opened
from the event loop right after, and torch is only imported later, by the inference thread.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtGui import QFileOpenEvent, QIcon
from PySide6.QtWidgets import QApplication

import resources
from app.crash import install_crash_handler
from app.main_window import APP_TITLE, MainWindow
from backends.startup import prepare_torch_environment
from core import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moebius-studio",
        description="Remove objects from photos with the Moebius diffusion model, entirely on this computer.",
    )
    parser.add_argument("photo", nargs="?", type=Path, help="photo to open (default: the bundled sample photo)")
    parser.add_argument(
        "--mask", type=Path, help="mask to show over it (white = fill; default: PHOTO_mask.png if present)"
    )
    in_place = parser.add_mutually_exclusive_group()
    in_place.add_argument(
        "--edit-in-place",
        action="store_true",
        default=None,
        help="Save writes back into PHOTO (a copy handed over by Lightroom, Capture One or darktable); "
        "on by default for Lightroom's NAME-Edit.tif copies",
    )
    in_place.add_argument(
        "--no-edit-in-place",
        dest="edit_in_place",
        action="store_false",
        help="Save writes NAME_inpainted beside PHOTO even for a NAME-Edit.tif copy",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # Used by the installers' build scripts and CI: check that the (frozen) app works, print a report, exit.
    parser.add_argument("--self-test", action="store_true", help="run the built-in self-test and exit (0: passed)")
    parser.add_argument(
        "--screenshot", type=Path, help="with --self-test: save a picture of the window here (and the report as .txt)"
    )
    parser.add_argument(
        "--self-test-model", type=Path, help="with --self-test: a tiny Moebius model folder (default: the bundled one)"
    )
    return parser


def open_handed_over(
    window: MainWindow, path: Path, mask: Path | None = None, *, flag: bool | None = None
) -> bool:
    """Open ``path`` (and ``mask``) in ``window``, in edit-in-place mode when ``flag`` (``--edit-in-place``) or its
    name says so (:mod:`app.editor.edit_in_place`). Returns whether it was opened."""
    from app.editor.edit_in_place import edit_in_place_target, saved_mode

    window.document.edit_in_place = edit_in_place_target(path, flag=flag, mode=saved_mode())
    return window.open_image(path, mask)


class FileOpenHandler(QObject):
    """Opens the files the system hands to the running app (macOS's open-document events, e.g. from Lightroom's
    "Edit In" or Finder's "Open With"), recognising handed-over copies like the command line does."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.FileOpen and isinstance(event, QFileOpenEvent) and event.file():
            open_handed_over(self.window, Path(event.file()))
            return True
        return super().eventFilter(watched, event)


def main(argv: list[str] | None = None) -> int:
    """Run the GUI until its window closes; returns the exit status."""
    # Before anything can import torch: environment switches such as the MPS CPU fallback.
    prepare_torch_environment()
    arguments = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    parser.parse_known_args(arguments)  # --help and --version answer here, without needing a display
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        # Qt takes out the options it knows (-platform, -style, …) and leaves ours.
        app = QApplication([sys.argv[0] if sys.argv else "moebius-studio", *arguments])
        arguments = app.arguments()[1:]
    options = parser.parse_args(arguments)

    app.setApplicationName(APP_TITLE)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("moebius-studio")
    app.setWindowIcon(QIcon(str(resources.ICON_PNG)))
    if options.self_test:
        from app.self_test import run_self_test

        return run_self_test(app, options.screenshot, options.self_test_model)

    install_crash_handler()
    window = MainWindow()
    window.show()
    # However the event loop ends (window closed, app.quit(), logout), the worker threads stop first.
    app.aboutToQuit.connect(window.shutdown)
    app.installEventFilter(FileOpenHandler(window))
    if options.photo is not None:  # handed over on the command line, perhaps by another editor
        QTimer.singleShot(0, lambda: open_handed_over(window, options.photo, options.mask, flag=options.edit_in_place))
    else:
        QTimer.singleShot(0, lambda: window.open_image(resources.SAMPLE_PHOTO, options.mask))
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
