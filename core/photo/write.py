"""Writing results: the output's format, checks before any work is done, and atomic writes.

Writing is atomic: the encoder (:mod:`core.photo.encode`) writes a hidden temporary file next to the target,
which is then renamed onto it, so a crash or a full disk never leaves a half-written output, and an existing
file is never replaced unless the caller allows it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

import numpy as np

from core.common.errors import OutputError, OutputExistsError, OutputNotWritableError
from core.photo.encode import encode
from core.photo.heif import missing_writer
from core.photo.pages import check_write_back
from core.photo.photo import Photo, U8Image
from core.photo.raw import RAW_EXTENSIONS, RAW_SAVE_NOTE, result_extension
from core.photo.samples import output_samples

FORMATS_BY_EXTENSION: dict[str, str] = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".heic": "HEIF",
    ".heif": "HEIF",
    ".hif": "HEIF",
    ".avif": "AVIF",
}
"""Output formats :func:`write_image` can write, by file extension (lower case)."""

_FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF", "HEIC": "HEIF"}
_KNOWN_EXTENSIONS = "Use .jpg, .png, .tif, .webp, .bmp, .heic or .avif."


def output_format(path: str | os.PathLike[str], format: str | None = None) -> str:
    """The Pillow format name to write ``path`` in.

    Args:
        path: the output file; its extension decides the format unless ``format`` is given.
        format: an explicit format name (``"JPEG"``, ``"PNG"``, ``"TIFF"``, ``"WEBP"``, ``"BMP"``, ``"HEIF"``,
            ``"AVIF"``).

    Raises:
        OutputError: the extension (or ``format``) is not one Moebius Studio writes (camera RAW formats never
            are), or its encoder is not available here.
    """
    if format is not None:
        name = format.upper()
        name = _FORMAT_ALIASES.get(name, name)
        if name not in set(FORMATS_BY_EXTENSION.values()):
            raise OutputError(f"Cannot write images in the {format} format.", hint=_KNOWN_EXTENSIONS)
        return _available(name)
    suffix = Path(path).suffix.lower()
    if suffix in RAW_EXTENSIONS:
        raise OutputError(
            f"The output {Path(path)} is named as a camera RAW file, and RAW files are never written.",
            hint=f"{RAW_SAVE_NOTE} Name the output with .tif.",
        )
    if not suffix:
        raise OutputError(
            f"The output {Path(path)} has no extension, so its image format is unknown.",
            hint=_KNOWN_EXTENSIONS,
        )
    if suffix not in FORMATS_BY_EXTENSION:
        raise OutputError(
            f"The output {Path(path)} ends in {suffix}, which is not an image format Moebius Studio writes.",
            hint=_KNOWN_EXTENSIONS,
        )
    return _available(FORMATS_BY_EXTENSION[suffix])


def _available(name: str) -> str:
    """``name`` when its encoder is available here (HEIF needs pillow-heif, AVIF a Pillow with libavif)."""
    reason = missing_writer(name)
    if reason is not None:
        raise OutputError(f"Cannot write {name} images: {reason}.", hint="Choose another output format.")
    return name


def check_output_path(path: str | os.PathLike[str], *, overwrite: bool = False, format: str | None = None) -> str:
    """Check, before any work is done, that a result can be written to ``path``.

    Probes the folder by creating and removing an empty hidden file, so read-only folders and read-only
    disks are caught even where permission bits say otherwise.

    Args:
        path: the output file.
        overwrite: whether an existing file at ``path`` may be replaced.
        format: explicit output format (see :func:`output_format`).

    Returns:
        The Pillow format name the output will be written in.

    Raises:
        OutputError: unknown format.
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
        OutputNotWritableError: the folder is missing, is not a folder, or does not accept new files.
    """
    target = Path(path)
    # 1. A folder first: its name has no image extension, and saying so would only confuse.
    if target.is_dir():
        raise _folder_error(target)
    # 2. The format: it needs nothing more from the file system.
    name = output_format(target, format)
    # 3. The target itself.
    if target.exists() and not overwrite:
        raise _exists_error(target)
    # 4. Its folder: exists, is a folder, accepts a new file.
    folder = target.parent
    if not folder.is_dir():
        state = "is not a folder" if folder.exists() else "does not exist"
        raise OutputNotWritableError(f"Cannot write {target}: the folder {folder} {state}.")
    probe = _create_temp(target)
    os.close(probe[0])
    os.unlink(probe[1])
    return name


def default_output_path(original: Path) -> Path:
    """Where a result goes unless the user says otherwise: ``NAME_inpainted`` beside the original, in its format
    (``NAME_inpainted.tif`` for a camera RAW file, which is never written)."""
    return original.with_name(f"{original.stem}_inpainted{result_extension(original)}")


def write_image(
    path: str | os.PathLike[str],
    pixels: U8Image,
    *,
    like: Photo | None = None,
    overwrite: bool = False,
    format: str | None = None,
    quality: int | None = None,
    notes: list[str] | None = None,
) -> Path:
    """Write RGB pixels to ``path`` atomically, carrying over what the source photo had.

    When ``like`` has samples of its own (16 bits, gray; see :attr:`Photo.native`) and the format can hold
    them, the file is written at the source's depth and channels: every pixel equal to the source pixel keeps
    its original samples, and changed pixels get the change (see :func:`~core.photo.samples.output_samples`).

    Args:
        path: the output file; its extension decides the format unless ``format`` is given.
        pixels: ``uint8`` (H, W, 3) RGB pixels: the result (or any picture, with ``like=None``).
        like: the photo the pixels came from; its samples and alpha (when the size matches and the format can
            hold them), colour profile, EXIF, XMP, resolution, JPEG tables and subsampling, TIFF compression
            and WebP losslessness are reused. ``None`` writes a plain file.
        overwrite: replace an existing file at ``path``.
        format: explicit output format name, overriding the extension.
        quality: JPEG/WebP quality 1–100, overriding what ``like`` suggests (default
            :data:`~core.photo.compression.DEFAULT_JPEG_QUALITY`); a JPEG is then encoded anew throughout.
        notes: receives a sentence for the user whenever the result is less than a block-for-block or
            page-for-page copy could be (the first of several pages only, a JPEG encoded anew and why).

    Returns:
        The path written.

    Raises:
        OutputError: unknown format.
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
        OutputNotWritableError: the folder is missing or read-only, or the disk is full.
        FramesWouldBeLostError: an animated source would be written back as one frame (see
            :func:`~core.photo.pages.check_write_back`).
        SourceChangedError: a multi-page TIFF's file changed since it was read.
    """
    target = Path(path)
    # 1. Validate everything that can be checked without encoding.
    if target.is_dir():
        raise _folder_error(target)
    name = output_format(target, format)
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"write_image expects uint8 (H, W, 3) pixels, got {pixels.dtype} {pixels.shape}")
    if target.exists() and not overwrite:
        raise _exists_error(target)
    check_write_back(like, name, notes)
    # 2. The samples to write (the source's depth and channels where the format holds them).
    samples, alpha = output_samples(pixels, like, name)
    # 3. Encode into a temporary file in the same folder, then move it into place in one step.
    fd, temp = _create_temp(target)
    try:
        os.close(fd)  # reopened by name, which some encoders (tifffile) want to know
        with open(temp, "wb") as stream:
            encode(stream, name, samples, alpha, like, quality, notes)
            stream.flush()
            os.fsync(stream.fileno())
        _move_into_place(temp, target, overwrite=overwrite)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        if isinstance(error, OSError) and not isinstance(error, FileExistsError):
            raise OutputNotWritableError(f"Could not write {target}: {error.strerror or error}.") from error
        raise
    return target


def _create_temp(target: Path) -> tuple[int, str]:
    """Create a new hidden temporary file next to ``target``; returns ``(descriptor, path)``.

    The file gets the usual permissions (0666 less the umask), so the renamed result looks like any new file.
    """
    for _ in range(16):
        temp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            return os.open(temp, flags, 0o666), str(temp)
        except FileExistsError:
            continue
        except FileNotFoundError as error:
            raise OutputNotWritableError(
                f"Cannot write {target}: the folder {target.parent} does not exist."
            ) from error
        except NotADirectoryError as error:
            raise OutputNotWritableError(f"Cannot write {target}: {target.parent} is not a folder.") from error
        except OSError as error:
            read_only = error.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
            reason = "the folder is read-only" if read_only else (error.strerror or str(error))
            raise OutputNotWritableError(f"Cannot write {target}: {reason}.") from error
    raise OutputNotWritableError(f"Cannot write {target}: could not create a temporary file next to it.")


def _move_into_place(temp: str, target: Path, *, overwrite: bool) -> None:
    """Rename ``temp`` onto ``target``; without ``overwrite`` never replace a file that appeared meanwhile.

    A hard link fails atomically when the target exists; file systems without hard links fall back to a
    check followed by a rename.
    """
    if overwrite:
        os.replace(temp, target)
        return
    try:
        os.link(temp, target)
    except FileExistsError as error:
        raise _exists_error(target) from error
    except OSError:
        if target.exists():
            raise _exists_error(target) from None
        os.replace(temp, target)
        return
    os.unlink(temp)


def _folder_error(target: Path) -> OutputNotWritableError:
    return OutputNotWritableError(
        f"The output {target} is a folder, not a file name.",
        hint=f"Give the result's file name, e.g. {target / 'result.png'}.",
    )


def _exists_error(target: Path) -> OutputExistsError:
    return OutputExistsError(
        f"The output {target} already exists.", hint="Use --overwrite to replace it, or choose another name."
    )
