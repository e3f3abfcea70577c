"""Sources with more than one picture: multi-page TIFFs, animated PNGs and WebPs.

Only the first page or frame is filled. What happens to the others depends on what the writer can do:

* **TIFF → TIFF**: every page is written back. The first holds the result; every other page keeps its pixels
  exactly (decoded and encoded again losslessly, with the source's compression where tifffile can write it
  and deflate otherwise), its photometric, alpha, palette, resolution and descriptive tags, profile and XMP.
  A page neither tifffile nor Pillow can decode at full depth is refused by name, never dropped.
* **Animated PNG or WebP → the same format**: refused. Pillow gives every frame already composited onto the
  ones before it, so frames written back would be whole pictures instead of the source's partial updates
  with their blend and disposal rules, later frames would still show what was removed from the first, and
  16-bit APNG frames would lose depth. A result holding only the first frame would look like the animation
  file while silently dropping the rest.
* **Any source → another format** (a TIFF's first page as PNG, an animation's first frame as TIFF): an
  explicit export of the first picture; the caller gets a note saying the others are not in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from core.common.errors import FramesWouldBeLostError, SourceChangedError
from core.photo.metadata import descriptive_tags, profile_for
from core.photo.photo import Photo, Samples

# Tags of an untouched page that are copied as they are (the layout tags are written by tifffile itself):
# document name, description, make, model, page name, page number, software, date, artist, host computer,
# orientation, XMP, copyright, IPTC, Photoshop, ICC profile.
_KEPT_PAGE_TAGS = (269, 270, 271, 272, 285, 297, 305, 306, 315, 316, 274, 700, 33432, 33723, 34377, 34675)
_ASCII = 2
# tifffile's compression names it can write without extra codecs, by TIFF compression code.
_WRITABLE_COMPRESSIONS = {1: None, 8: "zlib", 32946: "zlib", 34925: "lzma"}


def is_multi_page_tiff(like: Photo | None, format_name: str) -> bool:
    """Whether writing ``like``'s result as ``format_name`` means writing all of the source's TIFF pages."""
    return like is not None and like.frame_count > 1 and like.format == "TIFF" and format_name == "TIFF"


def check_write_back(like: Photo | None, format_name: str, notes: list[str] | None = None) -> None:
    """Refuse a result that would silently drop its source's other pages or frames; note an explicit export.

    Args:
        like: the source photo, or ``None``.
        format_name: the output format.
        notes: receives a note when the output holds only the first of several pictures.

    Raises:
        FramesWouldBeLostError: an animated PNG or WebP written back as the same format.
    """
    if like is None or like.frame_count <= 1 or is_multi_page_tiff(like, format_name):
        return
    name = like.path if like.path is not None else "the photo"
    animated = like.format in ("PNG", "WEBP")
    what = (
        f"an animated {like.format} with {like.frame_count} frames"
        if animated
        else (f"a {like.format} with {like.frame_count} pictures")
    )
    if animated and format_name == like.format:
        raise FramesWouldBeLostError(
            f"{name} is {what}; only the first frame is filled, and writing it back as {format_name} would drop "
            f"the other {like.frame_count - 1}, so nothing was written.",
            hint="Save the result in another format (for example TIFF) to keep the filled first frame as a still "
            "picture.",
        )
    if notes is not None:
        notes.append(f"{name} is {what}; the {format_name} result holds only the first, which was filled.")


def write_tiff_pages(stream: BinaryIO, samples: Samples, alpha: Samples | None, like: Photo) -> None:
    """Write a multi-page TIFF: the result as the first page, every other page of ``like``'s file unchanged.

    Args:
        stream: the output, open for writing.
        samples: the result's samples (see :func:`~core.photo.samples.output_samples`).
        alpha: the result's alpha, or ``None``.
        like: the source photo; its file is read again for the other pages.

    Raises:
        SourceChangedError: the source file changed or vanished since it was read.
        FramesWouldBeLostError: a page cannot be decoded at its full depth.
    """
    import tifffile

    source = like.unchanged_source()
    if source is None:
        raise SourceChangedError(
            f"{like.path} changed or vanished after it was read, so its other {like.frame_count - 1} pages cannot "
            "be written with the result; nothing was written.",
            hint="Open the photo again and repeat the fill.",
        )
    with tifffile.TiffFile(source) as tiff:
        pages = list(tiff.pages)
        with tifffile.TiffWriter(stream, bigtiff=tiff.is_bigtiff) as writer:
            # 1. The result, as the first page.
            first = pages[0]
            writer.write(**first_page_arguments(samples, alpha, like, _writable(first)))
            # 2. Every other page, decoded one at a time and written again with its own tags.
            for index, page in enumerate(pages[1:], start=1):
                data = _page_pixels(page, source, index)
                writer.write(data, **_page_arguments(page))


def first_page_arguments(
    samples: Samples, alpha: Samples | None, like: Photo | None, compression: str | None
) -> dict[str, Any]:
    """tifffile ``write`` arguments for a result page: pixels, profile, XMP, resolution and descriptive tags.

    Args:
        samples: gray (H, W), RGB (H, W, 3) or CMYK (H, W, 4) samples.
        alpha: alpha (H, W) of the same type, or ``None`` (never with CMYK).
        like: the source photo, or ``None``.
        compression: tifffile's compression name, or ``None`` for none.
    """
    # 1. Pixels, with alpha as an unassociated extra sample.
    cmyk = samples.ndim == 3 and samples.shape[2] == 4
    data = samples if alpha is None else np.dstack([samples if samples.ndim == 3 else samples[:, :, None], alpha])
    photometric = "separated" if cmyk else "rgb" if samples.ndim == 3 else "minisblack"
    # 2. Metadata as extra tags (code, type, count, value): 7 = undefined bytes, 1 = bytes, "s" = text.
    tags: list[tuple[int, int | str, int, Any, bool]] = []
    profile = profile_for(like, gray=samples.ndim == 2, cmyk=cmyk)
    if profile:
        tags.append((34675, 7, len(profile), profile, True))
    if like is not None and like.xmp:
        tags.append((700, 1, len(like.xmp), like.xmp, True))
    software: str | bool = False
    for tag, value in descriptive_tags(like).items():
        if tag == 305:
            software = value
        else:
            tags.append((tag, "s", 0, value, True))
    resolution = like.dpi if like is not None and like.dpi else None
    return {
        "data": data,
        "photometric": photometric,
        "extrasamples": [2] if alpha is not None else None,
        "compression": compression,
        "resolution": resolution,
        "resolutionunit": 2 if resolution else None,
        "extratags": tags,
        "metadata": None,
        "software": software,
    }


def _writable(page: Any) -> str | None:
    """tifffile's name for ``page``'s compression when it can write it, else deflate (lossless either way)."""
    return _WRITABLE_COMPRESSIONS.get(int(page.compression), "zlib")


def _page_pixels(page: Any, source: Path, index: int) -> Any:
    """An untouched page's pixels at full depth: by tifffile, else by Pillow where Pillow keeps every bit."""
    try:
        return page.asarray()
    except (ValueError, KeyError, NotImplementedError, RuntimeError):
        pass  # a compression tifffile has no codec for without imagecodecs (LZW, JPEG, …)
    from PIL import Image

    with Image.open(source) as image:
        image.seek(index)
        if image.mode in ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I;16B") and image.size == (
            page.imagewidth,
            page.imagelength,
        ):
            image.load()
            data = np.asarray(image)
            return data.astype(np.uint16) if image.mode.startswith("I;16") else data
    raise FramesWouldBeLostError(
        f"Page {index + 1} of {source} uses a coding Moebius Studio cannot read at its full depth, so the pages "
        "cannot all be written back; nothing was written.",
        hint="Save the result in another format, or split the pages first.",
    )


