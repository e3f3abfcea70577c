"""Free memory per device, a check before a run, and recognising out-of-memory errors.

torch is imported inside the functions; the CPU side reads ``/proc/meminfo`` (Linux) or ``sysconf`` and needs
no torch at all.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from pathlib import Path

GIB = 2**30


@dataclass(frozen=True)
class MemoryCheck:
    """Whether a device has room for a job.

    Args:
        device: ``"cuda"``, ``"mps"`` or ``"cpu"``.
        need_bytes: what the job is estimated to need.
        free_bytes: what the device reports free; ``None`` when it cannot tell.
        enough: ``True`` when the job fits, or when the free memory is unknown (the run then simply tries).
        message: one line for the user.
    """

    device: str
    need_bytes: int
    free_bytes: int | None
    enough: bool
    message: str


def gib(n_bytes: int | float) -> str:
    """``n_bytes`` as a short GiB figure for messages, e.g. ``"11.6 GiB"``."""
    return f"{n_bytes / GIB:.1f} GiB"


def cpu_available_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """Memory the OS can give this process without swapping (``MemAvailable``), or ``None`` if unknown."""
    try:
        for line in meminfo.read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        # Not Linux: free pages is a lower bound (it ignores reclaimable caches), still better than nothing.
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def cpu_total_bytes() -> int | None:
    """Installed memory, or ``None`` if unknown."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def free_bytes(device: str, index: int = 0) -> int | None:
    """Free memory on ``device`` (``"cuda"``, ``"mps"``, ``"cpu"``, or ``"coreml"`` = the CPU's RAM).

    Args:
        device: the device kind.
        index: which GPU, for CUDA/ROCm.
    """
    if device == "cuda":
        import torch

        try:
            free, _total = torch.cuda.mem_get_info(index)
        except RuntimeError:
            return None
        return int(free)
    if device == "mps":
        import torch

        try:
            # Metal's recommended working-set size minus what torch's allocator holds already.
            limit = int(torch.mps.recommended_max_memory())
            used = int(torch.mps.driver_allocated_memory())
        except (AttributeError, RuntimeError):
            return None
        return max(0, limit - used)
    return cpu_available_bytes()


def check_memory(device: str, need_bytes: int, index: int = 0) -> MemoryCheck:
    """Compare the estimated need of a job with the free memory of ``device``.

    Args:
        device: the device kind (see :func:`free_bytes`).
        need_bytes: estimated peak memory of the job on that device.
        index: which GPU, for CUDA/ROCm.
    """
    free = free_bytes(device, index)
    where = "GPU" if device in ("cuda", "mps") else "RAM"
    if free is None:
        return MemoryCheck(device, need_bytes, None, True, f"free {where} unknown; about {gib(need_bytes)} needed")
    enough = free >= need_bytes
    verdict = "enough" if enough else "not enough"
    return MemoryCheck(
        device, need_bytes, free, enough, f"{gib(free)} {where} free, about {gib(need_bytes)} needed: {verdict}"
    )


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` means a device ran out of memory (CUDA, ROCm, MPS or the CPU allocator)."""
    if isinstance(error, MemoryError):
        return True
    import torch

    if isinstance(error, torch.OutOfMemoryError):
        return True
    # MPS and some CPU allocators raise a plain RuntimeError whose text is the only clue.
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def release_cached_memory(device: str) -> None:
    """Give cached blocks back to the device after a failure, so a retry starts with as much room as possible.

    Args:
        device: the device kind whose allocator cache to empty.
    """
    gc.collect()
    import torch

    if device == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device == "mps" and torch.backends.mps.is_available():
        torch.mps.empty_cache()
