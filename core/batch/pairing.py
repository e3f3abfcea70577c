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
extension are listed as ``not-image`` (they do not count as failures). Hidden entries (names starting with a
dot) and subfolders are not looked at.

Nothing is dropped silently: an entry named like a photo (by its extension, in any case) that is not a
readable file — a broken link, a link that loops, a folder, a device or pipe, a file this user may not read —
is listed as ``unreadable`` with the reason, and the batch reports it as failed. So is a photo whose only mask
candidate is such an entry.

Everything here works on names and file status only: no file is opened, so pairing a folder of thousands of
photos is quick.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.common.errors import BatchInputError
from core.photo.raw import RAW_EXTENSIONS

PHOTO_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".bmp", ".heic", ".heif", ".hif", ".avif"}
    | RAW_EXTENSIONS
)
"""Extensions of files that are read as photos (camera RAW files among them: their results are TIFFs)."""

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
UNREADABLE = "unreadable"

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
            end), or why there is none: ``missing``, ``conflict``, ``not-image``, ``unreadable`` (the entry, or
            its only mask, is not a readable file).
        candidates: every mask file that matched, for a conflict (or the one that was chosen).
        detail: for ``unreadable``, what is wrong, completing a sentence about the photo (``"is a broken
            link …"``).
    """

    photo: Path
    mask: Path | None
    source: str
    candidates: tuple[Path, ...] = ()
    detail: str | None = None

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
        if self.source == UNREADABLE:
            return f"{self.photo.name} {self.detail or 'cannot be read'}; it is not processed."
        return None

    def with_mask(self, mask: Path) -> Pairing:
        """The same photo paired by hand with ``mask`` (what a front end does when the user fixes a pairing).

        A photo entry that cannot be read stays as it is: no mask makes it processable.
        """
        if self.source == UNREADABLE and self.mask is None:
            return self
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
    # 1. The folder's entries, once: readable files, and what is wrong with each photo-named entry that is not
    #    one (hidden entries and subfolders with other names are never photos).
    problems: dict[Path, str] = {}
    names = _photo_like_entries(source, problems)
    # 2. Index the masks folder by stem, once, so each photo's lookup costs nothing.
    mask_folder = _masks_folder(source, masks_dir)
    by_stem = _index_masks(mask_folder, problems) if mask_folder is not None and shared is None else {}
    siblings = {name for name in names if is_mask_name(name)}
    siblings_by_stem = _index_siblings(siblings)
    shared_files = {_resolved(p) for p in shared.files()} if shared is not None else set()
    pairings: list[Pairing] = []
    for name in names:
        # 3. Skip masks and files the pattern leaves out.
        if name in siblings or (pattern is not None and not fnmatch.fnmatch(name, pattern)):
            continue
        photo = source / name
        if shared_files and _resolved(photo) in shared_files:
            continue
        if not _looks_like_photo(name):
            pairings.append(Pairing(photo, None, NOT_IMAGE))
            continue
        # 4. A photo-named entry that cannot be read is reported, never dropped.
        if photo in problems:
            pairings.append(Pairing(photo, None, UNREADABLE, detail=problems[photo]))
            continue
        # 5. Pair it.
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
        elif found[0][1] in problems:
            mask = found[0][1]
            detail = f"has one mask, {mask.name}, and it {problems[mask]}"
            pairings.append(Pairing(photo, mask, UNREADABLE, (), detail))
        else:
            kind, mask = found[0]
            pairings.append(Pairing(photo, mask, kind, (mask,)))
    return pairings


def _photo_like_entries(folder: Path, problems: dict[Path, str]) -> list[str]:
    """The sorted names of ``folder``'s readable files and of its photo-named entries that are not; what is wrong
    with the latter goes into ``problems``. Hidden entries and other subfolders are left out."""
    names: list[str] = []
    for entry in os.scandir(folder):
        if entry.name.startswith("."):
            continue
        problem = entry_problem(entry)
        if problem is None:
            names.append(entry.name)
        elif _looks_like_photo(entry.name):
            names.append(entry.name)
            problems[folder / entry.name] = problem
    return sorted(names)


def entry_problem(entry: os.DirEntry[str]) -> str | None:
    """What keeps a folder entry from being read as a photo, completing "NAME …"; ``None`` for a readable file.

    Args:
        entry: an entry of :func:`os.scandir`.
    """
    import errno
    import stat

    # 1. What the entry leads to (a link is followed; a link to a readable regular file is fine).
    try:
        mode = os.stat(entry.path).st_mode
    except OSError as error:
        if not entry.is_symlink():
            return f"cannot be examined ({error.strerror or error})"
        target = os.readlink(entry.path)
        if isinstance(error, FileNotFoundError):
            return f"is a broken link (it points to {target}, which does not exist)"
        if error.errno == errno.ELOOP:
            return "is a link that leads back to itself"
        if isinstance(error, PermissionError):
            return f"is a link to {target}, which this user may not open"
        return f"is a link to {target}, which cannot be opened ({error.strerror or error})"
    # 2. A regular file this user may read, or something else.
    if stat.S_ISREG(mode):
        return None if os.access(entry.path, os.R_OK) else "cannot be read: permission denied"
    if stat.S_ISDIR(mode):
        return "is a folder, not a photo file"
    return "is not a regular file (a device, pipe or socket)"


def _looks_like_photo(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in PHOTO_EXTENSIONS


def _resolved(path: Path) -> Path:
    """``path`` with links resolved; a link that loops is left as it is (it matches nothing)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


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


def _index_masks(folder: Path, problems: dict[Path, str]) -> dict[str, list[Path]]:
    """Image files of the masks folder by the photo stem they belong to (``NAME`` and ``NAME_mask`` → ``NAME``).

    Image-named entries that cannot be read are indexed too, with what is wrong in ``problems``, so that a photo
    whose mask is a broken link is told so instead of "no mask found".
    """
    index: dict[str, list[Path]] = {}
    for name in _photo_like_entries(folder, problems):
        stem, suffix = os.path.splitext(name)
        if suffix.lower() not in PHOTO_EXTENSIONS:
            continue
        for key in {stem, stem.removesuffix("_mask"), stem.removesuffix(".mask")}:
            index.setdefault(key, []).append(folder / name)
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
