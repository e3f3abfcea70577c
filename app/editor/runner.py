"""The editor's inpaint job: at most one at a time, run in the app's inference thread.

The inference worker's signals carry every job's id (the batch window's too); :class:`JobRunner` passes on
only those of the editor's own job, so the window and the review never compare ids. A job of several
variations reports each result as it comes (:attr:`JobRunner.produced`) and ends once (:attr:`JobRunner.ended`).
:class:`StepPace` turns the denoising steps seen so far into a "time left" for the progress bar.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Signal

from app.worker import InferenceService, Job
from core.common.progress import ProgressEvent
from core.inpaint.result import InpaintResult
from core.job.request import InpaintRequest


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


def progress_text(event: ProgressEvent, time_left: str = "", variation: tuple[int, int] | None = None) -> str:
    """What the progress bar says for ``event``: ``Step 3/20 · ~9 s left``, ``Decode 1/1``, ``Load``, and
    ``Variation 2 of 3 · Step 3/20`` while a job of variations runs its second."""
    prefix = f"Variation {variation[0]} of {variation[1]} · " if variation is not None else ""
    if event.total <= 0:
        return prefix + event.stage.capitalize()
    label = "Step" if event.stage == "denoise" else event.stage.capitalize()
    return f"{prefix}{label} {event.step}/{event.total}{time_left}"


class JobRunner(QObject):
    """Submits the editor's job to the inference service and reports what becomes of it.

    Args:
        service: the app's inference service (shared with the batch window).
        parent: the owning QObject.
    """

    started = Signal(str)  # engine name
    progressed = Signal(object)  # ProgressEvent of the running job (none once it is cancelled)
    variation_started = Signal(int, int)  # variation number (from 1), variations of the job
    produced = Signal(object, object)  # the InpaintRequest run, its InpaintResult: one per variation
    finished = Signal()  # the job made every result it was asked for (sent after ended)
    failed = Signal(str)  # a message for the user (results made before the failure were produced)
    cancelled = Signal()
    ended = Signal()  # the job ended, whichever way (sent before finished, failed or cancelled)

    def __init__(self, service: InferenceService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.job: Job | None = None
        self.pace = StepPace()
        self.variation: tuple[int, int] | None = None  # (number, of how many) while variations run
        self.produced_count = 0  # results the running job has made so far
        worker = service.worker
        worker.started.connect(self._started)
        worker.progressed.connect(self._progressed)
        worker.variation_started.connect(self._variation_started)
        worker.produced.connect(self._produced)
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
        self.variation = None
        self.produced_count = 0
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

    def _variation_started(self, job_id: int, number: int, total: int) -> None:
        if self._own(job_id):
            self.variation = (number, total)
            self.pace.reset()
            self.variation_started.emit(number, total)

    def _produced(self, job_id: int, request: InpaintRequest, result: InpaintResult) -> None:
        if self._own(job_id):
            self.produced_count += 1
            self.produced.emit(request, result)

    def _finished(self, job_id: int, _result: InpaintResult) -> None:
        if self._end(job_id):
            self.finished.emit()

    def _failed(self, job_id: int, message: str) -> None:
        if self._end(job_id):
            self.failed.emit(message)

    def _cancelled(self, job_id: int) -> None:
        if self._end(job_id):
            self.cancelled.emit()
