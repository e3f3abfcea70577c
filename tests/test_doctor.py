"""``moebius-inpaint doctor``: the system check prints what the machine has and what a job would use."""

from __future__ import annotations

import json
import platform
from types import SimpleNamespace

import pytest
import torch
from tiny_model import write_tiny_model

from backends import device
from backends.coreml import coreml_status
from core.cli.main import COMMANDS, main
from core.common.paths import models_dir


@pytest.fixture(autouse=True)
def no_device_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOEBIUS_STUDIO_DEVICE", raising=False)
    monkeypatch.delenv("MOEBIUS_STUDIO_PRECISION", raising=False)


def _lines(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert main(["doctor", *args]) == 0
    return capsys.readouterr().out.splitlines()


def _line(lines: list[str], start: str) -> str:
    found = [line for line in lines if line.startswith(start)]
    assert found, f"no line starts with {start!r} in:\n" + "\n".join(lines)
    return found[0]


def test_doctor_is_a_registered_command() -> None:
    assert "doctor" in COMMANDS


def test_doctor_reports_this_machine(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _lines(capsys)
    caps = device.probe()
    assert lines[0].startswith("Moebius Studio ") and lines[0].endswith("system check")
    assert _line(lines, "OS:")
    assert _line(lines, "Python:").split()[1] == platform.python_version()
    assert _line(lines, "torch:") == f"torch:         {torch.__version__} ({caps.build} build)"
    assert _line(lines, "  CPU ").startswith(f"  CPU          {caps.cpu.model}, {caps.cpu.threads} threads; RAM ")
    assert _line(lines, "  Core ML ").startswith("  Core ML      ")
    assert "native bf16: " in _line(lines, "CPU features:")
    assert _line(lines, "Asked for:") == "Asked for:     device auto, precision auto"
    chosen = _line(lines, "Chosen:")
    assert chosen.startswith("Chosen:        ") and "float" in chosen
    assert _line(lines, "Precision:").startswith("Precision:     UNet ")
    assert _line(lines, "Models folder:") == f"Models folder: {models_dir()} (does not exist yet)"
    assert "no checkpoint installed" in _line(lines, "  Moebius")
    assert "classic engine" in _line(lines, "  A job would use:")


def test_doctor_lists_installed_model_files(capsys: pytest.CaptureFixture[str]) -> None:
    write_tiny_model(models_dir(ensure=True))
    lines = _lines(capsys)
    assert _line(lines, "  ft_places2").startswith("  ft_places2   installed, ")
    assert _line(lines, "  vae ").startswith("  vae          installed, ")
    assert "diffusion_pytorch_model.bin" in _line(lines, "  A job would use:")
    assert _line(lines, "  Core ML conversion:") == "  Core ML conversion: none yet"


def test_doctor_shows_a_partial_download(capsys: pytest.CaptureFixture[str]) -> None:
    folder = models_dir(ensure=True) / "moebius" / "pretrained"
    folder.mkdir(parents=True)
    (folder / "diffusion_pytorch_model.bin.part").write_bytes(b"x" * 10)
    assert "partly downloaded" in _line(_lines(capsys), "  pretrained")


def test_doctor_explains_an_unavailable_request(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("MOEBIUS_STUDIO_DEVICE", "cuda")
    lines = _lines(capsys)
    assert "device cuda" in _line(lines, "Asked for:") and "MOEBIUS_STUDIO_DEVICE" in _line(lines, "Asked for:")
    assert _line(lines, "Chosen:").startswith("Chosen:        none: CUDA was requested but")
    assert "MOEBIUS_STUDIO_DEVICE=cuda" in _line(lines, "Environment:")


def test_doctor_on_a_faked_gpu_machine(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = device.GpuInfo(0, "NVIDIA GeForce RTX 4070", 12 * 2**30, "CUDA", True)
    caps = device.Capabilities(
        torch_version="2.13.0+cu128",
        cuda_build="12.8",
        hip_build=None,
        gpus=(gpu,),
        cuda_problem="",
        mps_built=False,
        mps_available=False,
        mps_problem="this torch build has no MPS support",
        coreml=coreml_status("linux"),
        cpu=device.CpuInfo("Test CPU", 16, frozenset({"avx2", "avx512_bf16"})),
    )
    monkeypatch.setattr(device, "probe", lambda cpu=None: caps)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index=0: (10 * 2**30, 12 * 2**30))
    lines = _lines(capsys)
    assert _line(lines, "torch:").endswith("(CUDA 12.8 build)")
    assert _line(lines, "  CUDA 0") == "  CUDA 0      NVIDIA GeForce RTX 4070, 12.0 GiB (10.0 GiB free), bf16"
    assert _line(lines, "Chosen:") == (
        "Chosen:        CUDA: NVIDIA GeForce RTX 4070, 12 GiB, float16 (auto: float16 on the GPU; VAE in bfloat16)"
    )
    assert _line(lines, "Precision:") == "Precision:     UNet float16, VAE bfloat16 on cuda"
    assert "native bf16: yes" in _line(lines, "CPU features:")


def test_doctor_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--json", "--precision", "exact"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["choice"]["unet_dtype"] == "float32"
    assert report["request"]["source"] == "precision from the command line"
    assert {"os", "python", "torch", "torch_build", "cpu", "gpus", "mps", "coreml", "models"} <= set(report)


def test_doctor_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--bogus"]) == 2
    assert "usage:" in capsys.readouterr().err


def test_gui_can_reuse_the_report() -> None:
    from core.cli.doctor import collect, describe

    report = collect()
    text = describe(report)
    assert text[0].startswith("Moebius Studio") and any(line.startswith("Chosen:") for line in text)
    assert SimpleNamespace(**report).cpu["threads"] >= 1
