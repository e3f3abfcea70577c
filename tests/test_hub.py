"""Downloading models through huggingface_hub from a stand-in Hub on 127.0.0.1 (tests/fake_hub.py).

Covers: the stand-in answers huggingface_hub's own hf_hub_download; a fresh download with progress; a transfer
killed mid-file resumed with a Range request; a cancelled download resumed by the next call; checksum
mismatches refused; a pickle that runs code refused; offline, full disk and read-only folder each with their
own message; and that nothing half-done is ever found by the loader.
"""

from __future__ import annotations

import errno
import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from fake_hub import FakeHub, closed_port_url, running_hub, serve_release, tiny_release, write_malicious_bin
from safetensors.torch import load_file

import core.weights.hub
from core.common.cancel import CancelToken
from core.common.errors import (
    CancelledError,
    ChecksumMismatchError,
    DiskSpaceError,
    ModelFolderNotWritableError,
    OfflineError,
    RemoteFileNotFoundError,
    UnsafeCheckpointError,
)
from core.common.paths import models_dir
from core.weights.download import download_model, plan_download
from core.weights.hub import DownloadProgress, describe_progress
from core.weights.registry import MODELS, VARIANTS, find_model
from core.weights.verification import Manifest

BIN = "ft_places2/diffusion_pytorch_model.bin"


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with running_hub() as server:
        yield server


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read 64 KiB at a time and pass on every progress report, so a 21 MB file gives many of them."""
    monkeypatch.setattr(core.weights.hub, "CHUNK_BYTES", 64 * 1024)
    monkeypatch.setattr(core.weights.hub, "PROGRESS_INTERVAL", 0.0)


def _files_below(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _installed_weights() -> list[str]:
    root = models_dir()
    return [f for f in _files_below(root) if "diffusion_pytorch_model" in f and not f.startswith(".downloads")]


class _NoBar:
    """Stands in for tqdm, so hf_hub_download starts no tqdm monitor thread."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def update(self, count: int = 1) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


