"""Batch processing: a folder of photos, each with its mask, filled by one loaded engine.

One job per module:

- :mod:`core.batch.pairing` finds each photo's mask by the documented conventions and reports conflicts.
- :mod:`core.batch.journal` keeps the journal in the output folder that makes a batch resumable.
- :mod:`core.batch.prepare` checks everything up front (:func:`prepare_batch`), before a model is loaded.
- :mod:`core.batch.runner` runs the prepared batch as a generator of per-file results (:func:`run_batch`),
  which the command line and the GUI both drive; :mod:`core.batch.results` holds what it reports.
- :mod:`core.batch.cluster_run` runs the same plan with the photos filled by actors on a Ray cluster
  (:func:`run_batch_on_cluster`; :mod:`core.batch.cluster` holds the actors; Ray is an optional extra).

Typical use::

    pairings = pair_folder("shoot/", masks_dir="shoot/masks")
    plan = prepare_batch(pairings, "shoot/clean", BatchOptions(settings=JobSettings(engine="classic")))
    engine = load_engine("classic")
    for result in run_batch(plan, engine, cancel=token, progress=on_progress):
        print(result.photo, result.status, result.reason)
"""

from __future__ import annotations

from core.batch.cluster import ClusterError, ClusterSpec
from core.batch.cluster_run import run_batch_on_cluster
from core.batch.journal import JOURNAL_NAME, JournalState, read_journal
from core.batch.pairing import (
    ANCHORS,
    PHOTO_EXTENSIONS,
    MaskPlacement,
    Pairing,
    SharedMasks,
    is_mask_name,
    pair_folder,
)
from core.batch.prepare import (
    DEFAULT_TEMPLATE,
    SEED_POLICIES,
    BatchOptions,
    BatchPlan,
    PlannedFile,
    output_name,
    place_mask,
    placed_mask,
    prepare_batch,
    seed_for,
)
from core.batch.results import BatchProgress, BatchProgressCallback, BatchSummary, FileResult
from core.batch.runner import run_batch

__all__ = [
    "ANCHORS",
    "DEFAULT_TEMPLATE",
    "JOURNAL_NAME",
    "PHOTO_EXTENSIONS",
    "SEED_POLICIES",
    "BatchOptions",
    "BatchPlan",
    "BatchProgress",
    "BatchProgressCallback",
    "BatchSummary",
    "ClusterError",
    "ClusterSpec",
    "FileResult",
    "JournalState",
    "MaskPlacement",
    "Pairing",
    "PlannedFile",
    "SharedMasks",
    "is_mask_name",
    "output_name",
    "pair_folder",
    "place_mask",
    "placed_mask",
    "prepare_batch",
    "read_journal",
    "run_batch",
    "run_batch_on_cluster",
    "seed_for",
]
