"""What the editor window remembers between launches: its geometry and layout, the brush, and recent files.

Kept in ``window.ini`` in the app's config folder, beside the job settings (which core reads too).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from core.common import paths

MAX_RECENT = 10


def window_settings() -> QSettings:
    """The window's settings file (``window.ini`` in the app's config folder)."""
    return QSettings(str(paths.config_dir(ensure=True) / "window.ini"), QSettings.Format.IniFormat)


def recent_files() -> list[str]:
    """The photos opened last, newest first (absolute paths)."""
    value = window_settings().value("recent", [])
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value] if isinstance(value, list) else []


def remember_recent(path: Path) -> list[str]:
    """Put ``path`` first in the recent files (at most :data:`MAX_RECENT`); returns the new list."""
    entry = str(path.resolve())
    recent = [entry, *(item for item in recent_files() if item != entry)][:MAX_RECENT]
    store = window_settings()
    store.setValue("recent", recent)
    store.sync()
    return recent
