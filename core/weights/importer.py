"""Importing weights the user already has: a released folder, a Hugging Face cache folder, or single files.

What can be given:

* the released layout: ``DIR/moebius/<variant>/diffusion_pytorch_model.*`` and ``DIR/vae/…`` (also a copy of
  another computer's models folder), or one variant folder ``…/<variant>/`` or ``…/vae/``;
* a Hugging Face cache: the hub cache folder itself (``~/.cache/huggingface/hub``), a repository folder
  ``models--hustvl--Moebius`` / ``models--hustvl--PixelHacker``, or one of its ``snapshots/<revision>`` folders
  (the repositories keep each variant in ``<variant>/`` and the VAE in ``vae/``);
* single checkpoint files, with ``variant=`` saying which variant a UNet file is when neither its folder nor its
  name tells.

An import is all or nothing: every checkpoint found is checked first (:func:`core.weights.install.check_source`:
safe read, kind and shape check, hash against the registry when known), and only when none is refused are they
installed (:func:`core.weights.install.place_checked`: conversion to safetensors or a hard link). One bad file
installs nothing, and the report says which file was refused and why; a failure while installing puts back what
the import had installed or replaced so far.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.common.cancel import CancelToken
from core.common.errors import ConfigError, ModelError, ModelImportError, UnknownModelError
from core.common.files import ensure_writable_dir, os_error
from core.model.checkpoint import read_json_config, read_state_dict
from core.weights.convert import KIND_UNET, KIND_VAE, config_kind, guess_kind
from core.weights.install import CheckedCheckpoint, InstalledFile, check_source, place_checked
from core.weights.registry import (
    BIN_NAME,
    CONFIG_NAME,
    MOEBIUS_REPO,
    SAFETENSORS_NAME,
    VAE_NAME,
    VAE_REPO,
    VAE_SPEC,
    VARIANTS,
    Variant,
)
from core.weights.store import DOWNLOADS_FOLDER, load_manifest, models_root
from core.weights.undo import InstallUndo

CHECKPOINT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
# Folders that never hold a checkpoint worth importing (Hub cache internals, version control, our downloads).
_SKIP_DIRS = {"blobs", "refs", ".no_exist", ".git", ".cache", DOWNLOADS_FOLDER, "__pycache__"}
_MAX_DEPTH = 6


@dataclass(frozen=True)
class FoundCheckpoint:
    """A checkpoint file found for import.

    Args:
        path: the file (a Hugging Face cache entry may be a symbolic link into ``blobs``).
        kind: ``"unet"`` or ``"vae"`` when the folder says so; ``None`` when only its content can tell.
        variant: the UNet variant, when known.
        config: the ``config.json`` beside it, if any.
    """

    path: Path
    kind: str | None
    variant: str | None
    config: Path | None


@dataclass
class ImportReport:
    """The outcome of an import.

    Args:
        installed: checkpoints installed (empty when anything was refused: an import is all or nothing).
        failed: checkpoints refused, each with the reason.
        skipped: checkpoints left alone (e.g. a second candidate for the same model), each with a note.
        not_restored: after a failure while installing, files that could not be put back (normally empty).
    """

    installed: list[InstalledFile] = field(default_factory=list)
    failed: list[tuple[Path, ModelError]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    not_restored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether something was installed and nothing failed."""
        return bool(self.installed) and not self.failed

    @property
    def refused(self) -> bool:
        """Whether the import was refused (then nothing of it is installed)."""
        return bool(self.failed)


def _hub_snapshot(repo_folder: Path) -> Path | None:
    """The snapshot of a Hugging Face cache repository folder that ``refs/main`` names, else the newest."""
    snapshots = repo_folder / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = repo_folder / "refs" / "main"
    if ref.is_file():
        chosen = snapshots / ref.read_text(encoding="utf-8").strip()
        if chosen.is_dir():
            return chosen
    candidates = [entry for entry in snapshots.iterdir() if entry.is_dir()]
    return max(candidates, key=lambda entry: entry.stat().st_mtime) if candidates else None


