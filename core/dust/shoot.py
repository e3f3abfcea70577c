"""Dust over a whole shoot: scan every photo of a folder, vote, and report what was found."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.batch.pairing import NOT_IMAGE, UNREADABLE, pair_folder
from core.common.cancel import CancelToken
from core.common.errors import ImageReadError
from core.common.progress import ProgressEvent
from core.dust.detect import FrameScan, scan_frame
from core.dust.vote import DEFAULT_MIN_FRAMES, DEFAULT_MIN_SHARE, DustSpot, vote_spots
from core.photo.read import MAX_PIXELS


@dataclass
class DustReport:
    """The outcome of :func:`find_dust`.

    Args:
        folder: the folder searched.
        scans: the frames read.
        spots: the dust spots found.
        skipped: photos that could not be read, with the reason.
    """

    folder: Path
    scans: list[FrameScan]
    spots: list[DustSpot]
    skipped: dict[Path, str] = field(default_factory=dict)


def shoot_photos(folder: str | os.PathLike[str]) -> tuple[list[Path], dict[Path, str]]:
    """The photos of ``folder`` as the batch sees them (same names, masks left out), and unreadable entries.

    Raises:
        BatchInputError: the folder is missing or not a folder.
    """
    photos: list[Path] = []
    skipped: dict[Path, str] = {}
    for pairing in pair_folder(folder):
        if pairing.source == NOT_IMAGE:
            continue
        # An unreadable photo is skipped; a readable photo whose only mask is unreadable is still a frame.
        if pairing.source == UNREADABLE and pairing.mask is None:
            skipped[pairing.photo] = pairing.detail or "cannot be read"
            continue
        photos.append(pairing.photo)
    return photos, skipped


def find_dust(
    folder: str | os.PathLike[str],
    *,
    min_frames: int = DEFAULT_MIN_FRAMES,
    min_share: float = DEFAULT_MIN_SHARE,
    max_pixels: int = MAX_PIXELS,
    cancel: CancelToken | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
) -> DustReport:
    """Find the sensor dust of the photos in ``folder`` (nothing is written).

    Args:
        folder: the shoot's folder (its subfolders are not searched).
        min_frames: frames a spot must be seen in (see :func:`core.dust.vote.vote_spots`).
        min_share: share of the frames smooth at a spot's place that must show it.
        max_pixels: refuse photos larger than this.
        cancel: checked before each frame.
        progress: called after each frame with ``ProgressEvent("dust", done, total)``.

    Returns:
        The :class:`DustReport`; photos that cannot be read are listed in ``skipped``, not fatal.

    Raises:
        BatchInputError: the folder is missing or not a folder.
        CancelledError: ``cancel`` was set.
    """
    photos, skipped = shoot_photos(folder)
    scans: list[FrameScan] = []
    for done, photo in enumerate(photos, start=1):
        if cancel is not None:
            cancel.raise_if_cancelled()
        try:
            scans.append(scan_frame(photo, max_pixels=max_pixels))
        except ImageReadError as error:
            skipped[photo] = error.user_message()
        if progress is not None:
            progress(ProgressEvent("dust", done, len(photos)))
    spots = vote_spots(scans, min_frames=min_frames, min_share=min_share)
    return DustReport(Path(folder), scans, spots, skipped)
