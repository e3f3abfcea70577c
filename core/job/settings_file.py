"""The settings file shared by the command line and the GUI: the only reader and writer of ``settings.json``.

The file lives at :func:`core.common.paths.settings_file` and looks like ``{"version": 1, "steps": 20, ...}``.
Reading it never fails: a missing or corrupt file gives the defaults, an unknown key or an invalid value is
dropped, and every such event comes back as a warning for the caller to show. Saving writes a temporary file
next to the target and renames it over, so a crash never leaves half a file behind.

Only the front ends use this module (an import contract keeps the rest of core away from it): the command line
starts each job from the saved settings, the GUI's settings panel saves every change. Everything below them is
handed its settings, device included, and never looks anything up.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from core.common import paths
from core.common.errors import SettingsError
from core.common.files import write_bytes_atomically
from core.job.settings import JobSettings, LoadedSettings, settings_from_dict


def settings_path() -> Path:
    """Where the settings file is (it may not exist yet)."""
    return paths.settings_file()


def load_settings(path: Path | None = None) -> LoadedSettings:
    """Read the settings file. Never raises.

    A missing file gives the defaults silently; an unreadable or corrupt one gives the defaults and a
    warning; unknown keys and invalid values are dropped with a warning each.

    Args:
        path: the file to read; ``None`` reads :func:`settings_path`.
    """
    path = settings_path() if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return LoadedSettings(JobSettings())
    except (OSError, UnicodeDecodeError) as error:
        problem = f"cannot be read ({error})"
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            problem = f"is corrupt ({error})"
        else:
            if isinstance(data, dict):
                loaded = settings_from_dict(data, lenient=True)
                # Say which file: the user reads these as notes of a command that was given no such value.
                named = [f"In the settings file {path}: {warning}" for warning in loaded.warnings]
                return replace(loaded, warnings=named)
            problem = "does not hold a JSON object"
    return LoadedSettings(JobSettings(), [f"The settings file {path} {problem}. Using the defaults."])


def save_settings(settings: JobSettings, path: Path | None = None) -> Path:
    """Write every setting atomically and return the file's path.

    Args:
        settings: what to save.
        path: the file to write; ``None`` writes :func:`settings_path` (creating its folder).

    Raises:
        SettingsError: the file or its folder cannot be written.
    """
    if path is None:
        path = paths.settings_file(ensure_dir=True)
    text = json.dumps(settings.to_dict(), indent=2) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomically(path, text.encode("utf-8"))
    except OSError as error:
        raise SettingsError(
            f"Could not save the settings to {path}: {error.strerror or error}.",
            hint="Check that the folder exists and is writable.",
        ) from error
    return path


def remove_settings(path: Path | None = None) -> bool:
    """Delete the settings file, so that every setting is its built-in default again.

    Args:
        path: the file; ``None`` means :func:`settings_path`.

    Returns:
        Whether there was a file to delete.

    Raises:
        SettingsError: the file exists but cannot be deleted.
    """
    path = settings_path() if path is None else path
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as error:
        raise SettingsError(f"Could not delete the settings file {path}: {error.strerror or error}.") from error
    return True
