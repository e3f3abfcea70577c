"""Specific exception types raised by the core.

Every error a user can cause (a missing file, a mask of the wrong size, a broken checkpoint) has its own type
with a message written for the user. The edges (CLI, GUI) turn them into one readable line or a dialog; they
never show a traceback for these.
"""

from __future__ import annotations


class MoebiusError(Exception):
    """Base class of every error the core raises on purpose.

    ``str(error)`` is a complete sentence meant for the user; ``hint`` is an optional second sentence telling
    them what to do about it.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def user_message(self) -> str:
        """The message plus the hint, ready to print or show."""
        return f"{self.message} {self.hint}" if self.hint else self.message


# -- input images and masks ---------------------------------------------------------------------------------


class ImageReadError(MoebiusError):
    """A photo or mask file is missing, unreadable or not an image."""


class ImageTooLargeError(ImageReadError):
    """A file decodes to more pixels than the configured limit (decompression-bomb guard)."""


class MaskError(MoebiusError):
    """A mask cannot be used as it is."""


class MaskSizeMismatchError(MaskError):
    """The mask's size differs from the photo's size."""

    def __init__(self, mask_size: tuple[int, int], image_size: tuple[int, int], *, hint: str | None = None):
        super().__init__(
            f"The mask is {mask_size[0]}×{mask_size[1]} pixels but the photo is "
            f"{image_size[0]}×{image_size[1]}.",
            hint=hint,
        )
        self.mask_size = mask_size
        self.image_size = image_size


class EmptyMaskError(MaskError):
    """The mask selects no pixel, so there is nothing to fill."""


# -- outputs ------------------------------------------------------------------------------------------------


class OutputError(MoebiusError):
    """The result cannot be written where the user asked."""


class OutputExistsError(OutputError):
    """The output file exists and overwriting was not allowed."""


class OutputNotWritableError(OutputError):
    """The output folder is missing, read-only or full."""


# -- models and weights -------------------------------------------------------------------------------------


class ModelError(MoebiusError):
    """A model cannot be built, found or loaded."""


class ModelNotInstalledError(ModelError):
    """No weights for the requested model were found on this machine."""


class CheckpointError(ModelError):
    """A checkpoint file is unreadable, unsafe or does not match the model."""


class UnsafeCheckpointError(CheckpointError):
    """A pickled checkpoint tried to run code or load a type that is not a plain tensor."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint's keys or shapes differ from the model's (missing, unexpected or mis-shaped entries)."""

    def __init__(
        self,
        message: str,
        *,
        missing: list[str] | None = None,
        unexpected: list[str] | None = None,
        mismatched: list[str] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.missing = missing or []
        self.unexpected = unexpected or []
        self.mismatched = mismatched or []


class UnsupportedSizeError(ModelError):
    """A tensor given to the model has a size the released model cannot run at."""


class ConfigError(ModelError):
    """A model configuration is invalid."""


# -- running ------------------------------------------------------------------------------------------------


class CancelledError(MoebiusError):
    """The user cancelled the job; nothing was written."""

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)


class DeviceError(MoebiusError):
    """The requested compute device is not available on this machine."""


class SettingsError(MoebiusError):
    """The settings file or a settings value is invalid."""


# -- getting models: download, import, verify (core.weights.hub, core.weights.store) ---------------------------------


class DownloadError(ModelError):
    """A model download failed (the server refused, or the connection broke and retries did not help)."""


class OfflineError(DownloadError):
    """The model server cannot be reached: no network, a firewall, or downloads switched off."""


class RemoteFileNotFoundError(DownloadError):
    """The server answered, but the repository or the file is not there (moved, renamed or private)."""


class ChecksumMismatchError(CheckpointError):
    """A file's SHA-256 (or size) differs from the value it must have, so it was not used."""


class DiskSpaceError(ModelError):
    """There is not enough free disk space for a download, an import or a conversion."""


class ModelFolderNotWritableError(ModelError):
    """The models folder (or the cache folder) cannot be written: read-only, or no permission."""


class ModelImportError(ModelError):
    """A folder or file given for import holds no usable Moebius or VAE weights, or they cannot be placed."""


class UnknownModelError(ModelError):
    """A model name is not one of the registry's names."""


# -- hardware backends (core.inpaint.loading) -----------------------------------------------------------------------


class OutOfMemoryError(MoebiusError):
    """The job did not fit in memory, even after the safer retries (guidance split in two, then the CPU)."""


class CoreMLExportError(ModelError):
    """The model could not be converted to Core ML (the message names the operators that failed)."""


# -- batch processing (core.batch) ---------------------------------------------------------------------------


class BatchInputError(MoebiusError):
    """A batch cannot start: the input or masks folder is missing, the output folder is unusable, or an option
    contradicts another."""


class BatchSettingsChangedError(BatchInputError):
    """``--resume`` found results in the output folder that were made with other settings."""


class BatchBusyError(BatchInputError):
    """Another batch is writing into the same output folder right now."""


# -- writing photos back (core.photo) ------------------------------------------------------------------------


class FramesWouldBeLostError(OutputError):
    """Writing the result in its source's format would drop the source's other pages or animation frames."""


class SourceChangedError(OutputError):
    """The source file changed (or vanished) after it was read, so what the result takes from it is gone."""


# -- selecting objects (core.photo.selection) ------------------------------------------------------------------


class SelectionError(MaskError):
    """No object can be selected in the box the user drew: it is empty, too small, or nothing in it stands out."""