def _search_roots(folder: Path) -> list[Path]:
    """The folders to search below ``folder``, with Hugging Face cache repositories reduced to one snapshot."""
    if folder.name.startswith("models--"):
        snapshot = _hub_snapshot(folder)
        return [snapshot] if snapshot is not None else []
    repos = sorted(entry for entry in folder.glob("models--*") if entry.is_dir())
    if repos:
        return [s for s in (_hub_snapshot(repo) for repo in repos) if s is not None]
    return [folder]


def _hub_repo_of(path: Path) -> str | None:
    """``owner/name`` when ``path`` lies in a Hugging Face cache repository folder."""
    for part in path.parts:
        if part.startswith("models--"):
            return "/".join(part.split("--")[1:])
    return None


def _classify(folder: Path, weights: Path, variant: str | None) -> FoundCheckpoint:
    """What the folder a checkpoint sits in says about it."""
    config = folder / CONFIG_NAME
    config_path = config if config.is_file() else None
    if folder.name == VAE_NAME:
        return FoundCheckpoint(weights, KIND_VAE, None, config_path)
    if folder.name in VARIANTS:
        return FoundCheckpoint(weights, KIND_UNET, folder.name, config_path)
    return FoundCheckpoint(weights, None, variant, config_path)


def find_checkpoints(path: Path, *, variant: str | None = None) -> list[FoundCheckpoint]:
    """The checkpoints an import of ``path`` would install, best candidate first for each model.

    Args:
        path: a folder or a checkpoint file (see the module's documentation).
        variant: the variant of UNet checkpoints whose folder and name do not tell.

    Raises:
        ModelImportError: ``path`` does not exist.
    """
    path = path.expanduser()
    if not path.exists():
        raise ModelImportError(f"{path} does not exist.")
    if path.is_file():
        guessed = variant or next((name for name in VARIANTS if name in path.as_posix()), None)
        found = _classify(path.parent, path, guessed)
        # A loose file may sit beside an unrelated config.json; only a matching one is used (checked later).
        return [found]
    results: list[FoundCheckpoint] = []
    for root in _search_roots(path):
        for current, dirs, files in os.walk(root):
            depth = len(Path(current).relative_to(root).parts)
            dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and depth < _MAX_DEPTH)
            # One checkpoint per folder: safetensors first, as loading prefers it too.
            for name in (SAFETENSORS_NAME, BIN_NAME):
                if name in files:
                    results.append(_classify(Path(current), Path(current) / name, variant))
                    break
    return results


def import_models(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    variant: str | None = None,
    link: bool = True,
    cancel: CancelToken | None = None,
    notify: Callable[[str], None] | None = None,
    root: Path | None = None,
) -> ImportReport:
    """Verify every checkpoint found at ``path`` and, only when all of them pass, install them all.

    All or nothing: every file is checked first (safe read, kind, keys and shapes, the registry's hash) and
    nothing is written while one of them is refused; a failure while installing puts back what this import
    had already installed or replaced (see :mod:`core.weights.undo`).

    Args:
        path: a folder or a checkpoint file, or several (see the module's documentation).
        variant: the variant a UNet checkpoint is installed as when its folder and name do not tell.
        link: hard-link safetensors files instead of copying them when possible (pickled ``.bin`` files are
            always converted into a new safetensors file; the original is left untouched).
        cancel: checked between files and while hashing; a cancel installs nothing.
        notify: receives a one-line note per file as it is checked and installed.
        root: the models folder; ``None`` means :func:`core.weights.store.models_root`.

    Returns:
        The report: what was installed, or, when anything was refused, every refusal and an empty ``installed``.

    Raises:
        ModelImportError: a path does not exist or holds no checkpoint.
        UnknownModelError: ``variant`` is not a variant name.
        ModelFolderNotWritableError, DiskSpaceError: the models folder cannot be written (nothing is installed).
        CancelledError: ``cancel`` was set (nothing is installed).
    """
    if variant is not None and variant not in VARIANTS:
        raise UnknownModelError(f"There is no variant called {variant!r}.", hint=f"Variants: {', '.join(VARIANTS)}.")
    sources = [Path(path)] if isinstance(path, (str, os.PathLike)) else [Path(p) for p in path]
    found: list[FoundCheckpoint] = []
    for source in sources:
        here = find_checkpoints(source, variant=variant)
        if not here:
            raise ModelImportError(
                f"No Moebius or VAE checkpoint ({SAFETENSORS_NAME} or {BIN_NAME}) was found in {source}.",
                hint="Give the folder that holds moebius/<variant>/ and vae/, a Hugging Face cache folder, or the "
                "files.",
            )
        found.extend(here)
    root = root if root is not None else models_root()
    ensure_writable_dir(root, what=f"the models folder {root}")  # fail once, not once per file
    # 1. Check everything; nothing is written while a single file may still be refused.
    report = ImportReport()
    checked = _check_all(found, report, cancel, notify)
    if report.failed:
        return report
    # 2. Install everything, keeping what it replaces until the last file is in place.
    manifest = load_manifest(root)
    undo = InstallUndo(root, manifest)
    try:
        for item in checked:
            if notify is not None:
                notify(f"Installing {item.source} as {item.spec.name}")
            undo.protect(root / item.spec.folder)
            report.installed.append(
                place_checked(
                    item, source_info=_source_info(item.source), root=root, manifest=manifest, link=link, cancel=cancel
                )
            )
    except ModelError as exc:
        report.installed.clear()
        report.failed.append((item.source, exc))
        report.not_restored = undo.undo()
        return report
    except OSError as exc:
        report.installed.clear()
        report.failed.append((item.source, os_error(exc, f"install {item.name}", root / item.spec.folder)))
        report.not_restored = undo.undo()
        return report
    except BaseException:  # a cancel, or a bug: the folder is put back before it propagates
        undo.undo()
        raise
    undo.discard()
    return report


