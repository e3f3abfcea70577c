"""The fast int8 mode in the GUI: the settings panel's precision list offers it with its label and says what it
trades, and choosing it is saved and reaches the job's device request as the panel's choice."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from app.settings_panel import SettingsPanel
from app.worker import panel_request
from core.job.settings_file import load_settings


@pytest.fixture(autouse=True)
def no_device_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOEBIUS_STUDIO_DEVICE", raising=False)
    monkeypatch.delenv("MOEBIUS_STUDIO_PRECISION", raising=False)


def test_the_panel_offers_int8_and_says_what_it_trades(qtbot: QtBot) -> None:
    panel = SettingsPanel()
    qtbot.addWidget(panel)
    index = panel.precision.findData("int8")
    assert index >= 0
    assert panel.precision.itemText(index) == "Fast (int8, CPU)"
    tip = panel.precision.toolTip()
    assert "int8" in tip and "small deviations from the exact picture" in tip and "CPU only" in tip
    panel.precision.setCurrentIndex(index)
    assert panel.settings.precision == "int8"
    assert load_settings().settings.precision == "int8"  # the panel saves what is chosen
    again = SettingsPanel()
    qtbot.addWidget(again)
    assert again.precision.currentData() == "int8"
    request = panel_request("cpu", panel.settings.precision)
    assert (request.precision, request.source) == (
        "int8",
        "device from the settings panel; precision from the settings panel",
    )
