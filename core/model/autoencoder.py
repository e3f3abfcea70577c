"""The Moebius VAE: a KL autoencoder (f = 8, 4 latent channels) with the released checkpoint's key names.

The released VAE is a standard ``AutoencoderKL`` (see ``shared/reference/vae_config.json``). This module
re-implements it in plain ``torch.nn`` with the same module tree, so the released state dict loads strictly,
and with the same arithmetic, so its outputs match the reference implementation to float32 rounding. What it
does differently is memory and work at full resolution, where a 512×512 frame with 128–256 channels costs
134–268 MB per tensor:

* the SiLU after every group norm runs in place and the residual is added into the block's own output, so a
  resnet holds three full-size tensors at its peak instead of five;
* feature maps stay channels-last, the layout the CPU convolutions work in, so no convolution makes a
  re-laid-out copy of its input;
* a 2× nearest-neighbour upsampling followed by a 3×3 convolution is computed on the small input, one
  product per kernel tap added into the four output phases (:mod:`core.model.upsample`): the upsampled copy is
  never made and the convolution does a quarter of the literal one's multiply-adds;
* the 3×3 stride-1 convolutions (:class:`core.model.winograd.Conv3x3`) use Winograd's F(4×4, 3×3) on the CPU
  in float32 where both widths are at least 128 channels (a quarter of the multiply-adds, equal to float32
  rounding: about 1e-5 of the output's range); on that path the group norm and SiLU in front of each one are
  folded into it (:mod:`core.model.norm_fold`: statistics in one read pass, the activation applied to each
  band as the convolution copies it in), and the decoder's upsampling convolutions use F(4×4, 2×2) per output
  phase (:mod:`core.model.upsample_winograd`) from 64×64 inputs up. The stride-2 downsampling convolutions
  stay direct. :func:`core.model.winograd.direct_convolutions` turns all three back into the plain layers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.model.upsample_winograd import WinogradUpsample
from core.model.winograd import Conv3x3

NORM_EPS = 1e-6
# Feature maps are kept channels-last: the CPU convolutions then read and write them as they are, where a
# (B, C, H, W) map is first copied into the convolution library's own layout (268 MB at 512² × 256).
CHANNELS_LAST = torch.channels_last


# ---------------------------------------------------------------------------------------------------------
# Blocks
# ---------------------------------------------------------------------------------------------------------


class ResnetBlock(nn.Module):
    """GroupNorm → SiLU → 3×3 conv, twice, plus the input (through a 1×1 conv when the width changes).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        groups: groups of both group norms.
    """

    def __init__(self, in_channels: int, out_channels: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=NORM_EPS)
        self.conv1 = Conv3x3(in_channels, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=NORM_EPS)
        self.conv2 = Conv3x3(out_channels, out_channels)
        self.conv_shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: Tensor) -> Tensor:
        # 1. First half; each intermediate is dropped as soon as the next one exists. Each convolution is
        #    handed its group norm (followed by SiLU): on Winograd's path it folds them into its input bands.
        h = self.conv1(x, norm=self.norm1)
        # 2. Where the second convolution runs directly, its normalised input is made here, so that the first
        #    convolution's output is freed as soon as it exists (inside the call it would stay referenced:
        #    one more full-size map at the decoder's peak, 256 MB at 512² × 256).
        norm2: nn.GroupNorm | None = self.norm2
        if not self.conv2.takes_winograd(h, self.norm2):
            h, norm2 = F.silu(self.norm2(h), inplace=True), None
        # 3. Residual, added into this block's own buffer: by the second convolution as it writes its output
        #    when it is the input itself (Winograd's path saves a pass over the output), after it otherwise
        #    (so the 1×1 shortcut's result never exists next to the convolution's input and output).
        if self.conv_shortcut is None:
            out: Tensor = self.conv2(h, residual=x, norm=norm2)
            return out
        h = self.conv2(h, norm=norm2)
        residual: Tensor = h.add_(self.conv_shortcut(x))
        return residual


class SpatialSelfAttention(nn.Module):
    """Single-head self-attention over all positions, with a group norm in front and a residual.

    Args:
        channels: channels of the feature map (also the attention width).
        groups: groups of the group norm.
    """

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.group_norm = nn.GroupNorm(groups, channels, eps=NORM_EPS)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])

    def forward(self, x: Tensor) -> Tensor:
        batch, channels, height, width = x.shape
        # 1. Normalise, then view the positions as tokens (B, HW, C): free for a channels-last map.
        tokens = self.group_norm(x).permute(0, 2, 3, 1).reshape(batch, height * width, channels)
        # 2. One head over all positions.
        q, k, v = (proj(tokens)[:, None] for proj in (self.to_q, self.to_k, self.to_v))
        attended = F.scaled_dot_product_attention(q, k, v)[:, 0]
        # 3. Project back, return to (B, C, H, W) (channels-last) and add the input.
        out: Tensor = self.to_out[0](attended).reshape(batch, height, width, channels).permute(0, 3, 1, 2)
        return out.add_(x)


class MidBlock(nn.Module):
    """Resnet → self-attention → resnet at the lowest resolution.

    Args:
        channels: channels throughout.
        groups: groups of the group norms.
    """

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        # Registered in the checkpoint's key order: the attention first.
        self.attentions = nn.ModuleList([SpatialSelfAttention(channels, groups)])
        self.resnets = nn.ModuleList([ResnetBlock(channels, channels, groups) for _ in range(2)])

    def forward(self, x: Tensor) -> Tensor:
        x = self.resnets[0](x)
        x = self.attentions[0](x)
        out: Tensor = self.resnets[1](x)
        return out


class Downsample(nn.Module):
    """3×3 convolution with stride 2 after padding one row and column at the bottom and right.

    Args:
        channels: channels in and out.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.conv(F.pad(x, (0, 1, 0, 1)))
        return out


