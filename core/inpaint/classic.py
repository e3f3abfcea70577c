"""The built-in classic engine: OpenCV's inpainting, available without any model weights.

It propagates the colours around the mask into it (Telea's fast marching method by default, or the
Navier–Stokes method). That is convincing for small spots, scratches and thin objects and smeary for large
areas, which is why the Moebius engine is preferred whenever its weights are installed.

OpenCV works at any size, so the engine plans native-resolution windows (each mask region plus the
neighbourhood the method reads, see :func:`core.inpaint.plan.plan_regions` with ``frame=None``) and runs them
through the same runner as Moebius, which gives it the same guarantees (only pixels of the fill region change,
and a soft mask edge fades the fill out) and the optional grain matching. :func:`frame_inpainter` offers the
same fill as a stand-in for the model on 512×512 frames, for tests and benchmarks of the region machinery.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from core.common.cancel import CancelToken
from core.common.errors import EmptyMaskError
from core.common.progress import ProgressCallback
from core.inpaint.plan import TILE, Plan
from core.inpaint.result import InpaintResult
from core.job.request import InpaintRequest
from core.photo.mask import FILL_THRESHOLD, BoolMask

if TYPE_CHECKING:
    from core.inpaint.regions import FrameInpainter

METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
"""The OpenCV methods the engine offers, by name."""

MIN_RADIUS = 3
MAX_RADIUS = 15
CONTEXT_MARGIN = 2 * MAX_RADIUS + 2
"""Neighbourhood, in photo pixels, that a window gives the method around a mask region."""


class ClassicEngine:
    """Fills masks with :func:`cv2.inpaint`; implements :class:`core.inpaint.engine.Engine`.

    Args:
        method: ``"telea"`` (default) or ``"ns"`` (Navier–Stokes).
    """

    name = "classic"

    def __init__(self, method: str = "telea") -> None:
        if method not in METHODS:
            raise ValueError(f"unknown classic inpainting method {method!r}; expected one of {sorted(METHODS)}")
        self.method = method

    def inpaint(
        self,
        request: InpaintRequest,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> InpaintResult:
        """Fill the request's mask; pixels outside its fill region are returned bit-identical.

        The fill region (:func:`core.photo.mask.fill_region`) is filled as a whole; a soft mask edge then blends
        the fill with the photo by the mask's weight (:func:`core.photo.mask.fill_weights`).

        Args:
            request: the photo, the mask and settings (of which the classic engine uses ``grain_match`` and the
                seed of the grain).
            progress: receives ``ProgressEvent("window", i, n)`` before each of the ``n`` windows and
                ``(…, n, n)`` at the end.
            cancel: checked before every window (OpenCV cannot be interrupted within one).

        Raises:
            CancelledError: ``cancel`` was set.
            EmptyMaskError: the mask selects no pixel.
        """
        from core.inpaint.plan import plan_regions
        from core.inpaint.regions import BlendOptions, run_plan

        started = time.perf_counter()
        # 1. Nothing happens once the job is cancelled.
        if cancel is not None:
            cancel.raise_if_cancelled()
        image, mask, settings = request.image, request.mask, request.settings
        # 2. Native-resolution windows: each mask region with the neighbourhood the method reads.
        plan = plan_regions(mask, frame=None, context_margin=CONTEXT_MARGIN)
        if not plan.windows:
            raise EmptyMaskError("The mask is empty: there is nothing to fill.")
        planned = time.perf_counter()
        # 3. Fill them. The fill meets the photo continuously at the region's edge, so it needs no feather (a
        #    soft mask still fades it by its weights), and it reproduces the pixels outside the region
        #    exactly, so there is no colour drift to match.
        options = BlendOptions(
            colour_match=False, grain_match=settings.grain_match, feather_px=0.0, seed=settings.seed or 0
        )
        run = run_plan(image, mask, plan, self.fill, options=options, progress=progress, cancel=cancel)
        timings = {"plan": planned - started, **run.timings}
        return InpaintResult(image=run.image, seed=None, engine=self.name, timings=timings, plan=plan)

    def fill(self, image: npt.NDArray[np.uint8], mask: npt.NDArray[np.uint8], index: int = 0) -> npt.NDArray[np.uint8]:
        """Fill the holes of one window with OpenCV (a :data:`core.inpaint.regions.FrameInpainter`).

        Args:
            image: ``uint8`` (h, w, 3) RGB window.
            mask: ``uint8`` (h, w) with 255 (≥ 128) = hole.
            index: the window's index in its plan (unused: the fill is deterministic).

        Returns:
            ``uint8`` (h, w, 3): ``image`` with the holes filled.
        """
        hole = mask >= FILL_THRESHOLD
        if not hole.any():
            return image.copy()
        radius = inpaint_radius(hole)
        filled = cv2.inpaint(np.ascontiguousarray(image), hole.astype(np.uint8) * 255, radius, METHODS[self.method])
        return np.asarray(filled, dtype=np.uint8)


def frame_inpainter(plan: Plan, method: str = "telea") -> FrameInpainter:
    """A fast stand-in for the model on a plan's frames: the classic fill, for tests and benchmarks.

    Windows and reduced-scale passes are filled with OpenCV; native tiles are returned as they come (they
    already hold the reduced-scale pass's fill, which OpenCV cannot refine).

    Args:
        plan: the plan whose windows the stand-in will be called for.
        method: ``"telea"`` or ``"ns"``.
    """
    engine = ClassicEngine(method)

    def inpaint_frame(image: npt.NDArray[np.uint8], mask: npt.NDArray[np.uint8], index: int) -> npt.NDArray[np.uint8]:
        if plan.windows[index].kind == TILE:
            return image.copy()
        return engine.fill(image, mask, index)

    return inpaint_frame


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
