"""What the batch works on: which drops are a batch, how dropped folders and files are paired, where results go
by default, and the editor's settings in one line."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QMimeData

from core.batch import PHOTO_EXTENSIONS, Pairing, SharedMasks, pair_folder
from core.job.engines import ENGINES
from core.job.settings import JobSettings

DEFAULT_OUTPUT_FOLDER = "inpainted"
IMAGE_FILTER = "Images (" + " ".join(f"*{ext}" for ext in sorted(PHOTO_EXTENSIONS)) + ");;All files (*)"


def _dropped_paths(mime: QMimeData) -> list[Path]:
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


def batch_inputs(mime: QMimeData) -> list[Path]:
    """What a drop means for a batch: folders, or several photos; empty when it is one photo or nothing usable.

    One photo stays the editor's (it opens for painting); a folder, or two photos or more, is a batch.
    """
    paths = _dropped_paths(mime)
    folders = [p for p in paths if p.is_dir()]
    photos = [p for p in paths if p.is_file() and p.suffix.lower() in PHOTO_EXTENSIONS]
    if folders or len(photos) >= 2:
        return folders + photos
    return []


def one_photo(mime: QMimeData) -> list[Path]:
    """A single dropped photo, which the batch window takes as a batch of one."""
    return [p for p in _dropped_paths(mime) if p.is_file() and p.suffix.lower() in PHOTO_EXTENSIONS][:1]


def pair_inputs(
    inputs: Iterable[Path], *, masks_dir: Path | None = None, shared: SharedMasks | None = None
) -> list[Pairing]:
    """Pair every photo of the input folders and the chosen files (each file by the rules of its folder)."""
    pairings: dict[Path, Pairing] = {}
    files_by_folder: dict[Path, set[str]] = {}
    for path in inputs:
        if path.is_dir():
            for pairing in pair_folder(path, masks_dir=masks_dir, shared=shared):
                pairings.setdefault(pairing.photo, pairing)
        else:
            files_by_folder.setdefault(path.parent, set()).add(path.name)
    for folder, names in files_by_folder.items():
        for pairing in pair_folder(folder, masks_dir=masks_dir, shared=shared):
            if pairing.photo.name in names:
                pairings.setdefault(pairing.photo, pairing)
    return list(pairings.values())


def default_output_folder(inputs: list[Path]) -> Path | None:
    """``<first folder>/inpainted``: beside the photos, never among them (core refuses an input folder)."""
    if not inputs:
        return None
    first = inputs[0]
    return (first if first.is_dir() else first.parent) / DEFAULT_OUTPUT_FOLDER


def describe_source(inputs: list[Path], masks_dir: Path | None, shared: SharedMasks | None) -> str:
    """Where the photos come from and how their masks are found, in one line."""
    if not inputs:
        return "Drop a folder of photos here, or choose one."
    where = ", ".join(p.name or str(p) for p in inputs[:3]) + ("…" if len(inputs) > 3 else "")
    if shared is not None and shared.default is not None:
        how = f"one mask for all: {shared.default.name}"
    elif masks_dir is not None:
        how = f"masks from {masks_dir}"
    else:
        how = "masks found by name"
    return f"Photos from {where} · {how}"


def settings_line(settings: JobSettings, runs: str | None = None) -> str:
    """The editor's settings a batch uses, in one line, naming only what the engine that runs uses.

    Args:
        settings: the settings.
        runs: the engine ``auto`` stands for now (``"moebius"`` or ``"classic"``); ``None``: not known.
    """
    engine = runs if settings.engine == "auto" and runs is not None else settings.engine
    info = ENGINES.get(engine)
    name = info.label if info is not None else "Automatic engine"
    if settings.engine == "auto":
        name = f"Automatic: {name}" if info is not None else name
    parts = [name]
    if info is None or info.uses_steps:
        parts.append(f"{settings.steps} steps")
    if info is None or info.uses_guidance:
        parts.append(f"guidance {settings.guidance:g}")
    if info is None or info.uses_seed:
        parts.append("random seed" if settings.seed is None else f"seed {settings.seed}")
    if settings.colour_match and (info is None or info.needs_weights):  # the classic fill never corrects colour
        parts.append("colour match")
    if settings.grain_match:
        parts.append("grain match")
    return " · ".join(parts)


__all__ = ["batch_inputs", "default_output_folder", "describe_source", "one_photo", "pair_inputs", "settings_line"]
