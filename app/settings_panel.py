"""The job settings panel: the knobs of an inpaint, saved to the settings file the command line also reads.

Every widget is made from a setting's declaration in :mod:`core.job.options`: its label, range or choices,
default and tooltip (the same sentence ``--help`` prints). The panel shows each job setting that has a label;
batch-only settings (the seed policy) belong to the batch window, expert knobs have no widget.

The device and precision chosen here reach the inference worker as what "the settings panel" asked for
(:data:`ORIGIN`), so the reason a job shows says so; the automatic choice and its reason are reported by the
worker, which may import torch, and shown under the choices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QRegularExpression, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from app.window_store import window_settings
from core.common.errors import SettingsError
from core.job.engines import ENGINES
from core.job.options import JOB, OPTIONS, VARIATIONS, Choice, Number, Option, Seed, Switch, WholeNumber
from core.job.settings import JobSettings
from core.job.settings_file import load_settings, save_settings

ORIGIN = "the settings panel"
"""Where a device or precision chosen here came from, in the reasons and errors the user reads."""

PERCENT_SETTINGS = frozenset({"colour_match_strength"})
"""Fractions the panel shows as a percentage (0..1 as 0..100 %)."""


def tooltip(option: Option[Any]) -> str:
    """A widget's tooltip: the declaration's help as a sentence, then what it accepts and its default."""
    text = f"{option.help[0].upper()}{option.help[1:]}."
    default = option.format(option.default)
    if isinstance(option, Switch):
        return f"{text}\nDefault: {'on' if option.default else 'off'}."
    if isinstance(option, Choice):
        return f"{text}\nDefault: {option.labels.get(default, default)}."
    return f"{text}\n{option.accepts()[0].upper()}{option.accepts()[1:]}; default {default}."


class Field:
    """One setting's widget, reading and showing values of the setting's type.

    Args:
        option: the declaration the widget is made from.
        widget: what goes into the form.
    """

    def __init__(self, option: Option[Any], widget: QWidget) -> None:
        self.option = option
        self.widget = widget
        widget.setToolTip(tooltip(option))

    def value(self) -> object:
        """The value shown (checked by :class:`JobSettings` when the panel applies it)."""
        raise NotImplementedError

    def show(self, value: Any) -> None:
        """Show a value of the setting."""
        raise NotImplementedError

    def on_change(self, slot: Callable[[], None]) -> None:
        """Call ``slot`` whenever the user changes the value."""
        raise NotImplementedError


class ChoiceField(Field):
    """A combo box of the declaration's choices, by their labels."""

    def __init__(self, option: Choice) -> None:
        self.combo = QComboBox()
        for name in option.choices:
            self.combo.addItem(option.labels.get(name, name), name)
        super().__init__(option, self.combo)

    def value(self) -> object:
        return str(self.combo.currentData())

    def show(self, value: Any) -> None:
        self.combo.setCurrentIndex(max(0, self.combo.findData(value)))

    def on_change(self, slot: Callable[[], None]) -> None:
        self.combo.currentIndexChanged.connect(slot)


class WholeNumberField(Field):
    """A spin box over the declaration's range, with its unit."""

    def __init__(self, option: WholeNumber) -> None:
        self.spin = QSpinBox()
        self.spin.setRange(option.minimum, option.maximum)
        if option.unit:
            self.spin.setSuffix(f" {option.unit}")
        super().__init__(option, self.spin)

    def value(self) -> object:
        return self.spin.value()

    def show(self, value: Any) -> None:
        self.spin.setValue(int(value))

    def on_change(self, slot: Callable[[], None]) -> None:
        self.spin.valueChanged.connect(slot)


class NumberField(Field):
    """A decimal spin box over the declaration's range, stepping and rounding as it says."""

    def __init__(self, option: Number) -> None:
        self.spin = QDoubleSpinBox()
        self.spin.setDecimals(option.decimals)
        self.spin.setRange(option.minimum, option.maximum)
        self.spin.setSingleStep(option.step)
        super().__init__(option, self.spin)

    def value(self) -> object:
        return self.spin.value()

    def show(self, value: Any) -> None:
        self.spin.setValue(float(value))

    def on_change(self, slot: Callable[[], None]) -> None:
        self.spin.valueChanged.connect(slot)


class PercentField(Field):
    """A fraction shown as whole percent (the declaration's 0..1 as 0..100 %)."""

    def __init__(self, option: Number) -> None:
        self.spin = QSpinBox()
        self.spin.setRange(round(option.minimum * 100), round(option.maximum * 100))
        self.spin.setSingleStep(10)
        self.spin.setSuffix(" %")
        super().__init__(option, self.spin)

    def value(self) -> object:
        return self.spin.value() / 100

    def show(self, value: Any) -> None:
        self.spin.setValue(round(float(value) * 100))

    def on_change(self, slot: Callable[[], None]) -> None:
        self.spin.valueChanged.connect(slot)


