"""Zero-copy, memory-mapped reading of ``.safetensors`` files.

The file is mapped once, privately and read-only in practice, and every tensor is a view into that mapping:
loading costs no copy, pages are read from disk only when a weight is first used, and the operating system can
share them with its file cache. A safetensors file is an 8-byte little-endian header length, a JSON header
(name → dtype, shape, byte range) and the raw tensor bytes.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import cast

import torch
from torch import Tensor

from core.common.errors import CheckpointError

_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
# A header larger than this is not a model checkpoint (the released one needs about 150 KB).
_MAX_HEADER = 100 * 1024 * 1024


def read_header(path: Path) -> tuple[int, dict[str, dict[str, object]]]:
    """The offset where tensor data starts and the parsed header (without its ``__metadata__`` entry)."""
    size = path.stat().st_size
    with path.open("rb") as file:
        prefix = file.read(8)
        if len(prefix) < 8:
            raise CheckpointError(f"{path.name} is too short to be a safetensors file.")
        (length,) = struct.unpack("<Q", prefix)
        if length > min(_MAX_HEADER, size - 8):
            raise CheckpointError(f"{path.name} is not a safetensors file (header length {length}).")
        try:
            header = json.loads(file.read(length))
        except ValueError as exc:
            raise CheckpointError(f"{path.name} has a damaged safetensors header ({exc}).") from exc
    if not isinstance(header, dict):
        raise CheckpointError(f"{path.name} has a damaged safetensors header.")
    header.pop("__metadata__", None)
    return 8 + length, header


def load_mmap(path: str | Path) -> dict[str, Tensor]:
    """Every tensor of a safetensors file as a view into one private memory mapping of it.

    Raises:
        CheckpointError: not a safetensors file, an unknown dtype, or a byte range outside the file (for example
            a truncated download).
    """
    path = Path(path)
    data_start, header = read_header(path)
    size = path.stat().st_size
    # 1. Map the whole file once; shared=False gives a private (copy-on-write) mapping, so nothing done to a
    #    tensor can ever write back into the file.
    storage = cast(torch.UntypedStorage, torch.UntypedStorage.from_file(str(path), shared=False, nbytes=size))
    tensors: dict[str, Tensor] = {}
    for name, entry in header.items():
        # 2. Validate the entry against the file before viewing it.
        if not isinstance(entry, dict):
            raise CheckpointError(f"{path.name}: header entry {name!r} is malformed.")
        dtype = _DTYPES.get(str(entry.get("dtype")))
        shape = entry.get("shape")
        offsets = entry.get("data_offsets")
        if dtype is None:
            raise CheckpointError(f"{path.name}: tensor {name!r} has an unsupported dtype {entry.get('dtype')!r}.")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise CheckpointError(f"{path.name}: tensor {name!r} has a malformed shape.")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise CheckpointError(f"{path.name}: tensor {name!r} has malformed offsets.")
        begin, end = data_start + offsets[0], data_start + offsets[1]
        itemsize = torch.empty((), dtype=dtype).element_size()
        count = 1
        for dim in shape:
            count *= dim
        if end > size or end - begin != count * itemsize or begin < data_start:
            raise CheckpointError(
                f"{path.name}: tensor {name!r} lies outside the file; the file is truncated or damaged.",
                hint="Download or import the model again.",
            )
        # 3. A view when the bytes are aligned for the dtype (always, for files written by safetensors);
        #    otherwise a copy of just this tensor.
        if begin % itemsize == 0:
            tensor = torch.empty(0, dtype=dtype).set_(storage, begin // itemsize, shape, _contiguous_strides(shape))
        else:
            raw = torch.empty(0, dtype=torch.uint8).set_(storage, begin, (end - begin,), (1,))
            tensor = raw.clone().view(dtype).reshape(shape)
        tensors[name] = tensor
    return tensors


def _contiguous_strides(shape: list[int]) -> list[int]:
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * max(shape[i + 1], 1)
    return strides
