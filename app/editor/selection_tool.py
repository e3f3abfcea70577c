"""Object selection without model weights: drag a box around an object and the mask snaps to its outline.

The outline is found by :func:`core.photo.selection.select_object` (GrabCut on the photo inside the box), which
takes up to a second on a large photo, so it runs on a thread of its own while the window stays usable and
says that it is working; "Expand to Include Shadow" grows the mask downward the same way
(:func:`core.photo.selection.expand_for_shadow`). Each result is added to the mask as one undo step, so the
brush and eraser refine it afterwards and Ctrl+Z takes it back in one go.

Both functions work on the document's pixels, which are never edited in place, and on a copy of the mask; the
thread also finds the box that changed, so the GUI thread only writes that box.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QObject, QRect, QThread, Signal

from app.editor.document import EditorDocument, changed_box_of
from app.editor.history import nonzero_box
from app.worker import forget_foreign_thread

U8 = npt.NDArray[np.uint8]
SHADOW_FRACTION = 0.25  # a shadow reaches about a quarter of the object's height below it
MIN_SHADOW_PX = 8


@dataclass(frozen=True)
class MaskAddition:
    """What a selection thread found: the box of the mask it grows and the new values there."""

    rect: QRect
    values: U8


class SelectionView(Protocol):
    """What the selection needs from the window."""

    def show_message(self, text: str) -> None: ...

    def show_status(self, text: str) -> None: ...

    def show_busy(self, text: str) -> None:
        """Show that something is being worked on (``""``: nothing any more)."""
        ...


class MaskThread(QThread):
    """Runs one mask computation (``mask -> new mask``) and reports the box where it grows the mask."""

    done = Signal(object)  # MaskAddition
    failed = Signal(str)

    def __init__(self, compute: Callable[[U8], U8], mask: U8) -> None:
        super().__init__()
        self.compute = compute
        self.mask = mask

    def run(self) -> None:
        from core.common.errors import MoebiusError

        try:
            new = self.compute(self.mask)
            rect = changed_box_of(self.mask, new)
            values = new[rect.top() : rect.bottom() + 1, rect.left() : rect.right() + 1].copy()
        except MoebiusError as error:
            self.failed.emit(error.user_message())
        except MemoryError:
            self.failed.emit("Not enough memory to find the object; try a smaller box.")
        except Exception as error:  # shown to the user rather than lost in the thread
            self.failed.emit(f"Finding the object failed unexpectedly: {error!r}")
        else:
            self.done.emit(MaskAddition(rect, values))
        finally:
            forget_foreign_thread()


class ObjectSelection(QObject):
    """The object tool's box and the shadow expansion, run one at a time off the GUI thread.

    Args:
        document: the document whose mask grows.
        view: the window: messages and the busy indicator.
    """

    finished = Signal()  # a selection or expansion ended, whichever way

    def __init__(self, document: EditorDocument, view: SelectionView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.view = view
        self._thread: MaskThread | None = None
        self._old: list[MaskThread] = []
        self._text = ""
        document.opened.connect(self._forget)

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def select(self, box: QRect) -> bool:
        """Find the object inside ``box`` (photo pixels) and add it to the mask; false when nothing started."""
        pixels = self.document.pixels
        if pixels is None or box.isEmpty():
            return False
        corners = (box.left(), box.top(), box.right() + 1, box.bottom() + 1)

        def find(mask: U8) -> U8:
            from core.photo.selection import select_object

            found: U8 = select_object(pixels, box=corners)
            return np.maximum(mask, found)

        return self._start(find, "Select object", "Finding the object…")

    def expand_for_shadow(self) -> bool:
        """Grow the mask downward to take in the object's shadow; false when there is no mask."""
        if not self.document.has_mask:
            self.view.show_message("Select the object first: the shadow is found below the mask.")
            return False
        height = nonzero_box(self.document.mask).height()
        distance = max(MIN_SHADOW_PX, round(height * SHADOW_FRACTION))

        def expand(mask: U8) -> U8:
            from core.photo.selection import expand_for_shadow

            grown: U8 = expand_for_shadow(mask, distance)
            return np.maximum(mask, grown)

        return self._start(expand, "Expand to include shadow", "Adding the shadow…")

    def _start(self, compute: Callable[[U8], U8], text: str, busy: str) -> bool:
        if self._thread is not None:
            self.view.show_status("Still working on the last selection…")
            return False
        self.view.show_message("")
        thread = MaskThread(compute, self.document.mask.copy())
        thread.done.connect(self._done)
        thread.failed.connect(self._failed)
        self._thread, self._text = thread, text
        self.view.show_busy(busy)
        thread.start()
        return True

    def _finish(self) -> None:
        if self._thread is not None:
            self._thread.wait()
            self._thread = None
        self.view.show_busy("")
        self.finished.emit()

    def _done(self, addition: MaskAddition) -> None:
        self._finish()
        if addition.rect.isEmpty() or not self.document.add_to_mask(addition.rect, addition.values, self._text):
            self.view.show_status("Nothing was added to the mask.")
            return
        self.view.show_status(f"{self._text}: done (Ctrl+Z takes it back); refine it with the brush (B) or eraser (E).")

    def _failed(self, message: str) -> None:
        self._finish()
        self.view.show_message(message)

    def _forget(self) -> None:
        """Another photo: a selection of the old one must not land on it."""
        if self._thread is not None:
            self._thread.done.disconnect()
            self._thread.failed.disconnect()
            self._old.append(self._thread)
            self._thread = None
            self.view.show_busy("")

    def shutdown(self) -> None:
        """Wait for every selection thread (GrabCut cannot be interrupted; it ends within about a second)."""
        for thread in [*self._old, *([self._thread] if self._thread else [])]:
            thread.wait()
        self._old.clear()
        self._thread = None
