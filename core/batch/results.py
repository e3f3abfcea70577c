"""What a batch reports: one :class:`FileResult` per file, progress while it runs, and the summary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.common.progress import ProgressEvent

# Result statuses.
ST_DONE = "done"
ST_SKIPPED = "skipped"
ST_FAILED = "failed"
ST_UNPAIRED = "unpaired"
ST_IGNORED = "ignored"
ST_CANCELLED = "cancelled"
# Not a status of its own: the count of done photos whose earlier output was missing or damaged.
ST_REDONE = "redone"
# Not a status either: the count of skipped photos whose output changed since it was written but was kept.
ST_KEPT_CHANGED = "kept_changed"
# Nor this: the count of photos (any status) that a cluster started again after the worker running them died.
ST_RETRIED = "retried"


@dataclass(frozen=True)
class FileResult:
    """What happened to one file of the batch.

    Args:
        index: 1-based position in the plan; ``total`` is the plan's length.
        photo: the file.
        status: ``done``, ``skipped`` (done earlier), ``failed``, ``unpaired`` (no mask, or a conflict),
            ``ignored`` (not an image) or ``cancelled``.
        mask: the mask used or found.
        output: the output file (for ``done`` and ``skipped``).
        reason: why it failed, was skipped or left out; for a ``done`` photo that an earlier run had finished,
            why it was done again or kept (e.g. "its output does not decode as an image (…): redone").
        seed: the seed used.
        seconds: wall time spent on it in this run.
        warnings: notes that did not stop it.
        pairing: how its mask was found (see :class:`~core.batch.pairing.Pairing`).
        redone: an earlier run had finished it, but its output was missing or damaged, so it was done again.
        kept_changed: skipped, although its output changed since an earlier run wrote it (it still decodes, so
            it is somebody's work and was kept; ``reason`` says how it changed).
        node: on a cluster, the address of the machine that filled it (empty for a local batch).
        retries: on a cluster, how often it was started again because the worker running it died.
    """

    index: int
    total: int
    photo: Path
    status: str
    mask: Path | None = None
    output: Path | None = None
    reason: str | None = None
    seed: int | None = None
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()
    pairing: str = ""
    redone: bool = False
    kept_changed: bool = False
    node: str = ""
    retries: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict (``kind: "file"``), as printed by ``moebius-inpaint batch --json``."""
        return {
            "kind": "file",
            "index": self.index,
            "total": self.total,
            "photo": str(self.photo),
            "status": self.status,
            "mask": None if self.mask is None else str(self.mask),
            "pairing": self.pairing,
            "output": None if self.output is None else str(self.output),
            "reason": self.reason,
            "seed": self.seed,
            "seconds": round(self.seconds, 3),
            "warnings": list(self.warnings),
            "redone": self.redone,
            "kept_changed": self.kept_changed,
            "node": self.node,
            "retries": self.retries,
        }


@dataclass(frozen=True)
class BatchProgress:
    """A progress report of a running batch.

    Args:
        index: 1-based position of the file being worked on; ``total`` is the plan's length.
        photo: that file.
        finished: files of the plan already finished (any status).
        event: the engine's progress within the current photo, or ``None`` when a photo starts or ends.
        elapsed_s: seconds since the batch started.
        eta_s: estimated seconds left, from the average time per processed photo (``None`` until one is done).
        nodes: on a cluster, photos done so far per machine (its address); ``None`` for a local batch.
    """

    index: int
    total: int
    photo: Path
    finished: int
    event: ProgressEvent | None
    elapsed_s: float
    eta_s: float | None
    nodes: dict[str, int] | None = None


BatchProgressCallback = Callable[[BatchProgress], None]


@dataclass
class BatchSummary:
    """Counts of a finished (or cancelled) batch, and the exit status the command line reports.

    Exit status: 0 when every photo is done (now or earlier); 1 when a photo failed (a photo-named entry that
    cannot be read included) or had no usable mask; 130 when the batch was cancelled. Files that are not images
    do not count.

    ``counts`` holds one count per status, ``redone``: the ``done`` photos an earlier run had finished but whose
    output was missing or damaged (counted as ``done`` too), and ``kept_changed``: the ``skipped`` photos whose
    output changed since it was written and was kept (counted as ``skipped`` too). ``retried``: on a cluster,
    the photos started again because the worker running them died.
    """

    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, result: FileResult) -> None:
        self.counts[result.status] = self.counts.get(result.status, 0) + 1
        if result.redone and result.status == ST_DONE:
            self.counts[ST_REDONE] = self.counts.get(ST_REDONE, 0) + 1
        if result.kept_changed and result.status == ST_SKIPPED:
            self.counts[ST_KEPT_CHANGED] = self.counts.get(ST_KEPT_CHANGED, 0) + 1
        if result.retries:
            self.counts[ST_RETRIED] = self.counts.get(ST_RETRIED, 0) + 1

    @property
    def exit_status(self) -> int:
        if self.counts.get(ST_CANCELLED):
            return 130
        return 1 if self.counts.get(ST_FAILED) or self.counts.get(ST_UNPAIRED) else 0

    def to_json(self) -> dict[str, Any]:
        statuses = (ST_DONE, ST_REDONE, ST_SKIPPED, ST_KEPT_CHANGED, ST_FAILED, ST_UNPAIRED, ST_IGNORED, ST_CANCELLED)
        return {
            "kind": "summary",
            **{status: self.counts.get(status, 0) for status in statuses},
            ST_RETRIED: self.counts.get(ST_RETRIED, 0),
            "seconds": round(self.seconds, 3),
            "exit_status": self.exit_status,
        }
