"""Device choice with faked hardware: torch's capability queries are monkeypatched."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from backends import device
from backends.device import DeviceUnavailable, choose_device, describe_cpu

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


@pytest.fixture
def hardware(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """A machine with neither CUDA nor MPS and a CPU-only torch build; tests switch things on."""
    state = SimpleNamespace(cuda=False, bf16=True, mps=False, mps_built=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: state.cuda)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "NVIDIA Test GPU")
    monkeypatch.setattr(
        torch.cuda, "get_device_properties", lambda index=0: SimpleNamespace(total_memory=24 * 2**30)
    )
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: state.bf16)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: state.mps)
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: state.mps_built)
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.version, "hip", None)
    state.set_cuda_build = lambda version: monkeypatch.setattr(torch.version, "cuda", version)
    state.set_hip = lambda version: monkeypatch.setattr(torch.version, "hip", version)
    return state


def test_cpu_only_machine_picks_cpu_float32(hardware: SimpleNamespace) -> None:
    choice = choose_device()
    assert (choice.device, choice.dtype_name) == ("cpu", "float32")
    assert choice.reason.startswith("CPU: ")
    assert "exact mode" in choice.reason
    assert "no CUDA or MPS device found" in choice.reason
    assert "\n" not in choice.reason


def test_explicit_cpu_says_nothing_about_gpus(hardware: SimpleNamespace) -> None:
    choice = choose_device("cpu")
    assert choice.device == "cpu"
    assert "CUDA" not in choice.reason


def test_auto_prefers_cuda(hardware: SimpleNamespace) -> None:
    hardware.cuda = True
    hardware.mps = True
    choice = choose_device("auto")
    assert (choice.device, choice.dtype_name) == ("cuda", "float32")
    assert choice.reason == "CUDA: NVIDIA Test GPU (24 GiB), float32 (exact mode)"


def test_rocm_builds_are_labelled(hardware: SimpleNamespace) -> None:
    hardware.cuda = True
    hardware.set_hip("6.4")
    assert choose_device().reason.startswith("ROCm: NVIDIA Test GPU")


def test_auto_takes_mps_without_cuda(hardware: SimpleNamespace) -> None:
    hardware.mps = True
    choice = choose_device("auto")
    assert (choice.device, choice.dtype_name) == ("mps", "float32")
    assert choice.reason.startswith("MPS: Apple GPU")


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


@pytest.mark.parametrize("precision", ["auto", "exact", "float32"])
def test_exact_precisions_are_float32_everywhere(hardware: SimpleNamespace, precision: str) -> None:
    assert choose_device("cpu", precision).dtype_name == "float32"
    hardware.cuda = True
    assert choose_device("cuda", precision).dtype_name == "float32"
    hardware.mps = True
    assert choose_device("mps", precision).dtype_name == "float32"


def test_reduced_precision_where_supported(hardware: SimpleNamespace) -> None:
    hardware.cuda = True
    assert choose_device("cuda", "float16").dtype_name == "float16"
    assert choose_device("cuda", "bfloat16").dtype_name == "bfloat16"
    hardware.bf16 = False
    fallback = choose_device("cuda", "bfloat16")
    assert fallback.dtype_name == "float32"
    assert "lacks" in fallback.reason
    hardware.mps = True
    assert choose_device("mps", "float16").dtype_name == "float16"
    assert choose_device("mps", "bfloat16").dtype_name == "float32"
    assert choose_device("cpu", "bfloat16").dtype_name == "bfloat16"
    assert choose_device("cpu", "float16").dtype_name == "float32"


def test_describe_cpu_reads_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO_WITH_AMX)
    info = describe_cpu(cpuinfo)
    assert info.model == "Intel(R) Xeon(R) Platinum 8480+"
    assert {"avx512_bf16", "amx_bf16", "amx_tile", "avx2"} <= info.flags
    assert "fpu" not in info.flags  # only the flags that matter are kept
    assert info.native_bf16
    assert info.threads >= 1

    cpuinfo.write_text(CPUINFO_PLAIN)
    plain = describe_cpu(cpuinfo)
    assert plain.model == "AMD EPYC 7B13"
    assert not plain.native_bf16


def test_describe_cpu_without_cpuinfo_uses_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device.platform, "processor", lambda: "arm")
    info = describe_cpu(tmp_path / "missing")
    assert info.model == "arm"
    assert info.flags == frozenset()


def test_cpu_reason_mentions_bf16_support(hardware: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = device.CpuInfo(model="Test CPU", threads=8, flags=frozenset({"amx_bf16"}))
    monkeypatch.setattr(device, "describe_cpu", lambda: fake)
    reason = choose_device("cpu").reason
    assert reason == "CPU: Test CPU, 8 threads, float32 (exact mode; CPU has native bf16)"
    fake_plain = device.CpuInfo(model="Test CPU", threads=1, flags=frozenset())
    monkeypatch.setattr(device, "describe_cpu", lambda: fake_plain)
    reason = choose_device("cpu").reason
    assert reason == "CPU: Test CPU, 1 thread, float32 (exact mode; CPU has no native bf16)"
