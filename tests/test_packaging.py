"""The installers' building blocks, checked without building a bundle (that takes minutes: packaging/README.md).

- The slim build's rules keep every file torch needs at import and drop what they are meant to drop.
- The self-test passes in a source checkout with the tiny model and the classic engine, and its checks
  really fail on a broken result.
- The Windows installer script compiles (when makensis is installed), the size report adds up, and the CI
  workflow has the jobs the release needs.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGING = REPO / "packaging"


def load(path: Path) -> ModuleType:
    """Import a packaging script by path (packaging/ is not a package: it would shadow PyPI's `packaging`)."""
    spec = importlib.util.spec_from_file_location(f"packaging_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def slim() -> ModuleType:
    return load(PACKAGING / "slim.py")


# -- slim build ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "torch/bin/torch_shm_manager",
        "torch/testing/_internal/common_utils.py",
        "torch/testing/_internal/distributed/fake_pg.py",
        "torch/lib/libtorch_cpu.so",
        "torch/lib/libtorch_python.so",
        "torch/lib/libc10.so",
        "torch/lib/libshm.so",
        "torch/lib/libgomp.so.1",
        "torch/lib/libtorch_global_deps.so",
        "torch\\lib\\torch_cpu.dll",
        "torch/_C.cpython-311-x86_64-linux-gnu.so",
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "PySide6/Qt/plugins/imageformats/libqjpeg.so",
        "PySide6/Qt/lib/libQt6Widgets.so.6",
        "cv2/cv2.abi3.so",
        "core/model/vae_config.json",
        "resources/sample/coffee.png",
        "licenses/LGPL-3.0.txt",
        "licenses/LICENSE",
    ],
)
def test_slim_build_keeps_what_the_app_needs(slim: ModuleType, path: str) -> None:
    assert slim.keep(path), slim.drop_reason(path)


@pytest.mark.parametrize(
    "path",
    [
        "torch/bin/test_api",
        "torch/bin/protoc",
        "torch/test/atest",
        "torch/include/ATen/ATen.h",
        "torch/share/cmake/Torch/TorchConfig.cmake",
        "torch/lib/libtorchbind_test.so",
        "torch/lib/libjitbackend_test.so",
        "torch/lib/libbackend_with_compiler.so",
        "torch/lib/libaoti_custom_ops.so",
        "torch\\lib\\torch_cpu.lib",
        "numpy/_core/lib/libnpymath.a",
        "PySide6/Qt/translations/qtbase_de.qm",
        "PySide6/Qt/qml/QtQuick/Controls/qmldir",
        "PySide6/QtCore.pyi",
    ],
)
def test_slim_build_drops_payload(slim: ModuleType, path: str) -> None:
    assert not slim.keep(path)
    assert slim.drop_reason(path)


def test_every_installed_torch_library_but_the_test_ones_is_kept(slim: ModuleType) -> None:
    import torch

    lib = Path(torch.__file__).parent / "lib"
    libraries = [p for p in lib.iterdir() if p.is_file() and (".so" in p.name or p.suffix in (".dll", ".dylib"))]
    assert libraries
    dropped = sorted(p.name for p in libraries if not slim.keep(f"torch/lib/{p.name}"))
    test_only = ("test", "backend_with_compiler", "aoti_custom_ops")
    assert all(any(word in name for word in test_only) for name in dropped), dropped


def test_torch_shm_manager_exists_where_torch_looks_for_it(slim: ModuleType) -> None:
    # torch/__init__.py raises at import when this file is missing (Linux and macOS wheels).
    import torch

    manager = Path(torch.__file__).parent / "bin" / "torch_shm_manager"
    if sys.platform == "win32":
        pytest.skip("Windows wheels have no torch_shm_manager")
    assert manager.is_file()
    assert slim.keep(manager.relative_to(manager.parents[2]).as_posix())


def test_torch_config_modules_keep_their_source(slim: ModuleType) -> None:
    # They parse their own text while being imported; without it `import torch.distributed` fails when frozen.
    import torch

    modes = slim.module_collection_mode(Path(torch.__file__).parent)
    assert modes["torch"] == "pyz"
    for name in ("torch._dynamo.config", "torch.distributed.config", "torch._inductor.config"):
        assert modes[name] == "pyz+py", name
    assert all(mode == "pyz+py" for name, mode in modes.items() if name != "torch")


