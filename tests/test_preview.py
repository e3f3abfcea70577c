"""Live previews: the fitted latent → RGB map, the pipeline's preview events, their place in the photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tiny_model import load_tiny_pipeline, random_frame

from core.common.progress import ProgressEvent
from core.inpaint.device import DeviceInfo
from core.inpaint.moebius import MoebiusEngine, _placing_previews
from core.inpaint.pipeline import MoebiusPipeline
from core.inpaint.plan import Rect
from core.inpaint.preview import LatentPreview
from core.job.request import InpaintRequest
from core.job.settings import JobSettings


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> MoebiusPipeline:
    pipeline: MoebiusPipeline = load_tiny_pipeline(tmp_path_factory.mktemp("models"))
    return pipeline


def _smooth_frame(size: int = 64) -> torch.Tensor:
    """A smooth colour picture in [-1, 1], (1, 3, size, size), constant over each 8×8 cell."""
    rng = np.random.default_rng(3)
    coarse = torch.from_numpy(rng.uniform(-0.8, 0.8, (1, 3, size // 8, size // 8)).astype(np.float32))
    return F.interpolate(coarse, scale_factor=8, mode="nearest")


def test_fitted_map_recovers_a_linear_latent_code() -> None:
    # A VAE whose latent is an exact linear code of the colours: the fitted map must undo it.
    pixels = _smooth_frame()
    code = torch.tensor([[0.9, -0.2, 0.1], [0.3, 1.1, -0.4], [-0.5, 0.2, 0.8], [0.05, 0.3, 0.2]])
    cells = F.avg_pool2d(pixels, 8)[0].reshape(3, -1)
    latents = (code @ cells + 0.25).reshape(1, 4, 8, 8)
    frame = np.zeros((64, 64, 3), np.uint8)
    fill = np.zeros((64, 64), bool)
    fill[16:48, 8:40] = True
    preview = LatentPreview(latents, pixels, frame, fill)
    # Predicting the same picture: inside the mask the preview is the picture at 1/8 resolution, enlarged.
    shown = preview(latents)
    assert shown.shape == frame.shape and shown.dtype == np.uint8
    enlarged = F.interpolate(F.avg_pool2d(pixels, 8), scale_factor=8, mode="bilinear", align_corners=False)
    expected = ((enlarged[0].permute(1, 2, 0).numpy() + 1) * 127.5).round()
    assert np.abs(shown[fill].astype(float) - expected[fill]).max() <= 2
    # Outside the mask the frame given (here black) is kept.
    assert not shown[~fill].any()


def test_previews_are_throttled() -> None:
    pixels = _smooth_frame()
    latents = torch.randn(1, 4, 8, 8)
    frame = np.zeros((64, 64, 3), np.uint8)
    preview = LatentPreview(latents, pixels, frame, np.ones((64, 64), bool), interval=3600.0)
    assert preview.due()
    preview(latents)
    assert not preview.due()


def _sample(size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    image, mask = random_frame(size)
    return image, mask


def test_pipeline_reports_previews_without_changing_the_result(tiny_pipeline: MoebiusPipeline) -> None:
    image, mask = _sample()
    events: list[ProgressEvent] = []
    with_previews = tiny_pipeline(image, mask, steps=6, seed=3, progress=events.append)
    without = tiny_pipeline(image, mask, steps=6, seed=3)
    assert np.array_equal(with_previews, without)
    shown = [e for e in events if e.preview is not None]
    assert shown, "no preview arrived"
    assert all(e.stage == "denoise" and 0 < e.step < e.total for e in shown)
    first = shown[0].preview
    assert first is not None and first.shape == image.shape and first.dtype == np.uint8
    keep = mask < 128
    assert np.array_equal(first[keep], image[keep])
    assert not np.array_equal(first[~keep], image[~keep])


def test_preview_is_cut_to_the_window_and_placed_in_the_photo() -> None:
    seen: list[ProgressEvent] = []
    rect = Rect(100, 40, 400, 240)  # 300 × 200 photo pixels → 512 × 341 content in a 512 frame
    report = _placing_previews(seen.append, rect, 512)
    assert report is not None
    frame = np.zeros((512, 512, 3), np.uint8)
    frame[85:426] = 7  # the content rows; the padding stays 0
    report(ProgressEvent("denoise", 1, 4, preview=frame))
    report(ProgressEvent("denoise", 2, 4))
    placed, plain = seen
    assert placed.region == (100, 40, 300, 200)
    assert placed.preview is not None and placed.preview.shape == (341, 512, 3)
    assert (placed.preview == 7).all()
    assert plain.region is None and plain.preview is None
    assert _placing_previews(None, rect, 512) is None


def test_engine_previews_land_inside_the_photo(tiny_pipeline: MoebiusPipeline, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (600, 900, 3), dtype=np.uint8)
    mask = np.zeros((600, 900), np.uint8)
    mask[250:330, 400:520] = 255
    engine = MoebiusEngine(tiny_pipeline, None, DeviceInfo("cpu", "float32", "test"))
    events: list[ProgressEvent] = []
    settings = JobSettings(steps=5, seed=1)
    engine.inpaint(InpaintRequest(image=photo, mask=mask, settings=settings), progress=events.append)
    placed = [e for e in events if e.preview is not None]
    assert placed
    for event in placed:
        assert event.region is not None and event.preview is not None
        left, top, width, height = event.region
        assert left >= 0 and top >= 0 and left + width <= 900 and top + height <= 600
        # The region holds the whole mask box, and the preview has the region's proportions.
        assert left <= 400 and top <= 250 and left + width >= 520 and top + height >= 330
        h, w = event.preview.shape[:2]
        assert abs(h / w - height / width) < 0.01
