"""The editor's inpaint job: at most one at a time, run in the app's inference thread.

The inference worker's signals carry every job's id (the batch window's too); :class:`JobRunner` passes on
only those of the editor's own job, so the window and the review never compare ids. :class:`StepPace` turns
the denoising steps seen so far into a "time left" for the progress bar.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Signal

from app.worker import InferenceService, Job
from core.common.progress import ProgressEvent
from core.inpaint.result import InpaintResult


class StepPace:
    """The pace of the denoising steps so far, as a time left."""

    def __init__(self) -> None:
        self._times: list[float] = []

    def reset(self) -> None:
        self._times = []

    def time_left(self, event: ProgressEvent, now: float | None = None) -> str:
        """`` · ~N s left`` after ``event`` (empty until there is a pace, and for other stages than denoising).

        Args:
            event: the progress event just received.
            now: its time on the monotonic clock (default: now).
        """
        if event.stage != "denoise":
            return ""
        now = time.monotonic() if now is None else now
        if event.step <= 1:
            self._times = [now]
            return ""
        self._times.append(now)
        pace = (now - self._times[0]) / (len(self._times) - 1)
        left = pace * (event.total - event.step)
        return f" · ~{left:.0f} s left" if left >= 1 else ""


def progress_text(event: ProgressEvent, time_left: str = "") -> str:
    """What the progress bar says for ``event``: ``Step 3/20 · ~9 s left``, ``Decode 1/1``, ``Load``."""
    if event.total <= 0:
        return event.stage.capitalize()
    label = "Step" if event.stage == "denoise" else event.stage.capitalize()
    return f"{label} {event.step}/{event.total}{time_left}"


class JobRunner(QObject):
    """Submits the editor's job to the inference service and reports what becomes of it.

    Args:
        service: the app's inference service (shared with the batch window).
        parent: the owning QObject.
    """

    started = Signal(str)  # engine name
    progressed = Signal(object)  # ProgressEvent of the running job (none once it is cancelled)
    finished = Signal(object, object)  # the InpaintRequest it ran, its InpaintResult
    failed = Signal(str)  # a message for the user
    cancelled = Signal()
    ended = Signal()  # the job ended, whichever way (sent before finished, failed or cancelled)

    def __init__(self, service: InferenceService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.job: Job | None = None
        self.pace = StepPace()
        worker = service.worker
        worker.started.connect(self._started)
        worker.progressed.connect(self._progressed)
        worker.finished.connect(self._finished)
        worker.failed.connect(self._failed)
        worker.cancelled.connect(self._cancelled)

    @property
    def running(self) -> bool:
        return self.job is not None

    def start(self, job: Job) -> Job:
        """Queue ``job`` in the inference thread; it becomes the editor's job."""
        self.job = self.service.submit(job)
        self.pace.reset()
        return job

    def cancel(self) -> bool:
        """Ask the running job to stop; the token is set here, on the GUI thread, and the job stops within a
        step (``cancelled`` follows). False when no job runs."""
        if self.job is None:
            return False
        self.job.cancel.cancel()
        return True

    def drop(self) -> None:
        """Cancel the job and forget it at once (a new photo): whatever it still reports is ignored."""
        if self.job is not None:
            self.job.cancel.cancel()
            self.job = None
            self.ended.emit()

    def _own(self, job_id: int) -> bool:
        return self.job is not None and job_id == self.job.id

    def _end(self, job_id: int) -> bool:
        if not self._own(job_id):
            return False
        self.job = None
        self.ended.emit()
        return True

    def _started(self, job_id: int, engine: str) -> None:
        if self._own(job_id):
            self.started.emit(engine)

    def _progressed(self, job_id: int, event: ProgressEvent) -> None:
        if self.job is not None and job_id == self.job.id and not self.job.cancel.cancelled:
            self.progressed.emit(event)

    def _finished(self, job_id: int, result: InpaintResult) -> None:
        job = self.job
        if job is not None and self._end(job_id):
            self.finished.emit(job.request, result)

    def _failed(self, job_id: int, message: str) -> None:
        if self._end(job_id):
            self.failed.emit(message)

    def _cancelled(self, job_id: int) -> None:
        if self._end(job_id):
            self.cancelled.emit()
