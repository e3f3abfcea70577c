"""The models folder as a store: report what is there, verify, remove, prepare for loading.

Putting weights in is :mod:`core.weights.install`'s job (downloads and imports both end there): it verifies a
checkpoint, converts a pickled ``.bin`` to ``.safetensors`` and records its hash in the manifest, so loads can
trust the file without reading it again (:func:`prepare_model`).

Nothing here uses the network.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.common.cancel import CancelToken
from core.common.errors import (
    ChecksumMismatchError,
    ConfigError,
    DiskSpaceError,
    ModelError,
    ModelFolderNotWritableError,
    ModelNotInstalledError,
    MoebiusError,
)
from core.common.files import (
    check_free_space,
    commit,
    ensure_writable_dir,
    os_error,
    remove_stale_temporaries,
    temp_path_for,
    write_bytes_atomically,
)
from core.common.progress import ProgressCallback, ProgressEvent
from core.model.checkpoint import read_state_dict
from core.weights.convert import KIND_UNET, KIND_VAE, check_checkpoint, checked_config, write_safetensors
from core.weights.registry import (
    CONFIG_NAME,
    MODELS,
    SAFETENSORS_NAME,
    UNET_WEIGHT_NAMES,
    ModelFiles,
    Variant,
    get_spec,
    weights_file,
)
from core.weights.verification import Manifest, sha256_file

log = logging.getLogger(__name__)

DOWNLOADS_FOLDER = ".downloads"
"""Below the models folder: downloads in progress (``*.part``), invisible to every loader."""
CONVERTED_FOLDER = "converted"
"""Below the cache folder: safetensors conversions of ``.bin`` files that live outside the models folder."""


def models_root() -> Path:
    """The models folder (``core.common.paths.models_dir()``), read at call time so tests can move it."""
    from core.common.paths import models_dir

    return models_dir()


def load_manifest(root: Path | None = None) -> Manifest:
    """The manifest of the models folder.

    Args:
        root: the models folder; ``None`` means :func:`models_root`.
    """
    return Manifest.load(root if root is not None else models_root())


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.absolute().relative_to(folder.absolute())
    except ValueError:
        return False
    return True


# -- what is installed --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelStatus:
    """What the models folder holds for one registry entry.

    Args:
        spec: the registry entry.
        weights: its checkpoint, or ``None``.
        verified: the checkpoint has a manifest record that still matches (loads will not re-hash it).
        partial_bytes: bytes of an unfinished download kept for resuming (0 when none).
    """

    spec: Variant
    weights: Path | None
    verified: bool
    partial_bytes: int

    @property
    def installed(self) -> bool:
        """Whether the checkpoint is there (for the VAE: with its ``config.json``)."""
        if self.weights is None:
            return False
        return self.spec.kind != KIND_VAE or (self.weights.parent / CONFIG_NAME).is_file()

    @property
    def state(self) -> str:
        """One phrase for lists: installed, installed (.bin), partly downloaded, not installed."""
        if self.installed:
            assert self.weights is not None
            # A pickled .bin (put there by hand) is converted to safetensors by its first load.
            return "installed" if self.weights.suffix == ".safetensors" else "installed (.bin)"
        if self.partial_bytes:
            return "partly downloaded"
        return "not installed"


def partial_downloads(spec: Variant, root: Path | None = None) -> list[Path]:
    """Unfinished (or finished but not yet installed) downloads of ``spec``'s files.

    Args:
        spec: the registry entry.
        root: the models folder; ``None`` means :func:`models_root`.
    """
    base = (root if root is not None else models_root()) / DOWNLOADS_FOLDER
    found: list[Path] = []
    for remote in spec.files:
        target = base / remote.repo_id.replace("/", "--") / remote.path
        found.extend(p for p in target.parent.glob(target.name + "*") if p.is_file())
    return found


def model_status(root: Path | None = None) -> list[ModelStatus]:
    """The state of every registry entry in the models folder (registry order: variants, then the VAE).

    Args:
        root: the models folder; ``None`` means :func:`models_root`.
    """
    root = root if root is not None else models_root()
    manifest = load_manifest(root)
    out = []
    for spec in MODELS.values():
        weights = weights_file(root / spec.folder)
        partial = sum(p.stat().st_size for p in partial_downloads(spec, root) if p.suffix == ".part")
        verified = weights is not None and manifest.is_unchanged(weights)
        out.append(ModelStatus(spec, weights, verified, partial))
    return out


# -- verify ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of verifying one installed checkpoint.

    Args:
        model: the registry name.
        path: the checkpoint.
        ok: it is readable, safe, matches its configuration and (when recorded) its hash.
        message: what was found, for the user.
        sha256: its SHA-256 (empty when it could not be read).
    """

    model: str
    path: Path
    ok: bool
    message: str
    sha256: str = ""


