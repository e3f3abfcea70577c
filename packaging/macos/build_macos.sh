#!/usr/bin/env bash
# macOS (Apple Silicon) recipe: build "Moebius Studio.app", self-test it, sign it, wrap it in a .dmg, notarize
# and staple. Run on an arm64 Mac with Python 3.11 and the project's .venv (bash scripts/setup.sh):
#
#   bash packaging/macos/build_macos.sh
#
# Signing and notarization are parameterised by the environment, never stored in the repository; each step is
# skipped (with a note) when its variables are missing, so an unsigned .dmg can be built for testing:
#   MACOS_SIGN_IDENTITY   codesign identity, e.g. "Developer ID Application: Name (TEAMID)" (keychain set up
#                         by the caller, e.g. CI importing a .p12 from its secrets)
#   APPLE_ID, APPLE_TEAM_ID, APPLE_APP_PASSWORD
#                         notarization with an app-specific password, or instead
#   NOTARY_KEY_PATH, NOTARY_KEY_ID, NOTARY_ISSUER
#                         notarization with an App Store Connect API key (.p8 file)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
py=".venv/bin/python"
[ "$(uname -s)" = "Darwin" ] || { echo "macos: run this on macOS" >&2; exit 2; }
[ "$(uname -m)" = "arm64" ] || echo "macos: note: building on $(uname -m); the release is arm64"

"$py" -m pip install --quiet -r packaging/requirements.txt
# build.py passes MACOS_SIGN_IDENTITY on to PyInstaller, which signs every library and program it collects.
"$py" packaging/build.py
version="$("$py" -c 'from core import __version__; print(__version__)')"
app="dist/Moebius Studio.app"

# The self-test on the test build (same files plus the tiny model); Cocoa needs no display server here.
mkdir -p artifacts/packaging
dist/moebius-studio-selftest/moebius-studio --self-test --screenshot artifacts/packaging/selftest-macos.png \
  | tee artifacts/packaging/selftest-macos.txt
grep -q "^self-test: moebius: ok" artifacts/packaging/selftest-macos.txt
"$app/Contents/MacOS/moebius-studio" --version

if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
  # The .app as a whole, after its contents: hardened runtime (required for notarization) and a timestamp.
  codesign --force --options runtime --timestamp --entitlements packaging/macos/entitlements.plist \
    --sign "$MACOS_SIGN_IDENTITY" "$app"
  codesign --verify --deep --strict --verbose=2 "$app"
else
  echo "macos: MACOS_SIGN_IDENTITY not set: the app stays unsigned (ad-hoc), fine for testing only"
fi

# The disk image: the app next to a link to /Applications, so installing is one drag.
dmg="dist/Moebius-Studio-$version-macos-arm64.dmg"
stage="build/dmg"
rm -rf "$stage" "$dmg"
mkdir -p "$stage"
ditto "$app" "$stage/Moebius Studio.app"
cp LICENSE "$stage/LICENSE.txt"  # the app's licence (Apache-2.0), also inside the app under Resources/licenses
ln -s /Applications "$stage/Applications"
hdiutil create -volname "Moebius Studio $version" -srcfolder "$stage" -fs HFS+ -format UDZO -ov "$dmg"
[ -n "${MACOS_SIGN_IDENTITY:-}" ] && codesign --force --timestamp --sign "$MACOS_SIGN_IDENTITY" "$dmg"

if [ -n "${MACOS_SIGN_IDENTITY:-}" ] && [ -n "${APPLE_ID:-}${NOTARY_KEY_PATH:-}" ]; then
  if [ -n "${NOTARY_KEY_PATH:-}" ]; then
    auth=(--key "$NOTARY_KEY_PATH" --key-id "$NOTARY_KEY_ID" --issuer "$NOTARY_ISSUER")
  else
    auth=(--apple-id "$APPLE_ID" --team-id "$APPLE_TEAM_ID" --password "$APPLE_APP_PASSWORD")
  fi
  xcrun notarytool submit "$dmg" "${auth[@]}" --wait
  xcrun stapler staple "$dmg"
  spctl --assess --type open --context context:primary-signature --verbose "$dmg"
else
  echo "macos: notarization skipped (needs MACOS_SIGN_IDENTITY and APPLE_ID… or NOTARY_KEY_PATH…)"
fi
du -sh "$app" "$dmg"
echo "macos: wrote $dmg"
