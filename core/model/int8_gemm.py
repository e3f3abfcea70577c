"""Matrix products with int8 weights and dynamically quantized activations, for the fast mode on CPUs.

A product ``x · Wᵀ + b`` runs as torch's fbgemm "dynamic" int8 linear:

* the weight is quantized once, symmetrically per output channel (``scale_c = max|W[c, :]| / 127``), and packed
  into fbgemm's blocked layout;
* at every call the activations are quantized to 8 bits with one scale and zero point for the whole matrix
  (from its minimum and maximum), multiplied with int32 accumulation (VNNI / AMX where the CPU has them,
  AVX2 otherwise), and the result is scaled back to float32 with the bias added, all inside one native call.

Where the CPU has no int8 dot-product instructions (VNNI, AMX; most laptops before 2020) fbgemm adds pairs of
8-bit products in 16 bits, which a full 8-bit activation range could saturate; there the activations use 7 bits
(``full_range=False``), which about doubles the rounding error of a product.

A per-token scheme (one scale per pixel, ``torch._int_mm`` plus separate quantize and rescale passes) was
measured too: about half the error, but its five extra passes over the activations cost more than the int8
product saved at this model's widths (320 channels at the finest level).

Only the weight packing creates one of torch's quantized tensors (a type torch has deprecated); the packing
happens once, with torch's notice kept from the user, and the products themselves take and give float32.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor

# The attribute under which the fast int8 mode attaches an Int8Linear to a layer (in its ``__dict__``, so that
# neither the state dict nor ``named_modules`` sees it); a layer without one runs its float computation.
INT8_GEMM = "int8_gemm"
# The largest int8 magnitude used for weights: symmetric, so −w quantizes to −q(w).
INT8_LEVELS = 127.0
# A row of zeros gets this scale instead of 0 (its quantized values are 0 whatever the scale).
_TINY = 1e-12


class Int8Linear:
    """``F.linear(x, weight, bias)`` with the weight stored as int8 per output channel.

    A plain object rather than a module, so that attaching it to a layer adds nothing to the state dict.

    Args:
        weight: (N, K) float weight (any affine that follows the layer already folded in).
        bias: (N,) float bias or ``None``.
        full_range: quantize the activations to 8 bits (CPUs with VNNI / AMX) rather than 7.
    """

    def __init__(self, weight: Tensor, bias: Tensor | None, *, full_range: bool) -> None:
        weight = weight.detach().float().contiguous()
        self.out_features, self.in_features = (int(n) for n in weight.shape)
        self.scale = weight.abs().amax(dim=1).div_(INT8_LEVELS).clamp_min_(_TINY)
        zero_points = torch.zeros(self.out_features, dtype=torch.long)
        with warnings.catch_warnings():
            # torch announces the deprecation of its quantized tensor types here; the user cannot act on it.
            warnings.simplefilter("ignore")
            quantized = torch.quantize_per_channel(weight, self.scale.double(), zero_points, 0, torch.qint8)
            bias_f = None if bias is None else bias.detach().float().contiguous()
            self.packed: Any = torch.ops.quantized.linear_prepack(quantized, bias_f)
        self.int8_bytes = self.out_features * self.in_features + 4 * self.out_features
        self.reduce_range = not full_range

    def dequantized_weight(self) -> Tensor:
        """The (N, K) float weight this layer actually multiplies by (for tests and error estimates)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantized, _ = torch.ops.quantized.linear_unpack(self.packed)
            return quantized.dequantize()  # type: ignore[no-any-return]

    def __call__(self, x: Tensor) -> Tensor:
        """The product for float32 activations ``x`` (…, K) → (…, N) float32."""
        out: Tensor = torch.ops.quantized.linear_dynamic(x, self.packed, self.reduce_range)
        return out
