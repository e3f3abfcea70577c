"""Job settings shared by the command line and the GUI, stored as a small versioned JSON file.

The file lives at :func:`core.common.paths.settings_file` and looks like ``{"version": 1, "steps": 20, ...}``.
Reading it never fails: a missing or corrupt file gives the defaults, an unknown key or an invalid value is
dropped, and every such event comes back as a warning for the caller to show. Values set from code or the
command line are checked strictly and raise :class:`core.common.errors.SettingsError`. Saving writes a temporary
file next to the target and renames it over, so a crash never leaves half a file behind.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from backends.device import DEVICES, PRECISIONS
from core.common import paths
from core.common.errors import SettingsError
from core.job.engines import ENGINES
from core.job.options import (
    DEFAULT_CONTEXT_MARGIN,
    DEFAULT_GUIDANCE,
    DEFAULT_NOISE_OFFSET,
    DEFAULT_REFINE_STRENGTH,
    DEFAULT_SEED,
    DEFAULT_STEPS,
    DEFAULT_STRENGTH,
    DEFAULT_VARIANT,
)

SETTINGS_VERSION = 1
ENGINE_CHOICES = ("auto", *ENGINES)
MAX_SEED = 2**64 - 1
_VARIANT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise SettingsError(f"Setting {name!r} must be one of {', '.join(choices)}; got {value!r}.")
    return value


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettingsError(f"Setting {name!r} must be a whole number from {low} to {high}; got {value!r}.")
    return value


def _check_float(name: str, value: object, low: float, high: float) -> float:
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value <= high
    ):
        return float(value)
    raise SettingsError(f"Setting {name!r} must be a number from {low:g} to {high:g}; got {value!r}.")


def _check_engine(value: object) -> str:
    return _check_choice("engine", value, ENGINE_CHOICES)


def _check_model_variant(value: object) -> str:
    if not isinstance(value, str) or not _VARIANT_PATTERN.fullmatch(value):
        raise SettingsError(
            "Setting 'model_variant' must be a model folder name (letters, digits, '_', '-', '.'); "
            f"got {value!r}."
        )
    return value


def _check_steps(value: object) -> int:
    return _check_int("steps", value, 1, 1000)


def _check_guidance(value: object) -> float:
    return _check_float("guidance", value, 0.0, 30.0)


def _check_seed(value: object) -> int | None:
    return None if value is None else _check_int("seed", value, 0, MAX_SEED)


def _check_device(value: object) -> str:
    return _check_choice("device", value, DEVICES)


def _check_precision(value: object) -> str:
    return _check_choice("precision", value, PRECISIONS)


def _check_context_margin(value: object) -> int:
    # Whole pixels; files written by older versions hold it as a float (128.0).
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _check_int("context_margin", value, 0, 4096)


def _check_strength(value: object) -> float:
    return _check_float("strength", value, 0.0, 1.0)


def _check_noise_offset(value: object) -> float:
    return _check_float("noise_offset", value, 0.0, 1.0)


def _check_refine_strength(value: object) -> float:
    return _check_float("refine_strength", value, 0.0, 1.0)


def _check_colour_match_strength(value: object) -> float:
    return _check_float("colour_match_strength", value, 0.0, 1.0)


def _check_grain_match(value: object) -> bool:
    if not isinstance(value, bool):
        raise SettingsError(f"Setting 'grain_match' must be true or false; got {value!r}.")
    return value


def _check_colour_match(value: object) -> bool:
    if not isinstance(value, bool):
        raise SettingsError(f"Setting 'colour_match' must be true or false; got {value!r}.")
    return value


_CHECKS: dict[str, Callable[[object], object]] = {
    "engine": _check_engine,
    "model_variant": _check_model_variant,
    "steps": _check_steps,
    "guidance": _check_guidance,
    "seed": _check_seed,
    "device": _check_device,
    "precision": _check_precision,
    "context_margin": _check_context_margin,
    "colour_match": _check_colour_match,
    "colour_match_strength": _check_colour_match_strength,
    "grain_match": _check_grain_match,
    "strength": _check_strength,
    "noise_offset": _check_noise_offset,
    "refine_strength": _check_refine_strength,
}


@dataclass(frozen=True)
class JobSettings:
    """How jobs run unless the user says otherwise for one job.

    Args:
        engine: ``"auto"`` (Moebius when its weights are installed, else classic), ``"moebius"`` or
            ``"classic"``.
        model_variant: which released Moebius weights to use (a folder name under the models folder).
        steps: DDIM steps (reference default 20).
        guidance: classifier-free guidance scale (reference default 2.5).
        seed: seed of every random draw; ``None`` draws a fresh random seed per job.
        device: ``"auto"``, ``"cuda"``, ``"mps"`` or ``"cpu"``.
        precision: ``"auto"``, ``"exact"`` (float32), ``"float32"``, ``"float16"`` or ``"bfloat16"``.
        context_margin: photo pixels of surroundings given to the model on every side of each mask region
            (see :mod:`core.inpaint.plan`).
        colour_match: match colour and exposure of the fill to its surroundings before blending.
        colour_match_strength: how much of that correction is applied, 0..1.
        grain_match: add the photo's grain to fills that come out cleaner than their surroundings.
        strength: fraction of the denoising schedule that is run (the reference uses 0.99).
        noise_offset: scale of the per-channel offset noise added to the initial noise.
        refine_strength: strength of the native-resolution tiles that refine a large mask after its
            reduced-scale pass (lower keeps more of that pass's structure).

    Raises:
        SettingsError: a value is out of range or of the wrong type.
    """

    engine: str = "auto"
    model_variant: str = DEFAULT_VARIANT
    steps: int = DEFAULT_STEPS
    guidance: float = DEFAULT_GUIDANCE
    seed: int | None = DEFAULT_SEED
    device: str = "auto"
    precision: str = "auto"
    context_margin: int = DEFAULT_CONTEXT_MARGIN
    colour_match: bool = True
    colour_match_strength: float = 1.0
    grain_match: bool = False
    strength: float = DEFAULT_STRENGTH
    noise_offset: float = DEFAULT_NOISE_OFFSET
    refine_strength: float = DEFAULT_REFINE_STRENGTH

    def __post_init__(self) -> None:
        for name, check in _CHECKS.items():
            # Normalises ints given for float fields (2 -> 2.0) so that equality and JSON are stable.
            object.__setattr__(self, name, check(getattr(self, name)))

    def replace(self, **changes: object) -> JobSettings:
        """A copy with some values changed (checked like the constructor)."""
        unknown = sorted(set(changes) - set(_CHECKS))
        if unknown:
            raise SettingsError(f"Unknown setting {unknown[0]!r}; known settings: {', '.join(_CHECKS)}.")
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        """The file form: every setting plus the format version."""
        return {"version": SETTINGS_VERSION, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class LoadedSettings:
    """Settings read from somewhere, with what had to be ignored on the way."""

    settings: JobSettings
    warnings: list[str] = field(default_factory=list)


def settings_from_dict(data: Mapping[str, object], *, lenient: bool = False) -> LoadedSettings:
    """Build settings from a mapping (a parsed settings file, or values from a front end).

    Unknown keys are ignored with a warning. An invalid value raises :class:`SettingsError`, or, when
    ``lenient``, keeps the default and adds a warning.
    """
    warnings: list[str] = []
    version = data.get("version", SETTINGS_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        message = f"Settings 'version' must be a positive whole number; got {version!r}."
        if not lenient:
            raise SettingsError(message)
        warnings.append(message + " Reading the values anyway.")
    elif version > SETTINGS_VERSION:
        warnings.append(
            f"The settings were written by a newer Moebius Studio (format {version}, this one reads "
            f"{SETTINGS_VERSION}); settings it does not know are ignored."
        )

    values: dict[str, object] = {}
    for key, value in data.items():
        if key == "version":
            continue
        check = _CHECKS.get(key)
        if check is None:
            warnings.append(f"Unknown setting {key!r} ignored.")
            continue
        try:
            values[key] = check(value)
        except SettingsError as error:
            if not lenient:
                raise
            warnings.append(f"{error.message} Using the default instead.")
    return LoadedSettings(JobSettings(**values), warnings)  # type: ignore[arg-type]


def load_settings(path: Path | None = None) -> LoadedSettings:
    """Read the settings file (default: :func:`core.common.paths.settings_file`). Never raises.

    A missing file gives the defaults silently; an unreadable or corrupt one gives the defaults and a
    warning; unknown keys and invalid values are dropped with a warning each.
    """
    path = paths.settings_file() if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return LoadedSettings(JobSettings())
    except (OSError, UnicodeDecodeError) as error:
        problem = f"cannot be read ({error})"
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            problem = f"is corrupt ({error})"
        else:
            if isinstance(data, dict):
                return settings_from_dict(data, lenient=True)
            problem = "does not hold a JSON object"
    return LoadedSettings(JobSettings(), [f"The settings file {path} {problem}. Using the defaults."])


def save_settings(settings: JobSettings, path: Path | None = None) -> Path:
    """Write the settings atomically and return the file's path.

    Raises:
        SettingsError: the file or its folder cannot be written.
    """
    if path is None:
        path = paths.settings_file(ensure_dir=True)
    text = json.dumps(settings.to_dict(), indent=2, sort_keys=False) + "\n"
    temp_name: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
        ) as handle:
            temp_name = handle.name
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
        temp_name = None
    except OSError as error:
        raise SettingsError(
            f"Could not save the settings to {path}: {error.strerror or error}.",
            hint="Check that the folder exists and is writable.",
        ) from error
    finally:
        if temp_name is not None:
            Path(temp_name).unlink(missing_ok=True)
    return path
