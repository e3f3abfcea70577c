"""Winograd's F(4×4, 3×3) convolutions (core.model.winograd) against F.conv2d, and the VAE that uses them."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from core.model import winograd
from core.model.autoencoder import AutoencoderKL
from core.model.winograd import (
    Conv3x3,
    FilterCache,
    direct_convolutions,
    winograd_active,
    winograd_applies,
    winograd_call_count,
    winograd_conv3x3,
    winograd_pays_off,
)

CONFIG = Path(__file__).resolve().parents[1] / "core" / "model" / "vae_config.json"
# Largest deviation seen on these shapes: 1.2e-5 of the output's largest value (the project allows 1e-4).
TOLERANCE = 1e-4


def _relative(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got - expected).abs().max() / expected.abs().max())


@pytest.mark.parametrize(
    ("batch", "in_channels", "out_channels", "height", "width", "bias"),
    [
        (1, 3, 5, 1, 1, True),  # a single pixel: one tile, all but one input pixel padding
        (2, 4, 6, 2, 2, False),
        (1, 8, 16, 5, 7, True),  # neither side a multiple of the tile
        (3, 16, 8, 13, 9, True),  # batch > 1, C_in > C_out
        (1, 32, 32, 17, 33, False),
        (2, 128, 64, 31, 30, True),  # the widths of the VAE's layers
        (1, 64, 128, 12, 16, True),
    ],
)
@pytest.mark.parametrize("channels_last", [True, False], ids=["channels_last", "contiguous"])
def test_equals_direct_convolution(
    batch: int, in_channels: int, out_channels: int, height: int, width: int, bias: bool, channels_last: bool
) -> None:
    generator = torch.Generator().manual_seed(height * 100 + width)
    x = torch.randn(batch, in_channels, height, width, generator=generator)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.randn(out_channels, in_channels, 3, 3, generator=generator)
    b = torch.randn(out_channels, generator=generator) if bias else None
    got = winograd_conv3x3(x, weight, b)
    expected = F.conv2d(x, weight, b, padding=1)
    assert got.shape == expected.shape
    assert _relative(got, expected) < TOLERANCE


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("size", [(16, 16), (13, 10)], ids=["whole-tiles", "partial-tiles"])
def test_residual_added_as_the_output_is_written(bias: bool, size: tuple[int, int]) -> None:
    generator = torch.Generator().manual_seed(11)
    x = torch.randn(2, 8, *size, generator=generator).contiguous(memory_format=torch.channels_last)
    residual = torch.randn(2, 8, *size, generator=generator).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(8, 8, 3, 3, generator=generator)
    b = torch.randn(8, generator=generator) if bias else None
    expected = F.conv2d(x, weight, b, padding=1) + residual
    assert _relative(winograd_conv3x3(x, weight, b, residual=residual), expected) < TOLERANCE


@pytest.fixture
def torch_threads() -> Iterator[Callable[[int], None]]:
    """Set torch's thread count for one test (put back afterwards)."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 3], ids=["one-thread", "bands-in-threads"])
def test_bands_of_tile_rows_join_seamlessly(
    threads: int, monkeypatch: pytest.MonkeyPatch, torch_threads: Callable[[int], None]
) -> None:
    """Bands of one tile row each, with a partial last band and a second image reusing the buffers, computed
    in this thread or shared out to worker threads (inference mode carried over to them)."""
    torch_threads(threads)
    monkeypatch.setattr(winograd, "BAND_ELEMENTS", 1)
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(2, 16, 23, 18, generator=generator).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(8, 16, 3, 3, generator=generator)
    bias = torch.randn(8, generator=generator)
    expected = F.conv2d(x, weight, bias, padding=1)
    assert _relative(winograd_conv3x3(x, weight, bias), expected) < TOLERANCE
    with torch.inference_mode():
        assert _relative(winograd_conv3x3(x, weight, bias), expected) < TOLERANCE
    assert torch.get_num_threads() == threads  # the workers' one-thread setting did not leak


