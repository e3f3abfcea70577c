"""A cheap look at the fill while the model denoises: a linear latent → RGB map instead of the VAE decoder.

Decoding a latent properly costs seconds (the VAE decoder is the most expensive part of a job on a CPU), so
the live preview uses a per-pixel linear map from the four latent channels to RGB. The map is not a fixed
table: it is fitted, by least squares, on the frame's own image latent and the frame's pixels reduced to
latent resolution. That makes it right for whatever VAE the model was loaded with (the released one or a
test model), and good enough to show shapes and colours arriving at 1/8 of the resolution.
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import Tensor

# At most one preview per this many seconds: on a GPU a step takes milliseconds, and a preview per step
# would flood the window with repaints nobody can see.
PREVIEW_INTERVAL_S = 0.25


class LatentPreview:
    """Turns a predicted clean latent into an approximate RGB frame.

    Args:
        latents: the scaled image latent of the frame, (1, 4, s, s).
        pixels: the frame in [-1, 1], (1, 3, S, S) with S = 8·s.
        frame_image: the frame as ``uint8`` (S, S, 3); shown unchanged outside the mask.
        fill: the frame's fill mask as booleans (S, S).
        interval: minimum seconds between two previews (see :meth:`due`).
    """

    def __init__(
        self,
        latents: Tensor,
        pixels: Tensor,
        frame_image: npt.NDArray[np.uint8],
        fill: npt.NDArray[np.bool_],
        interval: float = PREVIEW_INTERVAL_S,
    ) -> None:
        self.size = int(pixels.shape[-1])
        self.frame_image = frame_image
        self.fill = fill
        self.interval = interval
        self._last = float("-inf")
        # 1. Targets: the frame's pixels averaged over each latent cell; inputs: the latent with a bias column.
        side = (int(latents.shape[-2]), int(latents.shape[-1]))
        cells = F.adaptive_avg_pool2d(pixels.float().cpu(), side)[0].reshape(3, -1).T
        inputs = latents.float().cpu()[0].reshape(latents.shape[1], -1).T
        inputs = torch.cat([inputs, torch.ones(inputs.shape[0], 1)], dim=1)
        # 2. Least squares, with a little ridge so that a flat photo (rank-deficient inputs) still gives a map.
        gram = inputs.T @ inputs + 1e-3 * torch.eye(inputs.shape[1])
        self.weights: Tensor = torch.linalg.solve(gram, inputs.T @ cells)

    def due(self) -> bool:
        """Whether enough time passed since the last preview for another one."""
        return time.monotonic() - self._last >= self.interval

    def __call__(self, predicted: Tensor) -> npt.NDArray[np.uint8]:
        """RGB ``uint8`` (S, S, 3): the frame with the approximate decode of ``predicted`` inside the mask."""
        self._last = time.monotonic()
        latent = predicted.float().cpu()[:1]
        channels, side = latent.shape[1], latent.shape[-1]
        flat = latent[0].reshape(channels, -1).T
        rgb = torch.cat([flat, torch.ones(flat.shape[0], 1)], dim=1) @ self.weights  # (s·s, 3) in [-1, 1]
        small = rgb.T.reshape(1, 3, side, side)
        large = F.interpolate(small, size=(self.size, self.size), mode="bilinear", align_corners=False)
        approx = ((large[0].permute(1, 2, 0) + 1.0) * 127.5).clamp(0, 255).round().to(torch.uint8).numpy()
        preview = self.frame_image.copy()
        preview[self.fill] = approx[self.fill]
        return preview
