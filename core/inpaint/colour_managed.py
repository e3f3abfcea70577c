"""The one place a photo's colour profile is honoured: the model sees sRGB, the photo gets its own colours back.

Every front end (the command line, the batch runner, the app) puts the photo's embedded profile into the
:class:`~core.job.request.InpaintRequest`; the Moebius engine runs its work through :func:`inpaint_in_srgb`, so
no front end converts anything itself. For a photo in another RGB space (ProPhoto, Adobe RGB, Display P3, a
camera profile) the steps are:

1. convert the pixels to sRGB (:mod:`core.photo.colour`, relative colorimetric);
2. run the engine on the sRGB pixels (the mask and settings unchanged);
3. convert the result back into the photo's profile;
4. put the photo's *original* pixels back everywhere the fill did not change anything: outside the mask's fill
   region and where the engine returned its input unchanged. The round trip through sRGB is not exact (and
   clips colours sRGB cannot hold), so only pixels the fill touched may take converted values; every other
   pixel stays bit-identical, as for an sRGB photo.

sRGB-tagged and untagged photos are not converted at all. A profile that cannot be read is not an error: the
engine runs on the pixels as they are and the result carries a note saying so.

The classic engine does not go through here: OpenCV's Telea fill only spreads the values of the pixels around
the hole into it, which gives the same colours in any RGB space, while a round trip through sRGB would only
add rounding and clip the colours of wide-gamut photos.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

import numpy as np

from core.common.cancel import CancelToken
from core.common.progress import ProgressCallback
from core.inpaint.result import InpaintResult
from core.job.request import InpaintRequest
from core.photo.colour import ColourProfileError, srgb_transforms
from core.photo.mask import fill_region


class SrgbInpaint(Protocol):
    """An engine's own inpaint, which expects sRGB pixels."""

    def __call__(
        self, request: InpaintRequest, progress: ProgressCallback | None, cancel: CancelToken | None
    ) -> InpaintResult: ...


def inpaint_in_srgb(
    run: SrgbInpaint,
    request: InpaintRequest,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> InpaintResult:
    """Run ``run`` on the request's pixels in sRGB and return the result in the photo's own profile.

    Args:
        run: the engine's inpaint on sRGB pixels.
        request: the job; ``request.profile`` is the photo's embedded ICC profile (``None``: no conversion).
        progress: passed on to ``run`` (previews arrive in sRGB, which is what screens assume anyway).
        cancel: passed on to ``run``.

    Returns:
        ``run``'s result with its image in the photo's profile, original pixels wherever nothing was filled.
    """
    # 1. Which conversion, if any: none for untagged, gray and sRGB photos; a damaged profile only costs a note.
    try:
        transforms = srgb_transforms(request.profile)
    except ColourProfileError as error:
        result = run(request, progress, cancel)
        note = f"{error.message} The photo was filled without colour conversion, as if it were sRGB."
        return replace(result, warnings=[*result.warnings, note])
    if transforms is None:
        return run(request, progress, cancel)
    # 2. Fill in sRGB.
    source = request.image
    srgb = transforms.convert_to_srgb(source)
    result = run(replace(request, image=srgb, profile=None), progress, cancel)
    # 3. Back into the photo's profile, original pixels wherever the fill changed nothing.
    back = transforms.convert_from_srgb(result.image)
    untouched = ~fill_region(request.mask) | np.all(result.image == srgb, axis=-1)
    back[untouched] = source[untouched]
    return replace(result, image=back)
