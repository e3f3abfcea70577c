"""2× nearest-neighbour upsampling followed by a 3×3 convolution, computed on the small input.

Both the UNet and the VAE enlarge feature maps this way. Done literally, the convolution runs over the
enlarged map: 9 multiply-adds per output value and channel pair, 36 per input pixel, on a copy four times the
input's size. But the enlarged map only repeats input pixels: output pixel (2i + a, 2j + b) reads, through
kernel tap (ky, kx), input pixel (i + dy, j + dx) with dy = ⌊(a + ky − 1) / 2⌋ and dx = ⌊(b + kx − 1) / 2⌋.
So each tap's product with the input pixels, ``P[ky, kx] = x · W[:, :, ky, kx]ᵀ``, serves all four output
phases (a, b), each reading it at its own shift (dy, dx), and the whole convolution is 9 matrix products of the
small input (the work of a 3×3 convolution at the input's size, a quarter of the literal one) followed by
shifted sums. Zero padding of the enlarged map is zero padding of the input: a shift that leaves the input
contributes nothing, so the sums simply skip those rows and columns.

The sums run over the products while they are fresh in the cache, and for large maps the input is processed
in bands of rows (each band's products need one input row above and one below) so that the nine products
never take more memory than one full-size product would. The result equals the literal computation up to
float32 rounding of the regrouped sums.

The products need each tap's (out, C) matrix with unit stride along C, which the checkpoint's (out, C, 3, 3)
layout does not give. :class:`Upsample` therefore keeps its kernel tap-major: the parameter's memory is laid
out (out, 3, 3, C) — torch's channels-last format for a 4-D weight — while its shape stays (out, C, 3, 3), so
the state dict, ``.to()``, copies and every other reader see the same weight. It is re-laid once when the module
is built and again after a state dict is loaded into it (``assign=True`` puts the file's tensor in its place);
``.to()`` and ``copy.deepcopy`` keep the layout. A weight in any other layout still works: it is copied into
the tap-major order on every call, as a function of the weight alone. (For the UNet's 1280-channel upsampler
that copy took 50 ms of an 80 ms call; the tap-major copy costs 74 MB for the UNet's two upsamplers, and the
memory-mapped original's pages are dropped once it is made, see :mod:`core.model.mapped_pages`.) A subclass
whose usual path reads the checkpoint's layout directly sets ``TAP_MAJOR = False`` and keeps the mapped weight.

In the fast int8 mode (:mod:`core.model.quantized`) the UNet's upsamplers carry an int8 copy of the nine
tap matrices stacked into one (9·out, C) product, so each band's input is quantized once and multiplied once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.model.int8_gemm import INT8_GEMM, Int8Linear
from core.model.mapped_pages import drop_mapped_pages

# The nine products of one band hold at most this many values (64 MB in float32), about one product of the
# whole map at the VAE's largest upsampling; the UNet's maps always fit in one band.
BAND_ELEMENTS = 16_000_000


def _shift(phase: int, tap: int) -> int:
    """Input offset read by output phase ``phase`` (0 or 1) through kernel tap ``tap`` (0, 1 or 2), one axis."""
    return (phase + tap - 1) // 2


def tap_major(weight: Tensor) -> Tensor:
    """``weight`` (out, C, 3, 3) with its memory laid out tap-major, (out, 3, 3, C); itself if it already is."""
    return weight.contiguous(memory_format=torch.channels_last)


def tap_matrices(weight: Tensor) -> Tensor:
    """The nine (out, C) tap matrices of a 3×3 kernel as one (out, 9, C) tensor, unit stride along C.

    A view of ``weight`` when it is tap-major (see :func:`tap_major`); a tap-major copy otherwise.
    """
    out_channels, channels = weight.shape[:2]
    return weight.permute(0, 2, 3, 1).reshape(out_channels, 9, channels)


def relay_tap_major(conv: nn.Conv2d) -> None:
    """Re-lay ``conv``'s weight tap-major in place of the old memory (the parameter object stays the same).

    When the old memory is a memory-mapped weight file, its pages (touched by the copy) are dropped: nothing
    reads them again, and they would otherwise stay resident for as long as the file is mapped.
    """
    weight = conv.weight
    if not weight.is_contiguous(memory_format=torch.channels_last):
        old = weight.data
        with torch.no_grad():
            weight.data = tap_major(old)
        drop_mapped_pages([old])


def stacked_tap_weights(weight: Tensor, bias: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """The nine tap matrices stacked into one (9·out, C) product weight (row ``t·out + o`` is tap t, output o)
    and its bias, which rides on the centre tap's rows (see :func:`upsample_conv3x3`)."""
    out_channels = weight.shape[0]
    stacked = tap_matrices(weight.detach()).transpose(0, 1).reshape(9 * out_channels, -1)
    if bias is None:
        return stacked, None
    stacked_bias = bias.detach().new_zeros(9, out_channels)
    stacked_bias[4] = bias.detach()
    return stacked, stacked_bias.reshape(-1)


