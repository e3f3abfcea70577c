"""What the editor window remembers between launches: its geometry and layout, the brush, and recent files.

Kept in ``window.ini`` in the app's config folder, beside the job settings (which core reads too).
"""

from __future__ import annotations

from pathlib import Path

from app.window_store import window_settings

MAX_RECENT = 10


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


def recent_labels(paths: list[str]) -> list[str]:
    """Menu labels for recent files: the file name, followed by as much of its folder as tells it apart from
    other recent files of the same name (``coffee.png — samples``, ``coffee.png — Desktop``)."""
    parts = [Path(path).parts for path in paths]
    labels = []
    for index, path in enumerate(paths):
        name = Path(path).name
        twins = [other for number, other in enumerate(parts) if number != index and other[-1:] == parts[index][-1:]]
        if not twins:
            labels.append(name)
            continue
        folders = parts[index][:-1]
        depth = 1
        while depth < len(folders) and any(other[:-1][-depth:] == folders[-depth:] for other in twins):
            depth += 1
        labels.append(f"{name} — {Path(*folders[-depth:])}" if folders else name)
    return labels
