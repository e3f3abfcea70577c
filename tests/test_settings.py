from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.common import paths
from core.common.errors import SettingsError
from core.job.options import DEFAULT_GUIDANCE, DEFAULT_STEPS
from core.job.settings import SETTINGS_VERSION, JobSettings, settings_from_dict
from core.job.settings_file import load_settings, save_settings


def test_defaults() -> None:
    settings = JobSettings()
    assert settings.engine == "auto"
    assert settings.model_variant == "ft_places2"
    assert settings.steps == DEFAULT_STEPS == 20
    assert settings.guidance == DEFAULT_GUIDANCE == 2.5
    assert settings.seed == 0
    assert settings.device == "auto"
    assert settings.precision == "auto"
    assert settings.colour_match is True


def test_missing_file_gives_defaults_quietly() -> None:
    loaded = load_settings()
    assert loaded.settings == JobSettings()
    assert loaded.warnings == []
    assert not paths.settings_file().exists()


def test_save_then_load_round_trips() -> None:
    wanted = JobSettings(
        engine="classic",
        steps=35,
        guidance=3.0,
        seed=None,
        device="cpu",
        precision="exact",
        context_margin=96,
        colour_match=False,
        model_variant="ft_celebahq",
    )
    written = save_settings(wanted)
    assert written == paths.settings_file()
    data = json.loads(written.read_text(encoding="utf-8"))
    assert data["version"] == SETTINGS_VERSION
    assert data["seed"] is None
    loaded = load_settings()
    assert loaded.settings == wanted
    assert loaded.warnings == []


def test_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "settings.json"
    save_settings(JobSettings(steps=10), target)
    save_settings(JobSettings(steps=11), target)
    assert [p.name for p in target.parent.iterdir()] == ["settings.json"]
    assert load_settings(target).settings.steps == 11


def test_failed_save_keeps_the_old_file_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "settings.json"
    save_settings(JobSettings(steps=10), target)

    def broken_replace(source: str, destination: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(SettingsError, match="Could not save the settings"):
        save_settings(JobSettings(steps=99), target)
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]
    assert load_settings(target).settings.steps == 10


def test_unwritable_location_is_a_settings_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SettingsError):
        save_settings(JobSettings(), blocker / "settings.json")


def test_unknown_keys_are_ignored_with_a_warning() -> None:
    loaded = settings_from_dict({"version": 1, "steps": 12, "brush_size": 30})
    assert loaded.settings.steps == 12
    assert loaded.warnings == ["Unknown setting 'brush_size' ignored."]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("engine", "magic"),
        ("engine", 3),
        ("model_variant", "../escape"),
        ("model_variant", ""),
        ("steps", 0),
        ("steps", 2.5),
        ("steps", True),
        ("steps", "20"),
        ("guidance", -1.0),
        ("guidance", float("nan")),
        ("guidance", "high"),
        ("seed", -1),
        ("seed", 2**64),
        ("seed", 2**63),
        ("seed_policy", "random"),
        ("seed", 1.5),
        ("device", "tpu"),
        ("precision", "int4"),
        ("context_margin", -0.1),
        ("colour_match", 1),
    ],
)
def test_invalid_values_raise_a_clear_error(key: str, value: object) -> None:
    with pytest.raises(SettingsError, match=f"Setting '{key}'"):
        settings_from_dict({key: value})
    with pytest.raises(SettingsError, match=f"Setting '{key}'"):
        JobSettings(**{key: value})  # type: ignore[arg-type]


def test_numbers_are_normalised() -> None:
    settings = JobSettings(guidance=3, context_margin=96.0)
    assert isinstance(settings.guidance, float)
    assert settings.context_margin == 96 and isinstance(settings.context_margin, int)  # older files wrote 96.0


def test_replace_checks_values_and_names() -> None:
    settings = JobSettings().replace(steps=50, seed=None)
    assert (settings.steps, settings.seed) == (50, None)
    with pytest.raises(SettingsError, match="steps"):
        JobSettings().replace(steps=-5)
    with pytest.raises(SettingsError, match="Unknown setting 'stpes'"):
        JobSettings().replace(stpes=5)


def test_invalid_values_in_the_file_fall_back_to_defaults() -> None:
    file = paths.settings_file(ensure_dir=True)
    file.write_text(json.dumps({"version": 1, "steps": -3, "guidance": 4.0, "device": "quantum"}))
    loaded = load_settings()
    assert loaded.settings == JobSettings(guidance=4.0)
    assert len(loaded.warnings) == 2
    assert any("'steps'" in warning for warning in loaded.warnings)
    assert any("'device'" in warning for warning in loaded.warnings)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2, 3]", b"\xff\xfe\x00garbage", b"", b'"just a string"'],
    ids=["broken-json", "a-list", "not-utf8", "empty", "a-string"],
)
def test_corrupt_file_gives_defaults_and_a_warning(content: bytes) -> None:
    file = paths.settings_file(ensure_dir=True)
    file.write_bytes(content)
    loaded = load_settings()
    assert loaded.settings == JobSettings()
    assert len(loaded.warnings) == 1
    assert str(file) in loaded.warnings[0]


def test_unreadable_file_gives_defaults_and_a_warning() -> None:
    folder_in_the_way = paths.settings_file()
    folder_in_the_way.mkdir(parents=True)
    loaded = load_settings()
    assert loaded.settings == JobSettings()
    assert len(loaded.warnings) == 1


def test_newer_format_is_read_with_a_warning() -> None:
    loaded = settings_from_dict({"version": SETTINGS_VERSION + 1, "steps": 8, "new_thing": 1})
    assert loaded.settings.steps == 8
    assert any("newer" in warning for warning in loaded.warnings)


def test_bad_version_is_strict_error_or_lenient_warning() -> None:
    with pytest.raises(SettingsError, match="version"):
        settings_from_dict({"version": "one"})
    loaded = settings_from_dict({"version": "one", "steps": 9}, lenient=True)
    assert loaded.settings.steps == 9
    assert len(loaded.warnings) == 1


