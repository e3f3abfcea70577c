"""``moebius-inpaint batch``: fill every photo of a folder with its mask, resumably.

The work itself is done by :mod:`core.batch`; this module turns the command line into a plan, shows
progress, and reports each file and a summary, readable or as JSON lines (``--json``).

Exit status: 0 every photo done (now or by an earlier run); 1 some photo failed or had no usable mask;
2 bad input (missing folder, unusable output folder, a batch this run may not continue); 130 cancelled.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

from core.batch import (
    ANCHORS,
    DEFAULT_TEMPLATE,
    BatchOptions,
    BatchProgress,
    BatchSummary,
    FileResult,
    MaskPlacement,
    SharedMasks,
    pair_folder,
    prepare_batch,
    run_batch,
)
from core.batch.cluster import ClusterError, ClusterSpec, check_address, ray_available
from core.cli.arguments import (
    add_defaults_option,
    add_job_options,
    job_flag_names,
    job_settings,
    load_job_engine,
    non_negative_int,
    pixel_count,
    quality,
)
from core.cli.reporting import (
    BAD_INPUT_ERRORS,
    EXIT_CANCELLED,
    EXIT_FAILED,
    PROG,
    ProgressBar,
    parse_arguments,
    run_reporting_errors,
)
from core.common.cancel import CancelToken
from core.common.errors import BatchInputError
from core.photo.read import MAX_PIXELS

_DESCRIPTION = """\
Fill the masked part of every photo in INPUT_DIR and write the results to
OUT_DIR. The model is loaded once for the whole folder; everything runs on
this computer, or on a Ray cluster with --cluster."""

_EPILOG = f"""\
examples:
  moebius-inpaint batch shoot/ -o shoot_clean/            # masks in shoot/masks/ or NAME_mask.png
  moebius-inpaint batch shoot/ --mask dust.png -o clean/   # one mask for every photo
  moebius-inpaint batch shoot/ --mask-portrait p.png --mask-landscape l.png -o clean/
  moebius-inpaint batch shoot/ -o clean/ --resume          # continue after a crash or Ctrl+C
  moebius-inpaint batch shoot/ -o clean/ --json > report.jsonl

which mask belongs to a photo NAME.EXT:
  --mask FILE          one mask for all photos (--mask-portrait/--mask-landscape
                       for frames of that orientation), stretched to each photo
                       or placed at its own size (--mask-placement)
  otherwise            masks/NAME.* or masks/NAME_mask.* (masks/ inside
                       INPUT_DIR, or --masks DIR), or NAME_mask.* or
                       NAME.mask.png beside the photo. One match pairs it; no
                       match leaves it out; two or more are a conflict that is
                       reported. Nothing is guessed.

results:
  Named by --template (default {DEFAULT_TEMPLATE}) in OUT_DIR, in each photo's
  format with its metadata; written in one step, never over an original.
  OUT_DIR is created if its parent exists. OUT_DIR/moebius-batch.jsonl records
  every photo's status, its output's size and SHA-256, and the settings, so
  --resume skips finished photos whose output is still the file written then;
  one that is missing or damaged is made again, and one that changed since but
  is still a whole picture (retouched by hand) is kept; each is reported.
  Resuming with other settings is refused unless --overwrite is given, which
  redoes every photo.

  Every entry named like a photo is reported: one that cannot be read (a broken
  link, a folder, a file you may not read) counts as failed, with the reason.
  Hidden files (.NAME) and subfolders are not looked at.

settings:
  As for one photo: the job settings start from the saved settings
  ('moebius-inpaint settings show'), the flags given change them for this
  run, and --defaults starts from the built-in defaults instead.

