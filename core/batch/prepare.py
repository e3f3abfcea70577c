"""Preparing a batch: every check a user's mistake can fail, done before a model is loaded.

:func:`prepare_batch` checks the output folder (created when only its last part is missing; refused when it
cannot be written, or when it is the input or masks folder), names every output by the template, reads a
shared mask once, and reads the journal (:mod:`core.batch.journal`) to decide per photo: process it, skip it
(done earlier), adopt it (finished by a run that crashed before it could say so), or leave it out (no mask, a
conflict, not an image, a name clash). The :class:`BatchPlan` it returns is what a front end shows as the
pairing table, and what :func:`core.batch.runner.run_batch` runs.

Resume policy: a rerun with ``resume=True`` skips every photo the journal records as done whose output is still the
file that was written (same size and SHA-256; see :mod:`core.batch.outputs`); a missing or damaged output is made
again, one that changed but still decodes is kept, and either way the reason is reported. When the journal's
settings differ from this run's, the batch is refused (:class:`~core.common.errors.BatchSettingsChangedError`,
naming the differences) unless ``overwrite=True``, which redoes every photo with the new settings. Without
``resume``, an output folder that already holds a batch is refused unless ``overwrite=True`` (start again).

Seeds: ``fixed`` gives every photo the same seed (the single-photo behaviour); ``index`` uses seed + the photo's
position in the sorted folder; ``name`` uses seed + a hash of the file name, which stays the same when photos
are added or removed. A random seed (``None``) draws one per photo, reported in its result and the journal.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.batch.journal import DONE, STARTED, JournalState, read_journal, settings_difference
from core.batch.outputs import changed_output, undecodable
from core.batch.pairing import SHARED, MaskPlacement, Pairing, SharedMasks
from core.common.errors import (
    BatchInputError,
    BatchSettingsChangedError,
    MaskError,
    MoebiusError,
    OutputError,
)
from core.job.options import DEFAULT_VARIANT, SEED, SEED_POLICY
from core.job.settings import JobSettings
from core.photo.raw import result_extension
from core.photo.read import MAX_PIXELS

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


DEFAULT_TEMPLATE = "{stem}_inpainted{ext}"
"""Output names: ``{stem}`` (the photo's name without extension), ``{ext}`` (its extension, with the dot) and
``{name}`` (the whole file name). A camera RAW photo's ``{ext}`` is ``.tif``: its result is a 16-bit TIFF."""

SEED_POLICIES = SEED_POLICY.choices
"""How a batch seeds each photo (declared with the other settings in :mod:`core.job.options`)."""

# What happens to a file, as planned and as reported.
PROCESS = "process"
SKIP = "skip"
ADOPT = "adopt"
LEAVE_OUT = "leave-out"


@dataclass
class BatchOptions:
    """How to run a batch (the per-photo :class:`~core.job.request.JobSettings` plus the batch's own choices).

    Args:
        settings: the job settings; ``settings.engine`` must be a concrete engine name (``"moebius"`` or
            ``"classic"``: resolve ``"auto"`` first), because it is part of what the journal compares.
        seed_policy: one of :data:`SEED_POLICIES`; ``None`` (the default) takes ``settings.seed_policy``. A
            policy given here is also written into ``settings``, so that the two always agree.
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
    seed_policy: str | None = None
    template: str = DEFAULT_TEMPLATE
    fit_mask: bool = False
    quality: int | None = None
    max_pixels: int = MAX_PIXELS
    resume: bool = False
    overwrite: bool = False
    read_ahead: int = 1

    def __post_init__(self) -> None:
        # One seed policy: the settings' own unless one is given here. An unknown policy is left for
        # prepare_batch to refuse with the batch's own error.
        if self.seed_policy is None:
            self.seed_policy = self.settings.seed_policy
        elif self.seed_policy in SEED_POLICIES and self.seed_policy != self.settings.seed_policy:
            self.settings = self.settings.replace(seed_policy=self.seed_policy)


@dataclass(frozen=True)
class PlannedFile:
    """One file of a :class:`BatchPlan`.

    Args:
        index: 1-based position in the plan.
        pairing: the file and its mask.
        output: where its result goes (``None`` when there is none to write).
        action: :data:`PROCESS`, :data:`SKIP` (done earlier), :data:`ADOPT` (finished by a crashed run) or
            :data:`LEAVE_OUT`.
        reason: why it is skipped or left out, or (to process) why an earlier run's output is not kept.
        replace_output: the output there is an earlier run's that is missing or damaged: the new result
            replaces it even without ``overwrite``.
        kept_changed: skipped although its output changed since it was written (it still decodes: kept).
    """

    index: int
    pairing: Pairing
    output: Path | None
    action: str
    reason: str | None = None
    replace_output: bool = False
    kept_changed: bool = False


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
    from core.photo.read import read_mask

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
    originals = {_real(p.photo) for p in pairing_list} | {_real(p.mask) for p in pairing_list if p.mask}
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
        planned.append(_resume_decision(index, pairing, output, None if redo_all else record, options))
    plan = BatchPlan(planned, out, options, shared, shared_pixels, fingerprint, notes)
    if options.resume and state.files:
        earlier = plan.count(SKIP) + plan.count(ADOPT)
        notes.append(f"Resuming: {earlier} photos done earlier, {plan.count(PROCESS)} to do.")
        redone = sum(1 for f in planned if f.replace_output)
        if redone:
            notes.append(f"{redone} of the earlier outputs are missing or damaged: redone.")
        kept = sum(1 for f in planned if f.kept_changed)
        if kept:
            notes.append(
                f"{kept} of the earlier outputs changed since they were written but are whole pictures: kept as they"
                " are (--overwrite makes them again)."
            )
    return plan


def _resume_decision(
    index: int, pairing: Pairing, output: Path, record: Mapping[str, Any] | None, options: BatchOptions
) -> PlannedFile:
    """Process the photo, or skip it because the journal says it is done and its output is still intact.

    An output is trusted only while it is the file that was written (see :mod:`core.batch.outputs`); one that is
    missing or damaged is made again, replacing what is there; one that changed but still decodes is kept. The
    reason goes with the photo's result either way.
    """
    status = None if record is None else record.get("status")
    if not options.resume or record is None or status not in (DONE, STARTED) or record.get("output") != output.name:
        return PlannedFile(index, pairing, output, PROCESS)
    if status == STARTED and not os.path.lexists(output):
        return PlannedFile(index, pairing, output, PROCESS)  # the run stopped while this photo was being filled
    problem = changed_output(record, output, max_pixels=options.max_pixels)
    if problem is not None and problem.startswith("changed"):
        damage = undecodable(output, options.max_pixels)
        if damage is None:
            # Still a whole picture, only not the one this batch wrote: someone's work; kept and reported.
            reason = f"its output {problem}: kept as it is (--overwrite makes it again)"
            return PlannedFile(index, pairing, output, SKIP, reason, kept_changed=True)
        problem = f"{problem} and {damage}"
    if problem is not None:
        return PlannedFile(index, pairing, output, PROCESS, f"its output {problem}: redone", replace_output=True)
    if status == DONE:
        return PlannedFile(index, pairing, output, SKIP, "done by an earlier run")
    return PlannedFile(index, pairing, output, ADOPT, "finished before a crash")


def output_name(template: str, photo: Path) -> str:
    """The output file name of ``photo`` by ``template`` (see :data:`DEFAULT_TEMPLATE`)."""
    # A RAW photo's {ext} is .tif: RAW files are never written (its result is a 16-bit TIFF).
    return template.format(stem=photo.stem, ext=result_extension(photo), name=photo.name)


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
    if info.needs_weights and s.model_variant != DEFAULT_VARIANT:
        # Recorded only when not the default, so that journals written before it was recorded still resume.
        fingerprint["model_variant"] = s.model_variant
    if shared is not None:
        fingerprint["shared_masks"] = [str(p) for p in shared.files()]
        fingerprint["placement"] = shared.placement.describe()
    return fingerprint


def seed_for(options: BatchOptions, index: int, photo: Path) -> int | None:
    """The seed of one photo under the batch's seed policy (``None``: the engine draws a random one)."""
    base = options.settings.seed
    if base is None:
        return None
    # Wrapped into the seed's declared range, so that the seed recorded for a photo can be given back as --seed.
    seeds = SEED.maximum + 1
    if options.seed_policy == "index":
        return (base + index) % seeds
    if options.seed_policy == "name":
        digest = hashlib.sha256(photo.name.encode("utf-8")).digest()
        return (base + int.from_bytes(digest[:8], "big")) % seeds
    return base


def _real(path: Path) -> Path:
    """``path`` with links resolved; a link that loops (which Python 3.11 refuses to resolve) stays as it is."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


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
    from core.photo.write import output_format

    try:
        output_format(output)
    except OutputError as error:
        return f"{error.message} Choose an output template with another extension."
    if output in claimed:
        return f"Its output name {output.name} is the same as that of {claimed[output].name}."
    if _real(output) in originals:
        return f"Its output {output} would replace an input file; originals are never changed."
    return None


# -- running ------------------------------------------------------------------------------------------------


def placed_mask(plan: BatchPlan, pairing: Pairing, width: int, height: int) -> tuple[Path, npt.NDArray[np.uint8]]:
    """The mask file a photo of this upright size gets in ``plan``, and its pixels as the batch lays them on.

    A shared mask is chosen by the photo's orientation and stretched or anchored to it; a photo's own mask is
    read and, with ``fit_mask``, stretched. The editor's Redo uses this too, so it opens exactly what the batch
    filled, not the raw shared file (whose size usually differs from the photo's).

    Raises:
        MoebiusError: there is no shared mask for this orientation, or the mask file is unusable.
    """
    from core.photo.mask import check_mask
    from core.photo.read import read_mask

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
