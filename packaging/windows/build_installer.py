"""Compile the Windows installer: ``python packaging/windows/build_installer.py [--bundle DIR] [--check]``.

Runs makensis (NSIS 3) on ``moebius-studio.nsi`` with the version, the variant and an icon converted from the
app's PNG. On Windows CI it wraps the real ``dist/moebius-studio``. ``--check`` compiles the script against a
small stand-in folder instead, which proves on any machine with makensis (Linux included: ``apt-get install
nsis``) that the script compiles into a setup executable, in seconds rather than the minutes LZMA needs for a
700 MB bundle; that setup program is never run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

WINDOWS = Path(__file__).resolve().parent
PACKAGING = WINDOWS.parent
REPO = PACKAGING.parent
SCRIPT = WINDOWS / "moebius-studio.nsi"


def app_version() -> str:
    sys.path.insert(0, str(REPO))
    from core import __version__

    return __version__


def make_icon(png: Path, target: Path) -> Path:
    """A multi-size .ico from the app's PNG (Windows wants .ico for the installer's own icon)."""
    from PIL import Image

    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(png) as image:
        image.save(
            target, format="ICO", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]
        )
    return target


def stand_in_bundle(folder: Path) -> Path:
    """A few small files shaped like the bundle: what ``--check`` compiles the script against."""
    if folder.exists():
        shutil.rmtree(folder)
    licenses = folder / "_internal" / "licenses"
    licenses.mkdir(parents=True)
    shutil.copy2(PACKAGING / "licenses" / "README.txt", licenses / "README.txt")
    shutil.copy2(PACKAGING.parent / "LICENSE", licenses / "LICENSE")
    for program in ("moebius-studio.exe", "moebius-inpaint.exe"):
        (folder / program).write_bytes(b"MZ stand-in: the installer check never runs this\n")
    (folder / "_internal" / "build-info.json").write_text(json.dumps({"stand_in": True}))
    return folder


def makensis() -> str:
    found = shutil.which("makensis")
    if found is None:
        raise SystemExit("makensis not found: install NSIS 3 (apt-get install nsis, or choco install nsis)")
    return found


def compile_installer(bundle: Path, output: Path, variant: str, vcredist: Path | None, work: Path) -> Path:
    version = app_version()
    icon = make_icon(REPO / "resources" / "moebius-studio.png", work / "moebius-studio.ico")
    output.parent.mkdir(parents=True, exist_ok=True)
    # Forward slashes work for makensis on Windows and are required on Linux.
    defines = {
        "VERSION": version,
        "VARIANT": variant,
        "BUNDLE_DIR": bundle.resolve().as_posix(),
        "OUTFILE": output.resolve().as_posix(),
        "ICON": icon.resolve().as_posix(),
    }
    if vcredist is not None:
        defines["VCREDIST"] = vcredist.resolve().as_posix()
    command = [makensis(), "-V2", "-WX", *(f"-D{key}={value}" for key, value in defines.items()), str(SCRIPT)]
    print("installer:", " ".join(command), flush=True)
    subprocess.run(command, check=True)
    if not output.is_file():
        raise SystemExit(f"makensis reported success but wrote no {output}")
    print(f"installer: wrote {output} ({output.stat().st_size / 1024 / 1024:.1f} MB)")
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compile the Windows installer with makensis.")
    parser.add_argument("--bundle", type=Path, default=REPO / "dist" / "moebius-studio", help="the PyInstaller folder")
    parser.add_argument("--variant", default="cpu", help="cpu or cuda (goes into the file name)")
    parser.add_argument("--vcredist", type=Path, help="vc_redist.x64.exe to carry and run when the runtime is missing")
    parser.add_argument("--output", type=Path, help="the setup program to write (default: dist/…-setup.exe)")
    parser.add_argument("--check", action="store_true", help="compile against a small stand-in bundle")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "nsis", help="folder for the icon and stand-in")
    options = parser.parse_args(argv)
    work = options.work
    version = app_version()
    if options.check:
        bundle = stand_in_bundle(work / "stand-in")
        output = options.output or work / f"moebius-studio-{version}-check-setup.exe"
    else:
        bundle = options.bundle
        if not (bundle / "moebius-studio.exe").is_file():
            parser.error(f"{bundle} holds no moebius-studio.exe: build the Windows bundle first")
        output = options.output or REPO / "dist" / f"moebius-studio-{version}-windows-x64-{options.variant}-setup.exe"
    compile_installer(bundle, output, options.variant, options.vcredist, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