class SwitchField(Field):
    """A check box named by the declaration's label."""

    def __init__(self, option: Switch) -> None:
        self.box = QCheckBox(option.label or option.name)
        super().__init__(option, self.box)

    def value(self) -> object:
        return self.box.isChecked()

    def show(self, value: Any) -> None:
        self.box.setChecked(bool(value))

    def on_change(self, slot: Callable[[], None]) -> None:
        self.box.toggled.connect(slot)


class SeedField(Field):
    """A text field for the whole seed range (wider than a spin box's 32 bits) and a "Random" box."""

    def __init__(self, option: Seed) -> None:
        self.option = option
        self.edit = QLineEdit()
        # Digits only; the declaration checks the range, so a number past it is refused with its message.
        digits = QRegularExpression(f"[0-9]{{0,{len(str(option.maximum))}}}")
        self.edit.setValidator(QRegularExpressionValidator(digits, self.edit))
        self.random = QCheckBox("Random")
        self.random.setToolTip("Draw a new seed for every run; the seed used is shown with the result.")
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.random)
        super().__init__(option, row)
        self.edit.setToolTip(tooltip(option))

    def value(self) -> object:
        return None if self.random.isChecked() else self.option.parse(self.edit.text())

    def show(self, value: Any) -> None:
        self.random.setChecked(value is None)
        # A random seed keeps the number shown, so that unticking "Random" gives a usable seed back.
        if value is not None or not self.edit.text():
            self.edit.setText(str(self.option.default if value is None else value))
        self.edit.setEnabled(value is not None)

    def on_change(self, slot: Callable[[], None]) -> None:
        self.edit.textChanged.connect(slot)
        self.random.toggled.connect(slot)


def make_field(option: Option[Any]) -> Field:
    """The widget of a setting, by the kind of its declaration."""
    if isinstance(option, Seed):
        return SeedField(option)
    if isinstance(option, Choice):
        return ChoiceField(option)
    if isinstance(option, Switch):
        return SwitchField(option)
    if isinstance(option, WholeNumber):
        return WholeNumberField(option)
    if isinstance(option, Number):
        return PercentField(option) if option.name in PERCENT_SETTINGS else NumberField(option)
    raise TypeError(f"no widget for setting {option.name!r} ({type(option).__name__})")


def panel_settings() -> list[Option[Any]]:
    """The settings the panel has a widget for: job settings with a label, in declaration order."""
    return [option for option in OPTIONS.values() if option.label is not None and option.scope == JOB]


def installed_engine() -> str:
    """The engine ``auto`` runs now: Moebius when its weights are installed, else classic (a look at the disk)."""
    from core.weights.registry import find_model

    return "moebius" if find_model() is not None else "classic"


def not_used_tip(label: str) -> str:
    """Why a setting is greyed out: the engine that will run does not use it."""
    return f"The {label} fill does not use this setting."


