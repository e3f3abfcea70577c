"""Writing a JPEG result block for block: unchanged blocks keep the source's own DCT coefficients.

Encoding a decoded JPEG again moves every pixel a little (the encoder's rounding, chroma subsampling). A JPEG
result of a JPEG source is instead written the way lossless JPEG tools work: the source's quantized DCT
coefficients are read (with the ``jpeglib`` package), every 8×8 block whose pixels are all unchanged is copied
as it is, and only the blocks that hold a changed pixel are computed anew from the result, with the source's
own quantization tables. Component ids, sampling factors, tables, colour space (gray, YCbCr, RGB, CMYK, YCCK)
and every application and comment segment stay those of the source; the scan is written as one baseline
(sequential) scan with Huffman tables fitted to it (:mod:`core.photo.jpeg_entropy`), so a progressive source
comes back sequential with the same coefficients.

A photo turned upright by its EXIF orientation is turned in the coefficients too (mirroring negates the odd
frequencies, a quarter turn transposes the blocks), which is exact when the mirrored side is a whole number
of coding units (MCUs) long; otherwise, and when ``jpeglib`` is missing or cannot read the file, the result is
encoded anew by Pillow and the caller gets a note saying why.
"""

from __future__ import annotations

import importlib
import logging
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from core.photo.jpeg_entropy import ZIGZAG, encode_scan, huffman_segment
from core.photo.jpeg_segments import (
    DQT,
    FRAME_MARKERS,
    Segment,
    adobe_transform,
    carried_segments,
    has_jfif,
    read_header_file,
)
from core.photo.photo import Photo, Samples

log = logging.getLogger(__name__)

I16 = npt.NDArray[np.int16]
_ORIENTATION_STEPS = {1: "", 2: "H", 3: "VH", 4: "V", 5: "T", 6: "TH", 7: "VHT", 8: "HT"}
"""The block operations that turn a stored JPEG upright, matching :func:`core.photo.orientation.to_upright`:
H mirrors left-right, V top-bottom, T transposes."""


def _dct_matrix() -> npt.NDArray[np.float64]:
    """The orthonormal 8-point DCT-II matrix; JPEG's 2-D forward DCT of a block ``B`` is ``C @ B @ C.T``."""
    k = np.arange(8)[:, None]
    n = np.arange(8)[None, :]
    matrix = np.cos((2 * n + 1) * k * np.pi / 16) * np.sqrt(2 / 8)
    matrix[0] /= np.sqrt(2)
    return np.asarray(matrix, dtype=np.float64)


_DCT = _dct_matrix()


@dataclass
class _Component:
    """One colour component of the frame: its id, sampling factors, table and quantized blocks."""

    ident: int
    h: int
    v: int
    table: int
    blocks: I16  # (rows of blocks, columns of blocks, 8, 8), natural order [vertical][horizontal frequency]


@dataclass
class _Frame:
    """What the coefficients describe: size, colour space, components, and the quantization tables."""

    width: int
    height: int
    space: str  # "gray", "ycbcr", "rgb", "cmyk" or "ycck"
    components: list[_Component]
    quant: dict[int, npt.NDArray[np.float64]]  # table id -> (8, 8) natural order
    wide_tables: frozenset[int]  # ids of the tables stored with 16-bit entries

    @property
    def hmax(self) -> int:
        return max(c.h for c in self.components)

    @property
    def vmax(self) -> int:
        return max(c.v for c in self.components)


class _NotExact(Exception):
    """The source cannot be copied block for block; the message says why, for the note."""


def write_keeping_blocks(stream: BinaryIO, samples: Samples, like: Photo, notes: list[str] | None) -> bool:
    """Write ``samples`` as a JPEG that keeps ``like``'s coefficients in every block without a changed pixel.

    Args:
        stream: the output, open for writing.
        samples: the result's samples: gray (H, W), RGB (H, W, 3) or CMYK (H, W, 4) ``uint8``, like the
            source's (:func:`~core.photo.samples.output_samples`).
        like: the JPEG source photo.
        notes: receives a sentence when the result has to be encoded anew although ``like`` is a JPEG.

    Returns:
        ``True`` when the JPEG was written; ``False`` when nothing was written and the caller should encode
        the result anew (a note says why when it matters).
    """
    reference = _reference_samples(like, samples)
    if like.format != "JPEG" or reference is None or like.path is None or like.jpeg_segments is None:
        return False  # not a write-back of a JPEG file: nothing to keep
    try:
        frame = _read_frame(like)
        _turn_upright(frame, like.orientation)
        if (frame.width, frame.height) != (samples.shape[1], samples.shape[0]):
            raise _NotExact("its coded size differs from the decoded photo's")
        _recode_changed_blocks(frame, reference, samples)
        data = _assemble(frame, like)
    except (_NotExact, MemoryError, ValueError, IndexError) as reason:
        # Anything else that goes wrong here must not cost the user the result: it is encoded anew, as before.
        if not isinstance(reason, _NotExact):
            log.warning("keeping the blocks of %s failed", like.path, exc_info=True)
            reason = _NotExact(f"its blocks could not be kept ({type(reason).__name__}: {reason})")
        if notes is not None:
            notes.append(
                f"The JPEG was encoded anew as a whole, so pixels outside the fill may move by a few levels: {reason}."
            )
        return False
    stream.write(data)
    return True


