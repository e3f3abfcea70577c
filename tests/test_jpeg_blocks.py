"""JPEG results written block for block: coefficients kept, tables and sampling kept, Huffman coding valid.

Coefficients are compared through ``jpeglib`` (libjpeg), pixels through OpenCV and Pillow: a file this module
writes must decode in other decoders exactly as its coefficients say.
"""

from __future__ import annotations

import importlib
import io
from pathlib import Path

import jpeglib
import numpy as np
import pytest
from PIL import Image

from core.photo import jpeg_blocks
from core.photo.jpeg_entropy import ZIGZAG, HuffmanTable, optimal_table
from core.photo.jpeg_segments import Segment, read_header_file
from core.photo.read import read_image
from core.photo.write import write_image

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
needs_samples = pytest.mark.usefixtures("samples_dir")  # fails (never skips) without ../shared/samples


def coefficients(path: Path) -> list[np.ndarray]:
    """Every component's quantized blocks, as libjpeg reads them."""
    coded = jpeglib.read_dct(str(path))
    arrays = [coded.Y, coded.Cb, coded.Cr, coded.K]
    return [np.array(array) for array in arrays if array is not None]


def quant_tables(path: Path) -> dict[int, list[int]]:
    with Image.open(path) as image:
        return {key: list(table) for key, table in image.quantization.items()}  # type: ignore[attr-defined]


