"""Where a batch writes and how: the output folder, the file name template, the seed policy, whether photos done
earlier are redone, the editor's settings the batch uses (changed in the editor's Settings panel), and where the
photos are filled: this computer or a Ray cluster (an optional extra; the choice is off, saying how to install it,
when Ray is missing)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.settings_panel import tooltip
from core.batch import DEFAULT_TEMPLATE
from core.batch.cluster import INSTALL_HINT, LOCAL, ClusterSpec, check_address, ray_available
from core.job.options import SEED_POLICY

THIS_COMPUTER, LOCAL_CLUSTER, CLUSTER_AT = "here", "local", "address"
RUN_ON = {
    THIS_COMPUTER: "This computer",
    LOCAL_CLUSTER: "Local Ray cluster",
    CLUSTER_AT: "Ray cluster at address…",
}


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
        self.run_on = QComboBox()
        for value, label in RUN_ON.items():
            self.run_on.addItem(label, value)
        self.address_edit = QLineEdit()
        self.address_edit.setPlaceholderText("ray://HOST:10001")
        self.actors = QSpinBox()
        self.actors.setRange(0, 256)
        self.actors.setSpecialValueText("Workers: automatic")
        self.actors.setPrefix("Workers: ")
        self.actors.setToolTip("Workers on the cluster, each with one loaded model (automatic: one per GPU or CPU)")
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_on)
        run_row.addWidget(self.address_edit, 1)
        run_row.addWidget(self.actors)
        self.run_on.currentIndexChanged.connect(self._run_on_changed)
        self._run_on_changed()
        self.has_ray = ray_available()
        if not self.has_ray:
            self.run_on.setEnabled(False)
            self.run_on.setToolTip(INSTALL_HINT)
        else:
            self.run_on.setToolTip(
                "Where the photos are filled. Every machine of a cluster needs this version of Moebius Studio "
                "and the model; the results are written on this computer."
            )
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Output folder", output_row)
        form.addRow("File names", names_row)
        # "Run on" shares the settings' row: the window must still fit a 1366×768 screen while a batch runs.
        settings_row = QHBoxLayout()
        settings_row.addWidget(self.settings_label, 1)
        settings_row.addWidget(QLabel("Run on"))
        settings_row.addLayout(run_row)
        form.addRow("Settings", settings_row)

    @property
    def seed_policy_value(self) -> str:
        return str(self.seed_policy.currentData())

    def _run_on_changed(self) -> None:
        choice = self.run_on.currentData()
        self.address_edit.setVisible(choice == CLUSTER_AT)
        self.actors.setVisible(choice != THIS_COMPUTER)

    def cluster_spec(self) -> ClusterSpec | None:
        """The cluster chosen, or ``None`` for this computer.

        Raises:
            ClusterError: the address is not ``ray://HOST:PORT``.
        """
        choice = self.run_on.currentData()
        if choice == THIS_COMPUTER or not self.has_ray:
            return None
        address = LOCAL if choice == LOCAL_CLUSTER else check_address(self.address_edit.text().strip())
        return ClusterSpec(address=address, actors=self.actors.value())

    def inputs(self) -> list[QWidget]:
        """The controls a running batch locks."""
        return [
            self.output_edit,
            self.output_button,
            self.template_edit,
            self.seed_policy,
            self.redo_all,
            # Without Ray the choice stays off (its tooltip says how to install it).
            *([self.run_on, self.address_edit, self.actors] if self.has_ray else []),
        ]
