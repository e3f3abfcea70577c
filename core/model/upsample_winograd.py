"""2× nearest-neighbour upsampling followed by a 3×3 convolution, by Winograd's F(4×4, 2×2) per output phase.

:mod:`core.model.upsample` computes this on the small input: output pixel (2i + a, 2j + b) — phase (a, b) —
reads only input rows i + a − 1 and i + a and columns j + b − 1 and j + b, so each phase is a 2×2 convolution of
the input whose taps are sums of the 3×3 kernel's taps (along one axis, phase 0 takes taps (w₀, w₁ + w₂) and
phase 1 takes (w₀ + w₁, w₂)). That module computes the nine tap products and adds them at their shifts: 9
multiply-adds per input pixel and channel pair, and nine passes over the output. Here each phase's 2×2
convolution is done by Winograd's F(4×4, 2×2): a 5×5 input tile gives a 4×4 block of that phase's outputs
from 25 point-wise products, so the four phases take 4 · 25 / 16 = 6.25 multiply-adds per input pixel and
channel pair, and every output value is written once.

The four phases of a 4×4 block of input positions read 5×5 windows of the same 6×6 input tile (rows and
columns offset by the phase), so one gather of overlapping 6×6 tiles (as in :mod:`core.model.winograd`)
serves all four: the input transform is one product with a 100 × 36 matrix (for each phase, ``Bᵀ ⊗ Bᵀ``
placed on that phase's window), the point-wise products one batched product over the 100 points, the output
transform a batch of four products with ``Aᵀ ⊗ Aᵀ`` (16 × 25), and the four phases' 4×4 blocks are then
interleaved into the 8×8 output block as they are written.

The matrices are F(4, 2)'s for the interpolation points 0, 1, −1, 2 and ∞ (derived with the Toom–Cook
construction as in Lavin and Gray, 2016); in float32 the result equals the tap-by-tap one to about 1e-6 of the
output's range, the transforms' numbers being small (at most 8). As in :mod:`core.model.winograd`, the image
goes in bands of tile rows sized to stay in the cache, the bands shared out to single-threaded worker threads,
and the path is off inside :func:`core.model.winograd.direct_convolutions`.
"""

from __future__ import annotations

import functools
import threading

import torch
from torch import Tensor, nn

from core.model.band_threads import plan_bands, run_jobs
from core.model.int8_gemm import INT8_GEMM
from core.model.upsample import Upsample
from core.model.winograd import band_workspace, gather_tiles, split_workspace, winograd_applies

# F(4, 2) for the points 0, 1, −1, 2, ∞.
_BT = (
    (2.0, -1.0, -2.0, 1.0, 0.0),
    (0.0, -2.0, -1.0, 1.0, 0.0),
    (0.0, 2.0, -3.0, 1.0, 0.0),
    (0.0, -1.0, 0.0, 1.0, 0.0),
    (0.0, 2.0, -1.0, -2.0, 1.0),
)
_G = ((1 / 2, 0.0), (-1 / 2, -1 / 2), (-1 / 6, 1 / 6), (1 / 6, 1 / 3), (0.0, 1.0))
_AT = (
    (1.0, 1.0, 1.0, 1.0, 0.0),
    (0.0, 1.0, -1.0, 2.0, 0.0),
    (0.0, 1.0, 1.0, 4.0, 0.0),
    (0.0, 1.0, -1.0, 8.0, 1.0),
)
# The 2-tap kernel of each phase along one axis from the 3 taps of the kernel: phase 0 reads input offsets
# −1 and 0 through taps (w₀, w₁ + w₂), phase 1 offsets 0 and +1 through (w₀ + w₁, w₂).
_PHASE_TAPS = (((1.0, 0.0, 0.0), (0.0, 1.0, 1.0)), ((1.0, 1.0, 0.0), (0.0, 0.0, 1.0)))
TILE = 4  # input positions (of each phase's outputs) per tile side
PHASES = 4
POINTS = 25  # per phase, (TILE + 1)²
# Point (1, 1) (the point 1 on both axes) reaches every output of its tile with weight 1 (column 1 of Aᵀ is
# all ones): a bias added to it is added to all 16.
_ONES_POINT = 6
# The transformed tiles of one band hold at most this many values.
BAND_ELEMENTS = 4_000_000

_calls = 0
_calls_lock = threading.Lock()


def upsample_winograd_call_count() -> int:
    """How many upsampling convolutions this process has computed by F(4×4, 2×2) (tests check the switch)."""
    return _calls