def test_excluded_modules_spare_the_runtime(slim: ModuleType) -> None:
    needed = {"torch", "huggingface_hub", "safetensors", "cv2", "numpy", "PIL", "PySide6", "sympy"}
    needed |= {"shiboken6", "tifffile", "platformdirs", "filelock", "requests", "yaml", "core", "app", "backends"}
    for platform in ("linux", "win32", "darwin"):
        assert not needed & set(slim.excluded_modules(platform)), platform
    assert "coremltools" in slim.excluded_modules("linux")
    assert "coremltools" in slim.excluded_modules("win32")
    assert "coremltools" not in slim.excluded_modules("darwin")
    # core runs its own VAE and DDIM sampler; diffusers is only the tests' and the benchmark's reference.
    assert "diffusers" in slim.excluded_modules("linux")


def test_spec_uses_the_slim_rules_and_files_that_exist() -> None:
    spec = (PACKAGING / "moebius-studio.spec").read_text()
    compile(spec, "moebius-studio.spec", "exec")  # at least valid Python
    assert "slim.keep(" in spec and "slim.excluded_modules(" in spec
    assert "exclude_binaries=True" in spec  # one-folder: the libraries sit beside the program, not inside it
    for parts in re.findall(r'REPO((?: / "[^"]+")+)', spec):
        path = REPO.joinpath(*re.findall(r'"([^"]+)"', parts))
        if "*" not in str(path):
            assert path.exists(), path
    for entry in re.findall(r'PACKAGING / "entry" / "([^"]+)"', spec):
        assert (PACKAGING / "entry" / entry).is_file(), entry


def test_the_app_is_apache_licensed_and_every_installer_carries_the_text() -> None:
    import tomllib

    licence = (REPO / "LICENSE").read_text(encoding="utf-8")
    # The standard text, unabridged: terms 1-9 and the appendix on applying it.
    assert licence.split()[:3] == ["Apache", "License", "Version"]
    assert "9. Accepting Warranty or Additional Liability." in licence and "APPENDIX:" in licence
    assert licence == (PACKAGING / "licenses" / "Apache-2.0.txt").read_text(encoding="utf-8")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    # PyInstaller bundles (Linux tarball/AppImage, Windows setup, macOS app) get it from the spec's data files;
    # the Linux build compares the bundled copy with LICENSE, the dmg also puts it beside the app.
    spec = (PACKAGING / "moebius-studio.spec").read_text()
    assert '(str(REPO / "LICENSE"), "licenses")' in spec
    assert 'cmp -s LICENSE "$licence"' in (PACKAGING / "build_linux.sh").read_text()
    assert 'cp LICENSE "$stage/LICENSE.txt"' in (PACKAGING / "macos" / "build_macos.sh").read_text()
    assert "Apache-2.0" in (PACKAGING / "licenses" / "README.txt").read_text()


def test_installed_metadata_names_the_licence() -> None:
    from importlib.metadata import metadata

    meta = metadata("moebius-studio")
    assert meta["License-Expression"] == "Apache-2.0"


# -- self-test -------------------------------------------------------------------------------------------------


def test_self_test_checks_catch_a_broken_result() -> None:
    from app.self_test import SelfTestError, check_result

    before = np.full((20, 30, 3), 100, np.uint8)
    mask = np.zeros((20, 30), np.uint8)
    mask[5:15, 10:20] = 255
    good = before.copy()
    good[5:15, 10:20] = 7
    assert "100 of 100 masked px changed, 0 unmasked" in check_result(before, good, mask)

    leaked = good.copy()
    leaked[0, 0] = 0
    with pytest.raises(SelfTestError, match="1 pixels outside the mask changed"):
        check_result(before, leaked, mask)
    with pytest.raises(SelfTestError, match="only 0 of 100 masked"):
        check_result(before, before.copy(), mask)
    with pytest.raises(SelfTestError, match="result is"):
        check_result(before, good[:10], mask)


def test_self_test_refuses_a_missing_model_folder(qapp: object, tmp_path: Path, monkeypatch) -> None:
    from app.self_test import run_self_test

    monkeypatch.setenv("MOEBIUS_STUDIO_HOME", str(tmp_path / "home"))
    status = run_self_test(qapp, tmp_path / "shot.png", tmp_path / "nowhere")  # type: ignore[arg-type]
    assert status == 1
    report = (tmp_path / "shot.txt").read_text()
    assert "moebius: FAILED" in report and "does not exist" in report


