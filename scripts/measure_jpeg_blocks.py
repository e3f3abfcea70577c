"""How much of a JPEG stays bit-identical when a fill is written back: block copy against encoding anew.

Run from the repository root with the shared samples beside it::

    .venv/bin/python scripts/measure_jpeg_blocks.py [--samples ../shared/samples]

For the real JPEG sample and JPEGs made from the PNG samples at several qualities and chroma subsamplings,
each with a small and a large mask, it fills with the classic engine and writes the result twice: block for
block (the default) and encoded anew with the source's tables and subsampling (the old way, ``--quality``
aside). It prints the share of pixels outside the mask that decode bit-identically, the same share beyond the
coding units the mask touches (and the one-pixel ring that chroma upsampling reaches when chroma is
subsampled), and the share of 8×8 blocks (all components) whose quantized coefficients are the source's.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import jpeglib
import numpy as np
from PIL import Image

from core.inpaint.classic import ClassicEngine
from core.job.request import InpaintRequest
from core.job.settings import JobSettings
from core.photo.mask import check_mask
from core.photo.read import read_image
from core.photo.write import write_image


def blocks_identical(source: Path, out: Path) -> float:
    """Share of 8×8 blocks, over all components, whose coefficients are equal in both files."""
    before, after = jpeglib.read_dct(str(source)), jpeglib.read_dct(str(out))
    same = total = 0
    for name in ("Y", "Cb", "Cr", "K"):
        a, b = getattr(before, name), getattr(after, name)
        if a is None:
            continue
        equal = np.all(np.asarray(a) == np.asarray(b), axis=(2, 3))
        same, total = same + int(equal.sum()), total + equal.size
    return same / total


def masks(height: int, width: int, sample_mask: np.ndarray | None) -> dict[str, np.ndarray]:
    """A small mask (a spot of about 1 % of the photo, or the sample's own) and a large one (about 30 %)."""
    small = np.zeros((height, width), np.uint8)
    cv2.circle(small, (width // 3, height // 2), int(0.056 * min(height, width) * 1.8), 255, -1)
    large = np.zeros((height, width), np.uint8)
    cv2.ellipse(large, (width // 2, height // 2), (int(width * 0.33), int(height * 0.3)), 15, 0, 360, 255, -1)
    found = {"small": small, "large": large}
    if sample_mask is not None:
        found["sample mask"] = sample_mask
    return found


def beyond_touched(mask: np.ndarray, subsampling: int) -> np.ndarray:
    """Pixels outside every coding unit that holds a mask pixel ≥ 8 (plus a one-pixel ring when subsampled)."""
    unit = 16 if subsampling else 8
    height, width = mask.shape
    rows, columns = -(-height // unit), -(-width // unit)
    padded = np.zeros((rows * unit, columns * unit), bool)
    padded[:height, :width] = mask >= 8
    units = padded.reshape(rows, unit, columns, unit).any(axis=(1, 3))
    area = np.repeat(np.repeat(units, unit, axis=0), unit, axis=1)[:height, :width]
    if subsampling:
        area = cv2.dilate(area.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    return ~area


def measure(source: Path, mask: np.ndarray, folder: Path) -> tuple[float, float, float, float, float]:
    """(pixels identical outside the mask, beyond the touched units, blocks identical) for block copy, then
    (pixels outside the mask, blocks) for encoding anew."""
    photo = read_image(source)
    settings = JobSettings().replace(engine="classic")
    result = ClassicEngine().inpaint(InpaintRequest(photo.pixels, check_mask(mask, photo.pixels.shape), settings))
    kept, anew = folder / "kept.jpg", folder / "anew.jpg"
    notes: list[str] = []
    write_image(kept, result.image, like=photo, overwrite=True, notes=notes)
    assert not notes, notes
    image = Image.fromarray(result.image)
    image.save(anew, qtables=photo.jpeg_qtables, subsampling=photo.jpeg_subsampling)
    outside, beyond = mask < 8, beyond_touched(mask, photo.jpeg_subsampling or 0)
    shares = []
    for path in (kept, anew):
        same = np.all(read_image(path).pixels == photo.pixels, axis=-1)
        shares.append(float(same[outside].mean()))
        if path == kept:
            shares.append(float(same[beyond].mean()))
        shares.append(blocks_identical(source, path))
    return shares[0], shares[1], shares[2], shares[3], shares[4]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=Path, default=Path("../shared/samples"))
    samples = parser.parse_args().samples
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        # 1. The photos: the real JPEG, and JPEGs made from the PNG samples.
        photos: list[tuple[str, Path, np.ndarray | None]] = [
            ("rocket.jpg", samples / "rocket.jpg", np.asarray(Image.open(samples / "rocket_mask.png")))
        ]
        for name, quality, subsampling in [
            ("coffee", 95, 0),
            ("coffee", 85, 2),
            ("chelsea", 90, 1),
            ("astronaut", 75, 2),
            ("astronaut", 60, 0),
        ]:
            path = folder / f"{name}_q{quality}_s{subsampling}.jpg"
            Image.open(samples / f"{name}.png").convert("RGB").save(path, quality=quality, subsampling=subsampling)
            sample_mask = np.asarray(Image.open(samples / f"{name}_mask.png").convert("L"))
            label = f"{name} q{quality} {('4:4:4', '4:2:2', '4:2:0')[subsampling]}"
            photos.append((label, path, sample_mask))
        # 2. Each with its masks; the table is what the report quotes.
        print(
            f"{'photo':30} {'mask':12} {'masked':>7} | {'kept: px':>9} {'beyond':>7} {'blocks':>7} | "
            f"{'anew: px':>9} {'blocks':>7}"
        )
        for label, path, sample_mask in photos:
            photo = read_image(path)
            if label.startswith("rocket"):
                sampling = ("4:4:4", "4:2:2", "4:2:0")[photo.jpeg_subsampling or 0]
                label = f"rocket.jpg (real, q{photo.jpeg_quality}, {sampling})"
            for mask_name, mask in masks(photo.height, photo.width, sample_mask).items():
                kept_px, beyond, kept_blocks, anew_px, anew_blocks = measure(path, mask, folder)
                share = float((mask >= 128).mean())
                print(
                    f"{label:30} {mask_name:12} {share:7.1%} | {kept_px:9.2%} {beyond:7.2%} {kept_blocks:7.2%} | "
                    f"{anew_px:9.2%} {anew_blocks:7.2%}"
                )


if __name__ == "__main__":
    main()
