"""``moebius-inpaint IMAGE --edit-in-place``: the result replaces the handed-over file, keeping what it held.

Lightroom Classic, Capture One and darktable hand over a 16-bit TIFF copy (``NAME-Edit.tif``) and read the same
file back, so the command line can write over IMAGE when asked, and only then.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from icc_profiles import prophoto_rgb
from PIL import Image
from tiny_model import SAMPLES

from core.cli.main import main
from core.photo.mask import fill_region

pytestmark = pytest.mark.usefixtures("samples_dir")  # fails (never skips) without ../shared


def _handed_over(folder: Path, pages: int = 1) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """A 16-bit ProPhoto TIFF like Lightroom's ``-Edit`` copy (extra pages when asked), and its mask."""
    pixels = np.asarray(Image.open(SAMPLES / "coffee.png").convert("RGB"))
    mask = np.asarray(Image.open(SAMPLES / "coffee_mask.png").convert("L"))
    noise = np.random.default_rng(5).integers(-90, 91, pixels.shape)
    samples = np.clip(pixels.astype(np.int32) * 257 + noise, 0, 65535).astype(np.uint16)
    photo = folder / "IMG_0001-Edit.tif"
    with tifffile.TiffWriter(photo) as writer:
        writer.write(samples, photometric="rgb", iccprofile=prophoto_rgb(), description="handed over")
        for page in range(1, pages):
            writer.write(np.full((32, 48, 3), page * 1000, np.uint16), photometric="rgb")
    mask_path = folder / "mask.png"
    Image.fromarray(mask).save(mask_path)
    return photo, mask_path, samples, mask


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_edit_in_place_replaces_the_photo_keeping_depth_profile_and_pages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo, mask_path, samples, mask = _handed_over(tmp_path, pages=2)
    code = main([str(photo), "-m", str(mask_path), "--engine", "classic", "--edit-in-place", "--defaults"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"Wrote {photo}" in captured.out
    # Nothing else appeared in the folder (no NAME_inpainted, no temporary file left behind).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_0001-Edit.tif", "mask.png"]
    with tifffile.TiffFile(photo) as written:
        assert len(written.pages) == 2
        result = written.pages[0].asarray()
        assert bytes(written.pages[0].tags[34675].value) == prophoto_rgb()
        assert np.array_equal(written.pages[1].asarray(), np.full((32, 48, 3), 1000, np.uint16))
    assert result.dtype == np.uint16
    outside = ~fill_region(mask)
    assert np.array_equal(result[outside], samples[outside])
    assert not np.array_equal(result[mask >= 128], samples[mask >= 128])


def test_same_file_is_refused_without_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo, mask_path, _, _ = _handed_over(tmp_path)
    before = _digest(photo)
    code = main([str(photo), "-m", str(mask_path), "-o", str(photo), "--engine", "classic", "--overwrite"])
    assert code == 2
    assert "originals are never changed" in capsys.readouterr().err
    assert _digest(photo) == before


def test_edit_in_place_with_another_output_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo, mask_path, _, _ = _handed_over(tmp_path)
    before = _digest(photo)
    other = tmp_path / "other.tif"
    code = main([str(photo), "-m", str(mask_path), "-o", str(other), "--engine", "classic", "--edit-in-place"])
    assert code == 2
    assert "--edit-in-place writes over IMAGE" in capsys.readouterr().err
    assert _digest(photo) == before and not other.exists()


def test_edit_in_place_never_writes_over_the_mask(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo, _, _, _ = _handed_over(tmp_path)
    before = _digest(photo)
    code = main([str(photo), "-m", str(photo), "--engine", "classic", "--edit-in-place"])
    assert code == 2
    assert "same file" in capsys.readouterr().err
    assert _digest(photo) == before
