"""Defaults of the job settings."""

from __future__ import annotations

# Reference defaults of the released model's command line (see shared/reference/ARCHITECTURE.md §8).
DEFAULT_STEPS = 20
DEFAULT_GUIDANCE = 2.5
DEFAULT_STRENGTH = 0.99
DEFAULT_NOISE_OFFSET = 0.0357
DEFAULT_SEED = 0
DEFAULT_CONTEXT_MARGIN = 128  # photo pixels
DEFAULT_REFINE_STRENGTH = 0.6
DEFAULT_VARIANT = "ft_places2"
"""The released Moebius weights a job uses unless the user picks others (scenes: places2 fine-tune)."""
