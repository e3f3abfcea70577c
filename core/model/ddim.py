"""The deterministic DDIM sampler (η = 0) with the schedule the Moebius model was trained with.

Scaled-linear betas over 1000 training steps, "leading" timestep spacing, ε-prediction, no clipping, and the
final step going all the way to ᾱ = 1. It follows the usual scheduler contract (``set_timesteps``, then
``step`` once per timestep, ``add_noise`` for partial-strength starts) and computes every quantity with the
same float32 operations in the same order as the reference implementation, so its results are bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class DDIMStep:
    """What one :meth:`DDIMScheduler.step` returns.

    Args:
        prev_sample: the latent one step less noisy.
        pred_original_sample: the model's current estimate of the clean latent (used for previews).
    """

    prev_sample: Tensor
    pred_original_sample: Tensor


class DDIMScheduler:
    """DDIM with η = 0 for an ε-predicting model.

    Args:
        num_train_timesteps: length of the training noise schedule.
        beta_start: β of the first training step.
        beta_end: β of the last training step.
        steps_offset: added to every inference timestep ("leading" spacing).
    """

    order = 1  # one model call per step
    init_noise_sigma = 1.0

    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 0.00085,
        beta_end: float = 0.012,
        steps_offset: int = 0,
    ) -> None:
        self.num_train_timesteps = num_train_timesteps
        self.steps_offset = steps_offset
        # Scaled-linear schedule: β interpolated linearly in √β, then squared.
        betas = torch.linspace(beta_start**0.5, beta_end**0.5, num_train_timesteps, dtype=torch.float32) ** 2
        self.alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        self.final_alpha_cumprod = torch.tensor(1.0)
        self.num_inference_steps: int | None = None
        self.timesteps = torch.arange(0, num_train_timesteps).flip(0)

    def set_timesteps(self, num_inference_steps: int) -> None:
        """Use ``num_inference_steps`` evenly spaced timesteps, the largest first ("leading" spacing)."""
        if not 1 <= num_inference_steps <= self.num_train_timesteps:
            raise ValueError(f"steps must be between 1 and {self.num_train_timesteps}, not {num_inference_steps}")
        self.num_inference_steps = num_inference_steps
        ratio = self.num_train_timesteps // num_inference_steps
        self.timesteps = torch.arange(num_inference_steps - 1, -1, -1, dtype=torch.int64) * ratio + self.steps_offset

    def step(self, model_output: Tensor, timestep: int | Tensor, sample: Tensor) -> DDIMStep:
        """Go from ``sample`` at ``timestep`` to the previous timestep given the predicted noise."""
        if self.num_inference_steps is None:
            raise RuntimeError("call set_timesteps before step")
        t = int(timestep)
        previous = t - self.num_train_timesteps // self.num_inference_steps
        # 1. ᾱ at this step and at the next (less noisy) one; past the start of the schedule, ᾱ = 1.
        alpha_prod_t = self.alphas_cumprod[t]
        alpha_prod_prev = self.alphas_cumprod[previous] if previous >= 0 else self.final_alpha_cumprod
        beta_prod_t = 1 - alpha_prod_t
        # 2. The clean latent the noise prediction implies.
        pred_original = (sample - beta_prod_t ** (0.5) * model_output) / alpha_prod_t ** (0.5)
        # 3. Re-noise it to the previous timestep along the predicted noise (η = 0: no fresh noise).
        direction = (1 - alpha_prod_prev) ** (0.5) * model_output
        prev_sample = alpha_prod_prev ** (0.5) * pred_original + direction
        return DDIMStep(prev_sample=prev_sample, pred_original_sample=pred_original)

    def add_noise(self, original: Tensor, noise: Tensor, timesteps: Tensor) -> Tensor:
        """``original`` noised to ``timesteps`` (one per batch row, or one for all)."""
        alphas_cumprod = self.alphas_cumprod.to(device=original.device, dtype=original.dtype)
        timesteps = timesteps.to(original.device)
        shape = (-1,) + (1,) * (original.ndim - 1)
        sqrt_alpha = (alphas_cumprod[timesteps] ** 0.5).flatten().reshape(shape)
        sqrt_one_minus = ((1 - alphas_cumprod[timesteps]) ** 0.5).flatten().reshape(shape)
        noisy: Tensor = sqrt_alpha * original + sqrt_one_minus * noise
        return noisy
