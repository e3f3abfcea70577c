"""Where Moebius weights live on disk and how to find an installed model.

Layout of the models folder (``core.paths.models_dir()``), mirroring the released repositories::

    models/
      moebius/<variant>/diffusion_pytorch_model.{safetensors,bin}   [config.json]   (hustvl/Moebius)
      vae/config.json + vae/diffusion_pytorch_model.{safetensors,bin}                 (hustvl/PixelHacker, vae/)

A folder given with ``--model DIR`` may hold the UNet checkpoint directly (the released layout of one
variant), with the VAE in ``DIR/vae``, a sibling ``vae`` folder, or the models folder's ``vae``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelNotInstalledError

UNET_WEIGHT_NAMES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
VAE_WEIGHT_NAMES = UNET_WEIGHT_NAMES


@dataclass(frozen=True)
class Variant:
    """One released UNet checkpoint.

    Args:
        name: folder name in the release (and on the command line).
        label: what the user reads.
        purpose: one sentence on when to use it.
    """

    name: str
    label: str
    purpose: str


VARIANTS: dict[str, Variant] = {
    "ft_places2": Variant(
        "ft_places2", "Natural scenes", "Fine-tuned on Places2: landscapes, streets, interiors."
    ),
    "pretrained": Variant("pretrained", "General (pretrained)", "The base model before fine-tuning."),
    "ft_celebahq": Variant("ft_celebahq", "Portraits (CelebA-HQ)", "Fine-tuned on CelebA-HQ face portraits."),
    "ft_ffhq": Variant("ft_ffhq", "Portraits (FFHQ)", "Fine-tuned on FFHQ face portraits."),
}
DEFAULT_VARIANT = "ft_places2"


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


def _weights_in(folder: Path) -> Path | None:
    return next((folder / name for name in UNET_WEIGHT_NAMES if (folder / name).is_file()), None)


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
    from core.paths import models_dir

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
    from core.paths import models_dir

    root = models_dir()
    return (
        f"To use the Moebius model, put a UNet checkpoint in {root / 'moebius' / DEFAULT_VARIANT} and the VAE "
        f"folder in {root / 'vae'}, or pass --model DIR."
    )
