"""Baseline Huffman coding of quantized DCT blocks: tables fitted to the data, and the scan's bytes.

A JPEG scan codes every 8×8 block as its DC difference (to the previous block of the same component) and its
AC coefficients in zigzag order as (zero run, size) symbols with the value's bits after each. The coding here
works on whole arrays of blocks at once (numpy), in chunks so that a 100-megapixel photo needs no more than a
few hundred megabytes: one pass counts the symbols to build optimal tables (ITU T.81 Annex K.2, codes of at
most 16 bits), a second pass writes the bits. Nothing here decides which blocks are coded; see
:mod:`core.photo.jpeg_blocks`.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]


def _zigzag() -> npt.NDArray[np.intp]:
    """The natural (row-major) index of each zigzag position: diagonals, alternating direction."""
    cells = [(row, column) for row in range(8) for column in range(8)]
    cells.sort(key=lambda cell: (cell[0] + cell[1], cell[0] if (cell[0] + cell[1]) % 2 else -cell[0]))
    return np.array([row * 8 + column for row, column in cells], dtype=np.intp)


ZIGZAG = _zigzag()
"""``ZIGZAG[k]`` is the natural index (row × 8 + column) of the coefficient at zigzag position ``k``."""

_CHUNK_BLOCKS = 1 << 15
_ZRL, _EOB = 0xF0, 0x00


@dataclass(frozen=True)
class HuffmanTable:
    """One Huffman table: the counts of codes per length (BITS, 16 entries) and the symbols in code order."""

    bits: tuple[int, ...]
    values: tuple[int, ...]

    def codes(self) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
        """``(code, length)`` for each of the 256 symbols (length 0 for symbols without a code)."""
        code_of = np.zeros(256, np.uint32)
        length_of = np.zeros(256, np.int64)
        code, index = 0, 0
        for length, count in enumerate(self.bits, start=1):
            for _ in range(count):
                symbol = self.values[index]
                code_of[symbol], length_of[symbol] = code, length
                code += 1
                index += 1
            code <<= 1
        return code_of, length_of

    def segment_payload(self, table_class: int, table_id: int) -> bytes:
        """This table's part of a DHT segment (class 0 = DC, 1 = AC)."""
        return bytes([(table_class << 4) | table_id, *self.bits, *self.values])


def optimal_table(frequencies: npt.NDArray[np.int64]) -> HuffmanTable:
    """The Huffman table that codes symbols with these counts in the fewest bits, codes of at most 16 bits.

    A reserved symbol with count 1 takes the longest code and is then dropped, so that no code consists of
    ones only (T.81 Annex K.2); lengths over 16 are folded back as Annex K.3 describes.

    Args:
        frequencies: (256,) how often each symbol occurs.
    """
    # 1. Code lengths of a plain Huffman tree over the used symbols and the reserved one (256).
    used = [int(s) for s in np.flatnonzero(frequencies)]
    heap: list[tuple[int, int, list[int]]] = [(int(frequencies[s]), s, [s]) for s in used]
    heap.append((1, 256, [256]))
    heapq.heapify(heap)
    depth = dict.fromkeys([*used, 256], 0)
    order = 257
    while len(heap) > 1:
        weight_a, _, members_a = heapq.heappop(heap)
        weight_b, _, members_b = heapq.heappop(heap)
        for symbol in members_a + members_b:
            depth[symbol] += 1
        heapq.heappush(heap, (weight_a + weight_b, order, members_a + members_b))
        order += 1
    # 2. Counts per length, with lengths over 16 folded back (Annex K.3, Adjust_BITS).
    bits = [0] * 40
    for symbol_depth in depth.values():
        bits[symbol_depth] += 1
    for length in range(len(bits) - 1, 16, -1):
        while bits[length] > 0:
            shorter = length - 2
            while bits[shorter] == 0:
                shorter -= 1
            bits[length] -= 2
            bits[length - 1] += 1
            bits[shorter + 1] += 2
            bits[shorter] -= 1
    longest = 16
    while bits[longest] == 0:
        longest -= 1
    bits[longest] -= 1  # the reserved symbol's code, the last one of the longest length
    # 3. Symbols in code order: shorter codes first, the reserved symbol last (it is the one dropped).
    values = sorted(used, key=lambda symbol: (depth[symbol], symbol))
    return HuffmanTable(tuple(bits[1:17]), tuple(values))


@dataclass
class _Events:
    """A chunk's coded items in order: which table, which symbol, and the value bits that follow.

    Kept in small types (a few bytes per item) between the counting and the writing pass.
    """

    table: npt.NDArray[np.uint8]  # 2 × table id + (0 for DC, 1 for AC)
    symbol: npt.NDArray[np.uint8]
    extra: npt.NDArray[np.uint16]
    extra_size: npt.NDArray[np.uint8]


