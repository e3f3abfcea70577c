"""Where the app keeps what is not a job setting: ``window.ini`` in the app's config folder, beside the job
settings (which core reads too). The editor's geometry, brush and recent files live there
(:mod:`app.editor.recent`), and so does the number of variations (:mod:`app.settings_panel`)."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from core.common import paths


def window_settings() -> QSettings:
    """The app's own settings file (``window.ini`` in the app's config folder)."""
    return QSettings(str(paths.config_dir(ensure=True) / "window.ini"), QSettings.Format.IniFormat)
