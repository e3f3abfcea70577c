"""Running the editor's inpaint: one run, a fresh seed for the result under review, or several variations in
one job, and what the window shows while it runs and when each result arrives.

A job of variations runs one inpaint per freshly drawn seed on the same loaded model (see
:class:`app.worker.Job`); every result goes into the history as it comes, the first one under review at
once, so the user can look at it while the others are made. Cancel stops the one being made and keeps those
already made.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QObject

from app.editor.document import EditorDocument
from app.editor.history import engine_label, uses_seed
from app.editor.review import ReviewController
from app.editor.runner import JobRunner, progress_text
from app.editor.status_bar import EditorStatus
from app.settings_panel import SettingsPanel
from app.worker import InferenceService, Job
from core.common.progress import ProgressEvent
from core.inpaint.result import InpaintResult
from core.job.request import InpaintRequest

BATCH_BUSY = "A batch is running, so Inpaint waits until it ends; File → Batch… shows its progress."
EMPTY_MASK = "Paint over what should be removed first (the brush is B; [ and ] change its size)."


class FlowView(Protocol):
    """What the inpaint flow needs from the window."""

    def show_message(self, text: str) -> None: ...

    def show_status(self, text: str) -> None: ...

    def model_banner_shown(self) -> bool:
        """Whether the banner already says that the classic fill stands in for a missing model."""
        ...

    def update_actions(self) -> None: ...

    def hide_progress(self) -> None:
        """Hide the progress bar unless something else (a photo being decoded) still shows it."""
        ...


class InpaintFlow(QObject):
    """Starts the editor's jobs and shows their progress and results.

    Args:
        view: the window.
        document: the photo, its mask and its results.
        service: the app's inference service (a batch running in it makes an editor job wait).
        jobs: the editor's job runner.
        review: the review of results (the history strip, the bar, the live preview).
        panel: the settings panel (the settings, the number of variations).
        status: the status bar (the progress bar).
    """

    def __init__(
        self,
        view: FlowView,
        document: EditorDocument,
        service: InferenceService,
        jobs: JobRunner,
        review: ReviewController,
        panel: SettingsPanel,
        status: EditorStatus,
    ) -> None:
        super().__init__(review)
        self.view = view
        self.document = document
        self.service = service
        self.jobs = jobs
        self.review = review
        self.panel = panel
        self.status = status
        self.progress = status.progress
        self._reviewed_one = False  # whether a result of the running job went under review yet
        jobs.started.connect(lambda engine: view.show_status(f"Inpainting with {engine_label(engine)}…"))
        jobs.progressed.connect(self._progressed)
        jobs.variation_started.connect(self._variation_started)
        jobs.produced.connect(self._produced)
        jobs.ended.connect(self._ended)
        jobs.finished.connect(self._finished)
        jobs.failed.connect(self._failed)
        jobs.cancelled.connect(self._cancelled)

    def run(self, *, new_seed: bool = False, variations: int = 1) -> Job | None:
        """Queue an inpaint of the current mask (``variations`` results, each with a fresh seed when more than
        one); returns the job, or ``None`` when there is nothing to do."""
        pixels = self.document.pixels
        if pixels is None or self.jobs.running:
            return None
        if self.service.batch_running:
            self.view.show_message(BATCH_BUSY)  # never a job that waits unseen behind the whole batch
            return None
        if self.document.reviewed is not None:
            self.review.close()  # the result stays in the history
        mask = self.document.mask
        if not mask.any():
            self.view.show_message(EMPTY_MASK)
            return None
        self.view.show_message("")
        settings = self.panel.settings
        if new_seed:
            settings = settings.replace(seed=None)
        seeded = uses_seed(self.panel.engine_name)
        photo = self.document.photo
        profile = photo.icc_profile if photo is not None else None  # the model sees sRGB, the fill comes back
        request = InpaintRequest(pixels, mask.copy(), settings, profile=profile)
        job = Job(request, variations=variations if seeded else 1)
        self.jobs.start(job)
        self._reviewed_one = False
        self.progress.setRange(0, 0)
        self.progress.setFormat("Starting…")
        self.progress.show()
        self.review.bar.set_running(True, "Starting…")
        self.view.show_status("Inpainting…")
        self.view.update_actions()
        return job

    def run_again(self) -> Job | None:
        """Run the reviewed result's mask again with a fresh random seed; the result stays in the history."""
        entry = self.document.reviewed
        if entry is None or not uses_seed(entry.engine):  # the same picture again: nothing to try
            return None
        if self.service.batch_running:  # before the review closes: the result stays under review
            self.view.show_message(BATCH_BUSY)
            return None
        self.review.prepare_variation()
        return self.run(new_seed=True)

    def cancel(self) -> None:
        """Stop the running job within a step (results it made already stay)."""
        if self.jobs.cancel():
            self.progress.setFormat("Cancelling…")
            self.review.bar.set_running(True, "Cancelling…")
            self.view.show_status("Cancelling…")

    # -- what the job reports --------------------------------------------------------------------------------

    def _progressed(self, event: ProgressEvent) -> None:
        if event.total > 0:
            self.progress.setRange(0, event.total)
            self.progress.setValue(event.step)
        else:
            self.progress.setRange(0, 0)
        text = progress_text(event, self.jobs.pace.time_left(event), self.jobs.variation)
        self.progress.setFormat(text)
        self.review.bar.set_running(True, text)

    def _variation_started(self, number: int, total: int) -> None:
        text = f"Variation {number} of {total}"
        self.progress.setFormat(text)
        self.review.bar.set_running(True, text)

    def _produced(self, request: InpaintRequest, result: InpaintResult) -> None:
        history = self.document.history
        if not self._reviewed_one:
            if self.review.add_result(request, result) is None:
                return  # the photo changed while the job ran
            self._reviewed_one = True
        elif self.document.add_result(request, result) is not None:
            self.review.strip.rebuild(selected=self.document.reviewed)  # beside the one under review
        # The banner already says when the classic engine stands in for a missing model.
        banner = self.view.model_banner_shown()
        warnings = [w for w in result.warnings if not (banner and "not installed" in w)]
        if history.last_note:
            warnings.append(history.last_note)
        if warnings:
            self.view.show_message(" ".join(warnings))
        self.view.update_actions()

    def _ended(self) -> None:
        if not self.jobs.running:
            self.view.hide_progress()
            self.review.bar.set_running(False)
        self.view.update_actions()

    def _finished(self) -> None:
        made = self.jobs.produced_count
        if made > 1:
            self.view.show_status(f"{made} variations done: pick one in the strip, then accept or discard it.")
        else:
            self.view.show_status("Done: accept, discard or try another seed.")

    def _failed(self, message: str) -> None:
        self.view.show_message(message)
        self.view.show_status("Inpaint failed.")

    def _cancelled(self) -> None:
        made = self.jobs.produced_count
        kept = f" The {made} result{'s' if made != 1 else ''} made before are in the strip." if made else ""
        self.view.show_status(f"Cancelled.{kept}")


__all__ = ["BATCH_BUSY", "InpaintFlow"]
