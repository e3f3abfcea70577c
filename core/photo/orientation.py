"""EXIF orientation: turning pixels between the layout a camera stored them in and the upright picture.

A camera writes the pixels as the sensor saw them and records in EXIF (tag 274, values 1–8) how to turn them
upright. Readers turn photos upright with :func:`to_upright`; code that needs the sensor's own layout (sensor
dust sits at one place on the sensor whichever way the camera was held) turns them back with :func:`to_stored`.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

ArrayT = TypeVar("ArrayT", bound=npt.NDArray[Any])

# The inverse of each orientation's turn: flips and transposes undo themselves, the two quarter turns undo each
# other.
_INVERSE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


def to_upright(array: ArrayT, orientation: int) -> ArrayT:
    """Turn ``array`` ((H, W) or (H, W, C), in the stored layout) upright for EXIF ``orientation`` (1–8).

    Orientation 1 and unknown values return ``array`` itself; every turn returns a contiguous copy.
    """
    if orientation == 2:
        turned = array[:, ::-1]
    elif orientation == 3:
        turned = array[::-1, ::-1]
    elif orientation == 4:
        turned = array[::-1, :]
    elif orientation == 5:
        turned = np.swapaxes(array, 0, 1)
    elif orientation == 6:
        turned = np.rot90(array, -1)
    elif orientation == 7:
        turned = np.swapaxes(array[::-1, ::-1], 0, 1)
    elif orientation == 8:
        turned = np.rot90(array, 1)
    else:
        return array
    return np.ascontiguousarray(turned)  # type: ignore[return-value]


def to_stored(array: ArrayT, orientation: int) -> ArrayT:
    """Turn an upright ``array`` back into the layout the camera stored (undo EXIF ``orientation``)."""
    return to_upright(array, _INVERSE.get(orientation, 1))
