"""The Moebius engine: loads the model once, then inpaints photos of any size.

The mask is split into windows by :func:`core.inpaint.plan.plan_regions` (context windows at native resolution where
possible, a reduced-scale pass plus native tiles for large masks), and :func:`core.inpaint.regions.run_plan` runs each
window through the model's square frame, matches colour (and optionally grain) and blends the fill in through
a feathered mask that is zero outside the painted area, so every unmasked pixel stays bit-identical.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.common.cancel import CancelToken
from core.common.progress import ProgressCallback, ProgressEvent
from core.inpaint.composite import frame_fit
from core.inpaint.device import DeviceInfo
from core.inpaint.pipeline import MoebiusPipeline
from core.inpaint.plan import Rect
from core.inpaint.result import InpaintResult
from core.job.request import InpaintRequest
from core.weights.registry import ModelFiles, require_model
from core.weights.store import prepare_model


class MoebiusEngine:
    """Engine backed by a loaded :class:`~core.inpaint.pipeline.MoebiusPipeline`.

    Args:
        pipeline: the loaded pipeline (model, VAE, scheduler on one device).
        files: where the weights came from.
        device: the device choice and its reason.
    """

    name = "moebius"

    def __init__(self, pipeline: MoebiusPipeline, files: ModelFiles | None, device: DeviceInfo) -> None:
        self.pipeline = pipeline
        self.files = files
        self.device = device

    @classmethod
    def from_model_dir(
        cls,
        model_dir: str | Path | None = None,
        *,
        device: str = "auto",
        precision: str | None = None,
        source: str = "",
        variant: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> MoebiusEngine:
        """Find the weights, pick the device and load everything once.

        Args:
            model_dir: folder with Moebius weights; ``None`` looks in the app's models folder.
            device: the device the front end resolved (``"auto"`` chooses automatically).
            precision: the precision it resolved (``None`` / ``"auto"``: the device's policy).
            source: where non-``auto`` values came from (for messages).
            variant: the released weights to prefer; ``None`` the default variant.
            progress: receives ``stage="load"`` events.
        """
        from core.inpaint.loading import load_pipeline

        # Verified once per file (re-checked only when it changed); a released .bin is converted once to safetensors.
        files = prepare_model(require_model(model_dir, variant), progress=progress)
        pipeline, info = load_pipeline(files, device=device, precision=precision, source=source, progress=progress)
        return cls(pipeline, files, info)

    @property
    def frame_size(self) -> int:
        return self.pipeline.frame_size

    def inpaint(
        self,
        request: InpaintRequest,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> InpaintResult:
        """Fill the request's mask; a photo in another colour space than sRGB is filled in sRGB and converted
        back (:func:`core.inpaint.colour_managed.inpaint_in_srgb`)."""
        from core.inpaint.colour_managed import inpaint_in_srgb

        return inpaint_in_srgb(self._inpaint_srgb, request, progress, cancel)

    def _inpaint_srgb(
        self,
        request: InpaintRequest,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> InpaintResult:
        """Fill the request's mask, whose pixels are sRGB."""
        from core.inpaint.plan import plan_regions
        from core.inpaint.regions import BlendOptions, run_plan
        from core.inpaint.schedule import window_strength
        from core.photo.mask import check_mask

        settings = request.settings
        check_mask(request.mask, request.image.shape)
        seed = settings.seed if settings.seed is not None else random.randrange(2**31)
        # 1. Plan the windows.
        start = time.perf_counter()
        plan = plan_regions(request.mask, frame=self.frame_size, context_margin=settings.context_margin)
        timings: dict[str, float] = {"plan": time.perf_counter() - start}
        model_parts: dict[str, float] = {}

        # 2. One seed policy: window i uses the request's seed + i. Tiles refine at their own strength, raised
        #    where needed so that at least one denoising step runs (core.inpaint.schedule). A frame the pipeline
        #    encoded recently (the same photo and mask with another seed) reuses its VAE posteriors.
        def inpaint_frame(
            frame_image: npt.NDArray[np.uint8], frame_mask: npt.NDArray[np.uint8], index: int
        ) -> npt.NDArray[np.uint8]:
            window = plan.windows[index]
            frame_progress = _placing_previews(progress, window.rect, plan.frame)
            frame_result = self.pipeline(
                frame_image,
                frame_mask,
                steps=settings.steps,
                guidance=settings.guidance,
                seed=(seed + index) % 2**64,
                strength=window_strength(settings, window.kind),
                noise_offset=settings.noise_offset,
                paste=False,
                progress=frame_progress,
                cancel=cancel,
            )
            for key, value in self.pipeline.timings.as_dict().items():
                model_parts[key] = model_parts.get(key, 0.0) + value
            return frame_result

        # 3. Run every window; the runner checks the cancel token between windows.
        options = BlendOptions(
            colour_match=settings.colour_match,
            colour_match_strength=settings.colour_match_strength,
            grain_match=settings.grain_match,
            seed=seed,
        )
        run = run_plan(
            request.image, request.mask, plan, inpaint_frame, options=options, progress=progress, cancel=cancel
        )
        timings.update(run.timings)
        timings.update({f"model.{k}": v for k, v in model_parts.items()})
        if progress is not None:
            progress(ProgressEvent("composite", 1, 1))
        assert run.image.shape == request.image.shape and run.image.dtype == np.uint8
        # 4. Tell the user what the memory check and guard changed (a split guidance batch, a move to the CPU);
        #    a guarded pipeline hands each note out once.
        take_notes = getattr(self.pipeline, "take_notes", None)
        warnings: list[str] = take_notes() if take_notes is not None else []
        return InpaintResult(
            image=run.image, seed=seed, engine=self.name, timings=timings, plan=plan, warnings=warnings
        )


def _placing_previews(progress: ProgressCallback | None, rect: Rect, frame: int | None) -> ProgressCallback | None:
    """Wrap ``progress`` so that a frame's preview arrives cut to the window's content, with its place in
    the photo (``region``); events without a preview pass through unchanged."""
    if progress is None:
        return None
    # The frame holds the window scaled to fit, padded to a square: only the content part is the photo.
    left, top, right, bottom = frame_fit((rect.height, rect.width), frame).content if frame else (0, 0, 0, 0)

    def report(event: ProgressEvent) -> None:
        if event.preview is not None:
            shown = event.preview[top:bottom, left:right] if frame else event.preview
            event = replace(event, preview=shown, region=(rect.left, rect.top, rect.width, rect.height))
        progress(event)

    return report
