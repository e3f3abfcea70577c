"""Tiny random-weight Moebius models in the released key layout and folder layout, for tests and benchmarks."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from core.model.unet import TINY_CONFIG

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOEBIUS_SHARED_DIR") or REPO.parent / "shared")  # as in conftest.py
REFERENCE = SHARED / "reference"
GOLDEN = REFERENCE / "golden_tiny"
SAMPLES = SHARED / "samples"

# The golden tiny architecture at the released 64×64 latent size (512×512 frame).
TINY_UNET_CONFIG: dict[str, Any] = dict(TINY_CONFIG)


def tiny_vae_config() -> dict[str, Any]:
    """The released VAE config shrunk to 16 channels per level (same f = 8 and 4 latent channels)."""
    config = json.loads((REPO / "core" / "model" / "vae_config.json").read_text())
    config.update(block_out_channels=[16, 16, 16, 16], norm_num_groups=8, layers_per_block=1)
    return config


def randomize_norm_statistics(module: torch.nn.Module, seed: int = 1) -> None:
    """Give every BatchNorm non-trivial running statistics so nothing is an identity."""
    generator = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=generator) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=generator) + 0.5)


def write_tiny_model(root: Path, *, variant: str = "ft_places2", fmt: str = "bin", seed: int = 0) -> Path:
    """Write a tiny random model in the released folder layout under ``root``; returns the variant folder.

    ``root/moebius/<variant>/diffusion_pytorch_model.<fmt>`` + ``config.json``, and
    ``root/vae/config.json`` + ``diffusion_pytorch_model.<fmt>``.
    """
    from safetensors.torch import save_file

    from core.model.unet import MoebiusModel
    from core.model.vae import build_vae

    torch.manual_seed(seed)
    model = MoebiusModel(TINY_UNET_CONFIG)
    randomize_norm_statistics(model, seed + 1)
    vae = build_vae(tiny_vae_config())
    unet_dir = root / "moebius" / variant
    vae_dir = root / "vae"
    for folder, module, config in (
        (unet_dir, model, {"model_kwargs": TINY_UNET_CONFIG}),
        (vae_dir, vae, tiny_vae_config()),
    ):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps(config, indent=1))
        state = {k: v.contiguous() for k, v in module.state_dict().items()}
        if fmt == "bin":
            torch.save(state, folder / "diffusion_pytorch_model.bin")
        else:
            save_file(state, str(folder / "diffusion_pytorch_model.safetensors"))
    return unet_dir


def random_frame(size: int = 512) -> tuple[Any, Any]:
    """A seeded random RGB frame and a mask with one filled box: ``(image, mask)`` as uint8 arrays."""
    import numpy as np

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    mask = np.zeros((size, size), np.uint8)
    mask[200:300, 150:350] = 255
    return image, mask


def load_tiny_pipeline(root: Path) -> Any:
    """A :class:`core.inpaint.pipeline.MoebiusPipeline` over a tiny random model written under ``root``."""
    from core.inpaint.pipeline import MoebiusPipeline
    from core.model.unet import load_moebius
    from core.model.vae import load_vae

    folder = write_tiny_model(root)
    return MoebiusPipeline(load_moebius(folder), load_vae(root / "vae"))
