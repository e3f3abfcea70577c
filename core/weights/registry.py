"""Where Moebius weights live on disk and how to find an installed model.

Layout of the models folder (``core.common.paths.models_dir()``), mirroring the released repositories::

    models/
      moebius/<variant>/diffusion_pytorch_model.{safetensors,bin}   [config.json]   (hustvl/Moebius)
      vae/config.json + vae/diffusion_pytorch_model.{safetensors,bin}                 (hustvl/PixelHacker, vae/)

A folder given with ``--model DIR`` may hold the UNet checkpoint directly (the released layout of one
variant), with the VAE in ``DIR/vae``, a sibling ``vae`` folder, or the models folder's ``vae``.

This module also holds the registry of what can be installed (:data:`MODELS`: the four released variants and
the VAE, with their files, sizes, hashes once known, licence, source and what each is good for) and the choice
of a variant for a job (:func:`variant_for`). Getting the files is :mod:`core.weights.store`'s job (download
through :mod:`core.weights.hub`, import, verification, conversion); nothing here touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.common.errors import ModelNotInstalledError
from core.job.options import DEFAULT_VARIANT

if TYPE_CHECKING:
    pass

UNET_WEIGHT_NAMES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
VAE_WEIGHT_NAMES = UNET_WEIGHT_NAMES
SAFETENSORS_NAME, BIN_NAME = UNET_WEIGHT_NAMES
CONFIG_NAME = "config.json"

MOEBIUS_REPO = "hustvl/Moebius"
VAE_REPO = "hustvl/PixelHacker"
VAE_NAME = "vae"

# Sizes from the published parameter counts (shared/reference/param_counts.json) at 4 bytes per float32 value,
# plus a little pickle overhead; only used for free-space checks and for telling the user what to expect.
_UNET_APPROX_BYTES = 905_000_000
_VAE_APPROX_BYTES = 335_000_000

# What the released checkpoints are meant for. The GUI offers "Natural scenes" and "Portraits".
CONTENT_SCENES = "scenes"
CONTENT_PORTRAITS = "portraits"
CONTENT_GENERAL = "general"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a model as published on the Hugging Face Hub, and where it goes on this computer.

    Args:
        repo_id: the Hub repository, ``owner/name``.
        path: the file's path inside that repository, e.g. ``ft_places2/diffusion_pytorch_model.bin``.
        local: where the file belongs under the models folder, e.g. ``moebius/ft_places2/diffusion_pytorch_model.bin``
            (a pickled ``.bin`` is converted to ``.safetensors`` beside that name when it is installed).
        approx_bytes: expected size for free-space checks and messages, when the exact size is not known.
        size: the exact size in bytes, once known (``None`` until the maintainers record it).
        sha256: the exact SHA-256 as 64 lowercase hex digits, once known; a download or import of a file with
            another hash is refused.
        optional: the file may be missing upstream (then the released defaults apply).
    """

    repo_id: str
    path: str
    local: str
    approx_bytes: int = 0
    size: int | None = None
    sha256: str | None = None
    optional: bool = False

    @property
    def is_weights(self) -> bool:
        """Whether this is a checkpoint (as opposed to a ``config.json``)."""
        return self.local.rsplit("/", 1)[-1] in UNET_WEIGHT_NAMES


@dataclass(frozen=True)
class Variant:
    """One installable model of the registry: a released UNet checkpoint, or the VAE they all share.

    Args:
        name: folder name in the release (and on the command line), e.g. ``ft_places2`` or ``vae``.
        label: what the user reads.
        purpose: one sentence on when to use it.
        content: what the model is best at: ``"scenes"``, ``"portraits"`` or ``"general"`` (``None`` for the VAE).
        kind: ``"unet"`` for a Moebius checkpoint, ``"vae"`` for the autoencoder.
        files: the files to download, in download order (configuration before weights).
        licence: the licence the files are published under, as far as the project knows it.
        source: the web page of the release.
        parameters: number of parameters (capability and size information).
        frame_size: the only image size, in pixels, the model runs at (square).
        needs: other registry entries that must be installed for this one to run.
    """

    name: str
    label: str
    purpose: str
    content: str | None = CONTENT_GENERAL
    kind: str = "unet"
    files: tuple[RemoteFile, ...] = ()
    licence: str = ""
    source: str = ""
    parameters: int = 0
    frame_size: int = 512
    needs: tuple[str, ...] = ()

    @property
    def approx_bytes(self) -> int:
        """Expected download size of all files together."""
        return sum(f.size if f.size is not None else f.approx_bytes for f in self.files)

    @property
    def folder(self) -> str:
        """The model's folder under the models folder, e.g. ``moebius/ft_places2`` or ``vae``."""
        return VAE_NAME if self.kind == "vae" else f"moebius/{self.name}"