def _reference_samples(like: Photo, samples: Samples) -> Samples | None:
    """The source's decoded samples in the same layout as ``samples``, or ``None`` when they do not match."""
    native = like.native
    if samples.ndim == 2 or (samples.ndim == 3 and samples.shape[2] == 4):
        candidate = native if native is not None and native.dtype == np.uint8 else None
    else:
        candidate = like.pixels
    if candidate is None or candidate.shape != samples.shape or samples.dtype != np.uint8:
        return None
    return candidate


def _read_frame(like: Photo) -> _Frame:
    """The source's frame header, quantization tables and coefficients (read again from its file)."""
    source = like.unchanged_source()
    if source is None:
        raise _NotExact("the source file changed after it was read")
    try:
        jpeglib: Any = importlib.import_module("jpeglib")
    except ImportError:
        raise _NotExact("the jpeglib package, which reads the source's blocks, is not installed") from None
    # 1. The header: frame, tables, colour space.
    try:
        segments = read_header_file(source)
    except (OSError, ValueError) as error:
        raise _NotExact(f"its header cannot be read ({error})") from error
    frames = [s for s in segments if s.marker in FRAME_MARKERS]
    if len(frames) != 1 or frames[0].marker not in (0xC0, 0xC1, 0xC2):
        raise _NotExact("it is not a baseline, extended or progressive Huffman-coded JPEG")
    precision, height, width, count = struct.unpack(">BHHB", frames[0].payload[:6])
    if precision != 8 or count not in (1, 3, 4) or len(frames[0].payload) < 6 + 3 * count:
        raise _NotExact("it is not an 8-bit gray, colour or CMYK JPEG")
    specs = [frames[0].payload[6 + 3 * i : 9 + 3 * i] for i in range(count)]
    quant, wide_tables = _quantization_tables([s for s in segments if s.marker == DQT])
    # 2. The coefficients, read by libjpeg (through jpeglib).
    try:
        coded = jpeglib.read_dct(str(source))
        arrays = [coded.Y, coded.Cb, coded.Cr, coded.K][:count] if count > 1 else [coded.Y]
    except Exception as error:  # jpeglib reports libjpeg's failures as plain exceptions
        raise _NotExact(f"its blocks cannot be read ({error})") from error
    components = []
    for spec, blocks in zip(specs, arrays, strict=True):
        ident, factors, table = spec[0], spec[1], spec[2]
        if blocks is None or table not in quant:
            raise _NotExact("its blocks cannot be read")
        components.append(_Component(ident, factors >> 4, factors & 15, table, np.array(blocks, dtype=np.int16)))
    return _Frame(width, height, _colour_space(segments, components), components, quant, wide_tables)


def _quantization_tables(segments: list[Segment]) -> tuple[dict[int, npt.NDArray[np.float64]], frozenset[int]]:
    """The quantization tables of DQT segments, by id, in natural order, and the ids of 16-bit ones."""
    tables: dict[int, npt.NDArray[np.float64]] = {}
    wide_tables: set[int] = set()
    for segment in segments:
        data, at = segment.payload, 0
        while at < len(data):
            wide, ident = data[at] >> 4, data[at] & 15
            size = 128 if wide else 64
            values = np.frombuffer(data[at + 1 : at + 1 + size], ">u2" if wide else np.uint8).astype(np.float64)
            if values.size != 64:
                raise _NotExact("a quantization table is cut short")
            table = np.empty(64, np.float64)
            table[ZIGZAG] = values
            tables[ident] = table.reshape(8, 8)
            if wide:
                wide_tables.add(ident)
            at += 1 + size
    return tables, frozenset(wide_tables)


def _quantization_segment(frame: _Frame) -> Segment:
    """One DQT segment with every table of ``frame`` (as turned), each at its source's precision."""
    payload = b""
    for ident, table in sorted(frame.quant.items()):
        values = table.reshape(64)[ZIGZAG].astype(np.int64)
        wide = ident in frame.wide_tables
        payload += bytes([(int(wide) << 4) | ident]) + values.astype(">u2" if wide else np.uint8).tobytes()
    return Segment(DQT, payload)


