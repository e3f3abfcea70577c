"""The plain object a job travels in: the photo, the mask and every setting of one inpaint.

The CLI, the GUI editor and the batch runner all build an :class:`InpaintRequest`, hand it to an engine and
receive an :class:`~core.inpaint.result.InpaintResult`; nothing else is needed to run or reproduce a job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.job.settings import JobSettings

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

@dataclass
class InpaintRequest:
    """Everything one inpaint needs.

    Args:
        image: RGB pixels, ``uint8`` array of shape (H, W, 3).
        mask: ``uint8`` array of shape (H, W); each value is the fill's weight there (white = fill, grey = a soft
            edge, see :func:`core.photo.mask.fill_weights`); at least one pixel must be ≥ 128.
        settings: how to run the job (engine, model, device and every knob of the fill).
        profile: the photo's embedded ICC colour profile (:attr:`core.photo.photo.Photo.icc_profile`), or
            ``None``. The Moebius engine fills a photo in another RGB space than sRGB in sRGB and converts
            the fill back (:mod:`core.inpaint.colour_managed`); ``None`` and sRGB profiles change nothing.
    """

    image: npt.NDArray[np.uint8]
    mask: npt.NDArray[np.uint8]
    settings: JobSettings = field(default_factory=JobSettings)
    profile: bytes | None = None
