"""The job settings panel: the knobs of an inpaint, saved to the settings file the command line also reads."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

from core.engine import ENGINES
from core.errors import SettingsError
from core.settings import JobSettings, load_settings, save_settings

MAX_SEED_SPIN = 2**31 - 1  # QSpinBox holds a C int; larger seeds from the settings file are shown wrapped


class SettingsPanel(QWidget):
    """Edits :class:`JobSettings`; every change is saved at once (the CLI sees it too)."""

    changed = Signal(object)  # JobSettings

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        loaded = load_settings()
        self.load_warnings = loaded.warnings
        self._settings = loaded.settings
        self._loading = True

        self.engine = QComboBox()
        self.engine.addItem("Automatic", "auto")
        for info in ENGINES.values():
            self.engine.addItem(info.label, info.name)
        self.engine.setToolTip(
            "Automatic uses the Moebius model when its weights are installed, otherwise the classic fill.\n"
            + "\n".join(f"{info.label}: {info.description}" for info in ENGINES.values())
        )
        self.steps = QSpinBox()
        self.steps.setRange(1, 1000)
        self.steps.setToolTip("Denoising steps: more take longer and can add detail (Moebius only; default 20).")
        self.guidance = QDoubleSpinBox()
        self.guidance.setRange(0.0, 30.0)
        self.guidance.setSingleStep(0.5)
        self.guidance.setToolTip("How strongly the fill follows the model's guidance (Moebius only; default 2.5).")
        self.random_seed = QCheckBox("Random")
        self.random_seed.setToolTip("Draw a new seed for every run; the seed used is shown with the result.")
        self.seed = QSpinBox()
        self.seed.setRange(0, MAX_SEED_SPIN)
        self.seed.setToolTip("The same seed, settings and model give the same fill.")
        seed_row = QHBoxLayout()
        seed_row.setContentsMargins(0, 0, 0, 0)
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.random_seed)
        self.context_margin = QSpinBox()
        self.context_margin.setRange(0, 4096)
        self.context_margin.setSuffix(" px")
        self.context_margin.setToolTip("Photo pixels around each masked area that the model sees as context.")
        self.colour_match = QCheckBox("Match colour and exposure")
        self.colour_match.setToolTip("Correct the fill's colour and brightness to the photo around the mask.")
        self.grain_match = QCheckBox("Match grain")
        self.grain_match.setToolTip("Add the photo's grain or noise to a fill that came out too clean.")
        self.device = QLabel("checking…")
        self.device.setWordWrap(True)
        self.device.setToolTip("Chosen automatically (or by MOEBIUS_STUDIO_DEVICE / the settings file).")

        form = QFormLayout(self)
        form.addRow("Engine", self.engine)
        form.addRow("Steps", self.steps)
        form.addRow("Guidance", self.guidance)
        form.addRow("Seed", seed_row)
        form.addRow("Context", self.context_margin)
        form.addRow("", self.colour_match)
        form.addRow("", self.grain_match)
        form.addRow("Device", self.device)

        self._show(self._settings)
        for spin in (self.steps, self.seed, self.context_margin):
            spin.valueChanged.connect(self._edited)
        self.guidance.valueChanged.connect(self._edited)
        self.engine.currentIndexChanged.connect(self._edited)
        for box in (self.random_seed, self.colour_match, self.grain_match):
            box.toggled.connect(self._edited)
        self._loading = False

    @property
    def settings(self) -> JobSettings:
        return self._settings

    def _show(self, settings: JobSettings) -> None:
        self.engine.setCurrentIndex(max(0, self.engine.findData(settings.engine)))
        self.steps.setValue(settings.steps)
        self.guidance.setValue(settings.guidance)
        self.random_seed.setChecked(settings.seed is None)
        self.seed.setValue((settings.seed or 0) % (MAX_SEED_SPIN + 1))
        self.seed.setEnabled(settings.seed is not None)
        self.context_margin.setValue(round(settings.context_margin))
        self.colour_match.setChecked(settings.colour_match)
        self.grain_match.setChecked(settings.grain_match)
        self._update_enabled()

    def _update_enabled(self) -> None:
        info = ENGINES.get(str(self.engine.currentData()))
        for widget, uses in (
            (self.steps, info is None or info.uses_steps),
            (self.guidance, info is None or info.uses_guidance),
        ):
            widget.setEnabled(uses)

    def _edited(self) -> None:
        if self._loading:
            return
        self.seed.setEnabled(not self.random_seed.isChecked())
        self._update_enabled()
        try:
            self._settings = self._settings.replace(
                engine=str(self.engine.currentData()),
                steps=self.steps.value(),
                guidance=self.guidance.value(),
                seed=None if self.random_seed.isChecked() else self.seed.value(),
                context_margin=float(self.context_margin.value()),
                colour_match=self.colour_match.isChecked(),
                grain_match=self.grain_match.isChecked(),
            )
            save_settings(self._settings)
        except SettingsError as error:
            self.device.setText(error.user_message())
            return
        self.changed.emit(self._settings)

    def set_device_text(self, text: str) -> None:
        self.device.setText(text)
