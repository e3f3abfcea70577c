"""Device and precision choice with faked hardware: torch's capability queries are monkeypatched.

Every branch of the ranking is covered (CUDA, ROCm, Core ML, MPS, CPU with and without native bf16), as are
explicit requests for missing devices, the environment overrides and the precision policy.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from backends import device
from backends.coreml import CoreMLStatus, coreml_status
from backends.device import DeviceUnavailable, choose_device, describe_cpu, resolve_request

CPUINFO_WITH_AMX = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse avx avx2 avx512f avx512_bf16 amx_tile amx_bf16 amx_int8

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse avx avx2 avx512f avx512_bf16 amx_tile amx_bf16 amx_int8
"""

CPUINFO_PLAIN = """\
processor\t: 0
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse avx avx2 fma
"""

CPU_PLAIN = device.CpuInfo(model="Test CPU", threads=8, flags=frozenset({"avx2"}))
CPU_BF16 = device.CpuInfo(model="Test CPU", threads=8, flags=frozenset({"avx2", "avx512_bf16"}))


@pytest.fixture
def hardware(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """A machine with no GPU, a CPU-only torch build, no Core ML and a CPU without bf16; tests switch things on."""
    state = SimpleNamespace(
        gpus=[], bf16=True, mps=False, mps_built=False, cpu=CPU_PLAIN, coreml=CoreMLStatus(False, False, None, "no")
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: bool(state.gpus))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: len(state.gpus))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: state.gpus[index][0])
    monkeypatch.setattr(
        torch.cuda,
        "get_device_properties",
        lambda index=0: SimpleNamespace(total_memory=state.gpus[index][1] * 2**30),
    )
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: state.bf16)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: state.mps)
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: state.mps_built)
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(device, "describe_cpu", lambda: state.cpu)
    monkeypatch.setattr(device, "coreml_status", lambda: state.coreml)
    monkeypatch.delenv(device.DEVICE_ENV, raising=False)
    monkeypatch.delenv(device.PRECISION_ENV, raising=False)
    state.set_cuda_build = lambda version: monkeypatch.setattr(torch.version, "cuda", version)
    state.set_hip = lambda version: monkeypatch.setattr(torch.version, "hip", version)
    return state


MAC = CoreMLStatus(True, True, "9.0", "coremltools 9.0 on Apple Silicon")


# -- the ranking --------------------------------------------------------------------------------------------


def test_cpu_only_machine_picks_cpu(hardware: SimpleNamespace) -> None:
    choice = choose_device("auto", "auto")
    assert (choice.device, choice.dtype_name, choice.vae_dtype_name) == ("cpu", "float32", "float32")
    assert choice.reason == (
        "CPU: Test CPU, 8 threads, float32 (auto: CPU has no native bf16, so float32); no CUDA or MPS device found"
    )
    assert choice.torch_device == "cpu"
    assert "\n" not in choice.reason


def test_cpu_with_native_bf16_runs_the_unet_in_bf16(hardware: SimpleNamespace) -> None:
    hardware.cpu = CPU_BF16
    choice = choose_device("cpu", "auto")
    assert (choice.dtype_name, choice.vae_dtype_name) == ("bfloat16", "float32")
    assert (
        choice.reason == "CPU: Test CPU, 8 threads, bfloat16 (auto: CPU has native bf16 (avx512_bf16); VAE in float32)"
    )


def test_explicit_cpu_says_nothing_about_gpus(hardware: SimpleNamespace) -> None:
    hardware.gpus = [("NVIDIA Test GPU", 24)]
    choice = choose_device("cpu")
    assert choice.device == "cpu"
    assert "CUDA" not in choice.reason


def test_auto_prefers_cuda_with_float16_and_a_bf16_vae(hardware: SimpleNamespace) -> None:
    hardware.gpus = [("NVIDIA GeForce RTX 4070", 12)]
    hardware.mps = True
    choice = choose_device("auto", "auto")
    assert (choice.device, choice.backend, choice.dtype_name, choice.vae_dtype_name) == (
        "cuda",
        "CUDA",
        "float16",
        "bfloat16",
    )
    assert choice.reason == "CUDA: NVIDIA GeForce RTX 4070, 12 GiB, float16 (auto: float16 on the GPU; VAE in bfloat16)"


def test_gpu_without_bf16_keeps_the_vae_in_float32(hardware: SimpleNamespace) -> None:
    hardware.gpus = [("NVIDIA Tesla T4", 16)]
    hardware.bf16 = False
    choice = choose_device("auto", "auto")
    assert (choice.dtype_name, choice.vae_dtype_name) == ("float16", "float32")


