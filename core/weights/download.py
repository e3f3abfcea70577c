"""Downloading a registry model into the models folder: ask, check space, fetch, verify, install.

The order matters for the user: everything that can fail cheaply is done before the first byte of a 900 MB
file moves. The Hub is asked about every file first (an offline computer fails in a second, with a clear
message), then the free space is checked for the whole download plus its conversion, then each file is fetched
into ``models/.downloads`` (resumable, see :mod:`core.weights.hub`) and installed with
:func:`core.weights.install.install_checkpoint`, which verifies and converts it. A model is usable only once both
its checkpoint and its configuration are in place, and a failure of one model keeps those already installed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from core.common.cancel import CancelToken
from core.common.errors import CheckpointError, ConfigError, RemoteFileNotFoundError
from core.common.files import check_free_space, ensure_writable_dir
from core.weights.hub import (
    Downloaded,
    DownloadProgress,
    ProgressSink,
    RemoteInfo,
    download,
    fetch_info,
    partial_path,
)
from core.weights.install import InstalledFile
from core.weights.registry import MODELS, RemoteFile, Variant, get_spec
from core.weights.store import DOWNLOADS_FOLDER, load_manifest, model_status, models_root
from core.weights.verification import Manifest

Notify = Callable[[str], None]


@dataclass(frozen=True)
class PlannedFile:
    """One file of a download, after the Hub was asked about it.

    Args:
        spec: the model it belongs to.
        remote: its registry entry.
        info: the Hub's answer.
        staging: where it is downloaded to (below ``models/.downloads``).
    """

    spec: Variant
    remote: RemoteFile
    info: RemoteInfo
    staging: Path

    @property
    def size(self) -> int:
        """Its size: the Hub's if it said, else the registry's estimate."""
        return self.info.size if self.info.size is not None else self.remote.approx_bytes

    def missing_bytes(self) -> int:
        """Bytes still to fetch (a partial download of the same version counts as fetched)."""
        if self.staging.is_file():
            return 0
        part = partial_path(self.staging)
        return max(0, self.size - (part.stat().st_size if part.is_file() else 0))


def staging_path(remote: RemoteFile, root: Path) -> Path:
    """Where a file is downloaded to before it is installed.

    Args:
        remote: the file.
        root: the models folder.
    """
    return root / DOWNLOADS_FOLDER / remote.repo_id.replace("/", "--") / remote.path


def models_to_fetch(name: str, *, force: bool = False, root: Path | None = None) -> list[Variant]:
    """The registry entries a download of ``name`` fetches: it, and what it needs that is not installed.

    Args:
        name: a registry name.
        force: fetch ``name`` even when it is installed.
        root: the models folder; ``None`` means :func:`core.weights.store.models_root`.

    Raises:
        UnknownModelError: no such name.
    """
    spec = get_spec(name)
    installed = {status.spec.name for status in model_status(root) if status.installed}
    wanted = [spec] if force or spec.name not in installed else []
    wanted += [MODELS[need] for need in spec.needs if need not in installed]
    return wanted


def plan_download(
    specs: list[Variant],
    *,
    root: Path,
    revision: str = "main",
    endpoint: str | None = None,
    token: str | bool | None = False,
) -> list[PlannedFile]:
    """Ask the Hub about every file of ``specs`` (``HEAD`` requests only).

    Args:
        specs: the models to fetch.
        root: the models folder.
        revision: branch, tag or commit of the repositories.
        endpoint: the Hub's address; ``None`` uses ``HF_ENDPOINT`` or https://huggingface.co.
        token: as in :func:`core.weights.hub.fetch_info`.

    Raises:
        OfflineError: the Hub cannot be reached.
        RemoteFileNotFoundError: a required file is not there.
    """
    plan = []
    for spec in specs:
        for remote in spec.files:
            try:
                info = fetch_info(remote.repo_id, remote.path, revision=revision, endpoint=endpoint, token=token)
            except RemoteFileNotFoundError:
                if remote.optional:
                    continue
                raise
            plan.append(PlannedFile(spec, remote, info, staging_path(remote, root)))
    return plan


def download_model(
    name: str,
    *,
    force: bool = False,
    revision: str = "main",
    endpoint: str | None = None,
    token: str | bool | None = False,
    progress: ProgressSink | None = None,
    notify: Notify | None = None,
    cancel: CancelToken | None = None,
    retries: int = 3,
    retry_wait: float = 2.0,
    root: Path | None = None,
) -> list[InstalledFile]:
    """Download a registry model (and the VAE if it is missing) and install it.

    This is the only function of the program that reaches the network, and only because the user asked.

    Args:
        name: a registry name: ``ft_places2``, ``pretrained``, ``ft_celebahq``, ``ft_ffhq`` or ``vae``.
        force: download again even when it is installed.
        revision: branch, tag or commit of the repositories.
        endpoint: the Hub's address; ``None`` uses ``HF_ENDPOINT`` or https://huggingface.co.
        token: as in :func:`core.weights.hub.fetch_info` (none is sent by default).
        progress: receives :class:`~core.weights.hub.DownloadProgress` reports with the overall bytes filled in.
        notify: receives one-line notes on what happens (which file, installing, already installed).
        cancel: stops at the next block; partial downloads are kept and resume on the next call.
        retries: retries per file after a broken connection or a server error.
        retry_wait: seconds before the first retry (doubled each time).
        root: the models folder; ``None`` means :func:`core.weights.store.models_root`.

    Returns:
        What was installed (empty when everything was already there).

    Raises:
        UnknownModelError: no such name.
        ModelFolderNotWritableError, DiskSpaceError: the models folder cannot take it.
        OfflineError, DownloadError: the Hub cannot be reached or refused (partial files are kept).
        ChecksumMismatchError: a file is not what was announced (it is deleted).
        UnsafeCheckpointError, CheckpointError: a downloaded file is not a usable checkpoint (it is deleted).
        CancelledError: ``cancel`` was set.
    """
    root = root if root is not None else models_root()
    specs = models_to_fetch(name, force=force, root=root)
    if not specs:
        if notify is not None:
            notify(f"{name} is already installed in {root}.")
        return []
    ensure_writable_dir(root, what=f"the models folder {root}")
    plan = plan_download(specs, root=root, revision=revision, endpoint=endpoint, token=token)
    # The whole download, plus room for the safetensors copy written while converting each checkpoint.
    missing = sum(item.missing_bytes() for item in plan)
    largest = max((item.size for item in plan if item.remote.is_weights), default=0)
    check_free_space(root, missing + largest, what=f"the download of {', '.join(s.name for s in specs)}")
    overall_total = sum(item.size for item in plan)
    manifest = load_manifest(root)
    installed: list[InstalledFile] = []
    done_before = 0
    for spec in specs:
        items = [item for item in plan if item.spec is spec]
        fetched: dict[str, Downloaded] = {}
        for item in items:
            if notify is not None:
                notify(f"Downloading {item.remote.repo_id}/{item.remote.path}")
            item.staging.parent.mkdir(parents=True, exist_ok=True)
            fetched[item.remote.path] = download(
                item.info,
                item.staging,
                expected_sha256=item.remote.sha256,
                progress=_with_overall(progress, done_before, overall_total),
                cancel=cancel,
                retries=retries,
                retry_wait=retry_wait,
                endpoint=endpoint,
                token=token,
            )
            done_before += item.size
        if notify is not None:
            notify(f"Verifying and installing {spec.name}")
        installed.append(_install_downloaded(spec, items, fetched, root, manifest, endpoint, cancel))
    return installed


def _with_overall(sink: ProgressSink | None, before: int, total: int) -> ProgressSink | None:
    """A progress sink that adds the bytes of the files already done to each report."""
    if sink is None:
        return None

    def report(event: DownloadProgress) -> None:
        sink(replace(event, overall_done=before + event.done, overall_total=total or None))

    return report


def _install_downloaded(
    spec: Variant,
    items: list[PlannedFile],
    fetched: dict[str, Downloaded],
    root: Path,
    manifest: Manifest,
    endpoint: str | None,
    cancel: CancelToken | None,
) -> InstalledFile:
    """Install a model's downloaded files; bad content is deleted, good content waits for a retry."""
    from core.weights.install import install_checkpoint

    weights = next(item for item in items if item.remote.is_weights)
    config = next((item for item in items if not item.remote.is_weights), None)
    got = fetched[weights.remote.path]
    try:
        result = install_checkpoint(
            got.path,
            spec,
            config=fetched[config.remote.path].path if config is not None else None,
            source_info={
                "origin": "hub",
                "repo_id": weights.remote.repo_id,
                "filename": weights.remote.path,
                "revision": got.info.commit,
                "endpoint": endpoint or "",
            },
            root=root,
            manifest=manifest,
            link=False,
            source_sha256=got.sha256,
            expected_sha256=weights.remote.sha256,
            cancel=cancel,
        )
    except (CheckpointError, ConfigError):
        # The bytes are what the server announced, but not a usable model (unsafe pickle, wrong file): a
        # second download would give the same, so nothing of it is kept.
        for item in items:
            fetched[item.remote.path].path.unlink(missing_ok=True)
        raise
    # Installed: the staging copies are no longer needed. A hash the Hub (or the registry) vouched for is
    # remembered, for later comparison and for the maintainers to copy into the registry.
    size = got.path.stat().st_size
    for item in items:
        fetched[item.remote.path].path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            item.staging.parent.rmdir()
    if got.info.sha256 is not None or weights.remote.sha256 is not None:
        repo, path = weights.remote.repo_id, weights.remote.path
        manifest.remember_release(repo, path, sha256=got.sha256, size=size, revision=got.info.commit)
        manifest.try_save()
    return result
