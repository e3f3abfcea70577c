"""What every command prints and how it ends: exit statuses, error lines, the progress bar, Ctrl+C.

Shared by every command so they all report alike: one line on stderr for an error, never a traceback unless
``--debug`` asks for it, and the same exit statuses (0 done, 1 failed, 2 bad input or usage, 130 cancelled).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TextIO

from core.common.cancel import CancelToken
from core.common.errors import (
    CancelledError,
    DeviceError,
    ImageReadError,
    MaskError,
    ModelNotInstalledError,
    MoebiusError,
    OutputError,
)
from core.common.progress import ProgressEvent

PROG = "moebius-inpaint"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130

BAD_INPUT_ERRORS: tuple[type[MoebiusError], ...] = (
    ImageReadError,
    MaskError,
    OutputError,
    ModelNotInstalledError,
    DeviceError,
)
"""Errors caused by what the user gave the command; they exit with :data:`EXIT_BAD_INPUT`."""


def parse_arguments(parser: argparse.ArgumentParser, args: list[str]) -> argparse.Namespace | int:
    """``args`` parsed, or the exit status when argparse ended the command (a usage error it already printed:
    2; ``--help`` or ``--version``: 0), so that a command returns its status instead of exiting the process."""
    try:
        return parser.parse_args(args)
    except SystemExit as exit_request:
        return exit_request.code if isinstance(exit_request.code, int) else EXIT_BAD_INPUT


def run_reporting_errors(
    job: Callable[[CancelToken], int],
    *,
    label: str,
    debug: bool,
    cancelled: str,
    bad_input: tuple[type[MoebiusError], ...] = BAD_INPUT_ERRORS,
    before_message: Callable[[], None] | None = None,
) -> int:
    """Run a command's job with Ctrl+C wired to a cancel token, and turn every way it ends into an exit status.

    Shared by every command so they all report alike: one line on stderr, never a traceback unless asked.

    Args:
        job: the work; receives the cancel token and returns the exit status.
        label: what the error lines start with (``moebius-inpaint``, ``moebius-inpaint batch``, …).
        debug: print the traceback too (``--debug``).
        cancelled: the line printed after Ctrl+C, saying what was kept.
        bad_input: error types that mean the user's input was wrong (exit status 2 instead of 1).
        before_message: called before any message is printed (e.g. to end a progress line).
    """
    token = CancelToken()
    try:
        with _cancel_on_interrupt(token):
            return job(token)
    except (CancelledError, KeyboardInterrupt):
        if before_message is not None:
            before_message()
        print(cancelled, file=sys.stderr)
        return EXIT_CANCELLED
    except MoebiusError as error:
        if before_message is not None:
            before_message()
        if debug:
            traceback.print_exc()
        print(f"{label}: error: {error.user_message()}", file=sys.stderr)
        return EXIT_BAD_INPUT if isinstance(error, bad_input) else EXIT_FAILED
    except Exception as error:
        if before_message is not None:
            before_message()
        if debug:
            traceback.print_exc()
        hint = "" if debug else " (run with --debug for details)"
        print(f"{label}: error: unexpected {type(error).__name__}: {error}{hint}", file=sys.stderr)
        return EXIT_FAILED


def note(text: str) -> None:
    print(f"{PROG}: note: {text}", file=sys.stderr)


class ProgressBar:
    """A text progress bar for :class:`~core.common.progress.ProgressEvent` reports, written to a terminal or a log.

    On a terminal it redraws one line (``\\r``); elsewhere it prints a line when a stage starts or ends and at
    most every few seconds in between. Each line shows the stage, steps done and total, time since the bar
    was created and the estimated time left in the stage.

    Args:
        stream: where to write (the CLI uses stderr).
        enabled: ``False`` turns the bar off (``--quiet``).
        log_interval: seconds between lines when ``stream`` is not a terminal.
    """

    WIDTH = 24

    def __init__(self, stream: TextIO, *, enabled: bool = True, log_interval: float = 5.0) -> None:
        self.stream = stream
        self.enabled = enabled
        self.log_interval = log_interval
        self.is_terminal = stream.isatty()
        self.started = time.monotonic()
        self._stage: str | None = None
        self._stage_started = self.started
        self._last_line = 0.0
        self._drawn = 0

    def __call__(self, event: ProgressEvent) -> None:
        if not self.enabled:
            return
        # 1. Track when the current stage started, for its time estimate.
        now = time.monotonic()
        new_stage = event.stage != self._stage
        if new_stage:
            self._stage, self._stage_started = event.stage, now
        # 2. Compose the line.
        total = max(event.total, 1)
        done = min(max(event.step, 0), total)
        filled = round(self.WIDTH * done / total)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        line = f"{event.stage:<9} [{bar}] {done}/{total}  {_clock(now - self.started)}"
        if 0 < done < total:
            line += f"  ETA {_clock((now - self._stage_started) / done * (total - done))}"
        # 3. Redraw on a terminal; log occasionally elsewhere.
        if self.is_terminal:
            self.stream.write("\r" + line.ljust(self._drawn))
            self._drawn = len(line)
        elif new_stage or done == total or now - self._last_line >= self.log_interval:
            self.stream.write(line + "\n")
            self._last_line = now
        self.stream.flush()

    def close(self) -> None:
        """End the redrawn line so that what follows starts on a line of its own."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = 0


def _clock(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) for a duration in seconds."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@contextlib.contextmanager
def _cancel_on_interrupt(token: CancelToken) -> Iterator[None]:
    """While active, the first Ctrl+C sets ``token`` (the job stops at its next check); a second one stops
    at once. Only the main thread can install signal handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel()
        print("\nCancelling… (press Ctrl+C again to stop at once)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
