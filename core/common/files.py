"""Careful file placement for model files: temporary names, atomic renames, free-space and permission checks.

A model file only ever appears under its final name complete and verified: it is written under a hidden
temporary name in the same folder, flushed to disk, and renamed in one step. A crash, a full disk or a cancel
leaves at most a ``.*.tmp`` file, which no loader looks at and :func:`remove_stale_temporaries` cleans up.
Operating-system errors are turned into the project's own exceptions with a message a user can act on.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
import uuid
from pathlib import Path

from core.common.errors import DiskSpaceError, ModelError, ModelFolderNotWritableError

TEMP_SUFFIX = ".tmp"
# Head room kept free beyond what a write needs, so the system does not run completely full.
SPACE_MARGIN_BYTES = 64 * 1024 * 1024

_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}


def format_bytes(count: float) -> str:
    """A size for people: ``"904.8 MB"`` (decimal units, like file managers and the Hub show them).

    Args:
        count: number of bytes.
    """
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(value) < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # unreachable; keeps mypy sure every path returns


def temp_path_for(final: Path) -> Path:
    """A fresh hidden temporary name in ``final``'s folder (same file system, so the rename is atomic).

    Args:
        final: the name the file will have once it is complete.
    """
    return final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}")


def fsync_file(path: Path) -> None:
    """Push a written file's content to the disk before it is renamed into place.

    Args:
        path: the file.
    """
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); silently does nothing where folders cannot be opened.

    Args:
        folder: the folder whose entries changed.
    """
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit(temp: Path, final: Path) -> None:
    """Move a complete temporary file to its final name in one step, durably.

    Args:
        temp: the complete file under its temporary name (same folder as ``final``).
        final: its final name; an existing file there is replaced.
    """
    fsync_file(temp)
    os.replace(temp, final)
    fsync_dir(final.parent)


def write_bytes_atomically(final: Path, data: bytes) -> None:
    """Write a small file (a config, the manifest) so that readers see the old or the new content, never a mix.

    Args:
        final: where the file goes.
        data: its complete content.
    """
    temp = temp_path_for(final)
    try:
        temp.write_bytes(data)
        commit(temp, final)
    finally:
        temp.unlink(missing_ok=True)


def remove_stale_temporaries(folder: Path, *, older_than: float = 0.0) -> None:
    """Delete temporary files a crashed or cancelled write left in ``folder`` (not recursive).

    Args:
        folder: a model folder.
        older_than: only files last modified at least this many seconds ago (so that a write still running in
            another program is not disturbed); 0 removes all.
    """
    if not folder.is_dir():
        return
    now = time.time()
    for entry in folder.glob(f".*{TEMP_SUFFIX}"):
        try:
            if now - entry.stat().st_mtime >= older_than:
                entry.unlink()
        except OSError:
            pass  # gone already, or not ours to delete: harmless either way


def free_bytes(folder: Path) -> int:
    """Free space for this user on the file system holding ``folder`` (or its nearest existing parent).

    Args:
        folder: a folder that may not exist yet.
    """
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def check_free_space(folder: Path, needed: int, *, what: str) -> None:
    """Raise :class:`DiskSpaceError` unless ``needed`` bytes (plus a margin) are free where ``folder`` lives.

    Args:
        folder: where the bytes will be written.
        needed: bytes about to be written.
        what: what needs the space, for the message (e.g. ``"the download of ft_places2"``).
    """
    free = free_bytes(folder)
    if needed + SPACE_MARGIN_BYTES > free:
        raise DiskSpaceError(
            f"Not enough free disk space for {what}: it needs about {format_bytes(needed)}, "
            f"but only {format_bytes(free)} are free in {folder}.",
            hint="Free some space, or move the models folder to a larger disk with MOEBIUS_STUDIO_MODELS.",
        )


def ensure_writable_dir(folder: Path, *, what: str = "the models folder") -> Path:
    """Create ``folder`` if needed and prove it can be written, by writing and removing a tiny file.

    Args:
        folder: the folder.
        what: how to call it in messages.

    Raises:
        ModelFolderNotWritableError: the folder is read-only or not ours.
        DiskSpaceError: the disk is full.
    """
    probe = folder / f".write-test-{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise os_error(exc, f"write to {what}", folder) from exc
    return folder


def os_error(exc: OSError, action: str, path: Path) -> ModelError:
    """The project's exception for an operating-system error while handling model files.

    Args:
        exc: the error.
        action: what was being done, completing "Could not …" (e.g. ``"write to the models folder"``).
        path: the file or folder concerned.
    """
    if exc.errno in _NOT_WRITABLE:
        return ModelFolderNotWritableError(
            f"Could not {action}: {path} is read-only or not writable by this user.",
            hint="Choose a writable models folder with MOEBIUS_STUDIO_MODELS, or fix the folder's permissions.",
        )
    if exc.errno in _NO_SPACE:
        return DiskSpaceError(
            f"Could not {action}: the disk holding {path} is full.",
            hint="Free some space, or move the models folder to a larger disk with MOEBIUS_STUDIO_MODELS.",
        )
    return ModelError(f"Could not {action} ({path}): {exc.strerror or exc}.")
