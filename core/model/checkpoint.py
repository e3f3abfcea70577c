"""Reading checkpoints and their configs: the one place where weight files are opened for loading.

Every loader (the UNet, the VAE, model import and conversion) reads tensors through :func:`read_state_dict`,
so pickles are only ever opened with ``weights_only=True`` and ``.safetensors`` files are memory-mapped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from core.common.errors import CheckpointError, CheckpointMismatchError, ConfigError, UnsafeCheckpointError


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """All tensors of a checkpoint, read without ever running pickled code.

    A ``.safetensors`` file is memory-mapped (no copy); a pickled ``.bin``/``.pt`` is read with
    ``weights_only=True``, so a pickle that tries to call a function or build anything but tensors is refused.

    Args:
        path: the checkpoint file.

    Raises:
        UnsafeCheckpointError: the pickle tries to run code or build objects other than tensors (the message is
            one sentence of ours: torch's own text, which suggests loading the file unsafely, is never passed on).
        CheckpointError: the file is missing, truncated, or not a checkpoint.
    """
    if not path.is_file():
        raise CheckpointError(f"Checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from core.model.safetensors_mmap import load_mmap

        try:
            return load_mmap(path)
        except (OSError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"{path.name} is not a readable safetensors file ({exc}).") from exc
    loaded = _load_pickle(path)
    if isinstance(loaded, Mapping) and "state_dict" in loaded and isinstance(loaded["state_dict"], Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping) or not all(isinstance(v, Tensor) for v in loaded.values()):
        raise CheckpointError(f"{path.name} does not hold a state dict of tensors.")
    return dict(loaded)


# What the user is told to do instead, in every refusal of a pickle (never: "load it with weights_only=False").
_INSTEAD = "use a .safetensors copy of it or the official release file instead"
# torch's messages about weights_only loading carry advice to load the file unsafely; none of it is shown.
_ADVICE_WORDS = ("weights_only", "trust", "arbitrary code", "torch.load", "pickle_module")


def _load_pickle(path: Path) -> Any:
    """``torch.load`` with ``weights_only=True``, memory-mapped when the file is in torch's zip format.

    Every failure becomes our own exception with our own words; torch's text is quoted only when it is a plain
    description of damage (never its advice about ``weights_only``), and it is not chained, so not even a
    traceback repeats it.
    """
    import pickle
    import warnings

    refusal: CheckpointError
    try:
        # torch's warnings while reading (an unusual pickle protocol, a TorchScript archive) address developers.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            try:
                return torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as exc:
                if "mmap can only be used" not in str(exc):
                    raise
            # The legacy (pre-zip) format cannot be memory-mapped; it is read into memory, just as safely.
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refusal = _unsafe(path, str(exc))
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        if "TorchScript" in str(exc):
            refusal = UnsafeCheckpointError(
                f"{path.name} is a TorchScript archive, which holds code, so it was refused; {_INSTEAD}."
            )
        else:
            refusal = CheckpointError(f"{path.name} is truncated or not a PyTorch checkpoint{_detail(exc)}.")
    raise refusal from None


def _unsafe(path: Path, torch_message: str) -> UnsafeCheckpointError:
    """Our one-sentence refusal of a pickle that needs more than the tensor-only reader allows."""
    found = re.search(r"GLOBAL ([\w.]+)", torch_message)
    asks = f" (it asks for {found.group(1)})" if found else ""
    return UnsafeCheckpointError(
        f"{path.name} is a pickled checkpoint that holds code or objects other than tensors{asks}, "
        f"so it was refused; {_INSTEAD}."
    )


def _detail(exc: BaseException) -> str:
    """`` (first line of the error)`` when it only describes the damage, else nothing."""
    text = str(exc).strip()
    # The first sentence of the first line: what broke, without torch's speculation about why.
    line = text.splitlines()[0].split(". ")[0].rstrip(".") if text else ""
    if not line or len(line) > 200 or any(word in line for word in _ADVICE_WORDS):
        return ""
    return f" ({line})"


def check_state_dict(model: nn.Module, state: Mapping[str, Tensor]) -> None:
    """Raise :class:`CheckpointMismatchError` naming the first offending keys if ``state`` does not fit."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} {tuple(state[k].shape)} (model expects {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (first: {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (first: {', '.join(unexpected[:3])})")
        if mismatched:
            parts.append(f"{len(mismatched)} of the wrong shape (first: {', '.join(mismatched[:3])})")
        raise CheckpointMismatchError(
            "The checkpoint does not match the Moebius model: " + "; ".join(parts) + ".",
            missing=missing,
            unexpected=unexpected,
            mismatched=mismatched,
            hint="Check that the file is a Moebius UNet checkpoint and that its config.json matches it.",
        )


def read_json_config(path: Path) -> dict[str, Any]:
    """A ``config.json`` as a dict.

    Args:
        path: the file.

    Raises:
        ConfigError: it is unreadable, not JSON, or not a JSON object.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a readable JSON file ({exc}).") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object.")
    return data


def read_config_beside(checkpoint: Path) -> dict[str, Any] | None:
    """The ``config.json`` next to a checkpoint, or ``None`` (the released configuration applies)."""
    config_path = checkpoint.parent / "config.json"
    return read_json_config(config_path) if config_path.is_file() else None
