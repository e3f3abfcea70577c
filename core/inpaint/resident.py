"""Give memory the next stage of a job does not need back to the operating system, without unloading anything.

A job uses its weights in stages: the VAE encoder, then the UNet for every denoising step, then the VAE
decoder. On the CPU the weights are memory-mapped from their ``.safetensors`` files (see
:mod:`core.model.safetensors_mmap`), so a page of weights that a stage touched stays resident in the process until
the process tells the kernel it may drop it. Doing that after each stage keeps the process's peak at the
largest single stage instead of the sum of all three (about 1.2 GB of weights for the released model). The
pages stay in the kernel's file cache, so the next job faults them back in from memory, not from disk.

Only ranges that lie inside private, read-only-in-practice mappings of ``.safetensors`` files (read from
``/proc/self/maps``) are ever advised, so memory the process allocated itself can never be dropped by
mistake. On systems without ``/proc`` (macOS, Windows) every function here does nothing.

Freed activations are a second source of a high resident size: glibc keeps freed heap blocks for reuse.
:func:`trim_heap` hands them back between stages.

Within a stage the opposite is wanted. By default glibc serves blocks above 32 MB with fresh ``mmap`` calls
and gives the top of the heap back whenever 64 MB of it are free, so the same activations are faulted in
afresh on every model call; on the virtual machines of this project a page fault costs about 2 µs, which
made a 59 MB temporary cost 30 ms instead of 5. :func:`freed_memory_reused` keeps freed blocks of any size
in the process while the denoising loop runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain

from torch import nn

from core.model.mapped_pages import drop_mapped_pages, libc_handle

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Freed memory kept for reuse before the heap gives it back by itself, and the block size from which
# glibc would use a private mapping: both far above anything one model call allocates at once.
RETAINED_BYTES = 1 << 30
# The mapping threshold glibc's adaptive default grows to (and twice that for trimming) on 64-bit systems.
SETTLED_MMAP_THRESHOLD = 32 << 20
# How many freed_memory_reused blocks are open.
_reuse_depth = 0


def release_weights(*modules: nn.Module) -> int:
    """Drop the resident pages of the modules' memory-mapped weights; returns how many bytes were released.

    The weights stay usable: the next access reads them back from the file cache. Weights that are not
    memory-mapped (copied, converted to another dtype, on a GPU) are left alone.
    """
    return drop_mapped_pages(chain.from_iterable(chain(module.parameters(), module.buffers()) for module in modules))


def trim_heap() -> None:
    """Return freed heap memory to the operating system (glibc only; elsewhere nothing happens)."""
    libc = libc_handle()
    trim = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is not None:
        trim(0)


@contextmanager
def freed_memory_reused() -> Iterator[None]:
    """Within the block, let freed blocks of any size be reused instead of handed back and faulted in again.

    Meant for the denoising loop, whose every step allocates the same sizes in the same order, so that kept
    blocks are reused rather than added to. (The VAE's full-resolution maps are another matter: kept, their
    odd sizes fragment the heap and raise the peak by hundreds of megabytes.) On leaving, the heap is trimmed
    and glibc's limits are those its adaptive defaults settle at. glibc only; elsewhere nothing happens.
    """
    global _reuse_depth
    libc = libc_handle()
    mallopt = getattr(libc, "mallopt", None) if libc is not None else None
    if mallopt is None:
        yield
        return
    # Blocks may nest (a benchmark around a pipeline): only the outermost one sets and restores the limits.
    if _reuse_depth == 0:
        mallopt(M_MMAP_THRESHOLD, RETAINED_BYTES)
        mallopt(M_TRIM_THRESHOLD, RETAINED_BYTES)
    _reuse_depth += 1
    try:
        yield
    finally:
        _reuse_depth -= 1
        if _reuse_depth == 0:
            mallopt(M_MMAP_THRESHOLD, SETTLED_MMAP_THRESHOLD)
            mallopt(M_TRIM_THRESHOLD, 2 * SETTLED_MMAP_THRESHOLD)
            trim_heap()
