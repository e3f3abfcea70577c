"""``moebius-inpaint settings``: show, change and reset the saved job settings the command line and the app share.

``show`` (the default) lists every setting with its value and where that value comes from; ``path`` prints
where the file is; ``set NAME=VALUE …`` checks every value against its declaration before saving any;
``reset [NAME …]`` puts settings (all of them: the file is removed) back to the built-in defaults.

Exit status: 0 done, 1 the file could not be written, 2 bad input (an unknown setting, a value it does not take).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from backends.device import DEVICE_ENV, PRECISION_ENV
from core.cli.reporting import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, PROG, parse_arguments
from core.common.errors import SettingsError
from core.job.options import OPTIONS, Option
from core.job.settings import JobSettings, LoadedSettings
from core.job.settings_file import load_settings, remove_settings, save_settings, settings_path

LABEL = f"{PROG} settings"

_ENVIRONMENT = {"device": DEVICE_ENV, "precision": PRECISION_ENV}
"""Settings an environment variable overrides (for jobs), so ``show`` can say so."""

_EPILOG = f"""\
examples:
  {PROG} settings                       # every setting, its value and where it comes from
  {PROG} settings set steps=30 seed=random device=cpu
  {PROG} settings set colour_match=false
  {PROG} settings reset steps           # one setting back to its default
  {PROG} settings reset                 # all of them (removes the file)

The same file holds what the app's Settings panel shows. A job on the command line
starts from it; a flag changes a setting for that run only, and --defaults ignores
the file. Settings without a flag (strength, noise_offset, refine_strength) are
expert knobs of the Moebius model, changed only here.

exit status:
  0 done, 1 the settings file could not be written, 2 bad input."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``moebius-inpaint settings``."""
    parser = argparse.ArgumentParser(
        prog=LABEL,
        description="Show, change or reset the job settings saved for the command line and the app.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    show = actions.add_parser("show", help="every setting with its value and where it comes from (the default)")
    show.add_argument("--json", action="store_true", help="print the settings as JSON")
    actions.add_parser("path", help="print where the settings file is")
    change = actions.add_parser("set", help="change settings: NAME=VALUE, each checked before anything is saved")
    change.add_argument("assignments", nargs="+", metavar="NAME=VALUE", help=f"settings: {', '.join(OPTIONS)}")
    reset = actions.add_parser("reset", help="put the named settings (default: all) back to the built-in defaults")
    reset.add_argument("names", nargs="*", metavar="NAME", help="settings to reset (default: all)")
    return parser


def main(args: list[str]) -> int:
    """``moebius-inpaint settings ARGS…``; returns the exit status (see the module's documentation).

    Args:
        args: command-line arguments after the word ``settings``.
    """
    options = parse_arguments(build_parser(), args)
    if isinstance(options, int):
        return options
    if options.action == "path":
        print(settings_path())
        return EXIT_OK
    loaded = load_settings()
    for warning in loaded.warnings:
        _note(warning)
    if options.action == "set":
        return _set(loaded.settings, options.assignments)
    if options.action == "reset":
        return _reset(loaded.settings, options.names)
    _show(loaded, as_json=bool(getattr(options, "json", False)))
    return EXIT_OK


def describe(loaded: LoadedSettings) -> list[dict[str, object]]:
    """Every setting with its value, as the user types it, and where the value comes from.

    Args:
        loaded: what was read from the settings file.

    Returns:
        One dict per setting: ``name``, ``value`` (as in the file: ``None`` for a random seed), ``text`` (as a
        user types it: ``"random"``), ``source`` (``"saved"`` or ``"default"``), ``flag`` (``None`` for the
        expert settings) and, where an environment variable overrides the value for jobs, ``overridden_by``.
    """
    rows: list[dict[str, object]] = []
    for name, option in OPTIONS.items():
        value = getattr(loaded.settings, name)
        row: dict[str, object] = {
            "name": name,
            "value": value,
            "text": option.format(value),
            "source": "saved" if name in loaded.given else "default",
            "flag": option.flag,
        }
        variable = _ENVIRONMENT.get(name)
        if variable is not None and os.environ.get(variable, "").strip():
            row["overridden_by"] = f"{variable}={os.environ[variable].strip()}"
        rows.append(row)
    return rows


def _show(loaded: LoadedSettings, *, as_json: bool) -> None:
    rows = describe(loaded)
    path = settings_path()
    if as_json:
        print(json.dumps({"file": str(path), "exists": path.is_file(), "settings": rows}, indent=1))
        return
    print(f"Settings file: {path}" + ("" if path.is_file() else " (none yet: every setting is its default)"))
    width = max(len(name) for name in OPTIONS)
    value_width = max(len(str(row["text"])) for row in rows)
    for row in rows:
        source = "saved setting" if row["source"] == "saved" else "built-in default"
        if row["flag"] is None:
            source += ", expert: no flag"
        if "overridden_by" in row:
            source += f"; jobs use {row['overridden_by']}"
        print(f"  {row['name']:<{width}}  {row['text']!s:<{value_width}}  ({source})")


def _option(name: str) -> Option[Any]:
    """The declaration of a setting named on the command line (``context-margin`` works too)."""
    option = OPTIONS.get(name.strip().lower().replace("-", "_"))
    if option is None:
        raise SettingsError(f"There is no setting {name!r}; the settings are: {', '.join(OPTIONS)}.")
    return option


def _set(current: JobSettings, assignments: list[str]) -> int:
    # 1. Check every value before saving any, so a typo changes nothing.
    changes: dict[str, object] = {}
    try:
        for assignment in assignments:
            name, equals, text = assignment.partition("=")
            if not equals:
                raise SettingsError(f"Expected NAME=VALUE, got {assignment!r} (e.g. steps=30).")
            option = _option(name)
            changes[option.name] = option.parse(text)
        updated = current.replace(**changes)
    except SettingsError as error:
        _error(error.user_message())
        return EXIT_BAD_INPUT
    # 2. Save them all in one step.
    try:
        path = save_settings(updated)
    except SettingsError as error:
        _error(error.user_message())
        return EXIT_FAILED
    for name in changes:
        option = OPTIONS[name]
        before, after = option.format(getattr(current, name)), option.format(getattr(updated, name))
        print(f"{name} = {after}" + ("" if before == after else f" (was {before})"))
    print(f"Saved to {path}")
    return EXIT_OK


def _reset(current: JobSettings, names: list[str]) -> int:
    try:
        options = [_option(name) for name in names]
    except SettingsError as error:
        _error(error.user_message())
        return EXIT_BAD_INPUT
    try:
        if not options:
            removed = remove_settings()
            print("Every setting is its built-in default" + (f" (removed {settings_path()})." if removed else "."))
            return EXIT_OK
        path = save_settings(current.replace(**{option.name: option.default for option in options}))
    except SettingsError as error:
        _error(error.user_message())
        return EXIT_FAILED
    for option in options:
        print(f"{option.name} = {option.format(option.default)} (the default)")
    print(f"Saved to {path}")
    return EXIT_OK


def _note(text: str) -> None:
    print(f"{LABEL}: note: {text}", file=sys.stderr)


def _error(text: str) -> None:
    print(f"{LABEL}: error: {text}", file=sys.stderr)
