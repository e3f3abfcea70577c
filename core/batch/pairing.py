"""Pairing: which mask belongs to which photo of a batch folder.

The conventions, tried for every photo ``NAME.EXT`` of the input folder (not its subfolders):

1. **One mask for all** (``shared``): a single mask file used for every photo (``--mask FILE``), optionally with
   separate masks for portrait and landscape frames (``--mask-portrait`` / ``--mask-landscape``; a square photo
   counts as landscape). It is stretched to each photo, or anchored at a corner or the centre at its own pixel
   size (see :class:`MaskPlacement`). Which orientation a photo has is only known once it is decoded, so that
   choice is made by the runner.
2. **A masks folder** (``masks-folder``): ``masks/NAME.*`` or ``masks/NAME_mask.*`` in the ``masks`` subfolder of
   the input folder, or in the folder given with ``--masks DIR``.
3. **A sibling** (``sibling``): ``NAME_mask.*`` or ``NAME.mask.png`` next to the photo.

Conventions 2 and 3 are looked up together: exactly one candidate pairs the photo; none leaves it unpaired
(``missing``: listed, never guessed); two or more are a ``conflict`` that names every candidate, and the photo
is not processed until one of them is removed or the pairing is fixed by hand. Files whose names mark them as
masks (``*_mask.*``, ``*.mask.png``) are never treated as photos, and files that are not images by their
extension are listed as ``not-image`` (they do not count as failures).

Everything here works on names only: no file is opened, so pairing a folder of thousands of photos is quick.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.common.errors import BatchInputError

PHOTO_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".bmp", ".heic", ".heif"})
"""Extensions of files that are read as photos (HEIC/HEIF needs the optional ``pillow-heif``)."""

MASKS_FOLDER = "masks"
"""The name of the masks subfolder that is looked at by default."""

# Pairing sources, as reported per file.
SHARED = "shared"
MASKS_FOLDER_SOURCE = "masks-folder"
SIBLING = "sibling"
MANUAL = "manual"
MISSING = "missing"
CONFLICT = "conflict"
NOT_IMAGE = "not-image"

ANCHORS = ("top-left", "top-right", "bottom-left", "bottom-right", "centre")


@dataclass(frozen=True)
class MaskPlacement:
    """How a shared mask is laid onto a photo of another size.

    Args:
        mode: ``"resize"`` stretches the mask to the photo (thin strokes survive, see
            :func:`core.photo.mask.fit_mask`); ``"anchor"`` keeps its pixel size and places it at ``anchor``, cropping
            what falls outside the photo (right for a watermark or a sensor spot at a fixed spot).
        anchor: one of :data:`ANCHORS` (only for ``"anchor"``).
    """

    mode: str = "resize"
    anchor: str = "centre"

    def __post_init__(self) -> None:
        if self.mode not in ("resize", "anchor"):
            raise ValueError(f"unknown mask placement {self.mode!r}; expected 'resize' or 'anchor'")
        if self.anchor not in ANCHORS:
            raise ValueError(f"unknown anchor {self.anchor!r}; expected one of {', '.join(ANCHORS)}")

    def describe(self) -> str:
        return "stretched to each photo" if self.mode == "resize" else f"anchored {self.anchor} at its own size"


@dataclass(frozen=True)
class SharedMasks:
    """One mask for every photo, or one per frame orientation.

    Args:
        default: used for photos whose orientation has no mask of its own.
        portrait: used for photos taller than wide.
        landscape: used for photos at least as wide as tall.
        placement: how a mask of another size is laid onto a photo.
    """

    default: Path | None = None
    portrait: Path | None = None
    landscape: Path | None = None
    placement: MaskPlacement = MaskPlacement()

    def __post_init__(self) -> None:
        if self.default is None and self.portrait is None and self.landscape is None:
            raise ValueError("SharedMasks needs at least one mask")

    def files(self) -> list[Path]:
        """Every mask file named, without repeats."""
        return list(dict.fromkeys(p for p in (self.default, self.portrait, self.landscape) if p is not None))

    def for_size(self, width: int, height: int) -> Path | None:
        """The mask for a photo of this upright size, or ``None`` when its orientation has none."""
        specific = self.portrait if height > width else self.landscape
        return specific if specific is not None else self.default


@dataclass(frozen=True)
class Pairing:
    """One file of the input folder and what was found for it.

    Args:
        photo: the photo file.
        mask: its mask file; ``None`` for a shared mask (chosen per photo by :class:`SharedMasks`), a missing
            mask, a conflict or a file that is not an image.
        source: how the mask was found: ``shared``, ``masks-folder``, ``sibling``, ``manual`` (set by a front
            end), or why there is none: ``missing``, ``conflict``, ``not-image``.
        candidates: every mask file that matched, for a conflict (or the one that was chosen).
    """

    photo: Path
    mask: Path | None
    source: str
    candidates: tuple[Path, ...] = ()

    @property
    def ready(self) -> bool:
        """Whether the photo can be processed."""
        return self.source in (SHARED, MASKS_FOLDER_SOURCE, SIBLING, MANUAL)

    def problem(self) -> str | None:
        """Why the photo is not processed, in a sentence; ``None`` when it is ready."""
        if self.source == MISSING:
            return f"No mask found for {self.photo.name}; it is left out (nothing is guessed)."
        if self.source == CONFLICT:
            names = ", ".join(str(c) for c in self.candidates)
            return f"{len(self.candidates)} masks match {self.photo.name}: {names}; remove all but one."
        if self.source == NOT_IMAGE:
            return f"{self.photo.name} is not a photo (its extension is not one of the image formats); ignored."
        return None

    def with_mask(self, mask: Path) -> Pairing:
        """The same photo paired by hand with ``mask`` (what a front end does when the user fixes a pairing)."""
        return Pairing(self.photo, mask, MANUAL, (mask,))


def is_mask_name(name: str) -> bool:
    """Whether a file name follows a mask convention (``NAME_mask.EXT`` or ``NAME.mask.png``)."""
    stem, suffix = os.path.splitext(name)
    return suffix.lower() in PHOTO_EXTENSIONS and (stem.endswith("_mask") or stem.lower().endswith(".mask"))


def pair_folder(
    folder: str | os.PathLike[str],
    *,
    masks_dir: str | os.PathLike[str] | None = None,
    shared: SharedMasks | None = None,
    pattern: str | None = None,
) -> list[Pairing]:
    """Pair every photo of ``folder`` with its mask; see the module's documentation for the rules.

    Args:
        folder: the input folder (its subfolders are not searched for photos).
        masks_dir: the masks folder; ``None`` uses ``folder/masks`` when it exists.
        shared: one mask for all photos (then per-file masks are not looked for).
        pattern: only files whose names match this glob (e.g. ``"*.jpg"``, case-sensitive as on the file
            system) are considered; ``None`` takes every file.

    Returns:
        One :class:`Pairing` per file considered, sorted by file name.

    Raises:
        BatchInputError: the input folder or the masks folder is missing or not a folder.
    """
    source = Path(folder)
    if not source.is_dir():
        state = "is not a folder" if source.exists() else "does not exist"
        raise BatchInputError(f"The input folder {source} {state}.")
    # 1. The file names of the folder, once (hidden files and subfolders are never photos).
    names = sorted(e.name for e in os.scandir(source) if not e.name.startswith(".") and _is_file(e))
    # 2. Index the masks folder by stem, once, so each photo's lookup costs nothing.
    mask_folder = _masks_folder(source, masks_dir)
    by_stem = _index_masks(mask_folder) if mask_folder is not None and shared is None else {}
    siblings = {name for name in names if is_mask_name(name)}
    siblings_by_stem = _index_siblings(siblings)
    shared_files = {p.resolve() for p in shared.files()} if shared is not None else set()
    pairings: list[Pairing] = []
    for name in names:
        # 3. Skip masks and files the pattern leaves out.
        if name in siblings or (pattern is not None and not fnmatch.fnmatch(name, pattern)):
            continue
        photo = source / name
        if shared_files and photo.resolve() in shared_files:
            continue
        if os.path.splitext(name)[1].lower() not in PHOTO_EXTENSIONS:
            pairings.append(Pairing(photo, None, NOT_IMAGE))
            continue
        # 4. Pair it.
        if shared is not None:
            pairings.append(Pairing(photo, None, SHARED))
            continue
        stem = os.path.splitext(name)[0]
        found = [(MASKS_FOLDER_SOURCE, p) for p in by_stem.get(stem, ())]
        found += [(SIBLING, source / s) for s in siblings_by_stem.get(stem, ())]
        if not found:
            pairings.append(Pairing(photo, None, MISSING))
        elif len(found) > 1:
            pairings.append(Pairing(photo, None, CONFLICT, tuple(p for _, p in found)))
        else:
            kind, mask = found[0]
            pairings.append(Pairing(photo, mask, kind, (mask,)))
    return pairings


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _masks_folder(source: Path, masks_dir: str | os.PathLike[str] | None) -> Path | None:
    """The masks folder to use: the one given (which must exist), else ``source/masks`` when it exists."""
    if masks_dir is None:
        default = source / MASKS_FOLDER
        return default if default.is_dir() else None
    folder = Path(masks_dir)
    if not folder.is_dir():
        state = "is not a folder" if folder.exists() else "does not exist"
        raise BatchInputError(f"The masks folder {folder} {state}.")
    return folder


def _index_masks(folder: Path) -> dict[str, list[Path]]:
    """Image files of the masks folder by the photo stem they belong to (``NAME`` and ``NAME_mask`` → ``NAME``)."""
    index: dict[str, list[Path]] = {}
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        stem, suffix = os.path.splitext(entry.name)
        if entry.name.startswith(".") or suffix.lower() not in PHOTO_EXTENSIONS or not _is_file(entry):
            continue
        for key in {stem, stem.removesuffix("_mask"), stem.removesuffix(".mask")}:
            index.setdefault(key, []).append(folder / entry.name)
    return index


def _index_siblings(siblings: Iterable[str]) -> dict[str, list[str]]:
    """Sibling mask names by the photo stem they belong to: ``STEM_mask.*`` and ``STEM.mask.png``."""
    index: dict[str, list[str]] = {}
    for name in sorted(siblings):
        stem, suffix = os.path.splitext(name)
        if stem.endswith("_mask"):
            index.setdefault(stem.removesuffix("_mask"), []).append(name)
        elif stem.lower().endswith(".mask") and suffix.lower() == ".png":
            index.setdefault(stem[: -len(".mask")], []).append(name)
    return index
