"""Checking an earlier run's outputs before a resume trusts them.

The journal records, for every photo it finished, the output's size and SHA-256 (journals written before the
hash was recorded have only the size, and adopted records of the oldest journals neither). A resume trusts an
output only while it is still the file that was written: a regular file of the recorded size and hash. One that
is missing, or damaged so that it no longer decodes (a truncated write, a bad disk), is redone. One that still
decodes but changed since (a photographer touched it up, or saved over it) is kept as it is and reported: a
resume never throws away work it cannot prove is only ours and broken; ``--overwrite`` makes it again.

Hashing an output costs a few milliseconds per megabyte: next to filling a photo it is nothing, and it catches
what a size alone cannot (an output overwritten by another file of the same size, bytes flipped on a bad disk).
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in blocks (the hex digest).

    Args:
        path: the file.

    Raises:
        OSError: it cannot be read.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def output_record(path: Path) -> dict[str, Any]:
    """What the journal records about a freshly written output: ``{"bytes": size, "sha256": hex}``.

    Args:
        path: the output file.
    """
    return {"bytes": path.stat().st_size, "sha256": file_sha256(path)}


def changed_output(record: Mapping[str, Any], path: Path, *, max_pixels: int) -> str | None:
    """Why the output a journal record describes can no longer be trusted, or ``None`` when it is intact.

    Args:
        record: the photo's latest journal record (``done``, or ``started`` for a run that crashed before it
            could say it was done).
        path: the output file.
        max_pixels: the batch's pixel limit, for outputs that can only be checked by decoding them.

    Returns:
        A phrase that completes "its output …", e.g. ``"is missing"`` or ``"changed since it was written (its
        size is 1,024 bytes, not 52,310)"``.
    """
    # 1. Still a regular file (a link to one counts).
    try:
        info = path.stat()
    except FileNotFoundError:
        return "is missing" if not path.is_symlink() else "is a broken link"
    except OSError as error:
        return f"cannot be examined ({error.strerror or error})"
    if not stat.S_ISREG(info.st_mode):
        return "is no longer a file"
    # 2. The recorded size, then the recorded hash.
    size, sha256 = record.get("bytes"), record.get("sha256")
    if isinstance(size, int) and info.st_size != size:
        return f"changed since it was written (its size is {info.st_size:,} bytes, not {size:,})"
    if isinstance(sha256, str):
        try:
            if file_sha256(path) != sha256:
                return "changed since it was written (its content differs)"
        except OSError as error:
            return f"cannot be read ({error.strerror or error})"
        return None
    if isinstance(size, int):
        return None  # a journal from before hashes were recorded: the size is all there is to compare
    # 3. Nothing recorded to compare with (a crash before the run could record it): it must at least decode.
    return undecodable(path, max_pixels)


def undecodable(path: Path, max_pixels: int) -> str | None:
    """``"does not decode as an image …"`` when the file is damaged or truncated, else ``None``.

    Decoders forgive a file cut short after its pixels (a PNG without its end chunk decodes), so the end of the
    formats that mark it is checked first: a write cut short is damage, never somebody's edit.
    """
    if _cut_short(path):
        return "does not decode as an image (it is damaged or truncated)"
    from core.common.errors import MoebiusError
    from core.photo.read import read_image

    try:
        read_image(path, max_pixels=max_pixels)
    except (MoebiusError, Exception):  # noqa: BLE001 - ours, or a decoder's own failure on a damaged file
        return "does not decode as an image (it is damaged or truncated)"
    return None



def _cut_short(path: Path) -> bool:
    """A PNG, JPEG or WebP file that does not end where its format says it ends."""
    try:
        with path.open("rb") as handle:
            head = handle.read(12)
            size = handle.seek(0, 2)
            handle.seek(max(0, size - 12))
            tail = handle.read()
    except OSError:
        return True
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return not tail.endswith(b"IEND\xaeB`\x82")  # the end chunk and its checksum
    if head.startswith(b"\xff\xd8"):
        return b"\xff\xd9" not in tail  # the end-of-image marker (writers put it last)
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return int.from_bytes(head[4:8], "little") + 8 > size  # the RIFF header says how long the file is
    return False
