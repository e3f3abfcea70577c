"""Argument types shared by the commands' parsers, and the job settings a command line gives."""

from __future__ import annotations

import argparse

from core.job.settings import JobSettings


def settings_from_options(options: argparse.Namespace, engine_name: str) -> JobSettings:
    """The job settings given on a command line (shared by the single-photo and the batch command)."""
    return JobSettings(
        steps=options.steps,
        guidance=options.guidance,
        seed=options.seed,
        engine=engine_name,
        context_margin=options.context_margin,
        colour_match=not options.no_colour_match,
        colour_match_strength=options.colour_match_strength,
        grain_match=options.grain_match,
    )


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of 0 or more, got {text}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def fraction(text: str) -> float:
    value = non_negative_float(text)
    if value > 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def quality(text: str) -> int:
    value = positive_int(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"must be between 1 and 100, got {value}")
    return value


def pixel_count(text: str) -> int:
    """A pixel count: a whole number, optionally with an M (millions) or G (billions) suffix."""
    factors = {"M": 1_000_000, "G": 1_000_000_000}
    cleaned = text.strip().upper()
    factor = factors.get(cleaned[-1:], 1)
    number = cleaned[:-1] if factor != 1 else cleaned
    try:
        value = round(float(number) * factor) if factor != 1 else int(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a pixel count such as 300M or 300000000, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 pixel, got {text}")
    return value


def seed_or_random(text: str) -> int | None:
    if text.strip().lower() == "random":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'random', got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**63 - 1, got {value}")
    return value