def test_an_error_in_a_worker_thread_reaches_the_caller(torch_threads: Callable[[int], None]) -> None:
    torch_threads(2)
    x = torch.randn(1, 8, 64, 64)
    with pytest.raises(RuntimeError):
        winograd_conv3x3(x, torch.randn(8, 8, 3, 3), torch.randn(9))  # a bias of the wrong size


def test_direct_convolutions_switches_every_thread_and_nests() -> None:
    seen: list[bool] = []
    assert winograd_active()
    with direct_convolutions():
        other = threading.Thread(target=lambda: seen.append(winograd_active()))
        other.start()
        other.join()
        with direct_convolutions():
            assert not winograd_active()
        assert not winograd_active()
    assert seen == [False]
    assert winograd_active()


def test_conv3x3_takes_the_path_the_rule_and_switch_choose() -> None:
    generator = torch.Generator().manual_seed(5)
    wide, narrow = Conv3x3(128, 128).eval(), Conv3x3(16, 16).eval()
    x_wide = torch.randn(1, 128, 32, 32, generator=generator)
    x_narrow = torch.randn(1, 16, 32, 32, generator=generator)
    assert winograd_pays_off(128, 128, 32, 32) and not winograd_pays_off(16, 16, 32, 32)
    with torch.inference_mode():
        before = winograd_call_count()
        wide_out = wide(x_wide)
        assert winograd_call_count() == before + 1
        narrow(x_narrow)
        assert winograd_call_count() == before + 1
        with direct_convolutions():
            direct_out = wide(x_wide)
        assert winograd_call_count() == before + 1
    # The two paths really differ in their rounding (same values to 1e-5): the switch changed the path.
    assert not torch.equal(wide_out, direct_out)
    assert _relative(wide_out, direct_out) < TOLERANCE


def test_direct_where_winograd_does_not_apply() -> None:
    conv = Conv3x3(128, 128)
    assert conv.bias is not None
    x = torch.randn(1, 128, 32, 32)
    assert not winograd_applies(x, conv.weight, conv.bias)  # autograd on: the gradient needs conv2d
    with torch.no_grad():
        assert winograd_applies(x, conv.weight, conv.bias)
        assert not winograd_applies(x.double(), conv.weight.double(), conv.bias.double())
        assert not winograd_applies(x, conv.weight[:, :, :2, :2], conv.bias)
    before = winograd_call_count()
    out = conv(x)
    out.sum().backward()  # the direct path is differentiable
    assert conv.weight.grad is not None
    assert winograd_call_count() == before


def test_replaced_or_changed_weights_give_the_new_result() -> None:
    generator = torch.Generator().manual_seed(7)
    conv = Conv3x3(128, 128).eval()
    x = torch.randn(1, 128, 32, 32, generator=generator)
    before = winograd_call_count()
    with torch.inference_mode():
        conv(x)  # transforms and keeps the kernel
    assert winograd_call_count() == before + 1
    # 1. Changed in place, as load_state_dict does.
    state = {"weight": torch.randn(128, 128, 3, 3, generator=generator), "bias": torch.randn(128, generator=generator)}
    conv.load_state_dict(state)
    with torch.inference_mode():
        assert _relative(conv(x), F.conv2d(x, state["weight"], state["bias"], padding=1)) < TOLERANCE
    # 2. Replaced by other tensors, as load_state_dict(assign=True) does.
    state = {"weight": torch.randn(128, 128, 3, 3, generator=generator), "bias": torch.randn(128, generator=generator)}
    conv.load_state_dict(state, assign=True)
    with torch.inference_mode():
        assert _relative(conv(x), F.conv2d(x, state["weight"], state["bias"], padding=1)) < TOLERANCE


def test_filter_cache_keeps_small_kernels_and_recomputes_large_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    weight = torch.randn(128, 128, 3, 3)
    cache = FilterCache()
    assert cache.get(weight) is cache.get(weight)
    with torch.no_grad():
        weight.mul_(2)  # a new version: a new transform
    first = cache.get(weight)
    torch.testing.assert_close(first, winograd.transform_filter(weight))
    monkeypatch.setattr(winograd, "CACHE_LIMIT_BYTES", 1024)
    large = FilterCache()
    large.get(weight)
    assert large._filter is None


