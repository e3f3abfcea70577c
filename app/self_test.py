"""``moebius-studio --self-test``: prove that an installed (or frozen) app really works, then exit.

Installers are built on CI machines nobody looks at, so the bundle has to check itself: it opens the main
window with the bundled sample photo and its mask, runs one inpaint through the window's own inference thread
with each engine, checks the results and prints a short report. Exit status 0 means every check passed.

- The classic engine always runs (it needs no weights).
- The Moebius engine runs with a tiny random-weight model: the one shipped inside the test build of a bundle
  (``selftest_model`` next to the bundled resources), or the folder given with ``--self-test-model``. Without
  either it is reported as skipped, which a build script can refuse (``moebius: ok`` is the line to look for).
- Everything the run writes (settings, window state, logs) goes to a temporary home folder, so a self-test on
  a user's machine leaves their settings alone.

Like the rest of ``app/``, this module imports no torch at module level: the engines load it in the worker.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QCoreApplication, QEventLoop
from PySide6.QtWidgets import QApplication, QWidget

import resources

if TYPE_CHECKING:
    from app.main_window import MainWindow

# The folder name of the test build's tiny model inside a bundle (see packaging/moebius-studio.spec).
BUNDLED_MODEL_FOLDER = "selftest_model"
JOB_TIMEOUT_S = 600.0  # the first Moebius job imports torch and diffusers: slow on a cold disk
WINDOW_TIMEOUT_S = 30.0
WINDOW_SIZE = (1280, 800)


class SelfTestError(AssertionError):
    """A check failed; the message says which and what was seen."""


@dataclass
class Report:
    """The lines printed at the end, one per check."""

    lines: list[str] = field(default_factory=list)
    failed: bool = False

    def ok(self, name: str, detail: str) -> None:
        self.lines.append(f"{name}: ok ({detail})")

    def skip(self, name: str, why: str) -> None:
        self.lines.append(f"{name}: skipped ({why})")

    def fail(self, name: str, why: str) -> None:
        self.lines.append(f"{name}: FAILED ({why})")
        self.failed = True

    def text(self) -> str:
        verdict = "FAILED" if self.failed else "passed"
        return "".join(f"self-test: {line}\n" for line in [*self.lines, verdict])

    def print(self, copy_to: Path | None = None) -> None:
        """Print the report; ``copy_to`` also gets it (a windowed Windows program has no stdout to read)."""
        print(self.text(), end="", flush=True)
        if copy_to is not None:
            copy_to.parent.mkdir(parents=True, exist_ok=True)
            copy_to.write_text(self.text(), encoding="utf-8")


def bundle_root() -> Path | None:
    """The folder a PyInstaller bundle unpacked its data to, or ``None`` when not frozen."""
    meipass = getattr(sys, "_MEIPASS", None)
    return Path(meipass) if getattr(sys, "frozen", False) and meipass else None


def default_test_model() -> Path | None:
    """The tiny model shipped in a test build, if this is one."""
    root = bundle_root()
    if root is None:
        return None
    folder = root / BUNDLED_MODEL_FOLDER
    return folder if folder.is_dir() else None


def isolate_home() -> Path:
    """Point settings, logs and window state at a fresh temporary folder (the user's stay untouched)."""
    home = Path(tempfile.mkdtemp(prefix="moebius-self-test-"))
    os.environ["MOEBIUS_STUDIO_HOME"] = str(home)
    return home


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Run the event loop until ``condition()`` holds; raise :class:`SelfTestError` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SelfTestError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)


def check_result(before: np.ndarray, after: np.ndarray, mask: np.ndarray) -> str:
    """The promise every engine makes: pixels outside the mask are bit-identical, the masked area is filled."""
    if after.shape != before.shape or after.dtype != before.dtype:
        raise SelfTestError(f"result is {after.shape} {after.dtype}, photo is {before.shape} {before.dtype}")
    from core.photo.mask import fill_region

    inside = mask >= 128
    if not inside.any():
        raise SelfTestError("the sample mask is empty")
    differs = np.any(after != before, axis=2)
    # A soft edge may change too (blended by its weight); nothing outside the region the mask selects may.
    outside_changed = int(np.count_nonzero(differs & ~fill_region(mask)))
    if outside_changed:
        raise SelfTestError(f"{outside_changed} pixels outside the mask changed")
    inside_changed = int(np.count_nonzero(differs & inside))
    # A fill that touched only a handful of pixels is as broken as none: ask for at least half of the hole.
    if inside_changed < inside.sum() // 2:
        raise SelfTestError(f"only {inside_changed} of {int(inside.sum())} masked pixels changed")
    return f"{inside_changed} of {int(inside.sum())} masked px changed, 0 unmasked px changed"


