"""Preparing a Moebius UNet for the fast int8 mode (the ``int8`` precision, CPU only).

Every 1×1 convolution of the UNet that runs as a matrix product on the tokens gets an int8 copy of its weight
(:class:`core.model.int8_gemm.Int8Linear`, one scale per output channel, with an eval-mode BatchNorm that
follows it folded in); the activations are quantized to 8 bits (7 on CPUs without VNNI) at every call, with
one scale for the whole matrix (see :mod:`core.model.int8_gemm`). The layers that stay float32, and why:

* ``conv_in`` / ``conv_out`` pointwise products: the first reads the raw 9-channel input and the last writes
  the predicted noise, the two places where a rounding error reaches the result undamped; both are tiny
  (9 → 320 and 320 → 4 channels).
* depthwise 3×3 convolutions, GroupNorm / LayerNorm, the λ layers' products between activations (content and
  positional lambdas), softmax: not products with a weight, or too small to gain from int8.
* the timestep MLP, the context projection and the cross-λ keys and values: they run on one vector or ten
  tokens per step.

A self-λ layer's queries, keys and values are three products of the same tokens: in the int8 mode they are
stacked into one (the tokens are quantized once, and the narrow key and value products ride on the query's).

The UNet's samplers run int8 products too, each as one product per call (one scale per row of its weight):

* the upsamplers (:class:`core.model.upsample.Upsample`, computed on the small input as nine tap products)
  get the nine tap matrices stacked into one (9·out, C) int8 weight: a band's pixels are quantized once and
  multiplied once;
* the downsamplers (stride-2 3×3 convolutions) get the kernel as an (out, 9·C) int8 weight that multiplies
  every output pixel's 3×3 window (:func:`core.model.unet.window_weight`).

The exact mode is untouched: a layer without an int8 copy computes exactly what it computed before.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from core.common.errors import DeviceError
from core.model.int8_gemm import INT8_GEMM, Int8Linear
from core.model.unet import (
    CrossLambda,
    DepthwiseSeparableConv,
    Downsample,
    LambdaTransformer,
    MixFFN,
    MoebiusModel,
    ResnetBlock,
    SelfLambda,
    _batchnorm_affine,
    pointwise_weights,
    window_weight,
)
from core.model.upsample import Upsample, stacked_tap_weights

# torch's quantized engines that mean "an x86 build with int8 matrix kernels" (fbgemm, or its x86 successor).
INT8_ENGINES = ("x86", "fbgemm")
# Top-level pointwise products kept in float32 (see the module docstring).
FLOAT_LAYERS = ("conv_in.conv_pw", "conv_out.conv_pw")


class Int8UnavailableError(DeviceError):
    """The fast int8 mode cannot run on this machine or with this model."""


@dataclass(frozen=True)
class Int8Plan:
    """What :func:`prepare_int8` did to a model.

    Args:
        quantized: names of the layers (relative to ``diff_model``) whose products now run in int8.
        kept_float: names of the pointwise layers deliberately left in float32.
        int8_bytes: memory taken by the int8 weights and their scales.
    """

    quantized: tuple[str, ...]
    kept_float: tuple[str, ...]
    int8_bytes: int
    full_range: bool

    def summary(self) -> str:
        """One line for logs and the benchmark."""
        return (
            f"int8 products in {len(self.quantized)} layers ({self.int8_bytes / 2**20:.0f} MiB of int8 weights); "
            f"{len(self.kept_float)} pointwise layers kept in float32; activations in "
            f"{8 if self.full_range else 7} bits"
        )


def supported_engines() -> list[str]:
    """torch's quantized engines in this build (a function, so tests can pretend a machine lacks them)."""
    return list(torch.backends.quantized.supported_engines)


def check_int8_supported() -> None:
    """Raise :class:`Int8UnavailableError` unless this torch build has x86 int8 matrix kernels.

    Raises:
        Int8UnavailableError: no fbgemm / x86 quantized engine (e.g. an Arm CPU or a build without them).
    """
    engines = supported_engines()
    if not any(engine in engines for engine in INT8_ENGINES):
        have = ", ".join(engines) if engines else "none"
        raise Int8UnavailableError(
            f"The fast int8 mode needs a torch build with x86 int8 kernels (fbgemm); this one has {have}.",
            hint="Choose precision Auto (bfloat16 where the CPU has it) or Exact.",
        )


def _folded(conv: nn.Conv2d, affine: tuple[Tensor, Tensor] | None, full_range: bool) -> Int8Linear:
    """The int8 product of a 1×1 conv, with the per-channel affine that follows it folded into weight and bias."""
    weight, bias = pointwise_weights(conv, *(affine or (None, None)))
    return Int8Linear(weight, bias, full_range=full_range)


def _sampler_layers(unet: nn.Module) -> list[tuple[str, nn.Conv2d, Tensor, Tensor | None]]:
    """Every up- and downsampling conv: (name, conv, product weight, bias), in the form its int8 path uses."""
    found: list[tuple[str, nn.Conv2d, Tensor, Tensor | None]] = []
    for name, module in unet.named_modules():
        if isinstance(module, Upsample):
            found.append((f"{name}.conv", module.conv, *stacked_tap_weights(module.conv.weight, module.conv.bias)))
        elif isinstance(module, Downsample):
            found.append((f"{name}.conv", module.conv, window_weight(module.conv), module.conv.bias))
    return found


