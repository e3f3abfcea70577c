"""The registry, finding and preparing installed weights, the manifest, verify and remove — all without network.

prepare_model is what a load goes through: a file verified before is trusted after one stat while its size and
time are unchanged, a changed file is hashed again (and refused if its content changed), and a pickled .bin is
converted once to safetensors (beside it in the models folder, else in the cache folder).
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest
import torch
from fake_hub import install_tiny_model, tiny_release
from safetensors.torch import load_file, save_file

import core.weights.store
import core.weights.verification
from core.common.errors import (
    ChecksumMismatchError,
    ModelFolderNotWritableError,
    ModelNotInstalledError,
    UnknownModelError,
)
from core.common.paths import cache_dir, models_dir
from core.job.options import DEFAULT_VARIANT
from core.model.unet import load_moebius
from core.weights.registry import (
    MODELS,
    VARIANTS,
    ModelFiles,
    find_model,
    get_spec,
    installed_variants,
    require_model,
    variant_for,
)
from core.weights.store import model_status, prepare_model, remove_model, verify_installed
from core.weights.verification import Manifest


@pytest.fixture
def hash_counter(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Records every file core.weights.store hashes."""
    hashed: list[Path] = []
    real = core.weights.verification.sha256_file

    def counting(path: Path, **kwargs: object) -> str:
        hashed.append(path)
        return real(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(core.weights.store, "sha256_file", counting)
    return hashed


def _installed() -> ModelFiles:
    install_tiny_model(models_dir())
    files = find_model()
    assert files is not None
    return files


# -- the registry -------------------------------------------------------------------------------------------


def test_every_registry_entry_says_what_it_is_and_where_it_comes_from() -> None:
    assert set(VARIANTS) == {"pretrained", "ft_places2", "ft_celebahq", "ft_ffhq"}
    assert set(MODELS) == set(VARIANTS) | {"vae"}
    for spec in MODELS.values():
        assert spec.label and spec.purpose and spec.licence and spec.source.startswith("https://huggingface.co/")
        weights = [f for f in spec.files if f.is_weights]
        assert len(weights) == 1 and weights[0].path.endswith("diffusion_pytorch_model.bin")
        assert weights[0].sha256 is None or len(weights[0].sha256) == 64  # allowed to be unknown
        assert spec.approx_bytes > 300_000_000 and spec.frame_size == 512
    assert all(spec.needs == ("vae",) and spec.files[1].repo_id == "hustvl/Moebius" for spec in VARIANTS.values())
    assert MODELS["vae"].files[0].repo_id == "hustvl/PixelHacker" and MODELS["vae"].folder == "vae"
    assert get_spec("ft_ffhq").folder == "moebius/ft_ffhq"
    with pytest.raises(UnknownModelError) as caught:
        get_spec("ft_imagenet")
    assert "Known models: ft_places2" in caught.value.user_message()


def test_the_variant_follows_what_the_photo_shows_and_what_is_installed() -> None:
    assert variant_for() == DEFAULT_VARIANT == "ft_places2"
    assert variant_for("scenes") == "ft_places2"
    assert variant_for("portraits") in ("ft_ffhq", "ft_celebahq")
    assert variant_for("portraits", installed=["ft_celebahq", "ft_places2"]) == "ft_celebahq"
    assert variant_for("scenes", installed=["ft_ffhq"]) == "ft_ffhq"
    assert variant_for("portraits", installed=[]) == DEFAULT_VARIANT


def test_find_model_prefers_safetensors_and_lists_installed_variants() -> None:
    files = _installed()
    shutil.copy(tiny_release() / "moebius/ft_places2/diffusion_pytorch_model.bin", files.unet.parent)
    again = find_model()
    assert again is not None and again.unet.suffix == ".safetensors"
    assert installed_variants() == ["ft_places2"]
    assert require_model(variant="ft_ffhq").variant == "ft_places2"  # falls back to what is there


# -- prepare_model: trust, re-hash, refuse, convert once ----------------------------------------------------


def test_prepare_trusts_unchanged_files_without_reading_them(hash_counter: list[Path]) -> None:
    files = _installed()
    hash_counter.clear()
    assert prepare_model(files) == files
    assert hash_counter == []


def test_prepare_rehashes_a_touched_file_and_refuses_a_changed_one(hash_counter: list[Path]) -> None:
    files = _installed()
    hash_counter.clear()
    stat = files.unet.stat()
    os.utime(files.unet, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    prepare_model(files)
    assert hash_counter == [files.unet]  # same content: hashed once, then trusted again
    prepare_model(files)
    assert hash_counter == [files.unet]

    data = bytearray(files.unet.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit in the last tensor, same size
    files.unet.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatchError, match="changed since it was verified"):
        prepare_model(files)


def test_a_bin_in_the_models_folder_is_converted_once_beside_itself(hash_counter: list[Path]) -> None:
    shutil.copytree(tiny_release(), models_dir())  # put there by hand, as pickles
    files = find_model()
    assert files is not None and files.unet.suffix == ".bin"

    ready = prepare_model(files)

    assert ready.unet == files.unet.with_suffix(".safetensors")
    assert (ready.vae_dir / "diffusion_pytorch_model.safetensors").is_file()
    original = torch.load(files.unet, weights_only=True)
    converted = load_file(str(ready.unet))
    assert converted.keys() == original.keys() and all(torch.equal(converted[k], original[k]) for k in original)
    assert files.unet.is_file()  # the user's own file stays
    # From now on the safetensors file is found and trusted; nothing is converted or hashed again.
    hash_counter.clear()
    again = find_model()
    assert again is not None and prepare_model(again) == again and hash_counter == []


def test_a_bin_elsewhere_is_converted_into_the_cache_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(tiny_release(), tmp_path / "mine")
    files = find_model(tmp_path / "mine" / "moebius" / "ft_places2")
    assert files is not None

    ready = prepare_model(files)

    assert cache_dir() in ready.unet.parents and cache_dir() in ready.vae_dir.parents
    assert (ready.unet.parent / "config.json").is_file()  # the tiny config travels with it
    load_moebius(ready.unet)
    # A second load reuses the conversion.
    monkeypatch.setattr(core.weights.store, "write_safetensors", _must_not_run)
    assert prepare_model(files) == ready


def _must_not_run(*args: object, **kwargs: object) -> None:
    raise AssertionError("converted a second time")


def test_without_anywhere_to_write_the_bin_is_loaded_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(tiny_release(), tmp_path / "mine")
    files = find_model(tmp_path / "mine" / "moebius" / "ft_places2")
    assert files is not None

    def read_only(folder: Path, *, what: str = "") -> Path:
        raise ModelFolderNotWritableError(f"{folder} is read-only")

    monkeypatch.setattr(core.weights.store, "ensure_writable_dir", read_only)
    assert prepare_model(files) == files


def test_a_foreign_safetensors_folder_is_used_without_hashing(tmp_path: Path, hash_counter: list[Path]) -> None:
    for folder in ("moebius/ft_places2", "vae"):
        (tmp_path / folder).mkdir(parents=True)
        shutil.copy(tiny_release() / folder / "config.json", tmp_path / folder)
        state = torch.load(tiny_release() / folder / "diffusion_pytorch_model.bin", weights_only=True)
        save_file(state, str(tmp_path / folder / "diffusion_pytorch_model.safetensors"))
    files = find_model(tmp_path / "moebius" / "ft_places2")
    assert files is not None and prepare_model(files) == files and hash_counter == []


# -- status, verify, remove, manifest -----------------------------------------------------------------------


def test_status_verify_and_remove() -> None:
    assert not any(row.installed for row in model_status())
    files = _installed()
    states = {row.spec.name: (row.installed, row.verified) for row in model_status()}
    assert states["ft_places2"] == (True, True) and states["vae"] == (True, True) and not states["ft_ffhq"][0]

    assert [r.ok for r in verify_installed()] == [True, True]
    data = bytearray(files.unet.read_bytes())
    data[-1] ^= 0x01
    files.unet.write_bytes(bytes(data))
    result, vae = verify_installed()
    assert not result.ok and "changed since it was installed" in result.message and vae.ok
    with pytest.raises(UnknownModelError):
        verify_installed(["nope"])

    removed = remove_model("ft_places2")
    assert files.unet in removed and not files.unet.parent.exists()
    assert Manifest.load(models_dir()).get(files.unet) is None
    with pytest.raises(ModelNotInstalledError, match="not installed"):
        remove_model("ft_places2")


def test_remove_leaves_the_users_other_files() -> None:
    files = _installed()
    note = files.unet.parent / "my-notes.txt"
    note.write_text("keep me")
    remove_model("ft_places2")
    assert note.read_text() == "keep me" and find_model() is None


def test_a_damaged_manifest_only_costs_a_rehash(hash_counter: list[Path]) -> None:
    files = _installed()
    (models_dir() / "manifest.json").write_text("{ this is not json")
    hash_counter.clear()
    assert prepare_model(files) == files
    assert set(hash_counter) == {files.unet, files.vae_dir / "diffusion_pytorch_model.safetensors"}
    assert Manifest.load(models_dir()).get(files.unet) is not None  # rewritten


def test_nothing_but_a_download_touches_the_network(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """List, where, import, verify, prepare and remove open no connection at all, not even to this machine."""
    from core.cli.main import main

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    for args in (["list"], ["where"], ["import", str(tiny_release())], ["verify"], ["list", "--json"]):
        assert main(["models", *args]) == 0, args
    files = find_model()
    assert files is not None
    prepare_model(files)
    assert main(["models", "remove", "vae"]) == 0
    capsys.readouterr()
