from __future__ import annotations

import ast
import importlib
from pathlib import Path

import platformdirs
import pytest

from core.common import paths


def test_home_variable_puts_everything_under_one_folder(private_home: Path) -> None:
    assert paths.data_dir() == private_home / "data"
    assert paths.models_dir() == private_home / "data" / "models"
    assert paths.config_dir() == private_home / "config"
    assert paths.cache_dir() == private_home / "cache"
    assert paths.log_dir() == private_home / "logs"
    assert paths.settings_file() == private_home / "config" / "settings.json"


def test_nothing_is_created_unless_asked(private_home: Path) -> None:
    importlib.reload(paths)
    folders = [paths.data_dir(), paths.models_dir(), paths.config_dir(), paths.cache_dir(), paths.log_dir()]
    assert not any(folder.exists() for folder in folders)
    assert not paths.settings_file().parent.exists()
    assert list(private_home.iterdir()) == []


@pytest.mark.parametrize("name", ["data_dir", "models_dir", "config_dir", "cache_dir", "log_dir"])
def test_ensure_creates_the_folder(name: str) -> None:
    folder = getattr(paths, name)(ensure=True)
    assert folder.is_dir()
    assert getattr(paths, name)(ensure=True) == folder  # idempotent


def test_settings_file_can_create_its_folder_but_not_the_file() -> None:
    file = paths.settings_file(ensure_dir=True)
    assert file.parent.is_dir()
    assert not file.exists()


def test_models_variable_moves_only_the_models(
    private_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOEBIUS_STUDIO_MODELS", str(tmp_path / "big-disk" / "models"))
    assert paths.models_dir() == tmp_path / "big-disk" / "models"
    assert paths.data_dir() == private_home / "data"


def test_relative_and_user_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MOEBIUS_STUDIO_HOME", "portable")
    assert paths.data_dir() == tmp_path / "portable" / "data"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MOEBIUS_STUDIO_MODELS", "~/models")
    assert paths.models_dir() == tmp_path / "home" / "models"


def test_without_the_variable_platform_folders_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOEBIUS_STUDIO_HOME", "   ")  # blank counts as unset
    assert paths.data_dir() == Path(platformdirs.user_data_dir("moebius-studio", appauthor=False))
    assert paths.config_dir() == Path(platformdirs.user_config_dir("moebius-studio", appauthor=False))
    assert paths.cache_dir() == Path(platformdirs.user_cache_dir("moebius-studio", appauthor=False))
    assert paths.log_dir() == Path(platformdirs.user_log_dir("moebius-studio", appauthor=False))
    assert paths.models_dir() == paths.data_dir() / "models"


def test_paths_is_the_only_user_of_platformdirs(repo_root: Path) -> None:
    users = []
    for package in ("core", "backends", "app"):
        for source in (repo_root / package).rglob("*.py"):
            tree = ast.parse(source.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                if any(name.split(".")[0] == "platformdirs" for name in names):
                    users.append(source.relative_to(repo_root).as_posix())
    assert users == ["core/common/paths.py"]
