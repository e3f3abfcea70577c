"""Opening and saving the editor's photo: file dialogs, the questions before something is lost or replaced,
and big photos decoded on a thread.

The document does the writing (:meth:`~app.editor.document.EditorDocument.save_to`); this module decides
where, asks the user what the window's :class:`FilesView` asks, and turns core's errors into the window's
inline message. A photo that is ready to show is announced with :attr:`PhotoFiles.loaded`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox

from app.editor.document import EditorDocument, default_output_path
from app.editor.photo_loader import ASYNC_PIXELS, LoadedPhoto, MaskSource, PhotoLoader, header_size, load_photo
from core.batch.pairing import PHOTO_EXTENSIONS
from core.common.errors import MoebiusError, OutputNotWritableError
from core.photo.raw import RAW_SAVE_NOTE, is_raw_path

IMAGE_SUFFIXES = PHOTO_EXTENSIONS  # the batch's list: what one reads, the other reads too
IMAGE_FILTER = "Images (" + " ".join(f"*{suffix}" for suffix in sorted(IMAGE_SUFFIXES)) + ");;All files (*)"


class FilesView(Protocol):
    """The questions and messages opening and saving need from the window."""

    def show_message(self, text: str) -> None:
        """An inline message that needs reading (an error), until the next action replaces it."""
        ...

    def show_status(self, text: str) -> None:
        """A short note in the status bar."""
        ...

    def confirm(self, title: str, text: str) -> bool:
        """A yes/no question."""
        ...

    def ask_save_changes(self) -> QMessageBox.StandardButton:
        """Save, Discard or Cancel the unsaved changes."""
        ...

    def ask_path(self, title: str, start: str, filter: str, *, save: bool) -> Path | None:
        """A file dialog (to open, or to save as); ``None`` when cancelled."""
        ...


class PhotoFiles(QObject):
    """Opens photos into the document and saves it.

    Args:
        document: the document it opens photos for and saves.
        view: the window's :class:`FilesView`.
        parent: the owning QObject.
    """

    loaded = Signal(object)  # LoadedPhoto: ready to become the document's photo
    loading_started = Signal(str)  # a big photo's file name: it is decoded on a thread meanwhile
    loading_ended = Signal()

    def __init__(self, document: EditorDocument, view: FilesView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.view = view
        self._loader: PhotoLoader | None = None
        self._old_loaders: list[PhotoLoader] = []

    # -- open ------------------------------------------------------------------------------------------------

    def choose_and_open(self) -> None:
        start = str(self.document.path.parent) if self.document.path else ""
        chosen = self.view.ask_path("Open Photo", start, IMAGE_FILTER, save=False)
        if chosen is not None:
            self.open_image(chosen)

    def open_image(self, path: Path, mask: MaskSource | None = None) -> bool:
        """Open a photo and its mask: ``mask`` (a file, or a :data:`~app.editor.photo_loader.MaskMaker` that
        makes it for the photo), else ``NAME_mask.png`` beside it, if any.

        Small photos are announced (:attr:`loaded`) before this returns; large ones are decoded on a thread
        and announced when ready (:attr:`loading` is true meanwhile). Returns false when the photo could not be
        opened (or the user kept the current one); the reason is shown in the window.
        """
        path = Path(path)
        if not self.maybe_keep_changes():
            return False
        size = header_size(path)
        # A RAW file is developed by LibRaw, which takes seconds whatever its header says: always on a thread.
        if is_raw_path(path) or (size.isValid() and size.width() * size.height() > ASYNC_PIXELS):
            self._start_loader(path, mask)
            return True
        try:
            loaded = load_photo(path, mask)
        except MoebiusError as error:
            self._open_failed(error.user_message())
            return False
        except MemoryError:
            self._open_failed(f"Not enough memory to open {path.name}.")
            return False
        self.loaded.emit(loaded)
        return True

    @property
    def loading(self) -> bool:
        return self._loader is not None

    def _start_loader(self, path: Path, mask: MaskSource | None) -> None:
        if self._loader is not None:
            # Only the newest request counts; the old thread finishes on its own and is ignored.
            self._loader.loaded.disconnect()
            self._loader.failed.disconnect()
            self._old_loaders.append(self._loader)
        loader = PhotoLoader(path, mask)
        loader.loaded.connect(self._loader_done)
        loader.failed.connect(self._loader_failed)
        self._loader = loader
        self.loading_started.emit(path.name)
        loader.start()

    def _finish_loader(self) -> None:
        if self._loader is not None:
            self._loader.wait()
            self._loader = None
        self.loading_ended.emit()

    def _loader_done(self, loaded: LoadedPhoto) -> None:
        self._finish_loader()
        self.loaded.emit(loaded)
        if self.document.path is not None and is_raw_path(self.document.path):
            self.view.show_status(f"{self.document.path.name}  ·  {RAW_SAVE_NOTE}")

    def _loader_failed(self, message: str) -> None:
        self._finish_loader()
        self._open_failed(message)

    def _open_failed(self, message: str) -> None:
        self.view.show_status(message)
        self.view.show_message(message)

    def maybe_keep_changes(self) -> bool:
        """Before the photo goes away: ask about unsaved results. Returns false to keep the current photo."""
        if not self.document.has_unsaved_changes:
            return True
        answer = self.view.ask_save_changes()
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    # -- save ------------------------------------------------------------------------------------------------

    def save(self) -> bool:
        """Save to ``NAME_inpainted`` beside the original (or where the last save went)."""
        target = self.document.save_target
        if target is None or not self.document.has_photo:
            return False
        # A handed-over copy (Lightroom's NAME-Edit.tif) is replaced without a question: it was made for this.
        overwrite = target == self.document.last_saved or self.document.writes_in_place
        if not overwrite and target.exists():
            if not self.view.confirm("Replace file?", f"{target.name} already exists. Replace it?"):
                return self.save_as()
            overwrite = True
        return self.write_to(target, overwrite=overwrite)

    def save_as(self) -> bool:
        target = self.document.save_target
        if target is None or not self.document.has_photo:
            return False
        if self.document.writes_in_place and self.document.path is not None:
            target = default_output_path(self.document.path)  # Save As offers another file than the copy
        chosen = self.view.ask_path("Save Photo As", str(target), IMAGE_FILTER, save=True)
        # The file dialog has already asked about replacing an existing file.
        return chosen is not None and self.write_to(chosen, overwrite=True)

    def write_to(self, target: Path, *, overwrite: bool = False) -> bool:
        """Write the edited photo; asks before replacing the original. Returns whether it was written."""
        if not self.document.has_photo:
            return False
        in_place = self.document.writes_in_place and target == self.document.save_target
        if self.document.is_original(target) and not in_place and not self.view.confirm(
            "Replace the original?", f"Replace the original photo {target.name}?"
        ):
            return False
        notes: list[str] = [RAW_SAVE_NOTE] if self.document.path is not None and is_raw_path(self.document.path) else []
        try:
            written = self.document.save_to(target, overwrite=overwrite, notes=notes)
        except OutputNotWritableError as error:
            # A read-only folder (a memory card, a shared drive): offer another place instead of a dead end.
            self.view.show_message(error.user_message())
            question = f"{error.user_message()}\n\nSave the photo somewhere else?"
            return self.view.confirm("Cannot save here", question) and self.save_as()
        except MoebiusError as error:
            self.view.show_message(error.user_message())
            return False
        self.view.show_status(" — ".join([f"Saved {written}", *notes]))
        return True

    def export_mask(self) -> bool:
        path = self.document.path
        if path is None or not self.document.has_photo:
            return False
        start = str(path.with_name(f"{path.stem}_mask.png"))
        chosen = self.view.ask_path("Export Mask", start, "PNG image (*.png)", save=True)
        return chosen is not None and self.write_mask_to(chosen)

    def write_mask_to(self, target: Path) -> bool:
        """Write the mask as a black-and-white PNG (white = fill), the form the CLI's ``--mask`` reads."""
        try:
            self.document.export_mask(target)
        except MoebiusError as error:
            self.view.show_message(error.user_message())
            return False
        self.view.show_status(f"Mask saved to {target}")
        return True

    # -- closing ---------------------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Wait for every decoding thread (a superseded one finishes on its own first)."""
        for loader in [*self._old_loaders, *([self._loader] if self._loader else [])]:
            loader.wait()
        self._old_loaders.clear()
        self._loader = None


__all__ = ["IMAGE_FILTER", "IMAGE_SUFFIXES", "FilesView", "PhotoFiles"]