class DownBlock(nn.Module):
    """Encoder stage: resnets, then (except for the last stage) a stride-2 downsampling.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        layers: number of resnets.
        groups: groups of the group norms.
        downsample: whether the stage halves the resolution.
    """

    def __init__(self, in_channels: int, out_channels: int, layers: int, groups: int, downsample: bool) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(
            [ResnetBlock(in_channels if i == 0 else out_channels, out_channels, groups) for i in range(layers)]
        )
        self.downsamplers = nn.ModuleList([Downsample(out_channels)]) if downsample else None

    def forward(self, x: Tensor) -> Tensor:
        for resnet in self.resnets:
            x = resnet(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
        return x


class UpBlock(nn.Module):
    """Decoder stage: resnets, then (except for the last stage) a 2× upsampling.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        layers: number of resnets.
        groups: groups of the group norms.
        upsample: whether the stage doubles the resolution.
    """

    def __init__(self, in_channels: int, out_channels: int, layers: int, groups: int, upsample: bool) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(
            [ResnetBlock(in_channels if i == 0 else out_channels, out_channels, groups) for i in range(layers)]
        )
        self.upsamplers = nn.ModuleList([WinogradUpsample(out_channels)]) if upsample else None

    def forward(self, x: Tensor) -> Tensor:
        for resnet in self.resnets:
            x = resnet(x)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


# ---------------------------------------------------------------------------------------------------------
# Encoder, decoder, autoencoder
# ---------------------------------------------------------------------------------------------------------


class Encoder(nn.Module):
    """Image (B, 3, H, W) in [-1, 1] → mean and log-variance of the latent (B, 2·latent, H/8, W/8).

    Args:
        in_channels: image channels.
        latent_channels: channels of the latent.
        channels: width of each stage.
        layers: resnets per stage.
        groups: groups of the group norms.
    """

    def __init__(
        self, in_channels: int, latent_channels: int, channels: Sequence[int], layers: int, groups: int
    ) -> None:
        super().__init__()
        self.conv_in = Conv3x3(in_channels, channels[0])
        widths = [channels[0], *channels]
        self.down_blocks = nn.ModuleList(
            [
                DownBlock(widths[i], widths[i + 1], layers, groups, downsample=i < len(channels) - 1)
                for i in range(len(channels))
            ]
        )
        self.mid_block = MidBlock(channels[-1], groups)
        self.conv_norm_out = nn.GroupNorm(groups, channels[-1], eps=NORM_EPS)
        self.conv_out = Conv3x3(channels[-1], 2 * latent_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv_in(x.contiguous(memory_format=CHANNELS_LAST))
        for block in self.down_blocks:
            x = block(x)
        x = self.mid_block(x)
        moments: Tensor = self.conv_out(x, norm=self.conv_norm_out)
        return moments.contiguous()


class Decoder(nn.Module):
    """Latent (B, latent, h, w) → image (B, 3, 8h, 8w) in about [-1, 1].

    Args:
        latent_channels: channels of the latent.
        out_channels: image channels.
        channels: width of each encoder stage (the decoder runs them in reverse).
        layers: resnets per encoder stage (the decoder has one more per stage).
        groups: groups of the group norms.
    """

    def __init__(
        self, latent_channels: int, out_channels: int, channels: Sequence[int], layers: int, groups: int
    ) -> None:
        super().__init__()
        reversed_channels = list(reversed(channels))
        self.conv_in = Conv3x3(latent_channels, reversed_channels[0])
        # Registered in the checkpoint's key order: the up blocks before the middle block that runs first.
        widths = [reversed_channels[0], *reversed_channels]
        self.up_blocks = nn.ModuleList(
            [
                UpBlock(widths[i], widths[i + 1], layers + 1, groups, upsample=i < len(channels) - 1)
                for i in range(len(channels))
            ]
        )
        self.mid_block = MidBlock(reversed_channels[0], groups)
        self.conv_norm_out = nn.GroupNorm(groups, reversed_channels[-1], eps=NORM_EPS)
        self.conv_out = Conv3x3(reversed_channels[-1], out_channels)

    def forward(self, z: Tensor) -> Tensor:
        x = self.conv_in(z.contiguous(memory_format=CHANNELS_LAST))
        x = self.mid_block(x)
        for block in self.up_blocks:
            x = block(x)
        image: Tensor = self.conv_out(x, norm=self.conv_norm_out)
        return image.contiguous()


@dataclass(frozen=True)
class LatentDistribution:
    """The diagonal Gaussian the encoder predicts for each latent value.

    Args:
        mean: the mean (B, latent, h, w).
        std: the standard deviation, from the log-variance clamped to [−30, 20].
    """

    mean: Tensor
    std: Tensor


@dataclass(frozen=True)
class EncoderOutput:
    latent_dist: LatentDistribution


@dataclass(frozen=True)
class DecoderOutput:
    sample: Tensor


class VAEConfig(dict[str, Any]):
    """The VAE's ``config.json`` as a dict whose keys can also be read as attributes (``config.scaling_factor``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


class AutoencoderKL(nn.Module):
    """The KL autoencoder, configured by the released ``config.json``.

    Args:
        config: the VAE configuration; the keys used are ``in_channels``, ``out_channels``,
            ``latent_channels``, ``block_out_channels``, ``layers_per_block``, ``norm_num_groups``,
            ``scaling_factor``, ``use_quant_conv`` and ``use_post_quant_conv`` (block types other than the
            plain encoder/decoder blocks, and ``act_fn`` other than SiLU, are refused).
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__()
        check_config(config)
        self.config = VAEConfig(config)
        channels = list(config["block_out_channels"])
        latent = int(config.get("latent_channels", 4))
        layers = int(config.get("layers_per_block", 2))
        groups = int(config.get("norm_num_groups", 32))
        self.encoder = Encoder(int(config.get("in_channels", 3)), latent, channels, layers, groups)
        self.decoder = Decoder(latent, int(config.get("out_channels", 3)), channels, layers, groups)
        self.quant_conv = nn.Conv2d(2 * latent, 2 * latent, 1) if config.get("use_quant_conv", True) else None
        self.post_quant_conv = nn.Conv2d(latent, latent, 1) if config.get("use_post_quant_conv", True) else None

    def encode(self, x: Tensor) -> EncoderOutput:
        """Image in [-1, 1] → the latent distribution (unscaled)."""
        moments = self.encoder(x)
        if self.quant_conv is not None:
            moments = self.quant_conv(moments)
        mean, logvar = moments.chunk(2, dim=1)
        std = torch.exp(0.5 * torch.clamp(logvar, -30.0, 20.0))
        return EncoderOutput(LatentDistribution(mean=mean, std=std))

    def decode(self, z: Tensor) -> DecoderOutput:
        """Unscaled latent → image in about [-1, 1]."""
        if self.post_quant_conv is not None:
            z = self.post_quant_conv(z)
        return DecoderOutput(self.decoder(z))


def check_config(config: Mapping[str, Any]) -> None:
    """Refuse configurations this implementation does not build (with a message naming the setting)."""
    from core.common.errors import ConfigError

    expectations = {
        "act_fn": "silu",
        "down_block_types": None,
        "up_block_types": None,
        "mid_block_add_attention": True,
        "shift_factor": None,
    }
    for key, wanted in expectations.items():
        value = config.get(key, wanted)
        if key.endswith("block_types"):
            allowed = "DownEncoderBlock2D" if key.startswith("down") else "UpDecoderBlock2D"
            if value is not None and any(kind != allowed for kind in value):
                raise ConfigError(f"The VAE config asks for {key} {value}; only {allowed} is supported.")
        elif value != wanted:
            raise ConfigError(f"The VAE config sets {key} to {value!r}; only {wanted!r} is supported.")
    if not config.get("block_out_channels"):
        raise ConfigError("The VAE config has no block_out_channels.")
