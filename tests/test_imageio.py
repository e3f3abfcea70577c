"""Reading and writing photos: orientation, modes, metadata, limits, and atomic, never-overwriting writes."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps
from PIL.JpegImagePlugin import JpegImageFile

from core.cli.main import main
from core.common.errors import (
    ImageReadError,
    ImageTooLargeError,
    OutputError,
    OutputExistsError,
    OutputNotWritableError,
)
from core.photo.compression import DEFAULT_JPEG_QUALITY, compression_options, estimate_jpeg_quality
from core.photo.metadata import (
    dpi_from_info,
    exif_orientation,
    matching_profile,
    pillow_metadata_options,
    png_metadata_chunks,
    upright_xmp,
)
from core.photo.photo import Photo
from core.photo.read import DimColourMask, read_image, read_mask
from core.photo.samples import to_eight_bits
from core.photo.write import check_output_path, write_image

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
needs_samples = pytest.mark.usefixtures("samples_dir")  # fails (never skips) without ../shared/samples

ORIENTATION = 0x0112


def noise(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    shape = (height, width, channels) if channels > 1 else (height, width)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def exif_with(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "Test camera"  # Make
    return exif.tobytes()


# -- reading ------------------------------------------------------------------------------------------------


@needs_samples
@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("coffee.png", (600, 400)),
        ("chelsea.png", (451, 300)),
        ("rocket.jpg", (640, 427)),
        ("astronaut.png", (512, 512)),
    ],
)
def test_samples_read_as_upright_rgb(name: str, size: tuple[int, int]) -> None:
    photo = read_image(SAMPLES / name)
    assert (photo.width, photo.height) == size
    assert photo.pixels.dtype == np.uint8 and photo.pixels.shape == (size[1], size[0], 3)
    assert photo.alpha is None
    with Image.open(SAMPLES / name) as reference:
        assert np.array_equal(photo.pixels, np.asarray(reference.convert("RGB")))


@needs_samples
def test_jpeg_sample_records_how_it_was_encoded() -> None:
    photo = read_image(SAMPLES / "rocket.jpg")
    assert photo.format == "JPEG"
    assert photo.jpeg_qtables and photo.jpeg_quality is not None and 1 <= photo.jpeg_quality <= 100
    assert photo.jpeg_subsampling in (0, 1, 2)
    assert photo.icc_profile


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_pillow(tmp_path: Path, orientation: int) -> None:
    path = tmp_path / "turned.png"
    Image.fromarray(noise(24, 40)).save(path, exif=exif_with(orientation))
    photo = read_image(path)
    with Image.open(path) as image:
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    assert np.array_equal(photo.pixels, expected)
    assert photo.orientation == orientation
    assert photo.exif is not None
    written = Image.Exif()
    written.load(photo.exif)
    assert written[ORIENTATION] == 1 and written[0x010F] == "Test camera"


def test_jpeg_with_orientation_6_round_trips_upright(tmp_path: Path) -> None:
    source, result = tmp_path / "portrait.jpg", tmp_path / "result.jpg"
    stored = np.zeros((40, 64, 3), np.uint8)
    stored[:, :32] = (200, 30, 30)  # left half red as stored: the top half once turned upright
    Image.fromarray(stored).save(source, quality=90, subsampling=0, exif=exif_with(6))

    photo = read_image(source)
    assert photo.pixels.shape == (64, 40, 3)  # stored landscape, displayed portrait
    assert photo.pixels[:32, :, 0].mean() > 150 and photo.pixels[32:, :, 0].mean() < 50
    write_image(result, photo.pixels, like=photo)

    with Image.open(result) as written:
        assert written.size == (40, 64)
        assert written.getexif()[ORIENTATION] == 1
        assert written.getexif()[0x010F] == "Test camera"
        with Image.open(source) as original:
            assert isinstance(written, JpegImageFile) and isinstance(original, JpegImageFile)
            # The blocks were turned with the picture (a quarter turn transposes them), and so were the
            # tables: the same tables, frequency (u, v) now at (v, u).
            turned = {
                key: list(np.asarray(table).reshape(8, 8).T.reshape(64)) for key, table in original.quantization.items()
            }
            assert {key: list(table) for key, table in written.quantization.items()} == turned
    again = read_image(result)
    assert again.orientation == 1 and again.jpeg_quality == 90 and again.jpeg_subsampling == 0
    assert np.abs(again.pixels.astype(int) - photo.pixels.astype(int)).mean() < 2


@pytest.mark.parametrize("quality", [40, 75, 90, 95])
def test_jpeg_quality_is_estimated_from_the_tables(tmp_path: Path, quality: int) -> None:
    path = tmp_path / "q.jpg"
    Image.fromarray(noise(32, 32)).save(path, quality=quality)
    assert read_image(path).jpeg_quality == quality
    assert estimate_jpeg_quality([]) is None


def test_xmp_orientation_is_reset(tmp_path: Path) -> None:
    path = tmp_path / "xmp.jpg"
    xmp = b'<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    Image.fromarray(noise(8, 8)).save(path, exif=exif_with(6), xmp=xmp)
    assert read_image(path).xmp == b'<x:xmpmeta><rdf:Description tiff:Orientation="1"/></x:xmpmeta>'


def test_rgba_keeps_its_alpha_untouched(tmp_path: Path) -> None:
    path, out = tmp_path / "rgba.png", tmp_path / "out.png"
    rgba = noise(30, 50, 4, seed=1)
    Image.fromarray(rgba, "RGBA").save(path)
    photo = read_image(path)
    assert photo.alpha is not None
    assert np.array_equal(photo.pixels, rgba[:, :, :3]) and np.array_equal(photo.alpha, rgba[:, :, 3])
    write_image(out, photo.pixels, like=photo)
    assert np.array_equal(np.asarray(Image.open(out)), rgba)
    # JPEG cannot hold alpha: the colour is written, the alpha dropped.
    write_image(tmp_path / "out.jpg", photo.pixels, like=photo)
    assert Image.open(tmp_path / "out.jpg").mode == "RGB"


def test_palette_grayscale_and_bilevel_become_rgb(tmp_path: Path) -> None:
    rgb = noise(20, 30, seed=2)
    palette = Image.fromarray(rgb).quantize(16)
    palette.save(tmp_path / "p.png")
    palette.save(tmp_path / "pt.png", transparency=0)
    Image.fromarray(rgb).convert("L").save(tmp_path / "l.png")
    Image.fromarray(rgb).convert("LA").save(tmp_path / "la.png")
    Image.fromarray(rgb).convert("1").save(tmp_path / "bw.png")

    for name in ("p.png", "l.png", "bw.png"):
        photo = read_image(tmp_path / name)
        assert photo.alpha is None and photo.pixels.shape == (20, 30, 3)
        assert np.array_equal(photo.pixels, np.asarray(Image.open(tmp_path / name).convert("RGB"))), name
    transparent = read_image(tmp_path / "pt.png")
    assert transparent.alpha is not None and set(np.unique(transparent.alpha)) <= {0, 255}
    assert (transparent.alpha == 0).any()
    gray_alpha = read_image(tmp_path / "la.png")
    assert gray_alpha.alpha is not None and np.all(gray_alpha.alpha == 255)
    assert np.all(gray_alpha.pixels[:, :, 0] == gray_alpha.pixels[:, :, 2])


def test_cmyk_becomes_rgb(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(noise(16, 16, 4, seed=3), "CMYK").save(path, quality=95)
    photo = read_image(path)
    assert photo.mode == "CMYK" and photo.pixels.shape == (16, 16, 3) and photo.icc_profile is None
    assert np.array_equal(photo.pixels, np.asarray(Image.open(path).convert("RGB")))


def test_sixteen_bit_gray_is_scaled_to_eight_bits(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    values = np.array([[0, 257, 1000, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(path)
    photo = read_image(path)
    assert photo.bit_depth == 16
    assert photo.pixels[0, :, 0].tolist() == [0, 1, 4, 255]


@needs_samples
def test_icc_exif_and_xmp_are_carried_over(tmp_path: Path) -> None:
    photo = read_image(SAMPLES / "chelsea.png")
    assert photo.icc_profile and photo.xmp
    for ext in ("png", "jpg", "tif", "webp"):
        out = tmp_path / f"out.{ext}"
        write_image(out, photo.pixels, like=photo)
        with Image.open(out) as written:
            assert written.info.get("icc_profile") == photo.icc_profile, ext
        if ext in ("png", "jpg", "webp"):
            assert read_image(out).xmp == photo.xmp, ext


def test_non_rgb_profile_is_not_attached_to_rgb(tmp_path: Path) -> None:
    lab_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # not an RGB profile
    path = tmp_path / "lab-profile.png"
    Image.fromarray(noise(8, 8)).save(path, icc_profile=lab_profile)
    assert read_image(path).icc_profile is None


def test_missing_file_folder_and_non_image(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="does not exist"):
        read_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageReadError, match="is a folder"):
        read_image(tmp_path)
    fake = tmp_path / "notes.png"
    fake.write_text("this is not a picture\n")
    with pytest.raises(ImageReadError, match="not an image file"):
        read_image(fake)


def test_truncated_file_is_reported(tmp_path: Path) -> None:
    whole = io.BytesIO()
    Image.fromarray(noise(64, 64)).save(whole, "PNG")
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    with pytest.raises(ImageReadError, match="damaged or truncated"):
        read_image(cut)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.png"
    Image.fromarray(noise(4, 4)).save(path)
    path.chmod(0)
    with pytest.raises(ImageReadError, match="permission denied"):
        read_image(path)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims a size its (empty) data does not have: a decompression bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_pixel_limit_refuses_before_decoding(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(30000, 30000))  # 900 MP, also past Pillow's own hard limit
    saved = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageTooLargeError, match="30000×30000 pixels .* limit of 200 megapixels"):
        read_image(bomb)
    with pytest.raises(ImageTooLargeError):
        read_mask(bomb)
    assert saved == Image.MAX_IMAGE_PIXELS

    small = tmp_path / "small.png"
    Image.fromarray(noise(100, 100)).save(small)
    with pytest.raises(ImageTooLargeError, match="limit of 0.005 megapixels"):
        read_image(small, max_pixels=5000)
    assert read_image(small, max_pixels=10000).width == 100


# -- masks --------------------------------------------------------------------------------------------------


def test_mask_modes(tmp_path: Path) -> None:
    gray = np.zeros((10, 12), np.uint8)
    gray[2:5, 3:9] = 255
    Image.fromarray(gray).convert("RGB").save(tmp_path / "rgb.png")
    Image.fromarray(gray).convert("1").save(tmp_path / "bw.png")
    assert np.array_equal(read_mask(tmp_path / "rgb.png"), gray)
    assert np.array_equal(read_mask(tmp_path / "bw.png"), gray)

    # A brush painted in one colour on transparency: the alpha channel is the mask.
    strokes = np.zeros((10, 12, 4), np.uint8)
    strokes[..., :3] = (255, 0, 0)
    strokes[..., 3] = gray
    Image.fromarray(strokes, "RGBA").save(tmp_path / "alpha.png")
    assert np.array_equal(read_mask(tmp_path / "alpha.png"), gray)

    # White strokes on a transparent layer that stores white everywhere: transparency means "keep".
    layer = np.full((10, 12, 4), 255, np.uint8)
    layer[..., 3] = gray
    layer[0, 0, :3] = 0
    Image.fromarray(layer, "RGBA").save(tmp_path / "layer.png")
    assert np.array_equal(read_mask(tmp_path / "layer.png"), gray)


def test_mask_is_turned_upright(tmp_path: Path) -> None:
    gray = np.zeros((10, 16), np.uint8)
    gray[0, 0] = 255
    Image.fromarray(gray).save(tmp_path / "m.png", exif=exif_with(6))
    mask = read_mask(tmp_path / "m.png")
    assert mask.shape == (16, 10) and mask[0, -1] == 255 and int(mask.sum()) == 255


# -- writing ------------------------------------------------------------------------------------------------


def test_existing_output_is_never_replaced_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    pixels = noise(8, 8)
    with pytest.raises(OutputExistsError) as refused:
        write_image(out, pixels)
    assert "--overwrite" in refused.value.user_message()
    with pytest.raises(OutputExistsError):
        check_output_path(out)
    assert out.read_bytes() == b"precious"
    write_image(out, pixels, overwrite=True)
    assert np.array_equal(np.asarray(Image.open(out)), pixels)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_unknown_extension_is_refused(tmp_path: Path) -> None:
    for name in ("out.xyz", "out.gif", "out"):
        with pytest.raises(OutputError, match="image format"):
            write_image(tmp_path / name, noise(4, 4))
    with pytest.raises(OutputError, match="format"):
        write_image(tmp_path / "out.png", noise(4, 4), format="GIFF")
    assert list(tmp_path.iterdir()) == []
    write_image(tmp_path / "forced.dat", noise(4, 4), format="png")
    assert Image.open(tmp_path / "forced.dat").format == "PNG"


def test_missing_or_non_folder_parent_is_not_writable(tmp_path: Path) -> None:
    with pytest.raises(OutputNotWritableError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "out.png")
    with pytest.raises(OutputNotWritableError):
        write_image(tmp_path / "missing" / "out.png", noise(4, 4))
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(OutputNotWritableError, match="not a folder"):
        check_output_path(blocker / "out.png")
    with pytest.raises(OutputNotWritableError):
        write_image(blocker / "out.png", noise(4, 4))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_not_writable(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputNotWritableError, match="read-only"):
            check_output_path(folder / "out.png")
    finally:
        folder.chmod(0o755)


def test_failed_encoding_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original_save = Image.Image.save

    def failing_save(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        assert hasattr(fp, "write")
        fp.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OutputNotWritableError, match="No space left"):
        write_image(tmp_path / "new.png", noise(8, 8))
    assert list(tmp_path.iterdir()) == []

    existing = tmp_path / "kept.png"
    monkeypatch.setattr(Image.Image, "save", original_save)
    write_image(existing, noise(8, 8, seed=5))
    before = existing.read_bytes()
    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OutputNotWritableError):
        write_image(existing, noise(8, 8), overwrite=True)
    assert existing.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["kept.png"]


@needs_samples
def test_reading_and_writing_never_touch_the_input(tmp_path: Path) -> None:
    source = SAMPLES / "rocket.jpg"
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    photo = read_image(source)
    write_image(tmp_path / "copy.jpg", photo.pixels, like=photo)
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before


def test_written_file_has_ordinary_permissions(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    write_image(out, noise(4, 4))
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_photo_without_file_writes_plainly(tmp_path: Path) -> None:
    photo = Photo(pixels=noise(6, 9), alpha=None, format="PNG", mode="RGB")
    out = write_image(tmp_path / "plain.webp", photo.pixels, like=photo, quality=80)
    assert out == tmp_path / "plain.webp"
    assert Image.open(out).size == (9, 6)


# -- the helpers the reader and the writer share ------------------------------------------------------------


def test_sixteen_bits_round_to_the_nearest_eight_bit_value() -> None:
    every = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    assert np.array_equal(to_eight_bits(every), np.rint(every / 257).astype(np.uint8))


def test_orientation_resolution_and_profile_values_are_checked() -> None:
    assert [exif_orientation(v) for v in (1, 6, 8, 0, 9, "6", None)] == [1, 6, 8, 1, 1, 1, 1]
    assert dpi_from_info((300, 240.5)) == (300.0, 240.5)
    assert dpi_from_info((0, 72)) is None and dpi_from_info(72) is None
    assert upright_xmp('<x tiff:Orientation="8"/>') == b'<x tiff:Orientation="1"/>'
    assert upright_xmp(b"<x><tiff:Orientation>3</tiff:Orientation></x>") == (
        b"<x><tiff:Orientation>1</tiff:Orientation></x>"
    )
    assert upright_xmp(b"") is None
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert matching_profile(srgb, b"RGB ") == srgb
    assert matching_profile(srgb, b"GRAY") is None and matching_profile(srgb[:10], b"RGB ") is None


def test_compression_follows_the_source_unless_told_otherwise() -> None:
    tables = [list(range(1, 65)), list(range(2, 66))]
    jpeg = Photo(noise(2, 2), None, "JPEG", "RGB", jpeg_qtables=tables, jpeg_subsampling=0)
    assert compression_options("JPEG", jpeg, None) == {"qtables": tables, "subsampling": 0}
    assert compression_options("JPEG", jpeg, 70) == {"quality": 70, "subsampling": 0}
    assert compression_options("JPEG", None, None) == {"quality": DEFAULT_JPEG_QUALITY}
    png = Photo(noise(2, 2), None, "PNG", "RGB")
    assert compression_options("JPEG", png, None) == {"quality": DEFAULT_JPEG_QUALITY}
    webp = Photo(noise(2, 2), None, "WEBP", "RGB", webp_lossless=True)
    assert compression_options("WEBP", webp, None) == {"lossless": True}
    assert compression_options("WEBP", webp, 80) == {"quality": 80}
    tiff = Photo(noise(2, 2), None, "TIFF", "RGB", tiff_compression="packbits")
    assert compression_options("TIFF", tiff, None) == {"compression": "packbits"}
    lossy = Photo(noise(2, 2), None, "TIFF", "RGB", tiff_compression="jpeg")
    assert compression_options("TIFF", lossy, None) == {"compression": "tiff_lzw"}
    assert compression_options("PNG", jpeg, None) == {}


def test_metadata_options_hold_only_what_the_format_can_carry() -> None:
    gray_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    gray_profile = gray_profile[:16] + b"GRAY" + gray_profile[20:]  # header says gray
    photo = Photo(
        noise(2, 2), None, "JPEG", "RGB", icc_profile=gray_profile, exif=exif_with(1), xmp=b"<x/>", dpi=(300.0, 300.0)
    )
    assert pillow_metadata_options("PNG", None, False) == {}
    jpeg = pillow_metadata_options("JPEG", photo, gray=True)
    assert jpeg == {"icc_profile": gray_profile, "exif": photo.exif, "xmp": b"<x/>", "dpi": (300.0, 300.0)}
    assert "icc_profile" not in pillow_metadata_options("JPEG", photo, gray=False)
    bmp = pillow_metadata_options("BMP", photo, gray=True)
    assert bmp == {"dpi": (300.0, 300.0)}
    tiff = pillow_metadata_options("TIFF", photo, gray=False)
    assert tiff["tiffinfo"] == {0x010F: "Test camera", 700: b"<x/>"} and "exif" not in tiff


def test_png_metadata_chunks_are_read_back_by_pillow(tmp_path: Path) -> None:
    photo = Photo(noise(4, 6), None, "JPEG", "RGB", exif=exif_with(1), xmp=b"<x:xmpmeta/>", dpi=(254.0, 127.0))
    assert png_metadata_chunks(None, gray=False) == b""
    plain = io.BytesIO()
    Image.fromarray(photo.pixels).save(plain, format="PNG")
    data = plain.getvalue()
    path = tmp_path / "chunks.png"
    path.write_bytes(data[:33] + png_metadata_chunks(photo, gray=False) + data[33:])  # after the header
    with Image.open(path) as written:
        written.load()  # checks every chunk's CRC
        assert written.getexif()[0x010F] == "Test camera"
        assert written.info["xmp"] == b"<x:xmpmeta/>"
        assert tuple(round(d) for d in written.info["dpi"]) == (254, 127)
        assert np.array_equal(np.array(written), photo.pixels)


# -- what users get wrong: folders, pipes, devices, coloured masks --------------------------------------------


def test_existing_folder_as_output_is_called_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = tmp_path / "photo.png"
    Image.fromarray(noise(16, 16)).save(photo)
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(tmp_path / "mask.png")
    folder = tmp_path / "results"
    folder.mkdir()
    with pytest.raises(OutputNotWritableError, match="is a folder, not a file name"):
        check_output_path(folder)
    with pytest.raises(OutputNotWritableError, match="is a folder"):
        write_image(folder, noise(4, 4))
    code = main([str(photo), "--mask", str(tmp_path / "mask.png"), "-o", str(folder), "--engine", "classic", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and f"{folder} is a folder, not a file name" in err and "result.png" in err
    assert "extension" not in err and list(folder.iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
@pytest.mark.parametrize("what", ["photo", "mask"])
def test_pipe_given_as_a_file_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str], what: str) -> None:
    import threading

    photo, mask, pipe = tmp_path / "photo.png", tmp_path / "mask.png", tmp_path / "pipe.png"
    Image.fromarray(noise(16, 16)).save(photo)
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(mask)
    os.mkfifo(pipe)
    arguments = [str(pipe if what == "photo" else photo), "--mask", str(pipe if what == "mask" else mask)]
    codes: list[int] = []
    # Reading a pipe nobody writes to would wait for ever: run the command aside and make sure it returns.
    runner = threading.Thread(target=lambda: codes.append(main([*arguments, "--engine", "classic", "-q"])))
    runner.start()
    runner.join(timeout=30)
    if runner.is_alive():  # end every blocked read with an empty write so the thread finishes, then fail
        for _ in range(600):
            with contextlib.suppress(OSError):  # ENXIO while no reader is waiting
                os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
            runner.join(timeout=0.05)
            if not runner.is_alive():
                break
        pytest.fail("reading a pipe blocked")
    assert codes == [2]
    assert f"The {what} {pipe} is a pipe (FIFO), not an image file" in capsys.readouterr().err
    with pytest.raises(ImageReadError, match="pipe"):
        (read_image if what == "photo" else read_mask)(pipe)


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="needs /dev/null")
def test_device_given_as_a_photo_is_refused() -> None:
    with pytest.raises(ImageReadError, match="is a device, not an image file"):
        read_image("/dev/null")
    with pytest.raises(ImageReadError, match="is a device"):
        read_mask("/dev/zero")


def test_coloured_mask_without_bright_pixels_explains_brightness(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo, mask = tmp_path / "photo.png", tmp_path / "mask.png"
    Image.fromarray(noise(32, 32)).save(photo)
    painted = np.zeros((32, 32, 3), np.uint8)
    painted[8:20, 8:20] = (255, 0, 0)  # red on black: brightness 76
    Image.fromarray(painted).save(mask)
    code = main([str(photo), "--mask", str(mask), "--engine", "classic", "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert "nothing to fill" in err and "brightest pixel is 76 of 255" in err
    assert "it has colour" in err and "read by brightness" in err and "No file was written" in err
    # A dark grey mask gets the numbers without the colour remark; a bright red one is no longer empty.
    Image.fromarray(np.full((32, 32), 40, np.uint8)).save(mask)
    assert main([str(photo), "--mask", str(mask), "--engine", "classic", "-q"]) == 2
    err = capsys.readouterr().err
    assert "brightest pixel is 40 of 255" in err and "colour" not in err
    painted[8:20, 8:20] = (255, 200, 200)
    Image.fromarray(painted).save(mask)
    assert main([str(photo), "--mask", str(mask), "--engine", "classic", "-q"]) == 0
    assert not isinstance(read_mask(mask), DimColourMask)
