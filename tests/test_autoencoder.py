"""The project's VAE and DDIM scheduler against the reference implementation (diffusers) and the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.common.errors import ConfigError
from core.model.autoencoder import AutoencoderKL
from core.model.ddim import DDIMScheduler
from core.model.upsample import Upsample
from core.model.vae import build_vae

DATA = Path(__file__).resolve().parents[1] / "core" / "model" / "vae_config.json"


def _config(**changes: object) -> dict[str, object]:
    config: dict[str, object] = json.loads(DATA.read_text())
    config.update(changes)
    return config


def _reference_pair(config: dict[str, object]) -> tuple[AutoencoderKL, torch.nn.Module]:
    from diffusers import AutoencoderKL as ReferenceAutoencoderKL

    torch.manual_seed(0)
    reference = ReferenceAutoencoderKL.from_config(config).eval()
    with torch.no_grad():
        for parameter in reference.parameters():  # non-trivial norms and biases
            parameter.add_(torch.randn_like(parameter) * 0.05)
    ours = AutoencoderKL(config).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    return ours, reference


@pytest.mark.parametrize(
    "changes",
    [
        {"block_out_channels": [16, 16, 16, 16], "norm_num_groups": 8, "layers_per_block": 1},
        {"block_out_channels": [32, 64, 64, 64], "norm_num_groups": 8, "layers_per_block": 2},
    ],
    ids=["tiny", "small"],
)
def test_matches_the_reference_autoencoder(changes: dict[str, object]) -> None:
    ours, reference = _reference_pair(_config(**changes))
    image = torch.rand(2, 3, 96, 64) * 2 - 1
    with torch.inference_mode():
        expected, got = reference.encode(image).latent_dist, ours.encode(image).latent_dist
        torch.testing.assert_close(got.mean, expected.mean, atol=1e-5, rtol=0)
        torch.testing.assert_close(got.std, expected.std, atol=1e-5, rtol=0)
        latents = expected.mean
        torch.testing.assert_close(ours.decode(latents).sample, reference.decode(latents).sample, atol=1e-4, rtol=0)


def test_released_layout_matches_the_manifest(shared_dir: Path) -> None:
    """Every key, shape and the parameter count of the released VAE, without allocating it."""
    rows = (shared_dir / "reference" / "vae_state_dict.tsv").read_text().splitlines()[1:]
    manifest = {line.split("\t")[0]: json.loads(line.split("\t")[1]) for line in rows}
    vae = build_vae(json.loads((shared_dir / "reference" / "vae_config.json").read_text()), meta=True)
    state = vae.state_dict()
    assert list(state) == list(manifest)
    assert {key: list(value.shape) for key, value in state.items()} == manifest
    assert sum(value.numel() for value in state.values()) == 83_653_863


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("band_rows", ["whole-map", "one-row-bands"])
def test_upsampling_by_taps_equals_upsample_then_convolve(
    channels_last: bool, with_bias: bool, band_rows: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.model.upsample

    if band_rows == "one-row-bands":
        # The smallest budget: every input row is a band, so every band is cut at both its borders.
        monkeypatch.setattr(core.model.upsample, "BAND_ELEMENTS", 1)
    torch.manual_seed(1)
    block = Upsample(8).eval()
    if not with_bias:
        block.conv.bias = None
    for height, width in ((7, 5), (1, 3), (2, 1)):
        x = torch.randn(2, 8, height, width)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            expected = block.conv(torch.nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"))
            got = block(x)
        assert got.shape == (2, 8, 2 * height, 2 * width)
        assert got.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_unsupported_configs_are_refused() -> None:
    with pytest.raises(ConfigError, match="act_fn"):
        AutoencoderKL(_config(act_fn="gelu"))
    with pytest.raises(ConfigError, match="down_block_types"):
        AutoencoderKL(_config(down_block_types=["AttnDownEncoderBlock2D"] * 4))


@pytest.mark.parametrize("steps", [1, 3, 20, 50])
def test_ddim_is_bit_identical_to_the_reference(steps: int) -> None:
    from diffusers import DDIMScheduler as ReferenceScheduler

    reference = ReferenceScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        clip_sample=False,
        set_alpha_to_one=True,
        steps_offset=0,
        timestep_spacing="leading",
        prediction_type="epsilon",
    )
    ours = DDIMScheduler()
    reference.set_timesteps(steps)
    ours.set_timesteps(steps)
    assert torch.equal(ours.timesteps, reference.timesteps)
    generator = torch.Generator().manual_seed(steps)
    sample = torch.randn(1, 4, 8, 8, generator=generator)
    original, noise = torch.randn(2, 1, 4, 8, 8, generator=generator)
    first = reference.timesteps[:1]
    assert torch.equal(ours.add_noise(original, noise, first), reference.add_noise(original, noise, first))
    x_ours, x_reference = sample.clone(), sample.clone()
    for t in reference.timesteps:
        eps = torch.randn(1, 4, 8, 8, generator=generator)
        step, expected = ours.step(eps, t, x_ours), reference.step(eps, t, x_reference)
        assert torch.equal(step.prev_sample, expected.prev_sample)
        assert torch.equal(step.pred_original_sample, expected.pred_original_sample)
        x_ours, x_reference = step.prev_sample, expected.prev_sample


def test_ddim_needs_a_schedule() -> None:
    scheduler = DDIMScheduler()
    with pytest.raises(RuntimeError, match="set_timesteps"):
        scheduler.step(torch.zeros(1), 10, torch.zeros(1))
    with pytest.raises(ValueError, match="steps"):
        scheduler.set_timesteps(0)
