"""Sensor dust: dark spots that sit at the same sensor position across the frames of a shoot.

:mod:`core.dust.detect` finds candidate spots in one frame (in sensor coordinates, EXIF orientation undone),
:mod:`core.dust.vote` keeps the spots that repeat across frames, :mod:`core.dust.masks` writes one mask per
photo for the batch to pair by name, and :mod:`core.dust.shoot` runs the three over a folder.
"""

from core.dust.crops import spot_crop
from core.dust.detect import Candidate, FrameScan, scan_frame
from core.dust.masks import spot_mask, write_masks
from core.dust.shoot import DustReport, find_dust
from core.dust.vote import DEFAULT_MIN_FRAMES, DEFAULT_MIN_SHARE, DustSpot, vote_spots

__all__ = [
    "DEFAULT_MIN_FRAMES",
    "DEFAULT_MIN_SHARE",
    "Candidate",
    "DustReport",
    "DustSpot",
    "FrameScan",
    "find_dust",
    "scan_frame",
    "spot_crop",
    "spot_mask",
    "vote_spots",
    "write_masks",
]
