"""The test suite's own rules hold: missing shared material fails the tests that need it (never a silent skip),
and modules that exist are imported for real (no importorskip guard hides an import error)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def _run_pytest(args: list[str], env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "MOEBIUS_SKIP_SHARED"}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *args],
        cwd=TESTS.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "target",
    [
        "tests/test_model.py::test_golden_forward_and_block_outputs",
        "tests/test_cli_moebius.py",
    ],
)
def test_missing_shared_material_fails_instead_of_skipping(target: str, tmp_path: Path) -> None:
    missing = tmp_path / "no-shared-here"
    failed = _run_pytest([target, "-x"], {"MOEBIUS_SHARED_DIR": str(missing)}, tmp_path)
    assert failed.returncode == 1, failed.stdout[-2000:]
    assert "shared material not found" in failed.stdout
    assert " skipped" not in failed.stdout.splitlines()[-1]
    # The explicit opt-out turns the same tests into skips (a checkout without the material).
    skipped = _run_pytest([target], {"MOEBIUS_SHARED_DIR": str(missing), "MOEBIUS_SKIP_SHARED": "1"}, tmp_path)
    assert skipped.returncode == 0 and "skipped" in skipped.stdout.splitlines()[-1], skipped.stdout[-2000:]


def test_no_importorskip_guards_modules_of_this_project() -> None:
    """An import error in our own code must fail the tests, so no test hides one behind importorskip."""
    ours = ("core", "app", "backends", "resources")
    offenders = []
    for path in sorted(TESTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "importorskip"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and str(node.args[0].value).split(".")[0] in ours
            ):
                offenders.append(f"{path.name}:{node.lineno} {node.args[0].value}")
    assert offenders == []