def picture(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A photo-like picture: the coffee sample cropped (and repeated) to the size, in ``mode``."""
    coffee = Image.open(SAMPLES / "coffee.png").convert("RGB")
    canvas = Image.new("RGB", (width, height))
    for top in range(0, height, coffee.height):
        for left in range(0, width, coffee.width):
            canvas.paste(coffee, (left, top))
    return canvas.convert(mode)


# -- copying a JPEG without changes -----------------------------------------------------------------------------

KINDS = {
    "gray": ("L", {"quality": 90}),
    "4:4:4": ("RGB", {"quality": 92, "subsampling": 0}),
    "4:2:2": ("RGB", {"quality": 85, "subsampling": 1}),
    "4:2:0": ("RGB", {"quality": 75, "subsampling": 2}),
    "progressive": ("RGB", {"quality": 88, "progressive": True}),
    "restart markers": ("RGB", {"quality": 80, "restart_marker_blocks": 3}),
    "RGB-coded": ("RGB", {"quality": 90, "keep_rgb": True}),
    "CMYK": ("CMYK", {"quality": 90}),
    "16-bit table": ("RGB", {"qtables": [[300] + [2] * 63, [4] * 64]}),
}


@needs_samples
@pytest.mark.parametrize("kind", list(KINDS))
def test_unchanged_photo_keeps_every_coefficient(tmp_path: Path, kind: str) -> None:
    mode, options = KINDS[kind]
    source, out = tmp_path / "source.jpg", tmp_path / "out.jpg"
    picture(203, 141, mode).save(source, **options)  # sizes that are no multiple of 8 or 16
    photo = read_image(source)
    notes: list[str] = []
    write_image(out, photo.pixels, like=photo, notes=notes)
    assert notes == []
    for before, after in zip(coefficients(source), coefficients(out), strict=True):
        assert before.shape == after.shape and np.array_equal(before, after)
    assert quant_tables(out) == quant_tables(source)
    assert np.array_equal(read_image(out).pixels, photo.pixels)  # OpenCV (libjpeg-turbo) agrees
    with Image.open(out) as written, Image.open(source) as original:
        assert np.array_equal(np.asarray(written), np.asarray(original))
        assert written.mode == original.mode


@needs_samples
def test_only_the_touched_blocks_of_every_component_change(tmp_path: Path) -> None:
    source, out = tmp_path / "source.jpg", tmp_path / "out.jpg"
    picture(240, 160, "CMYK").save(source, quality=90)
    photo = read_image(source)
    result = photo.pixels.copy()
    result[37:50, 90:97] = (20, 200, 40)  # inside blocks (4..6, 11..12)
    write_image(out, result, like=photo)
    for before, after in zip(coefficients(source), coefficients(out), strict=True):  # C, M, Y and K
        changed = np.any(before != after, axis=(2, 3))
        rows, columns = np.nonzero(changed)
        assert set(rows) <= {4, 5, 6} and set(columns) <= {11, 12} and changed.any()
    inks = np.asarray(Image.open(out))
    expected = np.asarray(Image.open(source)).copy()
    outside = np.ones(inks.shape[:2], bool)
    outside[32:56, 88:104] = False
    assert np.array_equal(inks[outside], expected[outside])


@needs_samples
def test_ycck_photo_is_coded_back_as_ycck(tmp_path: Path) -> None:
    # Pillow cannot write YCCK (Adobe transform 2), so one is made here: a CMYK JPEG's blocks computed anew
    # as YCCK. A decoder must read it back as the same inks, which checks the colour transform.
    source = tmp_path / "cmyk.jpg"
    picture(120, 80, "CMYK").save(source, quality=95)
    photo = read_image(source)
    assert photo.native is not None and photo.jpeg_segments is not None
    frame = jpeg_blocks._read_frame(photo)
    frame.space = "ycck"
    jpeg_blocks._recode_changed_blocks(frame, 255 - photo.native, photo.native)  # every pixel "changed"
    photo.jpeg_segments = [
        (marker, payload[:11] + b"\x02" + payload[12:] if marker == 0xEE else payload)
        for marker, payload in photo.jpeg_segments
    ]
    ycck = tmp_path / "ycck.jpg"
    ycck.write_bytes(jpeg_blocks._assemble(frame, photo))
    with Image.open(ycck) as image:
        assert image.info.get("adobe_transform") == 2
        inks = np.asarray(image).astype(int)
    assert np.abs(inks - photo.native).mean() < 2.5
    # Written back unchanged, it stays YCCK with every coefficient.
    again = read_image(ycck)
    write_image(tmp_path / "out.jpg", again.pixels, like=again)
    for before, after in zip(coefficients(ycck), coefficients(tmp_path / "out.jpg"), strict=True):
        assert np.array_equal(before, after)
    with Image.open(tmp_path / "out.jpg") as written:
        assert written.info.get("adobe_transform") == 2


# -- photos turned by their EXIF orientation ---------------------------------------------------------------------


def turn(blocks: np.ndarray, orientation: int) -> np.ndarray:
    """What turning a component's blocks upright must give: the pixel operation applied to the block grid,
    with each block's odd frequencies negated along a mirrored axis and the frequencies swapped by a transpose.
    """
    steps = {1: "", 2: "H", 3: "VH", 4: "V", 5: "T", 6: "TH", 7: "VHT", 8: "HT"}[orientation]
    for step in steps:
        if step == "T":
            blocks = blocks.transpose(1, 0, 3, 2)
        elif step == "H":
            blocks = blocks[:, ::-1] * np.where(np.arange(8) % 2, -1, 1)[None, None, None, :]
        else:
            blocks = blocks[::-1] * np.where(np.arange(8) % 2, -1, 1)[None, None, :, None]
    return blocks


@needs_samples
@pytest.mark.parametrize("orientation", range(2, 9))
def test_turned_photo_keeps_its_coefficients_turned(tmp_path: Path, orientation: int) -> None:
    source, out = tmp_path / "turned.jpg", tmp_path / "out.jpg"
    exif = Image.Exif()
    exif[0x0112] = orientation
    picture(192, 128).save(source, quality=90, subsampling=2, exif=exif.tobytes())  # whole 16-pixel units
    photo = read_image(source)
    notes: list[str] = []
    write_image(out, photo.pixels, like=photo, notes=notes)
    assert notes == []
    for before, after in zip(coefficients(source), coefficients(out), strict=True):
        assert np.array_equal(turn(before, orientation), after)
    again = read_image(out)
    assert again.orientation == 1 and again.pixels.shape == photo.pixels.shape
    # The decoder's integer IDCT and chroma smoothing are not exactly mirror-symmetric: a level or so.
    assert np.abs(again.pixels.astype(int) - photo.pixels).max() <= 4


@needs_samples
def test_turned_photo_that_cannot_be_turned_exactly_is_encoded_anew_with_a_note(tmp_path: Path) -> None:
    source, out = tmp_path / "turned.jpg", tmp_path / "out.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    picture(192, 131).save(source, quality=90, subsampling=2, exif=exif.tobytes())  # 131 is no multiple of 16
    photo = read_image(source)
    notes: list[str] = []
    write_image(out, photo.pixels, like=photo, notes=notes)
    assert len(notes) == 1 and "encoded anew" in notes[0] and "131 pixels" in notes[0]
    again = read_image(out)
    assert again.orientation == 1 and np.abs(again.pixels.astype(int) - photo.pixels).mean() < 3


# -- falling back ----------------------------------------------------------------------------------------------


@needs_samples
def test_without_jpeglib_the_photo_is_encoded_anew_with_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "source.jpg"
    picture(64, 48).save(source, quality=90)
    photo = read_image(source)
    real_import = importlib.import_module

    def without_jpeglib(name: str, package: str | None = None) -> object:
        if name == "jpeglib":
            raise ImportError("No module named 'jpeglib'")
        return real_import(name, package)

    monkeypatch.setattr(jpeg_blocks.importlib, "import_module", without_jpeglib)
    notes: list[str] = []
    write_image(tmp_path / "out.jpg", photo.pixels, like=photo, notes=notes)
    assert len(notes) == 1 and "jpeglib package" in notes[0] and "not installed" in notes[0]
    assert quant_tables(tmp_path / "out.jpg") == quant_tables(source)  # still the source's tables


@needs_samples
def test_source_changed_after_reading_is_not_copied(tmp_path: Path) -> None:
    source = tmp_path / "source.jpg"
    picture(64, 48).save(source, quality=90)
    photo = read_image(source)
    picture(64, 48).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(source, quality=70)
    notes: list[str] = []
    write_image(tmp_path / "out.jpg", photo.pixels, like=photo, notes=notes)
    assert len(notes) == 1 and "changed after it was read" in notes[0]
    assert np.abs(read_image(tmp_path / "out.jpg").pixels.astype(int) - photo.pixels).mean() < 3


@needs_samples
@pytest.mark.filterwarnings("ignore:.*(EXIF|MPO).*:UserWarning")  # the index here is a stub
def test_asked_quality_encodes_anew_and_multi_picture_index_is_dropped(tmp_path: Path) -> None:
    source = tmp_path / "source.jpg"
    buffer = io.BytesIO()
    picture(64, 48).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    mpf = Segment(0xE2, b"MPF\x00II*\x00\x08\x00\x00\x00").to_bytes()  # an index into data a result drops
    source.write_bytes(data[:20] + mpf + data[20:])
    photo = read_image(source)
    write_image(tmp_path / "kept.jpg", photo.pixels, like=photo)
    assert not any(s.payload.startswith(b"MPF") for s in read_header_file(tmp_path / "kept.jpg"))
    write_image(tmp_path / "q50.jpg", photo.pixels, like=photo, quality=50)
    assert read_image(tmp_path / "q50.jpg").jpeg_quality == 50


# -- Huffman tables --------------------------------------------------------------------------------------------


def check_prefix_free(table: HuffmanTable) -> None:
    codes, lengths = table.codes()
    words = sorted(format(int(codes[s]), f"0{int(lengths[s])}b") for s in table.values)
    for shorter, longer in zip(words, words[1:], strict=False):
        assert not longer.startswith(shorter)
    assert all("0" in word for word in words)  # no code of ones only
    assert sum(2.0 ** -int(lengths[s]) for s in table.values) < 1.0


def test_optimal_table_limits_codes_to_sixteen_bits() -> None:
    # Fibonacci counts give a Huffman tree as deep as there are symbols.
    fibonacci = [1, 1]
    while len(fibonacci) < 40:
        fibonacci.append(fibonacci[-1] + fibonacci[-2])
    frequencies = np.zeros(256, np.int64)
    frequencies[:40] = fibonacci
    table = optimal_table(frequencies)
    assert sum(table.bits) == 40 and len(table.bits) == 16 and table.bits[-1] > 0
    check_prefix_free(table)


def test_optimal_table_gives_frequent_symbols_short_codes() -> None:
    frequencies = np.zeros(256, np.int64)
    frequencies[[0x00, 0x01, 0x11, 0xF0]] = [1000, 100, 10, 1]
    table = optimal_table(frequencies)
    _, lengths = table.codes()
    assert lengths[0x00] < lengths[0x01] < lengths[0xF0]
    check_prefix_free(table)
    single = np.zeros(256, np.int64)
    single[5] = 7
    check_prefix_free(optimal_table(single))  # one symbol still gets a code that is not all ones


def test_zigzag_order_is_the_standard_one() -> None:
    assert list(ZIGZAG[:10]) == [0, 1, 8, 16, 9, 2, 3, 10, 17, 24]
    assert list(ZIGZAG[-4:]) == [47, 55, 62, 63] and sorted(ZIGZAG) == list(range(64))
