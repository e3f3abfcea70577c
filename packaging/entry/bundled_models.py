"""The "offline" variant carries the model weights in ``<bundle>/models``; point the app at them."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def use_bundled_models() -> None:
    """Set ``MOEBIUS_STUDIO_MODELS`` to the bundle's models folder, when there is one and the user set none.

    Only the frozen entry points call this; a source checkout never has a bundled models folder.
    """
    folder = Path(sys.executable).resolve().parent / "models"
    if "MOEBIUS_STUDIO_MODELS" not in os.environ and folder.is_dir():
        os.environ["MOEBIUS_STUDIO_MODELS"] = str(folder)