def test_the_gpu_with_the_most_memory_wins(hardware: SimpleNamespace) -> None:
    hardware.gpus = [("Small GPU", 8), ("Big GPU", 48)]
    choice = choose_device("auto", "auto")
    assert (choice.index, choice.torch_device) == (1, "cuda:1")
    assert "Big GPU, 48 GiB" in choice.reason


def test_rocm_builds_are_labelled_and_requestable(hardware: SimpleNamespace) -> None:
    hardware.gpus = [("AMD Radeon RX 7900 XTX", 24)]
    hardware.set_hip("6.4")
    choice = choose_device("auto", "auto")
    assert (choice.device, choice.backend) == ("cuda", "ROCm")  # ROCm GPUs are "cuda" devices in torch
    assert choice.reason.startswith("ROCm: AMD Radeon RX 7900 XTX, 24 GiB, float16")
    assert choose_device("rocm", "auto").backend == "ROCm"


def test_rocm_requested_on_a_cuda_build_is_unavailable(hardware: SimpleNamespace) -> None:
    hardware.gpus = [("NVIDIA Test GPU", 24)]
    hardware.set_cuda_build("12.8")
    with pytest.raises(DeviceUnavailable, match="ROCm was requested but this torch build is for CUDA"):
        choose_device("rocm")


def test_auto_takes_mps_without_cuda(hardware: SimpleNamespace) -> None:
    hardware.mps = True
    hardware.mps_built = True
    choice = choose_device("auto", "auto")
    assert (choice.device, choice.dtype_name, choice.vae_dtype_name) == ("mps", "float16", "float32")
    assert choice.reason == "MPS: Apple GPU, float16 (auto: float16 on the GPU; VAE in float32)"


def test_auto_takes_core_ml_only_when_a_conversion_is_ready(hardware: SimpleNamespace) -> None:
    hardware.mps = True
    hardware.coreml = MAC
    assert choose_device("auto", "auto").device == "mps"
    ready = choose_device("auto", "auto", coreml_ready=True)
    assert (ready.device, ready.backend, ready.dtype_name, ready.torch_device) == (
        "coreml",
        "Core ML",
        "float16",
        "cpu",
    )
    assert ready.reason.startswith("Core ML: coremltools 9.0 on Apple Silicon, converted model ready, float16")
    # Asked for by name, Core ML is used even before the first conversion.
    assert "converted on first use" in choose_device("coreml", "auto").reason


def test_cuda_outranks_core_ml(hardware: SimpleNamespace) -> None:
    hardware.gpus = [("NVIDIA Test GPU", 24)]
    hardware.coreml = MAC
    assert choose_device("auto", "auto", coreml_ready=True).device == "cuda"


def test_requested_core_ml_off_macos_is_unavailable(hardware: SimpleNamespace) -> None:
    hardware.coreml = coreml_status("linux")
    with pytest.raises(DeviceUnavailable, match="Core ML was requested but Core ML runs only on macOS"):
        choose_device("coreml")


def test_requested_cuda_on_a_cpu_build_is_unavailable(hardware: SimpleNamespace) -> None:
    with pytest.raises(DeviceUnavailable, match="CPU-only"):
        choose_device("cuda")


def test_requested_cuda_without_a_device_is_unavailable(hardware: SimpleNamespace) -> None:
    hardware.set_cuda_build("12.8")
    with pytest.raises(DeviceUnavailable, match="no CUDA device"):
        choose_device("cuda")


def test_requested_mps_is_unavailable_off_apple(hardware: SimpleNamespace) -> None:
    with pytest.raises(DeviceUnavailable, match="no MPS support"):
        choose_device("mps")
    hardware.mps_built = True
    with pytest.raises(DeviceUnavailable, match="Apple Silicon"):
        choose_device("mps")


def test_unknown_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown device"):
        choose_device("tpu")
    with pytest.raises(ValueError, match="unknown precision"):
        choose_device("cpu", "int4")


# -- precision -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["exact", "float32"])
def test_exact_is_float32_everywhere(hardware: SimpleNamespace, precision: str) -> None:
    hardware.cpu = CPU_BF16
    hardware.gpus = [("NVIDIA Test GPU", 24)]
    hardware.mps = True
    hardware.coreml = MAC
    for name in ("cpu", "cuda", "mps", "coreml"):
        choice = choose_device(name, precision)
        assert (choice.dtype_name, choice.vae_dtype_name) == ("float32", "float32"), name


