"""How long the next run will take, said before the user commits to it.

On a CPU a 20-step Moebius run of a large mask takes minutes, so the review bar says what to expect for this
mask on this device (``≈ 3 min on this CPU``) and, where it saves real time, what fewer steps would take
(``· 10 steps: ≈ 1.5 min``, with a button that sets them). The numbers come from
:mod:`core.inpaint.estimate`, asked in the inference thread (finding the device may import torch; planning a
50 MP mask takes tens of milliseconds): :class:`EstimateView` asks a moment after the mask or the settings
stop changing, and again after every run, whose time the worker has recorded by then, so the estimate
learns from this computer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer

from app.editor.document import EditorDocument
from app.editor.results_panel import ReviewBar
from app.worker import EstimateAnswer, InferenceService
from core.job.engines import ENGINES
from core.job.settings import JobSettings

ASK_DELAY_MS = 350  # after the last change: a stroke or a spin of the steps box asks once
OFFER_FEWER_FROM_S = 45.0  # a run shorter than this is not worth fewer steps
FEWER_STEPS_FLOOR = 10  # fewer steps than this lose too much detail to suggest
DEVICE_NAMES = {
    "CPU": "this CPU",
    "CUDA": "this GPU",
    "ROCm": "this GPU",
    "MPS": "this Mac's GPU",
    "Core ML": "the Neural Engine",
}


def duration(seconds: float) -> str:
    """A duration the way a person says it: ``40 s``, ``1.5 min``, ``12 min``, ``1.2 h``."""
    if seconds < 1:
        return "1 s"
    if seconds < 60:
        return f"{round(seconds)} s"
    minutes = seconds / 60
    if minutes < 10:
        return f"{minutes:.1f}".rstrip("0").rstrip(".") + " min"
    if minutes < 90:
        return f"{round(minutes)} min"
    return f"{minutes / 60:.1f}".rstrip("0").rstrip(".") + " h"


def fewer_steps(steps: int) -> int | None:
    """The smaller number of steps worth offering instead of ``steps`` (half, not under the floor), or ``None``."""
    fewer = max(FEWER_STEPS_FLOOR, steps // 2)
    return fewer if fewer <= steps * 3 // 4 else None


def estimate_text(answer: EstimateAnswer) -> tuple[str, int | None, str]:
    """The line, the fewer steps worth a button (or ``None``) and the tooltip for an answer of the worker.

    Fewer steps are offered only where they matter: when the run takes at least :data:`OFFER_FEWER_FROM_S`.
    """
    estimate: Any = answer.estimate
    where = DEVICE_NAMES.get(answer.backend, answer.backend)
    text = f"≈ {duration(estimate.seconds)} on {where}"
    offer = None
    fewer: Any = answer.fewer
    if fewer is not None and answer.fewer_steps is not None and estimate.seconds >= OFFER_FEWER_FROM_S:
        text += f" · {answer.fewer_steps} steps: ≈ {duration(fewer.seconds)}"
        offer = answer.fewer_steps
    basis = "timed on this computer" if estimate.measured else "a first guess until a run here is timed"
    windows = f"{estimate.windows} window{'s' if estimate.windows != 1 else ''}"
    tip = f"Expected time of the next run: {windows} of {estimate.steps_run} steps each ({basis})."
    return text, offer, tip


class EstimateView(QObject):
    """Keeps the review bar's estimate up to date with the mask and the settings.

    Args:
        document: the photo and its mask.
        service: the inference service that answers (in its thread).
        settings: the settings panel's current settings.
        engine: the engine a run would use now (``auto`` resolved).
        bar: the review bar that shows the estimate.
    """

    def __init__(
        self,
        document: EditorDocument,
        service: InferenceService,
        settings: Callable[[], JobSettings],
        engine: Callable[[], str],
        bar: ReviewBar,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.document = document
        self.service = service
        self.settings = settings
        self.engine = engine
        self.bar = bar
        self.asked = 0  # id of the question waiting for its answer (0: none)
        self.answers = 0  # answers shown (observable for tests)
        self._asked_for: tuple[object, ...] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(ASK_DELAY_MS)
        self._timer.timeout.connect(self.ask)
        document.changed.connect(self.schedule)
        service.worker.estimated.connect(self._answered)

    def schedule(self, *, again: bool = False) -> None:
        """Ask a moment from now (each call restarts the wait); ``again`` asks even if nothing changed."""
        if again:
            self._asked_for = None
        self._timer.start()

    def ask(self) -> bool:
        """Ask the worker now, unless the mask and settings are those asked for last; false when nothing was asked.

        Engines without denoising steps (the classic fill) take a moment whatever the mask: no estimate.
        """
        self._timer.stop()
        engine = self.engine()
        info = ENGINES.get(engine)
        document = self.document
        if info is None or not info.uses_steps or not document.has_mask:
            self.asked, self._asked_for = 0, None
            self.bar.set_estimate("", masked=document.has_mask)
            return False
        settings = self.settings().replace(engine=engine)
        subject = (document.mask_revision, settings)
        if subject == self._asked_for:
            return False
        self._asked_for = subject
        # A copy: the brush writes the mask in place while the worker plans it.
        self.asked = self.service.estimate(document.mask.copy(), settings, fewer_steps(settings.steps))
        return True

    def _answered(self, ask_id: int, answer: EstimateAnswer | None) -> None:
        if ask_id != self.asked:
            return
        self.asked = 0
        self.answers += 1
        if answer is None:
            self.bar.set_estimate("")
            return
        text, offer, tip = estimate_text(answer)
        self.bar.set_estimate(text, offer, tip)
