"""The Moebius inpainting UNet and its id-embedding wrapper, in plain ``torch.nn``.

Moebius is a latent-diffusion UNet with three resolution levels and no mid block. Each level stacks
depthwise-separable resnets and one "LλMI" transformer block per resnet, in which self-attention is a
multi-query lambda layer with local 15×15 positional lambdas, cross-attention is a lambda layer with a learned
per-pixel positional table, and the MLP is a gated Mix-FFN. The conditioning is a learned table of 20 id
embeddings (ids 0–9: the removal task, ids 10–19: the foreground task used as the unconditional branch).

Module names follow the released checkpoint's key names exactly (``embedding_layer.*``, ``diff_model.*``), so
``load_state_dict(strict=True)`` accepts the published ``diffusion_pytorch_model.bin`` as it is.

The blocks are written small first and assembled at the bottom of the file. Everything runs in float32 by
default; the released configuration only works at 64×64 latents (512×512 pixels).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.common.errors import CheckpointError, ConfigError, UnsupportedSizeError
from core.model.checkpoint import check_state_dict, read_config_beside, read_state_dict
from core.model.int8_gemm import INT8_GEMM, Int8Linear
from core.model.upsample import Upsample

# The released model's constructor arguments (shared/reference/ARCHITECTURE.md §2). Keys mirror the
# ``model_kwargs`` of ``golden_tiny/config.json`` so a config file of either kind can be passed as it is.
RELEASED_CONFIG: dict[str, Any] = {
    "in_channels": 9,
    "out_channels": 4,
    "attention_head_dim": 8,
    "conv_in_kernel": 3,
    "conv_out_kernel": 3,
    "cross_attention_dim": 768,
    "encoder_hid_dim": 3072,
    "encoder_hid_dim_type": "text_proj",
    "projection_class_embeddings_input_dim": 2560,
    "use_lambda_cross_attn": True,
    "use_local_self_attn": True,
    "down_block_types": ["DWMixTFDownBlock2D"] * 3,
    "mid_block_type": None,
    "up_block_types": ["DWMixTFUpBlock2D"] * 3,
    "block_out_channels": [320, 640, 1280],
    "norm_num_groups": 32,
    "mix_mlp_ratio": 2.5,
    "sample_size": 64,
    "num_embeddings": 20,
}

# A tiny configuration of the same architecture (the golden test's, at the released 64×64 latent size), used by
# tests, the benchmark and the packaged self-test; random weights in this layout load like a release.
TINY_CONFIG: dict[str, Any] = {
    **RELEASED_CONFIG,
    "attention_head_dim": 4,
    "cross_attention_dim": 32,
    "encoder_hid_dim": 48,
    "projection_class_embeddings_input_dim": 64,
    "block_out_channels": [32, 64, 128],
    "norm_num_groups": 8,
}

# Keys accepted for compatibility with the authors' config but without effect on the computation:
# ``projection_class_embeddings_input_dim`` is unused, and ``mix_mlp_ratio`` is never forwarded by the
# reference implementation (the Mix-FFN always uses 2.5).
_IGNORED_KEYS = {"projection_class_embeddings_input_dim", "mix_mlp_ratio"}
_FIXED_VALUES: dict[str, Any] = {
    "encoder_hid_dim_type": "text_proj",
    "use_lambda_cross_attn": True,
    "use_local_self_attn": True,
    "mid_block_type": None,
}
MIX_FFN_RATIO = 2.5
LOCAL_LAMBDA_SIZE = 15
# The self-λ layer makes its per-pixel filters a band of image rows at a time, bands of at most this many
# values (1.6 MB in float32), so that they are still in the processor's cache when they are applied.
ROW_WINDOW_FILTER_ELEMENTS = 400_000
# Mix-FFN runs one image at a time when an image's hidden layer has at least this many values (the first level:
# 4096 pixels × 800 channels).
MIX_FFN_ROW_ELEMENTS = 2_000_000
# Number of conditioning tokens: half of the id table (one set of 10 ids per task).
COND_IDS = tuple(range(10))
UNCOND_IDS = tuple(range(10, 20))
# Fast int8 mode (core/model/quantized.py) attaches an Int8Linear to a layer (a 1×1 conv, a sampler's 3×3 conv,
# a self-λ layer for its queries, keys and values) under the attribute name INT8_GEMM (core/model/int8_gemm.py).
# Layers without one run the float computation unchanged.


# ---------------------------------------------------------------------------------------------------------
# Layout helpers
#
# Activations flow through the UNet in channels-last memory order, so an image (B, C, H, W) and its tokens
# (B, H·W, C) are views of the same memory: 1×1 convolutions become plain matrix products on the tokens, and
# nothing is ever transposed between the convolutional and the token-wise parts of the network.
# ---------------------------------------------------------------------------------------------------------


def _to_tokens(image: Tensor) -> Tensor:
    """(B, C, H, W) → (B, H·W, C); a free view when ``image`` is channels-last."""
    b, c, h, w = image.shape
    return image.permute(0, 2, 3, 1).reshape(b, h * w, c)


def _to_image(tokens: Tensor, size: tuple[int, int]) -> Tensor:
    """(B, H·W, C) → (B, C, H, W) in channels-last order (a view)."""
    b, _, c = tokens.shape
    return tokens.reshape(b, size[0], size[1], c).permute(0, 3, 1, 2)


def _int8_gemm(conv: nn.Module) -> Int8Linear | None:
    """The int8 product attached to ``conv`` by the fast int8 mode, if any (read without Module.__getattr__)."""
    packed: Int8Linear | None = conv.__dict__.get(INT8_GEMM)
    return packed


def _pointwise(tokens: Tensor, conv: nn.Conv2d, scale: Tensor | None = None, shift: Tensor | None = None) -> Tensor:
    """A 1×1 convolution applied to tokens as a matrix product, optionally followed by a per-channel affine.

    In the fast int8 mode the product is an int8 one whose weight already has the affine folded in (it is the
    eval-mode BatchNorm, fixed once the model is prepared).
    """
    packed = _int8_gemm(conv)
    if packed is not None:
        return packed(tokens)
    return F.linear(tokens, *pointwise_weights(conv, scale, shift))


def pointwise_weights(
    conv: nn.Conv2d, scale: Tensor | None = None, shift: Tensor | None = None
) -> tuple[Tensor, Tensor | None]:
    """A 1×1 convolution's (out, in) weight and bias with the per-channel affine that follows it folded in.

    Folding costs one pass over the (small) weight instead of one over the output; the int8 mode folds the
    same way once, when it quantizes the weight.
    """
    weight = conv.weight.reshape(conv.weight.shape[0], -1)
    if scale is None:
        return weight, conv.bias
    assert shift is not None, "a scale needs its shift"
    return weight * scale[:, None], shift if conv.bias is None else conv.bias * scale + shift


# oneDNN's convolution with a fused activation (what torch's compiler emits on x86); absent from some builds.
_FUSED_CONVOLUTION: Any = (
    getattr(torch.ops.mkldnn, "_convolution_pointwise", None)
    if torch.backends.mkldnn.is_available()  # type: ignore[no-untyped-call]
    else None
)
# Whether depthwise_relu may use it (tests and benchmarks compare both ways).
FUSE_DEPTHWISE_RELU = True


def depthwise_relu(x: Tensor, weight: Tensor, bias: Tensor, conv: nn.Conv2d) -> Tensor:
    """``relu(conv2d(x, weight, bias))`` with ``conv``'s padding and groups, the ReLU fused into the convolution
    on the CPU (one pass over the output fewer; the same oneDNN convolution, so the same bits).

    Used only where nothing needs gradients, the tensors are float32 channels-last CPU tensors and no graph is
    being exported; otherwise the two operations run one after the other.
    """
    padding = conv.padding
    fused = (
        FUSE_DEPTHWISE_RELU
        and _FUSED_CONVOLUTION is not None
        and not torch.is_grad_enabled()
        and x.device.type == "cpu"
        and x.dtype == weight.dtype == torch.float32
        and x.is_contiguous(memory_format=torch.channels_last)
        and isinstance(padding, tuple)
        and not torch.compiler.is_compiling()
        and not torch.compiler.is_exporting()
    )
    if fused:
        out: Tensor = _FUSED_CONVOLUTION(x, weight, bias, list(padding), [1, 1], [1, 1], conv.groups, "relu", [], "")
        return out
    return F.relu(F.conv2d(x, weight, bias, padding=padding, groups=conv.groups), inplace=True)


def _batchnorm_affine(bn: nn.modules.batchnorm._BatchNorm) -> tuple[Tensor, Tensor]:
    """Eval-mode BatchNorm as ``x · scale + shift`` (running statistics)."""
    assert bn.running_mean is not None and bn.running_var is not None
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    return scale, shift


# ---------------------------------------------------------------------------------------------------------
# Small building blocks
# ---------------------------------------------------------------------------------------------------------


class DepthwiseSeparableConv(nn.Module):
    """Depthwise k×k conv → BN → ReLU → pointwise 1×1 conv → BN, with a hidden residual when shapes agree.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: side of the depthwise kernel (3 in the released model).

    The residual (``y = h + x``) is applied whenever ``in_channels == out_channels``; it is invisible in the
    state dict but part of the released computation.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(
            in_channels, in_channels, kernel_size, padding=kernel_size // 2, groups=in_channels, bias=False
        )
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv_pw = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.has_skip = in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        # 1. Depthwise conv with bn1 folded into its (tiny) kernel, then ReLU.
        scale, shift = _batchnorm_affine(self.bn1)
        weight = self.conv_dw.weight * scale[:, None, None, None]
        h = depthwise_relu(x, weight, shift, self.conv_dw)
        # 2. Pointwise conv as a matrix product on the tokens, with bn2 folded in.
        scale, shift = _batchnorm_affine(self.bn2)
        h = _to_image(_pointwise(_to_tokens(h), self.conv_pw, scale, shift), (x.shape[2], x.shape[3]))
        # 3. The hidden residual of the released block (h is this block's own buffer, so add in place).
        return h.add_(x) if self.has_skip else h


