"""Undoing an import: what it replaced in the models folder is kept until the whole import has succeeded.

An import installs several models one after the other (:func:`core.weights.importer.import_models`). When the
second one fails to install (the disk fills up, a folder turns out read-only, the user cancels), the first one
must not stay half of a new set: :class:`InstallUndo` keeps, before each model folder is touched, a hard link to
every file the install may replace or delete (weights and ``config.json``; a copy where links are not
possible), and a copy of the manifest's records. :meth:`InstallUndo.undo` puts all of it back;
:meth:`InstallUndo.discard` drops the kept files once everything is in place.

The kept files are hidden (``.NAME.STAMP.undo``) and invisible to every loader; ones left by a process that was
killed in the middle of an import are removed by the next import into that folder.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import time
from pathlib import Path

from core.weights.registry import CONFIG_NAME, UNET_WEIGHT_NAMES
from core.weights.verification import Manifest

UNDO_SUFFIX = ".undo"
_STALE_AFTER_S = 3600  # an import still running elsewhere never takes this long between two folders


class InstallUndo:
    """Keeps what an import replaces, so that a failure puts the models folder back as it was.

    Args:
        root: the models folder.
        manifest: the manifest the import records in (its records are restored by :meth:`undo`).
    """

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root = root
        self.manifest = manifest
        self._records = copy.deepcopy(manifest.files)
        self._kept: dict[Path, Path | None] = {}  # file → its kept copy, or None when it did not exist
        self._created: list[Path] = []  # model folders this import created

    def protect(self, folder: Path) -> None:
        """Call before installing into ``folder``: keep every file there that the install may replace or delete.

        Args:
            folder: a model folder below the models folder.

        Raises:
            OSError: a file could not be kept (then nothing of this folder has been touched yet).
        """
        # 1. Folders this import creates are removed again by an undo (the topmost missing one first).
        missing = [p for p in (folder, *folder.parents) if p != self.root and self.root in p.parents and not p.exists()]
        self._created.extend(reversed(missing))
        if folder.is_dir():
            _remove_stale_copies(folder)
        # 2. A hard link costs no space and keeps the old content when the install renames a new file over it.
        for name in (*UNET_WEIGHT_NAMES, CONFIG_NAME):
            path = folder / name
            if path in self._kept:
                continue
            if not path.is_file():
                self._kept[path] = None
                continue
            kept = path.with_name(f".{name}.{int(time.time())}.{os.getpid()}{UNDO_SUFFIX}")
            try:
                os.link(path, kept)
            except OSError:
                shutil.copy2(path, kept)  # a file system without hard links
            self._kept[path] = kept

    def undo(self) -> list[str]:
        """Put back every kept file, remove what the import added, restore the manifest's records.

        Returns:
            What could not be put back (empty when everything was), in sentences for the user.
        """
        problems: list[str] = []
        for path, kept in reversed(list(self._kept.items())):
            try:
                if kept is not None and path.is_file() and os.path.samefile(kept, path):
                    kept.unlink()  # never replaced (renaming a link over its twin would do nothing at all)
                elif kept is not None:
                    os.replace(kept, path)
                elif path.is_file() or path.is_symlink():
                    path.unlink()  # added by this import (a folder in its place was never ours to remove)
            except OSError as exc:
                problems.append(f"{path} could not be restored ({exc.strerror or exc}).")
        for folder in reversed(self._created):
            with contextlib.suppress(OSError):
                _remove_stale_copies(folder, older_than=0)
                folder.rmdir()  # only when empty: nothing of the user's is ever removed
        self.manifest.files = self._records
        self.manifest.try_save()
        self._kept.clear()
        return problems

    def discard(self) -> None:
        """Everything is installed: drop the kept files."""
        for kept in self._kept.values():
            if kept is not None:
                with contextlib.suppress(OSError):
                    kept.unlink()
        self._kept.clear()


def _remove_stale_copies(folder: Path, *, older_than: float = _STALE_AFTER_S) -> None:
    """Delete kept files an import killed midway left in ``folder`` (their name carries when they were made)."""
    now = time.time()
    for entry in folder.glob(f".*{UNDO_SUFFIX}"):
        parts = entry.name.split(".")
        stamp = parts[-3] if len(parts) >= 4 else ""
        if stamp.isdigit() and now - int(stamp) >= older_than:
            with contextlib.suppress(OSError):
                entry.unlink()