exit status:
  0 all photos done, 1 some failed (or could not be read) or had no mask,
  2 bad input, 130 cancelled. Files that are not images are listed and do not
  count."""

_PLACEMENTS = ("resize", *ANCHORS)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``moebius-inpaint batch``."""
    parser = argparse.ArgumentParser(
        prog=f"{PROG} batch",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    files = parser.add_argument_group("photos, masks and results")
    files.add_argument("input", metavar="INPUT_DIR", help="the folder of photos (its subfolders are not searched)")
    files.add_argument("--output", "-o", metavar="OUT_DIR", required=True, help="the folder for the results")
    masks = files.add_mutually_exclusive_group()
    masks.add_argument(
        "--masks", metavar="DIR", help="folder of masks named like the photos (default: INPUT_DIR/masks)"
    )
    masks.add_argument("--mask", "-m", metavar="FILE", help="one mask for every photo")
    files.add_argument("--mask-portrait", metavar="FILE", help="the mask for photos taller than wide")
    files.add_argument("--mask-landscape", metavar="FILE", help="the mask for photos at least as wide as tall")
    files.add_argument(
        "--mask-placement",
        choices=_PLACEMENTS,
        default="resize",
        help="how a shared mask meets a photo of another size: resize (default) stretches it; a corner or "
        "centre keeps its pixel size there",
    )
    files.add_argument("--fit-mask", action="store_true", help="stretch per-photo masks of another size")
    files.add_argument("--pattern", metavar="GLOB", help="only photos whose names match, e.g. '*.jpg'")
    files.add_argument("--template", default=DEFAULT_TEMPLATE, help=f"output name (default {DEFAULT_TEMPLATE})")
    files.add_argument("--resume", action="store_true", help="skip photos an earlier run of this batch finished")
    files.add_argument("--overwrite", action="store_true", help="replace existing results (start again)")
    files.add_argument("--quality", type=quality, metavar="Q", help="JPEG/WebP quality (default: each source's)")
    files.add_argument(
        "--max-pixels", type=pixel_count, default=MAX_PIXELS, metavar="N", help="refuse larger photos, e.g. 300M"
    )
    files.add_argument(
        "--jobs",
        "-j",
        type=non_negative_int,
        default=1,
        metavar="N",
        help="photos read and decoded ahead while the model works on one (default 1; 0 = strictly one after "
        "the other). The model itself fills one photo at a time.",
    )

    cluster = parser.add_argument_group("where the photos are filled (default: this computer)")
    cluster.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="fill the photos on a Ray cluster: 'local' starts one on this computer for this batch, "
        "ray://HOST:PORT joins a running one (every node needs this version of Moebius Studio and the "
        "weights). Needs the optional extra: pip install 'moebius-studio[cluster]'",
    )
    cluster.add_argument(
        "--actors",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="with --cluster: workers, each with one loaded model (default 0: one per GPU, or per "
        "--actor-threads CPUs)",
    )
    cluster.add_argument(
        "--actor-threads",
        type=non_negative_int,
        default=1,
        metavar="N",
        help="with --cluster: CPU threads per worker on machines without a GPU (default 1)",
    )

    model = parser.add_argument_group("engine and settings (as for one photo; default: the saved settings)")
    add_job_options(model, ("engine",))
    model.add_argument("--model", metavar="DIR", help="folder with Moebius weights")
    add_job_options(model, [name for name in job_flag_names(batch=True) if name != "engine"])
    add_defaults_option(model)

    messages = parser.add_argument_group("messages")
    messages.add_argument("--json", action="store_true", help="one JSON object per file and a summary on stdout")
    messages.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")
    messages.add_argument("--debug", action="store_true", help="show the full traceback when something fails")
    return parser


def main(args: list[str]) -> int:
    """``moebius-inpaint batch ARGS…``; returns the exit status (see the module's documentation)."""
    # 1. Parse; argparse reports usage errors itself with status 2.
    options = parse_arguments(build_parser(), args)
    if isinstance(options, int):
        return options
    bar = ProgressBar(sys.stderr, enabled=not (options.quiet or options.json))
    # 2. Run; errors that stop the whole batch become one line and an exit status.
    return run_reporting_errors(
        lambda token: _run(options, token, bar),
        label=f"{PROG} batch",
        debug=options.debug,
        cancelled="Cancelled; finished photos are kept. Run again with --resume to continue.",
        bad_input=(*BAD_INPUT_ERRORS, BatchInputError, ClusterError),
        before_message=bar.close,
    )


def _run(options: argparse.Namespace, token: CancelToken, bar: ProgressBar) -> int:
    """Pair, plan, load the engine once, run, report; returns the exit status."""
    from core.inpaint.engine import resolve_engine_name

    started = time.monotonic()
    spec = _cluster_spec(options)
    # 1. Pairing and every cheap check, before a model is loaded.
    shared = _shared_masks(options)
    if options.masks is not None and shared is not None:
        raise BatchInputError("--masks cannot be combined with --mask-portrait or --mask-landscape.")
    pairings = pair_folder(options.input, masks_dir=options.masks, shared=shared, pattern=options.pattern)
    job = job_settings(options, _note)
    engine_name, fallback_note = resolve_engine_name(job.settings.engine, options.model)
    batch_options = BatchOptions(
        settings=job.settings.replace(engine=engine_name),
        template=options.template,
        fit_mask=options.fit_mask,
        quality=options.quality,
        max_pixels=options.max_pixels,
        resume=options.resume,
        overwrite=options.overwrite,
        read_ahead=options.jobs,
    )
    plan = prepare_batch(pairings, options.output, batch_options, shared=shared)
    if not pairings:
        raise BatchInputError(f"There are no files to process in {options.input}.")
    for note in ([fallback_note] if fallback_note else []) + plan.notes:
        _note(note)
    # 2. One engine for the whole batch (none at all when nothing is left to do; on a cluster, one per worker).
    engine = None
    if plan.needs_engine and spec is None:
        engine = load_job_engine(job, engine_name, options.model, bar)
        bar.close()
    # 3. Run, reporting each file as it ends.
    summary = BatchSummary()

    shown_nodes: dict[str, int] = {}

    def on_progress(report: BatchProgress) -> None:
        if report.event is None:
            from core.common.progress import ProgressEvent

            if report.nodes and report.nodes != shown_nodes and bar.enabled:
                # Per node on a cluster: a line whenever a node finishes a photo, then the overall bar.
                bar.close()
                changed = [node for node, done in report.nodes.items() if shown_nodes.get(node) != done]
                for node in changed:
                    print(f"node {node}: {report.nodes[node]} done", file=sys.stderr)
                shown_nodes.update(report.nodes)
            bar(ProgressEvent("photos", report.finished, report.total))

    if spec is None:
        runner = run_batch(plan, engine, cancel=token, progress=on_progress)
    else:
        from core.batch.cluster_run import run_batch_on_cluster

        cluster_notes: list[str] = []
        runner = run_batch_on_cluster(plan, spec, cancel=token, progress=on_progress, notes=cluster_notes)
        runner = _noting(runner, cluster_notes)
    with contextlib.closing(runner) as results:
        for result in results:
            summary.add(result)
            _report_file(result, options, bar)
    bar.close()
    summary.seconds = time.monotonic() - started
    # 4. The summary: JSON on stdout with --json, a sentence otherwise.
    if options.json:
        _emit(summary.to_json())
    elif not options.quiet:
        print(_summary_line(summary, plan.out_dir))
    if summary.exit_status == EXIT_CANCELLED:
        print("Cancelled; finished photos are kept. Run again with --resume to continue.", file=sys.stderr)
    return summary.exit_status if summary.exit_status in (0, EXIT_FAILED, EXIT_CANCELLED) else EXIT_FAILED