class TimestepEmbedding(nn.Module):
    """Sinusoidal timestep features (cos first) followed by a two-layer MLP.

    Args:
        base_channels: size of the sinusoidal features (the first level's channel count).
        embed_dim: size of the embedding given to every resnet (4 × ``base_channels``).
    """

    def __init__(self, base_channels: int, embed_dim: int) -> None:
        super().__init__()
        self.base_channels = base_channels
        self.linear_1 = nn.Linear(base_channels, embed_dim)
        self.linear_2 = nn.Linear(embed_dim, embed_dim)

    def sinusoidal(self, timesteps: Tensor) -> Tensor:
        half = self.base_channels // 2
        exponent = -math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half
        angles = timesteps.float()[:, None] * torch.exp(exponent)[None, :]
        return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)

    def forward(self, timesteps: Tensor) -> Tensor:
        features = self.sinusoidal(timesteps).to(self.linear_1.weight.dtype)
        embedding: Tensor = self.linear_2(F.silu(self.linear_1(features)))
        return embedding


class ResnetBlock(nn.Module):
    """Resnet block whose 3×3 convolutions are depthwise-separable.

    Args:
        in_channels: input channels.
        out_channels: output channels; a 1×1 shortcut conv is used when they differ.
        temb_channels: size of the timestep embedding.
        groups: GroupNorm groups.
    """

    def __init__(self, in_channels: int, out_channels: int, temb_channels: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=1e-5)
        self.conv1 = DepthwiseSeparableConv(in_channels, out_channels)
        self.time_emb_proj = nn.Linear(temb_channels, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=1e-5)
        self.conv2 = DepthwiseSeparableConv(out_channels, out_channels)
        self.conv_shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        # 1. Normalise, activate, first separable conv.
        h = self.conv1(F.silu(self.norm1(x), inplace=True))
        # 2. Add the projected timestep embedding, broadcast over the image.
        h.add_(self.time_emb_proj(F.silu(temb))[:, :, None, None])
        # 3. Second separable conv (carries its own hidden residual).
        h = self.conv2(F.silu(self.norm2(h), inplace=True))
        assert isinstance(h, Tensor)
        # 4. Outer residual, through a 1×1 conv when the channel count changes.
        if self.conv_shortcut is None:
            return h.add_(x)
        skip = _to_image(_pointwise(_to_tokens(x), self.conv_shortcut), (x.shape[2], x.shape[3]))
        return h.add_(skip)


