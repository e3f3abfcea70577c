"""3×3 convolutions by Winograd's minimal filtering, F(4×4, 3×3), on the CPU in float32.

A 3×3 convolution (stride 1, padding 1) computes each 4×4 block of output pixels from a 6×6 block of input
pixels. Done directly that is 16 · 9 = 144 multiply-adds per block and channel pair. Winograd's algorithm
transforms the 6×6 input tile (``V = Bᵀ d B``) and the 3×3 kernel (``U = G g Gᵀ``, once per weight) into 36
"points", multiplies point by point and sums over the input channels — 36 matrix products, one per point,
``M[p] = V[p] · U[p]`` over (tiles × C_in) · (C_in × C_out) — and transforms back (``Y = Aᵀ M A``): 36
multiply-adds per block and channel pair instead of 144. The transforms are linear maps on every tile and
channel; their cost grows with the pixels times the channels, not with the channel pairs, so they are small
next to the products once both widths reach about a hundred channels (see :func:`winograd_pays_off`).

The matrices are Lavin and Gray's for F(4, 3) ("Fast Algorithms for Convolutional Neural Networks", 2016),
with interpolation points 0, ±1, ±2 and ∞. In float32 the result differs from a direct convolution by about
1e-5 of the output's largest value (the transforms add and subtract numbers up to 8 and 1/24 times the input),
well inside the project's 1e-4 tolerance; F(6×6, 3×3) would save more but loses about a decimal digit more.

The image is processed in bands of tile rows, so the transformed tiles of a band (36 × tiles × channels) stay
a few megabytes and cache-resident: a convolution holds two band-sized work buffers per thread next to its
input and output. Every step is one large tensor operation per band:

1. copy the band's rows, with a zero border, into a small buffer; gather its 6×6 tiles (overlapping by two
   pixels) into a (36, tiles · C) matrix;
2. input transform: one matrix product with the 36 × 36 matrix ``Bᵀ ⊗ Bᵀ`` (a single large product is faster
   here than the two separable 6 × 6 ones, which each need a pass over the data);
3. one batched matrix product over the 36 points with the transformed kernel;
4. output transform: one matrix product with the 16 × 36 matrix ``Aᵀ ⊗ Aᵀ``;
5. the 4×4 output blocks written into the channels-last output with the bias, or with a resnet's residual
   (partial blocks at the right and bottom borders are cut).

With several torch threads, whole bands go to worker threads that run them single-threaded (see
:func:`core.model.band_threads.run_in_threads` for why).

The module-level switch :func:`direct_convolutions` turns every Winograd-capable convolution back into the
direct one (benchmarks compare both in one process); :class:`Conv3x3` is the ``nn.Conv2d`` the models use.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.model.band_threads import plan_bands, run_jobs
from core.model.norm_fold import group_norm_affine, norm_folds

# Transform matrices of F(4×4, 3×3) (interpolation points 0, 1, −1, 2, −2, ∞).
_BT = (
    (4.0, 0.0, -5.0, 0.0, 1.0, 0.0),
    (0.0, -4.0, -4.0, 1.0, 1.0, 0.0),
    (0.0, 4.0, -4.0, -1.0, 1.0, 0.0),
    (0.0, -2.0, -1.0, 2.0, 1.0, 0.0),
    (0.0, 2.0, -1.0, -2.0, 1.0, 0.0),
    (0.0, 4.0, 0.0, -5.0, 0.0, 1.0),
)
_G = (
    (1 / 4, 0.0, 0.0),
    (-1 / 6, -1 / 6, -1 / 6),
    (-1 / 6, 1 / 6, -1 / 6),
    (1 / 24, 1 / 12, 1 / 6),
    (1 / 24, -1 / 12, 1 / 6),
    (0.0, 0.0, 1.0),
)
_AT = (
    (1.0, 1.0, 1.0, 1.0, 1.0, 0.0),
    (0.0, 1.0, -1.0, 2.0, -2.0, 0.0),
    (0.0, 1.0, 1.0, 4.0, 4.0, 0.0),
    (0.0, 1.0, -1.0, 8.0, -8.0, 1.0),
)
TILE = 4  # output pixels per tile side
POINTS = 36  # (TILE + 2)²

# The transformed tiles of one band hold at most this many values (8 MB in float32): measured on a 2-core
# AVX-512 machine, bands of 1–2 M values were fastest (smaller ones pay per-operation overhead, larger ones
# fall out of the cache); at least one tile row is always taken.
BAND_ELEMENTS = 2_000_000
# Transformed kernels up to this size are kept between calls (keyed on the weight's storage and version).
# A transformed kernel is four times its weight: keeping all of them would add 1.3 GB to the released VAE
# (the 512-channel layers alone 38 MB each). Larger ones are transformed on every call into one reusable
# buffer per thread (the largest layer's size): 7 ms for a 512-channel layer, about 2 % of a decode.
CACHE_LIMIT_BYTES = 4 * 1024 * 1024

_switch_lock = threading.Lock()
_scratch = threading.local()
_direct_depth = 0
_winograd_calls = 0


@contextmanager
def direct_convolutions() -> Iterator[None]:
    """Within this block every Winograd-capable convolution, in any thread, takes the direct path.

    For same-run baselines (benchmarks, tests); blocks may nest.
    """
    global _direct_depth
    with _switch_lock:
        _direct_depth += 1
    try:
        yield
    finally:
        with _switch_lock:
            _direct_depth -= 1


def winograd_active() -> bool:
    """Whether Winograd-capable convolutions may take the Winograd path now (not inside :func:`direct_convolutions`)."""
    return _direct_depth == 0


def winograd_call_count() -> int:
    """How many convolutions this process has computed by Winograd's algorithm (tests check the rule is applied)."""
    return _winograd_calls


