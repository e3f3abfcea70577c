"""The job settings panel: the knobs of an inpaint, saved to the settings file the command line also reads.

Device and precision choices come from :mod:`backends.device` (imported when the panel is built; it does not
import torch). The automatic choice and its reason are reported by the inference worker, which may import
torch, and shown under the choices.
"""

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

from core.common.errors import SettingsError
from core.job.engines import ENGINES
from core.job.settings import JobSettings, load_settings, save_settings

MAX_SEED_SPIN = 2**31 - 1  # QSpinBox holds a C int; larger seeds from the settings file are shown wrapped
DEVICE_LABELS = {
    "auto": "Automatic",
    "cuda": "NVIDIA GPU (CUDA)",
    "rocm": "AMD GPU (ROCm)",
    "mps": "Apple GPU (MPS)",
    "coreml": "Apple Neural Engine (Core ML)",
    "cpu": "CPU",
}
PRECISION_LABELS = {
    "auto": "Automatic",
    "exact": "Exact (float32 everywhere)",
    "float32": "float32",
    "float16": "float16 (GPUs)",
    "bfloat16": "bfloat16",
}


class SettingsPanel(QWidget):
    """Edits :class:`JobSettings`; every change is saved at once (the CLI sees it too)."""

    changed = Signal(object)  # JobSettings
    device_changed = Signal()  # device or precision edited: the "Uses" line should be asked for again

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
        self.colour_strength = QSpinBox()
        self.colour_strength.setRange(0, 100)
        self.colour_strength.setSingleStep(10)
        self.colour_strength.setSuffix(" %")
        self.colour_strength.setToolTip(
            "How much of the colour and exposure correction is applied: 100 % matches fully, lower values keep "
            "more of the model's own colours."
        )
        from backends.device import DEVICES, PRECISIONS  # torch-free; imported here to keep it off start-up

        self.device_choice = QComboBox()
        for name in DEVICES:
            self.device_choice.addItem(DEVICE_LABELS.get(name, name), name)
        self.device_choice.setToolTip(
            "Where the model runs. Automatic takes a CUDA/ROCm GPU first, then Core ML, then MPS, then the CPU.\n"
            "MOEBIUS_STUDIO_DEVICE overrides this choice. Takes effect with the next inpaint."
        )
        self.precision = QComboBox()
        for name in PRECISIONS:
            self.precision.addItem(PRECISION_LABELS.get(name, name), name)
        self.precision.setToolTip(
            "Number format of the model. Automatic runs the UNet in float16 on GPUs and in bfloat16 only on CPUs\n"
            "that have it natively; Exact is float32 everywhere (slowest, reference results).\n"
            "MOEBIUS_STUDIO_PRECISION overrides this choice."
        )
        self.device = QLabel("checking…")
        self.device.setWordWrap(True)
        self.device.setToolTip("What a job would use with these settings, and why (reported by the inference thread).")

        form = QFormLayout(self)
        form.addRow("Engine", self.engine)
        form.addRow("Steps", self.steps)
        form.addRow("Guidance", self.guidance)
        form.addRow("Seed", seed_row)
        form.addRow("Context", self.context_margin)
        form.addRow("", self.colour_match)
        form.addRow("Colour strength", self.colour_strength)
        form.addRow("", self.grain_match)
        form.addRow("&Device", self.device_choice)
        form.addRow("&Precision", self.precision)
        form.addRow("Uses", self.device)
        # Top to bottom, as the form reads.
        order = [
            self.engine,
            self.steps,
            self.guidance,
            self.seed,
            self.random_seed,
            self.context_margin,
            self.colour_match,
            self.colour_strength,
            self.grain_match,
            self.device_choice,
            self.precision,
        ]
        for first, second in zip(order, order[1:], strict=False):
            QWidget.setTabOrder(first, second)

        self._show(self._settings)
        for spin in (self.steps, self.seed, self.context_margin, self.colour_strength):
            spin.valueChanged.connect(self._edited)
        self.guidance.valueChanged.connect(self._edited)
        for combo in (self.engine, self.device_choice, self.precision):
            combo.currentIndexChanged.connect(self._edited)
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
        self.colour_strength.setValue(round(settings.colour_match_strength * 100))
        self.grain_match.setChecked(settings.grain_match)
        self.device_choice.setCurrentIndex(max(0, self.device_choice.findData(settings.device)))
        self.precision.setCurrentIndex(max(0, self.precision.findData(settings.precision)))
        self._update_enabled()

    def _update_enabled(self) -> None:
        info = ENGINES.get(str(self.engine.currentData()))
        for widget, uses in (
            (self.steps, info is None or info.uses_steps),
            (self.guidance, info is None or info.uses_guidance),
        ):
            widget.setEnabled(uses)
        self.colour_strength.setEnabled(self.colour_match.isChecked())
        uses_model = info is None or info.uses_steps  # the classic fill runs on the CPU without a model
        self.device_choice.setEnabled(uses_model)
        self.precision.setEnabled(uses_model)

    def _edited(self) -> None:
        if self._loading:
            return
        self.seed.setEnabled(not self.random_seed.isChecked())
        self._update_enabled()
        old = (self._settings.device, self._settings.precision)
        try:
            self._settings = self._settings.replace(
                engine=str(self.engine.currentData()),
                steps=self.steps.value(),
                guidance=self.guidance.value(),
                seed=None if self.random_seed.isChecked() else self.seed.value(),
                context_margin=float(self.context_margin.value()),
                colour_match=self.colour_match.isChecked(),
                colour_match_strength=self.colour_strength.value() / 100,
                grain_match=self.grain_match.isChecked(),
                device=str(self.device_choice.currentData()),
                precision=str(self.precision.currentData()),
            )
            save_settings(self._settings)
        except SettingsError as error:
            self.device.setText(error.user_message())
            return
        self.changed.emit(self._settings)
        if (self._settings.device, self._settings.precision) != old:
            self.device.setText("checking…")
            self.device_changed.emit()

    def set_device_text(self, text: str) -> None:
        self.device.setText(text)
