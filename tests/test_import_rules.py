"""The dependency rules, checked in fresh interpreters so that nothing this test session imported interferes.

- The GUI starts, shows its window and opens the sample photo without importing torch.
- Every module of core/ and backends/ imports without Qt.
- import-linter's contracts (pyproject.toml) hold, and they do break on a circle or an upward import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

GUI_START = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication([sys.argv[0]])
    from app.main import main
    from app.main_window import MainWindow

    seen = []

    def inspect():
        try:
            windows = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
            seen.extend((w.windowTitle(), str(w.photo_path), w.size_label.text()) for w in windows)
        finally:
            app.quit()

    QTimer.singleShot(300, inspect)
    status = main([])
    assert status == 0, status
    assert len(seen) == 1, seen
    title, photo, size = seen[0]
    assert title == "coffee.png[*] — Moebius Studio", title
    assert photo.endswith("coffee.png"), photo
    assert size == "600 × 400 px", size
    heavy = sorted(name for name in sys.modules if name.split(".")[0] in ("torch", "diffusers"))
    assert not heavy, f"the GUI imported {heavy[:5]} while starting"
    print("gui ok")
    """
)

CORE_WITHOUT_QT = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    import core, backends

    imported = []
    for package in (core, backends):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if module.name.rsplit(".", 1)[-1] == "__main__":
                continue  # running it would start the command line
            importlib.import_module(module.name)
            imported.append(module.name)
    qt = sorted(name for name in sys.modules if name.split(".")[0] in ("PySide6", "shiboken6", "app"))
    assert not qt, f"core/backends pulled in {qt[:5]}"
    print(len(imported), "modules ok")
    """
)


def _run_python(code: str, repo_root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=repo_root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_gui_starts_without_torch(repo_root: Path) -> None:
    result = _run_python(GUI_START, repo_root, QT_QPA_PLATFORM="offscreen")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gui ok" in result.stdout


def test_core_and_backends_import_without_qt(repo_root: Path) -> None:
    result = _run_python(CORE_WITHOUT_QT, repo_root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "modules ok" in result.stdout


def test_light_modules_do_not_load_torch(repo_root: Path) -> None:
    code = (
        "import sys, core.common.paths, core.job.settings, backends.device\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = _run_python(code, repo_root)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_linter_contracts_hold(repo_root: Path) -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.exists(), "import-linter is a development dependency: pip install -e '.[dev]'"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=repo_root, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _lint_copy(repo_root: Path, tmp_path: Path, edits: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the project's import contracts on a copy of the packages with ``edits`` (path -> appended line)."""
    import shutil

    for package in ("core", "backends", "app"):
        shutil.copytree(repo_root / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(repo_root / "pyproject.toml", tmp_path / "pyproject.toml")
    for relative, line in edits.items():
        with (tmp_path / relative).open("a", encoding="utf-8") as handle:
            handle.write(f"\n{line}\n")
    lint_imports = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )


def test_contracts_break_on_a_circle_and_on_an_upward_import(repo_root: Path, tmp_path: Path) -> None:
    # Two files of one subpackage importing each other: the acyclic contract must catch it.
    both_ways = {
        "core/common/files.py": "import core.common.paths  # noqa",
        "core/common/paths.py": "import core.common.files  # noqa",
    }
    circle = _lint_copy(repo_root, tmp_path / "circle", both_ways)
    assert circle.returncode != 0 and "no import circles BROKEN" in circle.stdout, circle.stdout[-3000:]
    # A lower stage reaching up (job -> inpaint): the layers contract must catch it.
    upward = _lint_copy(repo_root, tmp_path / "upward", {"core/job/request.py": "import core.inpaint.plan  # noqa"})
    assert upward.returncode != 0, upward.stdout[-3000:]
    assert "core: each stage uses only the stages below it BROKEN" in upward.stdout
