"""Build the stand-alone Moebius Studio bundle for this platform: ``python packaging/build.py [options]``.

Runs with the Python of the environment whose packages go into the bundle (``.venv`` here; the torch build
installed there decides the variant: CPU-only, CUDA, or the macOS wheel with MPS). Steps:

1. write the tiny random-weight model the test build carries (``tests/tiny_model.py``);
2. run PyInstaller on ``packaging/moebius-studio.spec``: ``dist/moebius-studio`` (what the installers ship) and
   ``dist/moebius-studio-selftest`` (the same plus the tiny model, for ``--self-test``);
3. add what sits next to the programs: licences, on Linux the desktop entry, icon and installer script, and in
   the "offline" variant the model weights;
4. write the size report (``dist/size-report-<variant>.txt`` and ``.json``).

The self-test runs and the installers are separate steps (``packaging/build_linux.sh`` does all of it on Linux,
the CI workflow on each platform).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

PACKAGING = Path(__file__).resolve().parent
REPO = PACKAGING.parent
sys.path.insert(0, str(PACKAGING))

from size_report import format_report, report  # noqa: E402

NAME = "moebius-studio"
SPEC = PACKAGING / "moebius-studio.spec"
# The Linux CPU bundle must stay under this (unpacked); other variants are reported, not judged, because a CUDA
# torch alone is several gigabytes.
BUDGET_MB = {"linux-cpu": 800.0}


def platform_tag() -> str:
    """``linux-x86_64``, ``windows-amd64``, ``macos-arm64``: the part of file names that says where it runs."""
    system = {"linux": "linux", "darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform)
    return f"{system}-{platform.machine().lower()}"


def detect_variant() -> str:
    """What kind of torch is installed: ``cuda``, ``rocm``, ``mps`` (macOS) or ``cpu``."""
    import torch

    if getattr(torch.version, "hip", None):
        return "rocm"
    if torch.version.cuda:
        return "cuda"
    return "mps" if sys.platform == "darwin" else "cpu"


def write_test_model(folder: Path) -> Path:
    """A fresh tiny model in the released layout (same seed every time, so builds are reproducible)."""
    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(REPO))
    from tiny_model import write_tiny_model

    if folder.exists():
        shutil.rmtree(folder)
    write_tiny_model(folder, fmt="safetensors", seed=0)
    return folder


def run_pyinstaller(work: Path, dist: Path, variant: str, test_model: Path | None, clean: bool) -> None:
    env = dict(os.environ, MOEBIUS_VARIANT=variant)
    env.pop("MOEBIUS_SELFTEST_MODEL", None)
    if test_model is not None:
        env["MOEBIUS_SELFTEST_MODEL"] = str(test_model)
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN"]
    command += ["--workpath", str(work), "--distpath", str(dist)]
    if clean:
        command.append("--clean")
    command.append(str(SPEC))
    print("build:", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=REPO, env=env)


def strip_libraries(bundle: Path) -> int:
    """Strip the symbol tables slim.py names (Linux only); returns the bytes saved."""
    import slim

    if shutil.which("strip") is None:
        raise SystemExit("build: 'strip' not found: install binutils (apt-get install binutils)")
    saved = 0
    data = bundle / "_internal"
    for path in sorted(data.rglob("*.so*")):
        if path.is_symlink() or not slim.strip_on_linux(path.relative_to(data).as_posix()):
            continue
        before = path.stat().st_size
        subprocess.run(["strip", "--strip-unneeded", str(path)], check=True)
        saved += before - path.stat().st_size
    return saved


def add_cli_link(programs: Path) -> None:
    """``moebius-inpaint`` as a link to the app's executable (Windows has its own console executable)."""
    link = programs / "moebius-inpaint"
    if sys.platform != "win32" and not link.exists():
        link.symlink_to(NAME)


def add_extras(bundle: Path, offline_models: Path | None) -> None:
    """Files that belong next to the programs rather than inside PyInstaller's data folder."""
    add_cli_link(bundle)
    licenses = bundle / "_internal" / "licenses"
    licenses.mkdir(parents=True, exist_ok=True)
    python_license = Path(sys.base_prefix) / "lib" / f"python{sys.version[:4].rstrip('.')}" / "LICENSE.txt"
    if not python_license.is_file():
        python_license = Path(sys.base_prefix) / "LICENSE.txt"  # Windows' layout
    if python_license.is_file():
        shutil.copy2(python_license, licenses / "PYTHON-LICENSE.txt")
    if sys.platform.startswith("linux"):
        # The tarball's desktop integration: install-desktop-entry.sh puts these where desktops look.
        for source in (
            REPO / "resources" / "moebius-studio.desktop",
            REPO / "resources" / "moebius-studio.png",
            REPO / "resources" / "moebius-studio.svg",
            PACKAGING / "linux" / "install-desktop-entry.sh",
            PACKAGING / "linux" / "README-linux.txt",
        ):
            shutil.copy2(source, bundle / source.name)
    if offline_models is not None:
        # The frozen entry points use <bundle>/models when MOEBIUS_STUDIO_MODELS is not set.
        shutil.copytree(offline_models, bundle / "models", dirs_exist_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Moebius Studio bundle for this platform.")
    parser.add_argument("--variant", help="label of the torch build (default: detected: cpu, cuda, rocm, mps)")
    parser.add_argument("--no-test-build", action="store_true", help="skip dist/moebius-studio-selftest")
    parser.add_argument("--offline-models", type=Path, help="models folder to bundle (the 'offline' variant)")
    parser.add_argument("--dist", type=Path, default=REPO / "dist", help="output folder (default: dist)")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "pyinstaller", help="PyInstaller's work folder")
    parser.add_argument("--clean", action="store_true", help="empty PyInstaller's cache first (slower)")
    options = parser.parse_args(argv)

    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        parser.error("PyInstaller is not installed here: pip install -r packaging/requirements.txt")
    began = time.monotonic()
    variant = options.variant or detect_variant()
    if options.offline_models is not None:
        variant += "-offline"
    test_model = None if options.no_test_build else write_test_model(options.work / "selftest-model")
    run_pyinstaller(options.work, options.dist, variant, test_model, options.clean)

    bundles = [NAME] + ([] if test_model is None else [f"{NAME}-selftest"])
    for name in bundles:
        add_extras(options.dist / name, options.offline_models if name == NAME else None)
        if sys.platform.startswith("linux"):
            saved = strip_libraries(options.dist / name)
            print(f"build: stripping symbol tables saved {saved / 1024 / 1024:.0f} MB in {name}")
    app = options.dist / "Moebius Studio.app" / "Contents" / "MacOS"
    if app.is_dir():
        add_cli_link(app)
    tag = f"{platform_tag()}-{variant}"
    budget = BUDGET_MB.get(f"{platform_tag().split('-')[0]}-{variant}")
    data = report(options.dist / NAME, budget_mb=budget)
    data.update(variant=variant, platform=platform_tag(), build_seconds=round(time.monotonic() - began))
    text = format_report(data)
    (options.dist / f"size-report-{tag}.txt").write_text(text + "\n")
    (options.dist / f"size-report-{tag}.json").write_text(json.dumps(data, indent=1))
    print(text)
    print(f"build: done in {time.monotonic() - began:.0f} s: {', '.join(str(options.dist / b) for b in bundles)}")
    return 0 if data.get("within_budget", True) else 1


if __name__ == "__main__":
    sys.exit(main())
