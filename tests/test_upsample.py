"""The upsampler keeps its 3×3 kernel tap-major, so that its nine tap products read the weight in place.

Covered: the layout is there after building, after loading a checkpoint (``assign=True`` puts the file's own
tensor in place), after ``.to()``, ``copy.deepcopy``, the int8 preparation and the GPU fallback's move to the
CPU; the state dict still holds the same (out, C, 3, 3) values; every call multiplies views of the parameter's
own memory (a re-layout per call would not); and the result does not depend on the layout, bit for bit. The
re-layout of a memory-mapped kernel drops the file's pages it read; the VAE's upsamplers (Winograd's path reads
the checkpoint's layout) keep the mapped weight.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tiny_model import randomize_norm_statistics, tiny_vae_config, write_tiny_model

import core.model.upsample
from core.model.mapped_pages import weight_mappings
from core.model.safetensors_mmap import load_mmap
from core.model.unet import TINY_CONFIG, MoebiusModel, load_moebius
from core.model.upsample import Upsample, tap_matrices, upsample_conv3x3
from core.model.vae import load_vae

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tap_major(module: torch.nn.Module) -> list[bool]:
    """For every upsampler in ``module``: is its kernel tap-major, with the tap matrices a view of it?"""
    found = []
    for upsampler in (m for m in module.modules() if isinstance(m, Upsample)):
        weight = upsampler.conv.weight
        found.append(
            weight.is_contiguous(memory_format=torch.channels_last)
            and tap_matrices(weight).data_ptr() == weight.data_ptr()
        )
    return found


def test_the_kernel_is_tap_major_after_building_loading_moving_and_copying() -> None:
    torch.manual_seed(0)
    built = Upsample(8)
    assert _tap_major(built) == [True]
    state = {key: value.contiguous() for key, value in built.state_dict().items()}
    assert state["conv.weight"].stride() == (72, 9, 3, 1)  # what a checkpoint file holds
    with torch.device("meta"):
        loaded = Upsample(8)
    loaded.load_state_dict(state, strict=True, assign=True)
    assert _tap_major(loaded) == [True]
    assert torch.equal(loaded.conv.weight, built.conv.weight)
    # Loading into an existing module copies into its (tap-major) memory.
    again = Upsample(8)
    again.load_state_dict(state)
    assert _tap_major(again) == [True] and torch.equal(again.conv.weight, built.conv.weight)
    # (``Module.to`` works in place: each move gets its own copy.)
    for moved in (copy.deepcopy(loaded), copy.deepcopy(loaded).to(torch.float64), copy.deepcopy(loaded).half()):
        assert _tap_major(moved) == [True]
        assert torch.equal(moved.conv.weight, built.conv.weight.to(moved.conv.weight.dtype))
    # The state dict round trip gives the same values in the same (out, C, 3, 3) shape.
    round_trip = loaded.state_dict()["conv.weight"]
    assert round_trip.shape == (8, 8, 3, 3) and torch.equal(round_trip, built.conv.weight)


def test_loaded_models_keep_the_unets_upsamplers_tap_major_and_the_vaes_mapped(tmp_path: Path) -> None:
    unet_dir = write_tiny_model(tmp_path, fmt="safetensors")
    model = load_moebius(unet_dir)
    vae = load_vae(tmp_path / "vae")
    assert _tap_major(model) == [True, True]  # the UNet's two upsamplers
    # The VAE's upsamplers transform the checkpoint's layout themselves (Winograd): their weights stay the
    # memory-mapped file's, in its layout.
    assert _tap_major(vae) == [False] * (len(tiny_vae_config()["block_out_channels"]) - 1)
    if sys.platform.startswith("linux"):
        mapped = weight_mappings()
        for upsampler in (m for m in vae.modules() if isinstance(m, Upsample)):
            pointer = upsampler.conv.weight.data_ptr()
            assert any(start <= pointer < end for start, end in mapped)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self (Linux)")
def test_relaying_a_mapped_kernel_drops_the_files_pages(tmp_path: Path) -> None:
    # A 1024-channel kernel (38 MB): made tap-major from the mapped file, only the copy stays resident.
    torch.manual_seed(4)
    path = tmp_path / "upsampler.safetensors"
    weight = torch.randn(1024, 1024, 3, 3)
    save_file({"conv.weight": weight, "conv.bias": torch.zeros(1024)}, str(path))
    size_kib = weight.numel() * 4 // 1024
    del weight
    state = load_mmap(path)
    with torch.device("meta"):
        upsampler = Upsample(1024)
    before = _resident_kib()
    upsampler.load_state_dict(state, strict=True, assign=True)
    grown = _resident_kib() - before
    assert _tap_major(upsampler) == [True]
    # The copy's pages (one kernel's size), not the copy's and the file's (twice that).
    assert grown < 1.5 * size_kib, (grown, size_kib)
    assert torch.equal(upsampler.conv.weight, state["conv.weight"])  # the file's pages read back unchanged


def _resident_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_every_call_multiplies_the_parameter_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(1)
    upsampler = Upsample(16).eval()
    storage = upsampler.conv.weight.untyped_storage().data_ptr()
    weights_read: list[int] = []

    def recording_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        weights_read.append(weight.untyped_storage().data_ptr())
        return F.linear(x, weight, bias)

    class RecordingFunctional:
        linear = staticmethod(recording_linear)

    monkeypatch.setattr(core.model.upsample, "F", RecordingFunctional)
    x = torch.randn(2, 16, 5, 7).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        upsampler(x)
        upsampler(x)
    assert len(weights_read) == 2 * 2 * 9  # two calls, two images, nine taps
    assert set(weights_read) == {storage}


@pytest.mark.parametrize("side", [(5, 7), (16, 16)])
def test_the_result_does_not_depend_on_the_kernel_layout(side: tuple[int, int]) -> None:
    torch.manual_seed(2)
    upsampler = Upsample(24).eval()
    x = torch.randn(2, 24, *side).contiguous(memory_format=torch.channels_last)
    plain = upsampler.conv.weight.detach().contiguous()
    assert not plain.is_contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        fast = upsampler(x)
        copied = upsample_conv3x3(x, plain, upsampler.conv.bias)
        literal = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), plain, upsampler.conv.bias, padding=1)
    assert torch.equal(fast, copied)
    torch.testing.assert_close(fast, literal, atol=1e-5, rtol=1e-5)


def test_int8_preparation_and_the_gpu_fallback_keep_the_layout() -> None:
    from core.inpaint.device import DeviceInfo
    from core.inpaint.device import choose_device as choose_info
    from core.inpaint.guarded import GuardedPipeline
    from core.model.quantized import int8_layers
    from core.model.vae import build_vae

    torch.manual_seed(3)
    model = MoebiusModel(TINY_CONFIG)
    randomize_norm_statistics(model, 4)
    vae = build_vae(tiny_vae_config())
    gpu = DeviceInfo("cuda", "float16", "CUDA: a GPU (int8 requested but it is a CPU mode)", "bfloat16", "CUDA")
    # As the GPU would have it: the weights in float16 (the layout must survive both moves).
    model.to(torch.float16)
    vae.to(torch.bfloat16)
    pipeline = GuardedPipeline(model, vae, info=gpu, cpu_fallback=lambda: choose_info("cpu", "int8"))
    pipeline.move_to_cpu()
    assert all(_tap_major(model)) and not any(_tap_major(vae))
    assert model.diff_model.up_blocks[0].upsamplers[0].conv.weight.dtype == torch.float32
    layers = int8_layers(model.diff_model)
    assert "up_blocks.0.upsamplers.0.conv" in layers and "down_blocks.0.downsamplers.0.conv" in layers
