"""The job settings as one typed, validated object: :class:`JobSettings`.

Each field's default and accepted values come from its declaration in :mod:`core.job.options`; the constructor
checks every value through that declaration, so a ``JobSettings`` that exists is valid. Reading and writing the
settings file is :mod:`core.job.settings_file`'s job (used only by the command line and the GUI), so nothing
below the front ends ever depends on what a user saved.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.common.errors import SettingsError
from core.job.options import (
    COLOUR_MATCH,
    COLOUR_MATCH_STRENGTH,
    CONTEXT_MARGIN,
    DEVICE,
    ENGINE,
    GRAIN_MATCH,
    GUIDANCE,
    MODEL_VARIANT,
    NOISE_OFFSET,
    OPTIONS,
    PRECISION,
    REFINE_STRENGTH,
    SEED,
    SEED_POLICY,
    STEPS,
    STRENGTH,
)

SETTINGS_VERSION = 1
"""Format version written with the settings (``{"version": 1, ...}``)."""


@dataclass(frozen=True)
class JobSettings:
    """How jobs run unless the user says otherwise for one job. Every field is declared in
    :mod:`core.job.options`, which says what it means and accepts; briefly:

    Args:
        engine: ``"auto"`` (Moebius when its weights are installed, else classic), ``"moebius"`` or ``"classic"``.
        model_variant: which released Moebius weights a job prefers (a folder name under the models folder).
        steps: DDIM steps.
        guidance: classifier-free guidance scale.
        seed: seed of every random draw; ``None`` draws a fresh random seed per job.
        seed_policy: how a batch seeds each photo: ``"fixed"``, ``"index"`` or ``"name"``.
        device: one of :data:`backends.device.DEVICES`.
        precision: one of :data:`backends.device.PRECISIONS`.
        context_margin: photo pixels of surroundings given to the model on every side of each mask region.
        colour_match: match colour and exposure of the fill to its surroundings before blending.
        colour_match_strength: how much of that correction is applied, 0..1.
        grain_match: add the photo's grain to fills that come out cleaner than their surroundings.
        strength: fraction of the denoising schedule that is run (expert).
        noise_offset: scale of the per-channel offset noise added to the initial noise (expert).
        refine_strength: strength of the native-resolution tiles that refine a large mask (expert).

    Raises:
        SettingsError: a value is out of range or of the wrong type (the message names the setting).
    """

    engine: str = ENGINE.default
    model_variant: str = MODEL_VARIANT.default
    steps: int = STEPS.default
    guidance: float = GUIDANCE.default
    seed: int | None = SEED.default
    seed_policy: str = SEED_POLICY.default
    device: str = DEVICE.default
    precision: str = PRECISION.default
    context_margin: int = CONTEXT_MARGIN.default
    colour_match: bool = COLOUR_MATCH.default
    colour_match_strength: float = COLOUR_MATCH_STRENGTH.default
    grain_match: bool = GRAIN_MATCH.default
    strength: float = STRENGTH.default
    noise_offset: float = NOISE_OFFSET.default
    refine_strength: float = REFINE_STRENGTH.default

    def __post_init__(self) -> None:
        for name, option in OPTIONS.items():
            # Normalises as it checks (2 -> 2.0 for a number, 96.0 -> 96 for a whole number), so that equality
            # and the file form are stable.
            object.__setattr__(self, name, option.check(getattr(self, name)))

    def replace(self, **changes: object) -> JobSettings:
        """A copy with some values changed (checked like the constructor).

        Raises:
            SettingsError: an unknown name, or a value the setting does not accept.
        """
        unknown = sorted(set(changes) - set(OPTIONS))
        if unknown:
            raise SettingsError(f"Unknown setting {unknown[0]!r}; known settings: {', '.join(OPTIONS)}.")
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        """The file form: the format version and every setting."""
        return {"version": SETTINGS_VERSION, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class LoadedSettings:
    """Settings read from somewhere, with what had to be ignored on the way.

    Args:
        settings: the settings (defaults where nothing usable was found).
        warnings: one sentence per thing that was ignored, for the caller to show.
        given: the names whose value came from the mapping (the others are defaults).
    """

    settings: JobSettings
    warnings: list[str] = field(default_factory=list)
    given: frozenset[str] = frozenset()


def settings_from_dict(data: Mapping[str, object], *, lenient: bool = False) -> LoadedSettings:
    """Build settings from a mapping (a parsed settings file, or values from a front end).

    Unknown keys are ignored with a warning. An invalid value raises :class:`SettingsError`, or, when
    ``lenient``, keeps the default and adds a warning.

    Args:
        data: setting names to values, optionally with the format ``"version"``.
        lenient: keep going past invalid values (reading a file) instead of raising (checking input).
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
        option = OPTIONS.get(key)
        if option is None:
            warnings.append(f"Unknown setting {key!r} ignored.")
            continue
        try:
            values[key] = option.check(value)
        except SettingsError as error:
            if not lenient:
                raise
            warnings.append(f"{error.message} Using the default instead.")
    return LoadedSettings(JobSettings(**values), warnings, frozenset(values))  # type: ignore[arg-type]
