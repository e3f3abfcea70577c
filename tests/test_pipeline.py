"""The denoising loop against the reference vectors, and the whole pipeline on a tiny random model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tiny_model import GOLDEN, load_tiny_pipeline, random_frame

from core.common.cancel import CancelToken
from core.common.errors import CancelledError, UnsupportedSizeError
from core.common.progress import ProgressEvent
from core.inpaint.pipeline import DenoiseTrace, MoebiusPipeline, paste_back
from core.model.unet import load_moebius
from core.model.vae import build_vae

pytestmark = pytest.mark.usefixtures("golden_dir")  # fails (never skips) without ../shared


def _load(name: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(GOLDEN / f"{name}.safetensors"))


@pytest.fixture(scope="module")
def golden_pipeline(golden_dir: Path) -> MoebiusPipeline:
    from tiny_model import tiny_vae_config

    model = load_moebius(
        GOLDEN / "weights.safetensors", config=json.loads((GOLDEN / "config.json").read_text())
    )
    return MoebiusPipeline(model, build_vae(tiny_vae_config()))


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory: pytest.TempPathFactory) -> MoebiusPipeline:
    pipeline: MoebiusPipeline = load_tiny_pipeline(tmp_path_factory.mktemp("models"))
    return pipeline


def test_schedule_matches_reference(golden_pipeline: MoebiusPipeline) -> None:
    assert golden_pipeline.timesteps(4, 0.99).tolist() == [500, 250, 0]
    assert golden_pipeline.timesteps(20, 0.99).tolist() == list(range(900, -1, -50))


def test_golden_denoising_loop(golden_pipeline: MoebiusPipeline) -> None:
    inputs, expected = _load("pipeline_inputs"), _load("pipeline_expected")
    config = json.loads((GOLDEN / "pipeline_config.json").read_text())
    # The noise is drawn exactly as the reference draws it from the seed.
    generator = torch.Generator().manual_seed(config["torch_seed"])
    noise = MoebiusPipeline.draw_noise(inputs["latents"].shape, generator, config["noise_offset"])
    torch.testing.assert_close(noise, inputs["total_noise"], atol=0, rtol=0)
    mask = F.interpolate(inputs["mask_image_size"], size=inputs["latents"].shape[-2:]).float()
    torch.testing.assert_close(mask, expected["resized_mask_latent"], atol=0, rtol=0)
    trace = DenoiseTrace()
    with torch.inference_mode():
        final = golden_pipeline.denoise(
            inputs["latents"],
            inputs["masked_latents"],
            mask,
            noise,
            steps=config["num_steps"],
            strength=config["strength"],
            guidance=config["guidance_scale"],
            trace=trace,
        )
    assert len(trace.latents) == 3
    for i in range(3):
        torch.testing.assert_close(trace.unet_inputs[i], expected[f"step{i}_unet_input"], atol=1e-4, rtol=0)
        torch.testing.assert_close(trace.unet_outputs[i], expected[f"step{i}_unet_output"], atol=1e-4, rtol=0)
        torch.testing.assert_close(trace.guided[i], expected[f"step{i}_noise_pred_cfg"], atol=1e-4, rtol=0)
        torch.testing.assert_close(trace.latents[i], expected[f"step{i}_latents_out"], atol=1e-4, rtol=0)
    torch.testing.assert_close(final / 0.13025, expected["final_latents_div_scaling"], atol=1e-4, rtol=0)


def _sample(size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    image, mask = random_frame(size)
    return image, mask


def test_pipeline_is_seeded_and_reports_progress(tiny_pipeline: MoebiusPipeline) -> None:
    image, mask = _sample()
    events: list[ProgressEvent] = []
    a = tiny_pipeline(image, mask, steps=4, seed=7, progress=events.append)
    b = tiny_pipeline(image, mask, steps=4, seed=7)
    c = tiny_pipeline(image, mask, steps=4, seed=8)
    assert a.shape == (512, 512, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    denoise = [e for e in events if e.stage == "denoise"]
    assert [e.step for e in denoise] == [0, 1, 2, 3] and all(e.total == 3 for e in denoise)
    assert events[-1].stage == "decode"
    # The reference paste leaves pixels far from the mask (beyond the blur) untouched.
    far = np.ones_like(mask, bool)
    far[190:310, 140:360] = False
    assert np.array_equal(a[far], image[far])


def test_paste_back_blends_only_near_the_mask() -> None:
    image, mask = _sample(64)
    result = np.full_like(image, 255)
    out = paste_back(result, image, mask)
    assert (out[210:290, 160:340] >= 254).all()


def test_cancel_stops_within_a_step(tiny_pipeline: MoebiusPipeline) -> None:
    image, mask = _sample()
    token = CancelToken()
    steps_seen: list[int] = []

    def progress(event: ProgressEvent) -> None:
        if event.stage == "denoise" and event.step > 0:
            steps_seen.append(event.step)
            token.cancel()

    with pytest.raises(CancelledError):
        tiny_pipeline(image, mask, steps=20, progress=progress, cancel=token)
    assert steps_seen == [1]


def test_frame_size_is_enforced(tiny_pipeline: MoebiusPipeline) -> None:
    image, mask = _sample(256)
    with pytest.raises(UnsupportedSizeError, match="512"):
        tiny_pipeline(image, mask)


def test_guidance_one_runs_only_the_condition(tiny_pipeline: MoebiusPipeline, tmp_path: Path) -> None:
    image, mask = _sample()
    calls: list[int] = []
    handle = tiny_pipeline.model.register_forward_pre_hook(lambda _m, args: calls.append(args[0].shape[0]))
    try:
        tiny_pipeline(image, mask, steps=2, guidance=1.0)
    finally:
        handle.remove()
    assert calls == [1]
