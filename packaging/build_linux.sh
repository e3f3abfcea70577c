#!/usr/bin/env bash
# The Linux bundle and its packages, from a clean checkout, in one command:
#
#   bash packaging/build_linux.sh            (extra arguments go to packaging/build.py, e.g. --clean)
#
# 1. sets up .venv (scripts/setup.sh) and installs the pinned PyInstaller (packaging/requirements.txt);
# 2. builds dist/moebius-studio and the test build dist/moebius-studio-selftest (packaging/build.py), and fails
#    when the CPU bundle is over its size budget;
# 3. runs the frozen self-test twice, on Qt's offscreen platform and under Xvfb with the real xcb platform,
#    saving screenshots and reports to artifacts/packaging/; runs the frozen command line on the sample;
# 4. packs dist/moebius-studio-<version>-linux-x86_64-<variant>.tar.gz and assembles the AppImage's AppDir
#    (the .AppImage itself too when appimagetool is installed);
# 5. compiles the Windows installer script against a stand-in bundle when makensis is installed (a check that
#    it compiles; the real installer is built on Windows).
# Takes several minutes (PyInstaller's analysis of torch dominates); later runs reuse PyInstaller's cache.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
began=$SECONDS
say() { printf 'build-linux: %s\n' "$*"; }
die() { printf 'build-linux: FAILED: %s\n' "$*" >&2; exit 1; }

bash scripts/setup.sh
py="$repo/.venv/bin/python"
"$py" -m pip install --quiet --disable-pip-version-check -r packaging/requirements.txt
"$py" packaging/build.py "$@"

art="$repo/artifacts/packaging"
mkdir -p "$art"
rm -f "$art"/selftest-*
testbuild="$repo/dist/moebius-studio-selftest/moebius-studio"
[ -x "$testbuild" ] || die "no test build at $testbuild"

# Run from an empty folder with a clean environment, so nothing can come from the source checkout.
scratch="$repo/build/frozen-checks"
rm -rf "$scratch"
mkdir -p "$scratch"
run_selftest() {  # name, then the command prefix that picks the display
  local name="$1" report="$art/selftest-$1.txt"
  shift
  say "frozen self-test ($name)"
  (cd "$scratch" && env -u PYTHONPATH -u MOEBIUS_STUDIO_MODELS "$@" "$testbuild" --self-test \
    --screenshot "$art/selftest-$name.png") || die "self-test ($name) exited non-zero; see $report"
  grep -q "^self-test: moebius: ok" "$report" || die "self-test ($name) did not run the Moebius check"
  grep -q "^self-test: jpeg: ok" "$report" || die "self-test ($name) could not keep a JPEG's blocks (jpeglib)"
  grep -q "^self-test: formats: ok" "$report" || die "self-test ($name) lost AVIF or RAW support (Pillow AVIF, rawpy)"
  grep -q "^self-test: passed" "$report" || die "self-test ($name) did not pass"
}
run_selftest offscreen env QT_QPA_PLATFORM=offscreen
if command -v xvfb-run >/dev/null 2>&1; then
  run_selftest xcb env -u QT_QPA_PLATFORM xvfb-run --auto-servernum \
    --server-args="-screen 0 1600x1200x24 -nolisten tcp"
  grep -q "Qt platform xcb" "$art/selftest-xcb.txt" || die "the Xvfb self-test did not use the xcb platform"
else
  say "xvfb-run not found: skipped the self-test on the real xcb platform (apt-get install xvfb xauth)"
fi

licence="dist/moebius-studio/_internal/licenses/LICENSE"
cmp -s LICENSE "$licence" || die "the bundle does not carry the app's licence ($licence)"

say "frozen command line on the sample"
cli_out="$scratch/coffee_inpainted.png"
dist/moebius-studio/moebius-inpaint --version
dist/moebius-studio/moebius-inpaint resources/sample/coffee.png --mask resources/sample/coffee_mask.png \
  --engine classic -o "$cli_out" || die "the frozen moebius-inpaint failed"
[ -s "$cli_out" ] || die "the frozen moebius-inpaint wrote nothing"

version="$("$py" -c 'from core import __version__; print(__version__)')"
variant="$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["variant"])' \
  dist/moebius-studio/_internal/build-info.json)"
tarball="dist/moebius-studio-$version-linux-x86_64-$variant.tar.gz"
say "packing $tarball"
# The top folder in the archive carries the version, so unpacking two versions side by side works.
tar -C dist --transform "s,^moebius-studio,moebius-studio-$version,S" -czf "$tarball" moebius-studio

bash packaging/linux/build_appimage.sh --appdir-only
build/appimage/AppDir/AppRun --version >/dev/null || die "the AppDir's AppRun does not start the app"
if command -v appimagetool >/dev/null 2>&1 || [ -n "${APPIMAGETOOL:-}" ]; then
  bash packaging/linux/build_appimage.sh
else
  say "appimagetool not installed: AppDir assembled (build/appimage/AppDir), no .AppImage made"
fi

if command -v makensis >/dev/null 2>&1; then
  "$py" packaging/windows/build_installer.py --check
else
  say "makensis not found: skipped the installer-script check (apt-get install nsis)"
fi

say "done in $((SECONDS - began)) s"
cat dist/size-report-linux-*-"$variant".txt
ls -l "$tarball"
say "screenshots and reports: $art"