def _colour_space(segments: list[Segment], components: list[_Component]) -> str:
    """How the components code colour, by libjpeg's rules (JFIF, then Adobe's transform, then component ids)."""
    if len(components) == 1:
        return "gray"
    transform = adobe_transform(segments)
    if len(components) == 4:
        return "ycck" if transform == 2 else "cmyk"
    if has_jfif(segments):
        return "ycbcr"
    if transform is not None:
        return "ycbcr" if transform else "rgb"
    ids = tuple(c.ident for c in components)
    return "rgb" if ids == (0x52, 0x47, 0x42) else "ycbcr"


def _turn_upright(frame: _Frame, orientation: int) -> None:
    """Apply the EXIF orientation to the coefficients, as the decoded pixels were turned."""
    for step in _ORIENTATION_STEPS.get(orientation, ""):
        if step == "T":
            # A transposed block needs the transposed table: frequency (u, v) becomes (v, u).
            frame.width, frame.height = frame.height, frame.width
            frame.quant = {ident: np.ascontiguousarray(table.T) for ident, table in frame.quant.items()}
            for component in frame.components:
                component.blocks = np.ascontiguousarray(component.blocks.transpose(1, 0, 3, 2))
                component.h, component.v = component.v, component.h
            continue
        across = step == "H"
        length, unit = (frame.width, 8 * frame.hmax) if across else (frame.height, 8 * frame.vmax)
        if length % unit:
            raise _NotExact(
                f"its EXIF orientation turns it, and its {'width' if across else 'height'} of {length} pixels is not "
                f"a whole number of {unit}-pixel coding units"
            )
        for component in frame.components:
            blocks = component.blocks[:, ::-1] if across else component.blocks[::-1]
            blocks = blocks.copy()
            if across:
                blocks[:, :, :, 1::2] *= -1
            else:
                blocks[:, :, 1::2, :] *= -1
            component.blocks = blocks


def _recode_changed_blocks(frame: _Frame, reference: Samples, samples: Samples) -> None:
    """Compute anew every block that covers a changed pixel, from ``samples``; the others stay as they are."""
    cells = _changed_cells(reference, samples)
    if not cells.any():
        return
    height, width = samples.shape[:2]
    for index, component in enumerate(frame.components):
        # 1. The component's blocks that cover a changed 8×8 cell (a subsampled block covers several cells).
        if frame.hmax % component.h or frame.vmax % component.v:
            raise _NotExact("its chroma sampling is not a whole-number ratio")
        step_x, step_y = frame.hmax // component.h, frame.vmax // component.v
        rows, columns = component.blocks.shape[:2]
        padded = np.zeros((rows * step_y, columns * step_x), np.bool_)
        used_rows, used_columns = min(cells.shape[0], padded.shape[0]), min(cells.shape[1], padded.shape[1])
        padded[:used_rows, :used_columns] = cells[:used_rows, :used_columns]
        touched = padded.reshape(rows, step_y, columns, step_x).any(axis=(1, 3))
        block_rows, block_columns = np.nonzero(touched)
        # 2. Their pixels (edges repeated past the photo, as libjpeg pads), as this component's values.
        for first in range(0, block_rows.size, 4096):
            part = slice(first, first + 4096)
            y = np.clip(block_rows[part, None] * 8 * step_y + np.arange(8 * step_y), 0, height - 1)
            x = np.clip(block_columns[part, None] * 8 * step_x + np.arange(8 * step_x), 0, width - 1)
            pixels = samples[y[:, :, None], x[:, None, :]].astype(np.float64)
            values = _component_values(pixels, frame.space, index)
            count = values.shape[0]
            values = values.reshape(count, 8, step_y, 8, step_x).mean(axis=(2, 4))
            # 3. Forward DCT and quantization with the source's own table.
            coefficients = _DCT @ (values - 128.0) @ _DCT.T
            quantized = np.rint(coefficients / frame.quant[component.table])
            quantized[:, 1:, :] = np.clip(quantized[:, 1:, :], -1023, 1023)
            quantized[:, 0, 1:] = np.clip(quantized[:, 0, 1:], -1023, 1023)
            quantized[:, 0, 0] = np.clip(quantized[:, 0, 0], -2047, 2047)
            component.blocks[block_rows[part], block_columns[part]] = quantized.astype(np.int16)


