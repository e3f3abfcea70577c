"""Dropping the resident pages of memory-mapped weights (``.safetensors`` files mapped by
:mod:`core.model.safetensors_mmap`): the pages leave the process and are read back from the kernel's file cache
when next touched, so the weights stay usable.

Only ranges that lie inside private mappings of ``.safetensors`` files (read from ``/proc/self/maps``) are
ever advised, so memory the process allocated itself (which would come back as zeros) is never dropped. On
systems without ``/proc`` (macOS, Windows) nothing happens. :mod:`core.inpaint.resident` uses this between a
job's stages; the model uses it for a weight it has copied into another layout (the original's pages would
otherwise stay resident for as long as the file is mapped).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from torch import Tensor

MADV_DONTNEED = 4  # Linux's value; the mapping's pages are dropped and re-read from the file when touched
MAPS = Path("/proc/self/maps")


@cache
def libc_handle() -> ctypes.CDLL | None:
    """The C library (Linux only; ``None`` elsewhere or where it cannot be loaded)."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None


def weight_mappings(maps: Path = MAPS) -> list[tuple[int, int]]:
    """``(start, end)`` of every private mapping of a ``.safetensors`` file in this process."""
    try:
        lines = maps.read_text().splitlines()
    except OSError:
        return []
    found: list[tuple[int, int]] = []
    for line in lines:
        # address perms offset dev inode path
        fields = line.split(maxsplit=5)
        if len(fields) < 6 or not fields[5].endswith(".safetensors") or fields[1][3] != "p":
            continue
        start, end = (int(part, 16) for part in fields[0].split("-"))
        found.append((start, end))
    return found


def page_ranges(tensors: Iterable[Tensor], mappings: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The whole pages the tensors occupy inside the mappings, merged into sorted, disjoint ranges."""
    page = mmap.PAGESIZE
    ranges: list[tuple[int, int]] = []
    for tensor in tensors:
        if tensor.device.type != "cpu" or tensor.numel() == 0:
            continue
        begin = tensor.data_ptr()
        end = begin + tensor.numel() * tensor.element_size()
        if not any(start <= begin and end <= stop for start, stop in mappings):
            continue
        # Only pages wholly inside the tensor: a page shared with a neighbour that is still in use stays.
        first, last = -(-begin // page) * page, end // page * page
        if first < last:
            ranges.append((first, last))
    ranges.sort()
    merged: list[tuple[int, int]] = []
    for begin, end in ranges:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def drop_mapped_pages(tensors: Iterable[Tensor]) -> int:
    """Drop the resident pages of those tensors that lie in a weight file's mapping; returns the bytes dropped.

    Pages shared with a neighbouring tensor stay (only whole pages inside a tensor are dropped); tensors in
    memory the process allocated itself are left alone.
    """
    libc = libc_handle()
    if libc is None:
        return 0
    mappings = weight_mappings()
    if not mappings:
        return 0
    released = 0
    for begin, end in page_ranges(tensors, mappings):
        if libc.madvise(ctypes.c_void_p(begin), ctypes.c_size_t(end - begin), MADV_DONTNEED) == 0:
            released += end - begin
    return released