ModelSpec = Variant
"""The registry entry type under the name the download and import code uses."""

_MOEBIUS_LICENCE = "Apache-2.0 according to the authors' announcement; the model card on the Hub is authoritative"
_VAE_LICENCE = "see the PixelHacker model card on the Hub"


def _unet(name: str, label: str, purpose: str, content: str) -> Variant:
    """A registry entry for one released UNet checkpoint (all four share layout, size and licence)."""
    return Variant(
        name,
        label,
        purpose,
        content=content,
        kind="unet",
        files=(
            # The release may or may not carry a config.json per variant; without one the released
            # configuration applies, so it is optional.
            RemoteFile(MOEBIUS_REPO, f"{name}/{CONFIG_NAME}", f"moebius/{name}/{CONFIG_NAME}", 1_000, optional=True),
            RemoteFile(MOEBIUS_REPO, f"{name}/{BIN_NAME}", f"moebius/{name}/{BIN_NAME}", _UNET_APPROX_BYTES),
        ),
        licence=_MOEBIUS_LICENCE,
        source=f"https://huggingface.co/{MOEBIUS_REPO}",
        parameters=226_041_531,
        needs=(VAE_NAME,),
    )


VARIANTS: dict[str, Variant] = {
    "ft_places2": _unet(
        "ft_places2", "Natural scenes", "Fine-tuned on Places2: landscapes, streets, interiors.", CONTENT_SCENES
    ),
    "pretrained": _unet("pretrained", "General (pretrained)", "The base model before fine-tuning.", CONTENT_GENERAL),
    "ft_celebahq": _unet(
        "ft_celebahq", "Portraits (CelebA-HQ)", "Fine-tuned on CelebA-HQ face portraits.", CONTENT_PORTRAITS
    ),
    "ft_ffhq": _unet("ft_ffhq", "Portraits (FFHQ)", "Fine-tuned on FFHQ face portraits.", CONTENT_PORTRAITS),
}

VAE_SPEC = Variant(
    VAE_NAME,
    "VAE (shared by all variants)",
    "Turns photos into the model's latent space and back; every Moebius variant needs it.",
    content=None,
    kind="vae",
    files=(
        RemoteFile(VAE_REPO, f"vae/{CONFIG_NAME}", f"vae/{CONFIG_NAME}", 1_000),
        RemoteFile(VAE_REPO, f"vae/{BIN_NAME}", f"vae/{BIN_NAME}", _VAE_APPROX_BYTES),
    ),
    licence=_VAE_LICENCE,
    source=f"https://huggingface.co/{VAE_REPO}",
    parameters=83_653_863,
)

MODELS: dict[str, Variant] = {**VARIANTS, VAE_NAME: VAE_SPEC}
"""Everything ``moebius-inpaint models download NAME`` accepts: the four variants and the VAE."""

# Which variant to use for which kind of photo, best first.
_PREFERENCE = {
    CONTENT_SCENES: ("ft_places2", "pretrained", "ft_ffhq", "ft_celebahq"),
    CONTENT_PORTRAITS: ("ft_ffhq", "ft_celebahq", "pretrained", "ft_places2"),
    CONTENT_GENERAL: ("pretrained", "ft_places2", "ft_ffhq", "ft_celebahq"),
}


def get_spec(name: str) -> Variant:
    """The registry entry called ``name``.

    Args:
        name: a variant name (``ft_places2``, …) or ``vae``.

    Raises:
        UnknownModelError: no entry has that name.
    """
    from core.common.errors import UnknownModelError

    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModelError(
            f"There is no model called {name!r}.", hint=f"Known models: {', '.join(MODELS)}."
        ) from None


