"""A group norm and SiLU folded into Winograd's convolution (core.model.norm_fold) against the unfolded layers."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator

import pytest
import torch
import torch.nn.functional as F

from core.model import norm_fold
from core.model.norm_fold import group_norm_affine, norm_folds
from core.model.winograd import Conv3x3, direct_convolutions, winograd_call_count, winograd_conv3x3

# Largest deviation seen on these shapes: 1.1e-5 of the output's largest value (the project allows 1e-4).
TOLERANCE = 1e-4


def _relative(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got.detach().double() - expected.detach()).abs().max() / expected.detach().abs().max())


@pytest.fixture
def torch_threads() -> Iterator[Callable[[int], None]]:
    """Set torch's thread count for one test (put back afterwards)."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def _norm(channels: int, groups: int, affine: bool, seed: int) -> torch.nn.GroupNorm:
    norm = torch.nn.GroupNorm(groups, channels, eps=1e-6, affine=affine)
    if affine:
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():  # a non-zero shift: a padding activated by mistake would show at the borders
            norm.weight.copy_(torch.randn(channels, generator=generator))
            norm.bias.copy_(torch.randn(channels, generator=generator) + 1)
    return norm


@pytest.mark.parametrize(
    ("batch", "channels", "out_channels", "groups", "height", "width", "affine"),
    [
        (1, 8, 4, 4, 1, 1, True),  # one pixel: all of its neighbours are padding
        (2, 16, 8, 8, 5, 7, True),  # batch > 1 (statistics per image), neither side a multiple of the tile
        (1, 32, 16, 32, 13, 9, False),  # one channel per group, no affine parameters
        (3, 64, 32, 32, 17, 20, True),
    ],
)
@pytest.mark.parametrize("channels_last", [True, False], ids=["channels_last", "contiguous"])
@pytest.mark.parametrize("threads", [1, 3], ids=["one-thread", "threads"])
def test_folded_convolution_equals_norm_silu_convolution(
    batch: int,
    channels: int,
    out_channels: int,
    groups: int,
    height: int,
    width: int,
    affine: bool,
    channels_last: bool,
    threads: int,
    torch_threads: Callable[[int], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    torch_threads(threads)
    monkeypatch.setattr(norm_fold, "CHUNK_ELEMENTS", 64)  # statistics from many chunks, shared out to threads
    generator = torch.Generator().manual_seed(batch * 100 + height)
    # Values far from zero mean: the variance from sums of squares must not lose its digits.
    x = torch.randn(batch, channels, height, width, generator=generator) * 3 + 5
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.randn(out_channels, channels, 3, 3, generator=generator)
    bias = torch.randn(out_channels, generator=generator)
    norm = _norm(channels, groups, affine, seed=channels)
    got = winograd_conv3x3(x, weight, bias, activation=group_norm_affine(x, norm))
    norm64 = copy.deepcopy(norm).double()
    expected = F.conv2d(F.silu(norm64(x.double())), weight.double(), bias.double(), padding=1)
    assert got.shape == expected.shape
    assert _relative(got, expected) < TOLERANCE


def test_scale_and_shift_reproduce_the_group_norm() -> None:
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(2, 12, 9, 11, generator=generator) * 0.1 - 20
    norm = _norm(12, 3, True, seed=4)
    scale, shift = group_norm_affine(x, norm)
    assert scale.shape == shift.shape == (2, 12) and scale.dtype == torch.float32
    got = x * scale[:, :, None, None] + shift[:, :, None, None]
    expected = copy.deepcopy(norm).double()(x.double())
    assert float((got - expected).detach().abs().max()) < 1e-4 * float(expected.detach().abs().max())


def test_conv3x3_folds_the_norm_on_winograds_path_only() -> None:
    generator = torch.Generator().manual_seed(9)
    conv = Conv3x3(128, 128).eval()
    norm = _norm(128, 32, True, seed=1)
    x = torch.randn(2, 128, 33, 35, generator=generator).contiguous(memory_format=torch.channels_last)
    residual = torch.randn(2, 128, 33, 35, generator=generator)
    assert not norm_folds(norm, x)  # autograd on: the norm's parameters want their gradient
    with torch.inference_mode():
        assert norm_folds(norm, x) and not norm_folds(copy.deepcopy(norm).double(), x)
        before = winograd_call_count()
        folded = conv(x, residual=residual, norm=norm)
        assert winograd_call_count() == before + 1
        with direct_convolutions():
            direct = conv(x, residual=residual, norm=norm)
        assert winograd_call_count() == before + 1  # the switch really turned the folded path off
        # The direct path is the unfolded one, bit for bit: group norm, SiLU, convolution, residual.
        unfolded = F.conv2d(F.silu(norm(x)), conv.weight, conv.bias, padding=1) + residual
        assert torch.equal(direct, unfolded)
    assert _relative(folded, unfolded.double()) < TOLERANCE
    assert not torch.equal(folded, direct)


def test_a_norm_that_cannot_fold_runs_as_written() -> None:
    conv = Conv3x3(128, 128).eval()
    norm = _norm(128, 32, True, seed=3).double()  # float64 parameters: not foldable into float32 Winograd
    x = torch.randn(1, 128, 32, 32)
    with torch.inference_mode():
        before = winograd_call_count()
        with pytest.raises(RuntimeError):  # float64 norm output into a float32 convolution, as written
            conv(x, norm=norm)
        assert winograd_call_count() == before


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "winograd"])
def test_a_resnet_block_frees_the_first_convolutions_output_before_a_direct_second(direct: bool) -> None:
    # On the direct path the second convolution's input is normalised in the block, so the first one's output
    # is gone while the second runs (inside the call it would stay referenced: one more full-size map at the
    # decoder's peak). Winograd's path reads that output itself, so there it must still be alive.
    import weakref

    from core.model.autoencoder import ResnetBlock

    torch.manual_seed(5)
    block = ResnetBlock(128, 128, 32).eval()
    x = torch.randn(1, 128, 32, 32).contiguous(memory_format=torch.channels_last)
    first_output: list[weakref.ref[torch.Tensor]] = []
    alive_at_second: list[bool] = []
    block.conv1.register_forward_hook(lambda _m, _i, out: first_output.append(weakref.ref(out)))
    block.conv2.register_forward_pre_hook(lambda _m, _i: alive_at_second.append(first_output[0]() is not None))
    with torch.inference_mode(), direct_convolutions() if direct else contextlib.nullcontext():
        got = block(x)
        with direct_convolutions():
            hidden = F.silu(block.norm2(block.conv1(F.silu(block.norm1(x)))))
            expected = F.conv2d(hidden, block.conv2.weight, block.conv2.bias, padding=1) + x
    assert alive_at_second == [not direct]
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
