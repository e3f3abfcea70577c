"""The batch journal: a small JSON-lines file in the output folder that makes a batch resumable.

``moebius-batch.jsonl`` holds one JSON object per line, only ever appended:

- ``{"kind": "batch", "settings": {...}, "time": ...}`` when a run starts: every setting that changes a result
  (engine, steps, guidance, seed and seed policy, blending, mask placement, output template, quality).
- ``{"kind": "file", "photo": NAME, "status": "started", "output": OUT, "seed": S, "time": ...}`` just before a
  photo is processed, and a second record with ``"status": "done"`` (plus the output's size in ``bytes`` and its
  ``sha256``) or ``"failed"`` (plus the reason) when it ends.

Each record is written with one ``write`` on a file opened for appending and then flushed to the disk, so a
crash loses at most the record being written; a damaged last line is ignored when reading. The latest record of
a photo wins.

Resuming (see :func:`core.batch.prepare.prepare_batch`): a photo whose latest record is ``done`` is skipped while
its output is still the file that was written: same size and SHA-256 (journals from before the hash was recorded:
the same size; see :mod:`core.batch.outputs`). A missing or damaged output is made again; one that changed but still
decodes is kept (somebody's retouch); the result says which and why. A photo whose latest record is ``started`` and
whose output exists and decodes was finished by the crashed run (outputs appear atomically) and is recorded as done,
with its size and hash, without redoing it. Everything else is processed again.

While a run writes, it holds an exclusive lock on ``moebius-batch.lock`` (released by the operating system even
when the process is killed), so two runs never write into one folder at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from core.common.errors import BatchBusyError

JOURNAL_NAME = "moebius-batch.jsonl"
LOCK_NAME = "moebius-batch.lock"
FORMAT_VERSION = 1

DONE = "done"
STARTED = "started"
FAILED = "failed"


@dataclass
class JournalState:
    """What a journal says: the settings of the last run and the latest record of every photo.

    Args:
        settings: the settings of the most recent ``batch`` record, or ``None`` when there is none.
        files: the latest ``file`` record per photo name.
        damaged_lines: lines that could not be read (a crash in the middle of a write leaves at most one).
    """

    settings: dict[str, Any] | None = None
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    damaged_lines: int = 0

    def status(self, photo: str) -> str | None:
        record = self.files.get(photo)
        return None if record is None else str(record.get("status"))

    def done_count(self) -> int:
        return sum(1 for record in self.files.values() if record.get("status") == DONE)


def read_journal(folder: Path) -> JournalState:
    """Read the journal of an output folder; a missing one reads as empty.

    Args:
        folder: the output folder.
    """
    state = JournalState()
    path = folder / JOURNAL_NAME
    try:
        handle = path.open("r", encoding="utf-8")
    except FileNotFoundError:
        return state
    with handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                state.damaged_lines += 1
                continue
            if not isinstance(record, dict):
                state.damaged_lines += 1
            elif record.get("kind") == "batch" and isinstance(record.get("settings"), dict):
                state.settings = record["settings"]
            elif record.get("kind") == "file" and isinstance(record.get("photo"), str):
                state.files[record["photo"]] = record
    return state


def settings_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The settings that differ, as ``"steps 20 → 10"`` phrases (empty when they agree)."""
    keys = sorted(set(old) | set(new))
    return [f"{key} {old.get(key)!r} → {new.get(key)!r}" for key in keys if old.get(key) != new.get(key)]


class JournalWriter:
    """Appends records to an output folder's journal while holding the folder's batch lock.

    Use as a context manager; the lock and the file are released on exit.

    Args:
        folder: the output folder (must exist and be writable).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / JOURNAL_NAME
        self._lock: IO[bytes] | None = None
        self._fd: int | None = None

    def __enter__(self) -> JournalWriter:
        # 1. Take the folder's lock first, so a second run fails before it writes anything.
        self._lock = _take_lock(self.folder / LOCK_NAME)
        # 2. Open for appending; a line a crash cut short is ended, so the next record starts on its own line.
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0), 0o666)
        if _ends_without_newline(self.path):
            os.write(self._fd, b"\n")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    def batch(self, settings: Mapping[str, Any]) -> None:
        """Record the start of a run with its settings."""
        self._append({"kind": "batch", "version": FORMAT_VERSION, "settings": dict(settings)})

    def file(self, photo: str, status: str, **details: Any) -> None:
        """Record a photo's state (``started``, ``done`` or ``failed``) with details such as the output name."""
        self._append({"kind": "file", "photo": photo, "status": status, **details})

    def _append(self, record: dict[str, Any]) -> None:
        if self._fd is None:
            raise RuntimeError("the journal is not open; use JournalWriter as a context manager")
        record["time"] = round(time.time(), 3)
        # One write per record: appends of a single write never interleave, and fsync makes it survive a crash.
        os.write(self._fd, (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
        os.fsync(self._fd)


def _ends_without_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() == 0:
            return False
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"


def _take_lock(path: Path) -> IO[bytes]:
    """Open ``path`` and lock it exclusively without waiting; raises :class:`BatchBusyError` when it is held."""
    handle = path.open("ab")
    try:
        _lock_file(handle)
    except OSError:
        handle.close()
        raise BatchBusyError(
            f"Another batch is writing into {path.parent} right now.",
            hint="Wait for it to finish, or choose another output folder.",
        ) from None
    return handle


def _lock_file(handle: IO[bytes]) -> None:
    """An exclusive, non-blocking lock that the operating system drops when the process ends."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


@contextlib.contextmanager
def open_journal(folder: Path) -> Iterator[JournalWriter]:
    """``with open_journal(folder) as journal:`` — the same as ``with JournalWriter(folder)``."""
    with JournalWriter(folder) as writer:
        yield writer
