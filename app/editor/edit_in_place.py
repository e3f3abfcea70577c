"""Recognising a photo another editor handed over to be edited in place, and the setting that governs it.

Lightroom Classic's "Edit In" makes a copy named ``NAME-Edit.tif`` (``NAME-Edit-2.tif``, … for further copies)
and reads that same file back when the app saves it. Opened with such a name (or with ``--edit-in-place``), the
editor's Save writes back into the file, without asking whether to replace the original: it is the copy made
for this edit. Capture One and darktable name their copies like any export and cannot add a flag to the
command they run, so for them the setting can make every photo handed to the app edit in place (see the README).
"""

from __future__ import annotations

import re
from pathlib import Path

HANDED_OVER_NAME = re.compile(r".+-Edit(?:-\d+)?\.tiff?", re.IGNORECASE)
"""Lightroom Classic's names for the copies it hands to an external editor (TIFF; PSD cannot be written here)."""

MODE_SETTING = "edit_in_place/handed_over"
"""The key in the app's ``window.ini`` that says which photos handed to the app are edited in place."""
NAMES, ALWAYS, NEVER = "names", "always", "never"
MODES = (NAMES, ALWAYS, NEVER)
"""``names`` (the default): Lightroom's ``NAME-Edit.tif`` copies; ``always``: every photo the app is started
with or sent (for Capture One and darktable); ``never``: only with ``--edit-in-place``."""


def is_handed_over_copy(path: Path) -> bool:
    """Whether ``path`` is named like a copy Lightroom Classic hands over for editing (``NAME-Edit.tif``)."""
    return HANDED_OVER_NAME.fullmatch(path.name) is not None


def saved_mode() -> str:
    """The saved setting (one of :data:`MODES`; anything else counts as the default, ``names``)."""
    from app.window_store import window_settings

    value = str(window_settings().value(MODE_SETTING, NAMES)).strip().lower()
    return value if value in MODES else NAMES


def edit_in_place_target(path: Path, *, flag: bool | None, mode: str = NAMES) -> Path | None:
    """The file Save writes back into, or ``None`` for the usual ``NAME_inpainted`` copy.

    Args:
        path: the photo handed to the app (on its command line, or by the system while it runs).
        flag: ``True`` for ``--edit-in-place``, ``False`` for ``--no-edit-in-place``, ``None`` when neither.
        mode: the saved setting (:func:`saved_mode`).
    """
    if flag is None:
        flag = mode == ALWAYS or (mode == NAMES and is_handed_over_copy(path))
    return path if flag else None