def run_engine(window: MainWindow, engine: str) -> str:
    """Run one inpaint of the open photo's mask through the window and its worker thread; check the result."""
    combo = window.panel.engine
    index = combo.findData(engine)
    if index < 0:
        raise SelfTestError(f"the engine list has no {engine!r}")
    combo.setCurrentIndex(index)
    if window.panel.settings.engine != engine:
        raise SelfTestError(f"choosing {engine!r} left the settings at {window.panel.settings.engine!r}")
    before = window.current_pixels
    mask = window.canvas.mask_array.copy()
    assert before is not None
    began = time.perf_counter()
    job = window.run_inpaint()
    if job is None:
        raise SelfTestError(f"the window did not start a job: {window.message.text()!r}")
    wait_until(lambda: window.job is None, JOB_TIMEOUT_S, f"the {engine} job")
    seconds = time.perf_counter() - began
    result = window.pending_result
    if result is None:
        raise SelfTestError(f"no result to review; the window says {window.message.text()!r}")
    if result.engine != engine:
        raise SelfTestError(f"asked for {engine!r}, the result came from {result.engine!r}")
    detail = check_result(before, result.image, mask)
    return f"{seconds:.1f} s, {detail}"


def save_screenshot(window: QWidget, target: Path) -> str:
    """Grab the window as drawn and save it; a blank grab (one flat colour) counts as a failure."""
    image = window.grab().toImage()
    if image.isNull() or image.width() < 100 or image.height() < 100:
        raise SelfTestError(f"the window grab is {image.width()}×{image.height()}")
    # Sample a grid of pixels: a window that shows a photo, panels and text has many distinct colours.
    colours = {image.pixel(x, y) for x in range(0, image.width(), 16) for y in range(0, image.height(), 16)}
    if len(colours) < 16:
        raise SelfTestError(f"the window grab looks blank ({len(colours)} distinct colours)")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(target)):  # the format follows the suffix (.png)
        raise SelfTestError(f"could not write {target}")
    return f"{target} ({image.width()}×{image.height()}, {len(colours)} colours sampled)"


def check_jpeg_block_copy(folder: Path) -> str:
    """Write a JPEG back with one changed patch: every 16×16 unit away from it must keep its exact pixels.

    This proves the bundle can load jpeglib's libjpeg (it is loaded with ctypes, which a freezer cannot see).
    """
    from PIL import Image

    from core.photo.read import read_image
    from core.photo.write import write_image

    rng = np.random.default_rng(3)
    source, target = folder / "self-test.jpg", folder / "self-test_out.jpg"
    smooth = np.cumsum(rng.integers(-3, 4, (96, 128, 3)), axis=1).clip(-100, 100) + 128
    Image.fromarray(smooth.astype(np.uint8)).save(source, quality=90)
    photo = read_image(source)
    pixels = photo.pixels.copy()
    pixels[40:56, 48:64] = 255 - pixels[40:56, 48:64]
    notes: list[str] = []
    write_image(target, pixels, like=photo, notes=notes)
    if notes:
        raise SelfTestError(" ".join(notes))
    after = read_image(target).pixels
    away = np.ones(pixels.shape[:2], bool)
    away[24:72, 40:72] = False  # the changed units, and a margin: chroma is smoothed across unit borders
    if not np.array_equal(after[away], photo.pixels[away]):
        raise SelfTestError("pixels away from the changed blocks moved")
    return f"{away.mean():.0%} of a JPEG kept bit for bit around a changed patch"


def check_lazy_formats(folder: Path) -> str:
    """Round-trip an AVIF photo and load LibRaw: both come from libraries loaded only when such a file is used.

    Pillow's AVIF plugin and rawpy's LibRaw are native libraries a freezer can leave behind unnoticed.
    """
    import importlib

    from core.photo.read import read_image
    from core.photo.write import write_image

    rng = np.random.default_rng(5)
    pixels = np.cumsum(rng.integers(-2, 3, (64, 96, 3)), axis=1).clip(-60, 60).astype(np.int16) + 128
    source = folder / "self-test.avif"
    write_image(source, pixels.astype(np.uint8), quality=95)
    back = read_image(source).pixels
    if back.shape != pixels.shape or np.abs(back.astype(np.int16) - pixels).mean() > 3:
        raise SelfTestError("an AVIF photo did not come back as written")
    rawpy = importlib.import_module("rawpy")  # ImportError: the bundle lost RAW support
    libraw = ".".join(str(part) for part in rawpy.libraw_version)
    return f"AVIF written and read back; LibRaw {libraw} loads for RAW files"


