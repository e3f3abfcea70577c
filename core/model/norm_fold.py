"""A group norm and SiLU folded into the convolution that reads them: ``conv(silu(group_norm(x)))`` in one pass.

Every resnet convolution of the VAE reads ``silu(group_norm(x))``. Computed as written, that is two full-size
passes that read and write the whole map (the norm, then the SiLU) and a full-size tensor allocated for the
result, on maps of up to 512² × 256 values, before the convolution reads it a third time. But a group norm is
an affine map per image and channel once its statistics are known:
``group_norm(x)[c] = x[c] · scale[c] + shift[c]`` with ``scale = γ · rstd(group)`` and
``shift = β − mean(group) · scale``. So the statistics are gathered in one read-only pass here
(:func:`group_norm_affine`), and the convolution applies ``silu(x · scale + shift)`` to each band of rows as
it copies the band into its own cache-sized work buffer (``activation`` of
:func:`core.model.winograd.winograd_conv3x3`), before the zero border is read: the padding stays zero, as it
is in the activated map. The arithmetic is the group norm's: per-channel sums and sums of squares, with
``var = E[d²] − E[d]²`` of the values ``d`` less a pivot per group so that no digits cancel, and the totals
in float64. The result equals the unfolded one to float32 rounding, and at 1024² it is closer to the exact
value than torch's float32 group norm (whose float32 sums over 4 M values per group are off by about 4e-4).

The pass reads the map in chunks of a few image rows (cache-sized), each chunk's column sums and sums of
squares added into float64 totals; with several torch threads the chunks are shared out to worker threads like
the convolution's bands (see :func:`core.model.band_threads.run_in_threads`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from core.model.band_threads import run_jobs, worker_count

# One chunk of the statistics pass holds about this many values (256 KB): its square is computed into a
# buffer of the same size, and both stay in the core's cache while their column sums are taken.
CHUNK_ELEMENTS = 65_536


def norm_folds(norm: nn.GroupNorm, x: Tensor) -> bool:
    """Whether ``norm`` can be folded into a Winograd convolution of ``x``: its parameters float32 on the CPU, and
    no gradient wanted for them.

    Args:
        norm: the group norm in front of the convolution.
        x: the map it normalises (B, C, H, W).
    """
    if x.dim() != 4 or x.shape[1] != norm.num_channels:
        return False
    parameters = [p for p in (norm.weight, norm.bias) if p is not None]
    if torch.is_grad_enabled() and any(p.requires_grad for p in parameters):
        return False  # the folded activation carries no gradient
    return all(p.device.type == "cpu" and p.dtype == torch.float32 for p in parameters)


def group_norm_affine(x: Tensor, norm: nn.GroupNorm) -> tuple[Tensor, Tensor]:
    """The per-image, per-channel ``scale`` and ``shift`` with ``norm(x) = x · scale + shift``.

    Args:
        x: the map (B, C, H, W), float32, best channels-last (a contiguous one is read through a strided view,
            each chunk copied into channels-last order).
        norm: the group norm (its groups, ε, and affine weight and bias when it has them).

    Returns:
        ``scale`` and ``shift``, each (B, C) float32.
    """
    batch, channels, height, width = x.shape
    pixels = x.permute(0, 2, 3, 1)
    # 1. Chunks of whole image rows, shared out round-robin to the threads (one chunk list each).
    rows = max(1, CHUNK_ELEMENTS // max(1, width * channels))
    chunks = [(image, top, min(height, top + rows)) for image in range(batch) for top in range(0, height, rows)]
    workers = max(1, min(worker_count(), len(chunks)))
    # 2. Each worker's float64 totals (sums, sums of squares per image and channel) and its square buffer.
    #    The sums are taken of the values minus a pivot per group (the mean of its first image row): the
    #    variance as E[d²] − E[d]² then keeps its digits even for a group far from zero mean, where
    #    E[x²] − E[x]² would cancel them away.
    groups = norm.num_groups
    per_group = channels // groups
    pivot = pixels[:, 0].reshape(batch, width, groups, per_group).mean(dim=(1, 3), dtype=torch.float64)
    pivot_per_channel = pivot.repeat_interleave(per_group, dim=1).to(x.dtype)
    totals = torch.zeros(workers, 2, batch, channels, dtype=torch.float64)
    squares = x.new_empty(workers, rows * width * channels)
    jobs = [(pixels, pivot_per_channel, chunks[i::workers], totals[i], squares[i]) for i in range(workers)]
    run_jobs(_moments, jobs)
    # 3. Per group: mean and variance over its channels and pixels, as the group norm computes them.
    count = height * width * per_group
    sums, sums_of_squares = totals.sum(0).view(2, batch, groups, per_group).sum(-1)
    offset = sums / count  # the mean minus the pivot
    variance = (sums_of_squares / count - offset * offset).clamp_min(0.0)
    mean = pivot_per_channel.double().view(batch, groups, per_group)[..., 0] + offset
    rstd = (variance + norm.eps).rsqrt()
    # 4. Per channel: the group's normalisation times the affine weight, and the shift that goes with it.
    scale = rstd.repeat_interleave(per_group, dim=1)
    shift = -mean.repeat_interleave(per_group, dim=1) * scale
    if norm.weight is not None:
        scale = scale * norm.weight.detach().double()
        shift = shift * norm.weight.detach().double()
    if norm.bias is not None:
        shift = shift + norm.bias.detach().double()
    return scale.float(), shift.float()


def _moments(
    pixels: Tensor, pivot: Tensor, chunks: list[tuple[int, int, int]], totals: Tensor, squares: Tensor
) -> None:
    """Add each chunk's per-channel sums and sums of squares of ``x − pivot`` into ``totals``.

    Args:
        pixels: the map as (B, H, W, C).
        pivot: (B, C), the same value for the channels of one group.
        chunks: (image, first row, end row) of each chunk to read.
        totals: (2, B, C) float64: sums, then sums of squares.
        squares: room for one chunk's values.
    """
    channels = pixels.shape[-1]
    for image, top, bottom in chunks:
        values = pixels[image, top:bottom].reshape(-1, channels)
        differences = squares[: values.numel()].view_as(values)
        torch.sub(values, pivot[image], out=differences)
        totals[0, image] += differences.sum(0)
        totals[1, image] += differences.mul_(differences).sum(0)