def _check_all(
    found: list[FoundCheckpoint],
    report: ImportReport,
    cancel: CancelToken | None,
    notify: Callable[[str], None] | None,
) -> list[CheckedCheckpoint]:
    """Check every found checkpoint; refusals and duplicates go into ``report``, the good ones are returned."""
    checked: list[CheckedCheckpoint] = []
    taken: set[str] = set()
    for candidate in found:
        if cancel is not None:
            cancel.raise_if_cancelled()
        try:
            spec, config = _target(candidate)
            if spec.name in taken:
                report.skipped.append((candidate.path, f"another checkpoint for {spec.name} was imported already"))
                continue
            if notify is not None:
                notify(f"Checking {candidate.path} as {spec.name}")
            item = check_source(
                candidate.path, spec, config=config, expected_sha256=_registry_hash(spec, candidate.path), cancel=cancel
            )
        except ModelError as exc:
            report.failed.append((candidate.path, exc))
            continue
        taken.add(spec.name)
        checked.append(item)
    return checked


def _target(candidate: FoundCheckpoint) -> tuple[Variant, Path | None]:
    """The registry entry a found checkpoint is installed as, and the ``config.json`` to install with it."""
    kind = candidate.kind
    if kind is None:
        # Neither folder nor name tells: the tensor names do (read safely; the file is memory-mapped).
        kind = guess_kind(read_state_dict(candidate.path))
        if kind is None:
            raise ModelImportError(f"{candidate.path} is neither a Moebius UNet nor a VAE checkpoint.")
    config = candidate.config
    if config is not None and candidate.kind is None:
        # A loose file's neighbouring config.json is used only when it describes the same kind of model.
        try:
            if config_kind(read_json_config(config)) != kind:
                config = None
        except ConfigError:
            config = None
    if kind == KIND_VAE:
        return VAE_SPEC, config
    if candidate.variant is None:
        raise ModelImportError(
            f"{candidate.path} is a Moebius UNet checkpoint, but which variant it is cannot be told from its "
            "folder or name.",
            hint=f"Say it with --variant ({', '.join(VARIANTS)}).",
        )
    return VARIANTS[candidate.variant], config


def _registry_hash(spec: Variant, path: Path) -> str | None:
    """The registry's SHA-256 for the file, when known and comparable (it describes the released ``.bin``)."""
    if path.suffix != ".bin":
        return None
    return next((remote.sha256 for remote in spec.files if remote.is_weights), None)


def _source_info(path: Path) -> dict[str, str]:
    info = {"origin": "import", "path": str(path.absolute())}
    repo = _hub_repo_of(path)
    if repo is not None:
        info["repo_id"] = repo
    if repo not in (None, MOEBIUS_REPO, VAE_REPO):
        info["note"] = "from a Hugging Face cache of another repository"
    return info
