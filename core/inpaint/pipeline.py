"""The Moebius inference pipeline: VAE encode, guided DDIM denoising, VAE decode, paste-back.

It reproduces the authors' inference procedure step for step (shared/reference/ARCHITECTURE.md §8), so a
512×512 photo with the same seed and weights gives their output image:

1. binarise the mask (white = fill) and build the masked image (hole = 0.0, i.e. mid-grey);
2. encode the image and the masked image into VAE posteriors and sample a latent from each (in that order);
   the posteriors of the last few frames are kept (:mod:`core.inpaint.encode_cache`), so the same frame with
   another seed skips both encodes and gives the same picture a fresh encode would;
3. draw the noise, then the per-channel offset noise, and noise the *unmasked* image latent to the first step;
4. run the DDIM loop with classifier-free guidance (removal ids 0–9 vs foreground ids 10–19);
5. decode, convert to 8 bits by truncation, and optionally paste onto the input through a blurred mask.

Every random draw comes from one ``torch.Generator`` seeded by the request, on the CPU, so a seed gives the
same picture on every device. A progress callback runs after every step and a cancel token is checked before
every step.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import Tensor

from core.common.cancel import CancelToken
from core.common.errors import UnsupportedSizeError
from core.common.progress import ProgressCallback, ProgressEvent
from core.inpaint.encode_cache import DEFAULT_CAPACITY, EncodeCache, FramePosteriors, Posterior, frame_key
from core.inpaint.preview import LatentPreview
from core.inpaint.resident import freed_memory_reused, release_weights, trim_heap
from core.inpaint.schedule import steps_run
from core.job.options import DEFAULT_GUIDANCE, DEFAULT_NOISE_OFFSET, DEFAULT_SEED, DEFAULT_STEPS, DEFAULT_STRENGTH
from core.model.ddim import DDIMScheduler
from core.model.unet import COND_IDS, UNCOND_IDS, MoebiusModel
from core.model.vae import VAE_SCALE_FACTOR

if TYPE_CHECKING:
    from core.model.autoencoder import AutoencoderKL

# Radius of the Gaussian blur that softens the mask for the reference paste-back.
PASTE_BLUR_RADIUS = 3


def make_scheduler() -> DDIMScheduler:
    """The DDIM scheduler with the reference settings (scaled-linear betas, leading spacing, ε prediction)."""
    return DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, steps_offset=0)


@dataclass
class DenoiseTrace:
    """Optional record of the loop's internals (used by the golden tests and for debugging)."""

    unet_inputs: list[Tensor] = field(default_factory=list)
    unet_outputs: list[Tensor] = field(default_factory=list)
    guided: list[Tensor] = field(default_factory=list)
    latents: list[Tensor] = field(default_factory=list)


@dataclass
class PipelineTimings:
    """Seconds per stage of the last frame; ``encode_reused`` says its posteriors came from the cache."""

    encode: float = 0.0
    denoise: float = 0.0
    decode: float = 0.0
    encode_reused: bool = False

    def as_dict(self) -> dict[str, float]:
        return {"encode": self.encode, "denoise": self.denoise, "decode": self.decode}