class SettingsPanel(QWidget):
    """Edits :class:`JobSettings`; every change is saved at once (the CLI sees it too).

    The settings an engine does not use (by its capability flags in :data:`core.job.engines.ENGINES`) are
    greyed out for the engine that will run, ``auto`` included: without the Moebius weights that is the classic
    fill, which has no steps, guidance or seed. :attr:`variations` (how many results the Variations button
    makes) is declared with the others but kept with the window's state, since no job in core reads it.
    """

    changed = Signal(object)  # JobSettings
    device_changed = Signal()  # device or precision edited: the "Uses" line should be asked for again
    variations_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        loaded = load_settings()
        self.load_warnings = loaded.warnings
        self._settings = loaded.settings
        self._loading = True
        self._installed = installed_engine()

        # 1. One field per setting, made from its declaration.
        self.fields: dict[str, Field] = {option.name: make_field(option) for option in panel_settings()}
        self.engine = self._field("engine", ChoiceField).combo
        self.engine.setToolTip(
            self.engine.toolTip() + "\n" + "\n".join(f"{info.label}: {info.description}" for info in ENGINES.values())
        )
        self.steps = self._field("steps", WholeNumberField).spin
        self.guidance = self._field("guidance", NumberField).spin
        seed = self._field("seed", SeedField)
        self.seed, self.random_seed = seed.edit, seed.random
        self.context_margin = self._field("context_margin", WholeNumberField).spin
        self.colour_match = self._field("colour_match", SwitchField).box
        self.colour_strength = self._field("colour_match_strength", PercentField).spin
        self.grain_match = self._field("grain_match", SwitchField).box
        self.device_choice = self._field("device", ChoiceField).combo
        self.precision = self._field("precision", ChoiceField).combo
        self.variations_field = WholeNumberField(VARIATIONS)
        self.variations_spin = self.variations_field.spin
        self.device = QLabel("checking…")
        self.device.setWordWrap(True)
        self.device.setToolTip("What a job would use with these settings, and why (reported by the inference thread).")
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.hide()

        # 2. The form, in declaration order; a switch's label is on its check box.
        form = QFormLayout(self)
        mnemonics = {"device": "&Device", "precision": "&Precision"}
        for name, field in self.fields.items():
            label = "" if isinstance(field, SwitchField) else mnemonics.get(name, field.option.label or name)
            form.addRow(label, field.widget)
        form.addRow(VARIATIONS.label or VARIATIONS.name, self.variations_field.widget)
        form.addRow("Uses", self.device)
        form.addRow("", self.problem)
        focusable = [w for field in self.fields.values() for w in self._focusable(field)]
        for first, second in zip(focusable, focusable[1:], strict=False):
            QWidget.setTabOrder(first, second)

        self._show(self._settings)
        for field in self.fields.values():
            field.on_change(self._edited)
        self.variations_field.show(stored_variations())
        self.variations_field.on_change(self._variations_edited)
        self._loading = False

    def _field(self, name: str, kind: type[Any]) -> Any:
        field = self.fields[name]
        assert isinstance(field, kind), f"setting {name!r} has a {type(field).__name__}, not a {kind.__name__}"
        return field

    @staticmethod
    def _focusable(field: Field) -> list[QWidget]:
        return [field.edit, field.random] if isinstance(field, SeedField) else [field.widget]

    @property
    def settings(self) -> JobSettings:
        return self._settings

    def _show(self, settings: JobSettings) -> None:
        for name, field in self.fields.items():
            field.show(getattr(settings, name))
        self._update_enabled()

    @property
    def engine_name(self) -> str:
        """The engine a job with these settings runs: the chosen one, or the one ``auto`` picks now."""
        chosen = str(self.engine.currentData())
        return self._installed if chosen == "auto" else chosen

    @property
    def variations(self) -> int:
        """How many results the Variations button makes."""
        return int(self.variations_spin.value())

    def refresh_engine(self) -> None:
        """Look again which engine ``auto`` picks (after weights were installed or removed)."""
        self._installed = installed_engine()
        self._update_enabled()

    def _update_enabled(self) -> None:
        info = ENGINES[self.engine_name]
        applies = {
            self.steps: info.uses_steps,
            self.guidance: info.uses_guidance,
            self.seed: info.uses_seed,
            self.random_seed: info.uses_seed,
            self.variations_spin: info.uses_seed,  # variations differ by their seeds only
            self.device_choice: info.needs_weights,  # the classic fill runs on the CPU without a model
            self.precision: info.needs_weights,
        }
        for widget, used in applies.items():
            widget.setEnabled(used and not (widget is self.seed and self.random_seed.isChecked()))
            tip = widget.property("declared_tip")
            if tip is None:  # the declaration's tooltip, kept for when the setting applies again
                tip = widget.toolTip()
                widget.setProperty("declared_tip", tip)
            widget.setToolTip(str(tip) if used else f"{tip}\n{not_used_tip(info.label)}")
        self.colour_strength.setEnabled(self.colour_match.isChecked())

    def _edited(self) -> None:
        if self._loading:
            return
        self._update_enabled()
        old = (self._settings.device, self._settings.precision)
        try:
            values = {name: field.value() for name, field in self.fields.items()}
            self._settings = self._settings.replace(**values)
            save_settings(self._settings)
        except SettingsError as error:
            # An incomplete or out-of-range entry (a seed being typed): say why, keep the last good settings.
            self.problem.setText(error.user_message())
            self.problem.show()
            return
        self.problem.hide()
        self.changed.emit(self._settings)
        if (self._settings.device, self._settings.precision) != old:
            self.device.setText("checking…")
            self.device_changed.emit()

    def _variations_edited(self) -> None:
        if not self._loading:
            store_variations(self.variations)
            self.variations_changed.emit(self.variations)

    def set_device_text(self, text: str) -> None:
        self.device.setText(text)


def stored_variations() -> int:
    """The saved number of variations (the declaration's default when none is saved or it is out of range)."""
    try:
        return VARIATIONS.check(int(str(window_settings().value(VARIATIONS.name, VARIATIONS.default))))
    except (SettingsError, ValueError):
        return VARIATIONS.default


def store_variations(count: int) -> None:
    store = window_settings()
    store.setValue(VARIATIONS.name, VARIATIONS.check(count))
    store.sync()
