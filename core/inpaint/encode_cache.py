"""The VAE posteriors of the last few frames a pipeline encoded, so that another seed skips the encodes.

A frame is encoded twice, the image and the masked image. The mean and standard deviation of each posterior
depend only on the frame's pixels, its binarised mask and the VAE (its weights, device and number format);
the seed enters only when a latent is sampled from them, ``mean + std × noise``. Keeping the posteriors of
recent frames lets "try another seed" and variations go straight to the noise. The draws then come from the
same generator in the same order (image, masked image, noise, offset noise), so the picture is bit for bit
the one a fresh encode would have given.

A frame's entry is keyed by a hash of its pixels and its binarised mask; the pipeline that owns the cache
empties it whenever its VAE, device or VAE number format changes. One frame's posteriors are four
(1, 4, 64, 64) tensors (256 KiB in float32), so :data:`DEFAULT_CAPACITY` frames cost about 2 MiB.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from torch import Tensor

DEFAULT_CAPACITY = 8
"""Frames kept: enough for every window of a typical photo (several windows, a reduced pass and its tiles)."""


@dataclass(frozen=True)
class Posterior:
    """The moments of one VAE posterior, on the VAE's device and in its number format.

    Args:
        mean: the posterior's mean (B, 4, s, s).
        std: its standard deviation, same shape.
    """

    mean: Tensor
    std: Tensor


@dataclass(frozen=True)
class FramePosteriors:
    """Both posteriors of one frame, in the order their latents are sampled.

    Args:
        image: the posterior of the image.
        masked: the posterior of the masked image (the hole at mid-grey).
    """

    image: Posterior
    masked: Posterior


def frame_key(image: npt.NDArray[np.uint8], fill: npt.NDArray[np.bool_]) -> bytes:
    """What the encodes of a frame depend on, as a 20-byte digest: its pixels and its binarised mask.

    Args:
        image: the frame, ``uint8`` (S, S, 3).
        fill: the binarised mask, ``bool`` (S, S), ``True`` = hole.
    """
    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"{image.shape}|{fill.shape}".encode())
    digest.update(np.ascontiguousarray(image).data)
    digest.update(np.packbits(fill).data)
    return digest.digest()


class EncodeCache:
    """The posteriors of the most recently used frames, at most ``capacity`` of them.

    Args:
        capacity: frames kept; the least recently used is dropped first. 0 keeps nothing.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 0:
            raise ValueError("capacity must be 0 or more")
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[bytes, FramePosteriors] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> FramePosteriors | None:
        """The posteriors stored for ``key`` (marked as just used), or ``None``.

        Args:
            key: a :func:`frame_key`.
        """
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: bytes, posteriors: FramePosteriors) -> None:
        """Keep ``posteriors`` for ``key``, dropping the least recently used frame when full.

        Args:
            key: a :func:`frame_key`.
            posteriors: the frame's two posteriors.
        """
        if self.capacity == 0:
            return
        self._entries[key] = posteriors
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every frame (the tensors are freed once nothing else holds them)."""
        self._entries.clear()
