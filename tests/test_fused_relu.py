"""The depthwise-separable convolutions fuse their ReLU into the depthwise convolution on the CPU: the same
bits as the two operations one after the other (exact mode stays exact), and the fused call really runs."""

from __future__ import annotations

import pytest
import torch
from tiny_model import randomize_norm_statistics

import core.model.unet as unet
from core.model.unet import COND_IDS, TINY_CONFIG, UNCOND_IDS, DepthwiseSeparableConv, MoebiusModel

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_fused_relu_gives_the_same_bits_and_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    if unet._FUSED_CONVOLUTION is None:
        pytest.skip("this torch build has no oneDNN fused convolution")
    torch.manual_seed(0)
    model = MoebiusModel(TINY_CONFIG)
    randomize_norm_statistics(model, 1)
    generator = torch.Generator().manual_seed(2)
    sample = torch.randn(2, 9, 64, 64, generator=generator)
    ids = torch.tensor([list(UNCOND_IDS), list(COND_IDS)])
    fused_calls: list[int] = []
    original = unet._FUSED_CONVOLUTION

    def counting(*args: object) -> torch.Tensor:
        fused_calls.append(1)
        return original(*args)  # type: ignore[no-any-return]

    monkeypatch.setattr(unet, "_FUSED_CONVOLUTION", counting)
    outputs = {}
    for fuse in (True, False):
        monkeypatch.setattr(unet, "FUSE_DEPTHWISE_RELU", fuse)
        blocks: list[torch.Tensor] = []
        with torch.inference_mode():
            outputs[fuse] = (model(sample, 900, ids, blocks), blocks)
    separable = sum(isinstance(m, DepthwiseSeparableConv) for m in model.modules())
    assert len(fused_calls) == separable > 20  # every one fused, and only when asked
    assert torch.equal(outputs[True][0], outputs[False][0])
    assert all(torch.equal(a, b) for a, b in zip(outputs[True][1], outputs[False][1], strict=True))


def test_with_gradients_the_plain_operations_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unet, "_FUSED_CONVOLUTION", None if unet._FUSED_CONVOLUTION is None else _refuse)
    torch.manual_seed(0)
    block = DepthwiseSeparableConv(8, 8)
    x = torch.randn(1, 8, 6, 6).contiguous(memory_format=torch.channels_last).requires_grad_()
    block(x).sum().backward()  # autograd through the unfused path
    assert x.grad is not None and x.grad.abs().sum() > 0


def _refuse(*args: object) -> torch.Tensor:
    raise AssertionError("the fused convolution ran while gradients were needed")
