"""Another way to apply the self-λ positional filters, for the GPU check: one product for the whole batch.

The product (:meth:`core.model.unet.SelfLambda._by_row_windows`) applies every pixel's r×r filter with one
batched matrix product per image row: on a CPU that keeps each band of filters in cache, but on a GPU it is
``batch × height`` small launches per self-λ layer, and at these sizes a launch can cost more than its
arithmetic. This variant pads every row with the ``r − 1`` zero columns the windows need anyway, so that the
window of flattened position ``p = y · (W + r − 1) + x`` starts at ``p · r · v`` for every row alike: all rows
of all images become one strided view and one batched product. The padding positions compute values that are
thrown away (``(r − 1) / W`` more work, 22 % at 64 columns with r = 15); the GPU check times both and says
which one a GPU should run.

:func:`single_product_self_lambda` swaps the variant in for a ``with`` block; :func:`apply_by_single_product`
is the computation itself (tested against the row loop on the CPU).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor

from core.model.unet import SelfLambda


def apply_by_single_product(module: SelfLambda, q: Tensor, v: Tensor, content: Tensor, size: tuple[int, int]) -> Tensor:
    """The self-λ output (content and positional terms) with one batched product over every pixel.

    Args:
        module: the self-λ layer (its positional kernels and bias are used).
        q: queries, (B, N, heads, k).
        v: values, (B, N, v).
        content: the content lambda, (B, k, v).
        size: the latent frame (H, W), with N = H · W.

    Returns:
        (B, N, heads · v), the same sum :meth:`SelfLambda._by_row_windows` computes.
    """
    b, n, heads, dim_k = q.shape
    dim_v = module.dim_v
    height, width = size
    r = module.pos_conv.weight.shape[-1]
    pad = r // 2
    padded_width = width + 2 * pad
    positions = b * height * padded_width
    kernels, content = module.window_kernels(content)
    # 1. The content term.
    out = torch.bmm(q.reshape(b, n * heads, dim_k), content).view(b, height, width, heads, dim_v)
    # 2. Every pixel's filters, written into rows that carry r − 1 zero columns, so that the filters of the
    #    padding positions are zero and their products add nothing that is kept.
    filters = q.new_zeros(b, height, padded_width, heads, r * r)
    filters[:, :, :width] = torch.mm(q.reshape(-1, dim_k), kernels).view(b, height, width, heads, r * r)
    # 3. stacked[p, a] = padded[y + a, x'] for p = (image, y, x'), plus r − 1 spare positions at the end
    #    so that the windows of the last padding positions stay inside the buffer.
    stacked = q.new_zeros(positions + r - 1, r, dim_v)
    padded = F.pad(v.reshape(b, height, width, dim_v), (0, 0, pad, pad, pad, pad))
    for a in range(r):
        stacked[:positions, a].view(b, height, padded_width, dim_v).copy_(padded[:, a : a + height])
    # 4. One product: position p reads the r·r consecutive stacked rows that start at p.
    windows = stacked.as_strided((positions, r * r, dim_v), (r * dim_v, dim_v, 1))
    positional = torch.bmm(filters.view(positions, heads, r * r), windows)
    out += positional.view(b, height, padded_width, heads, dim_v)[:, :, :width]
    return out.reshape(b, n, heads * dim_v)


@contextmanager
def single_product_self_lambda() -> Iterator[None]:
    """Within the block, every self-λ layer applies its positional filters by :func:`apply_by_single_product`."""
    original = SelfLambda._by_row_windows

    def replacement(self: SelfLambda, q: Tensor, v: Tensor, content: Tensor, size: tuple[int, int]) -> Tensor:
        return apply_by_single_product(self, q, v, content, size)

    SelfLambda._by_row_windows = replacement  # type: ignore[method-assign]
    try:
        yield
    finally:
        SelfLambda._by_row_windows = original  # type: ignore[method-assign]
