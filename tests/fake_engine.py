"""One scriptable stand-in for an inpainting engine, shared by the app's tests (and usable by any other test).

It fills the mask with a colour, reporting a progress event per step, and does it on whatever thread calls
it (the app's inference thread, a batch runner, a test). What a test can ask of it:

- every request is recorded (:attr:`FakeEngine.requests`), in call order;
- the fill is one colour, a colour per seed (:func:`seed_colour`, so variations can be told apart) or the
  mean colour around the mask (:func:`mean_colour`, for screenshots that should look plausible);
- :meth:`FakeEngine.hold` stops a call (every call, or the N-th) at a chosen step until :meth:`release`,
  or until the job is cancelled; :attr:`FakeEngine.held` says that a call is waiting;
- progress events can carry a preview with its place in the photo (:data:`PREVIEW` over :data:`REGION`),
  like the real pipeline's live preview, and the result can carry a region plan;
- :attr:`FakeEngine.failure` is raised by the next calls, to check how a failed job is reported.

The engine factory the app and the batch worker take is ``(name, device, precision, progress) -> engine``;
:meth:`FakeEngine.factory` returns one that hands out this engine and records what it was asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from core.common.cancel import CancelToken
from core.common.progress import ProgressCallback, ProgressEvent
from core.inpaint.result import InpaintResult
from core.job.request import InpaintRequest
from core.job.settings import JobSettings

U8 = npt.NDArray[np.uint8]
Colour = tuple[int, int, int]

FILL: Colour = (250, 20, 200)
PREVIEW: Colour = (10, 200, 30)
REGION = (100, 100, 200, 100)  # left, top, width, height of the window the fake preview covers
RANDOM_SEED = 4242  # the seed a request without one is given (a real engine would draw one)
HOLD_POLL_S = 0.01


def seed_colour(request: InpaintRequest, seed: int) -> Colour:
    """A distinct fill colour per seed, so two runs of the same mask give results that can be told apart."""
    return colour_of_seed(seed)


def colour_of_seed(seed: int | None) -> Colour:
    """The colour :func:`seed_colour` fills with for ``seed`` (``None``: the random seed's)."""
    value = RANDOM_SEED if seed is None else seed
    return (value * 37 % 256, 255 - value % 200, (value * 11 + 60) % 256)


def mean_colour(request: InpaintRequest, seed: int) -> Colour:
    """The mean colour of the photo outside the mask: a fill that looks plausible in a screenshot."""
    outside = request.image[request.mask < 128]
    if outside.size == 0:
        return FILL
    red, green, blue = (int(v) for v in outside.mean(axis=0))
    return red, green, blue


Fill = Colour | Callable[[InpaintRequest, int], Colour]


class FakeEngine:
    """Fills the mask (``mask >= 128``) with :attr:`fill`; scriptable as the module docstring says.

    Args:
        fill: a colour, or ``(request, seed) -> colour`` such as :func:`seed_colour` or :func:`mean_colour`.
        previews: whether each progress event carries a preview (:data:`PREVIEW`) placed at :data:`REGION`.
        plan: whether the result carries the region plan of its mask (the editor outlines its windows).
    """

    name = "fake"

    def __init__(self, fill: Fill = FILL, *, previews: bool = False, plan: bool = False) -> None:
        self.fill = fill
        self.previews = previews
        self.plan = plan
        self.requests: list[InpaintRequest] = []
        self.factory_calls: list[tuple[str, str, str]] = []  # (engine name, device, precision) per load
        self.factory_settings: list[JobSettings] = []  # the job settings each load was given
        self.failure: Exception | None = None  # raised by every call while set
        self.held = threading.Event()  # set while a call waits at its hold
        self._release = threading.Event()
        self._release.set()
        self._hold_call: int | None = None  # 1-based call number to hold; None: every call
        self._hold_step = 0  # 0: no hold
        self._lock = threading.Lock()

    # -- scripting ---------------------------------------------------------------------------------------------

    def hold(self, *, call: int | None = None, step: int = 1) -> None:
        """Make calls wait after reporting ``step`` until :meth:`release` (or their job is cancelled).

        Args:
            call: hold only the call with this 1-based number (counting every call since the engine was made);
                ``None`` holds every call.
            step: the step after whose progress event the call waits.
        """
        self._hold_call, self._hold_step = call, step
        self.held.clear()
        self._release.clear()

    def release(self) -> None:
        """Let held calls go on, and stop holding new ones."""
        self._hold_step = 0
        self._release.set()

    def factory(self) -> Callable[[str, JobSettings, ProgressCallback], FakeEngine]:
        """An engine factory for :class:`app.worker.InferenceService` that always returns this engine."""

        def make(name: str, settings: JobSettings, progress: ProgressCallback) -> FakeEngine:
            self.factory_calls.append((name, settings.device, settings.precision))
            self.factory_settings.append(settings)
            return self

        return make

    # -- the engine ------------------------------------------------------------------------------------------

    def inpaint(
        self, request: InpaintRequest, progress: ProgressCallback | None = None, cancel: CancelToken | None = None
    ) -> InpaintResult:
        with self._lock:
            self.requests.append(request)
            call = len(self.requests)
        if self.failure is not None:
            raise self.failure
        seed = request.settings.seed if request.settings.seed is not None else RANDOM_SEED
        total = request.settings.steps
        for step in range(1, total + 1):
            if cancel is not None:
                cancel.raise_if_cancelled()
            if progress is not None:
                progress(self._event(step, total))
            if self._holds(call, step):
                self._wait(cancel)
        if cancel is not None:
            cancel.raise_if_cancelled()
        image = request.image.copy()
        colour = self.fill(request, seed) if callable(self.fill) else self.fill
        image[request.mask >= 128] = colour
        plan = None
        if self.plan:
            from core.inpaint.plan import plan_regions

            plan = plan_regions(request.mask, frame=512, context_margin=16)
        return InpaintResult(image, seed, self.name, {"total": 0.01}, plan=plan)

    def _event(self, step: int, total: int) -> ProgressEvent:
        if not self.previews:
            return ProgressEvent("denoise", step, total)
        preview = np.full((64, 128, 3), PREVIEW, np.uint8)
        return ProgressEvent("denoise", step, total, preview=preview, region=REGION)

    def _holds(self, call: int, step: int) -> bool:
        return self._hold_step == step and (self._hold_call is None or self._hold_call == call)

    def _wait(self, cancel: CancelToken | None) -> None:
        self.held.set()
        while not self._release.wait(HOLD_POLL_S):
            if cancel is not None and cancel.cancelled:
                break
        if cancel is not None:
            cancel.raise_if_cancelled()


__all__ = [
    "FILL",
    "PREVIEW",
    "RANDOM_SEED",
    "REGION",
    "FakeEngine",
    "colour_of_seed",
    "mean_colour",
    "seed_colour",
]
