"""``moebius-inpaint models list | download | import | verify | remove | where`` as a user runs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_hub import FakeHub, closed_port_url, install_tiny_model, running_hub, serve_release, tiny_release

from core.cli.main import COMMANDS, main
from core.cli.reporting import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from core.common.paths import models_dir
from core.weights.registry import find_model


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with running_hub() as server:
        yield server


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["models", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_the_models_command_is_registered() -> None:
    assert "models" in COMMANDS


def test_list_and_where_on_an_empty_computer(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "list")
    assert status == EXIT_OK
    assert str(models_dir()) in out and "not installed" in out and "* ft_places2" in out
    assert "models download NAME" in out

    status, out, _ = run(capsys, "where")
    assert status == EXIT_OK and str(models_dir()) in out and "MOEBIUS_STUDIO_MODELS" in out
    status, out, _ = run(capsys, "where", "ft_ffhq")
    assert out.strip() == str(models_dir() / "moebius" / "ft_ffhq")


def test_import_then_list_verify_and_remove(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "import", str(tiny_release()))
    assert status == EXIT_OK, err
    assert "Installed ft_places2" in out and "Installed vae" in out and "converted to safetensors" in out

    status, out, _ = run(capsys, "list", "--json")
    models = {m["name"]: m for m in json.loads(out)["models"]}
    assert models["ft_places2"]["installed"] and models["ft_places2"]["verified"] and models["ft_places2"]["default"]
    assert models["ft_places2"]["path"].endswith(".safetensors") and not models["ft_ffhq"]["installed"]

    status, out, _ = run(capsys, "verify")
    assert status == EXIT_OK and out.count("ok ") == 2

    status, out, _ = run(capsys, "where")
    assert "diffusion_pytorch_model.safetensors" in out

    status, out, _ = run(capsys, "remove", "ft_places2")
    assert status == EXIT_OK and "Removed" in out and find_model() is None


def test_verify_reports_a_damaged_file(capsys: pytest.CaptureFixture[str]) -> None:
    install_tiny_model(models_dir())
    files = find_model()
    assert files is not None
    data = bytearray(files.unet.read_bytes())
    data[-1] ^= 0x10
    files.unet.write_bytes(bytes(data))
    status, out, _ = run(capsys, "verify")
    assert status == EXIT_FAILED and "FAIL ft_places2" in out and "changed since it was installed" in out


def test_bad_input_is_one_line_with_status_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for args, expected in (
        (("import", str(tmp_path / "missing")), "does not exist"),
        (("remove", "ft_ffhq"), "not installed"),
        (("verify", "ft_imagenet"), "no model called"),
        (("where", "ft_imagenet"), "no model called"),
    ):
        status, _, err = run(capsys, *args)
        assert status == EXIT_BAD_INPUT, args
        lines = err.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0] and "Traceback" not in err
    status, _, err = run(capsys, "download", "ft_imagenet")
    assert status == EXIT_BAD_INPUT and "invalid choice" in err


def test_a_refused_import_file_exits_2_and_names_the_reason(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "ft_ffhq"
    folder.mkdir()
    (folder / "diffusion_pytorch_model.bin").write_bytes(b"PK\x03\x04 not really a checkpoint")
    status, _, err = run(capsys, "import", str(folder))
    assert status == EXIT_BAD_INPUT and "truncated or not a PyTorch checkpoint" in err


def test_download_from_the_hub(capsys: pytest.CaptureFixture[str], hub: FakeHub) -> None:
    serve_release(hub, tiny_release())
    status, out, err = run(capsys, "download", "ft_places2", "--endpoint", hub.url)
    assert status == EXIT_OK, err
    assert "Installed ft_places2" in out and "Installed vae" in out
    assert "Downloading hustvl/Moebius/ft_places2/diffusion_pytorch_model.bin" in err
    assert "MB" in err  # the progress lines (a log, as stderr is not a terminal here)
    assert find_model() is not None

    status, _, err = run(capsys, "download", "ft_places2", "--endpoint", hub.url)
    assert status == EXIT_OK and "already installed" in err


def test_download_while_offline_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "download", "ft_ffhq", "--endpoint", closed_port_url(), "--quiet")
    assert status == EXIT_FAILED and out == ""
    line = err.strip().splitlines()[-1]
    assert line.startswith("moebius-inpaint models: error: Could not reach 127.0.0.1") and "offline" in line


def test_help_lists_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--help")
    assert status == EXIT_OK
    for word in ("list", "download NAME", "import PATH", "verify", "remove NAME", "where"):
        assert word in out