def _self_lambda_product(layer: SelfLambda, full_range: bool) -> Int8Linear:
    """The self-λ's queries, keys and values as one product (out = [q | k | v], their BatchNorms folded in)."""
    parts = (
        pointwise_weights(layer.to_q, *_batchnorm_affine(layer.norm_q)),
        pointwise_weights(layer.to_k),
        pointwise_weights(layer.to_v, *_batchnorm_affine(layer.norm_v)),
    )
    weight = torch.cat([w for w, _ in parts])
    bias = torch.cat([b if b is not None else w.new_zeros(w.shape[0]) for w, b in parts])
    return Int8Linear(weight, bias, full_range=full_range)


def _pointwise_layers(unet: nn.Module) -> list[tuple[str, nn.Conv2d, tuple[Tensor, Tensor] | None]]:
    """Every 1×1 conv the UNet runs as a product on tokens: (name, conv, affine folded after it)."""
    found: list[tuple[str, nn.Conv2d, tuple[Tensor, Tensor] | None]] = []
    for name, module in unet.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, DepthwiseSeparableConv):
            found.append((f"{prefix}conv_pw", module.conv_pw, _batchnorm_affine(module.bn2)))
        elif isinstance(module, ResnetBlock) and module.conv_shortcut is not None:
            found.append((f"{prefix}conv_shortcut", module.conv_shortcut, None))
        elif isinstance(module, CrossLambda):
            found.append((f"{prefix}to_q", module.to_q, _batchnorm_affine(module.norm_q)))
        elif isinstance(module, LambdaTransformer):
            found.append((f"{prefix}proj_in", module.proj_in, None))
            found.append((f"{prefix}proj_out", module.proj_out, None))
        elif isinstance(module, MixFFN):
            # The expansion as one product of both halves (MixFFN._whole), then the projection back.
            found.append((f"{prefix}inverted_conv.conv", module.inverted_conv.conv, None))
            found.append((f"{prefix}point_conv.conv", module.point_conv.conv, None))
    return found


def prepare_int8(model: MoebiusModel, *, full_range: bool | None = None) -> Int8Plan:
    """Give the UNet's pointwise products int8 weights (in place); the model then runs the fast int8 mode.

    The model must be in float32 on the CPU and in eval mode (BatchNorm statistics are folded in now; changing
    them afterwards would not reach the int8 copies).

    Args:
        model: a loaded Moebius model.
        full_range: quantize activations to the full 8 bits (``True``) or to 7 (``False``); ``None`` takes 8
            bits where the CPU has int8 dot-product instructions (VNNI, AMX), where they cannot saturate.

    Returns:
        What was quantized (see :class:`Int8Plan`).

    Raises:
        Int8UnavailableError: the torch build has no x86 int8 kernels, or the model is not float32 on the CPU.
    """
    check_int8_supported()
    parameter = next(model.parameters())
    if parameter.device.type != "cpu" or parameter.dtype != torch.float32:
        raise Int8UnavailableError(
            "The fast int8 mode runs on the CPU with float32 activations; the model is "
            f"{str(parameter.dtype).removeprefix('torch.')} on {parameter.device.type}.",
            hint="Choose device CPU for int8, or precision Auto for this device's fast mode.",
        )
    if full_range is None:
        from backends.device import describe_cpu

        full_range = describe_cpu().int8_dot
    quantized: list[str] = []
    kept: list[str] = []

    def attach(name: str, layer: nn.Module, packed: Int8Linear) -> None:
        layer.__dict__[INT8_GEMM] = packed
        quantized.append(name)

    # 1. Pointwise products, each with the affine that follows it; the first and last stay float32.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nothing here should warn; a user never sees torch's notices
        for name, conv, affine in _pointwise_layers(model.diff_model):
            if name in FLOAT_LAYERS:
                kept.append(name)
            else:
                attach(name, conv, _folded(conv, affine, full_range))
        # 2. Each self-λ's queries, keys and values: one product of the same tokens (quantized once).
        for name, module in model.diff_model.named_modules():
            if isinstance(module, SelfLambda):
                attach(name, module, _self_lambda_product(module, full_range))
        # 3. The samplers' 3×3 convolutions, each as one product.
        for name, conv, weight, bias in _sampler_layers(model.diff_model):
            attach(name, conv, Int8Linear(weight, bias, full_range=full_range))
    return Int8Plan(tuple(quantized), tuple(kept), int8_weight_bytes(model.diff_model), full_range)


def int8_layers(model: nn.Module) -> list[str]:
    """Names of the layers of ``model`` that currently carry int8 products (empty for a float model)."""
    return [name for name, module in model.named_modules() if module.__dict__.get(INT8_GEMM) is not None]


def int8_weight_bytes(model: nn.Module) -> int:
    """Memory held by the int8 weights (and their scales) attached to ``model``'s layers; 0 for a float model."""
    return sum(
        packed.int8_bytes
        for module in model.modules()
        if isinstance(packed := module.__dict__.get(INT8_GEMM), Int8Linear)
    )


def is_int8(model: nn.Module) -> bool:
    """Whether ``model`` was prepared by :func:`prepare_int8`."""
    return bool(int8_layers(model))