def upsample_conv3x3(
    x: Tensor, weight: Tensor, bias: Tensor | None, stacked_product: Callable[[Tensor], Tensor] | None = None
) -> Tensor:
    """``conv2d(interpolate(x, scale_factor=2, mode="nearest"), weight, bias, padding=1)`` without the copy.

    Args:
        x: the feature map (B, C, H, W), best channels-last (otherwise its pixels are copied into that layout).
        weight: the 3×3 kernel (out, C, 3, 3), best tap-major (otherwise it is re-laid out at every call).
        bias: the bias (out,) or ``None``.
        stacked_product: instead of the nine float products, one product of the band's pixels (P, C) with the
            stacked weight of :func:`stacked_tap_weights` giving (P, 9·out), bias included (the int8 mode).

    Returns:
        (B, out, 2H, 2W), channels-last.
    """
    batch, channels, height, width = x.shape
    out_channels = weight.shape[0]
    # 1. Each tap's (out, C) matrix with unit stride along C, as the matrix products need it (a view of a
    #    tap-major weight).
    taps = tap_matrices(weight)
    pixels = x.permute(0, 2, 3, 1)
    out = x.new_empty(batch, 2 * height, 2 * width, out_channels)
    rows = max(1, BAND_ELEMENTS // (9 * width * out_channels) - 2)
    for image in range(batch):
        for top in range(0, height, rows):
            bottom = min(height, top + rows)
            # 2. The band's input rows plus one above and one below, times every tap. The bias rides on the
            #    centre tap, which every output pixel reads exactly once.
            first, last = max(0, top - 1), min(height, bottom + 1)
            band = pixels[image, first:last].reshape(-1, channels)
            if stacked_product is not None:
                stacked = stacked_product(band).view(last - first, width, 9, out_channels)
                products = [stacked[:, :, t] for t in range(9)]
            else:
                products = [
                    F.linear(band, taps[:, t], bias if t == 4 else None).view(last - first, width, out_channels)
                    for t in range(9)
                ]
            # 3. Every output phase of the band: the centre tap (no shift, covers every pixel), then the
            #    other eight taps added at their shifts, clipped at the borders.
            for a in (0, 1):
                for b in (0, 1):
                    target = out[image, 2 * top + a : 2 * bottom : 2, b::2]
                    target.copy_(products[4][top - first : bottom - first])
                    for ky in range(3):
                        dy = _shift(a, ky)
                        i0, i1 = max(top, -dy), min(bottom, height - dy)
                        if i0 >= i1:
                            continue
                        for kx in range(3):
                            if (ky, kx) == (1, 1):
                                continue
                            dx = _shift(b, kx)
                            j0, j1 = max(0, -dx), min(width, width - dx)
                            source = products[3 * ky + kx][i0 + dy - first : i1 + dy - first, j0 + dx : j1 + dx]
                            target[i0 - top : i1 - top, j0:j1] += source
    return out.permute(0, 3, 1, 2)


class Upsample(nn.Module):
    """2× nearest-neighbour upsampling followed by a 3×3 convolution (``upsamplers.0.conv`` in both the UNet's
    and the VAE decoder's checkpoints), evaluated on the small input by :func:`upsample_conv3x3`.

    Args:
        channels: channels in and out.
    """

    # Whether the kernel is kept tap-major (see the module docstring).
    TAP_MAJOR: ClassVar[bool] = True

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        # 1. The kernel tap-major from the start, and again whenever a state dict brings a tensor of its own.
        if self.TAP_MAJOR:
            relay_tap_major(self.conv)
            self.register_load_state_dict_post_hook(_relay_after_loading)  # type: ignore[no-untyped-call]

    def forward(self, x: Tensor) -> Tensor:
        # 2. The int8 mode's stacked tap product, if the model was prepared for it.
        packed: Int8Linear | None = self.conv.__dict__.get(INT8_GEMM)
        return upsample_conv3x3(x, self.conv.weight, self.conv.bias, packed)


def _relay_after_loading(module: nn.Module, _incompatible: object) -> None:
    """Load-state-dict hook of :class:`Upsample`: a loaded weight (``assign=True``) gets the tap-major layout."""
    assert isinstance(module, Upsample)
    relay_tap_major(module.conv)
