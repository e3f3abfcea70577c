"""Checking that a checkpoint is what it claims to be, and converting pickled ``.bin`` files to safetensors.

Every checkpoint is read with the project's safe reader (:func:`core.model.checkpoint.read_state_dict`:
safetensors, or a pickle unpickled with ``weights_only=True``, so a file that tries to run code is refused). It
is then matched against the model it is meant for, built on the ``meta`` device (no memory, no time): the right
kind (UNet or VAE), every key present, every shape right.

The conversion writes a ``.safetensors`` file with exactly the same tensors, reads it back and compares every
tensor bit for bit before anyone may use it. Safetensors files hold no code and are memory-mapped when loaded,
which makes every later load safer and faster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.common.errors import CheckpointError, CheckpointMismatchError, ConfigError

if TYPE_CHECKING:
    from torch import Tensor

KIND_UNET = "unet"
KIND_VAE = "vae"

_KIND_WORDS = {KIND_UNET: "a Moebius UNet checkpoint", KIND_VAE: "a VAE checkpoint", None: "not a known checkpoint"}
_UNET_PREFIXES = ("diff_model.", "embedding_layer.")
_VAE_PREFIXES = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")


def guess_kind(keys: Iterable[str]) -> str | None:
    """``"unet"`` or ``"vae"`` from a state dict's key names, ``None`` for anything else.

    Args:
        keys: the state dict's keys.
    """
    names = list(keys)
    if any(name.startswith(_UNET_PREFIXES) for name in names):
        return KIND_UNET
    if any(name.startswith(_VAE_PREFIXES) for name in names):
        return KIND_VAE
    return None


def config_kind(config: Mapping[str, Any]) -> str | None:
    """``"vae"`` for a diffusers ``AutoencoderKL`` config, ``"unet"`` for a Moebius one, else ``None``.

    Args:
        config: a parsed ``config.json``.
    """
    if config.get("_class_name") == "AutoencoderKL" or "latent_channels" in config:
        return KIND_VAE
    if "model_kwargs" in config or "block_out_channels" in config or "in_channels" in config:
        return KIND_UNET
    return None


def checked_config(kind: str, config_path: Path | None, name: str) -> dict[str, Any] | None:
    """The configuration a checkpoint is checked against: the given ``config.json``, else the released one.

    Args:
        kind: ``"unet"`` or ``"vae"``.
        config_path: the ``config.json`` that comes with the checkpoint, or ``None``.
        name: the model's name, for messages.

    Raises:
        ConfigError: the file is unreadable, or describes the other kind of model.
    """
    from core.model.checkpoint import read_json_config
    from core.model.vae import BUNDLED_VAE_CONFIG

    if config_path is None:
        return None if kind == KIND_UNET else read_json_config(BUNDLED_VAE_CONFIG)
    config = read_json_config(config_path)
    found = config_kind(config)
    if found is not None and found != kind:
        raise ConfigError(
            f"{config_path} describes {'a VAE' if found == KIND_VAE else 'a Moebius UNet'}, "
            f"but it was given for {name}.",
            hint="Each model folder needs its own config.json.",
        )
    return config


def check_checkpoint(state: Mapping[str, Tensor], kind: str, config: Mapping[str, Any] | None, *, name: str) -> None:
    """Make sure ``state`` is a complete checkpoint of the expected kind for ``config``.

    Args:
        state: the checkpoint's tensors.
        kind: ``"unet"`` or ``"vae"``: what the file must be.
        config: the model configuration (a Moebius ``config.json`` or ``model_kwargs``; an ``AutoencoderKL``
            config for the VAE); ``None`` means the released one.
        name: how to call the file in messages.

    Raises:
        CheckpointMismatchError: it is the other kind or another model, or keys or shapes differ.
    """
    import torch

    found = guess_kind(state)
    if found != kind:
        raise CheckpointMismatchError(
            f"{name} is {_KIND_WORDS.get(found, _KIND_WORDS[None])}, not {_KIND_WORDS[kind]}.",
            hint="Check that each file is in the right folder: UNet checkpoints in moebius/<variant>, the VAE in vae.",
        )
    from core.model.checkpoint import check_state_dict, read_json_config
    from core.model.unet import MoebiusModel

    if kind == KIND_UNET:
        with torch.device("meta"):
            model: torch.nn.Module = MoebiusModel(config)
    else:
        from core.model.vae import BUNDLED_VAE_CONFIG, build_vae

        model = build_vae(dict(config) if config is not None else read_json_config(BUNDLED_VAE_CONFIG), meta=True)
    try:
        check_state_dict(model, state)
    except CheckpointMismatchError as exc:
        raise CheckpointMismatchError(
            f"{name}: {exc.message}",
            missing=exc.missing,
            unexpected=exc.unexpected,
            mismatched=exc.mismatched,
            hint=exc.hint,
        ) from None


def _standalone(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The tensors in a form safetensors accepts: contiguous, and no two sharing memory (those are copied)."""
    seen: set[int] = set()
    out: dict[str, Tensor] = {}
    for key, tensor in state.items():
        pointer = tensor.untyped_storage().data_ptr() if tensor.numel() else 0
        shared = pointer != 0 and pointer in seen
        seen.add(pointer)
        out[key] = tensor.clone() if shared or tensor.numel() == 0 else tensor.contiguous()
    return out


def _same_bits(a: Tensor, b: Tensor) -> bool:
    """Whether two tensors are identical bit for bit (unlike ``torch.equal`` on floats, NaN equals NaN here)."""
    import torch

    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.numel() == 0:
        return True
    # Reinterpreted as integers of the same width, torch.equal compares the raw bits at full speed.
    width = {1: torch.uint8, 2: torch.int16, 4: torch.int32}.get(a.element_size(), torch.int64)
    return torch.equal(a.contiguous().reshape(-1).view(width), b.contiguous().reshape(-1).view(width))


def same_tensors(path: Path, state: Mapping[str, Tensor]) -> bool:
    """Whether the safetensors file ``path`` holds exactly ``state``: same keys, dtypes, shapes and bits.

    Args:
        path: a ``.safetensors`` file.
        state: the tensors it must hold.
    """
    from safetensors import safe_open

    # One tensor at a time, so a 900 MB checkpoint is never held twice in memory.
    with safe_open(str(path), framework="pt") as handle:
        if set(handle.keys()) != set(state):
            return False
        return all(_same_bits(handle.get_tensor(key), state[key]) for key in state)


def write_safetensors(state: Mapping[str, Tensor], destination: Path, *, name: str) -> None:
    """Write ``state`` to ``destination`` as safetensors and prove the file holds exactly the same tensors.

    ``destination`` should be a temporary name: the caller renames it into place only after this returns.

    Args:
        state: the tensors (e.g. read from a ``.bin``).
        destination: the file to write.
        name: how to call the source in messages.

    Raises:
        CheckpointError: the written file differs from ``state`` (it is deleted).
        OSError: the file could not be written (disk full, no permission).
    """
    from safetensors.torch import save_file

    save_file(_standalone(state), str(destination), metadata={"format": "pt"})
    if not same_tensors(destination, state):
        destination.unlink(missing_ok=True)
        raise CheckpointError(f"Converting {name} to safetensors did not reproduce every tensor exactly.")
