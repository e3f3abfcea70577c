"""The VAE the Moebius checkpoints are used with: a KL autoencoder (f = 8, 4 latent channels).

The released VAE folder holds ``config.json`` and ``diffusion_pytorch_model.bin`` (or ``.safetensors``). The
model (:class:`core.model.autoencoder.AutoencoderKL`, the project's own implementation) is built from the config
and the weights are read by the same safe reader as the UNet (pickles only with ``weights_only=True``),
strictly: no missing or unexpected keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from core.common.errors import CheckpointError, ConfigError
from core.model.checkpoint import check_state_dict, read_state_dict

if TYPE_CHECKING:
    from core.model.autoencoder import AutoencoderKL

VAE_WEIGHT_NAMES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
BUNDLED_VAE_CONFIG = Path(__file__).resolve().parent / "vae_config.json"
"""The released VAE's config.json, shipped with the app for VAE checkpoints imported without one."""
# Spatial reduction of the VAE: three stride-2 stages (len(block_out_channels) - 1).
VAE_SCALE_FACTOR = 8


def read_vae_config(folder: Path) -> dict[str, Any]:
    """Read and sanity-check ``config.json`` of a VAE folder."""
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CheckpointError(f"The VAE folder {folder} has no config.json.") from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}).") from exc
    if not isinstance(config, dict) or config.get("_class_name", "AutoencoderKL") != "AutoencoderKL":
        raise ConfigError(f"{path} does not describe an AutoencoderKL.")
    return config


def build_vae(config: Mapping[str, Any], *, meta: bool = False) -> AutoencoderKL:
    """An ``AutoencoderKL`` with the given config (random weights; on the meta device when ``meta``)."""
    from core.model.autoencoder import AutoencoderKL

    if meta:
        with torch.device("meta"):
            return AutoencoderKL(config)
    return AutoencoderKL(config)


def load_vae(
    folder: str | Path, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> AutoencoderKL:
    """Load the VAE from a folder with ``config.json`` and weights, strictly and without running pickled code."""
    folder = Path(folder)
    config = read_vae_config(folder)
    weights = next((folder / name for name in VAE_WEIGHT_NAMES if (folder / name).is_file()), None)
    if weights is None:
        raise CheckpointError(f"The VAE folder {folder} has no {' or '.join(VAE_WEIGHT_NAMES)}.")
    state = read_state_dict(weights)
    vae = build_vae(config, meta=True)
    check_state_dict(vae, state)
    vae.load_state_dict(state, strict=True, assign=True)
    vae.to(device=device, dtype=dtype)
    return vae.eval()
