"""The inference worker: one long-lived thread that owns the loaded engine and runs jobs one after another.

Core stays Qt-free: it reports through a progress callback and stops when its :class:`CancelToken` is set. The
worker turns the callback into Qt signals (delivered to the GUI thread by queued connections) and the GUI
cancels a job by setting the token directly, so a cancel never waits behind the job in the thread's queue.

The engine is loaded on the first job and kept for the next ones; loading the Moebius model takes seconds, a
job with it loaded only the denoising time. Tests inject an ``engine_factory`` that returns a fake engine.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from PySide6.QtCore import QObject, QThread, Signal, Slot

from core.cancel import CancelToken
from core.request import InpaintRequest, InpaintResult, ProgressCallback, ProgressEvent


class EngineLike(Protocol):
    """What the worker needs from an engine (core.engine.Engine, or a test's fake)."""

    name: str

    def inpaint(
        self, request: InpaintRequest, progress: ProgressCallback | None = None, cancel: CancelToken | None = None
    ) -> InpaintResult: ...


EngineFactory = Callable[[str, str, str, ProgressCallback], EngineLike]
"""``(engine name, device, precision, progress) -> engine``; the name is already resolved from ``auto``."""

_job_ids = itertools.count(1)


@dataclass
class Job:
    """One inpaint as the GUI submits it."""

    request: InpaintRequest
    engine: str = "auto"
    device: str = "auto"
    precision: str = "auto"
    cancel: CancelToken = field(default_factory=CancelToken)
    id: int = field(default_factory=lambda: next(_job_ids))


def load_core_engine(name: str, device: str, precision: str, progress: ProgressCallback) -> EngineLike:
    """The real engines of :mod:`core.engine`; imported here so the GUI starts without torch."""
    from core.engine import load_engine

    return load_engine(name, device=device, precision=precision, progress=progress)


def resolve_engine(name: str) -> tuple[str, str | None]:
    """``auto`` → ``moebius`` or ``classic`` (with the reason for the fallback)."""
    from core.engine import resolve_engine_name

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
    finished = Signal(int, object)  # job id, InpaintResult
    failed = Signal(int, str)  # job id, message for the user
    cancelled = Signal(int)  # job id
    device_described = Signal(str)

    def __init__(self, engine_factory: EngineFactory) -> None:
        super().__init__()
        self._factory = engine_factory
        self._engine: EngineLike | None = None
        self._engine_key: tuple[str, str, str] | None = None

    @Slot(object)
    def run(self, job: Job) -> None:
        """Run one job; reports through the signals and never raises."""
        from core.errors import CancelledError, MoebiusError

        if job.cancel.cancelled:
            self.cancelled.emit(job.id)
            return

        def progress(event: ProgressEvent) -> None:
            self.progressed.emit(job.id, event)
            job.cancel.raise_if_cancelled()

        try:
            name, note = resolve_engine(job.engine)
            key = (name, job.device, job.precision)
            if self._engine is None or self._engine_key != key:
                self._engine = None  # let the old model go before loading the next one
                self._engine = self._factory(name, job.device, job.precision, progress)
                self._engine_key = key
            self.started.emit(job.id, self._engine.name)
            began = time.perf_counter()
            result = self._engine.inpaint(job.request, progress, job.cancel)
            result.timings.setdefault("total", time.perf_counter() - began)
            if note:
                result.warnings.insert(0, note)
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

    @Slot()
    def describe_device(self) -> None:
        """Report which device and precision a job would use, and why (imports torch, so it runs here)."""
        try:
            from core.doctor import collect

            choice: dict[str, Any] = collect().get("choice", {})
            if "error" in choice:
                text = str(choice["error"])
            else:
                text = f"{choice.get('device')} · {choice.get('unet_dtype')} — {choice.get('reason')}"
        except Exception as error:  # the panel shows why instead
            text = f"unknown ({error})"
        self.device_described.emit(text)

    @Slot()
    def release(self) -> None:
        """Last call in the thread: drop the engine and Python's record of the thread."""
        self._engine = None
        forget_foreign_thread()


class InferenceService(QObject):
    """The GUI side: owns the thread and the worker, queues jobs, cancels them."""

    _submit = Signal(object)
    _describe = Signal()
    _release = Signal()

    def __init__(self, engine_factory: EngineFactory | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.inference_thread = QThread()
        self.inference_thread.setObjectName("moebius-inference")
        self.worker = InferenceWorker(engine_factory or load_core_engine)
        self.worker.moveToThread(self.inference_thread)
        self._submit.connect(self.worker.run)
        self._describe.connect(self.worker.describe_device)
        self._release.connect(self.worker.release)
        self.pending: dict[int, Job] = {}
        self.worker.finished.connect(self._done)
        self.worker.failed.connect(self._done)
        self.worker.cancelled.connect(self._done)
        self.inference_thread.start()

    def submit(self, job: Job) -> Job:
        """Queue a job; its signals carry ``job.id``."""
        self.pending[job.id] = job
        self._submit.emit(job)
        return job

    def cancel_all(self) -> None:
        for job in self.pending.values():
            job.cancel.cancel()

    def describe_device(self) -> None:
        self._describe.emit()

    @property
    def busy(self) -> bool:
        return bool(self.pending)

    def _done(self, job_id: int, *_: object) -> None:
        self.pending.pop(job_id, None)

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel everything and stop the thread; returns whether it ended within ``timeout_ms``."""
        if not self.inference_thread.isRunning():
            return True
        self.cancel_all()
        self._release.emit()
        self.inference_thread.quit()
        return bool(self.inference_thread.wait(timeout_ms))
