"""Lossless round trips through the command line: depth, modes, alpha, orientation, metadata, limits.

Every test fills a mask with the classic engine (fast and deterministic) and checks what the written file
holds: unmasked pixels bit-identical at the source's own depth (hashed), alpha untouched, the documented mode,
and the colour profile, EXIF and XMP carried over.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms

from core.cli.main import main
from core.common.errors import OutputNotWritableError
from core.photo.photo import Photo
from core.photo.read import read_image
from core.photo.samples import output_samples
from core.photo.write import write_image

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
needs_samples = pytest.mark.usefixtures("samples_dir")  # fails (never skips) without ../shared/samples

ORIENTATION, MAKE = 0x0112, 0x010F
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="1"/></x:xmpmeta>'


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def gradient16(height: int, width: int) -> np.ndarray:
    """16-bit colour whose values are not multiples of 257, so 8-bit rounding would show."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    channels = [(x * 211 + y * 7) % 65536, (y * 307 + x * 3 + 5) % 65536, ((x + y) * 149 + 11) % 65536]
    return np.stack(channels, axis=2).astype(np.uint16)


def mask_file(folder: Path, height: int, width: int, box: tuple[int, int, int, int]) -> tuple[Path, np.ndarray]:
    mask = np.zeros((height, width), np.uint8)
    left, top, right, bottom = box
    mask[top:bottom, left:right] = 255
    path = folder / "mask.png"
    Image.fromarray(mask).save(path)
    return path, mask


def inpaint(photo: Path, mask: Path, out: Path, *extra: str) -> None:
    code = main([str(photo), "--mask", str(mask), "-o", str(out), "--engine", "classic", "--quiet", *extra])
    assert code == 0


