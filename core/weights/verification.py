"""The verification record of model files: what was checked, its SHA-256, and the size and time it had then.

Hashing a 900 MB checkpoint takes seconds, so it is done once: when a file is installed or first seen. The
manifest (``manifest.json`` in the folder it describes) remembers each file's hash together with its size and
modification time; as long as both are unchanged a later load trusts the file after one ``stat``. When either
changed, the file is hashed again and compared.

The manifest is a cache of work already done, not a source of truth: a missing or damaged manifest only means
files are hashed again. It is replaced in one step when saved, so readers never see half a file; two programs
saving at the same moment can lose one record, which again only costs a re-hash.

It also keeps the hashes learned from downloads (``releases``): the Hub states a large file's SHA-256, so the
first verified download of a released file records it for later comparison and for the maintainers to copy into
the registry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.common.cancel import CancelToken
from core.common.files import write_bytes_atomically

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1
_READ_BLOCK = 4 * 1024 * 1024


def _blocks(path: Path, cancel: CancelToken | None, on_bytes: Callable[[int], None] | None) -> Iterator[bytes]:
    """The file's content in blocks, checking ``cancel`` and reporting progress between blocks."""
    with open(path, "rb") as handle:
        while block := handle.read(_READ_BLOCK):
            if cancel is not None:
                cancel.raise_if_cancelled()
            if on_bytes is not None:
                on_bytes(len(block))
            yield block


def sha256_file(
    path: Path, *, cancel: CancelToken | None = None, on_bytes: Callable[[int], None] | None = None
) -> str:
    """SHA-256 of a file as 64 lowercase hex digits.

    Args:
        path: the file.
        cancel: checked between blocks (raises :class:`~core.common.errors.CancelledError`).
        on_bytes: called with each block's length, for progress.
    """
    digest = hashlib.sha256()
    for block in _blocks(path, cancel, on_bytes):
        digest.update(block)
    return digest.hexdigest()


def git_blob_sha1(path: Path, *, cancel: CancelToken | None = None) -> str:
    """The Git object id of a file (what the Hub gives as ETag for small files kept in Git, not LFS).

    Args:
        path: the file.
        cancel: checked between blocks.
    """
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    for block in _blocks(path, cancel, None):
        digest.update(block)
    return digest.hexdigest()


def fingerprint(path: Path) -> tuple[int, int]:
    """``(size, mtime_ns)`` of a file: what has to stay the same for its recorded hash to be trusted.

    Args:
        path: the file (symbolic links are followed).
    """
    info = path.stat()
    return info.st_size, info.st_mtime_ns