def test_self_test_passes_from_source_with_the_tiny_model(tmp_path: Path) -> None:
    """What the frozen bundle runs, here unfrozen: window, Moebius (tiny model) and classic, screenshot."""
    from tiny_model import write_tiny_model

    model = tmp_path / "model"
    write_tiny_model(model, fmt="safetensors")
    shot = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("MOEBIUS_STUDIO_MODELS", None)
    result = subprocess.run(
        [sys.executable, "-m", "app", "--self-test", "--self-test-model", str(model), "--screenshot", str(shot)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for line in ("window: ok", "moebius: ok", "classic: ok", "screenshot: ok", "self-test: passed"):
        assert line in result.stdout, result.stdout
    assert "0 unmasked px changed" in result.stdout
    assert shot.stat().st_size > 10_000
    assert (tmp_path / "shot.txt").read_text().endswith("self-test: passed\n")


def test_app_accepts_the_self_test_options() -> None:
    from app.main import _parser

    options = _parser().parse_args(["--self-test", "--screenshot", "a.png", "--self-test-model", "m"])
    assert options.self_test and options.screenshot == Path("a.png") and options.self_test_model == Path("m")
    assert not _parser().parse_args([]).self_test


# -- installers, size report, CI ---------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("makensis") is None, reason="NSIS is not installed (apt-get install nsis)")
def test_nsis_script_compiles_into_a_setup_program(tmp_path: Path) -> None:
    output = tmp_path / "moebius-studio-check-setup.exe"  # a bare "setup.exe" draws an NSIS warning
    script = PACKAGING / "windows" / "build_installer.py"
    result = subprocess.run(
        [sys.executable, str(script), "--check", "--work", str(tmp_path), "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert output.read_bytes()[:2] == b"MZ"  # a Windows executable


def test_windows_version_numbers() -> None:
    versioninfo = load(PACKAGING / "windows" / "versioninfo.py")
    assert versioninfo.version_tuple("0.1.0") == (0, 1, 0, 0)
    assert versioninfo.version_tuple("1.2.3rc1") == (1, 2, 3, 0)
    assert versioninfo.version_tuple("2") == (2, 0, 0, 0)


def test_windows_version_resource() -> None:
    versioninfo = load(PACKAGING / "windows" / "versioninfo.py")
    # PyInstaller's version-resource classes need pefile, which PyInstaller installs on Windows only.
    pytest.importorskip("pefile", reason="pefile comes with PyInstaller on Windows")
    resource = str(versioninfo.version_info("0.1.0"))
    assert "Moebius Studio" in resource and "0.1.0" in resource


def test_macos_entitlements_are_a_valid_property_list() -> None:
    import plistlib

    entitlements = plistlib.loads((PACKAGING / "macos" / "entitlements.plist").read_bytes())
    assert entitlements == {
        "com.apple.security.cs.allow-unsigned-executable-memory": True,
        "com.apple.security.cs.disable-library-validation": True,
    }


def test_size_report_adds_up_and_judges_the_budget(tmp_path: Path) -> None:
    size_report = load(PACKAGING / "size_report.py")
    bundle = tmp_path / "moebius-studio"
    (bundle / "_internal" / "torch" / "lib").mkdir(parents=True)
    (bundle / "_internal" / "torch" / "lib" / "big.so").write_bytes(b"x" * 3 * 1024 * 1024)
    (bundle / "moebius-studio").write_bytes(b"x" * 1024 * 1024)
    data = size_report.report(bundle, budget_mb=3.5)
    assert data["total_mb"] == 4.0 and data["files"] == 2 and data["within_budget"] is False
    assert data["biggest_folders_mb"]["torch/lib"] == 3.0
    assert "OVER the 3.5 MB budget" in size_report.format_report(data)
    assert size_report.main([str(bundle), "--budget-mb", "10"]) == 0


def test_ci_workflow_builds_on_every_platform_and_runs_the_core_ml_tests() -> None:
    import yaml

    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "installers.yml").read_text())
    jobs = workflow["jobs"]
    runners = " ".join(str(job.get("runs-on", "")) + str(job.get("strategy", "")) for job in jobs.values())
    for system in ("ubuntu", "windows", "macos"):
        assert system in runners, system
    text = (REPO / ".github" / "workflows" / "installers.yml").read_text()
    assert "pytest tests/test_coreml.py" in text
    assert "--self-test" in text and "upload-artifact" in text
