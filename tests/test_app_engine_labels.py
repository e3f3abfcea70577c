"""A classic-engine result says what ran: no steps or guidance it never used, no seed to vary, and the settings
and buttons that do not apply to the engine that will run are greyed out (``auto`` included)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fake_engine import FakeEngine
from pytestqt.qtbot import QtBot
from test_app_editor import make_window, open_photo, stroke, wait_for_result

from app.batch.inputs import settings_line
from app.editor.history import HistoryEntry
from core.common.cancel import CancelToken
from core.common.progress import ProgressCallback
from core.inpaint.result import InpaintResult
from core.job.request import InpaintRequest
from core.job.settings import JobSettings


class ClassicStandIn(FakeEngine):
    """Reports itself as the classic fill, which has no seed (a real classic result's seed is ``None``)."""

    name = "classic"

    def inpaint(
        self, request: InpaintRequest, progress: ProgressCallback | None = None, cancel: CancelToken | None = None
    ) -> InpaintResult:
        result = super().inpaint(request, progress, cancel)
        result.seed = None
        return result


def classic_result(photo: np.ndarray, mask: np.ndarray) -> InpaintResult:
    image = photo.copy()
    image[mask >= 128] = (1, 2, 3)
    return InpaintResult(image, None, "classic", {"total": 0.4})


def test_a_classic_result_is_described_by_what_ran() -> None:
    photo = np.zeros((60, 80, 3), np.uint8)
    mask = np.zeros((60, 80), np.uint8)
    mask[10:30, 10:40] = 255
    settings = JobSettings(steps=20, guidance=2.5, grain_match=True)
    entry = HistoryEntry.from_result(photo, mask, classic_result(photo, mask), settings)
    for text in (entry.description, entry.caption):
        assert "steps" not in text and "guidance" not in text and "seed" not in text
    assert entry.description == "Classic (built-in) · classic fill · grain · 0.4 s"
    assert entry.caption == "Classic"
    moebius = InpaintResult(classic_result(photo, mask).image, 7, "moebius", {"total": 12.0})
    described = HistoryEntry.from_result(photo, mask, moebius, settings).description
    assert described == "Moebius (AI) · seed 7 · 20 steps · guidance 2.5 · grain · 12.0 s"


def test_without_weights_auto_greys_out_what_the_classic_fill_does_not_use(qtbot: QtBot) -> None:
    window = make_window(qtbot, FakeEngine())
    panel = window.panel
    assert panel.settings.engine == "auto" and panel.engine_name == "classic"  # no weights in a test's home
    for widget in (panel.steps, panel.guidance, panel.seed, panel.random_seed, panel.variations_spin):
        assert not widget.isEnabled()
        assert "does not use this setting" in widget.toolTip()
    assert panel.context_margin.isEnabled()
    panel.engine.setCurrentIndex(panel.engine.findData("moebius"))
    for widget in (panel.steps, panel.guidance, panel.seed, panel.random_seed, panel.variations_spin):
        assert widget.isEnabled() and "does not use" not in widget.toolTip()
    window.shutdown()


def test_another_seed_and_variations_are_off_for_a_classic_result(qtbot: QtBot, tmp_path: Path) -> None:
    engine = ClassicStandIn()
    window = make_window(qtbot, engine)
    open_photo(window, tmp_path)
    stroke(qtbot, window, [(150, 150), (250, 150)])
    window.run_inpaint()
    wait_for_result(qtbot, window)
    bar = window.review.bar
    assert bar.label.text().startswith("Classic (built-in) · classic fill")
    assert "steps" not in bar.label.text() and "seed" not in bar.label.text()
    assert not bar.again_button.isEnabled() and not window.commands.again.isEnabled()
    assert "same picture" in bar.again_button.toolTip()
    assert window.run_again() is None and len(engine.requests) == 1  # asked anyway, it runs nothing
    window.discard_result()
    assert not window.commands.variations.isEnabled() and not bar.variations_button.isEnabled()
    assert window.run_inpaint() is not None  # a plain run still works
    wait_for_result(qtbot, window)
    window.document.mark_clean()
    window.shutdown()


def test_the_batch_settings_line_names_only_what_the_engine_uses() -> None:
    settings = JobSettings(steps=20, guidance=2.5, seed=0)
    assert settings_line(settings, "classic") == "Automatic: Classic (built-in)"
    assert (
        settings_line(settings, "moebius")
        == "Automatic: Moebius (AI) · 20 steps · guidance 2.5 · seed 0 · colour match"
    )
    assert (
        settings_line(settings.replace(engine="classic", grain_match=True), None) == "Classic (built-in) · grain match"
    )
