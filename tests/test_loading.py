"""Loading a pipeline: device requests from flags, environment and settings; memory planning; out-of-memory
fallbacks; separate UNet and VAE number formats; and a real CPU run of the tiny model."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from tiny_model import write_tiny_model

from backends import memory
from core.common.errors import DeviceError, OutOfMemoryError
from core.inpaint.device import DeviceInfo, choose_device, choose_for, estimate_memory, plan_memory, resolve
from core.inpaint.guarded import GuardedPipeline
from core.inpaint.loading import load_pipeline
from core.model.unet import TINY_CONFIG, MoebiusModel
from core.weights.registry import ModelFiles, find_model

GIB = 2**30


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory: pytest.TempPathFactory) -> ModelFiles:
    root = tmp_path_factory.mktemp("models")
    found = find_model(write_tiny_model(root))
    assert found is not None
    return found


@pytest.fixture(autouse=True)
def no_device_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOEBIUS_STUDIO_DEVICE", raising=False)
    monkeypatch.delenv("MOEBIUS_STUDIO_PRECISION", raising=False)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- requests ------------------------------------------------------------------------------------------------


def test_the_front_end_says_where_the_device_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    request = resolve(setting_device="cpu", setting_precision="exact", setting_origin="the saved settings")
    assert (request.device, request.precision) == ("cpu", "exact")
    assert request.source == "device from the saved settings; precision from the saved settings"
    monkeypatch.setenv("MOEBIUS_STUDIO_PRECISION", "float32")
    request = resolve(setting_device="cpu", setting_precision="exact", setting_origin="the settings panel")
    assert request.precision == "float32"
    assert request.source == "device from the settings panel; precision from MOEBIUS_STUDIO_PRECISION"
    info = choose_for(request)
    assert info.device == "cpu"
    assert info.reason.endswith("[device from the settings panel; precision from MOEBIUS_STUDIO_PRECISION]")


def test_loading_consults_nothing_but_its_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment and a saved file are the front ends' business: here only the arguments count.
    from core.job.settings import JobSettings
    from core.job.settings_file import save_settings

    save_settings(JobSettings(device="mps", precision="float16"))
    monkeypatch.setenv("MOEBIUS_STUDIO_DEVICE", "mps")
    info = choose_device("cpu", "exact")
    assert (info.device, info.dtype) == ("cpu", "float32")
    assert "[" not in info.reason  # nothing was asked for anywhere else


def test_unavailable_device_from_the_environment_says_where_it_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOEBIUS_STUDIO_DEVICE", "mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(DeviceError, match=r"MPS was requested but .*\(set by device from MOEBIUS_STUDIO_DEVICE\)"):
        choose_for(resolve())
    monkeypatch.setenv("MOEBIUS_STUDIO_DEVICE", "gpu")
    with pytest.raises(DeviceError, match="Unknown device 'gpu' in MOEBIUS_STUDIO_DEVICE") as caught:
        resolve()
    assert "unset MOEBIUS_STUDIO_DEVICE" in caught.value.user_message()


# -- memory ----------------------------------------------------------------------------------------------------


def _gpu_info(**changes: Any) -> DeviceInfo:
    base = DeviceInfo("cuda", "float16", "CUDA: Test GPU, 8 GiB, float16", "bfloat16", "CUDA", "cuda")
    return DeviceInfo(**{**base.__dict__, **changes})


def test_memory_estimate_scales_with_the_formats(tiny_files: ModelFiles) -> None:
    full = estimate_memory(tiny_files, "float32", "float32")
    half = estimate_memory(tiny_files, "float16", "float32")
    split = estimate_memory(tiny_files, "float32", "float32", split_guidance=True)
    assert full > split > 0
    assert half <= full


def test_short_gpu_splits_guidance_then_falls_back_to_the_cpu(
    tiny_files: ModelFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    need = estimate_memory(tiny_files, "float16", "bfloat16")
    split_need = estimate_memory(tiny_files, "float16", "bfloat16", split_guidance=True)
    free = {"cuda": need + GIB}
    monkeypatch.setattr(memory, "free_bytes", lambda device, index=0: free.get(device))
    info, split = plan_memory(tiny_files, _gpu_info(), automatic=True)
    assert (info.device, split, info.notes) == ("cuda", False, ())

    free["cuda"] = (need + split_need) // 2
    info, split = plan_memory(tiny_files, _gpu_info(), automatic=True)
    assert (info.device, split) == ("cuda", True)
    assert "the guidance batch runs in two halves" in info.notes[0]

    free["cuda"] = split_need // 2
    info, split = plan_memory(tiny_files, _gpu_info(), automatic=True, precision="exact")
    assert (info.device, info.dtype, split) == ("cpu", "float32", False)
    assert "using the CPU instead" in info.notes[0]
    # Asked for by name, the GPU is kept (a failing run still retries on the CPU).
    info, split = plan_memory(tiny_files, _gpu_info(), automatic=False)
    assert (info.device, split) == ("cuda", True)
    assert "retried on the CPU" in info.notes[0]


# -- out-of-memory fallback ----------------------------------------------------------------------------------


class FakeUNet(torch.nn.Module):
    """Predicts zero noise; raises ``torch.OutOfMemoryError`` on full guidance batches while ``failures`` > 0."""

    sample_size = 8
    in_channels = 9

    def __init__(self, failures: int, fail_on_any_batch: bool = False) -> None:
        super().__init__()
        self.failures = failures
        self.fail_on_any_batch = fail_on_any_batch
        self.batches: list[int] = []
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, sample: torch.Tensor, timesteps: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        if self.failures > 0 and (sample.shape[0] == 2 or self.fail_on_any_batch):
            self.failures -= 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        self.batches.append(sample.shape[0])
        return torch.zeros(sample.shape[0], 4, *sample.shape[2:]) + self.weight


class FakeVAE(torch.nn.Module):
    """Encodes to zero latents and decodes to mid-grey, at f = 8."""

    def __init__(self) -> None:
        super().__init__()
        self.config = SimpleNamespace(scaling_factor=0.13025)
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def encode(self, pixels: torch.Tensor) -> SimpleNamespace:
        zeros = torch.zeros(pixels.shape[0], 4, pixels.shape[2] // 8, pixels.shape[3] // 8)
        return SimpleNamespace(latent_dist=SimpleNamespace(mean=zeros, std=zeros + 1))

    def decode(self, latents: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(sample=torch.zeros(latents.shape[0], 3, latents.shape[2] * 8, latents.shape[3] * 8))


def _guarded(unet: FakeUNet) -> GuardedPipeline:
    return GuardedPipeline(
        unet,
        FakeVAE(),
        info=_gpu_info(),
        cpu_fallback=lambda: choose_device("cpu", "exact"),
        device="cpu",  # the fake "GPU" pipeline keeps its tensors on the CPU
        dtype=torch.float32,
        split_guidance=False,  # as a GPU pipeline starts
    )


def _frame() -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 255
    return np.full((64, 64, 3), 100, np.uint8), mask


def test_out_of_memory_retries_with_split_guidance() -> None:
    unet = FakeUNet(failures=1)
    pipeline = _guarded(unet)
    image, mask = _frame()
    result = pipeline(image, mask, steps=2, paste=False)
    assert result.shape == (64, 64, 3)
    assert pipeline.split_guidance
    assert unet.batches == [1, 1]  # the one step ran as two batch-1 calls
    assert pipeline.info.device == "cuda"
    notes = pipeline.take_notes()
    assert notes == ["CUDA ran out of memory; retrying with the guidance batch split in two (slower, same result)."]
    assert pipeline.take_notes() == []


def test_second_out_of_memory_moves_to_the_cpu() -> None:
    unet = FakeUNet(failures=2, fail_on_any_batch=True)
    pipeline = _guarded(unet)
    image, mask = _frame()
    pipeline(image, mask, steps=2, paste=False)
    assert pipeline.info.device == "cpu"
    assert (pipeline.device.type, pipeline.dtype) == ("cpu", torch.float32)
    assert pipeline.notes[1].startswith("CUDA ran out of memory again; running on the CPU instead (CPU: ")


def test_out_of_memory_on_the_cpu_is_a_clear_error() -> None:
    pipeline = _guarded(FakeUNet(failures=10, fail_on_any_batch=True))
    image, mask = _frame()
    with pytest.raises(OutOfMemoryError, match="not enough memory") as caught:
        pipeline(image, mask, steps=2, paste=False)
    assert "Close other programs" in caught.value.user_message()
    assert len(pipeline.notes) == 2


def test_other_errors_are_not_retried() -> None:
    class Broken(FakeUNet):
        def forward(self, sample: torch.Tensor, timesteps: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("shape mismatch")

    pipeline = _guarded(Broken(failures=0))
    image, mask = _frame()
    with pytest.raises(RuntimeError, match="shape mismatch"):
        pipeline(image, mask, steps=2, paste=False)
    assert pipeline.notes == []


def test_split_guidance_gives_the_same_result() -> None:
    from core.inpaint.pipeline import MoebiusPipeline

    torch.manual_seed(0)
    model = MoebiusModel({**TINY_CONFIG, "sample_size": 8, "block_out_channels": [8, 16, 32]})
    pipeline = MoebiusPipeline(model, FakeVAE())
    generator = torch.Generator().manual_seed(0)
    latents, masked, noise = (torch.randn(1, 4, 8, 8, generator=generator) for _ in range(3))
    mask = (torch.rand(1, 1, 8, 8, generator=generator) > 0.5).float()
    with torch.inference_mode():
        joint = pipeline.denoise(latents, masked, mask, noise, steps=2, strength=1.0, split_guidance=False)
        split = pipeline.denoise(latents, masked, mask, noise, steps=2, strength=1.0, split_guidance=True)
    torch.testing.assert_close(split, joint, atol=1e-5, rtol=1e-5)


def test_the_cpu_splits_the_guidance_batch_by_default() -> None:
    # Two half-size calls need less memory on a CPU (at about the same speed); a GPU keeps the full batch.
    from core.inpaint.pipeline import MoebiusPipeline

    model = MoebiusModel({**TINY_CONFIG, "sample_size": 8, "block_out_channels": [8, 16, 32]})
    assert MoebiusPipeline(model, FakeVAE()).split_guidance
    assert not MoebiusPipeline(model, FakeVAE(), device="cuda").split_guidance
    assert not MoebiusPipeline(model, FakeVAE(), split_guidance=False).split_guidance


# -- real loading ----------------------------------------------------------------------------------------------


def test_unet_and_vae_get_their_own_formats(tiny_files: ModelFiles) -> None:
    pipeline, info = load_pipeline(tiny_files, device="cpu", precision="bfloat16")
    assert (info.dtype, info.vae_dtype) == ("bfloat16", "float32")
    assert (pipeline.dtype, pipeline.vae_dtype) == (torch.bfloat16, torch.float32)
    assert next(pipeline.model.parameters()).dtype == torch.bfloat16
    assert next(pipeline.vae.parameters()).dtype == torch.float32


def test_real_cpu_run_of_the_tiny_model(tiny_files: ModelFiles) -> None:
    events: list[str] = []
    pipeline, info = load_pipeline(
        tiny_files,
        precision="exact",
        source="precision from a test",
        progress=lambda e: events.append(f"{e.stage}{e.step}"),
    )
    assert isinstance(pipeline, GuardedPipeline)
    assert (info.device, info.dtype, info.vae_dtype, info.torch_device) == ("cpu", "float32", "float32", "cpu")
    assert info.reason.startswith("CPU: ") and "exact mode" in info.reason
    assert info.reason.endswith("[precision from a test]")
    assert events == ["load0", "load1", "load2"]
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    mask = np.zeros((512, 512), np.uint8)
    mask[128:384, 128:384] = 255
    result = pipeline(image, mask, steps=2, seed=3)
    assert result.shape == (512, 512, 3) and result.dtype == np.uint8
    assert pipeline.notes == []


def test_load_pipeline_reports_an_unavailable_device(tiny_files: ModelFiles) -> None:
    with pytest.raises(DeviceError, match="CUDA was requested"):
        load_pipeline(tiny_files, device="cuda")


def test_load_failure_for_other_reasons_propagates(tmp_path: Path) -> None:
    from core.common.errors import CheckpointError

    (tmp_path / "vae").mkdir()
    bad = ModelFiles(tmp_path / "missing.bin", tmp_path / "vae")
    with pytest.raises(CheckpointError):
        load_pipeline(bad, device="cpu", precision="exact")
