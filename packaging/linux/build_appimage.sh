#!/usr/bin/env bash
# AppImage recipe: wrap the PyInstaller folder (dist/moebius-studio, from packaging/build.py) into
# dist/Moebius_Studio-<version>-x86_64-<variant>.AppImage.
#
#   bash packaging/linux/build_appimage.sh [--appdir-only]
#
# appimagetool (https://github.com/AppImage/appimagetool/releases, one static executable) must be on PATH or
# named by APPIMAGETOOL. It cannot be fetched on the project's build machine, so there this script stops after
# assembling the AppDir (build/appimage/AppDir, which runs as-is: build/appimage/AppDir/AppRun --self-test),
# and CI machines with network access make the image. The AppImage runtime needs FUSE 2 on the user's machine
# (or APPIMAGE_EXTRACT_AND_RUN=1).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
bundle="dist/moebius-studio"
[ -x "$bundle/moebius-studio" ] || { echo "appimage: build the bundle first (python packaging/build.py)" >&2; exit 2; }
version="$(.venv/bin/python -c 'from core import __version__; print(__version__)' 2>/dev/null || python3 -c 'from core import __version__; print(__version__)')"
variant="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["variant"])' "$bundle/_internal/build-info.json")"

appdir="build/appimage/AppDir"
rm -rf "$appdir"
mkdir -p "$appdir/usr/lib" "$appdir/usr/share/applications" "$appdir/usr/share/icons/hicolor/256x256/apps"
# Hard links when possible: the AppDir is a second view of the same 700 MB, not a copy.
cp -al "$bundle" "$appdir/usr/lib/moebius-studio" 2>/dev/null || cp -a "$bundle" "$appdir/usr/lib/moebius-studio"
cp packaging/linux/appimage/AppRun "$appdir/AppRun"
# appimagetool reads the desktop entry and icon from the AppDir's top; Exec names the program, not a path.
cp resources/moebius-studio.desktop "$appdir/moebius-studio.desktop"
cp resources/moebius-studio.desktop "$appdir/usr/share/applications/"
cp resources/moebius-studio.png "$appdir/moebius-studio.png"
cp resources/moebius-studio.png "$appdir/usr/share/icons/hicolor/256x256/apps/"
ln -sf moebius-studio.png "$appdir/.DirIcon"
echo "appimage: assembled $appdir"

[ "${1:-}" = "--appdir-only" ] && exit 0
tool="${APPIMAGETOOL:-$(command -v appimagetool || true)}"
if [ -z "$tool" ]; then
  echo "appimage: appimagetool not found (set APPIMAGETOOL or put it on PATH); stopping after the AppDir" >&2
  exit 3
fi
out="dist/Moebius_Studio-$version-x86_64-$variant.AppImage"
ARCH=x86_64 "$tool" --no-appstream "$appdir" "$out"
echo "appimage: wrote $out"