_SIZE_OF = np.array([int(value).bit_length() for value in range(4096)], np.int64)


def _sizes(values: I64) -> I64:
    """The JPEG size category of each value: bits needed for ``|value|`` (0 for 0)."""
    return _SIZE_OF[np.minimum(np.abs(values), 4095)]


def _value_bits(values: I64, sizes: I64) -> I64:
    """The bits written after a symbol: the value itself, or for negatives its ones' complement."""
    return np.where(values >= 0, values, values + (np.int64(1) << sizes) - 1)


def _chunk_events(zigzag: npt.NDArray[np.int16], dc_diff: I64, tables: I64) -> _Events:
    """The coded items of some blocks, in the order they are written.

    Args:
        zigzag: (N, 64) coefficients in zigzag order.
        dc_diff: (N,) DC differences to the previous block of the same component.
        tables: (N,) Huffman table id (0 or 1) of each block.
    """
    count = zigzag.shape[0]
    # 1. Every non-zero AC coefficient, the zero run before it, and the runs of 16 zeros (ZRL) it needs.
    block, position = np.nonzero(zigzag[:, 1:])
    position = position.astype(np.int64) + 1
    value = zigzag[block, position].astype(np.int64)
    previous = np.zeros_like(position)
    if position.size:
        same = block[1:] == block[:-1]
        previous[1:] = np.where(same, position[:-1], 0)
    run = position - previous - 1
    zrl, run = run >> 4, run & 15
    size = _sizes(value)
    # 2. Items per block: DC, then per coefficient its ZRLs and itself, then EOB unless coefficient 63 is set.
    in_block = np.bincount(block, minlength=count)
    first_in_block = np.concatenate([[0], np.cumsum(in_block)[:-1]])
    has_any = in_block > 0
    last = np.zeros(count, np.int64)
    last[has_any] = position[(first_in_block + in_block - 1)[has_any]]
    eob = last < 63
    per_coefficient = zrl + 1
    items = 1 + np.bincount(block, weights=per_coefficient, minlength=count).astype(np.int64) + eob
    start = np.concatenate([[0], np.cumsum(items)[:-1]])
    total = int(items.sum())
    table = np.empty(total, np.uint8)
    symbol = np.empty(total, np.uint8)
    extra = np.zeros(total, np.uint16)
    extra_size = np.zeros(total, np.uint8)
    # 3. Place them: DC items first in each block.
    dc_size = _sizes(dc_diff)
    table[start], symbol[start] = tables * 2, dc_size
    extra[start], extra_size[start] = _value_bits(dc_diff, dc_size), dc_size
    # 4. Each coefficient after the items of the coefficients before it in its block.
    before = np.concatenate([[0], np.cumsum(per_coefficient)[:-1]])
    offset_in_block = before - before[first_in_block[block]] if block.size else before
    at = start[block] + 1 + offset_in_block + zrl
    ac_table = tables[block] * 2 + 1
    table[at], symbol[at] = ac_table, (run << 4) | size
    extra[at], extra_size[at] = _value_bits(value, size), size
    # 5. ZRL items just before their coefficient, EOB items last in their block.
    if int(zrl.sum()):
        owner = np.repeat(np.arange(zrl.size), zrl)
        within = np.arange(owner.size) - np.repeat(np.cumsum(zrl) - zrl, zrl)
        spots = at[owner] - zrl[owner] + within
        table[spots], symbol[spots] = ac_table[owner], _ZRL
    ends = (start + items - 1)[eob]
    table[ends], symbol[ends] = tables[eob] * 2 + 1, _EOB
    return _Events(table, symbol, extra, extra_size)


def _coded_items(blocks: npt.NDArray[np.int16], dc_diff: I64, tables: I64) -> Iterator[_Events]:
    """:func:`_chunk_events` over ``blocks`` (N, 64, natural order) in chunks of :data:`_CHUNK_BLOCKS`."""
    for first in range(0, blocks.shape[0], _CHUNK_BLOCKS):
        part = slice(first, first + _CHUNK_BLOCKS)
        yield _chunk_events(blocks[part][:, ZIGZAG], dc_diff[part], tables[part])


