"""2× nearest-neighbour upsampling followed by a 3×3 convolution, computed on the small input.

Both the UNet and the VAE decoder enlarge feature maps this way. Done literally, the convolution runs over
the enlarged map: 9 multiply-adds per output value and channel pair, on a copy four times the input's size.
But output pixel (2i + a, 2j + b) of that convolution reads only input rows i − 1 … i + 1 (and the same
columns), in a pattern fixed by its phase (a, b): along each axis, phase 0 reads the previous input row
through kernel row 0 and the current row through rows 1 and 2, phase 1 the current row through rows 0 and 1
and the next row through row 2. Summing the kernel taps that land on the same input pixel turns each phase
into a 2×2 convolution of the small input — 4 multiply-adds instead of 9, and no enlarged copy. Zero padding
of the enlarged map is zero padding of the input, so the borders agree too.

Each 2×2 convolution is evaluated as four matrix products of the input pixels (a channels-last map is
already a matrix of pixels × channels) with one summed tap each, added into the output at a shift. The
result equals the literal computation up to float32 rounding of the regrouped sums.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# For a phase along one axis: (input offset, kernel rows summed into that tap) of its two taps.
_TAPS: dict[int, tuple[tuple[int, tuple[int, ...]], ...]] = {
    0: ((-1, (0,)), (0, (1, 2))),
    1: ((0, (0, 1)), (1, (2,))),
}
# The 4 (phase, tap) combinations along one axis, in a fixed order, as rows summing kernel rows 0..2.
_AXIS_TERMS = [(phase, offset, rows) for phase in (0, 1) for offset, rows in _TAPS[phase]]
_FOLD = torch.tensor([[1.0 if r in rows else 0.0 for r in range(3)] for _, _, rows in _AXIS_TERMS])


def folded_kernels(weight: Tensor, row_term: int) -> Tensor:
    """The 4 summed kernels of one row term of a (out, in, 3, 3) weight, as (4, out, in), one per column term.

    One small matrix product over the weight (read in its own layout) instead of gathers; one row term at a
    time so that the folded copy is never more than 4/9 of the weight.
    """
    out_channels, in_channels = weight.shape[:2]
    fold = _FOLD.to(weight.device, weight.dtype)
    # (4, 9): the 3×3 taps each (row term, column term) pair sums, for this row term.
    mixing = torch.einsum("r,qc->qrc", fold[row_term], fold).reshape(4, 9)
    kernels = mixing @ weight.reshape(out_channels * in_channels, 9).T
    return kernels.reshape(4, out_channels, in_channels)


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
    pixels = x.permute(0, 2, 3, 1).reshape(batch * height * width, channels)
    # (B, 2H, 2W, out) in memory; each phase is a strided view of it.
    out = x.new_empty(batch, 2 * height, 2 * width, out_channels)
    if bias is not None:
        out.copy_(bias.reshape(1, 1, 1, out_channels).expand_as(out))
    else:
        out.zero_()
    for row_index, (a, dy, _) in enumerate(_AXIS_TERMS):
        kernels = folded_kernels(weight, row_index)
        for col_index, (b, dx, _) in enumerate(_AXIS_TERMS):
            # Output phase (a, b) at (i, j) gets the tap's product at input pixel (i + dy, j + dx).
            product = F.linear(pixels, kernels[col_index]).reshape(batch, height, width, out_channels)
            i0, i1 = max(0, -dy), height - max(0, dy)
            j0, j1 = max(0, -dx), width - max(0, dx)
            rows, cols = slice(a + 2 * i0, a + 2 * i1, 2), slice(b + 2 * j0, b + 2 * j1, 2)
            out[:, rows, cols] += product[:, i0 + dy : i1 + dy, j0 + dx : j1 + dx]
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