def _vae(channels: int) -> AutoencoderKL:
    config = json.loads(CONFIG.read_text())
    config.update(block_out_channels=[channels] * 4, layers_per_block=1)
    torch.manual_seed(0)
    vae = AutoencoderKL(config).eval()
    with torch.no_grad():
        for parameter in vae.parameters():  # non-trivial norms and biases
            parameter.add_(torch.randn_like(parameter) * 0.05)
    return vae


def _expected_winograd_layers(vae: AutoencoderKL, call: Callable[[], torch.Tensor]) -> int:
    """How many of the call's 3×3 convolutions the rule sends to Winograd, counted from their input shapes."""
    chosen: list[bool] = []

    def record(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        assert isinstance(module, Conv3x3)
        chosen.append(winograd_pays_off(module.in_channels, module.out_channels, *inputs[0].shape[-2:]))

    hooks = [m.register_forward_pre_hook(record) for m in vae.modules() if isinstance(m, Conv3x3)]
    with direct_convolutions():
        call()
    for hook in hooks:
        hook.remove()
    return sum(chosen)


def test_vae_with_winograd_equals_direct_and_uses_it_where_the_rule_says() -> None:
    vae = _vae(128)
    image = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.inference_mode():

        def encode() -> torch.Tensor:
            return vae.encode(image).latent_dist.mean

        expected_layers = _expected_winograd_layers(vae, encode)
        assert expected_layers == 4  # conv_in (3 channels), conv_out (8) and the levels under 32×32 stay direct
        before = winograd_call_count()
        mean = encode()
        assert winograd_call_count() - before == expected_layers
        with direct_convolutions():
            direct_mean = encode()
        assert _relative(mean, direct_mean) < TOLERANCE

        latents = direct_mean

        def decode() -> torch.Tensor:
            return vae.decode(latents).sample

        expected_layers = _expected_winograd_layers(vae, decode)
        assert expected_layers == 8  # the 32×32 and 64×64 levels' resnets
        before = winograd_call_count()
        sample = decode()
        assert winograd_call_count() - before == expected_layers
        with direct_convolutions():
            direct_sample = decode()
        assert _relative(sample, direct_sample) < TOLERANCE


def test_vae_decoder_upsamples_by_winograd_where_the_rule_says_and_never_when_switched_off() -> None:
    from core.model.upsample_winograd import upsample_winograd_call_count

    vae = _vae(128)
    latents = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        before = upsample_winograd_call_count()
        sample = vae.decode(latents).sample
        assert upsample_winograd_call_count() - before == 1  # inputs 16², 32², 64²: only the last is large enough
        with direct_convolutions():
            direct_sample = vae.decode(latents).sample
        assert upsample_winograd_call_count() - before == 1
    assert sample.shape == (1, 3, 128, 128)
    assert _relative(sample, direct_sample) < TOLERANCE


def test_state_dict_keys_are_unchanged() -> None:
    vae = _vae(32)
    conv = vae.get_submodule("encoder.down_blocks.0.resnets.0.conv1")
    assert isinstance(conv, Conv3x3) and isinstance(conv, torch.nn.Conv2d)
    keys = set(vae.state_dict())
    assert "encoder.down_blocks.0.resnets.0.conv1.weight" in keys
    assert not any("winograd" in key for key in keys)


def test_benchmark_quick_section(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.bench import winograd as bench

    monkeypatch.setattr(bench, "QUICK_FRAME", 64)
    report = bench.run(quick=True)
    frame = report["frames"]["64"]
    for stage in ("encode", "decode"):
        assert frame[stage]["relative_deviation"] < TOLERANCE
        assert frame[stage]["winograd_seconds"] > 0 and frame[stage]["direct_seconds"] > 0
    rules = {(s["in"], s["out"], s["height"]): s["rule"] for s in frame["shapes"]}
    assert rules[(128, 128, 64)] and not rules[(3, 128, 64)]
    lines = bench.describe(report)
    assert any("encode" in line and "ratio" in line for line in lines)
