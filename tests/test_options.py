"""Each setting is declared once (core.job.options): JobSettings, the settings file and both command parsers
follow the declaration, so their defaults, ranges and choices cannot drift apart."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from core.cli import batch, doctor, inpaint
from core.cli.arguments import job_flag_names, job_settings
from core.cli.main import main
from core.common.errors import SettingsError
from core.job.options import (
    BATCH,
    OPTIONS,
    SEED,
    Choice,
    FolderName,
    Number,
    Option,
    Seed,
    Switch,
    WholeNumber,
)
from core.job.settings import JobSettings

PHOTO_ARGS = ["photo.png", "--mask", "mask.png"]


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {action.dest: action for action in parser._actions}


def _samples(option: Option[object]) -> tuple[list[str], list[str]]:
    """Texts the option must accept and texts it must refuse, from its declaration."""
    if isinstance(option, WholeNumber):
        return [str(option.minimum), str(option.maximum)], [str(option.minimum - 1), str(option.maximum + 1), "2.5"]
    if isinstance(option, Number):
        return [f"{option.minimum:g}", f"{option.maximum:g}"], [f"{option.maximum + 1:g}", "-1", "nan", "x"]
    if isinstance(option, Seed):
        return ["0", str(option.maximum), "random"], ["-1", str(option.maximum + 1), "lucky"]
    if isinstance(option, Switch):
        return ["true", "off"], ["maybe"]
    if isinstance(option, Choice):
        return list(option.choices), ["nonsense"]
    assert isinstance(option, FolderName)
    return ["ft_celebahq"], ["../escape", ""]


def _default_text(option: Option[object]) -> str:
    if isinstance(option, Switch):
        return "on" if option.default else "off"
    return option.format(option.default)


def test_job_settings_fields_are_the_declarations() -> None:
    fields = dataclasses.fields(JobSettings)
    assert [f.name for f in fields] == list(OPTIONS)
    for f in fields:
        assert f.default == OPTIONS[f.name].default, f.name
    assert JobSettings().to_dict() == {"version": 1, **{name: o.default for name, o in OPTIONS.items()}}


def test_the_defaults_are_the_reference_ones() -> None:
    # The values the released model's command line uses (shared/reference/ARCHITECTURE.md §8) and this app's own.
    assert (OPTIONS["steps"].default, OPTIONS["guidance"].default, OPTIONS["seed"].default) == (20, 2.5, 0)
    assert (OPTIONS["context_margin"].default, OPTIONS["colour_match_strength"].default) == (128, 1.0)
    assert OPTIONS["seed_policy"].default == "fixed"


@pytest.mark.parametrize("name", list(OPTIONS))
def test_each_declaration_checks_parses_and_formats(name: str) -> None:
    option = OPTIONS[name]
    assert option.check(option.default) == option.default
    assert option.parse(option.format(option.default)) == option.default
    good, bad = _samples(option)
    for text in good:
        value = option.parse(text)
        assert JobSettings().replace(**{name: value}) == JobSettings(**{name: value})
        assert option.parse(option.format(value)) == value
    for text in bad:
        with pytest.raises(SettingsError, match=f"Setting '{name}' must be"):
            option.parse(text)


def test_expert_knobs_have_no_flag_and_no_label() -> None:
    expert = [name for name, option in OPTIONS.items() if not option.user_facing]
    assert expert == ["strength", "noise_offset", "refine_strength"]
    assert all(OPTIONS[name].flag is None and OPTIONS[name].label is None for name in expert)


def test_one_seed_range_everywhere() -> None:
    assert SEED.maximum == 2**63 - 1
    assert JobSettings(seed=2**63 - 1).seed == 2**63 - 1
    with pytest.raises(SettingsError, match="'seed'"):
        JobSettings(seed=2**63)
    parser = inpaint.build_parser()
    assert parser.parse_args([*PHOTO_ARGS, "--seed", str(2**63 - 1)]).seed == 2**63 - 1
    with pytest.raises(SystemExit):
        parser.parse_args([*PHOTO_ARGS, "--seed", str(2**63)])


@pytest.mark.parametrize(
    ("parser", "names"),
    [
        (inpaint.build_parser(), job_flag_names()),
        (batch.build_parser(), job_flag_names(batch=True)),
    ],
    ids=["inpaint", "batch"],
)
def test_the_parsers_flags_are_generated_from_the_declarations(
    parser: argparse.ArgumentParser, names: list[str]
) -> None:
    actions = _actions(parser)
    flagged = [name for name, option in OPTIONS.items() if option.flag is not None]
    assert set(names) <= set(flagged)
    for name in names:
        option, action = OPTIONS[name], actions[name]
        assert option.flag in action.option_strings
        assert action.default is argparse.SUPPRESS  # "not given": the saved settings decide
        assert f"(default: saved setting, else {_default_text(option)})" in (action.help or "").replace("%%", "%")
        if isinstance(option, Choice):
            assert tuple(action.choices or ()) == option.choices
        if isinstance(option, Switch):
            assert f"--no-{option.flag[2:]}" in action.option_strings  # type: ignore[index]
    # Every flagged job setting is on both parsers (batch-only ones only on the batch's).
    expected = [name for name in flagged if parser.prog.endswith("batch") or OPTIONS[name].scope != BATCH]
    assert sorted(names) == sorted(expected)


@pytest.mark.parametrize("name", job_flag_names(batch=True))
def test_flag_values_are_checked_by_the_declaration(name: str) -> None:
    option = OPTIONS[name]
    parser = batch.build_parser()
    base = ["in", "-o", "out"]
    good, bad = _samples(option)
    for text in good:
        if isinstance(option, Switch):
            continue  # switches take no value
        value = getattr(parser.parse_args([*base, option.flag or "", text]), name)
        assert value == (option.parse(text) if not isinstance(option, Choice) else text)
    for text in bad:
        if isinstance(option, Switch):
            continue
        with pytest.raises(SystemExit):
            parser.parse_args([*base, option.flag or "", text])


def test_a_bad_flag_value_is_one_line_naming_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    for flag, text in (("--steps", "0"), ("--colour-match-strength", "1.5"), ("--seed", "lucky"), ("--device", "tpu")):
        assert main([*PHOTO_ARGS, flag, text]) == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
        assert len(errors) == 1 and f"argument {flag}" in errors[0], errors
    assert main([*PHOTO_ARGS, "--steps", "0"]) == 2
    assert "must be a whole number from 1 to 1000, got '0'" in capsys.readouterr().err


def test_an_empty_command_line_without_a_saved_file_gives_the_defaults() -> None:
    notes: list[str] = []
    for parser, args in (
        (inpaint.build_parser(), PHOTO_ARGS),
        (batch.build_parser(), ["in", "-o", "out"]),
        (doctor.build_parser(), []),
    ):
        job = job_settings(parser.parse_args(args), notes.append)
        assert job.settings == JobSettings()
        assert job.given == frozenset()
    assert notes == []


def test_flags_override_the_starting_settings() -> None:
    options = inpaint.build_parser().parse_args(
        [*PHOTO_ARGS, "--steps", "7", "--no-colour-match", "--seed", "random", "--grain-match"]
    )
    job = job_settings(options, print)
    assert job.settings == JobSettings(steps=7, colour_match=False, seed=None, grain_match=True)
    assert job.given == {"steps", "colour_match", "seed", "grain_match"}
