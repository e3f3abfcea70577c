"""Importing weights the user already has: folders, Hugging Face cache folders, single files, and bad input.

Every import converts pickled .bin files to safetensors with identical tensors; a bad file (code in the pickle,
truncated, the wrong model, a hash the registry contradicts) is refused with its own message, and then nothing
of that import is installed (all or nothing; see also tests/test_import_all_or_nothing.py).
"""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from fake_hub import tiny_release, write_malicious_bin
from safetensors.torch import load_file, save_file

from core.common.errors import (
    CheckpointError,
    CheckpointMismatchError,
    ChecksumMismatchError,
    ModelFolderNotWritableError,
    ModelImportError,
    UnknownModelError,
    UnsafeCheckpointError,
)
from core.common.paths import models_dir
from core.model.unet import load_moebius
from core.model.vae import load_vae
from core.weights.importer import find_checkpoints, import_models
from core.weights.registry import MODELS, VARIANTS, find_model
from core.weights.verification import Manifest

UNET_BIN = "moebius/ft_places2/diffusion_pytorch_model.bin"
VAE_BIN = "vae/diffusion_pytorch_model.bin"


def _copy_release(tmp_path: Path) -> Path:
    target = tmp_path / "release"
    shutil.copytree(tiny_release(), target)
    return target


def _same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)


def test_import_of_the_released_layout_converts_to_identical_safetensors() -> None:
    release = tiny_release()
    report = import_models(release)

    assert report.ok and {item.model for item in report.installed} == {"ft_places2", "vae"}
    assert all(item.converted for item in report.installed)
    files = find_model()
    assert files is not None and files.unet.suffix == ".safetensors"
    for source, installed in ((UNET_BIN, files.unet), (VAE_BIN, files.vae_dir / "diffusion_pytorch_model.safetensors")):
        original = torch.load(release / source, weights_only=True)
        assert _same_tensors(load_file(str(installed)), original), source
    # The config files came along, and both models load from the installed files.
    assert (files.unet.parent / "config.json").read_bytes() == (release / "moebius/ft_places2/config.json").read_bytes()
    load_moebius(files.unet)
    load_vae(files.vae_dir)
    # The hashes are recorded, with the hash of the .bin each file came from.
    record = Manifest.load(models_dir()).get(files.unet)
    assert record is not None and record.kind == "unet" and record.model == "ft_places2"
    assert record.source["origin"] == "import" and len(record.source["sha256"]) == 64
    # The user's files are untouched.
    assert (release / UNET_BIN).is_file() and (release / VAE_BIN).is_file()


def test_safetensors_are_hard_linked_or_copied_on_request(tmp_path: Path) -> None:
    source = tmp_path / "vae"
    source.mkdir()
    shutil.copy(tiny_release() / "vae/config.json", source / "config.json")
    original = source / "diffusion_pytorch_model.safetensors"
    save_file(torch.load(tiny_release() / VAE_BIN, weights_only=True), str(original))

    linked = import_models(source, link=True)
    installed = linked.installed[0].path
    assert not linked.installed[0].converted
    assert installed.stat().st_ino == original.stat().st_ino  # no second copy on disk

    copied = import_models(source, link=False)
    assert copied.ok
    assert installed.stat().st_ino != original.stat().st_ino
    assert installed.read_bytes() == original.read_bytes()


def _hub_cache(tmp_path: Path) -> Path:
    """A Hugging Face hub cache holding the tiny release: blobs, a snapshot of symbolic links, refs/main."""
    release = tiny_release()
    cache = tmp_path / "hf" / "hub"
    layout = {
        "models--hustvl--Moebius": {
            "ft_places2/config.json": "moebius/ft_places2/config.json",
            "ft_places2/diffusion_pytorch_model.bin": UNET_BIN,
        },
        "models--hustvl--PixelHacker": {
            "vae/config.json": "vae/config.json",
            "vae/diffusion_pytorch_model.bin": VAE_BIN,
        },
    }
    revision = "c0ffee" * 6 + "c0ff"
    for repo, files in layout.items():
        (cache / repo / "refs").mkdir(parents=True)
        (cache / repo / "refs" / "main").write_text(revision)
        for index, (inside, source) in enumerate(files.items()):
            blob = cache / repo / "blobs" / f"blob{index}"
            blob.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(release / source, blob)
            link = cache / repo / "snapshots" / revision / inside
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(blob, link.parent))
        # An older snapshot that refs/main does not name is ignored.
        (cache / repo / "snapshots" / ("0" * 40) / "junk").mkdir(parents=True)
    return cache


def test_import_from_a_hugging_face_cache_folder(tmp_path: Path) -> None:
    cache = _hub_cache(tmp_path)
    report = import_models(cache)
    assert report.ok and {item.model for item in report.installed} == {"ft_places2", "vae"}
    record = Manifest.load(models_dir()).get(report.installed[0].path)
    assert record is not None and record.source["repo_id"] in ("hustvl/Moebius", "hustvl/PixelHacker")
    assert find_model() is not None


def test_import_from_one_cache_repository_or_snapshot(tmp_path: Path) -> None:
    cache = _hub_cache(tmp_path)
    report = import_models(cache / "models--hustvl--PixelHacker")
    assert [item.model for item in report.installed] == ["vae"]
    snapshot = next((cache / "models--hustvl--Moebius" / "snapshots").glob("c0ffee*"))
    assert [c.variant for c in find_checkpoints(snapshot)] == ["ft_places2"]


