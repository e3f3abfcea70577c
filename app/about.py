"""The About box's text: what Moebius Studio is, the versions it runs with, and the licences."""

from __future__ import annotations

import platform
from importlib import metadata

import PySide6
from PySide6.QtCore import qVersion

from core import __version__


def installed_version(distribution: str) -> str:
    """A package's installed version, read from its metadata (so the package itself is not imported)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def about_text() -> str:
    """The About box as rich text."""
    return (
        f"<h3>Moebius Studio {__version__}</h3>"
        "<p>Removes objects from photos with the Moebius diffusion model. Everything runs on this "
        "computer; no photo ever leaves it.</p>"
        f"<p>Python {platform.python_version()} · Qt {qVersion()} · PySide6 {PySide6.__version__} · "
        f"torch {installed_version('torch')}</p>"
        "<p>Licences: Moebius Studio, Qt for Python (LGPLv3), PyTorch (BSD). The Moebius and PixelHacker "
        "model weights (hustvl) come under their own licence; see <code>moebius-inpaint models list</code>."
        "</p>"
    )
