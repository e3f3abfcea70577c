"""Where a batch writes and how: the output folder, the file name template, the seed policy, whether photos done
earlier are redone, and the editor's settings the batch uses (changed in the editor's Settings panel)."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from app.settings_panel import tooltip
from core.batch import DEFAULT_TEMPLATE
from core.job.options import SEED_POLICY


class OutputForm(QWidget):
    """The output part of the batch window, as a form."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("Folder for the results (created if missing)")
        self.output_button = QPushButton("Choose…")
        output_row = QHBoxLayout()
        output_row.addWidget(self.output_edit, 1)
        output_row.addWidget(self.output_button)
        self.template_edit = QLineEdit(DEFAULT_TEMPLATE)
        self.template_edit.setToolTip("{stem}: the photo's name without extension, {ext}: its extension, {name}: both")
        self.seed_policy = QComboBox()
        for value in SEED_POLICY.choices:
            self.seed_policy.addItem(SEED_POLICY.labels[value], value)
        self.seed_policy.setToolTip(tooltip(SEED_POLICY))
        self.redo_all = QCheckBox("Redo photos done earlier")
        self.redo_all.setToolTip(
            "Off: starting again on the same output folder skips photos that are already done.\n"
            "On: every photo is done again (needed after changing the settings)."
        )
        self.settings_label = QLabel()
        self.settings_label.setWordWrap(True)
        self.settings_label.setToolTip("Change these in the editor's Settings panel")
        names_row = QHBoxLayout()
        names_row.addWidget(self.template_edit, 1)
        names_row.addWidget(QLabel(SEED_POLICY.label))
        names_row.addWidget(self.seed_policy)
        names_row.addWidget(self.redo_all)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Output folder", output_row)
        form.addRow("File names", names_row)
        form.addRow("Settings", self.settings_label)

    @property
    def seed_policy_value(self) -> str:
        return str(self.seed_policy.currentData())

    def inputs(self) -> list[QWidget]:
        """The controls a running batch locks."""
        return [self.output_edit, self.output_button, self.template_edit, self.seed_policy, self.redo_all]