def variant_for(content: str | None = None, installed: list[str] | None = None) -> str:
    """The variant to use for a job.

    Args:
        content: what the photo shows: ``"scenes"`` (the default), ``"portraits"`` or ``"general"``.
        installed: names of the variants on this computer, best-first order is kept among them; ``None``
            ignores what is installed and returns the best variant for ``content``.

    Returns:
        A variant name; the default variant when nothing fits.
    """
    order = _PREFERENCE.get(content or CONTENT_SCENES, _PREFERENCE[CONTENT_SCENES])
    if installed is None:
        return order[0]
    return next((name for name in order if name in installed), DEFAULT_VARIANT)


def installed_variants(model_dir: str | Path | None = None) -> list[str]:
    """Names of the variants that :func:`find_model` can run from the models folder (UNet and VAE present).

    Args:
        model_dir: a models folder laid out as above; ``None`` means the app's models folder.
    """
    found = []
    for name in VARIANTS:
        files = find_model(model_dir, name)
        if files is not None and files.variant == name:
            found.append(name)
    return found


@dataclass(frozen=True)
class ModelFiles:
    """The files one Moebius job needs.

    Args:
        unet: the UNet checkpoint (``.safetensors`` or ``.bin``).
        vae_dir: folder with the VAE's ``config.json`` and weights.
        variant: the variant name when known.
    """

    unet: Path
    vae_dir: Path
    variant: str | None = None


def weights_file(folder: Path) -> Path | None:
    """The checkpoint in a model folder, preferring ``.safetensors`` over ``.bin``; ``None`` if there is none.

    Args:
        folder: a UNet variant folder or a VAE folder.
    """
    return next((folder / name for name in UNET_WEIGHT_NAMES if (folder / name).is_file()), None)


_weights_in = weights_file


def _is_vae_dir(folder: Path) -> bool:
    return (folder / "config.json").is_file() and _weights_in(folder) is not None


def _find_vae(near: Path, models: Path | None) -> Path | None:
    candidates = [near / "vae", near.parent / "vae", near.parent.parent / "vae"]
    if models is not None:
        candidates.append(models / "vae")
    return next((c for c in candidates if _is_vae_dir(c)), None)


def find_model(model_dir: str | Path | None = None, variant: str | None = None) -> ModelFiles | None:
    """Locate an installed model, or return ``None``.

    Args:
        model_dir: an explicit folder (``--model DIR``): the UNet checkpoint inside it, or a models folder
            laid out as above. ``None`` searches the app's models folder.
        variant: preferred variant when searching a models folder; falls back to any installed one.
    """
    from core.common.paths import models_dir

    models = models_dir()
    if model_dir is not None:
        folder = Path(model_dir).expanduser()
        unet = _weights_in(folder)
        if unet is not None:
            vae = _find_vae(folder, models)
            return (
                ModelFiles(unet, vae, variant=folder.name if folder.name in VARIANTS else None)
                if vae
                else None
            )
        models = folder
    order = [variant or DEFAULT_VARIANT] + [name for name in VARIANTS if name != (variant or DEFAULT_VARIANT)]
    for name in order:
        unet = _weights_in(models / "moebius" / name)
        vae = _find_vae(models / "moebius" / name, models)
        if unet is not None and vae is not None:
            return ModelFiles(unet, vae, variant=name)
    return None


def require_model(model_dir: str | Path | None = None, variant: str | None = None) -> ModelFiles:
    """Like :func:`find_model` but raises :class:`ModelNotInstalledError` with instructions."""
    found = find_model(model_dir, variant)
    if found is None:
        where = f"in {model_dir}" if model_dir is not None else "on this computer"
        raise ModelNotInstalledError(f"No Moebius weights were found {where}.", hint=install_hint())
    return found


def install_hint() -> str:
    """How to install the weights, for messages."""
    from core.common.paths import models_dir

    root = models_dir()
    return (
        f"Download them with 'moebius-inpaint models download {DEFAULT_VARIANT}', import files you already have "
        f"with 'moebius-inpaint models import PATH', or put a UNet checkpoint in "
        f"{root / 'moebius' / DEFAULT_VARIANT} and the VAE folder in {root / 'vae'}, or pass --model DIR."
    )
