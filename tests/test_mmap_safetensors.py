"""Memory-mapped safetensors reading: same tensors as the reference reader, no copies, clear errors."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from core.common.errors import CheckpointError
from core.model.safetensors_mmap import load_mmap


def _write(path: Path) -> dict[str, torch.Tensor]:
    tensors = {
        "a": torch.randn(3, 5),
        "b": torch.arange(7, dtype=torch.int64),
        "c": torch.randn(2, 2).to(torch.bfloat16),
        "empty": torch.zeros(0, 4),
        "scalar": torch.tensor(2.5),
    }
    save_file(tensors, str(path))
    return tensors


def test_same_tensors_as_the_reference_reader(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    written = _write(path)
    mapped = load_mmap(path)
    reference = load_file(str(path))
    assert mapped.keys() == reference.keys() == written.keys()
    for name, tensor in mapped.items():
        assert tensor.dtype == reference[name].dtype and tensor.shape == reference[name].shape
        assert torch.equal(tensor, reference[name]), name


def test_tensors_are_views_of_one_mapping(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    _write(path)
    mapped = load_mmap(path)
    storages = {t.untyped_storage().data_ptr() for t in mapped.values() if t.numel()}
    assert len(storages) == 1
    # Writing to a loaded tensor never reaches the file (private mapping).
    before = path.read_bytes()
    mapped["a"].add_(1.0)
    assert path.read_bytes() == before


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    _write(path)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="truncated"):
        load_mmap(path)


@pytest.mark.parametrize(
    "content",
    [b"", b"\x01\x02", struct.pack("<Q", 10**12) + b"{}", struct.pack("<Q", 5) + b"nope!"],
    ids=["empty", "short", "huge-header", "bad-json"],
)
def test_not_a_safetensors_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "w.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError):
        load_mmap(path)


def test_unknown_dtype_is_refused(tmp_path: Path) -> None:
    header = json.dumps({"x": {"dtype": "F8_E9", "shape": [1], "data_offsets": [0, 1]}}).encode()
    path = tmp_path / "w.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00")
    with pytest.raises(CheckpointError, match="dtype"):
        load_mmap(path)