@dataclass
class FileRecord:
    """What the manifest knows about one file.

    Args:
        size: size in bytes when it was verified.
        mtime_ns: modification time (nanoseconds) when it was verified.
        sha256: its SHA-256 then.
        kind: ``"unet"``, ``"vae"`` or ``"config"``.
        model: the registry name it belongs to (``ft_places2``, ``vae``), or ``None`` when unknown.
        verified_at: when it was verified (UTC, ISO 8601).
        source: where it came from, e.g. ``{"origin": "hub", "repo_id": …, "revision": …, "sha256": …}`` or
            ``{"origin": "import", "path": …}``; the ``sha256`` there is the original file's (e.g. the ``.bin``
            a ``.safetensors`` was converted from).
    """

    size: int
    mtime_ns: int
    sha256: str
    kind: str
    model: str | None = None
    verified_at: str = ""
    source: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: object) -> FileRecord | None:
        """A record from its JSON form, or ``None`` if ``data`` is not one (a damaged entry is ignored)."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                size=int(data["size"]),
                mtime_ns=int(data["mtime_ns"]),
                sha256=str(data["sha256"]),
                kind=str(data.get("kind", "")),
                model=None if data.get("model") is None else str(data["model"]),
                verified_at=str(data.get("verified_at", "")),
                source=dict(data["source"]) if isinstance(data.get("source"), dict) else {},
            )
        except (KeyError, TypeError, ValueError):
            return None


class Manifest:
    """The verification records of the files below one folder.

    Args:
        root: the folder the records' relative names start from (the models folder, or the conversion cache).
        path: the manifest file; ``root/manifest.json`` by default.
    """

    def __init__(self, root: Path, path: Path | None = None) -> None:
        self.root = root
        self.path = path if path is not None else root / MANIFEST_NAME
        self.files: dict[str, FileRecord] = {}
        self.releases: dict[str, dict[str, Any]] = {}

    @classmethod
    def load(cls, root: Path, path: Path | None = None) -> Manifest:
        """Read the manifest of ``root``; an empty one when it is missing or damaged.

        Args:
            root: see the class.
            path: see the class.
        """
        manifest = cls(root, path)
        try:
            data = json.loads(manifest.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return manifest
        except (OSError, ValueError) as exc:
            # Only a cache of verification work: start afresh and hash again rather than fail.
            log.warning("Ignoring the damaged manifest %s (%s); files will be verified again.", manifest.path, exc)
            return manifest
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
            return manifest
        raw_files = data.get("files")
        for key, value in (raw_files.items() if isinstance(raw_files, dict) else ()):
            record = FileRecord.from_json(value)
            if record is not None:
                manifest.files[str(key)] = record
        raw_releases = data.get("releases")
        for key, value in (raw_releases.items() if isinstance(raw_releases, dict) else ()):
            if isinstance(value, dict) and isinstance(value.get("sha256"), str):
                manifest.releases[str(key)] = dict(value)
        return manifest

    def key(self, path: Path) -> str:
        """The record name of ``path``: relative to the root with ``/`` separators, or absolute outside it.

        Args:
            path: a file.
        """
        absolute = path.absolute()
        try:
            return absolute.relative_to(self.root.absolute()).as_posix()
        except ValueError:
            return str(absolute)

    def get(self, path: Path) -> FileRecord | None:
        """The record of ``path``, if any.

        Args:
            path: a file.
        """
        return self.files.get(self.key(path))

    def is_unchanged(self, path: Path) -> bool:
        """Whether ``path`` has a record and still has the size and modification time recorded.

        Args:
            path: a file.
        """
        record = self.get(path)
        if record is None:
            return False
        try:
            return fingerprint(path) == (record.size, record.mtime_ns)
        except OSError:
            return False

    def record(
        self,
        path: Path,
        sha256: str,
        *,
        kind: str,
        model: str | None = None,
        source: dict[str, Any] | None = None,
    ) -> FileRecord:
        """Remember that ``path`` was verified now with hash ``sha256`` (call :meth:`save` afterwards).

        Args:
            path: the verified file.
            sha256: its hash.
            kind: ``"unet"``, ``"vae"`` or ``"config"``.
            model: the registry name it belongs to.
            source: where it came from (kept from an earlier record when ``None``).
        """
        size, mtime_ns = fingerprint(path)
        previous = self.get(path)
        entry = FileRecord(
            size=size,
            mtime_ns=mtime_ns,
            sha256=sha256,
            kind=kind,
            model=model,
            verified_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            source=dict(source) if source is not None else (previous.source if previous else {}),
        )
        self.files[self.key(path)] = entry
        return entry

    def forget(self, path: Path) -> None:
        """Drop the record of ``path`` and of everything below it when it is a folder.

        Args:
            path: a file or folder.
        """
        key = self.key(path)
        for name in [k for k in self.files if k == key or k.startswith(key.rstrip("/") + "/")]:
            del self.files[name]

    def remember_release(self, repo_id: str, filename: str, *, sha256: str, size: int, revision: str) -> None:
        """Keep the hash of a released file learned from a verified download.

        Args:
            repo_id: the Hub repository.
            filename: the file's path in it.
            sha256: its verified hash.
            size: its size in bytes.
            revision: the commit it was downloaded at.
        """
        self.releases[f"{repo_id}/{filename}"] = {"sha256": sha256, "size": size, "revision": revision}

    def save(self) -> None:
        """Write the manifest in one step (creating its folder if needed)."""
        data = {
            "format": FORMAT_VERSION,
            "files": {key: asdict(value) for key, value in sorted(self.files.items())},
            "releases": dict(sorted(self.releases.items())),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomically(self.path, (json.dumps(data, indent=1) + "\n").encode("utf-8"))

    def try_save(self) -> bool:
        """:meth:`save`, but a folder that cannot be written only costs a re-hash next time; returns success."""
        try:
            self.save()
        except OSError as exc:
            log.warning("Could not save %s (%s); files will be verified again next time.", self.path, exc)
            return False
        return True
