#!/usr/bin/env bash
# Set everything up, then run every check: ruff, mypy (strict on core/ and backends/), the import rules and
# the fast test suite. Every step runs even when an earlier one fails; the exit status is non-zero if any
# step failed.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k settings` or `bash scripts/test.sh -m slow`.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/scripts/setup.sh"
cd "$repo"
export PATH="$repo/.venv/bin:$PATH"

failed=()
step() {
  local name="$1"
  shift
  printf '\n== %s\n' "$name"
  if "$@"; then
    printf -- '-- %s: ok\n' "$name"
  else
    printf -- '-- %s: FAILED\n' "$name"
    failed+=("$name")
  fi
}

run_pytest() {
  if command -v xvfb-run >/dev/null 2>&1; then
    # A real X server, so Qt's xcb platform (and the screenshot tests marked xvfb) can run.
    env -u QT_QPA_PLATFORM xvfb-run --auto-servernum --server-args="-screen 0 1600x1200x24 -nolisten tcp" \
      python -m pytest "$@"
  elif command -v Xvfb >/dev/null 2>&1; then
    local display=":$((90 + RANDOM % 400))" xvfb_pid status=0
    Xvfb "$display" -screen 0 1600x1200x24 -nolisten tcp >/dev/null 2>&1 &
    xvfb_pid=$!
    sleep 1
    DISPLAY="$display" env -u QT_QPA_PLATFORM python -m pytest "$@" || status=$?
    kill "$xvfb_pid" 2>/dev/null || true
    wait "$xvfb_pid" 2>/dev/null || true
    return "$status"
  else
    echo "(no Xvfb found: Qt tests run on the offscreen platform; tests marked xvfb are skipped)"
    QT_QPA_PLATFORM=offscreen python -m pytest "$@"
  fi
}

step "ruff" ruff check .
step "mypy" mypy core backends app resources
step "import rules" lint-imports --no-cache
step "pytest" run_pytest "$@"

echo
if [ "${#failed[@]}" -gt 0 ]; then
  echo "test: FAILED: ${failed[*]}"
  exit 1
fi
echo "test: all checks passed"
