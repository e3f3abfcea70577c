"""Camera RAW photos: developed by LibRaw at 16 bits with the camera's white balance, filled, and saved as a
16-bit TIFF beside the RAW, which is never written. The RAW files are small genuine DNGs made by the test."""

from __future__ import annotations

import hashlib
import io
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from dng import write_dng
from PIL import Image, ImageCms
from pytestqt.qtbot import QtBot

from core.batch.pairing import PHOTO_EXTENSIONS
from core.batch.prepare import DEFAULT_TEMPLATE, output_name
from core.cli.main import main
from core.common.errors import ImageReadError, ImageTooLargeError, OutputError
from core.photo.mask import fill_region
from core.photo.raw import RAW_SAVE_NOTE, result_extension
from core.photo.read import read_image
from core.photo.write import check_output_path, write_image

HEIGHT, WIDTH = 64, 96


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def dng(tmp_path: Path) -> Path:
    return write_dng(tmp_path / "IMG_0001.dng", height=HEIGHT, width=WIDTH)


def test_a_dng_is_developed_at_16_bits_with_the_cameras_white_balance(dng: Path) -> None:
    photo = read_image(dng)
    assert photo.format == "RAW" and photo.bit_depth == 16
    assert photo.native is not None and photo.native.dtype == np.uint16 and photo.native.shape == (HEIGHT, WIDTH, 3)
    assert photo.pixels.shape == (HEIGHT, WIDTH, 3) and photo.pixels.dtype == np.uint8
    # The 8-bit pixels are the 16-bit samples rounded.
    assert np.abs(photo.pixels.astype(int) - photo.native.astype(int) / 257).max() <= 0.5 + 1e-9
    # Real 16-bit detail: many more distinct levels than 8 bits could hold.
    assert len(np.unique(photo.native[:, :, 1])) > 2 * len(np.unique(photo.pixels[:, :, 1]))
    # The camera recorded a strongly tinted response to white (0.5, 1, 0.8): only its white balance makes the
    # gray band neutral again.
    gray = photo.native[HEIGHT - 8 :, 8:-8].reshape(-1, 3).astype(float).mean(axis=0)
    assert gray.min() > 0.5 * 65535 and (gray.max() - gray.min()) < 0.02 * gray.mean(), gray
    # Colours of the scene: red, green and blue thirds.
    red, green, blue = (photo.pixels[20, column].astype(int) for column in (10, 48, 85))
    assert red[0] > red[1] + 80 and red[0] > red[2] + 80
    assert green[1] > green[0] + 80 and green[1] > green[2] + 80
    assert blue[2] > blue[0] + 80 and blue[2] > blue[1] + 50
    # Described as sRGB, and the camera's make and model are kept; orientation is normal now.
    assert photo.icc_profile is not None
    assert "sRGB" in ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(photo.icc_profile)))
    assert photo.exif is not None
    exif = Image.Exif()
    exif.load(photo.exif)
    assert exif.get(271) == "Moebius" and exif.get(272) == "Test Camera" and exif.get(0x0112) == 1


def test_the_cameras_orientation_turns_the_picture_upright(tmp_path: Path) -> None:
    upright = read_image(write_dng(tmp_path / "upright.dng"))
    turned = read_image(write_dng(tmp_path / "turned.dng", orientation=6))  # held turned 90° clockwise
    assert turned.pixels.shape == (WIDTH, HEIGHT, 3) and turned.orientation == 1
    assert turned.native is not None and upright.native is not None
    assert np.array_equal(turned.native, np.rot90(upright.native, -1))


