"""Handing memory of finished stages back: only memory-mapped weights are dropped, and they stay usable."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from core.inpaint.resident import release_weights, trim_heap
from core.model.mapped_pages import weight_mappings
from core.model.safetensors_mmap import load_mmap

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc/self (Linux)")


def _resident_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


class _Holder(torch.nn.Module):
    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        super().__init__()
        for index, tensor in enumerate(tensors.values()):
            self.register_buffer(f"t{index}", tensor)


def test_released_pages_leave_the_process_and_come_back_unchanged(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    weights = {f"w{i}": torch.randn(1024, 1024, generator=generator) for i in range(16)}  # 64 MiB
    path = tmp_path / "weights.safetensors"
    save_file(weights, str(path))
    mapped = load_mmap(path)
    holder = _Holder(mapped)
    assert any(True for _ in weight_mappings())
    checksum = sum(float(t.sum()) for t in mapped.values())  # touches every page
    before = _resident_kib()
    released = release_weights(holder)
    after = _resident_kib()
    assert released >= 60 * 1024 * 1024
    assert before - after >= 50 * 1024  # KiB
    # Still the same numbers, read back from the file.
    assert sum(float(t.sum()) for t in mapped.values()) == checksum
    assert all(torch.equal(mapped[name], weights[name]) for name in weights)


def test_memory_that_is_not_a_weight_file_is_never_released() -> None:
    # Anonymous memory would come back as zeros if it were dropped: it must be left alone.
    module = torch.nn.Linear(512, 512)
    with torch.no_grad():
        module.weight.fill_(3.0)
    assert release_weights(module) == 0
    assert bool((module.weight == 3.0).all())
    trim_heap()  # harmless at any time


def _in_fresh_process(function: str) -> None:
    import subprocess

    here = str(Path(__file__).parent)
    code = f"import sys; sys.path.insert(0, {here!r}); import test_resident; test_resident.{function}()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def _allocate_and_free(megabytes: int = 48) -> None:
    """Allocate a block above glibc's default mapping threshold, touch every page, free it."""
    block = torch.empty(megabytes << 18)  # float32: 4 bytes each
    block.fill_(1.0)
    del block


def test_freed_blocks_stay_for_reuse_inside_the_block_and_go_back_after() -> None:
    # The heap's state depends on everything the test process did before (earlier tests' frees move glibc's
    # thresholds), so the check runs in a fresh interpreter where only this block has touched the heap.
    _in_fresh_process("_check_freed_blocks_stay_for_reuse_inside_the_block_and_go_back_after")


def _check_freed_blocks_stay_for_reuse_inside_the_block_and_go_back_after() -> None:
    from core.inpaint.resident import freed_memory_reused

    kib = 48 * 1024
    with freed_memory_reused():
        before = _resident_kib()
        _allocate_and_free()
        # Freed, but kept in the process (no unmapping, no trimming) for the next allocation.
        inside = _resident_kib()
        assert inside - before > kib * 3 // 4
    # Leaving the block trims the heap: the kept block goes back to the operating system.
    assert inside - _resident_kib() > kib * 3 // 4
    # Outside, a block this large is unmapped as soon as it is freed.
    before = _resident_kib()
    _allocate_and_free()
    assert _resident_kib() - before < kib // 4


def test_nested_blocks_keep_freed_blocks_until_the_outermost_ends() -> None:
    # The heap's state depends on everything the test process did before (earlier tests' frees move glibc's
    # thresholds), so the check runs in a fresh interpreter where only this block has touched the heap.
    _in_fresh_process("_check_nested_blocks_keep_freed_blocks_until_the_outermost_ends")


def _check_nested_blocks_keep_freed_blocks_until_the_outermost_ends() -> None:
    from core.inpaint.resident import freed_memory_reused

    kib = 48 * 1024
    with freed_memory_reused():
        with freed_memory_reused():
            pass
        # The inner block's end must not have restored the limits: a large freed block still stays.
        before = _resident_kib()
        _allocate_and_free()
        inside = _resident_kib()
        assert inside - before > kib * 3 // 4
    assert inside - _resident_kib() > kib * 3 // 4