def _page_arguments(page: Any) -> dict[str, Any]:
    """tifffile ``write`` arguments that give an untouched page its own layout and tags again."""
    import tifffile

    # 1. Layout: colour space, alpha, palette, and the page's role (a thumbnail stays a thumbnail).
    arguments: dict[str, Any] = {
        "photometric": int(page.photometric),
        "planarconfig": int(page.planarconfig),
        "extrasamples": tuple(page.extrasamples) or None,
        "compression": _writable(page),
        "subfiletype": int(page.subfiletype),
        "metadata": None,
        "software": False,
    }
    if int(page.photometric) == int(tifffile.PHOTOMETRIC.PALETTE) and page.colormap is not None:
        arguments["colormap"] = page.colormap
    if int(page.predictor) == 2 and arguments["compression"] is not None:
        arguments["predictor"] = 2
    # 2. Resolution and the kept tags, with their own types.
    tags = page.tags
    if 282 in tags and 283 in tags:
        arguments["resolution"] = (tags[282].value, tags[283].value)
        arguments["resolutionunit"] = int(tags[296].value) if 296 in tags else 2
    extra: list[tuple[int, int | str, int, Any, bool]] = []
    for code in _KEPT_PAGE_TAGS:
        if code in tags:
            tag = tags[code]
            if int(tag.dtype) == _ASCII:
                extra.append((code, "s", 0, tag.value, True))
            else:
                extra.append((code, int(tag.dtype), int(tag.count), tag.value, True))
    arguments["extratags"] = extra
    return arguments
