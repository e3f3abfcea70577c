#!/bin/sh
# Add Moebius Studio to the desktop's application menu and "Open With" list for photos, for this user only.
# Run it from the unpacked folder: ./install-desktop-entry.sh   (./install-desktop-entry.sh --remove undoes it)
# Nothing outside ~/.local/share is touched and no root rights are needed.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
entry="$data/applications/moebius-studio.desktop"
icon="$data/icons/hicolor/256x256/apps/moebius-studio.png"
svg="$data/icons/hicolor/scalable/apps/moebius-studio.svg"

if [ "${1:-}" = "--remove" ]; then
  rm -f "$entry" "$icon" "$svg"
  echo "removed the Moebius Studio menu entry"
  exit 0
fi

mkdir -p "$(dirname "$entry")" "$(dirname "$icon")" "$(dirname "$svg")"
cp "$here/moebius-studio.png" "$icon"
cp "$here/moebius-studio.svg" "$svg"
# The shipped entry runs "moebius-studio" from PATH; point it at this folder instead (quoted: paths may have spaces).
sed -e "s|^Exec=.*|Exec=\"$here/moebius-studio\" %f|" -e "s|^TryExec=.*|TryExec=$here/moebius-studio|" \
  "$here/moebius-studio.desktop" > "$entry"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$data/applications" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q "$data/icons/hicolor" 2>/dev/null || true
echo "installed $entry"
