"""Lossless round trips through the command line: depth, modes, alpha, orientation, metadata, limits.

Every test fills a mask with the classic engine (fast and deterministic) and checks what the written file
holds: unmasked pixels bit-identical at the source's own depth (hashed), alpha untouched, the documented mode,
and the colour profile, EXIF and XMP carried over.
"""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from cmyk_profile import cmyk_test_profile
from PIL import Image, ImageCms

from core.cli.main import main
from core.common.errors import OutputNotWritableError, SourceChangedError
from core.photo.jpeg_segments import read_header_file
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


def touched(mask: np.ndarray, block: int, ring: int = 0) -> np.ndarray:
    """Pixels in the ``block``-sized squares that hold a mask pixel ≥ 128, grown by ``ring`` pixels."""
    height, width = mask.shape
    rows, columns = -(-height // block), -(-width // block)
    padded = np.zeros((rows * block, columns * block), bool)
    padded[:height, :width] = mask >= 128
    squares = padded.reshape(rows, block, columns, block).any(axis=(1, 3))
    area = np.repeat(np.repeat(squares, block, axis=0), block, axis=1)[:height, :width]
    if ring:
        area = cv2.dilate(area.astype(np.uint8), np.ones((2 * ring + 1, 2 * ring + 1), np.uint8)) > 0
    return area


def frame_sampling(path: Path) -> list[tuple[int, int, int, int]]:
    """(component id, h, v, quantization table) of each component, from a JPEG's frame header."""
    frame = next(s for s in read_header_file(path) if s.marker in (0xC0, 0xC1, 0xC2))
    count = frame.payload[5]
    specs = [frame.payload[6 + 3 * i : 9 + 3 * i] for i in range(count)]
    return [(spec[0], spec[1] >> 4, spec[1] & 15, spec[2]) for spec in specs]


def cmyk_source(folder: Path, profile: bytes | None) -> Path:
    """A CMYK JPEG made from the coffee sample (inks by the test profile when given, else Pillow's)."""
    rgb = Image.open(SAMPLES / "coffee.png").convert("RGB").crop((0, 0, 300, 200))
    if profile is not None:
        target = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        cmyk = ImageCms.profileToProfile(rgb, ImageCms.ImageCmsProfile(io.BytesIO(SRGB)), target, outputMode="CMYK")
        assert cmyk is not None
    else:
        cmyk = rgb.convert("CMYK")
    source = folder / "print.jpg"
    cmyk.save(source, quality=90, **({"icc_profile": profile} if profile else {}))
    return source


@needs_samples
@pytest.mark.parametrize("with_profile", [False, True])
def test_cmyk_jpeg_is_written_back_as_cmyk_with_its_own_inks(tmp_path: Path, with_profile: bool) -> None:
    profile = cmyk_test_profile() if with_profile else None
    source = cmyk_source(tmp_path, profile)
    mask_path, mask = mask_file(tmp_path, 200, 300, (100, 60, 170, 130))
    inpaint(source, mask_path, tmp_path / "out.jpg")
    inpaint(source, mask_path, tmp_path / "out.png")  # the same fill as RGB, to compare the inks with
    with Image.open(tmp_path / "out.jpg") as written, Image.open(source) as original:
        # 1. CMYK again, with the source's tables, sampling and profile.
        assert written.mode == "CMYK"
        assert written.quantization == original.quantization  # type: ignore[attr-defined]
        assert written.info.get("icc_profile") == profile
        inks, source_inks = np.asarray(written), np.asarray(original)
    assert frame_sampling(tmp_path / "out.jpg") == frame_sampling(source)
    # 2. Outside the 8x8 blocks the fill touches, every ink value is the source's own.
    outside = ~touched(mask, 8)
    assert outside.mean() > 0.85
    assert digest(inks[outside]) == digest(source_inks[outside])
    # 3. The fill went into inks through the file's profile (or the naive conversion): seen as RGB through
    #    the same route, it is the RGB fill, up to JPEG and profile-table rounding (the test profile's coarse
    #    tables give about 8 levels; inks from the naive conversion would be about 46 levels off).
    as_rgb = read_image(tmp_path / "out.jpg").pixels.astype(int)
    fill = np.asarray(Image.open(tmp_path / "out.png").convert("RGB")).astype(int)
    inside = mask >= 128
    assert np.abs(as_rgb[inside] - fill[inside]).mean() < (15 if with_profile else 3)
    # 4. Formats without CMYK get RGB, as the engines saw it.
    with Image.open(tmp_path / "out.png") as png:
        assert png.mode == "RGB"
        expected = read_image(source).pixels
        assert digest(np.asarray(png)[mask < 128]) == digest(expected[mask < 128])


@needs_samples
def test_cmyk_tiff_stays_cmyk(tmp_path: Path) -> None:
    profile = cmyk_test_profile()
    jpeg = cmyk_source(tmp_path, profile)
    source = tmp_path / "print.tif"
    with Image.open(jpeg) as cmyk:
        cmyk.save(source, compression="tiff_lzw", icc_profile=profile)
        inks = np.asarray(cmyk)
    mask_path, mask = mask_file(tmp_path, 200, 300, (10, 10, 60, 50))
    inpaint(source, mask_path, tmp_path / "out.tif")
    with Image.open(tmp_path / "out.tif") as written:
        assert written.mode == "CMYK" and written.info.get("icc_profile") == profile
        assert digest(np.asarray(written)[mask < 128]) == digest(inks[mask < 128])
        assert not np.array_equal(np.asarray(written)[mask >= 128], inks[mask >= 128])


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


# -- several pictures in one file -----------------------------------------------------------------------------


def test_multi_page_tiff_keeps_every_other_page_exactly(tmp_path: Path) -> None:
    # Page 1: the photo (8-bit RGB); page 2: a 16-bit gray scan with its own name and resolution; page 3: a
    # palette picture; page 4: a small thumbnail (a reduced-resolution page).
    source, out = tmp_path / "scan.tif", tmp_path / "out.tif"
    rng = np.random.default_rng(11)
    photo = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    deep = gradient16(50, 70)[:, :, 1]
    indexed = rng.integers(0, 16, (30, 40), dtype=np.uint8)
    colormap = rng.integers(0, 65536, (3, 256), dtype=np.uint16)
    thumbnail = photo[::4, ::4].copy()
    with tifffile.TiffWriter(source) as tiff:
        tiff.write(photo, photometric="rgb", compression="zlib", metadata=None)
        tiff.write(
            deep,
            photometric="minisblack",
            compression="zlib",
            predictor=2,
            resolution=(300, 300),
            resolutionunit=2,
            extratags=[(285, "s", 0, "back side", True), (700, 1, len(XMP), XMP, True)],
            metadata=None,
        )
        tiff.write(indexed, photometric="palette", colormap=colormap, metadata=None)
        tiff.write(thumbnail, photometric="rgb", subfiletype=1, metadata=None)
    mask_path, mask = mask_file(tmp_path, 60, 80, (20, 20, 50, 40))
    inpaint(source, mask_path, out)

    assert read_image(source).frame_count == 4
    with tifffile.TiffFile(out) as written:
        pages = list(written.pages)
        assert len(pages) == 4
        first = pages[0].asarray()
        assert digest(first[mask < 128]) == digest(photo[mask < 128])
        assert not np.array_equal(first[mask >= 128], photo[mask >= 128])
        assert pages[1].dtype == np.uint16 and digest(pages[1].asarray()) == digest(deep)
        assert pages[1].tags[285].value == "back side" and pages[1].tags[700].value == XMP
        assert pages[1].tags[282].value == (300, 1) and int(pages[1].predictor) == 2
        assert int(pages[2].photometric) == 3 and np.array_equal(pages[2].asarray(), indexed)
        assert np.array_equal(pages[2].colormap, colormap)
        assert int(pages[3].subfiletype) == 1 and np.array_equal(pages[3].asarray(), thumbnail)


def test_lzw_pages_are_read_by_pillow_and_kept(tmp_path: Path) -> None:
    # tifffile cannot decode LZW without imagecodecs; Pillow reads those pages at their full depth.
    source, out = tmp_path / "lzw.tif", tmp_path / "out.tif"
    rng = np.random.default_rng(12)
    pages = [rng.integers(0, 256, (40, 50, 3), dtype=np.uint8), rng.integers(0, 256, (40, 50), dtype=np.uint8)]
    first, *rest = [Image.fromarray(page) for page in pages]
    first.save(source, compression="tiff_lzw", save_all=True, append_images=rest)
    mask_path, mask = mask_file(tmp_path, 40, 50, (10, 10, 30, 30))
    inpaint(source, mask_path, out)
    with Image.open(out) as written:
        assert getattr(written, "n_frames", 1) == 2
        assert digest(np.asarray(written)[mask < 128]) == digest(pages[0][mask < 128])
        written.seek(1)
        assert written.mode == "L" and np.array_equal(np.asarray(written), pages[1])


def test_other_pages_are_refused_rather_than_mixed_when_the_source_changed(tmp_path: Path) -> None:
    source = tmp_path / "two.tif"
    pages = [np.full((20, 20, 3), 40, np.uint8), np.full((20, 20, 3), 90, np.uint8)]
    with tifffile.TiffWriter(source) as tiff:
        for page in pages:
            tiff.write(page, photometric="rgb", metadata=None)
    photo = read_image(source)
    with tifffile.TiffWriter(source) as tiff:  # replaced after it was read
        tiff.write(pages[0], photometric="rgb", metadata=None)
    with pytest.raises(SourceChangedError, match="changed or vanished"):
        write_image(tmp_path / "out.tif", photo.pixels, like=photo)
    assert not (tmp_path / "out.tif").exists()


def test_animated_png_is_refused_rather_than_written_as_one_frame(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "blink.png"
    frames = [Image.fromarray(np.full((30, 40, 3), value, np.uint8)) for value in (30, 120, 210)]
    frames[0].save(source, save_all=True, append_images=frames[1:], duration=100, loop=0)
    mask_path, _ = mask_file(tmp_path, 30, 40, (5, 5, 20, 20))
    code = main([str(source), "--mask", str(mask_path), "--engine", "classic", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert str(source) in err and "3 frames" in err and "drop the other 2" in err and "nothing was written" in err
    assert not (tmp_path / "blink_inpainted.png").exists()
    # Another format is an explicit export of the first frame, with a note saying so.
    photo = read_image(source)
    notes: list[str] = []
    write_image(tmp_path / "frame.tif", photo.pixels, like=photo, notes=notes)
    assert notes and "only the first" in notes[0] and (tmp_path / "frame.tif").exists()


def test_first_page_alone_in_another_format_comes_with_a_note(tmp_path: Path) -> None:
    source = tmp_path / "two.tif"
    with tifffile.TiffWriter(source) as tiff:
        for value in (40, 90):
            tiff.write(np.full((20, 20, 3), value, np.uint8), photometric="rgb", metadata=None)
    photo = read_image(source)
    notes: list[str] = []
    write_image(tmp_path / "first.png", photo.pixels, like=photo, notes=notes)
    assert len(notes) == 1 and "2 pictures" in notes[0] and "PNG result holds only the first" in notes[0]


# -- JPEG: segments and blocks --------------------------------------------------------------------------------

IPTC_IRB = b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x0c\x1c\x02\x05\x00\x07Harbour\x00"


def segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload


def with_segments(jpeg: bytes, extra: bytes) -> bytes:
    """``jpeg`` with ``extra`` segments inserted after its first segment (JFIF)."""
    first_end = 4 + int.from_bytes(jpeg[4:6], "big")
    return jpeg[:first_end] + extra + jpeg[first_end:]


@needs_samples
@pytest.mark.parametrize("extra_args", [(), ("--quality", "80")])
def test_jpeg_keeps_comments_and_every_application_segment(tmp_path: Path, extra_args: tuple[str, ...]) -> None:
    buffer = io.BytesIO()
    Image.open(SAMPLES / "coffee.png").convert("RGB").save(buffer, "JPEG", quality=90, exif=exif_with(1), xmp=XMP)
    extra = (
        segment(0xFE, b"first comment")
        + segment(0xED, IPTC_IRB)  # APP13: Photoshop IRB with IPTC
        + segment(0xEC, b"Ducky\x00\x01\x00\x04\x00\x00\x00\x50\x00\x00")  # APP12
        + segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01")  # APP14, transform 1 (YCbCr)
        + segment(0xFE, b"second comment")
    )
    source = tmp_path / "tagged.jpg"
    source.write_bytes(with_segments(buffer.getvalue(), extra))
    mask_path, _ = mask_file(tmp_path, 400, 600, (200, 150, 260, 200))
    out = tmp_path / "out.jpg"
    inpaint(source, mask_path, out, *extra_args)

    def kept(path: Path) -> list[tuple[int, bytes]]:
        wanted = (0xE1, 0xEC, 0xED, 0xEE, 0xFE)
        return [(s.marker, s.payload) for s in read_header_file(path) if s.marker in wanted]

    assert kept(out) == kept(source)
    assert [payload for marker, payload in kept(out) if marker == 0xFE] == [b"first comment", b"second comment"]
    with Image.open(out) as written:
        assert written.getexif()[MAKE] == "Test camera"
    assert read_image(out).xmp == XMP


def share_identical(source: Path, out: Path, area: np.ndarray) -> tuple[float, float]:
    """(share of pixels in ``area`` that decode identically, share of 8x8 luma blocks with equal coefficients)."""
    import jpeglib

    before, after = read_image(source).pixels, read_image(out).pixels
    pixels = float(np.all(before[area] == after[area], axis=-1).mean())
    blocks_before, blocks_after = np.asarray(jpeglib.read_dct(str(source)).Y), np.asarray(jpeglib.read_dct(str(out)).Y)
    blocks = float(np.all(blocks_before == blocks_after, axis=(2, 3)).mean())
    return pixels, blocks


@needs_samples
def test_real_jpeg_keeps_every_block_the_fill_does_not_touch(tmp_path: Path) -> None:
    photo = tmp_path / "rocket.jpg"
    shutil.copy(SAMPLES / "rocket.jpg", photo)
    out = tmp_path / "out.jpg"
    inpaint(photo, SAMPLES / "rocket_mask.png", out)
    mask = np.asarray(Image.open(SAMPLES / "rocket_mask.png").convert("L"))
    sampling = {(h, v) for _, h, v, _ in frame_sampling(photo)}
    block = 8 * max(max(h, v) for h, v in sampling)
    far = ~touched(mask, block, ring=1 if block > 8 else 0)
    pixels, blocks = share_identical(photo, out, far)
    assert pixels == 1.0
    assert blocks >= far.mean() - 0.01  # every block outside the touched ones is the source's own
    assert frame_sampling(out) == frame_sampling(photo)
    with Image.open(out) as written, Image.open(photo) as original:
        assert written.quantization == original.quantization  # type: ignore[attr-defined]
        assert written.info.get("icc_profile") == original.info.get("icc_profile")


@needs_samples
@pytest.mark.parametrize(("quality", "subsampling"), [(95, 0), (85, 1), (75, 2), (60, 2)])
def test_jpeg_changes_stay_in_the_blocks_the_fill_touches(tmp_path: Path, quality: int, subsampling: int) -> None:
    source, out = tmp_path / "photo.jpg", tmp_path / "out.jpg"
    Image.open(SAMPLES / "astronaut.png").convert("RGB").crop((0, 0, 501, 389)).save(
        source, quality=quality, subsampling=subsampling
    )
    mask_path, mask = mask_file(tmp_path, 389, 501, (203, 147, 262, 211))
    inpaint(source, mask_path, out)
    block = 16 if subsampling else 8  # 4:2:2 coding units are 16 wide and 8 high; 16 covers both
    # Chroma upsampling smooths across block edges, so a subsampled photo's next pixel row and column may move.
    changed = np.any(read_image(source).pixels != read_image(out).pixels, axis=-1)
    assert not (changed & ~touched(mask, block, ring=1 if subsampling else 0)).any()
    assert frame_sampling(out) == frame_sampling(source)
