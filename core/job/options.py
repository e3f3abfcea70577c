"""Every job setting a user can choose, each declared once: name, type, default, accepted values and help.

One :class:`Option` per setting, collected in :data:`OPTIONS` in the order of :class:`~core.job.settings.JobSettings`'
fields. Everything else reads these declarations instead of repeating them:

- :class:`~core.job.settings.JobSettings` takes its field defaults from ``option.default`` and checks every
  value with ``option.check`` (the one validation path; a bad value raises :class:`SettingsError` naming it);
- the command line builds its job flags from ``option.flag``, ``option.parse``, ``option.help`` and
  ``option.metavar`` (:mod:`core.cli.arguments`), and ``moebius-inpaint settings set`` parses with ``option.parse``;
- the GUI's settings panel builds a widget per option with a ``label``, with the option's range, choices and
  help as tooltip.

The expert knobs (``strength``, ``noise_offset``, ``refine_strength``) are declared the same way without a label
or a flag: no widget, no flag, but checked, saved and shown by ``moebius-inpaint settings show`` like the rest.
The ``DEFAULT_*`` names at the end are the declarations' defaults under the names the pipeline and the planner
use; they are bound here, never written out a second time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from backends.device import DEVICES, PRECISIONS
from core.common.errors import SettingsError
from core.job.engines import ENGINE_CHOICES, ENGINES

T = TypeVar("T")

JOB = "job"
BATCH = "batch"
"""Scopes: a ``job`` setting applies to every fill; a ``batch`` setting only to batches (the editor's settings
panel leaves those to the batch window)."""


@dataclass(frozen=True, kw_only=True)
class Option(Generic[T]):
    """One setting, as every front end sees it.

    Args:
        name: the key in :class:`~core.job.settings.JobSettings`, the settings file and ``settings set``.
        default: the built-in value, used when nothing was saved or given.
        help: one sentence (lower case, no final stop) shared by ``--help`` and the GUI's tooltip.
        label: what the GUI's settings panel calls it; ``None``: the panel has no widget for it.
        flag: the command line's flag, e.g. ``"--steps"``; ``None``: no flag (set it with ``settings set``).
        metavar: the placeholder of the flag's value in ``--help``.
        scope: :data:`JOB` or :data:`BATCH`.
    """

    name: str
    default: T
    help: str
    label: str | None = None
    flag: str | None = None
    metavar: str | None = None
    scope: str = JOB

    @property
    def user_facing(self) -> bool:
        """Whether a front end shows it (expert knobs have neither a widget nor a flag)."""
        return self.label is not None or self.flag is not None

    def check(self, value: object) -> T:
        """The value if the setting accepts it (normalised, e.g. ``2`` → ``2.0`` for a number).

        Raises:
            SettingsError: the value is of the wrong type or out of range; the message names the setting.
        """
        raise NotImplementedError

    def parse(self, text: str) -> T:
        """The value a user typed (a flag's argument, ``settings set NAME=TEXT``), checked.

        Raises:
            SettingsError: the text is not an accepted value; the message names the setting.
        """
        raise NotImplementedError

    def accepts(self) -> str:
        """What the setting accepts, as a phrase: ``"a whole number from 1 to 1000"``."""
        raise NotImplementedError

    def format(self, value: T) -> str:
        """A value the way a user would type it (``parse(format(v)) == v``)."""
        return str(value)

    def error(self, value: object) -> SettingsError:
        """The error for a value this setting does not accept."""
        return SettingsError(f"Setting {self.name!r} must be {self.accepts()}; got {value!r}.")


@dataclass(frozen=True, kw_only=True)
class WholeNumber(Option[int]):
    """A whole number in ``minimum..maximum``; ``unit`` (e.g. ``"px"``) is shown after it."""

    minimum: int
    maximum: int
    unit: str = ""

    def check(self, value: object) -> int:
        # Files written by older versions hold some whole numbers as floats (128.0).
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not self.minimum <= value <= self.maximum:
            raise self.error(value)
        return value

    def parse(self, text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise self.error(text) from None
        return self.check(value)

    def accepts(self) -> str:
        return f"a whole number from {self.minimum} to {self.maximum}"


@dataclass(frozen=True, kw_only=True)
class Number(Option[float]):
    """A finite number in ``minimum..maximum``; ``step`` and ``decimals`` tell a spin box how to move and show it."""

    minimum: float
    maximum: float
    step: float = 0.1
    decimals: int = 2

    def check(self, value: object) -> float:
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and self.minimum <= value <= self.maximum
        ):
            return float(value)
        raise self.error(value)

    def parse(self, text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise self.error(text) from None
        return self.check(value)

    def accepts(self) -> str:
        return f"a number from {self.minimum:g} to {self.maximum:g}"

    def format(self, value: float) -> str:
        return f"{value:g}"


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


@dataclass(frozen=True, kw_only=True)
class Switch(Option[bool]):
    """On or off. On the command line ``--flag`` turns it on and ``--no-flag`` off."""

    def check(self, value: object) -> bool:
        if not isinstance(value, bool):
            raise self.error(value)
        return value

    def parse(self, text: str) -> bool:
        word = text.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise self.error(text)

    def accepts(self) -> str:
        return "true or false"

    def format(self, value: bool) -> str:
        return "true" if value else "false"


@dataclass(frozen=True, kw_only=True)
class Choice(Option[str]):
    """One of a few names; ``labels`` are what the GUI shows for each."""

    choices: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)

    def check(self, value: object) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise self.error(value)
        return value

    def parse(self, text: str) -> str:
        return self.check(text.strip().lower())

    def accepts(self) -> str:
        return f"one of {', '.join(self.choices)}"


@dataclass(frozen=True, kw_only=True)
class FolderName(Option[str]):
    """A plain folder name (no separators, no leading dot), such as a model variant."""

    pattern: str = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"

    def check(self, value: object) -> str:
        if not isinstance(value, str) or not re.fullmatch(self.pattern, value):
            raise self.error(value)
        return value

    def parse(self, text: str) -> str:
        return self.check(text.strip())

    def accepts(self) -> str:
        return "a folder name of letters, digits, '_', '-' and '.'"


RANDOM = "random"
"""What a user types (and the settings show) for "a new random seed for every job"."""


@dataclass(frozen=True, kw_only=True)
class Seed(Option[int | None]):
    """A whole number in ``0..maximum``, or ``None`` for a fresh random seed per job (typed as ``random``)."""

    default: int  # a job that says nothing gets a fixed seed, so that the same settings give the same fill
    maximum: int

    def check(self, value: object) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= self.maximum:
            raise self.error(value)
        return value

    def parse(self, text: str) -> int | None:
        word = text.strip().lower()
        if word == RANDOM:
            return None
        try:
            value = int(word)
        except ValueError:
            raise self.error(text) from None
        return self.check(value)

    def accepts(self) -> str:
        return f"a whole number from 0 to {self.maximum}, or {RANDOM!r}"

    def format(self, value: int | None) -> str:
        return RANDOM if value is None else str(value)


# -- the declarations, in JobSettings' field order ---------------------------------------------------------------

ENGINE = Choice(
    name="engine",
    default="auto",
    choices=ENGINE_CHOICES,
    labels={"auto": "Automatic", **{name: info.label for name, info in ENGINES.items()}},
    help="auto: Moebius when its weights are installed, else classic; moebius: the diffusion model (fails if "
    "not installed); classic: the built-in OpenCV fill",
    label="Engine",
    flag="--engine",
)
MODEL_VARIANT = FolderName(
    name="model_variant",
    # The released weights for scenes (the places2 fine-tune); others are used when it is not installed.
    default="ft_places2",
    help="which released Moebius weights a job prefers (a folder under the models folder); --model DIR wins",
    flag="--model-variant",
    metavar="NAME",
)
STEPS = WholeNumber(
    name="steps",
    # Reference default of the released model's command line (shared/reference/ARCHITECTURE.md §8), as are
    # guidance, strength and noise offset.
    default=20,
    minimum=1,
    maximum=1000,
    help="denoising steps of the Moebius model: more take longer and can add detail",
    label="Steps",
    flag="--steps",
    metavar="N",
)
GUIDANCE = Number(
    name="guidance",
    default=2.5,
    minimum=0.0,
    maximum=30.0,
    step=0.5,
    help="how strongly the Moebius fill follows the model's guidance; 1 turns guidance off",
    label="Guidance",
    flag="--guidance",
    metavar="G",
)
SEED = Seed(
    name="seed",
    default=0,
    maximum=2**63 - 1,
    help="seed of every random draw: the same seed, settings and weights give the same fill; "
    "random draws a new one per job",
    label="Seed",
    flag="--seed",
    metavar="S",
)
SEED_POLICY = Choice(
    name="seed_policy",
    default="fixed",
    choices=("fixed", "index", "name"),
    labels={
        "fixed": "Same seed for every photo",
        "index": "Seed + photo number",
        "name": "Seed from the file name",
    },
    help="how a batch seeds each photo: fixed gives every photo the seed; index the seed plus the photo's "
    "position; name the seed plus a hash of the file name (stable when photos are added)",
    label="Seeds",
    flag="--seed-policy",
    scope=BATCH,
)
DEVICE = Choice(
    name="device",
    default="auto",
    choices=DEVICES,
    labels={
        "auto": "Automatic",
        "cuda": "NVIDIA GPU (CUDA)",
        "rocm": "AMD GPU (ROCm)",
        "mps": "Apple GPU (MPS)",
        "coreml": "Apple Neural Engine (Core ML)",
        "cpu": "CPU",
    },
    help="where the model runs; auto takes a CUDA/ROCm GPU, then Core ML, then MPS, then the CPU; "
    "MOEBIUS_STUDIO_DEVICE overrides a saved choice",
    label="Device",
    flag="--device",
)
PRECISION = Choice(
    name="precision",
    default="auto",
    choices=PRECISIONS,
    labels={
        "auto": "Automatic",
        "exact": "Exact (float32 everywhere)",
        "float32": "float32",
        "float16": "float16 (GPUs)",
        "bfloat16": "bfloat16",
        "int8": "Fast (int8, CPU)",
    },
    help="number format of the model: auto (float16 on GPUs, bfloat16 on CPUs that have it natively), exact "
    "(float32 everywhere, reproduces the reference), float32, float16, bfloat16, or int8: a fast mode for CPUs "
    "without bfloat16 that computes the UNet's matrix products in int8, trading small deviations from the "
    "exact picture for speed (CPU only; on a GPU it uses the GPU's float16); "
    "MOEBIUS_STUDIO_PRECISION overrides a saved choice",
    label="Precision",
    flag="--precision",
)
CONTEXT_MARGIN = WholeNumber(
    name="context_margin",
    default=128,
    minimum=0,
    maximum=4096,
    unit="px",
    help="photo pixels of surroundings the model sees around each mask region",
    label="Context",
    flag="--context-margin",
    metavar="PX",
)
COLOUR_MATCH = Switch(
    name="colour_match",
    default=True,
    help="match the fill's colour and exposure to the photo around the mask (off keeps the model's raw colours)",
    label="Match colour and exposure",
    flag="--colour-match",
)
COLOUR_MATCH_STRENGTH = Number(
    name="colour_match_strength",
    default=1.0,
    minimum=0.0,
    maximum=1.0,
    help="how much of the colour and exposure correction is applied: 1 matches fully, lower keeps more of the "
    "model's own colours",
    label="Colour strength",
    flag="--colour-match-strength",
    metavar="S",
)
GRAIN_MATCH = Switch(
    name="grain_match",
    default=False,
    help="add the photo's grain to fills that come out cleaner than the photo around them",
    label="Match grain",
    flag="--grain-match",
)
STRENGTH = Number(
    name="strength",
    default=0.99,
    minimum=0.0,
    maximum=1.0,
    help="fraction of the denoising schedule that is run (expert; the reference uses 0.99)",
)
NOISE_OFFSET = Number(
    name="noise_offset",
    default=0.0357,
    minimum=0.0,
    maximum=1.0,
    decimals=4,
    help="scale of the per-channel offset noise added to the initial noise (expert)",
)
REFINE_STRENGTH = Number(
    name="refine_strength",
    default=0.6,
    minimum=0.0,
    maximum=1.0,
    help="strength of the native-resolution tiles that refine a large mask after its reduced-scale pass "
    "(expert; lower keeps more of that pass's structure)",
)

VARIATIONS = WholeNumber(
    name="variations",
    # Three to choose from, as photo editors' generative fills offer.
    default=3,
    minimum=1,
    maximum=8,
    help="how many results one click of Variations makes, each with a newly drawn seed",
    label="Variations",
)
"""Not in :data:`OPTIONS`: no job in core reads it (the app runs one inpaint per variation), so it is not a
:class:`~core.job.settings.JobSettings` field; the app builds its widget from this declaration and keeps the
value with the window's state."""

OPTIONS: dict[str, Option[Any]] = {
    option.name: option
    for option in (
        ENGINE,
        MODEL_VARIANT,
        STEPS,
        GUIDANCE,
        SEED,
        SEED_POLICY,
        DEVICE,
        PRECISION,
        CONTEXT_MARGIN,
        COLOUR_MATCH,
        COLOUR_MATCH_STRENGTH,
        GRAIN_MATCH,
        STRENGTH,
        NOISE_OFFSET,
        REFINE_STRENGTH,
    )
}
"""Every setting by name, in :class:`~core.job.settings.JobSettings`' field order."""

# The defaults under the names the pipeline, the planner and the weights registry use.
DEFAULT_STEPS = STEPS.default
DEFAULT_SEED = SEED.default
DEFAULT_GUIDANCE = GUIDANCE.default
DEFAULT_STRENGTH = STRENGTH.default
DEFAULT_NOISE_OFFSET = NOISE_OFFSET.default
DEFAULT_CONTEXT_MARGIN = CONTEXT_MARGIN.default
DEFAULT_REFINE_STRENGTH = REFINE_STRENGTH.default
DEFAULT_VARIANT = MODEL_VARIANT.default
"""The released Moebius weights a job uses unless the user picks others (scenes: places2 fine-tune)."""