def encode_scan(
    blocks: npt.NDArray[np.int16], components: npt.NDArray[np.intp], tables: npt.NDArray[np.intp]
) -> tuple[dict[tuple[int, int], HuffmanTable], bytes]:
    """Huffman-code blocks given in scan order: the tables fitted to them, and the entropy-coded bytes.

    Args:
        blocks: (N, 64) quantized coefficients in natural order, in the order the scan visits them.
        components: (N,) which component each block belongs to (DC prediction runs per component).
        tables: (N,) Huffman table id (0 or 1) of each block's component.

    Returns:
        ``({(class, id): table}, data)``: class 0 = DC, 1 = AC; ``data`` is byte-stuffed and padded with ones,
        ready to follow the scan header.
    """
    # 1. DC differences, per component in scan order.
    dc = blocks[:, 0].astype(np.int64)
    dc_diff = np.empty_like(dc)
    for component in np.unique(components):
        mine = np.flatnonzero(components == component)
        dc_diff[mine] = np.diff(dc[mine], prepend=0)
    table_ids = tables.astype(np.int64)
    # 2. The coded items, counted per table and symbol, and the tables fitted to the counts.
    chunks = list(_coded_items(blocks, dc_diff, table_ids))
    counts = np.zeros(4 * 256, np.int64)
    for events in chunks:
        counts += np.bincount(events.table.astype(np.int64) * 256 + events.symbol, minlength=4 * 256)
    fitted: dict[tuple[int, int], HuffmanTable] = {}
    code_of = np.zeros((4, 256), np.uint64)
    length_of = np.zeros((4, 256), np.int64)
    for key in range(4):
        frequencies = counts[key * 256 : (key + 1) * 256]
        if frequencies.any():
            table = optimal_table(frequencies)
            fitted[(key % 2, key // 2)] = table
            codes, lengths = table.codes()
            code_of[key], length_of[key] = codes, lengths
    # 3. Write the bits, chunk by chunk, carrying the last incomplete byte along.
    writer = _BitWriter()
    for events in chunks:
        lengths = length_of[events.table, events.symbol]
        values = (code_of[events.table, events.symbol] << events.extra_size.astype(np.uint64)) | events.extra.astype(
            np.uint64
        )
        writer.write(values, lengths + events.extra_size)
    return fitted, writer.finish()


class _BitWriter:
    """Packs (value, length) pairs of up to 57 bits into bytes, most significant bit first, stuffing 0xFF."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._carry = 0
        self._carry_bits = 0

    def write(self, values: U64, lengths: I64) -> None:
        """Append the bits of ``values`` (each ``lengths`` bits long, lengths ≥ 1)."""
        # 1. The bits left over from the last call go first.
        values = np.concatenate([np.array([self._carry], np.uint64), values.astype(np.uint64)])
        lengths = np.concatenate([np.array([self._carry_bits], np.int64), lengths.astype(np.int64)])
        keep = lengths > 0
        values, lengths = values[keep], lengths[keep]
        if values.size == 0:
            return
        # 2. Where each value's bits go: a 64-bit word and an offset in it; some spill into the next word.
        ends = np.cumsum(lengths)
        total = int(ends[-1])
        begin = ends - lengths
        word, offset = begin >> 6, begin & 63
        stop = offset + lengths
        fits = stop <= 64
        left = np.where(fits, 64 - stop, 0).astype(np.uint64)
        right = np.where(fits, 0, stop - 64).astype(np.uint64)
        words = np.zeros((total + 63) // 64 + 1, np.uint64)
        unique, first = np.unique(word, return_index=True)
        words[unique] = np.bitwise_or.reduceat((values << left) >> right, first)
        spill = ~fits
        if spill.any():
            words[word[spill] + 1] |= values[spill] << (128 - stop[spill]).astype(np.uint64)
        # 3. Whole bytes out (stuffed); the rest is carried.
        data = np.frombuffer(words.astype(">u8").tobytes(), np.uint8)
        whole = total // 8
        self._carry_bits = total % 8
        self._carry = int(data[whole]) >> (8 - self._carry_bits) if self._carry_bits else 0
        self._parts.append(_stuffed(data[:whole]))

    def finish(self) -> bytes:
        """All bytes written, the last one padded with ones."""
        if self._carry_bits:
            pad = 8 - self._carry_bits
            last = (self._carry << pad) | ((1 << pad) - 1)
            self._parts.append(_stuffed(np.array([last], np.uint8)))
            self._carry_bits = 0
        return b"".join(self._parts)


def _stuffed(data: npt.NDArray[np.uint8]) -> bytes:
    """``data`` with a zero byte after every 0xFF, as entropy-coded JPEG data requires."""
    marks = data == 0xFF
    if not marks.any():
        return data.tobytes()
    out = np.zeros(data.size + int(marks.sum()), np.uint8)
    out[np.arange(data.size) + np.concatenate([[0], np.cumsum(marks)[:-1]])] = data
    return out.tobytes()


def huffman_segment(tables: dict[tuple[int, int], HuffmanTable]) -> bytes:
    """One DHT segment holding ``tables`` (``{(class, id): table}``), marker and length included."""
    payload = b"".join(table.segment_payload(*key) for key, table in sorted(tables.items()))
    return b"\xff\xc4" + struct.pack(">H", len(payload) + 2) + payload
