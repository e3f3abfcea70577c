"""``models import`` is all or nothing: every file is checked before any is installed, and a failure while
installing puts back what the import had already replaced."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from fake_hub import tiny_release, write_malicious_bin
from tiny_model import write_tiny_model

from core.cli.main import main
from core.cli.reporting import EXIT_BAD_INPUT
from core.common.cancel import CancelToken
from core.common.errors import CancelledError
from core.common.paths import models_dir
from core.weights.importer import import_models
from core.weights.registry import find_model
from core.weights.store import prepare_model
from core.weights.verification import Manifest

UNET = "moebius/ft_places2"


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (hidden ones included) with its content."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _other_release(tmp_path: Path) -> Path:
    """A release with other weights than the tiny one (another seed), so a replacement is visible."""
    release = tmp_path / "other"
    write_tiny_model(release, fmt="bin", seed=7)
    return release


def test_one_bad_path_on_the_command_line_installs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad" / "ft_ffhq"
    write_malicious_bin(bad / "diffusion_pytorch_model.bin", tmp_path / "code-ran")

    status = main(["models", "import", str(tiny_release()), str(bad.parent)])
    out, err = capsys.readouterr()

    assert status == EXIT_BAD_INPUT
    assert "Installed" not in out and "nothing was installed from this import" in err
    assert "ft_ffhq" in err and "code or objects other than tensors" in err
    assert not (tmp_path / "code-ran").exists()
    assert find_model() is None and not any(models_dir().rglob("*.safetensors"))


def test_a_failure_while_installing_puts_back_what_the_import_replaced(tmp_path: Path) -> None:
    # 1. A working installation; its files and manifest are what must survive the failed import.
    assert import_models(tiny_release()).ok
    # Something in the VAE's folder that no install can replace: a folder where config.json belongs. The
    # UNet (installed first) is placed before the VAE's install fails on it.
    vae_config = models_dir() / "vae" / "config.json"
    vae_config.unlink()
    vae_config.mkdir()
    before = _snapshot(models_dir())
    records_before = Manifest.load(models_dir()).files

    report = import_models(_other_release(tmp_path))

    assert report.refused and report.installed == [] and report.not_restored == []
    (path, error), = report.failed
    assert path.parent.name == "vae" and "config.json" in error.user_message()
    # 2. Byte for byte the same folder (no kept copies or temporary files left), the same manifest records.
    assert _snapshot(models_dir()) == before
    assert Manifest.load(models_dir()).files == records_before
    # 3. The restored UNet is the verified one: a load trusts it without a mismatch.
    vae_config.rmdir()
    shutil.copy(tiny_release() / "vae/config.json", vae_config)
    files = find_model()
    assert files is not None
    prepare_model(files)


def test_a_cancel_while_installing_installs_nothing(tmp_path: Path) -> None:
    assert import_models(tiny_release()).ok
    before = _snapshot(models_dir())
    token = CancelToken()

    def cancel_at_the_vae(note: str) -> None:
        if note.startswith("Installing") and "as vae" in note:
            token.cancel()  # the UNet is in place by now; the VAE's conversion sees the cancel

    with pytest.raises(CancelledError):
        import_models(_other_release(tmp_path), cancel=token, notify=cancel_at_the_vae)

    assert _snapshot(models_dir()) == before


def test_a_first_import_that_fails_leaves_no_empty_model_folders(tmp_path: Path) -> None:
    # Nothing installed yet; the VAE fails on a folder in place of its file after the UNet was placed.
    (models_dir() / "vae" / "config.json").mkdir(parents=True)

    report = import_models(tiny_release())

    assert report.refused and report.installed == []
    assert not (models_dir() / "moebius").exists()  # created by the import, removed by its undo
    assert [p.name for p in (models_dir() / "vae").iterdir()] == ["config.json"]


def test_copies_kept_by_an_import_that_was_killed_are_removed_later() -> None:
    assert import_models(tiny_release()).ok
    folder = models_dir() / UNET
    stale = folder / f".diffusion_pytorch_model.safetensors.{int(time.time()) - 7200}.4242.undo"
    os.link(folder / "diffusion_pytorch_model.safetensors", stale)

    assert import_models(tiny_release()).ok

    assert not stale.exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
