"""A straightforward, functional transcription of the Moebius UNet math, for the benchmark only.

The product runs :class:`core.model.MoebiusModel`, which regroups the same sums to do less work and keeps its
activations channels-last. This module computes the forward pass the plain way the architecture notes describe
it (NCHW tensors, BatchNorm layers applied as written, the self-λ positional lambdas as a Conv3d, the cross-λ
positional lambdas materialised per pixel), straight from a state dict. The benchmark times both in one process
so the speed-up is a ratio measured on the same machine at the same moment; a test checks that both agree
with the reference vectors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

State = Mapping[str, Tensor]


def _bn(x: Tensor, s: State, p: str) -> Tensor:
    return F.batch_norm(x, s[p + ".running_mean"], s[p + ".running_var"], s[p + ".weight"], s[p + ".bias"], False)


def _dwsc(x: Tensor, s: State, p: str) -> Tensor:
    w = s[p + ".conv_dw.weight"]
    h = F.relu(_bn(F.conv2d(x, w, padding=w.shape[-1] // 2, groups=w.shape[0]), s, p + ".bn1"))
    h = _bn(F.conv2d(h, s[p + ".conv_pw.weight"]), s, p + ".bn2")
    return h + x if x.shape[1] == h.shape[1] else h


def _resnet(x: Tensor, temb: Tensor, s: State, p: str, groups: int) -> Tensor:
    h = F.silu(F.group_norm(x, groups, s[p + ".norm1.weight"], s[p + ".norm1.bias"], 1e-5))
    h = _dwsc(h, s, p + ".conv1")
    h = h + F.linear(F.silu(temb), s[p + ".time_emb_proj.weight"], s[p + ".time_emb_proj.bias"])[:, :, None, None]
    h = F.silu(F.group_norm(h, groups, s[p + ".norm2.weight"], s[p + ".norm2.bias"], 1e-5))
    h = _dwsc(h, s, p + ".conv2")
    if p + ".conv_shortcut.weight" in s:
        x = F.conv2d(x, s[p + ".conv_shortcut.weight"], s[p + ".conv_shortcut.bias"])
    return x + h


def _self_lambda(t: Tensor, s: State, p: str, heads: int) -> Tensor:
    b, n, c = t.shape
    side = int(math.isqrt(n))
    x = t.transpose(1, 2).reshape(b, c, side, side)
    q = _bn(F.conv2d(x, s[p + ".to_q.weight"]), s, p + ".norm_q")
    k = F.conv2d(x, s[p + ".to_k.weight"])
    v = _bn(F.conv2d(x, s[p + ".to_v.weight"]), s, p + ".norm_v")
    dk, dv = k.shape[1], v.shape[1]
    q = q.reshape(b, heads, dk, n)
    k = torch.softmax(k.reshape(b, dk, n), dim=-1)
    content = torch.einsum("bkm,bvm->bkv", k, v.reshape(b, dv, n))
    yc = torch.einsum("bhkn,bkv->bhvn", q, content)
    w = s[p + ".pos_conv.weight"]
    pos = F.conv3d(
        v.reshape(b, 1, dv, side, side), w, s[p + ".pos_conv.bias"], padding=(0, w.shape[-1] // 2, w.shape[-1] // 2)
    )
    yp = torch.einsum("bhkn,bkvn->bhvn", q, pos.reshape(b, dk, dv, n))
    return (yc + yp).reshape(b, heads * dv, n).transpose(1, 2)


def _cross_lambda(t: Tensor, ctx: Tensor, s: State, p: str, heads: int) -> Tensor:
    b, n, c = t.shape
    side = int(math.isqrt(n))
    x = t.transpose(1, 2).reshape(b, c, side, side)
    q = _bn(F.conv2d(x, s[p + ".to_q.weight"]), s, p + ".norm_q")
    k = torch.softmax(F.linear(ctx, s[p + ".to_k.weight"]).transpose(1, 2), dim=-1)
    v = _bn(F.linear(ctx, s[p + ".to_v.weight"]).transpose(1, 2), s, p + ".norm_v")
    dk, dv = k.shape[1], v.shape[1]
    q = q.reshape(b, heads, dk, n)
    content = torch.einsum("bkl,bvl->bkv", k, v)
    yc = torch.einsum("bhkn,bkv->bhvn", q, content)
    lambdas = torch.einsum("nlk,bvl->bnkv", s[p + ".rel_pos_emb"][..., 0], v)
    yp = torch.einsum("bhkn,bnkv->bhvn", q, lambdas)
    return (yc + yp).reshape(b, heads * dv, n).transpose(1, 2)


def _mix_ffn(t: Tensor, s: State, p: str) -> Tensor:
    b, n, c = t.shape
    side = int(math.isqrt(n))
    x = t.transpose(1, 2).reshape(b, c, side, side)
    h = F.silu(F.conv2d(x, s[p + ".inverted_conv.conv.weight"], s[p + ".inverted_conv.conv.bias"]))
    dw = s[p + ".depth_conv.conv.weight"]
    h = F.conv2d(h, dw, s[p + ".depth_conv.conv.bias"], padding=1, groups=dw.shape[0])
    value, gate = h.chunk(2, dim=1)
    y = F.conv2d(value * F.silu(gate), s[p + ".point_conv.conv.weight"])
    return y.flatten(2).transpose(1, 2)


def _transformer(x: Tensor, ctx: Tensor, s: State, p: str, heads: int, groups: int) -> Tensor:
    b, c, hgt, wid = x.shape
    h = F.group_norm(x, groups, s[p + ".norm.weight"], s[p + ".norm.bias"], 1e-6)
    t = F.conv2d(h, s[p + ".proj_in.weight"], s[p + ".proj_in.bias"]).flatten(2).transpose(1, 2)
    blk = p + ".transformer_blocks.0"

    def ln(z: Tensor, name: str) -> Tensor:
        return F.layer_norm(z, (c,), s[f"{blk}.{name}.weight"], s[f"{blk}.{name}.bias"], 1e-5)

    t = t + _self_lambda(ln(t, "norm1"), s, blk + ".attn1", heads)
    t = t + _cross_lambda(ln(t, "norm2"), ctx, s, blk + ".attn2", heads)
    t = t + _mix_ffn(ln(t, "norm3"), s, blk + ".ff")
    out = F.conv2d(t.transpose(1, 2).reshape(b, c, hgt, wid), s[p + ".proj_out.weight"], s[p + ".proj_out.bias"])
    return out + x


def reference_forward(
    state: State, config: Mapping[str, Any], sample: Tensor, timestep: int, input_ids: Tensor
) -> Tensor:
    """The UNet's ε prediction computed the plain way from a wrapper state dict (``embedding_layer.*``, …)."""
    s = {k.removeprefix("diff_model."): v for k, v in state.items()}
    heads, groups = int(config["attention_head_dim"]), int(config["norm_num_groups"])
    levels = len(config["block_out_channels"])
    base = int(config["block_out_channels"][0])
    # Time embedding (cos first) and context.
    half = base // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = torch.full((sample.shape[0],), float(timestep))[:, None] * freqs[None]
    emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
    temb = F.linear(
        F.silu(F.linear(emb, s["time_embedding.linear_1.weight"], s["time_embedding.linear_1.bias"])),
        s["time_embedding.linear_2.weight"],
        s["time_embedding.linear_2.bias"],
    )
    ctx = F.linear(
        F.embedding(input_ids, state["embedding_layer.weight"]),
        s["encoder_hid_proj.weight"],
        s["encoder_hid_proj.bias"],
    )
    # Encoder.
    h = _dwsc(sample, s, "conv_in")
    skips = [h]
    for i in range(levels):
        for j in range(2):
            h = _resnet(h, temb, s, f"down_blocks.{i}.resnets.{j}", groups)
            h = _transformer(h, ctx, s, f"down_blocks.{i}.attentions.{j}", heads, groups)
            skips.append(h)
        if i < levels - 1:
            h = F.conv2d(
                h,
                s[f"down_blocks.{i}.downsamplers.0.conv.weight"],
                s[f"down_blocks.{i}.downsamplers.0.conv.bias"],
                stride=2,
                padding=1,
            )
            skips.append(h)
    # Decoder.
    for i in range(levels):
        for j in range(3):
            h = torch.cat([h, skips.pop()], dim=1)
            h = _resnet(h, temb, s, f"up_blocks.{i}.resnets.{j}", groups)
            h = _transformer(h, ctx, s, f"up_blocks.{i}.attentions.{j}", heads, groups)
        if i < levels - 1:
            h = F.conv2d(
                F.interpolate(h, scale_factor=2.0, mode="nearest"),
                s[f"up_blocks.{i}.upsamplers.0.conv.weight"],
                s[f"up_blocks.{i}.upsamplers.0.conv.bias"],
                padding=1,
            )
    h = F.silu(F.group_norm(h, groups, s["conv_norm_out.weight"], s["conv_norm_out.bias"], 1e-5))
    return _dwsc(h, s, "conv_out")