def test_reduced_precision_requests(hardware: SimpleNamespace) -> None:
    hardware.gpus = [("NVIDIA Test GPU", 24)]
    assert choose_device("cuda", "float16").dtype_name == "float16"
    assert (choose_device("cuda", "bfloat16").dtype_name, choose_device("cuda", "bfloat16").vae_dtype_name) == (
        "bfloat16",
        "bfloat16",
    )
    hardware.bf16 = False
    fallback = choose_device("cuda", "bfloat16")
    assert fallback.dtype_name == "float32"
    assert "lacks" in fallback.reason
    hardware.mps = True
    assert choose_device("mps", "float16").dtype_name == "float16"
    assert choose_device("mps", "bfloat16").dtype_name == "float32"
    assert choose_device("cpu", "float16").dtype_name == "float32"
    slow = choose_device("cpu", "bfloat16")
    assert slow.dtype_name == "bfloat16"  # honoured, with a warning in the reason
    assert "many times slower" in slow.reason
    hardware.coreml = MAC
    assert choose_device("coreml", "bfloat16").dtype_name == "float32"


def test_cpu_reason_mentions_bf16_support(hardware: SimpleNamespace) -> None:
    hardware.cpu = device.CpuInfo(model="Test CPU", threads=8, flags=frozenset({"amx_bf16"}))
    assert choose_device("cpu").reason == "CPU: Test CPU, 8 threads, float32 (exact mode; CPU has native bf16)"
    hardware.cpu = device.CpuInfo(model="Test CPU", threads=1, flags=frozenset())
    assert choose_device("cpu").reason == "CPU: Test CPU, 1 thread, float32 (exact mode; CPU has no native bf16)"


# -- what the user asked for ---------------------------------------------------------------------------------


def test_resolve_request_order() -> None:
    env = {device.DEVICE_ENV: "cpu", device.PRECISION_ENV: "exact"}
    assert resolve_request(environ={}) == device.Request("auto", "auto", "")
    assert resolve_request(setting_device="mps", environ={}).device == "mps"
    from_env = resolve_request(setting_device="mps", environ=env)
    assert (from_env.device, from_env.precision) == ("cpu", "exact")
    assert from_env.source == "device from MOEBIUS_STUDIO_DEVICE; precision from MOEBIUS_STUDIO_PRECISION"
    flag = resolve_request("CUDA", None, environ=env)
    assert (flag.device, flag.precision) == ("cuda", "exact")
    assert flag.source.startswith("device from the command line")
    # "auto" on the command line is the default, so it does not hide the environment.
    assert resolve_request("auto", environ=env).device == "cpu"


def test_resolve_request_names_the_bad_source() -> None:
    with pytest.raises(ValueError, match="unknown device 'gpu' in MOEBIUS_STUDIO_DEVICE"):
        resolve_request(environ={device.DEVICE_ENV: "gpu"})
    with pytest.raises(ValueError, match="unknown precision 'half' in the settings"):
        resolve_request(setting_precision="half", environ={})


def test_env_override_reaches_the_choice(hardware: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    hardware.gpus = [("NVIDIA Test GPU", 24)]
    monkeypatch.setenv(device.DEVICE_ENV, "cpu")
    request = resolve_request()
    assert choose_device(request.device, request.precision).device == "cpu"


# -- the CPU -------------------------------------------------------------------------------------------------


def test_describe_cpu_reads_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO_WITH_AMX)
    info = describe_cpu(cpuinfo)
    assert info.model == "Intel(R) Xeon(R) Platinum 8480+"
    assert {"avx512_bf16", "amx_bf16", "amx_tile", "avx2"} <= info.flags
    assert "fpu" not in info.flags  # only the flags that matter are kept
    assert info.native_bf16
    assert info.bf16_flags == ["amx_bf16", "avx512_bf16"]
    assert info.threads >= 1

    cpuinfo.write_text(CPUINFO_PLAIN)
    plain = describe_cpu(cpuinfo)
    assert plain.model == "AMD EPYC 7B13"
    assert not plain.native_bf16


def test_arm_bf16_counts_as_native(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n")
    assert describe_cpu(cpuinfo).native_bf16


def test_describe_cpu_without_cpuinfo_uses_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device.platform, "processor", lambda: "arm")
    info = describe_cpu(tmp_path / "missing")
    assert info.model == "arm"
    assert info.flags == frozenset()


def test_probe_describes_the_build(hardware: SimpleNamespace) -> None:
    caps = device.probe()
    assert caps.build == "CPU-only"
    assert caps.gpus == ()
    hardware.set_hip("6.4")
    hardware.gpus = [("AMD GPU", 16)]
    caps = device.probe()
    assert caps.build == "ROCm 6.4"
    assert caps.gpus[0].api == "ROCm"
    hardware.set_hip(None)
    hardware.set_cuda_build("12.8")
    assert device.probe().build == "CUDA 12.8"
