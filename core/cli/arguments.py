"""Argument types shared by the commands' parsers, and the job settings a command line runs with.

The job flags (``--steps``, ``--seed``, ``--device``, ``--colour-match/--no-colour-match``, …) are generated from
the declarations in :mod:`core.job.options` by :func:`add_job_options`: the flag, its check, help and metavar are
the declaration's. Their argparse default is "not given" (the attribute is absent), because a command starts
from the saved settings and only the flags given change them (:func:`job_settings`); ``--defaults`` starts from
the built-in defaults instead.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.common.errors import SettingsError
from core.job.options import BATCH, OPTIONS, Choice, Option, Switch
from core.job.settings import JobSettings

if TYPE_CHECKING:
    from backends.device import Request
    from core.common.progress import ProgressCallback
    from core.inpaint.engine import Engine

SAVED_ORIGIN = "the saved settings"
DEFAULTS_ORIGIN = "the built-in defaults"


def job_flag_names(*, batch: bool = False) -> list[str]:
    """The settings that have a command-line flag, in declaration order (batch-only ones with ``batch``)."""
    return [
        option.name
        for option in OPTIONS.values()
        if option.flag is not None and (batch or option.scope != BATCH)
    ]


def _value_type(option: Option[Any]) -> Callable[[str], object]:
    """The argparse ``type`` of a flag: the declaration's parser, its refusal turned into a usage error."""

    def parse(text: str) -> object:
        try:
            return option.parse(text)
        except SettingsError:
            raise argparse.ArgumentTypeError(f"must be {option.accepts()}, got {text!r}") from None

    parse.__name__ = option.name  # argparse names the type in some of its messages
    return parse


def flag_help(option: Option[Any]) -> str:
    """A flag's help: the declaration's sentence, what it accepts, and where its default comes from."""
    accepts = "" if isinstance(option, Choice | Switch) else f"; {option.accepts()}"
    default = option.format(option.default)
    if isinstance(option, Switch):
        default = "on" if option.default else "off"
    return f"{option.help}{accepts} (default: saved setting, else {default})".replace("%", "%%")


def add_job_options(group: argparse._ActionsContainer, names: Iterable[str]) -> None:
    """Add the flags of the named settings to a parser or argument group.

    Args:
        group: where the flags go.
        names: settings of :data:`core.job.options.OPTIONS` that have a flag.
    """
    for name in names:
        option = OPTIONS[name]
        assert option.flag is not None, f"setting {name!r} has no command-line flag"
        common: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": flag_help(option)}
        if isinstance(option, Switch):
            group.add_argument(option.flag, action=argparse.BooleanOptionalAction, **common)
        elif isinstance(option, Choice):
            group.add_argument(option.flag, choices=option.choices, type=str.lower, **common)
        else:
            group.add_argument(option.flag, type=_value_type(option), metavar=option.metavar, **common)


def add_defaults_option(group: argparse._ActionsContainer) -> None:
    """Add ``--defaults``: start from the built-in defaults instead of the saved settings."""
    group.add_argument(
        "--defaults",
        action="store_true",
        help="ignore the saved settings and start from the built-in defaults (for reproducible scripts); "
        "the flags given still apply, and so do MOEBIUS_STUDIO_DEVICE / MOEBIUS_STUDIO_PRECISION",
    )


def given_settings(options: argparse.Namespace) -> dict[str, object]:
    """The settings given as flags on this command line (name to value); flags not given are absent."""
    return {name: getattr(options, name) for name in OPTIONS if hasattr(options, name)}


def starting_settings(options: argparse.Namespace, note: Callable[[str], None]) -> tuple[JobSettings, str]:
    """The settings a command starts from, and where they came from.

    The saved settings (a damaged file or value gives the defaults, and each problem is passed to ``note``),
    or the built-in defaults with ``--defaults``.

    Args:
        options: the parsed command line.
        note: shows a note to the user.
    """
    if getattr(options, "defaults", False):
        return JobSettings(), DEFAULTS_ORIGIN
    from core.job.settings_file import load_settings

    loaded = load_settings()
    for warning in loaded.warnings:
        note(warning)
    return loaded.settings, SAVED_ORIGIN


@dataclass(frozen=True)
class CommandLineJob:
    """What a command line asks a job to run with.

    Args:
        settings: the starting settings with the flags given applied.
        origin: where the starting settings came from (:data:`SAVED_ORIGIN` or :data:`DEFAULTS_ORIGIN`).
        given: the names of the settings given as flags.
    """

    settings: JobSettings
    origin: str
    given: frozenset[str]

    def device_request(self) -> Request:
        """The device and precision asked for, with where each came from: a flag, else the environment, else
        the settings.

        Raises:
            DeviceError: ``MOEBIUS_STUDIO_DEVICE`` or ``MOEBIUS_STUDIO_PRECISION`` names something unknown.
        """
        from core.inpaint.device import resolve

        settings = self.settings
        # A flag that says "auto" has also set the settings' device to auto, so a saved device cannot come
        # back through them; only the environment can still choose then.
        return resolve(
            settings.device if "device" in self.given else None,
            settings.precision if "precision" in self.given else None,
            setting_device=settings.device,
            setting_precision=settings.precision,
            setting_origin=self.origin,
        )


def job_settings(options: argparse.Namespace, note: Callable[[str], None]) -> CommandLineJob:
    """The settings of a command: the saved settings (or ``--defaults``) with the flags given applied.

    Args:
        options: the parsed command line (with :func:`add_job_options`' flags).
        note: shows a note to the user (problems with the saved settings).
    """
    base, origin = starting_settings(options, note)
    given = given_settings(options)
    # Every flag was checked by its declaration while parsing, so this cannot fail.
    return CommandLineJob(base.replace(**given), origin, frozenset(given))


def load_job_engine(
    job: CommandLineJob, engine_name: str, model_dir: str | None, progress: ProgressCallback | None
) -> Engine:
    """Load the engine a command line's job runs on, on the device it asked for.

    Args:
        job: the command's settings.
        engine_name: ``"moebius"`` or ``"classic"`` (already resolved from ``"auto"``).
        model_dir: ``--model``.
        progress: receives the loading events.

    Raises:
        DeviceError: the device asked for is unknown or missing.
        ModelNotInstalledError: the Moebius weights are not installed.
    """
    from core.inpaint.engine import load_engine_for

    return load_engine_for(engine_name, job.settings, job.device_request, model_dir=model_dir, progress=progress)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
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