def test_the_stand_in_serves_huggingface_hubs_own_download(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants, hf_hub_download

    # With telemetry on, huggingface_hub would also ask huggingface.co for its list of AI agents.
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    release = tiny_release()
    serve_release(hub, release)
    for name in ("vae/config.json", "vae/diffusion_pytorch_model.bin"):
        path = hf_hub_download(
            "hustvl/PixelHacker", name, endpoint=hub.url, local_dir=tmp_path, token=False, tqdm_class=_NoBar
        )
        assert Path(path).read_bytes() == (release / name).read_bytes()


def test_fresh_download_reports_progress_and_installs_safetensors(hub: FakeHub) -> None:
    release = tiny_release()
    serve_release(hub, release)
    events: list[DownloadProgress] = []
    notes: list[str] = []
    installed = download_model("ft_places2", endpoint=hub.url, progress=events.append, notify=notes.append)

    assert [item.model for item in installed] == ["ft_places2", "vae"]  # the VAE comes along when missing
    files = find_model()
    assert files is not None and files.variant == "ft_places2"
    assert files.unet.name == "diffusion_pytorch_model.safetensors"
    assert (files.vae_dir / "diffusion_pytorch_model.safetensors").is_file()
    # The installed tensors are exactly the released ones.
    source = torch.load(release / "moebius/ft_places2/diffusion_pytorch_model.bin", weights_only=True)
    got = load_file(str(files.unet))
    assert got.keys() == source.keys() and all(torch.equal(got[k], source[k]) for k in source)
    # Progress: bytes, rate and ETA, ending at the total; overall bytes never go back.
    unet_events = [e for e in events if e.filename == BIN]
    assert len(unet_events) > 10
    assert unet_events[-1].done == unet_events[-1].total == len(hub.files[("hustvl/Moebius", BIN)].content)
    assert any(e.rate > 0 and e.eta is not None for e in unet_events)
    overall = [e.overall_done for e in events]
    assert overall == sorted(overall) and events[-1].overall_done == events[-1].overall_total
    assert "MB" in describe_progress(unet_events[len(unet_events) // 2])
    assert any("Verifying and installing ft_places2" in note for note in notes)
    # Nothing is left in the download area, and the Hub's hash of the .bin was remembered.
    assert _files_below(models_dir() / ".downloads") == []
    manifest = Manifest.load(models_dir())
    content = hub.files[("hustvl/Moebius", BIN)].content
    assert manifest.releases[f"hustvl/Moebius/{BIN}"]["sha256"] == hashlib.sha256(content).hexdigest()
    # Only the four files were fetched, each once; asking again fetches nothing, and asks nothing.
    assert len(hub.requests("GET")) == 4
    before = len(hub.requests())
    assert download_model("ft_places2", endpoint=hub.url) == []
    assert len(hub.requests()) == before


def test_a_killed_transfer_resumes_with_a_range_request(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    import time
    import types

    import huggingface_hub.file_download

    # huggingface_hub waits a second before resuming; the test need not.
    fast = types.SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("_")})
    fast.sleep = lambda seconds: None
    monkeypatch.setattr(huggingface_hub.file_download, "time", fast)
    served = serve_release(hub, tiny_release())
    cut = len(served[BIN].content) // 3
    served[BIN].drops.append(cut)  # the first GET of the UNet breaks after a third of the file

    download_model("ft_places2", endpoint=hub.url)

    ranges = [r.range for r in hub.requests("GET", BIN)]
    assert len(ranges) == 2 and ranges[0] is None
    # The second request continues from what reached the disk (whole blocks, so up to one block less).
    assert ranges[1] is not None and ranges[1].startswith("bytes=") and ranges[1].endswith("-")
    resumed_at = int(ranges[1][len("bytes=") : -1])
    assert cut - 64 * 1024 <= resumed_at <= cut
    assert find_model() is not None


def test_a_cancelled_download_keeps_its_part_and_the_next_call_resumes(hub: FakeHub) -> None:
    served = serve_release(hub, tiny_release())
    total = len(served[BIN].content)
    token = CancelToken()

    def cancel_midway(event: DownloadProgress) -> None:
        if event.filename == BIN and event.done > total // 2:
            token.cancel()

    with pytest.raises(CancelledError):
        download_model("ft_places2", endpoint=hub.url, progress=cancel_midway, cancel=token)

    # Nothing that loads: no checkpoint under its final name anywhere, and find_model sees nothing.
    assert _installed_weights() == []
    assert find_model() is None
    part = models_dir() / ".downloads/hustvl--Moebius" / (BIN + ".part")
    kept = part.stat().st_size
    assert total // 2 < kept < total

    download_model("ft_places2", endpoint=hub.url)
    assert hub.requests("GET", BIN)[-1].range == f"bytes={kept}-"
    assert find_model() is not None and not part.exists()


def test_content_that_differs_from_the_announced_sha256_is_refused(hub: FakeHub) -> None:
    served = serve_release(hub, tiny_release())
    served[BIN].announced_sha256 = hashlib.sha256(b"something else").hexdigest()

    with pytest.raises(ChecksumMismatchError, match="SHA-256"):
        download_model("ft_places2", endpoint=hub.url)

    assert _installed_weights() == []
    staged = _files_below(models_dir() / ".downloads/hustvl--Moebius")
    assert staged == ["ft_places2/config.json"]  # the good small file stays; nothing of the bad one


def test_a_registry_hash_that_the_server_contradicts_stops_before_the_transfer(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_release(hub, tiny_release())
    spec = MODELS["ft_places2"]
    pinned = tuple(replace(f, sha256="0" * 64) if f.is_weights else f for f in spec.files)
    monkeypatch.setitem(MODELS, "ft_places2", replace(spec, files=pinned))
    monkeypatch.setitem(VARIANTS, "ft_places2", MODELS["ft_places2"])

    with pytest.raises(ChecksumMismatchError, match="released file has 0000"):
        download_model("ft_places2", endpoint=hub.url)
    assert hub.requests("GET", BIN) == []


def test_a_download_whose_pickle_runs_code_is_refused(hub: FakeHub, tmp_path: Path) -> None:
    serve_release(hub, tiny_release())
    marker = tmp_path / "code-ran"
    hub.add("hustvl/Moebius", BIN, write_malicious_bin(tmp_path / "evil.bin", marker))

    with pytest.raises(UnsafeCheckpointError, match="code or objects other than tensors"):
        download_model("ft_places2", endpoint=hub.url)

    assert not marker.exists()
    assert _installed_weights() == []
    assert _files_below(models_dir() / ".downloads") == []  # the bad file is not kept for a retry


def test_offline_gives_a_clear_message_and_writes_nothing() -> None:
    with pytest.raises(OfflineError) as caught:
        download_model("ft_places2", endpoint=closed_port_url())
    message = caught.value.user_message()
    assert "offline" in message and "127.0.0.1" in message
    assert _installed_weights() == []


def test_hf_hub_offline_switch_is_respected(monkeypatch: pytest.MonkeyPatch, hub: FakeHub) -> None:
    from huggingface_hub import constants

    serve_release(hub, tiny_release())
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(OfflineError, match="HF_HUB_OFFLINE"):
        download_model("ft_places2", endpoint=hub.url)
    assert hub.requests() == []


def test_not_enough_space_is_refused_before_any_transfer(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    serve_release(hub, tiny_release())
    monkeypatch.setattr("core.common.files.free_bytes", lambda folder: 10_000)
    with pytest.raises(DiskSpaceError, match="Not enough free disk space"):
        download_model("ft_places2", endpoint=hub.url)
    assert hub.requests("GET") == []


def test_a_read_only_models_folder_is_refused_before_any_request(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_release(hub, tiny_release())
    real_write = Path.write_bytes

    def read_only(self: Path, data: bytes) -> int:
        if models_dir() in self.parents:
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", read_only)
    with pytest.raises(ModelFolderNotWritableError, match="read-only"):
        download_model("ft_places2", endpoint=hub.url)
    assert hub.requests() == []


def test_a_full_disk_while_converting_keeps_the_verified_download_for_the_retry(
    hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_release(hub, tiny_release())
    import core.weights.convert
    import core.weights.install

    real_write = core.weights.convert.write_safetensors

    def disk_fills_up(state: object, destination: Path, *, name: str) -> None:
        destination.write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(core.weights.install, "write_safetensors", disk_fills_up)
    with pytest.raises(DiskSpaceError, match="full"):
        download_model("ft_places2", endpoint=hub.url)
    assert _installed_weights() == []  # no half-written file under any name a loader uses
    assert not list(models_dir().rglob(".*.tmp"))

    monkeypatch.setattr(core.weights.install, "write_safetensors", real_write)
    download_model("ft_places2", endpoint=hub.url)
    assert len(hub.requests("GET", BIN)) == 1  # the complete download was used again, not fetched twice
    assert find_model() is not None


def test_optional_files_may_be_missing_but_required_ones_may_not(hub: FakeHub) -> None:
    release = tiny_release()
    hub.add("hustvl/Moebius", "ft_ffhq/diffusion_pytorch_model.bin", b"x" * 10)  # no ft_ffhq/config.json
    plan = plan_download([MODELS["ft_ffhq"]], root=models_dir(), endpoint=hub.url)
    assert [item.remote.path for item in plan] == ["ft_ffhq/diffusion_pytorch_model.bin"]

    vae_weights = (release / "vae/diffusion_pytorch_model.bin").read_bytes()
    hub.add("hustvl/PixelHacker", "vae/diffusion_pytorch_model.bin", vae_weights)  # but no vae/config.json
    with pytest.raises(RemoteFileNotFoundError, match="does not have it"):
        plan_download([MODELS["vae"]], root=models_dir(), endpoint=hub.url)
