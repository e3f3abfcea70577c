"""Process settings that torch reads once, when it is first imported.

The app's and the command line's entry points call :func:`prepare_torch_environment` before anything imports
torch. This module itself never imports torch, so calling it is cheap and cannot be too late by accident.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

# Variables set for torch unless the user already set them. MPS (Apple GPUs) lacks a few operators; with the
# fallback on, torch runs those on the CPU instead of raising NotImplementedError, which is far better for a
# desktop app than a crash. The value is read when torch initialises its MPS backend, hence "before import".
TORCH_ENVIRONMENT: dict[str, str] = {"PYTORCH_ENABLE_MPS_FALLBACK": "1"}


def prepare_torch_environment(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Set the environment variables torch needs to see at import time; return notes for the log.

    Args:
        environ: the environment to change; ``None`` means this process's ``os.environ``.

    Values the user set are kept. When torch is already imported the variables are still set (child
    processes inherit them) and the returned notes say that this process will not see them.
    """
    env = os.environ if environ is None else environ
    notes: list[str] = []
    for name, value in TORCH_ENVIRONMENT.items():
        if name not in env:
            env[name] = value
    if environ is None and "torch" in sys.modules:
        notes.append(
            "torch was imported before the backend settings were applied; "
            f"{', '.join(TORCH_ENVIRONMENT)} take effect only in new processes."
        )
    return notes
