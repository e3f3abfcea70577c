"""Opening photos: decode with core.photo.read and prepare the QImages the canvas draws.

Small photos are opened right away on the GUI thread (a few milliseconds, and callers see the photo at once);
big ones are decoded on a short-lived thread so the window keeps responding while a 50 MP file decodes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QSize, Qt, QThread, Signal
from PySide6.QtGui import QImage, QImageReader

from app.qt_image import rgb_to_rgb32
from app.worker import forget_foreign_thread
from core.photo.photo import Photo
from core.photo.read import read_image, read_mask

ASYNC_PIXELS = 4_000_000  # photos larger than this are decoded off the GUI thread
PREVIEW_LONG_SIDE = 4096  # long side of the reduced copy the canvas draws while zoomed out below half size

MaskMaker = Callable[[int, int], npt.NDArray[np.uint8]]
"""``(width, height) of the upright photo -> its mask``: a mask made for the photo rather than read from a file
(the batch's Redo: a shared mask stretched or anchored to this photo, as the batch filled it)."""

MaskSource = Path | MaskMaker


@dataclass
class LoadedPhoto:
    """A decoded photo plus what the window shows of it."""

    path: Path
    photo: Photo
    image: QImage  # RGB32, full size
    preview: QImage | None  # reduced copy for zoomed-out views, only for large photos
    mask: npt.NDArray[np.uint8] | None
    note: str


def sibling_mask(photo: Path) -> Path | None:
    """The conventional mask file next to a photo (``name_mask.png``), if there is one."""
    candidate = photo.with_name(f"{photo.stem}_mask.png")
    return candidate if candidate.is_file() else None


def header_size(path: Path) -> QSize:
    """The pixel size from the file header, without decoding (invalid when unknown)."""
    return QImageReader(str(path)).size()


def reduced_copy(image: QImage) -> QImage | None:
    """A smooth reduced copy with a long side of :data:`PREVIEW_LONG_SIDE`, or ``None`` for small photos."""
    if max(image.width(), image.height()) <= PREVIEW_LONG_SIDE:
        return None
    return image.scaled(
        PREVIEW_LONG_SIDE,
        PREVIEW_LONG_SIDE,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )


def load_photo(path: Path, mask_source: MaskSource | None = None) -> LoadedPhoto:
    """Decode a photo and its mask (a file or a :data:`MaskMaker`; else ``name_mask.png`` beside it, if any).

    Raises core's errors for an unreadable photo or mask; a mask of another size is only noted.
    """
    photo = read_image(path)
    image = rgb_to_rgb32(photo.pixels)
    source = mask_source or sibling_mask(path)
    mask, note = None, ""
    if source is not None:
        values, note = _mask_values(source, photo)
        if values is not None:
            # Kept as it is: grey is a partial fill (a soft edge), exactly as the engines read the file.
            mask = np.ascontiguousarray(values, dtype=np.uint8)
            # Where the mask came from; how much it covers is the status bar's live count (it follows edits).
            note = f"mask from {Path(source).name}" if isinstance(source, str | Path) else "with the batch's mask"
    return LoadedPhoto(Path(path), photo, image, reduced_copy(image), mask, note)


def _mask_values(source: MaskSource, photo: Photo) -> tuple[npt.NDArray[np.uint8] | None, str]:
    """The mask's values at the photo's size, or ``None`` with why it was not loaded."""
    # A plain string path is not callable either, so callers that pass one keep working.
    values = source(photo.width, photo.height) if callable(source) else read_mask(source)
    if values.shape != photo.pixels.shape[:2]:
        return None, "mask not loaded: its size differs from the photo's"
    return values, ""


class PhotoLoader(QThread):
    """Decodes one photo on its own thread; emits ``loaded`` or ``failed`` (queued to the GUI thread)."""

    loaded = Signal(object)  # LoadedPhoto
    failed = Signal(str)

    def __init__(self, path: Path, mask_source: MaskSource | None = None) -> None:
        super().__init__()
        self.path = path
        self.mask_source = mask_source

    def run(self) -> None:
        from core.common.errors import MoebiusError

        try:
            loaded = load_photo(self.path, self.mask_source)
        except MoebiusError as error:
            self.failed.emit(error.user_message())
        except MemoryError:
            self.failed.emit(f"Not enough memory to open {self.path.name}.")
        except Exception as error:  # shown to the user rather than lost in the thread
            self.failed.emit(f"Cannot open {self.path.name}: {error}")
        else:
            self.loaded.emit(loaded)
        finally:
            forget_foreign_thread()