class MoebiusPipeline:
    """Runs the Moebius model on one square frame.

    Args:
        model: the UNet wrapper (in eval mode).
        vae: the ``AutoencoderKL`` it was trained with.
        scheduler: a DDIM scheduler; ``None`` builds one with the reference settings.
        device: where the model and VAE live.
        dtype: the UNet's floating-point type (float32 reproduces the reference).
        vae_dtype: the VAE's floating-point type; ``None`` means ``dtype``. It may differ because this VAE
            overflows in float16 while the UNet does not.
        split_guidance: default of :meth:`denoise`'s ``split_guidance`` (run the two guidance rows one after
            the other, which needs less memory); ``None`` means on the CPU only, where the two half-size calls
            keep the peak about 130 MB lower at about the speed of one full call (released model).
        release_between_stages: after each stage (encode, denoise, decode) give the resident pages of its
            memory-mapped weights and the freed activations back to the operating system, so the peak is one
            stage's need instead of all three, and keep freed activations for reuse between denoising
            steps instead of faulting them in again on every call (see :mod:`core.inpaint.resident`); ``None`` means
            on the CPU only.
        encode_cache: frames whose VAE posteriors are kept for another seed (see
            :mod:`core.inpaint.encode_cache`); 0 encodes every frame afresh.
    """

    def __init__(
        self,
        model: MoebiusModel,
        vae: AutoencoderKL,
        scheduler: DDIMScheduler | None = None,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        vae_dtype: torch.dtype | None = None,
        split_guidance: bool | None = None,
        release_between_stages: bool | None = None,
        encode_cache: int = DEFAULT_CAPACITY,
    ) -> None:
        # The cache first: setting the VAE, the device or the VAE's number format empties it.
        self.encode_cache = EncodeCache(encode_cache)
        self.model = model
        self.vae = vae
        self.scheduler = scheduler if scheduler is not None else make_scheduler()
        self.device = torch.device(device)
        self.dtype = dtype
        self.vae_dtype = dtype if vae_dtype is None else vae_dtype
        self.split_guidance = self.device.type == "cpu" if split_guidance is None else split_guidance
        self.release_between_stages = (
            self.device.type == "cpu" if release_between_stages is None else release_between_stages
        )
        self.scaling_factor = float(vae.config.scaling_factor)
        self.timings = PipelineTimings()

    @property
    def frame_size(self) -> int:
        """Side in pixels of the only image size the model runs at (512 for the released model)."""
        return self.model.sample_size * VAE_SCALE_FACTOR

    # The kept posteriors belong to one VAE on one device in one number format: changing any of them (a move
    # to the CPU after running out of memory, another VAE) empties the cache at once, which also frees its
    # tensors on the device that is being left.

    @property
    def vae(self) -> AutoencoderKL:
        """The VAE; setting another one forgets the kept posteriors."""
        return self._vae

    @vae.setter
    def vae(self, vae: AutoencoderKL) -> None:
        self._vae = vae
        self.encode_cache.clear()

    @property
    def device(self) -> torch.device:
        """Where the model and the VAE run; setting it forgets the kept posteriors."""
        return self._device

    @device.setter
    def device(self, device: torch.device) -> None:
        self._device = device
        self.encode_cache.clear()

    @property
    def vae_dtype(self) -> torch.dtype:
        """The VAE's number format; setting it forgets the kept posteriors."""
        return self._vae_dtype

    @vae_dtype.setter
    def vae_dtype(self, dtype: torch.dtype) -> None:
        self._vae_dtype = dtype
        self.encode_cache.clear()

    def clear_encode_cache(self) -> None:
        """Forget the kept posteriors (needed only after changing the VAE's weights in place)."""
        self.encode_cache.clear()

    # -- pieces -------------------------------------------------------------------------------------------

    def timesteps(self, steps: int, strength: float) -> Tensor:
        """The timesteps actually run: the schedule for ``steps`` with the first ``1 - strength`` dropped."""
        count = steps_run(steps, strength)  # checks both values
        self.scheduler.set_timesteps(steps)
        start = steps - count
        run: Tensor = self.scheduler.timesteps[start * self.scheduler.order :]
        return run

    def encode(self, pixels: Tensor, generator: torch.Generator) -> Tensor:
        """Sampled VAE latent of ``pixels`` (B, 3, H, W) in [-1, 1], scaled; NaNs become 0."""
        return self.sample(self.posterior(pixels), generator)

    def posterior(self, pixels: Tensor) -> Posterior:
        """The VAE posterior of ``pixels`` (B, 3, H, W) in [-1, 1]: what an encode gives before any draw."""
        posterior = self.vae.encode(pixels.to(self.device, self.vae_dtype)).latent_dist
        return Posterior(posterior.mean, posterior.std)

    def sample(self, posterior: Posterior, generator: torch.Generator) -> Tensor:
        """A latent drawn from ``posterior``, scaled; NaNs become 0.

        Args:
            posterior: from :meth:`posterior`.
            generator: the job's CPU generator (one draw of the latent's shape is taken from it).
        """
        # Draw on the CPU generator so a seed gives the same picture on every device.
        noise = torch.randn(posterior.mean.shape, generator=generator, dtype=torch.float32)
        latents = posterior.mean + posterior.std * noise.to(posterior.mean.device, posterior.mean.dtype)
        return torch.nan_to_num(latents * self.scaling_factor, nan=0.0)

    def frame_posteriors(
        self,
        image: npt.NDArray[np.uint8],
        fill: npt.NDArray[np.bool_],
        pixels: Tensor,
        masked: Tensor,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> FramePosteriors:
        """Both posteriors of a frame, from the cache when this frame was encoded recently.

        Args:
            image: the frame as given (the cache key, with ``fill``).
            fill: its binarised mask.
            pixels: the frame in [-1, 1], (1, 3, S, S).
            masked: the masked frame, same shape.
            progress: receives ``encode`` events 0/2 and 1/2 (the caller reports 2/2).
            cancel: checked before each encode.
        """
        _check(cancel)
        _report(progress, "encode", 0, 2)
        key = frame_key(image, fill)
        kept = self.encode_cache.get(key)
        if kept is not None:
            self.timings.encode_reused = True
            _report(progress, "encode", 1, 2)
            return kept
        first = self.posterior(pixels)
        _check(cancel)
        _report(progress, "encode", 1, 2)
        posteriors = FramePosteriors(first, self.posterior(masked))
        self._release("encoder", "quant_conv")
        self.encode_cache.put(key, posteriors)
        return posteriors

    def decode(self, latents: Tensor) -> Tensor:
        """VAE decode of scaled latents → (B, 3, H, W) in [0, 1] (clamped)."""
        image = self.vae.decode(latents.to(self.vae_dtype) / self.scaling_factor).sample
        pixels: Tensor = (image.float() + 1.0) / 2.0
        return pixels.clamp(0.0, 1.0)

    @staticmethod
    def draw_noise(shape: torch.Size, generator: torch.Generator, noise_offset: float) -> Tensor:
        """Initial noise: a standard normal draw, then (if ``noise_offset``) per-channel offset noise."""
        noise = torch.randn(shape, generator=generator, dtype=torch.float32)
        if noise_offset:
            offset = torch.randn((shape[0], shape[1], 1, 1), generator=generator, dtype=torch.float32)
            noise = noise + noise_offset * offset
        return noise

    def denoise(
        self,
        latents: Tensor,
        masked_latents: Tensor,
        mask_latent: Tensor,
        noise: Tensor,
        *,
        steps: int = DEFAULT_STEPS,
        strength: float = DEFAULT_STRENGTH,
        guidance: float = DEFAULT_GUIDANCE,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        trace: DenoiseTrace | None = None,
        split_guidance: bool | None = None,
        preview: LatentPreview | None = None,
    ) -> Tensor:
        """The guided DDIM loop; returns the final latents (still multiplied by the scaling factor).

        Args:
            latents: scaled latent of the unmasked image (B, 4, s, s).
            masked_latents: scaled latent of the masked image (B, 4, s, s).
            mask_latent: the mask at latent resolution (B, 1, s, s), 1 = fill.
            noise: initial noise (offset already added).
            steps, strength, guidance: schedule length, fraction run, guidance scale.
            progress: called after every step with ``stage="denoise"``.
            cancel: checked before every step.
            trace: when given, receives every step's UNet input/output, guided noise and latents.
            split_guidance: run the unconditional and the conditional rows as two calls of half the batch
                instead of one call (same result, less memory); ``None`` uses the pipeline's default.
            preview: when given (with ``progress``), progress events carry an approximate picture of the
                predicted clean image every so often (see :mod:`core.inpaint.preview`); the result does not change.
        """
        timesteps = self.timesteps(steps, strength)
        batch = latents.shape[0]
        device, dtype = self.device, self.dtype
        # 1. Start from the image latent noised to the first timestep (strength < 1), or from pure noise.
        start = latents.float() if strength < 1.0 else None
        x = self.scheduler.add_noise(start, noise.float(), timesteps[:1]) if start is not None else noise.float()
        # 2. Constant parts of the model input and the ids, built once.
        guided = guidance != 1.0
        split = guided and (self.split_guidance if split_guidance is None else split_guidance)
        copies = 2 if guided else 1
        constant = torch.cat([mask_latent.float(), masked_latents.float()], dim=1).repeat(copies, 1, 1, 1)
        constant = constant.to(device, dtype)
        ids = ([list(UNCOND_IDS)] * batch + [list(COND_IDS)] * batch) if guided else [list(COND_IDS)] * batch
        input_ids = torch.tensor(ids, dtype=torch.long, device=device)
        # 3. Loop: predict noise for both id sets, guide, step.
        total = len(timesteps)
        if progress is not None:
            progress(ProgressEvent("denoise", 0, total))
        # Steps allocate the same sizes in the same order: on the CPU, freed activations are kept for the next
        # step instead of being handed back and faulted in again (see core.inpaint.resident).
        with freed_memory_reused() if self.release_between_stages else contextlib.nullcontext():
            for i, t in enumerate(timesteps):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                model_input = torch.cat([x.to(device, dtype).repeat(copies, 1, 1, 1), constant], dim=1)
                out = self._predict(model_input, t.reshape(1).to(device), input_ids, split, batch)
                if guided:
                    uncond, cond = out.chunk(2)
                    eps = uncond + guidance * (cond - uncond)
                    del uncond, cond
                else:
                    eps = out
                stepped = self.scheduler.step(eps.cpu(), t, x.cpu())
                x = stepped.prev_sample
                if trace is not None:
                    trace.unet_inputs.append(model_input.float().cpu())
                    trace.unet_outputs.append(out.cpu())
                    trace.guided.append(eps.cpu())
                    trace.latents.append(x.clone())
                del model_input, out, eps
                if progress is not None:
                    # No preview after the last step: the real decode follows at once.
                    wanted = preview is not None and i + 1 < total and preview.due()
                    shown = preview(stepped.pred_original_sample) if wanted and preview is not None else None
                    progress(ProgressEvent("denoise", i + 1, total, preview=shown))
        return x

    def _predict(self, model_input: Tensor, t: Tensor, input_ids: Tensor, split: bool, batch: int) -> Tensor:
        """The UNet's noise prediction as float32, in one call or (``split``) one call per guidance half."""
        if not split:
            out: Tensor = self.model(model_input, t, input_ids).float()
            return out
        halves = [self.model(model_input[i : i + batch], t, input_ids[i : i + batch]).float() for i in (0, batch)]
        return torch.cat(halves)

    def _release(self, *parts: str) -> None:
        """Hand the memory of a finished stage back (``"unet"`` or VAE parts such as ``"encoder"``)."""
        if not self.release_between_stages:
            return
        modules = [self.model if part == "unet" else getattr(self.vae, part, None) for part in parts]
        release_weights(*(module for module in modules if isinstance(module, torch.nn.Module)))
        trim_heap()

    # -- the whole call -------------------------------------------------------------------------------------

    def __call__(
        self,
        image: npt.NDArray[np.uint8],
        mask: npt.NDArray[np.uint8],
        *,
        steps: int = DEFAULT_STEPS,
        guidance: float = DEFAULT_GUIDANCE,
        seed: int = DEFAULT_SEED,
        strength: float = DEFAULT_STRENGTH,
        noise_offset: float = DEFAULT_NOISE_OFFSET,
        paste: bool = True,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> npt.NDArray[np.uint8]:
        """Inpaint one frame.

        Args:
            image: RGB ``uint8`` (S, S, 3) with S = :attr:`frame_size`.
            mask: ``uint8`` (S, S); ≥ 127.5 means fill (the reference threshold).
            steps, guidance, seed, strength, noise_offset: see :class:`core.job.request.JobSettings`.
            paste: blend the result onto the input through the mask blurred with radius 3, as the reference
                command line does; ``False`` returns the raw decoded image.
            progress: receives encode/denoise/decode events.
            cancel: checked between stages and before every denoising step.

        Returns:
            RGB ``uint8`` (S, S, 3).
        """
        size = self.frame_size
        if image.shape != (size, size, 3) or mask.shape != (size, size):
            raise UnsupportedSizeError(
                f"The Moebius pipeline runs on {size}×{size} frames; got an image of shape {image.shape} and a "
                f"mask of shape {mask.shape}."
            )
        generator = torch.Generator("cpu").manual_seed(int(seed))
        self.timings = PipelineTimings()
        with torch.inference_mode():
            # 1. Tensors: image in [-1, 1], binary mask, masked image with the hole at 0.0.
            pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255.0 * 2.0 - 1.0
            fill = mask >= 127.5
            binary = torch.from_numpy(fill.astype(np.uint8))[None, None]
            masked = pixels * (1 - binary.float())
            # 2. The posteriors of the image and the masked image (kept ones for a frame encoded recently), then
            #    a latent drawn from each, in the reference order of random draws.
            start = time.perf_counter()
            posteriors = self.frame_posteriors(image, fill, pixels, masked, progress, cancel)
            latents = self.sample(posteriors.image, generator).float().cpu()
            masked_latents = self.sample(posteriors.masked, generator).float().cpu()
            _report(progress, "encode", 2, 2)
            self.timings.encode = time.perf_counter() - start
            # 3. Mask at latent resolution (nearest, on the uint8 mask) and the initial noise.
            mask_latent = F.interpolate(binary, size=latents.shape[-2:]).float()
            noise = self.draw_noise(latents.shape, generator, noise_offset)
            preview = LatentPreview(latents, pixels, image, fill) if progress is not None and fill.any() else None
            # 4. Denoise.
            start = time.perf_counter()
            final = self.denoise(
                latents,
                masked_latents,
                mask_latent,
                noise,
                steps=steps,
                strength=strength,
                guidance=guidance,
                progress=progress,
                cancel=cancel,
                preview=preview,
            )
            self.timings.denoise = time.perf_counter() - start
            self._release("unet")
            # 5. Decode and convert to 8 bits by truncation, as the reference does.
            _check(cancel)
            _report(progress, "decode", 0, 1)
            start = time.perf_counter()
            decoded = self.decode(final.to(self.device))
            result = (decoded[0].permute(1, 2, 0).cpu().numpy() * 255).astype(np.uint8)
            del decoded
            self._release("decoder", "post_quant_conv")
            self.timings.decode = time.perf_counter() - start
            _report(progress, "decode", 1, 1)
        if not paste:
            return result
        return paste_back(result, image, (mask >= 127.5).astype(np.uint8) * 255)


def paste_back(
    result: npt.NDArray[np.uint8], original: npt.NDArray[np.uint8], mask: npt.NDArray[np.uint8]
) -> npt.NDArray[np.uint8]:
    """The reference paste: α = mask blurred with radius 3; ``result·α + original·(1−α)``, truncated to 8 bits."""
    from PIL import Image, ImageFilter

    alpha = np.asarray(Image.fromarray(mask).filter(ImageFilter.GaussianBlur(PASTE_BLUR_RADIUS)), dtype=np.float64)
    alpha = (alpha / 255.0)[..., None]
    blended = (result / 255.0) * alpha + (original / 255.0) * (1.0 - alpha)
    return (blended * 255).astype(np.uint8)


def _check(cancel: CancelToken | None) -> None:
    if cancel is not None:
        cancel.raise_if_cancelled()


def _report(progress: ProgressCallback | None, stage: str, step: int, total: int) -> None:
    if progress is not None:
        progress(ProgressEvent(stage, step, total))


def describe(pipeline: MoebiusPipeline) -> dict[str, Any]:
    """A short description of a loaded pipeline (device, dtype, frame size) for logs and diagnostics."""
    return {
        "device": str(pipeline.device),
        "dtype": str(pipeline.dtype).replace("torch.", ""),
        "frame": pipeline.frame_size,
    }