def exif_with(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = "Test camera"
    exif.get_ifd(0x8769)[0x9003] = "2024:05:01 12:00:00"  # DateTimeOriginal, in the EXIF directory
    return exif.tobytes()


# -- 16 bits ------------------------------------------------------------------------------------------------


def test_sixteen_bit_png_stays_sixteen_bits_outside_the_mask(tmp_path: Path) -> None:
    source, out = tmp_path / "deep.png", tmp_path / "out.png"
    samples = gradient16(120, 160)
    cv2.imwrite(str(source), samples[:, :, ::-1])
    mask_path, mask = mask_file(tmp_path, 120, 160, (50, 40, 110, 80))
    inpaint(source, mask_path, out)

    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
    assert written.dtype == np.uint16 and written.shape == samples.shape
    assert digest(written[mask < 128]) == digest(samples[mask < 128])
    assert not np.array_equal(written[mask >= 128], samples[mask >= 128])
    photo = read_image(source)
    assert photo.bit_depth == 16 and photo.mode == "RGB;16" and photo.native is not None
    assert np.array_equal(photo.pixels, ((samples.astype(np.uint32) + 128) // 257).astype(np.uint8))


def test_sixteen_bit_tiff_keeps_depth_profile_xmp_and_tags(tmp_path: Path) -> None:
    source, out = tmp_path / "scan.tif", tmp_path / "out.tif"
    samples = gradient16(100, 140)
    tags = [(34675, 7, len(SRGB), SRGB, True), (700, 1, len(XMP), XMP, True), (271, "s", 0, "Scanner Co", True)]
    tifffile.imwrite(
        source,
        samples,
        photometric="rgb",
        compression="zlib",
        extratags=tags,
        metadata=None,
        resolution=(600, 600),
        resolutionunit=2,
    )
    mask_path, mask = mask_file(tmp_path, 100, 140, (0, 0, 40, 30))  # a corner
    inpaint(source, mask_path, out)

    with tifffile.TiffFile(out) as written:
        page = written.pages[0]
        pixels = page.asarray()
        assert pixels.dtype == np.uint16 and pixels.shape == samples.shape
        assert digest(pixels[mask < 128]) == digest(samples[mask < 128])
        assert page.tags[34675].value == SRGB and page.tags[700].value == XMP
        assert page.tags[271].value == "Scanner Co"
    again = read_image(out)
    assert again.dpi == (600.0, 600.0) and again.icc_profile == SRGB and again.xmp == XMP
    # The same file asked for as PNG is 16-bit too, with the profile; as JPEG it is 8-bit.
    inpaint(source, mask_path, tmp_path / "out.png")
    with Image.open(tmp_path / "out.png") as png:
        assert png.info.get("icc_profile") == SRGB and png.info.get("dpi") == pytest.approx((600, 600), abs=0.1)
    assert cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    inpaint(source, mask_path, tmp_path / "out.jpg")
    with Image.open(tmp_path / "out.jpg") as jpeg:
        assert jpeg.mode == "RGB" and jpeg.info.get("icc_profile") == SRGB
        assert jpeg.getexif()[MAKE] == "Scanner Co"


def test_sixteen_bit_rgba_keeps_its_sixteen_bit_alpha(tmp_path: Path) -> None:
    source, out = tmp_path / "layer.png", tmp_path / "out.png"
    samples = gradient16(64, 96)
    alpha = ((np.arange(96)[None, :] * 683 + np.arange(64)[:, None] * 5) % 65536).astype(np.uint16)
    alpha = np.broadcast_to(alpha, (64, 96))
    cv2.imwrite(str(source), np.dstack([samples[:, :, ::-1], alpha]))
    mask_path, mask = mask_file(tmp_path, 64, 96, (30, 20, 60, 40))
    inpaint(source, mask_path, out)
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16 and written.shape == (64, 96, 4)
    assert np.array_equal(written[:, :, 3], alpha)
    assert digest(written[:, :, 2::-1][mask < 128]) == digest(samples[mask < 128])
    assert read_image(source).mode == "RGBA;16"


def test_sixteen_bit_gray_stays_sixteen_bit_gray(tmp_path: Path) -> None:
    source, out = tmp_path / "gray16.png", tmp_path / "out.png"
    samples = gradient16(80, 100)[:, :, 0]
    Image.fromarray(samples).save(source)
    mask_path, mask = mask_file(tmp_path, 80, 100, (40, 30, 70, 50))
    inpaint(source, mask_path, out)
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16 and written.shape == (80, 100)
    assert digest(written[mask < 128]) == digest(samples[mask < 128])


def test_changed_pixels_keep_the_sixteen_bit_detail_under_the_soft_edge() -> None:
    native = gradient16(4, 4)
    pixels = ((native.astype(np.uint32) + 128) // 257).astype(np.uint8)
    photo = Photo(pixels=pixels, alpha=None, format="PNG", mode="RGB;16", bit_depth=16, native=native)
    result = pixels.copy()
    result[1, 1] = np.clip(result[1, 1].astype(int) + 3, 0, 255)
    samples, alpha = output_samples(result, photo, "PNG")
    assert alpha is None and samples.dtype == np.uint16
    expected = native.copy()
    expected[1, 1] = np.clip(native[1, 1].astype(int) + 257 * (result[1, 1].astype(int) - pixels[1, 1]), 0, 65535)
    assert np.array_equal(samples, expected)


# -- modes --------------------------------------------------------------------------------------------------


def test_rgba_png_keeps_alpha_untouched(tmp_path: Path) -> None:
    source, out = tmp_path / "rgba.png", tmp_path / "out.png"
    rng = np.random.default_rng(2)
    rgba = rng.integers(0, 256, (60, 80, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(source)
    mask_path, mask = mask_file(tmp_path, 60, 80, (20, 20, 50, 40))
    inpaint(source, mask_path, out)
    with Image.open(out) as written:
        assert written.mode == "RGBA"
        data = np.asarray(written)
    assert np.array_equal(data[:, :, 3], rgba[:, :, 3])
    assert digest(data[mask < 128]) == digest(rgba[mask < 128])


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_grayscale_stays_grayscale(tmp_path: Path, ext: str) -> None:
    source, out = tmp_path / f"gray.{ext}", tmp_path / f"out.{ext}"
    y, x = np.mgrid[0:90, 0:120]
    gray = ((x * 2 + y) % 256).astype(np.uint8)
    Image.fromarray(gray, "L").save(source, **({"quality": 92} if ext == "jpg" else {}))
    mask_path, mask = mask_file(tmp_path, 90, 120, (40, 30, 80, 60))
    inpaint(source, mask_path, out)
    with Image.open(out) as written, Image.open(source) as original:
        assert written.mode == "L"
        if ext == "png":
            assert digest(np.asarray(written)[mask < 128]) == digest(np.asarray(original)[mask < 128])
        else:
            difference = np.abs(np.asarray(written).astype(int) - np.asarray(original))[mask < 128]
            assert difference.mean() < 2


def test_gray_with_alpha_stays_gray_with_alpha(tmp_path: Path) -> None:
    source, out = tmp_path / "la.png", tmp_path / "out.png"
    rng = np.random.default_rng(5)
    la = rng.integers(0, 256, (50, 70, 2), dtype=np.uint8)
    Image.fromarray(la, "LA").save(source)
    mask_path, mask = mask_file(tmp_path, 50, 70, (10, 10, 30, 30))
    inpaint(source, mask_path, out)
    with Image.open(out) as written:
        assert written.mode == "LA"
        data = np.asarray(written)
    assert np.array_equal(data[:, :, 1], la[:, :, 1])
    assert digest(data[:, :, 0][mask < 128]) == digest(la[:, :, 0][mask < 128])


def test_palette_png_becomes_rgb_and_keeps_transparency(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    palette = Image.fromarray(rng.integers(0, 256, (60, 60, 3), dtype=np.uint8)).quantize(32)
    palette.save(tmp_path / "p.png")
    palette.save(tmp_path / "pt.png", transparency=0)
    mask_path, mask = mask_file(tmp_path, 60, 60, (20, 20, 40, 40))
    inpaint(tmp_path / "p.png", mask_path, tmp_path / "out.png")
    inpaint(tmp_path / "pt.png", mask_path, tmp_path / "out_t.png")
    with Image.open(tmp_path / "out.png") as written, Image.open(tmp_path / "p.png") as original:
        assert written.mode == "RGB"
        expected = np.asarray(original.convert("RGB"))
        assert digest(np.asarray(written)[mask < 128]) == digest(expected[mask < 128])
    with Image.open(tmp_path / "out_t.png") as written, Image.open(tmp_path / "pt.png") as original:
        assert written.mode == "RGBA"
        assert np.array_equal(np.asarray(written)[:, :, 3], np.asarray(original.convert("RGBA"))[:, :, 3])


def test_cmyk_jpeg_is_written_as_rgb(tmp_path: Path) -> None:
    source = tmp_path / "print.jpg"
    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 256, (40, 50, 4), dtype=np.uint8), "CMYK").save(source, quality=95)
    mask_path, mask = mask_file(tmp_path, 40, 50, (10, 10, 30, 30))
    inpaint(source, mask_path, tmp_path / "out.png")
    inpaint(source, mask_path, tmp_path / "out.jpg")
    with Image.open(tmp_path / "out.png") as written, Image.open(source) as original:
        assert written.mode == "RGB"
        expected = np.asarray(original.convert("RGB"))
        assert digest(np.asarray(written)[mask < 128]) == digest(expected[mask < 128])
    with Image.open(tmp_path / "out.jpg") as written:
        assert written.mode == "RGB"


# -- orientation and metadata -------------------------------------------------------------------------------


def test_exif_rotated_jpeg_is_filled_upright_and_written_upright(tmp_path: Path) -> None:
    source, out = tmp_path / "portrait.jpg", tmp_path / "out.jpg"
    stored = np.zeros((60, 100, 3), np.uint8)  # landscape as stored; orientation 6 shows it as portrait
    stored[:, :, 1] = np.arange(100, dtype=np.uint8)[None, :] * 2
    Image.fromarray(stored).save(source, quality=90, subsampling=0, exif=exif_with(6), xmp=XMP)
    # The mask is drawn on the photo as seen: portrait, 60 wide and 100 high.
    mask_path, mask = mask_file(tmp_path, 100, 60, (20, 10, 40, 30))
    inpaint(source, mask_path, out)
    with Image.open(out) as written, Image.open(source) as original:
        assert written.size == (60, 100)
        exif = written.getexif()
        assert exif[ORIENTATION] == 1 and exif[MAKE] == "Test camera"
        assert exif.get_ifd(0x8769)[0x9003] == "2024:05:01 12:00:00"
        upright = np.asarray(original.transpose(Image.Transpose.ROTATE_270))
        difference = np.abs(np.asarray(written).astype(int) - upright)[mask < 128]
        assert difference.mean() < 2
    again = read_image(out)
    assert again.orientation == 1 and again.jpeg_quality == 90 and again.jpeg_subsampling == 0
    assert again.xmp is not None and b'tiff:Orientation="1"' in again.xmp


@needs_samples
@pytest.mark.parametrize("ext", ["png", "jpg", "tif", "webp"])
def test_profile_and_xmp_are_carried_in_every_format(tmp_path: Path, ext: str) -> None:
    source = SAMPLES / "chelsea.png"  # carries an ICC profile and XMP
    out = tmp_path / f"out.{ext}"
    inpaint(source, SAMPLES / "chelsea_mask.png", out)
    photo = read_image(source)
    assert photo.icc_profile and photo.xmp
    with Image.open(out) as written:
        assert written.info.get("icc_profile") == photo.icc_profile
    assert read_image(out).xmp == photo.xmp
    if ext == "png":
        mask = np.asarray(Image.open(SAMPLES / "chelsea_mask.png").convert("L"))
        assert digest(read_image(out).pixels[mask < 128]) == digest(photo.pixels[mask < 128])


def test_eight_bit_tiff_carries_its_tags(tmp_path: Path) -> None:
    source, out = tmp_path / "photo.tif", tmp_path / "out.tif"
    rng = np.random.default_rng(8)
    pixels = rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)
    tags = [(271, "s", 0, "Camera Maker", True), (700, 1, len(XMP), XMP, True), (34675, 7, len(SRGB), SRGB, True)]
    tifffile.imwrite(source, pixels, photometric="rgb", extratags=tags, metadata=None)
    mask_path, mask = mask_file(tmp_path, 50, 60, (20, 20, 40, 40))
    inpaint(source, mask_path, out)
    with Image.open(out) as written:
        assert written.getexif()[MAKE] == "Camera Maker" and written.info.get("icc_profile") == SRGB
        assert digest(np.asarray(written)[mask < 128]) == digest(pixels[mask < 128])
    assert read_image(out).xmp == XMP


# -- formats, limits, failures ------------------------------------------------------------------------------


@needs_samples
def test_output_follows_the_input_format_unless_asked(tmp_path: Path) -> None:
    photo = tmp_path / "rocket.jpg"
    shutil.copy(SAMPLES / "rocket.jpg", photo)
    code = main([str(photo), "--mask", str(SAMPLES / "rocket_mask.png"), "--engine", "classic", "--quiet"])
    assert code == 0
    result = tmp_path / "rocket_inpainted.jpg"
    source = read_image(photo)
    with Image.open(result) as written:
        assert written.format == "JPEG"
        assert written.quantization == Image.open(photo).quantization  # type: ignore[attr-defined]
    assert read_image(result).jpeg_subsampling == source.jpeg_subsampling
    # Asked otherwise: another format, or another quality.
    inpaint(photo, SAMPLES / "rocket_mask.png", tmp_path / "asked.png")
    assert Image.open(tmp_path / "asked.png").format == "PNG"
    inpaint(photo, SAMPLES / "rocket_mask.png", tmp_path / "q60.jpg", "--quality", "60")
    assert read_image(tmp_path / "q60.jpg").jpeg_quality == 60


def test_pixel_limit_is_a_clear_error_and_can_be_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "big.png"
    Image.fromarray(np.zeros((100, 120, 3), np.uint8)).save(source)
    mask_path, _ = mask_file(tmp_path, 100, 120, (10, 10, 20, 20))
    out = tmp_path / "out.png"
    code = main([str(source), "--mask", str(mask_path), "-o", str(out), "--max-pixels", "0.01M"])
    err = capsys.readouterr().err
    assert code == 2 and "more than the limit of 0.01 megapixels" in err and "--max-pixels" in err
    assert not out.exists()
    assert main([str(source), "--mask", str(mask_path), "-o", str(out), "--max-pixels", "12000", "-q"]) == 0


def test_failed_sixteen_bit_encoding_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    native = gradient16(10, 10)
    photo = Photo(
        pixels=(native // 257).astype(np.uint8), alpha=None, format="PNG", mode="RGB;16", bit_depth=16, native=native
    )
    monkeypatch.setattr(cv2, "imencode", lambda *args, **kwargs: (False, None))
    with pytest.raises(OutputNotWritableError, match="encoder failed"):
        write_image(tmp_path / "out.png", photo.pixels, like=photo)
    assert list(tmp_path.iterdir()) == []


@needs_samples
def test_sixty_megapixel_photo_end_to_end(tmp_path: Path) -> None:
    # coffee.png enlarged 16 times (9600 × 6400), with EXIF, and a small spot to remove.
    small = np.asarray(Image.open(SAMPLES / "coffee.png").convert("RGB"))
    big = cv2.resize(small, (9600, 6400), interpolation=cv2.INTER_LINEAR)
    source, out = tmp_path / "big.jpg", tmp_path / "out.jpg"
    Image.fromarray(big).save(source, quality=85, exif=exif_with(1))
    del big
    mask_path, mask = mask_file(tmp_path, 6400, 9600, (5000, 3000, 5200, 3120))
    inpaint(source, mask_path, out)
    written = read_image(out)
    assert (written.width, written.height) == (9600, 6400)
    assert written.jpeg_quality == 85
    exif = Image.Exif()
    exif.load(written.exif or b"")
    assert exif[MAKE] == "Test camera"
    original = read_image(source).pixels
    sample = (slice(0, 6400, 13), slice(0, 9600, 13))
    difference = np.abs(written.pixels[sample].astype(np.int16) - original[sample])[mask[sample] < 128]
    assert difference.mean() < 1.5  # the same picture, re-encoded at the source's quality
