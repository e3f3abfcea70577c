"""The time a run will take, told before it starts: asked in the inference thread a moment after the mask or the
settings change, fewer steps offered where they save real time, and each run's time recorded so the next
estimate on this computer is measured."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from fake_engine import FakeEngine
from pytestqt.qtbot import QtBot
from test_app_editor import make_window, open_photo, stroke, wait_for_result

import core.inpaint.estimate as estimate_module
from app.editor.estimate_view import duration, estimate_text, fewer_steps
from app.main_window import MainWindow
from app.worker import EstimateAnswer, panel_request
from core.common.cancel import CancelToken
from core.common.progress import ProgressCallback
from core.inpaint.device import DeviceInfo, choose_for
from core.inpaint.estimate import Estimate, device_key
from core.inpaint.result import InpaintResult
from core.job.request import InpaintRequest

# Seconds per 512² window stage, as if measured on this computer before.
STAGES = {"step": 3.0, "encode": 2.0, "decode": 2.0, "overhead": 1.0}


def cpu_device() -> DeviceInfo:
    return choose_for(panel_request("auto", "auto"))


def remember_stage_times(key: str) -> None:
    path = estimate_module.timings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1, "devices": {key: {**STAGES, "runs": 4}}}))


class TimedModel(FakeEngine):
    """Reports itself as the Moebius engine on this computer's device, with the stage times a real run has."""

    name = "moebius"

    def __init__(self, device: DeviceInfo) -> None:
        super().__init__(plan=True)
        self.device = device

    def inpaint(
        self, request: InpaintRequest, progress: ProgressCallback | None = None, cancel: CancelToken | None = None
    ) -> InpaintResult:
        result = super().inpaint(request, progress, cancel)
        steps = request.settings.steps
        result.timings = {"model.encode": 4.0, "model.denoise": 2.0 * steps, "model.decode": 4.0, "total": 60.0}
        return result


@pytest.fixture
def moebius_editor(qtbot: QtBot) -> MainWindow:
    window = make_window(qtbot, FakeEngine())
    panel = window.panel
    panel.engine.setCurrentIndex(panel.engine.findData("moebius"))
    panel.steps.setValue(20)
    return window


def test_durations_and_the_fewer_steps_worth_offering() -> None:
    assert [duration(s) for s in (0.3, 40, 62, 90, 180, 725, 5400)] == [
        "1 s",
        "40 s",
        "1 min",
        "1.5 min",
        "3 min",
        "12 min",
        "1.5 h",
    ]
    assert (fewer_steps(20), fewer_steps(50), fewer_steps(12), fewer_steps(4)) == (10, 25, None, None)
    slow = Estimate(seconds=180, windows=2, steps_run=19, measured=True, device="cpu|X|float32/float32")
    quick = Estimate(seconds=90, windows=2, steps_run=9, measured=True, device="cpu|X|float32/float32")
    text, offer, tip = estimate_text(EstimateAnswer(slow, quick, 10, "CPU"))
    assert (text, offer) == ("≈ 3 min on this CPU · 10 steps: ≈ 1.5 min", 10)
    assert "2 windows of 19 steps" in tip and "timed on this computer" in tip
    short = Estimate(seconds=20, windows=1, steps_run=19, measured=False, device="cuda|GPU|float16/float32")
    text, offer, tip = estimate_text(EstimateAnswer(short, quick, 10, "CUDA"))
    assert (text, offer) == ("≈ 20 s on this GPU", None)  # fewer steps would save too little to offer
    assert "first guess" in tip


def test_the_estimate_is_asked_in_the_worker_and_offers_fewer_steps(
    moebius_editor: MainWindow, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    editor = moebius_editor
    remember_stage_times(device_key(cpu_device()))
    asked_in: list[int] = []
    real = estimate_module.estimate_job

    def recording(mask, settings, key):  # type: ignore[no-untyped-def]
        asked_in.append(threading.get_ident())
        return real(mask, settings, key)

    monkeypatch.setattr(estimate_module, "estimate_job", recording)
    open_photo(editor, tmp_path)
    bar = editor.review.bar
    assert "Paint over" in bar.label.text()  # no mask yet: nothing to estimate
    stroke(qtbot, editor, [(150, 150), (250, 150)])
    qtbot.waitUntil(lambda: "≈" in bar.label.text(), timeout=60_000)
    # One window: 19 of the 20 steps run (strength 0.99) at 3 s, plus encodes, decode and the rest: 62 s.
    assert bar.label.text() == "≈ 1 min on this CPU · 10 steps: ≈ 32 s"
    assert "timed on this computer" in bar.label.toolTip()
    assert asked_in and threading.get_ident() not in asked_in  # never in the GUI thread
    assert bar.fewer_button.isVisible() and bar.fewer_button.text() == "Use 10 steps"

    # A burst of changes asks once, after the last one.
    answers, calls = editor.estimates.answers, len(asked_in)
    for steps in (30, 40, 50):
        editor.panel.steps.setValue(steps)
    qtbot.waitUntil(lambda: editor.estimates.answers == answers + 1, timeout=30_000)
    qtbot.wait(600)
    assert editor.estimates.answers == answers + 1 and len(asked_in) == calls + 2  # the run and its 25 steps
    assert bar.label.text().endswith("25 steps: ≈ 1.3 min")

    bar.fewer_button.click()
    assert editor.panel.settings.steps == 25
    qtbot.waitUntil(lambda: "≈ 1.3 min on this CPU" in bar.label.text(), timeout=30_000)
    editor.shutdown()


def test_no_estimate_for_the_classic_fill(qtbot: QtBot, tmp_path: Path) -> None:
    window = make_window(qtbot, FakeEngine())
    assert window.panel.engine_name == "classic"
    open_photo(window, tmp_path)
    stroke(qtbot, window, [(150, 150), (250, 150)])
    assert not window.estimates.ask()
    assert "≈" not in window.review.bar.label.text() and not window.review.bar.fewer_button.isVisible()
    window.shutdown()


def test_a_run_records_its_time_and_the_next_estimate_is_measured(qtbot: QtBot, tmp_path: Path) -> None:
    device = cpu_device()
    key = device_key(device)
    engine = TimedModel(device)
    window = make_window(qtbot, engine)
    panel = window.panel
    panel.engine.setCurrentIndex(panel.engine.findData("moebius"))
    panel.steps.setValue(20)
    open_photo(window, tmp_path)
    stroke(qtbot, window, [(150, 150), (250, 150)])
    bar = window.review.bar
    qtbot.waitUntil(lambda: "≈" in bar.label.text(), timeout=60_000)
    assert "first guess" in bar.label.toolTip()
    assert not estimate_module.timings_file().exists()

    window.run_inpaint()
    wait_for_result(qtbot, window)
    recorded = json.loads(estimate_module.timings_file().read_text())["devices"][key]
    assert recorded["runs"] == 1 and recorded["step"] == pytest.approx(2.0 * 20 / 19)
    window.discard_result()
    qtbot.waitUntil(lambda: "timed on this computer" in bar.label.toolTip(), timeout=30_000)
    # One window of 19 steps at the measured 2.1 s, 4 s of encodes, 4 s of decode, 12 s of the rest.
    assert bar.label.text().startswith("≈ 1 min on this CPU")
    window.document.mark_clean()
    window.shutdown()
