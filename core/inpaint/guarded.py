"""A Moebius pipeline that survives running out of memory.

While running, :class:`GuardedPipeline` retries a job that runs out of memory, first with the guidance batch
split in two, then on the CPU, and records a note each time (``pipeline.notes``) so the user is told.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from core.common.errors import OutOfMemoryError
from core.inpaint.device import DeviceInfo, choose_for, cpu_request
from core.inpaint.pipeline import MoebiusPipeline

log = logging.getLogger(__name__)


class GuardedPipeline(MoebiusPipeline):
    """A :class:`~core.inpaint.pipeline.MoebiusPipeline` that survives running out of memory.

    On an out-of-memory error the job is retried with the guidance batch split in two (the same result in two
    half-size calls), and if that fails too, on the CPU. Every such step appends a sentence to :attr:`notes`
    (see :meth:`take_notes`), and :attr:`info` always describes where the pipeline runs now.

    Args:
        model, vae, scheduler: as for :class:`~core.inpaint.pipeline.MoebiusPipeline`.
        info: where it runs.
        cpu_fallback: returns the CPU choice used after a second out-of-memory error (default: float32).
        kwargs: further :class:`~core.inpaint.pipeline.MoebiusPipeline` keyword arguments (``device``, ``dtype``,
            ``vae_dtype``, ``split_guidance``).
    """

    def __init__(
        self,
        model: Any,
        vae: Any,
        scheduler: Any = None,
        *,
        info: DeviceInfo,
        cpu_fallback: Callable[[], DeviceInfo] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, vae, scheduler, **kwargs)
        self.info = info
        self.notes: list[str] = list(info.notes)
        self.cpu_fallback = cpu_fallback

    def __call__(
        self, image: npt.NDArray[np.uint8], mask: npt.NDArray[np.uint8], **options: Any
    ) -> npt.NDArray[np.uint8]:
        """Inpaint one frame like :meth:`MoebiusPipeline.__call__`, retrying on out-of-memory errors."""
        from backends.memory import is_out_of_memory

        while True:
            try:
                return super().__call__(image, mask, **options)
            except Exception as error:
                if not is_out_of_memory(error):
                    raise
                self.step_down(error)

    def step_down(self, error: BaseException) -> None:
        """Make the next try need less memory, or raise :class:`OutOfMemoryError` when nothing is left.

        Args:
            error: the out-of-memory error that ended the last try.
        """
        from backends.memory import release_cached_memory

        release_cached_memory(self.info.device)
        if not self.split_guidance:
            self.split_guidance = True
            self._note(
                f"{self.info.backend} ran out of memory; retrying with the guidance batch split in two "
                "(slower, same result)."
            )
            return
        if self.info.device not in ("cpu", "coreml"):
            backend = self.info.backend
            self.move_to_cpu()
            self._note(f"{backend} ran out of memory again; running on the CPU instead ({self.info.reason}).")
            return
        raise OutOfMemoryError(
            f"There is not enough memory to run the model ({error}).",
            hint="Close other programs, or use a computer with more memory.",
        ) from error

    def move_to_cpu(self) -> None:
        """Move the UNet and the VAE to the CPU, in the CPU's number formats."""
        from backends.memory import release_cached_memory

        previous = self.info
        cpu = self.cpu_fallback() if self.cpu_fallback is not None else choose_for(cpu_request("exact"))
        self.model.to(device="cpu", dtype=getattr(torch, cpu.dtype))
        if cpu.int8_products:
            from core.model.quantized import prepare_int8

            # int8 was asked for and the GPU ran float16 instead: on the CPU it means the int8 products.
            prepare_int8(self.model)
        nn.Module.to(self.vae, device="cpu", dtype=getattr(torch, cpu.vae_dtype))
        self.device = torch.device("cpu")
        self.dtype = getattr(torch, cpu.dtype)
        self.vae_dtype = getattr(torch, cpu.vae_dtype)
        self.info = replace(cpu, notes=previous.notes)
        release_cached_memory(previous.device)

    def _note(self, text: str) -> None:
        log.warning("%s", text)
        self.notes.append(text)

    def take_notes(self) -> list[str]:
        """The notes gathered so far (for a job's warnings); the list is emptied."""
        taken = list(self.notes)
        self.notes.clear()
        return taken
