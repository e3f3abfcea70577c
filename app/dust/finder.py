"""The search for dust on its own thread, so the window never freezes; cancellable between frames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QThread, Signal

from app.worker import forget_foreign_thread
from core.common.cancel import CancelToken


@dataclass
class DustFound:
    """What the search hands to the window: the report, and one review crop per spot (``uint8`` RGB)."""

    report: Any  # core.dust.DustReport
    crops: list[Any]


class DustFinder(QThread):
    """Runs :func:`core.dust.find_dust` on a folder, then cuts a crop per spot; emits ``found`` or ``failed``."""

    progressed = Signal(int, int)  # frames done, total
    found = Signal(object)  # DustFound
    failed = Signal(str)

    def __init__(self, folder: Path, min_frames: int) -> None:
        super().__init__()
        self.folder = folder
        self.min_frames = min_frames
        self.cancel = CancelToken()

    def run(self) -> None:
        from core.common.errors import CancelledError, MoebiusError
        from core.dust import find_dust, spot_crop

        try:
            report = find_dust(
                self.folder,
                min_frames=self.min_frames,
                cancel=self.cancel,
                progress=lambda event: self.progressed.emit(event.step, event.total),
            )
            scans = {scan.path: scan for scan in report.scans}
            crops = []
            for spot in report.spots:
                self.cancel.raise_if_cancelled()
                crops.append(spot_crop(spot, scans[spot.seen_in[0]]))
        except CancelledError:
            self.failed.emit("Cancelled; nothing was written.")
        except MoebiusError as error:
            self.failed.emit(error.user_message())
        except Exception as error:  # shown in the window rather than lost in the thread
            self.failed.emit(f"The search failed unexpectedly: {error!r}")
        else:
            self.found.emit(DustFound(report, crops))
        finally:
            forget_foreign_thread()


class MaskWriter(QThread):
    """Writes the masks of the spots kept (PNG encoding of large masks takes a while); emits ``written`` or
    ``failed``."""

    written = Signal(object)  # list[Path]
    failed = Signal(str)

    def __init__(self, spots: list[Any], scans: list[Any], masks_dir: Path, overwrite: bool) -> None:
        super().__init__()
        self.spots, self.scans, self.masks_dir, self.overwrite = spots, scans, masks_dir, overwrite

    def run(self) -> None:
        from core.common.errors import MoebiusError
        from core.dust import write_masks

        try:
            paths = write_masks(self.spots, self.scans, self.masks_dir, overwrite=self.overwrite)
        except MoebiusError as error:
            self.failed.emit(error.user_message())
        except OSError as error:
            self.failed.emit(f"Cannot write the masks to {self.masks_dir}: {error.strerror or error}")
        except Exception as error:  # shown in the window rather than lost in the thread
            self.failed.emit(f"Writing the masks failed unexpectedly: {error!r}")
        else:
            self.written.emit(paths)
        finally:
            forget_foreign_thread()