def winograd_pays_off(in_channels: int, out_channels: int, height: int, width: int) -> bool:
    """The measured rule: whether F(4×4, 3×3) beats the direct convolution for this layer shape.

    On a 2-core AVX-512 machine (one thread each, same process, medians), Winograd took 36–62 % of the direct
    time for every VAE convolution with at least 128 channels on both sides at 32×32 pixels and more (128 →
    128 at 512²: 57 %; 512 → 512 at 128²: 36 %), broke even at 64 → 64, and lost at 3 or 4 input or output
    channels (conv_in, conv_out: 1.6–2.2×), where the transforms cost more than the few products they save.
    Below 32×32 pixels a convolution is a few milliseconds either way.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        height: input height.
        width: input width.
    """
    return min(in_channels, out_channels) >= 128 and height * width >= 32 * 32


def winograd_applies(x: Tensor, weight: Tensor, bias: Tensor | None) -> bool:
    """Whether :func:`winograd_conv3x3` may replace ``F.conv2d(x, weight, bias, padding=1)`` here and now.

    Only plain float32 CPU tensors outside autograd, tracing, ``torch.compile`` and ``torch.export`` (those keep
    the one ``conv2d`` operation the compilers and Core ML's converter know), and not inside
    :func:`direct_convolutions`. The layer-shape rule is separate: :func:`winograd_pays_off`.

    Args:
        x: the input (B, C, H, W).
        weight: the kernel (out, C, 3, 3).
        bias: the bias (out,) or ``None``.
    """
    if not winograd_active() or x.dim() != 4 or tuple(weight.shape[2:]) != (3, 3):
        return False
    tensors = (x, weight) if bias is None else (x, weight, bias)
    if any(type(t) is not torch.Tensor and type(t) is not nn.Parameter for t in tensors):
        return False  # fake, functional or other subclass tensors: something is tracing the model
    if any(t.device.type != "cpu" or t.dtype != torch.float32 for t in tensors):
        return False
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return False  # the cached transformed kernel carries no gradient
    tracing = torch.jit.is_tracing()  # type: ignore[attr-defined,no-untyped-call]
    return not (torch.compiler.is_compiling() or torch.compiler.is_exporting() or tracing)


def transform_filter(weight: Tensor, out: Tensor | None = None) -> Tensor:
    """``U = G g Gᵀ`` for every kernel, laid out as the point-wise products read it best: (36, in, out).

    One batched product with ``G ⊗ G`` (36 × 9), one batch per input channel, reads the weight as it is
    stored and writes the result point-major with the output channels innermost. (The point-wise products run
    up to four times slower on a transposed or strided kernel matrix than on this contiguous one.)

    Args:
        weight: the 3×3 kernels (out, in, 3, 3).
        out: a contiguous buffer of 36 · in · out values to write into (``None``: a new tensor).
    """
    g = torch.tensor(_G, dtype=weight.dtype, device=weight.device)
    out_channels, in_channels = weight.shape[:2]
    if out is None:
        out = weight.new_empty(POINTS * in_channels * out_channels)
    transformed = out.view(POINTS, in_channels, out_channels)
    # (in, 9, out) view of the weight: tap stride 1, output-channel stride in · 9; no copy.
    taps = weight.permute(1, 2, 3, 0).reshape(in_channels, 9, out_channels)
    torch.bmm(torch.kron(g, g).expand(in_channels, POINTS, 9), taps, out=transformed.transpose(0, 1))
    return transformed


