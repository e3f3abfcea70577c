"""Running a batch: one engine for every photo, results one file at a time, resumable after a crash.

Two steps, so that every mistake a user can make is reported before a model is loaded:

1. :func:`prepare_batch` checks the output folder (created when only its last part is missing; refused when it
   cannot be written, or when it is the input or masks folder), names every output by the template, reads a
   shared mask once, and reads the journal (:mod:`core.batch.journal`) to decide per photo: process it, skip
   it (done earlier), adopt it (finished by a run that crashed before it could say so), or leave it out
   (no mask, a conflict, not an image, a name clash). The :class:`BatchPlan` it returns is what a front end
   shows as the pairing table.
2. :func:`run_batch` is a generator of :class:`FileResult` objects, one per file of the plan, in order. It
   never loads all photos: reader threads decode the next ``read_ahead`` photos (and fit their masks) while
   the engine works on the current one, through a bounded queue, and is always stopped and joined when the
   generator ends, is closed, or raises. A file that fails (damaged, unreadable, a mask of the wrong size) is
   recorded and the batch goes on. ``cancel`` stops at the engine's next check; the photo being processed is
   then redone by the next ``--resume``. ``pause`` (a :class:`threading.Event`) holds the batch between photos
   while it is set.

Resume policy: a rerun with ``resume=True`` skips every photo the journal records as done (and whose output
still exists). When the journal's settings differ from this run's, the batch is refused
(:class:`~core.common.errors.BatchSettingsChangedError`, naming the differences) unless ``overwrite=True``, which redoes
every photo with the new settings. Without ``resume``, an output folder that already holds a batch is refused
unless ``overwrite=True`` (start again).

Seeds: ``fixed`` gives every photo the same seed (the single-photo behaviour); ``index`` uses seed + the photo's
position in the sorted folder; ``name`` uses seed + a hash of the file name, which stays the same when photos
are added or removed. A random seed (``None``) draws one per photo, reported in its result and the journal.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.batch.journal import DONE, FAILED, STARTED, JournalState, JournalWriter, read_journal, settings_difference
from core.batch.pairing import NOT_IMAGE, SHARED, MaskPlacement, Pairing, SharedMasks
from core.common.cancel import CancelToken
from core.common.errors import (
    BatchInputError,
    BatchSettingsChangedError,
    CancelledError,
    MaskError,
    MoebiusError,
    OutputError,
)
from core.common.progress import ProgressEvent
from core.job.settings import JobSettings
from core.photo.imageio import MAX_PIXELS

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from core.inpaint.engine import Engine
    from core.photo.imageio import Photo

DEFAULT_TEMPLATE = "{stem}_inpainted{ext}"
"""Output names: ``{stem}`` (the photo's name without extension), ``{ext}`` (its extension, with the dot) and
``{name}`` (the whole file name)."""

SEED_POLICIES = ("fixed", "index", "name")

# What happens to a file, as planned and as reported.
PROCESS = "process"
SKIP = "skip"
ADOPT = "adopt"
LEAVE_OUT = "leave-out"

# Result statuses.
ST_DONE = "done"
ST_SKIPPED = "skipped"
ST_FAILED = "failed"
ST_UNPAIRED = "unpaired"
ST_IGNORED = "ignored"
ST_CANCELLED = "cancelled"


@dataclass
class BatchOptions:
    """How to run a batch (the per-photo :class:`~core.job.request.JobSettings` plus the batch's own choices).

    Args:
        settings: the job settings; ``settings.engine`` must be a concrete engine name (``"moebius"`` or
            ``"classic"``: resolve ``"auto"`` first), because it is part of what the journal compares.
        seed_policy: one of :data:`SEED_POLICIES`.
        template: output file name template (see :data:`DEFAULT_TEMPLATE`).
        fit_mask: stretch a per-file mask of another size to its photo instead of failing that photo.
        quality: JPEG/WebP quality; ``None`` keeps each source's own.
        max_pixels: refuse photos and masks larger than this.
        resume: skip photos an earlier run finished (see the module's documentation).
        overwrite: replace existing outputs; with ``resume``, redo everything when the settings changed.
        read_ahead: photos decoded ahead of the engine, each in its own reader thread (``--jobs``); 0 reads
            each photo only when it is its turn (strictly sequential). The engine fills one photo at a time.
    """

    settings: JobSettings = field(default_factory=JobSettings)
    seed_policy: str = "fixed"
    template: str = DEFAULT_TEMPLATE
    fit_mask: bool = False
    quality: int | None = None
    max_pixels: int = MAX_PIXELS
    resume: bool = False
    overwrite: bool = False
    read_ahead: int = 1


@dataclass(frozen=True)
class PlannedFile:
    """One file of a :class:`BatchPlan`.

    Args:
        index: 1-based position in the plan.
        pairing: the file and its mask.
        output: where its result goes (``None`` when there is none to write).
        action: :data:`PROCESS`, :data:`SKIP` (done earlier), :data:`ADOPT` (finished by a crashed run) or
            :data:`LEAVE_OUT`.
        reason: why it is skipped or left out.
    """

    index: int
    pairing: Pairing
    output: Path | None
    action: str
    reason: str | None = None


@dataclass
class BatchPlan:
    """What :func:`prepare_batch` decided; :func:`run_batch` carries it out.

    Args:
        files: every file, in order.
        out_dir: the output folder.
        options: the batch options.
        shared: the shared masks, if any, with their pixels in ``shared_pixels``.
        fingerprint: the settings recorded in the journal.
        notes: sentences for the user about what was decided (resume counts, settings changes).
    """

    files: list[PlannedFile]
    out_dir: Path
    options: BatchOptions
    shared: SharedMasks | None = None
    shared_pixels: dict[Path, npt.NDArray[np.uint8]] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for f in self.files if f.action == action)

    @property
    def needs_engine(self) -> bool:
        """Whether any photo has to be processed (otherwise no model needs loading)."""
        return any(f.action == PROCESS for f in self.files)


@dataclass(frozen=True)
class FileResult:
    """What happened to one file of the batch.

    Args:
        index: 1-based position in the plan; ``total`` is the plan's length.
        photo: the file.
        status: ``done``, ``skipped`` (done earlier), ``failed``, ``unpaired`` (no mask, or a conflict),
            ``ignored`` (not an image) or ``cancelled``.
        mask: the mask used or found.
        output: the output file (for ``done`` and ``skipped``).
        reason: why it failed, was skipped or left out.
        seed: the seed used.
        seconds: wall time spent on it in this run.
        warnings: notes that did not stop it.
        pairing: how its mask was found (see :class:`~core.batch.pairing.Pairing`).
    """

    index: int
    total: int
    photo: Path
    status: str
    mask: Path | None = None
    output: Path | None = None
    reason: str | None = None
    seed: int | None = None
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()
    pairing: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict (``kind: "file"``), as printed by ``moebius-inpaint batch --json``."""
        return {
            "kind": "file",
            "index": self.index,
            "total": self.total,
            "photo": str(self.photo),
            "status": self.status,
            "mask": None if self.mask is None else str(self.mask),
            "pairing": self.pairing,
            "output": None if self.output is None else str(self.output),
            "reason": self.reason,
            "seed": self.seed,
            "seconds": round(self.seconds, 3),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class BatchProgress:
    """A progress report of a running batch.

    Args:
        index: 1-based position of the file being worked on; ``total`` is the plan's length.
        photo: that file.
        finished: files of the plan already finished (any status).
        event: the engine's progress within the current photo, or ``None`` when a photo starts or ends.
        elapsed_s: seconds since the batch started.
        eta_s: estimated seconds left, from the average time per processed photo (``None`` until one is done).
    """

    index: int
    total: int
    photo: Path
    finished: int
    event: ProgressEvent | None
    elapsed_s: float
    eta_s: float | None


BatchProgressCallback = Callable[[BatchProgress], None]


@dataclass
class BatchSummary:
    """Counts of a finished (or cancelled) batch, and the exit status the command line reports.

    Exit status: 0 when every photo is done (now or earlier); 1 when a photo failed or had no usable mask;
    130 when the batch was cancelled. Files that are not images do not count.
    """

    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, result: FileResult) -> None:
        self.counts[result.status] = self.counts.get(result.status, 0) + 1

    @property
    def exit_status(self) -> int:
        if self.counts.get(ST_CANCELLED):
            return 130
        return 1 if self.counts.get(ST_FAILED) or self.counts.get(ST_UNPAIRED) else 0

    def to_json(self) -> dict[str, Any]:
        statuses = (ST_DONE, ST_SKIPPED, ST_FAILED, ST_UNPAIRED, ST_IGNORED, ST_CANCELLED)
        return {
            "kind": "summary",
            **{status: self.counts.get(status, 0) for status in statuses},
            "seconds": round(self.seconds, 3),
            "exit_status": self.exit_status,
        }


# -- preparing ----------------------------------------------------------------------------------------------


def prepare_batch(
    pairings: Iterable[Pairing],
    out_dir: str | os.PathLike[str],
    options: BatchOptions,
    *,
    shared: SharedMasks | None = None,
) -> BatchPlan:
    """Check everything that can be checked cheaply and decide what happens to each file.

    Args:
        pairings: the files and their masks (from :func:`~core.batch.pairing.pair_folder`, possibly fixed by
            hand).
        out_dir: the output folder; created when its parent exists.
        options: the batch options.
        shared: the shared masks, when the pairings use them.

    Raises:
        BatchInputError: the output folder cannot be used, an option is invalid, a shared mask is unreadable,
            or the folder holds a batch this run may not continue (see the module's documentation).
        BatchSettingsChangedError: ``resume`` with other settings than the folder's batch, without ``overwrite``.
    """
    from core.photo.imageio import read_mask

    pairing_list = list(pairings)
    # 1. Options that need no file system.
    if options.seed_policy not in SEED_POLICIES:
        raise BatchInputError(f"Unknown seed policy {options.seed_policy!r}; use one of {', '.join(SEED_POLICIES)}.")
    if options.settings.engine not in ("moebius", "classic"):
        raise ValueError("resolve the engine name before preparing a batch (core.inpaint.engine.resolve_engine_name)")
    _check_template(options.template)
    # 2. The output folder: usable, and not a folder the inputs come from.
    out = _output_folder(Path(out_dir))
    sources = {p.photo.parent.resolve() for p in pairing_list}
    sources |= {p.mask.parent.resolve() for p in pairing_list if p.mask is not None}
    if out.resolve() in sources:
        raise BatchInputError(
            f"The output folder {out} is also an input folder; results go into a folder of their own.",
            hint="Choose another output folder with -o.",
        )
    # 3. Shared masks are read once, now, so a broken one stops the batch before anything runs.
    shared_pixels = {}
    if shared is not None:
        for path in shared.files():
            try:
                shared_pixels[path] = read_mask(path, max_pixels=options.max_pixels)
            except MoebiusError as error:
                raise BatchInputError(error.user_message()) from None
    # 4. What the earlier run of this folder did, and whether this run may continue it.
    fingerprint = batch_fingerprint(options, shared)
    state = read_journal(out)
    notes: list[str] = []
    redo_all = _check_earlier_batch(out, state, fingerprint, options, notes)
    # 5. Decide per file.
    planned: list[PlannedFile] = []
    claimed: dict[Path, Path] = {}
    originals = {p.photo.resolve() for p in pairing_list} | {p.mask.resolve() for p in pairing_list if p.mask}
    for index, pairing in enumerate(pairing_list, start=1):
        if not pairing.ready:
            planned.append(PlannedFile(index, pairing, None, LEAVE_OUT, pairing.problem()))
            continue
        output = out / output_name(options.template, pairing.photo)
        clash = _output_problem(output, pairing.photo, claimed, originals)
        if clash is not None:
            planned.append(PlannedFile(index, pairing, output, LEAVE_OUT, clash))
            continue
        claimed[output] = pairing.photo
        record = state.files.get(pairing.photo.name)
        status = None if record is None or redo_all else record.get("status")
        recorded_output = None if record is None else record.get("output")
        if options.resume and status in (DONE, STARTED) and recorded_output == output.name and output.exists():
            action, reason = (SKIP, "done by an earlier run") if status == DONE else (ADOPT, "finished before a crash")
            planned.append(PlannedFile(index, pairing, output, action, reason))
        else:
            planned.append(PlannedFile(index, pairing, output, PROCESS))
    plan = BatchPlan(planned, out, options, shared, shared_pixels, fingerprint, notes)
    if options.resume and state.files:
        earlier = plan.count(SKIP) + plan.count(ADOPT)
        notes.append(f"Resuming: {earlier} photos done earlier, {plan.count(PROCESS)} to do.")
    return plan


def output_name(template: str, photo: Path) -> str:
    """The output file name of ``photo`` by ``template`` (see :data:`DEFAULT_TEMPLATE`)."""
    return template.format(stem=photo.stem, ext=photo.suffix, name=photo.name)


def batch_fingerprint(options: BatchOptions, shared: SharedMasks | None = None) -> dict[str, Any]:
    """The settings that change a batch's results, as the journal records them.

    Settings the engine ignores (the classic engine has no steps, guidance or seed) are left out, so changing
    them does not invalidate a batch.
    """
    from core.job.engines import ENGINES

    s = options.settings
    info = ENGINES[s.engine]
    fingerprint: dict[str, Any] = {
        "engine": s.engine,
        "context_margin": s.context_margin,
        "colour_match": s.colour_match,
        "colour_match_strength": s.colour_match_strength,
        "grain_match": s.grain_match,
        "template": options.template,
        "quality": options.quality,
        "fit_mask": options.fit_mask,
    }
    if info.uses_steps:
        fingerprint.update(steps=s.steps, strength=s.strength, refine_strength=s.refine_strength)
    if info.uses_guidance:
        fingerprint["guidance"] = s.guidance
    if info.uses_seed or s.grain_match:
        fingerprint.update(seed=s.seed, seed_policy=options.seed_policy, noise_offset=s.noise_offset)
    if shared is not None:
        fingerprint["shared_masks"] = [str(p) for p in shared.files()]
        fingerprint["placement"] = shared.placement.describe()
    return fingerprint


def seed_for(options: BatchOptions, index: int, photo: Path) -> int | None:
    """The seed of one photo under the batch's seed policy (``None``: the engine draws a random one)."""
    base = options.settings.seed
    if base is None:
        return None
    if options.seed_policy == "index":
        return (base + index) % 2**63
    if options.seed_policy == "name":
        digest = hashlib.sha256(photo.name.encode("utf-8")).digest()
        return (base + int.from_bytes(digest[:8], "big")) % 2**63
    return base


def _check_template(template: str) -> None:
    try:
        sample = output_name(template, Path("photo.jpg"))
    except (KeyError, IndexError, ValueError) as error:
        raise BatchInputError(
            f"The output name template {template!r} is not valid ({error}).",
            hint="Use the fields {stem}, {ext} and {name}, e.g. '{stem}_clean{ext}'.",
        ) from None
    if not sample or "/" in sample or "\\" in sample or sample.startswith("."):
        raise BatchInputError(
            f"The output name template {template!r} must give a plain, visible file name (got {sample!r})."
        )


def _output_folder(out: Path) -> Path:
    """Make sure results can be written into ``out``; create it when only the folder itself is missing."""
    if not out.exists() and out.parent.is_dir():
        try:
            out.mkdir()
        except OSError as error:
            raise BatchInputError(f"Cannot create the output folder {out}: {error.strerror or error}.") from None
    if not out.is_dir():
        state = "is not a folder" if out.exists() else "does not exist, nor does the folder it would go in"
        raise BatchInputError(f"The output folder {out} {state}.")
    refusal = _write_refusal(out)
    if refusal is not None:
        raise BatchInputError(
            f"The output folder {out} {refusal}, so no results can be written there.",
            hint="Choose another output folder with -o, or make this one writable.",
        )
    return out


def _write_refusal(folder: Path) -> str | None:
    """Why ``folder`` refuses new files (``"is read-only"``, ``"is on a full disk"``…), or ``None`` when it takes them.

    Creating and removing a hidden file catches read-only folders and read-only disks, whatever the permission
    bits say; the reason is worded to follow the folder's name, so the message never mentions the probe.
    """
    import errno

    from core.common.files import temp_path_for

    probe = temp_path_for(folder / "write-test")
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as error:
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return "is read-only"
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            return "is on a full disk"
        return f"refuses new files ({error.strerror or error})"
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return None


def _check_earlier_batch(
    out: Path, state: JournalState, fingerprint: dict[str, Any], options: BatchOptions, notes: list[str]
) -> bool:
    """Whether this run may use a folder that already holds a batch; returns True when everything is redone."""
    if not state.files:
        return False
    done = state.done_count()
    if not options.resume:
        if options.overwrite:
            notes.append(f"Starting again in {out}: {done} earlier results are replaced (--overwrite).")
            return True
        raise BatchInputError(
            f"The output folder {out} already holds a batch ({done} photos done).",
            hint="Add --resume to continue it, --overwrite to start again, or choose another output folder.",
        )
    differences = settings_difference(state.settings or {}, fingerprint)
    if not differences:
        return False
    if options.overwrite:
        changed = "; ".join(differences)
        notes.append(f"The settings changed since the earlier run ({changed}); redoing every photo.")
        return True
    raise BatchSettingsChangedError(
        f"The batch in {out} was made with other settings: " + "; ".join(differences) + ".",
        hint="Use the same settings to resume, add --overwrite to redo every photo, or choose another output folder.",
    )


def _output_problem(output: Path, photo: Path, claimed: dict[Path, Path], originals: set[Path]) -> str | None:
    """Why ``output`` cannot be written for ``photo`` (a name clash, or it would replace an input), or ``None``."""
    from core.photo.imageio import output_format

    try:
        output_format(output)
    except OutputError as error:
        return f"{error.message} Choose an output template with another extension."
    if output in claimed:
        return f"Its output name {output.name} is the same as that of {claimed[output].name}."
    if output.resolve() in originals:
        return f"Its output {output} would replace an input file; originals are never changed."
    return None


# -- running ------------------------------------------------------------------------------------------------


@dataclass
class _Decoded:
    """A photo and its ready-to-use mask, or why they could not be had."""

    photo: Photo | None = None
    mask: npt.NDArray[np.uint8] | None = None
    mask_path: Path | None = None
    error: str | None = None


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
    from core.job.request import InpaintRequest
    from core.photo.imageio import write_image

    assert item.output is not None
    name = item.pairing.photo.name
    if decoded.error is not None or decoded.photo is None or decoded.mask is None:
        reason = decoded.error or "could not be read"
        journal.file(name, FAILED, output=item.output.name, reason=reason)
        return _result(item, total, ST_FAILED, mask=decoded.mask_path, reason=reason)
    settings = replace(plan.options.settings, seed=seed)
    journal.file(name, STARTED, output=item.output.name, seed=seed)
    try:
        result = engine.inpaint(InpaintRequest(decoded.photo.pixels, decoded.mask, settings), on_event, token)
        token.raise_if_cancelled()
        write_image(
            item.output,
            result.image,
            like=decoded.photo,
            overwrite=plan.options.overwrite,
            quality=plan.options.quality,
        )
    except CancelledError:
        return _result(item, total, ST_CANCELLED, mask=decoded.mask_path, reason="Cancelled; it is redone on --resume.")
    except MoebiusError as error:
        journal.file(name, FAILED, output=item.output.name, reason=error.user_message())
        return _result(item, total, ST_FAILED, mask=decoded.mask_path, reason=error.user_message(), seed=seed)
    except Exception as error:  # an engine bug must not end a batch of hundreds of photos
        reason = f"unexpected {type(error).__name__}: {error}"
        journal.file(name, FAILED, output=item.output.name, reason=reason)
        return _result(item, total, ST_FAILED, mask=decoded.mask_path, reason=reason, seed=seed)
    journal.file(name, DONE, output=item.output.name, seed=result.seed, bytes=item.output.stat().st_size)
    return _result(
        item,
        total,
        ST_DONE,
        mask=decoded.mask_path,
        output=item.output,
        seed=result.seed,
        warnings=tuple(result.warnings),
    )


def _unprocessed_result(item: PlannedFile, total: int, journal: JournalWriter) -> FileResult:
    """The result of a file that is skipped, adopted or left out."""
    if item.action == ADOPT:
        # The crashed run wrote this output completely (outputs appear in one step); it only missed saying so.
        assert item.output is not None
        journal.file(item.pairing.photo.name, DONE, output=item.output.name, adopted=True)
    if item.action in (SKIP, ADOPT):
        return _result(item, total, ST_SKIPPED, mask=item.pairing.mask, output=item.output, reason=item.reason)
    if item.pairing.source == NOT_IMAGE:
        return _result(item, total, ST_IGNORED, reason=item.reason)
    status = ST_UNPAIRED if not item.pairing.ready else ST_FAILED
    return _result(item, total, status, mask=item.pairing.mask, reason=item.reason)


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
    from core.photo.imageio import read_image
    from core.photo.mask import check_mask

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


def placed_mask(plan: BatchPlan, pairing: Pairing, width: int, height: int) -> tuple[Path, npt.NDArray[np.uint8]]:
    """The mask file a photo of this upright size gets in ``plan``, and its pixels as the batch lays them on.

    A shared mask is chosen by the photo's orientation and stretched or anchored to it; a photo's own mask is
    read and, with ``fit_mask``, stretched. The editor's Redo uses this too, so it opens exactly what the batch
    filled, not the raw shared file (whose size usually differs from the photo's).

    Raises:
        MoebiusError: there is no shared mask for this orientation, or the mask file is unusable.
    """
    from core.photo.imageio import read_mask
    from core.photo.mask import check_mask

    if pairing.source == SHARED and plan.shared is not None:
        path = plan.shared.for_size(width, height)
        if path is None:
            kind = "portrait" if height > width else "landscape"
            raise MaskError(f"There is no mask for {kind} photos (see --mask-{kind}).")
        return path, place_mask(plan.shared_pixels[path], (height, width), plan.shared.placement)
    if pairing.mask is None:
        raise MaskError(f"{pairing.photo.name} has no mask.")
    mask = read_mask(pairing.mask, max_pixels=plan.options.max_pixels)
    return pairing.mask, check_mask(mask, (height, width), fit=plan.options.fit_mask)


def place_mask(mask: npt.NDArray[np.uint8], shape: tuple[int, int], placement: MaskPlacement) -> npt.NDArray[np.uint8]:
    """Lay a shared mask onto a photo of ``shape`` (height, width): stretched, or anchored at its own size."""
    import numpy as np

    from core.photo.mask import fit_mask

    if placement.mode == "resize" or mask.shape == shape:
        return fit_mask(mask, shape)
    # Anchored: the mask keeps its pixel size; what falls outside the photo is cropped, the rest is "keep".
    height, width = shape
    mh, mw = mask.shape
    top = 0 if "top" in placement.anchor else (height - mh if "bottom" in placement.anchor else (height - mh) // 2)
    left = 0 if "left" in placement.anchor else (width - mw if "right" in placement.anchor else (width - mw) // 2)
    out = np.zeros(shape, np.uint8)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + mh, height), min(left + mw, width)
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = mask[y0 - top : y1 - top, x0 - left : x1 - left]
    return out


def _remove_stale_temporaries(folder: Path, outputs: set[str]) -> None:
    """Delete the hidden temporary files that writes of ``outputs`` left when a run was killed mid-write."""
    if not outputs:
        return
    for entry in os.scandir(folder):
        name = entry.name
        if name.startswith(".") and name.endswith(".tmp") and name[1:].rsplit(".", 2)[0] in outputs:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
