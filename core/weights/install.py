"""Installing a checkpoint into the models folder, in two steps: check it, then place it.

Downloads (:mod:`core.weights.download`) and imports (:mod:`core.weights.importer`) both end here; nothing else
puts weights into the models folder.

1. :func:`check_source` reads the file with the safe reader, checks it is the right kind of checkpoint for its
   configuration, and compares its SHA-256 with the registry's when that is known. It writes nothing.
2. :func:`place_checked` converts a pickled ``.bin`` to ``.safetensors`` (or links or copies a safetensors
   file) under a temporary name, renames it into place only once it is complete and verified, and records its
   hash in the manifest, so loads can trust the file without reading it again.

:func:`install_checkpoint` does both for one file. An import of several files checks every one of them before
it places any (see :func:`core.weights.importer.import_models`), so one bad file installs nothing.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.common.cancel import CancelToken
from core.common.errors import ChecksumMismatchError
from core.common.files import (
    check_free_space,
    commit,
    ensure_writable_dir,
    os_error,
    remove_stale_temporaries,
    temp_path_for,
    write_bytes_atomically,
)
from core.model.checkpoint import read_state_dict
from core.model.vae import BUNDLED_VAE_CONFIG
from core.weights.convert import KIND_UNET, check_checkpoint, checked_config, write_safetensors
from core.weights.registry import CONFIG_NAME, SAFETENSORS_NAME, UNET_WEIGHT_NAMES, Variant
from core.weights.store import load_manifest, models_root
from core.weights.verification import Manifest, sha256_file

if TYPE_CHECKING:
    from torch import Tensor


@dataclass(frozen=True)
class InstalledFile:
    """A checkpoint placed in the models folder.

    Args:
        model: the registry name (``ft_places2``, ``vae``).
        path: the installed ``.safetensors`` file.
        sha256: its SHA-256.
        source_sha256: the SHA-256 of the file it came from (the ``.bin`` it was converted from).
        converted: it was converted from a pickled ``.bin`` (rather than linked or copied).
    """

    model: str
    path: Path
    sha256: str
    source_sha256: str
    converted: bool


@dataclass
class CheckedCheckpoint:
    """A checkpoint that passed :func:`check_source`, ready for :func:`place_checked`.

    Args:
        source: the file.
        spec: the registry entry it is installed as.
        config: its ``config.json`` (``None``: the released configuration).
        sha256: the file's SHA-256.
        state: its tensors (memory-mapped where the format allows), kept for the conversion; dropped once placed.
    """

    source: Path
    spec: Variant
    config: Path | None
    sha256: str
    state: dict[str, Tensor] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """How messages call it: ``"diffusion_pytorch_model.bin (for ft_places2)"``."""
        return f"{self.source.name} (for {self.spec.name})"


def check_source(
    source: Path,
    spec: Variant,
    *,
    config: Path | None,
    source_sha256: str | None = None,
    expected_sha256: str | None = None,
    cancel: CancelToken | None = None,
) -> CheckedCheckpoint:
    """Make sure ``source`` is a safe, complete checkpoint of ``spec`` with the expected hash; writes nothing.

    Args:
        source: the checkpoint (the user's file, or a finished download).
        spec: the registry entry it is meant for.
        config: its ``config.json``; ``None`` uses the released configuration (the bundled one for the VAE).
        source_sha256: the source's hash if already computed (a verified download), to skip hashing it again.
        expected_sha256: the hash the source must have (from the registry), or ``None``.
        cancel: checked between steps and while hashing.

    Raises:
        UnsafeCheckpointError: the pickle tries to run code.
        CheckpointError: the file is truncated or unreadable; CheckpointMismatchError: it is the wrong file.
        ConfigError: its ``config.json`` is unreadable or describes the other kind of model.
        ChecksumMismatchError: its hash differs from ``expected_sha256``.
        CancelledError: ``cancel`` was set.
    """
    name = f"{source.name} (for {spec.name})"
    config_data = checked_config(spec.kind, config, spec.name)
    state = read_state_dict(source)
    check_checkpoint(state, spec.kind, config_data, name=name)
    if cancel is not None:
        cancel.raise_if_cancelled()
    digest = source_sha256 or sha256_file(source, cancel=cancel)
    if expected_sha256 is not None and digest != expected_sha256.lower():
        raise ChecksumMismatchError(
            f"{name} has SHA-256 {digest}, but the released file has {expected_sha256}.",
            hint="The file is damaged or a different version; download it again or pass it with --model DIR.",
        )
    return CheckedCheckpoint(source, spec, config, digest, state)


def place_checked(
    checked: CheckedCheckpoint,
    *,
    source_info: dict[str, Any],
    root: Path | None = None,
    manifest: Manifest | None = None,
    link: bool = True,
    cancel: CancelToken | None = None,
) -> InstalledFile:
    """Install a checked checkpoint as its model's weights, converted to safetensors.

    The safetensors file is written (``.bin``) or hard-linked/copied (``.safetensors``) under a temporary name in
    the model's folder and renamed into place; ``config.json`` goes beside it first. Afterwards the folder holds
    exactly this model: a different older checkpoint in it is removed. On any error nothing new is left behind.

    Args:
        checked: from :func:`check_source`.
        source_info: where it came from, kept in the manifest (e.g. ``{"origin": "import", "path": "…"}``).
        root: the models folder; ``None`` means :func:`~core.weights.store.models_root`.
        manifest: the manifest to record in (saved before returning); ``None`` loads it.
        link: hard-link a ``.safetensors`` source instead of copying when both are on one file system.
        cancel: checked while hashing.

    Raises:
        CheckpointError: the conversion did not reproduce the tensors exactly.
        ChecksumMismatchError: a copy differs from its source.
        DiskSpaceError, ModelFolderNotWritableError: the models folder cannot take it.
        CancelledError: ``cancel`` was set.
    """
    root = root if root is not None else models_root()
    manifest = manifest if manifest is not None else load_manifest(root)
    spec, source, name = checked.spec, checked.source, checked.name
    state = checked.state if checked.state is not None else read_state_dict(source)
    checked.state = None  # the memory-mapped source is let go as soon as this function is done with it
    folder = ensure_writable_dir(root / spec.folder, what=f"the models folder {root}")
    # Leftovers of a write that crashed an hour or more ago (a running one elsewhere is younger).
    remove_stale_temporaries(folder, older_than=3600)
    final = folder / SAFETENSORS_NAME
    temp = temp_path_for(final)
    resolved = source.resolve()
    converted = resolved.suffix != ".safetensors"
    try:
        if resolved == final.resolve():
            # Already installed in place (an import of the models folder itself): only (re)record it.
            return _record(manifest, final, spec, checked.sha256, checked.sha256, source_info, converted=False)
        check_free_space(folder, 0 if (link and not converted) else source.stat().st_size, what=f"installing {name}")
        # 1. The safetensors file under a temporary name in the model's folder.
        if converted:
            write_safetensors(state, temp, name=name)
        else:
            _link_or_copy(resolved, temp, link=link)
        del state
        same = not converted and temp.samefile(resolved)
        output_hash = checked.sha256 if same else sha256_file(temp, cancel=cancel)
        if not converted and output_hash != checked.sha256:
            raise ChecksumMismatchError(f"Copying {name} did not produce an identical file.")
        # 2. Place it: configuration first, then the weights in one rename, then drop what it replaces.
        _place_config(folder, spec, checked.config)
        commit(temp, final)
        for leftover in UNET_WEIGHT_NAMES:
            old = folder / leftover
            if old != final and old.exists() and old.resolve() != resolved:
                old.unlink()
                manifest.forget(old)
    except OSError as exc:
        # The file the system names (the target of a rename first), else the model's folder.
        concerned = exc.filename2 or exc.filename
        raise os_error(exc, f"install {name}", Path(concerned) if concerned else folder) from exc
    finally:
        temp.unlink(missing_ok=True)
    return _record(manifest, final, spec, output_hash, checked.sha256, source_info, converted=converted)


def install_checkpoint(
    source: Path,
    spec: Variant,
    *,
    config: Path | None,
    source_info: dict[str, Any],
    root: Path | None = None,
    manifest: Manifest | None = None,
    link: bool = True,
    source_sha256: str | None = None,
    expected_sha256: str | None = None,
    cancel: CancelToken | None = None,
) -> InstalledFile:
    """:func:`check_source` and then :func:`place_checked`: verify one checkpoint and install it as ``spec``.

    Args:
        source: the checkpoint to install.
        spec: the registry entry it is installed as.
        config: its ``config.json``; ``None`` uses the released configuration.
        source_info: where it came from, kept in the manifest.
        root: the models folder; ``None`` means :func:`~core.weights.store.models_root`.
        manifest: the manifest to record in; ``None`` loads it.
        link: hard-link a ``.safetensors`` source instead of copying when possible.
        source_sha256: the source's hash if already computed.
        expected_sha256: the hash the source must have, or ``None``.
        cancel: checked between steps and while hashing.

    Raises:
        Everything :func:`check_source` and :func:`place_checked` raise.
    """
    root = root if root is not None else models_root()
    checked = check_source(
        source, spec, config=config, source_sha256=source_sha256, expected_sha256=expected_sha256, cancel=cancel
    )
    return place_checked(checked, source_info=source_info, root=root, manifest=manifest, link=link, cancel=cancel)


def _record(
    manifest: Manifest,
    final: Path,
    spec: Variant,
    output_hash: str,
    source_hash: str,
    source_info: dict[str, Any],
    *,
    converted: bool,
) -> InstalledFile:
    manifest.record(final, output_hash, kind=spec.kind, model=spec.name, source={**source_info, "sha256": source_hash})
    manifest.try_save()
    return InstalledFile(spec.name, final, output_hash, source_hash, converted)


def _link_or_copy(source: Path, temp: Path, *, link: bool) -> None:
    """Hard-link ``source`` to ``temp`` when asked and possible (no extra space), else copy it."""
    if link:
        try:
            os.link(source, temp)
            return
        except OSError:
            pass  # another file system, or links not supported: copy instead
    shutil.copyfile(source, temp)


def _place_config(folder: Path, spec: Variant, config: Path | None) -> None:
    """Put the checkpoint's ``config.json`` beside it, or remove a stale one when the released config applies."""
    target = folder / CONFIG_NAME
    if config is None and spec.kind == KIND_UNET:
        target.unlink(missing_ok=True)
        return
    data = (config if config is not None else BUNDLED_VAE_CONFIG).read_bytes()
    if not (target.is_file() and target.read_bytes() == data):
        write_bytes_atomically(target, data)