def verify_installed(
    names: list[str] | None = None,
    *,
    root: Path | None = None,
    cancel: CancelToken | None = None,
    on_result: Callable[[VerifyResult], None] | None = None,
) -> list[VerifyResult]:
    """Check every installed checkpoint completely: hash, safe read, kind, keys and shapes.

    Unlike a load, this always reads the files. A file whose hash differs from the manifest's record has
    changed since it was installed (damaged disk, edited by hand) and fails; a good file gets a fresh record.

    Args:
        names: registry names to verify; ``None`` verifies every installed one.
        root: the models folder; ``None`` means :func:`models_root`.
        cancel: checked between files and while hashing.
        on_result: called with each result as soon as it is known (for a CLI that prints as it goes).

    Raises:
        UnknownModelError: a name is not in the registry.
    """
    root = root if root is not None else models_root()
    specs = [get_spec(name) for name in names] if names else list(MODELS.values())
    manifest = load_manifest(root)
    results: list[VerifyResult] = []
    for spec in specs:
        folder = root / spec.folder
        for weights in (folder / name for name in UNET_WEIGHT_NAMES):
            if not weights.is_file():
                continue
            result = _verify_one(weights, spec, manifest, cancel)
            results.append(result)
            if on_result is not None:
                on_result(result)
    manifest.try_save()
    return results


def _verify_one(weights: Path, spec: Variant, manifest: Manifest, cancel: CancelToken | None) -> VerifyResult:
    try:
        digest = sha256_file(weights, cancel=cancel)
        record = manifest.get(weights)
        if record is not None and record.sha256 != digest:
            raise ChecksumMismatchError(
                f"{weights} changed since it was installed (SHA-256 {digest}, recorded {record.sha256})."
            )
        config = weights.parent / CONFIG_NAME
        checked = checked_config(spec.kind, config if config.is_file() else None, spec.name)
        check_checkpoint(read_state_dict(weights), spec.kind, checked, name=weights.name)
        if spec.kind == KIND_VAE and not config.is_file():
            raise ConfigError(f"The VAE folder {weights.parent} has no {CONFIG_NAME}.")
    except MoebiusError as exc:
        if isinstance(exc, ModelError):
            return VerifyResult(spec.name, weights, False, exc.user_message())
        raise
    manifest.record(weights, digest, kind=spec.kind, model=spec.name)
    note = "" if weights.suffix == ".safetensors" else " (pickled .bin: converted to safetensors on first use)"
    return VerifyResult(spec.name, weights, True, f"OK{note}", digest)


# -- remove ------------------------------------------------------------------------------------------------


def remove_model(name: str, *, root: Path | None = None) -> list[Path]:
    """Delete an installed model's files (and unfinished downloads of it) from the models folder.

    Only the files this program puts there are removed (checkpoints, ``config.json``, leftovers of interrupted
    writes); anything else the user keeps in the folder stays, and the folder too in that case.

    Args:
        name: a registry name (``ft_places2``, ``vae``).
        root: the models folder; ``None`` means :func:`models_root`.

    Returns:
        The removed files.

    Raises:
        UnknownModelError: no such registry entry.
        ModelNotInstalledError: nothing of it is on this computer.
        ModelFolderNotWritableError: the files cannot be deleted.
    """
    spec = get_spec(name)
    root = root if root is not None else models_root()
    folder = root / spec.folder
    doomed = [folder / n for n in (*UNET_WEIGHT_NAMES, CONFIG_NAME) if (folder / n).is_file()]
    doomed += partial_downloads(spec, root)
    if not doomed:
        raise ModelNotInstalledError(f"{spec.name} is not installed in {root}.")
    manifest = load_manifest(root)
    try:
        for path in doomed:
            path.unlink()
            manifest.forget(path)
        remove_stale_temporaries(folder)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    except OSError as exc:
        raise os_error(exc, f"remove {spec.name}", folder) from exc
    manifest.try_save()
    return doomed


# -- prepare for loading -----------------------------------------------------------------------------------


def prepare_model(
    files: ModelFiles, *, progress: ProgressCallback | None = None, cancel: CancelToken | None = None
) -> ModelFiles:
    """Make found weights ready for a fast, safe load; call it between :func:`require_model` and loading.

    Files already verified are trusted while their size and modification time stay the same (one ``stat``
    each). A changed or never-seen file is hashed and recorded; a file that changed since it was installed
    and no longer has its recorded hash is refused. A pickled ``.bin`` is converted once to ``.safetensors``
    (beside it inside the models folder, otherwise in the cache folder), so later loads read the safetensors
    file memory-mapped; where nothing can be written, the ``.bin`` is loaded as it is.

    Args:
        files: what :func:`~core.weights.registry.find_model` or ``require_model`` returned.
        progress: receives ``ProgressEvent("verify", done, 2)`` (UNet, VAE) while files are checked or converted.
        cancel: checked between the files and while hashing.

    Returns:
        The files to load (the same object when nothing needed doing).

    Raises:
        ChecksumMismatchError: an installed file changed since it was verified.
        CheckpointError: a file is unreadable, unsafe or does not fit the model.
    """
    root = models_root()
    manifest = load_manifest(root)
    if progress is not None:
        progress(ProgressEvent("verify", 0, 2))
    unet = _ready(files.unet, KIND_UNET, files.variant, root, manifest, cancel)
    if progress is not None:
        progress(ProgressEvent("verify", 1, 2))
    vae_weights = weights_file(files.vae_dir)
    vae_dir = files.vae_dir
    if vae_weights is not None:
        vae_dir = _ready(vae_weights, KIND_VAE, "vae", root, manifest, cancel).parent
    if progress is not None:
        progress(ProgressEvent("verify", 2, 2))
    if unet == files.unet and vae_dir == files.vae_dir:
        return files
    return ModelFiles(unet, vae_dir, files.variant)


