"""The batch window's run row: an overall bar (n of N, time left), a bar for the current photo's steps, and
Start / Pause / Cancel. It only shows what it is told; the window decides."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from app.batch.summary import format_duration
from core.common.progress import ProgressEvent

EDITOR_BUSY = "The editor is inpainting a photo; Start is available again when it ends."
PAUSING = " — pausing after this photo"


class RunControls(QWidget):
    """The bars and the run buttons of the batch window."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.overall = QProgressBar()
        self.overall.setTextVisible(True)
        self.current = QProgressBar()
        self.current.setTextVisible(True)
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("Hold the batch after the photo being worked on")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop now; finished photos are kept and skipped when you start again")
        bars = QVBoxLayout()
        bars.setSpacing(4)
        bars.addWidget(self.overall)
        bars.addWidget(self.current)
        # On a cluster: photos done per machine, one short line (hidden for a batch on this computer).
        self.nodes_label = QLabel()
        self.nodes_label.setWordWrap(True)
        self.nodes_label.hide()
        bars.addWidget(self.nodes_label)
        # Says why Start is off while the editor inpaints (the batch would otherwise wait unseen behind it).
        self.wait_label = QLabel(EDITOR_BUSY)
        self.wait_label.setWordWrap(True)
        self.wait_label.hide()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addLayout(bars, 1)
        row.addWidget(self.wait_label)
        row.addWidget(self.start_button)
        row.addWidget(self.pause_button)
        row.addWidget(self.cancel_button)
        self.reset()

    def reset(self) -> None:
        """Nothing started yet."""
        self.overall.setRange(0, 100)
        self.overall.setValue(0)
        self.overall.setFormat("Not started")
        self.current.setRange(0, 100)
        self.current.setValue(0)
        self.current.setFormat("")
        self.nodes_label.clear()
        self.nodes_label.hide()

    def show_nodes(self, nodes: dict[str, int]) -> None:
        """Photos done so far on each machine of the cluster."""
        parts = [f"{node}: {done} done" for node, done in sorted(nodes.items())]
        self.nodes_label.setText("On the cluster: " + (" · ".join(parts) if parts else "starting the workers…"))
        self.nodes_label.show()

    def _current(self, text: str, step: int | None = None, total: int | None = None) -> None:
        """The current photo's bar: ``step`` of ``total``, or busy without a total."""
        if total is None or step is None:
            self.current.setRange(0, 0)
        else:
            self.current.setRange(0, total)
            self.current.setValue(step)
        self.current.setFormat(text)

    def show_plan(self, to_do: int, needs_engine: bool) -> None:
        """A batch starts with ``to_do`` photos to process (the rest were done earlier or cannot be)."""
        self.overall.setRange(0, max(1, to_do))
        self.overall.setValue(0)
        self.overall.setFormat(f"0 of {to_do} photos" if to_do else "Nothing to do: every photo was done earlier")
        self.current.setRange(0, 0 if needs_engine else 1)
        self.current.setFormat("Starting…" if needs_engine else "")

    def show_loading(self, event: ProgressEvent) -> None:
        """The model loads (before the first photo)."""
        total = event.total if event.total > 0 else None
        self._current(f"Loading the model ({event.stage})…", event.step, total)

    def show_reading(self, name: str) -> None:
        """A photo starts: it is being read."""
        self._current(f"{name} · reading")

    def show_step(self, name: str, event: ProgressEvent, paused: bool) -> None:
        """A step of the photo ``name``."""
        label = "step" if event.stage == "denoise" else event.stage
        if event.total > 0:
            self._current(f"{name} · {label} {event.step}/{event.total}", event.step, event.total)
        else:
            self._current(f"{name} · {label}")
        if paused:
            self.current.setFormat(self.current.format() + PAUSING)

    def show_pause(self, paused: bool, running: bool) -> None:
        """Pause pressed (or released)."""
        self.pause_button.setText("Resume" if paused else "Pause")
        if not running:
            return
        if paused:
            self.current.setFormat(self.current.format() + PAUSING)
        else:
            self.current.setFormat("Resuming…")

    def show_paused(self) -> None:
        """The photo before the pause is done; the batch waits for Resume."""
        self.current.setRange(0, 1)
        self.current.setValue(0)
        self.current.setFormat("Paused — press Resume to go on")

    def show_cancelling(self) -> None:
        self.current.setFormat("Cancelling…")
        self.cancel_button.setEnabled(False)

    def show_overall(self, processed: int, to_do: int, failed: int, *, paused: bool, eta_s: float | None) -> None:
        """``processed`` of ``to_do`` photos, with failures, and the time left or the pause."""
        self.overall.setRange(0, max(1, to_do))
        self.overall.setValue(processed)
        text = f"{processed} of {to_do} photos"
        if failed:
            text += f" · {failed} failed"
        if paused:
            text += " · paused"
        elif eta_s is not None and processed < to_do:
            text += " · a few seconds left" if eta_s < 5 else f" · about {format_duration(eta_s)} left"
        self.overall.setFormat(text)

    def show_finished(self, cancelled: bool) -> None:
        """The batch ended (every photo, or as far as a cancel let it)."""
        self.current.setRange(0, 1)
        self.current.setValue(0 if cancelled else 1)
        self.current.setFormat(
            "Cancelled — press Start to continue; finished photos are kept" if cancelled else "Finished"
        )
        if not cancelled:
            self.overall.setValue(self.overall.maximum())

    def show_stopped(self, state: str) -> None:
        """Something stopped the whole batch; ``state`` says what."""
        self.current.setRange(0, 1)
        self.current.setValue(0)
        self.current.setFormat(state)

    def update_buttons(
        self, *, running: bool, ready: bool, editor_busy: bool, cancelling: bool, ran_before: bool
    ) -> None:
        """Enable what may be done now.

        Args:
            running: a batch of this window runs.
            ready: some photo has a mask and can be processed.
            editor_busy: the editor's job runs (a batch would wait behind it).
            cancelling: the running batch was asked to stop.
            ran_before: a batch of this window has ended (Start continues it).
        """
        self.start_button.setEnabled(not running and ready and not editor_busy)
        self.start_button.setToolTip(EDITOR_BUSY if editor_busy else "")
        self.wait_label.setVisible(editor_busy)
        self.start_button.setText("Start Again" if ran_before and not running else "Start")
        self.pause_button.setEnabled(running)
        self.cancel_button.setEnabled(running and not cancelling)
