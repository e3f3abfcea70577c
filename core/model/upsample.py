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
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

# The nine products of one band hold at most this many values (64 MB in float32), about one product of the
# whole map at the VAE's largest upsampling; the UNet's maps always fit in one band.
BAND_ELEMENTS = 16_000_000


def _shift(phase: int, tap: int) -> int:
    """Input offset read by output phase ``phase`` (0 or 1) through kernel tap ``tap`` (0, 1 or 2), one axis."""
    return (phase + tap - 1) // 2


def upsample_conv3x3(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``conv2d(interpolate(x, scale_factor=2, mode="nearest"), weight, bias, padding=1)`` without the copy.

    Args:
        x: the feature map (B, C, H, W), best channels-last (otherwise its pixels are copied into that layout).
        weight: the 3×3 kernel (out, C, 3, 3).
        bias: the bias (out,) or ``None``.

    Returns:
        (B, out, 2H, 2W), channels-last.
    """
    batch, channels, height, width = x.shape
    out_channels = weight.shape[0]
    # 1. Each tap's (out, C) matrix with unit stride along C, as the matrix products need it: the weight
    #    re-laid out once, tap-major.
    taps = weight.reshape(out_channels, channels, 9).transpose(1, 2).contiguous()
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

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return upsample_conv3x3(x, self.conv.weight, self.conv.bias)