def _scratch_filter(weight: Tensor) -> Tensor:
    """``transform_filter(weight)`` written into this thread's reusable buffer (valid until the next call).

    A 512-channel layer's transform is 38 MB: allocated afresh on every call, the operating system's zeroing
    of its pages took longer (12 ms) than computing it (7 ms).
    """
    needed = POINTS * weight.shape[0] * weight.shape[1]
    slot = (weight.dtype, weight.device, torch.is_inference_mode_enabled())
    buffers: dict[object, Tensor] = _scratch.__dict__.setdefault("filters", {})
    buffer = buffers.get(slot)
    if buffer is None or buffer.numel() < needed:
        buffer = buffers[slot] = weight.new_empty(needed)
    return transform_filter(weight, buffer[:needed])


class FilterCache:
    """The transformed kernel of one weight, kept while the weight's storage and version stay the same.

    A weight replaced (``load_state_dict(assign=True)``, ``.to()``) has other storage; one changed in place
    (``load_state_dict``, ``copy_``) has a newer version: either gives a fresh transform.
    """

    def __init__(self) -> None:
        self._key: tuple[int, int, tuple[int, ...]] | None = None
        self._filter: Tensor | None = None

    def get(self, weight: Tensor) -> Tensor:
        """The transformed kernel of ``weight``, from the cache when it is still valid."""
        try:
            version = weight._version
        except RuntimeError:  # inference tensors keep no version: their changes cannot be seen
            return _scratch_filter(weight)
        key = (weight.data_ptr(), version, tuple(weight.shape))
        if self._filter is not None and self._key == key:
            return self._filter
        if POINTS * weight.shape[0] * weight.shape[1] * weight.element_size() > CACHE_LIMIT_BYTES:
            self._key, self._filter = None, None
            return _scratch_filter(weight.detach())
        self._key, self._filter = key, transform_filter(weight.detach())
        return self._filter


