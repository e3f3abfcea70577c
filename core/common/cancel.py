"""A thread-safe cancel token shared between the UI (or CLI) and a running job."""

from __future__ import annotations

import threading

from core.common.errors import CancelledError


class CancelToken:
    """Set once by whoever wants the job to stop; checked by the job between units of work.

    The GUI's Cancel button calls :meth:`cancel` directly from the GUI thread; the worker thread checks
    :meth:`raise_if_cancelled` after every denoising step, so a cancel takes effect within one step.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise CancelledError()
