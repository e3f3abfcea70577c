#!/usr/bin/env bash
# Set everything up, then inpaint the bundled sample photo (resources/sample/coffee.png with its mask) into
# out/sample_inpainted.png. Extra arguments go to moebius-inpaint, e.g. `bash scripts/run.sh --steps 10`.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/scripts/setup.sh"

mkdir -p "$repo/out"
"$repo/.venv/bin/moebius-inpaint" \
  "$repo/resources/sample/coffee.png" \
  --mask "$repo/resources/sample/coffee_mask.png" \
  -o "$repo/out/sample_inpainted.png" \
  --overwrite \
  "$@"
echo "run: wrote $repo/out/sample_inpainted.png"