def winograd_conv3x3(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    transformed: Tensor | None = None,
    residual: Tensor | None = None,
    activation: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """``F.conv2d(x, weight, bias, padding=1)`` by F(4×4, 3×3), in bands of tile rows.

    With more than one torch thread the bands are shared out to that many threads, each running its bands'
    operations single-threaded with its own work buffers (see :func:`core.model.band_threads.run_in_threads`).

    Args:
        x: the input (B, C, H, W), best channels-last (otherwise each band is re-laid out while it is copied).
        weight: the 3×3 kernels (out, C, 3, 3).
        bias: the bias (out,) or ``None``.
        transformed: ``transform_filter(weight)`` when the caller keeps it; computed here otherwise.
        residual: a tensor of the output's shape added to the result while it is written (a resnet's
            shortcut: one pass over the output fewer than adding it afterwards).
        activation: ``(scale, shift)``, each (B, C): convolve ``silu(x · scale + shift)`` instead of ``x``, the
            activation applied to each band as it is copied in, before the zero border (a group norm and SiLU
            folded in, see :mod:`core.model.norm_fold`).

    Returns:
        (B, out, H, W), channels-last.
    """
    global _winograd_calls
    with _switch_lock:
        _winograd_calls += 1
    batch, channels, height, width = x.shape
    u = _scratch_filter(weight) if transformed is None else transformed
    out = x.new_empty(batch, height, width, weight.shape[0])
    tile_rows, tile_cols = -(-height // TILE), -(-width // TILE)
    rows, bands, workers = plan_bands(
        batch, tile_rows, BAND_ELEMENTS // (POINTS * tile_cols * max(channels, weight.shape[0]))
    )
    workspace = band_workspace(x, workers, rows, tile_cols, POINTS * rows * tile_cols * max(channels, weight.shape[0]))
    jobs = [(x, u, bias, residual, activation, out, bands[i::workers], rows, workspace[i]) for i in range(workers)]
    run_jobs(_run_bands, jobs)
    return out.permute(0, 3, 1, 2)


def band_workspace(x: Tensor, workers: int, rows: int, tile_cols: int, buffer_values: int) -> Tensor:
    """One allocation holding every worker's band buffers (see :func:`split_workspace`), one row per worker.

    Made in the caller's thread: memory that worker threads allocated themselves would be kept by their own
    allocator arenas after they end (it raised the decode's peak).

    Args:
        x: the input (B, C, H, W) (its channels, dtype and device).
        workers: how many workers share the bands.
        rows: tile rows per band.
        tile_cols: tile columns of the image.
        buffer_values: values in each of the two work buffers.
    """
    band_values = (TILE * rows + 2) * (TILE * tile_cols + 2) * x.shape[1]
    return x.new_empty(workers, band_values + 2 * buffer_values)


def split_workspace(
    workspace: Tensor, rows: int, tile_cols: int, channels: int, buffer_values: int
) -> tuple[Tensor, Tensor, Tensor]:
    """One worker's row of :func:`band_workspace` as its zeroed band buffer (4 · rows + 2, 4 · tile columns + 2,
    C) for :func:`gather_tiles`, and two flat work buffers of ``buffer_values`` values each."""
    padded_width = TILE * tile_cols + 2
    band_values = (TILE * rows + 2) * padded_width * channels
    band = workspace[:band_values].view(TILE * rows + 2, padded_width, channels).zero_()
    first = workspace[band_values : band_values + buffer_values]
    second = workspace[band_values + buffer_values : band_values + 2 * buffer_values]
    return band, first, second


def gather_tiles(
    pixels: Tensor,
    image: int,
    top_tile: int,
    n: int,
    band: Tensor,
    buffer: Tensor,
    activation: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """Copy one band's input rows into ``band`` and gather its overlapping 6×6 tiles point-major into ``buffer``.

    Args:
        pixels: the input channels-last (B, H, W, C) (a permuted view is fine).
        image: which image of the batch.
        top_tile: the band's first tile row.
        n: the band's tile rows.
        band: the zero-bordered row buffer (4 · rows + 2, 4 · tile columns + 2, C); the rows above and below the
            tiles' rows are zero outside the image, as are a column on the left and at least one on the right.
        buffer: room for 36 · n · tile columns · C values.
        activation: ``(scale, shift)`` (B, C): the rows are copied in as ``silu(x · scale + shift)``.

    Returns:
        The gathered tiles (36, n · tile columns · C), a view of ``buffer``.
    """
    height, width, channels = pixels.shape[1:]
    padded_width = band.shape[1]
    tile_cols = (padded_width - 2) // TILE
    start = TILE * top_tile - 1
    stop = min(height, TILE * (top_tile + n) + 1)
    if start < 0 or stop - start < TILE * n + 2:
        band.zero_()
    inside = band[max(0, start) - start : stop - start, 1 : width + 1]
    if activation is None:
        inside.copy_(pixels[image, max(0, start) : stop])
    else:  # the folded group norm and SiLU, on the rows while they are in the cache
        torch.addcmul(activation[1][image], pixels[image, max(0, start) : stop], activation[0][image], out=inside)
        F.silu(inside, inplace=True)
    gathered = buffer[: POINTS * n * tile_cols * channels].view(6, 6, n, tile_cols, channels)
    row_stride = padded_width * channels
    gathered.copy_(
        band.as_strided((6, 6, n, tile_cols, channels), (row_stride, channels, TILE * row_stride, TILE * channels, 1))
    )
    return gathered.view(POINTS, n * tile_cols * channels)


def _run_bands(
    x: Tensor,
    u: Tensor,
    bias: Tensor | None,
    residual: Tensor | None,
    activation: tuple[Tensor, Tensor] | None,
    out: Tensor,
    bands: list[tuple[int, int]],
    rows: int,
    workspace: Tensor,
) -> None:
    """Convolve the given bands (image, first tile row) of at most ``rows`` tile rows into ``out`` (B, H, W, out).

    Args:
        x: the input (B, C, H, W).
        u: the transformed kernels (36, C, out).
        bias: the bias (out,) or ``None``.
        residual: added to the output (B, out, H, W), or ``None``.
        activation: ``(scale, shift)`` (B, C) of the activation ``silu(x · scale + shift)``, or ``None``.
        out: the channels-last output buffer (B, H, W, out).
        bands: (image, first tile row) of each band to compute.
        rows: tile rows per band (the last band of an image may have fewer).
        workspace: room for the work buffers, (4 · rows + 2) · (4 · tile columns + 2) · C + 2 · 36 · rows ·
            tile columns · max(C, out) values.
    """
    _, channels, height, width = x.shape
    out_channels = out.shape[-1]
    bt = torch.tensor(_BT, dtype=x.dtype)
    at = torch.tensor(_AT, dtype=x.dtype)
    input_transform, output_transform = torch.kron(bt, bt), torch.kron(at, at)
    tile_rows, tile_cols = -(-height // TILE), -(-width // TILE)
    # 1. Work buffers for one band, reused by every band: the zero-bordered input rows, and two buffers that
    #    take turns (gathered tiles → products; transformed tiles → output blocks).
    band, first, second = split_workspace(
        workspace, rows, tile_cols, channels, POINTS * rows * tile_cols * max(channels, out_channels)
    )
    pixels = x.permute(0, 2, 3, 1)
    residual_pixels = None if residual is None else residual.permute(0, 2, 3, 1)
    for image, top_tile in bands:
        n = min(rows, tile_rows - top_tile)
        tiles = n * tile_cols
        # 2. The band's input rows and its overlapping 6×6 tiles, gathered point-major.
        gathered = gather_tiles(pixels, image, top_tile, n, band, first, activation)
        # 3. Transform them: V = (Bᵀ ⊗ Bᵀ) d.
        v = second[: POINTS * tiles * channels].view(POINTS, tiles * channels)
        torch.mm(input_transform, gathered, out=v)
        # 4. One product per point, summed over the input channels.
        m = first[: POINTS * tiles * out_channels].view(POINTS, tiles, out_channels)
        torch.bmm(v.view(POINTS, tiles, channels), u, out=m)
        if bias is not None and residual_pixels is not None:
            # Every output of a tile reads point (1, 1) with weight 1 (column 1 of Aᵀ is all ones): a bias
            # added there reaches all 16, so the store below has only the residual left to add.
            m[7].add_(bias)
        # 5. Back to 4×4 output blocks: Y = (Aᵀ ⊗ Aᵀ) M, laid out (row in block, column in block, tiles).
        y = second[: TILE * TILE * tiles * out_channels].view(TILE * TILE, tiles * out_channels)
        torch.mm(output_transform, m.view(POINTS, tiles * out_channels), out=y)
        blocks = y.view(TILE, TILE, n, tile_cols, out_channels).permute(2, 0, 3, 1, 4)
        # 6. Into the output with the bias (or the residual); blocks over the bottom or right border are cut.
        top = TILE * top_tile
        valid_rows = min(height, TILE * (top_tile + n)) - top
        if width % TILE == 0 and valid_rows == TILE * n:
            target = out[image, top : top + valid_rows].view(n, TILE, tile_cols, TILE, out_channels)
        else:
            blocks = blocks.reshape(TILE * n, TILE * tile_cols, out_channels)[:valid_rows, :width]
            target = out[image, top : top + valid_rows]
        if residual_pixels is not None:
            shortcut = residual_pixels[image, top : top + valid_rows].reshape(target.shape)
            torch.add(blocks, shortcut, out=target)
        elif bias is None:
            target.copy_(blocks)
        else:
            torch.add(blocks, bias, out=target)


class Conv3x3(nn.Conv2d):
    """A 3×3 convolution with stride 1 and padding 1 that takes Winograd's path where it is measured faster.

    The parameters (and so the state-dict keys) are ``nn.Conv2d``'s. The Winograd path is taken when
    :func:`winograd_applies` (float32 on the CPU, no autograd or tracing, not inside
    :func:`direct_convolutions`) and :func:`winograd_pays_off` for the layer and input size; otherwise this is
    ``nn.Conv2d``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 3, padding=1)
        self._winograd_filter = FilterCache()

    def takes_winograd(self, x: Tensor, norm: nn.GroupNorm | None = None) -> bool:
        """Whether :meth:`forward` takes Winograd's path for ``x`` (with ``norm`` folded in, when given)."""
        return (
            x.dim() == 4
            and winograd_pays_off(self.in_channels, self.out_channels, x.shape[-2], x.shape[-1])
            and winograd_applies(x, self.weight, self.bias)
            and (norm is None or norm_folds(norm, x))
        )

    def forward(self, x: Tensor, residual: Tensor | None = None, norm: nn.GroupNorm | None = None) -> Tensor:
        """The convolution of ``x``, or of ``silu(norm(x))`` when ``norm`` is given, plus ``residual``.

        Args:
            x: the input (B, C, H, W).
            residual: a tensor of the output's shape to add, or ``None``.
            norm: a group norm that, followed by SiLU, comes before the convolution. On Winograd's path both
                are folded into it (:mod:`core.model.norm_fold`); otherwise they run as written (a caller
                that can drop ``x`` once it is normalised should do that itself where
                :meth:`takes_winograd` is false: here ``x`` stays referenced by the call until it returns).
        """
        if self.takes_winograd(x, norm):
            transformed = self._winograd_filter.get(self.weight)
            activation = None if norm is None else group_norm_affine(x, norm)
            return winograd_conv3x3(x, self.weight, self.bias, transformed, residual, activation)
        if norm is not None:
            x = F.silu(norm(x), inplace=True)
        out: Tensor = F.conv2d(x, self.weight, self.bias, padding=1)
        return out if residual is None else out.add_(residual)
