"""The Moebius engine: loads the model once, then inpaints photos of any size.

Until region planning lands, a photo is fitted into the model's square frame without distortion (scaled so its
longer side fits, padded with reflected content), inpainted, cropped back, resized to the photo's size and
blended into the original through a feathered mask that is zero outside the painted area, so every unmasked
pixel stays bit-identical.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np

from core.cancel import CancelToken
from core.loading import DeviceInfo
from core.pipeline import MoebiusPipeline
from core.request import InpaintRequest, InpaintResult, ProgressCallback, ProgressEvent
from core.weights import ModelFiles, require_model


class MoebiusEngine:
    """Engine backed by a loaded :class:`~core.pipeline.MoebiusPipeline`.

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
        variant: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> MoebiusEngine:
        """Find the weights, pick a device and load everything once."""
        from core.loading import load_pipeline

        files = require_model(model_dir, variant)
        pipeline, info = load_pipeline(files, device=device, progress=progress)
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
        from core.composite import auto_feather, composite, fit_to_frame, unfit_from_frame
        from core.mask import check_mask

        settings = request.settings
        check_mask(request.mask, request.image.shape)
        seed = settings.seed if settings.seed is not None else random.randrange(2**31)
        timings: dict[str, float] = {}
        # 1. Fit the photo into the model's frame.
        start = time.perf_counter()
        frame_image, frame_mask, fit = fit_to_frame(request.image, request.mask, self.frame_size)
        timings["prepare"] = time.perf_counter() - start
        # 2. Run the model (raw decoded frame; blending happens at the photo's own resolution).
        start = time.perf_counter()
        frame_result = self.pipeline(
            frame_image,
            frame_mask,
            steps=settings.steps,
            guidance=settings.guidance,
            seed=seed,
            strength=settings.strength,
            noise_offset=settings.noise_offset,
            paste=False,
            progress=progress,
            cancel=cancel,
        )
        timings["model"] = time.perf_counter() - start
        timings.update({f"model.{k}": v for k, v in self.pipeline.timings.as_dict().items()})
        # 3. Back to the photo's size, blended only inside the mask.
        if cancel is not None:
            cancel.raise_if_cancelled()
        start = time.perf_counter()
        fill = unfit_from_frame(frame_result, fit)
        feather = auto_feather(request.mask.shape, self.frame_size)
        result = composite(request.image, fill, request.mask, feather_px=feather)
        timings["composite"] = time.perf_counter() - start
        if progress is not None:
            progress(ProgressEvent("composite", 1, 1))
        assert result.shape == request.image.shape and result.dtype == np.uint8
        return InpaintResult(image=result, seed=seed, engine=self.name, timings=timings)
