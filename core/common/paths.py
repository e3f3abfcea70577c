"""Where Moebius Studio keeps its files on this machine.

This module is the only user of platformdirs; everything else asks it for folders. Nothing is created on
import: pass ``ensure=True`` to create a folder when it is about to be written to.

Two environment variables change the locations:

``MOEBIUS_STUDIO_HOME``
    Puts everything under one folder (``data/``, ``config/``, ``cache/``, ``logs/`` inside it). Tests always
    set it, so they never touch the user's real files; it also makes a portable installation possible.
``MOEBIUS_STUDIO_MODELS``
    Moves only the models folder, e.g. to a larger disk; wins over ``MOEBIUS_STUDIO_HOME`` for models.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "moebius-studio"
HOME_ENV = "MOEBIUS_STUDIO_HOME"
MODELS_ENV = "MOEBIUS_STUDIO_MODELS"
SETTINGS_FILE_NAME = "settings.json"


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    return Path(value).expanduser().absolute()


def _finish(folder: Path, ensure: bool) -> Path:
    if ensure:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def _located(home_subfolder: str, platform_folder: str, ensure: bool) -> Path:
    home = _env_path(HOME_ENV)
    folder = home / home_subfolder if home is not None else Path(platform_folder)
    return _finish(folder, ensure)


def data_dir(*, ensure: bool = False) -> Path:
    """Folder for large user data (models live below it unless moved)."""
    return _located("data", platformdirs.user_data_dir(APP_NAME, appauthor=False), ensure)


def models_dir(*, ensure: bool = False) -> Path:
    """Folder holding the model weights: ``MOEBIUS_STUDIO_MODELS`` or ``data_dir()/models``."""
    override = _env_path(MODELS_ENV)
    folder = override if override is not None else data_dir() / "models"
    return _finish(folder, ensure)


def config_dir(*, ensure: bool = False) -> Path:
    """Folder for the settings file."""
    return _located("config", platformdirs.user_config_dir(APP_NAME, appauthor=False), ensure)


def cache_dir(*, ensure: bool = False) -> Path:
    """Folder for files that can be rebuilt at any time (converted models, thumbnails)."""
    return _located("cache", platformdirs.user_cache_dir(APP_NAME, appauthor=False), ensure)


def log_dir(*, ensure: bool = False) -> Path:
    """Folder for log files and crash reports."""
    return _located("logs", platformdirs.user_log_dir(APP_NAME, appauthor=False), ensure)


def settings_file(*, ensure_dir: bool = False) -> Path:
    """The JSON file :mod:`core.job.settings_file` reads and writes (the file itself is never created here)."""
    return config_dir(ensure=ensure_dir) / SETTINGS_FILE_NAME