def test_single_files_with_and_without_a_variant(tmp_path: Path) -> None:
    loose = tmp_path / "downloads" / "weights.bin"
    loose.parent.mkdir()
    shutil.copy(tiny_release() / UNET_BIN, loose)
    shutil.copy(tiny_release() / "moebius/ft_places2/config.json", loose.parent / "config.json")

    unnamed = import_models(loose)
    assert not unnamed.installed
    assert isinstance(unnamed.failed[0][1], ModelImportError) and "--variant" in unnamed.failed[0][1].user_message()

    named = import_models(loose, variant="ft_ffhq")
    assert [item.model for item in named.installed] == ["ft_ffhq"]
    assert (models_dir() / "moebius/ft_ffhq/config.json").is_file()
    # A VAE file is recognised by its tensors; a config.json beside it is used when it describes a VAE.
    vae = tmp_path / "autoencoder" / "weights.bin"
    vae.parent.mkdir()
    shutil.copy(tiny_release() / VAE_BIN, vae)
    shutil.copy(tiny_release() / "vae/config.json", vae.parent / "config.json")
    assert [item.model for item in import_models(vae).installed] == ["vae"]
    assert find_model(variant="ft_ffhq") is not None
    with pytest.raises(UnknownModelError):
        import_models(vae, variant="nonsense")


def test_a_pickle_that_runs_code_is_refused_and_nothing_is_installed(tmp_path: Path) -> None:
    release = _copy_release(tmp_path)
    marker = tmp_path / "code-ran"
    write_malicious_bin(release / UNET_BIN, marker)

    report = import_models(release)

    assert not marker.exists()
    assert report.installed == [] and report.refused
    (path, error), = report.failed
    assert path.name == "diffusion_pytorch_model.bin" and isinstance(error, UnsafeCheckpointError)
    assert "code or objects other than tensors" in error.user_message()
    # The good VAE of the same folder is not installed either: the models folder holds nothing new.
    assert not (models_dir() / "moebius").exists() and not (models_dir() / "vae").exists()


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    release = _copy_release(tmp_path)
    data = (release / UNET_BIN).read_bytes()
    (release / UNET_BIN).write_bytes(data[: len(data) // 2])

    report = import_models(release)
    (_, error), = report.failed
    assert isinstance(error, CheckpointError) and "truncated" in error.message
    assert find_model() is None  # the VAE alone is no model


def test_a_damaged_safetensors_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "ft_celebahq"
    folder.mkdir()
    (folder / "diffusion_pytorch_model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    (_, error), = import_models(folder).failed
    assert isinstance(error, CheckpointError) and "safetensors" in error.message


def test_wrong_files_in_the_folders_are_named(tmp_path: Path) -> None:
    release = _copy_release(tmp_path)
    # The VAE's weights where the UNet belongs.
    shutil.copy(release / VAE_BIN, release / UNET_BIN)
    (_, error), = import_models(release).failed
    assert isinstance(error, CheckpointMismatchError) and "VAE checkpoint, not a Moebius UNet" in error.message

    # A Moebius checkpoint of another configuration (the released one instead of the tiny config).
    (release / "moebius/ft_places2/config.json").unlink()
    shutil.copy(tiny_release() / UNET_BIN, release / UNET_BIN)
    (_, error), = import_models(release).failed
    assert isinstance(error, CheckpointMismatchError) and "does not match the Moebius model" in error.message


def test_a_folder_without_checkpoints_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty" / "moebius").mkdir(parents=True)
    with pytest.raises(ModelImportError, match="No Moebius or VAE checkpoint"):
        import_models(tmp_path / "empty")
    with pytest.raises(ModelImportError, match="does not exist"):
        import_models(tmp_path / "nowhere")


def test_a_checksum_the_registry_contradicts_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = MODELS["ft_places2"]
    pinned = tuple(replace(f, sha256="f" * 64) if f.is_weights else f for f in spec.files)
    monkeypatch.setitem(MODELS, "ft_places2", replace(spec, files=pinned))
    monkeypatch.setitem(VARIANTS, "ft_places2", MODELS["ft_places2"])

    report = import_models(tiny_release())
    (_, error), = report.failed
    assert isinstance(error, ChecksumMismatchError) and "ffff" in error.message


def test_a_read_only_models_folder_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = Path.write_bytes

    def read_only(self: Path, data: bytes) -> int:
        if models_dir() in self.parents:
            raise OSError(errno.EACCES, "Permission denied", str(self))
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", read_only)
    with pytest.raises(ModelFolderNotWritableError, match="not writable"):
        import_models(tiny_release())


def test_a_new_import_replaces_what_the_folder_held() -> None:
    # A .bin put there by hand, then an import: the folder holds one model, the imported one.
    unet_folder = models_dir() / "moebius/ft_places2"
    unet_folder.mkdir(parents=True)
    shutil.copy(tiny_release() / UNET_BIN, unet_folder / "diffusion_pytorch_model.bin")
    import_models(tiny_release() / "moebius" / "ft_places2")
    assert sorted(p.name for p in unet_folder.iterdir()) == ["config.json", "diffusion_pytorch_model.safetensors"]