def upsample_winograd_pays_off(channels: int, out_channels: int, height: int, width: int) -> bool:
    """The measured rule: whether this path beats the tap-by-tap one for an upsampler of this shape.

    On a 2-core AVX-512 machine (medians, same process) it took 52–62 % of the tap-by-tap time, one thread, for
    the VAE's three upsamplers (512 channels at 64² and 128², 256 at 256²), 60–62 % with two threads; at 128
    channels it broke even at 64² (two threads) and lost at 32².

    Args:
        channels: input channels.
        out_channels: output channels.
        height: input height.
        width: input width.
    """
    return min(channels, out_channels) >= 128 and height * width >= 64 * 64


@functools.cache
def _matrices(dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
    """The input transform (100 × 36), the kernel transform (100 × 9) and the output transforms (4, 16, 25)."""
    bt = torch.tensor(_BT, dtype=torch.float64)
    g = torch.tensor(_G, dtype=torch.float64)
    at = torch.tensor(_AT, dtype=torch.float64)
    windows, kernels = [], []
    for phase in range(2):
        window = torch.zeros(TILE + 1, TILE + 2, dtype=torch.float64)
        window[:, phase : phase + TILE + 1] = bt  # this phase's 5 rows of the 6-row tile
        windows.append(window)
        kernels.append(g @ torch.tensor(_PHASE_TAPS[phase], dtype=torch.float64))
    phases = [(a, b) for a in range(2) for b in range(2)]
    input_transform = torch.cat([torch.kron(windows[a], windows[b]) for a, b in phases])
    kernel_transform = torch.cat([torch.kron(kernels[a], kernels[b]) for a, b in phases])
    output_transform = torch.kron(at, at).expand(PHASES, TILE * TILE, POINTS)
    return input_transform.to(dtype), kernel_transform.to(dtype), output_transform.to(dtype).contiguous()


def transform_upsample_filter(weight: Tensor, out: Tensor | None = None) -> Tensor:
    """Every phase's transformed 2×2 kernel, (100, in, out): point-major, output channels innermost.

    Args:
        weight: the 3×3 kernel (out, in, 3, 3) of the convolution after the upsampling.
        out: a contiguous buffer of 100 · in · out values to write into (``None``: a new tensor).
    """
    _, kernel_transform, _ = _matrices(weight.dtype)
    out_channels, in_channels = weight.shape[:2]
    if out is None:
        out = weight.new_empty(PHASES * POINTS * in_channels * out_channels)
    transformed = out.view(PHASES * POINTS, in_channels, out_channels)
    # One product with the taps laid out (9, in · out), a small copy of the weight. (A batched product per
    # input channel writing into the transposed result, as core.model.winograd does for its 36 points, ran
    # from 25 ms to 3 s from call to call at 100 points.)
    taps = weight.permute(2, 3, 1, 0).reshape(9, in_channels * out_channels)
    torch.mm(kernel_transform, taps, out=transformed.view(PHASES * POINTS, in_channels * out_channels))
    return transformed


def winograd_upsample_conv3x3(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``conv2d(interpolate(x, scale_factor=2, mode="nearest"), weight, bias, padding=1)`` by F(4×4, 2×2).

    Args:
        x: the feature map (B, C, H, W), best channels-last.
        weight: the 3×3 kernel (out, C, 3, 3).
        bias: the bias (out,) or ``None``.

    Returns:
        (B, out, 2H, 2W), channels-last.
    """
    global _calls
    with _calls_lock:
        _calls += 1
    batch, channels, height, width = x.shape
    out_channels = weight.shape[0]
    # The transformed kernel is made afresh on every call (105 MB at 512 channels): kept for reuse it stayed
    # resident through the rest of the decode and after it, 100 MB on the decoder's peak, for about 25 ms of
    # page zeroing per call saved.
    u = transform_upsample_filter(weight.detach())
    out = x.new_empty(batch, 2 * height, 2 * width, out_channels)
    tile_rows, tile_cols = -(-height // TILE), -(-width // TILE)
    widest = max(channels, out_channels)
    # 1. Bands of tile rows whose 100 transformed points stay about BAND_ELEMENTS values; at least one band
    #    per thread.
    rows, bands, workers = plan_bands(batch, tile_rows, BAND_ELEMENTS // (PHASES * POINTS * tile_cols * widest))
    # 2. One allocation for every worker's buffers, then the bands.
    workspace = band_workspace(x, workers, rows, tile_cols, PHASES * POINTS * rows * tile_cols * widest)
    jobs = [(x, u, bias, out, bands[i::workers], rows, workspace[i]) for i in range(workers)]
    run_jobs(_run_bands, jobs)
    return out.permute(0, 3, 1, 2)


def _run_bands(
    x: Tensor,
    u: Tensor,
    bias: Tensor | None,
    out: Tensor,
    bands: list[tuple[int, int]],
    rows: int,
    workspace: Tensor,
) -> None:
    """Compute the given bands (image, first tile row) of at most ``rows`` tile rows into ``out``.

    Args:
        x: the input (B, C, H, W).
        u: the transformed kernels (100, C, out).
        bias: the bias (out,) or ``None``.
        out: the channels-last output buffer (B, 2H, 2W, out).
        bands: (image, first tile row) of each band.
        rows: tile rows per band (the last band of an image may have fewer).
        workspace: room for the band's rows and two buffers of 100 · rows · tile columns · max(C, out) values.
    """
    _, channels, height, width = x.shape
    out_channels = out.shape[-1]
    input_transform, _, output_transform = _matrices(x.dtype)
    tile_rows, tile_cols = -(-height // TILE), -(-width // TILE)
    points = PHASES * POINTS
    band, first, second = split_workspace(
        workspace, rows, tile_cols, channels, points * rows * tile_cols * max(channels, out_channels)
    )
    pixels = x.permute(0, 2, 3, 1)
    for image, top_tile in bands:
        n = min(rows, tile_rows - top_tile)
        tiles = n * tile_cols
        # 1. The band's input rows with one row above and below (zero outside the image) and a zero border;
        #    its overlapping 6×6 tiles gathered point-major.
        gathered = gather_tiles(pixels, image, top_tile, n, band, first)
        # 2. Transform each phase's 5×5 window of them.
        v = second[: points * tiles * channels].view(points, tiles * channels)
        torch.mm(input_transform, gathered, out=v)
        # 3. One product per point and phase, summed over the input channels; the bias on the all-ones point.
        m = first[: points * tiles * out_channels].view(points, tiles, out_channels)
        torch.bmm(v.view(points, tiles, channels), u, out=m)
        if bias is not None:
            m.view(PHASES, POINTS, tiles, out_channels)[:, _ONES_POINT].add_(bias)
        # 4. Back to each phase's 4×4 blocks: (phase row, phase column, row, column, tiles).
        y = second[: PHASES * TILE * TILE * tiles * out_channels].view(PHASES, TILE * TILE, tiles * out_channels)
        torch.bmm(output_transform, m.view(PHASES, POINTS, tiles * out_channels), out=y)
        # 5. Interleave the phases into 8×8 output blocks: output row 8 · tile + 2 · row + phase row.
        blocks = y.view(2, 2, TILE, TILE, n, tile_cols, out_channels).permute(4, 2, 0, 5, 3, 1, 6)
        top = 2 * TILE * top_tile
        valid_rows = min(2 * height, 2 * TILE * (top_tile + n)) - top
        if width % TILE == 0 and valid_rows == 2 * TILE * n:
            target = out[image, top : top + valid_rows].view(n, TILE, 2, tile_cols, TILE, 2, out_channels)
        else:
            blocks = blocks.reshape(2 * TILE * n, 2 * TILE * tile_cols, out_channels)[:valid_rows, : 2 * width]
            target = out[image, top : top + valid_rows]
        target.copy_(blocks)


class WinogradUpsample(Upsample):
    """:class:`core.model.upsample.Upsample` (same parameters and keys) that takes F(4×4, 2×2) where it pays.

    The path is taken when :func:`core.model.winograd.winograd_applies` (float32 on the CPU, no autograd or
    tracing, not inside :func:`core.model.winograd.direct_convolutions`) and
    :func:`upsample_winograd_pays_off`; otherwise this is the tap-by-tap upsampler.

    Args:
        channels: channels in and out.
    """

    # The Winograd path transforms the checkpoint's (out, C, 3, 3) kernel itself: the memory-mapped weight is
    # kept as it is (its pages can be handed back between stages), and the tap-by-tap fallback (small maps,
    # GPUs, direct_convolutions) copies the taps per call.
    TAP_MAJOR = False

    def __init__(self, channels: int) -> None:
        super().__init__(channels)

    def forward(self, x: Tensor) -> Tensor:
        conv: nn.Conv2d = self.conv
        if (
            x.dim() == 4
            and conv.__dict__.get(INT8_GEMM) is None  # a model prepared for the int8 mode keeps its product
            and upsample_winograd_pays_off(conv.in_channels, conv.out_channels, x.shape[-2], x.shape[-1])
            and winograd_applies(x, conv.weight, conv.bias)
        ):
            return winograd_upsample_conv3x3(x, conv.weight, conv.bias)
        return super().forward(x)