def run_self_test(app: QApplication, screenshot: Path | None = None, model_dir: Path | None = None) -> int:
    """Run every check with the window, print the report and return the exit status (0: all passed)."""
    report = Report()
    report_copy = screenshot.with_suffix(".txt") if screenshot is not None else None
    model = model_dir if model_dir is not None else default_test_model()
    if model is not None and not model.is_dir():
        report.fail("moebius", f"test model folder {model} does not exist")
        report.print(report_copy)
        return 1
    home = isolate_home()
    if model is not None:
        os.environ["MOEBIUS_STUDIO_MODELS"] = str(model.resolve())
    else:
        os.environ.pop("MOEBIUS_STUDIO_MODELS", None)  # a user's real model would make the run slow
    frozen = "frozen bundle" if bundle_root() is not None else "source"
    report.lines.append(f"run: {frozen}, Qt platform {app.platformName()}, home {home}")
    print("self-test: starting", flush=True)  # at once, so that a hang shows it got this far

    from core.job.settings import JobSettings
    from core.job.settings_file import save_settings

    # Few steps and a fixed seed: this checks that the stack works, not how good the fill is.
    save_settings(JobSettings(engine="classic", steps=3, seed=0))
    from app.main_window import MainWindow

    window = MainWindow()
    try:
        window.resize(*WINDOW_SIZE)
        window.show()
        try:
            wait_until(
                lambda: window.windowHandle() is not None and window.windowHandle().isExposed(),
                WINDOW_TIMEOUT_S,
                "the window to be shown",
            )
            if not window.open_image(resources.SAMPLE_PHOTO, resources.SAMPLE_MASK):
                raise SelfTestError(f"could not open the sample: {window.message.text()!r}")
            wait_until(lambda: not window.loading, WINDOW_TIMEOUT_S, "the sample photo to load")
            photo = window.current_pixels
            if window.photo_path != resources.SAMPLE_PHOTO or photo is None:
                raise SelfTestError(f"the window shows {window.photo_path}, not the sample photo")
            if not window.canvas.mask_array.any():
                raise SelfTestError("the sample's mask did not load")
            if app.windowIcon().isNull():
                raise SelfTestError(f"the app icon {resources.ICON_PNG} did not load")
            title = window.windowTitle().replace("[*]", "")  # Qt's placeholder of the unsaved-changes mark
            report.ok(
                "window",
                f"{title!r} shown at {window.width()}×{window.height()} with its icon, "
                f"{window.photo_path.name} {window.size_label.text()}",
            )
        except SelfTestError as error:
            report.fail("window", str(error))
            report.print(report_copy)
            return 1

        # Moebius first, classic last: the screenshot then shows the classic fill under review, which looks
        # like a real result (the tiny model's random weights paint noise).
        if model is None:
            report.skip("moebius", "no test model: not a test build and no --self-test-model")
        else:
            _check(report, "moebius", lambda: run_engine(window, "moebius"))
            window.discard_result()
        _check(report, "classic", lambda: run_engine(window, "classic"))
        _check(report, "jpeg", lambda: check_jpeg_block_copy(home))
        _check(report, "formats", lambda: check_lazy_formats(home))
        if screenshot is not None:
            QCoreApplication.processEvents()
            _check(report, "screenshot", lambda: save_screenshot(window, screenshot))
    finally:
        window.discard_result()  # nothing unsaved: closing must not ask
        window.shutdown()
        window.hide()
    report.print(report_copy)
    if report.failed:
        return 1
    shutil.rmtree(home, ignore_errors=True)  # kept after a failure: logs and settings show what happened
    return 0


def _check(report: Report, name: str, check: Callable[[], str]) -> None:
    try:
        report.ok(name, check())
    except SelfTestError as error:
        report.fail(name, str(error))
    except Exception as error:  # a crash in a check is a failed check, reported with the rest
        report.fail(name, repr(error))
