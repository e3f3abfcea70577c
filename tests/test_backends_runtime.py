"""Memory checks, out-of-memory recognition, the torch start-up environment and the MPS operator scan."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from backends import memory
from backends.coreml import coreml_status
from backends.mps import mps_concerns
from backends.startup import prepare_torch_environment
from core.model.unet import TINY_CONFIG, MoebiusModel

GIB = 2**30


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_cuda_memory_check_uses_mem_get_info(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index=0: (3 * GIB, 12 * GIB))
    assert memory.free_bytes("cuda") == 3 * GIB
    short = memory.check_memory("cuda", 4 * GIB)
    assert not short.enough
    assert short.message == "3.0 GiB GPU free, about 4.0 GiB needed: not enough"
    assert memory.check_memory("cuda", 2 * GIB).enough


def test_unknown_free_memory_lets_the_run_try(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(index: int = 0) -> tuple[int, int]:
        raise RuntimeError("no driver")

    monkeypatch.setattr(torch.cuda, "mem_get_info", broken)
    check = memory.check_memory("cuda", 4 * GIB)
    assert check.enough and check.free_bytes is None
    assert "unknown" in check.message


def test_cpu_free_memory_from_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:    2097152 kB\n")
    assert memory.cpu_available_bytes(meminfo) == 2 * GIB
    assert (memory.cpu_available_bytes() or 0) > 0  # this machine's, from /proc/meminfo or sysconf


def test_out_of_memory_errors_are_recognised() -> None:
    assert memory.is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert memory.is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 8 GB)"))
    assert memory.is_out_of_memory(MemoryError())
    assert not memory.is_out_of_memory(RuntimeError("shape mismatch"))
    assert not memory.is_out_of_memory(ValueError("out of memory"))
    memory.release_cached_memory("cuda")  # harmless without a GPU


def test_mps_fallback_is_set_without_overriding_the_user() -> None:
    env: dict[str, str] = {}
    assert prepare_torch_environment(env) == []
    assert env == {"PYTORCH_ENABLE_MPS_FALLBACK": "1"}
    mine = {"PYTORCH_ENABLE_MPS_FALLBACK": "0"}
    prepare_torch_environment(mine)
    assert mine["PYTORCH_ENABLE_MPS_FALLBACK"] == "0"


def test_startup_does_not_import_torch(repo_root: Path) -> None:
    code = (
        "import sys, os; from backends.startup import prepare_torch_environment; prepare_torch_environment(); "
        "import backends.device, backends.coreml, backends.memory; "
        "print('torch' in sys.modules, os.environ['PYTORCH_ENABLE_MPS_FALLBACK'])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "1"]


def test_coreml_status_off_macos_and_on_macos() -> None:
    linux = coreml_status("linux")
    assert not linux.can_run
    assert linux.reason.startswith("Core ML runs only on macOS")
    mac = coreml_status("darwin")
    assert mac.can_run == mac.can_export  # on macOS, running needs only coremltools


class _Conv3dNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv3d(1, 2, (1, 3, 3), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x[:, None]).sum(1).double()


def test_mps_scan_finds_conv3d_and_float64() -> None:
    found = mps_concerns(_Conv3dNet(), torch.zeros(1, 4, 8, 8))
    assert any(line.startswith("conv3d on (1, 1, 4, 8, 8)") for line in found)
    assert any("float64" in line for line in found)


def test_moebius_lambda_layers_need_no_conv3d_on_mps() -> None:
    """The released λ layers store a Conv3d kernel; the model must apply it as a 2-D convolution."""
    model = MoebiusModel({**TINY_CONFIG, "sample_size": 8})
    sample = torch.zeros(1, 9, 8, 8)
    assert mps_concerns(model, sample, torch.tensor([500]), torch.arange(10)[None]) == []


def test_no_run_time_compiler_on_the_cpu_path(repo_root: Path) -> None:
    """End users have no compiler: nothing that runs inference may rely on torch.compile / inductor."""
    offenders = [
        f"{path.relative_to(repo_root)}:{number}"
        for folder in ("core", "backends", "app")
        for path in sorted((repo_root / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(word in line for word in ("torch.compile(", "torch._inductor", "torch._dynamo"))
    ]
    assert offenders == []
