"""Upsampling convolutions by F(4×4, 2×2) per output phase (core.model.upsample_winograd) against the literal
nearest-neighbour upsampling followed by a 3×3 convolution."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
import torch.nn.functional as F

from core.model import upsample_winograd
from core.model.upsample import Upsample
from core.model.upsample_winograd import (
    WinogradUpsample,
    upsample_winograd_call_count,
    upsample_winograd_pays_off,
    winograd_upsample_conv3x3,
)
from core.model.winograd import direct_convolutions

# Largest deviation seen on these shapes: 6e-6 of the output's largest value (the project allows 1e-4).
TOLERANCE = 1e-4


def _relative(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got.detach().double() - expected.detach().double()).abs().max() / expected.detach().abs().max())


def _literal(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """The definition, in float64."""
    upsampled = F.interpolate(x.double(), scale_factor=2, mode="nearest")
    return F.conv2d(upsampled, weight.double(), None if bias is None else bias.double(), padding=1)


@pytest.fixture
def torch_threads() -> Iterator[Callable[[int], None]]:
    """Set torch's thread count for one test (put back afterwards)."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def test_one_dimensional_transform_is_exact() -> None:
    """Aᵀ [(G g) ⊙ (Bᵀ d)] is the 2-tap correlation of 5 inputs, in exact arithmetic (float64 here)."""
    bt, g, at = (
        torch.tensor(m, dtype=torch.float64)
        for m in (upsample_winograd._BT, upsample_winograd._G, upsample_winograd._AT)
    )
    generator = torch.Generator().manual_seed(0)
    d, taps = (
        torch.randn(5, generator=generator, dtype=torch.float64),
        torch.randn(2, generator=generator, dtype=torch.float64),
    )
    expected = torch.stack([d[k] * taps[0] + d[k + 1] * taps[1] for k in range(4)])
    torch.testing.assert_close(at @ ((g @ taps) * (bt @ d)), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("batch", "channels", "out_channels", "height", "width", "bias"),
    [
        (1, 3, 5, 1, 1, True),  # one pixel: every neighbour is padding
        (2, 8, 6, 5, 7, False),  # batch > 1, partial tiles on both sides
        (1, 16, 16, 13, 9, True),
        (2, 32, 24, 8, 12, True),  # whole tiles
        (1, 64, 48, 6, 17, True),
    ],
)
@pytest.mark.parametrize("channels_last", [True, False], ids=["channels_last", "contiguous"])
@pytest.mark.parametrize("threads", [1, 3], ids=["one-thread", "threads"])
def test_equals_upsample_then_convolve(
    batch: int,
    channels: int,
    out_channels: int,
    height: int,
    width: int,
    bias: bool,
    channels_last: bool,
    threads: int,
    torch_threads: Callable[[int], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    torch_threads(threads)
    monkeypatch.setattr(upsample_winograd, "BAND_ELEMENTS", 1)  # one tile row per band, several per image
    generator = torch.Generator().manual_seed(height * 31 + width)
    x = torch.randn(batch, channels, height, width, generator=generator)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.randn(out_channels, channels, 3, 3, generator=generator)
    b = torch.randn(out_channels, generator=generator) if bias else None
    got = winograd_upsample_conv3x3(x, weight, b)
    expected = _literal(x, weight, b)
    assert got.shape == expected.shape
    assert _relative(got, expected) < TOLERANCE
    assert torch.get_num_threads() == threads


def test_module_takes_the_path_the_rule_and_switch_choose() -> None:
    torch.manual_seed(1)
    fast, plain = WinogradUpsample(128), Upsample(128)
    assert set(fast.state_dict()) == set(plain.state_dict()) == {"conv.weight", "conv.bias"}
    plain.load_state_dict(fast.state_dict())
    x = torch.randn(1, 128, 64, 64).contiguous(memory_format=torch.channels_last)
    small = torch.randn(1, 128, 16, 16)
    assert upsample_winograd_pays_off(128, 128, 64, 64) and not upsample_winograd_pays_off(128, 128, 16, 16)
    with torch.inference_mode():
        before = upsample_winograd_call_count()
        got = fast(x)
        assert upsample_winograd_call_count() == before + 1
        fast(small)  # under the rule's size: the tap-by-tap path
        assert upsample_winograd_call_count() == before + 1
        with direct_convolutions():
            direct = fast(x)
        assert upsample_winograd_call_count() == before + 1
        assert torch.equal(direct, plain(x))  # the switch gives exactly the tap-by-tap upsampler
    assert _relative(got, _literal(x, fast.conv.weight, fast.conv.bias)) < TOLERANCE


def test_autograd_keeps_the_differentiable_path() -> None:
    fast = WinogradUpsample(128)
    x = torch.randn(1, 128, 64, 64)
    before = upsample_winograd_call_count()
    fast(x).sum().backward()
    assert fast.conv.weight.grad is not None
    assert upsample_winograd_call_count() == before
