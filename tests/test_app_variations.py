"""Variations: one click makes N results with different seeds in one job on the loaded model, each into the
history as it comes; the job says which one it makes, can be cancelled, and keeps what it made."""

from __future__ import annotations

from pathlib import Path

from fake_engine import FakeEngine, colour_of_seed, seed_colour
from pytestqt.qtbot import QtBot
from test_app_editor import make_window, open_photo, stroke

from app.main_window import MainWindow
from app.settings_panel import SettingsPanel
from app.window_store import window_settings
from app.worker import variation_requests
from core.job.options import VARIATIONS
from core.job.request import InpaintRequest
from core.job.settings import JobSettings


def moebius_window(qtbot: QtBot, engine: FakeEngine) -> MainWindow:
    window = make_window(qtbot, engine)
    window.panel.engine.setCurrentIndex(window.panel.engine.findData("moebius"))
    window.panel.steps.setValue(3)
    return window


def test_three_variations_in_one_job_on_one_loaded_model(qtbot: QtBot, tmp_path: Path) -> None:
    engine = FakeEngine(seed_colour)
    window = moebius_window(qtbot, engine)
    open_photo(window, tmp_path)
    stroke(qtbot, window, [(150, 150), (250, 150)])
    assert window.panel.variations == VARIATIONS.default == 3
    assert window.review.bar.variations_button.text() == "3 Variations"
    engine.hold(call=2, step=2)
    job = window.run_variations()
    assert job is not None and job.variations == 3
    qtbot.waitUntil(engine.held.is_set)
    qtbot.waitUntil(lambda: "Variation 2 of 3" in window.progress.format())
    assert "Variation 2 of 3 · Step 2/3" in window.review.bar.detail.text()
    # The first result is under review already, while the second is being made.
    assert window.pending_result is not None and len(window.document.history) == 1
    assert not window.commands.accept.isEnabled()
    engine.release()
    qtbot.waitUntil(lambda: window.job is None and len(window.document.history) == 3)

    seeds = [entry.seed for entry in window.document.history]
    assert len(set(seeds)) == 3 and all(seed is not None and 0 <= seed < 2**31 for seed in seeds)
    assert [request.settings.seed for request in engine.requests] == seeds
    assert len(engine.factory_calls) == 1  # the model loaded once for all three
    assert window.review.strip.count() == 3
    assert window.pending_result is not None and window.pending_result.seed == seeds[0]  # still the first
    assert "3 variations done" in window.statusBar().currentMessage()
    window.review.review(window.document.history.entries[2])
    window.accept_result()
    assert tuple(window.current_pixels[150, 200]) == colour_of_seed(seeds[2])  # type: ignore[index]
    window.document.mark_clean()
    window.shutdown()


def test_cancel_keeps_the_variations_already_made(qtbot: QtBot, tmp_path: Path) -> None:
    engine = FakeEngine(seed_colour)
    window = moebius_window(qtbot, engine)
    open_photo(window, tmp_path)
    stroke(qtbot, window, [(150, 150), (250, 150)])
    engine.hold(call=2, step=1)
    window.run_variations()
    qtbot.waitUntil(engine.held.is_set)
    window.cancel_run()
    qtbot.waitUntil(lambda: window.job is None)
    assert len(window.document.history) == 1 and len(engine.requests) == 2
    assert "Cancelled" in window.statusBar().currentMessage() and "1 result" in window.statusBar().currentMessage()
    assert window.review.bar.state == "reviewing" and not window.progress.isVisible()
    window.shutdown()


def test_the_number_of_variations_is_a_declared_setting_kept_between_launches(qtbot: QtBot) -> None:
    panel = SettingsPanel()
    qtbot.addWidget(panel)
    spin = panel.variations_spin
    assert (spin.minimum(), spin.maximum(), spin.value()) == (VARIATIONS.minimum, VARIATIONS.maximum, 3)
    assert spin.toolTip().startswith("How many results one click of Variations makes")
    spin.setValue(5)
    assert int(str(window_settings().value("variations"))) == 5
    again = SettingsPanel()
    qtbot.addWidget(again)
    assert again.variations == 5
    window_settings().setValue("variations", "99")  # damaged: the default, never a failure
    damaged = SettingsPanel()
    qtbot.addWidget(damaged)
    assert damaged.variations == 3


def test_each_variation_gets_its_own_fresh_seed() -> None:
    import numpy as np

    request = InpaintRequest(np.zeros((4, 4, 3), np.uint8), np.full((4, 4), 255, np.uint8), JobSettings(seed=7))
    assert variation_requests(request, 1) == [request]  # one run keeps the panel's seed
    many = variation_requests(request, 8)
    seeds = [r.settings.seed for r in many]
    assert len(set(seeds)) == 8  # distinct: two equal seeds would give one picture twice
    assert all(r.image is request.image and r.mask is request.mask for r in many)  # no copies of the photo