def _ready(
    path: Path, kind: str, model: str | None, root: Path, manifest: Manifest, cancel: CancelToken | None
) -> Path:
    """The file to load for ``path``: itself once verified, or its safetensors conversion."""
    if path.suffix == ".safetensors":
        _trust_or_rehash(path, kind, model, root, manifest, cancel)
        return path
    from core.common.paths import cache_dir

    # Beside the .bin when it is in the models folder (find_model then picks the safetensors file directly);
    # otherwise, or when that folder is read-only, in the cache folder under a name derived from its path.
    cache = cache_dir() / CONVERTED_FOLDER
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    places: list[tuple[Path, Manifest, bool]] = []
    if _inside(path, root):
        places.append((path.with_name(SAFETENSORS_NAME), manifest, False))
    places.append((cache / key / kind / SAFETENSORS_NAME, Manifest.load(cache), True))
    for target, records, copy_config in places:
        try:
            ensure_writable_dir(target.parent, what=f"the folder {target.parent}")
            return _convert_once(path, target, kind, model, records, cancel, copy_config=copy_config)
        except (DiskSpaceError, ModelFolderNotWritableError) as exc:
            log.warning("Could not convert %s to safetensors in %s (%s).", path, target.parent, exc.message)
        except OSError as exc:
            log.warning("Could not convert %s to safetensors in %s (%s).", path, target.parent, exc)
    # Nowhere to write the conversion: the pickle is still loaded safely (weights_only), only slower.
    return path


def _trust_or_rehash(
    path: Path, kind: str, model: str | None, root: Path, manifest: Manifest, cancel: CancelToken | None
) -> None:
    """Skip a file whose size and time match its record; re-hash a changed one; record a new one."""
    record = manifest.get(path)
    if record is not None and manifest.is_unchanged(path):
        return
    if record is None and not _inside(path, root):
        return  # a folder given with --model: nothing recorded to compare with; the load checks its structure
    digest = sha256_file(path, cancel=cancel)
    if record is not None and digest != record.sha256:
        raise ChecksumMismatchError(
            f"{path} changed since it was verified (SHA-256 {digest}, recorded {record.sha256}).",
            hint="Download or import the model again, or run 'moebius-inpaint models verify' for details.",
        )
    manifest.record(path, digest, kind=record.kind if record else kind, model=record.model if record else model)
    manifest.try_save()


def _convert_once(
    source: Path,
    target: Path,
    kind: str,
    model: str | None,
    manifest: Manifest,
    cancel: CancelToken | None,
    *,
    copy_config: bool,
) -> Path:
    """Convert ``source`` (a ``.bin``) to ``target`` unless an unchanged conversion of it is already there."""
    size, mtime_ns = source.stat().st_size, source.stat().st_mtime_ns
    record = manifest.get(target)
    if (
        record is not None
        and manifest.is_unchanged(target)
        and record.source.get("size") == size
        and record.source.get("mtime_ns") == mtime_ns
        and record.source.get("path") == str(source.resolve())
    ):
        return target
    config = source.parent / CONFIG_NAME
    checked = checked_config(kind, config if config.is_file() else None, model or kind)
    state = read_state_dict(source)
    check_checkpoint(state, kind, checked, name=source.name)
    check_free_space(target.parent, size, what=f"converting {source.name} to safetensors")
    temp = temp_path_for(target)
    try:
        write_safetensors(state, temp, name=source.name)
        del state
        digest = sha256_file(temp, cancel=cancel)
        if copy_config and config.is_file():
            write_bytes_atomically(target.parent / CONFIG_NAME, config.read_bytes())
        elif copy_config:
            (target.parent / CONFIG_NAME).unlink(missing_ok=True)
        commit(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    origin = {"origin": "converted", "path": str(source.resolve()), "size": size, "mtime_ns": mtime_ns}
    manifest.record(target, digest, kind=kind, model=model, source=origin)
    manifest.try_save()
    return target


def describe_source(info: dict[str, Any]) -> str:
    """A short description of a manifest ``source`` entry, for ``models list``/``where``.

    Args:
        info: the entry.
    """
    origin = info.get("origin")
    if origin == "hub":
        return f"downloaded from {info.get('repo_id')} @ {str(info.get('revision', ''))[:12]}"
    if origin == "import":
        return f"imported from {info.get('path')}"
    if origin == "converted":
        return f"converted from {info.get('path')}"
    return "origin unknown"