def _cluster_spec(options: argparse.Namespace) -> ClusterSpec | None:
    """The cluster ``--cluster`` names, or ``None`` for this computer.

    Raises:
        ClusterError: Ray is not installed, or the address is neither ``local`` nor ``ray://HOST:PORT``.
    """
    if options.cluster is None:
        return None
    address = check_address(options.cluster)
    if not ray_available():
        from core.batch.cluster import INSTALL_HINT

        raise ClusterError(INSTALL_HINT)
    return ClusterSpec(address=address, actors=options.actors, threads=options.actor_threads, model_dir=options.model)


def _noting(results: Iterator[FileResult], notes: list[str]) -> Generator[FileResult, None, None]:
    """``results``, printing the cluster's notes (its workers and nodes) as soon as it has started."""
    shown = 0
    with contextlib.closing(results):  # type: ignore[type-var]
        for result in results:
            for note in notes[shown:]:
                _note(note)
            shown = len(notes)
            yield result


def _shared_masks(options: argparse.Namespace) -> SharedMasks | None:
    """The shared masks the options name, or ``None`` for per-photo masks."""
    if options.mask is None and options.mask_portrait is None and options.mask_landscape is None:
        return None
    placement = (
        MaskPlacement() if options.mask_placement == "resize" else MaskPlacement("anchor", options.mask_placement)
    )
    paths = [
        None if value is None else Path(value)
        for value in (options.mask, options.mask_portrait, options.mask_landscape)
    ]
    return SharedMasks(default=paths[0], portrait=paths[1], landscape=paths[2], placement=placement)


def _report_file(result: FileResult, options: argparse.Namespace, bar: ProgressBar) -> None:
    """One JSON line per file with ``--json``; otherwise a note for files that were not done."""
    if options.json:
        _emit(result.to_json())
        return
    if (result.redone or result.kept_changed) and not options.quiet:
        bar.close()
        _note(f"{result.photo.name}: {result.reason}")  # "its output is missing: redone", "… changed …: kept …"
        return
    if result.status in ("done", "skipped") or options.quiet and result.status == "ignored":
        return
    bar.close()
    _note(f"{result.photo.name}: {result.status}: {result.reason}")


def _summary_line(summary: BatchSummary, out_dir: Path) -> str:
    counts = summary.counts
    redone = counts.get("redone", 0)
    parts = [f"{counts.get('done', 0)} done" + (f" ({redone} redone: output missing or damaged)" if redone else "")]
    kept = counts.get("kept_changed", 0)
    labels = {
        "skipped": "skipped (done earlier" + (f"; {kept} kept though changed since written)" if kept else ")"),
        "failed": "failed",
        "unpaired": "without a usable mask",
        "ignored": "not images",
        "cancelled": "cancelled",
    }
    parts += [f"{counts[key]} {label}" for key, label in labels.items() if counts.get(key)]
    if counts.get("retried"):
        parts.append(f"{counts['retried']} started again after their worker died")
    return f"Batch: {', '.join(parts)} in {summary.seconds:.1f} s; results in {out_dir}"


def _emit(record: dict[str, Any]) -> None:
    # Flushed per line, so a script (or a test) reading the pipe sees each file as soon as it ends.
    print(json.dumps(record, ensure_ascii=False), flush=True)


def _note(text: str) -> None:
    print(f"{PROG} batch: note: {text}", file=sys.stderr)