def test_cli_saves_a_16_bit_tiff_beside_the_raw_and_never_touches_it(
    dng: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[20:36, 40:60] = 255
    mask_path = tmp_path / "IMG_0001_mask.png"
    Image.fromarray(mask).save(mask_path)
    before = digest(dng)
    assert main([str(dng), "--mask", str(mask_path), "--engine", "classic", "--quiet"]) == 0
    out = tmp_path / "IMG_0001_inpainted.tif"
    assert out.is_file() and digest(dng) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_0001.dng", "IMG_0001_inpainted.tif", "IMG_0001_mask.png"]
    # 16 bits, RGB, the camera's make carried; every sample outside the fill region is the developed sample.
    source = read_image(dng).native
    assert source is not None
    with tifffile.TiffFile(out) as tiff:
        page = tiff.pages.first
        result = page.asarray()
        assert page.tags[271].value == "Moebius"
        assert 34675 in page.tags  # the sRGB profile
    assert result.dtype == np.uint16 and result.shape == (HEIGHT, WIDTH, 3)
    outside = ~fill_region(mask)
    assert np.array_equal(result[outside], source[outside])
    assert not np.array_equal(result[~outside], source[~outside])  # and the hole was filled


def test_a_raw_output_name_is_refused_before_any_work(
    dng: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mask_path = tmp_path / "mask.png"
    Image.fromarray(np.full((HEIGHT, WIDTH), 255, np.uint8)).save(mask_path)
    for name in ("result.dng", "result.CR2", "result.nef"):
        target = tmp_path / name
        assert main([str(dng), "--mask", str(mask_path), "-o", str(target), "--engine", "classic"]) == 2
        err = capsys.readouterr().err
        assert "RAW files are never written" in err and "Traceback" not in err
        assert not target.exists()
    photo = read_image(dng)
    with pytest.raises(OutputError, match="never written"):
        write_image(tmp_path / "again.dng", photo.pixels, like=photo)
    with pytest.raises(OutputError) as refused:
        check_output_path(tmp_path / "again.arw")
    assert "16-bit TIFF" in refused.value.user_message() and ".tif" in refused.value.user_message()
    assert not (tmp_path / "again.dng").exists()


def test_every_front_end_names_a_raw_result_as_a_tiff(tmp_path: Path) -> None:
    from app.editor.document import default_output_path

    for name in ("a.dng", "b.CR2", "c.cr3", "d.NEF", "e.arw", "f.raf"):
        assert Path(name).suffix.lower() in PHOTO_EXTENSIONS
        assert result_extension(Path(name)) == ".tif"
        assert output_name(DEFAULT_TEMPLATE, tmp_path / name) == f"{Path(name).stem}_inpainted.tif"
        assert default_output_path(tmp_path / name) == tmp_path / f"{Path(name).stem}_inpainted.tif"
    # Other photos keep their own extension.
    assert output_name(DEFAULT_TEMPLATE, tmp_path / "g.jpg") == "g_inpainted.jpg"
    assert default_output_path(tmp_path / "h.heic") == tmp_path / "h_inpainted.heic"
    assert "16-bit TIFF" in RAW_SAVE_NOTE


def test_a_batch_fills_a_raw_photo_into_a_tiff(dng: Path, tmp_path: Path) -> None:
    masks = tmp_path / "masks"
    masks.mkdir()
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[10:30, 10:30] = 255
    Image.fromarray(mask).save(masks / "IMG_0001.png")
    out_dir = tmp_path / "out"
    before = digest(dng)
    assert main(["batch", str(tmp_path), "-o", str(out_dir), "--engine", "classic", "--quiet"]) == 0
    result = out_dir / "IMG_0001_inpainted.tif"
    with tifffile.TiffFile(result) as tiff:
        samples = tiff.pages.first.asarray()
    assert samples.dtype == np.uint16 and samples.shape == (HEIGHT, WIDTH, 3)
    assert digest(dng) == before


def test_bad_raw_files_give_clear_errors(dng: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ImageTooLargeError, match="megapixels"):
        read_image(dng, max_pixels=1000)
    broken = tmp_path / "broken.nef"
    broken.write_bytes(dng.read_bytes()[:300])
    with pytest.raises(ImageReadError, match="cannot be developed"):
        read_image(broken)
    monkeypatch.setitem(sys.modules, "rawpy", None)  # as if rawpy were not installed
    with pytest.raises(ImageReadError, match="rawpy"):
        read_image(dng)


def test_the_editor_saves_a_raw_photo_as_a_tiff_and_says_so(qtbot: QtBot, tmp_path: Path) -> None:
    from fake_engine import FILL, FakeEngine
    from test_app_editor import make_window, stroke, wait_for_result

    dng = write_dng(tmp_path / "DSC_0042.dng", height=128, width=192)
    before = digest(dng)
    engine = FakeEngine()
    window = make_window(qtbot, engine)
    try:
        window.panel.steps.setValue(3)
        # 1. Opened on a thread (LibRaw takes its time), with the note about where results go.
        assert window.open_image(dng)
        qtbot.waitUntil(lambda: window.photo_path == dng, timeout=10_000)
        assert RAW_SAVE_NOTE in window.statusBar().currentMessage()
        assert window.document.save_target == tmp_path / "DSC_0042_inpainted.tif"
        # 2. Fill, accept, save: a 16-bit TIFF beside the RAW, the note repeated, the RAW untouched.
        window.canvas.set_zoom(1.0)
        window.canvas.set_brush_size(20)
        stroke(qtbot, window, [(60, 60), (120, 60)])
        window.run_inpaint()
        wait_for_result(qtbot, window)
        window.accept_result()
        assert window.save()
        saved = tmp_path / "DSC_0042_inpainted.tif"
        assert RAW_SAVE_NOTE in window.statusBar().currentMessage()
        with tifffile.TiffFile(saved) as tiff:
            samples = tiff.pages.first.asarray()
        assert samples.dtype == np.uint16 and samples.shape == (128, 192, 3)
        assert tuple(int(v) for v in np.round(samples[60, 90] / 257)) == FILL
        assert digest(dng) == before
    finally:
        engine.release()
        window.document.mark_clean()
        window.shutdown()
