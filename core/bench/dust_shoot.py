"""A made-up shoot for the dust benchmark and tests: real sample photos with synthetic dust at fixed sensor spots.

Every frame is a crop of one sample photo, scaled to one sensor size (:data:`SENSOR`, landscape, 600×400), taken
at a different place so the backgrounds differ. Some frames are portrait: their upright picture is turned into
the sensor's layout and saved with EXIF orientation 6 or 8, as a camera held upright would save them. Dust is
then added in the sensor's layout: soft dark discs (a flat centre and a soft rim about 3 pixels wide) of a
stated radius and contrast (0.08 = 8 % darker), so it lands at one sensor place in every frame whatever the
frame's orientation. Frames are written as JPEG (quality 95), with the orientation in EXIF.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from core.photo.orientation import to_stored

SENSOR = (600, 400)
"""Sensor width and height of every frame (landscape), in pixels."""
DUST_SPOTS = ((90, 70), (300, 60), (520, 90), (150, 300), (420, 250), (540, 340), (250, 190), (60, 360))
"""Sensor positions (x, y) of the synthetic dust."""
SAMPLES = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")
# (left, top, crop share of the sample's size, EXIF orientation) per frame of each sample.
FRAMES = (
    (0.0, 0.0, 0.7, 1),
    (0.3, 0.25, 0.7, 6),
    (0.15, 0.3, 0.6, 1),
    (0.25, 0.0, 0.65, 8),
    (0.0, 0.0, 0.4, 1),
    (0.9, 0.1, 0.45, 6),
)


@dataclass(frozen=True)
class Frame:
    path: Path
    orientation: int


def frame_pixels(
    sample: npt.NDArray[np.uint8], left: float, top: float, share: float, portrait: bool
) -> npt.NDArray[np.uint8]:
    """A crop of ``sample`` at the sensor's aspect (or its portrait turn), scaled to the sensor size, upright."""
    height, width = sample.shape[:2]
    out_w, out_h = (SENSOR[1], SENSOR[0]) if portrait else SENSOR
    crop_w = width * share
    crop_h = crop_w * out_h / out_w
    if crop_h > height * share:
        crop_h = height * share
        crop_w = crop_h * out_w / out_h
    x0 = int(left * (width - crop_w))
    y0 = int(top * (height - crop_h))
    crop = Image.fromarray(sample[y0 : y0 + int(crop_h), x0 : x0 + int(crop_w)])
    return np.asarray(crop.resize((out_w, out_h), Image.Resampling.BICUBIC), np.uint8)


def add_dust(
    sensor: npt.NDArray[np.uint8], spots: Sequence[tuple[int, int]], radius: float, contrast: float
) -> npt.NDArray[np.uint8]:
    """Darken soft discs of ``radius`` by ``contrast`` at ``spots`` (x, y) of a sensor-layout RGB frame."""
    rows, columns = np.mgrid[0 : sensor.shape[0], 0 : sensor.shape[1]].astype(np.float32)
    shade = np.ones(sensor.shape[:2], np.float32)
    for x, y in spots:
        distance = np.hypot(columns - x, rows - y)
        # Flat centre, then a smooth fall to nothing over 3 pixels around the radius.
        edge = np.clip((radius + 1.5 - distance) / 3.0, 0.0, 1.0)
        edge = edge * edge * (3 - 2 * edge)
        shade *= 1.0 - contrast * edge
    dusty: npt.NDArray[np.uint8] = np.clip(sensor.astype(np.float32) * shade[..., None] + 0.5, 0, 255).astype(np.uint8)
    return dusty


def write_frame(path: Path, sensor: npt.NDArray[np.uint8], orientation: int) -> Frame:
    """Save sensor-layout pixels as a JPEG that says how to turn them upright."""
    image = Image.fromarray(sensor)
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, "JPEG", quality=95, exif=exif.tobytes())
    return Frame(path, orientation)


def make_shoot(
    folder: Path,
    samples_dir: Path,
    *,
    radius: float = 6.0,
    contrast: float = 0.08,
    spots: Sequence[tuple[int, int]] = DUST_SPOTS,
    samples: tuple[str, ...] = SAMPLES,
    frames: Sequence[tuple[float, float, float, int]] = FRAMES,
) -> list[Frame]:
    """Write a shoot of ``len(samples) × len(frames)`` frames with dust at ``spots`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for sample_name in samples:
        sample = np.asarray(Image.open(samples_dir / sample_name).convert("RGB"))
        for number, (left, top, share, orientation) in enumerate(frames):
            upright = frame_pixels(sample, left, top, share, portrait=orientation in (5, 6, 7, 8))
            sensor = to_stored(upright, orientation)
            if spots:
                sensor = add_dust(sensor, spots, radius, contrast)
            stem = Path(sample_name).stem
            written.append(write_frame(folder / f"{stem}_{number}.jpg", sensor, orientation))
    return written


def busy_crops(folder: Path, samples_dir: Path) -> list[Frame]:
    """Frames without dust that are busy texture nearly everywhere: chelsea's fur and astronaut's flag and suit."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    regions = {
        "chelsea.png": ((0.0, 0.3, 0.55), (0.5, 0.2, 0.5), (0.3, 0.6, 0.6)),
        "astronaut.png": ((0.0, 0.0, 0.45), (0.1, 0.05, 0.35), (0.4, 0.7, 0.5)),
    }
    for sample_name, crops in regions.items():
        sample = np.asarray(Image.open(samples_dir / sample_name).convert("RGB"))
        for number, (left, top, share) in enumerate(crops):
            upright = frame_pixels(sample, left, top, share, portrait=False)
            written.append(write_frame(folder / f"{Path(sample_name).stem}_busy{number}.jpg", upright, 1))
    return written