class SelfLambda(nn.Module):
    """Multi-query lambda layer with a content lambda and local 15×15 positional lambdas (``attn1``).

    Args:
        channels: token channels C (= heads × dim_k).
        heads: number of query heads h.
        dim_k: query/key depth k (= C / h).
        dim_v: value depth v (= C / h).
        local_size: side of the positional lambda window (15).

    For every pixel n and head i the output is ``Σ_κ q[i,κ,n] · (λc[κ,:] + λp[κ,:,n])`` where the content
    lambda λc summarises the whole image through softmax-normalised keys and the positional lambdas λp are a
    15×15 convolution of the values with one learned kernel per key channel. Heads share keys and values.
    """

    def __init__(self, channels: int, heads: int, dim_k: int, dim_v: int, local_size: int = LOCAL_LAMBDA_SIZE):
        super().__init__()
        self.heads, self.dim_k, self.dim_v = heads, dim_k, dim_v
        self.to_q = nn.Conv2d(channels, heads * dim_k, 1, bias=False)
        self.to_k = nn.Conv2d(channels, dim_k, 1, bias=False)
        self.to_v = nn.Conv2d(channels, dim_v, 1, bias=False)
        self.norm_q = nn.BatchNorm2d(heads * dim_k)
        self.norm_v = nn.BatchNorm2d(dim_v)
        # Stored as the released Conv3d (k, 1, 1, r, r) so the checkpoint loads; applied as a 2-D conv
        # over every value channel, which is the same computation.
        self.pos_conv = nn.Conv3d(1, dim_k, (1, local_size, local_size), padding=(0, local_size // 2, local_size // 2))

    def forward(self, tokens: Tensor, size: tuple[int, int]) -> Tensor:
        """``tokens``: (B, N, C) in row-major pixel order, ``size`` = (H, W) → (B, N, C)."""
        b, n, _ = tokens.shape
        # 1. Queries (batch-normalised), keys (softmax over positions) and values (batch-normalised); the int8
        #    mode has them as one product [q | k | v] (the queries copied out whole, the rest read in place).
        packed = _int8_gemm(self)
        if packed is not None:
            qkv = packed(tokens)
            queries = self.heads * self.dim_k
            q = qkv[..., :queries].contiguous().view(b, n, self.heads, self.dim_k)
            k = torch.softmax(qkv[..., queries : queries + self.dim_k], dim=1)
            v = qkv[..., queries + self.dim_k :]
        else:
            q = _pointwise(tokens, self.to_q, *_batchnorm_affine(self.norm_q)).reshape(b, n, self.heads, self.dim_k)
            k = torch.softmax(_pointwise(tokens, self.to_k), dim=1)
            v = _pointwise(tokens, self.to_v, *_batchnorm_affine(self.norm_v))
        # 2. Content lambda: one k×v matrix per image that every query applies.
        content = torch.bmm(k.transpose(1, 2), v)
        # 3. Queries applied to content and positional lambdas. An exported graph (Core ML) gets the
        #    reference's convolution, which converters handle well; eager runs use the row windows.
        if torch.compiler.is_exporting():
            return self._by_convolution(q, v, content, size)
        return self._by_row_windows(q, v, content, size)

    def _by_convolution(self, q: Tensor, v: Tensor, content: Tensor, size: tuple[int, int]) -> Tensor:
        """λp as the reference computes it: the k kernels slid over every value channel, then applied to q.

        One depthwise convolution with k outputs per value channel; its channels-last output is (B, N, v, k)
        in memory, ready for a batched product with the queries. The bias of the kernels is part of the
        convolution here.
        """
        b, n, _, _ = q.shape
        r = self.pos_conv.weight.shape[-1]
        y = torch.bmm(q.reshape(b, n * self.heads, self.dim_k), content).reshape(b, n, self.heads, self.dim_v)
        kernel = self.pos_conv.weight.reshape(self.dim_k, 1, r, r).repeat(self.dim_v, 1, 1, 1)
        bias = self.pos_conv.bias.repeat(self.dim_v) if self.pos_conv.bias is not None else None
        positional = F.conv2d(_to_image(v, size), kernel, bias, padding=r // 2, groups=self.dim_v)
        positional = _to_tokens(positional).reshape(b * n, self.dim_v, self.dim_k)
        out = torch.bmm(q.reshape(b * n, self.heads, self.dim_k), positional.transpose(1, 2))
        return (y + out.reshape(b, n, self.heads, self.dim_v)).reshape(b, n, self.heads * self.dim_v)

    def window_kernels(self, content: Tensor) -> tuple[Tensor, Tensor]:
        """The positional kernels as (k, r·r) columns in window order, and ``content`` with their bias folded in.

        Kernel (κ, a, c) becomes column c·r + a, the order in which a pixel's stacked window rows lie; q·bias
        is added to every value channel alike, so the bias joins the content lambda.
        """
        r = self.pos_conv.weight.shape[-1]
        kernels = self.pos_conv.weight.reshape(self.dim_k, r, r).transpose(1, 2).reshape(self.dim_k, r * r)
        if self.pos_conv.bias is not None:
            content = content + self.pos_conv.bias[:, None]
        return kernels, content

    def _by_row_windows(self, q: Tensor, v: Tensor, content: Tensor, size: tuple[int, int]) -> Tensor:
        """The same sum regrouped so that no k×v positional lambda is ever made.

        Contracting every query with the k kernels first gives each pixel and head its own r×r filter
        ``f[a, c] = Σ_κ q[κ]·W[κ, a, c]`` over the shared values, and the output is ``Σ_a Σ_c f[a, c] · v[y+a,
        x+c]`` plus ``q·(λc + bias)``: 5 to 10 times less work than the convolution at this model's widths.

        To apply the filters without copying every pixel's r×r neighbourhood (r² copies of the values), the
        zero-padded values are copied r times only, into ``stacked[y, x, a] = padded[y + a, x]``: then the
        r·r values pixel (y, x) needs, taken column by column, are the r² consecutive rows of ``stacked``
        that start at (y, x), and one row of pixels is a strided view that a batched matrix product reads in
        place. The filters are made with their kernel columns in the same (c, a) order, a band of image rows
        at a time so that they are still in the processor's cache when they are applied.
        """
        b, n, heads, dim_k = q.shape
        dim_v = self.dim_v
        height, width = size
        r = self.pos_conv.weight.shape[-1]
        pad = r // 2
        padded_width = width + 2 * pad
        kernels, content = self.window_kernels(content)
        rows = max(1, ROW_WINDOW_FILTER_ELEMENTS // (width * heads * r * r)) if q.device.type == "cpu" else height
        # 1. The content term is the starting value of every output.
        out = torch.bmm(q.reshape(b, n * heads, dim_k), content).view(b, height, width, heads, dim_v)
        # stacked[y, x', a] = padded[y + a, x'] for every padded column x'; pixel (y, x) reads x' = x … x + r − 1,
        # all within its own row y.
        stacked = torch.empty(height, padded_width, r, dim_v, dtype=q.dtype, device=q.device)
        row_stride = padded_width * dim_v
        for i in range(b):
            # 2. Stack r shifted copies of the zero-padded values.
            padded = F.pad(v[i].reshape(height, width, dim_v), (0, 0, pad, pad, pad, pad))
            shifted = padded.as_strided((height, padded_width, r, dim_v), (row_stride, dim_v, row_stride, 1))
            stacked.copy_(shifted)
            queries = q[i].reshape(height, width * heads, dim_k)
            for top in range(0, height, rows):
                # 3. The filters of a band of rows, then each row's product with its windows.
                bottom = min(height, top + rows)
                filters = torch.mm(queries[top:bottom].reshape(-1, dim_k), kernels).view(-1, width, heads, r * r)
                for y in range(top, bottom):
                    windows = stacked.as_strided((width, r * r, dim_v), (r * dim_v, dim_v, 1), y * r * row_stride)
                    out[i, y].baddbmm_(filters[y - top], windows)
        return out.view(b, n, heads * dim_v)


class CrossLambda(nn.Module):
    """Multi-query lambda layer over the context tokens with a learned global positional table (``attn2``).

    Args:
        channels: token channels C (= heads × dim_k).
        heads: number of query heads h.
        dim_k: query/key depth k.
        dim_v: value depth v.
        context_dim: channels of the context tokens.
        num_pixels: latent pixels at this level (S²); the positional table has one row per pixel.
        num_tokens: context tokens (10).
    """

    def __init__(
        self,
        channels: int,
        heads: int,
        dim_k: int,
        dim_v: int,
        context_dim: int,
        num_pixels: int,
        num_tokens: int,
    ) -> None:
        super().__init__()
        self.heads, self.dim_k, self.dim_v = heads, dim_k, dim_v
        self.rel_pos_emb = nn.Parameter(torch.zeros(num_pixels, num_tokens, dim_k, 1))
        self.to_q = nn.Conv2d(channels, heads * dim_k, 1, bias=False)
        self.to_k = nn.Linear(context_dim, dim_k, bias=False)
        self.to_v = nn.Linear(context_dim, dim_v, bias=False)
        self.norm_q = nn.BatchNorm2d(heads * dim_k)
        self.norm_v = nn.BatchNorm1d(dim_v)

    def context_terms(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """Softmax keys (B, k, L) and normalised values (B, v, L); they depend on the context alone."""
        k = torch.softmax(self.to_k(context).transpose(1, 2), dim=-1)
        v = self.norm_v(self.to_v(context).transpose(1, 2))
        return k, v

    def forward(self, tokens: Tensor, context: Tensor) -> Tensor:
        """``tokens``: (B, N, C), ``context``: (B, L, context_dim) → (B, N, C)."""
        b, n, _ = tokens.shape
        if n != self.rel_pos_emb.shape[0]:
            raise UnsupportedSizeError(
                f"the cross-lambda table has {self.rel_pos_emb.shape[0]} positions but the input has {n}"
            )
        # 1. Queries and the context's keys and values.
        q = _pointwise(tokens, self.to_q, *_batchnorm_affine(self.norm_q)).reshape(b, n, self.heads, self.dim_k)
        k, v = self.context_terms(context)
        # 2. Content lambda, applied to the queries.
        content = torch.bmm(k, v.transpose(1, 2))
        y = torch.bmm(q.reshape(b, n * self.heads, self.dim_k), content).reshape(b, n, self.heads, self.dim_v)
        # 3. Positional part Σ_κ q[κ,n] Σ_l E[n,l,κ] v[:,l], evaluated as (q·E)·v so the per-pixel k×v
        #    lambdas are never materialised (the same sum, a fraction of the work and memory).
        table = self.rel_pos_emb[..., 0].transpose(1, 2)  # (N, k, L)
        weights = torch.stack([torch.bmm(q[i], table) for i in range(b)])  # (B, N, h, L)
        y = y + torch.bmm(weights.reshape(b, n * self.heads, -1), v.transpose(1, 2)).reshape(y.shape)
        return y.reshape(b, n, self.heads * self.dim_v)


class _ConvLayer(nn.Module):
    """A conv wrapped in a ``.conv`` attribute, matching the released key names of the Mix-FFN."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)  # type: ignore[no-any-return]


class MixFFN(nn.Module):
    """Gated Mix-FFN: 1×1 expand → SiLU → depthwise 3×3 → value · SiLU(gate) → 1×1 project.

    Args:
        channels: input and output channels C.
        hidden: width of the gated hidden layer (int(2.5 · C)); the expansion produces twice that.
    """

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.inverted_conv = _ConvLayer(nn.Conv2d(channels, 2 * hidden, 1))
        self.depth_conv = _ConvLayer(nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden))
        self.point_conv = _ConvLayer(nn.Conv2d(hidden, channels, 1, bias=False))

    def forward(self, tokens: Tensor, size: tuple[int, int]) -> Tensor:
        """``tokens``: (B, N, C) → (B, N, C).

        The value and gate halves are computed as two separate products: every step before the gate acts
        per channel, so the split is exact, and each half stays contiguous, which keeps the elementwise passes
        fast and lets the gate be applied in place. The int8 mode computes both halves as one product instead
        (:meth:`_whole`): quantizing the tokens once saves more there than the contiguous halves do.
        """
        expand, depthwise = self.inverted_conv.conv, self.depth_conv.conv
        hidden = expand.weight.shape[0] // 2
        if tokens.shape[0] > 1 and tokens.shape[1] * hidden >= MIX_FFN_ROW_ELEMENTS:
            # Images are independent here: at the widest level one image at a time halves the hidden
            # layer's memory (the largest activations of a step) at no cost in speed.
            return torch.cat([self(tokens[i : i + 1], size) for i in range(tokens.shape[0])])
        packed = _int8_gemm(expand)
        if packed is not None:
            return self._whole(tokens, size, packed)
        weight = expand.weight.reshape(2 * hidden, -1)
        bias = expand.bias
        halves = []
        for part in (slice(0, hidden), slice(hidden, 2 * hidden)):
            # 1. Expand (a matrix product on the tokens) and activate.
            h = F.silu(F.linear(tokens, weight[part], bias[part] if bias is not None else None), inplace=True)
            # 2. Depthwise 3×3 on the channels-last image view.
            dw_bias = depthwise.bias[part] if depthwise.bias is not None else None
            h = F.conv2d(_to_image(h, size), depthwise.weight[part], dw_bias, padding=1, groups=hidden)
            halves.append(_to_tokens(h))
        # 3. Gate and project back.
        value, gate = halves
        return _pointwise(value.mul_(F.silu(gate, inplace=True)), self.point_conv.conv)

    def _whole(self, tokens: Tensor, size: tuple[int, int], expand: Int8Linear) -> Tensor:
        """The int8 mode's way: both halves from one int8 product (the tokens quantized once), activated and
        convolved whole, then the gate read in place."""
        hidden = expand.out_features // 2
        depthwise = self.depth_conv.conv
        # 1. Expand and activate, 2. depthwise 3×3 over both halves at once (channels-last views throughout).
        h = F.silu(expand(tokens), inplace=True)
        h = _to_tokens(F.conv2d(_to_image(h, size), depthwise.weight, depthwise.bias, padding=1, groups=2 * hidden))
        # 3. Gate (a new, contiguous buffer for the last product) and project back.
        value, gate = h[..., :hidden], h[..., hidden:]
        return _pointwise(value * F.silu(gate, inplace=True), self.point_conv.conv)


class LambdaBlock(nn.Module):
    """The LλMI block: pre-norm self-λ, cross-λ and Mix-FFN, each added back to the tokens.

    Args:
        channels: token channels C.
        heads: λ query heads.
        context_dim: channels of the context tokens.
        num_pixels: latent pixels at this level.
        num_tokens: context tokens.
    """

    def __init__(self, channels: int, heads: int, context_dim: int, num_pixels: int, num_tokens: int) -> None:
        super().__init__()
        dim = channels // heads
        self.norm1 = nn.LayerNorm(channels, eps=1e-5)
        self.attn1 = SelfLambda(channels, heads, dim, dim)
        self.norm2 = nn.LayerNorm(channels, eps=1e-5)
        self.attn2 = CrossLambda(channels, heads, dim, dim, context_dim, num_pixels, num_tokens)
        self.norm3 = nn.LayerNorm(channels, eps=1e-5)
        self.ff = MixFFN(channels, int(channels * MIX_FFN_RATIO))

    def forward(self, tokens: Tensor, context: Tensor, size: tuple[int, int]) -> Tensor:
        """``tokens``: (B, N, C) with N = H·W in row-major order; ``size``: (H, W)."""
        # The first sum is a new buffer (the block's input stays intact); the later ones update it in place.
        tokens = tokens + self.attn1(self.norm1(tokens), size)
        tokens.add_(self.attn2(self.norm2(tokens), context))
        return tokens.add_(self.ff(self.norm3(tokens), size))


class LambdaTransformer(nn.Module):
    """GroupNorm → 1×1 in-projection → one LλMI block over tokens → 1×1 out-projection, plus a residual.

    Args:
        channels: channels C.
        heads: λ query heads.
        groups: GroupNorm groups (eps 1e-6 here, unlike the resnets).
        context_dim: channels of the context tokens.
        num_pixels: latent pixels at this level.
        num_tokens: context tokens.
    """

    def __init__(
        self, channels: int, heads: int, groups: int, context_dim: int, num_pixels: int, num_tokens: int
    ) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.transformer_blocks = nn.ModuleList([LambdaBlock(channels, heads, context_dim, num_pixels, num_tokens)])
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        size = (x.shape[2], x.shape[3])
        tokens = _pointwise(_to_tokens(self.norm(x)), self.proj_in)
        for block in self.transformer_blocks:
            tokens = block(tokens, context, size)
        return _to_image(_pointwise(tokens, self.proj_out), size).add_(x)


class Downsample(nn.Module):
    """Stride-2 3×3 convolution (``downsamplers.0.conv``).

    In the fast int8 mode it runs as one int8 product over the 3×3 windows (see :func:`window_weight`).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        packed = _int8_gemm(self.conv)
        if packed is not None:
            return _strided_windows_product(x, packed)
        return self.conv(x)  # type: ignore[no-any-return]


def window_weight(conv: nn.Conv2d) -> Tensor:
    """A 3×3 kernel (out, C, 3, 3) as the (out, 9·C) matrix that multiplies windows laid out (ky, kx, C)."""
    return conv.weight.detach().permute(0, 2, 3, 1).reshape(conv.weight.shape[0], -1)


def _strided_windows_product(x: Tensor, product: Int8Linear) -> Tensor:
    """A stride-2, padding-1 3×3 convolution as one product of every output pixel's window with the kernel.

    Output pixel (i, j) reads the zero-padded input at rows 2i … 2i + 2 and columns 2j … 2j + 2: those nine
    pixels, channels last, are one row of the window matrix (a quarter of the input's pixels, nine times
    its channels), and ``product`` holds :func:`window_weight`.
    """
    batch, channels, height, width = x.shape
    out_height, out_width = (height + 1) // 2, (width + 1) // 2
    # 1. The zero-padded pixels, channels last, and every output pixel's 3×3 window as a strided view of them.
    padded = F.pad(x.permute(0, 2, 3, 1), (0, 0, 1, 1, 1, 1))
    s_b, s_h, s_w, _ = padded.stride()
    windows = padded.as_strided(
        (batch, out_height, out_width, 3, 3, channels), (s_b, 2 * s_h, 2 * s_w, s_h, s_w, 1)
    ).reshape(batch * out_height * out_width, 9 * channels)
    # 2. One product (bias included), returned channels-last.
    out = product(windows).view(batch, out_height, out_width, -1)
    return out.permute(0, 3, 1, 2)


class DownBlock(nn.Module):
    """One encoder level: (resnet → λ-transformer) × layers, then an optional downsampler.

    Registration order (attentions, resnets, downsamplers) follows the released state dict.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        temb_channels: int,
        *,
        layers: int,
        heads: int,
        groups: int,
        context_dim: int,
        num_pixels: int,
        num_tokens: int,
        add_downsample: bool,
    ) -> None:
        super().__init__()
        self.attentions = nn.ModuleList(
            [LambdaTransformer(out_channels, heads, groups, context_dim, num_pixels, num_tokens) for _ in range(layers)]
        )
        self.resnets = nn.ModuleList(
            [
                ResnetBlock(in_channels if j == 0 else out_channels, out_channels, temb_channels, groups)
                for j in range(layers)
            ]
        )
        self.downsamplers = nn.ModuleList([Downsample(out_channels)]) if add_downsample else None

    def forward(self, x: Tensor, temb: Tensor, context: Tensor) -> tuple[Tensor, list[Tensor]]:
        skips: list[Tensor] = []
        for resnet, attention in zip(self.resnets, self.attentions, strict=True):
            x = attention(resnet(x, temb), context)
            skips.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            skips.append(x)
        return x, skips


class UpBlock(nn.Module):
    """One decoder level: (concat skip → resnet → λ-transformer) × (layers + 1), then an optional upsampler."""

    def __init__(
        self,
        in_channels: int,
        prev_channels: int,
        out_channels: int,
        temb_channels: int,
        *,
        layers: int,
        heads: int,
        groups: int,
        context_dim: int,
        num_pixels: int,
        num_tokens: int,
        add_upsample: bool,
    ) -> None:
        super().__init__()
        resnets = []
        for j in range(layers + 1):
            skip_channels = in_channels if j == layers else out_channels
            current = prev_channels if j == 0 else out_channels
            resnets.append(ResnetBlock(current + skip_channels, out_channels, temb_channels, groups))
        self.attentions = nn.ModuleList(
            [
                LambdaTransformer(out_channels, heads, groups, context_dim, num_pixels, num_tokens)
                for _ in range(layers + 1)
            ]
        )
        self.resnets = nn.ModuleList(resnets)
        self.upsamplers = nn.ModuleList([Upsample(out_channels)]) if add_upsample else None

    def forward(self, x: Tensor, skips: list[Tensor], temb: Tensor, context: Tensor) -> Tensor:
        for resnet, attention in zip(self.resnets, self.attentions, strict=True):
            x = torch.cat([x, skips.pop()], dim=1)
            x = attention(resnet(x, temb), context)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


# ---------------------------------------------------------------------------------------------------------
# The UNet and the wrapper
# ---------------------------------------------------------------------------------------------------------


class MoebiusUNet(nn.Module):
    """The denoising UNet (``diff_model``): three λ-transformer levels, no mid block, ε prediction.

    Args:
        in_channels: input channels (9: noisy latents 4, mask 1, masked-image latents 4).
        out_channels: predicted noise channels (4).
        block_out_channels: channels per level, fine to coarse.
        heads: λ query heads at every level (the config's ``attention_head_dim``, a legacy name).
        norm_num_groups: GroupNorm groups.
        cross_attention_dim: channels of the projected context tokens.
        encoder_hid_dim: channels of the id embeddings before projection.
        sample_size: latent side the positional tables are built for (64 → 512-pixel images).
        num_tokens: context tokens per sample (10).
        layers_per_block: resnets per encoder level (decoder levels have one more).
        conv_in_kernel / conv_out_kernel: depthwise kernel of the input and output convs.
    """

    def __init__(
        self,
        *,
        in_channels: int = 9,
        out_channels: int = 4,
        block_out_channels: Sequence[int] = (320, 640, 1280),
        heads: int = 8,
        norm_num_groups: int = 32,
        cross_attention_dim: int = 768,
        encoder_hid_dim: int = 3072,
        sample_size: int = 64,
        num_tokens: int = 10,
        layers_per_block: int = 2,
        conv_in_kernel: int = 3,
        conv_out_kernel: int = 3,
    ) -> None:
        super().__init__()
        channels = list(block_out_channels)
        temb_channels = 4 * channels[0]
        levels = len(channels)
        self.sample_size = sample_size
        self.num_tokens = num_tokens

        self.conv_in = DepthwiseSeparableConv(in_channels, channels[0], conv_in_kernel)
        self.time_embedding = TimestepEmbedding(channels[0], temb_channels)
        self.encoder_hid_proj = nn.Linear(encoder_hid_dim, cross_attention_dim)

        def shared(level: int) -> dict[str, int]:
            side = sample_size // (2**level)
            return {
                "heads": heads,
                "groups": norm_num_groups,
                "context_dim": cross_attention_dim,
                "num_pixels": side * side,
                "num_tokens": num_tokens,
            }

        self.down_blocks = nn.ModuleList()
        previous = channels[0]
        for level, out in enumerate(channels):
            self.down_blocks.append(
                DownBlock(
                    previous,
                    out,
                    temb_channels,
                    layers=layers_per_block,
                    add_downsample=level < levels - 1,
                    **shared(level),
                )
            )
            previous = out

        self.up_blocks = nn.ModuleList()
        reversed_channels = channels[::-1]
        previous = reversed_channels[0]
        for i, out in enumerate(reversed_channels):
            level = levels - 1 - i
            skip_in = reversed_channels[min(i + 1, levels - 1)]
            self.up_blocks.append(
                UpBlock(
                    skip_in,
                    previous,
                    out,
                    temb_channels,
                    layers=layers_per_block,
                    add_upsample=i < levels - 1,
                    **shared(level),
                )
            )
            previous = out

        self.conv_norm_out = nn.GroupNorm(norm_num_groups, channels[0], eps=1e-5)
        self.conv_out = DepthwiseSeparableConv(channels[0], out_channels, conv_out_kernel)

    def forward(
        self, sample: Tensor, timesteps: Tensor, context: Tensor, block_outputs: list[Tensor] | None = None
    ) -> Tensor:
        """Predict the noise.

        Args:
            sample: (B, in_channels, S, S) latents.
            timesteps: scalar or (1,) or (B,) diffusion timesteps.
            context: (B, 10, encoder_hid_dim) id embeddings (projected here).
            block_outputs: when a list is given, the output of every down and up block is appended to it.
        """
        batch = sample.shape[0]
        # 1. Time embedding, broadcast to the batch.
        timesteps = torch.as_tensor(timesteps, device=sample.device).reshape(-1).expand(batch)
        temb = self.time_embedding(timesteps).to(sample.dtype)
        # 2. Context tokens.
        context = self.encoder_hid_proj(context)
        # 3. Encoder, keeping every intermediate as a skip; activations stay channels-last throughout.
        h = self.conv_in(sample.contiguous(memory_format=torch.channels_last))
        skips = [h]
        for down in self.down_blocks:
            h, level_skips = down(h, temb, context)
            skips.extend(level_skips)
            if block_outputs is not None:
                block_outputs.append(h)
        # 4. Decoder (no mid block), consuming skips last-in first-out.
        for up in self.up_blocks:
            h = up(h, skips, temb, context)
            if block_outputs is not None:
                block_outputs.append(h)
        # 5. Output head, returned in the ordinary contiguous layout.
        out: Tensor = self.conv_out(F.silu(self.conv_norm_out(h)))
        return out.contiguous()


class MoebiusModel(nn.Module):
    """The released wrapper: an id-embedding table (``embedding_layer``) in front of the UNet (``diff_model``).

    Args:
        config: constructor arguments with the keys of ``golden_tiny/config.json``'s ``model_kwargs``; missing
            keys take the released values, so ``MoebiusModel()`` is the released 226M-parameter model.
    """

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.config = normalize_config(config)
        cfg = self.config
        # The embedding's usual N(0, 1) initialisation, except on the meta device (a model built to receive a
        # checkpoint), where drawing random numbers would pull in torch's compiler stack (about 80 MB of
        # modules) for its meta implementation and an empty table is all that is needed.
        shape = (cfg["num_embeddings"], cfg["encoder_hid_dim"])
        table = torch.empty(shape) if torch.empty(0).device.type == "meta" else torch.randn(shape)
        self.embedding_layer = nn.Embedding(cfg["num_embeddings"], cfg["encoder_hid_dim"], _weight=table)
        self.diff_model = MoebiusUNet(
            in_channels=cfg["in_channels"],
            out_channels=cfg["out_channels"],
            block_out_channels=cfg["block_out_channels"],
            heads=cfg["attention_head_dim"],
            norm_num_groups=cfg["norm_num_groups"],
            cross_attention_dim=cfg["cross_attention_dim"],
            encoder_hid_dim=cfg["encoder_hid_dim"],
            sample_size=cfg["sample_size"],
            num_tokens=cfg["num_embeddings"] // 2,
            layers_per_block=cfg.get("layers_per_block", 2),
            conv_in_kernel=cfg["conv_in_kernel"],
            conv_out_kernel=cfg["conv_out_kernel"],
        )
        self.eval()

    @property
    def sample_size(self) -> int:
        """Latent side the model runs at (64 for the released model)."""
        return int(self.config["sample_size"])

    @property
    def in_channels(self) -> int:
        return int(self.config["in_channels"])

    def check_inputs(self, sample: Tensor, input_ids: Tensor) -> None:
        """Raise :class:`UnsupportedSizeError` for inputs the model cannot run, before any work is done."""
        side = self.sample_size
        if sample.ndim != 4 or sample.shape[1] != self.in_channels or tuple(sample.shape[2:]) != (side, side):
            raise UnsupportedSizeError(
                f"The Moebius model needs latents of shape (batch, {self.in_channels}, {side}, {side}) "
                f"({side * 8}×{side * 8} pixels); got {tuple(sample.shape)}.",
                hint="Photos of other sizes are fitted into the model's frame by the pipeline.",
            )
        tokens = self.diff_model.num_tokens
        if input_ids.ndim != 2 or input_ids.shape[1] != tokens or input_ids.shape[0] != sample.shape[0]:
            raise UnsupportedSizeError(
                f"input_ids must have shape ({sample.shape[0]}, {tokens}); got {tuple(input_ids.shape)}."
            )

    def forward(
        self,
        sample: Tensor,
        timesteps: Tensor | int,
        input_ids: Tensor,
        block_outputs: list[Tensor] | None = None,
    ) -> Tensor:
        """Predict the noise ε for ``sample`` at ``timesteps`` conditioned on ``input_ids``.

        Args:
            sample: (B, 9, S, S) model input (noisy latents, mask, masked-image latents).
            timesteps: int or tensor broadcastable to the batch.
            input_ids: (B, 10) int64 ids (0–9 removal task, 10–19 foreground task).
            block_outputs: optional list receiving the six block outputs (for tests and debugging).

        Returns:
            (B, 4, S, S) predicted noise.
        """
        self.check_inputs(sample, input_ids)
        context = self.embedding_layer(input_ids).to(sample.dtype)
        t = timesteps if isinstance(timesteps, Tensor) else torch.tensor([timesteps])
        return self.diff_model(sample, t, context, block_outputs)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------------------
# Configuration and loading
# ---------------------------------------------------------------------------------------------------------


def normalize_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge ``config`` over the released configuration and validate it.

    Accepts the ``model_kwargs`` mapping or a whole ``golden_tiny/config.json``-style dict that contains one.
    """
    raw = dict(config or {})
    if "model_kwargs" in raw:
        raw = dict(raw["model_kwargs"])
    # Keys starting with "_" are bookkeeping written by other tools (e.g. "_class_name"), not architecture.
    raw = {key: value for key, value in raw.items() if not key.startswith("_")}
    cfg = dict(RELEASED_CONFIG)
    known = set(RELEASED_CONFIG) | {"layers_per_block"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"Unknown Moebius config keys: {', '.join(unknown)}.")
    cfg.update(raw)
    for key, value in _FIXED_VALUES.items():
        if cfg[key] != value:
            raise ConfigError(f"Moebius config: {key} must be {value!r} (got {cfg[key]!r}).")
    for key in ("down_block_types", "up_block_types"):
        if len(cfg[key]) != len(cfg["block_out_channels"]):
            raise ConfigError(f"Moebius config: {key} must have one entry per level.")
    channels = [int(c) for c in cfg["block_out_channels"]]
    heads = int(cfg["attention_head_dim"])
    if any(c % heads for c in channels) or any(c % int(cfg["norm_num_groups"]) for c in channels):
        raise ConfigError("Moebius config: every block_out_channels entry must divide by heads and norm groups.")
    if int(cfg["sample_size"]) % (2 ** (len(channels) - 1)):
        raise ConfigError("Moebius config: sample_size must divide by 2 for every downsampling level.")
    cfg["block_out_channels"] = channels
    return cfg


def load_moebius(
    path: str | Path,
    *,
    config: Mapping[str, Any] | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> MoebiusModel:
    """Load a released Moebius checkpoint strictly.

    Args:
        path: ``diffusion_pytorch_model.bin`` (a torch pickle, read with ``weights_only=True``) or a
            ``.safetensors`` file with the same keys; a folder holding one of them also works.
        config: model configuration; ``None`` reads ``config.json`` beside the checkpoint if present and
            otherwise uses the released configuration.
        device: where the model runs.
        dtype: floating-point type of the weights (float32 by default).

    Raises:
        CheckpointError: unreadable, truncated or unsafe file; CheckpointMismatchError for wrong keys/shapes.
    """
    path = Path(path)
    if path.is_dir():
        candidates = [path / "diffusion_pytorch_model.safetensors", path / "diffusion_pytorch_model.bin"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise CheckpointError(f"No diffusion_pytorch_model.safetensors or .bin in {path}.")
        path = found
    if config is None:
        config = read_config_beside(path)
    state = read_state_dict(path)
    with torch.device("meta"):
        model = MoebiusModel(config)
    check_state_dict(model, state)
    model.load_state_dict(state, strict=True, assign=True)
    return model.to(device=device, dtype=dtype).eval()
