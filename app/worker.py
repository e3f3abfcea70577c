"""The inference worker: one long-lived thread that owns the loaded engine and runs jobs one after another.

Core stays Qt-free: it reports through a progress callback and stops when its :class:`CancelToken` is set. The
worker turns the callback into Qt signals (delivered to the GUI thread by queued connections) and the GUI
cancels a job by setting the token directly, so a cancel never waits behind the job in the thread's queue.

The engine is loaded on the first job and kept for the next ones; loading the Moebius model takes seconds, a
job with it loaded only the denoising time. Tests inject an ``engine_factory`` that returns a fake engine.

A job may ask for several variations (:attr:`Job.variations`): the worker runs the request once per freshly
drawn seed on the same loaded engine and reports each result as it comes (:attr:`InferenceWorker.produced`),
so one click gives N results to choose from and a cancel keeps the ones already made. After every diffusion
run the measured time is recorded (:func:`core.inpaint.estimate.record_job`), and :meth:`InferenceWorker.estimate`
answers "how long would this mask take here" from those records, in this thread, because finding the device
may import torch.

A batch (:class:`BatchJob`) runs in the same thread with the same cached engine, so a folder of photos loads
the model once and an editor job and a batch never hold two models. The worker iterates core's
:func:`~core.batch.run_batch` generator and reports every file as it ends; Pause and Cancel are a
:class:`threading.Event` and the cancel token, both set from the GUI thread directly.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import secrets
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtGui import QImage

from core.common.cancel import CancelToken
from core.common.progress import ProgressCallback, ProgressEvent
from core.inpaint.result import InpaintResult
from core.job.request import InpaintRequest

if TYPE_CHECKING:
    from backends.device import Request
    from core.batch import BatchPlan, BatchProgress, BatchSummary, FileResult
    from core.batch.cluster import ClusterSpec
    from core.inpaint.device import DeviceInfo
    from core.job.settings import JobSettings

log = logging.getLogger(__name__)
THUMBNAIL_EDGE = 192  # pixels of the long side of a review thumbnail
SEED_RANGE = 2**31  # variations draw their seeds like the engine draws a random one: short enough to type


class EngineLike(Protocol):
    """What the worker needs from an engine (core.inpaint.engine.Engine, or a test's fake)."""

    name: str

    def inpaint(
        self, request: InpaintRequest, progress: ProgressCallback | None = None, cancel: CancelToken | None = None
    ) -> InpaintResult: ...


EngineFactory = Callable[[str, "JobSettings", ProgressCallback], EngineLike]
"""Loads an engine: ``(engine name, the job's settings (model variant, device, precision), progress)``."""
"""``(engine name, device, precision, progress) -> engine``; the name is already resolved from ``auto``."""

_job_ids = itertools.count(1)


@dataclass
class Job:
    """One inpaint as the GUI submits it: the request (whose settings name the engine, model, device and
    precision too), how many variations to make of it, and its Cancel switch.

    With ``variations`` > 1 every run gets a freshly drawn seed (the request's own seed is not used), so each
    click of Variations gives new pictures; each result carries its seed, so any of them can be made again.
    """

    request: InpaintRequest
    cancel: CancelToken = field(default_factory=CancelToken)
    id: int = field(default_factory=lambda: next(_job_ids))
    variations: int = 1


def variation_requests(request: InpaintRequest, count: int) -> list[InpaintRequest]:
    """The requests of a job of ``count`` variations: the request itself, or one per freshly drawn seed."""
    if count <= 1:
        return [request]
    seeds: list[int] = []
    while len(seeds) < count:  # distinct seeds: two equal ones would give the same picture twice
        seed = secrets.randbelow(SEED_RANGE)
        if seed not in seeds:
            seeds.append(seed)
    return [dataclasses.replace(request, settings=request.settings.replace(seed=seed)) for seed in seeds]


@dataclass(frozen=True)
class EstimateAsk:
    """A question for the worker: how long would a run of ``mask`` with ``settings`` take on their device?

    Args:
        id: answers carry it; the worker skips questions a newer one has replaced.
        mask: a copy of the mask (the editor's own array changes under the brush).
        settings: the job's settings, their engine resolved (``auto`` is already ``moebius``).
        fewer_steps: a smaller number of steps to estimate as well, or ``None``.
    """

    id: int
    mask: npt.NDArray[np.uint8]
    settings: JobSettings
    fewer_steps: int | None = None


@dataclass(frozen=True)
class EstimateAnswer:
    """The worker's answer to an :class:`EstimateAsk` (``core.inpaint.estimate.Estimate`` objects).

    Args:
        estimate: the expected run with the asked settings.
        fewer: the run with the asked fewer steps, or ``None``.
        fewer_steps: those steps.
        backend: the device it runs on as the user reads it (``"CPU"``, ``"CUDA"``, ``"MPS"``, …).
    """

    estimate: Any
    fewer: Any = None
    fewer_steps: int | None = None
    backend: str = "CPU"


@dataclass
class BatchJob:
    """A prepared batch as the GUI submits it: the plan, where to run it, and its Pause and Cancel switches."""

    plan: BatchPlan  # its settings' engine is already resolved from "auto": the journal records it
    cluster: ClusterSpec | None = None  # a Ray cluster that fills the photos; None: this computer's engine
    cancel: CancelToken = field(default_factory=CancelToken)
    pause: threading.Event = field(default_factory=threading.Event)
    id: int = field(default_factory=lambda: next(_job_ids))


@dataclass(frozen=True)
class BatchFileReport:
    """One finished file of a batch, with review thumbnails made in the worker thread (never the GUI's)."""

    result: FileResult
    before: QImage | None = None
    after: QImage | None = None


def read_thumbnail(path: Path | None, edge: int = THUMBNAIL_EDGE) -> QImage | None:
    """A small upright copy of an image file, decoded at reduced size where the format allows; ``None`` if unreadable.

    QImage (unlike QPixmap) may be made in any thread, so this runs in the worker between photos.
    """
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImageReader

    if path is None:
        return None
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)  # EXIF orientation, as the editor shows the photo
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > edge:
        reader.setScaledSize(size.scaled(edge, edge, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    return None if image.isNull() else image


def panel_request(device: str, precision: str) -> Request:
    """The device and precision a GUI job asks for: ``MOEBIUS_STUDIO_DEVICE`` / ``_PRECISION`` when set, else the
    settings panel's choice, labelled as coming from it (see :data:`app.settings_panel.ORIGIN`).

    Args:
        device: the panel's device.
        precision: the panel's precision.

    Raises:
        DeviceError: an environment variable names an unknown device or precision.
    """
    from app.settings_panel import ORIGIN
    from core.inpaint.device import resolve

    return resolve(setting_device=device, setting_precision=precision, setting_origin=ORIGIN)


def load_core_engine(name: str, settings: JobSettings, progress: ProgressCallback) -> EngineLike:
    """The real engines of :mod:`core.inpaint.engine`, as the settings panel set them up; imported here so the
    GUI starts without torch.

    Args:
        name: ``"moebius"`` or ``"classic"``.
        settings: the job's settings: the model variant, and the panel's device and precision (the environment
            may override those).
        progress: receives the loading events.
    """
    from core.inpaint.engine import load_engine_for

    def request() -> Request:
        return panel_request(settings.device, settings.precision)

    return load_engine_for(name, settings, request, progress=progress)


def resolve_engine(name: str) -> tuple[str, str | None]:
    """``auto`` → ``moebius`` or ``classic`` (with the reason for the fallback)."""
    from core.inpaint.engine import resolve_engine_name

    return resolve_engine_name(name)


def forget_foreign_thread() -> None:
    """Drop the record Python made of this Qt-created thread, if any.

    When Python code running in a QThread asks ``threading.current_thread()`` (logging does), Python 3.11
    registers a dummy thread object that it never removes, so the thread would look alive forever.
    """
    current = threading.current_thread()
    if isinstance(current, threading._DummyThread):
        threading._active.pop(threading.get_ident(), None)  # type: ignore[attr-defined]


class InferenceWorker(QObject):
    """Lives in the inference thread; every slot runs there."""

    started = Signal(int, str)  # job id, engine name
    progressed = Signal(int, object)  # job id, ProgressEvent
    variation_started = Signal(int, int, int)  # job id, variation number (from 1), variations of the job
    produced = Signal(int, object, object)  # job id, the InpaintRequest run, its InpaintResult (one per variation)
    finished = Signal(int, object)  # job id, InpaintResult (the last one; every one came through produced)
    estimated = Signal(int, object)  # EstimateAsk id, EstimateAnswer or None (no estimate for this device)
    failed = Signal(int, str)  # job id, message for the user
    cancelled = Signal(int)  # job id
    device_described = Signal(str)
    batch_progressed = Signal(int, object)  # job id, core.batch.BatchProgress
    batch_file_done = Signal(int, object)  # job id, BatchFileReport
    batch_finished = Signal(int, object)  # job id, core.batch.BatchSummary (also after a cancel)

    def __init__(self, engine_factory: EngineFactory) -> None:
        super().__init__()
        self._factory = engine_factory
        self._engine: EngineLike | None = None
        self._engine_key: tuple[str, str, str, str] | None = None
        self._devices: dict[tuple[str, str], DeviceInfo] = {}  # the device a job of (device, precision) gets
        self.latest_estimate = 0  # set from the GUI thread: older questions still queued are skipped

    def _engine_for(self, name: str, settings: JobSettings, progress: ProgressCallback) -> EngineLike:
        """The cached engine when it matches, else a freshly loaded one (the old model is let go first)."""
        key = (name, settings.model_variant, settings.device, settings.precision)
        if self._engine is None or self._engine_key != key:
            self._engine = None
            self._engine = self._factory(name, settings, progress)
            self._engine_key = key
        return self._engine

    @Slot(object)
    def run(self, job: Job) -> None:
        """Run one job, one inpaint per variation; reports through the signals and never raises."""
        from core.common.errors import CancelledError, MoebiusError

        if job.cancel.cancelled:
            self.cancelled.emit(job.id)
            return

        def progress(event: ProgressEvent) -> None:
            self.progressed.emit(job.id, event)
            job.cancel.raise_if_cancelled()

        try:
            settings = job.request.settings
            name, note = resolve_engine(settings.engine)
            engine = self._engine_for(name, settings, progress)
            self.started.emit(job.id, engine.name)
            requests = variation_requests(job.request, job.variations)
            for number, request in enumerate(requests, 1):
                if len(requests) > 1:
                    self.variation_started.emit(job.id, number, len(requests))
                began = time.perf_counter()
                result = engine.inpaint(request, progress, job.cancel)
                result.timings.setdefault("total", time.perf_counter() - began)
                if note:
                    result.warnings.insert(0, note)
                self._learn(engine, request, result)
                self.produced.emit(job.id, request, result)
        except CancelledError:
            self.cancelled.emit(job.id)
        except MoebiusError as error:
            self.failed.emit(job.id, error.user_message())
        except MemoryError:
            self._engine = None
            self.failed.emit(job.id, "Not enough memory for this job. Close other programs or use a smaller mask.")
        except Exception as error:  # a bug: tell the user instead of dying silently in a thread
            traceback.print_exc()
            self.failed.emit(job.id, f"The inpaint failed unexpectedly: {error!r}")
        else:
            self.finished.emit(job.id, result)

    @staticmethod
    def _learn(engine: EngineLike, request: InpaintRequest, result: InpaintResult) -> None:
        """Record how long a diffusion run took on its device, so the next estimate there is measured.

        Only engines that run denoising steps are timed (a classic fill takes a moment whatever the settings);
        a record that cannot be written never fails the job.
        """
        from core.inpaint.device import DeviceInfo
        from core.job.engines import ENGINES

        info = ENGINES.get(result.engine)
        device = getattr(engine, "device", None)
        if info is None or not info.uses_steps or not isinstance(device, DeviceInfo):
            return
        try:
            from core.inpaint.estimate import device_key, record_job

            record_job(device_key(device), request.settings, result)
        except Exception:  # the estimate only gets less precise
            log.warning("could not record the time of this run", exc_info=True)

    def _device_for(self, settings: JobSettings) -> DeviceInfo:
        """The device a job with these settings runs on: the loaded engine's, else the one it would get."""
        from core.inpaint.device import DeviceInfo, choose_for

        engine = self._engine
        wanted = (settings.engine, settings.model_variant, settings.device, settings.precision)
        device = getattr(engine, "device", None)
        if self._engine_key == wanted and isinstance(device, DeviceInfo):
            return device  # where the model really went (a GPU short of memory may have handed it to the CPU)
        key = (settings.device, settings.precision)
        if key not in self._devices:
            self._devices[key] = choose_for(panel_request(settings.device, settings.precision))
        return self._devices[key]

    @Slot(object)
    def estimate(self, ask: EstimateAsk) -> None:
        """Answer how long a run of the ask's mask would take here (``None`` when it cannot be told)."""
        if ask.id != self.latest_estimate:
            return  # the mask or the settings changed again since: a newer question is queued
        try:
            from core.inpaint.estimate import device_key, estimate_job

            device = self._device_for(ask.settings)
            key = device_key(device)
            estimate = estimate_job(ask.mask, ask.settings, key)
            fewer = None
            if ask.fewer_steps is not None:
                fewer = estimate_job(ask.mask, ask.settings.replace(steps=ask.fewer_steps), key)
            answer = EstimateAnswer(estimate, fewer, ask.fewer_steps if fewer is not None else None, device.backend)
        except Exception:  # an unknown device, an empty mask: the editor shows no estimate
            log.info("no estimate for this job", exc_info=True)
            self.estimated.emit(ask.id, None)
            return
        self.estimated.emit(ask.id, answer)

    @Slot(object)
    def run_batch(self, job: BatchJob) -> None:
        """Run a whole batch: one engine load, one result signal per file, a summary at the end; never raises.

        Per-file failures are results (the batch goes on); only what stops the whole batch (the model cannot
        load, another run holds the output folder) becomes ``failed``.
        """
        import contextlib

        from core.batch import BatchSummary, run_batch
        from core.common.errors import CancelledError, MoebiusError

        summary = BatchSummary()
        began = time.monotonic()

        def loading(event: ProgressEvent) -> None:
            self.progressed.emit(job.id, event)
            job.cancel.raise_if_cancelled()

        if job.cancel.cancelled:  # cancelled while it waited in the queue
            self.cancelled.emit(job.id)
            return
        try:
            if job.cluster is not None:
                self._run_batch_on_cluster(job, summary)
                summary.seconds = time.monotonic() - began
                self.batch_finished.emit(job.id, summary)
                return
            engine = None
            if job.plan.needs_engine:
                settings = job.plan.options.settings
                engine = self._engine_for(settings.engine, settings, loading)
                self.started.emit(job.id, engine.name)

            def on_progress(report: BatchProgress) -> None:
                self.batch_progressed.emit(job.id, report)

            # A test's fake engine is not a core Engine, but run_batch only calls its inpaint().
            core_engine: Any = engine
            generator = run_batch(job.plan, core_engine, cancel=job.cancel, pause=job.pause, progress=on_progress)
            with contextlib.closing(generator) as results:
                for result in results:
                    summary.add(result)
                    self.batch_file_done.emit(job.id, self._report(result))
        except CancelledError:  # cancelled while the model loaded: no photo was started
            self.cancelled.emit(job.id)
            return
        except MoebiusError as error:
            self.failed.emit(job.id, error.user_message())
            return
        except MemoryError:
            self._engine = None
            self.failed.emit(job.id, "Not enough memory for this batch. Close other programs and try again.")
            return
        except Exception as error:  # a bug: tell the user instead of dying silently in a thread
            traceback.print_exc()
            self.failed.emit(job.id, f"The batch stopped unexpectedly: {error!r}")
            return
        summary.seconds = time.monotonic() - began
        self.batch_finished.emit(job.id, summary)

    def _run_batch_on_cluster(self, job: BatchJob, summary: BatchSummary) -> None:
        """The batch with its photos filled by a Ray cluster's workers (each loads its own engine there)."""
        import contextlib

        from core.batch.cluster_run import run_batch_on_cluster

        assert job.cluster is not None

        def on_progress(report: BatchProgress) -> None:
            self.batch_progressed.emit(job.id, report)

        self.started.emit(job.id, f"{job.plan.options.settings.engine} on a Ray cluster")
        generator = run_batch_on_cluster(
            job.plan, job.cluster, cancel=job.cancel, pause=job.pause, progress=on_progress
        )
        with contextlib.closing(generator) as results:
            for result in results:
                summary.add(result)
                self.batch_file_done.emit(job.id, self._report(result))

    @staticmethod
    def _report(result: FileResult) -> BatchFileReport:
        """A file's result with thumbnails for the review grid (only for files with an output to review)."""
        if result.status not in ("done", "skipped") or result.output is None:
            return BatchFileReport(result)
        return BatchFileReport(result, read_thumbnail(result.photo), read_thumbnail(result.output))

    @Slot(object)
    def describe_device(self, settings: JobSettings | None = None) -> None:
        """Report which device and precision a job would use, and why (imports torch, so it runs here).

        Args:
            settings: the settings panel's settings; ``None`` reads the saved ones (the panel saves every change).
        """
        from core.common.errors import DeviceError

        try:
            from core.cli.doctor import collect, unet_format

            if settings is None:
                from core.job.settings_file import load_settings

                settings = load_settings().settings
            try:
                choice: dict[str, Any] = collect(panel_request(settings.device, settings.precision))["choice"]
            except DeviceError as error:  # an unknown name in MOEBIUS_STUDIO_DEVICE / _PRECISION
                choice = {"error": error.user_message()}
            if "error" in choice:
                text = str(choice["error"])
            else:
                text = f"{choice.get('device')} · {unet_format(choice)} — {choice.get('reason')}"
        except Exception as error:  # the panel shows why instead
            text = f"unknown ({error})"
        self.device_described.emit(text)

    @Slot()
    def release(self) -> None:
        """Last call in the thread: drop the engine and Python's record of the thread."""
        self._engine = None
        forget_foreign_thread()
        # Quitting from here, after the release, rather than from the GUI thread: a quit() that arrives while
        # a slot runs ends the loop before the queued release is delivered, and the thread's record would stay.
        thread = self.thread()
        if thread is not None:
            thread.quit()


class InferenceService(QObject):
    """The GUI side: owns the thread and the worker, queues jobs, cancels them."""

    jobs_changed = Signal()  # a job or batch was queued or ended: the windows update what may start now

    _submit = Signal(object)
    _submit_batch = Signal(object)
    _describe = Signal(object)  # JobSettings or None
    _estimate = Signal(object)  # EstimateAsk
    _release = Signal()

    def __init__(self, engine_factory: EngineFactory | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.inference_thread = QThread()
        self.inference_thread.setObjectName("moebius-inference")
        self.worker = InferenceWorker(engine_factory or load_core_engine)
        self.worker.moveToThread(self.inference_thread)
        self._submit.connect(self.worker.run)
        self._submit_batch.connect(self.worker.run_batch)
        self._describe.connect(self.worker.describe_device)
        self._estimate.connect(self.worker.estimate)
        self._release.connect(self.worker.release)
        self._estimate_ids = itertools.count(1)
        self.pending: dict[int, Job | BatchJob] = {}
        self.worker.finished.connect(self._done)
        self.worker.failed.connect(self._done)
        self.worker.cancelled.connect(self._done)
        self.worker.batch_finished.connect(self._done)
        self.inference_thread.start()

    def submit(self, job: Job) -> Job:
        """Queue a job; its signals carry ``job.id``."""
        self.pending[job.id] = job
        self._submit.emit(job)
        self.jobs_changed.emit()
        return job

    def submit_batch(self, job: BatchJob) -> BatchJob:
        """Queue a batch; it runs after the jobs queued before it, in the same thread and with the same model."""
        self.pending[job.id] = job
        self._submit_batch.emit(job)
        self.jobs_changed.emit()
        return job

    def cancel_all(self) -> None:
        for job in self.pending.values():
            job.cancel.cancel()

    def describe_device(self, settings: JobSettings | None = None) -> None:
        """Ask the worker which device a job would use with ``settings`` (``None``: the saved settings)."""
        self._describe.emit(settings)

    def estimate(self, mask: npt.NDArray[np.uint8], settings: JobSettings, fewer_steps: int | None = None) -> int:
        """Ask the worker how long a run would take (answered by ``worker.estimated`` with the id returned).

        Args:
            mask: a copy of the mask, which the worker reads meanwhile.
            settings: the job's settings, their engine resolved.
            fewer_steps: a smaller number of steps to estimate as well.
        """
        ask = EstimateAsk(next(self._estimate_ids), mask, settings, fewer_steps)
        self.worker.latest_estimate = ask.id  # a plain int: read by the worker thread, written only here
        self._estimate.emit(ask)
        return ask.id

    @property
    def busy(self) -> bool:
        return bool(self.pending)

    @property
    def batch_running(self) -> bool:
        """Whether a batch is queued or running: an editor job would wait behind all of it."""
        return any(isinstance(job, BatchJob) for job in self.pending.values())

    @property
    def editor_running(self) -> bool:
        """Whether an editor inpaint is queued or running: a batch would wait behind it."""
        return any(isinstance(job, Job) for job in self.pending.values())

    def _done(self, job_id: int, *_: object) -> None:
        if self.pending.pop(job_id, None) is not None:
            self.jobs_changed.emit()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel everything and stop the thread; returns whether it ended within ``timeout_ms``."""
        if not self.inference_thread.isRunning():
            return True
        self.cancel_all()
        self._release.emit()  # the release slot quits the thread's loop once it has run
        ended = bool(self.inference_thread.wait(timeout_ms))
        if ended:
            # Their last signals may never be delivered now; nothing runs, so nothing is pending either.
            self.pending.clear()
        return ended
