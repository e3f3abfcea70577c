"""Files dropped on a window are always copied, never moved.

A file manager offers Copy and Move for a drag and proposes whichever its modifier keys say (Shift proposes
Move in most of them). A drop accepted as Move tells the source that the file now lives elsewhere, and some
file managers then delete the original: a photo dropped on the editor would vanish from its folder. So every
window of the app accepts drags and drops as Copy, and refuses a drag whose source allows only moving.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QDropEvent


def accept_as_copy(event: QDropEvent, wanted: bool = True) -> bool:
    """Accept ``event`` (a drag enter, move or drop) as a copy; ignore it when not ``wanted`` (nothing the
    window takes) or when the source cannot copy.

    Returns whether it was accepted.
    """
    if not wanted or not event.possibleActions() & Qt.DropAction.CopyAction:
        event.ignore()
        return False
    event.setDropAction(Qt.DropAction.CopyAction)
    event.accept()
    return True
