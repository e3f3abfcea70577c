"""The built-in classic engine: OpenCV's inpainting, available without any model weights.

It propagates the colours around the mask into it (Telea's fast marching method by default, or the
Navier–Stokes method). That is convincing for small spots, scratches and thin objects and smeary for large
areas, which is why the Moebius engine is preferred whenever its weights are installed.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from core.cancel import CancelToken
from core.errors import EmptyMaskError
from core.mask import BoolMask, binarize, mask_bbox
from core.request import InpaintRequest, InpaintResult, ProgressCallback, ProgressEvent

METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
"""The OpenCV methods the engine offers, by name."""

MIN_RADIUS = 3
MAX_RADIUS = 15


class ClassicEngine:
    """Fills masks with :func:`cv2.inpaint`; implements :class:`core.engine.Engine`.

    Args:
        method: ``"telea"`` (default) or ``"ns"`` (Navier–Stokes).
    """

    name = "classic"

    def __init__(self, method: str = "telea") -> None:
        if method not in METHODS:
            raise ValueError(
                f"unknown classic inpainting method {method!r}; expected one of {sorted(METHODS)}"
            )
        self.method = method

    def inpaint(
        self,
        request: InpaintRequest,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> InpaintResult:
        """Fill the request's mask; pixels outside it are returned bit-identical.

        Args:
            request: the photo, the mask and settings (the classic engine uses no setting).
            progress: receives ``ProgressEvent("classic", 0, 1)`` before and ``(…, 1, 1)`` after the fill.
            cancel: checked before and after the fill (OpenCV cannot be interrupted in between).

        Raises:
            CancelledError: ``cancel`` was set.
            EmptyMaskError: the mask selects no pixel.
        """
        started = time.perf_counter()
        # 1. Nothing happens once the job is cancelled.
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(ProgressEvent("classic", 0, 1))
        image, mask = request.image, request.mask
        box = mask_bbox(mask)
        if box is None:
            raise EmptyMaskError("The mask is empty: there is nothing to fill.")
        # 2. Work on the mask's bounding box plus the neighbourhood the method reads, not on the whole photo.
        left, top, right, bottom = box
        radius = inpaint_radius(binarize(mask[top:bottom, left:right]))
        margin = 2 * radius + 2
        height, width = mask.shape
        window = (
            slice(max(0, top - margin), min(height, bottom + margin)),
            slice(max(0, left - margin), min(width, right + margin)),
        )
        hole = binarize(mask[window])
        filled = cv2.inpaint(image[window], hole.astype(np.uint8) * 255, radius, METHODS[self.method])
        # 3. Copy only the masked pixels into a copy of the photo.
        result = image.copy()
        result[window][hole] = np.asarray(filled, dtype=np.uint8)[hole]
        if cancel is not None:
            cancel.raise_if_cancelled()
        if progress is not None:
            progress(ProgressEvent("classic", 1, 1))
        return InpaintResult(
            image=result,
            seed=None,
            engine=self.name,
            timings={"model": time.perf_counter() - started},
        )


def inpaint_radius(inside: BoolMask) -> int:
    """The neighbourhood radius for :func:`cv2.inpaint`, following the thickness of the mask.

    Half the largest distance from a masked pixel to the mask's border, kept between :data:`MIN_RADIUS` and
    :data:`MAX_RADIUS`: thin scratches use a small, sharp neighbourhood, broad areas a wider one.

    Args:
        inside: ``bool`` (H, W) array, ``True`` where the photo is to be filled (its bounding box is enough).
    """
    bordered = np.pad(inside, 1).astype(np.uint8)
    deepest = float(cv2.distanceTransform(bordered, cv2.DIST_L2, 3).max())
    return int(np.clip(np.ceil(deepest / 2), MIN_RADIUS, MAX_RADIUS))