def _changed_cells(reference: Samples, samples: Samples) -> npt.NDArray[np.bool_]:
    """Which 8×8 cells of the photo hold a pixel where ``samples`` differs from ``reference``.

    Compared in strips of rows, so no photo-sized temporary array is needed.
    """
    height, width = samples.shape[:2]
    cell_rows, cell_columns = -(-height // 8), -(-width // 8)
    cells = np.zeros((cell_rows, cell_columns), np.bool_)
    strip = 8 * max(1, (1 << 21) // max(1, 8 * width))
    for first in range(0, height, strip):
        rows = slice(first, min(height, first + strip))
        if np.array_equal(reference[rows], samples[rows]):
            continue  # the common case, checked without building a map
        changed = reference[rows] != samples[rows]
        if changed.ndim == 3:
            changed = changed.any(axis=2)
        if not changed.any():
            continue
        count = changed.shape[0]
        grid = np.zeros((-(-count // 8) * 8, cell_columns * 8), np.bool_)
        grid[:count, :width] = changed
        cells[first // 8 : first // 8 + grid.shape[0] // 8] = grid.reshape(-1, 8, cell_columns, 8).any(axis=(1, 3))
    return cells


def _component_values(pixels: npt.NDArray[np.float64], space: str, index: int) -> npt.NDArray[np.float64]:
    """Component ``index`` of the coded colour space, from decoded samples (…, channels) as Pillow gives them.

    Pillow reads CMYK JPEGs by Adobe's convention (stored values inverted) and YCCK as CMYK whose C, M, Y are
    the decoded R, G, B; this undoes exactly that.
    """
    if space == "gray":
        return pixels
    if space == "rgb":
        return pixels[..., index]
    if space == "cmyk":
        return 255.0 - pixels[..., index]
    if space == "ycck" and index == 3:
        return 255.0 - pixels[..., 3]
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    if index == 0:
        return 0.299 * red + 0.587 * green + 0.114 * blue
    if index == 1:
        return -0.168735892 * red - 0.331264108 * green + 0.5 * blue + 128.0
    return 0.5 * red - 0.418687589 * green - 0.081312411 * blue + 128.0


def _assemble(frame: _Frame, like: Photo) -> bytes:
    """The whole JPEG file: segments, tables, frame header, one sequential scan, end marker."""
    blocks, owners, tables = _scan_order(frame)
    huffman, data = encode_scan(blocks, owners, tables)
    # 1. Frame header: baseline unless a 16-bit quantization table needs the extended process.
    wide = bool(frame.wide_tables)
    header = struct.pack(">BHHB", 8, frame.height, frame.width, len(frame.components))
    for component in frame.components:
        header += bytes([component.ident, (component.h << 4) | component.v, component.table])
    frame_segment = Segment(0xC1 if wide else 0xC0, header)
    # 2. Scan header: every component, DC and AC tables 0 for the first component, 1 for the others.
    scan = bytes([len(frame.components)])
    for index, component in enumerate(frame.components):
        table = 0 if index == 0 else 1
        scan += bytes([component.ident, (table << 4) | table])
    scan += bytes([0, 63, 0])
    parts = [b"\xff\xd8"]
    parts += [segment.to_bytes() for segment in carried_segments(like, same_coding=True)]
    parts.append(_quantization_segment(frame).to_bytes())
    parts += [frame_segment.to_bytes(), huffman_segment(huffman), Segment(0xDA, scan).to_bytes(), data, b"\xff\xd9"]
    return b"".join(parts)


def _scan_order(frame: _Frame) -> tuple[I16, npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Every block in the order one scan visits it: ``(blocks (N, 64), component index, table id)``.

    One component is coded block row by block row; several are interleaved by MCU, each MCU holding h × v
    blocks of each component, with blocks past the edge of a component repeated to fill the last MCUs.
    """
    if len(frame.components) == 1:
        blocks = frame.components[0].blocks.reshape(-1, 64)
        return blocks, np.zeros(blocks.shape[0], np.intp), np.zeros(blocks.shape[0], np.intp)
    mcu_columns = -(-frame.width // (8 * frame.hmax))
    mcu_rows = -(-frame.height // (8 * frame.vmax))
    per_mcu = sum(component.v * component.h for component in frame.components)
    blocks = np.empty((mcu_rows * mcu_columns, per_mcu, 64), np.int16)
    owners: list[int] = []
    tables: list[int] = []
    for index, component in enumerate(frame.components):
        rows, columns = mcu_rows * component.v, mcu_columns * component.h
        own = component.blocks[:rows, :columns]
        pad_rows, pad_columns = rows - own.shape[0], columns - own.shape[1]
        if pad_rows or pad_columns:
            own = np.pad(own, ((0, pad_rows), (0, pad_columns), (0, 0), (0, 0)), mode="edge")
        grouped = own.reshape(mcu_rows, component.v, mcu_columns, component.h, 64).transpose(0, 2, 1, 3, 4)
        first = len(owners)
        blocks[:, first : first + component.v * component.h] = grouped.reshape(
            mcu_rows * mcu_columns, component.v * component.h, 64
        )
        owners += [index] * (component.v * component.h)
        tables += [0 if index == 0 else 1] * (component.v * component.h)
    count = blocks.shape[0]
    return (
        blocks.reshape(count * per_mcu, 64),
        np.tile(np.array(owners, np.intp), count),
        np.tile(np.array(tables, np.intp), count),
    )
