"""The GUI's side of the one settings path: the panel's widgets are made from the declarations, what is set in
the panel reaches the engine's request, and a device chosen there is reported as the settings panel's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_engine import FakeEngine
from PIL import Image
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSpinBox
from pytestqt.qtbot import QtBot

from app.settings_panel import ORIGIN, SeedField, SettingsPanel
from app.worker import InferenceWorker, load_core_engine, panel_request
from core.job.options import JOB, OPTIONS, SEED, Choice, Number, Switch, WholeNumber
from core.job.settings import JobSettings
from core.job.settings_file import load_settings, save_settings


@pytest.fixture(autouse=True)
def no_device_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOEBIUS_STUDIO_DEVICE", raising=False)
    monkeypatch.delenv("MOEBIUS_STUDIO_PRECISION", raising=False)


@pytest.fixture
def panel(qtbot: QtBot) -> SettingsPanel:
    widget = SettingsPanel()
    qtbot.addWidget(widget)
    return widget


def test_the_panel_has_a_widget_per_job_setting_with_a_label(panel: SettingsPanel) -> None:
    expected = [name for name, option in OPTIONS.items() if option.label is not None and option.scope == JOB]
    assert list(panel.fields) == expected
    assert "seed_policy" not in panel.fields  # the batch window's
    assert not {"strength", "noise_offset", "refine_strength"} & set(panel.fields)  # expert knobs
    assert panel.settings == JobSettings()


def test_widgets_take_range_choices_default_and_help_from_the_declaration(panel: SettingsPanel) -> None:
    for name, field in panel.fields.items():
        option: Any = OPTIONS[name]
        widget = field.widget
        help_start = option.help[0].upper() + option.help[1:]
        tip = field.edit.toolTip() if isinstance(field, SeedField) else widget.toolTip()
        assert tip.startswith(help_start), name
        if isinstance(option, Choice):
            assert isinstance(widget, QComboBox)
            assert [widget.itemData(i) for i in range(widget.count())] == list(option.choices)
            assert [widget.itemText(i) for i in range(widget.count())] == [
                option.labels.get(c, c) for c in option.choices
            ]
            assert widget.currentData() == option.default
        elif isinstance(option, Switch):
            assert isinstance(widget, QCheckBox) and widget.text() == option.label
            assert widget.isChecked() == option.default
        elif isinstance(option, WholeNumber):
            assert isinstance(widget, QSpinBox)
            shown = (widget.minimum(), widget.maximum(), widget.value())
            assert shown == (option.minimum, option.maximum, option.default), name
        elif isinstance(option, Number) and name == "colour_match_strength":
            assert isinstance(widget, QSpinBox) and widget.suffix() == " %"
            assert (widget.minimum(), widget.maximum(), widget.value()) == (0, 100, round(option.default * 100))
        elif isinstance(option, Number):
            assert isinstance(widget, QDoubleSpinBox)
            limits = (widget.minimum(), widget.maximum(), widget.value())
            assert limits == (option.minimum, option.maximum, option.default), name
            assert widget.singleStep() == option.step
    assert panel.context_margin.suffix() == " px"


def test_the_seed_field_takes_the_whole_seed_range(panel: SettingsPanel) -> None:
    # A QSpinBox holds 32 bits; the declared range is 0..2**63-1, and the panel accepts exactly it.
    panel.seed.setText(str(SEED.maximum))
    assert panel.settings.seed == SEED.maximum == 2**63 - 1
    assert load_settings().settings.seed == SEED.maximum
    assert panel.problem.isHidden()
    panel.seed.setText(str(SEED.maximum + 1))  # 19 digits, past the range
    assert panel.settings.seed == SEED.maximum  # the last valid value stays
    assert not panel.problem.isHidden() and "'seed'" in panel.problem.text()
    panel.seed.setText("42")
    assert panel.settings.seed == 42 and panel.problem.isHidden()
    panel.random_seed.setChecked(True)
    assert panel.settings.seed is None and not panel.seed.isEnabled()
    panel.random_seed.setChecked(False)
    assert panel.settings.seed == 42  # the number shown comes back


def test_the_panel_saves_through_the_settings_file_and_shows_what_was_saved(qtbot: QtBot, panel: SettingsPanel) -> None:
    panel.steps.setValue(33)
    panel.colour_strength.setValue(40)
    panel.grain_match.setChecked(True)
    saved = load_settings().settings
    assert (saved.steps, saved.colour_match_strength, saved.grain_match) == (33, 0.4, True)
    # Settings without a widget (set on the command line) survive the panel's saves.
    save_settings(saved.replace(seed_policy="name", strength=0.8, model_variant="ft_celebahq"))
    again = SettingsPanel()
    qtbot.addWidget(again)
    assert (again.steps.value(), again.colour_strength.value(), again.grain_match.isChecked()) == (33, 40, True)
    again.guidance.setValue(4.0)
    kept = load_settings().settings
    assert (kept.seed_policy, kept.strength, kept.model_variant, kept.guidance) == ("name", 0.8, "ft_celebahq", 4.0)


def test_the_panels_settings_reach_the_engine(qtbot: QtBot, tmp_path: Path) -> None:
    from app.main_window import MainWindow

    fake = FakeEngine()
    window = MainWindow(engine_factory=fake.factory())
    qtbot.addWidget(window)
    panel = window.panel
    panel.engine.setCurrentIndex(panel.engine.findData("moebius"))
    panel.steps.setValue(4)
    panel.guidance.setValue(7.5)
    panel.seed.setText("123456789012")  # past 32 bits
    panel.context_margin.setValue(40)
    panel.colour_strength.setValue(30)
    panel.device_choice.setCurrentIndex(panel.device_choice.findData("cpu"))
    panel.precision.setCurrentIndex(panel.precision.findData("exact"))
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((120, 160, 3), 90, np.uint8)).save(photo)
    assert window.open_image(photo)
    window.canvas.mask_array[40:60, 50:80] = 255
    window.run_inpaint()
    qtbot.waitUntil(lambda: window.pending_result is not None, timeout=10_000)
    (request,) = fake.requests
    settings = request.settings
    assert (settings.steps, settings.guidance, settings.seed) == (4, 7.5, 123456789012)
    assert settings.context_margin == 40 and settings.colour_match_strength == pytest.approx(0.3)
    assert fake.factory_calls == [("moebius", "cpu", "exact")]
    window.shutdown()


def test_a_saved_model_variant_chooses_the_weights_the_editor_loads(qtbot: QtBot, tmp_path: Path) -> None:
    """A setting without a widget (set with `settings set`) still travels with the job to the engine loader."""
    from app.main_window import MainWindow

    save_settings(JobSettings(engine="moebius", model_variant="ft_celebahq"))
    fake = FakeEngine()
    window = MainWindow(engine_factory=fake.factory())
    qtbot.addWidget(window)
    photo = tmp_path / "portrait.png"
    Image.fromarray(np.full((120, 160, 3), 90, np.uint8)).save(photo)
    assert window.open_image(photo)
    window.canvas.mask_array[40:60, 50:80] = 255
    window.run_inpaint()
    qtbot.waitUntil(lambda: window.pending_result is not None, timeout=10_000)
    assert [settings.model_variant for settings in fake.factory_settings] == ["ft_celebahq"]
    assert fake.requests[0].settings.model_variant == "ft_celebahq"
    window.shutdown()


# -- where the device came from --------------------------------------------------------------------------------


def test_the_panels_device_is_labelled_as_the_panels(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ORIGIN == "the settings panel"
    request = panel_request("cpu", "exact")
    assert (request.device, request.precision) == ("cpu", "exact")
    assert request.source == "device from the settings panel; precision from the settings panel"
    assert "command line" not in request.source
    monkeypatch.setenv("MOEBIUS_STUDIO_DEVICE", "cpu")
    assert panel_request("cuda", "auto").source == "device from MOEBIUS_STUDIO_DEVICE"


@pytest.mark.usefixtures("one_torch_thread")
def test_a_real_engine_from_the_panel_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tiny_model import write_tiny_model

    write_tiny_model(tmp_path / "models")
    monkeypatch.setenv("MOEBIUS_STUDIO_MODELS", str(tmp_path / "models"))
    engine = load_core_engine("moebius", JobSettings(device="cpu", precision="exact"), lambda event: None)
    assert engine.device.reason.endswith(  # type: ignore[attr-defined]
        "[device from the settings panel; precision from the settings panel]"
    )


def test_the_device_line_names_the_panel(qtbot: QtBot) -> None:
    worker = InferenceWorker(load_core_engine)
    shown: list[str] = []
    worker.device_described.connect(shown.append)
    worker.describe_device(JobSettings(device="cpu", precision="float32"))
    assert len(shown) == 1 and shown[0].startswith("cpu · float32")
    assert shown[0].endswith("[device from the settings panel; precision from the settings panel]")
    save_settings(JobSettings(device="cpu"))
    worker.describe_device()  # the saved settings, which the panel writes
    assert shown[1].endswith("[device from the settings panel]")
