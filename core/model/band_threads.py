"""Work shared out to threads that each run torch single-threaded (the bands of the Winograd convolutions).

Used by :mod:`core.model.winograd`, :mod:`core.model.upsample_winograd` and :mod:`core.model.norm_fold`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import torch


@functools.cache
def per_thread_counts() -> bool:
    """Whether torch's thread count is kept per thread (its OpenMP backend), which band threads rely on.

    With the native thread pool, ``torch.set_num_threads`` would resize the one pool everybody shares; there
    the bands run in the caller's thread with multi-threaded operations.
    """
    return "parallel backend: OpenMP" in torch.__config__.parallel_info()


def worker_count() -> int:
    """How many band threads to use: torch's thread count, or 1 where it is not kept per thread."""
    return torch.get_num_threads() if per_thread_counts() else 1


def plan_bands(batch: int, tile_rows: int, rows: int) -> tuple[int, list[tuple[int, int]], int]:
    """Cut each image's tile rows into bands of ``rows`` tile rows (fewer when that leaves a thread idle).

    Args:
        batch: images in the batch.
        tile_rows: tile rows per image.
        rows: tile rows per band that keep a band's buffers about cache-sized.

    Returns:
        ``(rows, bands, workers)``: tile rows per band, (image, first tile row) of each band, and how many
        threads to share them out to.
    """
    threads = worker_count()
    rows = max(1, min(tile_rows, rows))
    if batch * -(-tile_rows // rows) < threads:  # a small image: at least one band per thread
        rows = max(1, -(-tile_rows * batch // threads))
    bands = [(image, top) for image in range(batch) for top in range(0, tile_rows, rows)]
    return rows, bands, min(threads, len(bands))


def run_jobs(target: Callable[..., None], jobs: Sequence[tuple[Any, ...]]) -> None:
    """``target(*job)`` for each job: in the caller's thread when there is one, else by :func:`run_in_threads`."""
    if len(jobs) == 1:
        target(*jobs[0])
    else:
        run_in_threads(target, jobs)


def run_in_threads(target: Callable[..., None], jobs: Sequence[tuple[Any, ...]]) -> None:
    """Run ``target(*job)`` for each job in a thread of its own with one torch thread, and wait for them.

    Why: every band is a handful of operations, each of which, multi-threaded, ends in a barrier where all
    threads wait for the slowest. On a machine where another process holds a core, each barrier waits for a
    scheduler time slice, and a decode's thousands of them made it 2–3 times slower than the direct path
    (whose convolutions are one parallel region each). Whole bands per thread have no barrier until the end.

    ``torch.set_num_threads(1)`` in a worker limits that thread (OpenMP and MKL keep the count per thread)
    but also sets the default for threads that start using torch later, so the caller puts that back after.
    """
    grad, inference, threads_before = (
        torch.is_grad_enabled(),
        torch.is_inference_mode_enabled(),
        torch.get_num_threads(),
    )
    errors: list[BaseException] = []

    def work(job: tuple[Any, ...]) -> None:
        try:
            torch.set_num_threads(1)
            with torch.inference_mode(inference), torch.set_grad_enabled(grad and not inference):
                target(*job)
        except BaseException as exc:  # re-raised in the caller
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(job,), name="winograd-band", daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    torch.set_num_threads(threads_before)
    if errors:
        raise errors[0]
