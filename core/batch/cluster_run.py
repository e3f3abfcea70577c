"""Running a prepared batch on a Ray cluster: the local batch's bookkeeping, with photos filled by actors.

:func:`run_batch_on_cluster` yields the same :class:`~core.batch.results.FileResult` objects as
:func:`core.batch.runner.run_batch`, through the same functions for pairing, journal, writing and resume; only
the fill happens elsewhere, several photos at once (one per actor), so results arrive in the order they finish.
Photos are decoded here (reading ahead as many as there are actors) and sent with their masks; the filled
pixels come back and are written here, in one step, so nothing is ever half-written.

A photo whose actor dies (its process killed, its node lost) is started again on another actor, up to
:data:`MAX_RETRIES` times, and its result counts the retries; a photo that fails for its own reasons fails once.
``cancel`` cancels every outstanding task, kills the actors and stops a cluster the batch started; the photos
that were in flight are recorded as started, so ``--resume`` does them again.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any

from core.batch.cluster import ACTOR_RESTARTS, ClusterSpec, RayWorkers, Slot
from core.batch.journal import JournalWriter
from core.batch.prepare import PROCESS, BatchPlan, PlannedFile, seed_for
from core.batch.results import ST_CANCELLED, BatchProgress, BatchProgressCallback, FileResult
from core.batch.runner import (
    _Decoded,
    _read_ahead,
    _remove_stale_temporaries,
    _result,
    _unprocessed_result,
    begin_photo,
    finish_photo,
    photo_failed,
)
from core.common.cancel import CancelToken

MAX_RETRIES = 3
"""How often one photo is started again after the worker running it died, before it counts as failed."""
_POLL_S = 0.1


@dataclass
class _InFlight:
    item: PlannedFile
    decoded: _Decoded
    seed: int | None
    slot: Slot
    started: float
    retries: int = 0


def run_batch_on_cluster(
    plan: BatchPlan,
    spec: ClusterSpec,
    *,
    cancel: CancelToken | None = None,
    pause: threading.Event | None = None,
    progress: BatchProgressCallback | None = None,
    notes: list[str] | None = None,
    workers: RayWorkers | None = None,
) -> Generator[FileResult, None, None]:
    """Carry out ``plan`` on the cluster ``spec`` names, yielding one :class:`FileResult` per file.

    Args:
        plan: from :func:`~core.batch.prepare.prepare_batch`.
        spec: the cluster and its workers.
        cancel: checked while photos are in flight; a cancel yields ``cancelled`` results for the photos not
            finished and ends the generator.
        pause: while set, no further photo is sent (those in flight finish).
        progress: receives :class:`BatchProgress` reports, with photos done per node.
        notes: receives what the cluster looks like (workers, nodes, where results are written).
        workers: workers already started (the benchmark reuses them); started and closed here when ``None``.

    Raises:
        ClusterError: Ray is missing, the cluster cannot be reached, or no worker could load the engine.
    """
    token = cancel if cancel is not None else CancelToken()
    total = len(plan.files)
    started = time.monotonic()
    nodes: dict[str, int] = {}
    finished = 0
    to_process = [f for f in plan.files if f.action == PROCESS]

    def report(item: PlannedFile) -> None:
        if progress is not None:
            elapsed = time.monotonic() - started
            done = sum(nodes.values())
            left = len(to_process) - done
            eta = elapsed / done * left if done else None
            progress(BatchProgress(item.index, total, item.pairing.photo, finished, None, elapsed, eta, dict(nodes)))

    own_workers = workers is None
    if to_process and workers is None:
        workers = RayWorkers(spec, plan.options.settings)
        workers.start()
    if notes is not None and workers is not None:
        notes.extend(workers.notes)
    with JournalWriter(plan.out_dir) as journal:
        # 1. As the local batch: record the settings, clear temporaries, report files that need no work.
        journal.batch(plan.fingerprint)
        _remove_stale_temporaries(plan.out_dir, {f.output.name for f in to_process if f.output is not None})
        for item in plan.files:
            if item.action != PROCESS:
                result = _unprocessed_result(item, total, journal)
                finished += 1
                report(item)
                yield result
        if not to_process:
            return
        assert workers is not None
        # The reader decodes one photo ahead per actor while the actors work.
        ahead = replace(plan, options=replace(plan.options, read_ahead=max(len(workers.slots), 1)))
        reader = _read_ahead(to_process, ahead, token)
        retry: deque[_InFlight] = deque()
        in_flight: dict[Any, _InFlight] = {}

        def fill() -> list[FileResult]:
            """Give every free actor a photo (retried ones first); returns the photos that could not be read."""
            unusable_results: list[FileResult] = []
            while not token.cancelled and not (pause is not None and pause.is_set()):
                slot = next((s for s in workers.slots if not s.busy), None)
                if slot is None:
                    break
                if retry:
                    job = retry.popleft()
                    job.slot = slot
                else:
                    pair = next(reader, None)
                    if pair is None:
                        break
                    item, decoded = pair
                    seed = seed_for(plan.options, item.index, item.pairing.photo)
                    unusable = begin_photo(item, total, decoded, seed, plan, journal)
                    if unusable is not None:
                        unusable_results.append(unusable)
                        continue
                    job = _InFlight(item, decoded, seed, slot, time.monotonic())
                request = job.decoded.request(replace(plan.options.settings, seed=job.seed))
                in_flight[workers.submit(slot, request)] = job
                report(job.item)  # a photo starts (the Batch window marks its row)
            return unusable_results

        try:
            # 2. Keep every free actor busy: retried photos first, then the next decoded ones.
            ready_results = fill()
            while True:
                idle = not in_flight and not ready_results and not retry
                if idle and (token.cancelled or pause is None or not pause.is_set()):
                    break
                # 3. Collect what finished (a lost worker sends its photo back to the queue), and start the next
                # photos before handing the results out, so that the actors work while they are reported.
                ready_results += _collect(in_flight, retry, workers, plan, journal, total, nodes)
                ready_results += fill()
                for result in ready_results:
                    finished += 1
                    report(_planned(plan, result))
                    yield result
                ready_results = []
                if token.cancelled:
                    break
                if not workers.slots and (in_flight or retry):
                    raise _AllWorkersLost
            # 4. Cancelled: the photos not finished are reported; those started are redone by --resume.
            if token.cancelled:
                import ray

                for ref in in_flight:
                    with contextlib.suppress(Exception):  # already finished, or its actor gone
                        ray.cancel(ref)
                left = [job.item for job in (*in_flight.values(), *retry)] + [item for item, _ in reader]
                in_flight.clear()
                for item in sorted(left, key=lambda f: f.index):
                    yield _result(item, total, ST_CANCELLED, reason="Cancelled; it is redone on --resume.")
        except _AllWorkersLost:
            jobs = [*in_flight.values(), *retry]
            for job in jobs:
                reason = "every worker of the cluster stopped while it was being filled"
                yield photo_failed(job.item, total, job.decoded, job.seed, journal, reason, retries=job.retries)
            for item, decoded in reader:
                yield photo_failed(item, total, decoded, None, journal, "every worker of the cluster stopped")
        finally:
            reader.close()
            if own_workers:
                workers.close()


class _AllWorkersLost(Exception):
    """Every actor died more often than Ray restarts it."""


def _planned(plan: BatchPlan, result: FileResult) -> PlannedFile:
    return plan.files[result.index - 1]


def _collect(
    in_flight: dict[Any, _InFlight],
    retry: deque[_InFlight],
    workers: RayWorkers,
    plan: BatchPlan,
    journal: JournalWriter,
    total: int,
    nodes: dict[str, int],
) -> list[FileResult]:
    """Wait briefly for finished tasks; write each filled photo, and queue photos whose worker died again."""
    import ray
    from ray.exceptions import RayActorError, RayTaskError, WorkerCrashedError

    if not in_flight:
        time.sleep(_POLL_S)  # paused, or only failures to report: nothing to wait for
        return []
    ready, _ = ray.wait(list(in_flight), num_returns=len(in_flight), timeout=_POLL_S)
    results: list[FileResult] = []
    for ref in ready:
        job = in_flight.pop(ref)
        job.slot.busy = False
        try:
            status, payload, seed, warnings, node_id = ray.get(ref)
        except (RayActorError, WorkerCrashedError) as error:
            # 1. The process died (killed, out of memory, node lost): Ray restarts the actor; the photo goes again.
            job.slot.deaths += 1
            if job.slot.deaths > ACTOR_RESTARTS:
                workers.slots.remove(job.slot)
            job.retries += 1
            if job.retries > MAX_RETRIES:
                reason = f"the worker filling it died {job.retries} times ({type(error).__name__})"
                results.append(
                    photo_failed(job.item, total, job.decoded, job.seed, journal, reason, retries=job.retries)
                )
            else:
                retry.append(job)
            continue
        except RayTaskError as error:  # the actor's own code raised outside the engine: this photo's problem
            reason = f"the worker could not fill it: {error.cause if error.cause is not None else error}"
            results.append(photo_failed(job.item, total, job.decoded, job.seed, journal, reason, retries=job.retries))
            continue
        seconds = time.monotonic() - job.started
        node = workers.node_address(node_id)
        if status != "done":
            results.append(
                photo_failed(
                    job.item, total, job.decoded, job.seed, journal, str(payload), node=node, retries=job.retries
                )
            )
            continue
        # 2. Written here, in one step, by the same code as the local batch.
        result = finish_photo(
            job.item, total, job.decoded, plan, journal, payload, seed, warnings, node=node, retries=job.retries
        )
        nodes[node] = nodes.get(node, 0) + 1
        results.append(replace(result, seconds=seconds))
    return results
