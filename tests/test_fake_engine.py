"""The shared fake engine does what the app tests rely on: it fills, records, holds the chosen call until it is
released or cancelled, reports previews with their place, and fails when told to."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from fake_engine import FILL, PREVIEW, REGION, FakeEngine, colour_of_seed, mean_colour, seed_colour

from core.common.cancel import CancelToken
from core.common.errors import CancelledError, OutOfMemoryError
from core.common.progress import ProgressEvent
from core.inpaint.result import InpaintResult
from core.job.request import InpaintRequest
from core.job.settings import JobSettings


def request(seed: int | None = 5, steps: int = 3) -> InpaintRequest:
    image = np.full((40, 60, 3), 90, np.uint8)
    image[:, :30] = 30
    mask = np.zeros((40, 60), np.uint8)
    mask[10:20, 20:40] = 255
    return InpaintRequest(image, mask, JobSettings(steps=steps, seed=seed))


def in_thread(engine: FakeEngine, job: InpaintRequest, cancel: CancelToken) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(engine.inpaint(job, None, cancel))
        except Exception as error:  # noqa: BLE001 - the test looks at what came out
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_fills_the_mask_and_records_the_request() -> None:
    engine = FakeEngine()
    job = request()
    events: list[ProgressEvent] = []
    result = engine.inpaint(job, events.append)
    assert engine.requests == [job]
    assert np.all(result.image[job.mask >= 128] == FILL)
    np.testing.assert_array_equal(result.image[job.mask < 128], job.image[job.mask < 128])
    assert [(e.step, e.total) for e in events] == [(1, 3), (2, 3), (3, 3)] and result.seed == 5
    assert result.plan is None and events[0].preview is None


def test_colours_by_seed_and_by_surroundings() -> None:
    assert colour_of_seed(1) != colour_of_seed(2)
    seeded = FakeEngine(seed_colour).inpaint(request(seed=None))
    assert seeded.seed == 4242 and tuple(seeded.image[15, 25]) == colour_of_seed(None)
    job = request()
    mean = mean_colour(job, 0)
    assert FakeEngine(mean_colour).inpaint(job).image[15, 25].tolist() == list(mean) and 30 < mean[0] < 90


def test_previews_carry_their_region_and_plans_come_with_the_result() -> None:
    events: list[ProgressEvent] = []
    result = FakeEngine(previews=True, plan=True).inpaint(request(), events.append)
    assert all(e.region == REGION and e.preview is not None for e in events)
    assert events[0].preview is not None and tuple(events[0].preview[0, 0]) == PREVIEW
    assert result.plan is not None and result.plan.windows


def test_holds_only_the_chosen_call_until_released() -> None:
    engine = FakeEngine()
    engine.hold(call=2, step=2)
    assert isinstance(engine.inpaint(request()), InpaintResult)  # the first call is not held
    thread, outcome = in_thread(engine, request(), CancelToken())
    assert engine.held.wait(5)
    thread.join(0.1)
    assert thread.is_alive() and not outcome
    engine.release()
    thread.join(5)
    assert isinstance(outcome[0], InpaintResult)


def test_a_cancel_ends_a_held_call() -> None:
    engine = FakeEngine()
    engine.hold()
    cancel = CancelToken()
    thread, outcome = in_thread(engine, request(), cancel)
    assert engine.held.wait(5)
    cancel.cancel()
    thread.join(5)
    assert isinstance(outcome[0], CancelledError)


def test_fails_when_told_to() -> None:
    engine = FakeEngine()
    engine.failure = OutOfMemoryError("The job did not fit in memory.")
    with pytest.raises(OutOfMemoryError):
        engine.inpaint(request())
    assert len(engine.requests) == 1
    factory = engine.factory()
    settings = JobSettings(device="cpu", precision="float32", model_variant="ft_ffhq")
    assert factory("moebius", settings, lambda event: None) is engine
    assert engine.factory_calls == [("moebius", "cpu", "float32")] and engine.factory_settings == [settings]
