"""Running a prepared batch: one engine for every photo, results one file at a time, resumable after a crash.

:func:`run_batch` is a generator of :class:`~core.batch.results.FileResult` objects, one per file of the plan
(:func:`core.batch.prepare.prepare_batch`), in order. It never loads all photos: reader threads decode the next
``read_ahead`` photos (and fit their masks) while the engine works on the current one, through a bounded queue,
and are always stopped and joined when the generator ends, is closed, or raises. A file that fails (damaged,
unreadable, a mask of the wrong size) is recorded and the batch goes on. ``cancel`` stops at the engine's next
check; the photo being processed is then redone by the next ``--resume``. ``pause`` (a
:class:`threading.Event`) holds the batch between photos while it is set.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.batch.journal import DONE, FAILED, STARTED, JournalWriter
from core.batch.outputs import output_record
from core.batch.pairing import NOT_IMAGE, UNREADABLE
from core.batch.prepare import ADOPT, PROCESS, SKIP, BatchPlan, PlannedFile, placed_mask, seed_for
from core.batch.results import (
    ST_CANCELLED,
    ST_DONE,
    ST_FAILED,
    ST_IGNORED,
    ST_SKIPPED,
    ST_UNPAIRED,
    BatchProgress,
    BatchProgressCallback,
    FileResult,
)
from core.common.cancel import CancelToken
from core.common.errors import (
    CancelledError,
    MoebiusError,
)
from core.common.progress import ProgressEvent

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from core.inpaint.engine import Engine
    from core.job.request import InpaintRequest
    from core.job.settings import JobSettings
    from core.photo.photo import Photo


@dataclass
class _Decoded:
    """A photo and its ready-to-use mask, or why they could not be had."""

    photo: Photo | None = None
    mask: npt.NDArray[np.uint8] | None = None
    mask_path: Path | None = None
    error: str | None = None

    def request(self, settings: JobSettings) -> InpaintRequest:
        """The fill's request: the pixels, the mask and the photo's colour profile (the model works in sRGB)."""
        from core.job.request import InpaintRequest

        assert self.photo is not None and self.mask is not None
        return InpaintRequest(self.photo.pixels, self.mask, settings, profile=self.photo.icc_profile)


def run_batch(
    plan: BatchPlan,
    engine: Engine | None,
    *,
    cancel: CancelToken | None = None,
    pause: threading.Event | None = None,
    progress: BatchProgressCallback | None = None,
) -> Generator[FileResult, None, None]:
    """Carry out ``plan`` with ``engine``, yielding one :class:`FileResult` per file, in order.

    Args:
        plan: from :func:`prepare_batch`.
        engine: the loaded engine, used for every photo (loaded once by the caller); may be ``None`` when
            :attr:`BatchPlan.needs_engine` is false (everything is done already or left out).
        cancel: checked before every photo and by the engine during one; a cancel yields a ``cancelled`` result
            for the current photo and ends the generator.
        pause: while set, the batch waits before starting the next photo.
        progress: receives :class:`BatchProgress` reports (from the thread that iterates).

    Raises:
        BatchBusyError: another run holds the output folder's lock.
    """
    if engine is None and plan.needs_engine:
        raise ValueError("this batch has photos to process, so it needs an engine")
    token = cancel if cancel is not None else CancelToken()
    options = plan.options
    total = len(plan.files)
    started = time.monotonic()
    processed_seconds: list[float] = []
    to_process = [f for f in plan.files if f.action == PROCESS]
    remaining = len(to_process)

    def report(item: PlannedFile, finished: int, event: ProgressEvent | None) -> None:
        if progress is None:
            return
        eta = sum(processed_seconds) / len(processed_seconds) * remaining if processed_seconds else None
        progress(BatchProgress(item.index, total, item.pairing.photo, finished, event, time.monotonic() - started, eta))

    with JournalWriter(plan.out_dir) as journal:
        # 1. Record the settings, and clear what killed writes of this batch's outputs left behind.
        journal.batch(plan.fingerprint)
        _remove_stale_temporaries(plan.out_dir, {f.output.name for f in to_process if f.output is not None})
        reader = _read_ahead(to_process, plan, token)
        try:
            for finished, item in enumerate(plan.files):
                # 2. Files that need no work are reported at once.
                if item.action != PROCESS:
                    result = _unprocessed_result(item, total, journal)
                    report(item, finished + 1, None)
                    yield result
                    continue
                # 3. Wait while paused; stop when cancelled.
                while pause is not None and pause.is_set() and not token.cancelled:
                    time.sleep(0.05)
                if token.cancelled:
                    yield _result(item, total, ST_CANCELLED, reason="Cancelled before it started.")
                    return
                report(item, finished, None)
                planned, decoded = next(reader)
                assert planned is item and engine is not None
                photo_started = time.monotonic()
                seed = seed_for(options, item.index, item.pairing.photo)
                # 4. Inpaint and write it, recording the start first so a crash can be recognised afterwards.

                def on_event(event: ProgressEvent, item: PlannedFile = item, finished: int = finished) -> None:
                    report(item, finished, event)

                result = _process_one(item, total, decoded, seed, engine, plan, journal, token, on_event)
                result = replace(result, seconds=time.monotonic() - photo_started)
                remaining -= 1
                if result.status == ST_DONE:
                    processed_seconds.append(result.seconds)
                report(item, finished + 1, None)
                yield result
                if result.status == ST_CANCELLED:
                    return
        finally:
            reader.close()


def _process_one(
    item: PlannedFile,
    total: int,
    decoded: _Decoded,
    seed: int | None,
    engine: Engine,
    plan: BatchPlan,
    journal: JournalWriter,
    token: CancelToken,
    on_event: Callable[[ProgressEvent], None],
) -> FileResult:
    """Inpaint and write one photo; every failure becomes a ``failed`` result (a cancel a ``cancelled`` one)."""
    unusable = begin_photo(item, total, decoded, seed, plan, journal)
    if unusable is not None:
        return unusable
    assert decoded.photo is not None and decoded.mask is not None
    settings = replace(plan.options.settings, seed=seed)
    try:
        result = engine.inpaint(decoded.request(settings), on_event, token)
        token.raise_if_cancelled()
    except CancelledError:
        return _result(item, total, ST_CANCELLED, mask=decoded.mask_path, reason="Cancelled; it is redone on --resume.")
    except MoebiusError as error:
        return photo_failed(item, total, decoded, seed, journal, error.user_message())
    except Exception as error:  # an engine bug must not end a batch of hundreds of photos
        return photo_failed(item, total, decoded, seed, journal, f"unexpected {type(error).__name__}: {error}")
    return finish_photo(item, total, decoded, plan, journal, result.image, result.seed, result.warnings)


def begin_photo(
    item: PlannedFile, total: int, decoded: _Decoded, seed: int | None, plan: BatchPlan, journal: JournalWriter
) -> FileResult | None:
    """Record that a photo starts (so a crash can be recognised afterwards); a ``failed`` result if it is unusable.

    Shared by the local batch and the cluster batch (:mod:`core.batch.cluster_run`): only where the photo is
    inpainted differs.
    """
    assert item.output is not None
    name = item.pairing.photo.name
    if decoded.error is not None or decoded.photo is None or decoded.mask is None:
        reason = decoded.error or "could not be read"
        journal.file(name, FAILED, output=item.output.name, reason=reason)
        return _result(item, total, ST_FAILED, mask=decoded.mask_path, reason=reason)
    journal.file(name, STARTED, output=item.output.name, seed=seed)
    return None


def photo_failed(
    item: PlannedFile,
    total: int,
    decoded: _Decoded,
    seed: int | None,
    journal: JournalWriter,
    reason: str,
    **details: Any,
) -> FileResult:
    """Record and return the ``failed`` result of a photo whose fill or write went wrong."""
    assert item.output is not None
    journal.file(item.pairing.photo.name, FAILED, output=item.output.name, reason=reason)
    return _result(item, total, ST_FAILED, mask=decoded.mask_path, reason=reason, seed=seed, **details)


def finish_photo(
    item: PlannedFile,
    total: int,
    decoded: _Decoded,
    plan: BatchPlan,
    journal: JournalWriter,
    image: npt.NDArray[np.uint8],
    seed: int | None,
    warnings: tuple[str, ...] | list[str],
    **details: Any,
) -> FileResult:
    """Write a filled photo in one step beside the others, record it as done and return its result.

    Args:
        image: the filled pixels (from the engine, here or on a cluster worker).
        seed: the seed the engine used.
        warnings: the engine's notes.
        details: further :class:`FileResult` fields (the cluster's ``node`` and ``retries``).
    """
    from core.photo.write import write_image

    assert item.output is not None and decoded.photo is not None
    written_notes: list[str] = []  # how the file differs from a block-for-block copy, when it does
    try:
        write_image(
            item.output,
            image,
            like=decoded.photo,
            # An earlier run's output that is missing or damaged is replaced.
            overwrite=plan.options.overwrite or item.replace_output,
            quality=plan.options.quality,
            notes=written_notes,
        )
    except MoebiusError as error:
        return photo_failed(item, total, decoded, seed, journal, error.user_message(), **details)
    except Exception as error:  # a writer bug on one odd file must not end the batch
        return photo_failed(
            item, total, decoded, seed, journal, f"unexpected {type(error).__name__}: {error}", **details
        )
    # Size and hash, so that a later --resume can tell whether the output is still the file written now.
    journal.file(item.pairing.photo.name, DONE, output=item.output.name, seed=seed, **_output_record(item.output))
    return _result(
        item,
        total,
        ST_DONE,
        mask=decoded.mask_path,
        output=item.output,
        seed=seed,
        warnings=(*warnings, *written_notes),
        reason=item.reason,
        redone=item.replace_output,
        **details,
    )


def _unprocessed_result(item: PlannedFile, total: int, journal: JournalWriter) -> FileResult:
    """The result of a file that is skipped, adopted or left out."""
    if item.action == ADOPT:
        # The crashed run wrote this output completely (outputs appear in one step); it only missed saying so.
        assert item.output is not None
        record = _output_record(item.output)
        journal.file(item.pairing.photo.name, DONE, output=item.output.name, adopted=True, **record)
    if item.action in (SKIP, ADOPT):
        return _result(
            item,
            total,
            ST_SKIPPED,
            mask=item.pairing.mask,
            output=item.output,
            reason=item.reason,
            kept_changed=item.kept_changed,
        )
    if item.pairing.source == NOT_IMAGE:
        return _result(item, total, ST_IGNORED, reason=item.reason)
    # A photo-named entry that cannot be read (a broken link, a folder, no permission) failed; a photo without
    # a usable mask is unpaired; a photo left out for another reason (a name clash) failed.
    status = ST_UNPAIRED if not item.pairing.ready and item.pairing.source != UNREADABLE else ST_FAILED
    return _result(item, total, status, mask=item.pairing.mask, reason=item.reason)


def _output_record(output: Path) -> dict[str, Any]:
    """The output's size and SHA-256 for the journal; nothing when it cannot be read back (the resume decodes it)."""
    try:
        return output_record(output)
    except OSError:
        return {}


def _result(item: PlannedFile, total: int, status: str, **details: Any) -> FileResult:
    return FileResult(item.index, total, item.pairing.photo, status, pairing=item.pairing.source, **details)


def _read_ahead(
    items: list[PlannedFile], plan: BatchPlan, token: CancelToken
) -> Generator[tuple[PlannedFile, _Decoded], None, None]:
    """``(item, decoded)`` for every item, in order, decoding up to ``read_ahead`` photos ahead in a thread.

    The next photo is submitted before the current one is handed out, so it decodes while the engine works.
    The thread is shut down and joined whenever this generator ends or is closed.
    """
    ahead = plan.options.read_ahead
    if ahead <= 0:
        for item in items:
            yield item, _decode(item, plan)
        return
    # One reader per photo ahead, so that with several (--jobs N) large photos decode in parallel.
    executor = ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="moebius-batch-reader")
    pending: deque[tuple[PlannedFile, Future[_Decoded]]] = deque()
    upcoming = iter(items)
    try:
        for item in upcoming:
            pending.append((item, executor.submit(_decode, item, plan)))
            if len(pending) >= ahead:
                break
        while pending:
            item, future = pending.popleft()
            decoded = future.result()
            following = None if token.cancelled else next(upcoming, None)
            if following is not None:
                pending.append((following, executor.submit(_decode, following, plan)))
            yield item, decoded
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _decode(item: PlannedFile, plan: BatchPlan) -> _Decoded:
    """Read one photo and make its mask fit it; never raises for a bad file (the error is returned)."""
    from core.photo.mask import check_mask
    from core.photo.read import read_image

    pairing = item.pairing
    mask_path = pairing.mask
    try:
        photo = read_image(pairing.photo, max_pixels=plan.options.max_pixels)
        mask_path, mask = placed_mask(plan, pairing, photo.width, photo.height)
        return _Decoded(photo, check_mask(mask, photo.pixels.shape), mask_path)
    except MoebiusError as error:
        return _Decoded(mask_path=mask_path, error=error.user_message())
    except Exception as error:  # a decoder bug on one odd file must not end the batch
        return _Decoded(mask_path=mask_path, error=f"unexpected {type(error).__name__}: {error}")


def _remove_stale_temporaries(folder: Path, outputs: set[str]) -> None:
    """Delete the hidden temporary files that writes of ``outputs`` left when a run was killed mid-write."""
    if not outputs:
        return
    for entry in os.scandir(folder):
        name = entry.name
        if name.startswith(".") and name.endswith(".tmp") and name[1:].rsplit(".", 2)[0] in outputs:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
